"""``plan``: print the day's order (every component's steps) or the parameter template."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("plan", help="print the order of the day's steps (or, with --template, a full scenario TOML)",
                       description="Print the model's day, step by step, as the components declare it; with "
                                   "--template, print a scenario TOML with every parameter, its unit, range and source.")
    p.add_argument("--template", action="store_true", help="print the full scenario template instead")
    p.set_defaults(handler=cmd_plan)
    return p


def cmd_plan(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.template:
        from sim.config.template import render

        sys.stdout.write(render())
    else:
        from sim.engine.schedule import plan

        print(plan())
    return 0
