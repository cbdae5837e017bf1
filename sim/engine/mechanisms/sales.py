"""The sales cycle, and the sales team as Mesa agents.

Reps are few, so each is a real ``mesa.Agent`` with selling hours per day, an activity split
(dialing, meetings, networking, social selling) and a ramp-up. Their hours are a hard
capacity: meeting slots go first to open opportunities that are due a meeting, then to the lead
queue, where raised hands and outbound yeses (a cold call's, an introduction's, a referral's agreed
meeting) wait alike, the freshest first (``policy.lead_queue``); leads that wait cool down (the chance to reach them falls by
``lead_decay_per_day`` per day of delay: Oldroyd, McElheran & Elkington, HBR 2011) and are
dropped after ``max_lead_wait_days``. An opportunity with no meeting for ``fumble_days`` falls
back to marketing (seed 000). Meetings build trust in two phases, intent then expertise
(Trust = Intent + Expertise, seed 000), and help the buying group's decision along.
"""

from __future__ import annotations

import mesa
import numpy as np
from mesa.agent import AgentSet

from sim.engine.declare import P, Step, flows, stocks
from sim.engine.mechanisms.decision import make_case_for_change
from sim.engine.stages import close_opportunities
from sim.engine.state import ENGAGED, EXPLORING
from sim.engine.touchlog import MEETING
from sim.engine.transitions import (
    acceptance,
    raise_trust,
    start_conversations,
)

#: what reps spend their selling hours on (``sales.split``)
REP_ACTIVITIES = ("dialing", "meetings", "networking", "social")

SECTION = "sales"
PARAMS = {
    "n_reps": P(5, "int", 0, 100_000, "sales reps", "assumption"),
    "hours_per_day": P(6.0, "float", 0, 24, "selling hours per rep per day", "assumption: reps sell ~30-40% of a working week (Salesforce State of Sales)"),
    "cost_per_rep_day": P(600.0, "float", 0, None, "$ per rep per calendar day, fully loaded", "assumption: ~$220k/yr loaded cost of an account executive"),
    "ramp_days": P(150, "int", 0, 3650, "days for a new rep to reach full productivity (selling hours and the trust a meeting builds)",
                   "Bridge Group 2024 SaaS AE Metrics & Compensation Report: median AE ramp 5.0 months over 400+ SaaS companies (27% under 3 months, 7% 12 or more; via pulserevops.com/industry-kpis/q17, secondary)"),
    "annual_attrition": P(0.67, "float", 0, 20, "reps who leave per rep-year (each is replaced at once by a new hire who ramps up; a leaver's open deals pass to a colleague and their personal ties go with them)",
                          "Bridge Group 2018 SaaS AE report: average AE tenure 1.5 years, down from 3 in 2010 (via Xactly, '6 Sales Turnover Statistics You Need to Know', 2019, secondary); a constant hazard with a mean tenure of 1.5 years is 1/1.5 per year"),
    "initial_tenure_days": P(365, "int", 0, 100_000, "tenure of every rep at day 0 when annual_attrition is 0; with attrition, day-0 tenures are drawn from the steady state of that hazard (exponential, mean 365 / annual_attrition days)", "assumption: an established team"),
    "hours_per_meeting": P(1.5, "float", 0.1, 24, "hours per sales meeting incl. preparation", "assumption"),
    "meeting_cadence_days": P(7, "int", 1, 365, "days between meetings on an open opportunity", "assumption"),
    "lead_contact_base": P(0.7, "float", 0, 1, "chance to reach a lead on the day it comes in", "assumption"),
    "lead_decay_per_day": P(0.45, "float", 0, 1, "multiplier on that chance per day of delay", "Oldroyd, McElheran & Elkington, HBR 2011"),
    "max_lead_wait_days": P(14, "int", 0, 365, "days a lead waits before it is dropped", "assumption"),
    "fumble_days": P(21, "int", 1, 3650, "days without a meeting before an opportunity falls back to marketing", "seed 000: filters back to marketing"),
    "intent_meetings": P(2, "int", 0, 100, "meetings in the intent (trial) phase before expertise", "seed 000: Trust = Intent + Expertise"),
    "intent_trust_gain": P(0.05, "float", 0, 1, "trust added per intent-phase meeting", "seed 000"),
    "expertise_trust_gain": P(0.08, "float", 0, 1, "trust added per expertise-phase meeting", "seed 000"),
    "meeting_progress_gain": P(0.06, "float", 0, 1, "decision progress added per meeting", "assumption"),
    "accept_max": P(0.6, "float", 0, 1, "chance a ready, in-market buyer accepts a meeting when asked", "assumption"),
    "dormant_accept": P(0.05, "float", 0, 1, "chance a buyer with no active need accepts a meeting", "assumption: cold-call benchmarks of ~1 meeting per 100 dials"),
    "accept_floor": P(0.05, "float", 0, 1, "chance an unready in-market buyer still accepts a meeting", "assumption"),
    "demand_creation": P(0.3, "float", 0, 1, "chance a meeting with a buyer without an active need starts a buying episode", "Dixon & Adamson 2011, The Challenger Sale: reps can create demand"),
    "qualify_trust": P(0.35, "float", 0, 1, "trust at which a conversation becomes an opportunity", "assumption"),
    "qualify_fit": P(0.3, "float", 0, 1, "account fit below which a rep does not qualify the conversation as an opportunity (the account does not match the product: BANT-style qualification)",
                     "assumption: sales qualification on fit (ideal customer profile); web leads include poor-fit accounts, so it sets how many leads become opportunities"),
    "split": {
        "dialing": P(0.25, "float", 0, 1, "share of rep hours spent dialing", "strategy"),
        "meetings": P(0.55, "float", 0, 1, "share of rep hours in meetings", "strategy"),
        "networking": P(0.1, "float", 0, 1, "share of rep hours networking", "strategy"),
        "social": P(0.1, "float", 0, 1, "share of rep hours social selling", "strategy"),
    },
}
#: the hand-off policy between marketing and sales (a strategy decision)
POLICY_PARAMS = {
    "lead_score_threshold": P(0.35, "float", 0, 1, "lead score (mean of progress and trust) to pass a lead to sales", "strategy"),
    "lead_queue": P("freshest", "str", unit="which waiting lead a rep works next",
                    source="strategy: 'freshest' takes the most recent first (the chance to reach a lead falls by sales.lead_decay_per_day each day it waits, Oldroyd, McElheran & Elkington, HBR 2011, so the freshest has the best odds); 'oldest' works them in arrival order",
                    choices=("freshest", "oldest")),
}
#: a second section this mechanism declares (sim.engine.declare.sections)
EXTRA_SECTIONS = {"policy": POLICY_PARAMS}
FLOWS = flows(
    ("new_sales_meetings", "rep meeting slots booked", "meetings"),
    ("new_opportunities", "conversations that qualified as opportunities", "accounts"),
    ("new_followups", "follow-up meetings held", "meetings"),
    ("new_fumbles", "opportunities that fell back to marketing", "accounts"),
    ("new_leads_expired", "leads dropped after waiting too long", "buyers"),
    ("new_leads_reached", "leads a rep reached", "buyers"),
    ("new_leads_reached_same_day", "leads reached on the day they came in", "buyers"),
    ("new_leads_worked_same_day", "leads worked on the day they came in", "buyers"),
    ("new_rep_departures", "reps who left (each replaced by a new hire)", "reps"),
)
STOCKS = stocks(
    ("n_leads_waiting", "leads waiting for a rep", "buyers"),
)


class SalesRep(mesa.Agent):
    """One sales rep: selling hours, an activity split and a ramp-up.

    The team schedules all reps at once, so a rep's day (hours by activity, meeting slots left,
    hours used) lives in the team's arrays at the rep's ``index``; the attributes below read it.
    """

    def __init__(self, model, team: "SalesTeam", index: int):
        super().__init__(model)
        self.team = team
        self.index = index

    @property
    def hours_per_day(self) -> float:
        return float(self.team.hours_per_day[self.index])

    @property
    def split(self) -> dict:
        return {a: float(self.team.split[j]) for j, a in enumerate(REP_ACTIVITIES)}

    @property
    def hours(self) -> dict:
        """Hours planned today by activity."""
        return {a: float(self.team.plan[self.index, j]) for j, a in enumerate(REP_ACTIVITIES)}

    @property
    def slots(self) -> float:
        """Meeting slots left today (fractional slots carry over to tomorrow)."""
        return float(self.team.slots[self.index])

    @property
    def used_hours(self) -> float:
        return float(self.team.used[self.index])

    def productivity(self, day: int) -> float:
        return float(self.team.productivity(day)[self.index])


class SalesTeam:
    """The reps (a Mesa AgentSet) and the team-level steps of the sales cycle.

    Capacity is kept in arrays with one row per rep, so planning the day and booking slots cost
    the same whether the team has 5 reps or 800 (a million-buyer market). With several replications
    side by side (``JourneyModel(..., seeds=...)``) each has its own team: rep ``i`` belongs to
    replication ``i // n_reps``, and a rep only ever serves its own replication's accounts.
    """

    def __init__(self, model):
        s = model.cfg.sales
        self.n_per = int(s.n_reps)  # reps per replication
        self.R = int(getattr(model, "R", 1))
        N = self.n_per * self.R
        self.model = model
        self.hpm = float(s.hours_per_meeting)
        self.rep_rep = np.repeat(np.arange(self.R, dtype=np.int64), self.n_per)  # each rep's replication
        self.hours_per_day = np.full(N, float(s.hours_per_day))
        self.tenure = self._initial_tenure(model, s)  # days of tenure at day 0 (a new hire on day d: -d)
        self.ramp = np.full(N, float(s.ramp_days))
        self.split = np.array([getattr(s.split, a) for a in REP_ACTIVITIES], dtype=float)
        self.col = {a: j for j, a in enumerate(REP_ACTIVITIES)}
        self.plan = np.zeros((N, len(REP_ACTIVITIES)))  # hours planned today by activity
        self.slots = np.zeros(N)  # meeting slots left today
        self.slots_today = np.zeros(N)  # meeting slots at the start of today (with carried fractions)
        self.used = np.zeros(N)  # hours used today
        self.rep_list = [SalesRep(model, self, i) for i in range(N)]
        self.reps = AgentSet(self.rep_list, random=model.random)

    def _initial_tenure(self, model, s) -> np.ndarray:
        N = self.n_per * self.R
        if s.annual_attrition <= 0 or N == 0:
            return np.full(N, float(s.initial_tenure_days))
        u = self.rep_uniform("sales.tenure", 0)
        return -np.log1p(-u) * 365.0 / s.annual_attrition  # the steady state of a constant hazard

    def rep_uniform(self, name: str, day: int) -> np.ndarray:
        """One uniform per rep for decision ``name`` on ``day``, each replication's from its own streams at the
        rep's index within its team (so a rep's dice are the same in a batch as alone)."""
        return np.concatenate([st.uniform(name, day, self.n_per) for st in self.model.streams.streams])

    def _by_replication(self, per_rep: np.ndarray) -> np.ndarray:
        """Sum of a per-rep value over each replication's reps, shape (R,)."""
        return per_rep.reshape(self.R, self.n_per).sum(axis=1)

    # -- capacity
    def productivity(self, day: int) -> np.ndarray:
        """Ramp-up: a new rep starts at 30% and reaches 100% after ``ramp_days``."""
        ramped = np.minimum(1.0, 0.3 + 0.7 * (self.tenure + day) / np.maximum(self.ramp, 1.0))
        return np.where(self.ramp <= 0, 1.0, ramped)

    def plan_day(self) -> None:
        if not self.rep_list:
            return
        self.attrition()
        h = self.hours_per_day * self.productivity(self.model.day)
        self.plan = h[:, None] * self.split[None, :]
        self.slots = np.mod(self.slots, 1.0) + self.plan[:, self.col["meetings"]] / self.hpm
        self.slots_today = self.slots.copy()
        self.used[:] = 0.0

    def attrition(self) -> None:
        """Reps leave with the daily hazard of ``sales.annual_attrition``; a new hire takes each seat the same day
        (tenure 0: ramping up). The leaver's open opportunities pass to the colleagues with the fewest, and the
        buyers who knew the leaver personally no longer know one of our reps."""
        m, pop, s = self.model, self.model.pop, self.model.cfg.sales
        if s.annual_attrition <= 0:
            return
        day = m.day
        u = self.rep_uniform("sales.attrition", day)
        gone = np.flatnonzero(u < -np.expm1(-s.annual_attrition / 365.0))
        if gone.size:
            self.replace(gone)

    def replace(self, gone: np.ndarray) -> None:
        """Reps ``gone`` (global indices) leave today and new hires take their seats."""
        m, pop = self.model, self.model.pop
        self.tenure[gone] = -float(m.day)
        m.metrics.add("new_rep_departures", self._by_replication(np.isin(np.arange(self.tenure.size), gone)))
        is_gone = np.zeros(self.tenure.size, dtype=bool)
        is_gone[gone] = True
        open_ = np.flatnonzero(pop.opp)
        handed = open_[is_gone[pop.owner[open_]]] if open_.size else open_
        if handed.size:
            pop.owner[handed] = -1  # not counted in the load of their new owners' choice
            pop.owner[handed] = self.assign_owners(handed)
        if hasattr(pop, "tie_rep"):
            tied = np.flatnonzero(pop.tie_rep >= 0)
            glob = pop.tie_rep[tied] + (pop.brep[tied] * self.n_per if self.R > 1 else 0)
            lost = tied[is_gone[glob]]
            pop.rep_tie[lost] = False
            pop.tie_rep[lost] = -1

    def hours(self, activity: str) -> np.ndarray:
        """The team's planned hours of ``activity`` today, one per replication (shape (R,))."""
        return self._by_replication(self.plan[:, self.col[activity]])

    def use_hours(self, activity: str, hours) -> None:
        """Book ``hours`` (one per replication, or one for all) of an activity against each replication's
        team, pro rata to each rep's plan."""
        total = self.hours(activity)
        hours = np.full(total.shape, float(hours)) if np.ndim(hours) == 0 else np.broadcast_to(np.asarray(hours, dtype=float), total.shape)
        go = (total > 0) & (hours > 0)
        if not go.any():
            return
        share = np.where(go, np.minimum(hours / np.where(go, total, 1.0), 1.0), 0.0)
        self.used += self.plan[:, self.col[activity]] * share[self.rep_rep]

    def utilisation(self) -> np.ndarray:
        """Hours used over hours available today, one per replication. Meeting hours available are
        today's whole and carried-over fractional slots, so a rep who saved half a slot yesterday can
        use it."""
        if not self.rep_list:
            return np.zeros(self.R)
        m = self.col["meetings"]
        R, n = self.R, self.n_per
        avail = (self.plan.reshape(R, n * len(REP_ACTIVITIES)).sum(axis=1) - self.plan[:, m].reshape(R, n).sum(axis=1)
                 + self.slots_today.reshape(R, n).sum(axis=1) * self.hpm)
        used = self.used.reshape(R, n).sum(axis=1)
        return np.where(avail > 0, used / np.where(avail > 0, avail, 1.0), 0.0)

    def free_slots(self) -> np.ndarray:
        """Whole meeting slots each rep has left today."""
        return np.floor(self.slots).astype(np.int64)

    def book(self, per_rep: np.ndarray) -> int:
        """Book ``per_rep[r]`` meetings against rep r's slots (at most its whole free slots)."""
        k = np.minimum(per_rep, self.free_slots())
        self.slots -= k
        self.used += k * self.hpm
        self.model.metrics.add("new_sales_meetings", self._by_replication(k) if self.R > 1 else int(k.sum()))
        return int(k.sum())

    def take_slots(self, rep_of: np.ndarray) -> np.ndarray:
        """Book one meeting slot for each item, in the order given, while its replication's team has whole slots
        left today (against the reps with room, in rep order); ``rep_of`` is each item's replication. Returns
        which items got a slot. Every first meeting goes through here, whatever its channel."""
        k = rep_of.size
        free = self.free_slots()
        if k == 0 or not self.rep_list:
            return np.zeros(k, dtype=bool)
        if self.R == 1:
            booked = np.arange(k) < int(free.sum())
            n_booked = np.full(free.size, int(booked.sum()))
            before = np.cumsum(free) - free
        else:
            order = np.argsort(rep_of, kind="stable")
            r = rep_of[order]
            starts = np.searchsorted(r, np.arange(self.R))
            room = self._by_replication(free)
            booked = np.empty(k, dtype=bool)
            booked[order] = np.arange(k) - starts[r] < room[r]
            cf = np.cumsum(free) - free
            before = cf - cf[self.rep_rep * self.n_per]
            n_booked = np.bincount(rep_of[booked], minlength=self.R)[self.rep_rep]
        if booked.any():
            self.book(np.clip(n_booked - before, 0, free))
        return booked

    def assign_owners(self, acc: np.ndarray) -> np.ndarray:
        """Owners for the new opportunities of accounts ``acc``: in each replication, the reps with the
        fewest open ones, in turn."""
        k = len(acc)
        if not self.rep_list:
            return np.full(k, -1, dtype=np.int32)
        pop = self.model.pop
        owners = pop.owner[np.flatnonzero(pop.opp)]  # the open opportunities are few: no pass over owner
        load = np.bincount(owners[owners >= 0], minlength=len(self.rep_list)).astype(float)
        out = np.empty(k, dtype=np.int32)
        n = self.n_per
        first = pop.arep[acc] * n if self.R > 1 else np.zeros(k, dtype=np.int64)
        for j in range(k):  # k is the number of new opportunities today: small
            lo = int(first[j])
            r = lo + int(np.argmin(load[lo:lo + n]))
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
        owner = pop.owner[acc]
        if self.rep_list and (owner >= 0).any():  # a rep still ramping up builds less trust per meeting
            gain_acc = gain_acc * np.where(owner >= 0, self.productivity(m.day)[np.maximum(owner, 0)], 1.0)
        b = pop.members_of(acc)
        raise_trust(pop, b, np.repeat(gain_acc, pop.group_size[acc]))
        act = b[(pop.stage[b] == EXPLORING) | (pop.stage[b] == ENGAGED)]
        pop.progress[act] = np.minimum(pop.progress[act] + s.meeting_progress_gain, 1.0)
        make_case_for_change(m, b[pop.engaged[b]])  # the people in the room (mechanisms/decision.py)
        pop.touches[b] += 1
        if m.touch_log is not None:
            m.touch_log.add(m, b, MEETING, rep=np.repeat(pop.owner[acc], pop.group_size[acc]))
        # an open conversation becomes a qualified opportunity once the group trusts us enough
        fresh = acc[~pop.qualified[acc]]
        if fresh.size:
            t = pop.account_mean(pop.trust, fresh)
            q = fresh[(t >= s.qualify_trust) & (pop.fit[fresh] >= s.qualify_fit)]
            pop.qualified[q] = True
            m.metrics.count("new_opportunities", q, per="account")

    def step(self) -> None:
        """Follow-up meetings, fumbles, then leads, in that order (see model step order)."""
        m, pop, s, day = self.model, self.model.pop, self.model.cfg.sales, self.model.day
        # 1. opportunities due a meeting, oldest first, within each owner's slots
        open_ = np.flatnonzero(pop.opp)
        due = open_[day - pop.last_meeting[open_] >= s.meeting_cadence_days]
        if due.size and self.rep_list:
            # each owner's due opportunities, oldest meeting first, as many as the owner has slots
            due = due[np.argsort(pop.last_meeting[due], kind="stable")]
            due = due[np.argsort(pop.owner[due], kind="stable")]
            owner = pop.owner[due]
            per_rep = np.bincount(owner, minlength=len(self.rep_list))
            take = np.minimum(per_rep, self.free_slots())
            first = np.cumsum(per_rep) - per_rep
            held = due[np.arange(due.size) - first[owner] < take[owner]]
            self.book(take)
            self.hold_meetings(held)
            m.metrics.count("new_followups", held, per="account")

        # 2. fumbles: no meeting for too long, the buyers filter back to marketing
        stale = open_[day - pop.last_meeting[open_] > s.fumble_days]
        if stale.size:
            close_opportunities(m, stale, to_stage=EXPLORING)
            m.metrics.count("new_fumbles", stale, per="account")

        # 3. leads: drop the ones that waited too long, work the rest in the policy's order (policy.lead_queue)
        pending = np.flatnonzero(pop.lead_pending)
        if pending.size == 0:
            return
        wait = day - pop.lead_day[pending]
        expired = pending[wait > s.max_lead_wait_days]
        pop.lead_pending[expired] = False
        pop.lead_outbound[expired] = False
        m.metrics.count("new_leads_expired", expired)
        pending = pending[wait <= s.max_lead_wait_days]
        # the queue, raised hands and outbound yeses alike: the freshest first (or in arrival order)
        key = -pop.lead_day[pending] if m.cfg.policy.lead_queue == "freshest" else pop.lead_day[pending]
        pending = pending[np.argsort(key, kind="stable")]
        is_worked = self.take_slots(pop.brep[pending] if self.R > 1 else np.zeros(pending.size, dtype=np.int64))
        worked = pending[is_worked]
        if worked.size == 0:
            m.metrics.count("n_leads_waiting", pending)
            return
        delay = day - pop.lead_day[worked]
        outbound = pop.lead_outbound[worked]  # a yes on the phone or an introduction: the meeting is agreed
        # a raised hand must be reached (speed to lead) and then say yes; a meeting agreed on an outbound call
        # is held unless it slipped, and it slips with the same decay per day of delay
        u = m.streams.uniform("sales.lead_reach", day, worked)
        hit = u < np.where(outbound, 1.0, s.lead_contact_base) * s.lead_decay_per_day ** delay
        reached = worked[hit]
        raised = ~outbound  # speed-to-lead counts and samples: the buyers' own hand raises
        m.metrics.count("new_leads_reached", reached)
        m.metrics.count("new_leads_reached_same_day", reached[(delay[hit] == 0) & raised[hit]])
        m.metrics.count("new_leads_worked_same_day", worked[(delay == 0) & raised])
        accepted = outbound[hit].copy()  # an outbound yes is agreed; a reached hand raise must still say yes
        asked = reached[~accepted]
        accepted[~accepted] = m.streams.uniform("sales.lead_accept", day, asked) < acceptance(m, asked, p_max=1.0)
        met = reached[accepted]
        converted = np.zeros(worked.size, dtype=bool)  # per worked lead: did it become a meeting
        converted[np.flatnonzero(hit)[accepted]] = True
        pop.lead_pending[worked] = False  # reached or not, the lead is worked: back to nurture if no meeting
        pop.lead_outbound[worked[~converted]] = False
        m.sample("lead_delay_days", delay[raised], worked[raised])
        m.sample("lead_converted", converted[raised], worked[raised])
        start_conversations(m, met, pop.lead_source[met], inbound=True)
        m.metrics.count("n_leads_waiting", pending[~is_worked])


def _plan_day(model) -> None:
    model.sales.plan_day()


def _work(model) -> None:
    model.sales.step()


STEPS = (
    Step(200, "sales.plan", "reps plan the day: hours by activity, meeting slots", _plan_day),
    Step(500, "sales", "follow-up meetings, fumbles, lead response with speed-to-lead decay", _work),
)
