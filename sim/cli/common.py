"""What the command lines (run.py run, run.py sweep, run.py validate) share: help-text wrapping and the
checks of whole-number flags.

Every check raises :class:`sim.ScenarioError` with one line naming the command, the flag and what is allowed;
run.py prints it as ``error: ...`` and exits with code 2 before anything is simulated or written.
"""

from __future__ import annotations

import argparse
import os
import textwrap
from pathlib import Path
from typing import Callable, NoReturn

from sim.config.arguments import check_int_flags

__all__ = ["EXIT_USAGE", "EXIT_INTERRUPTED", "UsageError", "Parser", "wrap", "one_line", "check_int_flags",
           "check_writable_folder", "add_job_arguments", "unfinished_folders", "stored_runs"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A problem with the user's input; str(e) is the one-line message (without the "error: " prefix)."""


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr: ``error: ... (see 'run.py run --help')``."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {message} (see '{self.prog} --help')\n")


def one_line(text: object) -> str:
    """A message on one line, without a leading "error:"."""
    line = " ".join(str(text).split())
    return line[len("error:"):].lstrip() if line.lower().startswith("error:") else line


def wrap(text: str, width: int = 88) -> str:
    """Pre-wrap prose for argparse's Raw* help formatters (which keep line breaks, so examples stay readable):
    every line of ``text`` is filled to ``width`` on its own."""
    return "\n".join(textwrap.fill(par, width) for par in text.split("\n"))


def check_writable_folder(where: str, path: Path, key: str) -> None:
    """Fail early, before anything runs: ``path`` (a results folder, or where one will be made) must be a
    folder or not exist yet, and its nearest existing ancestor must be a folder this user may write in.
    Raises ``ScenarioError(where, key, ...)`` (one line, exit code 2)."""
    from sim.config.scenario import ScenarioError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ScenarioError(where, key, f"{path} exists and is not a folder")
    ancestor = path
    while not ancestor.exists() and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ScenarioError(where, key, f"{ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ScenarioError(where, key, f"no permission to write in {ancestor}")


def add_job_arguments(p: argparse.ArgumentParser, *, noun: str, folder: str, handler: Callable) -> None:
    """The flags every resumable multi-run job shares (sweep, calibrate): --workers, --scheduler, --resume,
    --store, --out, --quiet; ``noun`` names the job in the help ("sweep"), ``folder`` its results folder."""
    p.add_argument("--workers", type=int, default=None, metavar="W",
                   help=f"local worker processes, at least 1; 1 runs in this process (default: all cores, here "
                        f"{os.cpu_count() or 1}); ignored with --scheduler")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on the Dask distributed cluster of this scheduler instead of local processes (every "
                        "worker needs this package installed); checked before anything runs")
    p.add_argument("--resume", action="store_true",
                   help=f"continue the newest unfinished {noun} of this file (or the --store given), running only "
                        f"the missing runs; without it a new results folder is started")
    p.add_argument("--store", default=None, metavar="PATH",
                   help=f"keep the SQLite store at PATH instead of inside the results folder; if PATH holds runs of "
                        f"the same {noun} only the missing runs are done")
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"write results to DIR instead of {folder}/<name>/<timestamp>/ (DIR-2, DIR-3, ... if DIR "
                        f"exists and is not empty)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or status messages on stderr")
    p.set_defaults(handler=handler)


def unfinished_folders(parent: Path, store_name: str, only: Path | None = None, suffix: str = ".partial") -> list[Path]:
    """Unfinished results folders of a job (hidden ``.<name><suffix>``) that hold a store, newest first."""
    if only is not None:
        cands = [only]
    elif parent.is_dir():
        cands = [d for d in parent.iterdir() if d.name.startswith(".") and d.name.endswith(suffix)]
    else:
        cands = []
    found = [d for d in cands if (d / store_name).is_file()]
    return sorted(found, key=lambda d: (d / store_name).stat().st_mtime, reverse=True)


def stored_runs(peek: Callable[[Path], dict | None], store_path: Path) -> int:
    """How many runs a store holds (0 if it is missing or unreadable), by the store's ``peek``."""
    try:
        info = peek(store_path)
    except Exception:  # noqa: BLE001 - a broken store holds no usable runs
        return 0
    return int(info["runs"]) if info else 0
