"""Mechanism 9, the sales cycle, and the sales team as Mesa agents.

Reps are few, so each is a real ``mesa.Agent`` with selling hours per day, an activity split
(dialing, meetings, networking, social selling) and a ramp-up. Their hours are a hard
capacity: meeting slots go first to open opportunities that are due a meeting, then to leads
in arrival order; leads that wait cool down (the chance to reach them falls by
``lead_decay_per_day`` per day of delay: Oldroyd, McElheran & Elkington, HBR 2011) and are
dropped after ``max_lead_wait_days``. An opportunity with no meeting for ``fumble_days`` falls
back to marketing (seed 000). Meetings build trust in two phases, intent then expertise
(Trust = Intent + Expertise, seed 000), and help the buying group's decision along.
"""

from __future__ import annotations

import mesa
from mesa.agent import AgentSet
import numpy as np

from .journey import acceptance, close_opportunities, raise_trust, start_conversations
from .parameters import REP_ACTIVITIES
from .population import ENGAGED, EXPLORING


class SalesRep(mesa.Agent):
    """One sales rep: capacity by activity for the day, and the meeting slots left."""

    def __init__(self, model, index: int, hours_per_day: float, split: dict, tenure_days: int, ramp_days: int):
        super().__init__(model)
        self.index = index
        self.hours_per_day = hours_per_day
        self.split = dict(split)
        self.tenure_days = tenure_days
        self.ramp_days = ramp_days
        self.hours = {a: 0.0 for a in REP_ACTIVITIES}
        self.slots = 0.0  # meeting slots left today (fractional slots carry over)
        self.used_hours = 0.0

    def productivity(self, day: int) -> float:
        """Ramp-up: a new rep starts at 30% and reaches 100% after ``ramp_days``."""
        if self.ramp_days <= 0:
            return 1.0
        return float(min(1.0, 0.3 + 0.7 * (self.tenure_days + day) / self.ramp_days))

    def plan_day(self) -> None:
        h = self.hours_per_day * self.productivity(self.model.day)
        self.hours = {a: h * self.split[a] for a in REP_ACTIVITIES}
        self.slots = (self.slots % 1.0) + self.hours["meetings"] / self.model.cfg.sales.hours_per_meeting
        self.used_hours = 0.0

    def take_slots(self, k: int) -> int:
        k = int(min(k, np.floor(self.slots)))
        self.slots -= k
        self.used_hours += k * self.model.cfg.sales.hours_per_meeting
        self.model.metrics.add("new_sales_meetings", k)
        return k


class SalesTeam:
    """The reps (a Mesa AgentSet) and the team-level steps of the sales cycle."""

    def __init__(self, model):
        s = model.cfg.sales
        split = vars(s.split)
        reps = [SalesRep(model, i, s.hours_per_day, split, s.initial_tenure_days, s.ramp_days) for i in range(s.n_reps)]
        self.model = model
        self.reps = AgentSet(reps, random=model.random)
        self.rep_list = reps

    # -- capacity
    def plan_day(self) -> None:
        self.reps.do("plan_day")

    def hours(self, activity: str) -> float:
        return float(sum(r.hours[activity] for r in self.rep_list))

    def use_hours(self, activity: str, hours: float) -> None:
        """Book ``hours`` of an activity against the team, pro rata to each rep's plan."""
        total = self.hours(activity)
        if total <= 0 or hours <= 0:
            return
        frac = min(hours / total, 1.0)
        for r in self.rep_list:
            r.used_hours += r.hours[activity] * frac

    def utilisation(self) -> float:
        avail = sum(sum(r.hours.values()) for r in self.rep_list)
        used = sum(r.used_hours for r in self.rep_list)
        return float(used / avail) if avail > 0 else 0.0

    def assign_owners(self, k: int) -> np.ndarray:
        """Owners for k new opportunities: the reps with the fewest open ones, in turn."""
        if not self.rep_list:
            return np.full(k, -1, dtype=np.int32)
        pop = self.model.pop
        load = np.bincount(pop.owner[pop.opp & (pop.owner >= 0)], minlength=len(self.rep_list)).astype(float)
        out = np.empty(k, dtype=np.int32)
        for j in range(k):  # k is the number of new opportunities today: small
            r = int(np.argmin(load))
            out[j] = r
            load[r] += 1
        return out

    # -- meetings
    def hold_meetings(self, acc: np.ndarray) -> None:
        """A meeting with each account: trust (intent, then expertise) and progress for its group."""
        if acc.size == 0:
            return
        m, pop, s = self.model, self.model.pop, self.model.cfg.sales
        pop.n_meetings[acc] += 1
        pop.last_meeting[acc] = m.day
        gain_acc = np.where(pop.n_meetings[acc] <= s.intent_meetings, s.intent_trust_gain, s.expertise_trust_gain)
        b = pop.members_of(acc)
        raise_trust(pop, b, np.repeat(gain_acc, pop.group_size[acc]))
        act = b[(pop.stage[b] == EXPLORING) | (pop.stage[b] == ENGAGED)]
        pop.progress[act] = np.minimum(pop.progress[act] + s.meeting_progress_gain, 1.0)
        pop.touches[b] += 1
        # an open conversation becomes a qualified opportunity once the group trusts us enough
        fresh = acc[~pop.qualified[acc]]
        if fresh.size:
            t = pop.account_mean(pop.trust, fresh)
            q = fresh[t >= s.qualify_trust]
            pop.qualified[q] = True
            m.metrics.add("new_opportunities", q.size)

    def step(self) -> None:
        """Follow-up meetings, fumbles, then leads, in that order (see model step order)."""
        m, pop, s, day = self.model, self.model.pop, self.model.cfg.sales, self.model.day
        # 1. opportunities due a meeting, oldest first, within each owner's slots
        due = np.flatnonzero(pop.opp & (day - pop.last_meeting >= s.meeting_cadence_days))
        if due.size and self.rep_list:
            due = due[np.argsort(pop.last_meeting[due], kind="stable")]
            held = []
            for r in self.rep_list:
                mine = due[pop.owner[due] == r.index]
                k = r.take_slots(mine.size)
                held.append(mine[:k])
            held = np.concatenate(held)
            self.hold_meetings(held)
            m.metrics.add("new_followups", held.size)

        # 2. fumbles: no meeting for too long, the buyers filter back to marketing
        stale = np.flatnonzero(pop.opp & (day - pop.last_meeting > s.fumble_days))
        if stale.size:
            close_opportunities(m, stale, to_stage=EXPLORING)
            m.metrics.add("new_fumbles", stale.size)

        # 3. leads: drop the ones that waited too long, reach the rest in arrival order
        pending = np.flatnonzero(pop.lead_pending)
        if pending.size == 0:
            return
        wait = day - pop.lead_day[pending]
        expired = pending[wait > s.max_lead_wait_days]
        pop.lead_pending[expired] = False
        m.metrics.add("new_leads_expired", expired.size)
        pending = pending[wait <= s.max_lead_wait_days]
        pending = pending[np.argsort(pop.lead_day[pending], kind="stable")]
        free = sum(int(np.floor(r.slots)) for r in self.rep_list)
        worked = pending[:free]
        if worked.size == 0:
            m.metrics.set("n_leads_waiting", pending.size)
            return
        taken = worked.size
        for r in self.rep_list:  # book the slots against reps with room
            taken -= r.take_slots(taken)
            if taken <= 0:
                break
        delay = day - pop.lead_day[worked]
        u = m.streams.uniform("sales.lead_reach", day, worked)
        reached = worked[u < s.lead_contact_base * s.lead_decay_per_day ** delay]
        m.metrics.add("new_leads_reached", reached.size)
        m.metrics.add("new_leads_reached_same_day", int((delay[u < s.lead_contact_base * s.lead_decay_per_day ** delay] == 0).sum()))
        m.metrics.add("new_leads_worked_same_day", int((delay == 0).sum()))
        u2 = m.streams.uniform("sales.lead_accept", day, reached)
        met = reached[u2 < acceptance(m, reached, p_max=1.0)]
        pop.lead_pending[worked] = False  # reached or not, the lead is worked: back to nurture if no meeting
        m.sample("lead_delay_days", delay)
        m.sample("lead_converted", np.isin(worked, met))
        start_conversations(m, met, pop.lead_source[met], inbound=True)
        m.metrics.set("n_leads_waiting", pending.size - worked.size)
