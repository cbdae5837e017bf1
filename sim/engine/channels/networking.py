"""Mechanism 6, networking and referrals: trust that travels along ties (seed 001).

Reps meet new people at events (the budget pays for ``budget / cost_per_event`` events a
year, spread evenly) and in networking hours; half of them are met through people the reps
already know (friends of friends on the network), half anywhere. Knowing a rep adds trust.
In networking hours reps also talk with the people they know who are in market; an
introduction by a trusted tie lets a buyer accept a meeting ``readiness_discount`` earlier.
Customer advocates refer peers at other accounts: a referred buyer receives a share of the
advocate's trust and, if ready enough, a meeting. Sources: "networking" and "referral".
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.network import Exposure
from sim.engine.state import CUSTOMER, EXPLORING
from sim.engine.transitions import acceptance, raise_trust, start_conversations, touch


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
        hours = model.sales.hours("networking")
        model.sales.use_hours("networking", hours)
        # new ties
        new = self.carry + hours * c.contacts_per_hour + self.events_today(day) * c.contacts_per_event
        k, self.carry = int(new), new - int(new)
        if k > 0:
            pool = ~pop.rep_tie & (pop.stage != CUSTOMER)
            near = model.tie_exposure(pop.rep_tie) > Exposure.EPS
            a = st.sample("networking.meet_near", day, pool & near, k // 2)
            pool[a] = False
            b = st.sample("networking.meet_any", day, pool, k - a.size)
            met = np.concatenate([a, b])
            pop.rep_tie[met] = True
            touch(model, met, "networking", c.tie_trust)
            model.metrics.add("new_rep_ties", met.size)
        model.metrics.set("n_rep_ties", np.count_nonzero(pop.rep_tie))

        # conversations with known people who are in market
        n_talks = int(hours * c.intros_per_hour)
        if n_talks > 0:
            cand = np.flatnonzero(pop.rep_tie & (pop.stage == EXPLORING) & ~pop.engaged & ~pop.lead_pending)
            talk = st.pick("networking.talk", day, cand, n_talks)
            u = st.uniform("networking.accept", day, talk)
            yes = talk[u < acceptance(model, talk, c.readiness_discount)]
            model.metrics.add("new_network_talks", talk.size)
            model.metrics.add("new_network_meetings", yes.size)
            start_conversations(model, yes, "networking")

        # referrals by customer advocates
        if pop.advocate.any():
            exposure = model.advocate_exposure_weak(pop.advocate)
            cand = np.flatnonzero((exposure > Exposure.EPS) & (pop.stage == EXPLORING) & ~pop.engaged & ~pop.referred)
            if cand.size:
                u = st.uniform("networking.referral", day, cand)
                ref = cand[u < -np.expm1(-c.referral_rate * exposure[cand])]
                if ref.size:
                    adv_trust = (model.W_weak[ref] @ (pop.advocate * pop.trust)) / exposure[ref]
                    pop.referred[ref] = True
                    touch(model, ref, "networking")
                    raise_trust(pop, ref, c.trust_transfer * adv_trust)
                    model.metrics.add("new_referrals", ref.size)
                    u = st.uniform("networking.referral_accept", day, ref)
                    start_conversations(model, ref[u < acceptance(model, ref, c.readiness_discount)], "referral")
