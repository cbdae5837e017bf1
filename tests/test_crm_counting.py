"""The funnel counted as a CRM counts it: one lead record per buying episode at an account, colleagues as
contacts on it, every opening meeting on a rep's calendar, and cold calling's dial -> connect -> conversation
-> meeting steps. Known-answer tests on a model whose state is set by hand, then whole runs."""

import numpy as np
import pytest
from scipy import stats

import sim
from sim.engine.state import ENGAGED, EXPLORING
from sim.engine.transitions import make_leads, start_conversations


def _model_with_group(small, strategy="content_nurture"):
    """A model after its first day, and an account with at least three members, put in market with every
    member past the lead-score threshold (trust and progress 1)."""
    m = sim.JourneyModel(small, strategy=strategy, seed=3)
    m.step()
    pop = m.pop
    acc = int(np.flatnonzero((pop.group_size >= 3) & ~pop.customer & ~pop.in_market & ~pop.opp)[0])
    from sim.engine.mechanisms.need import start_episodes

    start_episodes(m, np.array([acc]))
    members = pop.members_of(np.array([acc]))
    pop.progress[members] = 0.9
    pop.trust[members] = 0.9
    m.sales.plan_day()  # today's meeting slots
    m.counted_before = {k: float(v[m.metrics.day].sum()) for k, v in m.metrics.cols.items()}
    return m, acc, members


def _count(m, name):
    """What the test's own moves added to today's count of ``name``."""
    return float(m.metrics.cols[name][m.metrics.day].sum()) - m.counted_before[name]


def test_a_colleagues_hand_raise_at_an_account_with_an_open_opportunity_creates_no_lead(small):
    m, acc, members = _model_with_group(small)
    pop = m.pop
    first = make_leads(m, members[:1], "content")
    assert first.tolist() == [members[0]] and _count(m, "new_leads") == 1
    start_conversations(m, members[:1], "content", inbound=True)  # the rep meets the lead: the opportunity opens
    assert pop.opp[acc] and pop.stage[members[0]] == ENGAGED
    assert _count(m, "new_meetings") == 1
    leads_before, meetings_before = _count(m, "new_leads"), _count(m, "new_meetings")
    slots_before = m.sales.slots.sum()
    out = make_leads(m, members[1:2], "content")  # a colleague raises a hand
    assert out.size == 0
    assert _count(m, "new_leads") == leads_before  # no new lead ...
    assert _count(m, "new_meetings") == meetings_before  # ... no new meeting ...
    assert m.sales.slots.sum() == slots_before  # ... and no rep slot: the colleague is a contact on the deal
    assert pop.stage[members[1]] == ENGAGED and pop.engaged[members[1]] and not pop.lead_pending[members[1]]
    assert _count(m, "new_contacts_joined") == 1 and _count(m, "new_contacts_joined_buyer_initiated") == 1
    assert np.isfinite(pop.day_first_contact[members[1]])  # her own first contact, as a person


def test_a_colleagues_hand_raise_while_the_accounts_lead_waits_is_added_to_that_lead(small):
    m, acc, members = _model_with_group(small)
    pop = m.pop
    make_leads(m, members[:1], "content")
    out = make_leads(m, members[1:3], "email")  # two colleagues, while the first lead waits for a rep
    assert out.size == 0 and _count(m, "new_leads") == 1
    assert pop.lead_pending[members[0]] and int(pop.lead_pending[members].sum()) == 1  # one lead in the queue
    assert pop.known[members[:3]].all()  # the colleagues are contacts in the database


def test_several_hand_raises_at_one_account_on_one_day_are_one_lead(small):
    m, acc, members = _model_with_group(small)
    out = make_leads(m, members, "content")
    assert out.size == 1 and _count(m, "new_leads") == 1
    assert int(m.pop.lead_pending[members].sum()) == 1


def test_a_lead_requeued_in_the_same_episode_is_the_same_record(small):
    """A lead that expired (or was worked without a meeting) and is raised again in the same episode opens no
    second record; a new episode at the account opens a new one."""
    m, acc, members = _model_with_group(small)
    pop = m.pop
    make_leads(m, members[:1], "content")
    pop.lead_pending[members[0]] = False  # the rep worked it, no meeting
    make_leads(m, members[:1], "content")
    assert pop.lead_pending[members[0]] and _count(m, "new_leads") == 1
    from sim.engine.mechanisms.decision import end_without_decision
    from sim.engine.mechanisms.need import start_episodes

    end_without_decision(m, np.array([acc]))
    start_episodes(m, np.array([acc]))
    pop.progress[members] = 0.9
    make_leads(m, members[:1], "content")
    assert _count(m, "new_leads") == 2


def _another_account(m, taken):
    """A second idle account with at least three members, put in market, its members ready (as above)."""
    pop = m.pop
    free = (pop.group_size >= 3) & ~pop.customer & ~pop.in_market & ~pop.opp
    free[list(taken)] = False
    acc = int(np.flatnonzero(free)[0])
    from sim.engine.mechanisms.need import start_episodes

    start_episodes(m, np.array([acc]))
    members = pop.members_of(np.array([acc]))
    pop.progress[members] = 0.9
    pop.trust[members] = 0.9
    return acc, members


def test_an_outbound_yes_goes_on_the_sales_calendar_and_is_held_when_the_queue_is_worked(small):
    """A cold-call yes opens a lead record of its source and waits in the lead queue with the raised hands:
    no meeting, no slot, until the sales step works the queue; agreed that day, its meeting is then held
    without a second reach or accept draw, and is not counted as raised by the buyer."""
    m, acc, members = _model_with_group(small, strategy="cold_calling")
    pop = m.pop
    slots = m.sales.slots.sum()
    opened = start_conversations(m, members[:1], "cold_calling")
    assert opened.size == 0 and not pop.opp[acc] and m.sales.slots.sum() == slots
    assert pop.lead_pending[members[0]] and pop.lead_outbound[members[0]]
    assert _count(m, "new_leads") == 1 and _count(m, "new_meetings") == 0
    assert _count(m, "new_meetings_booked_cold_calling") == 1  # booked, as the dialing benchmarks count it
    start_conversations(m, members[1:2], "cold_calling")  # a colleague's yes on the same day: the same lead
    assert int(pop.lead_pending[members].sum()) == 1 and _count(m, "new_leads") == 1
    assert _count(m, "new_meetings_booked_cold_calling") == 1
    m.sales.step()
    assert pop.opp[acc] and _count(m, "new_meetings") == 1 and _count(m, "new_sales_meetings") == 1
    assert _count(m, "new_meetings_buyer_initiated") == 0 and _count(m, "new_leads") == 1
    assert not pop.contact_inbound[acc]
    assert "lead_delay_days" not in m.samples()  # speed to lead is measured on raised hands only


def test_follow_ups_due_take_the_slots_before_any_first_meeting_whatever_the_channel(small):
    """The day's order gives no channel a rep's time first: an opportunity due its follow-up gets the last
    slot, and the outbound yes agreed earlier in the day waits."""
    m, acc, members = _model_with_group(small)
    pop = m.pop
    make_leads(m, members[:1], "content")
    start_conversations(m, members[:1], "content", inbound=True)  # an open opportunity ...
    pop.last_meeting[acc] = m.day - m.cfg.sales.meeting_cadence_days  # ... due its next meeting today
    owner = int(pop.owner[acc])
    acc2, members2 = _another_account(m, {acc})
    start_conversations(m, members2[:1], "cold_calling")
    m.sales.slots[:] = 0.0
    m.sales.slots[owner] = 1.0  # one slot left in the whole team, the owner's
    followups = _count(m, "new_followups")
    m.sales.step()
    assert _count(m, "new_followups") == followups + 1 and pop.last_meeting[acc] == m.day
    assert pop.lead_pending[members2[0]] and not pop.opp[acc2]  # the yes waits for tomorrow's slots


@pytest.mark.parametrize("order", ["freshest", "oldest"])
def test_the_lead_queue_is_worked_in_the_policys_order(small, order):
    """policy.lead_queue: with one slot, 'freshest' works the lead that came in last, 'oldest' the first."""
    m, acc, members = _model_with_group(small.with_overrides({"policy.lead_queue": order}))
    pop = m.pop
    acc2, members2 = _another_account(m, {acc})
    make_leads(m, members[:1], "content")
    pop.lead_day[members[0]] = m.day - 2  # came in two days ago
    make_leads(m, members2[:1], "content")  # came in today
    m.sales.slots[:] = 0.0
    m.sales.slots[0] = 1.0
    m.sales.step()
    worked = members2[0] if order == "freshest" else members[0]
    waiting = members[0] if order == "freshest" else members2[0]
    assert not pop.lead_pending[worked] and pop.lead_pending[waiting]


def test_the_episodes_opening_contact_is_recorded_once_per_purchase(small):
    m, acc, members = _model_with_group(small)
    pop = m.pop
    pop.progress[members[0]] = 0.42
    make_leads(m, members[:1], "content")
    start_conversations(m, members[:1], "content", inbound=True)
    make_leads(m, members[1:2], "content")  # joins later, at another progress
    assert pop.contact_progress[acc] == pytest.approx(0.42) and pop.contact_inbound[acc]
    from sim.engine.mechanisms.decision import end_without_decision

    end_without_decision(m, np.array([acc]))
    s = m.samples()
    assert s["purchase_progress_at_first_contact"].tolist() == pytest.approx([0.42])
    assert s["purchase_first_contact_buyer_initiated"].tolist() == [1.0]


NO_MEETING_HOURS = {"sales.split.dialing": 0.5, "sales.split.meetings": 0.0, "sales.split.networking": 0.5,
                    "sales.split.social": 0.0}


def test_a_team_with_no_meeting_hours_books_no_first_meeting_from_any_channel(small):
    """Inbound leads, cold calls, introductions and referrals all need a rep's meeting slot."""
    busy = small.with_overrides({"channels.cold_calling.budget": 20_000.0, "channels.networking.budget": 20_000.0,
                                 **NO_MEETING_HOURS})
    for seed in (1, 2):
        ts = sim.run(busy, "blended", seed=seed).timeseries
        assert ts["new_cold_meetings"].sum() > 0  # buyers said yes to a meeting ...
        assert ts["new_leads"].sum() > 0
        assert ts["new_meetings"].sum() == 0  # ... and none was held: nobody had the time
        assert ts["new_sales_meetings"].sum() == 0 and ts["new_opportunities"].sum() == 0
        assert ts["new_contacts_joined"].sum() == 0


def test_cold_calling_counts_connects_conversations_and_meetings(small):
    """dials >= connects >= conversations, the share of connects that talk is conversation_rate (binomial test
    over 8 seeds), and with no conversations there is no cold-call meeting."""
    cold = small.with_overrides({"channels.cold_calling.budget": 30_000.0})
    conn = talk = 0.0
    for seed in range(1, 9):
        ts = sim.run(cold, "cold_calling", seed=seed).timeseries
        assert ts["new_dials"].sum() >= ts["new_connects"].sum() >= ts["new_cold_conversations"].sum()
        assert ts["new_cold_conversations"].sum() >= ts["new_cold_meetings"].sum()
        conn += ts["new_connects"].sum()
        talk += ts["new_cold_conversations"].sum()
    rate = cold.config("cold_calling").channels.cold_calling.conversation_rate
    assert stats.binomtest(int(talk), int(conn), rate).pvalue > 0.001, (talk, conn, rate)
    silent = cold.with_overrides({"channels.cold_calling.conversation_rate": 0.0})
    ts = sim.run(silent, "cold_calling", seed=1).timeseries
    assert ts["new_connects"].sum() > 0
    assert ts["new_cold_conversations"].sum() == 0 and ts["new_meetings_booked_cold_calling"].sum() == 0


def test_lead_records_are_at_most_one_per_buying_episode(small):
    """Over a whole run (no warm-up), lead records never outnumber the episodes the market held."""
    for strategy in ("content_nurture", "blended"):
        r = sim.run(small, strategy, seed=4)
        ts = r.timeseries
        episodes = ts["new_episodes"].sum() + ts["new_demand_created"].sum() + ts["n_accounts_in_market"].iloc[0]
        assert 0 < ts["new_leads"].sum() <= episodes
        assert ts["new_opportunities"].sum() <= ts["new_leads"].sum()
        assert r.summary["lead_to_opportunity_rate"] <= 1.0
