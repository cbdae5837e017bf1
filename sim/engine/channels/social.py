"""Social selling: rep social hours and sponsored posts reach people the reps know and their ties
(or, when the reps' circles are exhausted, anyone), adding awareness and a little trust.

Buyers sharing our content and campaigns with their ties, and advocates and detractors talking
about us, are word of mouth (``sim.engine.mechanisms.word_of_mouth``): the market does it, not
this channel.
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.declare import P, Step, flows, stocks
from sim.engine.network import Exposure
from sim.engine.state import CUSTOMER
from sim.engine.transitions import touch

SECTION = "channels.social"
PARAMS = {
    "budget": P(0.0, "float", 0, None, "$ per year on social selling tools", "strategy"),
    "fixed_cost": P(0.0, "float", 0, None, "$ per year while active", "assumption"),
    "reach_per_hour": P(40.0, "float", 0, 100_000, "people reached per rep social-selling hour", "assumption"),
    "cost_per_reach": P(3.0, "float", 0.001, None, "$ per person reached by sponsored posts", "assumption: LinkedIn sponsored content"),
    "trust_gain": P(0.01, "float", 0, 1, "trust added per social touch", "assumption"),
}
FLOWS = flows(
    ("new_social_reach", "people reached by social selling", "buyers"),
)
STOCKS = stocks(
)
STEPS = (Step(330, "social", "rep social selling and sponsored posts"),)
#: what switches the channel off: with these values (and no rep time on social) a run is
#: byte-identical to one without the channel (the channel contract, tests/test_channels.py)
OFF = {"budget": 0.0}
#: the reps' activity (sales.split) this channel spends, if any
REP_ACTIVITY = 'social'


class Social(Channel):
    name = "social"

    def step(self, model) -> None:
        c, pop, day, st = self.cfg, model.pop, model.day, model.streams
        # social selling by reps, plus sponsored posts paid from the budget
        hours = model.sales.hours("social")
        model.sales.use_hours("social", hours)
        self.pay_overhead()
        self.spend(self.daily_budget())
        reach = (hours * c.reach_per_hour + self.daily_budget() / c.cost_per_reach).astype(np.int64)  # per replication
        if (reach > 0).any():
            not_cust = pop.stage != CUSTOMER
            pool = (pop.rep_tie | (model.tie_exposure(pop.rep_tie) > Exposure.EPS)) & not_cust
            beyond = pop.rep_count(pool) < reach  # sponsored posts also reach beyond the reps' circles
            if beyond.all():
                pool = not_cust
            elif beyond.any():
                pool = np.where(beyond[pop.brep], not_cust, pool)
            hit = st.sample("social.reach", day, pool, np.maximum(reach, 0))
            touch(model, hit, "social", c.trust_gain)
            model.metrics.count("new_social_reach", hit)

