"""``calibrate``: fit the free parameters of a scenario to an observed funnel by ABC-SMC.

    import sim.calibration as cal
    result = cal.calibrate("scenarios/calibration/quick.toml", workers=2, store="quick.sqlite")
    result.parameters          # prior, posterior median and 90% interval, identified or not
    result.checks              # each target (and holdout) observed vs posterior predictive
    result.scenario            # the starting scenario with the posterior medians applied
    result.write("my_folder")  # calibrated.toml, posterior.csv, runs.csv, report.html, charts ...

See :mod:`sim.calibration.targets` for the targets file and :mod:`sim.calibration.abc` for the algorithm.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sim.calibration.abc import (
    ABCSMC,
    IDENTIFIED_RATIO,
    ABCResult,
    weighted_quantile,
    weighted_sd,
)
from sim.calibration.checks import SAMPLES_KEY, checks_table, sample_keys
from sim.calibration.point import PointCalibration, PointSearch
from sim.calibration.store import CalibrationStore
from sim.calibration.targets import Targets, load_targets, make_targets
from sim.config.scenario import Scenario, ScenarioError
from sim.executor import connect

__all__ = ["SAMPLES_KEY", "Calibration", "calibrate", "checks_table", "sample_keys", "simulate_model"]


def simulate_model(shared: tuple, values: list, seed: int) -> dict:
    """One run of the model at a parameter point: ``shared`` is (scenario, strategy, parameter paths) or
    (scenario, strategy, parameter paths, sample names): then the run's metrics also carry those engine samples
    (lists) under :data:`SAMPLES_KEY`, for the pooled metrics of the holdout checks."""
    from sim.engine import model

    scenario, strategy, paths = shared[:3]
    keep = shared[3] if len(shared) > 3 else ()
    scen = scenario.with_overrides(dict(zip(paths, values)))
    try:
        res = model.run(scen, strategy, seed)
        if not keep:
            return res.summary
        samples = res.samples
        return {**res.summary, SAMPLES_KEY: {k: np.asarray(samples[k], dtype=float).tolist() for k in keep
                                             if k in samples}}
    except Exception as exc:
        if hasattr(exc, "add_note"):
            exc.add_note(f"while running strategy {strategy!r} with seed {seed} at {dict(zip(paths, values))}")
        raise


def _simulate_model_many(shared: tuple, values: list, seeds: Sequence[int]) -> list[dict]:
    """``simulate_model`` on several seeds at one point, side by side (the engine's replication axis): the same
    numbers, run by run, at a fraction of the cost."""
    from sim.engine import model

    scenario, strategy, paths = shared[:3]
    keep = shared[3] if len(shared) > 3 else ()
    scen = scenario.with_overrides(dict(zip(paths, values)))
    try:
        results = model.run_batch(scen, strategy, list(seeds))
    except Exception as exc:
        if hasattr(exc, "add_note"):
            exc.add_note(f"while running strategy {strategy!r} with seeds {list(seeds)} at {dict(zip(paths, values))}")
        raise
    if not keep:
        return [r.summary for r in results]
    return [{**r.summary, SAMPLES_KEY: {k: np.asarray(r.samples[k], dtype=float).tolist() for k in keep
                                        if k in r.samples}} for r in results]


simulate_model.many = _simulate_model_many  # type: ignore[attr-defined]


def _cross_checked(path: str) -> bool:
    """Whether a parameter takes part in a check between parameters (sim.config.scenario._cross_checks):
    segment shares sum to 1, group_min <= group_max, the rep time split sums to 1, burst days within the
    horizon. Any other parameter inside its prior (itself inside the schema's range) gives a valid scenario."""
    return (path.startswith("sales.split.") or path == "scenario.horizon_days"
            or (path.startswith("market.segments.") and path.rsplit(".", 1)[-1] in ("share", "group_min", "group_max")))


def _valid(scenario: Scenario, paths: list[str]) -> Callable[[list], bool] | None:
    """A validity check of a parameter point, or None when every point inside the priors is valid."""
    if not any(_cross_checked(p) for p in paths):
        return None

    def valid(values: list) -> bool:
        try:
            scenario.with_overrides(dict(zip(paths, values)))
            return True
        except ScenarioError:
            return False

    return valid


class Calibration:
    """The outcome of :func:`calibrate`.

    ``spec`` (the :class:`~sim.calibration.targets.Targets`), ``result`` (the raw
    :class:`~sim.calibration.abc.ABCResult`), and as DataFrames: ``posterior`` (the final population: one
    row per particle, parameter columns, ``weight``, ``distance`` and the simulated target metrics),
    ``parameters`` (per free parameter: prior, posterior median, 90% interval, posterior sd / prior sd in
    the transformed scale, identified), ``generations`` (tolerance, proposals, runs, acceptance rate,
    effective sample size, proposals with a NaN metric), ``predictive`` (the posterior-predictive runs on
    fresh seeds), ``checks`` (each target and holdout: observed vs the predictive median and 90% interval)
    and ``runs`` (every stored run). ``medians`` maps each parameter to its posterior median; ``scenario``
    is the starting scenario with them applied.
    """

    def __init__(self, spec: Targets, result: ABCResult, runs: pd.DataFrame, elapsed: float = math.nan):
        self.spec, self.result, self.runs, self.elapsed = spec, result, runs, elapsed
        self.posterior = self._posterior()
        self.medians: dict[str, float | int] = {}
        self.parameters = self._parameters()
        self.generations = self._generations()
        self.predictive = self._predictive()
        self.checks = self._checks()
        self.scenario = self._calibrated_scenario()

    # -- tables
    def _posterior(self) -> pd.DataFrame:
        g = self.result.final
        df = pd.DataFrame(g.values, columns=self.spec.names)
        df.insert(0, "particle", g.particles)
        df.insert(0, "generation", g.index)
        df["weight"] = g.weights
        df["distance"] = g.distances
        for j, t in enumerate(self.spec.targets):
            df[f"sim_{t.name}"] = g.sims[:, j]
        return df

    def _parameters(self) -> pd.DataFrame:
        g = self.result.final
        rows = []
        for j, p in enumerate(self.spec.params):
            th, w = g.theta[:, j], g.weights
            q = [p.natural(weighted_quantile(th, w, a)) for a in (0.05, 0.5, 0.95)]
            ratio = weighted_sd(th, w) / p.prior_sd
            self.medians[p.path] = q[1]
            rows.append({"parameter": p.path, "unit": p.unit, "scale": p.scale, "prior_low": p.low,
                         "prior_high": p.high, "median": q[1], "q05": q[0], "q95": q[2],
                         "mean": p.natural(float(w @ th)) if p.scale == "linear" else float(w @ np.exp(th)),
                         "sd_ratio": ratio, "identified": bool(ratio <= IDENTIFIED_RATIO)})
        return pd.DataFrame(rows)

    def _generations(self) -> pd.DataFrame:
        rows = [{"generation": g.index, "epsilon": g.epsilon, "proposals": g.proposals, "runs": g.runs,
                 "accepted": len(g.particles), "acceptance_rate": g.acceptance_rate, "ess": g.ess,
                 "nan_proposals": g.nan_proposals, "complete": True}
                for g in self.result.generations]
        inc = self.result.incomplete
        if inc:
            rows.append({"generation": inc["index"], "epsilon": inc["epsilon"], "proposals": inc["tried"],
                         "runs": inc["runs"], "accepted": inc["accepted"],
                         "acceptance_rate": inc["accepted"] / inc["tried"] if inc["tried"] else math.nan,
                         "ess": math.nan, "nan_proposals": inc["nan"], "complete": False})
        return pd.DataFrame(rows)

    def _predictive(self) -> pd.DataFrame:
        rows = []
        self.predictive_samples = []
        for k, src, seed, vals, mets in self.result.predictive:
            rows.append({"draw": k, "particle": src, "seed": seed, **dict(zip(self.spec.names, vals)),
                         **{m: (math.nan if v is None else v) for m, v in mets.items() if m != SAMPLES_KEY}})
            self.predictive_samples.append(mets.get(SAMPLES_KEY))
        return pd.DataFrame(rows)

    def nan_counts(self) -> dict[str, int]:
        """Per target: needed proposals (all generations) whose mean metric was NaN."""
        out: dict[str, int] = {}
        for g in self.result.generations:
            for k, v in g.nan_by_target.items():
                out[k] = out.get(k, 0) + v
        for k, v in (self.result.incomplete or {}).get("nan_by_target", {}).items():
            out[k] = out.get(k, 0) + v
        return out

    def _checks(self) -> pd.DataFrame:
        return checks_table(self.spec, self.predictive, self.predictive_samples)

    def _calibrated_scenario(self) -> Scenario:
        s = self.spec
        desc = s.scenario.to_dict()["scenario"]["description"].strip()
        note = (f"Calibrated to {Path(s.where).name} ({len(s.targets)} targets, strategy {s.strategy}): the posterior "
                f"median of {', '.join(s.names)}.")
        return s.scenario.with_overrides({**self.medians, "scenario.name": f"{s.scenario.name}-{s.name}-calibrated",
                                          "scenario.description": f"{desc} {note}".strip()})

    # -- output
    def to_toml(self) -> str:
        """The calibrated scenario as a commented TOML file (loads with sim.load_scenario)."""
        from sim.calibration.report import scenario_toml

        return scenario_toml(self)

    def write(self, folder: str | Path, manifest: Mapping | None = None) -> Path:
        """Write every output into ``folder`` (created if missing; use :class:`sim.io.staged_folder` for an atomic
        results folder): calibrated.toml, posterior.csv, parameters.csv, targets.csv, generations.csv,
        predictive.csv, runs.csv, charts/*.png, report.html and manifest.json."""
        from sim.calibration.report import write_outputs

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_outputs(folder, self, dict(manifest or {}))
        return folder

    def finding(self) -> str:
        from sim.calibration.report import finding_sentence

        return finding_sentence(self)

    def __repr__(self) -> str:
        return (f"Calibration({self.spec.name!r}, generations={len(self.result.generations)}, "
                f"medians={ {k: round(v, 6) if isinstance(v, float) else v for k, v in self.medians.items()} })")


def calibrate(targets: str | Path | Targets | Mapping, *, workers: int | None = None, executor: Any = None,
              store: str | Path | None = None, out: str | Path | None = None, progress: bool = True,
              on_run: Callable[[int], None] | None = None,
              say: Callable[[str], None] | None = None) -> Calibration | PointCalibration:
    """Fit the free parameters of a targets file by ABC-SMC and return a :class:`Calibration`; with ``method =
    "optuna"`` in the targets file, find a point estimate by Optuna's TPE (or CMA-ES) instead and return a
    :class:`~sim.calibration.point.PointCalibration` (:mod:`sim.calibration.point`).

    ``targets``: a targets file (see :mod:`sim.calibration.targets`), its contents as a dict, or a loaded
    :class:`Targets`. ``workers``: 1 = this process, W = a local pool (default: all cores); ``executor``: a
    ``distributed.Client`` or ``"tcp://host:port"`` (Dask). ``store``: an SQLite file; every run is committed
    at once and calling again with the same store resumes (the result equals an uninterrupted run).
    ``out``: also write the results folder there (atomically). ``on_run(n)`` is called in this process after
    each run is stored (n = runs executed by this call); an exception it raises stops the calibration, the
    stored runs are kept. The same targets and seed give the identical posterior for any ``workers`` or
    ``executor``.
    """
    from sim.io import staged_folder

    spec = targets if isinstance(targets, Targets) else (
        make_targets(targets) if isinstance(targets, Mapping) else load_targets(targets))
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ScenarioError(spec.where, "workers", f"must be a whole number >= 1, got {workers!r}")
    client, owned = (None, False)
    if executor is not None:
        client, owned = connect(executor, spec.where)
    t0 = time.perf_counter()
    try:
        # leaving on an exception removes a store this call made that still holds no run
        with CalibrationStore.open(store if store is not None else ":memory:", spec) as st:
            shared = (spec.scenario, spec.strategy, spec.names)
            keep = sample_keys(spec)
            common = dict(valid=_valid(spec.scenario, spec.names), label=f"calibrate {spec.name}",
                          predictive_shared=(*shared, keep) if keep else None)
            if spec.settings.method == "optuna":
                start = list(spec.scenario_values().values()) if spec.settings.start == "scenario" else None
                search = PointSearch(simulate_model, shared, spec.params, spec.targets, spec.settings, start=start,
                                     **common)
            else:
                search = ABCSMC(simulate_model, shared, spec.params, spec.targets, spec.settings, **common)
            result = search.run(st, workers=workers, client=client, progress=progress, on_run=on_run, say=say)
            runs = st.frame()
    finally:
        if owned:
            client.close()
    outcome = PointCalibration if spec.settings.method == "optuna" else Calibration
    cal = outcome(spec, result, runs, elapsed=time.perf_counter() - t0)
    if out is not None:
        with staged_folder(Path(out)) as stage:
            cal.write(stage.tmp)
        cal.folder = stage.final
    return cal
