"""The ``calibrate`` command of run.py: fit free parameters to an observed funnel, write a results folder.

    python run.py calibrate scenarios/calibration/quick.toml [--workers W] [--scheduler tcp://HOST:PORT]
                            [--resume] [--store PATH] [--out DIR] [--quiet]

Every input problem raises ``sim.ScenarioError`` before anything is created (run.py prints it as one
``error: ...`` line and exits with 2).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from sim.cli.common import (
    add_job_arguments,
    check_int_flags,
    check_writable_folder,
    stored_runs,
    unfinished_folders,
    wrap,
)
from sim.config.scenario import ScenarioError
from sim.io import (
    TIMESTAMP_FORMAT,
    make_parents,
    move_into_place,
    remove_created,
    results_root,
    safe_name,
)

WHERE = "run.py calibrate"
EXIT_INTERRUPTED = 130
_PARTIAL = ".partial"

FORMAT_HELP = """\
targets file format (TOML; paths are relative to the targets file):

  name = "my_market"              # results/calibration/<name>/ (default: the file name)
  description = "..."             # one paragraph for the report
  scenario = "default"            # a preset name, or a path ending in .toml (required)
  strategy = "blended"            # the strategy whose funnel the figures describe (required)
  seed = 1                        # every proposal and run seed derives from it (default 1)
  replications = 2                # runs per particle; the metric is their mean (default 2)

  [benchmarks]                    # optional: the role = "target" facts of a benchmark pack are
  pack = "b2b_saas"               #   fitted, role = "holdout" facts only checked afterwards
  exclude = ["payback"]           #   pack targets to leave out

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

Distance per target: z = (simulated - value) / sd; for a range 0 inside and (distance to the
nearest edge) / (half-width) outside; a particle's distance is sqrt(mean z^2); a NaN metric
makes it +inf.
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "calibrate",
        help="fit free parameters of a scenario to observed funnel figures (ABC-SMC) from a targets file",
        description=wrap(
            "Fit the free parameters of TARGETS.toml to its observed funnel figures by approximate Bayesian "
            "computation (ABC-SMC: Beaumont et al. 2009, adaptive tolerance), commit every run to an SQLite "
            "store at once, then write results/calibration/<name>/<YYYYmmdd-HHMMSS>/ with calibrated.toml (the "
            "starting scenario with the posterior median of each free parameter: run it with 'python run.py run "
            "calibrated.toml'), posterior.csv (the final population: one row per particle, parameter columns, "
            "weight), parameters.csv, targets.csv (observed vs posterior predictive on fresh seeds), "
            "generations.csv, predictive.csv, runs.csv, charts/*.png, report.html, manifest.json and the store "
            "calibration.sqlite. Proposals and seeds are fixed in this process, so the posterior is the same "
            "serially, on local processes and on a Dask cluster."
        ),
        epilog=(
            "examples:\n"
            "  python run.py calibrate scenarios/calibration/quick.toml --workers 2\n"
            "  python run.py calibrate scenarios/calibration/quick.toml --resume\n"
            "  python run.py calibrate scenarios/calibration/default_b2b.toml --scheduler tcp://10.0.0.5:8786\n\n"
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
    p.add_argument("targets_file", metavar="TARGETS.toml", help="targets file (see the format below)")
    add_job_arguments(p, noun="calibration", folder="results/calibration", handler=cmd_calibrate)
    return p


# --------------------------------------------------------------------------------------------------------


def _writable_ancestor(path: Path, key: str) -> None:
    check_writable_folder(WHERE, path, key)


def _partials(parent: Path, only: Path | None = None) -> list[Path]:
    """Unfinished calibration folders (hidden ``.<name>.partial``) holding a store, newest first."""
    from sim.calibration.store import STORE_NAME

    return unfinished_folders(parent, STORE_NAME, only, _PARTIAL)


def _hash_of(path: Path) -> str | None:
    from sim.calibration.store import peek

    try:
        return (peek(path) or {}).get("hash")
    except ScenarioError:
        return None


def _count(store_path: Path) -> int:
    from sim.calibration.store import peek

    return stored_runs(peek, store_path)


def cmd_calibrate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sim.calibration.fit import calibrate
    from sim.calibration.store import STORE_NAME, check_version, peek
    from sim.calibration.targets import load_targets
    from sim.executor import connect

    quiet = args.quiet
    say = (lambda *a: None) if quiet else (lambda msg: print(msg, file=sys.stderr))

    # 1. everything that can be checked before anything is created
    check_int_flags(WHERE, args, {"workers": 1})
    targets_path = Path(args.targets_file).expanduser()
    spec = load_targets(targets_path)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)

    root = results_root() / "calibration" / safe_name(spec.name)
    started = datetime.now().astimezone()
    out = Path(args.out).expanduser().absolute() if args.out else None
    store_arg = Path(args.store).expanduser().absolute() if args.store else None
    if out is not None:
        _writable_ancestor(out.parent, "--out")
    else:
        _writable_ancestor(root, "results folder")
    if store_arg is not None:
        info = peek(store_arg)
        if info is not None and info["hash"] != spec.hash:
            raise ScenarioError(str(store_arg), None,
                                f"was made by a different calibration (store {info['hash'][:12]}, {targets_path} "
                                f"{spec.hash[:12]}); use another --store path, or delete it to start over")
        check_version(info, store_arg)
        if args.resume and info is None:
            raise ScenarioError(WHERE, "--resume", f"nothing to resume: store {store_arg} does not exist yet (run "
                                                   f"without --resume to start it)")
        if info is None:
            _writable_ancestor(store_arg.parent, "--store")
            if not store_arg.parent.is_dir():
                raise ScenarioError(WHERE, "--store", f"folder {store_arg.parent} does not exist")

    partial: Path | None = None
    resumed_partial = False
    if store_arg is None:
        if args.resume:
            only = out.parent / f".{out.name}{_PARTIAL}" if out is not None else None
            cands = _partials(out.parent if out is not None else root, only)
            matching = [d for d in cands if _hash_of(d / STORE_NAME) == spec.hash]
            if not matching:
                if cands:
                    raise ScenarioError(WHERE, "--resume", f"the unfinished calibration in {cands[0]} was made by a "
                                                           f"different calibration than {targets_path}; run without "
                                                           f"--resume to start afresh")
                raise ScenarioError(WHERE, "--resume", f"nothing to resume: no unfinished calibration {spec.name!r} "
                                                       f"in {only or root}; run without --resume to start it")
            partial, resumed_partial = matching[0], True
            check_version(peek(partial / STORE_NAME), partial / STORE_NAME)
        else:
            base = out if out is not None else root / started.strftime(TIMESTAMP_FORMAT)
            partial = base.parent / f".{base.name}{_PARTIAL}"
            n = 2
            while partial.exists():
                partial = base.parent / f".{base.name}-{n}{_PARTIAL}"
                n += 1
            same = [d for d in _partials(base.parent) if _hash_of(d / STORE_NAME) == spec.hash]
            if same:
                say(f"note: an unfinished run of this calibration is in {same[0]}; use --resume to continue it")
        target = out if out is not None else partial.parent / partial.name[1:-len(_PARTIAL)]
        store_path = partial / STORE_NAME
    else:
        target = out if out is not None else root / started.strftime(TIMESTAMP_FORMAT)
        store_path = store_arg

    client, owned = (None, False)
    if args.scheduler is not None:
        client, owned = connect(args.scheduler, WHERE, key="--scheduler")

    # 2. run, committing every run to the store
    created: list[Path] = []
    try:
        if partial is not None and not resumed_partial:
            created = [*make_parents(partial.parent), partial]
            partial.mkdir()
        where_runs = (f"the Dask cluster at {args.scheduler}" if client is not None
                      else f"{workers} local worker process(es)" if workers > 1 else "this process")
        say(f"Calibration {spec.name!r}: {spec.describe()}")
        say(f"Running on {where_runs}; store: {store_path}")
        try:
            cal = calibrate(spec, workers=workers, executor=client, store=store_path, progress=not quiet, say=say)
        except KeyboardInterrupt:
            done = _count(store_path)
            if done == 0 and created:
                shutil.rmtree(partial, ignore_errors=True)
                remove_created(created[:-1])
                print("error: interrupted before any run finished; nothing was kept", file=sys.stderr)
            else:
                hint = ["python", "run.py", "calibrate", str(args.targets_file), "--resume"]
                if args.out:
                    hint += ["--out", str(args.out)]
                if store_arg is not None:
                    hint += ["--store", str(store_arg)]
                print(f"error: interrupted; {done} runs are saved in {store_path}; continue with: "
                      f"{' '.join(shlex.quote(h) for h in hint)}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BaseException:
            if created and _count(store_path) == 0:
                shutil.rmtree(partial, ignore_errors=True)
                remove_created(created[:-1])
            raise
    finally:
        if owned:
            client.close()
    finished = datetime.now().astimezone()
    res = cal.result
    say(f"{res.executed} runs done in {cal.elapsed:.1f} s ({res.reused} already in the store); writing results ...")

    # 3. write the results folder atomically (the partial folder, or a temporary one, renamed into place)
    command = " ".join(shlex.quote(a) for a in ["python", "run.py", *argv])
    manifest = {
        "executor": f"dask {args.scheduler}" if client is not None else f"local processes ({workers} workers)",
        "store": STORE_NAME if store_arg is None else str(store_arg),
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "platform": platform.platform(),
    }
    if partial is not None:
        tmp = partial
    else:
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        n = 2
        while tmp.exists():
            tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{n}"
            n += 1
        created = [*make_parents(tmp.parent), tmp]
        tmp.mkdir()
    try:
        cal.write(tmp, manifest)
        final = move_into_place(tmp, target, allow_empty_target=out is not None)
    except BaseException:
        if partial is not None:  # keep the store for --resume; drop what was written
            for child in partial.iterdir():
                if not child.name.startswith(STORE_NAME):
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            remove_created(created[:-1])
        raise
    print(cal.finding())
    print()
    print(cal.parameters[["parameter", "median", "q05", "q95", "sd_ratio", "identified"]].to_string(index=False))
    print()
    print(f"Results: {final}")
    print(f"Run the calibrated scenario: python run.py run {shlex.quote(str(final / 'calibrated.toml'))}")
    return 0
