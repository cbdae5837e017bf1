"""Cold calling: reps dial non-customers; few connect, fewer are ready.

A connect becomes a conversation with chance ``conversation_rate`` (the rest hang up at once: no
annoyance, no meeting); a yes books a rep's meeting slot like every first meeting
(``transitions.start_conversations``). Dials per day are the smaller of the reps' dialing hours times ``dials_per_hour`` and what
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
from sim.engine.declare import P, State, Step, flows, stocks
from sim.engine.state import CH, CUSTOMER
from sim.engine.transitions import acceptance, annoy, start_conversations, touch

SECTION = "channels.cold_calling"
PARAMS = {
    "budget": P(0.0, "float", 0, None, "$ per year on dialer, data and lists", "strategy"),
    "fixed_cost": P(10_000.0, "float", 0, None, "$ per year while active (dialer licences)", "assumption"),
    "cost_per_dial": P(1.5, "float", 0, None, "$ per dial (contact data, dialer seat, telephony)", "assumption"),
    "dials_per_hour": P(12.0, "float", 0, 200, "dials per rep dialing hour", "Bridge Group SDR benchmarks (~50-60 dials/day)"),
    "connect_rate": P(0.06, "float", 0, 1, "share of dials that reach the person", "Bridge Group / Gong: 2-10% connect rates"),
    "conversation_rate": P(0.58, "float", 0, 1, "share of connects that become a conversation (the rest hang up or are gatekept)",
                           "Belkins 2025 cold-calling study (175k dials): 58% of connects became conversations"),
    "annoyance": P(0.06, "float", 0, 1, "attitude lost by an unready buyer who is called: trust first, the rest as resentment (lowers later meeting acceptance, hand raising and the vendor choice)", "assumption: unready buyers are annoyed"),
    "do_not_call_rate": P(0.2, "float", 0, 1, "chance an annoyed buyer asks not to be called again", "assumption"),
}
STATE = (State("do_not_call", "bool", False, "the buyer asked not to be called again"),)
FLOWS = flows(
    ("new_dials", "dials", "dials"),
    ("new_connects", "connected dials", "calls"),
    ("new_cold_conversations", "connects that became a conversation", "calls"),
    ("new_cold_meetings", "cold-call conversations the buyer said yes to (a meeting, or joining an open one)", "buyers"),
)
STOCKS = stocks(
)
STEPS = (Step(350, "cold_calling", "dials, connects, meetings, annoyance"),)
#: what switches the channel off: with these values (and no rep time on dialing) a run is
#: byte-identical to one without the channel (the channel contract, tests/test_channels.py)
OFF = {"budget": 0.0}
#: the reps' activity (sales.split) this channel spends, if any
REP_ACTIVITY = 'dialing'


class ColdCalling(Channel):
    name = "cold_calling"

    def step(self, model) -> None:
        c, pop, day = self.cfg, model.pop, model.day
        hours = model.sales.hours("dialing")  # one per replication
        cap_hours = hours * c.dials_per_hour
        cap_budget = self.daily_budget() / c.cost_per_dial if c.cost_per_dial > 0 else cap_hours
        n_dials = np.minimum(cap_hours, cap_budget).astype(np.int64)
        dialing = n_dials > 0
        if not dialing.any():
            return
        if dialing.all():
            self.pay_overhead()
        elif self.active:
            self.spend(np.where(dialing, self.cfg.fixed_cost / 365.0, 0.0))
        eligible = (pop.stage != CUSTOMER) & ~pop.engaged & ~pop.do_not_call
        dialed = model.streams.sample("cold_calling.pick", day, eligible, np.maximum(n_dials, 0))
        n = pop.per_rep(dialed)
        self.spend(n * c.cost_per_dial)
        model.sales.use_hours("dialing", n / c.dials_per_hour)
        model.metrics.add("new_dials", n)
        u = model.streams.uniform("cold_calling.connect", day, dialed)
        conn = dialed[u < np.clip(c.connect_rate * pop.receptivity[dialed, CH["cold_calling"]], 0, 1)]
        model.metrics.count("new_connects", conn)
        if conn.size == 0:
            return
        touch(model, conn, "cold_calling")
        u = model.streams.uniform("cold_calling.converse", day, conn)
        talk = conn[u < c.conversation_rate]
        model.metrics.count("new_cold_conversations", talk)
        u = model.streams.uniform("cold_calling.accept", day, talk)
        yes = u < acceptance(model, talk)
        start_conversations(model, talk[yes], "cold_calling")
        model.metrics.count("new_cold_meetings", talk[yes])
        no = talk[~yes]
        annoyed = no[pop.progress[no] < pop.threshold[no]]
        annoy(model, annoyed, c.annoyance)
        u = model.streams.uniform("cold_calling.dnc", day, annoyed)
        pop.do_not_call[annoyed[u < c.do_not_call_rate]] = True
