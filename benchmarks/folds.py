"""Three-fold out-of-sample benchmark of the default calibration (issue 21): fit on two folds of the benchmark
pack's facts, predict the third, three times, and count the facts each fold predicts within band.

    python benchmarks/folds.py [--trials N] [--replications R] [--check-runs K] [--folds 3] [--seed S]
                               [--out DIR] [--workers W] [--start file|centre|scenario] [--sigma X]
                               [--base TARGETS.toml] [--no-reports] [--quiet]

The base is the default scenario's calibration file, ``scenarios/calibration/default_b2b.toml`` (``--base``): its
scenario, strategy, overrides, priors (``[params]``), method (``optuna``) and sampler settings (``sampler``,
``batch``, ``start``, ``sigma``) are kept; the budget comes from the flags (each defaults to the file's own:
``trials``, ``replications``, ``[optuna] check_runs``).

The facts: every fact of the base file's benchmark pack with ``role = "target"`` or ``role = "holdout"``, except
those the base file marks ``not_applicable``; ``role = "identity"`` facts are left out (they test nothing). The
folds (:func:`assign_folds`): the facts are split by their role in the pack (targets, then holdouts); within each
stratum they are ordered by the SHA-256 of ``"<seed>:<fact name>"`` and dealt round-robin to folds 1..K, the deal
carrying on from one stratum to the next, so every fold gets its share of targets and of holdouts and the fold
sizes differ by at most one. The assignment depends only on the seed and the fact names (no random generator
whose stream could change with a library version).

For each fold k: a calibration file ``fold_k/targets.toml`` and a benchmark pack ``fold_k/pack.toml`` are written
into the output folder (the base file with the facts subset: the facts of the other folds are ``role = "target"``,
the facts of fold k ``role = "holdout"``; a fact whose metric cannot be a calibration target, today
``referral_ltv_premium``, a pooled metric and no per-run one, is ``role = "holdout"`` in every fold: it is only ever
predicted, never fitted). ``python run.py calibrate fold_k/targets.toml`` runs the same calibration. This script
runs it through :func:`sim.calibrate` with the store ``fold_k/calibration.sqlite`` (every run committed at once),
then reads the check runs (the library's: ``check_runs`` runs at the best point on fresh seeds) and scores every
fact with the validation's own evaluation of a benchmark fact (:func:`sim.validation.benchmarks.evaluate_fact`):
pass when the mean over the check runs (a pooled metric: its pooled estimate) lies in the fact's band, value +- 2
sd or the range (:data:`sim.validation.benchmarks.BAND_RULE`). A fold whose ``fold_k/result.json`` exists is
skipped; a fold killed half-way resumes from its store (only the runs in flight are lost), so a rerun of the same
command after ``kill -9`` ends with the same numbers as an uninterrupted run.

Outputs in ``--out`` (default ``results/folds/<base>-<F>fold-t<N>-r<R>-c<K>-s<S>``): ``folds.csv`` (one row per
fold x fact), ``summary.md`` (per fold: facts predicted, within band, out of band, not measurable; then every
fact), ``assignment.csv``, ``manifest.json`` (seeds, budget, timings, versions) and per fold its calibration files,
store, ``result.json`` and the library's calibration report (``fold_k/calibration/``, unless ``--no-reports``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_BASE = ROOT / "scenarios" / "calibration" / "default_b2b.toml"
#: roles of the pack that are split into folds (``identity`` facts are fixed by arithmetic: never evidence)
STRATA = ("target", "holdout")
#: what a fact is in one fold's calibration
PREDICTED, FITTED, NOT_FITTABLE = "predicted", "fitted", "not_fittable"
CSV_COLUMNS = ["fold", "fact", "metric", "role_in_pack", "fitted_or_predicted", "observed", "value", "sd", "low",
               "high", "band_low", "band_high", "statistic", "sim_mean", "sim_mean_ci_low", "sim_mean_ci_high",
               "sim_median", "sim_q05", "sim_q95", "check_runs", "measurable", "pass", "detail"]
RESULT_FORMAT = "buyer-journey-sim folds result 1"

# the checkout's package, as run.py (at the top of the checkout) uses it, whatever the working directory
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class FoldsError(Exception):
    """A problem with the flags or the base file: one line, exit code 2."""


# ================================================================================================
# The facts and the folds (no simulation)
# ================================================================================================


@dataclass(frozen=True)
class Facts:
    """The base file's facts: ``eligible`` (pack order; :class:`sim.config.facts.Target`), ``raw`` (each eligible
    fact's table as the pack writes it), ``skipped`` (name -> why it is not in any fold), the pack's path."""

    pack: Path
    eligible: list
    raw: dict
    skipped: dict

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.eligible]

    def by_name(self, name: str):
        return next(f for f in self.eligible if f.name == name)


def fittable(fact) -> tuple[bool, str]:
    """Whether a fact's metric can be a calibration target (a per-run summary metric the engine emits, as
    :func:`sim.calibration.targets.make_targets` requires) and, if not, why."""
    from sim.analysis.pooled import pooled
    from sim.calibration import known_metrics

    if pooled(fact.metric) is not None:
        return False, (f"{fact.metric} is not a per-run metric: it is pooled over the runs (sim/analysis/pooled.py), "
                       f"so it cannot be a calibration target; it is only ever predicted")
    if fact.metric not in known_metrics():
        return False, f"{fact.metric} is not a summary metric of the engine, so it cannot be a calibration target"
    return True, ""


def load_facts(base: Path) -> Facts:
    """The facts of the base calibration file's pack that apply to its market (roles target and holdout)."""
    from sim.config.facts import load_benchmarks
    from sim.config.scenario import read_toml

    data = read_toml(base, "targets")
    if "benchmarks" not in data:
        raise FoldsError(f"{base}: has no [benchmarks] pack, so there are no facts to split into folds")
    spec = data["benchmarks"]
    spec = {"pack": spec} if isinstance(spec, str) else dict(spec)
    pack, facts, _exclude = load_benchmarks(str(base), spec, base.parent)  # without the not_applicable ones
    raw = read_toml(pack, "benchmark pack")["facts"]
    skipped = {name: "not applicable: the base file marks it not_applicable (a fact about another kind of market)"
               for name in spec.get("not_applicable", [])}
    eligible = []
    for f in facts:
        if f.role in STRATA:
            eligible.append(f)
        else:
            skipped[f.name] = f"{f.role}: {f.identity or 'role ' + repr(f.role) + ' in the pack'}"
    return Facts(pack=pack, eligible=eligible, raw={f.name: dict(raw[f.name]) for f in eligible}, skipped=skipped)


def order_key(seed: int, name: str) -> str:
    """The position of a fact within its stratum: the SHA-256 of ``"<seed>:<name>"`` (hex)."""
    return hashlib.sha256(f"{seed}:{name}".encode("utf-8")).hexdigest()


def assign_folds(facts: Sequence, n_folds: int, seed: int) -> dict[str, int]:
    """Fact name -> fold (1..n_folds). Stratified by role in the pack (``STRATA`` order): within a stratum the
    facts are ordered by :func:`order_key` and dealt round-robin, the deal carrying on across strata (so the
    fold sizes differ by at most one, and so do each stratum's counts). Returned in the pack's order."""
    if n_folds < 2:
        raise FoldsError(f"--folds must be at least 2, got {n_folds}")
    if n_folds > len(facts):
        raise FoldsError(f"--folds {n_folds} is more than the {len(facts)} facts to split")
    fold: dict[str, int] = {}
    deal = 0
    for stratum in STRATA:
        members = sorted((f for f in facts if f.role == stratum), key=lambda f: order_key(seed, f.name))
        for f in members:
            fold[f.name] = deal % n_folds + 1
            deal += 1
    return {f.name: fold[f.name] for f in facts}


def fold_roles(facts: Facts, assignment: dict[str, int], k: int) -> dict[str, tuple[str, str]]:
    """For fold ``k``: fact name -> (what it is in this fold: predicted / fitted / not_fittable, its role in the
    fold's pack: holdout or target). A fact of fold k is predicted; a fact of another fold is fitted if its metric
    can be a target, else it stays a holdout (checked, counted in no fold's score)."""
    out = {}
    for f in facts.eligible:
        if assignment[f.name] == k:
            out[f.name] = (PREDICTED, "holdout")
        elif fittable(f)[0]:
            out[f.name] = (FITTED, "target")
        else:
            out[f.name] = (NOT_FITTABLE, "holdout")
    return out


# ================================================================================================
# One fold's calibration file (the base file with the facts subset)
# ================================================================================================


@dataclass(frozen=True)
class Budget:
    trials: int
    replications: int
    check_runs: int
    folds: int
    seed: int
    start: str     # the [optuna] start used
    sigma: float | None

    def tag(self) -> str:
        return f"{self.folds}fold-t{self.trials}-r{self.replications}-c{self.check_runs}-s{self.seed}"


def _toml(v: Any) -> str:
    from sim.config.template import toml_value

    return toml_value(v)


def pack_toml(facts: Facts, roles: dict[str, tuple[str, str]], k: int, n_folds: int) -> str:
    """The benchmark pack of fold ``k``: every eligible fact as the pack writes it, its role replaced."""
    lines = [f"# Benchmark pack of fold {k} of {n_folds} (benchmarks/folds.py), made from {facts.pack}:",
             "# role = \"target\": fitted (the facts of the other folds); role = \"holdout\": predicted (the facts",
             f"# of fold {k}, and any fact whose metric cannot be a calibration target). Identity and not-applicable",
             "# facts of the pack are left out.", ""]
    for name, (_what, role) in roles.items():
        lines.append(f"[facts.{name}]")
        for key, value in facts.raw[name].items():
            if key not in ("role", "identity"):
                lines.append(f"{key} = {_toml(value)}")
        lines += [f"role = {_toml(role)}", ""]
    return "\n".join(lines)


def targets_toml(base: Path, budget: Budget, k: int, fitted: Sequence[str], predicted: Sequence[str]) -> str:
    """The calibration file of fold ``k``: the base file's scenario, strategy, overrides, priors, method and
    sampler, the pack ``pack.toml`` beside it, the budget of ``budget``."""
    from sim.calibration import load_targets
    from sim.calibration.targets import OPTUNA_KEYS
    from sim.config.scenario import read_toml

    spec = load_targets(base)
    data = read_toml(base, "targets")
    s = spec.settings
    if s.method != "optuna":
        raise FoldsError(f"{base}: method is {s.method!r}; this benchmark fits a point (method = \"optuna\") and its "
                         f"flags are that method's budget")
    description = f"Fold {k} of {budget.folds} of the out-of-sample benchmark of {base.name}. {spec.description}"
    ref = str(data["scenario"])
    scenario = str(spec.scenario_file) if ref.endswith(".toml") else ref
    lines = [f"# Fold {k} of {budget.folds} of the out-of-sample benchmark (benchmarks/folds.py): {base.name} with",
             f"# the facts of the other folds fitted ({', '.join(fitted)})",
             f"# and the facts of fold {k} predicted ({', '.join(predicted)}).",
             "# Run it alone: python run.py calibrate <this file> (the pack path is relative to it)", "",
             f"name = {_toml(f'{spec.name}_fold{k}of{budget.folds}')}",
             f"description = {_toml(description)}",
             f"scenario = {_toml(scenario)}",
             f"strategy = {_toml(spec.strategy)}",
             'method = "optuna"',
             f"seed = {budget.seed}",
             f"replications = {budget.replications}", "",
             "[benchmarks]", 'pack = "pack.toml"', ""]
    if spec.overrides:
        lines.append("[overrides]")
        lines += [f"{path} = {_toml(value)}" for path, value in spec.overrides.items()]
        lines.append("")
    lines.append("[params]")
    for p in spec.params:
        scale = f", scale = {_toml(p.scale)}" if p.scale != "linear" else ""
        lines.append(f"{p.path} = {{ low = {_toml(p.low)}, high = {_toml(p.high)}{scale} }}")
    lines += ["", "[optuna]", f"sampler = {_toml(s.sampler)}", f"start = {_toml(budget.start)}"]
    if s.sampler == "cmaes":
        lines.append(f"sigma = {_toml(budget.sigma)}")
    lines += [f"batch = {s.batch}", f"trials = {budget.trials}", f"check_runs = {budget.check_runs}"]
    if "identify" in OPTUNA_KEYS:  # the targets' slopes at the point (2 x params x replications runs): not needed here
        lines.append("identify = false")
    lines.append("")
    return "\n".join(lines)


def write_fold_files(folder: Path, facts: Facts, assignment: dict[str, int], k: int, base: Path,
                     budget: Budget) -> dict[str, tuple[str, str]]:
    """Write ``folder/pack.toml`` and ``folder/targets.toml`` of fold ``k``; returns :func:`fold_roles`."""
    roles = fold_roles(facts, assignment, k)
    fitted = [n for n, (w, _) in roles.items() if w == FITTED]
    predicted = [n for n, (w, _) in roles.items() if w == PREDICTED]
    if not fitted:
        raise FoldsError(f"fold {k}: the other folds hold no fact that can be a calibration target")
    folder.mkdir(parents=True, exist_ok=True)
    _write_text(folder / "pack.toml", pack_toml(facts, roles, k, budget.folds))
    _write_text(folder / "targets.toml", targets_toml(base, budget, k, fitted, predicted))
    return roles


# ================================================================================================
# Scoring the check runs with the validation's evaluation of a benchmark fact
# ================================================================================================


def score_fact(fact, what: str, k: int, strategy: str, runs: list[dict], checks_row: dict | None) -> dict:
    """One CSV row: the fact against the check runs ``runs`` (``{"summary": ..., "samples": ...}`` each), passed
    by :func:`sim.validation.benchmarks.evaluate_fact` (the validation's band and statistic)."""
    from sim.analysis.pooled import pooled
    from sim.validation.benchmarks import band, evaluate_fact
    from sim.validation.core import Ctx, NotMeasurable, RunSpec

    specs = [RunSpec.make(f"fold{k}", {}, strategy, i) for i in range(len(runs))]
    ctx = Ctx(fast=False, reps=len(runs), seed=0, results=dict(zip(specs, runs)))
    label = {PREDICTED: f"fold {k}: predicted (out of sample in this fold)",
             FITTED: f"fold {k}: fitted (a calibration target in this fold)",
             NOT_FITTABLE: f"fold {k}: not fittable (a holdout in every fold; scored in its own fold)"}[what]
    lo, hi = band(fact)
    row = {"fold": k, "fact": fact.name, "metric": fact.metric, "role_in_pack": fact.role, "fitted_or_predicted": what,
           "observed": fact.observed(), "value": fact.value, "sd": fact.sd, "low": fact.low, "high": fact.high,
           "band_low": lo, "band_high": hi,
           "statistic": (f"pooled estimate over {len(runs)} runs" if pooled(fact.metric) else
                         f"mean over {len(runs)} runs"),
           "check_runs": len(runs)}
    try:
        r = evaluate_fact(fact, label, strategy, specs)(ctx)
        row.update(sim_mean=r["measured"], sim_mean_ci_low=r["ci_low"], sim_mean_ci_high=r["ci_high"],
                   measurable=True, detail=r["detail"])
        row["pass"] = bool(r["passed"])
    except NotMeasurable as exc:
        row.update(sim_mean=math.nan, sim_mean_ci_low=math.nan, sim_mean_ci_high=math.nan, measurable=False,
                   detail=f"NOT MEASURABLE: {exc}")
        row["pass"] = False
    c = checks_row or {}
    row.update(sim_median=c.get("sim_median", math.nan), sim_q05=c.get("sim_q05", math.nan),
               sim_q95=c.get("sim_q95", math.nan))
    return {col: row.get(col) for col in CSV_COLUMNS}


def check_run_dicts(cal) -> list[dict]:
    """The calibration's check runs as the validation reads runs: ``{"summary": metrics, "samples": samples}``."""
    out = []
    for i, summary in enumerate(cal.predictive.to_dict("records")):
        samples = cal.predictive_samples[i] if i < len(cal.predictive_samples) else None
        out.append({"summary": summary, "samples": samples or {}})
    return out


# ================================================================================================
# Running a fold
# ================================================================================================


def run_fold(out: Path, facts: Facts, assignment: dict[str, int], k: int, base: Path, budget: Budget,
             workers: int, progress: bool, reports: bool, say) -> dict:
    """Fold ``k``: write its files, calibrate (resuming from its store), score every fact on the check runs, and
    write ``fold_k/result.json`` last (a fold with that file is done). Returns the result."""
    import sim
    from sim.calibration import load_targets
    from sim.calibration.point import search_seed

    folder = out / f"fold_{k}"
    done = folder / "result.json"
    if done.is_file():
        result = json.loads(done.read_text(encoding="utf-8"))
        if result.get("format") == RESULT_FORMAT:
            say(f"fold {k}/{budget.folds}: done before ({done}), skipped")
            return result
    roles = write_fold_files(folder, facts, assignment, k, base, budget)
    spec = load_targets(folder / "targets.toml")
    fitted = [t.name for t in spec.targets]
    predicted = [n for n, (w, _) in roles.items() if w == PREDICTED]
    unfit = [n for n, (w, _) in roles.items() if w == NOT_FITTABLE]
    say(f"fold {k}/{budget.folds}: fitting {len(fitted)} facts ({', '.join(fitted)}); predicting {len(predicted)} "
        f"({', '.join(predicted)})" + (f"; not fittable, checked only: {', '.join(unfit)}" if unfit else ""))
    t0 = time.perf_counter()
    cal = sim.calibrate(spec, workers=workers, store=folder / "calibration.sqlite", progress=progress, say=say)
    elapsed = time.perf_counter() - t0
    runs = check_run_dicts(cal)
    checks = {r["name"]: r for r in cal.checks.to_dict("records")}
    rows = [score_fact(f, roles[f.name][0], k, spec.strategy, runs, checks.get(f.name)) for f in facts.eligible]
    res = cal.result
    trial_seeds = [search_seed(spec.settings.seed, r) for r in range(spec.settings.replications)]  # every trial's
    result = {
        "format": RESULT_FORMAT, "fold": k, "fitted": fitted, "predicted": predicted, "not_fittable": unfit,
        "estimate": cal.estimate, "best_trial": res.best, "best_distance": cal.best_distance, "trials": len(res.trials),
        "search_seeds": trial_seeds, "check_seeds": [int(s) for s in cal.predictive["seed"]] if len(runs) else [],
        "runs_needed": res.runs_needed + len(res.predictive), "runs_executed": res.executed,
        "runs_from_store": res.reused, "calibrate_seconds": elapsed, "definition_hash": spec.hash, "rows": rows,
    }
    if reports:
        t1 = time.perf_counter()
        report = folder / "calibration"
        tmp = folder / ".calibration.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        cal.write(tmp, {"benchmark": "benchmarks/folds.py", "fold": k, "folds": budget.folds})
        shutil.rmtree(report, ignore_errors=True)
        tmp.rename(report)
        result["report_seconds"] = time.perf_counter() - t1
    from sim.io import jsonable

    _write_text(done, json.dumps(jsonable(result), indent=2, allow_nan=False) + "\n")
    result = json.loads(done.read_text(encoding="utf-8"))  # as a resumed run reads it: the same table either way
    n_in = sum(1 for r in rows if r["fitted_or_predicted"] == PREDICTED and r["pass"])
    say(f"fold {k}/{budget.folds}: best trial {res.best}, distance {cal.best_distance:.3g}; {n_in} of "
        f"{len(predicted)} predicted facts within band ({res.executed} runs in {elapsed:.0f} s)")
    return result


# ================================================================================================
# Tables
# ================================================================================================


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    from sim.analysis.formatting import format_number

    return format_number(float(v), digits)


def fold_summary(rows: list[dict], n_folds: int) -> list[dict]:
    """Per fold (and ``all``): facts predicted, within band, out of band, not measurable; fitted, within band."""
    out = []
    for k in [*range(1, n_folds + 1), "all"]:
        sel = [r for r in rows if k == "all" or r["fold"] == k]
        pred = [r for r in sel if r["fitted_or_predicted"] == PREDICTED]
        fit = [r for r in sel if r["fitted_or_predicted"] == FITTED]
        out.append({"fold": k, "predicted": len(pred),
                    "within_band": sum(1 for r in pred if r["pass"]),
                    "out_of_band": sum(1 for r in pred if r["measurable"] and not r["pass"]),
                    "not_measurable": sum(1 for r in pred if not r["measurable"]),
                    "fitted": len(fit), "fitted_within_band": sum(1 for r in fit if r["pass"])})
    return out


def summary_markdown(rows: list[dict], facts: Facts, assignment: dict[str, int], budget: Budget, base: Path,
                     strategy: str, sampler: str) -> str:
    from sim.validation.benchmarks import BAND_RULE

    summ = fold_summary(rows, budget.folds)
    lines = [f"Three-fold out-of-sample benchmark: {base.name} ({strategy}), {len(facts.eligible)} facts of "
             f"{facts.pack.name} in {budget.folds} folds (seed {budget.seed}); per fold a {sampler} point "
             f"(start \"{budget.start}\") of {budget.trials} trials x {budget.replications} replications fitted to "
             f"the other folds, then {budget.check_runs} check runs on fresh seeds. Pass rule (validation's): "
             f"{BAND_RULE}.", "",
             "| fold | facts predicted | within band | out of band | not measurable | fitted facts within band |",
             "|---|---|---|---|---|---|"]
    for s in summ:
        lines.append(f"| {s['fold']} | {s['predicted']} | {s['within_band']} | {s['out_of_band']} | "
                     f"{s['not_measurable']} | {s['fitted_within_band']} of {s['fitted']} |")
    lines += ["", "| fold | fact | role in pack | published (pass band) | predicted: mean [95% CI] "
                  "| median (90% of runs) | within band |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["fitted_or_predicted"] != PREDICTED:
            continue
        pub = r["observed"] + (f" ({_fmt(r['band_low'])} to {_fmt(r['band_high'])})" if r["value"] is not None else "")
        mean = (f"{_fmt(r['sim_mean'])} [{_fmt(r['sim_mean_ci_low'])}, {_fmt(r['sim_mean_ci_high'])}]"
                if r["measurable"] else "not measurable")
        med = f"{_fmt(r['sim_median'])} ({_fmt(r['sim_q05'])} to {_fmt(r['sim_q95'])})"
        lines.append(f"| {r['fold']} | {r['fact']} | {r['role_in_pack']} | {pub} | {mean} | {med} | "
                     f"{'yes' if r['pass'] else 'no'} |")
    unfit = sorted({r["fact"] for r in rows if r["fitted_or_predicted"] == NOT_FITTABLE})
    notes = []
    if unfit:
        notes.append(f"Only ever predicted, never fitted (the metric cannot be a calibration target): "
                     f"{', '.join(unfit)}; scored in its own fold only.")
    if facts.skipped:
        notes.append("Not in any fold: " + "; ".join(f"{n} ({why.split(':')[0]})" for n, why in facts.skipped.items())
                     + ".")
    if budget.start == "scenario":
        notes.append("The search starts at the scenario's values (start = \"scenario\"), which were fitted to all the "
                     "pack's targets: a predicted target is out of the fold's fit but not out of the start point's; "
                     "the pack's holdouts were never fitted by either. --start centre removes that.")
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


# ================================================================================================
# Files, the definition, the command
# ================================================================================================


def _write_text(path: Path, text: str) -> None:
    """Write ``path`` atomically (a temporary sibling renamed over it)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _git() -> dict:
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.rstrip("\n")
        except Exception:  # noqa: BLE001  (no git: the manifest says so)
            return ""

    return {"commit": git("rev-parse", "HEAD") or None,
            "dirty_paths": [ln[3:] for ln in git("status", "--porcelain", "--", "sim", "scenarios").splitlines()]}


def definition(base: Path, facts: Facts, budget: Budget) -> dict:
    """What fixes this benchmark's numbers (an output folder holds one): the base file, the pack, the budget."""
    return {"format": "buyer-journey-sim folds 1", "base": str(base), "base_sha256": _sha256(base),
            "pack": str(facts.pack), "pack_sha256": _sha256(facts.pack), "budget": vars(budget)}


def check_definition(out: Path, want: dict) -> None:
    path = out / "definition.json"
    if path.is_file():
        have = json.loads(path.read_text(encoding="utf-8"))
        if have != want:
            diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            raise FoldsError(f"{out} holds another benchmark (different {', '.join(diff)}: flags, base file or pack); "
                             f"give another --out, or remove the folder")
    else:
        out.mkdir(parents=True, exist_ok=True)
        _write_text(path, json.dumps(want, indent=2) + "\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python benchmarks/folds.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, help="search trials per fold (default: the base file's)")
    ap.add_argument("--replications", type=int, help="seeds per trial (default: the base file's)")
    ap.add_argument("--check-runs", type=int, help="runs at each fold's best point on fresh seeds (default: the "
                                                   "base file's check_runs)")
    ap.add_argument("--folds", type=int, default=3, help="number of folds (default 3)")
    ap.add_argument("--seed", type=int, default=1, help="fold assignment and every fold's calibration seed (default 1)")
    ap.add_argument("--out", type=Path, help="output folder (default results/folds/<base>-<tag>); rerunning into "
                                             "it resumes")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local worker processes (default: all "
                                                                               "cores)")
    ap.add_argument("--start", choices=("file", "centre", "scenario"), default="file",
                    help="where each fold's search starts (default: the base file's [optuna] start)")
    ap.add_argument("--sigma", type=float, help="CMA-ES initial step (default: the base file's)")
    ap.add_argument("--base", type=Path, default=DEFAULT_BASE, help="the base calibration file (default "
                                                                     "scenarios/calibration/default_b2b.toml)")
    ap.add_argument("--no-reports", action="store_true", help="skip each fold's calibration report (charts, html)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    return ap.parse_args(argv)


def make_budget(args: argparse.Namespace, base: Path) -> Budget:
    from sim.calibration import load_targets

    s = load_targets(base).settings
    budget = Budget(trials=s.trials if args.trials is None else args.trials,
                    replications=s.replications if args.replications is None else args.replications,
                    check_runs=s.predictive_draws if args.check_runs is None else args.check_runs,
                    folds=args.folds, seed=args.seed,
                    start=s.start if args.start == "file" else args.start,
                    sigma=(s.sigma if args.sigma is None else args.sigma) if s.sampler == "cmaes" else None)
    for name, value, low in (("--trials", budget.trials, 2), ("--replications", budget.replications, 1),
                             ("--check-runs", budget.check_runs, 1), ("--seed", budget.seed, 0),
                             ("--workers", args.workers, 1)):
        if value < low:
            raise FoldsError(f"{name} must be a whole number >= {low}, got {value}")
    if args.sigma is not None and s.sampler != "cmaes":
        raise FoldsError("--sigma is CMA-ES's initial step; the base file's sampler is not cmaes")
    return budget


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from sim.config.scenario import ScenarioError

    say_err = (lambda msg: None) if args.quiet else (lambda msg: _say(msg))
    started = time.perf_counter()
    try:
        base = args.base.expanduser().resolve()
        budget = make_budget(args, base)
        facts = load_facts(base)
        assignment = assign_folds(facts.eligible, budget.folds, budget.seed)
        if args.out is None:
            from sim.io import results_root

            args.out = results_root() / "folds" / f"{base.stem}-{budget.tag()}"
        out = args.out.expanduser().resolve()
        want = definition(base, facts, budget)
        check_definition(out, want)
    except (FoldsError, ScenarioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from sim.calibration import load_targets

    base_spec = load_targets(base)
    assign_rows = [{"fact": f.name, "metric": f.metric, "role_in_pack": f.role, "fold": assignment[f.name],
                    "fittable": fittable(f)[0], "order_key": order_key(budget.seed, f.name)} for f in facts.eligible]
    _print_assignment(assign_rows, facts, budget, out, quiet=args.quiet)
    _write_csv(out / "assignment.csv", assign_rows, list(assign_rows[0]))
    results = []
    from tqdm.auto import tqdm

    bar = tqdm(total=budget.folds, desc="folds", unit="fold", file=sys.stderr, disable=True if args.quiet else None,
               leave=False, position=0)
    try:
        for k in range(1, budget.folds + 1):
            if (_sha256(base), _sha256(facts.pack)) != (want["base_sha256"], want["pack_sha256"]):
                raise FoldsError(f"{base.name} or {facts.pack.name} changed since this benchmark started; the folds "
                                 f"done so far are in {out}: give another --out to start again")
            results.append(run_fold(out, facts, assignment, k, base, budget, args.workers, not args.quiet,
                                    not args.no_reports, say_err))
            bar.update(1)
    except (FoldsError, ScenarioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: every finished run is in the folds' stores; run the same command to resume ({out})",
              file=sys.stderr)
        return 130
    finally:
        bar.close()
    rows = [r for res in results for r in res["rows"]]
    _write_csv(out / "folds.csv", rows, CSV_COLUMNS)
    sampler = base_spec.settings.sampler_label
    md = summary_markdown(rows, facts, assignment, budget, base, base_spec.strategy, sampler)
    _write_text(out / "summary.md", md)
    _write_manifest(out, args, base, base_spec, facts, assignment, budget, results, time.perf_counter() - started)
    if not args.quiet:
        print(md)
        print(f"Results: {out}")
    return 0


def _say(msg: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(msg, file=sys.stderr)


def _print_assignment(rows: list[dict], facts: Facts, budget: Budget, out: Path, quiet: bool) -> None:
    if quiet:
        return
    print(f"Folds (seed {budget.seed}; within each role ordered by sha256('<seed>:<fact>'), dealt round-robin):")
    for k in range(1, budget.folds + 1):
        members = [f"{r['fact']} ({r['role_in_pack']}{'' if r['fittable'] else ', never fitted'})"
                   for r in rows if r["fold"] == k]
        print(f"  fold {k}: {', '.join(members)}")
    for name, why in facts.skipped.items():
        print(f"  not in any fold: {name}: {why}")
    print(f"Output: {out}")
    sys.stdout.flush()


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    import pandas as pd

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False, float_format="%.10g")
    os.replace(tmp, path)


def _write_manifest(out: Path, args, base: Path, base_spec, facts: Facts, assignment: dict, budget: Budget,
                    results: list[dict], wall: float) -> None:
    from importlib.metadata import PackageNotFoundError, version

    from sim.io import jsonable, package_version, versions
    from sim.validation.benchmarks import BAND_RULE

    extra = {}
    for lib in ("cmaes", "optuna", "tqdm"):
        try:
            extra[lib] = version(lib)
        except PackageNotFoundError:
            extra[lib] = "not installed"
    s = base_spec.settings
    manifest = {
        "benchmark": "three-fold out-of-sample benchmark (issue 21), benchmarks/folds.py",
        "command": [sys.executable, *sys.argv] if args is not None else None,
        "written": datetime.now().isoformat(timespec="seconds"),
        "base_file": str(base), "base_sha256": _sha256(base), "scenario": base_spec.scenario_ref,
        "strategy": base_spec.strategy, "pack": str(facts.pack), "pack_sha256": _sha256(facts.pack),
        "method": s.method, "sampler": s.sampler, "batch": s.batch, "start": budget.start, "sigma": budget.sigma,
        "priors": {p.path: p.describe() for p in base_spec.params}, "overrides": base_spec.overrides,
        "budget": {"trials": budget.trials, "replications": budget.replications, "check_runs": budget.check_runs,
                   "folds": budget.folds, "runs_per_fold": budget.trials * budget.replications + budget.check_runs},
        "seeds": {"assignment_seed": budget.seed, "calibration_seed": budget.seed,
                  "search_seeds": results[0]["search_seeds"] if results else [],
                  "check_seeds": results[0]["check_seeds"] if results else [],
                  "note": "every fold's calibration uses the same seed, so the same search seeds (common random "
                          "numbers) and the same fresh check seeds"},
        "assignment": {"rule": "stratified by role in the pack (targets, then holdouts); within a stratum ordered "
                               "by sha256('<seed>:<fact name>'); dealt round-robin to folds 1..K, the deal carrying "
                               "on across strata",
                       "folds": {str(k): [n for n, f in assignment.items() if f == k]
                                 for k in range(1, budget.folds + 1)}},
        "never_fitted": {f.name: fittable(f)[1] for f in facts.eligible if not fittable(f)[0]},
        "not_in_any_fold": facts.skipped,
        "pass_rule": BAND_RULE + " (sim.validation.benchmarks.evaluate_fact on the check runs)",
        "summary": fold_summary([r for res in results for r in res["rows"]], budget.folds),
        "folds": [{k: v for k, v in res.items() if k not in ("rows", "format")} for res in results],
        "wall_seconds_this_call": wall, "workers": args.workers,
        "package_version": package_version(), "versions": {**versions(), **extra}, "git": _git(),
        "cpu_count": os.cpu_count(),
    }
    _write_text(out / "manifest.json", json.dumps(jsonable(manifest), indent=2, allow_nan=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
