"""Metrics that are not per-run summary metrics: estimated from the engine's samples pooled over runs.

A per-run summary metric is a number per run (``RunResult.summary``); a *pooled* metric needs more events than one
run holds, so it is computed once from the samples of many runs (``RunResult.samples``), with a cluster bootstrap
over runs for its interval. Validation (the ``stylized`` and ``benchmarks`` groups) and calibration (a holdout fact's
posterior-predictive check) both compute them here, with the same estimator.

:data:`POOLED_METRICS` maps a metric name to the engine samples it needs and its estimator; today one:

``referral_ltv_premium``
    Schmitt, Skiera & Van den Bulte (2011): the like-for-like value premium of referred customers,
    :func:`referral_premium` on the won accounts of all runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.analysis.stats import bootstrap_ci

__all__ = ["POOLED_METRICS", "REFERRAL_STRATA_DAYS", "WON_KEYS", "NotEstimable", "PooledMetric", "pooled",
           "pooled_referral_premium", "referral_premium"]

#: Like customers: same segment and quarter of acquisition (Schmitt et al. match on acquisition time).
REFERRAL_STRATA_DAYS = 91
#: The engine's per-account samples of the accounts won in a run (parallel arrays; ``JourneyModel.samples``).
WON_KEYS = ("won_segment", "won_acv", "won_referred", "won_ltv", "won_day")


class NotEstimable(ValueError):
    """The samples cannot give the metric (a sample is missing, or nothing to compare): the message says why."""


def referral_premium(seg, acv, referred, ltv, day, strata_days: int = REFERRAL_STRATA_DAYS) -> float:
    """Like-for-like value premium of referred customers: LTV per ACV dollar (ACV at the win), referred
    against non-referred customers of the same segment and acquisition period (``strata_days``), standardised
    to the referred customers' mix: sum_c n_ref,c mean_ref,c / sum_c n_ref,c mean_non,c - 1 over the cells c
    that hold both kinds (NaN if none)."""
    seg, acv, ltv, day = (np.asarray(x, dtype=float) for x in (seg, acv, ltv, day))
    ref = np.asarray(referred, dtype=float) > 0.5
    ok = np.isfinite(ltv) & (acv > 0)
    y = ltv[ok] / acv[ok]
    cell = seg[ok] * 1000 + np.floor(day[ok] / strata_days)
    ref = ref[ok]
    num = den = 0.0
    for c in np.unique(cell):
        a, b = ref & (cell == c), ~ref & (cell == c)
        if a.any() and b.any():
            num += a.sum() * y[a].mean()
            den += a.sum() * y[b].mean()
    return float(num / den - 1.0) if den > 0 else math.nan


def _won(samples: Mapping) -> dict[str, np.ndarray]:
    missing = [k for k in WON_KEYS if k not in samples]
    if missing:
        raise NotEstimable(f"the engine's samples have no '{missing[0]}'")
    out = {k: np.asarray(samples[k], dtype=float) for k in WON_KEYS}
    if len({v.size for v in out.values()}) != 1:
        raise NotEstimable("the won_* samples differ in length")
    return out


def pooled_referral_premium(samples: Sequence[Mapping], level: float = 0.95, draws: int = 2000,
                            seed: int = 20110301) -> tuple[float, float, float, dict]:
    """The referral LTV premium of the won accounts pooled over runs (``samples``: each run's samples, with the
    :data:`WON_KEYS`), its ``level`` bootstrap interval over runs, and the pooled won-account columns
    (``won_segment``, ``won_referred``, ``won_ltv``, ``won_acv``). NotEstimable with no referred win."""
    won = [_won(s) for s in samples]

    def cat(key, idx):
        return np.concatenate([won[i][key] for i in idx]) if len(idx) else np.zeros(0)

    def stat(idx):
        return referral_premium(cat("won_segment", idx), cat("won_acv", idx), cat("won_referred", idx),
                                cat("won_ltv", idx), cat("won_day", idx))

    allx = np.arange(len(won))
    pooled_cols = {k: cat(k, allx) for k in ("won_segment", "won_referred", "won_ltv", "won_acv")}
    if not (pooled_cols["won_referred"] > 0.5).any():
        raise NotEstimable(f"no referred customers won in {len(won)} runs")
    est, lo, hi = bootstrap_ci(stat, len(won), seed=seed, level=level, draws=draws)
    return est, lo, hi, pooled_cols


@dataclass(frozen=True)
class PooledMetric:
    """A metric estimated from samples pooled over runs: the ``samples`` it needs and its ``estimate(samples,
    level) -> (estimate, low, high, description)``."""

    name: str
    samples: tuple[str, ...]
    estimate: Callable[[Sequence[Mapping], float], tuple[float, float, float, str]]


def _referral_estimate(samples: Sequence[Mapping], level: float) -> tuple[float, float, float, str]:
    est, lo, hi, cols = pooled_referral_premium(samples, level=level)
    n_ref = int((cols["won_referred"] > 0.5).sum())
    return est, lo, hi, (f"pooled over {len(samples)} runs ({n_ref} referred wins): LTV per ACV dollar, referred vs "
                         f"not, within segment and quarter of acquisition; interval: {level:.0%} bootstrap over runs")


#: The pooled metrics by name.
POOLED_METRICS: dict[str, PooledMetric] = {
    "referral_ltv_premium": PooledMetric("referral_ltv_premium", WON_KEYS, _referral_estimate),
}


def pooled(metric: str) -> PooledMetric | None:
    """The pooled metric of this name, or None for a per-run summary metric (or an unknown name)."""
    return POOLED_METRICS.get(metric)
