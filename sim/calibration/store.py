"""SQLite store of a calibration: every finished run committed the moment it finishes.

Built on :class:`sim.store.RunStore` (WAL, ``synchronous=FULL``, the lock, the definition hash, the
package-version check and the removal of a store a failed call created live there, once). One file holds:

- ``meta``: ``format``, ``hash`` (of what fixes the runs: :attr:`sim.calibration.targets.Targets.hash`),
  ``definition`` (JSON), ``params`` (the free parameter paths, in order), ``name``, ``created``,
  ``package_version``.
- ``runs``: ``kind`` ("fit" or "predictive"), ``generation``, ``particle`` (the proposal index in its
  generation; for a predictive run the draw index), ``rep``, ``seed``, ``source`` (for a predictive run the
  posterior particle it simulates), ``params`` (JSON: the parameter values), ``metrics`` (JSON: every
  summary metric; NaN kept), ``elapsed`` (s), ``worker``, ``finished`` (ISO time). Primary key
  (kind, generation, particle, rep): a run is never stored twice.

Proposals are not stored: they are regenerated from the seed on a resume and checked against the stored
parameter values. A store belongs to one calibration definition and one package version; anything else is
refused with a ScenarioError. While a calibration writes to it the file is locked (``flock``).
"""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.store import RunStore, check_version, dumps

__all__ = ["STORE_NAME", "CalibrationStore", "check_version", "load_runs", "peek"]

FORMAT = "buyer-journey-sim calibration store 1"
STORE_NAME = "calibration.sqlite"


def peek(path: str | Path) -> dict[str, Any] | None:
    """The metadata of an existing store (``hash``, ``name``, ``runs`` count, ...) or None if ``path`` is
    missing (or empty). Raises ScenarioError if the file exists but is not a calibration store."""
    return CalibrationStore.peek(path)


class CalibrationStore(RunStore):
    """The runs of one calibration in one SQLite file (or in memory with path ``":memory:"``)."""

    FORMAT = FORMAT
    FILE_NAME = STORE_NAME
    KIND = "calibration"
    DEFINES = "scenario, strategy, targets, priors, population, quantile, replications or seed"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    kind TEXT NOT NULL,
    generation INTEGER NOT NULL,
    particle INTEGER NOT NULL,
    rep INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    source INTEGER,
    params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    elapsed REAL,
    worker TEXT,
    finished TEXT,
    PRIMARY KEY (kind, generation, particle, rep)
);
"""

    def __init__(self, conn: sqlite3.Connection, path: str, lock_fd: int | None, created: bool = False):
        super().__init__(conn, path, lock_fd, created)
        self.params: list[str] = json.loads(self.meta["params"])

    @classmethod
    def open(cls, path: str | Path, spec: Any) -> CalibrationStore:
        """Open (or create) the store of ``spec`` (a :class:`sim.calibration.targets.Targets`). An existing
        store must have the same definition hash and package version; otherwise ScenarioError."""
        return cls._open(path, spec.hash, spec)  # type: ignore[return-value]

    @classmethod
    def _meta(cls, spec: Any) -> dict[str, str]:
        return {
            "name": spec.name,
            "definition": json.dumps(spec.definition(), sort_keys=True, default=str),
            "params": json.dumps(spec.names),
        }

    # -- writing
    def add(self, kind: str, generation: int, particle: int, rep: int, seed: int, params: list, metrics: str,
            source: int | None = None, elapsed: float | None = None, worker: str | None = None) -> None:
        """Commit one finished run now (``metrics`` already JSON text). A second run with the same key raises
        sqlite3.IntegrityError."""
        self.conn.execute(
            "INSERT INTO runs (kind, generation, particle, rep, seed, source, params, metrics, elapsed, worker, "
            "finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, int(generation), int(particle), int(rep), int(seed), None if source is None else int(source),
             dumps(list(params)), metrics, None if elapsed is None else float(elapsed), worker,
             datetime.now().astimezone().isoformat(timespec="milliseconds")),
        )

    # -- reading
    def runs(self, kind: str, generation: int) -> dict[tuple[int, int], tuple[int, list, dict, int | None]]:
        """``(particle, rep) -> (seed, params, metrics, source)`` of the stored runs of one generation."""
        rows = self.conn.execute("SELECT particle, rep, seed, params, metrics, source FROM runs WHERE kind = ? AND "
                                 "generation = ?", (kind, int(generation))).fetchall()
        return {(p, r): (sd, json.loads(pa), json.loads(m), src) for p, r, sd, pa, m, src in rows}

    def count(self, kind: str | None = None) -> int:
        """How many runs are stored (of one ``kind``, "fit" or "predictive", if given)."""
        if kind is None:
            return super().count()
        return int(self.conn.execute("SELECT COUNT(*) FROM runs WHERE kind = ?", (kind,)).fetchone()[0])

    def frame(self) -> pd.DataFrame:
        return _frame(self.conn, self.params)


def _frame(conn: sqlite3.Connection, params: list[str]) -> pd.DataFrame:
    rows = conn.execute("SELECT kind, generation, particle, rep, seed, source, params, metrics, elapsed, worker "
                        "FROM runs").fetchall()
    rows.sort(key=lambda r: (r[0] != "fit", r[1], r[2], r[3]))
    metric_names: list[str] = []
    records = []
    for kind, gen, particle, rep, seed, source, pa, m, elapsed, worker in rows:
        vals, mets = json.loads(pa), json.loads(m)
        mets = {k: v for k, v in mets.items() if not k.startswith("_")}  # "_samples": engine samples, not metrics
        for k in mets:
            if k not in metric_names:
                metric_names.append(k)
        rec = {"kind": kind, "generation": gen, "particle": particle, "rep": rep, "seed": seed,
               "posterior_particle": source, **dict(zip(params, vals)), "elapsed": elapsed, "worker": worker}
        for k in metric_names:
            rec[k] = mets.get(k, math.nan)
        records.append(rec)
    cols = ["kind", "generation", "particle", "rep", "seed", "posterior_particle", *params, *metric_names,
            "elapsed", "worker"]
    df = pd.DataFrame.from_records(records, columns=cols)
    for k in metric_names:
        df[k] = pd.to_numeric(df[k], errors="coerce").astype("float64")
    return df


def load_runs(path: str | Path) -> pd.DataFrame:
    """Every stored run of a calibration store (a file, or a results folder holding calibration.sqlite)."""
    return CalibrationStore.read(path, lambda conn, meta: _frame(conn, json.loads(meta["params"])))
