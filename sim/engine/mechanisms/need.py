"""Need triggers: accounts enter and leave the market.

A dormant account starts a buying episode with a daily hazard from ``need.annual_trigger_rate``
(a ~5-year purchase cycle: Dawes, B2B Institute 2021). The share of accounts in market at any
time is NOT a parameter: it emerges from that rate times how long episodes last (research
speed, buying-group consensus, fade hazard), and the validation suite checks it against the
95:5 rule. In-market accounts may drop the need (no decision); lost accounts cool down.
"""

from __future__ import annotations

import numpy as np

from sim.engine.declare import P, Step, flows
from sim.engine.mechanisms.decision import draw_stances, end_without_decision
from sim.engine.stages import set_account_stage
from sim.engine.state import DORMANT, EXPLORING, LOST

SECTION = "need"
PARAMS = {
    "annual_trigger_rate": P(0.2, "float", 0, 50, "buying episodes per account per year", "95:5 rule: ~5-year purchase cycle (Dawes, B2B Institute 2021)"),
    "fade_rate": P(0.004, "float", 0, 1, "daily hazard an in-market account drops the need", "40-60% of B2B pipelines end in no decision (Dixon & McKenna 2022)"),
    "cooldown_days": P(180, "int", 0, 3650, "days after a lost decision before a new need can arise", "assumption"),
}
FLOWS = flows(
    ("new_episodes", "buying episodes that started on their own", "accounts"),
    ("new_demand_created", "buying episodes started by a sales conversation", "accounts"),
    ("new_no_decisions", "buying episodes dropped without a decision", "accounts"),
    ("new_opportunities_stalled", "opportunities ended by no decision", "accounts"),
)
STOCKS = ()


def step(model) -> None:
    pop, cfg, day = model.pop, model.cfg.need, model.day
    # lost accounts whose cool-down ended become dormant again
    back = np.flatnonzero(np.isfinite(pop.cooldown_until) & (pop.cooldown_until <= day))
    back = back[~pop.in_market[back] & ~pop.customer[back]]
    if back.size:
        set_account_stage(model, back, DORMANT, from_stages=(LOST,))
        pop.cooldown_until[back] = -np.inf

    # need fades: the account stops looking (no decision)
    live = np.flatnonzero(pop.in_market)
    fade = live[model.streams.uniform("need.fade", day, live, per="account") < cfg.fade_rate] if live.size and cfg.fade_rate > 0 else live[:0]
    if fade.size:
        end_without_decision(model, fade)

    # new needs
    p = 1.0 - np.exp(-cfg.annual_trigger_rate / 365.0)
    if p <= 0:  # skipping a zero-probability draw shifts no other draw (streams are account-indexed)
        return
    idle = np.flatnonzero(~pop.in_market & ~pop.customer & (pop.cooldown_until <= day))
    trig = idle[model.streams.uniform("need.trigger", day, idle, per="account") < p]
    if trig.size:
        start_episodes(model, trig)


def start_episodes(model, acc: np.ndarray, progress: np.ndarray | None = None, metric: str = "new_episodes") -> None:
    """Accounts start a buying episode: every dormant member begins self-directed research.

    ``metric`` counts the episodes: ``new_episodes`` for needs that arise on their own,
    ``new_demand_created`` for needs a sales conversation created.
    """
    pop = model.pop
    pop.in_market[acc] = True
    pop.day_in_market[acc] = model.day
    # a new episode, a new opportunity: nothing of an earlier episode's conversation carries over
    pop.opp_day[acc] = np.nan
    pop.qualified[acc] = False
    pop.lead_record[acc] = False
    pop.contact_progress[acc] = np.nan
    pop.contact_inbound[acc] = False
    draw_stances(model, acc)
    members = set_account_stage(model, acc, EXPLORING, from_stages=(DORMANT, LOST))
    pop.progress[members] = 0.0 if progress is None else progress[members]
    pop.day_exploring[members] = model.day
    pop.engaged[members] = False
    model.metrics.count(metric, acc, per="account")


STEPS = (Step(100, "need", "accounts enter the market, drop the need, or end their cool-down", step),)
