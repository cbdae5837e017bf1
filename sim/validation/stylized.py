"""Validation group ``stylized``: facts from the literature the seed articles rely on.

Measured on ``scenarios/default.toml``: progress at the first sales conversation (CEB 2012), the 95:5 rule
(Dawes 2021), campaign response decay with and without sharing (seed 003), speed to lead (Oldroyd et al.
2011), the referral value premium (Schmitt et al. 2011), enterprise vs SMB cycles, and introductions vs
cold calls (seed 001). A fact the model does not reproduce is reported as failing, with the mechanism
that explains it.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from sim.analysis.formatting import format_number
from sim.analysis import pooled as pooled_metrics
from sim.analysis.pooled import REFERRAL_STRATA_DAYS, referral_premium  # noqa: F401  (re-exported: the estimator)
from sim.validation.core import (
    ALPHA,
    BASE_STRATEGY,
    BOOTSTRAP_DRAWS,
    FAST_SMALL_MARKET,
    LEVEL,
    Check,
    Ctx,
    NotMeasurable,
    bootstrap_ci,
    default_specs,
    make_scenario,
    mean_ci,
    paired_test,
    run_column,
    run_sample,
    run_summary,
)

__all__ = ["plan", "referral_premium"]

SRC_CEB = "CEB & Google (2012), The Digital Evolution in B2B Marketing (seed 003)"
SRC_DAWES = "Dawes (2021), Advertising effectiveness and the 95-5 rule, B2B Institute / LinkedIn"
SRC_SEED003_CAMPAIGN = "seed 003: campaign lead production lasted ~36 hours; social sharing creates a long tail"
SRC_OLDROYD = "Oldroyd, McElheran & Elkington (2011), The Short Life of Online Sales Leads, HBR March 2011"
SRC_SCHMITT = ("Schmitt, Skiera & Van den Bulte (2011), Referral Programs and Customer Value, "
               "Journal of Marketing 75(1): 46-59")
SRC_CYCLE = ("market.segments.*.research_speed (docs/reference/parameters.md): SMB cycles ~1-2 months, enterprise 6+ months "
             "(buying groups of 6-10, Gartner B2B buying)")
SRC_SEED001 = "seed 001: 'networking is sales': an introduction from a trusted tie opens the door, cold calls rarely do"

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
INTRO_VS_COLD_MIN = 2.0  # "far better": introductions at least twice the meetings per conversation of cold calls


# ================================================================================================
# 3. Stylized facts
# ================================================================================================

def _pooled(runs, kind):
    return [run_sample(r, kind) for r in runs]


#: the busy team of the speed-to-lead check: one rep per this many accounts (the default staffs one per 400). Busy
#: enough that leads wait, not so busy that none is worked the day it arrives: the check compares the two. With
#: the session-7 default one rep for all 2,000 accounts worked no lead on its first or second day; on session 11's
#: refit (more buying episodes a year) one rep per 1,000 worked no lead the day it arrived, two per 1,000 spread
#: the delays from 0 to 4+ days (84, 63, 71, 54 and 77 leads over 2 fast runs).
BUSY_ACCOUNTS_PER_REP = 500


def _busy_reps(ctx: Ctx) -> int:
    """The speed-to-lead check's team: one rep per BUSY_ACCOUNTS_PER_REP accounts of the market it runs on."""
    accounts = (FAST_SMALL_MARKET["market.n_accounts"] if ctx.fast else
                make_scenario("default", {}).config(BASE_STRATEGY).market.n_accounts)
    return max(1, round(accounts / BUSY_ACCOUNTS_PER_REP))


def plan(ctx: Ctx) -> list[Check]:
    base = default_specs(ctx)
    off = default_specs(ctx, {"channels.campaigns.sharing": False})
    busy = default_specs(ctx, {"sales.n_reps": _busy_reps(ctx)}, small=True)
    blended = default_specs(ctx, strategy="blended", small=True)
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
        med = np.array([run_summary(r, "median_progress_at_first_contact_per_purchase") for r in runs])
        m, lo, hi = mean_ci(med[np.isfinite(med)])
        pooled = np.concatenate(_pooled(runs, "purchase_progress_at_first_contact"))
        person = np.array([run_summary(r, "median_progress_at_first_contact") for r in runs])
        passed = bool(np.isfinite(m) and abs(m - PFC_TARGET) <= PFC_TOL)
        why = "" if passed else (
            " FAILS: counted per completed purchase, as CEB asked buyers who had completed one, the opening contact "
            "is often outbound (a cold call, an introduction, a referral) and reaches the buyer early in their "
            "research; CEB asked about contact with any supplier's rep, and the model has no rival vendors, so a "
            "buyer's first contact can only be with us.")
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"strategy {BASE_STRATEGY}, {len(runs)} runs: per completed purchase (won, lost to a "
                           f"competitor or no decision) in which the account talked to our sales, the opening "
                           f"contact's own progress at the episode's first conversation; mean of per-run medians "
                           f"{m:.3f}, pooled median {np.median(pooled) if pooled.size else math.nan:.3f} over "
                           f"{pooled.size} purchases. Per person (each buyer's own first conversation) the mean of "
                           f"per-run medians is {np.nanmean(person) if np.isfinite(person).any() else math.nan:.3f}. "
                           f"Not a calibration target; market.readiness_mean (the personal threshold) was tuned to "
                           f"the per-person figure until session 7 and is an assumption since."
                           + why)}
    return ev


def _eval_pfc_spread(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        iqr, over70 = [], []
        for r in runs:
            x = run_sample(r, "purchase_progress_at_first_contact")
            if x.size >= 4:
                q75, q25 = np.percentile(x, [75, 25])
                iqr.append(q75 - q25)
                over70.append(float((x >= 0.70).mean()))
        m, lo, hi = mean_ci(iqr)
        passed = bool(np.isfinite(m) and m >= PFC_IQR_MIN)
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": passed,
                "detail": (f"inter-quartile range of the opening contact's progress per completed purchase, per run ({len(iqr)} "
                           f"runs); share of first conversations at 70%+ of the decision: "
                           f"{np.mean(over70) if over70 else math.nan:.2f} (seed 003: 'some customers felt "
                           f"comfortable going through 70%'). The personal threshold spread (market.readiness_sd) is "
                           f"an input; the check is that a wide spread survives to the first conversation.")}
    return ev


def _eval_in_market(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        share = np.array([np.mean(run_column(r, "n_accounts_in_market")) / r["n_accounts"] for r in runs])
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
        t_on = np.array([_tail_share(run_column(r, "new_campaign_responses"), r["burst_days"], r["horizon"]) for r in on])
        t_off = np.array([_tail_share(run_column(r, "new_campaign_responses"), r["burst_days"], r["horizon"]) for r in off])
        m, lo, hi, pval = paired_test(t_on, t_off, +1)
        shared = [float(run_column(r, "new_campaign_responses_shared").sum()) if "new_campaign_responses_shared" in r["ts"]
                  else float(run_sample(r, "campaign_response_age_shared").size) for r in on]
        total = [float(run_column(r, "new_campaign_responses").sum()) for r in on]
        sh_age = np.concatenate([r["samples"].get("campaign_response_age_shared", np.zeros(0)) for r in on])
        passed = bool(np.isfinite(lo) and lo > 0 and np.isfinite(pval) and pval < ALPHA)
        why = "" if passed else (
            " FAILS: with sharing on, only a share word_of_mouth.share_prob of responders share, a peer hears with "
            "1 - exp(-wom_rate x tie weight), and a shared exposure responds at campaigns.response_rate x "
            "word_of_mouth.shared_response_lift x receptivity on a fresh 0.7-day clock starting the next day: a first-"
            "generation shared response lands one or two days after the burst, so only part of it reaches the "
            "2+ day tail, and the tail is too thin to change the response curve.")
        return {"measured": m, "ci_low": lo, "ci_high": hi, "passed": passed,
                "target": "tail share (>= 2 days after a burst): sharing on - off > 0",
                "detail": (f"share of each burst's responses (timeseries new_campaign_responses, window to the next "
                           f"burst, max 30 days) arriving 2+ days after the burst: {np.nanmean(t_on):.3f} with sharing, "
                           f"{np.nanmean(t_off):.3f} without ({len(on)} seeds paired, one-sided p={format_number(pval, 3)}). "
                           f"Shared responses per run: {np.mean(shared):.1f} of {np.mean(total):.0f}; median age of "
                           f"a shared response from its own exposure "
                           f"{np.median(sh_age) if sh_age.size else math.nan:.1f} days. word_of_mouth.share_prob is "
                           f"calibrated so that shared responses are measurable (word_of_mouth.share_prob in docs/reference/parameters.md): the "
                           f"direction of the effect is the test, its size is partly an input." + why)}
    return ev


def _eval_speed_to_lead(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        delay = [run_sample(r, "lead_delay_days") for r in runs]
        conv = [run_sample(r, "lead_converted") for r in runs]
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
                "detail": (f"sales.n_reps={specs[0].override_dict()['sales.n_reps']} (a busy team, one rep per "
                           f"{BUSY_ACCOUNTS_PER_REP:,} accounts: with the default's five reps nearly every lead is "
                           f"worked the same day, so delays are not observed), {len(runs)} runs, {d.size} worked "
                           f"leads. Share of worked "
                           f"leads that became a sales conversation, by delay: {by}; later = 1+ days. Part input: the "
                           f"chance to reach a lead decays by sales.lead_decay_per_day, taken from the same source; "
                           f"whether a reached buyer agrees (readiness) is emergent. CI: bootstrap over runs." + why)}
    return ev


def pooled_referral_premium(runs: list[dict]) -> tuple[float, float, float, dict]:
    """The referral LTV premium of the won accounts pooled over ``runs`` (the shared estimator
    :func:`sim.analysis.pooled.pooled_referral_premium`, which calibration's holdout check uses too), with a
    bootstrap CI over runs, and the pooled won-account columns; NotMeasurable with no referred win."""
    try:
        return pooled_metrics.pooled_referral_premium([r["samples"] for r in runs], level=LEVEL, draws=BOOTSTRAP_DRAWS)
    except pooled_metrics.NotEstimable as exc:
        raise NotMeasurable(str(exc)) from None


def _eval_referral_ltv(specs):
    def ev(ctx: Ctx) -> dict:
        runs = ctx.runs(specs)
        est, lo, hi, pooled = pooled_referral_premium(runs)
        seg, ref = pooled["won_segment"], pooled["won_referred"] > 0.5
        ltv, acv = pooled["won_ltv"], pooled["won_acv"]
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
                   "referral passes on a share of the advocate's trust (word_of_mouth.trust_transfer), referred "
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
        nm = np.array([run_column(r, "new_network_meetings").sum() for r in runs])
        nt = np.array([run_column(r, "new_network_talks").sum() for r in runs])
        cm = np.array([run_column(r, "new_cold_meetings").sum() for r in runs])
        cn = np.array([run_column(r, "new_connects").sum() for r in runs])

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


