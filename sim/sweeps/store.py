"""SQLite store of a sweep: every finished run committed the moment it finishes.

One file (WAL journal, ``synchronous=FULL``) holds:

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
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.config.scenario import ScenarioError
from sim.io import package_version

__all__ = ["SweepStore", "load_sweep", "peek", "check_version", "STORE_NAME"]

FORMAT = "buyer-journey-sim sweep store 1"
STORE_NAME = "sweep.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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


def _dumps(obj: Any) -> str:
    return json.dumps(obj, allow_nan=True, separators=(",", ":"))


def _where(path: Path | str) -> str:
    return str(path)


def _read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _connect_existing(path: Path) -> sqlite3.Connection:
    """Open an existing file without creating it. Read-write if allowed, so that closing the last
    connection checkpoints the WAL and removes the -wal / -shm files; read-only otherwise."""
    uri = Path(path).absolute().as_uri()
    try:
        if not os.access(path, os.W_OK) or not os.access(Path(path).parent, os.W_OK):
            raise sqlite3.OperationalError("read-only")
        return sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30)


def peek(path: str | Path) -> dict[str, Any] | None:
    """The metadata of an existing store (``hash``, ``name``, ``runs`` count, ...) or None if ``path`` is
    missing. Raises ScenarioError if the file exists but is not a sweep store."""
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_file():
        raise ScenarioError(str(path), None, "is not a file; a sweep store is one SQLite file")
    if path.stat().st_size == 0:  # created, then killed before the first commit: as good as new
        return None
    try:
        conn = _connect_existing(path)
        try:
            meta = _read_meta(conn)
            runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ScenarioError(str(path), None, f"is not a sweep store ({exc}); choose another path") from None
    if meta.get("format") != FORMAT:
        raise ScenarioError(str(path), None, "is an SQLite file but not a sweep store; choose another path")
    return {**meta, "runs": runs}


def check_version(info: dict[str, Any] | None, path: str | Path) -> None:
    """Refuse to add runs to the store at ``path`` (metadata ``info`` from :func:`peek`; None = a new store)
    if another version of this package wrote it: runs from different versions may not be comparable, and
    one results frame must not mix them."""
    if info is None:
        return
    stored, current = info.get("package_version", "not recorded"), package_version()
    if stored != current:
        raise ScenarioError(str(path), None, f"was written by buyer-journey-sim {stored}, but this is version "
                                             f"{current}, and runs of different versions must not be mixed; "
                                             f"finish it with version {stored}, or use another store path "
                                             f"(or delete it to start over)")


class SweepStore:
    """Runs of one sweep in one SQLite file (or in memory with path ``":memory:"``)."""

    def __init__(self, conn: sqlite3.Connection, path: str, lock_fd: int | None):
        self.conn, self.path, self._lock_fd = conn, path, lock_fd
        meta = _read_meta(conn)
        self.hash = meta["hash"]
        self.columns: list[str] = json.loads(meta["columns"])
        self.strategies: list[str] = json.loads(meta["strategies"])

    # -- opening
    @classmethod
    def open(cls, path: str | Path, sweep: Any, where: str | None = None) -> "SweepStore":
        """Open (or create) the store of ``sweep`` (a :class:`sim.sweeps.Sweep`).

        A new store records the definition, the design points and the package version. An existing one must
        have the same definition hash, the same points and the same package version; otherwise ScenarioError
        (nothing is changed).
        """
        memory = str(path) == ":memory:"
        if not memory:
            path = Path(path).expanduser()
            info = peek(path)  # raises if not a sweep store
            if info is not None and info["hash"] != sweep.hash:
                raise ScenarioError(str(path), None,
                                    f"was made by a different sweep definition (store {info['hash'][:12]}, "
                                    f"this sweep {sweep.hash[:12]}: scenario, parameters, design, n, reps, seed "
                                    f"or strategies differ); use another store path, or delete it to start over")
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
                except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
                    pass
                except OSError:
                    os.close(lock_fd)
                    lock_fd = None
                    raise ScenarioError(str(path), None, "is in use by another running sweep; wait for it to "
                                                         "finish or use another store path") from None
            conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            if not memory:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # pragma: no cover - e.g. a file system without shared memory
                    raise ScenarioError(str(path), None, f"cannot use WAL journal mode here (got {mode})")
                conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            meta = _read_meta(conn)
            if not meta:
                cls._initialise(conn, sweep)
            else:
                cls._check_points(conn, sweep, str(path))
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

    @staticmethod
    def _initialise(conn: sqlite3.Connection, sweep: Any) -> None:
        design = sweep.design
        meta = {
            "format": FORMAT,
            "hash": sweep.hash,
            "name": sweep.name,
            "definition": json.dumps(sweep.definition, sort_keys=True, default=str),
            "columns": json.dumps(sweep.columns),
            "params": json.dumps(sweep.names),
            "strategies": json.dumps(sweep.strategies),
            "created": datetime.now().astimezone().isoformat(timespec="seconds"),
            "package_version": package_version(),
        }
        conn.execute("BEGIN")
        try:
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
            rows = []
            for i, vals in enumerate(design.values):
                unit = None if design.unit is None else _dumps([float(u) for u in design.unit[i]])
                rows.append((i, _dumps(list(vals)), unit))
            conn.executemany("INSERT INTO points (point, vals, unit) VALUES (?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _check_points(conn: sqlite3.Connection, sweep: Any, where: str) -> None:
        stored = [json.loads(r[0]) for r in conn.execute("SELECT vals FROM points ORDER BY point")]
        now = [json.loads(_dumps(list(v))) for v in sweep.design.values]
        if stored != now:
            raise ScenarioError(where, None, "holds other design points than this sweep generates (were SALib, "
                                             "scipy or numpy upgraded?); finish it with the versions that made it, "
                                             "or use another store path")

    # -- writing
    def keys(self) -> set[tuple[int, str, int]]:
        """``(point, strategy, seed)`` of every stored run."""
        return {(p, s, sd) for p, s, sd in self.conn.execute("SELECT point, strategy, seed FROM runs")}

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def add(self, point: int, strategy: str, rep: int, seed: int, params: dict, metrics: dict,
            elapsed: float | None = None, worker: str | None = None) -> None:
        """Commit one finished run now (autocommit: the INSERT is its own durable transaction).

        A second run with the same (point, strategy, seed) raises sqlite3.IntegrityError: runs are never
        duplicated.
        """
        self.conn.execute(
            "INSERT INTO runs (point, strategy, rep, seed, params, metrics, elapsed, worker, finished) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (int(point), str(strategy), int(rep), int(seed), _dumps(params), _dumps(metrics),
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

    def __enter__(self) -> "SweepStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / STORE_NAME
    info = peek(path)
    if info is None:
        raise ScenarioError(str(path), None, "no sweep store here")
    conn = _connect_existing(path)
    try:
        meta = _read_meta(conn)
        return _frame(conn, json.loads(meta["columns"]), json.loads(meta["strategies"]))
    finally:
        conn.close()
