"""Analysis, charts and the HTML report of a parameter sweep.

Tables (pure functions of the results frame of :func:`sim.sweeps.sweep`):

- :func:`sobol_table`: first-order and total Sobol indices with bootstrap confidence intervals per strategy
  and metric (design "sobol"; SALib).
- :func:`morris_table`: Morris elementary effects (design "morris"; SALib).
- :func:`swing_table`: for every design, the mean of a metric at the low end and at the high end of each
  parameter (lowest / highest listed value, or the bottom / top fifth of a sampled range), averaged over
  everything else: the numbers behind the tornado chart.
- :func:`marginal_table`: mean and 95% interval (:func:`sim.analysis.stats.metric_ci`) of a metric per level (or
  quantile bin) of one parameter.
- :func:`best_points`: the design point with the best mean on each metric, per strategy.

Charts (matplotlib Agg, PNG, titled, axes with units, each made by :func:`sim.plotting.figure`):
:func:`heatmap_chart`, :func:`tornado_chart`, :func:`sobol_chart`, :func:`morris_chart`,
:func:`metric_vs_params_chart`. :func:`write_outputs` writes
sweep.csv, sobol.csv / morris.csv, sensitivity.csv, charts/*.png, report.html and manifest.json into a folder.
"""

from __future__ import annotations

import html
import math
import pathlib
from contextlib import contextmanager
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sim.analysis import charts as _charts
from sim.analysis.formatting import fmt_of, format_money, format_number, format_value
from sim.analysis.formatting import metric_label as _registry_label
from sim.analysis.html import frame_table, page
from sim.analysis.plotting import figure, grid_shape, money_axis, money_formatter, percent_formatter
from sim.analysis.stats import direction, metric_ci
from sim.config.parameters import P, lookup
from sim.io import write_manifest

__all__ = [
    "sobol_table", "morris_table", "swing_table", "marginal_table", "best_points",
    "heatmap_chart", "tornado_chart", "sobol_chart", "morris_chart", "metric_vs_params_chart",
    "make_charts", "write_outputs", "finding_sentences", "REPORT_QUESTION",
]

REPORT_QUESTION = "How do customers won and cost respond when these settings change, and which setting matters most?"

BINS = 5  # quantile bins for a sampled (continuous) parameter


# --------------------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------------------


def _spec(path: str) -> P | None:
    if path.startswith("strategies."):
        path = ".".join(path.split(".")[2:])
    spec = lookup(path)
    return spec if isinstance(spec, P) else None


def param_label(path: str) -> str:
    """``channels.content.budget ($ per year on content production)``."""
    spec = _spec(path)
    return f"{path} ({spec.unit})" if spec is not None and spec.unit else path


def _short_param(path: str) -> str:
    spec = _spec(path)
    unit = spec.unit if spec is not None else ""
    short = unit.split(" ")[0] if unit.startswith("$") else ""
    return f"{path}{f' ({short})' if short else ''}"


def _is_money_param(path: str) -> bool:
    spec = _spec(path)
    return spec is not None and spec.unit.startswith("$")


def metric_label(metric: str) -> str:
    """The metric's label with its unit, from the metric registry (``Won deals sourced by content (accounts)``)."""
    return _registry_label(metric)


def _metric_scale(metric: str) -> float:
    """Percent metrics (the registry's fmt) are stored as fractions and drawn as %."""
    return 100.0 if fmt_of(metric) == "percent" else 1.0


def _fmt_value(x: Any) -> str:
    """A parameter's value (or a level of it) in a label: a number with four significant digits."""
    return format_number(x, 4)


def _fmt_param(path: str, x: Any) -> str:
    if _is_money_param(path) and isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
        return format_money(float(x))
    return _fmt_value(x)


# --------------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------------


def _strategies(frame: pd.DataFrame, strategies: Sequence[str] | None) -> list[str]:
    return list(strategies) if strategies is not None else list(pd.unique(frame["strategy"]))


def _point_means(frame: pd.DataFrame, strategy: str, metric: str, n_points: int) -> np.ndarray:
    sub = frame[frame["strategy"] == strategy]
    means = sub.groupby("point")[metric].mean()
    return means.reindex(range(n_points)).to_numpy(dtype=float)


def sobol_table(frame: pd.DataFrame, params: Sequence[str], metrics: Sequence[str] | None = None,
                strategies: Sequence[str] | None = None, seed: int = 1, conf_level: float = 0.95) -> pd.DataFrame:
    """Sobol indices per strategy x metric x parameter from a "sobol" sweep's frame.

    The output of point ``i`` is the mean of the metric over its replications (common random numbers:
    the same seeds at every point). Columns: strategy, metric, parameter, S1, S1_conf, ST, ST_conf,
    ``*_conf`` being the half-width of the ``conf_level`` bootstrap interval. A metric that is undefined
    (NaN) at some point is left out for that strategy.
    """
    from sim.sweeps.design import sobol_indices

    n_points = int(frame["point"].max()) + 1 if len(frame) else 0
    metrics = list(metrics) if metrics is not None else _numeric_metrics(frame, params)
    rows = []
    for s in _strategies(frame, strategies):
        for m in metrics:
            y = _point_means(frame, s, m, n_points)
            if y.size == 0 or not np.all(np.isfinite(y)) or np.ptp(y) == 0:
                continue  # undefined somewhere, or constant: no variance to decompose
            tab = sobol_indices(list(params), y, conf_level=conf_level, seed=seed)
            tab.insert(0, "metric", m)
            tab.insert(0, "strategy", s)
            rows.append(tab)
    cols = ["strategy", "metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def morris_table(frame: pd.DataFrame, params: Sequence[str], unit: np.ndarray, metrics: Sequence[str] | None = None,
                 strategies: Sequence[str] | None = None, seed: int = 1) -> pd.DataFrame:
    """Morris mu* (mean absolute elementary effect over a parameter's whole range) per strategy x metric."""
    from sim.sweeps.design import morris_indices

    n_points = len(unit)
    metrics = list(metrics) if metrics is not None else _numeric_metrics(frame, params)
    rows = []
    for s in _strategies(frame, strategies):
        for m in metrics:
            y = _point_means(frame, s, m, n_points)
            if y.size == 0 or not np.all(np.isfinite(y)):
                continue
            tab = morris_indices(list(params), unit, y, seed=seed)
            tab.insert(0, "metric", m)
            tab.insert(0, "strategy", s)
            rows.append(tab)
    cols = ["strategy", "metric", "parameter", "mu", "mu_star", "mu_star_conf", "sigma"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def _numeric_metrics(frame: pd.DataFrame, params: Sequence[str]) -> list[str]:
    skip = {"point", "strategy", "rep", "seed", *params}
    return [c for c in frame.columns if c not in skip and pd.api.types.is_float_dtype(frame[c])
            and not c.startswith(("sales.", "channels.", "policy.", "market.", "strategies."))]


def _is_numeric_series(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _groups(values: pd.Series) -> tuple[pd.Series, list[Any], list[str]]:
    """Group labels per row for a parameter: its levels (few distinct values) or quantile bins.

    Returns (group code per row, x position per group, tick label per group).
    """
    keys = values.map(repr)  # lists (e.g. burst days) are not hashable; their repr is
    first = dict(zip(keys, values))  # key -> value, in order of first appearance (design order)
    numeric = _is_numeric_series(values)
    uniq = list(first)
    if len(uniq) <= 8 or not numeric:
        if numeric:
            uniq = sorted(uniq, key=lambda k: first[k])
        codes = keys.map({k: i for i, k in enumerate(uniq)}).astype(int)
        return codes, [first[k] for k in uniq], [_fmt_value(first[k]) for k in uniq]
    k = min(BINS, len(uniq))
    codes = pd.qcut(values.astype(float), k, labels=False, duplicates="drop").astype(int)
    xs = [float(values[codes == c].mean()) for c in sorted(codes.unique())]
    edges = [(float(values[codes == c].min()), float(values[codes == c].max())) for c in sorted(codes.unique())]
    return codes, xs, [f"{_fmt_value(a)}-{_fmt_value(b)}" for a, b in edges]


def marginal_table(frame: pd.DataFrame, param: str, metric: str, strategies: Sequence[str] | None = None
                   ) -> pd.DataFrame:
    """Per strategy and level (or quantile bin) of ``param``: x, label, n, mean, ci_low, ci_high of ``metric``
    over all runs there (replications and the other parameters' values), 95% interval from
    :func:`sim.analysis.stats.metric_ci` (a t-interval; for ratio metrics such as CAC one that stays above 0)."""
    rows = []
    if frame.empty:
        return pd.DataFrame(columns=["strategy", "group", "x", "label", "n", "mean", "ci_low", "ci_high"])
    codes, xs, labels = _groups(frame[param])
    for s in _strategies(frame, strategies):
        mask = frame["strategy"] == s
        for g, (x, lab) in enumerate(zip(xs, labels)):
            vals = frame.loc[mask & (codes == g), metric].to_numpy(dtype=float)
            m, lo, hi = metric_ci(metric, vals)
            rows.append({"strategy": s, "group": g, "x": x, "label": lab, "n": int(np.isfinite(vals).sum()),
                         "mean": m, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def swing_table(frame: pd.DataFrame, params: Sequence[str], metrics: Sequence[str],
                strategies: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean of each metric at the low end and the high end of each parameter, per strategy.

    Low / high end: the lowest and highest value of a listed (or few-valued) parameter, in list order for
    non-numbers; the bottom and top fifth of a sampled range. Columns: strategy, metric, parameter, low,
    high (the values, or "a-b" ranges of the fifths), mean_low, mean_high, swing (= mean_high - mean_low),
    n_low, n_high.
    """
    rows = []
    for p in params:
        for m in metrics:
            tab = marginal_table(frame, p, m, strategies)
            for s in _strategies(frame, strategies):
                t = tab[tab["strategy"] == s].sort_values("group")
                if len(t) < 2:
                    continue
                lo, hi = t.iloc[0], t.iloc[-1]
                low = lo["x"] if lo["label"] == _fmt_value(lo["x"]) else lo["label"]
                high = hi["x"] if hi["label"] == _fmt_value(hi["x"]) else hi["label"]
                rows.append({"strategy": s, "metric": m, "parameter": p, "low": low, "high": high,
                             "mean_low": lo["mean"], "mean_high": hi["mean"], "swing": hi["mean"] - lo["mean"],
                             "n_low": lo["n"], "n_high": hi["n"]})
    cols = ["strategy", "metric", "parameter", "low", "high", "mean_low", "mean_high", "swing", "n_low", "n_high"]
    return pd.DataFrame(rows, columns=cols)


def noise_share(frame: pd.DataFrame, strategy: str, metric: str) -> float:
    """Share of the variance of the point means (over replications) that is seed noise: the mean
    within-point variance / replications, over the variance of the point means. NaN with one replication."""
    sub = frame[frame["strategy"] == strategy]
    g = sub.groupby("point")[metric]
    reps = g.count()
    if reps.empty or reps.min() < 2:
        return math.nan
    within = float(np.nanmean(g.var(ddof=1).to_numpy(dtype=float)))
    between = float(np.nanvar(g.mean().to_numpy(dtype=float), ddof=1))
    if not (np.isfinite(within) and np.isfinite(between)) or between <= 0:
        return math.nan
    return min(1.0, within / float(reps.mean()) / between)


def best_points(frame: pd.DataFrame, columns: Sequence[str], metrics: Sequence[str],
                strategies: Sequence[str] | None = None) -> pd.DataFrame:
    """Per strategy and metric: the design point with the best mean (higher or lower is better as in
    sim.analysis.stats.direction), its parameter values, mean and 95% interval over its replications
    (:func:`sim.analysis.stats.metric_ci`)."""
    rows = []
    for s in _strategies(frame, strategies):
        sub = frame[frame["strategy"] == s]
        for m in metrics:
            means = sub.groupby("point")[m].mean()
            means = means[np.isfinite(means)]
            if means.empty:
                continue
            best = int(means.idxmax() if direction(m) == "max" else means.idxmin())
            runs = sub[sub["point"] == best]
            mu, lo, hi = metric_ci(m, runs[m].to_numpy(dtype=float))
            row = {"strategy": s, "metric": m, "point": best, "mean": mu, "ci_low": lo, "ci_high": hi,
                   "n": len(runs), "points": len(means)}
            for c in columns:
                row[c] = runs[c].iloc[0]
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------------------


def _panels_size(n: int, height: float = 3.6, width: float = 8.0) -> tuple[float, float]:
    """Figure size of ``n`` panels in one or two columns, each about ``height`` inches high."""
    nrows, _ = grid_shape(n)
    return (width, max(3.6, height * nrows + 0.8))


def _metric_axis_formatter(metric: str):
    """The tick formatter of an axis of ``metric`` by its registry format (percent axes are drawn x 100)."""
    fmt = fmt_of(metric)
    if fmt == "money":
        return money_formatter()
    if fmt == "percent":
        return percent_formatter()
    return None


def heatmap_chart(frame: pd.DataFrame, metric: str, x: str, y: str, out_dir, strategies: Sequence[str] | None = None
                  ) -> pathlib.Path:
    """Mean of ``metric`` over two parameters (levels, or quantile bins of a sampled range), a panel per strategy."""
    strategies = _strategies(frame, strategies)
    scale = _metric_scale(metric)
    xc, _, xlabels = _groups(frame[x])
    yc, _, ylabels = _groups(frame[y])
    better = "higher is better" if direction(metric) == "max" else "lower is better"
    with figure(out_dir, f"heatmap_{metric}", f"{metric_label(metric)}: mean over {x} and {y}",
                size=_panels_size(len(strategies), 4.2), panels=len(strategies)) as chart:
        for ax, s in zip(chart.axes, strategies):
            mask = (frame["strategy"] == s).to_numpy()
            grid = np.full((len(ylabels), len(xlabels)), np.nan)
            for i in range(len(ylabels)):
                for j in range(len(xlabels)):
                    sel = mask & (yc == i).to_numpy() & (xc == j).to_numpy()
                    v = frame.loc[sel, metric].to_numpy(dtype=float)
                    v = v[np.isfinite(v)]
                    if v.size:
                        grid[i, j] = v.mean() * scale
            cmap = "viridis" if direction(metric) == "max" else "viridis_r"
            im = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap)
            ax.set_title(s.replace("_", " "), fontsize=10)
            ax.set_xticks(range(len(xlabels)))
            ax.set_xticklabels([_tick(x, lab) for lab in xlabels], rotation=30 if len(xlabels) > 3 else 0,
                               ha="right" if len(xlabels) > 3 else "center", fontsize=8)
            ax.set_yticks(range(len(ylabels)))
            ax.set_yticklabels([_tick(y, lab) for lab in ylabels], fontsize=8)
            ax.set_xlabel(_wrap_label(param_label(x)), fontsize=8)
            ax.set_ylabel(_wrap_label(param_label(y)), fontsize=8)
            if grid.size <= 100 and np.isfinite(grid).any():
                mid = np.nanmean(grid)
                for i in range(grid.shape[0]):
                    for j in range(grid.shape[1]):
                        if np.isfinite(grid[i, j]):
                            txt = format_value(metric, grid[i, j] / scale)
                            ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                                    color="white" if (grid[i, j] < mid) == (cmap == "viridis") else "black")
            cb = chart.fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
            cb.set_label(f"{metric_label(metric)}\n({better})", fontsize=8)
            fmt = _metric_axis_formatter(metric)
            if fmt is not None:
                cb.ax.yaxis.set_major_formatter(fmt)
            if not np.isfinite(grid).any():
                _charts.no_data(ax)
    return chart.path


def _tick(path: str, label: Any) -> str:
    if not isinstance(label, str):
        return _fmt_param(path, label)
    if not _is_money_param(path):
        return label
    parts = label.split("-") if label.count("-") == 1 else [label]
    try:
        return "-".join(format_money(float(p.replace(",", ""))) for p in parts)
    except ValueError:
        return label


def _no_math(text: str) -> str:
    """Escape dollar signs so that matplotlib does not read "$20k -> $200k" as mathtext."""
    return text.replace("$", r"\$")


def _wrap_label(text: str, width: int = 48) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


_UNDEFINED = "no data (metric undefined at some points)"


@contextmanager
def _parameter_rows(table: pd.DataFrame, metric: str, out_dir, kind: str, title: str, xlabel: str,
                    strategies: Sequence[str] | None, row_height: float, xlabel_size: int = 9,
                    sort_by: str | None = None, no_data: str | None = None):
    """A ``<kind>_<metric>.png`` figure with a panel per strategy whose rows are the parameters of ``table``
    (tornado, Sobol, Morris). Yields ``(chart, panels)``, panels being ``(ax, strategy, that strategy's rows
    of table for metric)`` (sorted by ``sort_by`` if given) with the panel titled by the strategy and its x
    axis labelled ``xlabel``. With ``no_data``, a panel without rows shows that note and is not yielded."""
    sub = table[table["metric"] == metric]
    strategies = list(strategies) if strategies is not None else list(pd.unique(sub["strategy"]))
    n_panels = max(len(strategies), 1)
    height = max(2.6, row_height * max(sub["parameter"].nunique(), 1) + 1.4)
    with figure(out_dir, f"{kind}_{metric}", title, size=_panels_size(n_panels, height), panels=n_panels) as chart:
        panels = []
        for ax, s in zip(chart.axes, strategies):
            ax.set_title(s.replace("_", " "), fontsize=10)
            ax.set_xlabel(xlabel, fontsize=xlabel_size)
            rows = sub[sub["strategy"] == s]
            if sort_by is not None:
                rows = rows.sort_values(sort_by)
            if no_data is not None and rows.empty:
                _charts.no_data(ax, no_data)
                continue
            panels.append((ax, s, rows))
        yield chart, panels


def tornado_chart(swings: pd.DataFrame, metric: str, out_dir, strategies: Sequence[str] | None = None,
                  overall: dict[str, float] | None = None) -> pathlib.Path:
    """Tornado: for each parameter a bar from the metric's mean at its low end to the mean at its high end,
    sorted by the size of the swing, a panel per strategy."""
    scale = _metric_scale(metric)
    title = f"Sensitivity of {metric_label(metric).split(' (')[0].lower()}: low vs high end of each parameter"
    with _parameter_rows(swings, metric, out_dir, "tornado", title, metric_label(metric), strategies,
                         row_height=0.55) as (chart, panels):
        for ax, s, t in panels:
            t = t.copy()
            if t.empty or not np.isfinite(t[["mean_low", "mean_high"]].to_numpy(dtype=float)).any():
                _charts.no_data(ax)
                continue
            t["abs"] = t["swing"].abs()
            t = t.sort_values("abs", ascending=True)
            centre = overall.get(s) if overall else None
            if centre is None or not np.isfinite(centre):
                centre = float(np.nanmean(t[["mean_low", "mean_high"]].to_numpy(dtype=float)))
            centre *= scale
            for i, (_, r) in enumerate(t.iterrows()):
                lo, hi = r["mean_low"] * scale, r["mean_high"] * scale
                if np.isfinite(lo):
                    ax.barh(i, lo - centre, left=centre, color="#9ecae1", edgecolor="#3182bd", height=0.6,
                            label="low end" if i == 0 else None)
                if np.isfinite(hi):
                    ax.barh(i, hi - centre, left=centre, color="#fdae6b", edgecolor="#e6550d", height=0.6, alpha=0.9,
                            label="high end" if i == 0 else None)
            ax.axvline(centre, color="black", lw=1)
            ax.set_yticks(range(len(t)))
            ax.set_yticklabels([_no_math(f"{_short_param(r['parameter'])}\n{_tick(r['parameter'], r['low'])} → "
                                         f"{_tick(r['parameter'], r['high'])}") for _, r in t.iterrows()], fontsize=7)
            fmt = _metric_axis_formatter(metric)
            if fmt is not None:
                ax.xaxis.set_major_formatter(fmt)
            ax.grid(axis="x", alpha=0.3)
            ax.legend(fontsize=7, frameon=False, loc="lower right")
    return chart.path


def sobol_chart(sobol: pd.DataFrame, metric: str, out_dir, strategies: Sequence[str] | None = None) -> pathlib.Path:
    """Sobol indices (first order and total, 95% bootstrap whiskers) per parameter, a panel per strategy."""
    title = f"Sobol sensitivity of {metric_label(metric).split(' (')[0].lower()} (95% bootstrap CI)"
    with _parameter_rows(sobol, metric, out_dir, "sobol", title, "Sobol index (share of output variance, 0-1)",
                         strategies, row_height=0.5, sort_by="ST", no_data=_UNDEFINED) as (chart, panels):
        for ax, _, t in panels:
            yy = np.arange(len(t))
            ax.barh(yy + 0.2, t["ST"], height=0.38, xerr=t["ST_conf"], color="#3182bd", label="total (ST)",
                    error_kw={"elinewidth": 1, "capsize": 3})
            ax.barh(yy - 0.2, t["S1"], height=0.38, xerr=t["S1_conf"], color="#9ecae1", label="first order (S1)",
                    error_kw={"elinewidth": 1, "capsize": 3})
            ax.set_yticks(yy)
            ax.set_yticklabels([_short_param(p) for p in t["parameter"]], fontsize=8)
            ax.set_xlim(min(0.0, float(np.nanmin((t["S1"] - t["S1_conf"]).to_numpy(dtype=float))) - 0.02),
                        max(1.0, float(np.nanmax((t["ST"] + t["ST_conf"]).to_numpy(dtype=float)))) + 0.02)
            ax.axvline(0, color="black", lw=0.8)
            ax.grid(axis="x", alpha=0.3)
            ax.legend(fontsize=7, frameon=False, loc="lower right")
    return chart.path


def morris_chart(morris: pd.DataFrame, metric: str, out_dir, strategies: Sequence[str] | None = None) -> pathlib.Path:
    """Morris mu* (mean absolute effect of moving a parameter across its range) with 95% whiskers."""
    scale = _metric_scale(metric)
    title = f"Morris screening of {metric_label(metric).split(' (')[0].lower()} (95% bootstrap CI)"
    xlabel = f"mu*: mean absolute change over the parameter's range\n{metric_label(metric)}"
    with _parameter_rows(morris, metric, out_dir, "morris", title, xlabel, strategies, row_height=0.5,
                         xlabel_size=8, sort_by="mu_star", no_data=_UNDEFINED) as (chart, panels):
        for ax, _, t in panels:
            yy = np.arange(len(t))
            ax.barh(yy, t["mu_star"] * scale, xerr=t["mu_star_conf"] * scale, color="#3182bd", height=0.6,
                    error_kw={"elinewidth": 1, "capsize": 3})
            ax.set_yticks(yy)
            ax.set_yticklabels([_short_param(p) for p in t["parameter"]], fontsize=8)
            fmt = _metric_axis_formatter(metric)
            if fmt is not None:
                ax.xaxis.set_major_formatter(fmt)
            ax.grid(axis="x", alpha=0.3)
    return chart.path


def metric_vs_params_chart(frame: pd.DataFrame, metric: str, params: Sequence[str], out_dir,
                           strategies: Sequence[str] | None = None) -> pathlib.Path:
    """The metric against each parameter (a panel per parameter), a line per strategy with a 95% band over
    replications and the other parameters' values; colours as in the comparison charts."""
    strategies = _strategies(frame, strategies)
    colors = _charts.strategy_colors(strategies)
    scale = _metric_scale(metric)
    with figure(out_dir, f"{metric}_vs_params",
                f"{metric_label(metric).split(' (')[0]} against each parameter (mean, 95% CI band)",
                size=_panels_size(len(params), 3.4), panels=len(params)) as chart:
        for ax, p in zip(chart.axes, params):
            tab = marginal_table(frame, p, metric, strategies)
            numeric = _is_numeric_series(frame[p])
            drawn = False
            for s in strategies:
                t = tab[tab["strategy"] == s].sort_values("group")
                if t.empty or not np.isfinite(t["mean"].to_numpy(dtype=float)).any():
                    continue
                x = t["x"].to_numpy(dtype=float) if numeric else t["group"].to_numpy(dtype=float)
                ax.plot(x, t["mean"] * scale, marker="o", ms=3.5, lw=1.8, color=colors[s], label=s.replace("_", " "))
                if t["ci_low"].notna().any():
                    ax.fill_between(x, t["ci_low"] * scale, t["ci_high"] * scale, color=colors[s], alpha=0.18, lw=0)
                drawn = True
            if not numeric:
                ax.set_xticks(range(len(pd.unique(tab["label"]))))
                ax.set_xticklabels(list(pd.unique(tab["label"])), fontsize=8)
            elif _is_money_param(p):
                money_axis(ax.xaxis, nbins=5)
            ax.set_xlabel(_wrap_label(param_label(p)), fontsize=8)
            ax.set_ylabel(_wrap_label(metric_label(metric), 30), fontsize=8)
            fmt = _metric_axis_formatter(metric)
            if fmt is not None:
                ax.yaxis.set_major_formatter(fmt)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            if not drawn:
                _charts.no_data(ax)
            elif len(strategies) > 1 or p == params[0]:
                ax.legend(fontsize=7, frameon=False)
    return chart.path


CAPTIONS = {
    "heatmap": "Mean of the metric over two parameters (levels as listed, or fifths of a sampled range), "
               "averaged over replications and the other parameters; one panel per strategy; blank cells "
               "have no design point.",
    "tornado": "Tornado: for each parameter, the metric's mean at its low end (blue) and high end (orange), "
               "averaged over everything else; the vertical line is the mean over the whole sweep. The "
               "longest bars are the parameters that move the metric most.",
    "sobol": "Sobol indices: the share of the metric's variance explained by each parameter alone (first "
             "order, S1) and with its interactions (total, ST), with 95% bootstrap intervals.",
    "morris": "Morris screening: mean absolute elementary effect (mu*) of moving each parameter across its "
              "whole range, with 95% bootstrap intervals.",
    "vs_params": "The metric against each parameter: mean over replications and the other parameters' values "
                 "per level (or fifth of a sampled range), with a 95% interval band (t-interval; for ratios such as "
                 "CAC one on the log scale, above zero), one line per strategy.",
}


def _caption(stem: str) -> str:
    for key in ("heatmap", "tornado", "sobol", "morris"):
        if stem.startswith(key + "_"):
            return CAPTIONS[key]
    if stem.endswith("_vs_params"):
        return CAPTIONS["vs_params"]
    return stem.replace("_", " ")


def _heatmap_pair(sw: Any, swings: pd.DataFrame, metric: str) -> tuple[str, str] | None:
    if len(sw.names) < 2:
        return None
    if len(sw.names) == 2:
        return sw.names[0], sw.names[1]
    t = swings[swings["metric"] == metric]
    if t.empty:
        return sw.names[0], sw.names[1]
    order = t.assign(a=t["swing"].abs()).groupby("parameter")["a"].mean().sort_values(ascending=False)
    top = [p for p in order.index if p in sw.names][:2]
    if len(top) < 2:
        return sw.names[0], sw.names[1]
    return (top[0], top[1]) if sw.names.index(top[0]) < sw.names.index(top[1]) else (top[1], top[0])


def make_charts(sw: Any, frame: pd.DataFrame, out_dir, swings: pd.DataFrame, sobol: pd.DataFrame | None = None,
                morris: pd.DataFrame | None = None) -> dict[pathlib.Path, str]:
    """Every chart of a sweep into out_dir; returns {png path: caption} in reading order."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[pathlib.Path] = []
    overall = {}
    for m in sw.metrics:
        overall = {s: float(np.nanmean(frame.loc[frame["strategy"] == s, m].to_numpy(dtype=float)))
                   if frame.loc[frame["strategy"] == s, m].notna().any() else math.nan for s in sw.strategies}
        if sobol is not None and not sobol.empty:
            paths.append(sobol_chart(sobol, m, out, sw.strategies))
        if morris is not None and not morris.empty:
            paths.append(morris_chart(morris, m, out, sw.strategies))
        paths.append(tornado_chart(swings, m, out, sw.strategies, overall))
        pair = _heatmap_pair(sw, swings, m)
        if pair is not None:
            paths.append(heatmap_chart(frame, m, pair[0], pair[1], out, sw.strategies))
        paths.append(metric_vs_params_chart(frame, m, sw.names, out, sw.strategies))
    return {p: _caption(p.stem) for p in paths}


# --------------------------------------------------------------------------------------------------------
# Findings and report
# --------------------------------------------------------------------------------------------------------


def finding_sentences(sw: Any, swings: pd.DataFrame, best: pd.DataFrame, sobol: pd.DataFrame | None = None,
                      morris: pd.DataFrame | None = None) -> list[str]:
    """Plain sentences: which parameter matters most for each strategy and metric, and the best point."""
    out = []
    for s in sw.strategies:
        for m in sw.metrics:
            name = metric_label(m).split(" (")[0].lower()
            if sobol is not None and not sobol.empty:
                t = sobol[(sobol["strategy"] == s) & (sobol["metric"] == m)].sort_values("ST", ascending=False)
                if not t.empty:
                    a = t.iloc[0]
                    txt = (f"For {s}, {name} depends most on {a['parameter']} (total Sobol index {a['ST']:.2f} "
                           f"± {a['ST_conf']:.2f}, first order {a['S1']:.2f} ± {a['S1_conf']:.2f})")
                    if len(t) > 1:
                        b = t.iloc[1]
                        txt += f", then {b['parameter']} ({b['ST']:.2f} ± {b['ST_conf']:.2f})"
                    inter = 1.0 - float(t["S1"].sum())
                    if inter > 0.1:
                        txt += f"; about {inter:.0%} of the variance comes from interactions"
                    out.append(txt + ".")
                    continue
                out.append(f"For {s}, {name} is undefined at some design points, so it has no Sobol indices.")
                continue
            if morris is not None and not morris.empty:
                t = morris[(morris["strategy"] == s) & (morris["metric"] == m)].sort_values("mu_star", ascending=False)
                if not t.empty:
                    a = t.iloc[0]
                    out.append(f"For {s}, {name} moves most with {a['parameter']} (Morris mu* "
                               f"{format_value(m, a['mu_star'])} ± {format_value(m, a['mu_star_conf'])} over its "
                               f"range).")
                    continue
            t = swings[(swings["strategy"] == s) & (swings["metric"] == m)]
            t = t[np.isfinite(t["swing"].to_numpy(dtype=float))]
            if not t.empty:
                a = t.loc[t["swing"].abs().idxmax()]
                out.append(f"For {s}, the largest swing in {name} comes from {a['parameter']}: "
                           f"{format_value(m, a['mean_low'])} at {_tick(a['parameter'], a['low'])} vs "
                           f"{format_value(m, a['mean_high'])} at {_tick(a['parameter'], a['high'])} (means over "
                           f"the other settings and {sw.reps} seed{'s' if sw.reps != 1 else ''}).")
    for s in sw.strategies:
        for m in sw.metrics:
            b = best[(best["strategy"] == s) & (best["metric"] == m)] if not best.empty else best
            if b.empty:
                continue
            r = b.iloc[0]
            at = ", ".join(f"{c} = {_fmt_param(c, r[c])}" for c in sw.columns)
            ci = (f" [95% CI {format_value(m, r['ci_low'])}, {format_value(m, r['ci_high'])}]"
                  if np.isfinite(r["ci_low"]) else "")
            word = "highest" if direction(m) == "max" else "lowest"
            out.append(f"{s}: {word} mean {metric_label(m).split(' (')[0].lower()} {format_value(m, r['mean'])}{ci} "
                       f"at {at} (best of {int(r['points'])} points, so optimistic).")
    return out


def _table_html(df: pd.DataFrame) -> str:
    """A table of the report: numbers as :func:`_fmt_value` prints a parameter's value; "None." when empty."""
    return frame_table(df, {c: _fmt_value for c in df.columns}, empty="None.")


def _design_html(sw: Any) -> str:
    from sim.sweeps.design import Choice, LogUniform

    rows = []
    for p in sw.names:
        d = sw.dists[p]
        if isinstance(d, Choice):
            rng = ", ".join(_fmt_param(p, v) for v in d.values)
        else:
            rng = f"{'log-uniform' if isinstance(d, LogUniform) else 'uniform'} {_fmt_param(p, d.low)} to " \
                  f"{_fmt_param(p, d.high)}"
        spec = _spec(p)
        rows.append({"parameter": p, "values": rng, "unit": spec.unit if spec else "",
                     "balanced by": sw.balance_donors.get(p, "")})
    return _table_html(pd.DataFrame(rows))


def _noise_note(sw: Any, frame: pd.DataFrame) -> str:
    """The simulator is stochastic: say how much of the analysed variance is seed noise."""
    e = html.escape
    if sw.reps < 2:
        text = ("The simulator is stochastic and every point ran on one seed, so its own randomness is part of the "
                "variance being split: it shows up as interactions (ST above S1, S1 summing to less than 1) and as "
                "wide intervals. Use reps of 2 or more to measure that noise, and a larger n to narrow the intervals.")
    else:
        parts = []
        for s in sw.strategies:
            for m in sw.metrics:
                share = noise_share(frame, s, m)
                if np.isfinite(share):
                    parts.append(f"{s}, {metric_label(m).split(' (')[0].lower()}: {share:.0%}")
        text = (f"Seed noise left in the point means (mean of {sw.reps} replications), as a share of their variance: "
                + ("; ".join(parts) if parts else "n/a") + ". Noise counts as interaction (ST above S1); more "
                "replications shrink it.")
    return f'<p class="note">{e(text)}</p>'


def write_report(path, sw: Any, frame: pd.DataFrame, swings: pd.DataFrame, best: pd.DataFrame,
                 chart_paths: dict, manifest: dict, sobol: pd.DataFrame | None = None,
                 morris: pd.DataFrame | None = None) -> pathlib.Path:
    """Self-contained HTML report (inline CSS, charts as base64 data URIs, no scripts)."""
    e = html.escape
    path = pathlib.Path(path)
    findings = finding_sentences(sw, swings, best, sobol, morris)
    sens = ""
    if sobol is not None and not sobol.empty:
        t = sobol[sobol["metric"].isin(sw.metrics)].copy()
        for k in ("S1", "ST"):
            t[k] = [f"{a:.3f} ± {b:.3f}" for a, b in zip(t[k], t[f"{k}_conf"])]
        sens = ("<h2>Sobol indices</h2>" + _table_html(t[["strategy", "metric", "parameter", "S1", "ST"]]) +
                '<p class="note">First-order (S1) and total (ST) Sobol indices ± the half-width of the 95% '
                "bootstrap interval (SALib). All metrics are in sobol.csv.</p>" + _noise_note(sw, frame))
    elif morris is not None and not morris.empty:
        t = morris[morris["metric"].isin(sw.metrics)].copy()
        sens = ("<h2>Morris screening</h2>" + _table_html(t) + '<p class="note">All metrics are in morris.csv.</p>'
                + _noise_note(sw, frame))
    sw_t = swings[swings["metric"].isin(sw.metrics)].copy()
    sw_t = sw_t.assign(mean_low=[format_value(m, v) for m, v in zip(sw_t["metric"], sw_t["mean_low"])],
                       mean_high=[format_value(m, v) for m, v in zip(sw_t["metric"], sw_t["mean_high"])],
                       swing=[format_value(m, v) for m, v in zip(sw_t["metric"], sw_t["swing"])])
    best_t = best.copy()
    if not best_t.empty:
        best_t["mean [95% CI]"] = [f"{format_value(m, a)} [{format_value(m, lo)}, {format_value(m, hi)}]"
                                   for m, a, lo, hi in zip(best_t["metric"], best_t["mean"], best_t["ci_low"],
                                                          best_t["ci_high"])]
        best_t = best_t[["strategy", "metric", "point", *sw.columns, "mean [95% CI]", "n"]]
    plural = "s" if len(sw.names) > 1 else ""
    title = f"Sweep {sw.name}: {sw.design.design} design over {len(sw.names)} parameter{plural}"
    body = f"""<p class="question"><b>Question:</b> {e(REPORT_QUESTION)}</p>
{f'<p>{e(sw.description)}</p>' if sw.description else ''}
<h2>Scenario</h2>
<p>{e(sw.scenario.describe())}</p>
<h2>Design</h2>
<p>{e(sw.describe())}</p>
{_design_html(sw)}
<p class="note">Replication r of every point and strategy runs on the same seed (common random numbers), so
differences between points are due to the settings, not the dice.</p>
<h2>Main findings</h2>
<div class="finding">{''.join(f'<p>{e(t)}</p>' for t in findings) or 'No findings (no finite results).'}</div>
{sens}
<h2>Low vs high end of each parameter</h2>
{_table_html(sw_t)}
<p class="note">Means of the metric at the low and the high end of each parameter (lowest and highest listed
value, or bottom and top fifth of a sampled range), over all runs there. All metrics are in sensitivity.csv.</p>
<h2>Best settings found</h2>
{_table_html(best_t)}
<p class="note">The point with the best mean among all design points; picking the best of many noisy means is
optimistic, so confirm it with more replications (python run.py run with these settings).</p>"""
    doc = page(title, body, {str(p): c for p, c in chart_paths.items()}, manifest)
    path.write_text(doc, encoding="utf-8")
    return path


def write_outputs(folder, sw: Any, frame: pd.DataFrame, manifest: dict) -> dict[str, Any]:
    """Write sweep.csv, sobol.csv or morris.csv (by design), sensitivity.csv, charts/*.png, report.html and
    manifest.json into ``folder`` (which must exist). Returns the analysis tables."""
    folder = pathlib.Path(folder)
    frame.to_csv(folder / "sweep.csv", index=False)
    sobol = morris = None
    if sw.design.design == "sobol" and frame["point"].nunique() == sw.n_points:
        sobol = sobol_table(frame, sw.names, strategies=sw.strategies, seed=sw.seed)
        sobol.to_csv(folder / "sobol.csv", index=False)
    if sw.design.design == "morris" and frame["point"].nunique() == sw.n_points:
        morris = morris_table(frame, sw.names, sw.design.unit, strategies=sw.strategies, seed=sw.seed)
        morris.to_csv(folder / "morris.csv", index=False)
    metrics_all = _numeric_metrics(frame, sw.columns)
    swings = swing_table(frame, sw.names, metrics_all, sw.strategies)
    swings.to_csv(folder / "sensitivity.csv", index=False)
    best = best_points(frame, sw.columns, sw.metrics, sw.strategies)
    chart_paths = make_charts(sw, frame, folder / "charts", swings, sobol, morris)
    write_manifest(folder, manifest)
    write_report(folder / "report.html", sw, frame, swings, best, chart_paths, manifest, sobol, morris)
    return {"sobol": sobol, "morris": morris, "swings": swings, "best": best, "charts": list(chart_paths)}
