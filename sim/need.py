"""Mechanism 1, need triggers: accounts enter and leave the market.

A dormant account starts a buying episode with a daily hazard from ``need.annual_trigger_rate``
(a ~5-year purchase cycle: Dawes, B2B Institute 2021). The share of accounts in market at any
time is NOT a parameter: it emerges from that rate times how long episodes last (research
speed, buying-group consensus, fade hazard), and the validation suite checks it against the
95:5 rule. In-market accounts may drop the need (no decision); lost accounts cool down.
"""

from __future__ import annotations

import numpy as np

from .journey import close_opportunities, set_account_stage
from .population import DORMANT, EXPLORING, LOST


def step(model) -> None:
    pop, cfg, day = model.pop, model.cfg.need, model.day
    A = pop.n_accounts
    # lost accounts whose cool-down ended become dormant again
    back = (~pop.in_market) & (~pop.customer) & (pop.cooldown_until <= day) & np.isfinite(pop.cooldown_until)
    if back.any():
        set_account_stage(model, back, DORMANT, from_stages=(LOST,))
        pop.cooldown_until[back] = -np.inf

    # need fades: the account stops looking (no decision)
    u = model.streams.uniform("need.fade", day, A)
    fade = pop.in_market & (u < cfg.fade_rate)
    if fade.any():
        with_us = fade & pop.opp
        close_opportunities(model, np.flatnonzero(fade))
        members = pop.members(fade)
        pop.stage[members & (pop.stage != LOST)] = DORMANT
        pop.in_market[fade] = False
        model.metrics.add("new_no_decisions", int(fade.sum()))
        model.metrics.add("new_opportunities_stalled", int(with_us.sum()))

    # new needs
    p = 1.0 - np.exp(-cfg.annual_trigger_rate / 365.0)
    u = model.streams.uniform("need.trigger", day, A)
    trig = (~pop.in_market) & (~pop.customer) & (pop.cooldown_until <= day) & (u < p)
    if trig.any():
        start_episodes(model, trig)


def start_episodes(model, acc_mask: np.ndarray, progress: np.ndarray | None = None, metric: str = "new_episodes") -> None:
    """Accounts start a buying episode: every dormant member begins self-directed research.

    ``metric`` counts the episodes: ``new_episodes`` for needs that arise on their own,
    ``new_demand_created`` for needs a sales conversation created.
    """
    pop = model.pop
    pop.in_market[acc_mask] = True
    pop.day_in_market[acc_mask] = model.day
    members = set_account_stage(model, acc_mask, EXPLORING, from_stages=(DORMANT, LOST))
    pop.progress[members] = 0.0 if progress is None else progress[members]
    pop.day_exploring[members] = model.day
    pop.engaged[members] = False
    model.metrics.add(metric, int(acc_mask.sum()))
