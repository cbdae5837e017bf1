"""The one executor: an ordered map of runs over this process, local worker processes or a Dask cluster.

Every multi-run command (the comparison, sweeps, validation, calibration) hands its runs here as
``run_tasks(fn, tasks, shared=..., workers=W, client=C, record=...)``:

* ``fn(shared, task)`` is a module-level function (picklable); ``shared`` is sent to each worker once
  (a pool initializer, or one Dask scatter), ``task`` is small (a seed, a parameter point);
* seeds live in the tasks, fixed by the caller in the parent, so serial, processes and Dask give
  identical numbers;
* ``record(task, result)`` is called in the parent as each run finishes (in completion order), so a
  caller with a store commits every run at once: a ``kill -9`` loses only the runs in flight (at most
  two per worker) and a resume runs only the missing ones;
* an exception in a worker reaches the parent with its own type and message; Ctrl-C stops the workers.

Local worker processes are *spawned*: each one re-imports the main script (as ``__mp_main__``), so a script
that starts runs must keep its top-level code under ``if __name__ == "__main__":``, and cannot be read
from standard input. Without the guard each worker would start the whole job again; instead a worker that
finds itself called from the main script's re-import exits at once (:func:`stop_if_main_reimported`, called
by every multi-run entry point), and the parent raises one RuntimeError naming the fix.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import sys
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable

from sim.config.scenario import ScenarioError
from sim.io import (
    RemoteError,
    ignore_sigint,
    package_version,
    portable_call,
    sigint_ignored,
    terminate_pool,
)

__all__ = ["run_tasks", "run_batched", "group_runs", "connect", "progress_bar", "stop_if_main_reimported", "worker_label",
           "LocalPool"]


def run_tasks(fn: Callable[[Any, Any], Any], tasks: Iterable, *, shared: Any = None, workers: int = 1,
              client: Any = None, record: Callable[[Any, Any], None], label: str = "run",
              pool: "LocalPool | None" = None) -> None:
    """Run ``fn(shared, task)`` for every task and pass each ``(task, result)`` to ``record`` in the parent.

    ``client`` (a ``distributed.Client``, see :func:`connect`) runs on a Dask cluster; otherwise
    ``workers`` > 1 runs in that many spawned local processes, and 1 (or a single task) in this process.
    ``pool`` (a :class:`LocalPool`): the local processes are that pool's, left running for its next job.
    """
    stop_if_main_reimported()
    tasks = list(tasks)
    if not tasks:
        return
    if client is not None:
        _run_dask(fn, shared, client, tasks, record, label)
    elif workers == 1 or len(tasks) == 1:
        for task in tasks:
            record(task, fn(shared, task))
    else:
        _run_pool(fn, shared, min(int(workers), len(tasks)), tasks, record, pool)


#: the most runs one batch holds, and the most buyers (memory: a batch is one population)
MAX_BATCH_RUNS = 40
MAX_BATCH_BUYERS = 400_000


def group_runs(tasks: Iterable, key: Callable[[Any], Any], workers: int, buyers_per_run: float | None = None,
               max_runs: int = MAX_BATCH_RUNS) -> list[tuple]:
    """Runs that differ only in their seed (the same ``key(task)``: scenario, parameters, strategy), grouped
    into batches for the engine's replication axis (``JourneyModel(..., seeds=...)``): as large as possible
    for speed, but enough of them to keep ``workers`` busy, at most ``max_runs`` runs and
    ``MAX_BATCH_BUYERS`` buyers each. Each batch is a tuple of tasks in their given order; batches come in
    the order of their first task. Batching changes no number, only the cost: a replication's numbers do
    not depend on the batch it runs in."""
    tasks = list(tasks)
    cap = max(1, min(-(-len(tasks) // max(int(workers), 1)), int(max_runs)))
    if buyers_per_run:
        cap = max(1, min(cap, int(MAX_BATCH_BUYERS // max(buyers_per_run, 1))))
    groups: dict[Any, list] = {}
    for t in tasks:
        groups.setdefault(key(t), []).append(t)
    out: list[tuple] = []
    for group in groups.values():
        k = -(-len(group) // cap)  # batches of this group, of near-equal sizes
        size = -(-len(group) // k)
        out += [tuple(group[i:i + size]) for i in range(0, len(group), size)]
    return out


def _batch_task(job: tuple, batch: tuple) -> list:
    fn_many, shared = job
    results = fn_many(shared, batch)
    if len(results) != len(batch):
        raise RuntimeError(f"{getattr(fn_many, '__name__', fn_many)} returned {len(results)} results for {len(batch)} runs")
    return results


def run_batched(fn_many: Callable[[Any, tuple], list], tasks: Iterable, *, key: Callable[[Any], Any], shared: Any = None,
                workers: int = 1, client: Any = None, record: Callable[[Any, Any], None], label: str = "run",
                buyers_per_run: float | None = None, max_runs: int = MAX_BATCH_RUNS,
                pool: "LocalPool | None" = None) -> None:
    """``run_tasks`` for runs that the engine can simulate side by side: tasks with the same ``key`` are grouped
    (:func:`group_runs`) and ``fn_many(shared, batch)`` returns one result per task of the batch, in order;
    ``record(task, result)`` is still called once per task, so stores commit and resume per run (a kill loses
    the batches in flight)."""
    tasks = list(tasks)
    if not tasks:
        return
    n_workers = max(len(client.scheduler_info().get("workers", {})), 1) if client is not None else workers
    batches = group_runs(tasks, key, n_workers, buyers_per_run, max_runs)

    def record_batch(batch: tuple, results: list) -> None:
        for task, result in zip(batch, results):
            record(task, result)

    run_tasks(_batch_task, batches, shared=(fn_many, shared), workers=workers, client=client, record=record_batch,
              label=label, pool=pool)


def progress_bar(total: int, initial: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    # disable=None: tqdm switches itself off when stderr is not a terminal.
    return tqdm(total=total, initial=initial, desc=desc, unit="run", file=sys.stderr,
                disable=None if progress else True, dynamic_ncols=True, leave=False, smoothing=0.1)


def worker_label() -> str:
    """``host:pid`` of the process running a task (stored with each run, to see where time went)."""
    return f"{os.uname().nodename if hasattr(os, 'uname') else ''}:{os.getpid()}"


# the main script and spawned workers ------------------------------------------------------------------

#: Exit code of a spawned worker that stopped because the main script, re-imported, started runs again.
REIMPORT_EXIT = 86

GUARD_FIX = ("put the script's top-level code under `if __name__ == \"__main__\":` (see the README), or use "
             "workers=1, which runs in this process")


def stop_if_main_reimported() -> None:
    """In a spawned worker that is re-importing the main script (``__mp_main__``), whose top-level code has
    just called a multi-run entry point: exit at once, quietly, with :data:`REIMPORT_EXIT`. The parent sees
    that exit code and raises one RuntimeError with the fix, instead of each worker printing a traceback of
    the job it should never have started (or of the store it found locked by its parent)."""
    # Only a spawned worker runs module-level code named __mp_main__ (multiprocessing's re-import of the main
    # script; parent_process() is not set yet at that point), so the frames alone say where we are.
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            raise SystemExit(REIMPORT_EXIT)
        frame = frame.f_back


def _main_script_problem() -> str | None:
    """Why spawned workers could not re-import the main script (it was read from stdin), else None."""
    main = sys.modules.get("__main__")
    if main is None or getattr(getattr(main, "__spec__", None), "name", None):
        return None  # run as a module (-m): workers import it by name
    path = getattr(main, "__file__", None)
    if path is None:  # python -c, an interactive session, a notebook: nothing to re-import
        return None
    if not os.path.isfile(path):
        return (f"worker processes cannot start: they re-import the main script, but it was read from "
                f"{'standard input' if path == '<stdin>' else repr(path)}, which they cannot read again; save "
                f"it to a file with its top-level code under `if __name__ == \"__main__\":`, or use workers=1, "
                f"which runs in this process")
    return None


# pool workers ------------------------------------------------------------------------------------------

_WORKER_SHARED: Any = None


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # the sweep process died (e.g. kill -9): do not linger as an orphan
            os._exit(1)


def _init_pool_worker(shared_bytes: bytes, parent: int) -> None:
    global _WORKER_SHARED
    ignore_sigint()
    _WORKER_SHARED = pickle.loads(shared_bytes)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


def _pool_task(fn, task):
    return portable_call(fn, _WORKER_SHARED, task)


def _start_pool(workers: int, shared_bytes: bytes) -> ProcessPoolExecutor:
    problem = _main_script_problem()
    if problem is not None:
        raise RuntimeError(problem)
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_pool_worker,
                               initargs=(shared_bytes, os.getpid()))


class LocalPool:
    """Spawned local worker processes kept from one job to the next (``run.py run``: the runs, then the charts),
    which saves starting new ones (each imports the package, about a second).

    ``with LocalPool() as pool:`` -- :func:`run_tasks` / :func:`run_batched` with ``pool=pool`` start its workers
    (as many as they would start themselves, with their ``shared``) or reuse them if a previous call started as
    many with the same ``shared``, and leave them running; ``pool.map(fn, items)`` runs ``fn(item)`` on them,
    or in this process if no workers are running. ``prepare`` (module-level, no arguments) runs once on each
    worker when a ``run_tasks`` job is done, while the caller reads its results: e.g. importing what the next
    job needs. Leaving the block stops the workers (:meth:`close`), as does an exception or Ctrl-C in a job.
    """

    def __init__(self, prepare: Callable[[], Any] | None = None) -> None:
        self.prepare = prepare
        self._executor: ProcessPoolExecutor | None = None
        self._key: tuple[int, bytes] | None = None

    def _for(self, workers: int, shared: Any) -> ProcessPoolExecutor:
        key = (workers, pickle.dumps(shared))
        if self._executor is None or key != self._key:
            self.close()
            self._executor, self._key = _start_pool(workers, key[1]), key
        return self._executor

    def _done(self, workers: int) -> None:
        """A job's every result is in and its ``workers`` are idle: each runs ``prepare`` (whoever takes the first
        call is busy with it when the next is handed out). Nothing waits for these calls, nor sees their errors."""
        if self.prepare is not None and self._executor is not None:
            for _ in range(workers):
                self._executor.submit(_pool_call, _call, self.prepare)

    def map(self, fn: Callable[[Any], Any], items: Iterable) -> list:
        """``[fn(item) for item in items]``, on the pool's workers if it has any (``fn`` module-level)."""
        items = list(items)
        if self._executor is None:
            return [fn(item) for item in items]
        try:
            futures = [self._executor.submit(_pool_call, fn, item) for item in items]
            out = []
            for fut in futures:
                try:
                    out.append(fut.result())
                except RemoteError as remote:
                    raise remote.rebuild() from None
            return out
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        if self._executor is not None:
            terminate_pool(self._executor)
        self._executor = self._key = None

    def close(self) -> None:
        """Stop the workers (if any); the pool may start new ones later. Every job's results are in, so they are
        idle and are ended at once: left to tear their interpreters down (0.3 s and more, matplotlib loaded), they
        would hold up the end of this process, which waits for them."""
        self._abort()

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _pool_call(fn, item):
    return portable_call(fn, item)


def _call(fn):
    return fn()


def _run_pool(fn, shared: Any, workers: int, todo: list, record, pool: LocalPool | None = None) -> None:
    executor = pool._for(workers, shared) if pool is not None else _start_pool(workers, pickle.dumps(shared))
    # the pool's own dict of its worker processes (filled as they start), to read their exit codes if it breaks
    processes = getattr(executor, "_processes", None)
    queue = iter(todo)
    limit = 2 * workers  # runs in flight: all that a kill can lose
    pending: dict = {}
    try:
        try:
            with sigint_ignored():  # workers start with Ctrl-C ignored; the parent stops them
                for task in itertools.islice(queue, limit):
                    pending[executor.submit(_pool_task, fn, task)] = task
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = pending.pop(fut)
                    try:
                        result = fut.result()
                    except RemoteError as remote:
                        raise remote.rebuild() from None
                    record(task, result)
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[executor.submit(_pool_task, fn, nxt)] = nxt
        except BrokenProcessPool as exc:
            if _stopped_for_reimport(list((processes or {}).values())):
                main = getattr(sys.modules.get("__main__"), "__file__", None) or "the main module"
                raise RuntimeError(f"worker processes could not start: each one re-imports the main script ({main}), "
                                   f"whose top-level code starts the runs again; {GUARD_FIX}") from None
            raise RuntimeError(
                "a worker process died (killed, out of memory, or it could not start: spawned workers re-import the "
                "main script, so a script needs `if __name__ == \"__main__\":` and cannot be read from stdin; "
                "workers=1 runs in this process); the runs finished so far are in the store") from exc
    except BaseException:
        if pool is not None:
            pool._abort()
        else:
            terminate_pool(executor)
        raise
    else:
        if pool is not None:
            pool._done(workers)
        else:
            # every result is in: do not wait for the workers to exit (tearing down an interpreter that ran a
            # simulation takes them ~0.2-0.5 s); the pool's own thread reaps them while the caller goes on, and
            # the interpreter joins that thread when it exits
            executor.shutdown(wait=False)


def _stopped_for_reimport(processes: list) -> bool:
    """Did a worker exit through :func:`stop_if_main_reimported`?

    The pool's manager thread terminates and reaps the workers of a broken pool at the same time; whichever
    thread reaps a worker sets its exit code, so wait until it is set (a dead worker's is, at once)."""
    for proc in processes:
        try:
            proc.join(timeout=30)  # returns once it is dead (the manager thread terminates the rest)
            deadline = time.monotonic() + 10
            while proc.exitcode is None and time.monotonic() < deadline:
                time.sleep(0.01)  # the manager thread reaped it and is about to record the code
            if proc.exitcode == REIMPORT_EXIT:
                return True
        except Exception:  # pragma: no cover - not a multiprocessing.Process
            pass
    return False


# Dask --------------------------------------------------------------------------------------------------

def _dask_task(fn, shared: Any, task: Any):
    return portable_call(fn, shared, task)


def _probe_worker() -> str:
    """Runs on each Dask worker: unpickling it there imports this package (``sim.executor``), which is the
    check; returns the worker's package version."""
    return package_version()


def connect(executor: Any, where: str = "sweep()", timeout: float = 10.0, key: str = "scheduler") -> tuple[Any, bool]:
    """A ``distributed.Client`` for ``executor`` (a Client, or a scheduler address ``tcp://host:port``).

    Returns ``(client, owned)``; ``owned`` is True when this function opened the connection (the caller
    closes it). Checks that the scheduler answers, has at least one worker, and that the workers can
    import this package; otherwise raises ScenarioError.
    """
    try:
        import distributed
    except ImportError:  # pragma: no cover - a declared dependency
        raise ScenarioError(where, key, "running on a Dask cluster needs the 'distributed' package: "
                                                "pip install 'dask[distributed]'") from None
    owned = False
    if isinstance(executor, str):
        address = executor.strip()
        scheme = address.split("://", 1)[0] if "://" in address else ""
        if scheme not in ("tcp", "tls", "ws", "wss") or not address.split("://", 1)[1]:
            raise ScenarioError(where, key, f"must be a Dask scheduler address like tcp://HOST:8786, got "
                                                    f"{executor!r}")
        if scheme == "tcp":  # fail fast on a refused connection (the Client retries until its timeout)
            import socket
            from urllib.parse import urlsplit

            try:
                parts = urlsplit(address)
                host, port = parts.hostname, parts.port or 8786
            except ValueError as exc:
                raise ScenarioError(where, key, f"must be a Dask scheduler address like tcp://HOST:8786, got "
                                                f"{executor!r} ({exc})") from None
            if not host:
                raise ScenarioError(where, key, f"must be a Dask scheduler address like tcp://HOST:8786, got "
                                                f"{executor!r}")
            try:
                socket.create_connection((host, port), timeout=timeout).close()
            except OSError as exc:
                reason = exc.strerror or str(exc) or type(exc).__name__
                raise ScenarioError(where, key, f"cannot reach the Dask scheduler at {address} "
                                                f"({reason})") from None
        try:
            client = distributed.Client(address, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ScenarioError(where, key, f"cannot reach the Dask scheduler at {address} within "
                                                    f"{timeout:g} s ({' '.join(str(exc).split())})") from None
        except Exception as exc:  # e.g. a malformed address
            raise ScenarioError(where, key, f"cannot connect to the Dask scheduler at {address} "
                                                    f"({type(exc).__name__}: {' '.join(str(exc).split())})") from None
        owned = True
    elif isinstance(executor, distributed.Client):
        client = executor
    else:
        raise ScenarioError(where, "executor", f"must be a distributed.Client or a scheduler address "
                                               f"'tcp://HOST:PORT', got {type(executor).__name__}")
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError):
            raise ScenarioError(where, key, f"the Dask scheduler at {client.scheduler.address} has no "
                                                    f"workers (waited {timeout:g} s); start some with "
                                                    f"'dask worker {client.scheduler.address}'") from None
        try:
            client.run(_probe_worker)
        except Exception as exc:
            raise ScenarioError(where, key, f"the Dask workers cannot import the simulator package 'sim' "
                                                    f"({type(exc).__name__}: {' '.join(str(exc).split())}); "
                                                    f"install it on every worker") from None
    except BaseException:
        if owned:
            client.close()
        raise
    return client, owned


def _run_dask(fn, shared: Any, client: Any, todo: list, record, label: str) -> None:
    import distributed

    nthreads = sum(client.nthreads().values()) or 1
    limit = 2 * nthreads
    base = client.scatter(shared, broadcast=True, hash=False)
    token = uuid.uuid4().hex[:8]
    counter = itertools.count()
    queue = iter(todo)
    pending: dict = {}
    completed = distributed.as_completed(loop=client.loop)

    def submit(task) -> None:
        fut = client.submit(_dask_task, fn, base, task, pure=False, key=f"{label}-{next(counter)}-{token}")
        pending[fut.key] = (fut, task)
        completed.add(fut)

    try:
        for task in itertools.islice(queue, limit):
            submit(task)
        for fut in completed:
            _, task = pending.pop(fut.key)
            try:
                result = fut.result()
            except RemoteError as remote:
                raise remote.rebuild() from None
            fut.release()
            record(task, result)
            nxt = next(queue, None)
            if nxt is not None:
                submit(nxt)
    except BaseException:
        try:
            client.cancel([f for f, _ in pending.values()])
        except Exception:  # pragma: no cover - connection already gone
            pass
        raise
    finally:
        try:
            client.cancel([base])
        except Exception:  # pragma: no cover
            pass


