"""The ``optimize`` command of run.py (alias ``optimise``): search channel budgets and rep time for the best plan,
confirm it on fresh seeds, draw response curves, write a results folder.

    python run.py optimize SCENARIO.toml [--budget DOLLARS] [--objective customers|cac|profit|ltv_to_cac]
                           [--trials N] [--reps R] [--workers W] [--scheduler tcp://HOST:PORT] [--out DIR] [--resume]

Every input problem raises ``sim.ScenarioError`` (or argparse's one-line error) before anything is created: one
``error: ...`` line, exit code 2, nothing written.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.cli.common import (EXIT_INTERRUPTED, check_int_flags, scheduler_client, stderr_say,
                            where_runs, wrap)
from sim.cli.jobs import StoredJob, add_job_arguments
from sim.config.scenario import DEFAULT_SCENARIO, ScenarioError
from sim.io import results_root, safe_name

WHERE = "run.py optimize"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from sim.optimise.space import (  # light: no optuna, no matplotlib
        FILE_HELP,
        OBJECTIVES,
    )

    p = sub.add_parser(
        "optimize",
        aliases=["optimise"],
        help="search channel budgets and rep time for the best plan; confirm it on fresh seeds; response curves",
        description=wrap(
            "Search every channel's budget (summing to --budget) and the reps' time split (summing to 1) for the plan "
            "best on --objective (Optuna's TPE sampler, seeded; every candidate on the same --reps seeds, so "
            "candidates are compared paired), confirm the best on fresh seeds never used in the search with paired "
            "95% intervals against every strategy of the scenario, and draw each channel's response curve around it "
            "(customers, CAC and profit against its budget; what the next $10k and $100k buy). Writes "
            "results/optimise/<scenario name>/<YYYYmmdd-HHMMSS>/ with recommended.toml (the scenario with the plan "
            "added as strategy 'optimised'), trials.csv, mix.csv, confirmation.csv, curves.csv, marginal.csv, "
            "runs.csv, charts/*.png, report.html, manifest.json and the store optimisation.sqlite. Profit = customers "
            "won x LTV - total cost (the expected lifetime gross profit of the accounts won, less all channel and "
            "rep cost). The numbers are the same serially, on local processes and on a Dask cluster."
        ),
        epilog=(
            "examples:\n"
            "  python run.py optimize scenarios/default.toml --objective customers --trials 40 --reps 3 --workers 2\n"
            "  python run.py optimize scenarios/default.toml --budget 600000 --objective profit --max paid_search=0\n"
            "  python run.py optimize scenarios/default.toml --resume\n\n"
            + FILE_HELP + "\n"
            + wrap(
                "While it runs the store lives in a hidden results/optimise/<name>/.<timestamp>.partial/ folder. If it "
                "is stopped (Ctrl-C, kill -9, a crash) only the runs in flight are lost: the same command with "
                "--resume replays the search from the seed, skips the stored runs and continues exactly. Bad input "
                "(a budget below 0, a channel minimum above the total, an unknown objective, channel or strategy) is "
                "one 'error: ...' line with exit code 2 before anything runs or is written."
            )
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", nargs="?", default=str(DEFAULT_SCENARIO), metavar="SCENARIO.toml",
                   help="the scenario (default: scenarios/default.toml)")
    p.add_argument("--budget", type=float, default=None, metavar="DOLLARS",
                   help="$ per year over all channels (default: the largest total a strategy of the scenario spends)")
    p.add_argument("--objective", choices=OBJECTIVES, default=None,
                   help="what to optimise (default profit): customers won, CAC, profit or LTV:CAC")
    p.add_argument("--trials", type=int, default=None, metavar="N", help="candidates searched (default 100)")
    p.add_argument("--reps", type=int, default=None, metavar="R",
                   help="seeds per candidate, the same for every candidate (default 5)")
    p.add_argument("--batch", type=int, default=None, metavar="B",
                   help="candidates asked of the sampler at a time (default 10; not tied to --workers)")
    p.add_argument("--confirm-reps", type=int, default=None, metavar="N",
                   help="fresh seeds for the confirmation (default 20)")
    p.add_argument("--curve-reps", type=int, default=None, metavar="N",
                   help="fresh seeds per point of a response curve (default 10)")
    p.add_argument("--curves", choices=("optimum", "all", "none"), default=None,
                   help="response curves around the optimum (default), around every strategy too, or none")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="seeds the sampler and every run (default 1)")
    p.add_argument("--strategy", default=None, metavar="NAME",
                   help="the strategy whose other settings (policy, ...) candidates keep (default: the first)")
    p.add_argument("--constraints", default=None, metavar="FILE.toml", help="bounds and settings (format below)")
    p.add_argument("--min", action="append", default=[], metavar="CHANNEL=DOLLARS", help="a channel's minimum budget")
    p.add_argument("--max", action="append", default=[], metavar="CHANNEL=DOLLARS",
                   help="a channel's maximum budget (0 leaves it out)")
    p.add_argument("--team", default=None, metavar="MIN:MAX", help="also search the number of reps in this range")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override one scenario value (as in 'run.py run')")
    add_job_arguments(p, noun="optimisation", unfinished="optimisation of this scenario",
                      results="results/optimise/<scenario name>")
    p.set_defaults(handler=cmd_optimise)
    return p


def _pairs(flag: str, items: Sequence[str]) -> dict[str, float]:
    from sim.engine.channels import CHANNELS

    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ScenarioError(WHERE, flag, f"expected CHANNEL=DOLLARS, e.g. content=50000, got {item!r}")
        if name not in CHANNELS:
            raise ScenarioError(WHERE, flag, f"unknown channel {name!r}; allowed: {', '.join(CHANNELS)}")
        try:
            v = float(value.replace("_", ""))
        except ValueError:
            raise ScenarioError(WHERE, flag, f"{name}: expected a number of dollars, got {value!r}") from None
        if not math.isfinite(v) or v < 0:
            raise ScenarioError(WHERE, flag, f"{name}: must be a number of dollars >= 0, got {value!r}")
        out[name] = v
    return out


def _constraints(args: argparse.Namespace) -> tuple[dict, str]:
    """The constraints file's contents with the flags applied, and where they come from."""
    from sim.config.scenario import read_toml

    data: dict = {}
    where = WHERE
    if args.constraints:
        path = Path(args.constraints).expanduser()
        data = read_toml(path, "constraints")
        where = str(path)
    channels = dict(data.get("channels", {})) if isinstance(data.get("channels", {}), dict) else data.get("channels")
    for flag, key in (("--min", "min"), ("--max", "max")):
        for name, v in _pairs(flag, getattr(args, key)).items():
            cur = channels.get(name, {})
            cur = dict(cur) if isinstance(cur, dict) else {"min": cur, "max": cur}
            cur[key] = v
            channels[name] = cur
    if channels:
        data["channels"] = channels
    if args.team is not None:
        lo, sep, hi = args.team.partition(":")
        try:
            lo_i, hi_i = int(lo), int(hi)
        except ValueError:
            raise ScenarioError(WHERE, "--team", f"expected MIN:MAX whole numbers of reps, e.g. 3:8, got "
                                                 f"{args.team!r}") from None
        if not sep or lo_i < 0 or hi_i < lo_i:
            raise ScenarioError(WHERE, "--team", f"expected MIN:MAX with 0 <= MIN <= MAX, got {args.team!r}")
        ranges = dict(data.get("ranges", {}))
        ranges["sales.n_reps"] = {"min": lo_i, "max": hi_i}
        data["ranges"] = ranges
    return data, where


def cmd_optimise(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sim.cli.run import parse_overrides
    from sim.optimise.search import make_problem, optimise
    from sim.optimise.store import OptimisationStore

    quiet = args.quiet
    say = stderr_say(quiet)

    # 1. everything that can be checked before anything is created
    check_int_flags(WHERE, args, {"workers": 1, "trials": 1, "reps": 1, "batch": 1, "confirm_reps": 2,
                                  "curve_reps": 2, "seed": 0})
    if args.budget is not None and (not math.isfinite(args.budget) or args.budget < 0):
        raise ScenarioError(WHERE, "--budget", f"must be a number of dollars >= 0, got {args.budget:g}")
    scenario_path = Path(args.scenario).expanduser()
    data, where = _constraints(args)
    overrides = parse_overrides(args.overrides)
    problem = make_problem(scenario_path, budget=args.budget, objective=args.objective, constraints=data,
                           strategy=args.strategy, overrides=overrides, where=where, trials=args.trials,
                           replications=args.reps, batch=args.batch, confirm_replications=args.confirm_reps,
                           curve_replications=args.curve_reps, curves=args.curves, seed=args.seed)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    job = StoredJob(args, where=WHERE, command="optimize", job_file=scenario_path, store=OptimisationStore,
                    identity=problem.hash, name=problem.name,
                    root=results_root() / "optimise" / safe_name(problem.name),
                    definition="a different optimisation", say=say, resume_hint=list(argv))

    client, owned = scheduler_client(args.scheduler, WHERE)

    # 2. run, committing every run to the store
    try:
        say(f"Optimisation of {problem.name!r}: {problem.describe()}")
        say(f"Running on {where_runs(args.scheduler, client, workers)}; store: {job.store_path}")
        res = job.run(lambda store: optimise(problem, workers=workers, executor=client, store=store,
                                             progress=not quiet, say=say), total=problem.runs_planned())
    finally:
        if owned:
            client.close()
    if res is None:
        return EXIT_INTERRUPTED
    say(f"{res.executed} runs done in {res.elapsed:.1f} s ({res.reused} already in the store); writing results ...")

    # 3. write the results folder atomically
    manifest = job.facts(client, workers, argv)
    final, _ = job.write(lambda folder: res.write(folder, manifest))
    from sim.optimise.report import confirmation_table, marginal_table, mix_table

    print(res.finding())
    print()
    print(mix_table(res).to_string(index=False))
    print()
    print(confirmation_table(res).to_string(index=False))
    marg = marginal_table(res)
    if len(marg):
        print()
        print(marg.to_string(index=False))
    print()
    print(f"Results: {final}")
    print(f"Compare the recommended plan with the strategies: python run.py run "
          f"{shlex.quote(str(final / 'recommended.toml'))}")
    return 0
