"""Bass diffusion (Bass 1969): external influence p and imitation q, for docking and validation.

Off unless ``diffusion.p`` or ``diffusion.q`` is positive. Each day an account that is not yet
our customer adopts with probability ``1 - exp(-(p + q * A))``, where ``A`` is the adopted share
it sees: the share of all buyers who are customers (``mixing = "full"``, the Bass model's fully
mixed population) or the tie-weighted share of its members' network neighbours who are
customers (``mixing = "network"``). With one buyer per account and every other mechanism
switched off, the expected adoption curve is the Bass curve
``F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p) e^{-(p+q)t})`` (exact in continuous time; the daily
discretisation error is of order (p+q)/2 per day). Adoptions driven by q are credited to
"referral" (word of mouth), those driven by p to "campaigns" (external influence).
"""

from __future__ import annotations

import numpy as np

from sim.engine.declare import P, Step, flows
from sim.engine.mechanisms.decision import win_accounts
from sim.engine.state import CUSTOMER, SRC

SECTION = "diffusion"
PARAMS = {
    # Bass (1969) diffusion, off by default: used to dock the agent model with the analytic
    # Bass curve (scenarios/bass.toml). Rates are per day.
    "p": P(0.0, "float", 0, 1, "per day: external-influence (innovation) hazard of adopting", "Bass 1969"),
    "q": P(0.0, "float", 0, 10, "per day: internal-influence (imitation) hazard at full adoption", "Bass 1969"),
    "mixing": P("full", "str", unit="who imitates whom", source="Bass 1969 (full); network: Fibich & Gibori 2010", choices=("full", "network")),
}
FLOWS = flows(
    ("new_adoptions", "Bass adoptions", "accounts"),
)
STOCKS = ()


def active(cfg) -> bool:
    return cfg.diffusion.p > 0 or cfg.diffusion.q > 0


def adopted_share(model, acc: np.ndarray):
    """The adopted share the accounts ``acc`` see: one number for everyone under full mixing
    (the share of all buyers who are customers), per account on the network (the tie-weighted
    share of its members' neighbours who are customers)."""
    pop, d = model.pop, model.cfg.diffusion
    if d.mixing == "full":
        if pop.R == 1:
            return np.float32(pop.stage_count[CUSTOMER]) / np.float32(pop.n) if pop.n else 0.0
        n = np.diff(pop.boff).astype(np.float32)  # each replication's own market
        share = np.where(n > 0, pop.stage_counts()[:, CUSTOMER].astype(np.float32) / np.maximum(n, np.float32(1)), np.float32(0))
        return share[pop.arep[acc]]
    seen = model.customer_exposure(pop.stage == CUSTOMER)
    if pop.one_person_accounts:
        return seen[acc] * model.inv_degree[acc]
    return pop.account_mean(seen * model.inv_degree, acc)


def step(model) -> None:
    if not active(model.cfg):
        return
    pop, d, day = model.pop, model.cfg.diffusion, model.day
    cand = np.flatnonzero(~pop.customer)
    if cand.size == 0:
        return
    imit = d.q * adopted_share(model, cand)  # a scalar under full mixing, else one per account
    hazard = d.p + imit
    u = model.streams.uniform("diffusion.adopt", day, cand, per="account")
    p_adopt = -np.expm1(-hazard)
    adopt = u < p_adopt
    if not adopt.any():
        return
    won = cand[adopt]
    # which force made the adoption: split the same uniform draw in proportion to the two hazards
    wom_share = p_adopt * (imit / np.maximum(hazard, 1e-300))
    by_wom = u[adopt] < (wom_share[adopt] if np.ndim(wom_share) else wom_share)
    src = np.where(by_wom, SRC["referral"], SRC["campaigns"]).astype(np.int8)
    win_accounts(model, won, src)
    model.metrics.count("new_adoptions", won, per="account")


STEPS = (Step(700, "diffusion", "Bass adoption by external influence and imitation (off unless p or q > 0)", step),)
