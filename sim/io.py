"""Results folders and worker processes: the helpers shared by experiment, sweeps, store, validation and the CLIs.

Results folders:

- :class:`staged_folder` writes a folder atomically (a hidden temporary sibling, renamed into place when
  complete; never overwriting: ``target``, ``target-2``, ...), built on :func:`make_parents`,
  :func:`remove_created` and :func:`move_into_place`.
- :func:`safe_name` turns a scenario or sweep name into a folder name; :data:`TIMESTAMP_FORMAT` names the
  timestamped folders.
- :func:`jsonable` makes manifests strict JSON and :func:`write_manifest` writes them; :func:`package_version` and :func:`versions` say what
  produced them.

Worker processes:

- :func:`portable_call` runs a task in a worker so that any exception reaches the parent with its type and
  message (via :class:`RemoteError`), never as a misleading ``BrokenProcessPool``.
- :func:`ignore_sigint` (a pool initializer step), :func:`sigint_ignored` (around starting a pool) and
  :func:`terminate_pool` (on Ctrl-C or a failed run) leave Ctrl-C to the parent alone.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import platform
import re
import shutil
import signal
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

__all__ = [
    "results_root",
    "TIMESTAMP_FORMAT",
    "safe_name",
    "make_parents",
    "remove_created",
    "move_into_place",
    "staged_folder",
    "jsonable",
    "write_manifest",
    "package_version",
    "versions",
    "RemoteError",
    "portable_call",
    "ignore_sigint",
    "sigint_ignored",
    "terminate_pool",
]

#: strftime format of timestamped results folders (``results/<name>/<YYYYmmdd-HHMMSS>``).
TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"

PACKAGE = "buyer-journey-sim"


# --------------------------------------------------------------------------------------------------------
# Results folders
# --------------------------------------------------------------------------------------------------------


def results_root() -> Path:
    """Where results folders go unless ``--out`` says otherwise: ``results/`` under the current
    directory (never inside an installed package)."""
    return Path.cwd() / "results"


def safe_name(name: str) -> str:
    """``name`` as one folder name: runs of anything but letters, digits, ``.``, ``_`` and ``-`` become ``_``;
    leading and trailing dots and underscores are dropped ("scenario" if nothing is left)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")
    return cleaned or "scenario"


def make_parents(path: Path) -> list[Path]:
    """``mkdir -p path``, returning the directories that were actually created (deepest last), so that a
    failed write can remove exactly those again (:func:`remove_created`)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    created = []
    for d in reversed(missing):
        try:
            d.mkdir()
            created.append(d)
        except FileExistsError:
            pass
    return created


def remove_created(created: list[Path]) -> None:
    """Undo :func:`make_parents`: remove the folders in ``created`` deepest first, stopping at the first one
    that is no longer empty."""
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:
            break


def _is_empty_dir(p: Path) -> bool:
    try:
        return p.is_dir() and not any(p.iterdir())
    except OSError:
        return False


def _candidates(target: Path) -> Iterator[Path]:
    yield target
    n = 2
    while True:
        yield target.with_name(f"{target.name}-{n}")
        n += 1


def move_into_place(tmp: Path, target: Path, allow_empty_target: bool) -> Path:
    """Rename the finished folder ``tmp`` to ``target`` (or ``target-2``, ``-3`` ...) and return where it went;
    existing results are never replaced. With ``allow_empty_target`` an empty ``target`` folder (one the user
    made for us) is taken over."""
    for cand in _candidates(target):
        if cand.exists() or cand.is_symlink():
            if not (allow_empty_target and cand == target and _is_empty_dir(cand)):
                continue
            cand.rmdir()  # an empty folder the user made for us: take its place
        try:
            os.rename(tmp, cand)
            return cand
        except OSError:
            if cand.exists():  # lost a race with another writer: try the next name
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


class staged_folder:
    """Write a results folder atomically: ``with staged_folder(target) as stage:`` yields a hidden
    temporary sibling of ``target`` to write into; when the block completes it is renamed into place
    (``target`` or ``target-2``, ... : never overwriting; ``stage.final`` is the path). On any
    exception the temporary folder, and any parent folders this created, are removed."""

    def __init__(self, target: Path, allow_empty_target: bool = False):
        self.target = Path(target).absolute()
        self.allow_empty_target = allow_empty_target
        self.final: Path | None = None

    def __enter__(self) -> "staged_folder":
        parent = self.target.parent
        self._created = make_parents(parent)
        self.tmp = parent / f".{self.target.name}.tmp-{os.getpid()}"
        n = 1
        while self.tmp.exists():
            n += 1
            self.tmp = parent / f".{self.target.name}.tmp-{os.getpid()}-{n}"
        try:
            self.tmp.mkdir()
        except BaseException:
            self._cleanup()
            raise
        return self

    def _cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        remove_created(self._created)  # undo the folders we made, if they are still empty

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self.final = move_into_place(self.tmp, self.target, self.allow_empty_target)
                return False
            except BaseException:
                self._cleanup()
                raise
        self._cleanup()
        return False


# --------------------------------------------------------------------------------------------------------
# Manifests
# --------------------------------------------------------------------------------------------------------


def jsonable(obj: Any) -> Any:
    """A strict-JSON-safe copy of ``obj``: numpy scalars and arrays to Python, NaN/inf to null, paths,
    dates and anything else to strings."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, (Path, datetime)):
        return str(obj)
    return str(obj)


def write_manifest(folder: Path, manifest: Any) -> dict:
    """Write ``manifest`` as ``folder/manifest.json``: strict JSON (:func:`jsonable`), indented, ending in a
    newline. Returns what was written."""
    data = jsonable(manifest)
    with open(Path(folder) / "manifest.json", "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, allow_nan=False)
        fh.write("\n")
    return data


def package_version() -> str:
    """This package's version: the installed distribution's, else ``<pyproject version>+checkout`` for a
    checkout that was never pip-installed, else ``"unknown"``."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(PACKAGE)
        except PackageNotFoundError:
            pass
    except Exception:  # pragma: no cover
        pass
    try:  # running from a checkout that was never pip-installed: read pyproject.toml
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        with open(pyproject, "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"]) + "+checkout"
    except Exception:
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the numbers and charts (for manifests)."""
    out = {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__}
    try:
        import mesa

        out["mesa"] = getattr(mesa, "__version__", "unknown")
    except Exception:  # pragma: no cover
        out["mesa"] = "not installed"
    try:
        import scipy

        out["scipy"] = scipy.__version__
    except Exception:  # pragma: no cover
        pass
    try:  # its installed version, without importing it (0.1 s) in a process that draws no chart
        module = sys.modules.get("matplotlib")
        if module is not None:
            out["matplotlib"] = module.__version__
        else:
            from importlib.metadata import version

            out["matplotlib"] = version("matplotlib")
    except Exception:  # pragma: no cover
        pass
    return out


# --------------------------------------------------------------------------------------------------------
# Worker processes
# --------------------------------------------------------------------------------------------------------


class RemoteError(Exception):
    """Carries a worker's exception to the parent when the exception itself would not survive pickling.

    Exceptions whose ``__init__`` takes several arguments (e.g. ``ScenarioError(where, key, message)``) pickle
    fine but fail to unpickle in the parent, which ``concurrent.futures`` reports as a misleading
    ``BrokenProcessPool``. This carrier holds only plain values; the parent calls :meth:`rebuild` to get the
    original type back (``except RemoteError as remote: raise remote.rebuild() from None``).
    """

    @classmethod
    def wrap(cls, exc: BaseException) -> "RemoteError":
        import traceback

        state = {}
        for k, v in vars(exc).items():
            try:
                pickle.loads(pickle.dumps(v))
            except Exception:
                continue
            state[k] = v
        tb = "".join(traceback.format_exception(exc))
        return cls(type(exc).__module__, type(exc).__qualname__, str(exc), state, tb)

    def rebuild(self) -> BaseException:
        import importlib

        module, qualname, message, state, tb = self.args
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            if not (isinstance(obj, type) and issubclass(obj, BaseException)):
                raise TypeError(qualname)
            exc = obj.__new__(obj)
            BaseException.__init__(exc, message)  # str(exc) == the worker's str(exc)
            exc.__dict__.update(state)
        except Exception:
            exc = RuntimeError(f"{qualname}: {message}")
        exc.add_note("traceback in the worker process:\n" + tb.rstrip())
        return exc


def portable_call(fn, *args):
    """Call ``fn(*args)`` in a worker; an exception that would not survive pickling back to the
    parent travels as a :class:`RemoteError` that rebuilds it there."""
    try:
        return fn(*args)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            raise RemoteError.wrap(exc) from None
        raise


def ignore_sigint() -> None:
    """Ignore Ctrl-C in this (worker) process: call it from a pool initializer; the parent reacts to it."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not the main thread / no SIGINT here
        pass


@contextmanager
def sigint_ignored():
    """Ignore SIGINT while worker processes are created, so they inherit "ignore Ctrl-C" from the start.

    Ctrl-C goes to the whole process group; the parent alone should react to it (by stopping the pool),
    otherwise every worker prints its own KeyboardInterrupt traceback while still importing.
    """
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError, AttributeError):  # not the main thread, or no SIGINT on this platform
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def terminate_pool(executor) -> None:
    """Stop a ``ProcessPoolExecutor`` right now (used on Ctrl-C or a failed run): cancel queued work, kill
    the workers and reap them."""
    processes = list((getattr(executor, "_processes", None) or {}).values())  # shutdown() drops this dict
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        try:
            proc.terminate()
        except Exception:  # pragma: no cover - already gone
            pass
    for proc in processes:
        try:
            proc.join(timeout=5)
        except Exception:  # pragma: no cover
            pass
