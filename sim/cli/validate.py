"""``python run.py validate``: run the validation suite and write results/validation/<timestamp>/.

Registered by run.py, which imports this module if it exists and calls ``add_parser(sub)``. Bad input
raises ``sim.ScenarioError`` (run.py prints it as one ``error: ...`` line and exits with code 2) before
anything is simulated or written.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from sim.cli.common import check_writable_folder, scheduler_client, wrap
from sim.io import results_root

WHERE = "validate"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from sim.validation import framework as v
    from sim.validation.bass import FAST_BASS_HORIZON

    p = sub.add_parser(
        "validate",
        help="run the validation suite (Bass docking, networks, stylized facts, comparative statics, benchmark "
             "facts) and write "
             "results/validation/<timestamp>/",
        description=wrap(
            "Check the simulator the way Rand & Rust (2011) ask: dock it with the analytic Bass (1969) model "
            "(adoption curve, fitted p and q, peak timing, the q = 0 case), check diffusion on networks of "
            "several densities against full mixing and the Fibich & Gibori (2010) lower bound, measure the "
            "stylized facts of B2B buying the articles rely on (57% of the decision made before talking to "
            "sales, 95:5 in market, campaign response within days, speed to lead, referral value, enterprise "
            "cycles, introductions vs cold calls), test the direction of effect of five levers, paired by "
            "seed, and check every fact of the benchmark pack scenarios/benchmarks/b2b_saas.toml against the "
            "default scenario with a band (value +- 2 sd, or the range): the calibration targets confirm the fit, "
            "the held-out facts are out of sample. Nothing else is tuned to pass: a fact that fails is reported "
            "as failing, with the reason.\n"
            "Writes validation.csv (one row per check: check, group, target, source, measured, ci_low, "
            "ci_high, passed, detail), a self-contained report.html and manifest.json."
        ),
        epilog=(
            "examples:\n"
            "  python run.py validate                 # full suite, 20 replications per configuration\n"
            "  python run.py validate --fast          # quick version (2 replications), about a minute\n"
            "  python run.py validate --reps 40 --workers 8 --out results/my_validation\n"
            "  python run.py validate --scheduler tcp://10.0.0.5:8786   # on a Dask cluster\n\n"
            + wrap(
                "Results go to results/validation/<YYYYmmdd-HHMMSS>/ next to run.py unless --out is given; a "
                "folder is written under a temporary name and renamed when complete, and existing results are "
                "never overwritten (-2, -3, ... is appended). Exit code 0 when the suite ran (whatever the "
                "checks found), 2 on bad input (one 'error: ...' line)."
            )
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--reps", type=int, default=None, metavar="N",
                   help=f"replications (seeds) per configuration, at least 2 (default: {v.FULL_REPS}, or "
                        f"{v.FAST_REPS} with --fast); the cheap Bass and network checks use at least "
                        f"{v.MIN_DIFFUSION_REPS}")
    p.add_argument("--seed", type=int, default=1, metavar="S",
                   help="first random seed, 0 or more; replications use S, S+1, ... in every configuration "
                        "(common random numbers) (default: 1)")
    p.add_argument("--workers", type=int, default=None, metavar="W",
                   help=f"parallel worker processes, at least 1; 1 runs in this process; results do not depend on "
                        f"it (default: all cores, here {os.cpu_count() or 1}); ignored with --scheduler")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on the Dask distributed cluster of this scheduler instead of local processes (every "
                        "worker needs this package installed); checked before anything runs; results do not "
                        "depend on it")
    p.add_argument("--fast", action="store_true",
                   help=f"quick version of every check (used by the tests): {v.FAST_REPS} replications by "
                        f"default, {FAST_BASS_HORIZON}-day Bass runs, and a 1,000-account, 300-day market for "
                        f"the default-scenario checks that do not need rare events; numbers are noisier and "
                        f"some facts come out differently than in the full suite")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write to DIR instead of results/validation/<timestamp>/; if DIR exists and is not empty, "
                        "DIR-2, DIR-3, ... is used")
    p.add_argument("--quiet", action="store_true", help="no progress bar or status messages on stderr")
    p.set_defaults(handler=cmd_validate)
    return p


def _check_out(out: Path) -> None:
    check_writable_folder(WHERE, out, "--out")


def cmd_validate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sim.validation import framework as v

    # 1. everything that needs no simulation (ScenarioError -> one line, exit 2, nothing written)
    reps, seed, workers, _ = v.check_args(args.fast, args.reps, args.seed, args.workers, None)
    out = Path(args.out).expanduser() if args.out else None
    _check_out(out if out is not None else results_root() / "validation" / "timestamp")
    client, owned = scheduler_client(args.scheduler, WHERE)

    # 2. run, then write
    try:
        started = datetime.now()
        if not args.quiet:
            n = len(v.planned_checks(fast=args.fast, reps=reps, seed=seed))
            where = f"on the Dask cluster at {args.scheduler}" if client is not None else f"{workers} worker(s)"
            print(f"Validation suite{' (fast)' if args.fast else ''}: {n} checks, {reps} replications per "
                  f"configuration (seeds {seed}..{seed + reps - 1}), {where} ...", file=sys.stderr)
        df = v.run_checks(fast=args.fast, reps=reps, seed=seed, workers=workers, progress=not args.quiet,
                          executor=client)
    finally:
        if owned:
            client.close()
    command = " ".join(shlex.quote(a) for a in ["python", "run.py", *argv])
    folder = v.write_validation(df, out, command=command, started=started)

    # 3. the table
    width = max(len(c) for c in df["check"]) if len(df) else 10
    print(f"{'check':<{width}}  {'measured':>11}  {'95% CI':>25}  result")
    for _, r in df.iterrows():
        ci = f"[{_n(r['ci_low'])}, {_n(r['ci_high'])}]"
        print(f"{r['check']:<{width}}  {_n(r['measured']):>11}  {ci:>25}  {'pass' if r['passed'] else 'FAIL'}")
    print()
    print(f"{v.headline(df)}; {df.attrs.get('settings', {}).get('elapsed_seconds', float('nan'))} s.")
    print(f"Results: {folder}")
    return 0


def _n(x: float) -> str:
    import math

    if x is None or not math.isfinite(x):
        return "-"
    ax = abs(x)
    return f"{x:.3e}" if ax and (ax < 1e-3 or ax >= 1e5) else f"{x:.4g}"
