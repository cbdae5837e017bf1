"""Validation group ``statics``: comparative statics, the direction of effect of five levers.

Each lever is moved on the default scenario with everything else fixed, paired by seed (common random
numbers: the same market and dice at both settings), and the difference is tested with a one-sided paired
t-test (``scipy.stats.ttest_rel``) at ``ALPHA``. Rand & Rust (2011) count this as face validity.
"""

from __future__ import annotations

import math

import numpy as np

from sim.analysis.formatting import format_number
from sim.validation.core import (
    ALPHA,
    BASE_STRATEGY,
    Check,
    Ctx,
    default_specs,
    make_scenario,
    paired_test,
    run_column,
    run_summary,
)
from sim.validation.stylized import SRC_CEB, SRC_SCHMITT

__all__ = ["plan"]

SRC_STATICS = "model logic (docs/explanation/odd.md); Rand & Rust (2011): comparative statics as face validity"


# ================================================================================================
# 4. Comparative statics
# ================================================================================================


def plan(ctx: Ctx) -> list[Check]:
    def pair(lo_ov, hi_ov, strategy=BASE_STRATEGY):
        return default_specs(ctx, lo_ov, strategy, small=True), default_specs(ctx, hi_ov, strategy, small=True)

    reps_lo, reps_hi = pair({}, {"sales.n_reps": 10})
    rd_lo, rd_hi = pair({}, {"market.readiness_mean": 0.72})
    rd_default = make_scenario("default", {}).config().market.readiness_mean
    # blended: reps network and take referrals, and its base runs are shared with introductions_vs_cold_calls
    net_lo, net_hi = pair({}, {"network.weak_ties_mean": 12.0}, "blended")
    ct_lo, ct_hi = pair({"channels.content.budget": 60_000.0}, {})
    an_lo, an_hi = pair({"channels.cold_calling.annoyance": 0.0}, {"channels.cold_calling.annoyance": 0.3},
                        "cold_calling")

    meetings = lambda r: run_summary(r, "meetings")
    pfc = lambda r: run_summary(r, "median_progress_at_first_contact")
    ref_deals = lambda r: run_summary(r, "deals_referral")
    content_leads = lambda r: float(run_column(r, "new_leads_content").sum())

    def cold_conv(r):
        c = float(run_column(r, "new_connects").sum())
        return 1000.0 * run_summary(r, "deals_cold_calling") / c if c > 0 else math.nan

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
                           f"difference {m:+.4g}, one-sided paired t-test p={format_number(pval, 3)}."
                           + extra(lo_runs, hi_runs) + ("" if passed else why))}
    return ev


