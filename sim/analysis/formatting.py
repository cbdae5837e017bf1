"""How every report and chart prints a number: one money style, one missing-value mark, one rule per format.

The format of a metric comes from the metric registry (``sim.engine.declare.Metric.fmt``: count, percent,
money, ratio, number, days, share), so a report never lists metric names to decide how to print them::

    format_value("cac", 152_345.0)           # '$152k'
    format_value("conversion_rate", 0.0312)  # '3.1%'
    format_value("percent", 0.012, signed=True)  # '+1.2 pp' (a difference of rates: percentage points)
    format_money(1_502_200)                  # '$1.5M'

Money: three significant digits with k (from $10,000), M and B, trailing zeros dropped ("$1.5M", "$12.3k",
"$152k"); whole dollars from $100 to $9,999 ("$850", "$1,500"); cents below $100 ("$45.20"); the sign before
the dollar ("-$1.5M"). A value that is missing, NaN or infinite prints as :data:`NA` wherever it appears.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["NA", "FORMATS", "finite", "fmt_of", "metric_label", "format_money", "format_number", "format_value",
           "format_percent"]

#: What a missing or undefined value (None, NaN, infinite) prints as, in every table, sentence and chart label.
NA = "n/a"

#: The formats a metric may declare (``Metric.fmt``).
FORMATS = ("count", "percent", "money", "ratio", "number", "days", "share")

#: (from, scale, unit) of money amounts: k from $10,000 (below it whole dollars read as well), M, B.
_UNITS = ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k"))


def finite(x: Any) -> bool:
    """Whether ``x`` is a finite number (not None, NaN, infinite, a string or a bool)."""
    if x is None or isinstance(x, (bool, str)):
        return False
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _sign(x: float, signed: bool) -> str:
    return "-" if x < 0 else ("+" if signed and x > 0 else "")


def _signed(text: str, x: float, signed: bool) -> str:
    """``text`` (the magnitude) with the sign of ``x``; none when it rounds to zero ("0.0", not "-0.0")."""
    if not any(ch in "123456789" for ch in text):
        return text
    return _sign(x, signed) + text


def fmt_of(name: str) -> str:
    """The format of a metric (its registry entry's ``fmt``); a format name is itself; an unknown name "number"."""
    if name in FORMATS:
        return name
    from sim.engine.metrics import metric

    try:
        return metric(name).fmt
    except KeyError:
        return "number"


def metric_label(name: str) -> str:
    """A metric's label with its unit from the registry ("CAC ($ per customer)"); an unknown name in words."""
    from sim.engine.metrics import metric

    try:
        return metric(name).display
    except KeyError:
        return name.replace("_", " ")


def _scaled(a: float) -> tuple[float, str]:
    for start, scale, unit in _UNITS:
        if a >= start:
            return scale, unit
    return 1.0, ""


def format_money(x: Any, *, signed: bool = False, step: float | None = None) -> str:
    """A dollar amount in the one money style (see the module's doc): "$1.5M", "$12.3k", "$850", "-$45.20".

    ``signed``: a "+" before a positive amount (a difference). ``step``: the spacing of an axis's ticks; the
    amount then gets as many decimals of its unit as keep neighbouring ticks distinct (trailing zeros kept, so
    an axis reads "$1.47M, $1.48M, $1.49M")."""
    if not finite(x):
        return NA
    x = float(x)
    a = abs(x)
    if a == 0:
        return "$0"
    scale, unit = _scaled(a)
    if step is not None and step > 0:
        decimals = max(0, math.ceil(-math.log10(step / scale) - 1e-9)) if step < scale else 0
        return _signed(f"${a / scale:,.{min(decimals, 4)}f}{unit}", x, signed)
    if not unit:
        text = f"{a:,.0f}" if a >= 100 else f"{a:,.2f}"
        if round(a) < 1e4:
            return _signed("$" + text, x, signed)
        scale, unit = 1e3, "k"  # $9,999.50 rounds to $10,000: say $10k
    r = a / scale
    text = f"{r:.{max(0, 2 - int(math.floor(math.log10(r))))}f}"
    if float(text) >= 1000 and unit != "B":  # $999.95k rounds to $1,000k: say $1M
        scale, unit = {"k": (1e6, "M"), "M": (1e9, "B")}[unit]
        r = a / scale
        text = f"{r:.2f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if r >= 1000:  # thousands of billions
        text = f"{r:,.0f}"
    return _signed(f"${text}{unit}", x, signed)

def format_number(x: Any, digits: int = 4, *, signed: bool = False) -> str:
    """A plain number with ``digits`` significant digits and thousands separators: 0.1235, 12.35, 1,235,
    123,457 (whole numbers from 10^digits on); exponent notation below 0.001 (1.235e-05). Integers print whole
    (1,234); infinite values as "inf" / "-inf"; None and NaN as :data:`NA`."""
    if x is None or isinstance(x, str):
        return NA if x is None else x
    if isinstance(x, bool):
        return "true" if x else "false"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return NA
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    sign = "+" if signed and v > 0 else ""
    if isinstance(x, numbers.Integral):
        return f"{sign}{int(x):,}"
    a = abs(v)
    if a == 0:
        return "0"
    if a < 1e-3:
        return f"{sign}{v:.{max(digits - 1, 0)}e}"
    if a >= 10 ** digits:
        return f"{sign}{v:,.0f}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(a))))
    text = f"{v:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return sign + text


def format_percent(x: Any, decimals: int = 1, *, signed: bool = False) -> str:
    """A fraction (0.0312) as a per cent ("3.1%"); ``signed``: a difference of rates, in percentage points
    ("+1.2 pp")."""
    if not finite(x):
        return NA
    v = 100 * float(x)
    if signed:
        return _signed(f"{abs(v):.{decimals}f} pp", v, True)
    return _signed(f"{abs(v):.{decimals}f}%", v, False)


def format_value(metric_or_fmt: str, x: Any, *, signed: bool = False) -> str:
    """``x`` as the registry's format of the metric ``metric_or_fmt`` (or that format, named) prints it.

    money: :func:`format_money`; percent (stored as a fraction): "3.1%", signed "+1.2 pp"; ratio: "2.50x";
    share (0-1): "0.573"; days: "45.5"; count: "12.3", "1,234"; number: as count, three significant digits
    below 1 ("0.0123"). ``signed`` puts "+" before a positive value (a difference); a negative one always
    has its "-". Missing, NaN or infinite: :data:`NA`."""
    if not finite(x):
        return NA
    fmt = fmt_of(metric_or_fmt)
    v = float(x)
    if fmt == "money":
        return format_money(v, signed=signed)
    if fmt == "percent":
        return format_percent(v, signed=signed)
    a = abs(v)
    if fmt == "ratio":
        text = f"{a:.2f}x"
    elif fmt == "share":
        text = f"{a:.3f}"
    elif fmt == "days":
        text = f"{a:,.1f}"
    elif a >= 1000:
        text = f"{a:,.0f}"
    elif fmt == "number" and 0 < a < 1:
        text = f"{a:.3g}"
    else:
        text = f"{a:,.1f}"
    return _signed(text, v, signed)
