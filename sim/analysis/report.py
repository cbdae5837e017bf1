"""Self-contained HTML report for a strategy comparison.

The report is one HTML file: inline CSS, charts embedded as base64 ``data:`` URIs,
no scripts and no external requests. All text is escaped with :func:`html.escape`.

Inputs: the ``comparison`` frame from ``sim.stats.compare`` (see docs/CONTRACT.md),
the chart PNG paths from ``sim.charts.make_all`` and the run manifest dict.
"""

from __future__ import annotations

import base64
import html
import json
import math
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_METRICS", "METRIC_LABELS", "finding_sentence", "comparison_table_html", "write_report"]

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

_MONEY = {k for k, m in _registry().items() if m.fmt == "money"}
_PERCENT = {k for k, m in _registry().items() if m.fmt == "percent"}

CLEAR_TEXT = "statistically clear (95% paired CI excludes zero)"
UNCLEAR_TEXT = "not statistically clear at this number of replications"


# --------------------------------------------------------------------------- formatting

def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _is_fraction_metric(comparison: pd.DataFrame, metric: str) -> bool:
    """Percent metrics are stored as fractions (0..1); tolerate frames that already use %."""
    if metric not in _PERCENT:
        return False
    vals = pd.to_numeric(comparison.loc[comparison["metric"] == metric, "mean"], errors="coerce")
    vals = vals[np.isfinite(vals)]
    return vals.empty or vals.abs().max() <= 1.0 + 1e-9


def _fmt(metric: str, x, *, signed: bool = False, fraction: bool = True) -> str:
    if not _finite(x):
        return "n/a"
    x = float(x)
    sign = "+" if signed and x > 0 else ("-" if x < 0 else "")
    a = abs(x)
    if metric in _MONEY:
        body = f"${a:,.0f}" if a >= 100 else f"${a:,.2f}"
    elif metric in _PERCENT:
        v = a * 100 if fraction else a
        body = f"{v:.1f} pp" if signed else f"{v:.1f}%"  # differences of rates: percentage points
        return f"{sign}{body}" if signed or x < 0 else body
    elif metric == "ltv_to_cac":
        body = f"{a:.2f}x"
    elif metric.endswith("_days") or metric == "payback_months":
        body = f"{a:,.1f}"
    elif "progress" in metric:
        body = f"{a:.3f}"
    elif a >= 1000:
        body = f"{a:,.0f}"
    else:
        body = f"{a:,.1f}" if a >= 1 or a == 0 else f"{a:.3g}"
    return f"{sign}{body}" if (signed or x < 0) else body


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


def finding_sentence(comparison: pd.DataFrame) -> str:
    """One or two plain sentences: who wins on CAC and on customers, by how much, and how clearly."""
    cac = _winner_clause(comparison, "cac", lower_is_better=True)
    cust = _winner_clause(comparison, "customers_won", lower_is_better=False)
    return f"{cac} {cust}"


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
    head = "".join(f"<th>{e(_label(m))}</th>" for m in metrics)
    body_rows = []
    for s in strategies:
        cells = [f'<th scope="row">{e(str(s))}</th>']
        for m in metrics:
            if (s, m) not in idx.index:
                cells.append('<td class="muted">n/a</td>')
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
            cls_attr = f' class="{" ".join(cls)}"' if cls else ""
            cells.append(f"<td{cls_attr}><span class=\"mean\">{e(mean_txt)}</span> {ci}<br>{diff_txt}</td>")
        body_rows.append("<tr>" + "".join(cells) + "</tr>")

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
    return (f'<div class="tablewrap"><table><thead><tr><th>Strategy</th>{head}</tr></thead>'
            f'<tbody>{"".join(body_rows)}</tbody></table></div><p class="note">{note}</p>')


# --------------------------------------------------------------------------- manifest

_MANIFEST_KEYS = [
    ("Seeds", ("seeds", "seed_list")),
    ("Replications", ("reps", "n_reps", "replications", "n_seeds")),
    ("Version", ("version", "sim_version", "package_version")),
    ("Command", ("command", "cmd", "argv")),
    ("Started", ("start_time", "started", "started_at", "start")),
    ("Finished", ("end_time", "finished", "finished_at", "end")),
]


def _short(value, limit: int = 300) -> str:
    if isinstance(value, (list, tuple)):
        vals = list(value)
        if vals and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
            ints = [int(v) for v in vals]
            if len(ints) > 3 and ints == list(range(ints[0], ints[0] + len(ints))):
                return f"{ints[0]}-{ints[-1]} ({len(ints)} seeds)"
        if vals and all(isinstance(v, str) for v in vals):
            text = " ".join(vals)
        else:
            text = ", ".join(str(v) for v in vals)
    elif isinstance(value, Mapping):
        text = json.dumps(value, default=str, sort_keys=True)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _manifest_html(manifest: Mapping | None) -> str:
    manifest = dict(manifest or {})
    e = html.escape
    items = []
    used = set()
    for label, keys in _MANIFEST_KEYS:
        for k in keys:
            if k in manifest and manifest[k] is not None:
                items.append((label, _short(manifest[k], 600)))
                used.add(k)
                break
    nested = []
    for k, v in manifest.items():
        if k in used or v is None:
            continue
        if isinstance(v, Mapping):
            nested.append((str(k), _short(v, 2000)))
        else:
            items.append((str(k).replace("_", " "), _short(v)))
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items)
    det = "".join(f"<details><summary>{e(k)}</summary><pre>{e(v)}</pre></details>" for k, v in nested)
    if not dl and not det:
        return '<p class="muted">No run manifest recorded.</p>'
    return f"<dl>{dl}</dl>{det}"


# --------------------------------------------------------------------------- page

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px 28px 40px;background:#fff}
h1{font-size:1.7em;margin:0.2em 0 0.4em}
h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:4px}
.question{font-size:1.1em;color:#333}
.finding{background:#eef6ee;border-left:5px solid #2ca02c;padding:10px 14px;font-size:1.05em}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;font-size:0.85em;margin-top:8px}
th,td{border:1px solid #ddd;padding:6px 8px;vertical-align:top;text-align:right}
thead th{background:#f0f0f0;text-align:center}
tbody th{text-align:left;background:#f8f8f8;white-space:nowrap}
td .mean{font-weight:600}
td .ci,td .diff{color:#555;font-size:0.9em;white-space:nowrap}
td.best{background:#eef6ee}
td.clear{background:#fff4d6}
.badge{background:#2ca02c;color:#fff;border-radius:3px;padding:0 5px;font-size:0.85em}
.note,.muted{color:#666;font-size:0.85em}
figure{margin:18px 0 28px}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:0.9em;margin-top:4px}
footer{margin-top:36px;border-top:1px solid #ddd;padding-top:10px;font-size:0.82em;color:#555}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
dt{font-weight:600}
dd{margin:0;word-break:break-word;font-family:Menlo,Consolas,monospace}
pre{white-space:pre-wrap;word-break:break-word;font-size:0.9em}
"""


def _captions() -> dict[str, str]:
    try:
        # imported here: the report stays usable without drawing charts
        from sim.analysis.charts import CAPTIONS

        return dict(CAPTIONS)
    except Exception:  # pragma: no cover - charts module unavailable
        return {}


def html_page(title: str, body: str, chart_paths, manifest: Mapping | None) -> str:
    """A self-contained report page: head and style, ``title``, ``body`` (HTML), the charts and the run
    facts. The comparison report and the sweep report share it."""
    e = html.escape
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{e(title)}</h1>
{body}
<h2>Charts</h2>
{_figures_html(chart_paths)}
<footer>
<h3>Run facts</h3>
{_manifest_html(manifest)}
</footer>
</main>
</body>
</html>
"""


def _figures_html(chart_paths) -> str:
    if chart_paths is None:
        return '<p class="muted">No charts.</p>'
    if isinstance(chart_paths, Mapping):
        pairs = [(pathlib.Path(p), c) for p, c in chart_paths.items()]
    else:
        pairs = [(pathlib.Path(p), None) for p in chart_paths]
    captions = _captions()
    e = html.escape
    out = []
    for i, (p, cap) in enumerate(pairs, start=1):
        cap = cap or captions.get(p.stem) or p.stem.replace("_", " ").capitalize()
        try:
            data = base64.b64encode(p.read_bytes()).decode("ascii")
        except OSError:
            out.append(f'<p class="muted">Chart missing: {e(p.name)}</p>')
            continue
        alt = p.stem.replace("_", " ")
        out.append(f'<figure><img alt="{e(alt)}" src="data:image/png;base64,{data}">'
                   f"<figcaption>Figure {i}. {e(str(cap))}</figcaption></figure>")
    return "\n".join(out) if out else '<p class="muted">No charts.</p>'


def write_report(path, *, title: str, question: str, scenario_description: str,
                 comparison: pd.DataFrame, chart_paths, manifest: dict,
                 metrics: Sequence[str] | None = None, sections: Sequence[tuple[str, str]] = ()) -> pathlib.Path:
    """Write the self-contained HTML report to `path` (parent directories created) and return it.
    ``sections``: more ``(heading, paragraph)`` pairs after the comparison (plain text, escaped here)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    e = html.escape
    strategies = _strategy_order(comparison)
    strat_txt = ", ".join(strategies) if strategies else "none"
    body = f"""<p class="question"><b>Question:</b> {e(str(question))}</p>
<h2>Scenario</h2>
<p>{e(str(scenario_description))}</p>
<p class="muted">Strategies compared: {e(strat_txt)}.</p>
<h2>Main finding</h2>
<p class="finding">{e(finding_sentence(comparison))}</p>
<h2>Comparison</h2>
{comparison_table_html(comparison, metrics)}""" + "".join(f"\n<h2>{e(h)}</h2>\n<p>{e(t)}</p>" for h, t in sections)
    doc = html_page(str(title), body, chart_paths, manifest)
    path.write_text(doc, encoding="utf-8")
    return path
