"""Mechanism 2, self-directed research: buyers make up their minds mostly without us.

Exploring (and engaged) buyers gain decision progress every day at a personal speed, faster
when their colleagues and peers are also researching or already use a product (peer
influence via the network). A buyer who is past a personal readiness threshold, is aware of
us and trusts us enough (net of resentment from unwanted calls) may raise a hand; a raised
hand is attributed to the channel that touched the buyer last and becomes a lead if it passes
the lead-score policy.
"""

from __future__ import annotations

import numpy as np

from sim.engine.state import CH, CUSTOMER, ENGAGED, EXPLORING, SRC
from sim.engine.transitions import make_leads


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
        model.metrics.add("new_hand_raises", raised.size)
        make_leads(model, raised, src)
    fade_trust(pop, cfg)


def fade_trust(pop, cfg) -> None:
    """Trust in us, and resentment of unwanted calls, fade slowly without contact (after today's
    hand raises)."""
    keep = np.float32(1.0 - cfg.trust_decay)
    pop.trust *= keep
    pop.resentment *= keep
