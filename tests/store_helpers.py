"""What the kill -9 tests share: counting the runs a store holds, from outside the process writing it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def stored_runs(path: Path) -> int:
    """Rows of the store's ``runs`` table (0 if it does not exist yet), read on a connection closed at once.

    Not ``with sqlite3.connect(...)``: that block commits but does not close, so the connection lives until
    the garbage collector runs. An open connection keeps SQLite's shared-memory WAL index alive, and a writer
    killed between writing a commit to the WAL and publishing it in that index then leaves readers here one run
    short of what the file holds (and of what a resume, which recovers the WAL, finds)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def kill_after_runs(argv: list[str], store: Path, at_least: int, *, cwd: Path, what: str,
                    extra_paths: tuple[Path, ...] = (), guard_s: float = 300.0) -> list:
    """Start ``argv`` (a Python command writing ``store``) with this tree on the path, ``kill -9`` it as soon as the
    store holds ``at_least`` runs, and return its worker processes as they were (psutil objects, to wait for).

    The deadline is a guard against a hang, not a timing. The children are collected while the job runs, so
    workers that the pool starts late are known too."""
    import os
    import signal
    import subprocess
    import time

    import psutil

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), *map(str, extra_paths),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    children: list = []
    try:
        deadline = time.monotonic() + guard_s
        while stored_runs(store) < at_least:
            assert proc.poll() is None, f"{what} ended early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, f"{at_least} runs not stored within {guard_s:g} s"
            children = psutil.Process(proc.pid).children(recursive=True) or children
            time.sleep(0.02)
        children = psutil.Process(proc.pid).children(recursive=True) or children
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    return children
