"""Run many simulations (strategies x seeds) and write a complete, self-describing results folder.

Two entry points:

- :func:`run_many` runs every strategy on the same list of seeds (common random numbers) through the one
  executor (:func:`sim.executor.run_tasks`: this process, spawned local processes or a Dask cluster),
  optionally committing every finished run to a resumable store (:class:`sim.analysis.store.ComparisonStore`),
  and returns an :class:`Experiment` with tidy frames (layouts in docs/CONTRACT.md).
- :func:`write_results` writes an experiment to ``results/<scenario>/<timestamp>/`` (or a folder of your
  choice) atomically: everything goes to a hidden temporary sibling first and is renamed into place only
  once complete, so an interrupted or failed write never leaves a half-finished results folder behind.

Determinism: seeds are fixed in the parent (``seed, seed + 1, ...``) and results are reassembled in the
fixed task order (strategy-major, then seed), so serial (``workers=1``), local processes and Dask give
identical frames, and so does a run resumed from its store.
"""

from __future__ import annotations

import math
import os
import pickle
import platform
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from sim.engine.model import expected_buyers
from sim.executor import (
    connect,
    progress_bar,
    run_batched,
    stop_if_main_reimported,
    worker_label,
)
from sim.io import (
    TIMESTAMP_FORMAT,
    RemoteError,
    jsonable,
    package_version,
    safe_name,
    staged_folder,
    versions,
    write_manifest,
)
from sim.io import results_root as default_results_root

# Older private names, kept importable (sim.experiment._safe_name, ._RemoteError); the code lives in sim.io.
_safe_name = safe_name
_RemoteError = RemoteError

__all__ = [
    "Experiment",
    "run_many",
    "run_runs",
    "assemble_frames",
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
    ``comparison``: ``sim.analysis.stats.compare(summary)``, one row per strategy x metric.
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
    #: where the runs went: "this process", "local processes" or "dask <scheduler address>"
    executor: str = "this process"
    #: runs found in the store (done before an interruption) rather than run by this call
    runs_from_store: int = 0
    #: one parameter set per replication (seed order), the same for every strategy; None: the scenario's own
    parameter_draws: list | None = None

    @property
    def reps(self) -> int:
        return len(self.seeds)

    @property
    def base_seed(self) -> int | None:
        return self.seeds[0] if self.seeds else None


# --------------------------------------------------------------------------------------------------------
# One run (in whichever process the executor chose)
# --------------------------------------------------------------------------------------------------------


def _simulate(scenario: Any, strategy: str, seeds: Sequence[int]) -> list[tuple[dict, pd.DataFrame, dict]]:
    """Runs of one strategy on ``seeds``, side by side as one batch (the engine's replication axis: each
    gives exactly its single run's numbers)."""
    # imported here: a worker process loads the engine when it first runs
    from sim.engine.model import run_batch

    try:
        results = run_batch(scenario, strategy, list(seeds))
    except Exception as exc:  # keep the original type (e.g. ScenarioError); just add where it happened
        if hasattr(exc, "add_note"):
            which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {list(seeds)}"
            exc.add_note(f"while running strategy {strategy!r} with {which}")
        raise
    out = []
    for result in results:
        summary = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in dict(result.summary).items()}
        samples = {str(k): np.asarray(v, dtype=float).ravel() for k, v in dict(result.samples).items()}
        out.append((summary, result.timeseries, samples))
    return out


def summaries(scenario: Any, strategy: str, seeds: Sequence[int], overrides: dict | None = None) -> list[tuple[dict, float, str]]:
    """Runs of ``strategy`` on ``seeds`` (side by side: the replication axis), at ``overrides`` applied to ``scenario``:
    for each run its summary metrics as plain Python numbers, its share of the batch's seconds and where it ran.
    The task body of the commands that keep only summaries (sweeps, optimisation)."""
    from sim.engine.model import run_batch

    t0 = time.perf_counter()
    scen = scenario.with_overrides(overrides) if overrides else scenario
    try:
        results = run_batch(scen, strategy, list(seeds))
    except Exception as exc:  # keep the original type (e.g. ScenarioError); just add where it happened
        if hasattr(exc, "add_note"):
            exc.add_note(f"while running strategy {strategy!r} with seeds {list(seeds)} and {overrides or {}}")
        raise
    each, where = (time.perf_counter() - t0) / len(results), worker_label()
    return [({str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in dict(r.summary).items()}, each, where)
            for r in results]


def run_runs(shared: Any, batch: tuple) -> list[tuple[dict, pd.DataFrame, dict, float, str]]:
    """The executor's task: runs ``(strategy, seed)`` of one strategy, simulated side by side, each with its
    share of the batch's time and where it ran. ``shared`` is the scenario, or ``(scenario, {seed: parameter
    overrides})`` when replications draw parameters (then a batch holds one run)."""
    scenario, draws = shared if isinstance(shared, tuple) else (shared, None)
    strategy = batch[0][0]
    seeds = tuple(t[1] for t in batch)
    if any(t[0] != strategy for t in batch):
        raise ValueError("a batch of runs holds one strategy")
    if draws:
        if len(seeds) != 1:
            raise ValueError("replications with their own parameter draws run one per batch")
        scenario = scenario.with_overrides(draws[seeds[0]])
    t0 = time.perf_counter()
    runs = _simulate(scenario, strategy, seeds)
    each = (time.perf_counter() - t0) / len(seeds)
    where = worker_label()
    return [(summary, timeseries, samples, each, where) for summary, timeseries, samples in runs]


def _run_task(shared: Any, task: tuple[str, int]) -> tuple[dict, pd.DataFrame, dict, float, str]:
    """One (strategy, seed) run: ``run_runs`` of a batch of one."""
    return run_runs(shared, (task,))[0]


# --------------------------------------------------------------------------------------------------------
# run_many
# --------------------------------------------------------------------------------------------------------


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
    executor: Any = None,
    store: str | Path | None = None,
    parameter_draws: Sequence[dict] | None = None,
    pool: Any = None,
) -> Experiment:
    """Run every strategy ``reps`` times on the seeds ``seed, seed+1, ..., seed+reps-1``.

    Every strategy sees the same seeds (common random numbers), so paired comparisons are fair.
    ``workers=None`` uses all cores; ``workers=1`` runs serially in this process; W > 1 runs in W spawned
    local processes (a script doing that needs ``if __name__ == "__main__":``, see :mod:`sim.executor`).
    ``executor``: a ``distributed.Client`` or a scheduler address ``"tcp://host:port"`` runs on that Dask
    cluster instead (``workers`` is then not used). ``store``: an SQLite file
    (:class:`sim.analysis.store.ComparisonStore`); every finished run is committed to it at once, and calling
    again with the same store (after an interruption, even ``kill -9``) runs only the missing runs; a store
    made for another comparison or by another package version is refused. The store is the caller's file and is
    kept when the call returns (a second call then reads every run back instead of running it; the default
    scenario's 4 strategies x 5 replications make 12 MB): delete it when done. Without ``store`` nothing is
    written anywhere. ``parameter_draws``: one
    ``{"dotted.path": value}`` per replication (e.g. ``sim.calibration.load_posterior(...).draws(reps, seed)``):
    replication *i* of every strategy runs with draw *i*, so the intervals include parameter uncertainty and
    strategies stay paired. ``pool``: a :class:`sim.executor.LocalPool` whose workers run the local processes
    and are left running (e.g. for :func:`write_results` to draw the charts on). Results come back in a fixed order
    (strategy-major, then seed), so the frames depend on neither ``workers``, ``executor`` nor ``store``::

        import sim

        if __name__ == "__main__":  # workers=2 starts processes that re-import this script
            e = sim.compare(sim.load_scenario(), reps=5, workers=2)  # sim.compare is this function
            print(e.comparison)
    """
    stop_if_main_reimported()
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
    draws = None
    if parameter_draws is not None:
        parameter_draws = [dict(d) for d in parameter_draws]
        if len(parameter_draws) != len(seeds):
            raise ValueError(f"parameter_draws must hold one parameter set per replication ({len(seeds)}), "
                             f"got {len(parameter_draws)}")
        for d in parameter_draws:
            scenario.with_overrides(d)  # each draw must make a valid scenario (ScenarioError otherwise)
        draws = dict(zip(seeds, parameter_draws))
    tasks = [(s, sd) for s in chosen for sd in seeds]  # the fixed task order
    workers = int(min(workers, len(tasks)))
    if executor is None and workers > 1:
        try:
            pickle.dumps(scenario)
        except Exception as exc:
            raise TypeError(
                f"the scenario object cannot be pickled for worker processes ({exc}); use workers=1"
            ) from exc

    from sim.analysis.store import ComparisonStore

    client, owned = connect(executor, "run_many()", key="executor") if executor is not None else (None, False)
    try:
        st = ComparisonStore.open(store, scenario, chosen, seeds, parameter_draws) if store is not None else None
    except BaseException:
        if owned:
            client.close()
        raise
    where = (f"dask {client.scheduler.address}" if client is not None
             else "local processes" if workers > 1 else "this process")
    fresh: dict[tuple[str, int], tuple[dict, pd.DataFrame, dict]] = {}

    def record(task: tuple[str, int], result: tuple) -> None:
        summary, timeseries, samples, elapsed, worker = result
        if st is not None:
            st.add(task[0], task[1], summary, timeseries, samples, elapsed, worker)
        else:
            fresh[task] = (summary, timeseries, samples)
        bar.update(1)

    t0 = time.perf_counter()
    try:
        done = st.keys() if st is not None else set()
        todo = [t for t in tasks if t not in done]
        bar = progress_bar(len(tasks), len(tasks) - len(todo), progress, f"{scenario.name}")
        try:
            # one strategy's seeds run side by side (the replication axis); with parameter draws every run is
            # its own scenario, so one per batch
            run_batched(run_runs, todo, key=(lambda t: t) if draws else (lambda t: t[0]),
                        shared=(scenario, draws) if draws else scenario, workers=workers, client=client,
                        record=record, buyers_per_run=expected_buyers(scenario),
                        label=f"run-{safe_name(scenario.name)}", pool=pool)
        finally:
            bar.close()
        # with a store, every run is read back from it: a resumed comparison is assembled from exactly the same
        # bytes as an uninterrupted one
        by_task = st.results() if st is not None else fresh
    except BaseException:
        if st is not None:
            st.close(remove_if_empty=True)  # a store this call made, still without a run, is not left behind
        raise
    finally:
        if st is not None:
            st.close()
        if owned:
            client.close()
    elapsed = time.perf_counter() - t0

    summary, timeseries, samples = assemble_frames(tasks, [by_task[t] for t in tasks])
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
        executor=where,
        runs_from_store=len(tasks) - len(todo),
        parameter_draws=parameter_draws,
    )


def assemble_frames(
    tasks: list[tuple[str, int]], results: list[tuple[dict, pd.DataFrame, dict]]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The tidy frames (summary, timeseries, samples) of runs ``results`` of ``tasks`` (strategy, seed), in task
    order: what ``run_many`` returns, for a caller that runs the tasks itself (the planner page)."""
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

    # timeseries: strategy, seed, then every column of the per-run frame (the runs' frames stacked first, then
    # the two key columns added once, not to each of them: the same frame, built faster)
    if results:
        parts = [pd.DataFrame(ts) for _, ts, _ in results]
        lengths = [len(ts) for ts in parts]
        timeseries = pd.concat(parts, ignore_index=True)
        timeseries = timeseries.drop(columns=[c for c in ("strategy", "seed") if c in timeseries.columns])
        timeseries.insert(0, "seed", np.repeat(np.array([sd for _, sd in tasks], dtype=np.int64), lengths))
        timeseries.insert(0, "strategy", np.repeat(np.array([st for st, _ in tasks], dtype=object), lengths))
    else:
        timeseries = pd.DataFrame(columns=["strategy", "seed", "day"])
    timeseries["seed"] = timeseries["seed"].astype("int64")

    # samples: long format (one block of rows per run and kind)
    strat_col, seed_col, kind_col, value_col, sizes = [], [], [], [], []
    for (strategy, sd), (_, _, smp) in zip(tasks, results):
        for kind, arr in smp.items():
            strat_col.append(strategy)
            seed_col.append(sd)
            kind_col.append(kind)
            value_col.append(np.asarray(arr, dtype=float))
            sizes.append(len(arr))
    if value_col:
        samples = pd.DataFrame(
            {
                "strategy": np.repeat(np.array(strat_col, dtype=object), sizes),
                "seed": np.repeat(np.array(seed_col, dtype=np.int64), sizes),
                "kind": np.repeat(np.array(kind_col, dtype=object), sizes),
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
            "executor": experiment.executor,
            "parameter_draws": experiment.parameter_draws,
            "runs": len(experiment.strategies) * experiment.reps,
            "runs_from_store": experiment.runs_from_store,
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
    fixed: Experiment | None = None,
    posterior: Any = None,
    overrides: dict | None = None,
    preset: Any = None,
    pool: Any = None,
) -> Path:
    """Write all outputs of ``experiment`` and return the folder they ended up in.

    With parameter draws (``experiment.parameter_draws``) and ``fixed`` (the same strategies and seeds at the
    scenario's own parameter values), also ``parameter_draws.csv`` (seed and drawn values) and
    ``parameter_uncertainty.csv`` (per strategy and metric, the variance across replications with and without
    the draws and the share that comes from the parameters), summarised in the report.

    ``out_dir=None`` means ``<results_root>/<scenario name>/<started as YYYYmmdd-HHMMSS>``
    (``results_root`` defaults to the project's ``results/``). If the folder exists, ``-2``, ``-3``, ...
    is appended: nothing is ever overwritten (an explicitly requested but empty folder is used as is).
    Files: summary.csv, comparison.csv, timeseries.parquet, samples.parquet (Parquet: the default job's daily
    frame is 30 MB as CSV; see :func:`write_parquet`), manifest.json, charts/*.png, report.html.

    ``overrides``: the ``--set`` values (``{"market.n_accounts": 500}``) that made ``experiment.scenario`` from
    ``preset`` (the scenario as loaded, before them); recorded in the manifest and stated in words in the report
    with the preset's values. ``preset`` defaults to the scenario file re-read from ``scenario.path``.
    ``pool``: a :class:`sim.executor.LocalPool`; the charts are drawn on its workers if it has any running (the
    same PNGs, drawn side by side).
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
        write_parquet(experiment.timeseries, tmp / "timeseries.parquet")
        write_parquet(experiment.samples, tmp / "samples.parquet")
        sections = []
        if experiment.parameter_draws is not None:
            draws = pd.DataFrame(experiment.parameter_draws)
            draws.insert(0, "seed", experiment.seeds)
            draws.to_csv(tmp / "parameter_draws.csv", index=False)
            if fixed is not None:
                share = parameter_share(experiment.summary, fixed.summary)
                share.to_csv(tmp / "parameter_uncertainty.csv", index=False)
                sections.append(("Parameter uncertainty", parameter_sentence(share, posterior)))

        manifest = build_manifest(experiment, command=command, started=started, finished=finished)
        manifest["overrides"] = jsonable(dict(overrides or {}))
        write_manifest(tmp, manifest)

        chart_dir = tmp / "charts"
        chart_dir.mkdir()
        chart_paths = charts.make_all(
            experiment.summary, experiment.timeseries, experiment.samples, chart_dir, list(experiment.strategies),
            **({"map": pool.map} if pool is not None else {}),  # drawn on the pool's workers, if it has any running
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
            sections=sections,
            scenario=experiment.scenario,
            timeseries=experiment.timeseries,
            strategies=list(experiment.strategies),
            overrides=dict(overrides or {}),
            preset=preset if preset is not None else _preset_of(experiment.scenario, overrides),
        )
    return stage.final


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as Parquet (pyarrow, zstd, no index). The bytes depend only on the frame and the pyarrow
    version (no time stamp is embedded), so a resumed run writes the same file as an uninterrupted one."""
    frame.to_parquet(path, engine="pyarrow", compression="zstd", index=False)
    return path


def _preset_of(scenario: Any, overrides: dict | None) -> Any:
    """The scenario as its file defines it (before ``--set``), for the report's "set to X (preset: Y)"; None if
    there were no overrides or the file cannot be read again."""
    path = getattr(scenario, "path", None)
    if not overrides or path is None:
        return None
    try:
        from sim.config.scenario import load_scenario

        return load_scenario(path)
    except Exception:  # noqa: BLE001 - a moved or broken file: the report names the overrides without preset values
        return None


def parameter_share(with_draws: pd.DataFrame, fixed: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per strategy and metric: the variance across replications with parameter draws and at fixed parameters
    (the same seeds), and the share of the first that the parameters add, ``max(0, 1 - fixed / with)``."""
    from sim.analysis import report

    metrics = list(metrics or report.DEFAULT_METRICS)
    rows = []
    for strategy, sub in with_draws.groupby("strategy", sort=False):
        ref = fixed[fixed["strategy"] == strategy]
        for m in metrics:
            a = pd.to_numeric(sub[m], errors="coerce").dropna().to_numpy()
            b = pd.to_numeric(ref[m], errors="coerce").dropna().to_numpy()
            va = float(np.var(a, ddof=1)) if a.size > 1 else float("nan")
            vb = float(np.var(b, ddof=1)) if b.size > 1 else float("nan")
            share = max(0.0, 1.0 - vb / va) if va > 0 and np.isfinite(vb) else float("nan")
            rows.append({"strategy": strategy, "metric": m, "var_with_draws": va, "var_fixed": vb,
                         "share_from_parameters": share})
    return pd.DataFrame(rows)


def parameter_sentence(share: pd.DataFrame, posterior: Any = None) -> str:
    """One paragraph for the report: how much of the spread the posterior's parameter draws add."""
    sub = share[share["metric"] == "customers_won"]
    if sub.empty or sub["share_from_parameters"].isna().all():
        sub = share.dropna(subset=["share_from_parameters"])
    if sub.empty:
        return "Parameter draws were used, but the spread could not be split (too few replications)."
    parts = ", ".join(f"{r.strategy} {100 * r.share_from_parameters:.0f}%" for r in sub.itertuples()
                      if np.isfinite(r.share_from_parameters))
    src = f" from {posterior}" if posterior else ""
    return (f"Each replication ran with its own parameter set drawn from the calibration's posterior{src} (the same "
            f"draws for every strategy), so the intervals above include what the calibration data do not pin down. "
            f"Share of the variance of {sub['metric'].iloc[0].replace('_', ' ')} across replications that comes from "
            f"the parameters (against the same seeds at the scenario's own values): {parts}. "
            f"parameter_uncertainty.csv has every metric.")
