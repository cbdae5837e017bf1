"""Parameter sweeps: run a scenario over a design of parameter values, strategies and seeds.

This module is ``sim.sweeps``; its one-call API is re-exported as ``sim.sweep`` (the function), so
``import sim.sweeps`` gives the module and ``sim.sweep(...)`` runs a sweep. Researchers script against::

    import sim

    if __name__ == "__main__":  # workers=2 spawns processes that re-import this script
        df = sim.sweep("scenarios/default.toml",
                       params={"channels.content.budget": [10_000, 20_000, 40_000],
                               "market.readiness_mean": sim.Uniform(0.4, 0.7)},
                       design="random", n=20, reps=3, strategies=["blended"], workers=2,
                       store="content.sqlite")
        df = sim.load_sweep("content.sqlite")      # the same frame, from the store

The returned DataFrame has one row per run: ``point`` (index of the design point), ``strategy``,
``rep``, ``seed``, one column per swept parameter (and per ``balance`` donor), then every summary
metric of :func:`sim.run`.

Designs (``design=``):

- ``"grid"``: full factorial of the listed values (every parameter a list); ``n`` is not used.
- ``"random"``: ``n`` independent uniform draws in the unit cube, mapped through each parameter's
  distribution (lists are drawn as equally likely choices).
- ``"lhs"``: ``n`` points of a Latin hypercube (scipy.stats.qmc), mapped the same way.
- ``"sobol"``: Saltelli's scheme (SALib ``sobol.sample``, no second order): ``n * (D + 2)`` points for
  ``D`` parameters, ``n`` a power of two; first-order and total Sobol indices with bootstrap confidence
  intervals come from :func:`sobol_indices` (SALib ``sobol.analyze``). Ranges only, no lists.
- ``"morris"``: ``n`` Morris trajectories on 4 levels (``n * (D + 1)`` points), elementary effects from
  :func:`morris_indices`. Ranges only.

Distributions: :class:`Uniform` ``(low, high)``, :class:`LogUniform` ``(low, high)``, :class:`Choice`
``(values)`` (a plain list means a Choice). For an integer parameter a range gives whole numbers from
``low`` to ``high``, each equally likely.

Balance: a share that must keep a total (``sales.split`` sums to 1; a fixed budget) is swept with a
*donor*: ``balance={"sales.split.dialing": "meetings"}`` (or ``{"values": [...], "balance": "meetings"}``
as the parameter's spec) sets ``dialing`` to each value and gives the difference to the donor, per
strategy: ``meetings = meetings_of_that_strategy + (dialing_of_that_strategy - new dialing)``. A donor
without a dot is a sibling of the parameter (same table); with dots it is a full parameter path.

Seeds are fixed in the parent: replication ``r`` of every point and strategy runs on seed ``seed + r``
(common random numbers across points and strategies), and the design points come from ``seed`` too, so
a sweep gives identical numbers serially, in a process pool and on a Dask cluster.

Execution: ``workers=1`` in this process; ``workers=W`` a local pool of W spawned processes (they
re-import the main script, so a script keeps its work under ``if __name__ == "__main__":``);
``executor=`` a ``distributed.Client`` or a scheduler address ``"tcp://host:port"`` runs on a Dask
cluster (the workers need this package installed). With ``store=path`` every finished run is committed
to an SQLite store (see :mod:`sim.store`) at once; calling again with the same store runs only the
missing runs, and a store made by a different sweep definition or package version is refused.

Every input problem raises :class:`sim.ScenarioError` (one line: where, key, what is allowed) before any
run starts.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from sim.analysis.experiment import summaries
from sim.config.parameters import STRATEGY_SECTIONS, P, lookup
from sim.config.scenario import (
    Scenario,
    ScenarioError,
    check_value,
    dotted_paths,
    load_scenario,
    no_such_parameter,
    read_toml,
)
from sim.engine.model import expected_buyers
from sim.engine.summary import SUMMARY_METRICS
from sim.executor import (
    connect,
    progress_bar,
    run_batched,
    stop_if_main_reimported,
)
from sim.store import definition_hash

__all__ = [
    "Uniform",
    "LogUniform",
    "Choice",
    "Sweep",
    "sweep",
    "load_sweep",
    "load_sweep_file",
    "design_points",
    "sobol_indices",
    "morris_indices",
    "DESIGNS",
    "METRICS",
    "DEFAULT_METRICS",
]

#: Design names accepted by ``design=``.
DESIGNS = ("grid", "random", "lhs", "sobol", "morris")

#: Summary metrics of one run (docs/CONTRACT.md), in the engine's order.
METRICS = tuple(SUMMARY_METRICS)

#: Metrics charted and summarised when a sweep names none.
DEFAULT_METRICS = ("customers_won", "cac")

#: Keys of a parameter's spec table (TOML ``{ low = .., high = .. }`` or a Python dict).
SPEC_KEYS = ("values", "low", "high", "dist", "balance")

#: Top-level keys of a sweep TOML file.
FILE_KEYS = ("name", "description", "scenario", "design", "n", "reps", "seed", "strategies", "metrics",
             "overrides", "params")

MORRIS_LEVELS = 4
MAX_POINTS = 200_000  # design points per sweep (each is checked to make a valid scenario before anything runs)
FORMAT = "buyer-journey-sim sweep 1"


# --------------------------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------------------------


class Dist:
    """A distribution over one parameter's values; ``ppf`` maps unit-interval numbers to values."""

    continuous = True

    def ppf(self, u: np.ndarray) -> list:
        raise NotImplementedError

    def to_json(self) -> dict:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        return self.describe()


class Uniform(Dist):
    """Every value from ``low`` to ``high`` equally likely (whole numbers for an integer parameter)."""

    def __init__(self, low: float, high: float):
        self.low, self.high = low, high

    def ppf(self, u):
        u = np.asarray(u, dtype=float)
        return [float(x) for x in self.low + u * (self.high - self.low)]

    def to_json(self):
        return {"dist": "uniform", "low": self.low, "high": self.high}

    def describe(self):
        return f"Uniform({self.low!r}, {self.high!r})"


class LogUniform(Dist):
    """Uniform on a log scale from ``low`` to ``high`` (both > 0): each decade equally likely."""

    def __init__(self, low: float, high: float):
        self.low, self.high = low, high

    def ppf(self, u):
        u = np.asarray(u, dtype=float)
        lo, hi = math.log(self.low), math.log(self.high)
        return [float(x) for x in np.exp(lo + u * (hi - lo))]

    def to_json(self):
        return {"dist": "loguniform", "low": self.low, "high": self.high}

    def describe(self):
        return f"LogUniform({self.low!r}, {self.high!r})"


class Choice(Dist):
    """A list of values: every value in a grid; equally likely choices in random and LHS designs."""

    continuous = False

    def __init__(self, values: Iterable[Any]):
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            self.values = values  # rejected with a clear message by the sweep's validation
        else:
            self.values = list(values)

    def ppf(self, u):
        k = len(self.values)
        idx = np.minimum(np.floor(np.asarray(u, dtype=float) * k).astype(int), k - 1)
        return [self.values[i] for i in idx]

    def to_json(self):
        return {"values": list(self.values) if isinstance(self.values, list) else self.values}

    def describe(self):
        return f"Choice({self.values!r})"


class _IntUniform(Uniform):
    """Whole numbers ``low..high``, each equally likely (an integer parameter's range)."""

    def ppf(self, u):
        u = np.asarray(u, dtype=float)
        lo, hi = int(self.low), int(self.high)
        return [int(x) for x in np.minimum(np.floor(lo + u * (hi - lo + 1)), hi)]

    def to_json(self):
        return {**super().to_json(), "integer": True}


class _IntLogUniform(LogUniform):
    def ppf(self, u):
        return [int(min(max(round(x), int(self.low)), int(self.high))) for x in super().ppf(u)]

    def to_json(self):
        return {**super().to_json(), "integer": True}


# --------------------------------------------------------------------------------------------------------
# Designs and sensitivity analysis on plain functions (no simulator involved)
# --------------------------------------------------------------------------------------------------------


class Design:
    """Points of a design: ``names``, ``values`` (one tuple per point) and the ``unit`` cube sample.

    ``unit`` is the ``(points, D)`` array in [0, 1] the values were mapped from (None for a grid);
    :func:`morris_indices` needs it. ``frame`` is the values as a DataFrame.
    """

    def __init__(self, names: list[str], values: list[tuple], unit: np.ndarray | None, design: str, n: int | None):
        self.names, self.values, self.unit, self.design, self.n = names, values, unit, design, n

    def __len__(self) -> int:
        return len(self.values)

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, columns=self.names)


def _unit_problem(names: Sequence[str]) -> dict:
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream]))


def design_points(params: Mapping[str, Dist], design: str, n: int | None = None, seed: int = 1) -> Design:
    """The points of ``design`` over ``params`` (name -> :class:`Dist`), reproducible from ``seed``.

    grid: full factorial of the Choice values (first parameter varies slowest). random / lhs: ``n`` points.
    sobol: SALib Saltelli sample (``calc_second_order=False``), ``n * (D + 2)`` points. morris: SALib
    Morris sample, ``n`` trajectories, 4 levels, ``n * (D + 1)`` points. Raises ValueError on misuse
    (the sweep validates inputs with friendlier messages first).
    """
    names = list(params)
    dists = [params[k] for k in names]
    d = len(names)
    if d == 0:
        raise ValueError("no parameters to sweep")
    if design == "grid":
        if not all(isinstance(x, Choice) for x in dists):
            raise ValueError("a grid needs a list of values for every parameter")
        values = [tuple(v) for v in itertools.product(*[x.values for x in dists])]
        return Design(names, values, None, design, None)
    if n is None or n < 1:
        raise ValueError(f"design {design!r} needs n >= 1")
    if design == "random":
        unit = _rng(seed, 1).random((n, d))
    elif design == "lhs":
        from scipy.stats import qmc

        try:
            sampler = qmc.LatinHypercube(d=d, rng=_rng(seed, 2))
        except TypeError:  # scipy < 1.15 names it seed
            sampler = qmc.LatinHypercube(d=d, seed=_rng(seed, 2))
        unit = sampler.random(n)
    elif design in ("sobol", "morris"):
        if not all(x.continuous for x in dists):
            raise ValueError(f"design {design!r} needs a range for every parameter, not a list")
        if design == "sobol":
            from SALib.sample import sobol as salib_sobol

            unit = salib_sobol.sample(_unit_problem(names), int(n), calc_second_order=False, scramble=True,
                                      seed=int(seed))
        else:
            from SALib.sample import morris as salib_morris

            unit = salib_morris.sample(_unit_problem(names), int(n), num_levels=MORRIS_LEVELS, seed=int(seed))
    else:
        raise ValueError(f"unknown design {design!r}; choose from {', '.join(DESIGNS)}")
    unit = np.asarray(unit, dtype=float)
    columns = [dist.ppf(unit[:, j]) for j, dist in enumerate(dists)]
    values = [tuple(col[i] for col in columns) for i in range(unit.shape[0])]
    return Design(names, values, unit, design, int(n))


def sobol_indices(names: Sequence[str], y, *, conf_level: float = 0.95, num_resamples: int = 200,
                  seed: int = 1) -> pd.DataFrame:
    """First-order (S1) and total (ST) Sobol indices of outputs ``y`` on a ``design_points(..., "sobol")``.

    ``y[i]`` is the output at point ``i`` (in design order). Returns one row per parameter: ``parameter``,
    ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` where ``*_conf`` is the half-width of SALib's bootstrap
    ``conf_level`` interval (so the interval is ``S1 +- S1_conf``). Raises ValueError on NaN outputs or a
    length that does not fit ``n * (D + 2)``.
    """
    from SALib.analyze import sobol as salib_sobol

    y = np.asarray(y, dtype=float).ravel()
    d = len(names)
    if y.size == 0 or y.size % (d + 2):
        raise ValueError(f"sobol_indices: {y.size} outputs do not fit a Saltelli sample of {d} parameters")
    if not np.all(np.isfinite(y)):
        raise ValueError("sobol_indices: outputs contain NaN or infinity")
    res = salib_sobol.analyze(_unit_problem(names), y, calc_second_order=False, num_resamples=num_resamples,
                              conf_level=conf_level, seed=int(seed))
    return pd.DataFrame({"parameter": list(names), "S1": res["S1"], "S1_conf": res["S1_conf"],
                         "ST": res["ST"], "ST_conf": res["ST_conf"]})


def morris_indices(names: Sequence[str], unit, y, *, conf_level: float = 0.95, num_resamples: int = 200,
                   seed: int = 1) -> pd.DataFrame:
    """Morris elementary effects: ``mu``, ``mu_star`` (mean absolute effect of moving a parameter across
    its whole range, in the output's units), ``mu_star_conf`` (bootstrap half-width) and ``sigma``."""
    from SALib.analyze import morris as salib_morris

    y = np.asarray(y, dtype=float).ravel()
    if not np.all(np.isfinite(y)):
        raise ValueError("morris_indices: outputs contain NaN or infinity")
    res = salib_morris.analyze(_unit_problem(names), np.asarray(unit, dtype=float), y,
                               num_resamples=num_resamples, conf_level=conf_level, num_levels=MORRIS_LEVELS,
                               seed=int(seed))
    return pd.DataFrame({"parameter": list(names), "mu": res["mu"], "mu_star": res["mu_star"],
                         "mu_star_conf": res["mu_star_conf"], "sigma": res["sigma"]})


# --------------------------------------------------------------------------------------------------------
# Parsing and validating sweep definitions
# --------------------------------------------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{int(x):,}" if x.is_integer() and abs(x) < 1e15 else f"{x:g}"
    return repr(x)


def _is_param_path(path: str) -> bool:
    """A schema leaf, or ``strategies.NAME.<strategy-section leaf>``."""
    parts = path.split(".")
    if parts[0] == "strategies":
        return len(parts) >= 4 and parts[2] in STRATEGY_SECTIONS and isinstance(lookup(".".join(parts[2:])), P)
    return isinstance(lookup(path), P)


def _resolve_spec(where: str, key: str, path: str, scenario: Scenario) -> tuple[P, str | None]:
    """(schema entry, strategy name or None) for a swept path, or a one-line error."""
    parts = path.split(".")
    if parts[0] == "strategies":
        if len(parts) < 3 or parts[1] not in scenario.strategies:
            raise ScenarioError(where, key, f"unknown strategy in the path; strategies are: "
                                            f"{', '.join(scenario.strategies)}")
        sub = ".".join(parts[2:])
        spec = lookup(sub)
        if parts[2] not in STRATEGY_SECTIONS or not isinstance(spec, P):
            raise ScenarioError(where, key, "not a strategy parameter (a strategy sets only channels.*, sales.*, "
                                            "policy.*)")
        return spec, parts[1]
    spec = lookup(path)
    if not isinstance(spec, P):
        raise no_such_parameter(where, key, path)
    return spec, None


def _parse_spec(where: str, key: str, raw: Any) -> tuple[Dist, str | None]:
    """A parameter's spec (list, Dist, or table with values / low, high, dist / balance) -> (Dist, balance)."""
    if isinstance(raw, Dist):
        return raw, None
    if isinstance(raw, (list, tuple)):
        return Choice(list(raw)), None
    if isinstance(raw, Mapping):
        unknown = [k for k in raw if k not in SPEC_KEYS]
        if unknown:
            near = difflib.get_close_matches(str(unknown[0]), SPEC_KEYS, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ScenarioError(where, f"{key}.{unknown[0]}",
                                f"unknown key (allowed: values = [...], or low, high and dist = \"uniform\" | "
                                f"\"loguniform\"; balance = \"donor\"){hint}")
        balance = raw.get("balance")
        if balance is not None and (not isinstance(balance, str) or not balance.strip()):
            raise ScenarioError(where, f"{key}.balance", f"must be the name of the donor parameter (a string), "
                                                         f"got {balance!r}")
        if "values" in raw:
            extra = [k for k in ("low", "high", "dist") if k in raw]
            if extra:
                raise ScenarioError(where, key, f"give either values = [...] or a range (low, high), not both "
                                                f"(found values and {extra[0]})")
            vals = raw["values"]
            if not isinstance(vals, (list, tuple)):
                raise ScenarioError(where, f"{key}.values", f"must be a list of values, got {vals!r}")
            return Choice(list(vals)), balance
        missing = [k for k in ("low", "high") if k not in raw]
        if missing:
            raise ScenarioError(where, key, f"a range needs low and high (missing {missing[0]}); or give "
                                            f"values = [...]")
        dist = raw.get("dist", "uniform")
        if dist == "uniform":
            return Uniform(raw["low"], raw["high"]), balance
        if dist == "loguniform":
            return LogUniform(raw["low"], raw["high"]), balance
        raise ScenarioError(where, f"{key}.dist", f"must be \"uniform\" or \"loguniform\", got {dist!r}")
    raise ScenarioError(where, key, f"must be a list of values, a range {{ low = .., high = .. }} or "
                                    f"sim.Uniform / sim.LogUniform / sim.Choice, got {raw!r} (a single value "
                                    f"is not a sweep: set it in overrides)")


def _check_dist(where: str, key: str, path: str, spec: P, dist: Dist) -> Dist:
    """Validate a distribution against the parameter's kind and allowed range; integer ranges -> _Int*."""
    allowed = f"{spec.allowed()}" + (f" ({spec.unit})" if spec.unit else "")
    if isinstance(dist, Choice):
        vals = dist.values
        if not isinstance(vals, list):
            raise ScenarioError(where, key, f"values must be a list, got {vals!r}")
        if not vals:
            raise ScenarioError(where, key, f"empty list of values: give at least one value ({allowed})")
        checked = []
        for v in vals:
            if isinstance(v, np.generic):
                v = v.item()
            try:
                checked.append(check_value(where, key, spec, v))
            except ScenarioError:
                raise ScenarioError(where, key, f"value {v!r} is not allowed: must be {allowed}") from None
        seen: list[Any] = []
        for v in checked:
            if v in seen:
                raise ScenarioError(where, key, f"value {v!r} is listed twice")
            seen.append(v)
        return Choice(checked)
    if not isinstance(dist, (Uniform, LogUniform)):
        raise ScenarioError(where, key, f"unsupported distribution {dist!r}; use sim.Uniform, sim.LogUniform or "
                                        f"sim.Choice")
    if spec.kind not in ("int", "float"):
        raise ScenarioError(where, key, f"a range only fits a number; this parameter is {spec.allowed()}: give "
                                        f"a list of values instead")
    lo, hi = dist.low, dist.high
    for name, v in (("low", lo), ("high", hi)):
        if not _is_num(v) or not math.isfinite(float(v)):
            raise ScenarioError(where, f"{key}.{name}", f"must be a finite number, got {v!r}")
    lo, hi = float(lo), float(hi)
    if not lo < hi:
        raise ScenarioError(where, key, f"empty or inverted range: low ({lo:g}) must be below high ({hi:g}); for "
                                        f"a single value use overrides")
    for name, v in (("low", lo), ("high", hi)):
        if (spec.lo is not None and v < spec.lo) or (spec.hi is not None and v > spec.hi):
            raise ScenarioError(where, f"{key}.{name}", f"{v:g} is outside the allowed range: {allowed}")
    is_log = isinstance(dist, LogUniform)
    if is_log and lo <= 0:
        raise ScenarioError(where, f"{key}.low", f"a log-uniform range needs low > 0, got {lo:g}")
    if spec.kind == "int":
        if not (lo.is_integer() and hi.is_integer()):
            raise ScenarioError(where, key, f"this parameter is a whole number ({spec.allowed()}): low and high "
                                            f"must be whole numbers, got {lo:g} and {hi:g}")
        return _IntLogUniform(int(lo), int(hi)) if is_log else _IntUniform(int(lo), int(hi))
    return LogUniform(lo, hi) if is_log else Uniform(lo, hi)


def _donor_path(param: str, donor: str) -> str:
    if "." in donor:
        return donor
    return ".".join(param.split(".")[:-1] + [donor])


def _get(d: Mapping, path: str) -> Any:
    for part in path.split("."):
        d = d[part]
    return d


def _is_strategy_path(path: str) -> bool:
    return path.split(".")[0] in STRATEGY_SECTIONS


class Sweep:
    """A validated sweep definition: scenario, parameters, design, strategies, replications and seeds.

    Build it with ``Sweep(...)`` (same arguments as :func:`sweep`) or :func:`load_sweep_file` (a TOML
    file); both check everything and raise :class:`sim.ScenarioError` before anything runs. Then
    :meth:`run` executes it and returns the results frame.

    Attributes: ``scenario`` (after ``overrides``), ``names`` (swept parameter paths), ``dists``,
    ``balance`` (param -> donor path), ``design`` (a :class:`Design`), ``strategies``, ``seeds``,
    ``definition`` (the canonical JSON-able dict) and ``hash`` (its SHA-256, the store's identity).
    """

    def __init__(self, scenario: Scenario | str | Path, params: Mapping[str, Any], design: str = "grid",
                 n: int | None = None, reps: int = 1, strategies: Sequence[str] | str | None = None,
                 seed: int = 1, balance: Mapping[str, str] | None = None, metrics: Sequence[str] | None = None,
                 overrides: Mapping[str, Any] | None = None, name: str | None = None, description: str = "",
                 where: str = "sweep()", source: str | Path | None = None):
        self.where = where
        self.source = Path(source) if source is not None else None
        w = where
        # scenario
        if isinstance(scenario, (str, Path)):
            scenario = load_scenario(scenario)
        if not isinstance(scenario, Scenario):
            raise ScenarioError(w, "scenario", f"must be a sim.Scenario or the path of a scenario file, got "
                                               f"{type(scenario).__name__}")
        if overrides:
            if not isinstance(overrides, Mapping):
                raise ScenarioError(w, "overrides", "must be a table of parameter path = value")
            try:
                scenario = scenario.with_overrides(dict(overrides))
            except ScenarioError as exc:
                raise ScenarioError(w, f"overrides.{exc.key}" if exc.key else "overrides", exc.message) from None
        self.scenario = scenario
        self.overrides = dict(overrides or {})
        self.name = str(name) if name else scenario.name
        self.description = str(description or "")

        # numbers
        if design not in DESIGNS:
            near = difflib.get_close_matches(str(design), DESIGNS, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ScenarioError(w, "design", f"must be one of {', '.join(DESIGNS)}, got {design!r}{hint}")
        if not _is_int(reps) or reps < 1:
            raise ScenarioError(w, "reps", f"must be a whole number >= 1 (replications per point and strategy), "
                                           f"got {reps!r}")
        if not _is_int(seed) or seed < 0:
            raise ScenarioError(w, "seed", f"must be a whole number >= 0, got {seed!r}")
        if design == "grid":
            if n is not None:
                raise ScenarioError(w, "n", "is not used by design \"grid\" (the grid has one point per "
                                            "combination of the listed values); remove n")
        else:
            if n is None:
                what = {"sobol": "base samples, a power of two; the sweep has n * (parameters + 2) points",
                        "morris": "trajectories; the sweep has n * (parameters + 1) points"}.get(design, "points")
                raise ScenarioError(w, "n", f"design {design!r} needs n ({what})")
            if not _is_int(n) or n < 1:
                raise ScenarioError(w, "n", f"must be a whole number >= 1, got {n!r}")
            if design == "sobol" and (n < 2 or n & (n - 1)):
                raise ScenarioError(w, "n", f"design \"sobol\" needs n to be a power of two (e.g. 16, 32, 64, 128) "
                                            f"for balanced Sobol sequences, got {n}")
            if design == "morris" and n < 2:
                raise ScenarioError(w, "n", f"design \"morris\" needs at least 2 trajectories, got {n}")
        self.reps, self.seed = int(reps), int(seed)
        self.seeds = [self.seed + r for r in range(self.reps)]

        # strategies
        if strategies is None:
            chosen = list(scenario.strategies)
        else:
            if isinstance(strategies, str):
                strategies = [strategies]
            if not isinstance(strategies, (list, tuple)) or not all(isinstance(s, str) for s in strategies):
                raise ScenarioError(w, "strategies", f"must be a list of strategy names, got {strategies!r}")
            chosen = []
            for s in strategies:
                if s not in scenario.strategies:
                    raise ScenarioError(w, "strategies", f"unknown strategy {s!r}; the scenario defines: "
                                                         f"{', '.join(scenario.strategies)}")
                if s in chosen:
                    raise ScenarioError(w, "strategies", f"strategy {s!r} is listed twice")
                chosen.append(s)
            if not chosen:
                raise ScenarioError(w, "strategies", f"is empty; choose from: {', '.join(scenario.strategies)}")
        self.strategies = chosen

        # metrics (for charts and summaries only; every metric is always stored)
        if metrics is None:
            metrics = list(DEFAULT_METRICS)
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, (list, tuple)) or not metrics:
            raise ScenarioError(w, "metrics", f"must be a non-empty list of metric names from: {', '.join(METRICS)}")
        for m in metrics:
            if m not in METRICS:
                near = difflib.get_close_matches(str(m), METRICS, n=1)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                raise ScenarioError(w, "metrics", f"unknown metric {m!r} (allowed: {', '.join(METRICS)}){hint}")
        self.metrics = list(dict.fromkeys(metrics))

        # parameters
        if not isinstance(params, Mapping) or not params:
            raise ScenarioError(w, "params", "no parameters to sweep: give at least one, e.g. "
                                             "\"channels.content.budget\" = [20000, 60000]")
        balance = dict(balance or {})
        self.names: list[str] = []
        self.dists: dict[str, Dist] = {}
        self.specs: dict[str, P] = {}
        self.balance: dict[str, str] = {}
        for path, raw in params.items():
            path = str(path)
            key = f"params.{path}"
            spec, target = _resolve_spec(w, key, path, scenario)
            if target is not None and (len(chosen) > 1 or chosen[0] != target):
                others = [s for s in chosen if s != target]
                raise ScenarioError(w, key, f"changes strategy {target!r} only, but the sweep also runs "
                                            f"{', '.join(others)}; set strategies = [\"{target}\"] or drop the "
                                            f"'strategies.{target}.' prefix to change every strategy")
            dist, bal = _parse_spec(w, key, raw)
            if bal is not None and path in balance and balance[path] != bal:
                raise ScenarioError(w, f"{key}.balance", "given twice with different donors")
            bal = bal if bal is not None else balance.pop(path, None)
            balance.pop(path, None)
            self.dists[path] = _check_dist(w, key, path, spec, dist)
            self.specs[path] = spec
            self.names.append(path)
            if bal is not None:
                self.balance[path] = bal
        if balance:
            extra = next(iter(balance))
            raise ScenarioError(w, f"balance.{extra}", f"is not a swept parameter (swept: {', '.join(self.names)})")
        self._check_balance()

        # design fit
        if design == "grid":
            for p in self.names:
                if self.dists[p].continuous:
                    raise ScenarioError(w, f"params.{p}", f"design \"grid\" needs a list of values for every "
                                                          f"parameter, got the range {self.dists[p].describe()}; "
                                                          f"list values (e.g. [0.4, 0.55, 0.7]) or use design = "
                                                          f"\"lhs\", \"random\" or \"sobol\"")
        if design in ("sobol", "morris"):
            for p in self.names:
                if not self.dists[p].continuous:
                    raise ScenarioError(w, f"params.{p}", f"design {design!r} needs a range {{ low = .., high "
                                                          f"= .. }} for every parameter, got a list of values; "
                                                          f"use design = \"grid\", \"random\" or \"lhs\" for lists")
        if design == "grid":
            size = math.prod(len(self.dists[p].values) for p in self.names)
        else:
            size = n * {"sobol": len(self.names) + 2, "morris": len(self.names) + 1}.get(design, 1)
        if size > MAX_POINTS:
            raise ScenarioError(w, "params" if design == "grid" else "n",
                                f"the design has {size:,} points, more than the {MAX_POINTS:,} a sweep allows; "
                                f"use fewer values or a smaller n")
        self.design = design_points(self.dists, design, n, self.seed)
        self.n = n

        # every point must make a valid scenario (split sums, days within the horizon, ...)
        self._strategy_cfg = {s: scenario.config_dict(s) for s in self.strategies}
        self.point_overrides: list[dict] = []
        self.row_values: list[dict[str, dict]] = []  # point -> strategy -> {column: value}
        for i, vals in enumerate(self.design.values):
            ov, rows = self._overrides_for(i, dict(zip(self.names, vals)))
            try:
                scenario.with_overrides(ov)
            except ScenarioError as exc:
                at = ", ".join(f"{k} = {_fmt(v)}" for k, v in zip(self.names, vals))
                raise ScenarioError(w, f"params.{exc.key}" if exc.key else "params",
                                    f"{exc.message} (at design point {i}: {at})") from None
            self.point_overrides.append(ov)
            self.row_values.append(rows)
        self.columns = list(self.names) + [d for d in dict.fromkeys(self.balance_donors.values())]

        self.definition = {
            "format": FORMAT,
            "scenario": scenario.to_dict(),
            "design": design,
            "n": n,
            "reps": self.reps,
            "seed": self.seed,
            "strategies": list(self.strategies),
            "params": [[p, self.dists[p].to_json()] for p in self.names],
            "balance": {p: self.balance_donors[p] for p in self.names if p in self.balance},
        }
        self.hash = definition_hash(self.definition)

    # -- balance
    def _check_balance(self) -> None:
        w = self.where
        self.balance_donors: dict[str, str] = {}
        for p, donor in self.balance.items():
            key = f"params.{p}.balance"
            if self.specs[p].kind not in ("int", "float"):
                raise ScenarioError(w, key, "only a numeric parameter can be balanced")
            dpath = _donor_path(p, donor.strip())
            if dpath == p:
                raise ScenarioError(w, key, "a parameter cannot be its own donor")
            try:
                dspec, dtarget = _resolve_spec(w, key, dpath, self.scenario)
            except ScenarioError:
                parent_path = ".".join(p.split(".")[:-1])
                if parent_path.startswith("strategies."):
                    parent_path = ".".join(parent_path.split(".")[2:])
                parent = lookup(parent_path)
                options = sorted(k for k, v in parent.items() if isinstance(v, P) and k != p.split(".")[-1]) \
                    if isinstance(parent, dict) else []
                sibs = f" ({', '.join(options)})" if options else ""
                raise ScenarioError(w, key, f"unknown donor {donor!r} ({dpath} is no parameter); a donor is a "
                                            f"sibling of {p}{sibs} or a full parameter path") from None
            if dspec.kind != self.specs[p].kind:
                raise ScenarioError(w, key, f"donor {dpath} is {dspec.allowed()}, but {p} is "
                                            f"{self.specs[p].allowed()}: both must be the same kind of number")
            if dpath in self.dists:
                raise ScenarioError(w, key, f"donor {dpath} is itself swept; a donor must stay free to take up "
                                            f"the difference")
            if _is_strategy_path(p) != _is_strategy_path(dpath) or p.startswith("strategies.") != \
                    dpath.startswith("strategies."):
                raise ScenarioError(w, key, f"donor {dpath} must be in the same kind of section as {p} (both "
                                            f"strategy settings or both market settings)")
            if p.startswith("strategies.") and p.split(".")[1] != dpath.split(".")[1]:
                raise ScenarioError(w, key, f"donor {dpath} belongs to another strategy than {p}")
            self.balance_donors[p] = dpath

    def _per_strategy(self, path: str) -> bool:
        """Balanced strategy settings are set per strategy (each keeps its own total)."""
        return _is_strategy_path(path) and not path.startswith("strategies.")

    def _orig(self, path: str, strategy: str) -> Any:
        if path.startswith("strategies."):
            parts = path.split(".")
            return _get(self.scenario.config_dict(parts[1]), ".".join(parts[2:]))
        return _get(self._strategy_cfg[strategy], path)

    def _overrides_for(self, index: int, values: dict) -> tuple[dict, dict[str, dict]]:
        """Overrides of one point (valid for every strategy) and each strategy's row values."""
        ov: dict[str, Any] = {}
        rows = {s: dict(values) for s in self.strategies}
        for p, v in values.items():
            if p not in self.balance:
                ov[p] = v
        donors: dict[tuple[str | None, str], Any] = {}
        for p, dpath in self.balance_donors.items():
            v = values[p]
            scopes = self.strategies if self._per_strategy(p) else [None]
            for s in scopes:
                ref = s if s is not None else self.strategies[0]
                base_d = donors.get((s, dpath), self._orig(dpath, ref))
                new_d = base_d + (self._orig(p, ref) - v)
                if isinstance(new_d, float):
                    new_d = round(new_d, 12) + 0.0
                donors[(s, dpath)] = new_d
                if s is None:
                    ov[p] = v
                else:
                    ov[f"strategies.{s}.{p}"] = v
        for (s, dpath), new_d in donors.items():
            dspec = lookup(dpath.split(".", 2)[2] if dpath.startswith("strategies.") else dpath)
            if (dspec.lo is not None and new_d < dspec.lo) or (dspec.hi is not None and new_d > dspec.hi):
                src = [p for p, d in self.balance_donors.items() if d == dpath]
                at = ", ".join(f"{p} = {_fmt(values[p])}" for p in src)
                who = f"strategy {s!r}" if s is not None else "the scenario"
                raise ScenarioError(self.where, f"params.{src[0]}.balance",
                                    f"at {at} the donor {dpath} of {who} would be {_fmt(new_d)}, outside its "
                                    f"allowed range ({dspec.allowed()}); narrow the range or choose another donor")
            if s is None:
                ov[dpath] = new_d
                for r in rows.values():
                    r[dpath] = new_d
            else:
                ov[f"strategies.{s}.{dpath}"] = new_d
                rows[s][dpath] = new_d
        return ov, rows

    # -- queries
    @property
    def n_points(self) -> int:
        return len(self.design)

    @property
    def n_runs(self) -> int:
        return self.n_points * len(self.strategies) * self.reps

    def tasks(self) -> list[tuple[int, str, int, int]]:
        """Every run as ``(point, strategy, rep, seed)`` in the fixed order: point, strategy, replication."""
        return [(i, s, r, sd) for i in range(self.n_points) for s in self.strategies
                for r, sd in enumerate(self.seeds)]

    def describe(self) -> str:
        parts = []
        for p in self.names:
            d = self.dists[p]
            txt = f"{p} in [{', '.join(_fmt(v) for v in d.values)}]" if isinstance(d, Choice) else \
                f"{p} {'log-' if isinstance(d, LogUniform) else ''}uniform from {_fmt(d.low)} to {_fmt(d.high)}"
            if p in self.balance_donors:
                txt += f" (balanced by {self.balance_donors[p]})"
            parts.append(txt)
        size = {"grid": "a full grid", "random": f"{self.n} random points",
                "lhs": f"a Latin hypercube of {self.n} points",
                "sobol": f"a Sobol (Saltelli) design with base sample {self.n}",
                "morris": f"{self.n} Morris trajectories"}[self.design.design]
        return (f"{size} over {'; '.join(parts)}: {self.n_points} points x {len(self.strategies)} "
                f"strateg{'y' if len(self.strategies) == 1 else 'ies'} ({', '.join(self.strategies)}) x {self.reps} "
                f"replication{'s' if self.reps != 1 else ''} "
                f"({f'seeds {self.seeds[0]}..{self.seeds[-1]}' if self.reps > 1 else f'seed {self.seeds[0]}'}) = "
                f"{self.n_runs} runs.")

    def __repr__(self) -> str:
        return (f"Sweep(name={self.name!r}, design={self.design.design!r}, points={self.n_points}, "
                f"strategies={self.strategies}, reps={self.reps}, runs={self.n_runs})")

    # -- running
    def run(self, workers: int | None = None, store: str | Path | None = None, executor: Any = None,
            progress: bool = True, stats: dict | None = None) -> pd.DataFrame:
        """Run every missing run and return the results frame (see :func:`sweep`).

        ``stats``, if given, is filled with ``total``, ``reused`` (found in the store), ``executed`` and
        ``elapsed_seconds``.
        """
        from sim.sweeps.store import SweepStore

        stop_if_main_reimported()
        if workers is None:
            workers = os.cpu_count() or 1
        if not _is_int(workers) or workers < 1:
            raise ScenarioError(self.where, "workers", f"must be a whole number >= 1, got {workers!r}")
        client, owned = (None, False)
        if executor is not None:
            client, owned = connect(executor, self.where)
        try:
            st = SweepStore.open(store if store is not None else ":memory:", self, where=self.where)
        except BaseException:
            if owned:
                client.close()
            raise
        t0 = time.perf_counter()
        try:
            done = st.keys()
            todo = [t for t in self.tasks() if (t[0], t[1], t[3]) not in done]
            if stats is not None:
                stats.update(total=self.n_runs, reused=self.n_runs - len(todo), executed=0)
            bar = progress_bar(self.n_runs, self.n_runs - len(todo), progress, f"sweep {self.name}")
            executed = 0

            def record(task, result):
                nonlocal executed
                point, strategy, rep, sd = task
                metrics, elapsed, worker = result
                st.add(point, strategy, rep, sd, self.row_values[point][strategy], metrics, elapsed, worker)
                executed += 1
                if stats is not None:
                    stats["executed"] = executed
                bar.update(1)

            try:
                if todo:
                    # a point's replications run side by side (the replication axis)
                    run_batched(_run_many, todo, key=lambda t: (t[0], t[1]), shared=self, workers=workers,
                                client=client, record=record, label=f"sweep-{self.hash[:8]}",
                                buyers_per_run=expected_buyers(self.scenario))
            finally:
                bar.close()
            frame = st.frame()
        except BaseException:
            st.close(remove_if_empty=True)  # a store this call made, still without a run, is not left behind
            raise
        finally:
            st.close()
            if owned:
                client.close()
        if stats is not None:
            stats["elapsed_seconds"] = time.perf_counter() - t0
        return frame


# --------------------------------------------------------------------------------------------------------
# Sweep files
# --------------------------------------------------------------------------------------------------------


def load_sweep_file(path: str | Path) -> Sweep:
    """Read and validate a sweep TOML file (format: ``python run.py sweep --help``, sim.cli.sweep.FORMAT_HELP)."""
    path = Path(path)
    where = str(path)
    data = read_toml(path, "sweep")
    for key in data:
        if key not in FILE_KEYS:
            near = difflib.get_close_matches(key, FILE_KEYS, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ScenarioError(where, key, f"unknown key (allowed: {', '.join(FILE_KEYS)}){hint}")
    if "scenario" not in data:
        raise ScenarioError(where, "scenario", "missing: the scenario file to sweep, relative to this file, e.g. "
                                               "scenario = \"../default.toml\"")
    scen_rel = data["scenario"]
    if not isinstance(scen_rel, str) or not scen_rel.strip():
        raise ScenarioError(where, "scenario", f"must be a path (a string), got {scen_rel!r}")
    scen_path = (path.parent / scen_rel).resolve() if not Path(scen_rel).is_absolute() else Path(scen_rel)
    if not scen_path.is_file():
        raise ScenarioError(where, "scenario", f"scenario file not found: {scen_path} (paths are relative to the "
                                               f"sweep file)")
    scenario = load_scenario(scen_path)
    for key, kind in (("name", str), ("description", str), ("design", str)):
        if key in data and not isinstance(data[key], kind):
            raise ScenarioError(where, key, f"must be a string, got {data[key]!r}")
    name = data.get("name", path.stem)
    if not name.strip() or any(c in name for c in "/\\") or name.startswith("."):
        raise ScenarioError(where, "name", f"must be a plain folder name (no slashes, not starting with '.'), got "
                                           f"{name!r}")
    for key in ("overrides", "params"):
        if key in data and not isinstance(data[key], Mapping):
            raise ScenarioError(where, key, f"must be a table [{key}]")
    if "params" not in data or not data["params"]:
        raise ScenarioError(where, "params", "missing: a [params] table with at least one parameter to sweep, "
                                             "e.g. \"channels.content.budget\" = [20000, 60000]")
    overrides = dotted_paths(where, data.get("overrides", {}), "overrides", lambda v: False, _is_param_path)
    for p in overrides:
        if not _is_param_path(p):
            raise no_such_parameter(where, f"overrides.{p}", p)

    def is_spec(v: Mapping) -> bool:
        return bool(v) and set(v) <= set(SPEC_KEYS)

    params = dotted_paths(where, data["params"], "params", is_spec, _is_param_path)
    for p in params:
        if not _is_param_path(p):
            raise no_such_parameter(where, f"params.{p}", p)
    return Sweep(scenario, params, design=data.get("design", "grid"), n=data.get("n"), reps=data.get("reps", 1),
                 strategies=data.get("strategies"), seed=data.get("seed", 1), metrics=data.get("metrics"),
                 overrides=overrides, name=name, description=data.get("description", ""), where=where, source=path)


# --------------------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------------------


def _run_many(sw: "Sweep", batch: tuple) -> list[tuple[dict, float, str]]:
    """Runs ``(point, strategy, rep, seed)`` of one point and strategy, side by side (the replication axis)."""
    point, strategy = batch[0][0], batch[0][1]
    return _run_one(sw.scenario, sw.point_overrides[point], strategy, [t[3] for t in batch])


def _run_one(base: Scenario, overrides: dict, strategy: str, seeds: Sequence[int]) -> list[tuple[dict, float, str]]:
    """Runs of one strategy on ``seeds``: for each, (summary metrics as plain Python numbers, seconds, worker)."""
    return summaries(base, strategy, seeds, overrides)


# --------------------------------------------------------------------------------------------------------
# The one-call API
# --------------------------------------------------------------------------------------------------------


def sweep(scenario: Scenario | str | Path, params: Mapping[str, Any], design: str = "grid", n: int | None = None,
          reps: int = 1, strategies: Sequence[str] | str | None = None, workers: int | None = None,
          store: str | Path | None = None, executor: Any = None, *, seed: int = 1,
          balance: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None,
          progress: bool = True) -> pd.DataFrame:
    """Run ``scenario`` over a design of parameter values and return one row per run.

    ``params``: parameter path -> list of values, :class:`Uniform` / :class:`LogUniform` / :class:`Choice`,
    or a spec dict (``{"low": .., "high": .., "dist": "uniform"}``, ``{"values": [..], "balance": "meetings"}``).
    ``design``: one of :data:`DESIGNS`; ``n`` points (random, lhs), base samples (sobol, a power of two) or
    trajectories (morris). ``reps`` seeds per point and strategy (``seed, seed+1, ...``). ``strategies``:
    default all of the scenario's. ``workers``: 1 = this process, W = a local pool (default: all cores).
    ``store``: an SQLite file; every finished run is committed at once and a second call with the same
    store runs only the missing runs. With ``workers`` > 1, call it under ``if __name__ == "__main__":``
    in a script (the spawned workers re-import it). ``executor``: a ``distributed.Client`` or
    ``"tcp://host:port"`` to run on a Dask cluster instead of the local pool. ``balance``: param -> donor (see module doc).
    ``overrides``: fixed values applied to the scenario first (e.g. a smaller market).

    Columns: ``point``, ``strategy``, ``rep``, ``seed``, the parameters (and donors), every summary metric.
    Rows in the fixed order point, strategy, replication, whatever ran where.
    """
    sw = Sweep(scenario, params, design=design, n=n, reps=reps, strategies=strategies, seed=seed, balance=balance,
               overrides=overrides)
    return sw.run(workers=workers, store=store, executor=executor, progress=progress)


def load_sweep(path: str | Path) -> pd.DataFrame:
    """The results frame of a sweep store (an SQLite file, or a sweep results folder holding sweep.sqlite)."""
    from sim.sweeps.store import load_sweep as _load

    return _load(path)
