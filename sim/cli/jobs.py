"""What the stored, resumable commands of run.py (``sweep``, ``calibrate``) share, once.

Each such command runs a job whose runs go to a :class:`sim.store.RunStore` and then writes a results folder
``results/<kind>/<name>/<YYYYmmdd-HHMMSS>/`` (or ``--out DIR``). :class:`StoredJob` holds the part that is
the same for every kind of job:

1. the checks before anything is created (``--out``, ``--store PATH``, ``--resume``), each a ScenarioError;
2. where the store lives: in a hidden ``.<timestamp>.partial/`` folder next to the results (found again by
   ``--resume``), or at ``--store PATH``;
3. running: the partial folder is made, the job runs; on Ctrl-C one line says how many runs are saved and the
   exact command that continues (or that nothing was kept); on any other failure before the first run what
   was created is removed again;
4. the results folder, written atomically: into the partial folder (keeping the store) or a staged
   temporary folder (:class:`sim.io.staged_folder`), then renamed into place, never overwriting.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sim.cli.common import check_writable_folder
from sim.config.scenario import ScenarioError
from sim.io import (
    TIMESTAMP_FORMAT,
    make_parents,
    move_into_place,
    remove_created,
    staged_folder,
)
from sim.store import check_version

__all__ = ["PARTIAL", "StoredJob", "add_job_arguments", "writable_ancestor"]

#: The name ending of the hidden folder a job runs in until its results folder is renamed into place.
PARTIAL = ".partial"

T = TypeVar("T")


def writable_ancestor(where: str, path: Path, key: str) -> None:
    """Refuse (ScenarioError naming ``key``) a folder ``path`` that could not be created (see
    :func:`sim.cli.common.check_writable_folder`)."""
    check_writable_folder(where, path, key)


def add_job_arguments(p: argparse.ArgumentParser, *, noun: str, unfinished: str, results: str) -> None:
    """The flags every stored job takes and :class:`StoredJob` reads: --workers, --scheduler, --resume, --store,
    --out, --quiet. ``noun`` ("sweep") and ``unfinished`` ("run of this sweep") word the help;
    ``results`` is the folder of its results ("results/sweeps/<name>")."""
    p.add_argument("--workers", type=int, default=None, metavar="W",
                   help=f"local worker processes, at least 1; 1 runs in this process (default: all cores, here "
                        f"{os.cpu_count() or 1}); ignored with --scheduler")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on the Dask distributed cluster of this scheduler instead of local processes (every "
                        "worker needs this package installed); checked before anything runs")
    p.add_argument("--resume", action="store_true",
                   help=f"continue the newest unfinished {unfinished} (or the --store given), running only the "
                        f"missing runs; without it a new results folder is started")
    p.add_argument("--store", default=None, metavar="PATH",
                   help=f"keep the SQLite store at PATH instead of inside the results folder; if PATH holds runs of "
                        f"the same {noun} only the missing runs are done")
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"write results to DIR instead of {results}/<timestamp>/ (DIR-2, DIR-3, ... if DIR exists "
                        f"and is not empty)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or status messages on stderr")


class StoredJob:
    """One stored, resumable job of a command: its store, its results folder, --resume and Ctrl-C.

    ``store`` is the job's :class:`sim.store.RunStore` class (its ``FILE_NAME`` names the store file in the
    results folder, its ``KIND`` is the noun of the messages); ``identity`` the job's definition hash;
    ``name`` its name; ``root`` the folder of its timestamped results folders; ``job_file`` the file the
    user gave (for the messages and the resume hint); ``definition`` what a store of another job is, in the
    messages (e.g. "a different sweep definition"); ``resume_hint`` the user's command line (less ``--resume``), for
    a job defined by flags as well as its file: the interrupt message repeats it with ``--resume`` (default: the
    command, the job file, ``--out`` and ``--store``). All checks are made here, before anything is created.
    """

    def __init__(self, args: Any, *, where: str, command: str, job_file: Path, store: Any, identity: str,
                 name: str, root: Path, definition: str, say: Callable[[str], None],
                 resume_hint: Sequence[str] | None = None):
        self.args, self.where, self.command, self.job_file = args, where, command, job_file
        # the command line that continues the job, less "--resume" (default: the command, the job file, --out
        # and --store); a job defined by flags too (optimize) repeats them all
        self.resume_hint = None if resume_hint is None else [a for a in resume_hint if a != "--resume"]
        self.store_cls, self.identity, self.kind = store, identity, store.KIND
        self.started = datetime.now().astimezone()
        out = Path(args.out).expanduser().absolute() if args.out else None
        store_arg = Path(args.store).expanduser().absolute() if args.store else None
        self.out, self.store_arg = out, store_arg
        if out is not None:
            writable_ancestor(where, out.parent, "--out")
        else:
            writable_ancestor(where, root, "results folder")
        if store_arg is not None:
            info = store.peek(store_arg)  # raises if it is not a store of this kind
            if info is not None and info["hash"] != identity:
                raise ScenarioError(str(store_arg), None,
                                    f"was made by {definition} (store {info['hash'][:12]}, {job_file} "
                                    f"{identity[:12]}); use another --store path, or delete it to start over")
            check_version(info, store_arg)
            if args.resume and info is None:
                raise ScenarioError(where, "--resume", f"nothing to resume: store {store_arg} does not exist yet "
                                                       f"(run without --resume to start it)")
            if info is None:
                writable_ancestor(where, store_arg.parent, "--store")
                if not store_arg.parent.is_dir():
                    raise ScenarioError(where, "--store", f"folder {store_arg.parent} does not exist")

        self.partial: Path | None = None
        self.resumed_partial = False
        if store_arg is None:
            if args.resume:
                only = out.parent / f".{out.name}{PARTIAL}" if out is not None else None
                cands = self._partials(out.parent if out is not None else root, only)
                matching = [d for d in cands if self._hash_of(d) == identity]
                if not matching:
                    if cands:
                        raise ScenarioError(where, "--resume", f"the unfinished {self.kind} in {cands[0]} was made by "
                                                               f"{definition} than {job_file}; run without --resume "
                                                               f"to start afresh")
                    raise ScenarioError(where, "--resume", f"nothing to resume: no unfinished {self.kind} {name!r} "
                                                           f"in {only or root}; run without --resume to start it")
                self.partial, self.resumed_partial = matching[0], True
                check_version(store.peek(self.partial / store.FILE_NAME), self.partial / store.FILE_NAME)
            else:
                base = out if out is not None else root / self.started.strftime(TIMESTAMP_FORMAT)
                partial = base.parent / f".{base.name}{PARTIAL}"
                n = 2
                while partial.exists():
                    partial = base.parent / f".{base.name}-{n}{PARTIAL}"
                    n += 1
                self.partial = partial
                same = [d for d in self._partials(base.parent) if self._hash_of(d) == identity]
                if same:
                    say(f"note: an unfinished run of this {self.kind} is in {same[0]}; use --resume to continue it")
            self.target = out if out is not None else self.partial.parent / self.partial.name[1:-len(PARTIAL)]
            self.store_path = self.partial / store.FILE_NAME
        else:
            self.target = out if out is not None else root / self.started.strftime(TIMESTAMP_FORMAT)
            self.store_path = store_arg
        self._created: list[Path] = []

    # -- finding unfinished jobs
    def _partials(self, parent: Path, only: Path | None = None) -> list[Path]:
        """Unfinished job folders (hidden ``.<name>.partial``) holding a store, newest first."""
        name = self.store_cls.FILE_NAME
        if only is not None:
            cands = [only]
        elif parent.is_dir():
            cands = [d for d in parent.iterdir() if d.name.startswith(".") and d.name.endswith(PARTIAL)]
        else:
            cands = []
        found = [d for d in cands if (d / name).is_file()]
        return sorted(found, key=lambda d: (d / name).stat().st_mtime, reverse=True)

    def _hash_of(self, folder: Path) -> str | None:
        try:
            return (self.store_cls.peek(folder / self.store_cls.FILE_NAME) or {}).get("hash")
        except ScenarioError:
            return None

    def stored(self) -> int:
        """How many runs the store holds now (0 if there is none, or it cannot be read)."""
        try:
            info = self.store_cls.peek(self.store_path)
        except Exception:
            return 0
        return int(info["runs"]) if info else 0

    # -- running
    def run(self, job: Callable[[Path], T], total: int | None = None) -> T | None:
        """Make the partial folder and return ``job(store_path)``. On Ctrl-C print one line (how many runs
        are saved and the command that continues, or that nothing was kept) and return None: the command
        then exits with 130. On any other failure, what this created is removed if no run was stored."""
        try:
            if self.partial is not None and not self.resumed_partial:
                self._created = [*make_parents(self.partial.parent), self.partial]
                self.partial.mkdir()
            try:
                return job(self.store_path)
            except KeyboardInterrupt:
                done = self.stored()
                if done == 0:
                    self._drop_partial()
                if done == 0 and not self.store_path.exists():  # a new store without a run is removed
                    print("error: interrupted before any run finished; nothing was kept", file=sys.stderr)
                else:
                    if self.resume_hint is not None:
                        hint = ["python", "run.py", *self.resume_hint, "--resume"]
                    else:
                        hint = ["python", "run.py", self.command, str(self.job_file), "--resume"]
                        if self.args.out:
                            hint += ["--out", str(self.args.out)]
                        if self.store_arg is not None:
                            hint += ["--store", str(self.store_arg)]
                    of = f" of {total}" if total is not None else ""
                    print(f"error: interrupted; {done}{of} runs are saved in {self.store_path}; continue with: "
                          f"{' '.join(shlex.quote(h) for h in hint)}", file=sys.stderr)
                return None
        except BaseException:
            if self.stored() == 0:
                self._drop_partial()
            raise

    def _drop_partial(self) -> None:
        if self._created:
            shutil.rmtree(self.partial, ignore_errors=True)
            remove_created(self._created[:-1])

    def facts(self, client: Any, workers: int, argv: Sequence[str]) -> dict[str, Any]:
        """The manifest entries every stored job records: executor, store, command, started, finished, platform."""
        return {
            "executor": f"dask {self.args.scheduler}" if client is not None else f"local processes ({workers} workers)",
            "store": self.store_cls.FILE_NAME if self.store_arg is None else str(self.store_arg),
            "command": " ".join(shlex.quote(a) for a in ["python", "run.py", *argv]),
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
            "platform": platform.platform(),
        }

    # -- the results folder
    def write(self, write: Callable[[Path], T]) -> tuple[Path, T]:
        """Write the results folder atomically: ``write(folder)`` fills it (the partial folder, which keeps the
        store, or a staged temporary folder), then it is renamed into place (``target``, ``target-2``, ...;
        an empty ``--out`` folder is taken over). Returns (the final folder, what ``write`` returned). On a
        failure the partial folder keeps only its store, for --resume."""
        allow_empty = self.out is not None
        if self.partial is None:
            with staged_folder(self.target, allow_empty) as stage:
                result = write(stage.tmp)
            return stage.final, result
        try:
            result = write(self.partial)
            return move_into_place(self.partial, self.target, allow_empty_target=allow_empty), result
        except BaseException:
            for child in self.partial.iterdir():  # keep the store for --resume; drop what was written
                if not child.name.startswith(self.store_cls.FILE_NAME):
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            raise
