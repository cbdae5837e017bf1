"""Journey transitions shared by every mechanism: touches, leads, first sales conversations.

One function per transition so that cold calls, inbound leads, introductions and referrals
all move a buyer the same way; mechanisms differ only in whom they reach and how likely the
buyer is to say yes. All functions take buyer index arrays (vectorised, no per-buyer loops).
"""

from __future__ import annotations

import numpy as np

from sim.engine.state import CUSTOMER, DORMANT, ENGAGED, EXPLORING, LOST, SRC
from sim.engine.state import STAGES as STAGE_NAMES


def raise_trust(pop, idx: np.ndarray, gain) -> None:
    """Trust rises by ``gain`` of the distance still to go (``t += g * (1 - t)``): trust saturates,
    so the hundredth touch adds less than the first. Every trust gain in the model goes here."""
    t = pop.trust[idx]
    pop.trust[idx] = t + np.asarray(gain, dtype=np.float32) * (1.0 - t)


def touch(model, idx: np.ndarray, source: str, trust_gain: float = 0.0, progress_gain: float = 0.0,
          organic: bool = False) -> None:
    """A marketing or sales touch: the buyer hears of us, trust and (if in market) progress rise.
    ``organic``: passed on by the market (word of mouth, referrals), not made by the channel itself; it
    matters only to the touch log (``sim.engine.touchlog``), which records the touch if it is on."""
    if idx.size == 0:
        return
    pop = model.pop
    if model.touch_log is not None:
        model.touch_log.add(model, idx, SRC[source], organic)
    new = idx[~pop.aware[idx]]
    pop.aware[new] = True
    pop.day_aware[new] = model.day
    if trust_gain:
        raise_trust(pop, idx, trust_gain)
    if progress_gain:
        active = idx[(pop.stage[idx] == EXPLORING) | (pop.stage[idx] == ENGAGED)]
        pop.progress[active] = np.minimum(pop.progress[active] + progress_gain, 1.0)
    pop.last_touch[idx] = SRC[source]
    pop.touches[idx] += 1
    n = model.metrics.counts(idx)
    model.metrics.add("new_touches", n)
    model.metrics.add(f"new_touches_{source}", n)


def acceptance(model, idx: np.ndarray, discount: float = 0.0, p_max: float | None = None) -> np.ndarray:
    """Probability each buyer accepts a meeting when sales asks today.

    In market: a logistic curve in (progress - personal threshold + discount), so buyers
    accept once they are far enough through their own research; an introduction from a
    trusted tie lowers the bar by ``discount`` (seed 001). With no active need: a small
    constant. Customers and buyers who just bought elsewhere: zero. ``p_max`` replaces
    ``sales.accept_max`` (a buyer who asked for the call accepts with certainty once ready).

    Then the buyer's attitude to us: the odds of saying yes are multiplied by
    ``exp(research.accept_trust * (trust - resentment))``. Trust in us makes a meeting more
    likely; resentment left by unwanted cold calls (see ``annoy``) makes it less likely.
    A probability of 0 or 1 stays as it is.
    """
    pop, s = model.pop, model.cfg.sales
    r = model.cfg.research
    x = (pop.progress[idx] - pop.threshold[idx] + discount) / r.accept_width
    top = s.accept_max if p_max is None else p_max
    floor = min(s.accept_floor, top)
    p = floor + (top - floor) / (1.0 + np.exp(-x))
    stage = pop.stage[idx]
    p = np.where((stage == EXPLORING) | (stage == ENGAGED), p, 0.0)
    p = np.where(stage == DORMANT, s.dormant_accept, p)
    if r.accept_trust:
        odds = np.exp(r.accept_trust * (pop.trust[idx].astype(np.float64) - pop.resentment[idx]))
        p = p * odds / (1.0 - p + p * odds)
    return p


def annoy(model, idx: np.ndarray, amount: float) -> None:
    """An unwanted sales approach: the buyer's attitude to us falls by ``amount``.

    Trust falls first; trust cannot go below zero, so the rest of the fall accrues as
    resentment (a separate per-buyer state, fading at the same daily rate as trust). Wherever
    the buyer's own view of us matters it is trust net of resentment: willingness to take a
    meeting (``acceptance``), to raise a hand (``research``) and the account's choice of vendor
    (``decision``). A buyer who does not know us yet (trust 0) is therefore not immune to
    annoyance.
    """
    if idx.size == 0 or amount <= 0:
        return
    pop = model.pop
    t = pop.trust[idx]
    pop.trust[idx] = np.maximum(t - amount, 0.0)
    pop.resentment[idx] += np.maximum(np.float32(amount) - t, 0.0)


def lead_score(pop, idx: np.ndarray) -> np.ndarray:
    """Marketing's lead score: mean of decision progress and trust in us (0..1)."""
    return 0.5 * (pop.progress[idx] + pop.trust[idx])


def _source_codes(source: str | np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The source code (int8) of each buyer in ``idx``: one source's for all, or the array ``source``."""
    if isinstance(source, str):
        return np.full(idx.shape, SRC[source], dtype=np.int8)
    return np.broadcast_to(np.asarray(source, dtype=np.int8), idx.shape)


def make_leads(model, idx: np.ndarray, source: str | np.ndarray) -> np.ndarray:
    """Hand buyers to sales as leads if the lead score passes the policy threshold; return those who became leads."""
    if idx.size == 0:
        return idx
    pop = model.pop
    src = _source_codes(source, idx)
    ok = (~pop.lead_pending[idx]) & (~pop.engaged[idx]) & (pop.stage[idx] == EXPLORING)
    ok &= lead_score(pop, idx) >= model.cfg.policy.lead_score_threshold
    idx, src = idx[ok], src[ok]
    if idx.size == 0:
        return idx
    pop.lead_pending[idx] = True
    pop.lead_day[idx] = model.day
    pop.lead_source[idx] = src
    pop.known[idx] = True
    model.metrics.count("new_leads", idx)
    model.metrics.add_by_source("new_leads", src, idx)
    return idx


def start_conversations(model, idx: np.ndarray, source: str | np.ndarray, inbound: bool = False) -> None:
    """First sales conversation with each buyer: ENGAGED, and the account gets an open opportunity.

    ``inbound`` conversations answer a lead already counted; outbound ones (cold calls,
    introductions, referrals) also count as a lead of their source.
    """
    if idx.size == 0:
        return
    pop, day = model.pop, model.day
    src = _source_codes(source, idx)
    idx, first = np.unique(idx, return_index=True)
    src = src[first]
    # a meeting at an account with no active need either creates demand (the account starts a
    # buying episode with us at the table) or stays a courtesy call: aware of us, nothing more
    acc = pop.account[idx]
    idle = ~pop.in_market[acc] & ~pop.customer[acc]
    if idle.any():
        cand = np.unique(acc[idle])
        created = cand[model.streams.uniform("sales.demand_creation", day, cand, per="account") < model.cfg.sales.demand_creation]
        if created.size:
            from sim.engine.mechanisms.need import start_episodes

            start_episodes(model, created, metric="new_demand_created")
        keep = ~idle | pop.in_market[acc]  # of the idle accounts, those just put in market are the created ones
        idx, src = idx[keep], src[keep]
        if idx.size == 0:
            return
    if not inbound:
        model.metrics.count("new_leads", idx)
        model.metrics.add_by_source("new_leads", src, idx)
    never = np.isnan(pop.day_first_contact[idx])
    pop.day_first_contact[idx[never]] = day
    pop.progress_at_first_contact[idx[never]] = pop.progress[idx[never]]
    model.sample("progress_at_first_contact", pop.progress[idx[never]], idx[never])
    pop.set_stage(idx, ENGAGED)
    pop.engaged[idx] = True
    pop.lead_pending[idx] = False
    pop.known[idx] = True
    model.metrics.count("new_meetings", idx)
    model.metrics.add_by_source("new_meetings", src, idx)
    if inbound:  # the buyer asked for it (a lead raised by the buyer)
        model.metrics.count("new_meetings_buyer_initiated", idx)
    # the account's opportunity: opened by the first conversation in this episode
    acc = pop.account[idx]
    acc_u, first = np.unique(acc, return_index=True)
    opened = acc_u[~pop.opp[acc_u]]
    if opened.size:
        osrc = src[first][~pop.opp[acc_u]]
        pop.opp[opened] = True
        pop.opp_source[opened] = osrc
        pop.opp_day[opened] = day
        pop.n_meetings[opened] = 0
        pop.owner[opened] = model.sales.assign_owners(opened)
    pop.last_meeting[acc_u] = day
    model.sales.hold_meetings(acc_u)


def close_opportunities(model, acc: np.ndarray, to_stage: int | None = None) -> None:
    """Close the accounts' open conversations; engaged buyers move to ``to_stage`` if given."""
    pop = model.pop
    if acc.size == 0:
        return
    pop.opp[acc] = False
    pop.owner[acc] = -1
    members = pop.members_of(acc)
    if to_stage is not None:
        pop.set_stage(members[pop.stage[members] == ENGAGED], to_stage)
    pop.engaged[members] = False
    pop.lead_pending[members] = False


def set_account_stage(model, acc: np.ndarray, stage: int, from_stages=(DORMANT, EXPLORING, ENGAGED, LOST)) -> np.ndarray:
    """Move every member of accounts ``acc`` whose stage is in ``from_stages`` to ``stage``;
    return the indices of the buyers moved."""
    pop = model.pop
    members = pop.members_of(acc)
    allowed = np.zeros(len(STAGE_NAMES), dtype=bool)
    allowed[list(from_stages)] = True
    members = members[allowed[pop.stage[members]]]
    pop.set_stage(members, stage)
    return members


__all__ = [
    "touch", "acceptance", "annoy", "lead_score", "make_leads", "start_conversations",
    "close_opportunities", "set_account_stage", "CUSTOMER", "LOST",
]
