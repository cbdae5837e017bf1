"""Mechanism 3, content (inbound): a depreciating content stock and share of voice.

Production spend adds assets (``budget / cost_per_asset``) to a stock that loses pull with a
half-life (a Nerlove-Arrow goodwill stock). Each day an exploring buyer searches with
probability ``research.search_intensity`` and finds us with probability ``find_rate`` times
our share of voice (our stock over ours plus competitors'), scaled by the buyer's
receptivity to content. A visit raises awareness, trust (expertise shown) and progress;
some visits fill a form (gated content) and the buyer becomes a known contact for nurture;
some visitors share the content with peers (see ``social``).
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.state import CH, EXPLORING
from sim.engine.transitions import touch


class Content(Channel):
    name = "content"

    def __init__(self, model):
        super().__init__(model)
        self.stock = float(self.cfg.initial_stock)
        self.keep = 0.5 ** (1.0 / self.cfg.half_life_days)

    def share_of_voice(self) -> float:
        comp = self.model.cfg.competitors.content_stock
        return self.stock / (self.stock + comp) if self.stock + comp > 0 else 0.0

    def step(self, model) -> None:
        c, pop, day = self.cfg, model.pop, model.day
        self.pay_overhead()
        spend = self.daily_budget()
        self.spend(spend)
        self.stock = self.stock * self.keep + spend / c.cost_per_asset
        model.metrics.set("n_content_stock", self.stock)
        model.metrics.set("share_of_voice", self.share_of_voice())
        if pop.stage_count[EXPLORING] == 0:
            return
        idx = np.flatnonzero(pop.stage == EXPLORING)
        u = model.streams.uniform("content.search", day, idx)
        idx = idx[u < model.cfg.research.search_intensity]
        p = np.clip(c.find_rate * self.share_of_voice() * pop.receptivity[idx, CH["content"]], 0, 1)
        u = model.streams.uniform("content.find", day, idx)
        found = idx[u < p]
        if found.size == 0:
            return
        touch(model, found, "content", c.trust_gain, c.progress_gain)
        model.metrics.add("new_content_visits", found.size)
        u = model.streams.uniform("content.gate", day, found)
        pop.known[found[u < c.gate_rate]] = True
        u = model.streams.uniform("content.share", day, found)
        model.share_content[found[u < model.cfg.channels.social.share_prob]] = True
