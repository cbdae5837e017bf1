"""Mechanism 7, social sharing and word of mouth over the network (sparse matrix products).

* Sharing: buyers who engaged with our content or a campaign today and chose to share
  (``share_prob``) expose their ties: a buyer's chance of hearing of it is
  ``1 - exp(-wom_rate * shared tie weight)``. Shared campaigns start a fresh response clock
  for the peer, who responds ``shared_response_lift`` times as readily as to a paid exposure
  (the long tail); shared content is a content touch.
* Social selling: rep social hours and sponsored posts reach people the reps know and their
  ties, adding awareness and a little trust.
* Word of mouth: advocates raise their peers' trust and awareness every day; churned
  customers (detractors) lower it.
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.network import Exposure, spread
from sim.engine.state import CUSTOMER
from sim.engine.transitions import touch


class Social(Channel):
    name = "social"

    def step(self, model) -> None:
        c, pop, day, st = self.cfg, model.pop, model.day, model.streams
        not_cust = pop.stage != CUSTOMER
        # sharing of content and campaigns
        for kind, flag in (("content", model.share_content), ("campaigns", model.share_campaign)):
            if flag.any():
                reached, e = spread(model.W, np.flatnonzero(flag))
                ok = (e > 0) & not_cust[reached] & ~flag[reached]
                cand, e = reached[ok], e[ok]
                u = st.uniform(f"social.hear_{kind}", day, cand)
                heard = cand[u < -np.expm1(-c.wom_rate * e)]
                model.metrics.add(f"new_shared_{kind}", heard.size)
                if kind == "content":
                    cc = model.cfg.channels.content
                    touch(model, heard, "content", cc.trust_gain, cc.progress_gain)
                else:
                    heard = heard[np.isnan(pop.exposure_day[heard])]
                    # the campaign step has already run today: the peer's response clock starts
                    # tomorrow at age 0, so no part of the response window is skipped
                    pop.exposure_day[heard] = day + 1
                    model.shared_exposure[heard] = True
                    touch(model, heard, "social")
                flag[:] = False

        # social selling by reps, plus sponsored posts paid from the budget
        hours = model.sales.hours("social")
        model.sales.use_hours("social", hours)
        self.pay_overhead()
        self.spend(self.daily_budget())
        reach = int(hours * c.reach_per_hour + self.daily_budget() / c.cost_per_reach)
        if reach > 0:
            pool = (pop.rep_tie | (model.tie_exposure(pop.rep_tie) > Exposure.EPS)) & not_cust
            if np.count_nonzero(pool) < reach:  # sponsored posts also reach beyond the reps' circles
                pool = not_cust
            hit = st.sample("social.reach", day, pool, reach)
            touch(model, hit, "social", c.trust_gain)
            model.metrics.add("new_social_reach", hit.size)

        # word of mouth from advocates and detractors
        det = pop.detractor_until > day
        if pop.advocate.any() or det.any():
            e_adv = model.advocate_exposure(pop.advocate)
            delta = c.advocate_trust * e_adv - c.detractor_trust * model.detractor_exposure(det)
            pop.trust[:] = np.clip(pop.trust + delta, 0.0, 1.0)
            cand = np.flatnonzero((e_adv > Exposure.EPS) & ~pop.aware)
            u = st.uniform("social.advocate_awareness", day, cand)
            touch(model, cand[u < -np.expm1(-c.advocate_awareness * e_adv[cand])], "referral")
