"""The resumable run store: one SQLite file per multi-run job, every finished run committed the moment it finishes.

Every multi-run command keeps its runs in a store built on :class:`RunStore`: the sweep
(:class:`sim.sweeps.store.SweepStore`), the comparison of ``run.py run``
(:class:`sim.analysis.store.ComparisonStore`) and the calibration
(:class:`sim.calibration.store.CalibrationStore`). The base holds what they share, once:

- the file: SQLite in WAL mode with ``synchronous=FULL`` and autocommit, so each ``INSERT`` of a finished
  run is one durable transaction; a ``kill -9`` loses only the runs in flight, and the subclass's primary key
  means a run is never stored twice;
- identity: a ``meta`` table (key, value) with ``format`` (which kind of store), ``hash`` (SHA-256 of the
  job's canonical definition, :func:`definition_hash`), ``package_version`` and ``created``; opening a store
  for another definition, or with another version of the package (whose numbers may differ), raises
  ScenarioError and changes nothing;
- a lock: while a job writes, the file is locked (``flock``), so two jobs cannot fill one store at once;
- cleanup: a store file that ``open`` created is removed again if opening fails, and
  ``close(remove_if_empty=True)`` removes it if no run was stored (nothing partial is left behind); a
  ``with`` block that ends in an exception closes the store that way.

A subclass sets ``FORMAT``, ``KIND`` (a noun for messages), ``DEFINES`` (what its definition covers),
``SCHEMA`` (its tables) and, if it lives in a results folder, ``FILE_NAME`` (then :meth:`RunStore.read`
accepts the folder), and may override ``_meta`` (more meta rows), ``_initialise`` (more rows when the
store is created) and ``_verify`` (checks when it is reopened).

Connections are closed explicitly, never left to the garbage collector (a ``sqlite3.Connection`` sits in a
reference cycle): an open connection keeps SQLite's shared WAL index alive, and a reader that is not the
first to open the file after its writer was killed trusts that index instead of recovering the WAL, so it
can miss the last commit.

Frames and arrays are stored exactly (:func:`pack_frame`, :func:`pack_arrays`): numeric columns as raw
numpy arrays behind a JSON header (no pickle), so a resumed job writes byte-identical results. Writing and
reading a run's blobs takes a few milliseconds; the ``.npz`` blobs of older stores (ten times slower to read)
are still read.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, TypeVar

import numpy as np
import pandas as pd

from sim.config.scenario import ScenarioError
from sim.io import package_version

__all__ = ["RunStore", "definition_hash", "check_version", "dumps", "pack_frame", "unpack_frame",
           "pack_arrays", "unpack_arrays", "remove_store_files"]

T = TypeVar("T")

_META_SCHEMA = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"


def dumps(obj: Any) -> str:
    """Compact JSON that keeps NaN and infinities (stores hold metrics, which may be NaN)."""
    return json.dumps(obj, allow_nan=True, separators=(",", ":"))


def definition_hash(definition: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a job definition: the identity of its store."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def connect_existing(path: Path) -> sqlite3.Connection:
    """Open an existing file without creating it. Read-write if allowed, so that closing the last
    connection checkpoints the WAL and removes the -wal / -shm files; read-only otherwise.
    The caller closes it."""
    uri = Path(path).absolute().as_uri()
    try:
        if not os.access(path, os.W_OK) or not os.access(Path(path).parent, os.W_OK):
            raise sqlite3.OperationalError("read-only")
        return sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30)


def remove_store_files(path: str | Path) -> None:
    """Delete a store file and its WAL companions (missing files are fine)."""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:
            pass


def check_version(info: dict[str, Any] | None, path: str | Path) -> None:
    """Refuse to add runs to the store at ``path`` (metadata ``info`` from ``peek``; None = a new store)
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


class RunStore:
    """Runs of one job in one SQLite file (or in memory with path ``":memory:"``); see the module doc."""

    FORMAT: ClassVar[str] = ""
    FILE_NAME: ClassVar[str] = ""
    KIND: ClassVar[str] = "job"
    DEFINES: ClassVar[str] = "its definition"
    SCHEMA: ClassVar[str] = ""

    def __init__(self, conn: sqlite3.Connection, path: str, lock_fd: int | None, created: bool):
        self.conn, self.path, self._lock_fd, self.created = conn, path, lock_fd, created
        self.meta = read_meta(conn)
        self.hash: str = self.meta["hash"]

    # -- looking without opening
    @classmethod
    def peek(cls, path: str | Path) -> dict[str, Any] | None:
        """The metadata of an existing store (``hash``, ``package_version``, ..., and ``runs``: how many are
        stored) or None if ``path`` is missing (or empty: created, then killed before the first commit).
        Raises ScenarioError if the file exists but is not a store of this kind."""
        path = Path(path)
        if not path.exists():
            return None
        if not path.is_file():
            raise ScenarioError(str(path), None, f"is not a file; a {cls.KIND} store is one SQLite file")
        if path.stat().st_size == 0:
            return None
        try:
            conn = connect_existing(path)
            try:
                meta = read_meta(conn)
                runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] if meta.get("format") == cls.FORMAT \
                    else 0
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise ScenarioError(str(path), None, f"is not a {cls.KIND} store ({exc}); choose another path") from None
        if meta.get("format") != cls.FORMAT:
            raise ScenarioError(str(path), None, f"is an SQLite file but not a {cls.KIND} store; choose another path")
        return {**meta, "runs": runs}

    @classmethod
    def read(cls, path: str | Path, reader: Callable[[sqlite3.Connection, dict[str, str]], T]) -> T:
        """``reader(conn, meta)`` on the existing store at ``path`` (the file, or a results folder holding
        ``FILE_NAME``), opened without taking the lock and without creating anything; ScenarioError if there
        is no store of this kind."""
        path = Path(path).expanduser()
        if path.is_dir() and cls.FILE_NAME:
            path = path / cls.FILE_NAME
        if cls.peek(path) is None:
            raise ScenarioError(str(path), None, f"no {cls.KIND} store here")
        conn = connect_existing(path)
        try:
            return reader(conn, read_meta(conn))
        finally:
            conn.close()

    # -- opening
    @classmethod
    def _open(cls, path: str | Path, identity: str, job: Any) -> "RunStore":
        """Open (or create) the store of ``job`` whose definition hash is ``identity``.

        A new store records the format, the hash, the package version and ``cls._meta(job)``; an existing one
        must have the same hash and package version and pass ``cls._verify``; otherwise ScenarioError (nothing
        is changed).
        """
        memory = str(path) == ":memory:"
        if not memory:
            path = Path(path).expanduser()
            info = cls.peek(path)
            if info is not None and info["hash"] != identity:
                raise ScenarioError(str(path), None,
                                    f"was made by a different {cls.KIND} definition (store {info['hash'][:12]}, "
                                    f"this {cls.KIND} {identity[:12]}: {cls.DEFINES} differ); use another store "
                                    f"path, or delete it to start over")
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
        conn = None
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
                    raise ScenarioError(str(path), None, f"is in use by another running {cls.KIND}; wait for it "
                                                         f"to finish or use another store path") from None
            conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            if not memory:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # pragma: no cover - e.g. a file system without shared memory
                    raise ScenarioError(str(path), None, f"cannot use WAL journal mode here (got {mode})")
                conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_META_SCHEMA + cls.SCHEMA)
            if not read_meta(conn):
                meta = {"format": cls.FORMAT, "hash": identity,
                        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
                        "package_version": package_version(), **cls._meta(job)}
                conn.execute("BEGIN")
                try:
                    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
                    cls._initialise(conn, job)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            else:
                cls._verify(conn, job, str(path))
        except BaseException:
            if conn is not None:
                conn.close()
            if lock_fd is not None:
                os.close(lock_fd)
            if created:
                remove_store_files(path)
            raise
        return cls(conn, str(path), lock_fd, created)

    @classmethod
    def _meta(cls, job: Any) -> dict[str, str]:
        """More ``meta`` rows of a new store (values are strings, JSON where structured)."""
        return {}

    @classmethod
    def _initialise(cls, conn: sqlite3.Connection, job: Any) -> None:
        """More rows of a new store, in the transaction that writes its meta."""

    @classmethod
    def _verify(cls, conn: sqlite3.Connection, job: Any, where: str) -> None:
        """Checks of an existing store beyond its hash and package version (raise ScenarioError)."""

    # -- common reading
    def count(self) -> int:
        """How many runs are stored."""
        return int(self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def close(self, remove_if_empty: bool = False) -> None:
        """Close the store (checkpointing the WAL into the file). With ``remove_if_empty``, a store that this
        ``open`` created and that holds no run is deleted: a job that failed before its first run leaves
        nothing behind."""
        remove = False
        if self.conn is not None:
            try:
                remove = remove_if_empty and self.created and self.path != ":memory:" and self.count() == 0
                if self.path != ":memory:" and not remove:
                    self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self.conn.close()
                self.conn = None
        if self._lock_fd is not None:
            if remove:  # while still holding the lock: nobody else can have opened it meanwhile
                remove_store_files(self.path)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        # leaving on an exception: a store this open created, still without a run, is not left behind
        self.close(remove_if_empty=exc_type is not None)


# --------------------------------------------------------------------------------------------------------
# Exact binary encodings of what runs produce
# --------------------------------------------------------------------------------------------------------


#: The first bytes of a blob in the raw layout (:func:`_pack_raw`); older stores hold ``.npz`` blobs (``PK...``).
RAW_MAGIC = b"buyer-journey-sim raw 1\n"


def _pack_raw(header: dict, arrays: list[np.ndarray]) -> bytes:
    """``RAW_MAGIC``, the length of the JSON header (8 bytes, little-endian), the header (``header`` plus each
    array's dtype and shape under ``"arrays"``), then each array's bytes in C order: exact, and no pickle."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    for a in arrays:
        if a.dtype.hasobject or a.dtype.names is not None:
            raise TypeError(f"cannot store an array of dtype {a.dtype} exactly (numbers, booleans, dates and "
                            f"fixed-width strings only)")
    head = json.dumps({**header, "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}, allow_nan=True,
                      default=str).encode("utf-8")
    return b"".join([RAW_MAGIC, len(head).to_bytes(8, "little"), head, *(a.tobytes() for a in arrays)])


def _unpack_raw(blob: bytes) -> tuple[dict, list[np.ndarray]]:
    """The header and the arrays of a :func:`_pack_raw` blob (read-only views into ``blob``)."""
    start = len(RAW_MAGIC) + 8
    end = start + int.from_bytes(blob[len(RAW_MAGIC):start], "little")
    header = json.loads(blob[start:end])
    arrays = []
    for descr, shape in header["arrays"]:
        dtype = np.dtype(descr)
        count = math.prod(shape)
        arrays.append(np.frombuffer(blob, dtype, count, end).reshape(shape))
        end += count * dtype.itemsize
    return header, arrays


def pack_arrays(arrays: Mapping[str, Any]) -> bytes:
    """Named arrays as one blob, in order, exactly (dtype, shape and bits kept; no pickle)."""
    return _pack_raw({"names": [str(k) for k in arrays]}, [np.asarray(v) for v in arrays.values()])


def unpack_arrays(blob: bytes) -> dict[str, np.ndarray]:
    """The inverse of :func:`pack_arrays` (writable arrays); also reads the ``.npz`` blobs of older stores."""
    if not blob.startswith(RAW_MAGIC):
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            names = json.loads(str(npz["__names__"]))
            return {name: npz[f"a{i}"] for i, name in enumerate(names)}
    header, arrays = _unpack_raw(blob)
    return {name: a.copy() for name, a in zip(header["names"], arrays)}


def pack_frame(frame: pd.DataFrame) -> bytes:
    """A DataFrame's columns (not its index) as one blob, exactly: numeric and boolean columns as raw arrays,
    any other column as a JSON list."""
    numeric: list[np.ndarray] = []
    other: dict[str, list] = {}
    order = []
    for i, (name, col) in enumerate(frame.items()):
        order.append(str(name))
        if col.dtype.kind in "biufc":
            numeric.append(col.to_numpy())
        else:
            other[f"c{i}"] = col.tolist()
    return _pack_raw({"columns": order, "other": other}, numeric)


def unpack_frame(blob: bytes) -> pd.DataFrame:
    """The inverse of :func:`pack_frame` (with a fresh RangeIndex); also reads the ``.npz`` blobs of older
    stores."""
    data = {}
    if not blob.startswith(RAW_MAGIC):
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            header = json.loads(str(npz["__header__"]))
            for i, name in enumerate(header["columns"]):
                key = f"c{i}"
                data[name] = npz[key] if key in npz.files else pd.Series(header["other"][key], dtype=object)
        return pd.DataFrame(data, columns=header["columns"])
    header, arrays = _unpack_raw(blob)
    numeric = iter(arrays)
    for i, name in enumerate(header["columns"]):
        key = f"c{i}"
        data[name] = pd.Series(header["other"][key], dtype=object) if key in header["other"] else next(numeric)
    # the frame copies the read-only views into blocks of its own
    return pd.DataFrame(data, columns=header["columns"])
