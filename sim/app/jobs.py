"""The page's runs: a comparison run in rounds, watched while it runs, and saved what-ifs compared pairwise.

A :class:`Job` hands every (strategy, seed) run to the project's executor (:func:`sim.executor.run_batched`, local
worker processes) in rounds of growing size: seed 1 of every strategy, then seed 2, then seeds 3-4, 5-8, ... so the
first replications of *every* strategy finish first, and the later rounds run each strategy's seeds side by side
(the engine's replication axis). As each run finishes the executor calls back in this process; the comparison
(:func:`sim.analysis.stats.compare`) is recomputed over the seeds every strategy has finished, so the page shows
means after one round, intervals after two, and intervals narrowing after that. When all runs are in, the
results folder (charts and report) is written by :func:`sim.analysis.experiment.write_results`, the same as
``run.py run`` writes.

What-ifs are finished jobs saved under a name. Every job runs seeds 1, 2, ..., so two what-ifs share their
seeds (common random numbers) and their difference is estimated pairwise by seed
(:func:`sim.analysis.stats.paired_diff_ci`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("sim.app")

#: The comparison the page shows (the report's headline metrics).
METRICS = ("customers_won", "conversion_rate", "cac", "total_cost", "revenue", "ltv_to_cac", "median_cycle_days",
           "median_progress_at_first_contact")

#: The first seed of every job: what-ifs share their seeds, so they can be compared pairwise.
FIRST_SEED = 1


class Cancelled(Exception):
    """Raised in the executor's callback to stop a job's worker processes."""


def metric_info() -> dict[str, dict]:
    """Label, unit, format and better direction of the page's metrics (from the metric registry)."""
    from sim.engine.summary import SUMMARY_METRICS

    out = {}
    for name in METRICS:
        m = SUMMARY_METRICS[name]
        out[name] = {"label": m.display, "fmt": m.fmt, "better": m.better or "max"}
    return out


def _num(x: Any) -> float | None:
    """A JSON number (NaN and inf become null)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def comparison_rows(summary: pd.DataFrame) -> list[dict]:
    """The comparison of the strategies over the rows of ``summary`` (one per strategy x seed), for the page."""
    from sim.analysis import stats

    comp = stats.compare(summary, metrics=[m for m in METRICS if m in summary.columns])
    return [{"strategy": r.strategy, "metric": r.metric, "n": int(r.n), "mean": _num(r.mean), "low": _num(r.ci_low),
             "high": _num(r.ci_high), "best": r.best, "diff": _num(r.diff_vs_best), "diff_low": _num(r.diff_ci_low),
             "diff_high": _num(r.diff_ci_high), "clear": bool(r.clear)} for r in comp.itertuples()]


@dataclass
class Job:
    """One comparison of every strategy of ``scenario`` over ``reps`` seeds, run in a thread of its own."""

    scenario: Any
    reps: int
    workers: int
    folder: Path
    toml: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = "queued"  # queued, running, reporting, done, cancelled, error
    error: str | None = None
    started: float = field(default_factory=time.time)
    first_numbers_seconds: float | None = None
    first_intervals_seconds: float | None = None
    finished_seconds: float | None = None
    report: Path | None = None
    charts: list[Path] = field(default_factory=list)

    def __post_init__(self):
        self.strategies = list(self.scenario.strategies)
        self.seeds = [FIRST_SEED + i for i in range(self.reps)]
        self._results: dict[tuple[str, int], tuple] = {}
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._cache: tuple[int, list[dict]] | None = None
        self._thread: threading.Thread | None = None

    # -- running
    @property
    def total(self) -> int:
        return len(self.strategies) * len(self.seeds)

    def start(self) -> None:
        self.status = "running"
        self._thread = threading.Thread(target=self._run, name=f"job-{self.id}", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running", "reporting")

    def _record(self, task: tuple[str, int], result: tuple) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        with self._lock:
            self._results[task] = result
            complete = len(self.complete_seeds())
        now = time.time() - self.started
        if complete >= 1 and self.first_numbers_seconds is None:
            self.first_numbers_seconds = now
            log.info("job %s: first numbers after %.1f s", self.id, now)
        if complete >= 2 and self.first_intervals_seconds is None:
            self.first_intervals_seconds = now
            log.info("job %s: first intervals after %.1f s", self.id, now)
        if self._cancel.is_set():
            raise Cancelled()

    def _run(self) -> None:
        from sim.analysis.experiment import run_runs
        from sim.engine.model import expected_buyers
        from sim.executor import run_batched

        tasks = [(s, seed) for seed in self.seeds for s in self.strategies]  # rounds: one seed of every strategy
        # rounds of growing size (seed 1, seed 2, seeds 3-4, 5-8, ...): the first answers come from single runs,
        # the later rounds run each strategy's seeds side by side (the replication axis), several times cheaper
        position = {sd: i for i, sd in enumerate(self.seeds)}
        try:
            run_batched(run_runs, tasks, key=lambda t: (position[t[1]].bit_length(), t[0]), shared=self.scenario,
                        workers=self.workers, record=self._record, label=f"app-{self.id}",
                        buyers_per_run=expected_buyers(self.scenario))
            self.status = "reporting"
            self._write_results()
            self.finished_seconds = time.time() - self.started
            self.status = "done"
            log.info("job %s: %d runs and the report in %.1f s", self.id, self.total, self.finished_seconds)
        except Cancelled:
            self.status = "cancelled"
        except Exception as exc:  # shown on the page as one line; the traceback goes to the server's log
            log.exception("job %s failed", self.id)
            self.error = " ".join(f"{type(exc).__name__}: {exc}".split())
            self.status = "error"

    def _experiment(self):
        from sim.analysis import stats
        from sim.analysis.experiment import Experiment, assemble_frames

        tasks = [(s, seed) for s in self.strategies for seed in self.seeds]
        summary, timeseries, samples = assemble_frames(tasks, [self._results[t][:3] for t in tasks])
        return Experiment(scenario=self.scenario, strategies=self.strategies, seeds=self.seeds, summary=summary,
                          timeseries=timeseries, samples=samples, comparison=stats.compare(summary),
                          workers=self.workers, elapsed_seconds=time.time() - self.started,
                          executor="local processes" if self.workers > 1 else "this process")

    def _write_results(self) -> None:
        from sim.analysis.experiment import write_results

        experiment = self._experiment()
        out = write_results(experiment, self.folder / "results", command="run.py app (planner page)",
                            started=datetime.fromtimestamp(self.started), finished=datetime.now())
        charts = sorted((out / "charts").glob("*.png"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        self.charts, self.report = charts, out / "report.html"
        with self._lock:  # the page needs the summaries only; the daily frames are in the results folder
            self._results = {k: (v[0], None, {}) for k, v in self._results.items()}

    # -- reading
    def complete_seeds(self) -> list[int]:
        """Seeds every strategy has finished, in order (the caller holds the lock)."""
        return [sd for sd in self.seeds if all((s, sd) in self._results for s in self.strategies)]

    def summary(self) -> pd.DataFrame:
        """One row per strategy x seed over the complete seeds: strategy, seed and every summary metric."""
        with self._lock:
            seeds = self.complete_seeds()
            rows = [{"strategy": s, "seed": sd, **self._results[(s, sd)][0]} for s in self.strategies for sd in seeds]
        return pd.DataFrame(rows)

    def state(self) -> dict:
        """What the page polls: progress, timings and the comparison over the complete seeds."""
        with self._lock:
            done = len(self._results)
            complete = len(self.complete_seeds())
        rows: list[dict] = []
        if complete:
            if self._cache is None or self._cache[0] != complete:
                self._cache = (complete, comparison_rows(self.summary()))
            rows = self._cache[1]
        captions = {}
        if self.charts:  # drawn: the charts module (matplotlib) is loaded already
            from sim.analysis.charts import CAPTIONS as captions
        return {
            "id": self.id, "status": self.status, "error": self.error, "done": done, "total": self.total,
            "reps_done": complete, "reps": self.reps, "strategies": self.strategies,
            "elapsed": round(time.time() - self.started, 1) if self.active else self.finished_seconds,
            "first_numbers_seconds": self.first_numbers_seconds,
            "first_intervals_seconds": self.first_intervals_seconds,
            "comparison": rows,
            "charts": [{"url": f"/api/jobs/{self.id}/charts/{i}", "name": p.stem, "caption": captions.get(p.stem, "")}
                       for i, p in enumerate(self.charts)],
            "report": f"/api/jobs/{self.id}/report.html" if self.report else None,
        }


# ------------------------------------------------------------------------------------------------ what-ifs


@dataclass
class WhatIf:
    """A finished comparison saved under a name: its scenario (as TOML) and its summary rows."""

    name: str
    job_id: str
    scenario_name: str
    summary: pd.DataFrame
    strategies: list[str]
    seeds: list[int]
    toml: str
    description: str


def compare_whatifs(whatifs: list[WhatIf], level: float = 0.95) -> dict:
    """Two or three what-ifs side by side: per strategy (those in all of them) and metric, each one's mean and
    interval, and the difference of each later one from the first, paired by seed over their common seeds."""
    from sim.analysis import stats

    strategies = [s for s in whatifs[0].strategies if all(s in w.strategies for w in whatifs[1:])]
    common = sorted(set.intersection(*(set(w.seeds) for w in whatifs)))
    rows = []
    for s in strategies:
        for m in METRICS:
            cells, deltas = [], []
            series = []
            for w in whatifs:
                sub = w.summary[w.summary["strategy"] == s].set_index("seed")
                values = pd.to_numeric(sub[m], errors="coerce") if m in sub else pd.Series(dtype=float)
                mean, lo, hi = stats.metric_ci(m, values.to_numpy(dtype=float), level)
                cells.append({"mean": _num(mean), "low": _num(lo), "high": _num(hi), "n": int(values.notna().sum())})
                series.append(values.reindex(common).to_numpy(dtype=float))
            for later in series[1:]:
                d, lo, hi, p = stats.paired_diff_ci(later, series[0], level)
                pairs = int(np.sum(np.isfinite(later) & np.isfinite(series[0])))
                clear = lo is not None and math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0)
                deltas.append({"diff": _num(d), "low": _num(lo), "high": _num(hi), "p": _num(p), "pairs": pairs,
                               "clear": bool(clear)})
            rows.append({"strategy": s, "metric": m, "cells": cells, "deltas": deltas})
    identical = []  # strategies whose runs are the same in every what-if (not changed: common random numbers)
    for s in strategies:
        frames = [w.summary[w.summary["strategy"] == s].set_index("seed").reindex(common)[list(METRICS)]
                  for w in whatifs]
        if all(f.equals(frames[0]) for f in frames[1:]):
            identical.append(s)
    return {"names": [w.name for w in whatifs], "strategies": strategies, "common_seeds": common, "rows": rows,
            "identical": identical,
            "metrics": metric_info(), "level": level,
            "missing_strategies": sorted({s for w in whatifs for s in w.strategies} - set(strategies))}
