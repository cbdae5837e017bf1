"""Self-contained HTML report for a strategy comparison.

The report is one HTML file in the shared page shell (:func:`sim.analysis.html.page`: inline CSS, charts
embedded as base64 ``data:`` URIs, no scripts and no external requests); its numbers are printed by
:func:`sim.analysis.formatting.format_value` (the metric registry's formats) and its tables written by
:func:`sim.analysis.html.table`.

Inputs: the ``comparison`` frame from ``sim.analysis.stats.compare`` (see docs/reference/contract.md),
the chart PNG paths from ``sim.analysis.charts.make_all`` and the run manifest dict.
"""

from __future__ import annotations

import html
import math
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sim.analysis.formatting import NA, format_money, format_value
from sim.analysis.formatting import finite as _finite
from sim.analysis.html import Cell, Html, page, table

__all__ = ["DEFAULT_METRICS", "METRIC_LABELS", "finding_sentence", "comparison_table_html", "write_report",
           "override_sentences", "overrides_html", "spend_frame", "spend_table_html", "rep_time_table_html"]

DEFAULT_METRICS = [
    "customers_won",
    "conversion_rate",
    "cac",
    "total_cost",
    "revenue",
    "ltv_to_cac",
    "median_cycle_days",
    "median_progress_at_first_contact",
]

def _registry():
    from sim.engine.summary import SUMMARY_METRICS

    return SUMMARY_METRICS


#: Labels with units of the summary metrics, from the metric registry.
METRIC_LABELS = {k: m.display for k, m in _registry().items()}

_PERCENT = {k for k, m in _registry().items() if m.fmt == "percent"}

CLEAR_TEXT = "statistically clear (95% paired CI excludes zero)"
UNCLEAR_TEXT = "not statistically clear at this number of replications"


# --------------------------------------------------------------------------- formatting

def _is_fraction_metric(comparison: pd.DataFrame, metric: str) -> bool:
    """Percent metrics are stored as fractions (0..1); tolerate frames that already use %."""
    if metric not in _PERCENT:
        return False
    vals = pd.to_numeric(comparison.loc[comparison["metric"] == metric, "mean"], errors="coerce")
    vals = vals[np.isfinite(vals)]
    return vals.empty or vals.abs().max() <= 1.0 + 1e-9


def _fmt(metric: str, x, *, signed: bool = False, fraction: bool = True) -> str:
    """``x`` as the registry's format of ``metric`` prints it; a percent metric given in per cent already
    (``fraction=False``) is read as such."""
    if metric in _PERCENT and not fraction and _finite(x):
        x = float(x) / 100.0
    return format_value(metric, x, signed=signed)


def _label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def _truthy(v) -> bool:
    if v is None:
        return False
    try:
        if isinstance(v, float) and math.isnan(v):
            return False
    except TypeError:
        pass
    if isinstance(v, str):
        return v.strip().lower() in {"true", "1", "yes"}
    try:
        return bool(v)
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- finding

def _winner_clause(comparison: pd.DataFrame, metric: str, lower_is_better: bool) -> str:
    name = "CAC" if metric == "cac" else "customers won"
    if comparison is None or comparison.empty or "metric" not in comparison.columns:
        return f"No comparison figures are available for {name}."
    rows = comparison[comparison["metric"] == metric]
    if rows.empty:
        return f"The comparison has no {name} figures."
    rows = rows.drop_duplicates("strategy").set_index("strategy")
    means = pd.to_numeric(rows["mean"], errors="coerce")
    finite = means[np.isfinite(means)]
    if finite.empty:
        if metric == "cac":
            return ("CAC is undefined for every strategy (no customers were won), so no strategy can be "
                    "ranked on cost per customer.")
        return f"{name.capitalize()} is undefined for every strategy, so none can be ranked on it."

    best = None
    if "best" in rows.columns:
        for b in rows["best"]:
            if isinstance(b, str) and b in finite.index:
                best = b
                break
    if best is None:
        best = finite.idxmin() if lower_is_better else finite.idxmax()
    b = float(finite[best])
    others = finite.drop(best)
    undefined = [s for s in means.index if s not in finite.index]

    if metric == "cac":
        lead = f"On cost per customer, {best} has the lowest CAC at {_fmt('cac', b)}"
    else:
        lead = f"On customers, {best} wins the most, {b:,.1f} accounts on average"

    if others.empty:
        if undefined:
            return (f"{lead}; it is the only strategy with a defined {name} "
                    f"({', '.join(undefined)} won no customers).")
        return f"{lead}; there is no other strategy to compare it with."

    runner = others.idxmin() if lower_is_better else others.idxmax()
    r = float(others[runner])
    diff = abs(r - b)
    rrow = rows.loc[runner]
    clear = _truthy(rrow.get("clear"))
    p = rrow.get("p_value")
    n = rrow.get("n")
    stat_bits = []
    if _finite(p):
        stat_bits.append(f"p = {float(p):.3g}")
    if _finite(n):
        stat_bits.append(f"n = {int(float(n))} replications")
    stat = f" ({', '.join(stat_bits)})" if stat_bits else ""
    verdict = CLEAR_TEXT if clear else UNCLEAR_TEXT

    if math.isclose(diff, 0.0, rel_tol=1e-12, abs_tol=1e-12):
        return (f"{best} and {runner} tie on {name} ({_fmt(metric, b) if metric == 'cac' else f'{b:,.1f}'} "
                f"each); any difference{stat} is {verdict}.")

    pct = f" ({diff / abs(r) * 100:.1f}%)" if r != 0 else ""
    if metric == "cac":
        delta = f"{_fmt('cac', diff)}{pct} cheaper than the runner-up {runner} ({_fmt('cac', r)})"
    else:
        delta = f"{diff:,.1f}{pct} more than the runner-up {runner} ({r:,.1f})"
    tail = ""
    if undefined and metric == "cac":
        tail = f" CAC is undefined for {', '.join(undefined)} (no customers won)."
    return f"{lead}, {delta}; the difference{stat} is {verdict}.{tail}"


def _runner_up(comparison: pd.DataFrame, metric: str, lower_is_better: bool) -> tuple[str | None, str | None]:
    """(best, runner-up) on ``metric`` as :func:`_winner_clause` names them; None where there is none."""
    rows = comparison[comparison["metric"] == metric].drop_duplicates("strategy").set_index("strategy")
    means = pd.to_numeric(rows["mean"], errors="coerce")
    finite = means[np.isfinite(means)]
    if finite.empty:
        return None, None
    best = next((b for b in rows.get("best", []) if isinstance(b, str) and b in finite.index), None)
    if best is None:
        best = finite.idxmin() if lower_is_better else finite.idxmax()
    others = finite.drop(best)
    if others.empty:
        return best, None
    return best, (others.idxmin() if lower_is_better else others.idxmax())


def _others_clause(comparison: pd.DataFrame, metric: str, lower_is_better: bool) -> str:
    """Every strategy but the best and the runner-up (whose verdict the winner clause gives): which differ
    clearly from the best (the paired 95% CI of the difference excludes zero, with the difference and its
    interval) and which do not."""
    if comparison is None or comparison.empty or not {"metric", "strategy"} <= set(comparison.columns):
        return ""
    if comparison[comparison["metric"] == metric].empty:
        return ""
    best, runner = _runner_up(comparison, metric, lower_is_better)
    if best is None or runner is None:
        return ""
    rows = comparison[comparison["metric"] == metric].drop_duplicates("strategy").set_index("strategy")
    clear_parts, unclear = [], []
    for strat, row in rows.iterrows():
        if strat in (best, runner) or not _finite(row.get("diff_vs_best")):
            continue
        if not _truthy(row.get("clear")):
            unclear.append(str(strat))
            continue
        d = float(row["diff_vs_best"])
        worse = d > 0 if lower_is_better else d < 0
        lo, hi = sorted((abs(float(row["diff_ci_low"])), abs(float(row["diff_ci_high"])))) \
            if _finite(row.get("diff_ci_low")) and _finite(row.get("diff_ci_high")) else (math.nan, math.nan)
        ci = f" (95% paired CI {_fmt(metric, lo)} to {_fmt(metric, hi)})" if _finite(lo) else ""
        if metric == "cac":
            what = f"{_fmt('cac', abs(d))} {'more' if worse else 'less'} per customer"
        else:
            what = f"{abs(d):,.1f} {'fewer' if worse else 'more'} customers"
        clear_parts.append(f"{strat}, {what}{ci}")
    name = "CAC" if metric == "cac" else "customers won"
    out = []
    if clear_parts:
        out.append(f"Clearly behind {best} on {name} (the 95% paired CI of the difference excludes zero): "
                   + "; ".join(clear_parts) + ".")
    if unclear:
        out.append(f"The difference between {best} and {', '.join(unclear)} on {name} is not statistically clear.")
    return " ".join(out)


def finding_sentence(comparison: pd.DataFrame) -> str:
    """Plain sentences: who wins on CAC and on customers, by how much and how clearly, then every other strategy
    that differs clearly from the best on either (with the paired difference and its 95% interval), so a clear
    gap is never hidden behind an unclear one between the top two."""
    cac = _winner_clause(comparison, "cac", lower_is_better=True)
    cac_others = _others_clause(comparison, "cac", lower_is_better=True)
    cust = _winner_clause(comparison, "customers_won", lower_is_better=False)
    cust_others = _others_clause(comparison, "customers_won", lower_is_better=False)
    return " ".join(t for t in (cac, cac_others, cust, cust_others) if t)


# --------------------------------------------------------------------------- table

def _strategy_order(comparison: pd.DataFrame) -> list[str]:
    if comparison is None or comparison.empty or "strategy" not in comparison.columns:
        return []
    return list(dict.fromkeys(comparison["strategy"].tolist()))


def comparison_table_html(comparison: pd.DataFrame, metrics: Sequence[str] | None = None) -> str:
    """HTML table: one row per strategy, one column per metric (mean, 95% CI, difference vs best)."""
    metrics = list(metrics) if metrics is not None else list(DEFAULT_METRICS)
    if comparison is None or comparison.empty or not {"strategy", "metric"} <= set(comparison.columns):
        return '<p class="muted">No comparison figures available.</p>'
    present = set(comparison["metric"])
    metrics = [m for m in metrics if m in present]
    if not metrics:
        return '<p class="muted">None of the requested metrics are in the comparison.</p>'
    strategies = _strategy_order(comparison)
    idx = comparison.drop_duplicates(["strategy", "metric"]).set_index(["strategy", "metric"])
    frac = {m: _is_fraction_metric(comparison, m) for m in metrics}

    e = html.escape
    body_rows = []
    for s in strategies:
        cells: list = [str(s)]
        for m in metrics:
            if (s, m) not in idx.index:
                cells.append(Cell(NA, "muted"))
                continue
            row = idx.loc[(s, m)]
            fmt = lambda x, signed=False: _fmt(m, x, signed=signed, fraction=frac[m])  # noqa: E731
            mean_txt = fmt(row.get("mean"))
            ci = ""
            if _finite(row.get("ci_low")) and _finite(row.get("ci_high")):
                ci = f'<span class="ci">[{e(fmt(row["ci_low"]))}, {e(fmt(row["ci_high"]))}]</span>'
            best = row.get("best")
            cls = []
            if isinstance(best, str) and best == s:
                diff_txt = '<span class="badge">best</span>'
                cls.append("best")
            elif _finite(row.get("diff_vs_best")):
                dci = ""
                if _finite(row.get("diff_ci_low")) and _finite(row.get("diff_ci_high")):
                    dci = f" [{e(fmt(row['diff_ci_low'], True))}, {e(fmt(row['diff_ci_high'], True))}]"
                clear = _truthy(row.get("clear"))
                if clear:
                    cls.append("clear")
                mark = " &#10003;" if clear else ""
                diff_txt = f'<span class="diff">vs best: {e(fmt(row["diff_vs_best"], True))}{dci}{mark}</span>'
            else:
                diff_txt = '<span class="diff muted">vs best: n/a</span>'
            cells.append(Cell(Html(f'<span class="mean">{e(mean_txt)}</span> {ci}<br>{diff_txt}'), " ".join(cls)))
        body_rows.append(cells)

    ns = pd.to_numeric(comparison.get("n", pd.Series(dtype=float)), errors="coerce").dropna()
    n_txt = ""
    if not ns.empty:
        lo, hi = int(ns.min()), int(ns.max())
        n_txt = f"{lo} replications per strategy" if lo == hi else f"{lo}-{hi} replications per strategy"
    note = ("Cells: mean [95% CI]; second line: difference from the best strategy on that metric "
            "[95% paired CI] (rate differences in percentage points, pp). Highlighted cells (&#10003;) differ from the best with a paired CI that "
            "excludes zero; <b>best</b> marks the best strategy.")
    if n_txt:
        note += " " + e(n_txt) + "."
    return (table(["Strategy", *(_label(m) for m in metrics)], body_rows, row_headers=True)
            + f'<p class="note">{note}</p>')


# --------------------------------------------------------------------------- scenario: spend, rep time, overrides

_MISSING = object()
#: What a strategy may set (``channels.*``, ``sales.*``, ``policy.*``); a base-level ``--set`` there applies to
#: every strategy (sim.config.scenario.Scenario.with_overrides).
_STRATEGY_SECTIONS = ("channels", "sales", "policy")


def _dig(d, parts):
    for p in parts:
        if not isinstance(d, Mapping) or p not in d:
            return _MISSING
        d = d[p]
    return d


def _value_text(v) -> str:
    """A parameter value in words: 5,000; 0.3; [10, 40]; true; "text"."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v.is_integer() and abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:g}"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value_text(x) for x in v) + "]"
    return str(v)


def override_sentences(overrides: Mapping | None, scenario=None, preset=None) -> list[str]:
    """Every ``--set`` override in words, in the order given, with the preset's value: "market.n_accounts set to 500
    (preset: 2,000)". A base-level override of a strategy parameter (``channels.*``, ``sales.*``, ``policy.*``)
    replaces the value every strategy set for itself, and says so with those values; ``strategies.NAME.path``
    changes one strategy. ``preset``: the scenario before the overrides (its values are left out without it);
    ``scenario``: after them (names the strategies a later per-strategy override set apart)."""
    if not overrides:
        return []
    pre = preset.to_dict() if preset is not None else None
    final = scenario if scenario is not None else None
    out = []
    for path, value in overrides.items():
        parts = str(path).split(".")
        v = _value_text(value)
        if parts[0] == "strategies" and len(parts) > 2:
            name, sub = parts[1], parts[2:]
            text = f"{'.'.join(sub)} set to {v} for {name} only"
            if pre is not None:
                own = _dig(pre.get("strategies", {}).get(name, {}), sub)
                was = own if own is not _MISSING else _dig(pre, sub)
                if was is not _MISSING:
                    text += f" (preset: {_value_text(was)}" + ("" if own is not _MISSING else ", from the base") + ")"
            out.append(text)
            continue
        if parts[0] not in _STRATEGY_SECTIONS:
            text = f"{path} set to {v}"
            if pre is not None and (was := _dig(pre, parts)) is not _MISSING:
                text += f" (preset: {_value_text(was)})"
            out.append(text)
            continue
        text = f"{path} set to {v} for every strategy"
        apart = []
        if final is not None:
            apart = [n for n in final.strategies
                     if _dig(final.config_dict(n), parts) is not _MISSING and _dig(final.config_dict(n), parts) != value]
        if pre is not None:
            base = _dig(pre, parts)
            own = {n: _dig(o, parts) for n, o in pre.get("strategies", {}).items()}
            own = {n: x for n, x in own.items() if x is not _MISSING}
            bits = []
            if base is not _MISSING:
                bits.append(f"preset: {_value_text(base)} in the base")
            if own:
                bits.append("replacing the strategies' own values: "
                            + ", ".join(f"{n} {_value_text(x)}" for n, x in own.items()))
            elif pre.get("strategies"):
                bits.append("no strategy sets its own value")
            if bits:
                text += f" ({'; '.join(bits)})"
        if apart:
            text += f"; then {', '.join(apart)} set on {'its' if len(apart) == 1 else 'their'} own (below)"
        out.append(text)
    return out


def spend_frame(scenario, timeseries: pd.DataFrame | None = None, strategies: Sequence[str] | None = None) -> pd.DataFrame:
    """Per strategy and spend item (each channel, then ``reps``): what the resolved scenario plans over the horizon
    and what the runs spent. Columns: ``strategy``, ``item``, ``budget`` (the channel's budget, $ a year, times
    horizon / 365; for ``reps`` n_reps x cost_per_rep_day x horizon), ``fixed`` (the channel's fixed cost while it is
    active, over the horizon), ``planned`` (budget + fixed), ``spent`` (mean over replications of the sum of the
    ``new_cost_<item>`` column; NaN without a timeseries)."""
    from sim.config.parameters import CHANNELS

    strategies = list(strategies) if strategies is not None else list(scenario.strategies)
    years = scenario.horizon_days / 365.0
    spent = None
    if timeseries is not None and not timeseries.empty and {"strategy", "seed"} <= set(timeseries.columns):
        cols = [c for c in timeseries.columns if str(c).startswith("new_cost_")]
        if cols:
            spent = timeseries.groupby(["strategy", "seed"], sort=False)[cols].sum().groupby(level=0, sort=False).mean()
    rows = []
    for strat in strategies:
        cfg = scenario.config_dict(strat)
        items = [(ch, cfg["channels"][ch]) for ch in CHANNELS if ch in cfg["channels"]]
        for ch, c in items:
            budget = float(c.get("budget", 0.0)) * years
            fixed = float(c.get("fixed_cost", 0.0)) * years if c.get("budget", 0.0) > 0 else 0.0
            rows.append((strat, ch, budget, fixed))
        sales = cfg["sales"]
        rows.append((strat, "reps", sales["n_reps"] * sales["cost_per_rep_day"] * scenario.horizon_days, 0.0))
    df = pd.DataFrame(rows, columns=["strategy", "item", "budget", "fixed"])
    df["planned"] = df["budget"] + df["fixed"]
    df["spent"] = [float(spent.loc[s, f"new_cost_{i}"]) if spent is not None and s in spent.index
                   and f"new_cost_{i}" in spent.columns else math.nan for s, i in zip(df["strategy"], df["item"])]
    return df


def spend_table_html(scenario, timeseries: pd.DataFrame | None = None, strategies: Sequence[str] | None = None,
                     n_reps: int | None = None) -> str:
    """HTML table: per channel (rows) and strategy (columns) the planned spend over the horizon and the measured
    spend (mean over replications), then the sales team and the total; a note says how to read it."""
    df = spend_frame(scenario, timeseries, strategies)
    if df.empty:
        return '<p class="muted">No strategies.</p>'
    e = html.escape
    strategies = list(dict.fromkeys(df["strategy"]))
    has_spent = df["spent"].notna().any()
    items = [i for i in dict.fromkeys(df["item"])
             if (df.loc[df["item"] == i, ["planned", "spent"]].fillna(0.0).abs().to_numpy().sum() > 0)]
    unused = [i for i in dict.fromkeys(df["item"]) if i not in items]
    idx = df.set_index(["strategy", "item"])
    body = []
    for item in [*items, "total"]:
        label = "sales reps" if item == "reps" else ("total" if item == "total" else item.replace("_", " "))
        cells: list = [label]
        for s in strategies:
            if item == "total":
                sub = df[df["strategy"] == s]
                planned, fixed, spent = sub["planned"].sum(), sub["fixed"].sum(), sub["spent"].sum(min_count=1)
                budget = sub["budget"].sum()
            else:
                r = idx.loc[(s, item)]
                planned, fixed, spent, budget = r["planned"], r["fixed"], r["spent"], r["budget"]
            plan = f'<span class="mean">{e(format_money(planned))}</span>'
            if fixed > 0:
                plan += f'<br><span class="ci">{e(format_money(budget))} + {e(format_money(fixed))} fixed</span>'
            if has_spent:
                share = f" ({spent / planned:.0%})" if _finite(spent) and planned > 0 else ""
                plan += f'<br><span class="diff">spent {e(format_money(spent))}{e(share)}</span>'
            cells.append(Html(plan))
        body.append(cells)
    fixed_notes = []
    for ch in items:
        if ch == "reps":
            continue
        f = df.loc[(df["item"] == ch) & (df["fixed"] > 0), "fixed"]
        if not f.empty:
            fixed_notes.append(f"{ch.replace('_', ' ')} {format_money(f.iloc[0])}")
    cfg = scenario.config_dict(strategies[0])["sales"]
    note = (f"First line: planned spend over the {scenario.horizon_days}-day horizon from the scenario as resolved "
            f"(a channel's yearly budget x {scenario.horizon_days}/365, plus its fixed cost while its budget is above "
            f"zero{': ' + ', '.join(fixed_notes) if fixed_notes else ''}; sales reps: {cfg['n_reps']} reps x "
            f"{format_money(cfg['cost_per_rep_day'])} a day).")
    if has_spent:
        reps_txt = f" over {n_reps} replications" if n_reps else ""
        note += (f" 'spent': what the runs spent (the new_cost_&lt;channel&gt; columns, mean{e(reps_txt)}) and its share "
                 "of the plan; a channel spends less than planned when it cannot use the money (email is sent only to "
                 "known contacts; dials are limited by the reps' dialing hours).")
    if unused:
        note += " No strategy spends on: " + e(", ".join(u.replace("_", " ") for u in unused)) + "."
    return table(["Spend ($)", *strategies], body, row_headers=True) + f'<p class="note">{note}</p>'



def rep_time_table_html(scenario, strategies: Sequence[str] | None = None) -> str:
    """HTML table: per rep activity (rows) and strategy (columns) the share of rep hours and the team's hours a
    day it makes."""
    from sim.config.parameters import REP_ACTIVITIES

    strategies = list(strategies) if strategies is not None else list(scenario.strategies)
    cfgs = {s: scenario.config_dict(s)["sales"] for s in strategies}
    rows: list[list] = [["team", *(f"{c['n_reps']} reps x {c['hours_per_day']:g} h a day" for c in cfgs.values())]]
    for act in REP_ACTIVITIES:
        cells: list = [act]
        for s in strategies:
            c = cfgs[s]
            share = float(c["split"].get(act, 0.0))
            hours = share * c["n_reps"] * c["hours_per_day"]
            cells.append(Html(f'<span class="mean">{share:.0%}</span><br><span class="ci">{hours:,.1f} team h a day'
                              f"</span>"))
        rows.append(cells)
    note = ("Share of the reps' selling hours each strategy gives to each activity (sales.split) and the team's "
            "hours a day that makes; meetings are the hours available for sales conversations.")
    return table(["Rep time", *strategies], rows, row_headers=True) + f'<p class="note">{note}</p>'



def overrides_html(overrides: Mapping | None, scenario=None, preset=None) -> str:
    """The ``--set`` overrides as a list in words, or a line saying there were none."""
    lines = override_sentences(overrides, scenario, preset)
    if not lines:
        return '<p class="muted">No --set overrides: the scenario as its file defines it.</p>'
    e = html.escape
    return ("<p>Changed from the scenario file for this run (--set):</p><ul>"
            + "".join(f"<li>{e(t)}</li>" for t in lines) + "</ul>")


# --------------------------------------------------------------------------- page

def _captions() -> dict[str, str]:
    try:
        # imported here: the report stays usable without drawing charts
        from sim.analysis.charts import CAPTIONS

        return dict(CAPTIONS)
    except Exception:  # pragma: no cover - charts module unavailable
        return {}


def _with_captions(chart_paths) -> dict:
    """path -> caption: the given caption, else the comparison chart's (by file stem), else the stem in words."""
    if chart_paths is None:
        return {}
    pairs = chart_paths.items() if isinstance(chart_paths, Mapping) else ((p, None) for p in chart_paths)
    captions = _captions()
    out = {}
    for p, cap in pairs:
        stem = pathlib.Path(p).stem
        out[p] = cap or captions.get(stem) or stem.replace("_", " ").capitalize()
    return out


def write_report(path, *, title: str, question: str, scenario_description: str,
                 comparison: pd.DataFrame, chart_paths, manifest: dict,
                 metrics: Sequence[str] | None = None, sections: Sequence[tuple[str, str]] = (),
                 scenario=None, timeseries: pd.DataFrame | None = None, strategies: Sequence[str] | None = None,
                 overrides: Mapping | None = None, preset=None) -> pathlib.Path:
    """Write the self-contained HTML report to `path` (parent directories created) and return it.
    ``sections``: more ``(heading, paragraph)`` pairs after the comparison (plain text, escaped here).

    With ``scenario`` (the resolved :class:`sim.Scenario`) the scenario section also has what each strategy
    spends per channel (planned, and measured from ``timeseries``'s ``new_cost_<channel>`` columns when given)
    and how its reps split their time. ``overrides`` (``{"market.n_accounts": 500}``; default: the manifest's
    ``overrides``) are listed in words, with the values of ``preset`` (the scenario before them) when given."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    e = html.escape
    order = _strategy_order(comparison)
    strat_txt = ", ".join(order) if order else "none"
    if overrides is None and isinstance(manifest, Mapping) and isinstance(manifest.get("overrides"), Mapping):
        overrides = manifest["overrides"]
    scenario_parts = [f"<p>{e(str(scenario_description))}</p>"]
    if scenario is not None or overrides:
        scenario_parts.append(overrides_html(overrides, scenario, preset))
    if scenario is not None:
        chosen = [s for s in (strategies or order or scenario.strategies) if s in scenario.strategies]
        n_reps = None
        if timeseries is not None and not timeseries.empty and "seed" in timeseries.columns:
            n_reps = int(timeseries["seed"].nunique())
        scenario_parts.append("<h3>What each strategy spends, per channel</h3>\n"
                              + spend_table_html(scenario, timeseries, chosen, n_reps))
        scenario_parts.append("<h3>How each strategy's reps split their time</h3>\n"
                              + rep_time_table_html(scenario, chosen))
    scenario_html = "\n".join(scenario_parts)
    body = f"""<p class="question"><b>Question:</b> {e(str(question))}</p>
<h2>Scenario</h2>
{scenario_html}
<p class="muted">Strategies compared: {e(strat_txt)}.</p>
<h2>Main finding</h2>
<p class="finding">{e(finding_sentence(comparison))}</p>
<h2>Comparison</h2>
{comparison_table_html(comparison, metrics)}""" + "".join(f"\n<h2>{e(h)}</h2>\n<p>{e(t)}</p>" for h, t in sections)
    doc = page(str(title), body, _with_captions(chart_paths), manifest if manifest is not None else {})
    path.write_text(doc, encoding="utf-8")
    return path
