"""Email nurture: touches to known contacts at a cadence, with fatigue.

Known contacts (not customers, not in a sales conversation, not unsubscribed) get an email
every ``cadence_days`` (each on their own day of the cycle), as far as the budget pays for
sends. Opened emails add a little trust and progress; a ready reader may ask for a call (a
lead). Every send adds fatigue, which halves over ``fatigue_half_life_days``, lowers opens
and raises unsubscribes.
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.declare import P, State, Step, flows, stocks
from sim.engine.state import CH, CUSTOMER, ENGAGED, EXPLORING
from sim.engine.transitions import make_leads, touch

SECTION = "channels.email"
PARAMS = {
    "budget": P(0.0, "float", 0, None, "$ per year on email sends", "strategy"),
    "fixed_cost": P(6_000.0, "float", 0, None, "$ per year while active (platform)", "assumption: marketing automation licence"),
    "cost_per_send": P(0.05, "float", 0, None, "$ per email sent", "assumption incl. list upkeep"),
    "cadence_days": P(7, "int", 1, 365, "days between nurture emails to a contact", "assumption"),
    "open_rate": P(0.22, "float", 0, 1, "share of emails opened", "Mailchimp B2B benchmarks (~21-23%)"),
    "trust_gain": P(0.015, "float", 0, 1, "trust added per opened email", "assumption"),
    "progress_gain": P(0.01, "float", 0, 1, "decision progress added per opened email", "assumption"),
    "fatigue_per_send": P(0.08, "float", 0, 1, "fatigue added per email", "assumption"),
    "fatigue_half_life_days": P(14.0, "float", 0.1, None, "days for fatigue to halve", "assumption"),
    "unsubscribe_rate": P(0.003, "float", 0, 1, "unsubscribes per email at zero fatigue", "Mailchimp benchmarks (~0.2-0.3%)"),
    "click_rate": P(0.3, "float", 0, 1, "chance a ready reader of an email asks for a call", "assumption"),
}
STATE = (
    State("unsubscribed", "bool", False, "the buyer unsubscribed from our emails"),
    State("fatigue", "float32", 0.0, "email fatigue: rises with every send, halves over fatigue_half_life_days"),
)
FLOWS = flows(
    ("new_emails", "emails sent", "emails"),
    ("new_unsubscribes", "unsubscribes", "buyers"),
)
STOCKS = stocks(
)
STEPS = (Step(320, "email", "nurture sends to known contacts"),)
#: what switches the channel off: with these values (and no rep time on it) a run is
#: byte-identical to one without the channel (the channel contract, tests/test_channels.py)
OFF = {"budget": 0.0}
#: the reps' activity (sales.split) this channel spends, if any
REP_ACTIVITY = None


class Email(Channel):
    name = "email"

    def __init__(self, model):
        super().__init__(model)
        self._cohorts: list[np.ndarray] | None = None

    def cohorts(self) -> list[np.ndarray]:
        """The buyers of each day of the send cycle: ``cohorts()[j]`` holds, ascending, those with
        ``phase % cadence_days == j``, who are due on the days with ``-day % cadence_days == j``. Phases
        are fixed for the run, so this is worked out once instead of a pass over every buyer each day."""
        if self._cohorts is None:
            cadence = self.cfg.cadence_days
            j = self.model.pop.phase % cadence
            order = np.argsort(j, kind="stable")
            self._cohorts = np.split(order, np.cumsum(np.bincount(j, minlength=cadence))[:-1])
        return self._cohorts

    def step(self, model) -> None:
        c, pop, day = self.cfg, model.pop, model.day
        if not self.active:  # no sends ever: fatigue stays 0
            return
        pop.fatigue *= np.float32(0.5 ** (1.0 / c.fatigue_half_life_days))
        self.pay_overhead()
        # today's cohort: the buyers whose day of the cycle it is ((day + phase) % cadence == 0), ascending
        idx = self.cohorts()[(-day) % c.cadence_days]
        stage = pop.stage[idx]
        idx = idx[pop.known[idx] & ~pop.unsubscribed[idx] & (stage != CUSTOMER) & (stage != ENGAGED)]
        cap = int(self.daily_budget() / c.cost_per_send) if c.cost_per_send > 0 else idx.size
        if idx.size > cap:
            idx = model.streams.pick("email.pick", day, idx, cap)
        if idx.size == 0:
            return
        self.spend(model.pop.per_rep(idx) * c.cost_per_send)
        model.metrics.count("new_emails", idx)
        fat = pop.fatigue[idx]
        u = model.streams.uniform("email.unsubscribe", day, idx)
        unsub = u < c.unsubscribe_rate * (1.0 + 10.0 * fat)
        pop.unsubscribed[idx[unsub]] = True
        model.metrics.count("new_unsubscribes", idx[unsub])
        u = model.streams.uniform("email.open", day, idx)
        p_open = np.clip(c.open_rate * pop.receptivity[idx, CH["email"]] * (1.0 - np.minimum(fat, 1.0)), 0, 1)
        opened = idx[(u < p_open) & ~unsub]
        pop.fatigue[idx] += c.fatigue_per_send
        touch(model, opened, "email", c.trust_gain, c.progress_gain)
        ready = opened[(pop.stage[opened] == EXPLORING) & (pop.progress[opened] >= pop.threshold[opened])]
        u = model.streams.uniform("email.click", day, ready)
        make_leads(model, ready[u < c.click_rate], "email")
