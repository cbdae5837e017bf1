"""Paid search: demand capture. It reaches only buyers who are already researching, on the days they
search, and is paid per click at a price that rises with the competitors bidding for the same buyers.

Each day an exploring buyer searches with probability ``research.search_intensity`` (drawn from
this channel's own stream, ``paid_search.search``: content's search draws are content's) and, if our
ad shows, clicks with probability ``click_rate`` times their receptivity to paid search. A click on
a buyer of segment s costs ``cost_per_click * (1 + competitor_bid_pressure * n_competitors_s / 5)``:
in the keyword auction the price we pay is set by the bids under ours, so more vendors on the
buyer's shortlist bid it up (a linear rise is an assumption). The ad shows until the day's budget
(``budget / 365``; unspent budget is not carried over) is spent: the day's would-be clicks are
served in a random order (``paid_search.pace``) and those past the budget are lost. A click raises
awareness, trust and progress; a ready clicker (progress past their threshold) asks for a demo with
probability ``lead_rate``, a lead if it passes the lead score.

Attribution: its touches, leads and deals carry their own source, "paid_search" (``deals_paid_search``,
``new_leads_paid_search``); ``new_paid_search_clicks`` and ``new_paid_search_leads`` count its activity.
"""

from __future__ import annotations

import numpy as np

from sim.engine.channels import Channel
from sim.engine.declare import P, Step, flows, stocks
from sim.engine.state import CH, EXPLORING, SEGMENTS
from sim.engine.transitions import make_leads, touch

#: the lead source its touches and leads are attributed to
SOURCE = "paid_search"

SECTION = "channels.paid_search"
PARAMS = {
    "budget": P(0.0, "float", 0, None, "$ per year on search ads (clicks)", "strategy"),
    "fixed_cost": P(3_000.0, "float", 0, None, "$ per year while active (bid management, landing pages)", "assumption"),
    "cost_per_click": P(5.0, "float", 0.01, None, "$ per click with no competitor bidding on the buyer's keywords",
                        "assumption: with the default pressure this gives $7-8 per click, within the $5-15 practitioners report "
                        "for B2B software keywords (WordStream Google Ads industry benchmarks: ~$3-6 averages over all B2B and technology keywords)"),
    "competitor_bid_pressure": P(0.5, "float", 0, 10, "relative rise of the cost per click per 5 competitors on the buyer's shortlist "
                                 "(market.segments.*.n_competitors)",
                                 "assumption: in a second-price keyword auction more bidders raise the clearing price (Edelman, Ostrovsky & Schwarz 2007); linear"),
    "click_rate": P(0.05, "float", 0, 1, "chance a searching buyer clicks our ad that day (at receptivity 1)",
                    "WordStream Google Ads benchmarks: search CTR ~3-5%; one impression per searching day (assumption)"),
    "trust_gain": P(0.02, "float", 0, 1, "trust added per click (a landing page, thinner than a content visit)", "assumption"),
    "progress_gain": P(0.01, "float", 0, 1, "decision progress added per click", "assumption: as a content visit (seed 003)"),
    "lead_rate": P(0.2, "float", 0, 1, "chance a ready clicker asks for a demo", "assumption"),
}
FLOWS = flows(
    ("new_paid_search_clicks", "clicks on our search ads", "clicks"),
    ("new_paid_search_lost_clicks", "clicks lost because the day's search budget was spent", "clicks"),
    ("new_paid_search_leads", "demo requests from search clicks (leads, attributed to content)", "buyers"),
)
STOCKS = stocks(
    ("paid_search_cpc", "mean cost per click paid today (0 without clicks)", "$ per click"),
)
STEPS = (Step(305, "paid_search", "search ads: searching, exploring buyers click; paid per click within the day's budget"),)
#: what switches the channel off: with these values (and no rep time on it) a run is
#: byte-identical to one without the channel (the channel contract, tests/test_channels.py)
OFF = {"budget": 0.0}
#: the reps' activity (sales.split) this channel spends, if any
REP_ACTIVITY = None


class PaidSearch(Channel):
    name = "paid_search"

    def __init__(self, model):
        super().__init__(model)
        segments = model.cfg.market.segments
        n_competitors = np.array([getattr(segments, s).n_competitors for s in SEGMENTS], dtype=float)
        #: $ per click for a buyer of each segment (index into SEGMENTS)
        self.cpc_by_segment = self.cfg.cost_per_click * (1.0 + self.cfg.competitor_bid_pressure * n_competitors / 5.0)

    def step(self, model) -> None:
        c, pop, day = self.cfg, model.pop, model.day
        if not self.active:  # no budget: the ad never shows
            return
        self.pay_overhead()
        if pop.stage_count[EXPLORING] == 0:
            return
        idx = np.flatnonzero(pop.stage == EXPLORING)
        u = model.streams.uniform("paid_search.search", day, idx)
        idx = idx[u < model.cfg.research.search_intensity]
        p = np.clip(c.click_rate * pop.receptivity[idx, CH["paid_search"]], 0, 1)
        u = model.streams.uniform("paid_search.click", day, idx)
        clickers = idx[u < p]
        if clickers.size == 0:
            return
        # the ad shows until the day's budget is spent: would-be clicks in a random order, a prefix paid
        # (in each replication: its own budget and clicks)
        pace = model.streams.uniform("paid_search.pace", day, clickers)
        cut = np.searchsorted(clickers, pop.boff)
        paid, cost = [], np.zeros(pop.R)
        for r in range(pop.R):
            mine = clickers[cut[r]:cut[r + 1]]
            order = np.argsort(pace[cut[r]:cut[r + 1]], kind="stable")
            cpc = self.cpc_by_segment[pop.bseg[mine[order]]]
            n = int(np.count_nonzero(np.cumsum(cpc) <= self.daily_budget()))
            paid.append(mine[order[:n]])
            cost[r] = float(cpc[:n].sum())
        clicked = np.sort(np.concatenate(paid))
        n = pop.per_rep(clicked)
        model.metrics.add("new_paid_search_lost_clicks", pop.per_rep(clickers) - n)
        if clicked.size == 0:
            return
        self.spend(cost)
        model.metrics.add("new_paid_search_clicks", n)
        model.metrics.set("paid_search_cpc", np.where(n > 0, cost / np.maximum(n, 1), 0.0))
        touch(model, clicked, SOURCE, c.trust_gain, c.progress_gain)
        ready = clicked[pop.progress[clicked] >= pop.threshold[clicked]]
        u = model.streams.uniform("paid_search.lead", day, ready)
        model.metrics.count("new_paid_search_leads", make_leads(model, ready[u < c.lead_rate], SOURCE))
