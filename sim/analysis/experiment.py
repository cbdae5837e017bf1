"""Run many simulations (strategies x seeds) and write a complete, self-describing results folder.

Two entry points:

- :func:`run_many` runs every strategy on the same list of seeds (common random numbers), optionally
  across processes, and returns an :class:`Experiment` with tidy frames (layouts in docs/CONTRACT.md).
- :func:`write_results` writes an experiment to ``results/<scenario>/<timestamp>/`` (or a folder of your
  choice) atomically: everything goes to a hidden temporary sibling first and is renamed into place only
  once complete, so an interrupted or failed write never leaves a half-finished results folder behind.

Determinism: seeds are fixed in the parent (``seed, seed + 1, ...``) and results are reassembled in the
fixed task order (strategy-major, then seed), so serial (``workers=1``) and parallel runs give identical
frames.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
import platform
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from sim.io import (
    TIMESTAMP_FORMAT,
    RemoteError,
    ignore_sigint,
    jsonable,
    package_version,
    portable_call,
    safe_name,
    sigint_ignored,
    staged_folder,
    terminate_pool,
    versions,
)
from sim.io import results_root as default_results_root

# Older private names, kept importable (sim.experiment._safe_name, ._RemoteError); the code lives in sim.io.
_safe_name = safe_name
_RemoteError = RemoteError

__all__ = [
    "Experiment",
    "run_many",
    "write_results",
    "default_results_dir",
    "package_version",
    "REPORT_QUESTION",
]

#: The question every report answers.
REPORT_QUESTION = "Given this market, budget and team, which go-to-market strategy wins more customers, at what cost?"

#: ``results/`` next to the ``sim`` package (the project root when run from a checkout).



# --------------------------------------------------------------------------------------------------------
# Experiment
# --------------------------------------------------------------------------------------------------------


@dataclass
class Experiment:
    """Everything one batch of runs produced.

    ``summary``: one row per strategy x seed (``strategy``, ``seed``, then every summary key).
    ``timeseries``: ``strategy``, ``seed``, then every per-day timeseries column.
    ``samples``: long format ``strategy``, ``seed``, ``kind``, ``value``.
    ``comparison``: ``sim.stats.compare(summary)``, one row per strategy x metric.
    """

    scenario: Any
    strategies: list[str]
    seeds: list[int]
    summary: pd.DataFrame
    timeseries: pd.DataFrame
    samples: pd.DataFrame
    comparison: pd.DataFrame
    workers: int = 1
    elapsed_seconds: float = float("nan")

    @property
    def reps(self) -> int:
        return len(self.seeds)

    @property
    def base_seed(self) -> int | None:
        return self.seeds[0] if self.seeds else None


# --------------------------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------------------------

_WORKER_SCENARIO: Any = None


def _init_worker(scenario_bytes: bytes) -> None:
    """Pool initializer: receive the scenario once per process; leave Ctrl-C to the parent."""
    global _WORKER_SCENARIO
    ignore_sigint()
    _WORKER_SCENARIO = pickle.loads(scenario_bytes)


def _simulate(scenario: Any, strategy: str, seed: int) -> tuple[dict, pd.DataFrame, dict]:
    # imported here: a worker process loads the engine when it first runs
    from sim.engine.model import run

    try:
        result = run(scenario, strategy, seed)
    except Exception as exc:  # keep the original type (e.g. ScenarioError); just add where it happened
        if hasattr(exc, "add_note"):
            exc.add_note(f"while running strategy {strategy!r} with seed {seed}")
        raise
    samples = {str(k): np.asarray(v, dtype=float).ravel() for k, v in dict(result.samples).items()}
    return dict(result.summary), result.timeseries, samples


def _worker_task(strategy: str, seed: int) -> tuple[dict, pd.DataFrame, dict]:
    return portable_call(_simulate, _WORKER_SCENARIO, strategy, seed)


# --------------------------------------------------------------------------------------------------------
# run_many
# --------------------------------------------------------------------------------------------------------


def _progress_bar(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    # disable=None lets tqdm switch itself off when stderr is not a terminal.
    return tqdm(total=total, desc=desc, unit="run", file=sys.stderr, disable=None if progress else True,
                dynamic_ncols=True, leave=False)


def _resolve_strategies(scenario: Any, strategies: Iterable[str] | None) -> list[str]:
    available = list(scenario.strategies)
    if strategies is None:
        chosen = available
    else:
        if isinstance(strategies, str):
            strategies = [strategies]
        chosen = []
        for s in strategies:
            if s not in chosen:
                chosen.append(s)
    if not chosen:
        raise ValueError("no strategies to run")
    unknown = [s for s in chosen if s not in available]
    if unknown:
        raise ValueError(
            f"unknown strategy {unknown[0]!r}; scenario {scenario.name!r} defines: {', '.join(available)}"
        )
    return chosen


def run_many(
    scenario: Any,
    strategies: Sequence[str] | None = None,
    reps: int = 20,
    seed: int = 1,
    workers: int | None = None,
    progress: bool = True,
    mp_context: str | None = "spawn",
) -> Experiment:
    """Run every strategy ``reps`` times on the seeds ``seed, seed+1, ..., seed+reps-1``.

    Every strategy sees the same seeds (common random numbers), so paired comparisons are fair.
    ``workers=None`` uses all cores; ``workers=1`` runs serially in this process (no pool).
    Results come back in a fixed order, so the frames do not depend on ``workers``.
    ``mp_context`` is the multiprocessing start method of the pool ("spawn" by default: the same on
    every platform and safe with threads; note that importing mesa forces the global default to
    "spawn" anyway).
    """
    import time

    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be an integer >= 1 (got {reps!r})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 (got {seed!r})")
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 (got {workers!r})")

    chosen = _resolve_strategies(scenario, strategies)
    seeds = [int(seed) + i for i in range(int(reps))]
    tasks = [(s, sd) for s in chosen for sd in seeds]  # the fixed task order
    workers = int(min(workers, len(tasks)))

    results: list[tuple[dict, pd.DataFrame, dict] | None] = [None] * len(tasks)
    t0 = time.perf_counter()
    bar = _progress_bar(len(tasks), progress, desc=f"{scenario.name}")
    try:
        if workers == 1:
            for i, (strategy, sd) in enumerate(tasks):
                results[i] = _simulate(scenario, strategy, sd)
                bar.update(1)
        else:
            try:
                payload = pickle.dumps(scenario)
            except Exception as exc:
                raise TypeError(
                    f"the scenario object cannot be pickled for worker processes ({exc}); use workers=1"
                ) from exc
            ctx = multiprocessing.get_context(mp_context)
            executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                           initargs=(payload,))
            try:
                with sigint_ignored():  # workers start while Ctrl-C is ignored, and inherit that
                    pending = {executor.submit(_worker_task, strategy, sd): i
                               for i, (strategy, sd) in enumerate(tasks)}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = pending.pop(fut)
                        try:
                            results[i] = fut.result()  # re-raises a worker's exception here
                        except RemoteError as remote:
                            raise remote.rebuild() from None
                        bar.update(1)
            except BaseException:
                terminate_pool(executor)
                raise
            else:
                executor.shutdown(wait=True)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0

    summary, timeseries, samples = _assemble(tasks, results)  # type: ignore[arg-type]
    from sim.analysis import stats

    comparison = stats.compare(summary)
    return Experiment(
        scenario=scenario,
        strategies=chosen,
        seeds=seeds,
        summary=summary,
        timeseries=timeseries,
        samples=samples,
        comparison=comparison,
        workers=workers,
        elapsed_seconds=elapsed,
    )


def _assemble(
    tasks: list[tuple[str, int]], results: list[tuple[dict, pd.DataFrame, dict]]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Build the tidy frames, in task order."""
    # summary: strategy, seed, then every summary key (first-seen order)
    keys: list[str] = []
    for summ, _, _ in results:
        for k in summ:
            if k not in keys:
                keys.append(k)
    rows = []
    for (strategy, sd), (summ, _, _) in zip(tasks, results):
        row = {"strategy": strategy, "seed": sd}
        for k in keys:
            v = summ.get(k, math.nan)
            row[k] = v.item() if isinstance(v, np.generic) else v
        rows.append(row)
    summary = pd.DataFrame(rows, columns=["strategy", "seed", *keys])
    summary["seed"] = summary["seed"].astype("int64")

    # timeseries: strategy, seed, then every column of the per-run frame
    parts = []
    for (strategy, sd), (_, ts, _) in zip(tasks, results):
        ts = pd.DataFrame(ts).reset_index(drop=True)
        ts = ts.drop(columns=[c for c in ("strategy", "seed") if c in ts.columns])
        ts.insert(0, "seed", sd)
        ts.insert(0, "strategy", strategy)
        parts.append(ts)
    timeseries = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["strategy", "seed", "day"])
    timeseries["seed"] = timeseries["seed"].astype("int64")

    # samples: long format
    strat_col, seed_col, kind_col, value_col = [], [], [], []
    for (strategy, sd), (_, _, smp) in zip(tasks, results):
        for kind, arr in smp.items():
            n = len(arr)
            strat_col.append(np.full(n, strategy, dtype=object))
            seed_col.append(np.full(n, sd, dtype=np.int64))
            kind_col.append(np.full(n, kind, dtype=object))
            value_col.append(np.asarray(arr, dtype=float))
    if value_col:
        samples = pd.DataFrame(
            {
                "strategy": np.concatenate(strat_col),
                "seed": np.concatenate(seed_col),
                "kind": np.concatenate(kind_col),
                "value": np.concatenate(value_col),
            }
        )
    else:
        samples = pd.DataFrame({"strategy": pd.Series(dtype=object), "seed": pd.Series(dtype="int64"),
                                "kind": pd.Series(dtype=object), "value": pd.Series(dtype=float)})
    return summary, timeseries, samples


# --------------------------------------------------------------------------------------------------------
# write_results
# --------------------------------------------------------------------------------------------------------


def default_results_dir(scenario: Any, when: datetime, results_root: Path | None = None) -> Path:
    """``<results_root>/<scenario name>/<YYYYmmdd-HHMMSS>`` (before de-duplication)."""
    root = Path(results_root) if results_root is not None else default_results_root()
    return root / safe_name(scenario.name) / when.strftime(TIMESTAMP_FORMAT)


def _iso(t: Any) -> Any:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.astimezone()
        return t.isoformat(timespec="seconds")
    if isinstance(t, (int, float)):
        return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")
    return None if t is None else str(t)


def _as_datetime(t: Any) -> datetime:
    if isinstance(t, datetime):
        return t
    if isinstance(t, (int, float)):
        return datetime.fromtimestamp(t)
    if isinstance(t, str):
        try:
            return datetime.fromisoformat(t)
        except ValueError:
            pass
    return datetime.now()


def build_manifest(experiment: Experiment, *, command: str, started: Any, finished: Any) -> dict:
    sc = experiment.scenario
    scenario_path = getattr(sc, "path", None)
    return jsonable(
        {
            "scenario_name": sc.name,
            "scenario_path": str(scenario_path) if scenario_path is not None else None,
            "scenario": sc.to_dict(),
            "strategies": list(experiment.strategies),
            "seeds": list(experiment.seeds),
            "reps": experiment.reps,
            "base_seed": experiment.base_seed,
            "workers": experiment.workers,
            "runs": len(experiment.strategies) * experiment.reps,
            "package": "buyer-journey-sim",
            "package_version": package_version(),
            "command": command,
            "started": _iso(started),
            "finished": _iso(finished),
            "versions": versions(),
            "platform": platform.platform(),
        }
    )


def write_results(
    experiment: Experiment,
    out_dir: Path | None,
    *,
    command: str,
    started: Any,
    finished: Any,
    results_root: Path | None = None,
) -> Path:
    """Write all outputs of ``experiment`` and return the folder they ended up in.

    ``out_dir=None`` means ``<results_root>/<scenario name>/<started as YYYYmmdd-HHMMSS>``
    (``results_root`` defaults to the project's ``results/``). If the folder exists, ``-2``, ``-3``, ...
    is appended: nothing is ever overwritten (an explicitly requested but empty folder is used as is).
    Files: summary.csv, comparison.csv, timeseries.csv, samples.csv, manifest.json, charts/*.png,
    report.html.
    """
    from sim.analysis import charts, report

    if out_dir is None:
        target = default_results_dir(experiment.scenario, _as_datetime(started), results_root)
        allow_empty = False
    else:
        target = Path(out_dir).expanduser()
        allow_empty = True
    with staged_folder(target, allow_empty) as stage:
        tmp = stage.tmp
        experiment.summary.to_csv(tmp / "summary.csv", index=False)
        experiment.comparison.to_csv(tmp / "comparison.csv", index=False)
        experiment.timeseries.to_csv(tmp / "timeseries.csv", index=False)
        experiment.samples.to_csv(tmp / "samples.csv", index=False)

        manifest = build_manifest(experiment, command=command, started=started, finished=finished)
        with open(tmp / "manifest.json", "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, allow_nan=False)
            fh.write("\n")

        chart_dir = tmp / "charts"
        chart_dir.mkdir()
        chart_paths = charts.make_all(
            experiment.summary, experiment.timeseries, experiment.samples, chart_dir, list(experiment.strategies)
        )
        chart_paths = [Path(p) for p in (chart_paths or [])]

        report.write_report(
            tmp / "report.html",
            title=f"{experiment.scenario.name}: which go-to-market strategy wins?",
            question=REPORT_QUESTION,
            scenario_description=experiment.scenario.describe(),
            comparison=experiment.comparison,
            chart_paths=chart_paths,
            manifest=manifest,
        )
    return stage.final
