"""The per-run summary metrics: their registry entries (label, unit, better direction, format) and
their computation from one run's daily columns and samples.

``SUMMARY_METRICS`` is the one list of them: the summary, the sweeps' metric columns, the
statistics' better direction and the reports' labels all read it (``sim.engine.metrics.metric``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.engine.declare import Metric
from sim.engine.mechanisms import after_sale
from sim.engine.state import SEGMENTS, SOURCES


def _m(name, label, unit, better, fmt, doc=""):
    return Metric(name, label, unit, better, fmt, doc)


#: Every summary metric of one run, in the order of ``summary.csv``.
SUMMARY_METRICS: dict[str, Metric] = {m.name: m for m in (
    _m("customers_won", "Customers won", "accounts", "max", "count", "accounts that chose us during the run"),
    _m("conversion_rate", "Conversion rate (% of buying decisions won)", "share", "max", "percent",
       "wins / buying decisions ended in the run (wins + losses to competitors + no decision)"),
    _m("total_cost", "Total cost", "$", "min", "money", "all channel spend plus rep cost"),
    _m("cac", "CAC", "$ per customer", "min", "money", "total_cost / customers_won"),
    _m("cost_per_lead", "Cost per lead", "$", "min", "money", "total_cost / leads (lead records, one per buying episode)"),
    _m("cost_per_meeting", "Cost per meeting", "$", "min", "money", "total_cost / meetings (opening meetings)"),
    _m("revenue", "Revenue", "$", "max", "money", "revenue recognised in the run from accounts won in the run"),
    _m("ltv", "LTV", "$ per customer", "max", "money", "mean expected lifetime gross profit of the accounts won"),
    _m("ltv_to_cac", "LTV : CAC", "ratio", "max", "ratio", "ltv / cac"),
    _m("payback_months", "Payback", "months", "min", "number", "cac / monthly gross profit of the mean won ACV"),
    _m("median_cycle_days", "Median sales cycle", "days", "min", "days",
       "days from first sales conversation to the decision (from need trigger for self-serve wins)"),
    _m("median_progress_at_first_contact", "Median decision progress at first contact, per person", "0-1", "min",
       "share", "per person: median over buyers of their own progress at their first conversation with our sales "
       "(an opening meeting or joining a colleague's open conversation), in the run"),
    _m("median_progress_at_first_contact_per_purchase", "Median decision progress at first contact, per purchase",
       "0-1", "min", "share",
       "per completed purchase (buying episodes that ended in the run: won, lost to a competitor or no decision) in "
       "which the account talked to our sales: the median of the opening contact's own progress at the episode's first "
       "conversation with us (CEB / Google 2012 asked buyers who had completed a purchase: 57%)"),
    _m("leads", "Leads", "leads", "max", "count",
       "lead records: one per buying episode at an account, whoever raised it (a raised hand, or an outbound yes); "
       "colleagues who raise a hand later are contacts on it, as a CRM matches leads to accounts"),
    _m("meetings", "Meetings", "meetings", "max", "count",
       "opening meetings: a conversation with an account opened (or reopened after a fumble) with a rep's meeting"),
    _m("opportunities", "Opportunities", "accounts", "max", "count", "conversations that qualified"),
    _m("touches_per_deal", "Touches per deal", "touches", "min", "number", "all marketing and sales touches / customers_won"),
    *(_m(f"deals_{s}", f"Deals sourced by {s.replace('_', ' ')}", "accounts", "max", "count",
         f"won deals whose opening conversation came from {s.replace('_', ' ')}") for s in SOURCES),
    # -- the funnel as a CRM records it (targets for calibration, facts for validation)
    _m("leads_per_month", "Leads per month", "leads / month", "max", "number", "leads (any source) per 30.44 days"),
    *(_m(f"leads_per_month_{s}", f"Leads per month from {s.replace('_', ' ')}", "leads / month", "max", "number",
         f"leads whose source is {s.replace('_', ' ')}, per 30.44 days") for s in SOURCES),
    _m("lead_to_opportunity_rate", "Lead-to-opportunity rate", "share", "max", "percent",
       "opportunities / lead records, both at most one per buying episode (Implisit 2014 counts lead records by "
       "source, inbound or outbound)"),
    _m("opportunity_win_rate", "Opportunity win rate", "share", "max", "percent",
       "opportunities won / opportunities closed in the run (won, lost to a competitor, or no decision)"),
    *(_m(f"opportunity_win_rate_{g}", f"Opportunity win rate, {g}", "share", "max", "percent",
         f"{g} opportunities won / {g} opportunities closed in the run") for g in SEGMENTS),
    _m("no_decision_share", "Opportunities ending in no decision", "share", "min", "percent",
       "opportunities whose buying episode ended with no purchase / opportunities closed"),
    _m("status_quo_share_of_no_decisions", "No-decision opportunities kept at the status quo", "share", "", "percent",
       "opportunities ended with no decision whose buying group never agreed to change (it stayed split, someone "
       "holding out for the status quo, or the need faded first) / opportunities ended with no decision; the rest "
       "agreed and did not act: indecision (Dixon & McKenna 2022's two routes: 44% status quo, 56% indecision)"),
    *(_m(f"median_cycle_days_{g}", f"Median sales cycle, {g}", "days", "min", "days",
         f"{g} accounts won: days from the episode's sales conversation to the decision") for g in SEGMENTS),
    *(_m(f"median_journey_days_{g}", f"Median buying journey, {g}", "days", "min", "days",
         f"{g} accounts won: days from the need trigger to the purchase") for g in SEGMENTS),
    *(_m(f"acv_{g}", f"ACV of {g} accounts won", "$", "max", "money",
         f"mean annual contract value at the win of the {g} accounts won") for g in SEGMENTS),
    _m("cac_per_new_arr", "CAC per $ of new ARR", "$ per $", "min", "ratio", "total_cost / annual contract value won"),
    _m("connect_rate", "Cold-call connect rate", "share of dials", "max", "percent", "connects / dials"),
    _m("meetings_per_connect", "Meetings per cold-call connect", "share of connects", "max", "percent",
       "meetings booked on cold calls (one per waiting place on the calendar) / connects"),
    _m("meetings_per_conversation", "Meetings per cold-call conversation", "share of conversations", "max", "percent",
       "meetings booked on cold calls (one per waiting place on the calendar) / cold-call conversations (connects that did not "
       "hang up; Belkins 2025 and Cognism 2024 count meetings booked per conversation)"),
    _m("meetings_per_1000_dials", "Meetings per 1,000 dials", "meetings", "max", "number",
       "1000 x meetings booked on cold calls (one per waiting place on the calendar) / dials"),
    _m("buyer_initiated_share", "Opening meetings started by the buyer", "share", "", "percent",
       "opening meetings that answer a lead the buyer raised / all opening meetings"),
    _m("buyer_initiated_share_per_purchase", "First contact started by the buyer, per purchase", "share", "", "percent",
       "per completed purchase in which the account talked to our sales: the share whose first conversation answered "
       "a lead the buyer raised (6sense asked buyers who had completed a purchase who made first contact: 83%)"),
    _m("share_in_market", "Accounts in market", "share of accounts", "", "percent",
       "mean over days of the share of accounts in a buying episode (the 95:5 rule says about 5%)"),
    _m("referral_close_rate", "Close rate of referral leads", "share", "max", "percent",
       "deals sourced by referral / lead records sourced by referral (as Implisit 2014 counts close rates by lead source)"),
    _m("web_close_rate", "Close rate of web leads", "share", "max", "percent",
       "deals sourced by content / lead records sourced by content"),
    _m("referral_to_web_close_ratio", "Referral vs web close rate", "ratio", "", "ratio",
       "referral_close_rate / web_close_rate (Implisit 2014: 3.63% / 1.55% = 2.3)"),
    _m("decision_rate_ratio_group_1_vs_6", "Purchase likelihood, 1 vs 6+ decision makers", "ratio", "", "ratio",
       "within the smb segment (whose groups span one to six people, so size is not a segment contrast): share of "
       "ended buying episodes with a purchase (from anyone) for groups of one / for groups of six or more "
       "(CEB: 81% / 31% = 2.6)"),
    _m("buying_group_conflict_share", "Buying groups of 5+ that disagreed", "share", "", "percent",
       "ended buying episodes of groups of five or more people (whatever the outcome) in which, on some day, one member "
       "was for a change while another was against (Gartner 2024, 632 buyers in groups of 5-16: 74% of buying teams "
       "showed unhealthy conflict during the decision)"),
)}


def _div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def ltv_of_won(model, won: np.ndarray) -> np.ndarray:
    """Lifetime gross profit per won account: expected for customers, realised for those who churned."""
    pop = model.pop
    out = np.zeros(won.size)
    still = pop.customer[won]
    out[still] = after_sale.lifetime_values(model, won[still])
    gone = won[~still]
    out[~still] = model.cfg.market.gross_margin * pop.acv[gone] * np.clip((model.day - pop.day_won[gone]) / 365.0, 0, None)
    return out


def summarise(model, ts: pd.DataFrame, samples: dict | None = None) -> dict[str, float]:
    """The per-run summary metrics, in ``SUMMARY_METRICS`` order (see README for definitions)."""
    pop = model.pop
    samples = samples if samples is not None else model.samples()
    won = np.flatnonzero(pop.won_in_run)
    wins = float(ts["new_wins"].sum())
    cost = float(ts["new_cost"].sum())
    leads = float(ts["new_leads"].sum())
    meetings = float(ts["new_meetings"].sum())
    decisions = wins + float(ts["new_losses"].sum()) + float(ts["new_no_decisions"].sum())
    ltv_all = ltv_of_won(model, won)
    ltv = float(ltv_all.mean()) if ltv_all.size else float("nan")
    cac = _div(cost, wins)
    mean_acv = float(pop.deal_size[won].mean()) if won.size else float("nan")
    pfc = samples["progress_at_first_contact"]
    cyc = samples["cycle_days"]
    out = {
        "customers_won": wins,
        "conversion_rate": _div(wins, decisions),
        "total_cost": cost,
        "cac": cac,
        "cost_per_lead": _div(cost, leads),
        "cost_per_meeting": _div(cost, meetings),
        "revenue": float(ts["new_revenue"].sum()),
        "ltv": ltv,
        "ltv_to_cac": _div(ltv, cac) if np.isfinite(cac) else float("nan"),
        "payback_months": _div(cac, model.cfg.market.gross_margin * mean_acv / 12.0) if won.size else float("nan"),
        "median_cycle_days": float(np.median(cyc)) if cyc.size else float("nan"),
        "median_progress_at_first_contact": _median(pfc),
        "median_progress_at_first_contact_per_purchase": _median(samples.get("purchase_progress_at_first_contact", np.zeros(0))),
        "leads": leads,
        "meetings": meetings,
        "opportunities": float(ts["new_opportunities"].sum()),
        "touches_per_deal": _div(float(ts["new_touches"].sum()), wins),
    }
    for s in SOURCES:
        out[f"deals_{s}"] = float(ts[f"new_wins_{s}"].sum())
    out.update(_funnel(model, ts, samples, won, cost))
    if list(out) != list(SUMMARY_METRICS):  # the registry and the computation must agree
        raise AssertionError(f"summary metrics differ from SUMMARY_METRICS: {sorted(set(out) ^ set(SUMMARY_METRICS))}")
    return out




def _col(ts: pd.DataFrame, name: str) -> float:
    return float(ts[name].sum())


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else float("nan")


def _funnel(model, ts: pd.DataFrame, samples: dict, won: np.ndarray, cost: float) -> dict[str, float]:
    """The funnel as a CRM records it: rates, cycles and values by segment, cold-call yields."""
    pop = model.pop
    months = len(ts) / 30.4375
    leads = _col(ts, "new_leads")
    out = {"leads_per_month": _div(leads, months)}
    for s in SOURCES:
        out[f"leads_per_month_{s}"] = _div(_col(ts, f"new_leads_{s}"), months)
    o_won, o_lost, o_none = (_col(ts, f"new_opportunities_{k}") for k in ("won", "lost", "stalled"))
    closed = o_won + o_lost + o_none
    out["lead_to_opportunity_rate"] = _div(_col(ts, "new_opportunities"), leads)
    out["opportunity_win_rate"] = _div(o_won, closed)
    # by segment, from one sample per closed opportunity (decision.record_opportunities_closed)
    o_seg = samples.get("opportunity_closed_segment", np.zeros(0))
    o_won_flag = samples.get("opportunity_closed_won", np.zeros(0))
    n_closed = np.bincount(o_seg.astype(np.int64), minlength=len(SEGMENTS))
    n_won = np.bincount(o_seg.astype(np.int64), weights=o_won_flag, minlength=len(SEGMENTS))
    for i, g in enumerate(SEGMENTS):
        out[f"opportunity_win_rate_{g}"] = _div(float(n_won[i]), float(n_closed[i]))
    out["no_decision_share"] = _div(o_none, closed)
    out["status_quo_share_of_no_decisions"] = _div(_col(ts, "new_opportunities_status_quo"), o_none)
    for g in SEGMENTS:
        out[f"median_cycle_days_{g}"] = _median(samples.get(f"cycle_days_{g}", np.zeros(0)))
    for g in SEGMENTS:
        out[f"median_journey_days_{g}"] = _median(samples.get(f"journey_days_{g}", np.zeros(0)))
    for i, g in enumerate(SEGMENTS):
        acv = pop.deal_size[won[pop.segment[won] == i]]
        out[f"acv_{g}"] = float(acv.mean()) if acv.size else float("nan")
    out["cac_per_new_arr"] = _div(cost, float(pop.deal_size[won].sum())) if won.size else float("nan")
    # meetings booked, as the dialing benchmarks count them (a yes that waits for a slot, or slips, still counts)
    dials, connects, cold = _col(ts, "new_dials"), _col(ts, "new_connects"), _col(ts, "new_meetings_booked_cold_calling")
    out["connect_rate"] = _div(connects, dials)
    out["meetings_per_connect"] = _div(cold, connects)
    out["meetings_per_conversation"] = _div(cold, _col(ts, "new_cold_conversations"))
    out["meetings_per_1000_dials"] = _div(1000.0 * cold, dials)
    out["buyer_initiated_share"] = _div(_col(ts, "new_meetings_buyer_initiated"), _col(ts, "new_meetings"))
    asked = samples.get("purchase_first_contact_buyer_initiated", np.zeros(0))
    out["buyer_initiated_share_per_purchase"] = float(asked.mean()) if asked.size else float("nan")
    out["share_in_market"] = float(ts["n_accounts_in_market"].mean()) / max(pop.n_accounts, 1) if len(ts) else float("nan")
    ref = _div(_col(ts, "new_wins_referral"), _col(ts, "new_leads_referral"))
    web = _div(_col(ts, "new_wins_content"), _col(ts, "new_leads_content"))
    out["referral_close_rate"], out["web_close_rate"] = ref, web
    out["referral_to_web_close_ratio"] = _div(ref, web) if np.isfinite(ref) and np.isfinite(web) else float("nan")
    size = samples.get("episode_group_size", np.zeros(0))
    decided = samples.get("episode_decided", np.zeros(0))
    smb = samples.get("episode_segment", np.zeros(0)) == SEGMENTS.index("smb")
    one, six = decided[smb & (size == 1)], decided[smb & (size >= 6)]
    out["decision_rate_ratio_group_1_vs_6"] = (
        _div(float(one.mean()), float(six.mean())) if one.size and six.size else float("nan"))
    conflict = samples.get("episode_conflicted", np.zeros(0))[size >= 5]
    out["buying_group_conflict_share"] = float(conflict.mean()) if conflict.size else float("nan")
    return out
