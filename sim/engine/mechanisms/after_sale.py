"""After the sale: churn, expansion ("land and expand", seed 002), advocacy.

Churn hazard falls with the customer's trust in us, so customers won through trusted
introductions (who arrive with transferred trust) stay longer: the referral premium in
lifetime value (Schmitt, Skiera & Van den Bulte 2011) is an outcome, not an input.
Customers who trust us enough may become advocates (they refer and speak well of us);
churned customers speak badly of us for a while.
"""

from __future__ import annotations

import numpy as np

from sim.engine.declare import Metric, P, State, Step, flows
from sim.engine.stages import set_account_stage
from sim.engine.state import CUSTOMER, LOST, SEGMENT_NAMES
from sim.engine.transitions import raise_trust

SECTION = "after_sale"
PARAMS = {
    "trust_churn_sensitivity": P(2.0, "float", 0, 50, "churn hazard multiplier exp(-k*(trust-0.5))", "assumption"),
    "fit_churn_sensitivity": P(2.0, "float", 0, 50, "churn hazard multiplier exp(-k * (fit - market.fit_mean)): accounts that match the product stay longer", "assumption"),
    "fit_expansion_sensitivity": P(2.0, "float", 0, 50, "expansion rate multiplier exp(k * (fit - market.fit_mean)): land and expand works where the product fits", "assumption: seed 002 (land and expand)"),
    "expansion_rate": P(0.3, "float", 0, 10, "expansions per customer per year", "seed 002: land and expand"),
    "expansion_size": P(0.25, "float", 0, 10, "ACV added per expansion, share of current ACV", "seed 002"),
    "customer_trust_gain": P(0.0003, "float", 0, 1, "daily trust gained by a served customer", "assumption: customer success"),
    "advocacy_trust": P(0.65, "float", 0, 1, "trust above which a customer may advocate", "assumption"),
    "advocacy_rate": P(0.01, "float", 0, 1, "daily chance a trusting customer becomes an advocate", "assumption"),
    "ltv_max_years": P(5.0, "float", 0, 100, "years: horizon H of the contract years counted in LTV, (1 - (1 - c)^H) / c at annual churn c", "assumption: SaaS practice of valuing customers over 3-5 years"),
}
STATE = (
    State("advocate", "bool", False, "a customer who speaks well of us and refers peers"),
    State("detractor_until", "float32", float("-inf"), "a churned customer speaks badly of us until this day"),
)
FLOWS = (
    Metric("new_revenue", "revenue from accounts won in the run", "$", fmt="money"),
) + flows(
    ("new_churned", "customers lost", "accounts"),
    ("new_churned_won", "customers won in the run and lost again", "accounts"),
    ("new_expansions", "expansions of accounts won in the run", "accounts"),
)
STOCKS = ()


def base_hazard(cfg) -> np.ndarray:
    """Daily churn hazard per segment at neutral trust (from the annual churn share)."""
    return np.array([-np.log1p(-min(getattr(cfg.market.segments, s).annual_churn, 0.999999)) / 365.0
                     for s in SEGMENT_NAMES])


def churn_hazard(model, acc: np.ndarray) -> np.ndarray:
    """Daily churn hazard of accounts ``acc`` given their current trust in us."""
    pop, a = model.pop, model.cfg.after_sale
    base = model.base_churn[pop.segment[acc]]
    trust = pop.account_mean(pop.trust, acc)
    fit = pop.fit[acc] - model.cfg.market.fit_mean
    return base * np.exp(-a.trust_churn_sensitivity * (trust - 0.5) - a.fit_churn_sensitivity * fit)


def step(model) -> None:
    # A decision whose probability is zero is skipped: with buyer-indexed streams that shifts
    # no other draw, so the results are the same as drawing and never succeeding.
    pop, a, day = model.pop, model.cfg.after_sale, model.day
    if a.customer_trust_gain > 0:
        raise_trust(pop, np.flatnonzero(pop.stage == CUSTOMER), a.customer_trust_gain)
    # revenue from accounts won in this run (the installed base is the same in every strategy)
    model.metrics.add("new_revenue", pop.arr_won / 365.0)
    base = model.base_churn
    if not (model.churn_possible or a.expansion_rate > 0 or a.advocacy_rate > 0):
        return
    acc = np.flatnonzero(pop.customer)
    if acc.size == 0:
        return

    # churn
    churned = acc[:0]
    at_risk = acc if (base > 0).all() else acc[base[pop.segment[acc]] > 0]
    if at_risk.size:
        u = model.streams.uniform("after_sale.churn", day, at_risk, per="account")
        churned = at_risk[u < -np.expm1(-churn_hazard(model, at_risk))]
    if churned.size:
        members = set_account_stage(model, churned, LOST, from_stages=(CUSTOMER,))
        pop.advocate[members] = False
        pop.detractor_until[members] = day + model.cfg.word_of_mouth.detractor_days
        pop.customer[churned] = False
        pop.cooldown_until[churned] = day + model.cfg.need.cooldown_days
        lost_won = churned[pop.won_in_run[churned]]
        pop.arr_won -= pop.rep_sum(pop.acv[lost_won], lost_won)
        model.metrics.count("new_churned", churned, per="account")
        model.metrics.count("new_churned_won", lost_won, per="account")
        acc = acc[~np.isin(acc, churned)]

    # expansion
    grow = acc[:0]
    if a.expansion_rate > 0:
        u = model.streams.uniform("after_sale.expansion", day, acc, per="account")
        rate = a.expansion_rate * np.exp(a.fit_expansion_sensitivity * (pop.fit[acc] - model.cfg.market.fit_mean))
        grow = acc[u < -np.expm1(-rate / 365.0)]
    if grow.size:
        grow_won = grow[pop.won_in_run[grow]]
        pop.arr_won += pop.rep_sum(pop.acv[grow_won], grow_won) * a.expansion_size
        pop.acv[grow] *= 1.0 + a.expansion_size
        model.metrics.count("new_expansions", grow_won, per="account")

    # advocacy
    if a.advocacy_rate <= 0:
        return
    cand = np.flatnonzero((pop.stage == CUSTOMER) & ~pop.advocate & (pop.trust >= a.advocacy_trust))
    if cand.size:
        u = model.streams.uniform("after_sale.advocacy", day, cand)
        pop.advocate[cand[u < a.advocacy_rate]] = True


def lifetime_values(model, acc: np.ndarray) -> np.ndarray:
    """Expected lifetime gross profit of customer accounts at their current ACV and trust.

    Annual contracts renewed with probability 1 - c, c the annual churn at the account's current
    trust: the expected number of contract years within the ``ltv_max_years`` horizon H is the
    truncated geometric sum (1 - (1 - c)^H) / c (1 / c without the horizon; H as c -> 0).
    Unlike min(1 / c, H), every difference in churn (and so in trust) shows in the value, also
    for low-churn accounts whose 1 / c exceeds the horizon.
    """
    pop, a = model.pop, model.cfg.after_sale
    if acc.size == 0:
        return np.zeros(0)
    lam = 365.0 * churn_hazard(model, acc)  # annual hazard; c = 1 - exp(-lam)
    H = a.ltv_max_years
    years = np.where(lam > 1e-12, -np.expm1(-lam * H) / -np.expm1(-np.maximum(lam, 1e-12)), H)
    return model.cfg.market.gross_margin * pop.acv[acc] * years


STEPS = (Step(800, "after_sale", "revenue, churn, expansion, advocacy", step),)
