"""Mechanism 8, paid campaigns and event bursts: direct response dies within days.

On each burst day the campaign reaches ``budget / len(burst_days) / cost_per_reach`` people.
A reached person responds at most once, with total probability ``response_rate`` times
their receptivity, spread over time as an exponential with e-folding ``response_decay_days``
(most direct response within ~36 hours: seed 003). Responders become known contacts and
leads if they pass the lead score. With ``sharing`` on, some responders pass the campaign
to peers, who are exposed the next day and respond on their own clock, more readily than to
a paid exposure (``social.shared_response_lift``: a peer's endorsement): the long tail comes
only from sharing (see ``social``).
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.state import CH, CUSTOMER
from sim.engine.transitions import make_leads, touch


class Campaigns(Channel):
    name = "campaigns"

    def step(self, model) -> None:
        c, pop, day = self.cfg, model.pop, model.day
        if not self.active:  # no budget: nobody is ever exposed, so nobody responds or shares
            return
        self.pay_overhead()
        bursts = c.burst_days
        if bursts and day in bursts:
            spend = c.budget / len(bursts)
            self.spend(spend)
            reached = model.streams.sample("campaigns.reach", day, pop.stage != CUSTOMER, int(spend / c.cost_per_reach))
            touch(model, reached, "campaigns")
            pop.exposure_day[reached] = day
            model.metrics.add("new_campaign_reach", reached.size)
        exposed = np.flatnonzero(~np.isnan(pop.exposure_day))
        if exposed.size == 0:
            return
        exposed = exposed[pop.exposure_day[exposed] <= day]  # shared exposures start tomorrow
        age = day - pop.exposure_day[exposed]
        tau = c.response_decay_days
        # probability of responding within [age, age + 1) days of exposure
        p = c.response_rate * pop.receptivity[exposed, CH["campaigns"]] * (np.exp(-age / tau) - np.exp(-(age + 1) / tau))
        # a campaign passed on by a peer carries the peer's endorsement (see ``social``)
        p = np.where(model.shared_exposure[exposed], p * model.cfg.channels.social.shared_response_lift, p)
        u = model.streams.uniform("campaigns.respond", day, exposed)
        resp = exposed[u < np.clip(p, 0, 1)]
        pop.exposure_day[exposed[age > 20 * tau]] = np.nan  # the response window has closed
        if resp.size == 0:
            return
        shared = model.shared_exposure[resp]
        resp_age = day - pop.exposure_day[resp]
        model.sample("campaign_response_age_direct", resp_age[~shared])
        model.sample("campaign_response_age_shared", resp_age[shared])
        pop.exposure_day[resp] = np.nan
        touch(model, resp, "campaigns", c.trust_gain)
        pop.known[resp] = True
        model.metrics.add("new_campaign_responses", resp.size)
        model.metrics.add("new_campaign_responses_shared", int(shared.sum()))
        model.shared_exposure[resp] = False
        make_leads(model, resp, "campaigns")
        if c.sharing:
            u = model.streams.uniform("campaigns.share", day, resp)
            model.share_campaign[resp[u < model.cfg.channels.social.share_prob]] = True
