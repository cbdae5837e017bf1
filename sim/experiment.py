"""Run many simulations (strategies x seeds) and write a complete, self-describing results folder.

Two entry points:

- :func:`run_many` runs every strategy on the same list of seeds (common random numbers), optionally
  across processes, and returns an :class:`Experiment` with tidy frames (layouts in docs/CONTRACT.md).
- :func:`write_results` writes an experiment to ``results/<scenario>/<timestamp>/`` (or a folder of your
  choice) atomically: everything goes to a hidden temporary sibling first and is renamed into place only
  once complete, so an interrupted or failed write never leaves a half-finished results folder behind.

Determinism: seeds are fixed in the parent (``seed, seed + 1, ...``) and results are reassembled in the
fixed task order (strategy-major, then seed), so serial (``workers=1``) and parallel runs give identical
frames.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
import platform
import re
import shutil
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "Experiment",
    "run_many",
    "write_results",
    "default_results_dir",
    "package_version",
    "REPORT_QUESTION",
    "DEFAULT_RESULTS_ROOT",
]

#: The question every report answers.
REPORT_QUESTION = "Given this market, budget and team, which go-to-market strategy wins more customers, at what cost?"

#: ``results/`` next to the ``sim`` package (the project root when run from a checkout).
DEFAULT_RESULTS_ROOT = Path(__file__).resolve().parent.parent / "results"

_TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"


# --------------------------------------------------------------------------------------------------------
# Experiment
# --------------------------------------------------------------------------------------------------------


@dataclass
class Experiment:
    """Everything one batch of runs produced.

    ``summary``: one row per strategy x seed (``strategy``, ``seed``, then every summary key).
    ``timeseries``: ``strategy``, ``seed``, then every per-day timeseries column.
    ``samples``: long format ``strategy``, ``seed``, ``kind``, ``value``.
    ``comparison``: ``sim.stats.compare(summary)``, one row per strategy x metric.
    """

    scenario: Any
    strategies: list[str]
    seeds: list[int]
    summary: pd.DataFrame
    timeseries: pd.DataFrame
    samples: pd.DataFrame
    comparison: pd.DataFrame
    workers: int = 1
    elapsed_seconds: float = float("nan")

    @property
    def reps(self) -> int:
        return len(self.seeds)

    @property
    def base_seed(self) -> int | None:
        return self.seeds[0] if self.seeds else None


# --------------------------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------------------------

_WORKER_SCENARIO: Any = None


def _init_worker(scenario_bytes: bytes) -> None:
    """Pool initializer: receive the scenario once per process; leave Ctrl-C to the parent."""
    global _WORKER_SCENARIO
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):  # pragma: no cover - not in main thread / platform without SIGINT
        pass
    _WORKER_SCENARIO = pickle.loads(scenario_bytes)


def _simulate(scenario: Any, strategy: str, seed: int) -> tuple[dict, pd.DataFrame, dict]:
    import sim  # imported lazily so this module imports even before the engine exists

    try:
        result = sim.run(scenario, strategy, seed)
    except Exception as exc:  # keep the original type (e.g. ScenarioError); just add where it happened
        if hasattr(exc, "add_note"):
            exc.add_note(f"while running strategy {strategy!r} with seed {seed}")
        raise
    samples = {str(k): np.asarray(v, dtype=float).ravel() for k, v in dict(result.samples).items()}
    return dict(result.summary), result.timeseries, samples


class _RemoteError(Exception):
    """Carries a worker's exception to the parent when the exception itself would not survive pickling.

    Exceptions whose ``__init__`` takes several arguments (e.g. ``ScenarioError(where, key, message)``) pickle
    fine but fail to unpickle in the parent, which ``concurrent.futures`` reports as a misleading
    ``BrokenProcessPool``. This carrier holds only plain values and rebuilds the original type in the parent.
    """

    @classmethod
    def wrap(cls, exc: BaseException) -> "_RemoteError":
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
    parent travels as a ``_RemoteError`` that rebuilds it there."""
    try:
        return fn(*args)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            raise _RemoteError.wrap(exc) from None
        raise


def _worker_task(strategy: str, seed: int) -> tuple[dict, pd.DataFrame, dict]:
    return portable_call(_simulate, _WORKER_SCENARIO, strategy, seed)


# --------------------------------------------------------------------------------------------------------
# run_many
# --------------------------------------------------------------------------------------------------------


def _progress_bar(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    # disable=None lets tqdm switch itself off when stderr is not a terminal.
    return tqdm(total=total, desc=desc, unit="run", file=sys.stderr, disable=None if progress else True,
                dynamic_ncols=True, leave=False)


def _resolve_strategies(scenario: Any, strategies: Iterable[str] | None) -> list[str]:
    available = list(scenario.strategies)
    if strategies is None:
        chosen = available
    else:
        if isinstance(strategies, str):
            strategies = [strategies]
        chosen = []
        for s in strategies:
            if s not in chosen:
                chosen.append(s)
    if not chosen:
        raise ValueError("no strategies to run")
    unknown = [s for s in chosen if s not in available]
    if unknown:
        raise ValueError(
            f"unknown strategy {unknown[0]!r}; scenario {scenario.name!r} defines: {', '.join(available)}"
        )
    return chosen


def _terminate_pool(executor: ProcessPoolExecutor) -> None:
    """Stop a pool right now (used on Ctrl-C or a failed run): cancel queued work, kill the workers."""
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


@contextmanager
def _sigint_ignored():
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


def run_many(
    scenario: Any,
    strategies: Sequence[str] | None = None,
    reps: int = 20,
    seed: int = 1,
    workers: int | None = None,
    progress: bool = True,
    mp_context: str | None = "spawn",
) -> Experiment:
    """Run every strategy ``reps`` times on the seeds ``seed, seed+1, ..., seed+reps-1``.

    Every strategy sees the same seeds (common random numbers), so paired comparisons are fair.
    ``workers=None`` uses all cores; ``workers=1`` runs serially in this process (no pool).
    Results come back in a fixed order, so the frames do not depend on ``workers``.
    ``mp_context`` is the multiprocessing start method of the pool ("spawn" by default: the same on
    every platform and safe with threads; note that importing mesa forces the global default to
    "spawn" anyway).
    """
    import time

    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be an integer >= 1 (got {reps!r})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 (got {seed!r})")
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 (got {workers!r})")

    chosen = _resolve_strategies(scenario, strategies)
    seeds = [int(seed) + i for i in range(int(reps))]
    tasks = [(s, sd) for s in chosen for sd in seeds]  # the fixed task order
    workers = int(min(workers, len(tasks)))

    results: list[tuple[dict, pd.DataFrame, dict] | None] = [None] * len(tasks)
    t0 = time.perf_counter()
    bar = _progress_bar(len(tasks), progress, desc=f"{scenario.name}")
    try:
        if workers == 1:
            for i, (strategy, sd) in enumerate(tasks):
                results[i] = _simulate(scenario, strategy, sd)
                bar.update(1)
        else:
            try:
                payload = pickle.dumps(scenario)
            except Exception as exc:
                raise TypeError(
                    f"the scenario object cannot be pickled for worker processes ({exc}); use workers=1"
                ) from exc
            ctx = multiprocessing.get_context(mp_context)
            executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                           initargs=(payload,))
            try:
                with _sigint_ignored():  # workers start while Ctrl-C is ignored, and inherit that
                    pending = {executor.submit(_worker_task, strategy, sd): i
                               for i, (strategy, sd) in enumerate(tasks)}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = pending.pop(fut)
                        try:
                            results[i] = fut.result()  # re-raises a worker's exception here
                        except _RemoteError as remote:
                            raise remote.rebuild() from None
                        bar.update(1)
            except BaseException:
                _terminate_pool(executor)
                raise
            else:
                executor.shutdown(wait=True)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0

    summary, timeseries, samples = _assemble(tasks, results)  # type: ignore[arg-type]
    from sim import stats

    comparison = stats.compare(summary)
    return Experiment(
        scenario=scenario,
        strategies=chosen,
        seeds=seeds,
        summary=summary,
        timeseries=timeseries,
        samples=samples,
        comparison=comparison,
        workers=workers,
        elapsed_seconds=elapsed,
    )


def _assemble(
    tasks: list[tuple[str, int]], results: list[tuple[dict, pd.DataFrame, dict]]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Build the tidy frames, in task order."""
    # summary: strategy, seed, then every summary key (first-seen order)
    keys: list[str] = []
    for summ, _, _ in results:
        for k in summ:
            if k not in keys:
                keys.append(k)
    rows = []
    for (strategy, sd), (summ, _, _) in zip(tasks, results):
        row = {"strategy": strategy, "seed": sd}
        for k in keys:
            v = summ.get(k, math.nan)
            row[k] = v.item() if isinstance(v, np.generic) else v
        rows.append(row)
    summary = pd.DataFrame(rows, columns=["strategy", "seed", *keys])
    summary["seed"] = summary["seed"].astype("int64")

    # timeseries: strategy, seed, then every column of the per-run frame
    parts = []
    for (strategy, sd), (_, ts, _) in zip(tasks, results):
        ts = pd.DataFrame(ts).reset_index(drop=True)
        ts = ts.drop(columns=[c for c in ("strategy", "seed") if c in ts.columns])
        ts.insert(0, "seed", sd)
        ts.insert(0, "strategy", strategy)
        parts.append(ts)
    timeseries = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["strategy", "seed", "day"])
    timeseries["seed"] = timeseries["seed"].astype("int64")

    # samples: long format
    strat_col, seed_col, kind_col, value_col = [], [], [], []
    for (strategy, sd), (_, _, smp) in zip(tasks, results):
        for kind, arr in smp.items():
            n = len(arr)
            strat_col.append(np.full(n, strategy, dtype=object))
            seed_col.append(np.full(n, sd, dtype=np.int64))
            kind_col.append(np.full(n, kind, dtype=object))
            value_col.append(np.asarray(arr, dtype=float))
    if value_col:
        samples = pd.DataFrame(
            {
                "strategy": np.concatenate(strat_col),
                "seed": np.concatenate(seed_col),
                "kind": np.concatenate(kind_col),
                "value": np.concatenate(value_col),
            }
        )
    else:
        samples = pd.DataFrame({"strategy": pd.Series(dtype=object), "seed": pd.Series(dtype="int64"),
                                "kind": pd.Series(dtype=object), "value": pd.Series(dtype=float)})
    return summary, timeseries, samples


# --------------------------------------------------------------------------------------------------------
# write_results
# --------------------------------------------------------------------------------------------------------


def package_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("buyer-journey-sim")
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


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")
    return cleaned or "scenario"


def default_results_dir(scenario: Any, when: datetime, results_root: Path | None = None) -> Path:
    """``<results_root>/<scenario name>/<YYYYmmdd-HHMMSS>`` (before de-duplication)."""
    root = Path(results_root) if results_root is not None else DEFAULT_RESULTS_ROOT
    return root / _safe_name(scenario.name) / when.strftime(_TIMESTAMP_FORMAT)


def _iso(t: Any) -> Any:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.astimezone()
        return t.isoformat(timespec="seconds")
    if isinstance(t, (int, float)):
        return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")
    return None if t is None else str(t)


def _as_datetime(t: Any) -> datetime:
    if isinstance(t, datetime):
        return t
    if isinstance(t, (int, float)):
        return datetime.fromtimestamp(t)
    if isinstance(t, str):
        try:
            return datetime.fromisoformat(t)
        except ValueError:
            pass
    return datetime.now()


def jsonable(obj: Any) -> Any:
    """A JSON-safe copy: numpy scalars to Python, NaN/inf to null, paths and dates to strings."""
    """Make ``obj`` strict-JSON safe (NaN/inf -> null, numpy scalars -> Python, paths -> str)."""
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


def _versions() -> dict[str, str]:
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
    try:
        import matplotlib

        out["matplotlib"] = matplotlib.__version__
    except Exception:  # pragma: no cover
        pass
    return out


def build_manifest(experiment: Experiment, *, command: str, started: Any, finished: Any) -> dict:
    sc = experiment.scenario
    scenario_path = getattr(sc, "path", None)
    return jsonable(
        {
            "scenario_name": sc.name,
            "scenario_path": str(scenario_path) if scenario_path is not None else None,
            "scenario": sc.to_dict(),
            "strategies": list(experiment.strategies),
            "seeds": list(experiment.seeds),
            "reps": experiment.reps,
            "base_seed": experiment.base_seed,
            "workers": experiment.workers,
            "runs": len(experiment.strategies) * experiment.reps,
            "package": "buyer-journey-sim",
            "package_version": package_version(),
            "command": command,
            "started": _iso(started),
            "finished": _iso(finished),
            "versions": _versions(),
            "platform": platform.platform(),
        }
    )


def _make_parents(path: Path) -> list[Path]:
    """mkdir -p, returning the directories that were actually created (deepest last)."""
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


def _is_empty_dir(p: Path) -> bool:
    try:
        return p.is_dir() and not any(p.iterdir())
    except OSError:
        return False


def _candidates(target: Path):
    yield target
    n = 2
    while True:
        yield target.with_name(f"{target.name}-{n}")
        n += 1


def _move_into_place(tmp: Path, target: Path, allow_empty_target: bool) -> Path:
    """Rename ``tmp`` to ``target`` (or ``target-2``, ``-3`` ...), never replacing existing results."""
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
        self._created = _make_parents(parent)
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
        for d in reversed(self._created):  # undo the folders we made, if they are still empty
            try:
                d.rmdir()
            except OSError:
                break

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self.final = _move_into_place(self.tmp, self.target, self.allow_empty_target)
                return False
            except BaseException:
                self._cleanup()
                raise
        self._cleanup()
        return False


def write_results(
    experiment: Experiment,
    out_dir: Path | None,
    *,
    command: str,
    started: Any,
    finished: Any,
    results_root: Path | None = None,
) -> Path:
    """Write all outputs of ``experiment`` and return the folder they ended up in.

    ``out_dir=None`` means ``<results_root>/<scenario name>/<started as YYYYmmdd-HHMMSS>``
    (``results_root`` defaults to the project's ``results/``). If the folder exists, ``-2``, ``-3``, ...
    is appended: nothing is ever overwritten (an explicitly requested but empty folder is used as is).
    Files: summary.csv, comparison.csv, timeseries.csv, samples.csv, manifest.json, charts/*.png,
    report.html.
    """
    from sim import charts, report

    if out_dir is None:
        target = default_results_dir(experiment.scenario, _as_datetime(started), results_root)
        allow_empty = False
    else:
        target = Path(out_dir).expanduser()
        allow_empty = True
    with staged_folder(target, allow_empty) as stage:
        tmp = stage.tmp
        experiment.summary.to_csv(tmp / "summary.csv", index=False)
        experiment.comparison.to_csv(tmp / "comparison.csv", index=False)
        experiment.timeseries.to_csv(tmp / "timeseries.csv", index=False)
        experiment.samples.to_csv(tmp / "samples.csv", index=False)

        manifest = build_manifest(experiment, command=command, started=started, finished=finished)
        with open(tmp / "manifest.json", "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, allow_nan=False)
            fh.write("\n")

        chart_dir = tmp / "charts"
        chart_dir.mkdir()
        chart_paths = charts.make_all(
            experiment.summary, experiment.timeseries, experiment.samples, chart_dir, list(experiment.strategies)
        )
        chart_paths = [Path(p) for p in (chart_paths or [])]

        report.write_report(
            tmp / "report.html",
            title=f"{experiment.scenario.name}: which go-to-market strategy wins?",
            question=REPORT_QUESTION,
            scenario_description=experiment.scenario.describe(),
            comparison=experiment.comparison,
            chart_paths=chart_paths,
            manifest=manifest,
        )
    return stage.final
