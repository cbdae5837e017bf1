"""SQLite store of an optimisation: every finished run committed the moment it finishes.

Built on :class:`sim.store.RunStore` (WAL, ``synchronous=FULL``, the lock, the definition hash, the package-version
check, the removal of a store a failed call created). ``runs``: ``kind`` ("search", "confirm" or "curve"),
``candidate`` (the trial number of a search run; the plan index of a confirmation run; the point index of a
response-curve run), ``rep``, ``seed``, ``plan`` (JSON: the strategy run and its overrides), ``metrics`` (JSON:
every summary metric; NaN kept), ``elapsed`` (s), ``worker``, ``finished``. Primary key (kind, candidate, rep).

The optimiser's proposals are not stored: a resume replays the search from the seed, telling it the stored
results in trial order, and checks that every stored plan is the one proposed again.
"""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.store import RunStore, dumps

__all__ = ["STORE_NAME", "OptimisationStore", "load_runs"]

FORMAT = "buyer-journey-sim optimisation store 1"
STORE_NAME = "optimisation.sqlite"


class OptimisationStore(RunStore):
    """The runs of one optimisation in one SQLite file (or in memory with path ``":memory:"``)."""

    FORMAT = FORMAT
    FILE_NAME = STORE_NAME
    KIND = "optimisation"
    DEFINES = "scenario, objective, budget, constraints, trials, replications, batch, curves or seed"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    kind TEXT NOT NULL,
    candidate INTEGER NOT NULL,
    rep INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    plan TEXT NOT NULL,
    metrics TEXT NOT NULL,
    elapsed REAL,
    worker TEXT,
    finished TEXT,
    PRIMARY KEY (kind, candidate, rep)
);
"""

    @classmethod
    def open(cls, path: str | Path, problem: Any) -> OptimisationStore:
        """Open (or create) the store of ``problem`` (a :class:`sim.optimise.search.Problem`)."""
        return cls._open(path, problem.hash, problem)  # type: ignore[return-value]

    @classmethod
    def _meta(cls, problem: Any) -> dict[str, str]:
        return {"name": problem.name, "definition": json.dumps(problem.definition(), sort_keys=True, default=str)}

    def add(self, kind: str, candidate: int, rep: int, seed: int, plan: Any, metrics: str,
            elapsed: float | None = None, worker: str | None = None) -> None:
        """Commit one finished run now (``metrics`` already JSON text)."""
        self.conn.execute(
            "INSERT INTO runs (kind, candidate, rep, seed, plan, metrics, elapsed, worker, finished) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, int(candidate), int(rep), int(seed), dumps(plan), metrics,
             None if elapsed is None else float(elapsed), worker,
             datetime.now().astimezone().isoformat(timespec="milliseconds")))

    def runs(self, kind: str) -> dict[tuple[int, int], tuple[int, Any, dict]]:
        """``(candidate, rep) -> (seed, plan, metrics)`` of the stored runs of one kind."""
        rows = self.conn.execute("SELECT candidate, rep, seed, plan, metrics FROM runs WHERE kind = ?",
                                 (kind,)).fetchall()
        return {(c, r): (sd, json.loads(p), json.loads(m)) for c, r, sd, p, m in rows}

    def frame(self) -> pd.DataFrame:
        return _frame(self.conn)


def _frame(conn: sqlite3.Connection) -> pd.DataFrame:
    rows = conn.execute("SELECT kind, candidate, rep, seed, plan, metrics, elapsed, worker FROM runs").fetchall()
    order = {"search": 0, "confirm": 1, "curve": 2}
    rows.sort(key=lambda r: (order.get(r[0], 9), r[1], r[2]))
    records, names = [], []
    for kind, cand, rep, seed, plan, m, elapsed, worker in rows:
        mets = json.loads(m)
        for k in mets:
            if k not in names:
                names.append(k)
        strategy, overrides = json.loads(plan)
        records.append({"kind": kind, "candidate": cand, "rep": rep, "seed": seed, "strategy": strategy,
                        **{f"set:{k}": v for k, v in overrides.items()},
                        **{k: (math.nan if v is None else v) for k, v in mets.items()},
                        "elapsed": elapsed, "worker": worker})
    return pd.DataFrame.from_records(records)


def load_runs(path: str | Path) -> pd.DataFrame:
    """Every stored run of an optimisation store (a file, or a results folder holding optimisation.sqlite)."""
    return OptimisationStore.read(path, lambda conn, meta: _frame(conn))
