"""Outputs of a calibration: the calibrated scenario TOML, CSV tables, charts and the HTML report.

Charts (``charts/``, drawn with :func:`sim.analysis.plotting.figure`):

- ``targets_overview``: every target and holdout on one scale: the posterior-predictive 90% interval
  and median in units of the figure's sd (range: half-widths from its centre), against the observed band;
- ``targets``: one panel per target and holdout in the metric's own units;
- ``marginals``: the posterior of each free parameter over its prior range, median and 90% interval;
- ``pairs``: the posterior particles for each pair of parameters (point size = weight);
- ``identifiability``: posterior sd / prior sd per parameter (transformed scale) against the 0.5 line;
- ``convergence``: tolerance, acceptance rate and effective sample size per generation.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.formatting import format_number, format_percent
from sim.analysis.html import frame_table, page
from sim.analysis.plotting import figure
from sim.calibration.abc import IDENTIFIED_RATIO
from sim.config.template import scenario_toml as write_toml
from sim.config.template import toml_value

__all__ = ["finding_sentence", "make_charts", "metric_unit", "scenario_toml", "write_outputs"]

CAPTIONS = {
    "targets_overview": "Each target (and holdout) on one scale: the posterior-predictive median (dot) and 90% "
                        "interval (bar) from fresh seeds, in units of the figure's sd (a range: in half-widths from "
                        "its centre); the shaded band is the observed figure (+-1).",
    "targets": "Each target and holdout in its own units: observed (grey: value +- sd, or the range) and the "
               "posterior-predictive median and 90% interval (blue; runs on seeds never used in fitting).",
    "marginals": "Posterior of each free parameter over its prior range: the particles' weight in equal bins of "
                 "the prior's scale (log for a log prior; the dotted line is the flat prior), the median (solid "
                 "line) and the 90% interval (shaded).",
    "pairs": "Posterior particles for each pair of free parameters (point area proportional to weight); "
             "correlations show trade-offs the targets cannot separate.",
    "identifiability": f"Posterior sd / prior sd per parameter in the transformed scale (log for log priors): "
                       f"above {IDENTIFIED_RATIO} the targets barely narrow the prior (not identified).",
    "convergence": "Tolerance (epsilon), acceptance rate and effective sample size per generation.",
}


def metric_unit(metric: str) -> str:
    """The unit of a metric: the registry's (``sim.engine.metrics.metric``); for a name it does not know (a pooled
    figure), one read from the name."""
    from sim.engine.metrics import metric as registered

    try:
        unit = registered(metric).unit
    except KeyError:
        unit = ""
    if unit:
        return unit
    m = metric
    if "days" in m:
        return "days"
    if "months" in m:
        return "months"
    if m.startswith("median_progress") or m.endswith("_rate") or m.endswith("_share") or "share_" in m:
        return "share (0-1)"
    if m.startswith(("cost", "cac", "revenue", "ltv", "total_cost", "acv")) and "ratio" not in m and "to_" not in m:
        return "$"
    if "ratio" in m or "_to_" in m or m.endswith("_per_new_arr") or "premium" in m:
        return "ratio"
    if m.startswith(("customers", "leads", "meetings", "opportunities", "deals_")) or m.endswith("_dials"):
        return "count per run"
    return "value"


# --------------------------------------------------------------------------------------------------------
# The calibrated scenario
# --------------------------------------------------------------------------------------------------------


def scenario_toml(cal: Any) -> str:
    """The calibrated scenario as a TOML file: every parameter with its unit, range and source, the free
    parameters marked with their posterior; the strategies of the starting scenario."""
    spec = cal.spec
    post = {r.parameter: r for r in cal.parameters.itertuples()}
    lines = [
        f"# Calibrated scenario: {spec.scenario.name} with the posterior median of {len(spec.params)} free "
        f"parameter{'s' if len(spec.params) != 1 else ''}",
        f"# Targets file: {spec.where}",
        f"# Fitted to {len(spec.targets)} target{'s' if len(spec.targets) != 1 else ''} of strategy "
        f"{spec.strategy!r}: {', '.join(t.name for t in spec.targets)}",
        f"# ABC-SMC: {len(cal.result.generations)} generation(s), {cal.result.runs_needed} runs; "
        f"{cal.result.stop_reason}.",
        "# Run it like any preset: python run.py run calibrated.toml",
    ]
    for r in post.values():
        lines.append(f"#   {r.parameter} = {toml_value(r.median)}  (90% interval {format_number(r.q05)} to {format_number(r.q95)}; prior "
                     f"{format_number(r.prior_low)} to {format_number(r.prior_high)}{', log scale' if r.scale == 'log' else ''}; "
                     f"{'identified' if r.identified else 'NOT identified by the targets'})")
    notes = {p: (f"CALIBRATED: posterior median, 90% interval {format_number(r.q05)} to {format_number(r.q95)}"
                 f"{'' if r.identified else ' (not identified)'}; ") for p, r in post.items()}
    return write_toml(cal.scenario, lines, notes)


# --------------------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------------------


def _checked(cal: Any) -> pd.DataFrame:
    c = cal.checks
    return c[c["sim_median"].notna()] if "sim_median" in c else c.iloc[0:0]


def make_charts(cal: Any, out_dir: Path) -> dict[Path, str]:
    """Draw every chart into ``out_dir``; returns path -> caption, in report order."""
    out: dict[Path, str] = {}
    for name, fn in (("targets_overview", chart_overview), ("targets", chart_targets),
                     ("marginals", _chart_marginals), ("pairs", _chart_pairs),
                     ("identifiability", _chart_identifiability), ("convergence", _chart_convergence)):
        path = fn(cal, out_dir)
        if path is not None:
            out[Path(path)] = CAPTIONS[name]
    return out


def chart_overview(cal: Any, out_dir: Path):
    checks = _checked(cal)
    if checks.empty:
        return None
    n = len(checks)
    with figure(out_dir, "targets_overview", f"Targets: observed vs {getattr(cal, 'checks_label', 'posterior predictive')} "
                                             f"(90% interval)",
                "simulated minus observed (units of the figure's sd; a range: half-widths from its centre)", None,
                size=(9, 1.2 + 0.45 * n)) as c:
        ax = c.ax
        ax.axvspan(-1, 1, color="0.85", zorder=0, label="observed (+-1)")
        ax.axvline(0, color="0.5", lw=0.8)
        labels = []
        for k, row in enumerate(checks.itertuples()):
            if row.value is not None and isinstance(row.value, float) and math.isfinite(row.value):
                tr = lambda x, r=row: (x - r.value) / r.sd
            else:
                mid, half = (row.low + row.high) / 2, (row.high - row.low) / 2
                tr = lambda x, m=mid, h=half: (x - m) / h
            y = n - 1 - k
            color = "#1f77b4" if row.role == "target" else "#ff7f0e"
            ax.plot([tr(row.sim_q05), tr(row.sim_q95)], [y, y], color=color, lw=3, solid_capstyle="butt")
            ax.plot([tr(row.sim_median)], [y], "o", color=color, ms=6)
            labels.append(f"{row.name} ({row.role})")
        ax.set_yticks(range(n))
        ax.set_yticklabels(list(reversed(labels)))
        ax.set_ylabel("figure")
        from matplotlib.lines import Line2D

        ax.legend(handles=[Line2D([], [], color="#1f77b4", lw=3, label="target: 90% interval, median"),
                           Line2D([], [], color="#ff7f0e", lw=3, label="holdout: 90% interval, median")],
                  loc="best", fontsize=8)
        return c.path


def chart_targets(cal: Any, out_dir: Path):
    checks = _checked(cal)
    if checks.empty:
        return None
    n = len(checks)
    rows = math.ceil(n / 3)
    with figure(out_dir, "targets", f"Observed vs {getattr(cal, 'checks_label', 'posterior predictive')}, per figure",
                size=(11, 2.8 * rows),
                panels=n, ncols=min(n, 3)) as c:
        for ax, row in zip(c.axes, checks.itertuples()):
            if row.value is not None and isinstance(row.value, float) and math.isfinite(row.value):
                ax.errorbar([0], [row.value], yerr=[[row.sd], [row.sd]], fmt="s", color="0.4", capsize=6,
                            label="observed +- sd")
            else:
                ax.fill_between([-0.4, 0.4], row.low, row.high, color="0.85", label="observed range")
            ax.errorbar([1], [row.sim_median], yerr=[[row.sim_median - row.sim_q05], [row.sim_q95 - row.sim_median]],
                        fmt="o", color="#1f77b4", capsize=6, label="simulated 90%")
            ax.set_xlim(-0.7, 1.7)
            ax.set_xticks([0, 1])
            ax.set_xticklabels(["observed", "simulated"])
            ax.set_title(f"{row.name} ({row.role})", fontsize=9)
            ax.set_ylabel(f"{row.metric} ({metric_unit(row.metric)})", fontsize=8)
        c.axes[0].legend(fontsize=7, loc="best")
        return c.path


def _chart_marginals(cal: Any, out_dir: Path):
    spec, post, g = cal.spec, cal.parameters, cal.result.final
    d = len(spec.params)
    with figure(out_dir, "marginals", "Posterior of each free parameter (over its prior range)",
                size=(10, 3.0 * math.ceil(d / 2)) if d > 1 else (8, 4), panels=d) as c:
        for j, (ax, p) in enumerate(zip(c.axes, spec.params)):
            x = np.array([v[j] for v in g.values], dtype=float)
            r = post.iloc[j]
            bins = _bins(p, BINS)
            ax.hist(x, bins=bins, weights=g.weights, color="#1f77b4", alpha=0.7, label="posterior")
            ax.axhline(1.0 / BINS, color="0.3", ls=":", lw=1, label="prior")
            ax.axvspan(r["q05"], r["q95"], color="#1f77b4", alpha=0.12, label="90% interval")
            ax.axvline(r["median"], color="k", lw=1.2, label="median")
            _axis(ax, p, "x")
            ax.set_title(p.path + ("" if r["identified"] else "  (not identified)"), fontsize=9)
            ax.set_xlabel(_label(p, 60), fontsize=8)
            ax.set_ylabel("posterior weight per bin", fontsize=8)
        c.axes[0].legend(fontsize=7, loc="best")
        return c.path


BINS = 20


def _bins(p: Any, n: int) -> np.ndarray:
    """n equal bins on the prior's scale (log for a log prior)."""
    return np.geomspace(p.low, p.high, n + 1) if p.scale == "log" else np.linspace(p.low, p.high, n + 1)


def _label(p: Any, width: int) -> str:
    import textwrap

    return textwrap.fill(f"{p.path.rsplit('.', 1)[-1]} ({p.unit or 'value'})", width)


def _axis(ax: Any, p: Any, which: str) -> None:
    """Limit an axis to the prior range, log-scaled for a log prior, without crowded minor labels."""
    from matplotlib.ticker import NullFormatter

    getattr(ax, f"set_{which}lim")(p.low, p.high)
    if p.scale == "log":
        getattr(ax, f"set_{which}scale")("log")
        getattr(ax, f"{which}axis").set_minor_formatter(NullFormatter())


def _chart_pairs(cal: Any, out_dir: Path):
    spec, g = cal.spec, cal.result.final
    d = len(spec.params)
    if d < 2:
        return None
    vals = np.array(g.values, dtype=float)
    size = 1.0 + 80.0 * g.weights / g.weights.max()
    with figure(out_dir, "pairs", "Posterior particles for each pair of parameters", size=(2.4 * d + 1, 2.4 * d),
                panels=d * d, ncols=d) as c:
        for a in range(d):
            for b in range(d):
                ax = c.axes[a * d + b]
                pa, pb = spec.params[a], spec.params[b]
                if b > a:
                    ax.set_visible(False)
                    continue
                if a == b:
                    ax.hist(vals[:, a], bins=_bins(pa, BINS), weights=g.weights, color="#1f77b4", alpha=0.7)
                    ax.set_ylabel("posterior weight per bin", fontsize=6)
                else:
                    ax.scatter(vals[:, b], vals[:, a], s=size, alpha=0.5, color="#1f77b4")
                    ax.set_ylabel(_label(pa, 28), fontsize=6)
                    _axis(ax, pa, "y")
                _axis(ax, pb, "x")
                ax.set_xlabel(_label(pb, 28), fontsize=6)
                ax.tick_params(which="both", labelsize=6)
        return c.path


def _chart_identifiability(cal: Any, out_dir: Path):
    post = cal.parameters
    n = len(post)
    with figure(out_dir, "identifiability", "Which parameters the targets identify",
                "posterior sd / prior sd (transformed scale)", None, size=(8, 1.2 + 0.5 * n)) as c:
        ax = c.ax
        y = np.arange(n)[::-1]
        colors = ["#2ca02c" if ok else "#d62728" for ok in post["identified"]]
        ax.barh(y, post["sd_ratio"], color=colors)
        ax.axvline(IDENTIFIED_RATIO, color="k", ls="--", lw=1, label=f"{IDENTIFIED_RATIO}: identified below")
        ax.set_yticks(y)
        ax.set_yticklabels(post["parameter"], fontsize=8)
        ax.set_ylabel("free parameter")
        ax.set_xlim(0, max(1.05, float(post["sd_ratio"].max()) * 1.05))
        ax.legend(fontsize=8, loc="lower right")
        return c.path


def _chart_convergence(cal: Any, out_dir: Path):
    gens = cal.generations
    with figure(out_dir, "convergence", "Convergence per generation", size=(12, 3.6), panels=3, ncols=3) as c:
        g = gens[gens["complete"]]
        fin = g[np.isfinite(g["epsilon"].astype(float))]
        c.axes[0].plot(fin["generation"], fin["epsilon"], "o-")
        c.axes[0].set(title="tolerance", xlabel="generation", ylabel="epsilon (distance, sd units)")
        c.axes[1].plot(gens["generation"], 100 * gens["acceptance_rate"], "o-")
        c.axes[1].set(title="acceptance rate", xlabel="generation", ylabel="accepted / proposed (%)")
        c.axes[2].plot(g["generation"], g["ess"], "o-")
        c.axes[2].set(title="effective sample size", xlabel="generation", ylabel="ESS (particles)")
        c.axes[1].set_ylim(0, 105)
        c.axes[2].set_ylim(0, 1.05 * cal.spec.settings.population)
        for ax in c.axes:
            ax.set_xticks(list(gens["generation"]))
        return c.path


# --------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------


def finding_sentence(cal: Any) -> str:
    checks = cal.checks
    tg = checks[checks["role"] == "target"]
    inside = int(tg["inside"].fillna(False).astype(bool).sum()) if "inside" in tg else 0
    post = cal.parameters
    ident = [p for p, ok in zip(post["parameter"], post["identified"]) if ok]
    nid = [p for p, ok in zip(post["parameter"], post["identified"]) if not ok]
    text = (f"{inside} of {len(tg)} targets fall inside the posterior-predictive 90% interval. "
            f"{len(ident)} of {len(post)} free parameters are identified by the targets")
    text += f" ({', '.join(ident)})" if ident else ""
    text += f"; not identified: {', '.join(nid)}." if nid else "."
    return text + f" The search stopped because {cal.result.stop_reason}."


def pooled_note(checks: pd.DataFrame) -> str:
    """A note on the figures estimated from samples pooled over the runs (not a metric per run)."""
    from sim.analysis.pooled import pooled

    rows = [r for r in checks.itertuples() if pooled(r.metric) is not None]
    if not rows:
        return ""
    items = "; ".join(f"{r.name} ({r.metric}): {r.status}" for r in rows)
    return (f'<p class="note">Pooled figures are not a number per run: too few events per run, so one estimate is '
            f'made from the engine samples of all the checking runs together (the estimator validation uses, '
            f'sim/analysis/pooled.py), and its interval is a bootstrap over those runs, not a spread of runs. '
            f'{html.escape(items)}.</p>')


def write_report(path: Path, cal: Any, chart_paths: dict, manifest: dict) -> Path:
    e = html.escape
    spec = cal.spec
    post = cal.parameters.copy()
    post["prior"] = [p.describe() for p in spec.params]
    post["90% interval"] = [f"{format_number(a)} to {format_number(b)}" for a, b in zip(post["q05"], post["q95"])]
    ptab = post[["parameter", "unit", "prior", "median", "90% interval", "sd_ratio", "identified"]].rename(
        columns={"sd_ratio": "posterior sd / prior sd"})
    checks = cal.checks.copy()

    def sim_txt(r) -> str:
        if pd.isna(r.sim_median):
            return r.status
        return f"{format_number(r.sim_median)} ({format_number(r.sim_q05)} to {format_number(r.sim_q95)})"

    checks["simulated median (90% interval)"] = [sim_txt(r) for r in checks.itertuples()]
    checks["inside"] = [("yes" if v else "no") if isinstance(v, (bool, np.bool_)) else "" for v in checks["inside"]]
    cols = ["name", "metric", "observed", "simulated median (90% interval)", "inside", "source"]
    ttab = checks[checks["role"] == "target"][cols]
    htab = checks[checks["role"] == "holdout"][cols]
    gens = cal.generations.copy()
    gens["epsilon"] = [("none (prior)" if not math.isfinite(x) else format_number(x)) for x in gens["epsilon"]]
    nan = cal.nan_counts()
    needed = sum(g.proposals for g in cal.result.generations) + (cal.result.incomplete or {}).get("tried", 0)
    nan_total = int(cal.generations["nan_proposals"].sum()) if len(cal.generations) else 0
    nan_text = (f"{nan_total} of {needed} proposals had a NaN target metric (distance +inf): "
                + ", ".join(f"{k} {v}x" for k, v in nan.items()) + "." if nan_total
                else f"No proposal had a NaN target metric ({needed} proposals).")
    res = cal.result
    budget = (f"{res.runs_needed} runs needed ({res.executed} executed by the last call, {res.reused} already in the "
              f"store, {res.discarded} stored but not needed: in flight when a generation filled); "
              f"{len(res.predictive)} posterior-predictive runs on fresh seeds.")
    body = f"""<p class="question"><b>Question:</b> under which values of {e(', '.join(spec.names))} does the model
reproduce the observed funnel of strategy <b>{e(spec.strategy)}</b> in scenario <b>{e(spec.scenario.name)}</b>?</p>
<p>{e(spec.description.strip())}</p>
<h2>Main finding</h2>
<p class="finding">{e(finding_sentence(cal))}</p>
<p>The calibrated scenario (<code>calibrated.toml</code>: the starting scenario with the posterior median of every
free parameter) runs like any preset: <code>python run.py run calibrated.toml</code>.</p>
<h2>Free parameters</h2>
{frame_table(ptab)}
<p class="note">A parameter is identified when its posterior sd is at most {IDENTIFIED_RATIO} of its prior sd (both in
the transformed scale: log for log priors). A parameter that is not identified is set by the prior, not by the
targets: its median in calibrated.toml is no evidence.</p>
<h2>Targets (fitted)</h2>
{frame_table(ttab)}
<p class="note">Simulated: the posterior-predictive distribution, {len(res.predictive)} runs of particles drawn from
the posterior, each on a fresh seed never used in fitting (one run each; the fit used the mean of
{spec.settings.replications} replication(s) per particle). Inside: the observed value lies in the 90% interval (a
range: the interval overlaps it). Distance: z = (simulated - value) / sd, a range read as its middle +- 2 sd (the
central 95% of the published figures); total sqrt(mean z^2).</p>
<h2>Holdouts (never used in fitting)</h2>
{frame_table(htab) if len(htab) else '<p class="muted">No holdout facts (a benchmark pack adds them).</p>'}
{pooled_note(cal.checks)}
<h2>Convergence</h2>
{frame_table(gens[["generation", "epsilon", "proposals", "runs", "accepted", "acceptance_rate", "ess",
                   "nan_proposals", "complete"]], {"acceptance_rate": format_percent})}
<p class="note">{e(nan_text)} {e(budget)} Stopped because {e(res.stop_reason)}.</p>"""
    doc = page(f"Calibration: {spec.name}", body, {str(p): c for p, c in chart_paths.items()}, manifest)
    path.write_text(doc, encoding="utf-8")
    return path


#: the file each table of a calibration is written to (the attribute name, but ``checks`` -> targets.csv)
TABLE_FILES = {"checks": "targets.csv"}


def write_tables(folder: Path, cal: Any, tables: tuple[str, ...]) -> None:
    """``calibrated.toml`` and the CSV tables ``tables`` (attributes of ``cal``) of a calibration, into ``folder``."""
    (folder / "calibrated.toml").write_text(cal.to_toml(), encoding="utf-8")
    for name in tables:
        getattr(cal, name).to_csv(folder / TABLE_FILES.get(name, f"{name}.csv"), index=False)


def write_outputs(folder: Path, cal: Any, manifest: dict) -> None:
    """Write calibrated.toml, the CSV tables, charts/*.png, report.html and manifest.json into ``folder``."""
    folder = Path(folder)
    write_tables(folder, cal, ("posterior", "parameters", "checks", "generations", "predictive", "runs"))
    from sim.io import jsonable, package_version, versions, write_manifest

    spec = cal.spec
    full = jsonable({
        "calibration_name": spec.name,
        "targets_file": spec.where,
        "targets_path": str(Path(spec.path).resolve()) if spec.path is not None else None,
        "scenario_file": str(spec.scenario_file) if spec.scenario_file is not None else None,
        "method": "abc",
        "definition_hash": spec.hash,
        "scenario_name": spec.scenario.name,
        "scenario_ref": spec.scenario_ref,
        "strategy": spec.strategy,
        "benchmark_pack": str(spec.pack) if spec.pack else None,
        "targets": {t.name: {"metric": t.metric, "observed": t.observed(), "source": t.source} for t in spec.targets},
        "holdouts": {t.name: {"metric": t.metric, "observed": t.observed()} for t in spec.holdouts},
        "params": {p.path: p.describe() for p in spec.params},
        "overrides": spec.overrides,
        "settings": vars(spec.settings),
        "replications": spec.settings.replications,
        "seed": spec.settings.seed,
        "generations_done": len(cal.result.generations),
        "stop_reason": cal.result.stop_reason,
        "runs_needed": cal.result.runs_needed,
        "runs_executed_now": cal.result.executed,
        "runs_from_store": cal.result.reused,
        "posterior_medians": cal.medians,
        "elapsed_seconds": cal.elapsed,
        "package": "buyer-journey-sim",
        "package_version": package_version(),
        "versions": versions(),
        **manifest,
    })
    write_manifest(folder, full)
    charts = make_charts(cal, folder / "charts")
    write_report(folder / "report.html", cal, charts, full)
