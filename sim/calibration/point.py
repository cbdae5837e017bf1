"""A fast point estimate: Optuna's TPE (or CMA-ES) minimises the ABC's distance (``method = "optuna"`` in a targets file).

    import sim.calibration as cal
    res = cal.calibrate("my_targets.toml", workers=2, store="fit.sqlite")   # with method = "optuna"
    res.estimate        # {parameter path: the best point}
    res.checks          # each target and holdout: observed vs the runs at the best point on fresh seeds
    res.write("folder")

The search (:func:`sim.analysis.tpe.batched_tpe`, the optimiser's pattern): TPE seeded in the parent asks
``batch`` trials at a time over the priors' box (in the transformed scale: log for ``scale = "log"``, integers
rounded as in ABC), every trial runs on the same ``replications`` seeds (common random numbers: trials are compared
paired), its value is the distance of :func:`sim.calibration.targets.distance` (the ABC's) between the targets and
the mean of the metrics over the replications, and the values are told back in trial order (a NaN metric, +inf,
is a failed trial). So the trials, the best point and every number are the same with 1 worker, W workers or a Dask
cluster. Every run is committed to the calibration store at once (kind ``fit``, generation 0, particle = trial
number); a resume replays the search from the seed, reading stored runs back: after ``kill -9`` only the runs in
flight are lost, none is run twice, and the result equals an uninterrupted run.

With ``sampler = "cmaes"`` (:func:`sim.analysis.tpe.batched_cma`) the same contract holds for CMA-ES, a local
search: generations of ``batch`` trials around a mean that adapts, started at the priors' centre or, with ``start =
"scenario"``, at the starting scenario's values (a scenario calibrated before, refitted after a change of the model
or the targets). TPE models the whole box and needs many trials in ten dimensions; CMA-ES moves from a good point
and copes with the noise of a median over a few wins.

Then the best point (lowest distance; the first of equals) runs ``check_runs`` times on fresh seeds (odd, never a
search seed): each target and holdout gets the median and 90% interval of those runs, the spread of the model's
noise at one point. It is a point estimate: there is no posterior, so no interval of a parameter and no claim about
which parameters the targets identify; the best of many noisy trials is also optimistic (its distance over the
search seeds flatters it; the checks on fresh seeds do not).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calibration.abc import (
    fit_seed,
    predictive_runs,
    predictive_seed,
    run_points,
    seed31,
    strict_mean,
)
from sim.calibration.checks import SAMPLES_KEY, checks_table
from sim.calibration.targets import Prior, Settings, Target, Targets, distance
from sim.config.scenario import ScenarioError
from sim.executor import progress_bar
from sim.store import dumps

__all__ = ["PointCalibration", "PointResult", "PointSearch", "search_seed"]

_SAMPLER = 31  # stream tag of the TPE sampler's seed


def search_seed(seed: int, rep: int) -> int:
    """The seed of replication ``rep`` of every trial (the same for all trials): even, as every fitting seed."""
    return fit_seed(seed, 0, 0, rep)


@dataclass
class PointResult:
    """The trials (in order), the best trial, the check runs at it, and what this call ran."""

    trials: list[dict]
    best: int
    predictive: list = field(default_factory=list)  # (draw, best trial, seed, values, metrics)
    executed: int = 0
    reused: int = 0
    discarded: int = 0
    stop_reason: str = ""
    local: dict = field(default_factory=dict)  # (parameter, side) -> metrics of each replication (sim.calibration.local)
    selection: list = field(default_factory=list)  # reselect: per rerun trial, its distance on the search and fresh seeds

    @property
    def runs_needed(self) -> int:
        return sum(t["runs"] for t in self.trials)


class PointSearch:
    """TPE (or CMA-ES) over ``priors`` minimising the distance to ``targets`` with ``simulate(shared, values, seed)`` (the ABC's
    model function); ``valid(values)`` (parent side) turns an invalid point into a failed trial without a run."""

    def __init__(self, simulate: Callable, shared: Any, priors: Sequence[Prior], targets: Sequence[Target],
                 settings: Settings, valid: Callable[[list], bool] | None = None, label: str = "calibration",
                 predictive_shared: Any = None, start: Sequence[float] | None = None):
        self.simulate, self.shared, self.priors, self.targets = simulate, shared, list(priors), list(targets)
        self.settings, self.valid, self.label = settings, valid, label
        self.start = None if start is None else list(start)  # natural values where the search starts
        self.predictive_shared = shared if predictive_shared is None else predictive_shared

    def run(self, store: Any, workers: int = 1, client: Any = None, progress: bool = True,
            on_run: Callable[[int], None] | None = None, say: Callable[[str], None] | None = None) -> PointResult:
        from sim.analysis.tpe import batched_cma, batched_tpe

        s = self.settings
        R = s.replications
        say = say or (lambda msg: None)
        seeds = [search_seed(s.seed, r) for r in range(R)]
        total = (max(s.trials, 1) * R + s.predictive_draws + (2 * len(self.priors) * R if s.identify else 0)
                 + (s.reselect * R if s.reselect > 1 else 0))
        reused = store.count()
        bar = progress_bar(total, min(reused, total), progress, self.label)
        counts = {"executed": 0}
        stored = store.runs("fit", 0)
        results: dict[tuple[int, int], dict] = {k: v[2] for k, v in stored.items()}
        rows: list[dict] = []

        def record(task, result) -> None:
            kind, gen, i, r, seed, vals, src = task
            metrics, elapsed, worker = result
            text = dumps(metrics)
            store.add(kind, gen, i, r, seed, vals, text, src, elapsed, worker)
            if kind == "fit":
                results[(i, r)] = json.loads(text)
            counts["executed"] += 1
            bar.update(1)
            if on_run is not None:
                on_run(counts["executed"])

        def evaluate(batch: list[tuple[int, dict]]) -> list[float]:
            todo, points = [], []
            for num, params in batch:
                theta = [float(params[p.path]) for p in self.priors]
                values = [p.natural(t) for p, t in zip(self.priors, theta)]
                ok = self.valid is None or self.valid(values)
                points.append((num, theta, values, ok))
                if not ok:
                    continue
                for r in range(R):
                    if (num, r) in stored:
                        sd, svals, _m, _src = stored[(num, r)]
                        if svals != json.loads(dumps(values)) or sd != seeds[r]:
                            raise ScenarioError(getattr(store, "path", "store"), None,
                                                f"holds other trials than this search asks (trial {num}: stored "
                                                f"{svals}, now {values}); were optuna, numpy or scipy upgraded? "
                                                f"finish it with the versions that made it, or use another store path")
                    else:
                        todo.append(("fit", 0, num, r, seeds[r], values, None))
            if todo:
                run_points(todo, simulate=self.simulate, shared=self.shared, workers=workers, client=client,
                           record=record, label=f"{self.label}-trials")
            out = []
            for num, theta, values, ok in points:
                if ok:
                    sims = [strict_mean([results[(num, r)].get(t.metric, math.nan) for r in range(R)]) for t in self.targets]
                    d = distance(self.targets, sims)
                else:
                    sims, d = [math.nan] * len(self.targets), math.inf
                rows.append({"trial": num, "theta": theta, "values": values, "distance": d, "sims": sims,
                             "valid": ok, "runs": R if ok else 0})
                out.append(d)
            return out

        try:
            bar.set_description(f"{self.label}: search")
            bounds = {p.path: p.bounds for p in self.priors}
            start = None if self.start is None else {p.path: p.transform(v) for p, v in zip(self.priors, self.start)}
            if s.trials == 0:  # no search: the starting scenario's values are the point (checks, slopes)
                evaluate([(0, start)])
            elif s.sampler == "cmaes":
                batched_cma(bounds, s.trials, s.batch, seed31(s.seed, _SAMPLER), evaluate, start=start,
                            sigma=s.sigma)
            else:
                batched_tpe(bounds, s.trials, s.batch, seed31(s.seed, _SAMPLER), evaluate,
                            enqueue=[start] if start is not None else ())
            finite = [r for r in rows if math.isfinite(r["distance"])]
            if not finite:
                raise ScenarioError(self.label, "targets", f"no trial of {len(rows)} had a finite distance (a target "
                                                           f"metric was NaN in every trial); narrow the priors or drop "
                                                           f"targets the model cannot produce")
            best = min(finite, key=lambda r: (r["distance"], r["trial"]))
            say(f"search: best trial {best['trial']} of {len(rows)}, distance {best['distance']:.4g}")
            selection: list = []
            if s.reselect > 1:
                bar.set_description(f"{self.label}: reselect")
                best, selection = self._reselect(finite, store, workers, client, record)
                say(f"reselect: of the best {len(selection)} trials, trial {best['trial']} is closest on fresh seeds "
                    f"(distance {min(r['selection_distance'] for r in selection):.4g})")
            local: dict = {}
            if s.identify:
                bar.set_description(f"{self.label}: slopes")
                local = self._slopes(best, seeds, store, workers, client, record)
            bar.set_description(f"{self.label}: checks")
            predictive = self._checks(best, store, workers, client, bar, counts, on_run)
        finally:
            bar.close()
        return PointResult(trials=rows, best=best["trial"], predictive=predictive, executed=counts["executed"],
                           reused=reused, local=local,
                           stop_reason=f"it ran its {s.trials} trials" if s.trials else "it measured the scenario's values",
                           selection=selection)

    def _reselect(self, finite: list[dict], store: Any, workers: int, client: Any,
                  record: Callable) -> tuple[dict, list[dict]]:
        """The best ``reselect`` trials (by distance over the search seeds) rerun on the same fresh seeds (even, never a
        search or check seed; stored as kind ``select``, particle = trial): the one closest to the targets there is the
        point estimate. The best of many noisy trials is optimistic over the seeds that chose it (a winner's curse); a
        second look on other seeds is not."""
        s, R = self.settings, self.settings.replications
        top = sorted(finite, key=lambda r: (r["distance"], r["trial"]))[:s.reselect]
        seeds = [fit_seed(s.seed, 1, 0, r) for r in range(R)]
        out = self._runs("select", [(row["trial"], row["values"], row["trial"]) for row in top], seeds, store,
                         workers, client, record, "reselection runs")
        selection = []
        for row in top:
            sims = [strict_mean([out[(row["trial"], r)].get(t.metric, math.nan) for r in range(R)]) for t in self.targets]
            selection.append({"trial": row["trial"], "search_distance": row["distance"],
                              "selection_distance": distance(self.targets, sims)})
        pick = min(selection, key=lambda r: (r["selection_distance"], r["trial"]))
        return next(r for r in top if r["trial"] == pick["trial"]), selection

    def _slopes(self, best: dict, seeds: list[int], store: Any, workers: int, client: Any,
                record: Callable) -> dict[tuple[int, int], list[dict]]:
        """The runs of :func:`sim.calibration.local.moves` at the best point on the search's seeds, stored as kind
        ``local`` (particle 2 x parameter + side): stored ones are read back, the rest run."""
        from sim.calibration.local import moves

        points = [(2 * i + side, vals, best["trial"]) for i, side, vals, _du in moves(self.priors, best["values"])]
        out = self._runs("local", points, seeds, store, workers, client, record, "slope runs")
        return {(k // 2, k % 2): [out[(k, r)] for r in range(len(seeds))] for k in range(2 * len(self.priors))}

    def _runs(self, kind: str, points: list[tuple[int, list, int]], seeds: list[int], store: Any, workers: int,
              client: Any, record: Callable, what: str) -> dict[tuple[int, int], dict]:
        """Every (particle, values, source) of ``points`` on every seed, stored as ``kind`` (generation 0, rep = the
        seed's index): stored runs are read back (a store holding other ones is refused), the rest run. Returns the
        metrics by (particle, rep)."""
        stored = store.runs(kind, 0)
        out: dict[tuple[int, int], dict] = {}
        todo = []
        for particle, vals, src in points:
            for r, seed in enumerate(seeds):
                if (particle, r) in stored:
                    sd, svals, mets, _src = stored[(particle, r)]
                    if sd != seed or svals != json.loads(dumps(vals)):
                        raise ScenarioError(getattr(store, "path", "store"), None,
                                            f"holds other {what} than this search makes (particle {particle}); use "
                                            f"another store path")
                    out[(particle, r)] = mets
                else:
                    todo.append((kind, 0, particle, r, seed, vals, src))

        def keep(task, result) -> None:
            record(task, result)
            out[(task[2], task[3])] = json.loads(dumps(result[0]))

        if todo:
            run_points(todo, simulate=self.simulate, shared=self.shared, workers=workers, client=client,
                       record=keep, label=f"{self.label}-{kind}")
        return out

    def _checks(self, best: dict, store: Any, workers: int, client: Any, bar: Any, counts: dict,
                on_run: Callable | None) -> list:
        s = self.settings
        vals, src = best["values"], best["trial"]

        def after_run() -> None:
            counts["executed"] += 1
            bar.update(1)
            if on_run is not None:
                on_run(counts["executed"])

        draws = [(vals, src, predictive_seed(s.seed, 0, k)) for k in range(s.predictive_draws)]
        return predictive_runs(store, 0, draws, simulate=self.simulate, shared=self.predictive_shared, workers=workers,
                               client=client, label=f"{self.label}-checks",
                               what="check runs than this search makes (run", after_run=after_run)


# --------------------------------------------------------------------------------------------------------
# The outcome
# --------------------------------------------------------------------------------------------------------


class PointCalibration:
    """The outcome of :func:`sim.calibration.calibrate` with ``method = "optuna"``.

    ``estimate`` maps each free parameter to the best point; ``trials`` (one row per trial: parameter values,
    distance, best so far, simulated target means over the search seeds), ``parameters`` (per free parameter: prior
    and ``estimate``; no interval: there is no posterior), ``predictive`` (the check runs at the best point on fresh
    seeds), ``checks`` (each target and holdout: observed vs the median and 90% interval of the check runs),
    ``runs`` (every stored run) and ``scenario`` (the starting scenario with the estimate applied).
    """

    method = "optuna"
    checks_label = "runs at the point estimate"

    def __init__(self, spec: Targets, result: PointResult, runs: pd.DataFrame, elapsed: float = math.nan):
        self.spec, self.result, self.runs, self.elapsed = spec, result, runs, elapsed
        best = next(r for r in result.trials if r["trial"] == result.best)
        self.best_distance = best["distance"]
        self.estimate: dict[str, float | int] = dict(zip(spec.names, best["values"]))
        self.trials = self._trials()
        self.parameters = pd.DataFrame([
            {"parameter": p.path, "unit": p.unit, "scale": p.scale, "prior_low": p.low, "prior_high": p.high,
             "estimate": self.estimate[p.path], "best_trial": result.best, "distance": self.best_distance}
            for p in spec.params])
        self.selection = pd.DataFrame(result.selection, columns=["trial", "search_distance", "selection_distance"])
        self.local = None  # the targets' slopes at the point (sim.calibration.local), when the search measured them
        if result.local:
            from sim.calibration.local import local_fit

            self.local = local_fit(spec.params, spec.targets, best["values"], result.local)
            self.parameters = self.parameters.merge(self.local.parameters(), on="parameter")
        rows, self.predictive_samples = [], []
        for k, src, seed, vals, mets in result.predictive:
            rows.append({"draw": k, "trial": src, "seed": seed, **dict(zip(spec.names, vals)),
                         **{m: (math.nan if v is None else v) for m, v in mets.items() if m != SAMPLES_KEY}})
            self.predictive_samples.append(mets.get(SAMPLES_KEY))
        self.predictive = pd.DataFrame(rows)
        self.checks = checks_table(spec, self.predictive, self.predictive_samples)
        desc = spec.scenario.to_dict()["scenario"]["description"].strip()
        note = (f"Calibrated to {Path(spec.where).name} ({len(spec.targets)} targets, strategy {spec.strategy}): the "
                f"{spec.settings.sampler_label} point estimate of {', '.join(spec.names)}.")
        self.scenario = spec.scenario.with_overrides({**self.estimate,
                                                      "scenario.name": f"{spec.scenario.name}-{spec.name}-calibrated",
                                                      "scenario.description": f"{desc} {note}".strip()})

    def _trials(self) -> pd.DataFrame:
        recs, best = [], math.inf
        for r in self.result.trials:
            if math.isfinite(r["distance"]):
                best = min(best, r["distance"])
            recs.append({"trial": r["trial"], **dict(zip(self.spec.names, r["values"])), "distance": r["distance"],
                         "best_so_far": best, **{f"sim_{t.name}": x for t, x in zip(self.spec.targets, r["sims"])},
                         "valid": r["valid"]})
        return pd.DataFrame(recs)

    def finding(self) -> str:
        tg = self.checks[self.checks["role"] == "target"]
        inside = int(tg["inside"].fillna(False).astype(bool).sum()) if "inside" in tg else 0
        if self.spec.settings.trials == 0:
            head = (f"The starting scenario's own values (no search, trials = 0): distance {self.best_distance:.4g} over "
                    f"the {self.spec.settings.replications} search seeds.")
        else:
            head = (f"Point estimate ({self.spec.settings.sampler_label}, {len(self.result.trials)} trials): best trial "
                    f"{self.result.best}, distance {self.best_distance:.4g} over the search seeds.")
        text = (f"{head} At it, {inside} of {len(tg)} targets fall inside the 90% interval of "
                f"{len(self.result.predictive)} runs on fresh seeds.")
        if len(self.selection):
            first = self.selection.sort_values(["search_distance", "trial"]).iloc[0]
            mine = self.selection.set_index("trial").loc[self.result.best]
            text += (f" Reselected: of the best {len(self.selection)} trials rerun on fresh seeds, trial {self.result.best}"
                     f" came closest there (distance {mine.selection_distance:.4g}; the search's best, trial "
                     f"{int(first.trial)}, {first.selection_distance:.4g}).")
        if self.local is not None:
            return f"{text} {self.local.sentence()}"
        return (f"{text} No posterior: no parameter interval and no claim about which parameters the targets identify "
                f"(identify = true measures the slopes at the point; method = \"abc\" samples a posterior).")

    def to_toml(self) -> str:
        from sim.analysis.formatting import format_number
        from sim.config.template import scenario_toml, toml_value

        spec = self.spec
        header = [
            (f"# Calibrated scenario: {spec.scenario.name} with a {spec.settings.sampler_label} point estimate of "
             f"{len(spec.params)} "
             f"free parameter{'s' if len(spec.params) != 1 else ''} (no posterior)"),
            f"# Targets file: {spec.where}",
            (f"# Fitted to {len(spec.targets)} target{'s' if len(spec.targets) != 1 else ''} of strategy "
             f"{spec.strategy!r}: {', '.join(t.name for t in spec.targets)}"),
            (f"# Best of {len(self.result.trials)} trials (trial {self.result.best}, distance "
             f"{self.best_distance:.4g})."),
            "# Run it like any preset: python run.py run calibrated.toml",
        ]
        header += [f"#   {p.path} = {toml_value(self.estimate[p.path])}  (prior {format_number(p.low)} to {format_number(p.high)}"
                   f"{', log scale' if p.scale == 'log' else ''})" for p in spec.params]
        notes = {p: f"CALIBRATED: {spec.settings.sampler_label} point estimate (no interval); " for p in spec.names}
        if self.local is not None:
            notes = {r.parameter: (f"CALIBRATED: {spec.settings.sampler_label} point estimate, Laplace 90% interval "
                                   f"{format_number(r.q05)} to {format_number(r.q95)}; ") for r in self.parameters.itertuples()}
        return scenario_toml(self.scenario, header, notes)

    def write(self, folder: str | Path, manifest: dict | None = None) -> Path:
        """calibrated.toml, parameters.csv, trials.csv, targets.csv, predictive.csv, runs.csv, charts/*.png,
        report.html and manifest.json."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _write_outputs(folder, self, dict(manifest or {}))
        return folder

    def __repr__(self) -> str:
        return f"PointCalibration({self.spec.name!r}, best trial {self.result.best}, {self.estimate})"


CAPTIONS = {
    "targets_overview": "Each target (and holdout) on one scale: the median (dot) and 90% interval (bar) of the runs "
                        "at the point estimate on fresh seeds (the model's noise at one point; no parameter "
                        "uncertainty), in units of the figure's sd (a range: half-widths from its centre); the shaded "
                        "band is the observed figure (+-1).",
    "targets": "Each target and holdout in its own units: observed (grey) and the median and 90% interval of the runs "
               "at the point estimate on fresh seeds (blue).",
    "trace": "The search: each trial's distance over the search seeds (dots; the same seeds for every trial) and the "
             "best so far (line).",
    "slopes": "The slope of each target's z-score (simulated minus observed, in the figure's sd) per prior width of each "
              "free parameter at the point estimate, from moves down and up on the search's seeds (common random "
              "numbers). A column with no large entry is a parameter no target constrains; two columns alike are a "
              "ridge.",
}


def _chart_trace(cal: PointCalibration, out_dir: Path):
    from sim.analysis.plotting import figure

    t = cal.trials
    with figure(out_dir, "trace", f"{cal.spec.settings.sampler_label} search: distance per trial", "trial",
                "distance (sqrt mean z^2)") as c:
        ok = np.isfinite(t["distance"].to_numpy(dtype=float))
        c.ax.plot(t["trial"][ok], t["distance"][ok], "o", ms=3, alpha=0.6, label="trial")
        c.ax.plot(t["trial"], t["best_so_far"], "-", color="k", lw=1.2, label="best so far")
        c.ax.set_yscale("log")
        c.ax.legend(fontsize=8)
        return c.path


def _short_labels(paths: list[str]) -> list[str]:
    """Each dotted path's shortest tail that no other path shares ("smb.research_speed", "fade_rate")."""
    parts = [p.split(".") for p in paths]
    out = []
    for i, p in enumerate(parts):
        k = 1
        while k < len(p) and any(j != i and q[-k:] == p[-k:] for j, q in enumerate(parts)):
            k += 1
        out.append(".".join(p[-k:]))
    return out


def _chart_slopes(cal: PointCalibration, out_dir: Path):
    from sim.analysis.plotting import figure

    loc = cal.local
    if loc is None:
        return None
    J = loc.slopes
    P, K = len(loc.priors), len(loc.targets)
    with figure(out_dir, "slopes", "Which target moves which parameter (slopes at the point)", "free parameter",
                "target", size=(1.6 + 0.7 * P, 1.4 + 0.42 * K)) as c:
        lim = max(float(np.abs(J).max()), 1e-9)
        im = c.ax.imshow(J, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        c.ax.set_xticks(range(P))
        c.ax.set_xticklabels(_short_labels([p.path for p in loc.priors]), rotation=45, ha="right", fontsize=7)
        c.ax.set_yticks(range(K))
        c.ax.set_yticklabels([t.name for t in loc.targets], fontsize=7)
        for k in range(K):
            for i in range(P):
                c.ax.text(i, k, f"{J[k, i]:.1f}", ha="center", va="center", fontsize=6)
        c.fig.colorbar(im, ax=c.ax, label="change of z (target sd) per prior width")
        return c.path


def _searcher(s: Settings) -> str:
    """The search in words, for the report."""
    if s.sampler == "cmaes":
        where = "the starting scenario's values" if s.start == "scenario" else "the centre of the priors"
        return (f"CMA-ES (the cmaes package; generations of {s.batch}, started at {where} with a step of "
                f"{s.sigma:.3g} of each prior's width)")
    return "Optuna's TPE sampler" + (" (its first trial at the starting scenario's values)"
                                     if s.start == "scenario" else "")


def _write_outputs(folder: Path, cal: PointCalibration, manifest: dict) -> None:
    import html

    from sim.analysis.formatting import format_number
    from sim.analysis.html import frame_table, page
    from sim.calibration import report as R
    from sim.io import jsonable, package_version, versions, write_manifest

    R.write_tables(folder, cal, ("parameters", "trials", "checks", "predictive", "runs"))
    if len(cal.selection):
        cal.selection.to_csv(folder / "selection.csv", index=False)
    if cal.local is not None:
        cal.local.slope_table().to_csv(folder / "slopes.csv", index=False)
        cal.local.ridges().to_csv(folder / "ridges.csv", index=False)
    spec, res = cal.spec, cal.result
    full = jsonable({
        "calibration_name": spec.name, "method": "optuna",
        "targets_file": spec.where,
        "targets_path": str(Path(spec.path).resolve()) if spec.path is not None else None,
        "scenario_file": str(spec.scenario_file) if spec.scenario_file is not None else None,
        "definition_hash": spec.hash, "scenario_name": spec.scenario.name, "scenario_ref": spec.scenario_ref,
        "strategy": spec.strategy, "benchmark_pack": str(spec.pack) if spec.pack else None,
        "targets": {t.name: {"metric": t.metric, "observed": t.observed(), "source": t.source} for t in spec.targets},
        "holdouts": {t.name: {"metric": t.metric, "observed": t.observed()} for t in spec.holdouts},
        "params": {p.path: p.describe() for p in spec.params}, "overrides": spec.overrides,
        "settings": vars(spec.settings), "replications": spec.settings.replications, "seed": spec.settings.seed,
        "point_estimate": cal.estimate,
        "selection": cal.selection.to_dict("records"),
        "local": None if cal.local is None else {
            "step": cal.local.step, "singular_values": [float(v) for v in cal.local.singular_values],
            "ridges": cal.local.ridges().to_dict("records")},
        "best": {"trial": res.best, "distance": cal.best_distance, "trials": len(res.trials)},
        "runs_needed": res.runs_needed, "runs_executed_now": res.executed, "runs_from_store": res.reused,
        "elapsed_seconds": cal.elapsed, "package": "buyer-journey-sim", "package_version": package_version(),
        "versions": versions(), **manifest,
    })
    write_manifest(folder, full)
    charts: dict[Path, str] = {}
    for name, fn in (("targets_overview", R.chart_overview), ("targets", R.chart_targets),
                     ("trace", _chart_trace), ("slopes", _chart_slopes)):
        path = fn(cal, folder / "charts")
        if path is not None:
            charts[Path(path)] = CAPTIONS[name]
    e = html.escape
    ptab = cal.parameters.copy()
    ptab["prior"] = [p.describe() for p in spec.params]
    ptab = ptab[["parameter", "unit", "prior", "estimate"]]
    checks = cal.checks.copy()
    checks["simulated median (90% interval)"] = [
        r.status if pd.isna(r.sim_median) else f"{format_number(r.sim_median)} ({format_number(r.sim_q05)} to {format_number(r.sim_q95)})"
        for r in checks.itertuples()]
    checks["inside"] = [("yes" if v else "no") if isinstance(v, (bool, np.bool_)) else "" for v in checks["inside"]]
    cols = ["name", "metric", "observed", "simulated median (90% interval)", "inside", "source"]
    ttab, htab = checks[checks["role"] == "target"][cols], checks[checks["role"] == "holdout"][cols]
    s = spec.settings
    local_html = ""
    if cal.local is not None:
        ptab["90% interval (Laplace)"] = [f"{format_number(r.q05)} to {format_number(r.q95)}"
                                          for r in cal.parameters.itertuples()]
        ptab["posterior sd / prior sd"] = [f"{v:.2f}" for v in cal.parameters["sd_ratio"]]
        ptab["pinned by"] = [f"{r.pinned_by} (slope {r.slope:+.2g}, {r.slope_over_se:.1f} x its se)"
                             if r.pinned_by else "no target" for r in cal.parameters.itertuples()]
        ridges = cal.local.ridges()
        rtab = frame_table(ridges) if len(ridges) else '<p class="muted">No pair of parameters trades off.</p>'
        local_html = f"""<h2>Identification at the point</h2>
<p>{e(cal.local.sentence())}</p>
<p class="note">Each free parameter was moved {cal.local.step:g} of its prior's width down and up (transformed scale) on
the search's {s.replications} seed(s); the slopes (slopes.csv, the chart) are the change of each target's z per prior
width. The Laplace posterior reads the targets as independent Gaussian observations with the pack's sds and matches
each uniform prior by a Gaussian of its sd: covariance (J'J + 12 I)^-1, so a parameter no target moves keeps its prior's
sd (ratio 1). It is local: another mode far from the point is not seen. "x its se": the slope over its standard
error across the replications (below 2, the slope is within the model's noise).</p>
<h3>Pairs that trade off (ridges.csv)</h3>
{rtab}"""
    body = f"""<p class="question"><b>Question:</b> at which values of {e(', '.join(spec.names))} does the model come
closest to the observed funnel of strategy <b>{e(spec.strategy)}</b> in scenario <b>{e(spec.scenario.name)}</b>?</p>
<p>{e(spec.description.strip())}</p>
<h2>Main finding</h2>
<p class="finding">{e(cal.finding())}</p>
<p><b>This is a point estimate{", with a local (Laplace) approximation of the posterior around it" if cal.local is not None else ", not a posterior"}.</b>
{e(_searcher(s))} searched {len(res.trials)} trials
({s.batch} at a time, each on the same {s.replications} seed(s)) for the lowest distance to the targets.
{"The intervals below come from the targets' slopes at the point (see Identification)" if cal.local is not None else "There is no interval for any parameter and nothing here says which parameters the targets pin down: other values may fit as well"}.
For a sampled posterior, run the same targets file with <code>method = "abc"</code> (ABC-SMC). The best of many noisy
trials is also optimistic; the checks below run it again on fresh seeds.</p>
<p>The calibrated scenario (<code>calibrated.toml</code>) runs like any preset:
<code>python run.py run calibrated.toml</code>.</p>
<h2>Free parameters (the point estimate)</h2>
{frame_table(ptab)}
{local_html}
<h2>Targets (fitted)</h2>
{frame_table(ttab)}
<p class="note">Simulated: {len(res.predictive)} runs at the point estimate, each on a fresh seed never used in the
search; the interval is the model's run-to-run noise at one parameter point, not parameter uncertainty.
Distance: z = (simulated - value) / sd, a range read as its middle +- 2 sd (the central 95% of the published
figures); total sqrt(mean z^2).</p>
<h2>Holdouts (never used in fitting)</h2>
{frame_table(htab) if len(htab) else '<p class="muted">No holdout facts (a benchmark pack adds them).</p>'}
{R.pooled_note(cal.checks)}
<h2>Search</h2>
<p class="note">{len(res.trials)} trials, {res.runs_needed} search runs and {len(res.predictive)} check runs
({res.executed} executed by the last call, {res.reused} already in the store).</p>"""
    doc = page(f"Calibration (point estimate): {spec.name}", body,
                            {str(p): c for p, c in charts.items()}, full)
    (folder / "report.html").write_text(doc, encoding="utf-8")
