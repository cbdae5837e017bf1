"""Charts for comparing go-to-market strategies.

All charts are drawn with matplotlib's Agg backend and written as PNG files, each by
:func:`sim.plotting.figure` (title, axis labels with units, layout, save, close).
Inputs are the tidy frames described in docs/CONTRACT.md (summary, timeseries,
samples). Every chart function can be called on its own and returns the path of
the PNG it wrote; :func:`make_all` draws the full set in reading order.

Missing data never raises: a chart (or a panel) without data shows a "no data"
note instead.
"""

from __future__ import annotations

import math
import pathlib
from contextlib import contextmanager
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from sim.analysis.formatting import format_money
from sim.analysis.plotting import figure, money_axis, percent_formatter
from sim.analysis.stats import mean_ci, metric_ci, t_quantile

__all__ = [
    "CAPTIONS",
    "STAGE_COLORS",
    "strategy_colors",
    "make_all",
    "stages_over_time",
    "cumulative_customers",
    "funnel",
    "funnel_frame",
    "FUNNEL_STEPS",
    "cac_conversion",
    "cost_vs_customers",
    "deals_by_source",
    "wins_by_segment",
    "progress_at_first_contact",
    "cycle_length",
    "rep_utilisation",
    "no_data",
]

CONF = 0.95
CEB_REFERENCE = 0.57

# Fixed qualitative palette (tab10), assigned to strategies in the given order.
_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]

# Journey stages: (column, label, colour). Order = stacking order, bottom up.
#: The stages of buyers in market, drawn by :func:`stages_over_time` (dormant buyers, most of the market, would
#: flatten them into a thin band; customers have their own chart).
IN_MARKET = ("n_exploring", "n_engaged")
STAGES = [
    ("n_dormant", "dormant", "#c7c7c7"),
    ("n_exploring", "exploring", "#9ecae1"),
    ("n_engaged", "engaged", "#fdae6b"),
    ("n_customer", "customer", "#31a354"),
    ("n_lost", "lost", "#de2d26"),
]
STAGE_COLORS = {label: colour for _, label, colour in STAGES}

# Captions used by the HTML report, keyed by file stem.
CAPTIONS = {
    "stages_over_time": "Buyers in market (exploring on their own, or engaged with our sales) over time, mean across "
                        "seeds, one panel per strategy. Dormant buyers (no active need: most of the market), customers "
                        "and lost buyers are left out; customers won are in the next chart.",
    "cumulative_customers": "Customers won so far, mean across seeds with a 95% t-interval band.",
    "funnel": "The sales funnel per strategy over the horizon: leads handed to sales, first sales meetings "
              "(buyers), opportunities (conversations that qualified) and customers won (accounts); bars are means, "
              "whiskers 95% intervals across seeds. Each step's % is its count over the previous step's, counted "
              "in the same period (not a tracked cohort: some wins come from opportunities opened before the "
              "horizon or from buyers who bought without a sales conversation); the grey bar behind is the "
              "previous step, so the gap is where the funnel leaks.",
    "cac_conversion": "Customer acquisition cost and conversion rate; bars are means, whiskers 95% intervals across "
                      "seeds (for CAC on the log scale, so never below zero). The conversion rate is wins per buying "
                      "decision ended in the run (wins + purchases from competitors + no decision), not per lead: "
                      "the funnel chart has leads to wins.",
    "cost_vs_customers": "Total cost against customers won: small dots are single replications, large "
                         "markers strategy means; the line joins the strategies no other strategy beats "
                         "on both cost and customers (efficient frontier). When the strategies' costs differ by "
                         "little, the cost axis is zoomed in and its label says by how much they differ.",
    "deals_by_source": "Won deals by the channel that sourced them (mean across seeds).",
    "wins_by_segment": "Customers won per market segment (smb, mid, enterprise), mean across seeds with 95% "
                       "intervals.",
    "progress_at_first_contact": "How far buyers were through their decision when they first spoke to "
                                 "sales, with the CEB (2012) 57% figure for reference.",
    "cycle_length": "Sales-cycle length of won deals, pooled across seeds.",
    "rep_utilisation": "Share of available sales-rep hours in use, mean across seeds with a 95% band.",
}


# --------------------------------------------------------------------------- helpers

def strategy_colors(strategies: Sequence[str]) -> dict[str, str]:
    """Map each strategy to a fixed palette colour, in the given order (cycles after 10)."""
    out: dict[str, str] = {}
    for s in strategies:
        if s not in out:
            out[s] = _PALETTE[len(out) % len(_PALETTE)]
    return out


def _strategies_from(frames: Iterable[pd.DataFrame | None], strategies: Sequence[str] | None) -> list[str]:
    if strategies is not None:
        return list(dict.fromkeys(strategies))
    seen: dict[str, None] = {}
    for df in frames:
        if df is not None and not df.empty and "strategy" in df.columns:
            for s in pd.unique(df["strategy"]):
                seen.setdefault(s, None)
    return list(seen)


def no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=11, color="#666666")


def _empty(df: pd.DataFrame | None, cols: Sequence[str] = ()) -> bool:
    return df is None or df.empty or any(c not in df.columns for c in cols)


def t_interval(values) -> tuple[float, float, float, int]:
    """Mean and 95% t-interval of the finite values (:func:`sim.analysis.stats.mean_ci`); (mean, lo, hi, n).
    lo/hi NaN if n < 2."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    m, lo, hi = mean_ci(v, CONF)
    return (m, lo, hi, int(v.size))


def _daily_band(ts: pd.DataFrame, col: str, scale: float = 1.0) -> pd.DataFrame:
    """Per day: mean and 95% t-interval across seeds of `col` (rows already one strategy)."""
    g = ts.groupby("day")[col]
    out = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "n": g.count()}).sort_index()
    n = out["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tcrit = np.where(n >= 2, t_quantile(0.5 + CONF / 2, np.maximum(n - 1, 1)), np.nan)
        half = tcrit * out["sd"].to_numpy(dtype=float) / np.sqrt(n)
    out["lo"] = (out["mean"] - half) * scale
    out["hi"] = (out["mean"] + half) * scale
    out["mean"] = out["mean"] * scale
    return out


def _as_percent(v: pd.Series) -> pd.Series:
    """Rates are stored as fractions (0..1); show them as %."""
    v = pd.to_numeric(v, errors="coerce")
    finite = v[np.isfinite(v)]
    if not finite.empty and finite.abs().max() > 1.0 + 1e-9:
        return v  # already in percent
    return v * 100.0


def _pretty(label: str) -> str:
    return str(label).replace("_", " ")


def _strategy_legend(ax, **kw) -> None:
    """The legend outside the axes, right of the plot, so it never covers data (``kw`` overrides)."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        opts = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "frameon": False,
                "fontsize": 9}
        ax.legend(**{**opts, **kw})


# --------------------------------------------------------------------------- charts

@contextmanager
def _chart(frames, strategies, out_dir, name: str, title: str, xlabel=None, ylabel=None, **kw):
    """:func:`sim.plotting.figure` for a chart of strategies: yields ``(chart, strategies, colours)``, the
    strategies to draw (given, or found in ``frames``) and their fixed colours."""
    strategies = _strategies_from(frames, strategies)
    with figure(out_dir, name, title, xlabel, ylabel, **kw) as chart:
        yield chart, strategies, strategy_colors(strategies)


def stages_over_time(timeseries: pd.DataFrame, out_dir, strategies=None) -> pathlib.Path:
    """Small multiples: stacked areas of the mean buyers in market (exploring, engaged), one panel per strategy.
    Dormant buyers, customers and lost buyers are left out: the dormant are most of the market and would squash
    the buyers who are deciding into a thin band."""
    strategies = _strategies_from([timeseries], strategies)
    stage_cols = [s for s in STAGES if s[0] in IN_MARKET and not _empty(timeseries, [s[0]])]
    if _empty(timeseries, ["strategy", "day"]) or not strategies or not stage_cols:
        with figure(out_dir, "stages_over_time", "Buyers in market by stage over time", "day",
                    "buyers in market (people)") as chart:
            no_data(chart.ax)
        return chart.path

    n = len(strategies)
    ncols = 1 if n == 1 else (2 if n <= 4 else 3)
    nrows = math.ceil(n / ncols)
    title = ("Buyers in market over time, by stage (mean across seeds)\n"
             "dormant buyers, customers and lost buyers not shown")
    with figure(out_dir, "stages_over_time", title,
                size=(8, max(3.2, 2.6 * nrows + 1.0)), panels=n, ncols=ncols, sharex=True, sharey=True,
                layout={"rect": (0, 0.05, 1, 1)}) as chart:
        for i, (ax, strat) in enumerate(zip(chart.axes, strategies)):
            ax.set_title(_pretty(strat), fontsize=10)
            if i % ncols == 0:
                ax.set_ylabel("buyers in market (people)")
            if i + ncols >= n:  # bottom-most panel of its column gets the x label
                ax.set_xlabel("day")
                ax.xaxis.set_tick_params(labelbottom=True)
            sub = timeseries[timeseries["strategy"] == strat]
            if sub.empty:
                no_data(ax)
                continue
            means = sub.groupby("day")[[c for c, _, _ in stage_cols]].mean().sort_index().fillna(0.0)
            ax.stackplot(means.index.to_numpy(),
                         *[means[c].to_numpy() for c, _, _ in stage_cols],
                         labels=[lab for _, lab, _ in stage_cols],
                         colors=[col for _, _, col in stage_cols], alpha=0.9, linewidth=0)
            ax.margins(x=0)
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", alpha=0.3)
        from matplotlib.patches import Rectangle

        handles = [Rectangle((0, 0), 1, 1, color=col) for _, _, col in stage_cols]
        chart.fig.legend(handles, [lab for _, lab, _ in stage_cols], loc="lower center",
                         ncol=len(stage_cols), frameon=False, fontsize=9, bbox_to_anchor=(0.5, -0.01))
    return chart.path


def _line_with_band(ts, col, strategies, colors, ax, scale=1.0):
    drawn = 0
    for strat in strategies:
        sub = ts[ts["strategy"] == strat]
        if sub.empty or sub[col].notna().sum() == 0:
            continue
        b = _daily_band(sub, col, scale)
        x = b.index.to_numpy()
        ax.plot(x, b["mean"], color=colors[strat], lw=2, label=_pretty(strat))
        if b["lo"].notna().any():
            ax.fill_between(x, b["lo"], b["hi"], color=colors[strat], alpha=0.18, linewidth=0)
        drawn += 1
    return drawn


def cumulative_customers(timeseries: pd.DataFrame, out_dir, strategies=None) -> pathlib.Path:
    """Mean cumulative customers won per day, with a 95% t-interval band across seeds."""
    with _chart([timeseries], strategies, out_dir, "cumulative_customers",
                "Customers won over time (mean, 95% band across seeds)", "day",
                "customers won (accounts)") as (chart, strategies, colors):
        ax = chart.ax
        if _empty(timeseries, ["strategy", "day", "cum_wins"]) or \
                not _line_with_band(timeseries, "cum_wins", strategies, colors, ax):
            no_data(ax)
        else:
            ax.set_ylim(bottom=0)
            ax.margins(x=0)
            ax.grid(alpha=0.3)
            _strategy_legend(ax)
    return chart.path


#: The funnel's steps: (summary column, label, unit).
FUNNEL_STEPS = [
    ("leads", "leads", "buyers"),
    ("meetings", "meetings", "buyers"),
    ("opportunities", "opportunities", "accounts"),
    ("customers_won", "wins", "accounts"),
]


def funnel_frame(summary: pd.DataFrame, strategies=None) -> pd.DataFrame:
    """The funnel per strategy: one row per strategy and step (``FUNNEL_STEPS``) with ``mean``, ``ci_low``,
    ``ci_high`` (95% t-interval across seeds) and ``share_of_previous`` (the step's mean over the previous step's;
    NaN for the first step or an empty previous step)."""
    strategies = _strategies_from([summary], strategies)
    rows = []
    for strat in strategies:
        prev = math.nan
        for i, (col, label, unit) in enumerate(FUNNEL_STEPS):
            vals = pd.Series(dtype=float)
            if not _empty(summary, ["strategy", col]):
                vals = pd.to_numeric(summary.loc[summary["strategy"] == strat, col], errors="coerce")
            m, lo, hi, n = t_interval(vals)
            share = m / prev if i > 0 and np.isfinite(prev) and prev > 0 and np.isfinite(m) else math.nan
            rows.append({"strategy": strat, "step": label, "column": col, "unit": unit, "n": n, "mean": m,
                         "ci_low": lo, "ci_high": hi, "share_of_previous": share})
            prev = m
    return pd.DataFrame(rows, columns=["strategy", "step", "column", "unit", "n", "mean", "ci_low", "ci_high",
                                       "share_of_previous"])


def funnel(summary: pd.DataFrame, out_dir, strategies=None) -> pathlib.Path:
    """One funnel per strategy (small multiples on a shared axis): leads, meetings, opportunities and wins, mean
    bars with 95% whiskers, each step labelled with its share of the previous step and drawn over a grey bar of
    the previous step, so the gap shows where buyers leak out."""
    frame = funnel_frame(summary, strategies)
    strategies = list(dict.fromkeys(frame["strategy"])) if not frame.empty else []
    xlabel = "count over the horizon (leads, meetings: buyers; opportunities, wins: accounts)"
    if frame.empty or not np.isfinite(frame["mean"].to_numpy(dtype=float)).any():
        with figure(out_dir, "funnel", "Sales funnel per strategy", xlabel, "funnel step") as chart:
            no_data(chart.ax)
        return chart.path
    colors = strategy_colors(strategies)
    n = len(strategies)
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    labels = [label for _, label, _ in FUNNEL_STEPS]
    with figure(out_dir, "funnel", "Sales funnel per strategy: leads to wins (mean, 95% CI across seeds)",
                size=(10, max(3.0, 2.5 * nrows + 0.8)), panels=n, ncols=ncols, sharex=True) as chart:
        top = float(np.nanmax(frame[["mean", "ci_high"]].to_numpy(dtype=float)))
        for i, (ax, strat) in enumerate(zip(chart.axes, strategies)):
            sub = frame[frame["strategy"] == strat].reset_index(drop=True)
            ax.set_title(_pretty(strat), fontsize=10)
            y = np.arange(len(sub))[::-1]  # leads at the top
            means = sub["mean"].to_numpy(dtype=float)
            prev = np.r_[np.nan, means[:-1]]
            ax.barh(y, np.nan_to_num(prev), color="#e0e0e0", height=0.7, zorder=1)
            err = None
            if sub["ci_low"].notna().any():
                err = np.vstack([np.nan_to_num(means - sub["ci_low"].to_numpy(dtype=float)),
                                 np.nan_to_num(sub["ci_high"].to_numpy(dtype=float) - means)])
            ax.barh(y, np.nan_to_num(means), color=colors[strat], height=0.7, zorder=2, xerr=err,
                    error_kw={"elinewidth": 1.0, "ecolor": "#333333", "capsize": 3, "zorder": 3})
            for j, row in sub.iterrows():
                if not np.isfinite(row["mean"]):
                    ax.text(0, y[j], " n/a", va="center", fontsize=8, color="#666666")
                    continue
                end = max(row["mean"], row["ci_high"] if np.isfinite(row["ci_high"]) else row["mean"],
                          prev[j] if np.isfinite(prev[j]) else 0.0)
                txt = f"{row['mean']:,.0f}" if row["mean"] >= 100 else f"{row['mean']:,.1f}"
                if np.isfinite(row["share_of_previous"]):
                    txt += f"  ({row['share_of_previous']:.0%} of {labels[j - 1]})"
                ax.text(end + top * 0.015, y[j], txt, va="center", ha="left", fontsize=8)
            ax.set_yticks(y)
            ax.set_yticklabels(labels)
            ax.set_xlim(0, top * 1.55)  # room for the labels right of the bars
            ax.grid(axis="x", alpha=0.3)
            if i + ncols >= n:
                ax.set_xlabel(xlabel if ncols == 1 else "")
                ax.xaxis.set_tick_params(labelbottom=True)
        if ncols > 1:
            chart.fig.supxlabel(xlabel, fontsize=10)
    return chart.path


def wins_by_segment(samples: pd.DataFrame, out_dir, strategies=None, summary: pd.DataFrame | None = None
                    ) -> pathlib.Path:
    """Grouped bars: customers won per segment (named smb, mid, enterprise, not the engine's codes 0/1/2) per
    strategy, mean across seeds with 95% intervals. A seed with no win in a segment counts as zero (the seeds
    are those of ``summary``, else those in ``samples``)."""
    from sim.engine.state import SEGMENTS

    with _chart([samples, summary], strategies, out_dir, "wins_by_segment",
                "Customers won by segment (mean, 95% CI across seeds)", "market segment",
                "customers won (accounts)") as (chart, strategies, colors):
        ax = chart.ax
        if _empty(samples, ["strategy", "seed", "kind", "value"]) or not strategies:
            no_data(ax)
            return chart.path
        won = samples[samples["kind"] == "won_segment"]
        x = np.arange(len(SEGMENTS))
        width = 0.8 / max(len(strategies), 1)
        drawn = 0
        for i, strat in enumerate(strategies):
            src = summary if not _empty(summary, ["strategy", "seed"]) else samples
            seeds = pd.unique(src.loc[src["strategy"] == strat, "seed"])
            if len(seeds) == 0:
                continue
            codes = won.loc[won["strategy"] == strat, ["seed", "value"]]
            counts = (pd.crosstab(codes["seed"], codes["value"].astype(int))
                      .reindex(index=seeds, columns=range(len(SEGMENTS)), fill_value=0))
            stats = [t_interval(counts[k].to_numpy(dtype=float)) for k in range(len(SEGMENTS))]
            m = np.array([st[0] for st in stats])
            lo = np.array([st[1] for st in stats])
            hi = np.array([st[2] for st in stats])
            err = np.vstack([m - lo, hi - m]) if np.isfinite(lo).all() else None
            ax.bar(x - 0.4 + width * (i + 0.5), m, width=width, color=colors[strat], label=_pretty(strat),
                   yerr=err, capsize=3, error_kw={"elinewidth": 1.0, "ecolor": "#333333"})
            drawn += 1
        if not drawn:
            no_data(ax)
            return chart.path
        ax.set_xticks(x)
        ax.set_xticklabels(list(SEGMENTS))
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
        _strategy_legend(ax)
    return chart.path


def _bars_with_ci(ax, summary, col, strategies, colors, scale_fn=None, fmt=None):
    xs = np.arange(len(strategies))
    any_data = False
    missing = []
    for i, strat in enumerate(strategies):
        vals = summary.loc[summary["strategy"] == strat, col] if not _empty(summary, ["strategy", col]) \
            else pd.Series(dtype=float)
        vals = pd.to_numeric(vals, errors="coerce")
        if scale_fn is not None:
            vals = scale_fn(vals)
        n = int(np.isfinite(vals.to_numpy(dtype=float)).sum())
        m, lo, hi = metric_ci(col, vals)  # CAC: an interval that stays above zero
        if n == 0:
            missing.append(i)
            continue
        any_data = True
        yerr = None
        if np.isfinite(lo):
            yerr = [[m - lo], [hi - m]]
        ax.bar(i, m, color=colors[strat], width=0.65, yerr=yerr, capsize=5,
               error_kw={"elinewidth": 1.2, "ecolor": "#333333"})
        label = fmt(m) if fmt else f"{m:,.1f}"
        top = hi if np.isfinite(hi) else m
        ax.annotate(label, (i, max(top, m)), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs)
    ax.set_xticklabels([_pretty(s) for s in strategies], rotation=20 if len(strategies) > 3 else 0,
                       ha="right" if len(strategies) > 3 else "center")
    ax.grid(axis="y", alpha=0.3)
    if not any_data:
        no_data(ax, "no data\n(undefined for every strategy)")
        ax.set_yticks([])
        ax.set_xlim(-0.5, len(strategies) - 0.5)
    else:
        for i in missing:
            ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=9, color="#666666")
        ax.set_ylim(bottom=0)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * 1.08)  # room for value labels
    return any_data


def cac_conversion(summary: pd.DataFrame, out_dir, strategies=None) -> pathlib.Path:
    """Two panels: CAC and conversion rate per strategy, mean bars with 95% CI whiskers."""
    with _chart([summary], strategies, out_dir, "cac_conversion",
                "Cost per customer and conversion (mean, 95% CI across seeds)", panels=2,
                ncols=2) as (chart, strategies, colors):
        ax1, ax2 = chart.axes
        ax1.set(title="Customer acquisition cost\n(total cost / customers won)", ylabel="CAC ($ per customer)")
        ax2.set(title="Conversion: wins per buying decision ended\n(not per lead)",
                ylabel="wins / buying decisions ended (%)")
        if not strategies:
            no_data(ax1)
            no_data(ax2)
        else:
            _bars_with_ci(ax1, summary, "cac", strategies, colors, fmt=format_money)
            money_axis(ax1.yaxis)
            _bars_with_ci(ax2, summary, "conversion_rate", strategies, colors,
                          scale_fn=_as_percent, fmt=lambda v: f"{v:.1f}%")
            ax2.yaxis.set_major_formatter(percent_formatter())
    return chart.path


def _pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Strategies not dominated (no other has cost <= and customers >=, one strictly). Sorted by cost."""
    front = []
    for s, (c, w) in points.items():
        dominated = any(
            (c2 <= c and w2 >= w and (c2 < c or w2 > w))
            for s2, (c2, w2) in points.items() if s2 != s
        )
        if not dominated:
            front.append(s)
    return sorted(front, key=lambda s: (points[s][0], points[s][1]))


#: Below this relative spread of the strategies' mean costs the cost axis (zoomed to the data) says how small the
#: spread is, so that a few per cent do not look like a large difference.
SMALL_COST_SPREAD = 0.10


def _cost_axis_label(mean_costs: Sequence[float]) -> str:
    """``total cost ($)``, and when the strategies' mean costs differ by less than ``SMALL_COST_SPREAD`` of the
    lowest, a second line with the range and the spread in per cent."""
    c = np.asarray([x for x in mean_costs if np.isfinite(x)], dtype=float)
    if c.size < 2 or c.min() <= 0:
        return "total cost ($)"
    spread = (c.max() - c.min()) / c.min()
    if spread >= SMALL_COST_SPREAD:
        return "total cost ($)"
    step = (c.max() - c.min()) / 10 or None  # enough decimals to tell the two ends apart
    return (f"total cost ($); axis zoomed in: the strategies' mean costs differ by only {spread:.1%}\n"
            f"({format_money(c.min(), step=step)} to {format_money(c.max(), step=step)}; the axis does not start at $0)")


def cost_vs_customers(summary: pd.DataFrame, out_dir, strategies=None) -> pathlib.Path:
    """Total cost vs customers won per replication, strategy means and the efficient frontier."""
    with _chart([summary], strategies, out_dir, "cost_vs_customers",
                "Cost vs customers won, with the efficient frontier", "total cost ($)",
                "customers won (accounts)") as (chart, strategies, colors):
        ax = chart.ax
        if _empty(summary, ["strategy", "total_cost", "customers_won"]):
            no_data(ax)
            return chart.path
        means: dict[str, tuple[float, float]] = {}
        for strat in strategies:
            sub = summary[summary["strategy"] == strat]
            x = pd.to_numeric(sub["total_cost"], errors="coerce")
            y = pd.to_numeric(sub["customers_won"], errors="coerce")
            ok = np.isfinite(x) & np.isfinite(y)
            if not ok.any():
                continue
            ax.scatter(x[ok], y[ok], s=18, color=colors[strat], alpha=0.35, linewidths=0)
            mx, my = float(x[ok].mean()), float(y[ok].mean())
            means[strat] = (mx, my)
            ax.scatter([mx], [my], s=130, color=colors[strat], edgecolor="black", linewidth=1.0,
                       zorder=4, label=f"{_pretty(strat)} (mean)")
        if not means:
            no_data(ax)
            return chart.path
        front = _pareto_front(means)
        if len(front) > 1:
            ax.plot([means[s][0] for s in front], [means[s][1] for s in front], color="black", lw=1.3,
                    ls="--", zorder=3, label="efficient frontier (means)")
        elif len(front) == 1 and len(means) > 1:
            ax.text(0.99, 0.01, f"frontier: {_pretty(front[0])} dominates on both cost and customers",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="#333333")
        ax.scatter([], [], s=18, color="#777777", alpha=0.5, label="one replication")
        money_axis(ax.xaxis)
        ax.margins(0.08)
        ax.set_ylim(bottom=0)
        xlabel = _cost_axis_label([c for c, _ in means.values()])
        ax.set_xlabel(xlabel)
        if "zoomed" in xlabel:
            ax.set_title("Cost vs customers won, with the efficient frontier\n"
                         "(costs nearly equal: note the zoomed cost axis)")
        ax.grid(alpha=0.3)
        _strategy_legend(ax)
    return chart.path


def deals_by_source(summary: pd.DataFrame, out_dir, strategies=None) -> pathlib.Path:
    """Grouped bars: mean won deals per source channel (x) for each strategy (colour)."""
    with _chart([summary], strategies, out_dir, "deals_by_source",
                "Won deals by source channel (mean across seeds)", "source channel",
                "won deals (accounts)") as (chart, strategies, colors):
        ax = chart.ax
        cols = [] if summary is None else [c for c in summary.columns if str(c).startswith("deals_")]
        if _empty(summary, ["strategy"]) or not cols or not strategies:
            no_data(ax)
            return chart.path
        num = summary[cols].apply(pd.to_numeric, errors="coerce")
        means = num.groupby(summary["strategy"]).mean().reindex(strategies)
        # drop channels that never produced a deal for any strategy (keeps the chart legible)
        keep = [c for c in cols if np.nan_to_num(means[c].to_numpy(dtype=float)).any()]
        if not keep:
            no_data(ax, "no won deals")
            return chart.path
        x = np.arange(len(keep))
        width = 0.8 / max(len(strategies), 1)
        for i, strat in enumerate(strategies):
            vals = np.nan_to_num(means.loc[strat, keep].to_numpy(dtype=float))
            ax.bar(x - 0.4 + width * (i + 0.5), vals, width=width, color=colors[strat], label=_pretty(strat))
        ax.set_xticks(x)
        ax.set_xticklabels([_pretty(c[len("deals_"):]) for c in keep],
                           rotation=20 if len(keep) > 5 else 0, ha="right" if len(keep) > 5 else "center")
        ax.grid(axis="y", alpha=0.3)
        dropped = [_pretty(c[len("deals_"):]) for c in cols if c not in keep]
        if dropped:
            ax.set_xlabel(f"source channel (not shown, no won deals: {', '.join(dropped)})")
        _strategy_legend(ax)
    return chart.path


def _sample_histograms(samples, kind, strategies, colors, ax, bins, fmt_median):
    """Overlaid step histograms (each normalised to % of that strategy's values). Returns missing list."""
    missing = []
    for strat in strategies:
        v = np.array([], dtype=float)
        if not _empty(samples, ["strategy", "kind", "value"]):
            sel = samples[(samples["strategy"] == strat) & (samples["kind"] == kind)]
            v = pd.to_numeric(sel["value"], errors="coerce").to_numpy(dtype=float)
            v = v[np.isfinite(v)]
        if v.size == 0:
            missing.append(strat)
            continue
        w = np.full(v.size, 100.0 / v.size)
        ax.hist(v, bins=bins, weights=w, histtype="step", lw=1.8, color=colors[strat],
                label=f"{_pretty(strat)} (n={v.size:,}, median {fmt_median(np.median(v))})")
    return missing


def _note_missing(ax, missing):
    if missing:
        ax.text(0.01, 0.99, "no data: " + ", ".join(_pretty(s) for s in missing), transform=ax.transAxes,
                ha="left", va="top", fontsize=8, color="#666666")


def progress_at_first_contact(samples: pd.DataFrame, out_dir, strategies=None) -> pathlib.Path:
    """Distribution of decision progress at the first sales conversation, with the CEB 57% line."""
    with _chart([samples], strategies, out_dir, "progress_at_first_contact",
                "How far buyers were through their decision at first sales contact",
                "share of the buying decision made at first sales conversation (0-1)",
                "buyers (% of the strategy's first conversations)") as (chart, strategies, colors):
        ax = chart.ax
        bins = np.linspace(0.0, 1.0, 21)
        missing = _sample_histograms(samples, "progress_at_first_contact", strategies, colors, ax, bins,
                                     lambda m: f"{m:.2f}")
        ax.axvline(CEB_REFERENCE, color="black", ls="--", lw=1.2)
        ax.text(CEB_REFERENCE + 0.01, 0.98, "CEB 2012: 57%", transform=ax.get_xaxis_transform(),
                ha="left", va="top", fontsize=8)
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
        if len(missing) == len(strategies):
            no_data(ax)
        else:
            _note_missing(ax, missing)
            ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.15)
        if len(missing) < len(strategies):
            _strategy_legend(ax, fontsize=8)
    return chart.path


def cycle_length(samples: pd.DataFrame, out_dir, strategies=None) -> pathlib.Path:
    """Distribution of sales-cycle length of won deals, per strategy."""
    with _chart([samples], strategies, out_dir, "cycle_length",
                "Sales-cycle length of won deals (pooled across seeds)", "sales-cycle length (days)",
                "won deals (% of the strategy's deals)") as (chart, strategies, colors):
        ax = chart.ax
        vals = np.array([], dtype=float)
        if not _empty(samples, ["kind", "value"]):
            vals = pd.to_numeric(samples.loc[samples["kind"] == "cycle_days", "value"],
                                 errors="coerce").to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
        if vals.size == 0 or not strategies:
            no_data(ax)
            return chart.path
        hi = float(np.percentile(vals, 99.5)) if vals.size > 20 else float(vals.max())
        lo = 0.0
        hi = max(hi, lo + 1.0)
        bins = np.linspace(lo, hi, 26)
        missing = _sample_histograms(samples, "cycle_days", strategies, colors, ax, bins,
                                     lambda m: f"{m:.0f} d")
        _note_missing(ax, missing)
        ax.set_xlim(lo, hi)
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.1)
        ax.grid(alpha=0.3)
        _strategy_legend(ax)
    return chart.path


def rep_utilisation(timeseries: pd.DataFrame, out_dir, strategies=None) -> pathlib.Path:
    """Mean rep utilisation per day (as %), with a 95% band across seeds."""
    with _chart([timeseries], strategies, out_dir, "rep_utilisation",
                "Sales-rep utilisation over time (mean, 95% band across seeds)", "day",
                "rep utilisation (% of available hours)") as (chart, strategies, colors):
        ax = chart.ax
        ax.set_ylim(0, 100)
        ax.yaxis.set_major_formatter(percent_formatter())
        if _empty(timeseries, ["strategy", "day", "rep_utilisation"]) or \
                not _line_with_band(timeseries, "rep_utilisation", strategies, colors, ax, scale=100.0):
            no_data(ax)
        else:
            ax.margins(x=0)
            ax.grid(alpha=0.3)
            ax.set_ylim(0, 100)
            _strategy_legend(ax)
    return chart.path


# --------------------------------------------------------------------------- all

#: What the charts read of the two long frames: :func:`make_all` sends worker processes only these timeseries
#: columns and these sample kinds (a chart reading more must be listed here; tests compare the PNGs).
TIMESERIES_COLUMNS = ("strategy", "seed", "day", *IN_MARKET, "cum_wins", "rep_utilisation")
SAMPLE_KINDS = ("won_segment", "progress_at_first_contact", "cycle_days")


def warm_up() -> None:
    """Import matplotlib and draw a throwaway chart in memory (fonts, renderer): what a worker process that will
    draw charts can do while it waits for them (:class:`sim.executor.LocalPool`'s ``prepare``)."""
    with figure(None, "warm-up", "warm-up", "x (units)", "y (units)") as chart:
        chart.ax.plot([0, 1], [0, 1], label="line")
        _strategy_legend(chart.ax)


def _draw(job: tuple) -> pathlib.Path:
    """One chart of :func:`make_all`: ``(function name, positional arguments, keyword arguments)``."""
    name, args, kwargs = job
    return globals()[name](*args, **kwargs)


def _what_charts_read(timeseries: pd.DataFrame, samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if timeseries is not None:
        timeseries = timeseries[[c for c in timeseries.columns if c in TIMESERIES_COLUMNS]]
    if not _empty(samples, ["kind"]):
        kept = samples[samples["kind"].isin(SAMPLE_KINDS)]
        # a frame with rows but none of these kinds stays one (a chart tells "no rows" from "none of its kind")
        samples = kept if not kept.empty else samples.iloc[:1]
    return timeseries, samples


def make_all(summary: pd.DataFrame, timeseries: pd.DataFrame, samples: pd.DataFrame, out_dir,
             strategies=None, map=None) -> list[pathlib.Path]:
    """Draw every chart into out_dir (created) and return the PNG paths in reading order.

    ``map``: ``map(fn, jobs)`` returning a list, e.g. :meth:`sim.executor.LocalPool.map`, draws the charts side by
    side in worker processes (sent only what the charts read: :data:`TIMESERIES_COLUMNS`,
    :data:`SAMPLE_KINDS`); the same PNGs as drawing them here."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    strategies = _strategies_from([summary, timeseries, samples], strategies)
    if map is not None:
        timeseries, samples = _what_charts_read(timeseries, samples)
    jobs = [
        ("stages_over_time", (timeseries, out, strategies), {}),
        ("cumulative_customers", (timeseries, out, strategies), {}),
        ("funnel", (summary, out, strategies), {}),
        ("cac_conversion", (summary, out, strategies), {}),
        ("cost_vs_customers", (summary, out, strategies), {}),
        ("deals_by_source", (summary, out, strategies), {}),
        ("wins_by_segment", (samples, out, strategies), {"summary": summary}),
        ("progress_at_first_contact", (samples, out, strategies), {}),
        ("cycle_length", (samples, out, strategies), {}),
        ("rep_utilisation", (timeseries, out, strategies), {}),
    ]
    if map is None:
        return [_draw(job) for job in jobs]
    return [pathlib.Path(p) for p in map(_draw, jobs)]
