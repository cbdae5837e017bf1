"""SQLite store of an attribution study: every counterfactual run committed the moment it finishes.

Built on :class:`sim.store.RunStore` (WAL, the lock, the definition hash, the package-version check). Table
``runs``: ``rep``, ``coalition`` (bit mask over the studied channels: bit j set = channel j present),
``seed``, ``wins``, ``revenue`` (the contract value of the accounts won), ``log`` (the packed touch log of
the run with every channel, ``sim.store.pack_arrays`` compressed with zlib; NULL for the other coalitions), ``elapsed``,
``worker``, ``finished``. Primary key (rep, coalition): a run is never stored twice.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sim.store import RunStore, pack_arrays, unpack_arrays

__all__ = ["AttributionStore", "STORE_NAME"]

FORMAT = "buyer-journey-sim attribution store 2"
STORE_NAME = "attribution.sqlite"


class AttributionStore(RunStore):
    """The counterfactual runs of one attribution study in one SQLite file (or ``":memory:"``)."""

    FORMAT = FORMAT
    FILE_NAME = STORE_NAME
    KIND = "attribution study"
    DEFINES = "scenario, strategy, overrides, channels, replications, seed or permutations"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    rep INTEGER NOT NULL,
    coalition INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    wins REAL NOT NULL,
    revenue REAL NOT NULL,
    log BLOB,
    elapsed REAL,
    worker TEXT,
    finished TEXT,
    PRIMARY KEY (rep, coalition)
);
"""

    @classmethod
    def open(cls, path: str | Path, study: Any) -> "AttributionStore":
        """Open (or create) the store of ``study`` (a :class:`sim.attribution.lab.Study`)."""
        return cls._open(path, study.hash, study)  # type: ignore[return-value]

    @classmethod
    def _meta(cls, study: Any) -> dict[str, str]:
        return {"definition": json.dumps(study.definition(), sort_keys=True, default=str)}

    def add(self, rep: int, coalition: int, seed: int, out: dict, elapsed: float | None = None,
            worker: str | None = None) -> None:
        log = out.get("log")
        self.conn.execute(
            "INSERT INTO runs (rep, coalition, seed, wins, revenue, log, elapsed, worker, finished) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (int(rep), int(coalition), int(seed), float(out["wins"]), float(out["revenue"]),
             None if log is None else sqlite3.Binary(zlib.compress(pack_arrays(log), 1)), elapsed, worker,
             datetime.now().astimezone().isoformat(timespec="milliseconds")))

    def done(self) -> set[tuple[int, int]]:
        return {(r, c) for r, c in self.conn.execute("SELECT rep, coalition FROM runs").fetchall()}

    def values(self) -> dict[tuple[int, int], tuple[float, float]]:
        rows = self.conn.execute("SELECT rep, coalition, wins, revenue FROM runs").fetchall()
        return {(r, c): (w, v) for r, c, w, v in rows}

    def log(self, rep: int, coalition: int) -> dict | None:
        row = self.conn.execute("SELECT log FROM runs WHERE rep = ? AND coalition = ?", (rep, coalition)).fetchone()
        return None if row is None or row[0] is None else unpack_arrays(zlib.decompress(row[0]))
