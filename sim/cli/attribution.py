"""The ``attribution`` command of run.py: score attribution methods against the counterfactual truth.

    python run.py attribution SCENARIO [--strategy S] [--reps N] [--seed N] [--workers W]
                              [--scheduler tcp://HOST:PORT] [--resume] [--store PATH] [--out DIR] [--quiet]

Every input problem (an unknown scenario or strategy, a strategy that funds no channel, fewer than 2
replications) raises ``sim.ScenarioError`` before anything is created (run.py prints it as one ``error: ...``
line and exits with 2).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Sequence

from sim.cli.common import EXIT_INTERRUPTED, check_int_flags, scheduler_client, stderr_say, wrap
from sim.cli.jobs import StoredJob, add_job_arguments
from sim.io import results_root, safe_name

WHERE = "run.py attribution"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "attribution",
        help="score attribution methods (first/last touch, linear, time decay, U-shaped, Markov, Shapley) against "
             "the simulator's counterfactual ground truth",
        description=wrap(
            "Run the strategy with and without every set of the channels it funds, on the same seeds (common "
            "random numbers), for the ground truth: each channel's incremental customers and revenue and its "
            "Shapley value (exact over all 2^k coalitions up to 8 channels). A removed channel loses its budget "
            "and its steps; the rep hours the strategy gives it are left idle. The run with every channel keeps "
            "a touch log; seven attribution methods run on its journeys as on CRM data and are scored against "
            "the truth. Writes results/attribution/<scenario>-<strategy>/<YYYYmmdd-HHMMSS>/ with attribution.csv, "
            "truth.csv, scores.csv, paths.csv (channelattribution's format), touch_log.parquet, charts/*.png, "
            "report.html, manifest.json and the store attribution.sqlite. Every run is committed to the store "
            "at once: --resume continues after a kill without redoing finished runs."
        ),
        epilog="examples:\n  python run.py attribution default --strategy blended --reps 10 --workers 2\n"
               "  python run.py attribution default --strategy blended --reps 10 --resume\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", nargs="?", default="default", metavar="SCENARIO",
                   help="a preset name (default, enterprise, ...) or a scenario .toml file (default: default)")
    p.add_argument("--strategy", default=None, metavar="S", help="strategy of the scenario (default: its first)")
    p.add_argument("--reps", type=int, default=10, metavar="N", help="replications (seeds), at least 2 (default 10)")
    p.add_argument("--seed", type=int, default=1, metavar="N", help="seed of the first replication (default 1)")
    add_job_arguments(p, noun="attribution study", unfinished="attribution study of this scenario and strategy",
                      results="results/attribution/<scenario>-<strategy>")
    p.set_defaults(handler=cmd_attribution)
    return p


def cmd_attribution(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sim.attribution.lab import Study, attribution
    from sim.attribution.store import AttributionStore

    quiet = args.quiet
    say = stderr_say(quiet)

    # 1. everything that can be checked before anything is created
    check_int_flags(WHERE, args, {"reps": 2, "workers": 1, "seed": 0},
                    {"reps": "intervals over replications need at least two"})
    study = Study.make(args.scenario, args.strategy, args.reps, args.seed, where=WHERE)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    job_file = Path(study.scenario.path) if getattr(study.scenario, "path", None) else Path(args.scenario)
    name = f"{study.scenario.name}-{study.strategy}"
    job = StoredJob(args, where=WHERE, command="attribution", job_file=job_file, store=AttributionStore,
                    identity=study.hash, name=name, root=results_root() / "attribution" / safe_name(name),
                    definition="a different attribution study", say=say,
                    resume_hint=list(argv))
    client, owned = scheduler_client(args.scheduler, WHERE)

    # 2. run, committing every run to the store
    try:
        say(f"Attribution study: {study.describe()}")
        say(f"Store: {job.store_path}")
        res = job.run(lambda store: attribution(study.scenario, study.strategy, study.reps, seed=study.seed,
                                                workers=workers, executor=client, store=store,
                                                progress=not quiet), total=len(study.tasks()))
    finally:
        if owned:
            client.close()
    if res is None:
        return EXIT_INTERRUPTED

    # 3. the results folder, atomically
    manifest = job.facts(client, workers, argv)
    final, _ = job.write(lambda folder: res.write(folder, manifest))
    print(res.finding())
    print()
    print(res.scores[["method", "mean_abs_error", "rank_correlation", "cut", "cut_is_right"]].to_string(index=False))
    print()
    print(f"Results: {final}")
    return 0
