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
from sim.engine.state import SOURCES


def _m(name, label, unit, better, fmt, doc=""):
    return Metric(name, label, unit, better, fmt, doc)


#: Every summary metric of one run, in the order of ``summary.csv``.
SUMMARY_METRICS: dict[str, Metric] = {m.name: m for m in (
    _m("customers_won", "Customers won", "accounts", "max", "count", "accounts that chose us during the run"),
    _m("conversion_rate", "Conversion rate (% of buying decisions won)", "share", "max", "percent",
       "wins / buying decisions ended in the run (wins + losses to competitors + no decision)"),
    _m("total_cost", "Total cost", "$", "min", "money", "all channel spend plus rep cost"),
    _m("cac", "CAC", "$ per customer", "min", "money", "total_cost / customers_won"),
    _m("cost_per_lead", "Cost per lead", "$", "min", "money", "total_cost / leads"),
    _m("cost_per_meeting", "Cost per meeting", "$", "min", "money", "total_cost / meetings"),
    _m("revenue", "Revenue", "$", "max", "money", "revenue recognised in the run from accounts won in the run"),
    _m("ltv", "LTV", "$ per customer", "max", "money", "mean expected lifetime gross profit of the accounts won"),
    _m("ltv_to_cac", "LTV : CAC", "ratio", "max", "ratio", "ltv / cac"),
    _m("payback_months", "Payback", "months", "min", "number", "cac / monthly gross profit of the mean won ACV"),
    _m("median_cycle_days", "Median sales cycle", "days", "min", "days",
       "days from first sales conversation to the decision (from need trigger for self-serve wins)"),
    _m("median_progress_at_first_contact", "Median decision progress at first contact", "0-1", "min",
       "share", "share of the buying decision made when buyers first talked to sales (CEB 2012 reports 57%)"),
    _m("leads", "Leads", "buyers", "max", "count", "leads handed to sales (any source)"),
    _m("meetings", "Meetings", "buyers", "max", "count", "first sales conversations"),
    _m("opportunities", "Opportunities", "accounts", "max", "count", "conversations that qualified"),
    _m("touches_per_deal", "Touches per deal", "touches", "min", "number", "all marketing and sales touches / customers_won"),
    *(_m(f"deals_{s}", f"Deals sourced by {s.replace('_', ' ')}", "accounts", "max", "count",
         f"won deals whose opening conversation came from {s.replace('_', ' ')}") for s in SOURCES),
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
        "median_progress_at_first_contact": float(np.median(pfc)) if pfc.size else float("nan"),
        "leads": leads,
        "meetings": meetings,
        "opportunities": float(ts["new_opportunities"].sum()),
        "touches_per_deal": _div(float(ts["new_touches"].sum()), wins),
    }
    for s in SOURCES:
        out[f"deals_{s}"] = float(ts[f"new_wins_{s}"].sum())
    if list(out) != list(SUMMARY_METRICS):  # the registry and the computation must agree
        raise AssertionError(f"summary metrics differ from SUMMARY_METRICS: {sorted(set(out) ^ set(SUMMARY_METRICS))}")
    return out


