"""Journey transitions shared by every mechanism: touches, leads, first sales conversations.

One function per transition so that cold calls, inbound leads, introductions and referrals
all move a buyer the same way; mechanisms differ only in whom they reach and how likely the
buyer is to say yes. All functions take buyer index arrays (vectorised, no per-buyer loops).
"""

from __future__ import annotations

import numpy as np

from sim.engine.stages import close_opportunities, set_account_stage  # noqa: F401  (re-exported: their old home)
from sim.engine.state import CUSTOMER, DORMANT, ENGAGED, EXPLORING, LOST, SRC  # noqa: F401  (CUSTOMER, LOST: re-exported)


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
    """Hand-raisers whose lead score passes the policy threshold go to sales, counted as a CRM counts them.

    A buying episode at an account is one lead record, whoever raises it (a CRM matches leads to accounts):
    a colleague at an account already in conversation with us joins that opportunity as a contact
    (``join_opportunity``); one at an account whose lead is waiting for a rep is added to that lead; of
    several at one account on one day, the first is the lead's contact. A lead re-queued later in the same
    episode (after a fumble, or a lead that expired) is the same record: ``new_leads`` counts each episode's
    record once. Returns the buyers whose lead record was created today.
    """
    if idx.size == 0:
        return idx
    pop = model.pop
    src = _source_codes(source, idx)
    ok = (~pop.lead_pending[idx]) & (~pop.engaged[idx]) & (pop.stage[idx] == EXPLORING)
    ok &= lead_score(pop, idx) >= model.cfg.policy.lead_score_threshold
    idx, src = idx[ok], src[ok]
    if idx.size == 0:
        return idx
    pop.known[idx] = True  # every hand-raiser is a contact in our database
    acc = pop.account[idx]
    joins = pop.opp[acc]
    if joins.any():
        join_opportunity(model, idx[joins], buyer_initiated=True)
        idx, src, acc = idx[~joins], src[~joins], acc[~joins]
    if not pop.one_person_accounts and idx.size:
        fresh = ~pop.account_any(pop.lead_pending, acc)  # no lead of a colleague waiting for a rep
        idx, src, acc = idx[fresh], src[fresh], acc[fresh]
        acc, first = np.unique(acc, return_index=True)
        idx, src = idx[first], src[first]
    if idx.size == 0:
        return idx
    pop.lead_pending[idx] = True
    pop.lead_outbound[idx] = False
    pop.lead_day[idx] = model.day
    pop.lead_source[idx] = src
    return _open_lead_records(model, idx, src)


def _open_lead_records(model, idx: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Count a lead record for each buyer's account that has none in this episode yet; return those buyers."""
    pop = model.pop
    acc = pop.account[idx]
    new = ~pop.lead_record[acc]
    idx, src = idx[new], src[new]
    pop.lead_record[acc[new]] = True
    model.metrics.count("new_leads", idx)
    model.metrics.add_by_source("new_leads", src, idx)
    return idx


def first_contact(model, idx: np.ndarray) -> None:
    """Each buyer's first conversation with our sales, ever (a per-person fact): its day and progress."""
    pop = model.pop
    never = idx[np.isnan(pop.day_first_contact[idx])]
    pop.day_first_contact[never] = model.day
    pop.progress_at_first_contact[never] = pop.progress[never]
    model.sample("progress_at_first_contact", pop.progress[never], never)


def join_opportunity(model, idx: np.ndarray, buyer_initiated: bool = False) -> None:
    """Buyers at accounts already in conversation with us join the open opportunity as contacts: engaged,
    their first contact recorded, and no lead, meeting or rep slot of their own (the account's next meeting
    is theirs too)."""
    if idx.size == 0:
        return
    pop = model.pop
    first_contact(model, idx)
    pop.set_stage(idx, ENGAGED)
    pop.engaged[idx] = True
    pop.lead_pending[idx] = False
    pop.lead_outbound[idx] = False
    pop.known[idx] = True
    model.metrics.count("new_contacts_joined", idx)
    if buyer_initiated:
        model.metrics.count("new_contacts_joined_buyer_initiated", idx)


def start_conversations(model, idx: np.ndarray, source: str | np.ndarray, inbound: bool | np.ndarray = False) -> np.ndarray:
    """Buyers who said yes to a conversation with our sales: each account's first one opens (or reopens) its
    opportunity with a meeting, which takes a rep's meeting slot; colleagues join it as contacts.

    ``inbound``: the conversation answers a lead already worked by a rep (its slot booked in the lead queue);
    a buyer-raised lead unless the lead is an outbound yes (``pop.lead_outbound``).
    Outbound yeses (cold calls, introductions, referrals) open a lead record of their source and go on the
    sales calendar: the same queue as raised hands, worked once a day by ``sales.step`` after the follow-ups
    due, in the policy's order (``policy.lead_queue``) whatever the channel, so the channel that runs first in the day takes no rep's
    time from the others, and a team with no meeting hours opens no conversation from any channel. Returns
    the buyers whose meeting opened a conversation now (none for an outbound yes: its meeting is held when a
    rep's slot comes).
    """
    if idx.size == 0:
        return idx
    pop, day = model.pop, model.day
    src = _source_codes(source, idx)
    inb = np.broadcast_to(np.asarray(inbound, dtype=bool), idx.shape)
    idx, first = np.unique(idx, return_index=True)
    src, inb = src[first], inb[first]
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
        idx, src, inb, acc = idx[keep], src[keep], inb[keep], acc[keep]
    # colleagues at an account already in conversation join it; of several at one account, the first opens it
    joins = pop.opp[acc]
    acc_u, first = np.unique(acc[~joins], return_index=True)
    opener = np.zeros(idx.size, dtype=bool)
    opener[np.flatnonzero(~joins)[first]] = True
    out = ~inb & opener
    if out.any():  # outbound: a lead record of its source, and a place on the sales calendar (sales.step)
        w, s = idx[out], src[out]  # one per account already (the account's opener)
        _open_lead_records(model, w, s)
        pop.known[w] = True
        # one lead in the queue per account: a buyer (or a colleague) already waiting keeps the place and source
        queued = ~pop.account_any(pop.lead_pending, pop.account[w])
        w, s = w[queued], s[queued]
        model.metrics.add_by_source("new_meetings_booked", s, w)
        pop.lead_pending[w] = True
        pop.lead_outbound[w] = True
        pop.lead_day[w] = day
        pop.lead_source[w] = s
        opener[out] = False
    joiners = idx[~opener & (joins | np.isin(acc, acc[opener]))]
    idx, src, inb, acc = idx[opener], src[opener], inb[opener], acc[opener]
    if idx.size:
        buyer_asked = inb & ~pop.lead_outbound[idx]
        first_contact(model, idx)
        pop.set_stage(idx, ENGAGED)
        pop.engaged[idx] = True
        pop.lead_pending[idx] = False
        pop.lead_outbound[idx] = False
        pop.known[idx] = True
        model.metrics.count("new_meetings", idx)
        model.metrics.add_by_source("new_meetings", src, idx)
        model.metrics.count("new_meetings_buyer_initiated", idx[buyer_asked])
        # the episode's opening contact, once per episode (a per-purchase fact, recorded when the episode ends)
        fresh = np.isnan(pop.contact_progress[acc])
        pop.contact_progress[acc[fresh]] = pop.progress[idx[fresh]]
        pop.contact_inbound[acc[fresh]] = buyer_asked[fresh]
        pop.opp[acc] = True
        pop.opp_source[acc] = src
        pop.opp_day[acc] = day
        pop.n_meetings[acc] = 0
        pop.owner[acc] = model.sales.assign_owners(acc)
        model.sales.hold_meetings(acc)
    join_opportunity(model, joiners)
    return idx


__all__ = [
    "touch", "acceptance", "annoy", "lead_score", "make_leads", "start_conversations", "join_opportunity",
    "first_contact",
    "close_opportunities", "set_account_stage", "CUSTOMER", "LOST",
]
