"""SQLite store of a calibration: every finished run committed the moment it finishes.

One file (WAL journal, ``synchronous=FULL``), like the sweep store:

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
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.config.scenario import ScenarioError
from sim.io import package_version

__all__ = ["CalibrationStore", "peek", "check_version", "load_runs", "STORE_NAME"]

FORMAT = "buyer-journey-sim calibration store 1"
STORE_NAME = "calibration.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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


def dumps(obj: Any) -> str:
    return json.dumps(obj, allow_nan=True, separators=(",", ":"))


def _read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _connect_existing(path: Path) -> sqlite3.Connection:
    uri = Path(path).absolute().as_uri()
    try:
        if not os.access(path, os.W_OK) or not os.access(Path(path).parent, os.W_OK):
            raise sqlite3.OperationalError("read-only")
        return sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30)


def peek(path: str | Path) -> dict[str, Any] | None:
    """The metadata of an existing store (``hash``, ``name``, ``runs`` count, ...) or None if ``path`` is
    missing (or empty). Raises ScenarioError if the file exists but is not a calibration store."""
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_file():
        raise ScenarioError(str(path), None, "is not a file; a calibration store is one SQLite file")
    if path.stat().st_size == 0:
        return None
    try:
        conn = _connect_existing(path)
        try:
            meta = _read_meta(conn)
            runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ScenarioError(str(path), None, f"is not a calibration store ({exc}); choose another path") from None
    if meta.get("format") != FORMAT:
        raise ScenarioError(str(path), None, "is an SQLite file but not a calibration store; choose another path")
    return {**meta, "runs": runs}


def check_version(info: dict[str, Any] | None, path: str | Path) -> None:
    """Refuse a store written by another version of this package (its numbers may differ)."""
    if info is None:
        return
    stored, current = info.get("package_version", "not recorded"), package_version()
    if stored != current:
        raise ScenarioError(str(path), None, f"was written by buyer-journey-sim {stored}, but this is version "
                                             f"{current}, and runs of different versions must not be mixed; finish "
                                             f"it with version {stored}, or use another store path")


class CalibrationStore:
    """The runs of one calibration in one SQLite file (or in memory with path ``":memory:"``)."""

    def __init__(self, conn: sqlite3.Connection, path: str, lock_fd: int | None):
        self.conn, self.path, self._lock_fd = conn, path, lock_fd
        meta = _read_meta(conn)
        self.hash = meta["hash"]
        self.params: list[str] = json.loads(meta["params"])

    @classmethod
    def open(cls, path: str | Path, spec: Any) -> "CalibrationStore":
        """Open (or create) the store of ``spec`` (a :class:`sim.calibration.targets.Targets`). An existing
        store must have the same definition hash and package version; otherwise ScenarioError."""
        memory = str(path) == ":memory:"
        if not memory:
            path = Path(path).expanduser()
            info = peek(path)
            if info is not None and info["hash"] != spec.hash:
                raise ScenarioError(str(path), None,
                                    f"was made by a different calibration (store {info['hash'][:12]}, this one "
                                    f"{spec.hash[:12]}: scenario, strategy, targets, priors, population, quantile, "
                                    f"replications or seed differ); use another store path, or delete it to start "
                                    f"over")
            check_version(info, path)
            if info is None:
                parent = path.parent
                if not parent.is_dir():
                    raise ScenarioError(str(path), None, f"cannot create the store: folder {parent} does not exist")
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise ScenarioError(str(path), None, f"cannot create the store: no permission to write in "
                                                         f"{parent}")
        lock_fd = None
        created = False
        try:
            if not memory:
                created = not Path(path).exists()
                lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    import fcntl

                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except ImportError:  # pragma: no cover - not POSIX
                    pass
                except OSError:
                    os.close(lock_fd)
                    lock_fd = None
                    raise ScenarioError(str(path), None, "is in use by another running calibration; wait for it "
                                                         "to finish or use another store path") from None
            conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            if not memory:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # pragma: no cover
                    raise ScenarioError(str(path), None, f"cannot use WAL journal mode here (got {mode})")
                conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            if not _read_meta(conn):
                meta = {
                    "format": FORMAT,
                    "hash": spec.hash,
                    "name": spec.name,
                    "definition": json.dumps(spec.definition(), sort_keys=True, default=str),
                    "params": json.dumps(spec.names),
                    "created": datetime.now().astimezone().isoformat(timespec="seconds"),
                    "package_version": package_version(),
                }
                conn.execute("BEGIN")
                try:
                    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            if created:
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.unlink(f"{path}{suffix}")
                    except OSError:
                        pass
            raise
        return cls(conn, str(path), lock_fd)

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
        if kind is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        return int(self.conn.execute("SELECT COUNT(*) FROM runs WHERE kind = ?", (kind,)).fetchone()[0])

    def frame(self) -> pd.DataFrame:
        return _frame(self.conn, self.params)

    def close(self) -> None:
        if self.conn is not None:
            try:
                if self.path != ":memory:":
                    self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self.conn.close()
                self.conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "CalibrationStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _frame(conn: sqlite3.Connection, params: list[str]) -> pd.DataFrame:
    rows = conn.execute("SELECT kind, generation, particle, rep, seed, source, params, metrics, elapsed, worker "
                        "FROM runs").fetchall()
    rows.sort(key=lambda r: (r[0] != "fit", r[1], r[2], r[3]))
    metric_names: list[str] = []
    records = []
    for kind, gen, particle, rep, seed, source, pa, m, elapsed, worker in rows:
        vals, mets = json.loads(pa), json.loads(m)
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
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / STORE_NAME
    info = peek(path)
    if info is None:
        raise ScenarioError(str(path), None, "no calibration store here")
    conn = _connect_existing(path)
    try:
        return _frame(conn, json.loads(_read_meta(conn)["params"]))
    finally:
        conn.close()
