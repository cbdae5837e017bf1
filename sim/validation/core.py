"""What every group of validation checks shares: a run (:class:`RunSpec`), a planned check (:class:`Check`, whose
``evaluate(ctx)`` turns the runs in :class:`Ctx` into its row), the statistics helpers at the validation's
confidence level, reading a run's outputs, and the replications of the default scenario.

The group modules (:mod:`~sim.validation.bass`, :mod:`~sim.validation.network`, :mod:`~sim.validation.stylized`,
:mod:`~sim.validation.statics`, :mod:`~sim.validation.benchmarks`, :mod:`~sim.validation.presets`) import this
module; :mod:`sim.validation.framework` imports them (planning, execution, the report). Nothing here imports a
group module, so there is no cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from sim.analysis import stats as _stats
from sim.config.presets import preset

__all__ = [
    "ALPHA",
    "BASE_STRATEGY",
    "BASS_SCENARIO",
    "BOOTSTRAP_DRAWS",
    "DEFAULT_SCENARIO",
    "FAST_SMALL_MARKET",
    "LEVEL",
    "MIN_DIFFUSION_REPS",
    "Check",
    "Ctx",
    "NotMeasurable",
    "RunSpec",
    "bootstrap_ci",
    "default_specs",
    "finite_values",
    "make_scenario",
    "mean_ci",
    "paired_test",
    "run_column",
    "run_sample",
    "run_summary",
]

BASS_SCENARIO = preset("bass")
DEFAULT_SCENARIO = preset("default")

MIN_DIFFUSION_REPS = 3  # the Bass and network runs are cheap; a t-interval on 2 runs is too wide to verify anything
# --fast: the stylized facts that need rare events (referred wins, wins per segment) keep the default market;
# the other default-scenario checks run on a smaller, shorter market (same mechanisms, fewer events).
FAST_SMALL_MARKET = {"market.n_accounts": 1000, "scenario.horizon_days": 300,
                     "channels.campaigns.burst_days": [30, 120, 210]}
BOOTSTRAP_DRAWS = 2000
LEVEL = 0.95  # confidence level of every interval
ALPHA = 0.05  # one-sided significance level of the directional tests


# ================================================================================================
# Small statistics helpers
# ================================================================================================


def finite_values(x) -> np.ndarray:
    """The finite values of ``x``, flattened."""
    x = np.asarray(x, dtype=float).ravel()
    return x[np.isfinite(x)]


def mean_ci(x) -> tuple[float, float, float]:
    """Mean and 95% t-interval over replications (NaN interval with fewer than 2 finite values)."""
    x = finite_values(x)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    h = float(_stats.t_quantile(0.5 + LEVEL / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - h, m + h


def bootstrap_ci(stat: Callable[[np.ndarray], float], n: int, seed: int = 20110301) -> tuple[float, float, float]:
    """Estimate and percentile interval of ``stat(indices)`` resampling replications (seeds) with
    replacement: a cluster bootstrap, since events within one run are not independent
    (:func:`sim.analysis.stats.bootstrap_ci` at the validation's LEVEL and BOOTSTRAP_DRAWS)."""
    return _stats.bootstrap_ci(stat, n, seed, level=LEVEL, draws=BOOTSTRAP_DRAWS)


def paired_test(hi, lo, direction: int) -> tuple[float, float, float, float]:
    """Mean paired difference hi - lo, its t-interval, and the one-sided p-value of
    scipy.stats.ttest_rel in the expected ``direction`` (+1: hi > lo, -1: hi < lo)."""
    hi, lo = np.asarray(hi, float), np.asarray(lo, float)
    ok = np.isfinite(hi) & np.isfinite(lo)
    hi, lo = hi[ok], lo[ok]
    d = hi - lo
    m, cl, ch = mean_ci(d)
    if d.size < 2:
        return m, cl, ch, math.nan
    if np.all(d == d[0]):  # no variation: the sign decides (identical effect on every seed)
        return m, cl, ch, (0.0 if np.sign(d[0]) == direction else 1.0)
    # imported here: scipy.stats takes ~0.4 s to import, and every command line loads this module
    from scipy import stats

    res = stats.ttest_rel(hi, lo, alternative="greater" if direction > 0 else "less")
    return m, cl, ch, float(res.pvalue)


# ================================================================================================
# Runs: their specification and scenario
# ================================================================================================


@dataclass(frozen=True, order=True)
class RunSpec:
    """One simulation: which scenario file, overrides (sorted items), strategy and seed."""

    scenario: str  # "bass" or "default"
    overrides: tuple
    strategy: str
    seed: int

    @staticmethod
    def make(scenario: str, overrides: dict, strategy: str, seed: int) -> "RunSpec":
        return RunSpec(scenario, tuple(sorted((k, _freeze(v)) for k, v in overrides.items())), strategy, int(seed))

    def override_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.overrides}


def _freeze(v):
    return tuple(v) if isinstance(v, list) else v


_SCENARIO_PATHS = {"bass": BASS_SCENARIO, "default": DEFAULT_SCENARIO}


def make_scenario(name: str, overrides: dict):
    """The scenario of a run: ``"bass"``, ``"default"`` or another preset's name, with ``overrides`` applied."""
    from sim.config.scenario import load_scenario

    from sim.config.presets import preset

    scen = load_scenario(_SCENARIO_PATHS.get(name) or preset(name))
    return scen.with_overrides(overrides) if overrides else scen


# ================================================================================================
# Check plumbing
# ================================================================================================


class NotMeasurable(Exception):
    """The engine does not produce an output a check needs (the row says which)."""


@dataclass
class Ctx:
    fast: bool
    reps: int
    seed: int
    results: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.reps)]

    @property
    def diffusion_seeds(self) -> list[int]:
        return [self.seed + i for i in range(max(self.reps, MIN_DIFFUSION_REPS))]

    def runs(self, specs: Sequence[RunSpec]) -> list[dict]:
        return [self.results[s] for s in specs]


def _row(check, group, target, source, measured, ci_low, ci_high, passed, detail) -> dict:
    return {"check": check, "group": group, "target": target, "source": source,
            "measured": float(measured) if measured is not None else math.nan,
            "ci_low": float(ci_low) if ci_low is not None else math.nan,
            "ci_high": float(ci_high) if ci_high is not None else math.nan,
            "passed": bool(passed), "detail": detail}


@dataclass
class Check:
    """A planned check: its row identity, the runs it needs, and how to turn them into the row."""

    name: str
    group: str
    target: str
    source: str
    specs: list
    evaluate: Callable[["Ctx"], dict]

    def row(self, ctx: Ctx) -> dict:
        try:
            r = self.evaluate(ctx)
        except NotMeasurable as exc:
            return _row(self.name, self.group, self.target, self.source, math.nan, math.nan, math.nan, False,
                        f"NOT MEASURABLE: {exc}")
        detail = r["detail"]
        if self.group in ("stylized", "statics", "benchmarks", "presets") and self.specs:
            run = ctx.results[self.specs[0]]
            detail += f" [market: {run['n_accounts']:,} accounts, {run['horizon']} days]"
        return _row(self.name, self.group, r.get("target", self.target), self.source, r["measured"],
                    r["ci_low"], r["ci_high"], r["passed"], detail)


def run_column(run: dict, col: str) -> np.ndarray:
    """The timeseries column ``col`` of a run (:class:`NotMeasurable` if the engine has none)."""
    if col not in run["ts"]:
        raise NotMeasurable(f"the engine's timeseries has no column '{col}'")
    return run["ts"][col]


def run_sample(run: dict, kind: str) -> np.ndarray:
    """The engine sample ``kind`` of a run (:class:`NotMeasurable` if the engine has none)."""
    if kind not in run["samples"]:
        raise NotMeasurable(f"the engine's samples have no '{kind}'")
    return run["samples"][kind]


def run_summary(run: dict, key: str) -> float:
    """The summary metric ``key`` of a run (:class:`NotMeasurable` if the engine has none)."""
    if key not in run["summary"]:
        raise NotMeasurable(f"the engine's summary has no '{key}'")
    return run["summary"][key]


# ================================================================================================
# Runs of the default scenario (stylized facts and comparative statics)
# ================================================================================================

BASE_STRATEGY = "content_nurture"


def default_specs(ctx: Ctx, overrides: dict | None = None, strategy: str = BASE_STRATEGY,
                  small: bool = False) -> list[RunSpec]:
    """Replications of the default scenario; ``small``: on the smaller market in --fast mode."""
    ov = dict(FAST_SMALL_MARKET) if (ctx.fast and small) else {}
    ov.update(overrides or {})
    return [RunSpec.make("default", ov, strategy, s) for s in ctx.seeds]
