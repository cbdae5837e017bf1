"""The reporting kit: format_value / format_money / format_number (sim/analysis/formatting.py) and the HTML
writers (sim/analysis/html.py: table escaping, figure, page)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.analysis.formatting import NA, fmt_of, format_money, format_number, format_value, metric_label
from sim.analysis.html import Cell, Html, figure, frame_table, page, table

NAN = float("nan")


# ---------------------------------------------------------------- money

@pytest.mark.parametrize("x, text", [
    (0, "$0"), (5, "$5.00"), (45.2, "$45.20"), (100, "$100"), (850, "$850"), (1_500, "$1,500"), (9_999.4, "$9,999"),
    (9_999.6, "$10k"),  # rounds to 10,000: the k style
    (10_000, "$10k"), (12_345, "$12.3k"), (152_345, "$152k"), (999_951, "$1M"),  # 999.95k rounds up a unit
    (1_000_000, "$1M"), (1_500_000, "$1.5M"), (1_502_200, "$1.5M"), (12_300_000, "$12.3M"), (999.96e6, "$1B"),
    (1.2345e9, "$1.23B"), (1.5e12, "$1,500B"),
])
def test_money_thresholds(x, text):
    assert format_money(x) == text


def test_money_signs_and_missing():
    assert format_money(-1_500_000) == "-$1.5M"
    assert format_money(-45.2) == "-$45.20"
    assert format_money(12_345, signed=True) == "+$12.3k"
    assert format_money(-12_345, signed=True) == "-$12.3k"
    assert format_money(-0.001) == "$0.00"  # no "-$0.00"
    for x in (NAN, None, math.inf, -math.inf, "12"):
        assert format_money(x) == NA


def test_money_ticks_stay_distinct_on_a_narrow_axis():
    assert [format_money(x, step=10_000) for x in (1.47e6, 1.48e6, 1.5e6)] == ["$1.47M", "$1.48M", "$1.50M"]
    assert [format_money(x, step=250_000) for x in (0, 250_000, 1e6)] == ["$0", "$250k", "$1.0M"]
    assert format_money(2_000, step=2_000) == "$2,000"


# ---------------------------------------------------------------- format_value, by the registry's fmt

def test_fmt_comes_from_the_registry():
    assert fmt_of("cac") == "money" and fmt_of("conversion_rate") == "percent" and fmt_of("ltv_to_cac") == "ratio"
    assert fmt_of("median_cycle_days") == "days" and fmt_of("customers_won") == "count"
    assert fmt_of("median_progress_at_first_contact") == "share" and fmt_of("payback_months") == "number"
    assert fmt_of("new_cost_email") == "money" and fmt_of("cum_cost") == "money"  # daily columns too
    assert fmt_of("no_such_metric") == "number" and fmt_of("money") == "money"
    assert metric_label("cac") == "CAC ($ per customer)" and metric_label("no_such_metric") == "no such metric"


@pytest.mark.parametrize("fmt, x, text, diff", [
    ("money", 152_345.0, "$152k", "+$152k"),
    ("percent", 0.0312, "3.1%", "+3.1 pp"),
    ("ratio", 2.5, "2.50x", "+2.50x"),
    ("share", 0.5734, "0.573", "+0.573"),
    ("days", 45.46, "45.5", "+45.5"),
    ("count", 12.34, "12.3", "+12.3"),
    ("count", 1_234.5, "1,234", "+1,234"),
    ("number", 14.26, "14.3", "+14.3"),
    ("number", 0.01234, "0.0123", "+0.0123"),
])
def test_each_format(fmt, x, text, diff):
    assert format_value(fmt, x) == text
    assert format_value(fmt, x, signed=True) == diff
    assert format_value(fmt, -x) == "-" + text


def test_negatives_and_rounding_to_zero():
    assert format_value("money", -152_345.0) == "-$152k"
    assert format_value("percent", -0.012, signed=True) == "-1.2 pp"
    assert format_value("percent", -0.012) == "-1.2%"
    assert format_value("days", -0.01, signed=True) == "0.0"  # never "-0.0"
    assert format_value("ratio", -0.25) == "-0.25x"


@pytest.mark.parametrize("fmt", ["count", "percent", "money", "ratio", "number", "days", "share", "cac"])
def test_missing_is_na_in_every_format(fmt):
    for x in (NAN, None, math.inf, np.float64("nan")):
        assert format_value(fmt, x) == NA
        assert format_value(fmt, x, signed=True) == NA


def test_format_value_by_metric_name():
    assert format_value("cac", 1_500.0) == "$1,500"
    assert format_value("conversion_rate", 0.25) == "25.0%"
    assert format_value("lead_to_opportunity_rate", 0.125) == "12.5%"


def test_format_number():
    assert format_number(0.123456) == "0.1235"
    assert format_number(12.345678) == "12.35"
    assert format_number(123_456.7) == "123,457"
    assert format_number(1.23e-5) == "1.230e-05"
    assert format_number(1_234) == "1,234" and format_number(np.int64(12_345)) == "12,345"
    assert format_number(0.5, 3, signed=True) == "+0.5" and format_number(-2.0) == "-2"
    assert format_number(NAN) == NA and format_number(None) == NA
    assert format_number(math.inf) == "inf" and format_number(-math.inf) == "-inf"


# ---------------------------------------------------------------- html

def test_table_escapes_text_and_keeps_html():
    out = table(["a<b", "c & d"], [["<script>x</script>", Html("<b>bold</b>")], ['"q"', Cell("<i>", "pass")]])
    assert "<th>a&lt;b</th><th>c &amp; d</th>" in out
    assert "<td>&lt;script&gt;x&lt;/script&gt;</td>" in out and "<script>" not in out
    assert "<td><b>bold</b></td>" in out
    assert "<td>&quot;q&quot;</td>" in out
    assert '<td class="pass">&lt;i&gt;</td>' in out
    assert out.startswith('<div class="tablewrap"><table>') and out.endswith("</table></div>")


def test_table_alignment_classes_and_row_headers():
    out = table(["name", "value"], [["x", "1"]], align=["left", "right"], classes={"value": "num"}, row_headers=True,
                wrap=False)
    assert out == ('<table><thead><tr><th>name</th><th>value</th></tr></thead><tbody><tr>'
                   '<th scope="row" class="l">x</th><td class="r num">1</td></tr></tbody></table>')


def test_frame_table_formats_values():
    df = pd.DataFrame({"name": ["<a>", "b"], "x": [1234.5678, NAN], "n": [3, 4], "ok": [True, False],
                       "cost": [1.5e6, 2e4]})
    out = frame_table(df, {"cost": format_money})
    assert "&lt;a&gt;" in out and "1,235" in out and f"<td>{NA}</td>" in out
    assert "<td>yes</td>" in out and "<td>no</td>" in out and "$1.5M" in out and "$20k" in out
    assert frame_table(df.iloc[0:0], empty="None.") == '<p class="muted">None.</p>'


def test_figure_and_page(tmp_path):
    png = tmp_path / "my_chart.png"
    png.write_bytes(b"\x89PNG fake")
    f = figure(png, "A <caption>", number=2)
    assert 'alt="my chart"' in f and "data:image/png;base64," in f and "Figure 2. A &lt;caption&gt;" in f
    assert figure(b"\x89PNG fake", "bytes").startswith("<figure><img")
    assert "Chart missing: gone.png" in figure(tmp_path / "gone.png", "x")
    doc = page("T <1>", "<p>body</p>", {png: "cap"}, {"seeds": [1, 2, 3, 4, 5], "command": "run"})
    assert "<title>T &lt;1&gt;</title>" in doc and "<h1>T &lt;1&gt;</h1>" in doc and "<p>body</p>" in doc
    assert "<h2>Charts</h2>" in doc and "Figure 1. cap" in doc and "1-5 (5 seeds)" in doc
    bare = page("T", "<p>b</p>", heading="Other")
    assert "<h2>Charts</h2>" not in bare and "Run facts" not in bare and "<h1>Other</h1>" in bare
