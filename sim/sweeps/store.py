"""SQLite store of a sweep: every finished run committed the moment it finishes.

Built on :class:`sim.store.RunStore` (WAL, ``synchronous=FULL``, the lock, the definition hash and the
package-version check live there, once). One file holds:

- ``meta``: ``format``, ``hash`` (SHA-256 of the canonical sweep definition), ``definition`` (JSON),
  ``columns`` (parameter and donor columns, in order), ``strategies`` (order), ``created``,
  ``package_version``, ``name``.
- ``points``: ``point`` (index), ``vals`` (JSON list of the swept values), ``unit`` (JSON list: the unit-cube
  coordinates the values came from, or null for a grid).
- ``runs``: ``point``, ``strategy``, ``rep``, ``seed`` (primary key: point, strategy, seed; a run can
  never be stored twice), ``params`` (JSON: the values applied in this run, donors included),
  ``metrics`` (JSON: every summary metric; NaN kept), ``elapsed`` (s), ``worker``, ``finished`` (ISO time).

A store belongs to one sweep definition and one package version: opening it for another definition,
or resuming it with another version of buyer-journey-sim (whose numbers may differ), raises
ScenarioError (:func:`check_version`). While a sweep writes to it the file is locked (``flock``), so two
sweeps cannot fill the same store at once.
Killing the writer (even ``kill -9``) loses only the runs that were in flight; committed runs survive.
"""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.config.scenario import ScenarioError
from sim.store import RunStore, check_version, dumps

__all__ = ["SweepStore", "load_sweep", "peek", "check_version", "STORE_NAME"]

FORMAT = "buyer-journey-sim sweep store 1"
STORE_NAME = "sweep.sqlite"


def peek(path: str | Path) -> dict[str, Any] | None:
    """The metadata of an existing sweep store (``hash``, ``name``, ``runs`` count, ...) or None if ``path`` is
    missing. Raises ScenarioError if the file exists but is not a sweep store."""
    return SweepStore.peek(path)


class SweepStore(RunStore):
    """Runs of one sweep in one SQLite file (or in memory with path ``":memory:"``)."""

    FORMAT = FORMAT
    FILE_NAME = STORE_NAME
    KIND = "sweep"
    DEFINES = "scenario, parameters, design, n, reps, seed or strategies"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS points (point INTEGER PRIMARY KEY, vals TEXT NOT NULL, unit TEXT);
CREATE TABLE IF NOT EXISTS runs (
    point INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    rep INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    elapsed REAL,
    worker TEXT,
    finished TEXT,
    PRIMARY KEY (point, strategy, seed)
);
"""

    def __init__(self, conn: sqlite3.Connection, path: str, lock_fd: int | None, created: bool = False):
        super().__init__(conn, path, lock_fd, created)
        self.columns: list[str] = json.loads(self.meta["columns"])
        self.strategies: list[str] = json.loads(self.meta["strategies"])

    # -- opening
    @classmethod
    def open(cls, path: str | Path, sweep: Any, where: str | None = None) -> "SweepStore":
        """Open (or create) the store of ``sweep`` (a :class:`sim.sweeps.Sweep`).

        A new store records the definition, the design points and the package version. An existing one must
        have the same definition hash, the same points and the same package version; otherwise ScenarioError
        (nothing is changed).
        """
        return cls._open(path, sweep.hash, sweep)  # type: ignore[return-value]

    @classmethod
    def _meta(cls, sweep: Any) -> dict[str, str]:
        return {
            "name": sweep.name,
            "definition": json.dumps(sweep.definition, sort_keys=True, default=str),
            "columns": json.dumps(sweep.columns),
            "params": json.dumps(sweep.names),
            "strategies": json.dumps(sweep.strategies),
        }

    @classmethod
    def _initialise(cls, conn: sqlite3.Connection, sweep: Any) -> None:
        design = sweep.design
        rows = []
        for i, vals in enumerate(design.values):
            unit = None if design.unit is None else dumps([float(u) for u in design.unit[i]])
            rows.append((i, dumps(list(vals)), unit))
        conn.executemany("INSERT INTO points (point, vals, unit) VALUES (?, ?, ?)", rows)

    @classmethod
    def _verify(cls, conn: sqlite3.Connection, sweep: Any, where: str) -> None:
        stored = [json.loads(r[0]) for r in conn.execute("SELECT vals FROM points ORDER BY point")]
        now = [json.loads(dumps(list(v))) for v in sweep.design.values]
        if stored != now:
            raise ScenarioError(where, None, "holds other design points than this sweep generates (were SALib, "
                                             "scipy or numpy upgraded?); finish it with the versions that made it, "
                                             "or use another store path")

    # -- writing
    def keys(self) -> set[tuple[int, str, int]]:
        """``(point, strategy, seed)`` of every stored run."""
        return {(p, s, sd) for p, s, sd in self.conn.execute("SELECT point, strategy, seed FROM runs")}

    def add(self, point: int, strategy: str, rep: int, seed: int, params: dict, metrics: dict,
            elapsed: float | None = None, worker: str | None = None) -> None:
        """Commit one finished run now (autocommit: the INSERT is its own durable transaction).

        A second run with the same (point, strategy, seed) raises sqlite3.IntegrityError: runs are never
        duplicated.
        """
        self.conn.execute(
            "INSERT INTO runs (point, strategy, rep, seed, params, metrics, elapsed, worker, finished) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (int(point), str(strategy), int(rep), int(seed), dumps(params), dumps(metrics),
             None if elapsed is None else float(elapsed), worker,
             datetime.now().astimezone().isoformat(timespec="milliseconds")),
        )

    # -- reading
    def frame(self) -> pd.DataFrame:
        return _frame(self.conn, self.columns, self.strategies)

    def timings(self) -> pd.DataFrame:
        """Per stored run: point, strategy, seed, elapsed (s), worker, finished."""
        return pd.read_sql_query("SELECT point, strategy, seed, elapsed, worker, finished FROM runs "
                                 "ORDER BY finished", self.conn)


def _frame(conn: sqlite3.Connection, columns: list[str], strategies: list[str]) -> pd.DataFrame:
    order = {s: i for i, s in enumerate(strategies)}
    rows = conn.execute("SELECT point, strategy, rep, seed, params, metrics FROM runs").fetchall()
    rows.sort(key=lambda r: (r[0], order.get(r[1], len(order)), r[2]))
    metric_names: list[str] = []
    records = []
    for point, strategy, rep, seed, params, metrics in rows:
        p = json.loads(params)
        m = json.loads(metrics)
        for k in m:
            if k not in metric_names:
                metric_names.append(k)
        rec = {"point": point, "strategy": strategy, "rep": rep, "seed": seed}
        for c in columns:
            rec[c] = p.get(c)
        for k in metric_names:
            rec[k] = m.get(k, math.nan)
        records.append(rec)
    cols = ["point", "strategy", "rep", "seed", *columns, *metric_names]
    df = pd.DataFrame.from_records(records, columns=cols)
    for c in ("point", "rep", "seed"):
        df[c] = df[c].astype("int64")
    for k in metric_names:
        df[k] = pd.to_numeric(df[k], errors="coerce").astype("float64")
    return df


def load_sweep(path: str | Path) -> pd.DataFrame:
    """The results frame stored in ``path`` (the SQLite store, or a results folder with sweep.sqlite)."""
    return SweepStore.read(path, lambda conn, meta: _frame(conn, json.loads(meta["columns"]),
                                                           json.loads(meta["strategies"])))
