"""Self-directed research: buyers make up their minds mostly without us.

Exploring (and engaged) buyers gain decision progress every day at a personal speed, faster
when their colleagues and peers are also researching or already use a product (peer
influence via the network). A buyer who is past a personal readiness threshold, is aware of
us and trusts us enough (net of resentment from unwanted calls) may raise a hand; a raised
hand is attributed to the channel that touched the buyer last and becomes a lead if it passes
the lead-score policy.
"""

from __future__ import annotations

import numpy as np

from sim.engine.declare import P, Step, flows
from sim.engine.state import CH, CUSTOMER, ENGAGED, EXPLORING, SRC
from sim.engine.transitions import make_leads

SECTION = "research"
PARAMS = {
    "search_intensity": P(0.5, "float", 0, 1, "daily probability an exploring buyer searches the web", "seed 003: buyers surf vendor sites and content"),
    "peer_boost": P(0.5, "float", 0, 10, "research speed-up when all peers are exploring or customers", "seed 003: buyers engage peers in social media"),
    "hand_raise_rate": P(0.15, "float", 0, 1, "daily probability a ready, trusting buyer contacts us", "assumption"),
    "hand_raise_trust": P(0.3, "float", 0, 1, "trust in us (net of resentment) needed to contact us", "assumption"),
    "trust_decay": P(0.002, "float", 0, 1, "daily relative decay of trust towards zero", "assumption: goodwill decay (Nerlove & Arrow 1962)"),
    "accept_width": P(0.08, "float", 0.001, 1, "logistic width of meeting acceptance around the threshold", "assumption"),
    "accept_trust": P(2.0, "float", 0, 20, "log-odds of accepting a meeting per unit of trust in us, net of resentment from unwanted calls",
                      "assumption: seed 001 (a prospect takes a meeting through someone they trust); trust 0.35, a typical transferred trust, doubles the odds, in line with practitioner reports that warm introductions convert several times better than cold outreach"),
}
FLOWS = flows(
    ("new_hand_raises", "buyers who contacted us", "buyers"),
)
STOCKS = ()


def step(model) -> None:
    pop, cfg, day = model.pop, model.cfg.research, model.day
    if pop.stage_count[EXPLORING] + pop.stage_count[ENGAGED] == 0:
        fade_trust(pop, cfg)
        return
    active = (pop.stage == EXPLORING) | (pop.stage == ENGAGED)
    idx = np.flatnonzero(active)
    # peers: share of a buyer's tie weight on people who are researching or are customers
    peer_frac = model.peer_exposure(active | (pop.stage == CUSTOMER))[idx] / np.maximum(model.degree[idx], 1e-9)
    u = model.streams.uniform("research.progress", day, idx)
    gain = pop.speed[idx] * (0.5 + u) * (1.0 + cfg.peer_boost * peer_frac)
    pop.progress[idx] = np.minimum(pop.progress[idx] + gain, 1.0)

    # raising a hand
    cand = idx[(pop.stage[idx] == EXPLORING) & pop.aware[idx] & ~pop.lead_pending[idx] & ~pop.engaged[idx]]
    cand = cand[(pop.progress[cand] >= pop.threshold[cand]) & (pop.trust[cand] - pop.resentment[cand] >= cfg.hand_raise_trust)]
    if cand.size:
        u = model.streams.uniform("research.hand_raise", day, cand)
        p = np.clip(cfg.hand_raise_rate * pop.receptivity[cand, CH["content"]], 0, 1)
        raised = cand[u < p]
        src = pop.last_touch[raised]
        src = np.where(src < 0, SRC["content"], src).astype(np.int8)
        model.metrics.count("new_hand_raises", raised)
        make_leads(model, raised, src)
    fade_trust(pop, cfg)


def fade_trust(pop, cfg) -> None:
    """Trust in us, and resentment of unwanted calls, fade slowly without contact (after today's
    hand raises)."""
    keep = np.float32(1.0 - cfg.trust_decay)
    pop.trust *= keep
    pop.resentment *= keep


STEPS = (Step(400, "research", "self-directed research progress; ready, trusting buyers raise a hand (leads)", step),)
