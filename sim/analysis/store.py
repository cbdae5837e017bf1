"""SQLite store of a comparison (``run_many``, ``run.py run``): every finished run committed the moment it finishes.

Built on :class:`sim.store.RunStore` (WAL, ``synchronous=FULL``, the lock, the definition hash and the
package-version check live there). One file holds:

- ``meta``: ``format``, ``hash`` (SHA-256 of the definition: the scenario as resolved, the strategies in
  order, the seeds), ``definition`` (JSON), ``name`` (the scenario's), ``strategies``, ``seeds``,
  ``created``, ``package_version``.
- ``runs``: ``strategy``, ``seed`` (primary key: a run is never stored twice), ``summary`` (JSON: every
  summary metric, NaN kept), ``timeseries`` and ``samples`` (exact binary blobs, :func:`sim.store.pack_frame`
  and :func:`sim.store.pack_arrays`), ``elapsed`` (s), ``worker``, ``finished`` (ISO time).

Reading a run back gives the very numbers the run produced, so a comparison resumed after ``kill -9``
writes byte-identical results files to an uninterrupted one.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from sim.store import (
    RunStore,
    definition_hash,
    dumps,
    pack_arrays,
    pack_frame,
    unpack_arrays,
    unpack_frame,
)

__all__ = ["ComparisonStore", "comparison_definition", "FORMAT"]

FORMAT = "buyer-journey-sim comparison store 1"


def comparison_definition(scenario: Any, strategies: Sequence[str], seeds: Sequence[int],
                          parameter_draws: Sequence[dict] | None = None) -> dict:
    """What fixes a comparison's numbers (with the package version, which the store checks apart)."""
    out = {"format": FORMAT, "scenario": scenario.to_dict(), "strategies": list(strategies),
           "seeds": [int(s) for s in seeds]}
    if parameter_draws is not None:  # absent otherwise, so stores of plain comparisons keep their hash
        out["parameter_draws"] = [dict(d) for d in parameter_draws]
    return out


class ComparisonStore(RunStore):
    """Runs of one comparison (strategies x seeds of one scenario) in one SQLite file."""

    FORMAT = FORMAT
    KIND = "comparison"
    DEFINES = "scenario, strategies or seeds"
    SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    strategy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    summary TEXT NOT NULL,
    timeseries BLOB NOT NULL,
    samples BLOB NOT NULL,
    elapsed REAL,
    worker TEXT,
    finished TEXT,
    PRIMARY KEY (strategy, seed)
);
"""

    @staticmethod
    def identity(scenario: Any, strategies: Sequence[str], seeds: Sequence[int],
                 parameter_draws: Sequence[dict] | None = None) -> str:
        """The definition hash of a comparison: names its store file and guards reopening it."""
        return definition_hash(comparison_definition(scenario, strategies, seeds, parameter_draws))

    @classmethod
    def open(cls, path: str | Path, scenario: Any, strategies: Sequence[str],
             seeds: Sequence[int], parameter_draws: Sequence[dict] | None = None) -> "ComparisonStore":
        """Open (or create) the store of this comparison; one made for another definition or by another
        package version raises ScenarioError (nothing is changed)."""
        definition = comparison_definition(scenario, strategies, seeds, parameter_draws)
        return cls._open(path, definition_hash(definition), definition)  # type: ignore[return-value]

    @classmethod
    def _meta(cls, definition: dict) -> dict[str, str]:
        return {
            "name": str(definition["scenario"].get("scenario", {}).get("name", "")),
            "definition": json.dumps(definition, sort_keys=True, default=str),
            "strategies": json.dumps(definition["strategies"]),
            "seeds": json.dumps(definition["seeds"]),
        }

    # -- writing
    def keys(self) -> set[tuple[str, int]]:
        """``(strategy, seed)`` of every stored run."""
        return {(s, int(sd)) for s, sd in self.conn.execute("SELECT strategy, seed FROM runs")}

    def add(self, strategy: str, seed: int, summary: dict, timeseries: pd.DataFrame, samples: dict,
            elapsed: float | None = None, worker: str | None = None) -> None:
        """Commit one finished run now (autocommit: the INSERT is its own durable transaction). A second run
        with the same (strategy, seed) raises sqlite3.IntegrityError: runs are never duplicated."""
        self.conn.execute(
            "INSERT INTO runs (strategy, seed, summary, timeseries, samples, elapsed, worker, finished) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (str(strategy), int(seed), dumps(summary), pack_frame(timeseries), pack_arrays(samples),
             None if elapsed is None else float(elapsed), worker,
             datetime.now().astimezone().isoformat(timespec="milliseconds")),
        )

    # -- reading
    def results(self) -> dict[tuple[str, int], tuple[dict, pd.DataFrame, dict]]:
        """Every stored run: ``(strategy, seed) -> (summary, timeseries, samples)``, as the run returned them."""
        out = {}
        for strategy, seed, summary, ts, samples in self.conn.execute(
                "SELECT strategy, seed, summary, timeseries, samples FROM runs"):
            out[(strategy, int(seed))] = (json.loads(summary), unpack_frame(ts), unpack_arrays(samples))
        return out

    def timings(self) -> pd.DataFrame:
        """Per stored run: strategy, seed, elapsed (s), worker, finished."""
        return pd.read_sql_query("SELECT strategy, seed, elapsed, worker, finished FROM runs ORDER BY finished",
                                 self.conn)
