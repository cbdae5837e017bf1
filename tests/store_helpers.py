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
