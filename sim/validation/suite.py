"""The validation suite: verification, docking with known models, stylized facts, comparative statics.

A simulator that strategists bet budgets on has to earn trust the way Rand & Rust (2011, "Agent-based
modeling in marketing: Guidelines for rigor", International Journal of Research in Marketing 28(3),
181-193) ask: verify that the code does what the model says, dock it with known analytic models, check
that it reproduces the stylized facts of the field, and check that it responds to its levers in the
right direction. Four groups of checks, one row each:

``bass``
    Docking with the Bass (1969) model on ``scenarios/bass.toml`` (10,000 one-person accounts, nothing
    but external influence p and imitation q): the adoption curve matches the analytic curve for several
    (p, q); ``scipy.optimize.curve_fit`` recovers p and q; the inflection falls at ln(q/p)/(p+q); with
    q = 0 the curve is 1 - exp(-p t) (a Kolmogorov-Smirnov test).
``network``
    The same Bass model diffusing over the social network (``diffusion.mixing = "network"``) at several
    densities: slower than full mixing, and no slower than the lower bound of Fibich & Gibori (2010).
``stylized``
    Facts from the literature the articles rely on, measured on ``scenarios/default.toml``.
``statics``
    Direction of effect of five levers, paired by seed (common random numbers), with a one-sided paired
    t-test from scipy.stats.

Nothing here is tuned to pass. A fact that fails is reported as failing, with the measured value and our
best reading of the mechanism in ``detail``. Every target carries its source (column ``source``), and
every pass/fail threshold is stated below with a comment.

Python API::

    import sim.validation as v
    df = v.run_checks(fast=True)                 # one row per check
    folder = v.write_validation(df)              # results/validation/<timestamp>/

Columns: check, group, target, source, measured, ci_low, ci_high, passed, detail.
"""

from __future__ import annotations

import html
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import curve_fit

from sim.config.arguments import check_int_flags
from sim.config.presets import preset
from sim.config.scenario import ScenarioError
from sim.io import (
    TIMESTAMP_FORMAT,
    ignore_sigint,
    jsonable,
    package_version,
    staged_folder,
    terminate_pool,
)
from sim.io import results_root as default_results_root

__all__ = [
    "COLUMNS",
    "GROUPS",
    "run_checks",
    "planned_checks",
    "write_validation",
    "bass_curve",
    "fg_1d_curve",
    "VERIFICATION_CHECKS",
]

BASS_SCENARIO = preset("bass")
DEFAULT_SCENARIO = preset("default")

COLUMNS = ["check", "group", "target", "source", "measured", "ci_low", "ci_high", "passed", "detail"]
GROUPS = ("bass", "network", "stylized", "statics")

FULL_REPS = 20  # replications per configuration in a full run
FAST_REPS = 2  # ... in --fast mode (the smallest number that gives a confidence interval)
MIN_DIFFUSION_REPS = 3  # the Bass and network runs are cheap; a t-interval on 2 runs is too wide to verify anything
FAST_BASS_HORIZON = 200  # days; every (p, q) below is past 95% adoption by then (q = 0: 63%)
# --fast: the stylized facts that need rare events (referred wins, wins per segment) keep the default market;
# the other default-scenario checks run on a smaller, shorter market (same mechanisms, fewer events).
FAST_SMALL_MARKET = {"market.n_accounts": 1000, "scenario.horizon_days": 300,
                     "channels.campaigns.burst_days": [30, 120, 210]}
BOOTSTRAP_DRAWS = 2000
LEVEL = 0.95  # confidence level of every interval
ALPHA = 0.05  # one-sided significance level of the directional tests

# ------------------------------------------------------------------------------------------------ sources
SRC_BASS = "Bass (1969), Management Science 15(5): 215-227"
SRC_KENDALL = "tolerance: Kendall (1948), Ann. Math. Stat. 19: 1-15 (birth process with immigration)"
SRC_FG = ("Fibich & Gibori (2010), 'Aggregate diffusion dynamics in agent-based models with a spatial "
          "structure', Operations Research 58(5): 1450-1468")
SRC_CEB = "CEB & Google (2012), The Digital Evolution in B2B Marketing (seed 003)"
SRC_DAWES = "Dawes (2021), Advertising effectiveness and the 95-5 rule, B2B Institute / LinkedIn"
SRC_SEED003_CAMPAIGN = "seed 003: campaign lead production lasted ~36 hours; social sharing creates a long tail"
SRC_OLDROYD = "Oldroyd, McElheran & Elkington (2011), The Short Life of Online Sales Leads, HBR March 2011"
SRC_SCHMITT = ("Schmitt, Skiera & Van den Bulte (2011), Referral Programs and Customer Value, "
               "Journal of Marketing 75(1): 46-59")
SRC_CYCLE = ("DESIGN.md / sim/parameters.py research_speed: SMB cycles ~1-2 months, enterprise 6+ months "
             "(buying groups of 6-10, Gartner B2B buying)")
SRC_SEED001 = "seed 001: 'networking is sales': an introduction from a trusted tie opens the door, cold calls rarely do"
SRC_STATICS = "model logic (DESIGN.md); Rand & Rust (2011): comparative statics as face validity"

# ------------------------------------------------------------------------------------------------ settings
# Bass docking: (p, q) per day. bass.toml's own pair, a fast one and a strongly imitative one with few
# innovators (the hardest to dock: only ~10 innovators a day at N = 10,000).
BASS_PQ = ((0.002, 0.03), (0.005, 0.05), (0.001, 0.06))
BASS_P_ONLY = 0.005  # q = 0 reduction: F(t) = 1 - exp(-p t)
# Network densities (weak ties per buyer; one-person accounts have no strong ties). 2 is sparse (13% of
# buyers have no tie, many sit in small trees), 4 is moderate, 8 is close to full mixing.
NETWORK_DENSITIES = (2.0, 4.0, 8.0)

# Stylized-fact pass thresholds (each with its reason).
PFC_TARGET = 0.57  # CEB 2012: "57% of the sales process just disappeared"
PFC_TOL = 0.07  # "near": within +/-0.07 (CEB says "nearly 60%", and 70% for some; 0.50-0.64 is "near 57%")
PFC_IQR_MIN = 0.10  # "wide spread": the middle half spans at least 10 points of progress (a spike would be ~0)
IN_MARKET_TARGET = 0.05  # 95:5 rule
IN_MARKET_BAND = (0.03, 0.07)  # "about 5%": within 2 points (a 3.5- to 8-year purchase cycle)
CAMPAIGN_DIRECT_MIN = 0.5  # "mostly within two days": a majority of direct responses on day 0 or 1
# The three ratio facts below pass when the point estimate clears the stated size AND the 95% bootstrap interval
# excludes "no difference" (ratio 1, premium 0): a size reached by noise alone is not a reproduced fact.
SPEED_TO_LEAD_MIN = 3.0  # "several times more often": at least 3x
REFERRAL_PREMIUM_MIN = 0.16  # Schmitt et al.: referred customers are worth at least 16% more
REFERRAL_STRATA_DAYS = 91  # like customers: same segment and quarter of acquisition (Schmitt et al. match on acquisition time)
INTRO_VS_COLD_MIN = 2.0  # "far better": introductions at least twice the meetings per conversation of cold calls

# Verification checks: the test-suite asserts these pass (docking and derived analytic bounds).
VERIFICATION_CHECKS = ("bass_curve", "bass_fit_p", "bass_fit_q", "bass_peak", "bass_q0", "network_slower",
                       "network_lower_bound")

TS_COLUMNS = (
    "cum_wins", "n_accounts_in_market", "new_campaign_responses", "new_campaign_responses_shared",
    "new_network_meetings", "new_network_talks", "new_cold_meetings", "new_connects", "new_leads_content",
    "new_leads", "new_meetings", "new_referrals",
)


# ================================================================================================
# Analytic curves
# ================================================================================================


def bass_curve(t, p: float, q: float) -> np.ndarray:
    """Bass (1969): F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p) e^{-(p+q)t}); q = 0 gives 1 - e^{-pt}."""
    t = np.asarray(t, dtype=float)
    e = np.exp(-(p + q) * t)
    return (1.0 - e) / (1.0 + (q / p) * e)


def fg_1d_curve(t, p: float, q: float) -> np.ndarray:
    """Fibich & Gibori (2010): Bass on a one-dimensional (one-sided or two-sided) lattice,
    f_1D(t) = 1 - exp(-(p+q) t + (q/p) (1 - e^{-pt})).

    Derivation (one-sided: buyer i imitates only i-1): let S_k be the probability that k consecutive
    buyers have all not adopted. Only the leftmost of such a block can be influenced (its left neighbour
    may have adopted), so S_k' = -k p S_k - q (S_k - S_{k+1}). The ansatz S_k = e^{-kpt} g(t) solves
    every equation with g' = -q (1 - e^{-pt}) g, so S_1 = exp(-(p+q)t + (q/p)(1 - e^{-pt})). Fibich &
    Gibori show the two-sided 1D model has the same aggregate, and that D-dimensional lattices lie
    between this curve and the fully mixed Bass curve: it is the lower bound of the spatial models.
    """
    t = np.asarray(t, dtype=float)
    return 1.0 - np.exp(-(p + q) * t + (q / p) * (1.0 - np.exp(-p * t)))


def bass_daily(p: float, q: float, days: int) -> np.ndarray:
    """The engine's expected curve (mean field) under its daily rule: on day n every non-adopter adopts
    with probability 1 - exp(-(p + q F_n)), F_n the adopted share at the start of the day. Element d is
    the share adopted by the end of day d (time t = d + 1). The gap to ``bass_curve`` is the
    discretisation error (the imitation hazard uses the start-of-day share)."""
    out = np.empty(days)
    f = 0.0
    for d in range(days):
        f = f + (1.0 - f) * -math.expm1(-(p + q * f))
        out[d] = f
    return out


def chain_daily(p: float, q: float, days: int) -> np.ndarray:
    """Fibich & Gibori's one-sided 1D chain under the engine's daily rule, exactly.

    S_k(n): probability that k consecutive buyers have all not adopted at the start of day n. On a day
    the inner k-1 survive with e^{-p} each (their influencer is in the block, not adopted), the leftmost
    with e^{-p} if its own left neighbour had not adopted at the start of the day, else e^{-(p+q)}:
        S_k(n+1) = e^{-(k-1)p} [ S_{k+1}(n) e^{-p} + (S_k(n) - S_{k+1}(n)) e^{-(p+q)} ].
    S_1 after ``days`` days needs S_k for k <= days + 1 only, so a block of days + 2 is exact.
    Its continuous-time limit is ``fg_1d_curve``.
    """
    K = days + 2
    S = np.ones(K + 1)  # S[k], k = 1..K; S[0] unused
    k = np.arange(1, K, dtype=float)
    inner = np.exp(-(k - 1.0) * p)
    a, b = math.exp(-p), math.exp(-(p + q))
    out = np.empty(days)
    for n in range(days):
        new = np.empty_like(S)
        new[0] = 1.0
        new[1:K] = inner * (S[2:K + 1] * a + (S[1:K] - S[2:K + 1]) * b)
        new[K] = new[K - 1] * a  # never reaches S_1 within ``days`` steps
        S = new
        out[n] = 1.0 - S[1]
    return out


def pair_daily(p: float, q: float, days: int) -> np.ndarray:
    """Two buyers who only know each other, under the daily rule (the slowest structure with a tie).

    A: neither adopted; B: the partner adopted, this buyer not. A' = A e^{-2p};
    B' = B e^{-(p+q)} + A (1 - e^{-p}) e^{-p}; the adopted share is 1 - (A + B).
    A pair is slower than the 1D chain: the buyer's single influencer can only adopt externally
    while the buyer has not (Jensen: E[e^{-qX}] >= e^{-qE[X]}), so Fibich & Gibori's 1D bound does not
    hold in finite components; this curve is their floor (any larger tree gives the influencer more
    sources).
    """
    A, B = 1.0, 0.0
    out = np.empty(days)
    ep, epq = math.exp(-p), math.exp(-(p + q))
    for n in range(days):
        A, B = A * ep * ep, B * epq + A * (1.0 - ep) * ep
        out[n] = 1.0 - (A + B)
    return out


# ================================================================================================
# Small statistics helpers
# ================================================================================================


def _finite(x) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    return x[np.isfinite(x)]


def mean_ci(x) -> tuple[float, float, float]:
    """Mean and 95% t-interval over replications (NaN interval with fewer than 2 finite values)."""
    x = _finite(x)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    h = float(stats.t.ppf(0.5 + LEVEL / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - h, m + h


def bootstrap_ci(stat: Callable[[np.ndarray], float], n: int, seed: int = 20110301) -> tuple[float, float, float]:
    """Estimate and percentile interval of ``stat(indices)`` resampling replications (seeds) with
    replacement: a cluster bootstrap, since events within one run are not independent."""
    est = float(stat(np.arange(n)))
    if n < 2:
        return est, math.nan, math.nan
    rng = np.random.default_rng(seed)
    vals = np.array([stat(rng.integers(0, n, n)) for _ in range(BOOTSTRAP_DRAWS)], dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return est, math.nan, math.nan
    lo, hi = np.percentile(vals, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return est, float(lo), float(hi)


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
    res = stats.ttest_rel(hi, lo, alternative="greater" if direction > 0 else "less")
    return m, cl, ch, float(res.pvalue)


def _crossing(y: np.ndarray, level: float) -> float:
    """First time (days, t = d + 1 for row d, linear interpolation from F(0) = 0) the curve reaches level."""
    y = np.concatenate([[0.0], np.asarray(y, dtype=float)])
    i = np.flatnonzero(y >= level)
    if i.size == 0 or level <= 0:
        return math.nan
    i = int(i[0])
    return float(i - 1 + (level - y[i - 1]) / (y[i] - y[i - 1])) if y[i] > y[i - 1] else float(i)


def _fit_bass(y: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of the Bass curve to a simulated curve (times t = 1..T), from a generic start:
    p0 = the first day's adoption share (~p), q0 = 0.1."""
    t = np.arange(1, y.size + 1, dtype=float)
    p0 = float(min(max(y[0], 1e-5), 0.5))
    try:
        popt, _ = curve_fit(bass_curve, t, y, p0=(p0, 0.1), bounds=([1e-7, 0.0], [1.0, 5.0]), maxfev=20000)
        return float(popt[0]), float(popt[1])
    except (RuntimeError, ValueError):
        return math.nan, math.nan


# ================================================================================================
# Runs: specification, worker, executor
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


def _scenario(name: str, overrides: dict):
    from sim.config.scenario import load_scenario

    scen = load_scenario(_SCENARIO_PATHS[name])
    return scen.with_overrides(overrides) if overrides else scen


def _network_shares(model) -> dict:
    """Shares of buyers who are isolated, in the giant component, or in smaller components."""
    from scipy.sparse.csgraph import connected_components

    W = model.W.copy()
    W.eliminate_zeros()
    n = W.shape[0]
    if n == 0:
        return {"isolated": math.nan, "giant": math.nan, "small": math.nan, "mean_degree": math.nan}
    _, lab = connected_components(W, directed=False)
    sizes = np.bincount(lab)
    per = sizes[lab]
    iso = float((per == 1).mean())
    giant = float((lab == int(np.argmax(sizes))).mean()) if sizes.max() > 1 else 0.0
    return {"isolated": iso, "giant": giant, "small": max(0.0, 1.0 - iso - giant),
            "mean_degree": float(W.getnnz() / n)}


def _simulate(spec: RunSpec) -> dict:
    """Run one spec and keep only what the checks read (small enough to send between processes)."""
    from sim.engine.model import JourneyModel

    scen = _scenario(spec.scenario, spec.override_dict())
    model = JourneyModel(scen, strategy=spec.strategy, seed=spec.seed)
    cfg = model.cfg
    net = _network_shares(model) if cfg.diffusion.mixing == "network" else None
    res = model.run()
    ts = res.timeseries
    return {
        "summary": {k: float(v) for k, v in res.summary.items()},
        "ts": {c: ts[c].to_numpy(dtype=float) for c in TS_COLUMNS if c in ts.columns},
        "samples": {k: np.asarray(v, dtype=float).ravel() for k, v in dict(res.samples).items()},
        "net": net,
        "n_accounts": int(cfg.market.n_accounts),
        "horizon": int(cfg.scenario.horizon_days),
        "burst_days": list(cfg.channels.campaigns.burst_days),
    }


def _worker(spec: RunSpec) -> dict:
    try:
        return _simulate(spec)
    except Exception as exc:  # keep the message even if the exception type does not survive pickling
        raise RuntimeError(f"{type(exc).__name__}: {exc} (while running {spec})") from None


def _execute(specs: Sequence[RunSpec], workers: int, progress: bool) -> dict[RunSpec, dict]:
    """Run every distinct spec once; seeds are fixed in the parent, so results do not depend on workers."""
    unique = list(dict.fromkeys(specs))
    # the default scenario runs are the slow ones: start them first for a better load balance
    unique.sort(key=lambda s: (s.scenario != "default", s))
    out: dict[RunSpec, dict] = {}
    bar = _Progress(len(unique), progress)
    try:
        if workers <= 1 or len(unique) <= 1:
            for s in unique:
                out[s] = _simulate(s)
                bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")
            ex = ProcessPoolExecutor(max_workers=min(workers, len(unique)), mp_context=ctx, initializer=ignore_sigint)
            try:
                pending = {ex.submit(_worker, s): s for s in unique}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        s = pending.pop(fut)
                        out[s] = fut.result()
                        bar.update()
            except BaseException:
                terminate_pool(ex)
                raise
            else:
                ex.shutdown(wait=True)
    finally:
        bar.close()
    return out


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc="validation", unit="run", file=sys.stderr, leave=False,
                                dynamic_ncols=True, disable=None)
            except Exception:  # pragma: no cover - tqdm missing
                self.bar = None

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
        if self.group in ("stylized", "statics") and self.specs:
            run = ctx.results[self.specs[0]]
            detail += f" [market: {run['n_accounts']:,} accounts, {run['horizon']} days]"
        return _row(self.name, self.group, r.get("target", self.target), self.source, r["measured"],
                    r["ci_low"], r["ci_high"], r["passed"], detail)


def _ts(run: dict, col: str) -> np.ndarray:
    if col not in run["ts"]:
        raise NotMeasurable(f"the engine's timeseries has no column '{col}'")
    return run["ts"][col]


def _sample(run: dict, kind: str) -> np.ndarray:
    if kind not in run["samples"]:
        raise NotMeasurable(f"the engine's samples have no '{kind}'")
    return run["samples"][kind]


def _summary(run: dict, key: str) -> float:
    if key not in run["summary"]:
        raise NotMeasurable(f"the engine's summary has no '{key}'")
    return run["summary"][key]


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "nan"
    return f"{x:.{digits}g}"


# ================================================================================================
# 1. Bass docking
# ================================================================================================


def _bass_overrides(ctx: Ctx, p: float, q: float, extra: dict | None = None) -> dict:
    ov = {"diffusion.p": p, "diffusion.q": q}
    if ctx.fast:
        ov.update({"scenario.horizon_days": FAST_BASS_HORIZON, "channels.campaigns.burst_days": []})
    if extra:
        ov.update(extra)
    return ov


def _bass_specs(ctx: Ctx, p: float, q: float, extra: dict | None = None) -> list[RunSpec]:
    ov = _bass_overrides(ctx, p, q, extra)
    return [RunSpec.make("bass", ov, "bass", s) for s in ctx.diffusion_seeds]


def _curves(runs: list[dict]) -> tuple[np.ndarray, int]:
    n = runs[0]["n_accounts"]
    return np.array([_ts(r, "cum_wins") / n for r in runs]), n


def _tol(bias: float, sigma_pred: float, observed: np.ndarray, R: int) -> tuple[float, float]:
    """Tolerance on a replication mean: |discretisation bias| + 3 standard errors.

    The standard error uses the per-run SD predicted from theory, or the SD observed over the
    replications if larger (only trusted from 5 replications on)."""
    obs = _finite(observed)
    sigma = sigma_pred
    if obs.size >= 5:
        sigma = max(sigma, float(obs.std(ddof=1)))
    return abs(bias) + 3.0 * sigma / math.sqrt(max(R, 1)), sigma


def _plan_bass(ctx: Ctx) -> list[Check]:
    checks: list[Check] = []
    for p, q in BASS_PQ:
        specs = _bass_specs(ctx, p, q)
        tag = f"(p={p:g},q={q:g})"
        checks.append(Check(f"bass_curve{tag}", "bass", "max |F_sim - F_Bass| within tolerance", SRC_BASS, specs,
                            _eval_bass_curve(specs, p, q)))
        checks.append(Check(f"bass_fit_p{tag}", "bass", f"p = {p:g}", SRC_BASS + "; " + SRC_KENDALL, specs,
                            _eval_bass_fit(specs, p, q, which="p")))
        checks.append(Check(f"bass_fit_q{tag}", "bass", f"q = {q:g}", SRC_BASS, specs,
                            _eval_bass_fit(specs, p, q, which="q")))
        checks.append(Check(f"bass_peak{tag}", "bass", f"t* = ln(q/p)/(p+q) = {math.log(q / p) / (p + q):.1f} days",
                            SRC_BASS, specs, _eval_bass_peak(specs, p, q)))
    specs0 = _bass_specs(ctx, BASS_P_ONLY, 0.0)
    checks.append(Check(f"bass_q0(p={BASS_P_ONLY:g})", "bass", "F(t) = 1 - exp(-p t) (KS test, alpha 0.001)",
                        SRC_BASS + "; Kolmogorov-Smirnov", specs0, _eval_bass_q0(specs0, BASS_P_ONLY)))
    return checks


def _bass_noise(p: float, q: float, N: int) -> tuple[float, float]:
    """Per-run SD of the relative error of p-hat and of the timing (days) from demographic noise.

    Early on, adopters form a birth process (rate q) with immigration (rate N p); its amplitude
    X(t) e^{-qt} tends to a Gamma(N p / q) variable (Kendall 1948), so the whole curve is shifted in
    time by a random amount with SD ~ sqrt(q / (N p)) / (p + q) days, and p-hat (which sets the curve's
    position) has relative SD ~ sqrt(q / (N p))."""
    rel = math.sqrt(q / (N * p)) if q > 0 else 1.0 / math.sqrt(N)
    return rel, rel / (p + q)


def _eval_bass_curve(specs, p, q):
    def ev(ctx: Ctx) -> dict:
        Y, N = _curves(ctx.runs(specs))
        R, T = Y.shape
        t = np.arange(1, T + 1)
        F = bass_curve(t, p, q)
        disc = float(np.max(np.abs(bass_daily(p, q, T) - F)))
        rel, sig_t = _bass_noise(p, q, N)
        fmax = (p + q) ** 2 / (4 * q) if q > 0 else p  # steepest slope of the Bass curve, per day
        # Tolerance: the daily discretisation error (exact, from the engine's mean-field recursion) plus 3 SEs
        # of the replication-mean curve: a random time shift (SD sig_t days, times the steepest slope) plus
        # binomial noise (at most 0.5/sqrt(N) at one point).
        sigma = fmax * sig_t + 0.5 / math.sqrt(N)
        tol = disc + 3.0 * sigma / math.sqrt(R)
        stat = lambda idx: float(np.max(np.abs(Y[idx].mean(axis=0) - F)))
        est, lo, hi = bootstrap_ci(stat, R)
        ctx.figures.setdefault("bass", []).append({"p": p, "q": q, "t": t, "sim": Y.mean(axis=0), "F": F,
                                                   "daily": bass_daily(p, q, T)})
        return {"measured": est, "ci_low": lo, "ci_high": hi, "passed": est <= tol,
                "target": f"max |F_sim - F_Bass| <= {tol:.4f}",
                "detail": (f"{R} runs, N={N}, {T} days; max deviation of the mean curve from the analytic Bass "
                           f"curve {est:.4f} (tolerance {tol:.4f} = daily discretisation {disc:.4f} + 3 x "
                           f"{sigma:.4f}/sqrt({R}); time-shift SD {sig_t:.2f} days from Kendall's Gamma(Np/q)). "
                           f"CI: bootstrap over runs.")}
    return ev


def _eval_bass_fit(specs, p, q, which):
    def ev(ctx: Ctx) -> dict:
        Y, N = _curves(ctx.runs(specs))
        R, T = Y.shape
        fits = np.array([_fit_bass(y) for y in Y])
        disc = _fit_bass(bass_daily(p, q, T))
        true = p if which == "p" else q
        k = 0 if which == "p" else 1
        est = fits[:, k]
        bias = disc[k] / true - 1.0  # what the daily discretisation alone does to the fitted value
        rel, _ = _bass_noise(p, q, N)
        # Tolerance on the mean of the fitted rates, relative: |discretisation bias| + 3 SE. For p the per-run
        # SD is Kendall's sqrt(q/(Np)); q is pinned by the curve's steepness and has no such amplification,
        # its per-run SD at N = 10,000 is ~1.5% (observed over 20 seeds), used as the floor.
        sigma_pred = rel if which == "p" else 0.015
        tol, sigma = _tol(bias, sigma_pred, est / true - 1.0, R)
        m, lo, hi = mean_ci(est)
        err = m / true - 1.0
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": bool(np.isfinite(err) and abs(err) <= tol),
                "target": f"{which} = {true:g} within +/-{100 * tol:.1f}%",
                "detail": (f"curve_fit of F(t; p, q) to each of {R} runs (N={N}, {T} days), from p0 = first-day "
                           f"share, q0 = 0.1: mean {which}-hat = {_fmt(m, 4)} ({100 * err:+.1f}%); fitted "
                           f"p, q per run: " + ", ".join(f"({a:.5f}, {b:.4f})" for a, b in fits[:6])
                           + (" ..." if R > 6 else "") + f". Tolerance {100 * tol:.1f}% = |discretisation bias "
                           f"{100 * bias:+.1f}%| (fit of the engine's daily mean-field curve) + 3 x {100 * sigma:.1f}%"
                           f"/sqrt({R}).")}
    return ev


def _eval_bass_peak(specs, p, q):
    def ev(ctx: Ctx) -> dict:
        Y, N = _curves(ctx.runs(specs))
        R, T = Y.shape
        level = (1.0 - p / q) / 2.0  # F at the inflection point of the Bass curve
        tstar = math.log(q / p) / (p + q)
        cross = np.array([_crossing(y, level) for y in Y])
        bias = _crossing(bass_daily(p, q, T), level) - tstar
        _, sig_t = _bass_noise(p, q, N)
        # Tolerance: |discretisation lag| + 3 SE of the mean crossing day (Kendall time-shift SD).
        tol, sigma = _tol(bias, sig_t, cross, R)
        m, lo, hi = mean_ci(cross)
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": bool(np.isfinite(m) and abs(m - tstar) <= tol),
                "target": f"t* = {tstar:.1f} +/- {tol:.1f} days",
                "detail": (f"peak timing from the day F crosses (1 - p/q)/2 = {level:.3f} (the inflection, robust "
                           f"to daily noise), interpolated, over {R} runs: mean {m:.2f} days vs ln(q/p)/(p+q) = "
                           f"{tstar:.2f}. Tolerance {tol:.2f} = |discretisation lag {bias:+.2f}| + 3 x {sigma:.2f}/"
                           f"sqrt({R}).")}
    return ev


def _eval_bass_q0(specs, p):
    def ev(ctx: Ctx) -> dict:
        Y, N = _curves(ctx.runs(specs))
        R, T = Y.shape
        t = np.arange(1, T + 1)
        F = 1.0 - np.exp(-p * t)
        # With q = 0 every account adopts independently with daily hazard 1 - e^{-p}, so F(t) = 1 - e^{-pt}
        # exactly at whole days and the mean curve over R runs is the empirical CDF of N R independent adoption
        # times: sqrt(N R) * sup|F_sim - F| is (conservatively, for a discrete law) Kolmogorov distributed.
        # Pass if D is below the 99.9% critical value.
        crit = float(stats.kstwobign.ppf(0.999)) / math.sqrt(N * R)
        stat = lambda idx: float(np.max(np.abs(Y[idx].mean(axis=0) - F)))
        est, lo, hi = bootstrap_ci(stat, R)
        pval = float(stats.kstwobign.sf(est * math.sqrt(N * R)))
        fits = []
        for y in Y:
            try:
                popt, _ = curve_fit(lambda tt, pp: 1.0 - np.exp(-pp * tt), t, y, p0=(max(y[0], 1e-5),),
                                    bounds=([1e-7], [1.0]))
                fits.append(float(popt[0]))
            except (RuntimeError, ValueError):
                fits.append(math.nan)
        pm, plo, phi = mean_ci(fits)
        return {"measured": est, "ci_low": lo, "ci_high": hi, "passed": est <= crit,
                "target": f"KS distance <= {crit:.4f} (alpha 0.001)",
                "detail": (f"q = 0, p = {p:g}, {R} runs, N={N}: sup |F_sim - (1 - e^(-pt))| = {est:.4f}, "
                           f"Kolmogorov p-value {pval:.3f}; curve_fit of 1 - e^(-pt) gives p = {pm:.5f} "
                           f"[{plo:.5f}, {phi:.5f}]. CI of D: bootstrap over runs.")}
    return ev


# ================================================================================================
# 2. Networks
# ================================================================================================


def _plan_network(ctx: Ctx) -> list[Check]:
    p, q = BASS_PQ[0]
    full = _bass_specs(ctx, p, q)
    checks = []
    for k in NETWORK_DENSITIES:
        net = _bass_specs(ctx, p, q, {"diffusion.mixing": "network", "network.weak_ties_mean": k})
        tag = f"(weak_ties={k:g})"
        checks.append(Check(f"network_slower{tag}", "network", "later half-adoption than full mixing (days > 0)",
                            SRC_FG, net + full, _eval_network_slower(net, full, k)))
        checks.append(Check(f"network_lower_bound{tag}", "network", "min_t (F_net - F_lower) >= -tolerance",
                            SRC_FG, net, _eval_network_bound(net, p, q, k)))
    return checks


def _noise_tol(N: int, R: int) -> float:
    # Allowance for "slower than" / "no slower than" comparisons of whole curves: 3 binomial standard errors of
    # a replication-mean adoption share at F = 1/2 (the largest), 1.5 / sqrt(N R). Were adoption times
    # independent, the one-sided Smirnov statistic would exceed it with probability exp(-2 * 1.5^2) ~ 1%
    # over the whole curve; imitation correlates adoptions, so the real noise is somewhat larger.
    return 1.5 / math.sqrt(N * R)


def _eval_network_slower(net_specs, full_specs, k):
    def ev(ctx: Ctx) -> dict:
        Yn, N = _curves(ctx.runs(net_specs))
        Yf, _ = _curves(ctx.runs(full_specs))
        R, T = Yn.shape
        tn = np.array([_crossing(y, 0.5) for y in Yn])
        tf = np.array([_crossing(y, 0.5) for y in Yf])
        m, lo, hi, pval = paired_test(tn, tf, +1)
        sup = float(np.max(Yn.mean(axis=0) - Yf.mean(axis=0)))
        tol = _noise_tol(N, R)
        # Pass: half adoption is significantly later on the network (paired by seed: same dice for p), and the
        # network curve is nowhere above the fully mixed one by more than noise.
        passed = bool(np.isfinite(lo) and lo > 0 and sup <= tol)
        deg = np.nanmean([r["net"]["mean_degree"] for r in ctx.runs(net_specs)])
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": passed,
                "target": "days to 50% adoption, network - full mixing > 0",
                "detail": (f"weak_ties_mean={k:g} (mean degree {deg:.2f}), {R} seeds paired: half adoption at "
                           f"{np.nanmean(tn):.1f} days on the network vs {np.nanmean(tf):.1f} fully mixed (one-sided "
                           f"paired t-test p={_fmt(pval)}); max_t (F_net - F_full) = {sup:+.4f} (allowance {tol:.4f}).")}
    return ev


def _eval_network_bound(specs, p, q, k):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        Y, N = _curves(runs)
        R, T = Y.shape
        t = np.arange(1, T + 1)
        sh = np.array([[r["net"]["isolated"], r["net"]["small"], r["net"]["giant"]] for r in runs])
        # The lower bound, per component (daily rule, exact curves): buyers with no tie adopt only by p;
        # buyers in the giant component are no slower than Fibich & Gibori's 1D chain (the lower bound of
        # their spatial models: every buyer imitates at least one neighbour in an unbounded chain of
        # influence); buyers in finite components (pairs, small trees) no slower than an isolated pair.
        curves = np.vstack([1.0 - np.exp(-p * t), pair_daily(p, q, T), chain_daily(p, q, T)])
        lower = sh @ curves  # one bound per seed (its own network)
        stat = lambda idx: float(np.min(Y[idx].mean(axis=0) - lower[idx].mean(axis=0)))
        est, lo, hi = bootstrap_ci(stat, R)
        tol = _noise_tol(N, R)
        plain = float(np.min(Y.mean(axis=0) - fg_1d_curve(t, p, q)))
        iso_adj = float(np.min(Y.mean(axis=0) - (sh[:, 0].mean() * (1 - np.exp(-p * t))
                                                 + (1 - sh[:, 0].mean()) * fg_1d_curve(t, p, q))))
        ctx.figures.setdefault("network", []).append({"k": k, "t": t, "sim": Y.mean(axis=0),
                                                      "lower": lower.mean(axis=0), "F": bass_curve(t, p, q)})
        return {"measured": est, "ci_low": lo, "ci_high": hi, "passed": bool(est >= -tol),
                "target": f"min_t (F_net - F_lower) >= -{tol:.4f}",
                "detail": (f"weak_ties_mean={k:g}, {R} runs: buyers isolated {sh[:, 0].mean():.3f}, in small "
                           f"components {sh[:, 1].mean():.3f}, in the giant component {sh[:, 2].mean():.3f}. "
                           f"F_lower = isolated x (1 - e^(-pt)) + small x pair curve + giant x F&G 1D chain "
                           f"(continuous form 1 - exp(-(p+q)t + (q/p)(1 - e^(-pt)))), all under the daily rule. "
                           f"Closest approach {est:+.4f} (allowance {tol:.4f}, 3 binomial SEs). For comparison: gap "
                           f"to the plain F&G curve {plain:+.4f}, to F&G with isolates only {iso_adj:+.4f} "
                           f"(F&G assume an unbounded chain of influence, which finite components lack).")}
    return ev


# ================================================================================================
# 3. Stylized facts
# ================================================================================================

BASE_STRATEGY = "content_nurture"


def _default_specs(ctx: Ctx, overrides: dict | None = None, strategy: str = BASE_STRATEGY,
                   small: bool = False) -> list[RunSpec]:
    """Replications of the default scenario; ``small``: on the smaller market in --fast mode."""
    ov = dict(FAST_SMALL_MARKET) if (ctx.fast and small) else {}
    ov.update(overrides or {})
    return [RunSpec.make("default", ov, strategy, s) for s in ctx.seeds]


def _pooled(runs, kind):
    return [_sample(r, kind) for r in runs]


def _plan_stylized(ctx: Ctx) -> list[Check]:
    base = _default_specs(ctx)
    off = _default_specs(ctx, {"channels.campaigns.sharing": False})
    busy = _default_specs(ctx, {"sales.n_reps": 1}, small=True)
    blended = _default_specs(ctx, strategy="blended", small=True)
    return [
        Check("progress_at_first_contact_median", "stylized", f"{PFC_TARGET} +/- {PFC_TOL}", SRC_CEB, base,
              _eval_pfc_median(base)),
        Check("progress_at_first_contact_spread", "stylized", f"IQR >= {PFC_IQR_MIN}", SRC_CEB, base,
              _eval_pfc_spread(base)),
        Check("share_in_market", "stylized", f"{IN_MARKET_TARGET} (between {IN_MARKET_BAND[0]} and {IN_MARKET_BAND[1]})",
              SRC_DAWES, base, _eval_in_market(base)),
        Check("campaign_direct_within_2_days", "stylized", f"share of direct responses on day 0-1 >= {CAMPAIGN_DIRECT_MIN}",
              SRC_SEED003_CAMPAIGN, off, _eval_campaign_direct(off)),
        Check("campaign_sharing_tail", "stylized", "tail share (>= 2 days after a burst) higher with sharing on",
              SRC_SEED003_CAMPAIGN, base + off, _eval_campaign_tail(base, off)),
        Check("speed_to_lead", "stylized",
              f"same-day / later qualification rate >= {SPEED_TO_LEAD_MIN:g} (CI above 1)",
              SRC_OLDROYD, busy, _eval_speed_to_lead(busy)),
        Check("referral_ltv_premium", "stylized",
              f"LTV per ACV dollar, referred / not referred (same segment and quarter) - 1 >= "
              f"{REFERRAL_PREMIUM_MIN} (CI above 0)",
              SRC_SCHMITT, base, _eval_referral_ltv(base)),
        Check("enterprise_cycle_longer", "stylized", "median cycle enterprise - SMB > 0 days", SRC_CYCLE, base,
              _eval_cycles(base)),
        Check("introductions_vs_cold_calls", "stylized",
              f"meetings per introduction / meetings per cold connect >= {INTRO_VS_COLD_MIN:g} (CI above 1)",
              SRC_SEED001, blended,
              _eval_intro_vs_cold(blended)),
    ]


def _eval_pfc_median(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        med = np.array([_summary(r, "median_progress_at_first_contact") for r in runs])
        m, lo, hi = mean_ci(med)
        thr = np.concatenate(_pooled(runs, "progress_at_first_contact"))
        passed = bool(np.isfinite(m) and abs(m - PFC_TARGET) <= PFC_TOL)
        why = "" if passed else (
            " FAILS: the personal readiness THRESHOLD (market.readiness_mean; +0.08 for SMB) is where a buyer "
            "becomes willing to talk, but most first conversations come from a raised hand, which needs progress "
            "past the threshold AND trust in us >= research.hand_raise_trust AND a daily draw (research.hand_raise_rate "
            "x receptivity), then a lead that a rep works (possibly days later); cold calls and introductions "
            "are accepted on a logistic curve around the threshold. Research keeps adding progress while "
            "buyers wait for trust, the draw and the rep, so the first conversation lands well past the "
            "threshold: the overshoot is emergent, and the model's threshold is not the CEB measure.")
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"strategy {BASE_STRATEGY}, {len(runs)} runs: mean of per-run medians {m:.3f}; pooled "
                           f"median {np.median(thr) if thr.size else math.nan:.3f} over {thr.size} first "
                           f"conversations. A calibration target, not an independent prediction: "
                           f"market.readiness_mean is set so that this emergent median matches (see sim/parameters.py)."
                           + why)}
    return ev


def _eval_pfc_spread(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        iqr, over70 = [], []
        for r in runs:
            x = _sample(r, "progress_at_first_contact")
            if x.size >= 4:
                q75, q25 = np.percentile(x, [75, 25])
                iqr.append(q75 - q25)
                over70.append(float((x >= 0.70).mean()))
        m, lo, hi = mean_ci(iqr)
        passed = bool(np.isfinite(m) and m >= PFC_IQR_MIN)
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"inter-quartile range of progress at the first sales conversation, per run ({len(iqr)} "
                           f"runs); share of first conversations at 70%+ of the decision: "
                           f"{np.mean(over70) if over70 else math.nan:.2f} (seed 003: 'some customers felt "
                           f"comfortable going through 70%'). The personal threshold spread (market.readiness_sd) is "
                           f"an input; the check is that a wide spread survives to the first conversation.")}
    return ev


def _eval_in_market(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        share = np.array([np.mean(_ts(r, "n_accounts_in_market")) / r["n_accounts"] for r in runs])
        m, lo, hi = mean_ci(share)
        passed = bool(IN_MARKET_BAND[0] <= m <= IN_MARKET_BAND[1])
        why = "" if passed else (
            " FAILS: the share is trigger rate (need.annual_trigger_rate) x episode length; episodes here end "
            "by a decision, a fade (need.fade_rate) or a win, so their length decides the share.")
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"mean over days of n_accounts_in_market / market.n_accounts, per run ({len(runs)} runs, "
                           f"strategy {BASE_STRATEGY}). Not a parameter: it emerges from the trigger rate and how "
                           f"long buying episodes last." + why)}
    return ev


def _eval_campaign_direct(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        ages = _pooled(runs, "campaign_response_age_direct")

        def stat(idx):
            a = np.concatenate([ages[i] for i in idx])
            return float((a < 2).mean()) if a.size else math.nan

        est, lo, hi = bootstrap_ci(stat, len(runs))
        n = sum(a.size for a in ages)
        passed = bool(np.isfinite(est) and est >= CAMPAIGN_DIRECT_MIN)
        return {"measured": est, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"channels.campaigns.sharing=false, {len(runs)} runs, {n} direct responses: share with "
                           f"age 0 or 1 day (exposure day or the next, ~48 hours); median age "
                           f"{np.median(np.concatenate(ages)) if n else math.nan:.1f} days. CI: bootstrap over runs.")}
    return ev


def _tail_share(resp: np.ndarray, bursts: Iterable[int], horizon: int, lag: int = 2, cap: int = 30) -> float:
    """Share of a burst's responses that arrive ``lag`` or more days after it, within the window up to the next
    burst (at most ``cap`` days), pooled over bursts."""
    bs = sorted(int(b) for b in bursts if 0 <= b < horizon)
    tot = tail = 0.0
    for i, b in enumerate(bs):
        end = min(bs[i + 1] if i + 1 < len(bs) else horizon, b + cap, horizon)
        w = resp[b:end]
        tot += w.sum()
        tail += w[lag:].sum()
    return tail / tot if tot > 0 else math.nan


def _eval_campaign_tail(on_specs, off_specs):
    def ev(ctx: Ctx) -> dict:
        on, off = ctx.runs(on_specs), ctx.runs(off_specs)
        t_on = np.array([_tail_share(_ts(r, "new_campaign_responses"), r["burst_days"], r["horizon"]) for r in on])
        t_off = np.array([_tail_share(_ts(r, "new_campaign_responses"), r["burst_days"], r["horizon"]) for r in off])
        m, lo, hi, pval = paired_test(t_on, t_off, +1)
        shared = [float(_ts(r, "new_campaign_responses_shared").sum()) if "new_campaign_responses_shared" in r["ts"]
                  else float(_sample(r, "campaign_response_age_shared").size) for r in on]
        total = [float(_ts(r, "new_campaign_responses").sum()) for r in on]
        sh_age = np.concatenate([r["samples"].get("campaign_response_age_shared", np.zeros(0)) for r in on])
        passed = bool(np.isfinite(lo) and lo > 0 and np.isfinite(pval) and pval < ALPHA)
        why = "" if passed else (
            " FAILS: with sharing on, only a share social.share_prob of responders share, a peer hears with "
            "1 - exp(-wom_rate x tie weight), and a shared exposure responds at campaigns.response_rate x "
            "social.shared_response_lift x receptivity on a fresh 0.7-day clock starting the next day: a first-"
            "generation shared response lands one or two days after the burst, so only part of it reaches the "
            "2+ day tail, and the tail is too thin to change the response curve.")
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": passed,
                "target": "tail share (>= 2 days after a burst): sharing on - off > 0",
                "detail": (f"share of each burst's responses (timeseries new_campaign_responses, window to the next "
                           f"burst, max 30 days) arriving 2+ days after the burst: {np.nanmean(t_on):.3f} with sharing, "
                           f"{np.nanmean(t_off):.3f} without ({len(on)} seeds paired, one-sided p={_fmt(pval)}). "
                           f"Shared responses per run: {np.mean(shared):.1f} of {np.mean(total):.0f}; median age of "
                           f"a shared response from its own exposure "
                           f"{np.median(sh_age) if sh_age.size else math.nan:.1f} days. social.share_prob is "
                           f"calibrated so that shared responses are measurable (see sim/parameters.py): the "
                           f"direction of the effect is the test, its size is partly an input." + why)}
    return ev


def _eval_speed_to_lead(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        delay = [_sample(r, "lead_delay_days") for r in runs]
        conv = [_sample(r, "lead_converted") for r in runs]
        if any(d.size != c.size for d, c in zip(delay, conv)):
            raise NotMeasurable("lead_delay_days and lead_converted differ in length")

        def stat(idx):
            d = np.concatenate([delay[i] for i in idx])
            c = np.concatenate([conv[i] for i in idx])
            same, later = c[d == 0], c[d >= 1]
            if same.size == 0 or later.size == 0 or later.mean() == 0:
                return math.nan
            return float(same.mean() / later.mean())

        est, lo, hi = bootstrap_ci(stat, len(runs))
        d = np.concatenate(delay)
        c = np.concatenate(conv)
        by = ", ".join(f"{k}d: {int((d == k).sum())} leads, {c[d == k].mean():.2f}" for k in range(4) if (d == k).any())
        passed = bool(np.isfinite(est) and est >= SPEED_TO_LEAD_MIN and np.isfinite(lo) and lo > 1.0)
        why = "" if passed else (
            " FAILS: the gap depends on how long delayed leads wait. The reach odds fall by "
            "sales.lead_decay_per_day per day of delay, so leads that wait one day are reached ~0.45 as often "
            "as same-day ones (a ratio near 2); the 'several times' gap appears only when the team is busy "
            "enough that delayed leads wait several days.")
        return {"measured": est, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"sales.n_reps=1 (a busy team: with five reps nearly every lead is worked the same day, "
                           f"so delays are not observed), {len(runs)} runs, {d.size} worked leads. Share of worked "
                           f"leads that became a sales conversation, by delay: {by}; later = 1+ days. Part input: the "
                           f"chance to reach a lead decays by sales.lead_decay_per_day, taken from the same source; "
                           f"whether a reached buyer agrees (readiness) is emergent. CI: bootstrap over runs." + why)}
    return ev


def _won_accounts(run: dict) -> dict:
    """The engine's per-account samples of the accounts won in a run (parallel arrays)."""
    keys = ("won_segment", "won_acv", "won_referred", "won_ltv", "won_day")
    out = {k: _sample(run, k) for k in keys}
    if len({v.size for v in out.values()}) != 1:
        raise NotMeasurable("the won_* samples differ in length")
    return out


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


def _eval_referral_ltv(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        won = [_won_accounts(r) for r in runs]

        def cat(key, idx):
            return np.concatenate([won[i][key] for i in idx])

        def stat(idx):
            return referral_premium(cat("won_segment", idx), cat("won_acv", idx), cat("won_referred", idx),
                                    cat("won_ltv", idx), cat("won_day", idx))

        allx = np.arange(len(runs))
        seg, ref = cat("won_segment", allx), cat("won_referred", allx) > 0.5
        ltv, acv = cat("won_ltv", allx), cat("won_acv", allx)
        if not ref.any():
            raise NotMeasurable(f"no referred customers won in {len(runs)} runs")
        est, lo, hi = bootstrap_ci(stat, len(runs))
        y = ltv / acv
        per_seg = []
        for i, name in enumerate(("SMB", "mid", "enterprise")):
            a, b = ref & (seg == i), ~ref & (seg == i)
            if a.any() and b.any():
                per_seg.append(f"{name} {y[a].mean():.2f} vs {y[b].mean():.2f} (n={a.sum()} vs {b.sum()})")
        raw = float(ltv[ref].mean() / ltv[~ref].mean() - 1.0) if (~ref).any() else math.nan
        passed = bool(np.isfinite(est) and est >= REFERRAL_PREMIUM_MIN and np.isfinite(lo) and lo > 0.0)
        why = ""
        if not passed:
            why = (" FAILS: " + ("the point estimate is below 16%" if not (np.isfinite(est) and est >= REFERRAL_PREMIUM_MIN)
                                 else "the point estimate clears 16% but the interval includes no premium at all")
                   + f" ({int(ref.sum())} referred wins). In the model the premium comes only from retention: a "
                   "referral passes on a share of the advocate's trust (channels.networking.trust_transfer), referred "
                   "accounts stay tied to advocates whose word of mouth keeps raising trust, and churn falls with trust "
                   "(after_sale.trust_churn_sensitivity); expected life is capped at after_sale.ltv_max_years, which "
                   "compresses a lower churn into a smaller value gap, and the model has no margin or cross-buying "
                   "difference, which is part of the premium Schmitt et al. measured.")
        return {"measured": est, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"strategy {BASE_STRATEGY}, {len(runs)} runs, {int(ref.sum())} referred vs {int((~ref).sum())} "
                           f"other won accounts (referred: a member received an advocate's referral before the win). Like "
                           f"for like: LTV per dollar of ACV at the win, within segment and quarter of acquisition, "
                           f"standardised to the referred customers' mix. LTV per ACV dollar by segment, referred vs "
                           f"not: " + "; ".join(per_seg) + f". Unadjusted ratio of mean LTVs {raw:+.2f} (mixes "
                           f"segments and deal sizes). CI: bootstrap over runs." + why)}
    return ev


def _eval_cycles(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        if not any(k in r["samples"] for r in runs for k in ("cycle_days_enterprise", "cycle_days_smb")):
            raise NotMeasurable("the engine's samples have no cycle_days_<segment>")
        # a run without wins in a segment may have no sample of that kind: it counts as empty
        ent = [r["samples"].get("cycle_days_enterprise", np.zeros(0)) for r in runs]
        smb = [r["samples"].get("cycle_days_smb", np.zeros(0)) for r in runs]

        def stat(idx):
            e = np.concatenate([ent[i] for i in idx])
            s = np.concatenate([smb[i] for i in idx])
            return float(np.median(e) - np.median(s)) if e.size and s.size else math.nan

        e, s = np.concatenate(ent), np.concatenate(smb)
        if e.size == 0 or s.size == 0:
            raise NotMeasurable(f"no {'enterprise' if e.size == 0 else 'SMB'} wins in {len(runs)} runs")
        est, lo, hi = bootstrap_ci(stat, len(runs))
        # Pass: enterprise cycles significantly longer (the bootstrap interval of the difference excludes 0).
        passed = bool(np.isfinite(lo) and lo > 0)
        why = "" if passed else (
            " FAILS: the cycle is counted from the first sales conversation to the decision, and the buyer who "
            "first talks to sales is already past a high threshold; every meeting then adds progress to the "
            "whole buying group (sales.meeting_progress_gain) and colleagues research in parallel (strong ties, "
            "research.peer_boost), so large groups reach consensus soon after first contact. Only deals won "
            "within the horizon are counted (long enterprise cycles are right-censored), and SMB self-serve wins "
            "are counted from the need trigger, which lengthens SMB cycles.")
        return {"measured": est, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"strategy {BASE_STRATEGY}, {len(runs)} runs: median cycle enterprise {np.median(e):.1f} days "
                           f"(n={e.size}, IQR {np.percentile(e, 25):.0f}-{np.percentile(e, 75):.0f}) vs SMB "
                           f"{np.median(s):.1f} (n={s.size}, IQR {np.percentile(s, 25):.0f}-{np.percentile(s, 75):.0f}). "
                           f"CI: bootstrap over runs. Levels, not checked: the benchmark is ~1-2 months for SMB and "
                           f"6+ months for enterprise; here a cycle starts at the first sales conversation, when the "
                           f"contact is already ~3/4 through the decision." + why)}
    return ev


def _eval_intro_vs_cold(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        nm = np.array([_ts(r, "new_network_meetings").sum() for r in runs])
        nt = np.array([_ts(r, "new_network_talks").sum() for r in runs])
        cm = np.array([_ts(r, "new_cold_meetings").sum() for r in runs])
        cn = np.array([_ts(r, "new_connects").sum() for r in runs])

        def stat(idx):
            a, b, c, d = nm[idx].sum(), nt[idx].sum(), cm[idx].sum(), cn[idx].sum()
            if b == 0 or d == 0 or c == 0:
                return math.nan
            return float((a / b) / (c / d))

        if nt.sum() == 0 or cn.sum() == 0:
            raise NotMeasurable("strategy blended produced no introductions or no cold-call connects")
        est, lo, hi = bootstrap_ci(stat, len(runs))
        passed = bool(np.isfinite(est) and est >= INTRO_VS_COLD_MIN and np.isfinite(lo) and lo > 1.0)
        why = "" if passed else (
            " FAILS: an introduction lowers the bar (channels.networking.readiness_discount) on the same "
            "readiness-driven acceptance curve that cold calls use, and a known rep's trust raises the odds of a "
            "yes (research.accept_trust); reps talk only to contacts who are in market, cold calls reach anyone.")
        return {"measured": est, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"strategy blended, {len(runs)} runs: introductions {nm.sum():.0f} meetings / {nt.sum():.0f} "
                           f"talks = {nm.sum() / nt.sum():.3f}; cold calls {cm.sum():.0f} meetings / {cn.sum():.0f} "
                           f"connects = {cm.sum() / cn.sum() if cn.sum() else math.nan:.3f}. CI: bootstrap over runs."
                           + why)}
    return ev


# ================================================================================================
# 4. Comparative statics
# ================================================================================================


def _plan_statics(ctx: Ctx) -> list[Check]:
    def pair(lo_ov, hi_ov, strategy=BASE_STRATEGY):
        return _default_specs(ctx, lo_ov, strategy, small=True), _default_specs(ctx, hi_ov, strategy, small=True)

    reps_lo, reps_hi = pair({}, {"sales.n_reps": 10})
    rd_lo, rd_hi = pair({}, {"market.readiness_mean": 0.72})
    rd_default = _scenario("default", {}).config().market.readiness_mean
    # blended: reps network and take referrals, and its base runs are shared with introductions_vs_cold_calls
    net_lo, net_hi = pair({}, {"network.weak_ties_mean": 12.0}, "blended")
    ct_lo, ct_hi = pair({"channels.content.budget": 60_000.0}, {})
    an_lo, an_hi = pair({"channels.cold_calling.annoyance": 0.0}, {"channels.cold_calling.annoyance": 0.3},
                        "cold_calling")

    meetings = lambda r: _summary(r, "meetings")
    pfc = lambda r: _summary(r, "median_progress_at_first_contact")
    ref_deals = lambda r: _summary(r, "deals_referral")
    content_leads = lambda r: float(_ts(r, "new_leads_content").sum())

    def cold_conv(r):
        c = float(_ts(r, "new_connects").sum())
        return 1000.0 * _summary(r, "deals_cold_calling") / c if c > 0 else math.nan

    return [
        Check("more_reps_more_meetings", "statics", "meetings: n_reps 10 - 5 > 0", SRC_STATICS, reps_lo + reps_hi,
              _eval_static(reps_lo, reps_hi, meetings, +1, "sales.n_reps 5 -> 10, strategy content_nurture; "
                           "metric: first sales conversations (summary meetings)", _extra_none)),
        Check("higher_readiness_later_contact", "statics", f"median progress at first contact: 0.72 - {rd_default:g} > 0",
              SRC_STATICS + "; " + SRC_CEB, rd_lo + rd_hi,
              _eval_static(rd_lo, rd_hi, pfc, +1, f"market.readiness_mean {rd_default:g} -> 0.72, strategy content_nurture; "
                           "metric: summary median_progress_at_first_contact", _extra_none)),
        Check("denser_network_more_referral_deals", "statics", "deals_referral: weak ties 12 - 6 > 0",
              SRC_STATICS + "; " + SRC_SCHMITT, net_lo + net_hi,
              _eval_static(net_lo, net_hi, ref_deals, +1, "network.weak_ties_mean 6 -> 12, strategy blended; "
                           "metric: summary deals_referral", _extra_referrals,
                           why=" FAILS: referral-sourced WINS are rare (a referral must reach an exploring buyer who "
                               "then accepts, and the account must then choose us); denser ties multiply referrals "
                               "(see counts) but the few deals they open are within the seed-to-seed noise.")),
        Check("more_content_more_inbound_leads", "statics", "content leads: budget 240k - 60k > 0", SRC_STATICS,
              ct_lo + ct_hi,
              _eval_static(ct_lo, ct_hi, content_leads, +1, "channels.content.budget $60k -> $240k a year, "
                           "strategy content_nurture; metric: leads sourced by content (timeseries new_leads_content)",
                           _extra_none)),
        Check("more_annoyance_lower_cold_conversion", "statics",
              "cold-call deals per 1,000 connects: annoyance 0.3 - 0.0 < 0", SRC_STATICS, an_lo + an_hi,
              _eval_static(an_lo, an_hi, cold_conv, -1, "channels.cold_calling.annoyance 0 -> 0.3, strategy "
                           "cold_calling; metric: deals_cold_calling per 1,000 connects", _extra_cold,
                           why=" FAILS: an annoyed buyer loses trust and, below zero trust, gains resentment "
                               "(journey.annoy), which multiplies the odds of accepting a later meeting by "
                               "exp(-research.accept_trust x resentment) and counts against us when the account "
                               "chooses a vendor; only buyers reached again, or whose account later decides, are "
                               "affected, so the effect on deals per connect can be small against the seed-to-seed "
                               "noise of a few cold-call deals a run.")),
    ]


def _extra_none(lo_runs, hi_runs) -> str:
    return ""


def _extra_referrals(lo_runs, hi_runs) -> str:
    if not all("new_referrals" in r["ts"] for r in lo_runs + hi_runs):
        return ""
    a = np.mean([r["ts"]["new_referrals"].sum() for r in lo_runs])
    b = np.mean([r["ts"]["new_referrals"].sum() for r in hi_runs])
    return f" Referrals made per run: {a:.1f} -> {b:.1f}."


def _extra_cold(lo_runs, hi_runs) -> str:
    def rate(rs):
        m = sum(r["ts"].get("new_cold_meetings", np.zeros(1)).sum() for r in rs)
        c = sum(r["ts"].get("new_connects", np.zeros(1)).sum() for r in rs)
        return m / c if c else math.nan

    return f" Cold meetings per connect: {rate(lo_runs):.4f} -> {rate(hi_runs):.4f}."


def _eval_static(lo_specs, hi_specs, metric, direction, what, extra, why=""):
    def ev(ctx: Ctx) -> dict:
        lo_runs, hi_runs = ctx.runs(lo_specs), ctx.runs(hi_specs)
        a = np.array([metric(r) for r in lo_runs], dtype=float)
        b = np.array([metric(r) for r in hi_runs], dtype=float)
        m, cl, ch, pval = paired_test(b, a, direction)
        # Pass: the one-sided paired t-test (same seeds = same market and dice) is significant at ALPHA and
        # the mean difference has the expected sign.
        passed = bool(np.isfinite(pval) and pval < ALPHA and np.sign(m) == direction)
        return {"measured": m, "ci_low": cl, "ci_high": ch, "passed": passed,
                "detail": (f"{what}. {len(a)} seeds paired: {np.nanmean(a):.4g} -> {np.nanmean(b):.4g}, mean "
                           f"difference {m:+.4g}, one-sided paired t-test p={_fmt(pval)}."
                           + extra(lo_runs, hi_runs) + ("" if passed else why))}
    return ev


# ================================================================================================
# Public API
# ================================================================================================

_PLANNERS = {"bass": _plan_bass, "network": _plan_network, "stylized": _plan_stylized, "statics": _plan_statics}


def _check_args(fast, reps, seed, workers, groups) -> tuple[int, int, int, list[str]]:
    where = "validate"
    if reps is None:
        reps = FAST_REPS if fast else FULL_REPS
    if workers is None:
        workers = os.cpu_count() or 1
    check_int_flags(where, {"reps": reps, "seed": seed, "workers": workers}, {"reps": 2, "seed": 0, "workers": 1},
                    reasons={"reps": "a confidence interval needs two replications"}, allow_none=False)
    if groups is None:
        groups = list(GROUPS)
    else:
        groups = [groups] if isinstance(groups, str) else list(groups)
        bad = [g for g in groups if g not in GROUPS]
        if bad or not groups:
            raise ScenarioError(where, "groups", f"unknown group {bad[0] if bad else ''!r}; choose from: {', '.join(GROUPS)}")
    return int(reps), int(seed), int(workers), groups


def _plan(ctx: Ctx, groups: Sequence[str]) -> list[Check]:
    checks: list[Check] = []
    for g in GROUPS:
        if g in groups:
            checks.extend(_PLANNERS[g](ctx))
    return checks


def planned_checks(fast: bool = False, reps: int | None = None, seed: int = 1, groups=None) -> list[str]:
    """Names of the checks ``run_checks`` would report (without running anything)."""
    reps, seed, _, groups = _check_args(fast, reps, seed, 1, groups)
    return [c.name for c in _plan(Ctx(fast, reps, seed), groups)]


def run_checks(fast: bool = False, reps: int | None = None, seed: int = 1, workers: int | None = None,
               groups: Sequence[str] | None = None, progress: bool = False) -> pd.DataFrame:
    """Run the validation suite and return one row per check.

    Args:
        fast: a quick version for tests and smoke checks: 2 replications, 200-day Bass runs, and the
            default-scenario checks that do not need rare events on a 1,000-account, 300-day market.
        reps: replications per configuration (default 20, or 2 with ``fast``); at least 2. The Bass and
            network checks use at least 3 (they are cheap, and a t-interval on 2 runs verifies nothing).
        seed: first seed; replication i uses seed + i in every configuration (common random numbers).
        workers: processes (spawn); None = all cores, 1 = in this process. Results do not depend on it.
        groups: subset of ``GROUPS`` ("bass", "network", "stylized", "statics"); default all.
        progress: show a progress bar on stderr.

    Returns a DataFrame with columns ``COLUMNS``; ``df.attrs`` holds the settings and curves for charts.
    """
    reps, seed, workers, groups = _check_args(fast, reps, seed, workers, groups)
    t0 = time.perf_counter()
    ctx = Ctx(bool(fast), reps, seed)
    checks = _plan(ctx, groups)
    specs = [s for c in checks for s in c.specs]
    ctx.results = _execute(specs, workers, progress)
    rows = [c.row(ctx) for c in checks]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["passed"] = df["passed"].astype(bool)
    df.attrs["settings"] = {"fast": bool(fast), "reps": reps, "diffusion_reps": max(reps, MIN_DIFFUSION_REPS),
                            "seed": seed, "workers": workers, "groups": list(groups),
                            "runs": len(ctx.results), "elapsed_seconds": round(time.perf_counter() - t0, 1)}
    df.attrs["figures"] = ctx.figures
    return df


# ================================================================================================
# Writing the results folder
# ================================================================================================


def _curve_panels(figure, items: list[dict], curves: list[tuple[str, str, dict]], title) -> str:
    """A row of panels (day vs adopted share), one per item, each with the given curves ``(key, label,
    line style)`` and the title ``title(item)``, drawn by :func:`sim.plotting.figure`; returns base64 PNG."""
    with figure(None, "curves", None, "day", "adopted share", size=(4.2 * len(items), 3.2), panels=len(items),
                ncols=len(items), dpi=90) as chart:
        for ax, it in zip(chart.axes, items):
            for key, label, style in curves:
                ax.plot(it["t"], it[key], label=label, **style)
            ax.set_title(title(it))
        chart.ax.legend(fontsize=8)
    return chart.png


def _figures(figs: dict) -> list[tuple[str, str]]:
    """Embedded charts (caption, base64 PNG) of the docking curves; empty if matplotlib is unavailable."""
    out: list[tuple[str, str]] = []
    try:
        from sim.analysis.plotting import figure
    except Exception:  # pragma: no cover - matplotlib missing
        return out
    if figs.get("bass"):
        png = _curve_panels(figure, figs["bass"], [
            ("F", "analytic Bass F(t)", {"color": "black", "lw": 2}),
            ("daily", "daily rule (mean field)", {"color": "grey", "lw": 1, "ls": "--"}),
            ("sim", "simulated (mean of runs)", {"color": "tab:blue", "lw": 1.2}),
        ], lambda it: f"p={it['p']:g}, q={it['q']:g}")
        out.append(("Bass docking: simulated adoption curves against the analytic Bass curve.", png))
    if figs.get("network"):
        png = _curve_panels(figure, figs["network"], [
            ("F", "fully mixed Bass", {"color": "black", "lw": 2}),
            ("sim", "network (mean of runs)", {"color": "tab:blue", "lw": 1.2}),
            ("lower", "lower bound (F&G per component)", {"color": "tab:red", "lw": 1, "ls": "--"}),
        ], lambda it: f"weak ties per buyer = {it['k']:g}")
        out.append(("Diffusion on the network: between the Fibich & Gibori lower bound and full mixing.", png))
    return out


def _num(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "&ndash;"
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e5):
        return f"{x:.3e}"
    return f"{x:.4g}"


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:0.86em}th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top}
th{background:#f3f3f3;text-align:left}td.num{text-align:right;white-space:nowrap}
.pass{background:#e6f4e6;color:#145214;font-weight:bold}.fail{background:#fbe3e3;color:#7a1212;font-weight:bold}
.small{font-size:0.85em;color:#555}figure{margin:1em 0}figcaption{font-size:0.9em;color:#444}
img{max-width:100%}
"""

_GROUP_TITLES = {
    "bass": "1. Docking with the Bass model (verification)",
    "network": "2. Diffusion on networks (verification against Fibich & Gibori 2010)",
    "stylized": "3. Stylized facts",
    "statics": "4. Comparative statics (direction of effect, paired by seed)",
}


def render_report(df: pd.DataFrame, settings: dict | None = None, figures: dict | None = None) -> str:
    """The self-contained HTML report (no external links, images embedded)."""
    settings = settings or dict(df.attrs.get("settings", {}))
    figures = figures if figures is not None else df.attrs.get("figures", {})
    n, k = len(df), int(df["passed"].sum())
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Validation report: buyer-journey-sim</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Validation report</h1>",
        f"<p><b>{k} of {n} checks pass.</b> Verification and docking with known models, stylized facts and "
        "comparative statics, as Rand &amp; Rust (2011) ask of agent-based models in marketing. Nothing was tuned "
        "to pass: a failing fact is reported with the measured value and our reading of why, in the detail "
        "column.</p>",
        "<p class='small'>" + esc(", ".join(f"{a}: {b}" for a, b in settings.items() if a != "groups")) + "</p>",
        "<p class='small'>Intervals are 95%: t-intervals over replications, or percentile bootstrap over "
        "replications for pooled ratios and medians. Every configuration uses the same seeds (common random "
        "numbers), so comparisons are paired.</p>",
    ]
    for g in GROUPS:
        sub = df[df["group"] == g]
        if sub.empty:
            continue
        parts.append(f"<h2>{esc(_GROUP_TITLES[g])}</h2>")
        parts.append("<table><tr><th>check</th><th>target</th><th>measured</th><th>95% CI</th><th>result</th>"
                     "<th>source</th><th>detail</th></tr>")
        for _, r in sub.iterrows():
            cls, word = ("pass", "pass") if r["passed"] else ("fail", "FAIL")
            parts.append(
                f"<tr><td>{esc(str(r['check']))}</td><td>{esc(str(r['target']))}</td>"
                f"<td class='num'>{_num(r['measured'])}</td>"
                f"<td class='num'>[{_num(r['ci_low'])}, {_num(r['ci_high'])}]</td>"
                f"<td class='{cls}'>{word}</td><td class='small'>{esc(str(r['source']))}</td>"
                f"<td class='small'>{esc(str(r['detail']))}</td></tr>")
        parts.append("</table>")
        if g in ("bass", "network"):
            for cap, b64 in _figures({g: figures.get(g)} if figures else {}):
                parts.append(f"<figure><img alt='{esc(cap)}' src='data:image/png;base64,{b64}'>"
                             f"<figcaption>{esc(cap)}</figcaption></figure>")
    parts.append("<p class='small'>Generated by sim.validation (python run.py validate).</p></body></html>")
    return "\n".join(parts)


def write_validation(df: pd.DataFrame, out_dir: str | Path | None = None, *, results_root: str | Path | None = None,
                     command: str | None = None, started: datetime | None = None) -> Path:
    """Write validation.csv, report.html and manifest.json to ``results/validation/<timestamp>/`` (or
    ``out_dir``), via a temporary folder renamed into place when complete; never overwrites (-2, -3, ...)."""
    started = started or datetime.now()
    if out_dir is None:
        root = Path(results_root) if results_root is not None else default_results_root()
        target, allow_empty = root / "validation" / started.strftime(TIMESTAMP_FORMAT), False
    else:
        target, allow_empty = Path(out_dir).expanduser(), True
    with staged_folder(target, allow_empty) as stage:
        tmp = stage.tmp
        df[COLUMNS].to_csv(tmp / "validation.csv", index=False)
        settings = dict(df.attrs.get("settings", {}))
        (tmp / "report.html").write_text(render_report(df, settings), encoding="utf-8")
        manifest = {"settings": settings, "command": command, "started": started.astimezone().isoformat(timespec="seconds"),
                    "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
                    "checks": int(len(df)), "passed": int(df["passed"].sum()),
                    "package_version": package_version(), "python": platform.python_version(),
                    "platform": platform.platform()}
        with open(tmp / "manifest.json", "w", encoding="utf-8") as fh:
            json.dump(jsonable(manifest), fh, indent=2, allow_nan=False)
            fh.write("\n")
    return stage.final
