"""``run``: simulate every strategy of a scenario over many seeds and write a results folder."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from sim.cli.common import (EXIT_INTERRUPTED, UsageError, check_int_flags, check_writable_folder, scheduler_client,
                            stderr_say, wrap)
from sim.config.scenario import DEFAULT_SCENARIO, ScenarioError
from sim.io import results_root

#: The printed comparison table shows the report's metrics but the cycle length (width of a terminal).
CONSOLE_SKIPS = ("median_cycle_days",)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run",
        help="simulate every strategy of a scenario over many seeds and write a results folder",
        description=wrap(
            "Simulate every go-to-market strategy of SCENARIO on the same random seeds (common random "
            "numbers, so differences are due to the strategy, not luck), then write summary.csv, "
            "comparison.csv, timeseries.parquet, samples.parquet, manifest.json, charts/*.png and report.html, "
            "and print the comparison table, the finding and the results folder."
        ),
        epilog=(
            "examples:\n"
            "  python run.py run scenarios/default.toml --reps 50\n"
            "  python run.py run scenarios/default.toml --set market.n_accounts=500 --strategies a,b\n"
            "  python run.py run scenarios/default.toml --scheduler tcp://10.0.0.5:8786\n\n"
            + wrap(
                "Results go to results/<scenario name>/<YYYYmmdd-HHMMSS>/ under the current folder unless --out "
                "is given; an existing results folder is never overwritten (-2, -3, ... is appended). "
                "Every finished run is committed at once to a hidden store next to the results folder "
                "(results/<scenario name>/.runs-<hash>.sqlite, or .DIR.runs-<hash>.sqlite beside --out DIR), "
                "which is deleted once the results folder is complete. If the command is stopped (Ctrl-C, kill "
                "-9, a crash) only the runs in flight are lost: run the same command again (or add --resume) "
                "and only the missing runs are simulated, with the same numbers as an uninterrupted run. A "
                "store written by another version of this package is refused.\n"
                "Bad input (including an unreachable --scheduler) is reported as one 'error: ...' line with "
                "exit code 2 before anything is written; an interrupt exits with 130 and keeps the finished runs."
            )
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "scenario",
        nargs="?",
        default=str(DEFAULT_SCENARIO),
        metavar="SCENARIO.toml",
        help="scenario file describing market, budget, team and strategies (default: scenarios/default.toml)",
    )
    p.add_argument(
        "--reps",
        type=int,
        default=20,
        metavar="N",
        help="replications (random seeds) per strategy, at least 1 (default: 20)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=1,
        metavar="S",
        help="first random seed, 0 or more; replications use S, S+1, ..., S+N-1 (default: 1)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="W",
        help="parallel worker processes, at least 1; 1 runs in this process (default: all cores"
        f", here {os.cpu_count() or 1})",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run on the Dask distributed cluster of this scheduler instead of local processes (every worker needs "
        "this package installed; --workers is then not used); checked before anything runs",
    )
    p.add_argument(
        "--posterior",
        default=None,
        metavar="POSTERIOR.csv",
        help="a calibration's posterior.csv: replication i of every strategy runs with parameter set i drawn from it "
        "(the same draws for every strategy), so the intervals include what the calibration data do not pin down; "
        "the same seeds are also run at the scenario's own values, and the report says how much of the spread "
        "comes from the parameters",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run of this same command, simulating only the missing runs (re-running the "
        "command does that anyway; --resume also fails if there is nothing to resume)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write results to DIR instead of results/<scenario>/<timestamp>/; if DIR already exists and is "
        "not empty, DIR-2, DIR-3, ... is used instead",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one scenario value, e.g. --set market.n_accounts=500 or --set 'team.name=\"x\"'; "
        "VALUE is read as TOML (number, true/false, \"string\", [list]) and otherwise taken as plain text; "
        "repeat for several overrides",
    )
    p.add_argument(
        "--strategies",
        default=None,
        metavar="A,B",
        help="comma-separated subset of the scenario's strategies to run, in this order (default: all)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or status messages on stderr (the table, finding and path are still printed)",
    )
    p.set_defaults(handler=cmd_run)
    return p


# --------------------------------------------------------------------------------------------------------
# Input validation (all of it happens before any output is created)
# --------------------------------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A --set value as TOML (``500``, ``0.3``, ``true``, ``"x"``, ``[1, 2]``); otherwise the plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set {item!r} has no '='; expected KEY.PATH=VALUE, e.g. market.n_accounts=500")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key or any(not part.strip() for part in key.split(".")):
            raise UsageError(f"--set {item!r} has an empty key; expected KEY.PATH=VALUE, e.g. market.n_accounts=500")
        overrides[key] = parse_value(value.strip())
    return overrides


def parse_strategies(text: str | None, available: Sequence[str], scenario_label: str) -> list[str] | None:
    if text is None:
        return None
    chosen: list[str] = []
    for name in text.split(","):
        name = name.strip()
        if name and name not in chosen:
            chosen.append(name)
    if not chosen:
        raise UsageError(f"--strategies is empty; choose from: {', '.join(available)}")
    for name in chosen:
        if name not in available:
            raise UsageError(
                f"unknown strategy {name!r} in --strategies; {scenario_label} defines: {', '.join(available)}"
            )
    return chosen


def check_scenario_file(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"scenario file not found: {path}")
    if path.is_dir():
        from sim.config.scenario import example_in

        example = example_in(path)
        raise UsageError(f"{path} is a folder, not a scenario file; name a .toml file"
                         + (f" in it, e.g. python run.py {example}" if example else ""))
    if not path.is_file():
        raise UsageError(f"scenario path is not a file: {path}")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot read scenario file {path}: {exc.strerror or exc}") from exc


def check_out_dir(out: Path) -> None:
    """Fail early (before simulating) if results could not be written to ``out``."""
    check_writable_folder("run.py run", out, "--out")


def load(path: Path) -> Any:
    """Load a scenario; every failure becomes a one-line UsageError naming the file."""
    import sim

    try:
        return sim.load_scenario(path)
    except sim.ScenarioError:
        raise
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a UTF-8 text file") from exc
    except OSError as exc:
        raise UsageError(f"cannot read scenario file {path}: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------------


WHERE = "run.py run"


def store_path(scenario: Any, strategies: Sequence[str], seeds: Sequence[int], out: Path | None,
               parameter_draws: Sequence[dict] | None = None) -> Path:
    """Where the runs of this comparison are kept until its results folder is complete: hidden next to it,
    named by the comparison's definition hash (so re-running the same command finds it)."""
    from sim.analysis.store import ComparisonStore
    from sim.io import safe_name

    key = ComparisonStore.identity(scenario, strategies, seeds, parameter_draws)[:16]
    if out is None:
        return (results_root() / safe_name(scenario.name) / f".runs-{key}.sqlite").absolute()
    out = out.absolute()
    return out.parent / f".{out.name}.runs-{key}.sqlite"


def _stored(path: Path) -> int:
    from sim.analysis.store import ComparisonStore

    try:
        info = ComparisonStore.peek(path)
    except Exception:
        return 0
    return int(info["runs"]) if info else 0


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """The 'run' command; ``argv`` is the command line as typed (recorded in manifest.json)."""
    from sim.analysis.charts import warm_up
    from sim.executor import LocalPool

    # the local worker processes simulate, then draw the charts (no second start-up; they import matplotlib while
    # this process reads the results)
    with LocalPool(prepare=warm_up) as pool:
        return _run(args, argv, pool)


def _run(args: argparse.Namespace, argv: Sequence[str], pool: Any) -> int:
    say = stderr_say(args.quiet)

    # 1. validate everything that needs no engine
    check_int_flags(WHERE, args, {"reps": 1, "seed": 0, "workers": 1})
    overrides = parse_overrides(args.overrides)
    scenario_path = Path(args.scenario).expanduser()
    check_scenario_file(scenario_path)
    out = Path(args.out).expanduser() if args.out else None
    if out is not None:
        check_out_dir(out)

    # 2. load and resolve the scenario (ScenarioError is reported by main)
    from sim.analysis import experiment as ex
    from sim.analysis.store import ComparisonStore
    from sim.io import make_parents, remove_created
    from sim.store import check_version, remove_store_files

    scenario = preset = load(scenario_path)
    if overrides:
        scenario = scenario.with_overrides(overrides)
    strategies = parse_strategies(args.strategies, list(scenario.strategies), f"scenario {scenario_path}")
    if out is None:
        check_out_dir(results_root() / "scenario" / "timestamp")
    chosen = strategies if strategies is not None else list(scenario.strategies)
    seeds = [args.seed + i for i in range(args.reps)]
    n_runs = len(chosen) * len(seeds)

    draws = None
    if args.posterior is not None:
        from sim.calibration.posterior import load_posterior

        draws = load_posterior(Path(args.posterior).expanduser()).draws(len(seeds), args.seed)
        for d in draws:
            scenario.with_overrides(d)  # a draw that makes no valid scenario is bad input, before anything runs

    # 3. the store(s) of this comparison: resumed if an interrupted run of the same command left them
    store = store_path(scenario, chosen, seeds, out, draws)
    stores = [store] + ([store_path(scenario, chosen, seeds, out)] if draws is not None else [])
    for path in stores:
        check_version(ComparisonStore.peek(path), path)  # raises if something else is there
    stored = sum(int(i["runs"]) for i in map(ComparisonStore.peek, stores) if i)
    if args.resume and stored == 0:
        raise ScenarioError(WHERE, "--resume", f"nothing to resume: no interrupted run of this command (scenario, "
                                               f"--set, --strategies, --reps and --seed as given) in {store.parent}; "
                                               f"run without --resume to start it")
    client, owned = scheduler_client(args.scheduler, WHERE)

    # 4. simulate, committing every run to the store
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    where = (f"the Dask cluster at {args.scheduler}" if client is not None
             else f"{min(workers, n_runs)} worker(s)")
    created: list[Path] = []
    try:
        say(f"Running {scenario.name!r}: {len(chosen)} strategies x {args.reps} reps "
            f"(seeds {args.seed}..{args.seed + args.reps - 1}) on {where} ...")
        if stored:
            say(f"Resuming: {stored} of {n_runs} runs are already done ({store})")
        started = datetime.now().astimezone()
        created = make_parents(store.parent)
        try:
            experiment = ex.run_many(scenario, strategies=strategies, reps=args.reps, seed=args.seed,
                                     workers=workers, progress=not args.quiet, executor=client, store=store,
                                     parameter_draws=draws, pool=pool)
            fixed = None
            if draws is not None:  # the same seeds at the scenario's own values: how much spread is parameters
                say("Running the same seeds at the scenario's own parameter values (for the share of the spread "
                    "that comes from parameter uncertainty) ...")
                fixed = ex.run_many(scenario, strategies=strategies, reps=args.reps, seed=args.seed,
                                    workers=workers, progress=not args.quiet, executor=client, store=stores[1])
        except KeyboardInterrupt:
            done = sum(_stored(s) for s in stores)
            if done == 0:
                remove_created(created)
                print("error: interrupted before any run finished; no results were written", file=sys.stderr)
            else:
                print(f"error: interrupted; {done} of {n_runs} runs are saved in {store}; run the same command "
                      f"again to continue", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BaseException:
            if sum(_stored(s) for s in stores) == 0:
                remove_created(created)
            raise
    finally:
        if owned:
            client.close()
    finished = datetime.now().astimezone()
    say(f"Simulated {n_runs - experiment.runs_from_store} runs in {experiment.elapsed_seconds:.1f} s"
        f"{f' ({experiment.runs_from_store} from the store)' if experiment.runs_from_store else ''}; "
        f"writing results ...")

    # 5. write the results folder atomically, then drop the store (the folder holds every number)
    command = " ".join(shlex.quote(a) for a in ["python", "run.py", *argv])
    try:
        folder = ex.write_results(
            experiment, out, command=command, started=started, finished=finished, results_root=results_root(),
            fixed=fixed, posterior=args.posterior, overrides=overrides, preset=preset, pool=pool,
        )
    except KeyboardInterrupt:
        print(f"error: interrupted while writing the results; all {n_runs} runs are saved in {store}; run the same "
              f"command again to write them", file=sys.stderr)
        return EXIT_INTERRUPTED
    for path in stores:
        remove_store_files(path)

    from sim.analysis import report, stats

    print(stats.format_table(experiment.comparison, [m for m in report.DEFAULT_METRICS if m not in CONSOLE_SKIPS]))
    print()
    print(report.finding_sentence(experiment.comparison))
    print()
    print(f"Results: {folder}")
    return 0
