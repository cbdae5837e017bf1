"""The ``calibrate`` command of run.py: fit free parameters to an observed funnel, write a results folder.

    python run.py calibrate scenarios/calibration/quick.toml [--workers W] [--scheduler tcp://HOST:PORT]
                            [--resume] [--store PATH] [--out DIR] [--quiet]
    python run.py calibrate --apply results/calibration/quick/<timestamp> [--to SCENARIO.toml]

Every input problem raises ``sim.ScenarioError`` before anything is created (run.py prints it as one
``error: ...`` line and exits with 2).
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.cli.common import (
    EXIT_INTERRUPTED,
    check_int_flags,
    scheduler_client,
    stderr_say,
    where_runs,
    wrap,
)
from sim.cli.jobs import StoredJob, add_job_arguments
from sim.config.scenario import ScenarioError
from sim.io import results_root, safe_name

WHERE = "run.py calibrate"

FORMAT_HELP = """\
targets file format (TOML; paths are relative to the targets file):

  name = "my_market"              # results/calibration/<name>/ (default: the file name)
  description = "..."             # one paragraph for the report
  scenario = "default"            # a preset name, or a path ending in .toml (required)
  method = "abc"                  # "abc" (default: ABC-SMC, a posterior) or "optuna" (below)
  strategy = "blended"            # the strategy whose funnel the figures describe (required)
  seed = 1                        # every proposal and run seed derives from it (default 1)
  replications = 2                # runs per particle; the metric is their mean (default 2)

  [benchmarks]                    # optional: the role = "target" facts of a benchmark pack are
  pack = "b2b_saas"               #   fitted, role = "holdout" facts only checked afterwards
  exclude = ["payback"]           #   pack targets to leave out (validation: out of sample)
  not_applicable = ["payback_smb_focus"]  # facts about another market: never used

  [overrides]                     # fixed values applied to the scenario first
  market.n_accounts = 2000

  [targets.won]                   # an observed figure: value and sd ...
  metric = "customers_won"        #   a summary metric (default: the table's name)
  value = 40
  sd = 8
  source = "our CRM, FY2025"      #   required
  [targets.cycle]                 # ... or a range low..high
  metric = "median_cycle_days"
  low = 30
  high = 60
  source = "our CRM, FY2025"

  [params]                        # free parameters with uniform priors (inside the schema's range)
  need.fade_rate = { low = 0.001, high = 0.02, scale = "log" }
  competitors.choice_sensitivity = { low = 2, high = 20 }

  [abc]                           # the search and its budget (defaults shown)
  population = 150                # particles per generation
  generations = 5                 # at most (the first samples the prior)
  min_epsilon = 0.0               # stop once the tolerance is at or below this
  max_runs = 2000                 # all runs, predictive included: stop before exceeding it
  quantile = 0.5                  # next tolerance: this weighted quantile of the distances
  predictive_draws = 100          # posterior-predictive runs on fresh seeds

  method = "optuna"               # top level: a fast point estimate instead of a posterior
  [optuna]                        # (with method = "optuna", instead of [abc]; defaults shown)
  trials = 100                    # Optuna TPE trials minimising the same distance; every
                                  #   trial on the same `replications` seeds
  batch = 10                      # trials asked (and told, in trial order) at a time: the
                                  #   result does not depend on the workers
  check_runs = 20                 # runs at the best point on fresh seeds: the checks' intervals
  sampler = "tpe"                 # "tpe" (Optuna TPE: global) or "cmaes" (CMA-ES: a local
                                  #   search; batch is its population size)
  start = "centre"                # "scenario": start at the scenario's values (CMA-ES's mean,
                                  #   TPE's first trial); they must lie inside the priors
  sigma = 0.1667                  # CMA-ES's initial step, in units of each prior's width
  Writes parameters.csv (the best point: column estimate), trials.csv, calibrated.toml,
  targets.csv, report.html; no posterior.csv: no interval, no identifiability.

Distance per target: z = (simulated - value) / sd; a range is read as its middle +- 2 sd (the
central 95% of the published figures: sd = a quarter of its width); a particle's distance is
sqrt(mean z^2); a NaN metric
makes it +inf.
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "calibrate",
        help="fit free parameters of a scenario to observed funnel figures (ABC-SMC, or an Optuna point estimate) "
             "from a targets file; --apply writes a finished calibration into its scenario file",
        description=wrap(
            "Fit the free parameters of TARGETS.toml to its observed funnel figures by approximate Bayesian "
            "computation (ABC-SMC: Beaumont et al. 2009, adaptive tolerance), commit every run to an SQLite "
            "store at once, then write results/calibration/<name>/<YYYYmmdd-HHMMSS>/ with calibrated.toml (the "
            "starting scenario with the posterior median of each free parameter: run it with 'python run.py run "
            "calibrated.toml'), posterior.csv (the final population: one row per particle, parameter columns, "
            "weight), parameters.csv, targets.csv (observed vs posterior predictive on fresh seeds), "
            "generations.csv, predictive.csv, runs.csv, charts/*.png, report.html, manifest.json and the store "
            "calibration.sqlite. Proposals and seeds are fixed in this process, so the posterior is the same "
            "serially, on local processes and on a Dask cluster. With method = \"optuna\" in the targets file it "
            "finds a point estimate instead (Optuna TPE minimising the same distance, batches asked and told in "
            "trial order: also the same with any workers, and resumable): parameters.csv holds the best point, and "
            "there is no posterior."
        ),
        epilog=(
            "examples:\n"
            "  python run.py calibrate scenarios/calibration/quick.toml --workers 2\n"
            "  python run.py calibrate scenarios/calibration/quick.toml --resume\n"
            "  python run.py calibrate scenarios/calibration/default_b2b.toml --scheduler tcp://10.0.0.5:8786\n"
            "  python run.py calibrate --apply results/calibration/default_b2b/<timestamp>   # into scenarios/default.toml\n\n"
            + FORMAT_HELP + "\n"
            + wrap(
                "While a calibration runs its store lives in a hidden results/calibration/<name>/.<timestamp>.partial/ "
                "folder; the finished folder is renamed into place. If it is stopped (Ctrl-C, kill -9, a crash) "
                "only the runs in flight are lost: --resume finds the unfinished store of this targets file, "
                "regenerates the proposals from the seed, skips the stored runs and continues exactly; the result "
                "equals an uninterrupted run. A store made by a different calibration (scenario, strategy, targets, "
                "priors, population, quantile, replications or seed), or by another version of this package, is "
                "refused; the budget (generations, max_runs, min_epsilon) may change, so --store PATH of a finished "
                "calibration with a larger budget continues it. "
                "Bad input (unknown metric or parameter, a range with low > high, a prior outside the parameter's "
                "allowed range, a missing value or sd, a strategy not in the scenario) is one 'error: ...' line "
                "with exit code 2 before anything runs or is written; an interrupt exits with 130 and keeps the "
                "runs done."
            )
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets_file", metavar="TARGETS.toml", nargs="?", default=None,
                   help="targets file (see the format below); not with --apply")
    p.add_argument("--apply", default=None, metavar="RESULTS_DIR",
                   help="instead of calibrating: write the estimates of the calibration results folder RESULTS_DIR "
                        "(posterior medians, or an Optuna point estimate) into its starting scenario file in place "
                        "(atomically; every other line and comment kept byte for byte, each edited line's Source "
                        "replaced by the targets file and the interval), then exit")
    p.add_argument("--to", default=None, metavar="SCENARIO.toml",
                   help="with --apply: the scenario file to write (default: the calibration's starting scenario "
                        "file; a preset installed in site-packages is refused)")
    add_job_arguments(p, noun="calibration", unfinished="calibration of this targets file",
                      results="results/calibration/<name>")
    p.set_defaults(handler=cmd_calibrate)
    return p


# --------------------------------------------------------------------------------------------------------


def cmd_apply(args: argparse.Namespace) -> int:
    """``calibrate --apply RESULTS_DIR [--to SCENARIO.toml]``: write the estimates into a scenario file."""
    from sim.calibration.apply import apply_calibration

    if args.apply is None:
        raise ScenarioError(WHERE, "--to", "only goes with --apply RESULTS_DIR (the scenario file to write the "
                                           "calibration's estimates into)")
    if args.targets_file is not None:
        raise ScenarioError(WHERE, "--apply", f"takes a results folder, not a targets file too (got "
                                              f"{args.targets_file!r}); calibrate first, then apply its folder")
    applied = apply_calibration(args.apply, args.to)
    for c in applied.changes:
        old = "added" if c["old"] is None else f"was {c['old']}"
        print(f"{c['path']} = {c['new']}  (line {c['line']}, {old})")
    print(f"Wrote {len(applied.changes)} estimate{'s' if len(applied.changes) != 1 else ''} into {applied.file}")
    if applied.overrides:
        print(f"Not written: the calibration's fixed [overrides] ({', '.join(sorted(applied.overrides))}); they "
              f"were the conditions of the fit, not estimates")
    return 0


def cmd_calibrate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sim.calibration.fit import calibrate
    from sim.calibration.store import CalibrationStore
    from sim.calibration.targets import load_targets

    quiet = args.quiet
    say = stderr_say(quiet)
    if args.apply is not None or args.to is not None:
        return cmd_apply(args)
    if args.targets_file is None:
        raise ScenarioError(WHERE, None, "give a targets file (python run.py calibrate TARGETS.toml), or --apply "
                                         "RESULTS_DIR to write a finished calibration into its scenario file")

    # 1. everything that can be checked before anything is created
    check_int_flags(WHERE, args, {"workers": 1})
    targets_path = Path(args.targets_file).expanduser()
    spec = load_targets(targets_path)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    job = StoredJob(args, where=WHERE, command="calibrate", job_file=targets_path, store=CalibrationStore,
                    identity=spec.hash, name=spec.name, root=results_root() / "calibration" / safe_name(spec.name),
                    definition="a different calibration", say=say)

    client, owned = scheduler_client(args.scheduler, WHERE)

    # 2. run, committing every run to the store
    try:
        say(f"Calibration {spec.name!r}: {spec.describe()}")
        say(f"Running on {where_runs(args.scheduler, client, workers)}; store: {job.store_path}")
        cal = job.run(lambda store: calibrate(spec, workers=workers, executor=client, store=store,
                                              progress=not quiet, say=say))
    finally:
        if owned:
            client.close()
    if cal is None:
        return EXIT_INTERRUPTED
    res = cal.result
    say(f"{res.executed} runs done in {cal.elapsed:.1f} s ({res.reused} already in the store); writing results ...")

    # 3. write the results folder atomically (the partial folder, or a temporary one, renamed into place)
    manifest = job.facts(client, workers, argv)
    final, _ = job.write(lambda folder: cal.write(folder, manifest))
    print(cal.finding())
    print()
    cols = ["parameter", "median", "q05", "q95", "sd_ratio", "identified", "estimate"]
    print(cal.parameters[[c for c in cols if c in cal.parameters.columns]].to_string(index=False))
    print()
    print(f"Results: {final}")
    print(f"Run the calibrated scenario: python run.py run {shlex.quote(str(final / 'calibrated.toml'))}")
    return 0
