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

from sim.cli.common import UsageError, check_int_flags, wrap
from sim.config.scenario import DEFAULT_SCENARIO
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
            "comparison.csv, timeseries.csv, samples.csv, manifest.json, charts/*.png and report.html, "
            "and print the comparison table, the finding and the results folder."
        ),
        epilog=(
            "examples:\n"
            "  python run.py run scenarios/default.toml --reps 50\n"
            "  python run.py run scenarios/default.toml --set market.n_accounts=500 --strategies a,b\n\n"
            + wrap(
                "Results go to results/<scenario name>/<YYYYmmdd-HHMMSS>/ next to run.py unless --out is "
                "given; an existing results folder is never overwritten (-2, -3, ... is appended). "
                "Bad input is reported as one 'error: ...' line with exit code 2 before anything is written."
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
        from sim.config.scenario import _example_in

        example = _example_in(path)
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
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    ancestor = out.parent
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"--out {out}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: no permission to write in {ancestor}")


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


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """The 'run' command; ``argv`` is the command line as typed (recorded in manifest.json)."""
    # 1. validate everything that needs no engine
    check_int_flags("run.py run", args, {"reps": 1, "seed": 0, "workers": 1})
    overrides = parse_overrides(args.overrides)
    scenario_path = Path(args.scenario).expanduser()
    check_scenario_file(scenario_path)
    out = Path(args.out).expanduser() if args.out else None
    if out is not None:
        check_out_dir(out)

    # 2. load and resolve the scenario (ScenarioError is reported by main)
    from sim.analysis import experiment as ex

    scenario = load(scenario_path)
    if overrides:
        scenario = scenario.with_overrides(overrides)
    strategies = parse_strategies(args.strategies, list(scenario.strategies), f"scenario {scenario_path}")
    if out is None:
        check_out_dir(results_root() / "scenario" / "timestamp")

    # 3. simulate, then write
    n_strategies = len(strategies) if strategies is not None else len(scenario.strategies)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if not args.quiet:
        print(
            f"Running {scenario.name!r}: {n_strategies} strategies x {args.reps} reps "
            f"(seeds {args.seed}..{args.seed + args.reps - 1}) on {min(workers, n_strategies * args.reps)} "
            f"worker(s) ...",
            file=sys.stderr,
        )
    started = datetime.now().astimezone()
    experiment = ex.run_many(
        scenario, strategies=strategies, reps=args.reps, seed=args.seed, workers=workers, progress=not args.quiet
    )
    finished = datetime.now().astimezone()
    if not args.quiet:
        print(f"Simulated {len(experiment.summary)} runs in {experiment.elapsed_seconds:.1f} s; writing results ...",
              file=sys.stderr)
    command = " ".join(shlex.quote(a) for a in ["python", "run.py", *argv])
    folder = ex.write_results(
        experiment, out, command=command, started=started, finished=finished, results_root=results_root()
    )

    from sim.analysis import report, stats

    print(stats.format_table(experiment.comparison, [m for m in report.DEFAULT_METRICS if m not in CONSOLE_SKIPS]))
    print()
    print(report.finding_sentence(experiment.comparison))
    print()
    print(f"Results: {folder}")
    return 0


