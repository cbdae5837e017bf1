"""Paid campaigns and event bursts: direct response dies within days.

On each burst day (a day of the measured horizon; in a warm-up the first year's bursts recur a year,
two years, ... earlier: ``JourneyModel.calendar_day``) the campaign reaches ``budget / len(burst_days) / cost_per_reach`` people.
A reached person responds at most once, with total probability ``response_rate`` times
their receptivity, spread over time as an exponential with e-folding ``response_decay_days``
(most direct response within ~36 hours: seed 003). Responders become known contacts and
leads if they pass the lead score. With ``sharing`` on, some responders pass the campaign
to peers, who are exposed the next day and respond on their own clock, more readily than to
a paid exposure (``word_of_mouth.shared_response_lift``: a peer's endorsement): the long tail comes
only from sharing (see ``word_of_mouth``).
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.declare import P, State, Step, flows, stocks
from sim.engine.state import CH, CUSTOMER
from sim.engine.transitions import make_leads, touch

SECTION = "channels.campaigns"
PARAMS = {
    "budget": P(0.0, "float", 0, None, "$ per year on paid campaigns and event bursts", "strategy"),
    "fixed_cost": P(0.0, "float", 0, None, "$ per year while active", "assumption"),
    "burst_days": P([30, 120, 210, 300], "list[int]", 0, None, "days on which a burst starts", "assumption: quarterly campaigns"),
    "cost_per_reach": P(10.0, "float", 0.001, None, "$ per person reached (several impressions)", "assumption: B2B paid social at ~$30-60 CPM x frequency"),
    "response_rate": P(0.03, "float", 0, 1, "chance a reached person responds", "assumption"),
    "response_decay_days": P(0.7, "float", 0.01, 365, "e-folding time of direct response", "seed 003: most campaign leads within ~36 hours"),
    "sharing": P(True, "bool", unit="responders share onward", source="seed 003: the tail comes from sharing"),
    "trust_gain": P(0.02, "float", 0, 1, "trust added by a response", "assumption"),
}
STATE = (State("exposure_day", "float32", float("nan"), "day of the latest campaign exposure not yet answered (NaN: none)"),)
FLOWS = flows(
    ("new_campaign_reach", "people reached by campaign bursts", "buyers"),
    ("new_campaign_responses", "campaign responses", "buyers"),
    ("new_campaign_responses_shared", "campaign responses to a shared exposure", "buyers"),
)
STOCKS = stocks(
)
STEPS = (Step(310, "campaigns", "bursts and their decaying direct response"),)
#: what switches the channel off: with these values (and no rep time on it) a run is
#: byte-identical to one without the channel (the channel contract, tests/test_channels.py)
OFF = {"budget": 0.0}
#: the reps' activity (sales.split) this channel spends, if any
REP_ACTIVITY = None


class Campaigns(Channel):
    name = "campaigns"

    def step(self, model) -> None:
        c, pop, day = self.cfg, model.pop, model.day
        if not self.active:  # no budget: nobody is ever exposed, so nobody responds or shares
            return
        self.pay_overhead()
        bursts = c.burst_days
        if bursts and model.calendar_day(day) in bursts:
            spend = c.budget / len(bursts)
            self.spend(spend)
            reached = model.streams.sample("campaigns.reach", day, pop.stage != CUSTOMER, int(spend / c.cost_per_reach))
            touch(model, reached, "campaigns")
            pop.exposure_day[reached] = day
            model.metrics.count("new_campaign_reach", reached)
        exposed = np.flatnonzero(~np.isnan(pop.exposure_day))
        if exposed.size == 0:
            return
        exposed = exposed[pop.exposure_day[exposed] <= day]  # shared exposures start tomorrow
        age = day - pop.exposure_day[exposed]
        tau = c.response_decay_days
        # probability of responding within [age, age + 1) days of exposure
        p = c.response_rate * pop.receptivity[exposed, CH["campaigns"]] * (np.exp(-age / tau) - np.exp(-(age + 1) / tau))
        # a campaign passed on by a peer carries the peer's endorsement (see ``word_of_mouth``)
        p = np.where(model.shared_exposure[exposed], p * model.cfg.word_of_mouth.shared_response_lift, p)
        u = model.streams.uniform("campaigns.respond", day, exposed)
        resp = exposed[u < np.clip(p, 0, 1)]
        pop.exposure_day[exposed[age > 20 * tau]] = np.nan  # the response window has closed
        if resp.size == 0:
            return
        shared = model.shared_exposure[resp]
        resp_age = day - pop.exposure_day[resp]
        model.sample("campaign_response_age_direct", resp_age[~shared], resp[~shared])
        model.sample("campaign_response_age_shared", resp_age[shared], resp[shared])
        pop.exposure_day[resp] = np.nan
        touch(model, resp, "campaigns", c.trust_gain)
        pop.known[resp] = True
        model.metrics.count("new_campaign_responses", resp)
        model.metrics.count("new_campaign_responses_shared", resp[shared])
        model.shared_exposure[resp] = False
        make_leads(model, resp, "campaigns")
        if c.sharing:
            u = model.streams.uniform("campaigns.share", day, resp)
            model.share_campaign[resp[u < model.cfg.word_of_mouth.share_prob]] = True
