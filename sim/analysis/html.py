"""The HTML of every report: one page shell, one table writer, one figure.

A report is one self-contained file: inline CSS, charts embedded as base64 ``data:`` URIs, no scripts and no
external requests. Text is escaped here; what is HTML already is marked :class:`Html` and inserted as it is::

    body = table(["strategy", "CAC"], [["direct", "$152k"], ["<b>", Html("<b>bold</b>")]],
                 align=["left", "right"])
    page("Sweep x", body, {"charts/a.png": "What chart a shows."}, manifest)

Used by the comparison report (sim.analysis.report) and the reports of sweeps, calibration, optimisation,
attribution and validation.
"""

from __future__ import annotations

import base64
import html as _html
import json
import numbers
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.analysis.formatting import NA, format_number

__all__ = ["CSS", "Html", "Cell", "escape", "page", "table", "frame_table", "figure", "figures", "manifest_html",
           "cell_text"]


class Html(str):
    """Text that is HTML already: :func:`table`, :func:`figure` and :func:`page` insert it without escaping."""


@dataclass(frozen=True)
class Cell:
    """A table cell with its own class (``"pass"``, ``"best"``...): ``content`` is text (escaped) or
    :class:`Html`."""

    content: Any
    cls: str = ""


def escape(text: Any) -> str:
    """``text`` as HTML: :class:`Html` as it is, anything else escaped (``str()`` of it)."""
    return text if isinstance(text, Html) else _html.escape("" if text is None else str(text))


_ALIGN = {"left": "l", "right": "r", "center": "c", "": ""}


def _column(spec: Any, i: int, name: Any) -> str:
    if spec is None:
        return ""
    if isinstance(spec, Mapping):
        return spec.get(name, spec.get(i, "")) or ""
    return spec[i] if i < len(spec) else ""


def table(header: Sequence[Any], rows: Sequence[Sequence[Any]], *, align: Sequence[str] | Mapping | None = None,
          classes: Sequence[str] | Mapping | None = None, row_headers: bool = False, wrap: bool = True) -> str:
    """An HTML table: ``header`` (column titles), then ``rows`` (sequences of cells: text, :class:`Html` or
    :class:`Cell`). ``align`` / ``classes``: per column (a sequence, or a mapping by column title or index), the
    alignment ("left", "right", "center"; numbers are right-aligned by default) and CSS classes of its cells.
    ``row_headers``: the first cell of each row is a row header. ``wrap``: in a horizontally scrolling block."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    names = list(header)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            name = names[i] if i < len(names) else i
            cls = [c for c in (_ALIGN.get(_column(align, i, name), _column(align, i, name)),
                               _column(classes, i, name)) if c]
            if isinstance(v, Cell):
                if v.cls:
                    cls.append(v.cls)
                v = v.content
            attr = f' class="{" ".join(cls)}"' if cls else ""
            if row_headers and i == 0:
                cells.append(f'<th scope="row"{attr}>{escape(v)}</th>')
            else:
                cells.append(f"<td{attr}>{escape(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="tablewrap">{out}</div>' if wrap else out


def cell_text(v: Any, digits: int = 4) -> str:
    """A table value as text: a number with :func:`sim.analysis.formatting.format_number` (``digits``
    significant), a bool as yes / no, None and NaN as :data:`sim.analysis.formatting.NA`, anything else
    ``str()``."""
    if v is None:
        return NA
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v
    try:
        float(v)
    except (TypeError, ValueError):
        return str(v)
    return format_number(v, digits)


def frame_table(df: Any, formats: Mapping[str, Any] | None = None, *, digits: int = 4, empty: str | None = None,
                **kwargs: Any) -> str:
    """:func:`table` of a DataFrame: its columns as the header, each value as ``formats[column](value)`` or
    :func:`cell_text`. ``empty``: what an empty frame shows instead (a muted line), if given; ``kwargs``: those
    of :func:`table`."""
    if empty is not None and (df is None or df.empty):
        return f'<p class="muted">{escape(empty)}</p>'
    formats = formats or {}
    cols = list(df.columns)
    rows = [[formats[c](v) if c in formats else cell_text(v, digits) for c, v in zip(cols, r)]
            for r in df.itertuples(index=False, name=None)]
    return table([str(c) for c in cols], rows, **kwargs)


def figure(png: str | pathlib.Path | bytes, caption: str, *, alt: str | None = None, number: int | None = None) -> str:
    """A figure: the PNG (a file's path, or the image's bytes) embedded as a ``data:`` URI, with its caption
    (prefixed "Figure <number>." when given). A missing file is a muted line saying so."""
    if isinstance(png, (bytes, bytearray)):
        data, stem = bytes(png), None
    else:
        p = pathlib.Path(png)
        stem = p.stem
        try:
            data = p.read_bytes()
        except OSError:
            return f'<p class="muted">Chart missing: {escape(p.name)}</p>'
    alt = alt if alt is not None else (stem.replace("_", " ") if stem else str(caption))
    b64 = base64.b64encode(data).decode("ascii")
    lead = f"Figure {number}. " if number is not None else ""
    return (f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{escape(lead)}{escape(caption)}</figcaption></figure>")


def figures(charts: Mapping | Sequence | None) -> str:
    """Numbered figures of ``charts`` (path -> caption, or paths: the caption is the file's stem in words)."""
    if not charts:
        return '<p class="muted">No charts.</p>'
    pairs = charts.items() if isinstance(charts, Mapping) else ((p, None) for p in charts)
    out = [figure(p, cap or pathlib.Path(p).stem.replace("_", " ").capitalize(), number=i)
           for i, (p, cap) in enumerate(pairs, start=1)]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------------
# Run facts
# --------------------------------------------------------------------------------------------------------

_MANIFEST_KEYS = [
    ("Seeds", ("seeds", "seed_list")),
    ("Replications", ("reps", "n_reps", "replications", "n_seeds")),
    ("Version", ("version", "sim_version", "package_version")),
    ("Command", ("command", "cmd", "argv")),
    ("Started", ("start_time", "started", "started_at", "start")),
    ("Finished", ("end_time", "finished", "finished_at", "end")),
]


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _short(value: Any, limit: int = 300) -> str:
    if isinstance(value, (list, tuple)):
        vals = list(value)
        if vals and all(_is_int(v) for v in vals):
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


def manifest_html(manifest: Mapping | None) -> str:
    """The run facts: the usual ones first (seeds, replications, version, command, times), then every other
    key; nested ones folded."""
    manifest = dict(manifest or {})
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
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    det = "".join(f"<details><summary>{escape(k)}</summary><pre>{escape(v)}</pre></details>" for k, v in nested)
    if not dl and not det:
        return '<p class="muted">No run manifest recorded.</p>'
    return f"<dl>{dl}</dl>{det}"


# --------------------------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------------------------

#: The one style sheet of the reports.
CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px 28px 40px;background:#fff}
h1{font-size:1.7em;margin:0.2em 0 0.4em}
h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:1.0em;margin:1.2em 0 0.2em}
.question{font-size:1.1em;color:#333}
.finding{background:#eef6ee;border-left:5px solid #2ca02c;padding:10px 14px;font-size:1.05em}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;font-size:0.85em;margin-top:8px}
th,td{border:1px solid #ddd;padding:6px 8px;vertical-align:top;text-align:right}
thead th{background:#f0f0f0;text-align:center}
tbody th{text-align:left;background:#f8f8f8;white-space:nowrap}
td.l,th.l{text-align:left}
td.r,th.r{text-align:right;white-space:nowrap}
td.c,th.c{text-align:center}
td .mean{font-weight:600}
td .ci,td .diff{color:#555;font-size:0.9em;white-space:nowrap}
td.best{background:#eef6ee}
td.clear{background:#fff4d6}
td.pass{background:#e6f4e6;color:#145214;font-weight:bold}
td.fail{background:#fbe3e3;color:#7a1212;font-weight:bold}
td.small{font-size:0.9em;color:#555}
.badge{background:#2ca02c;color:#fff;border-radius:3px;padding:0 5px;font-size:0.85em}
.note,.muted,.small{color:#666;font-size:0.85em}
figure{margin:18px 0 28px}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:0.9em;margin-top:4px}
footer{margin-top:36px;border-top:1px solid #ddd;padding-top:10px;font-size:0.82em;color:#555}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
dt{font-weight:600}
dd{margin:0;word-break:break-word;font-family:Menlo,Consolas,monospace}
pre{white-space:pre-wrap;word-break:break-word;font-size:0.9em}
"""


def page(title: str, body: str, charts: Mapping | Sequence | None = None, manifest: Mapping | None = None,
         *, heading: str | None = None) -> str:
    """A self-contained report page: head and style, ``heading`` (default ``title``) as its h1, ``body``
    (HTML), then, if ``charts`` is given (path -> caption, or paths), a Charts section of numbered figures,
    and, if ``manifest`` is given, the run facts (:func:`manifest_html`) in the footer."""
    charts_html = "" if charts is None else f"<h2>Charts</h2>\n{figures(charts)}\n"
    footer = "" if manifest is None else f"<footer>\n<h3>Run facts</h3>\n{manifest_html(manifest)}\n</footer>\n"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>{escape(heading if heading is not None else title)}</h1>
{body}
{charts_html}{footer}</main>
</body>
</html>
"""
