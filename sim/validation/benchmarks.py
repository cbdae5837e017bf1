"""Validation group ``benchmarks``: every fact of the B2B benchmark pack, observed against simulated.

The pack (``scenarios/benchmarks/b2b_saas.toml``) holds published funnel figures. Its ``role = "target"``
facts are what ``scenarios/calibration/default_b2b.toml`` fits the default scenario to; its ``role =
"holdout"`` facts are never shown to calibration. This group runs the scenario that calibration describes
(``scenarios/default.toml``, the strategy of the targets file: ``blended``) for the validation's
replications and reports, for every fact of the pack, one row: observed (value +- sd, or low-high) against
simulated (the mean over replications with a 95% t-interval), and a band:

* a fact ``value`` +- ``sd`` passes when the simulated mean lies within value +- ``BAND_SDS`` sd;
* a range fact ``low``-``high`` passes when the simulated mean lies within [low, high];

edges included, and a NaN mean (nothing to count in any run) fails. A calibration target that passes
confirms the fit, not a prediction; only the held-out facts test the model out of sample. The facts are
read with the pack loader calibration uses (:func:`sim.config.facts.load_benchmarks`), not a second parser.

Every fact names a summary metric of the engine, except ``referral_ltv_premium``: a premium of referred over
like non-referred customers has too few referred wins per run to be estimated run by run, so it is pooled
over the replications with :func:`sim.analysis.pooled.referral_premium` (the stylized check's estimator, and the
one calibration's holdout check uses) and its interval is a bootstrap over runs.

The runs: the default market at full size in both modes (``--fast`` only lowers the replications): the facts
describe that market, and several need events that a smaller, shorter market rarely produces (referred
wins, enterprise opportunities, wins by source). In a full run they are the runs of the stylized check
``introductions_vs_cold_calls`` (same specs, run once).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sim.analysis.formatting import format_number
from sim.analysis.pooled import POOLED_METRICS
from sim.config.facts import Target, load_benchmarks
from sim.config.presets import preset
from sim.config.scenario import read_toml
from sim.validation.core import (
    Check,
    Ctx,
    NotMeasurable,
    default_specs,
    mean_ci,
    run_summary,
)
from sim.validation.stylized import pooled_referral_premium

__all__ = ["plan", "band", "in_band", "miss", "pack_facts", "strategy", "role_label", "BAND_SDS", "BAND_RULE",
           "PACK", "TARGETS_FILE", "MARKET", "evaluate_fact"]

#: The calibration targets file whose pack and strategy this group checks.
TARGETS_FILE = "calibration/default_b2b.toml"
PACK = "b2b_saas"  # used if the targets file names no pack
BAND_SDS = 2.0  # a value +- sd fact passes within value +- 2 sd (the sd is a judgement of spread across sources)
BAND_RULE = (f"pass: the simulated mean (over replications) lies within value +- {BAND_SDS:g} sd for a value +- sd "
             "fact, or within [low, high] for a range fact (edges included; NaN fails)")
ROLE_TARGET = "calibration target (confirms the fit, not a prediction)"
ROLE_HOLDOUT = "held out (out of sample)"
ROLE_EXCLUDED = "held out (a pack target excluded from calibration: out of sample)"
ROLE_IDENTITY = "an identity of the targets and inputs (reported, not evidence)"
#: overrides of the runs' market: none (the default market in both modes; the tests shrink it)
MARKET: dict = {}
#: metrics that are not per-run summary metrics: computed here from the runs' samples
POOLED = tuple(POOLED_METRICS)


# ================================================================================================
# The band
# ================================================================================================


def band(fact: Target) -> tuple[float, float]:
    """The pass band of a fact: value +- BAND_SDS sd, or [low, high]."""
    if fact.value is not None:
        return fact.value - BAND_SDS * fact.sd, fact.value + BAND_SDS * fact.sd
    return fact.low, fact.high


def in_band(fact: Target, sim: float) -> bool:
    """Whether a simulated mean passes: inside the band, edges included; NaN fails."""
    lo, hi = band(fact)
    return bool(sim is not None and math.isfinite(sim) and lo <= sim <= hi)


def miss(fact: Target, sim: float) -> str:
    """How far, and in which direction, a simulated mean misses the band ("" inside it)."""
    if sim is None or not math.isfinite(sim):
        return "no simulated value (NaN in every run)"
    lo, hi = band(fact)
    if lo <= sim <= hi:
        return ""
    edge, word = (hi, "above") if sim > hi else (lo, "below")
    side = "upper" if word == "above" else "lower"
    gap = abs(sim - edge)
    if fact.value is not None:
        return (f"{format_number(gap, 3)} {word} the band's {side} edge {format_number(edge, 3)}, {fact.z(sim):+.1f} sd from the observed "
                f"{format_number(fact.value, 3)}")
    return (f"{format_number(gap, 3)} {word} the range's {side} edge {format_number(edge, 3)}, {gap / ((hi - lo) / 2):.1f} half-widths of "
            f"the range outside it")


# ================================================================================================
# The facts and the runs
# ================================================================================================


def _targets_file() -> dict:
    return read_toml(preset(TARGETS_FILE), "targets")


def pack_facts(table: dict | None = None, base=None) -> tuple[str, list[Target], set[str]]:
    """(the pack's file name, every fact of it in file order but those the targets file marks not_applicable, the
    names it excludes from calibration), read with the calibration's pack loader; of ``TARGETS_FILE``, or of the targets file
    ``table`` read from the folder ``base``."""
    if table is None:
        table, base = _targets_file(), preset(TARGETS_FILE).parent
    spec = table.get("benchmarks", {})
    spec = {"pack": spec} if isinstance(spec, str) else {"pack": PACK, **spec}
    path, facts, exclude = load_benchmarks(f"targets file in {base}", spec, Path(base))
    return path.name, facts, set(exclude)


def strategy() -> str:
    """The strategy whose funnel the calibration fits (``strategy`` of the targets file)."""
    return str(_targets_file()["strategy"])


def role_label(fact: Target, excluded: set[str] = frozenset()) -> str:
    if fact.role == "holdout":
        return ROLE_HOLDOUT
    if fact.role == "identity":
        return f"{ROLE_IDENTITY}: {fact.identity}"
    return ROLE_EXCLUDED if fact.name in excluded else ROLE_TARGET


def plan(ctx: Ctx) -> list[Check]:
    pack, facts, excluded = pack_facts()
    strat = strategy()
    # the default market in both modes (not small=True): see the module docstring
    specs = default_specs(ctx, dict(MARKET), strategy=strat)
    checks = []
    for f in facts:
        lo, hi = band(f)
        what = f"{f.metric} {f.observed()}" + (f" (pass band {format_number(lo, 3)} to {format_number(hi, 3)})" if f.value is not None else
                                                " (pass band: the range)")
        source = f"{f.source} [{pack}: facts.{f.name}]"
        checks.append(Check(f"benchmark_{f.name}", "benchmarks", what, source, specs,
                            evaluate_fact(f, role_label(f, excluded), strat, specs)))
    return checks


def _per_run(runs: list[dict], metric: str) -> np.ndarray:
    return np.array([run_summary(r, metric) for r in runs], dtype=float)


def _pooled_referral_premium(runs: list[dict]) -> tuple[float, float, float, str]:
    est, lo, hi, pooled = pooled_referral_premium(runs)
    n_ref = int((pooled["won_referred"] > 0.5).sum())
    how = (f"pooled over {len(runs)} runs ({n_ref} referred wins): LTV per ACV dollar, referred vs not, within segment "
           f"and quarter of acquisition (sim/validation/stylized.py referral_premium); CI: bootstrap over runs")
    return est, lo, hi, how


#: What in the model sets a benchmark metric, and so why it may miss its published figure: said when a fact fails
#: (the diagnosis of session 7's misses, measured on the recalibrated presets; none of these is tuned).
WHY: dict[str, str] = {
    "referral_to_web_close_ratio": (
        "both are lead records by source (Implisit's definition since session 8); a referral reaches only a buyer "
        "already in market (exploring) with the advocate's trust, and a web lead is any content lead, poor-fit "
        "accounts included: how far apart they close depends on account fit and the trust a referral carries"),
    "decision_rate_ratio_group_1_vs_6": (
        "within SMB: a group acts only if no member is against and, once it agrees, nobody hesitates (each member "
        "with chance decision.indecision, settled by reassurance or our meetings); members' positions are "
        "correlated (decision.stance_correlation) and converge while the group deliberates (decision.susceptibility, "
        "alignment, stall_days); the conflict target (Gartner 2024) pins how often groups of 5+ disagree at all and "
        "the status quo share (JOLT) how many no-decisions come from hesitation, not how often either outlasts "
        "deliberation, which sets this ratio; and the need fades at the same daily hazard whatever the group's size"),
    "median_progress_at_first_contact_per_purchase": (
        "per completed purchase the opening contact is often outbound (cold calls, introductions, referrals) and "
        "reaches the buyer early in their research; CEB asked about contact with any supplier, and the model has "
        "no rival vendors who would be contacted too"),
    "buyer_initiated_share_per_purchase": (
        "the strategy's own outbound (dialing, networking introductions) opens the other deals; 6sense's 83% is "
        "over all the vendors a buyer met, most of whom do no outbound to them, and the model has no rivals"),
    "referral_ltv_premium": (
        "in the model referred customers are worth more through retention and expansion (the trust a referral "
        "passes on, and account fit when advocates refer accounts like their own); the margin gap Schmitt, Skiera & "
        "Van den Bulte found is not modelled"),
}


def evaluate_fact(fact: Target, role: str, strat: str, specs):
    def ev(ctx: Ctx) -> dict:
        try:
            return _evaluate(ctx)
        except NotMeasurable as exc:  # the row still says what kind of fact it is
            raise NotMeasurable(f"{role}: {exc}") from None

    def _evaluate(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        if fact.metric in POOLED:
            m, lo, hi, how = _pooled_referral_premium(runs)
        else:
            x = _per_run(runs, fact.metric)
            ok = x[np.isfinite(x)]
            if ok.size == 0:
                raise NotMeasurable(f"{fact.metric} is NaN in all {len(runs)} runs (nothing to count)")
            m, lo, hi = mean_ci(ok)
            sd = float(ok.std(ddof=1)) if ok.size > 1 else math.nan
            how = (f"mean of {fact.metric} over {ok.size} run{'s' if ok.size != 1 else ''}"
                   + (f" ({len(runs) - ok.size} of {len(runs)} NaN: nothing to count)" if ok.size < len(runs) else "")
                   + f", sd over runs {format_number(sd, 3)}; CI: t-interval over runs")
        passed = in_band(fact, m)
        off = miss(fact, m)
        verdict = "inside the band" if passed else f"FAILS: the simulated mean is {off}"
        if not passed and fact.metric in WHY:
            verdict += f". Why, in the model: {WHY[fact.metric]}"
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"{role}. Observed {fact.observed()}, simulated {format_number(m, 3)} [{format_number(lo, 3)}, {format_number(hi, 3)}]: "
                           f"{verdict}. Strategy {strat}, {how}.")}
    return ev
