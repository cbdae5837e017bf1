"""What a mechanism or a channel declares next to its code: parameters, flows and stocks, and its
place in the day.

A component module (``sim/engine/mechanisms/*.py``) or class (``sim/engine/channels/*.py``) states

* ``PARAMS``: its parameters, ``{name: P(default, kind, lo, hi, unit, source)}``, under its scenario
  section (``SECTION``, e.g. ``"need"``; a channel's is ``channels.<name>``);
* ``FLOWS`` / ``STOCKS``: the daily result columns it records (``Metric``: name, label, unit), so
  that every run has the same columns and a misspelt name raises instead of adding one;
* ``STATE``: the buyer or account columns it owns (``State``: name, dtype, initial value);
* ``STEPS``: where it acts in the day (``Step``: order, name, what it does).

``sim.config.parameters`` assembles the schema (and so the TOML template) from the ``PARAMS``,
``sim.engine.metrics`` the metric registry from ``FLOWS``/``STOCKS`` and the summary metrics, and
``sim.engine.schedule`` the day's order from ``STEPS``. Nothing is discovered: the components are
listed once, in ``sim.engine.components``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class P:
    """One parameter: default value, kind, inclusive bounds, unit and source."""

    default: Any
    kind: str  # "int" | "float" | "bool" | "str" | "list[int]"
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    source: str = "assumption"
    doc: str = ""
    choices: tuple = ()

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            if self.lo is not None and self.hi is not None:
                return f"{noun} from {self.lo:g} to {self.hi:g}"
            if self.lo is not None:
                return f"{noun} >= {self.lo:g}"
            return noun
        if self.kind == "list[int]":
            return "a list of whole days" + (f" from {self.lo:g}" if self.lo is not None else "")
        return {"bool": "true or false", "str": "a string"}[self.kind]


@dataclass(frozen=True)
class Metric:
    """One result: a daily flow (``new_*``), a daily stock (``n_*`` or a level) or a per-run summary.

    ``better`` is "max" (more is better), "min" (less is better) or "" (neither: a description);
    ``fmt`` tells reports how to print it: "count", "money", "percent", "ratio", "days", "share",
    "number".
    """

    name: str
    label: str
    unit: str = ""
    better: str = ""
    fmt: str = "number"
    doc: str = ""

    @property
    def display(self) -> str:
        """The label with its unit, for tables and chart axes: "CAC ($ per customer)"."""
        return f"{self.label} ({self.unit})" if self.unit and "(" not in self.label else self.label

    def __post_init__(self):
        if self.better not in ("max", "min", ""):
            raise ValueError(f"Metric {self.name!r}: better must be 'max', 'min' or '', got {self.better!r}")


@dataclass(frozen=True)
class State:
    """A column a component owns: one value per buyer (``per="buyer"``) or per account, of ``dtype``,
    starting at ``fill``. ``Population`` allocates every declared column (``pop.<name>``)."""

    name: str
    dtype: str
    fill: Any
    doc: str
    per: str = "buyer"

    def __post_init__(self):
        if self.per not in ("buyer", "account"):
            raise ValueError(f"State {self.name!r}: per must be 'buyer' or 'account', got {self.per!r}")


@dataclass(frozen=True)
class Step:
    """A component's place in the day: ``run(model)`` is called at ``order`` (ascending; the numbers
    leave room between components for new ones)."""

    order: int
    name: str
    doc: str
    run: Callable[[Any], None] | None = None  # None: bound by the model (a channel's ``step``)


def flows(*items: tuple[str, str, str]) -> tuple[Metric, ...]:
    """Daily flows from ``(name, label, unit)`` triples (counted events; more is neither good nor bad)."""
    return tuple(Metric(name, label, unit, fmt="count") for name, label, unit in items)


def stocks(*items: tuple[str, str, str]) -> tuple[Metric, ...]:
    """Daily stocks (levels at the end of the day) from ``(name, label, unit)`` triples."""
    return tuple(Metric(name, label, unit) for name, label, unit in items)


def sections(module) -> dict[str, dict]:
    """The parameter sections a component declares: ``{SECTION: PARAMS}`` plus its ``EXTRA_SECTIONS``
    (a mechanism that owns a second section, e.g. the decision's ``competitors``)."""
    out = {module.SECTION: module.PARAMS} if hasattr(module, "PARAMS") else {}
    out.update(getattr(module, "EXTRA_SECTIONS", {}))
    return out
