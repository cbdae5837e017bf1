"""The ``sweep`` command of run.py: run a sweep file, store every run, write a results folder.

    python run.py sweep scenarios/sweeps/content_x_dialing.toml [--workers W]
                        [--scheduler tcp://HOST:PORT] [--resume] [--store PATH] [--out DIR] [--quiet]

run.py imports this module and calls :func:`add_parser`. Every input problem raises ``sim.ScenarioError``
before anything is created (run.py prints it as one ``error: ...`` line and exits with 2).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Sequence

from sim.cli.common import (EXIT_INTERRUPTED, check_int_flags, scheduler_client, stderr_say,
                            where_runs, wrap)
from sim.cli.jobs import StoredJob, add_job_arguments
from sim.io import jsonable, package_version, results_root, safe_name, versions

WHERE = "run.py sweep"

FORMAT_HELP = """\
sweep file format (TOML; paths are relative to the sweep file):

  name = "content_x_dialing"      # results/sweeps/<name>/ (default: the file name)
  description = "..."             # one paragraph for the report
  scenario = "../default.toml"    # the scenario to sweep (required)
  design = "grid"                 # grid | random | lhs | sobol | morris (default grid)
  n = 64                          # random/lhs: points; sobol: base sample, a power of two
                                  #   (n x (parameters + 2) points); morris: trajectories
                                  #   (n x (parameters + 1) points); not used by grid
  reps = 3                        # seeds per point and strategy (default 1)
  seed = 1                        # seeds seed..seed+reps-1, the same at every point; also
                                  #   seeds the design's sampler (default 1)
  strategies = ["blended"]        # default: every strategy of the scenario
  metrics = ["customers_won", "cac"]   # charted and summarised (all are stored)

  [overrides]                     # fixed values, e.g. a smaller market for a quick sweep
  market.n_accounts = 500

  [params]                        # what to sweep: parameter path = spec
  channels.content.budget = [20_000, 60_000, 110_000]        # a list: grid levels or choices
  market.readiness_mean = { low = 0.4, high = 0.7 }           # a range (uniform)
  channels.campaigns.budget = { low = 1e4, high = 3e5, dist = "loguniform" }
  sales.split.dialing = { values = [0.0, 0.2, 0.4], balance = "meetings" }

A balanced parameter gives its change to a donor (a sibling name such as "meetings", or a
full parameter path) so that totals stay as in the scenario: each strategy's sales.split still
sums to 1 (meetings = that strategy's meetings + its dialing - the new dialing). A path
"strategies.NAME.<param>" changes one strategy only (then run only that strategy); a plain
channels/sales/policy path changes every strategy. grid needs lists; sobol and morris need
ranges; random and lhs take both. Integer parameters with a range take whole numbers.
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sweep",
        help="run a parameter sweep (grid, random, Latin hypercube, Sobol or Morris design) from a sweep file",
        description=wrap(
            "Run the scenario of SWEEP.toml at every point of a design over its [params], for each strategy and "
            "replication (seed), commit every finished run to an SQLite store at once, then write "
            "results/sweeps/<name>/<YYYYmmdd-HHMMSS>/ with sweep.csv (one row per run: point, strategy, rep, "
            "seed, the parameter values and every summary metric), sensitivity.csv, sobol.csv (Sobol design) or "
            "morris.csv (Morris design), charts/*.png (heatmap, tornado, Sobol indices, metric against each "
            "parameter), report.html, manifest.json and the store sweep.sqlite. Seeds are fixed before anything "
            "runs, so the numbers are the same serially, on local processes and on a Dask cluster."
        ),
        epilog=(
            "examples:\n"
            "  python run.py sweep scenarios/sweeps/content_x_dialing.toml --workers 2\n"
            "  python run.py sweep scenarios/sweeps/sobol_market.toml --resume\n"
            "  python run.py sweep scenarios/sweeps/sobol_market.toml --scheduler tcp://10.0.0.5:8786\n\n"
            + FORMAT_HELP + "\n"
            + wrap(
                "While a sweep runs its store lives in a hidden results/sweeps/<name>/.<timestamp>.partial/ "
                "folder; the finished folder is renamed into place. If the sweep is stopped (Ctrl-C, kill, a "
                "crash) only the runs in flight are lost: --resume finds the unfinished store of this sweep "
                "file and runs only the missing runs. A store made by a different sweep definition, or by "
                "another version of this package, is refused. "
                "Bad input (unknown parameter, empty or inverted range, a design that does not fit the "
                "parameters, an unreachable scheduler) is one 'error: ...' line with exit code 2 before "
                "anything runs or is written; an interrupt exits with 130 and keeps the runs done."
            )
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sweep_file", metavar="SWEEP.toml", help="sweep file (see the format below)")
    add_job_arguments(p, noun="sweep", unfinished="run of this sweep", results="results/sweeps/<name>")
    p.set_defaults(handler=cmd_sweep)
    return p


# --------------------------------------------------------------------------------------------------------


def _results_root() -> Path:
    return results_root() / "sweeps"


def cmd_sweep(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sim.sweeps.design import load_sweep_file
    from sim.sweeps.store import SweepStore

    quiet = args.quiet
    say = stderr_say(quiet)

    # 1. everything that can be checked before anything is created
    check_int_flags(WHERE, args, {"workers": 1})
    sweep_path = Path(args.sweep_file).expanduser()
    sw = load_sweep_file(sweep_path)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    job = StoredJob(args, where=WHERE, command="sweep", job_file=sweep_path, store=SweepStore, identity=sw.hash,
                    name=sw.name, root=_results_root() / safe_name(sw.name), definition="a different sweep definition",
                    say=say)

    client, owned = scheduler_client(args.scheduler, WHERE)

    # 2. run, committing every run to the store
    stats: dict = {}
    try:
        say(f"Sweep {sw.name!r}: {sw.describe()}")
        say(f"Running on {where_runs(args.scheduler, client, min(workers, sw.n_runs))}; store: {job.store_path}")
        frame = job.run(lambda store: sw.run(workers=workers, store=store, executor=client, progress=not quiet,
                                             stats=stats), total=sw.n_runs)
    finally:
        if owned:
            client.close()
    if frame is None:
        return EXIT_INTERRUPTED
    say(f"{stats.get('executed', 0)} runs done in {stats.get('elapsed_seconds', float('nan')):.1f} s"
        f" ({stats.get('reused', 0)} already in the store); writing results ...")

    # 3. write the results folder atomically (the partial folder, or a temporary one, renamed into place)
    manifest = jsonable({
        "sweep_name": sw.name,
        "sweep_file": str(sweep_path.absolute()),
        "description": sw.description,
        "definition_hash": sw.hash,
        "design": sw.design.design,
        "n": sw.n,
        "points": sw.n_points,
        "strategies": sw.strategies,
        "reps": sw.reps,
        "seeds": sw.seeds,
        "runs": sw.n_runs,
        "runs_executed_now": stats.get("executed", 0),
        "runs_from_store": stats.get("reused", 0),
        "params": {p: sw.dists[p].to_json() for p in sw.names},
        "balance": dict(sw.balance_donors),
        "overrides": sw.overrides,
        "metrics": sw.metrics,
        "scenario_name": sw.scenario.name,
        "scenario_path": str(sw.scenario.path) if sw.scenario.path is not None else None,
        "scenario": sw.scenario.to_dict(),
        "elapsed_seconds": stats.get("elapsed_seconds"),
        "package": "buyer-journey-sim",
        "package_version": package_version(),
        "versions": {**versions(), **_extra_versions()},
        **job.facts(client, workers, argv),
    })
    from sim.sweeps.report import finding_sentences, write_outputs

    final, tables = job.write(lambda folder: write_outputs(folder, sw, frame, manifest))
    for line in finding_sentences(sw, tables["swings"], tables["best"], tables["sobol"], tables["morris"]):
        print(line)
    print()
    print(f"Results: {final}")
    return 0


def _extra_versions() -> dict[str, str]:
    out = {}
    for mod in ("SALib", "distributed"):
        try:
            from importlib.metadata import version

            out[mod] = version(mod)
        except Exception:
            pass
    return out
