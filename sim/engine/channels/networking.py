"""Networking: trust that travels along ties (seed 001).

Reps meet new people at events (the budget pays for ``budget / cost_per_event`` events a
year, spread evenly) and in networking hours; half of them are met through people the reps
already know (friends of friends on the network), half anywhere. Knowing a rep adds trust.
In networking hours reps also talk with the people they know who are in market; an
introduction by a trusted tie lets a buyer accept a meeting ``readiness_discount`` earlier.
Referrals by customer advocates are word of mouth (``sim.engine.mechanisms.word_of_mouth``).
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.declare import P, State, Step, flows, stocks
from sim.engine.network import Exposure, draw_tie_reps
from sim.engine.state import CUSTOMER, EXPLORING
from sim.engine.transitions import acceptance, start_conversations, touch

SECTION = "channels.networking"
PARAMS = {
    "budget": P(0.0, "float", 0, None, "$ per year on events and memberships", "strategy"),
    "fixed_cost": P(0.0, "float", 0, None, "$ per year while active", "assumption"),
    "cost_per_event": P(8_000.0, "float", 1, None, "$ per industry event attended", "assumption: booth, travel and a rep-day per event"),
    "contacts_per_event": P(10.0, "float", 0, 10_000, "new people a rep team meets per event", "assumption"),
    "contacts_per_hour": P(0.15, "float", 0, 100, "new people met per rep networking hour", "assumption"),
    "tie_trust": P(0.12, "float", 0, 1, "trust from knowing one of our reps personally", "seed 001: networking is sales"),
    "intros_per_hour": P(0.5, "float", 0, 100, "conversations with known contacts per networking hour", "assumption"),
    "readiness_discount": P(0.25, "float", 0, 1, "how much earlier an introduced buyer accepts a meeting", "seed 001: an introduction opens the door"),
}
STATE = (State("rep_tie", "bool", False, "the buyer knows one of our reps personally"),
         State("tie_rep", "int32", -1, "which of our reps (index within its team) the buyer knows; -1: none"))
FLOWS = flows(
    ("new_rep_ties", "new personal ties to our reps", "buyers"),
    ("new_network_talks", "networking conversations with people in market", "conversations"),
    ("new_network_meetings", "meetings from networking conversations", "meetings"),
)
STOCKS = stocks(
    ("n_rep_ties", "buyers who know one of our reps", "buyers"),
)
STEPS = (Step(340, "networking", "new rep ties and conversations with known people in market"),)
#: what switches the channel off: with these values (and no rep time on networking) a run is
#: byte-identical to one without the channel (the channel contract, tests/test_channels.py)
OFF = {"budget": 0.0}
#: the reps' activity (sales.split) this channel spends, if any
REP_ACTIVITY = 'networking'


class Networking(Channel):
    name = "networking"

    def __init__(self, model):
        super().__init__(model)
        self.carry = 0.0  # fractional contacts carried to the next day

    def events_today(self, day: int) -> int:
        per_year = self.cfg.budget / self.cfg.cost_per_event
        return int(np.floor((day + 1) * per_year / 365.0) - np.floor(day * per_year / 365.0))

    def step(self, model) -> None:
        c, pop, day, st = self.cfg, model.pop, model.day, model.streams
        self.pay_overhead()
        self.spend(self.daily_budget())
        hours = model.sales.hours("networking")  # one per replication
        model.sales.use_hours("networking", hours)
        # new ties
        new = self.carry + hours * c.contacts_per_hour + self.events_today(day) * c.contacts_per_event
        k = new.astype(np.int64)
        self.carry = new - k
        if (k > 0).any():
            pool = ~pop.rep_tie & (pop.stage != CUSTOMER)
            near = model.tie_exposure(pop.rep_tie) > Exposure.EPS
            a = st.sample("networking.meet_near", day, pool & near, k // 2)
            pool[a] = False
            b = st.sample("networking.meet_any", day, pool, k - pop.per_rep(a))
            met = np.concatenate([a, b])
            pop.rep_tie[met] = True
            pop.tie_rep[met] = draw_tie_reps(st.uniform("networking.tie_rep", day, met), model.cfg.sales.n_reps)
            touch(model, met, "networking", c.tie_trust)
            model.metrics.count("new_rep_ties", met)
        model.metrics.set("n_rep_ties", pop.rep_count(pop.rep_tie))

        # conversations with known people who are in market
        n_talks = (hours * c.intros_per_hour).astype(np.int64)
        if (n_talks > 0).any():
            cand = np.flatnonzero(pop.rep_tie & (pop.stage == EXPLORING) & ~pop.engaged & ~pop.lead_pending)
            talk = st.pick("networking.talk", day, cand, n_talks)
            u = st.uniform("networking.accept", day, talk)
            yes = talk[u < acceptance(model, talk, c.readiness_discount)]
            model.metrics.count("new_network_talks", talk)
            model.metrics.count("new_network_meetings", yes)
            start_conversations(model, yes, "networking")

