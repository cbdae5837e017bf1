"""Statistics for comparing strategies across replications (seeds).

Pure functions, no random state. Every strategy is run on the same seeds
(common random numbers), so strategy differences are estimated *paired by
seed*, which removes the seed-to-seed noise shared by all strategies.

Intervals of a mean over replications: :func:`metric_ci` is the one entry
point for a named metric. Most metrics get the Student-t interval
(:func:`mean_ci`); the ratios of positive amounts in :data:`POSITIVE_RATIOS`
(CAC, cost per lead, cost per meeting, payback, LTV:CAC) are skewed across
seeds, and a t-interval can reach below zero ("CAC $170k [-$89k, $430k]"), so
they get :func:`positive_mean_ci`, an interval for the mean of a lognormal
sample computed on the log scale, which is always above zero.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special as _special

__all__ = ["mean_ci", "positive_mean_ci", "metric_ci", "POSITIVE_RATIOS", "paired_diff_ci", "METRIC_DIRECTION",
           "direction", "compare", "format_table", "bootstrap_ci", "t_quantile", "t_sf"]

NAN = float("nan")

def _registry():
    from sim.engine.summary import SUMMARY_METRICS

    return SUMMARY_METRICS


#: Better direction of every summary metric ("max" or "min"), from the metric registry.
METRIC_DIRECTION: dict[str, str] = {k: (m.better or "max") for k, m in _registry().items()}

_MONEY = {k for k, m in _registry().items() if m.fmt == "money"}

#: Ratios of positive amounts (a cost over a count, months of gross profit, value over cost): right-skewed
#: across seeds and never negative. Their interval is :func:`positive_mean_ci`.
POSITIVE_RATIOS = frozenset({"cac", "cost_per_lead", "cost_per_meeting", "payback_months", "ltv_to_cac"})

COLUMNS = ["strategy", "metric", "n", "mean", "ci_low", "ci_high", "best", "diff_vs_best",
           "diff_ci_low", "diff_ci_high", "p_value", "clear"]


def direction(metric: str) -> str:
    """Return "max" if larger values of `metric` are better, "min" if smaller are.

    Unknown metrics (including every ``deals_<source>``) default to "max".
    """
    return METRIC_DIRECTION.get(metric, "max")


def t_quantile(q, df):
    """Quantile ``q`` of Student's t with ``df`` > 0 degrees of freedom (scalars or arrays): the very numbers of
    ``scipy.stats.t.ppf(q, df)``, whose work this is (``scipy.special.stdtrit``), without importing scipy.stats
    (about 0.4 s, paid by every command that writes a report)."""
    return _special.stdtrit(df, q)


def t_sf(x, df):
    """Upper tail ``P(T > x)`` of Student's t with ``df`` > 0 degrees of freedom: the very numbers of
    ``scipy.stats.t.sf(x, df)`` (``scipy.special.stdtr(df, -x)``), without importing scipy.stats."""
    return _special.stdtr(df, -np.asarray(x, dtype=float))


def _finite(values) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


def _t_interval(x: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """(mean, low, high, standard error) of finite array `x` with the degenerate rules applied."""
    n = x.size
    if n == 0:
        return NAN, NAN, NAN, NAN
    m = float(x.mean())
    if n == 1:
        return m, NAN, NAN, NAN
    if np.all(x == x[0]):  # exactly zero variance (avoids rounding noise in x.std())
        return float(x[0]), float(x[0]), float(x[0]), 0.0
    se = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(t_quantile(0.5 + level / 2.0, n - 1)) * se
    return m, m - half, m + half, se


def bootstrap_ci(stat, n: int, seed: int = 20110301, level: float = 0.95,
                 draws: int = 2000) -> tuple[float, float, float]:
    """Estimate and percentile interval of ``stat(indices)`` resampling ``n`` replications (seeds) with
    replacement: a cluster bootstrap, since events within one run are not independent. Seeded (``seed``), so the
    same inputs give the same interval; NaN bounds with fewer than 2 replications or no finite resample."""
    est = float(stat(np.arange(n)))
    if n < 2:
        return est, math.nan, math.nan
    rng = np.random.default_rng(seed)
    vals = np.array([stat(rng.integers(0, n, n)) for _ in range(draws)], dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return est, math.nan, math.nan
    lo, hi = np.percentile(vals, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return est, float(lo), float(hi)


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the finite entries of `values`.

    NaN and +/-inf are dropped. Returns ``(mean, low, high)``; with one finite
    value ``(x, nan, nan)``, with none ``(nan, nan, nan)``, and with zero
    variance ``(x, x, x)``.
    """
    m, lo, hi, _ = _t_interval(_finite(values), level)
    return m, lo, hi


def positive_mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and confidence interval of the mean of strictly positive, right-skewed values; the interval is
    always above zero.

    The interval is the modified Cox interval for the mean of a lognormal sample (Olsson 2005, "Confidence
    intervals for the mean of a log-normal distribution", Journal of Statistics Education 13(1); Zhou & Gao
    1997, Statistics in Medicine 16: 783-790): with ``y = log(x)``, mean ``ybar`` and variance ``s2`` over n
    values, the log of the mean is ``ybar + s2/2`` with standard error ``sqrt(s2/n + s2**2 / (2 (n-1)))``; a
    Student-t interval (n - 1 degrees of freedom) for it is exponentiated. (A plain t-interval of ``y`` would
    cover the geometric mean, which lies below the mean the tables show.)

    The estimate returned is the ordinary mean of the values (as :func:`mean_ci`). NaN and +/-inf are
    dropped; with one finite value ``(x, nan, nan)``, with none ``(nan, nan, nan)``, with zero variance
    ``(x, x, x)``. If any finite value is zero or negative the log is undefined and this is :func:`mean_ci`.
    """
    x = _finite(values)
    if x.size == 0 or np.any(x <= 0):
        return mean_ci(x, level)
    m = float(x.mean())
    n = x.size
    if n == 1:
        return m, NAN, NAN
    if np.all(x == x[0]):
        return float(x[0]), float(x[0]), float(x[0])
    y = np.log(x)
    s2 = float(y.var(ddof=1))
    centre = float(y.mean()) + s2 / 2.0
    half = float(t_quantile(0.5 + level / 2.0, n - 1)) * math.sqrt(s2 / n + s2 * s2 / (2.0 * (n - 1)))
    return m, math.exp(centre - half), math.exp(centre + half)


def metric_ci(metric: str, values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and interval of one metric over replications: :func:`positive_mean_ci` for the ratios in
    :data:`POSITIVE_RATIOS`, the t-interval :func:`mean_ci` for every other metric."""
    return positive_mean_ci(values, level) if metric in POSITIVE_RATIOS else mean_ci(values, level)


def paired_diff_ci(a, b, level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean of ``a - b`` over pairs where both are finite, its t interval and paired t-test p-value.

    Returns ``(mean_diff, low, high, p_value)``; the p-value is the two-sided
    paired t-test (same as ``scipy.stats.ttest_rel``). Degenerate cases: no
    pairs -> all NaN; one pair -> ``(d, nan, nan, nan)``; constant difference
    ``d`` -> ``(d, d, d, p)`` with p = 1.0 if d == 0 else 0.0.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired_diff_ci: a and b differ in length ({a.size} vs {b.size})")
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    m, lo, hi, se = _t_interval(d, level)
    if d.size < 2:
        return m, lo, hi, NAN
    if se == 0.0:
        return m, lo, hi, 1.0 if m == 0.0 else 0.0
    p = float(2.0 * t_sf(abs(m / se), d.size - 1))
    return m, lo, hi, p


def _pick_best(means: dict[str, float], how: str):
    """Strategy with the best finite mean (ties -> first); None if no finite mean."""
    best, best_val = None, None
    for s, v in means.items():
        if not np.isfinite(v):
            continue
        if best is None or (v > best_val if how == "max" else v < best_val):
            best, best_val = s, v
    return best


def compare(summary: pd.DataFrame, metrics: list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Compare strategies on each metric against the best strategy for that metric.

    `summary` has one row per strategy x seed (columns ``strategy``, ``seed``
    and metrics). For each metric the best strategy has the best mean (see
    :func:`direction`); every strategy gets its mean with its interval (:func:`metric_ci`) and the
    paired-by-seed difference (strategy minus best) with t interval and p-value.
    Output columns are :data:`COLUMNS`, ordered by metric then strategy (first
    appearance in `summary`). The best row has diff 0.0, NaN CI/p, clear False.
    """
    if metrics is None:
        metrics = [c for c in summary.columns
                   if c not in ("strategy", "seed") and pd.api.types.is_numeric_dtype(summary[c])]
    strategies = list(pd.unique(summary["strategy"]))
    rows = []
    # seed x strategy tables of every metric at once; duplicated (strategy, seed) rows are averaged
    tables = summary.pivot_table(index="seed", columns="strategy", values=list(dict.fromkeys(metrics)),
                                 aggfunc="mean", dropna=False) if strategies and len(metrics) else None
    rows_of = {s: (summary["strategy"] == s).to_numpy() for s in strategies}
    for metric in metrics:
        wide = tables[metric] if tables is not None else None
        values = summary[metric].to_numpy(dtype=float)
        per = {s: values[rows_of[s]] for s in strategies}
        cis = {s: metric_ci(metric, per[s], level) for s in strategies}
        best = _pick_best({s: cis[s][0] for s in strategies}, direction(metric))
        for s in strategies:
            m, lo, hi = cis[s]
            if best is None:
                diff, dlo, dhi, p = NAN, NAN, NAN, NAN
            elif s == best:
                diff, dlo, dhi, p = 0.0, NAN, NAN, NAN
            else:
                diff, dlo, dhi, p = paired_diff_ci(wide[s].to_numpy(float), wide[best].to_numpy(float), level)
            clear = bool(np.isfinite(dlo) and np.isfinite(dhi) and (dlo > 0 or dhi < 0))
            rows.append({"strategy": s, "metric": metric, "n": int(np.isfinite(per[s]).sum()),
                         "mean": m, "ci_low": lo, "ci_high": hi,
                         "best": best if best is not None else "", "diff_vs_best": diff,
                         "diff_ci_low": dlo, "diff_ci_high": dhi, "p_value": p, "clear": clear})
    return pd.DataFrame(rows, columns=COLUMNS)


def _decimals(metric: str, scale: float) -> int:
    """Decimal places for a column whose typical magnitude is `scale`."""
    if not np.isfinite(scale) or scale >= 100 or (metric in _MONEY and scale >= 10):
        return 0
    if scale >= 10:
        return 1
    if scale >= 1:
        return 2
    return 3 if scale >= 0.01 or scale == 0 else 4


def _num(x: float, dec: int, sign: bool = False) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:{'+' if sign else ''},.{dec}f}"


def _blocks(headers: list[str], cells: list[list[str]], names: list[str], width: int) -> list[str]:
    """Lay out columns side by side, wrapping to new blocks when wider than `width`."""
    name_w = max(len("strategy"), *(len(n) for n in names))
    col_w = [max(len(h), *(len(c[j]) for c in cells)) for j, h in enumerate(headers)]
    out, start = [], 0
    while start < len(headers):
        end, used = start, name_w
        while end < len(headers) and (end == start or used + 2 + col_w[end] <= width):
            used += 2 + col_w[end]
            end += 1
        js = range(start, end)
        line = "strategy".ljust(name_w) + "".join("  " + headers[j].rjust(col_w[j]) for j in js)
        out += [line, "-" * len(line)]
        out += [n.ljust(name_w) + "".join("  " + c[j].rjust(col_w[j]) for j in js) for n, c in zip(names, cells)]
        out.append("")
        start = end
    return out


def format_table(comparison: pd.DataFrame, metrics: list[str] | None = None,
                 level: float = 0.95, width: int = 118) -> str:
    """Fixed-width text table of a :func:`compare` result for a terminal.

    First block: per strategy and metric, ``mean [ci_low, ci_high]``. Second
    block: difference vs the best strategy ``diff [lo, hi]``, with ``*`` when
    the paired interval excludes 0; the best strategy shows ``best``.
    Columns wrap into further blocks if wider than `width`.
    """
    if metrics is None:
        metrics = list(pd.unique(comparison["metric"]))
    names = list(pd.unique(comparison["strategy"]))
    idx = comparison.set_index(["strategy", "metric"])
    heads = [f"{m} {'^' if direction(m) == 'max' else 'v'}" for m in metrics]
    mean_cells = [[""] * len(metrics) for _ in names]
    diff_cells = [[""] * len(metrics) for _ in names]
    for j, m in enumerate(metrics):
        sub = comparison[comparison["metric"] == m]
        scale = float(np.nanmedian(np.abs(sub["mean"].to_numpy(float)))) if sub["mean"].notna().any() else NAN
        dec = _decimals(m, scale)
        for i, s in enumerate(names):
            if (s, m) not in idx.index:
                mean_cells[i][j] = diff_cells[i][j] = "-"
                continue
            r = idx.loc[(s, m)]
            mean_cells[i][j] = f"{_num(r['mean'], dec)} [{_num(r['ci_low'], dec)}, {_num(r['ci_high'], dec)}]"
            if r["best"] == s:
                diff_cells[i][j] = "best"
            else:
                diff_cells[i][j] = (f"{_num(r['diff_vs_best'], dec, True)} [{_num(r['diff_ci_low'], dec, True)}, "
                                    f"{_num(r['diff_ci_high'], dec, True)}]{'*' if r['clear'] else ' '}")
    pct = f"{100 * level:g}%"
    lines = [f"Mean [{pct} CI] per strategy", ""]
    lines += _blocks(heads, mean_cells, names, width)
    lines += [f"Difference vs best strategy, paired by seed [{pct} CI]", ""]
    lines += _blocks(heads, diff_cells, names, width)
    lines.append(f"* = clear difference: the paired {pct} CI excludes 0.  ^ higher is better, v lower is better.")
    return "\n".join(lines)
