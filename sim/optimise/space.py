"""The decision space of an optimisation: channel budgets on a simplex, the reps' time split on a simplex, and
optional ranges (team size, lead-score threshold), with bounds from a constraints file or flags.

Budgets and the split are parametrised so that an optimiser sees a plain unit cube and every point of it is a
feasible plan (:func:`simplex_point`, :func:`fill`):

1. ``k`` free parts of a whole take ``k - 1`` coordinates ``z`` in [0, 1]; stick-breaking with the Beta(1, k - i)
   quantile (``v = 1 - (1 - z)^(1 / (k - i))``) maps the uniform cube onto the uniform simplex (Devroye 1986,
   ch. XI), so the search's prior treats every part alike;
2. the shares spread what is left above the minimums over the parts, capped at each part's maximum; what a
   capped part cannot take goes to the others in proportion to their shares (water-filling), so the parts sum
   to the whole exactly and respect every bound.

A part whose bounds meet (``fixed``, a channel left out) is not a coordinate at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.config.scenario import Scenario, ScenarioError, read_toml
from sim.engine.channels import CHANNELS
from sim.engine.mechanisms.sales import REP_ACTIVITIES

__all__ = [
    "OBJECTIVES",
    "OBJECTIVE_LABELS",
    "RANGED",
    "RECOMMENDED",
    "Constraints",
    "Part",
    "Simplex",
    "Space",
    "channel_budgets",
    "fill",
    "load_constraints",
    "rep_split",
    "simplex_coords",
    "simplex_point",
]

#: What the optimiser may maximise or minimise (per run: :func:`sim.optimise.search.per_run`).
OBJECTIVES = ("customers", "cac", "profit", "ltv_to_cac")

#: Each objective's label, unit and direction ("max" or "min"), in tables, charts and the report.
OBJECTIVE_LABELS = {
    "customers": ("customers won", "accounts", "max"),
    "cac": ("CAC", "$ per customer", "min"),
    "profit": ("profit (customers x LTV - total cost)", "$", "max"),
    "ltv_to_cac": ("LTV : CAC", "ratio", "max"),
}

#: The name of the recommended plan in tables, charts and the written scenario.
RECOMMENDED = "optimised"

#: Scalar decisions that may be searched over a range: path -> (type, what it is).
RANGED = {
    "sales.n_reps": ("int", "team size (reps)"),
    "policy.lead_score_threshold": ("float", "lead-score threshold for handing a lead to sales"),
}

_EPS = 1e-12


def simplex_point(z: Sequence[float]) -> np.ndarray:
    """Shares (``len(z) + 1`` of them, summing to 1) from a point of the unit cube; the uniform cube gives the
    uniform simplex."""
    z = np.clip(np.asarray(z, dtype=float), 0.0, 1.0)
    k = z.size + 1
    w = np.empty(k)
    rest = 1.0
    for i, zi in enumerate(z):
        v = 1.0 - (1.0 - zi) ** (1.0 / (k - 1 - i))
        w[i] = rest * v
        rest -= w[i]
    w[-1] = max(rest, 0.0)
    return w / w.sum()


def simplex_coords(w: Sequence[float]) -> np.ndarray:
    """The inverse of :func:`simplex_point`: cube coordinates of shares ``w`` (normalised first)."""
    w = np.clip(np.asarray(w, dtype=float), 0.0, None)
    w = w / w.sum() if w.sum() > 0 else np.full(w.size, 1.0 / w.size)
    k = w.size
    z = np.empty(k - 1)
    rest = 1.0
    for i in range(k - 1):
        v = 0.0 if rest <= _EPS else min(w[i] / rest, 1.0)
        z[i] = 1.0 - (1.0 - v) ** (k - 1 - i)
        rest -= w[i]
    return np.clip(z, 0.0, 1.0)


def fill(total: float, shares: Sequence[float], low: Sequence[float], high: Sequence[float]) -> np.ndarray:
    """Split ``total`` into parts with ``low <= part <= high`` and ``sum == total``: the minimums first, the rest in
    proportion to ``shares``, a part that would pass its maximum capped and its excess spread over the others
    (water-filling). Needs ``sum(low) <= total <= sum(high)``."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    w = np.clip(np.asarray(shares, dtype=float), 0.0, None)
    x = low.copy()
    rest = float(total - low.sum())
    room = high - low
    free = room > _EPS
    for _ in range(low.size + 1):
        if rest <= _EPS * max(1.0, abs(total)) or not free.any():
            break
        wf = np.where(free, w, 0.0)
        if wf.sum() <= 0:  # the shares sit on capped parts only: spread by room
            wf = np.where(free, room, 0.0)
        add = rest * wf / wf.sum()
        over = free & (add >= room - _EPS)
        if not over.any():
            x += add
            rest = 0.0
            break
        x[over] = high[over]
        rest -= float(room[over].sum())
        room = np.where(over, 0.0, room)
        free &= ~over
    # exact sum: put the rounding residue on the part with the most room
    residue = float(total - x.sum())
    if residue and low.size:
        j = int(np.argmax(np.where(residue > 0, high - x, x - low)))
        x[j] += residue
    return x


@dataclass
class Part:
    """One part of a whole (a channel's budget, an activity's share of rep time) and its bounds."""

    name: str
    low: float = 0.0
    high: float = math.inf


@dataclass
class Simplex:
    """Parts that sum to ``total``; ``free`` parts are searched, the others sit at their (equal) bounds."""

    label: str
    total: float
    parts: list[Part]

    @property
    def free(self) -> list[Part]:
        return [p for p in self.parts if p.high - p.low > _EPS * max(1.0, self.total) and self.total > 0]

    @property
    def dims(self) -> int:
        """Coordinates of the cube it takes (one fewer than its free parts; none for one free part)."""
        return max(len(self.free) - 1, 0)

    def check(self, where: str, key: str, unit: str) -> None:
        lows = sum(p.low for p in self.parts)
        highs = sum(min(p.high, self.total) for p in self.parts)
        for p in self.parts:
            if p.low > p.high:
                raise ScenarioError(where, f"{key}.{p.name}", f"minimum {_num(p.low, unit)} is above its maximum "
                                                              f"{_num(p.high, unit)}")
            if p.low > self.total + _EPS:
                raise ScenarioError(where, f"{key}.{p.name}", f"minimum {_num(p.low, unit)} is above the total "
                                                              f"{_num(self.total, unit)}; lower it or raise the total")
        if lows > self.total * (1 + 1e-9) + _EPS:
            raise ScenarioError(where, key, f"the minimums add up to {_num(lows, unit)}, above the total "
                                            f"{_num(self.total, unit)}; lower them or raise the total")
        if highs < self.total * (1 - 1e-9) - _EPS:
            raise ScenarioError(where, key, f"the maximums add up to {_num(highs, unit)}, below the total "
                                            f"{_num(self.total, unit)}; raise them, include more parts or lower "
                                            f"the total")

    def values(self, z: Sequence[float]) -> dict[str, float]:
        """The parts (name -> amount) at cube coordinates ``z`` (``dims`` of them)."""
        out = {p.name: float(p.low) for p in self.parts}
        free = self.free
        if not free:
            return out
        fixed = sum(p.low for p in self.parts if p not in free)
        shares = simplex_point(z) if len(free) > 1 else np.ones(1)
        x = fill(self.total - fixed, shares, [p.low for p in free], [min(p.high, self.total) for p in free])
        out.update({p.name: float(v) for p, v in zip(free, x)})
        return out

    def coords(self, amounts: Mapping[str, float]) -> np.ndarray:
        """Cube coordinates that give (about) ``amounts``: the shares above the minimums. A plan outside the
        bounds is projected onto them."""
        free = self.free
        if len(free) < 2:
            return np.zeros(0)
        above = [max(float(amounts.get(p.name, 0.0)) - p.low, 0.0) for p in free]
        return simplex_coords(above)


@dataclass
class Space:
    """The whole decision space: channel budgets, the reps' split, optional ranged scalars. ``encode`` and
    ``decode`` map between a unit cube (named coordinates, as the optimiser sees them) and scenario overrides."""

    budgets: Simplex
    split: Simplex
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return ([f"budget_{i}" for i in range(self.budgets.dims)] + [f"split_{i}" for i in range(self.split.dims)]
                + list(self.ranges))

    @property
    def dims(self) -> int:
        return len(self.names())

    def decode(self, point: Mapping[str, float]) -> dict[str, Any]:
        """Scenario overrides (``channels.<c>.budget``, ``sales.split.<a>``, ranged paths) of a cube point."""
        zb = [point[f"budget_{i}"] for i in range(self.budgets.dims)]
        zs = [point[f"split_{i}"] for i in range(self.split.dims)]
        out: dict[str, Any] = {f"channels.{c}.budget": v for c, v in self.budgets.values(zb).items()}
        out.update({f"sales.split.{a}": v for a, v in self.split.values(zs).items()})
        for path, (lo, hi) in self.ranges.items():
            kind = RANGED[path][0]
            v = lo + float(point[path]) * (hi - lo)
            out[path] = round(v) if kind == "int" else float(v)
        return out

    def encode(self, overrides: Mapping[str, Any]) -> dict[str, float]:
        """The cube point of a plan (e.g. a preset strategy): its budgets rescaled to the total and projected on
        the bounds (the plan's mix at this budget)."""
        b = {c: float(overrides.get(f"channels.{c}.budget", 0.0)) for c in CHANNELS}
        s = {a: float(overrides.get(f"sales.split.{a}", 0.0)) for a in REP_ACTIVITIES}
        point = {f"budget_{i}": float(v) for i, v in enumerate(self.budgets.coords(b))}
        point.update({f"split_{i}": float(v) for i, v in enumerate(self.split.coords(s))})
        for path, (lo, hi) in self.ranges.items():
            v = float(overrides.get(path, lo))
            point[path] = 0.0 if hi <= lo else float(np.clip((v - lo) / (hi - lo), 0.0, 1.0))
        return point


def channel_budgets(overrides: Mapping[str, Any]) -> dict[str, float]:
    return {c: float(overrides.get(f"channels.{c}.budget", 0.0)) for c in CHANNELS}


def rep_split(overrides: Mapping[str, Any]) -> dict[str, float]:
    return {a: float(overrides.get(f"sales.split.{a}", 0.0)) for a in REP_ACTIVITIES}


# --------------------------------------------------------------------------------------------------------
# Constraints: a small TOML file or flags
# --------------------------------------------------------------------------------------------------------


@dataclass
class Constraints:
    """Bounds on the decisions. ``channels``/``split``: name -> (min, max) (a channel with max 0 is left out);
    ``ranges``: ranged path -> (min, max)."""

    channels: dict[str, tuple[float, float]] = field(default_factory=dict)
    split: dict[str, tuple[float, float]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    where: str = "constraints"

    def space(self, budget: float) -> Space:
        budgets = Simplex("channel budgets", float(budget),
                          [Part(c, *self.channels.get(c, (0.0, math.inf))) for c in CHANNELS])
        split = Simplex("rep time split", 1.0, [Part(a, *self.split.get(a, (0.0, 1.0))) for a in REP_ACTIVITIES])
        budgets.check(self.where, "channels", "$")
        split.check(self.where, "split", "share")
        return Space(budgets, split, dict(self.ranges))

    def definition(self) -> dict:
        return {"channels": {k: list(v) for k, v in sorted(self.channels.items())},
                "split": {k: list(v) for k, v in sorted(self.split.items())},
                "ranges": {k: list(v) for k, v in sorted(self.ranges.items())}}


def _num(x: float, unit: str) -> str:
    if unit == "$":
        return "$inf" if math.isinf(x) else f"${x:,.0f}"
    return f"{x:g}"


def _bound(where: str, key: str, value: Any, low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ScenarioError(where, key, f"must be a number, got {value!r}")
    v = float(value)
    if v < low or (high is not None and v > high):
        rng = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise ScenarioError(where, key, f"must be {rng}, got {value!r}")
    return v


def _bounds_table(where: str, key: str, table: Any, names: Sequence[str], high: float | None,
                  ) -> dict[str, tuple[float, float]]:
    if not isinstance(table, Mapping):
        raise ScenarioError(where, key, "must be a table of name = { min = ..., max = ... }")
    out: dict[str, tuple[float, float]] = {}
    for name, spec in table.items():
        k = f"{key}.{name}"
        if name not in names:
            raise ScenarioError(where, k, f"unknown name {name!r}; allowed: {', '.join(names)}")
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            v = _bound(where, k, spec, 0.0, high)
            out[name] = (v, v)
            continue
        if not isinstance(spec, Mapping):
            raise ScenarioError(where, k, "must be a number (fixed) or a table { min = ..., max = ... }")
        extra = set(spec) - {"min", "max", "fixed"}
        if extra:
            raise ScenarioError(where, f"{k}.{min(extra)}", "unknown key; allowed: min, max, fixed")
        if "fixed" in spec:
            v = _bound(where, f"{k}.fixed", spec["fixed"], 0.0, high)
            out[name] = (v, v)
            continue
        lo = _bound(where, f"{k}.min", spec.get("min", 0.0), 0.0, high)
        hi = _bound(where, f"{k}.max", spec["max"], 0.0, high) if "max" in spec else (math.inf if high is None
                                                                                        else high)
        if lo > hi:
            raise ScenarioError(where, k, f"min {lo:g} is above max {hi:g}")
        out[name] = (lo, hi)
    return out


def parse_ranges(where: str, key: str, table: Any) -> dict[str, tuple[float, float]]:
    """``{path: {min, max}}`` for the ranged decisions (team size, lead-score threshold)."""
    if not isinstance(table, Mapping):
        raise ScenarioError(where, key, "must be a table of path = { min = ..., max = ... }")
    from sim.config.parameters import lookup

    out: dict[str, tuple[float, float]] = {}
    for path, spec in table.items():
        k = f"{key}.{path}" if key else path
        if path not in RANGED:
            raise ScenarioError(where, k, f"cannot be searched; allowed: {', '.join(RANGED)}")
        if not isinstance(spec, Mapping) or set(spec) != {"min", "max"}:
            raise ScenarioError(where, k, "must be a table { min = ..., max = ... }")
        p = lookup(path)
        floor = float(p.lo if p.lo is not None else 0)
        lo = _bound(where, f"{k}.min", spec["min"], floor, p.hi)
        hi = _bound(where, f"{k}.max", spec["max"], floor, p.hi)
        if lo > hi:
            raise ScenarioError(where, k, f"min {lo:g} is above max {hi:g}")
        if RANGED[path][0] == "int" and (lo != int(lo) or hi != int(hi)):
            raise ScenarioError(where, k, f"must be whole numbers, got {lo:g} to {hi:g}")
        out[path] = (lo, hi)
    return out


def make_constraints(data: Mapping, where: str = "constraints") -> tuple[Constraints, dict]:
    """Constraints (and the other settings the file may hold: ``objective``, ``budget``, ...) from a mapping with
    the layout of a constraints file (see :data:`FILE_HELP`)."""
    data = dict(data)
    settings_keys = {"objective", "budget", "strategy", "trials", "replications", "batch", "confirm_replications",
                     "curve_replications", "seed", "curve_steps"}
    allowed = {"channels", "split", "ranges", *settings_keys}
    for k in data:
        if k not in allowed:
            raise ScenarioError(where, k, f"unknown key; allowed: {', '.join(sorted(allowed))}")
    c = Constraints(where=where)
    c.channels = _bounds_table(where, "channels", data.get("channels", {}), CHANNELS, None)
    c.split = _bounds_table(where, "split", data.get("split", {}), REP_ACTIVITIES, 1.0)
    c.ranges = parse_ranges(where, "ranges", data.get("ranges", {}))
    return c, {k: data[k] for k in settings_keys if k in data}


def load_constraints(path: str | Path) -> tuple[Constraints, dict]:
    path = Path(path)
    return make_constraints(read_toml(path, "constraints"), where=str(path))


FILE_HELP = """\
constraints file format (TOML; every key optional; flags override it):

  objective = "profit"            # customers | cac | profit | ltv_to_cac
  budget = 400_000                # $ per year over all channels (default: the largest a strategy spends)
  strategy = "blended"            # whose other settings (policy, ...) the candidates keep
  trials = 100                    # candidates searched
  replications = 5                # seeds per candidate (the same seeds for every candidate)

  [channels]                      # $ per year
  content = { min = 50_000, max = 200_000 }
  paid_search = 0                 # fixed (0 = left out)

  [split]                         # shares of rep time
  dialing = { max = 0.3 }

  [ranges]                        # optional decisions searched over a range
  "sales.n_reps" = { min = 3, max = 8 }
  "policy.lead_score_threshold" = { min = 0.2, max = 0.6 }
"""


def strategy_plan(scenario: Scenario, strategy: str) -> dict[str, Any]:
    """A strategy's decisions as overrides: every channel's budget, the split and the ranged scalars."""
    cfg = scenario.config_dict(strategy)
    out: dict[str, Any] = {f"channels.{c}.budget": float(cfg["channels"][c]["budget"]) for c in CHANNELS}
    out.update({f"sales.split.{a}": float(cfg["sales"]["split"][a]) for a in REP_ACTIVITIES})
    out["sales.n_reps"] = int(cfg["sales"]["n_reps"])
    out["policy.lead_score_threshold"] = float(cfg["policy"]["lead_score_threshold"])
    return out
