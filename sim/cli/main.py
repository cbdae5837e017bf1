"""The command line: ``buyer-journey COMMAND`` (or ``python run.py COMMAND``), one subcommand per capability.

    python run.py                                  # = python run.py run scenarios/default.toml
    python run.py run SCENARIO.toml [options]      # compare the scenario's go-to-market strategies
    python run.py COMMAND --help                   # every option explained

Each command lives in its own module of ``sim.cli`` with ``add_parser(sub)``, which registers its
subparser with ``set_defaults(handler=fn)``, ``fn(args, argv) -> exit code``. Input problems are
reported as one line starting with "error: " and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from sim.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Parser,
    UsageError,
    one_line,
    wrap,
)
from sim.config.scenario import DEFAULT_SCENARIO

# --------------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="run.py",
        description=wrap(
            "Agent-based simulation of B2B buyer journeys. Buyers research on their own and contact sales "
            "late; this tool compares go-to-market strategies (which channels, how much budget, how many "
            "sales reps) on customers won, conversion and cost, over many random seeds."
        ),
        epilog=wrap(
            "With no arguments, 'python run.py' is the same as 'python run.py run scenarios/default.toml'. "
            "Run 'python run.py COMMAND --help' for the options of a command.\n"
            "Exit codes: 0 success, 2 bad input (one 'error: ...' line on stderr, nothing written), "
            "130 interrupted (no partial results folder; the runs that finished are kept, and the same command "
            "continues from them)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    parser.command_names = tuple(sub.choices)  # for the shorthand in main()
    return parser


COMMAND_MODULES = ("sim.cli.run", "sim.cli.sweep", "sim.cli.validate", "sim.cli.calibrate", "sim.cli.crm", "sim.cli.attribution",
                   "sim.cli.optimise", "sim.cli.plan", "sim.cli.app")


def main(argv: Sequence[str] | None = None) -> int:
    typed = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    effective = typed or ["run", str(DEFAULT_SCENARIO)]
    if typed and typed[0] not in parser.command_names and typed[0] not in ("-h", "--help"):
        # shorthand for the main job: "run.py --reps 5" runs the default scenario with those flags,
        # "run.py FILE.toml [flags]" runs that scenario (any path: the run command says what is wrong with
        # a folder or a missing file); a bare word that is neither is a mistyped command
        first = typed[0]
        if first.startswith("-"):
            effective = ["run", str(DEFAULT_SCENARIO), *typed]
        elif first.endswith(".toml") or os.path.exists(first) or "/" in first or os.sep in first:
            effective = ["run", *typed]
        else:
            print(f"error: {first!r} is neither a command ({', '.join(parser.command_names)}) nor a scenario file "
                  f"(see 'run.py --help')", file=sys.stderr)
            return EXIT_USAGE
    try:
        args = parser.parse_args(effective)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed on one line)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    try:
        import sim

        scenario_error: type[BaseException] = sim.ScenarioError
    except ImportError as exc:  # engine missing: nothing sensible to do
        print(f"error: cannot import the simulator package 'sim': {one_line(exc)}", file=sys.stderr)
        return 1

    try:
        return args.handler(args, typed)
    except UsageError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except scenario_error as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted; no results were written", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
