"""Content (inbound): a depreciating content stock and share of voice.

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
from sim.engine.declare import P, Step, flows, stocks
from sim.engine.state import CH, EXPLORING
from sim.engine.transitions import touch

SECTION = "channels.content"
PARAMS = {
    "budget": P(0.0, "float", 0, None, "$ per year on content production", "strategy"),
    "fixed_cost": P(20_000.0, "float", 0, None, "$ per year while active (tools, SEO)", "assumption"),
    "cost_per_asset": P(2_500.0, "float", 1, None, "$ per content asset", "assumption: agency rates for a whitepaper/article"),
    "initial_stock": P(20.0, "float", 0, None, "content assets live at day 0", "assumption"),
    "half_life_days": P(180.0, "float", 1, None, "days for an asset's pull to halve", "assumption: content decay; Nerlove-Arrow goodwill stock"),
    "find_rate": P(0.6, "float", 0, 1, "chance a search finds us at 100% share of voice", "assumption"),
    "trust_gain": P(0.04, "float", 0, 1, "trust added per content visit", "seed 000: trust = intent + expertise"),
    "progress_gain": P(0.01, "float", 0, 1, "decision progress added per visit", "seed 003"),
    "gate_rate": P(0.08, "float", 0, 1, "share of visits that fill a form (become known contacts)", "assumption: gated content conversion"),
}
FLOWS = flows(
    ("new_content_visits", "content visits", "buyers"),
)
STOCKS = stocks(
    ("n_content_stock", "content assets live (depreciated)", "assets"),
    ("share_of_voice", "our share of the content in the category", "share"),
)
STEPS = (Step(300, "content", "content stock, search and visits"),)
#: what switches the channel off: with these values (and no rep time on it) a run is
#: byte-identical to one without the channel (the channel contract, tests/test_channels.py)
OFF = {"budget": 0.0, "initial_stock": 0.0}
#: the reps' activity (sales.split) this channel spends, if any
REP_ACTIVITY = None


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
        model.metrics.count("new_content_visits", found)
        u = model.streams.uniform("content.gate", day, found)
        pop.known[found[u < c.gate_rate]] = True
        u = model.streams.uniform("content.share", day, found)
        model.share_content[found[u < model.cfg.word_of_mouth.share_prob]] = True
