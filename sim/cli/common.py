"""What the command lines (run.py run, run.py sweep, run.py validate) share: help-text wrapping and the
checks of whole-number flags. (The stored, resumable commands, sweep and calibrate, also share
:class:`sim.cli.jobs.StoredJob`: their store, --resume, Ctrl-C and the atomic results folder.)

Every check raises :class:`sim.ScenarioError` with one line naming the command, the flag and what is allowed;
run.py prints it as ``error: ...`` and exits with code 2 before anything is simulated or written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import NoReturn

from sim.config.arguments import check_int_flags

__all__ = ["EXIT_USAGE", "EXIT_INTERRUPTED", "UsageError", "Parser", "wrap", "one_line", "check_int_flags",
           "check_writable_folder"]

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
    # os.access answers from the permission bits (and yes to root for nearly everything): a read-only file system
    # or one that takes no new files (/proc, /sys) says so only when something is made there; make and remove an
    # empty folder
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=ancestor))
    except OSError as exc:
        raise ScenarioError(where, key, f"cannot create a folder in {ancestor} ({exc.strerror or exc}); give a "
                                        f"folder this user can write in") from None


def scheduler_client(scheduler: str | None, where: str) -> tuple[object, bool]:
    """The Dask client of ``--scheduler`` (connected; and whether this command owns it and must close it), or
    ``(None, False)`` without the flag. A scheduler that cannot be reached is one line naming ``--scheduler``."""
    if scheduler is None:
        return None, False
    from sim.executor import connect

    return connect(scheduler, where, key="--scheduler")


def where_runs(scheduler: str | None, client: object, workers: int) -> str:
    """Where a command's runs go, in words: the Dask cluster, local worker processes, or this process."""
    if client is not None:
        return f"the Dask cluster at {scheduler}"
    return f"{workers} local worker process(es)" if workers > 1 else "this process"


def stderr_say(quiet: bool):
    """A command's progress messages: printed to stderr, or dropped with ``--quiet``."""
    return (lambda *a: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
