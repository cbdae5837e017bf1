"""Mechanism 5, cold calling: reps dial non-customers; few connect, fewer are ready.

Dials per day are the smaller of the reps' dialing hours times ``dials_per_hour`` and what
the dialing budget pays for. Targets are drawn uniformly among non-customers who are not in
a conversation with us and have not asked not to be called (reps do not know who is in
market). A connected buyer hears of us; whether they accept a meeting depends on their own
readiness and attitude to us (``journey.acceptance``), so cold calls mostly book meetings with
buyers who were nearly ready anyway. An unready buyer is annoyed (``journey.annoy``): trust
falls, below zero trust the call leaves resentment that makes later meetings less likely, and
some ask not to be called.
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.state import CH, CUSTOMER
from sim.engine.transitions import acceptance, annoy, start_conversations, touch


class ColdCalling(Channel):
    name = "cold_calling"

    def step(self, model) -> None:
        c, pop, day = self.cfg, model.pop, model.day
        hours = model.sales.hours("dialing")
        cap_hours = hours * c.dials_per_hour
        cap_budget = self.daily_budget() / c.cost_per_dial if c.cost_per_dial > 0 else cap_hours
        n_dials = int(min(cap_hours, cap_budget))
        if n_dials <= 0:
            return
        self.pay_overhead()
        eligible = (pop.stage != CUSTOMER) & ~pop.engaged & ~pop.do_not_call
        dialed = model.streams.sample("cold_calling.pick", day, eligible, n_dials)
        self.spend(dialed.size * c.cost_per_dial)
        model.sales.use_hours("dialing", dialed.size / c.dials_per_hour)
        model.metrics.add("new_dials", dialed.size)
        u = model.streams.uniform("cold_calling.connect", day, dialed)
        conn = dialed[u < np.clip(c.connect_rate * pop.receptivity[dialed, CH["cold_calling"]], 0, 1)]
        model.metrics.add("new_connects", conn.size)
        if conn.size == 0:
            return
        touch(model, conn, "cold_calling")
        u = model.streams.uniform("cold_calling.accept", day, conn)
        yes = u < acceptance(model, conn)
        start_conversations(model, conn[yes], "cold_calling")
        model.metrics.add("new_cold_meetings", int(yes.sum()))
        no = conn[~yes]
        annoyed = no[pop.progress[no] < pop.threshold[no]]
        annoy(model, annoyed, c.annoyance)
        u = model.streams.uniform("cold_calling.dnc", day, annoyed)
        pop.do_not_call[annoyed[u < c.do_not_call_rate]] = True
