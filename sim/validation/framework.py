"""The validation framework: runs, checks, planning, execution and the report.

A simulator that strategists bet budgets on has to earn trust the way Rand & Rust (2011, "Agent-based
modeling in marketing: Guidelines for rigor", International Journal of Research in Marketing 28(3),
181-193) ask: verify that the code does what the model says, dock it with known analytic models, check
that it reproduces the stylized facts of the field, and check that it responds to its levers in the
right direction; and check it against published benchmarks, out of sample where calibration never saw
them. Five groups of checks, one module each, one row per check:

``bass`` (:mod:`sim.validation.bass`)
    Docking with the Bass (1969) model on ``scenarios/bass.toml`` (10,000 one-person accounts, nothing
    but external influence p and imitation q): the adoption curve matches the analytic curve for several
    (p, q); ``scipy.optimize.curve_fit`` recovers p and q; the inflection falls at ln(q/p)/(p+q); with
    q = 0 the curve is 1 - exp(-p t) (a Kolmogorov-Smirnov test).
``network`` (:mod:`sim.validation.network`)
    The same Bass model diffusing over the social network (``diffusion.mixing = "network"``) at several
    densities: slower than full mixing, and no slower than the lower bound of Fibich & Gibori (2010).
``stylized`` (:mod:`sim.validation.stylized`)
    Facts from the literature the articles rely on, measured on ``scenarios/default.toml``.
``statics`` (:mod:`sim.validation.statics`)
    Direction of effect of five levers, paired by seed (common random numbers), with a one-sided paired
    t-test from scipy.stats.
``benchmarks`` (:mod:`sim.validation.benchmarks`)
    Every fact of the benchmark pack ``scenarios/benchmarks/b2b_saas.toml``, observed against simulated on
    the default scenario with the calibration's strategy, each with a band; the calibration targets confirm
    the fit, the held-out facts are out of sample.

What the groups share (a run, :class:`RunSpec`; a planned check, :class:`Check`, whose ``evaluate(ctx)`` turns
the runs in :class:`Ctx` into its row; the statistics helpers) is in :mod:`sim.validation.core`, which the group
modules import. This module imports the group modules and holds planning (each group module's ``plan(ctx)``),
execution (every distinct run once, through :func:`sim.executor.run_tasks`: this process, local processes
or a Dask cluster, with the same numbers) and the results folder (``validation.csv``, ``report.html``,
``manifest.json``).

Nothing here is tuned to pass. A fact that fails is reported as failing, with the measured value and our
best reading of the mechanism in ``detail``. Every target carries its source (column ``source``), and
every pass/fail threshold is stated in its group module with a comment.

Python API::

    import sim.validation as v
    df = v.run_checks(fast=True)                 # one row per check
    folder = v.write_validation(df)              # results/validation/<timestamp>/

Columns: check, group, target, source, measured, ci_low, ci_high, passed, detail.
"""

from __future__ import annotations

import base64
import html
import math
import os
import platform
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from sim.config.arguments import check_int_flags
from sim.config.scenario import ScenarioError
from sim.executor import connect, progress_bar, run_batched
from sim.io import TIMESTAMP_FORMAT, package_version, staged_folder, write_manifest
from sim.io import results_root as default_results_root
from sim.validation import bass, benchmarks, network, presets, statics, stylized
from sim.validation.benchmarks import BAND_RULE, ROLE_EXCLUDED, ROLE_HOLDOUT, ROLE_IDENTITY, ROLE_TARGET
from sim.validation.core import (  # noqa: F401  (ALPHA, BASE_STRATEGY and the rest re-exported: their old home)
    ALPHA,
    BASE_STRATEGY,
    BASS_SCENARIO,
    BOOTSTRAP_DRAWS,
    DEFAULT_SCENARIO,
    FAST_SMALL_MARKET,
    LEVEL,
    MIN_DIFFUSION_REPS,
    Check,
    Ctx,
    NotMeasurable,
    RunSpec,
    bootstrap_ci,
    default_specs,
    make_scenario,
    mean_ci,
    paired_test,
)

__all__ = [
    "COLUMNS",
    "GROUPS",
    "VERIFICATION_CHECKS",
    "RunSpec",
    "Ctx",
    "Check",
    "NotMeasurable",
    "check_args",
    "run_checks",
    "planned_checks",
    "render_report",
    "write_validation",
]


COLUMNS = ["check", "group", "target", "source", "measured", "ci_low", "ci_high", "passed", "detail"]
GROUPS = ("bass", "network", "stylized", "statics", "benchmarks", "presets")

FULL_REPS = 20  # replications per configuration in a full run
FAST_REPS = 2  # ... in --fast mode (the smallest number that gives a confidence interval)

# Verification checks: the test-suite asserts these pass (docking and derived analytic bounds).
VERIFICATION_CHECKS = ("bass_curve", "bass_fit_p", "bass_fit_q", "bass_peak", "bass_q0", "network_slower",
                       "network_lower_bound")

TS_COLUMNS = (
    "cum_wins", "n_accounts_in_market", "new_campaign_responses", "new_campaign_responses_shared",
    "new_network_meetings", "new_network_talks", "new_cold_meetings", "new_connects", "new_leads_content",
    "new_leads", "new_meetings", "new_referrals",
)


# ================================================================================================
# Runs: the worker and the executor
# ================================================================================================


def _network_shares(W) -> dict:
    """Shares of buyers who are isolated, in the giant component, or in smaller components of the network ``W``."""
    from scipy.sparse.csgraph import connected_components

    W = W.copy()
    W.eliminate_zeros()
    n = W.shape[0]
    if n == 0:
        return {"isolated": math.nan, "giant": math.nan, "small": math.nan, "mean_degree": math.nan}
    _, lab = connected_components(W, directed=False)
    sizes = np.bincount(lab)
    per = sizes[lab]
    iso = float((per == 1).mean())
    giant = float((lab == int(np.argmax(sizes))).mean()) if sizes.max() > 1 else 0.0
    return {"isolated": iso, "giant": giant, "small": max(0.0, 1.0 - iso - giant),
            "mean_degree": float(W.getnnz() / n)}


def _simulate(specs: Sequence[RunSpec]) -> list[dict]:
    """Run specs that differ only in their seed, side by side (the replication axis), and keep only what the
    checks read (small enough to send between processes)."""
    from sim.engine.model import JourneyModel

    first = specs[0]
    scen = make_scenario(first.scenario, first.override_dict())
    model = JourneyModel(scen, strategy=first.strategy, seeds=[s.seed for s in specs])
    cfg = model.cfg
    nets = [None] * len(specs)
    if cfg.diffusion.mixing == "network":  # each replication's own network (the batch's W is block-diagonal)
        b = model.pop.boff
        nets = [_network_shares(model.W[b[r]:b[r + 1], b[r]:b[r + 1]]) for r in range(len(specs))]
    out = []
    for res, net in zip(model.run_all(), nets):
        ts = res.timeseries
        out.append({
            "summary": {k: float(v) for k, v in res.summary.items()},
            "ts": {c: ts[c].to_numpy(dtype=float) for c in TS_COLUMNS if c in ts.columns},
            "samples": {k: np.asarray(v, dtype=float).ravel() for k, v in dict(res.samples).items()},
            "net": net,
            "n_accounts": int(cfg.market.n_accounts),
            "horizon": int(cfg.scenario.horizon_days),
            "burst_days": list(cfg.channels.campaigns.burst_days),
        })
    return out


def _run_specs(shared: Any, specs: tuple) -> list[dict]:
    """Runs of one scenario and strategy, as a batch of :func:`sim.executor.run_batched` (``shared`` is unused:
    the specs are all the runs need)."""
    try:
        return _simulate(specs)
    except Exception as exc:  # keep the type (a ScenarioError stays one); say which runs failed
        exc.add_note(f"while running {specs[0]} (and {len(specs) - 1} more seeds)" if len(specs) > 1
                     else f"while running {specs[0]}")
        raise


def _execute(specs: Sequence[RunSpec], workers: int, progress: bool, client: Any = None) -> dict[RunSpec, dict]:
    """Run every distinct spec once; seeds are fixed in the parent, so results do not depend on workers or
    on where the runs go (this process, local processes, or the Dask cluster of ``client``)."""
    unique = list(dict.fromkeys(specs))
    # the default scenario runs are the slow ones: start them first for a better load balance
    unique.sort(key=lambda s: (s.scenario != "default", s))
    out: dict[RunSpec, dict] = {}
    bar = progress_bar(len(unique), 0, progress, "validation")

    def record(spec: RunSpec, result: dict) -> None:
        out[spec] = result
        bar.update(1)

    try:
        run_batched(_run_specs, unique, key=lambda sp: (sp.scenario, sp.overrides, sp.strategy), workers=workers,
                    client=client, record=record, label="validation")
    finally:
        bar.close()
    return out


# ================================================================================================
# Public API
# ================================================================================================

def _planners() -> dict[str, Callable[[Ctx], list[Check]]]:
    """Each group's ``plan(ctx)``, by group name."""
    return {"bass": bass.plan, "network": network.plan, "stylized": stylized.plan, "statics": statics.plan,
            "benchmarks": benchmarks.plan, "presets": presets.plan}


def check_args(fast, reps, seed, workers, groups) -> tuple[int, int, int, list[str]]:
    """The validated (reps, seed, workers, groups) of :func:`run_checks` (None: the defaults); a
    :class:`~sim.config.scenario.ScenarioError` names a bad one."""
    where = "validate"
    if reps is None:
        reps = FAST_REPS if fast else FULL_REPS
    if workers is None:
        workers = os.cpu_count() or 1
    check_int_flags(where, {"reps": reps, "seed": seed, "workers": workers}, {"reps": 2, "seed": 0, "workers": 1},
                    reasons={"reps": "a confidence interval needs two replications"}, allow_none=False)
    if groups is None:
        groups = list(GROUPS)
    else:
        groups = [groups] if isinstance(groups, str) else list(groups)
        bad = [g for g in groups if g not in GROUPS]
        if bad or not groups:
            raise ScenarioError(where, "groups", f"unknown group {bad[0] if bad else ''!r}; choose from: {', '.join(GROUPS)}")
    return int(reps), int(seed), int(workers), groups


def _plan(ctx: Ctx, groups: Sequence[str]) -> list[Check]:
    planners = _planners()
    checks: list[Check] = []
    for g in GROUPS:
        if g in groups:
            checks.extend(planners[g](ctx))
    return checks


def planned_checks(fast: bool = False, reps: int | None = None, seed: int = 1, groups=None) -> list[str]:
    """Names of the checks ``run_checks`` would report (without running anything)."""
    reps, seed, _, groups = check_args(fast, reps, seed, 1, groups)
    return [c.name for c in _plan(Ctx(fast, reps, seed), groups)]


def run_checks(fast: bool = False, reps: int | None = None, seed: int = 1, workers: int | None = None,
               groups: Sequence[str] | None = None, progress: bool = False, executor: Any = None) -> pd.DataFrame:
    """Run the validation suite and return one row per check.

    Args:
        fast: a quick version for tests and smoke checks: 2 replications, 200-day Bass runs, and the
            default-scenario checks that do not need rare events on a 1,000-account, 300-day market.
        reps: replications per configuration (default 20, or 2 with ``fast``); at least 2. The Bass and
            network checks use at least 3 (they are cheap, and a t-interval on 2 runs verifies nothing).
        seed: first seed; replication i uses seed + i in every configuration (common random numbers).
        workers: processes (spawn); None = all cores, 1 = in this process. Results do not depend on it.
        groups: subset of ``GROUPS`` ("bass", "network", "stylized", "statics", "benchmarks", "presets"); default all.
        progress: show a progress bar on stderr.
        executor: a ``distributed.Client`` or a Dask scheduler address ``"tcp://host:port"``: run on that
            cluster instead (``workers`` is then ignored); the numbers are the same. Checked before anything
            runs (see :func:`sim.executor.connect`); a connection opened here is closed at the end.

    Returns a DataFrame with columns ``COLUMNS``; ``df.attrs`` holds the settings and curves for charts.
    """
    reps, seed, workers, groups = check_args(fast, reps, seed, workers, groups)
    client, owned = connect(executor, "validate", key="executor") if executor is not None else (None, False)
    address = client.scheduler.address if client is not None else None
    try:
        t0 = time.perf_counter()
        ctx = Ctx(bool(fast), reps, seed)
        checks = _plan(ctx, groups)
        specs = [s for c in checks for s in c.specs]
        ctx.results = _execute(specs, workers, progress, client)
        rows = [c.row(ctx) for c in checks]
    finally:
        if owned:
            client.close()
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["passed"] = df["passed"].astype(bool)
    df.attrs["settings"] = {"fast": bool(fast), "reps": reps, "diffusion_reps": max(reps, MIN_DIFFUSION_REPS),
                            "seed": seed, "workers": workers, "groups": list(groups),
                            "runs": len(ctx.results), "elapsed_seconds": round(time.perf_counter() - t0, 1)}
    if address is not None:
        df.attrs["settings"]["executor"] = f"dask {address}"
    df.attrs["figures"] = ctx.figures
    return df


# ================================================================================================
# Writing the results folder
# ================================================================================================


def _curve_panels(figure, items: list[dict], curves: list[tuple[str, str, dict]], title) -> str:
    """A row of panels (day vs adopted share), one per item, each with the given curves ``(key, label,
    line style)`` and the title ``title(item)``, drawn by :func:`sim.plotting.figure`; returns base64 PNG."""
    with figure(None, "curves", None, "day", "adopted share", size=(4.2 * len(items), 3.2), panels=len(items),
                ncols=len(items), dpi=90) as chart:
        for ax, it in zip(chart.axes, items):
            for key, label, style in curves:
                ax.plot(it["t"], it[key], label=label, **style)
            ax.set_title(title(it))
        chart.ax.legend(fontsize=8)
    return chart.png


def _figures(figs: dict) -> list[tuple[str, str]]:
    """Embedded charts (caption, base64 PNG) of the docking curves; empty if matplotlib is unavailable."""
    out: list[tuple[str, str]] = []
    try:
        from sim.analysis.plotting import figure
    except Exception:  # pragma: no cover - matplotlib missing
        return out
    if figs.get("bass"):
        png = _curve_panels(figure, figs["bass"], [
            ("F", "analytic Bass F(t)", {"color": "black", "lw": 2}),
            ("daily", "daily rule (mean field)", {"color": "grey", "lw": 1, "ls": "--"}),
            ("sim", "simulated (mean of runs)", {"color": "tab:blue", "lw": 1.2}),
        ], lambda it: f"p={it['p']:g}, q={it['q']:g}")
        out.append(("Bass docking: simulated adoption curves against the analytic Bass curve.", png))
    if figs.get("network"):
        png = _curve_panels(figure, figs["network"], [
            ("F", "fully mixed Bass", {"color": "black", "lw": 2}),
            ("sim", "network (mean of runs)", {"color": "tab:blue", "lw": 1.2}),
            ("lower", "lower bound (F&G per component)", {"color": "tab:red", "lw": 1, "ls": "--"}),
        ], lambda it: f"weak ties per buyer = {it['k']:g}")
        out.append(("Diffusion on the network: between the Fibich & Gibori lower bound and full mixing.", png))
    return out


_GROUP_TITLES = {
    "bass": "1. Docking with the Bass model (verification)",
    "network": "2. Diffusion on networks (verification against Fibich & Gibori 2010)",
    "stylized": "3. Stylized facts",
    "statics": "4. Comparative statics (direction of effect, paired by seed)",
    "benchmarks": "5. Benchmark facts (scenarios/benchmarks/b2b_saas.toml): calibration targets and held-out facts",
    "presets": "6. Every preset against the headline benchmark bands (win rate, enterprise cycle, CAC payback, LTV:CAC)",
}


def _unlinked(text: str) -> str:
    """A source as plain text: web addresses without their scheme, so the report links to nothing outside
    itself (validation.csv keeps the sources as written)."""
    return re.sub(r"https?://", "", text)


def _benchmarks_note() -> str:
    return (f"Observed: the pack's value +- sd, or its range. Simulated: the default scenario with the calibration's "
            f"strategy, the mean over replications with its 95% interval (measured, CI). The band: {BAND_RULE}. "
            f"Each row says whether the fact is a {ROLE_TARGET}, or {ROLE_HOLDOUT}: calibration never saw it. "
            f"A failing fact says by how much and in which direction it misses.")


def _presets_note() -> str:
    return ("Each preset that a calibration targets file in scenarios/calibration/ describes, run with that file's "
            f"strategy, against the pack's headline facts. The band: {BAND_RULE}.")


_GROUP_NOTES = {"benchmarks": _benchmarks_note, "presets": _presets_note}


#: The columns of a group's table: (title, alignment, class).
_TABLE_COLUMNS = (("check", "left", ""), ("target", "left", ""), ("measured", "right", ""), ("95% CI", "right", ""),
                  ("result", "center", ""), ("source", "left", "small"), ("detail", "left", "small"))


#: What a check is evidence of, in the order the headline counts them.
EVIDENCE = (
    ("out of sample", "held-out facts (out of sample)"),
    ("model", "model checks (docking with known models, stylized facts, comparative statics)"),
    ("fitted", "calibration targets (they confirm the fit)"),
    ("identity", "identities of targets and inputs (reported, not evidence)"),
)


def evidence(df: pd.DataFrame) -> pd.Series:
    """Each check's kind of evidence (:data:`EVIDENCE`): a benchmark or preset fact by the role its detail opens
    with (held out, a calibration target, an identity), every other group's check a model check."""
    from sim.validation.benchmarks import ROLE_EXCLUDED, ROLE_HOLDOUT, ROLE_IDENTITY, ROLE_TARGET

    def kind(row) -> str:
        if row["group"] not in ("benchmarks", "presets"):
            return "model"
        detail = str(row["detail"]).removeprefix("NOT MEASURABLE: ")
        for label, k in ((ROLE_IDENTITY, "identity"), (ROLE_EXCLUDED, "out of sample"),
                         (ROLE_HOLDOUT, "out of sample"), (ROLE_TARGET, "fitted")):
            if detail.startswith(label):
                return k
        raise ValueError(f"check {row['check']!r} of group {row['group']!r} does not say its role: {detail[:80]!r}")

    return df.apply(kind, axis=1) if len(df) else pd.Series([], dtype=str)


def headline(df: pd.DataFrame) -> str:
    """'k of n checks pass', then the passes by kind of evidence (only the kinds present), so that fitted targets and
    identities, which a fit or an input guarantees, are not read as evidence."""
    kinds = evidence(df)
    parts = []
    for key, label in EVIDENCE:
        sub = df[kinds == key]
        if len(sub):
            parts.append(f"{label}: {int(sub['passed'].sum())} of {len(sub)}")
    return f"{int(df['passed'].sum())} of {len(df)} checks pass" + (f" ({'; '.join(parts)})" if parts else "")


def render_report(df: pd.DataFrame, settings: dict | None = None, figures: dict | None = None,
                  manifest: dict | None = None) -> str:
    """The self-contained HTML report (no external links, images embedded), in the reports' shared page shell
    (:func:`sim.analysis.html.page`); ``manifest``: the run facts of its footer."""
    from sim.analysis.formatting import format_number
    from sim.analysis.html import Cell, figure, page, table

    settings = settings or dict(df.attrs.get("settings", {}))
    figures = figures if figures is not None else df.attrs.get("figures", {})
    esc = html.escape
    parts = [
        f"<p><b>{esc(headline(df))}.</b> Verification and docking with known models, stylized facts and "
        "comparative statics, as Rand &amp; Rust (2011) ask of agent-based models in marketing, and published "
        "benchmark facts, held-out ones included. Calibration targets are marked as such (they confirm the fit); "
        "nothing else was tuned to pass: a failing fact is reported with the measured value and our reading of why, in the detail "
        "column.</p>",
        "<p class='small'>" + esc(", ".join(f"{a}: {b}" for a, b in settings.items() if a != "groups")) + "</p>",
        "<p class='small'>Intervals are 95%: t-intervals over replications, or percentile bootstrap over "
        "replications for pooled ratios and medians. Every configuration uses the same seeds (common random "
        "numbers), so comparisons are paired.</p>",
    ]
    header = [c for c, _, _ in _TABLE_COLUMNS]
    align = [a for _, a, _ in _TABLE_COLUMNS]
    classes = [c for _, _, c in _TABLE_COLUMNS]
    for g in GROUPS:
        sub = df[df["group"] == g]
        if sub.empty:
            continue
        parts.append(f"<h2>{esc(_GROUP_TITLES[g])}</h2>")
        if g in _GROUP_NOTES:
            parts.append(f"<p class='small'>{esc(_GROUP_NOTES[g]())}</p>")
        rows = [[str(r["check"]), str(r["target"]), format_number(r["measured"]),
                 f"[{format_number(r['ci_low'])}, {format_number(r['ci_high'])}]",
                 Cell("pass", "pass") if r["passed"] else Cell("FAIL", "fail"),
                 _unlinked(str(r["source"])), str(r["detail"])] for _, r in sub.iterrows()]
        parts.append(table(header, rows, align=align, classes=classes))
        if g in ("bass", "network"):
            for cap, b64 in _figures({g: figures.get(g)} if figures else {}):
                parts.append(figure(base64.b64decode(b64), cap, alt=cap))
    parts.append("<p class='small'>Generated by sim.validation (python run.py validate).</p>")
    return page("Validation report: buyer-journey-sim", "\n".join(parts), None, manifest,
                heading="Validation report")


def write_validation(df: pd.DataFrame, out_dir: str | Path | None = None, *, results_root: str | Path | None = None,
                     command: str | None = None, started: datetime | None = None) -> Path:
    """Write validation.csv, report.html and manifest.json to ``results/validation/<timestamp>/`` (or
    ``out_dir``), via a temporary folder renamed into place when complete; never overwrites (-2, -3, ...)."""
    started = started or datetime.now()
    if out_dir is None:
        root = Path(results_root) if results_root is not None else default_results_root()
        target, allow_empty = root / "validation" / started.strftime(TIMESTAMP_FORMAT), False
    else:
        target, allow_empty = Path(out_dir).expanduser(), True
    with staged_folder(target, allow_empty) as stage:
        tmp = stage.tmp
        df[COLUMNS].to_csv(tmp / "validation.csv", index=False)
        settings = dict(df.attrs.get("settings", {}))
        manifest = {"settings": settings, "command": command, "started": started.astimezone().isoformat(timespec="seconds"),
                    "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
                    "checks": int(len(df)), "passed": int(df["passed"].sum()),
                    "package_version": package_version(), "python": platform.python_version(),
                    "platform": platform.platform()}
        (tmp / "report.html").write_text(render_report(df, settings, manifest=manifest), encoding="utf-8")
        write_manifest(tmp, manifest)
    return stage.final
