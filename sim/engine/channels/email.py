"""Mechanism 4, email nurture: touches to known contacts at a cadence, with fatigue.

Known contacts (not customers, not in a sales conversation, not unsubscribed) get an email
every ``cadence_days`` (each on their own day of the cycle), as far as the budget pays for
sends. Opened emails add a little trust and progress; a ready reader may ask for a call (a
lead). Every send adds fatigue, which halves over ``fatigue_half_life_days``, lowers opens
and raises unsubscribes.
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.state import CH, CUSTOMER, ENGAGED, EXPLORING
from sim.engine.transitions import make_leads, touch


class Email(Channel):
    name = "email"

    def step(self, model) -> None:
        c, pop, day = self.cfg, model.pop, model.day
        if not self.active:  # no sends ever: fatigue stays 0
            return
        pop.fatigue *= np.float32(0.5 ** (1.0 / c.fatigue_half_life_days))
        self.pay_overhead()
        due = pop.known & ~pop.unsubscribed & (pop.stage != CUSTOMER) & (pop.stage != ENGAGED)
        due &= (day + pop.phase) % c.cadence_days == 0
        idx = np.flatnonzero(due)
        cap = int(self.daily_budget() / c.cost_per_send) if c.cost_per_send > 0 else idx.size
        if idx.size > cap:
            idx = model.streams.pick("email.pick", day, idx, cap)
        if idx.size == 0:
            return
        self.spend(idx.size * c.cost_per_send)
        model.metrics.add("new_emails", idx.size)
        fat = pop.fatigue[idx]
        u = model.streams.uniform("email.unsubscribe", day, idx)
        unsub = u < c.unsubscribe_rate * (1.0 + 10.0 * fat)
        pop.unsubscribed[idx[unsub]] = True
        model.metrics.add("new_unsubscribes", int(unsub.sum()))
        u = model.streams.uniform("email.open", day, idx)
        p_open = np.clip(c.open_rate * pop.receptivity[idx, CH["email"]] * (1.0 - np.minimum(fat, 1.0)), 0, 1)
        opened = idx[(u < p_open) & ~unsub]
        pop.fatigue[idx] += c.fatigue_per_send
        touch(model, opened, "email", c.trust_gain, c.progress_gain)
        ready = opened[(pop.stage[opened] == EXPLORING) & (pop.progress[opened] >= pop.threshold[opened])]
        u = model.streams.uniform("email.click", day, ready)
        make_leads(model, ready[u < c.click_rate], "email")
