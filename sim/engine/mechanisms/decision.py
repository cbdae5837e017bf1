"""Account decision: the buying group decides as a group, then chooses among shortlisted vendors.

Every member of a buying group holds a position on changing the status quo (``stance``: for a change above 0,
against below). Positions are drawn when the episode starts, correlated within the account
(``decision.stance_correlation``: colleagues share their company's situation), around
``decision.stance_mean`` with spread ``decision.stance_sd``. While the account is in market colleagues
deliberate as in Friedkin & Johnsen's (1999) model of social influence: each member moves (at rate
``decision.alignment``) towards a mix of the group's decision-weighted mean and their own position, weighed by
``decision.susceptibility``; below 1 members stay anchored to their own view, so talking need not bring
consensus (at 1 it is DeGroot's averaging, which always does). A meeting with our sales makes the case for
change (``decision.meeting_stance_gain``: Dixon & Adamson 2011) to the members in the conversation, moving their
own view; colleagues the seller never met hear it only through deliberation.

When enough of the group has finished research (``decision.consensus_share`` of its members at progress 1)
the group tries to decide: it acts only if nobody is against (every member's stance >= 0). A group that is
split keeps deliberating, its positions still converging; if it is still split ``decision.stall_days``
after it first tried, the episode ends with no decision: no decision comes from consensus that stalls,
not from a calendar alone (the need can also fade: ``need.fade_rate``).

A group that agrees to change still has to act, and each member may hesitate (``decision.indecision``: the
fear of making the wrong choice that Dixon & McKenna 2022 found behind 56% of no-decisions, in buyers who had
agreed the status quo must go). A member's doubts settle on their own (``decision.reassurance_rate`` a day) or in
a meeting with our sales (``decision.meeting_reassurance``: sellers who de-risk the choice); the group acts
once nobody hesitates, and if someone still does ``stall_days`` after it first tried, the episode ends with
no decision, counted as indecision. So the two routes to no decision are JOLT's two: the group never agreed
to change (split, or the need faded first: the status quo) or it agreed and did not act (indecision). Every
member is one more chance of a hesitation, so larger groups act less often. A group whose members disagree on some day
(one for a change, another against) is counted as having had conflict in the episode: the share of groups of five
or more with conflict is a calibration target (Gartner 2024: 74% of buyer teams), which pins how correlated
positions are and how far deliberation pulls them together. Larger groups are split more often,
so they buy less often, by how much their positions are correlated: the CEB finding that purchase
likelihood falls from 81% with one decision maker to 31% with six is a held-out check of this, never its
input. Then which vendor: we are on the shortlist only if at least one member knows us. The choice is a
multinomial logit on trust: our decision-weighted mean trust, net of resentment left by unwanted calls
(``journey.annoy``), plus a bonus while our sales team is in conversation and the account's fit
(``decision.fit_weight``), against the segment's competitors at baseline trust. Won accounts become
customers; lost ones bought elsewhere.
"""

from __future__ import annotations

import numpy as np

from scipy.special import ndtri

from sim.engine.declare import P, State, Step, flows
from sim.engine.stages import close_opportunities, set_account_stage
from sim.engine.state import (
    CUSTOMER,
    DORMANT,
    ENGAGED,
    EXPLORING,
    LOST,
    SEGMENT_NAMES,
    SOURCES,
    SRC,
)

SECTION = "decision"
PARAMS = {
    "consensus_share": P(0.5, "float", 0.01, 1, "share of the buying group that must be done researching", "assumption: buying-group consensus"),
    "engaged_bonus": P(0.15, "float", 0, 1, "trust bonus for a vendor in active conversation", "assumption: engaged accounts favour us"),
    "fit_weight": P(0.3, "float", 0, 5, "trust-equivalent added to our side of the vendor choice per unit of account fit above market.fit_mean (an account that matches the product sees more value in it)", "assumption"),
    "stance_mean": P(1.0, "float", -10, 10, "mean position of a buying-group member on changing the status quo when the episode starts (sd units: above 0 for a change)",
                     "assumption: Dixon & McKenna 2022 (The JOLT Effect): indecision, not a rival, ends 40-60% of deals; fitted to the no-decision share"),
    "stance_sd": P(1.0, "float", 0, 10, "spread of members' positions at the start of an episode", "assumption: sets the scale of stance"),
    "stance_correlation": P(0.5, "float", 0, 1, "share of the variance of members' positions that the account shares (0: independent members, 1: the group agrees)",
                            "assumption: colleagues share their company's situation (Gartner: buying groups disagree on needs and solutions)"),
    "alignment": P(0.02, "float", 0, 1, "daily rate at which a member's position moves towards where deliberation pulls it (the group's mean, weighed by susceptibility against the member's own position) while in market", "assumption: deliberation"),
    "susceptibility": P(0.5, "float", 0, 1, "weight a member gives the group's mean position against their own in deliberation (1: positions converge to consensus, DeGroot 1974; below 1 members stay anchored to their own and disagreement persists)",
                        "assumption: Friedkin & Johnsen 1999, Social influence networks and opinion change, Advances in Group Processes 16: members anchored to their initial opinions; 0.5, the middle of the range, is not a measurement"),
    "meeting_stance_gain": P(0.1, "float", 0, 10, "rise of the position (and own view) of each buying-group member in the conversation, per meeting with our sales", "assumption: Dixon & Adamson 2011, The Challenger Sale: sellers make the case for change"),
    "stall_days": P(60, "int", 0, 3650, "days a split or hesitant group keeps deliberating after it first tried to decide before the episode ends with no decision", "assumption"),
    "indecision": P(0.1, "float", 0, 1, "chance each member of a buying group that agrees to change hesitates when it comes to act (drawn once an episode, when the group first agrees)",
                    "assumption: Dixon & McKenna 2022 (The JOLT Effect): 56% of no-decisions come from indecision, buyers who agreed to change and did not act; fitted to the status quo share of no-decisions"),
    "reassurance_rate": P(0.02, "float", 0, 1, "daily chance a hesitant member's doubts settle without our sales (more research, peers)", "assumption"),
    "meeting_reassurance": P(0.5, "float", 0, 1, "chance a hesitant member in a meeting with our sales is reassured by it",
                             "assumption: Dixon & McKenna 2022: sellers who judge the buyer's indecision, offer a recommendation and limit exploration take the risk out of the choice"),
}
#: the competition, which the vendor choice weighs us against (and content's share of voice)
COMPETITOR_PARAMS = {
    "content_stock": P(150.0, "float", 0, None, "competitors' content assets (all vendors)", "assumption"),
    "baseline_trust": P(0.6, "float", 0, 1, "trust a buyer has in a typical competitor", "assumption"),
    "choice_sensitivity": P(8.0, "float", 0, 100, "logit sensitivity of vendor choice to trust", "assumption: multinomial logit choice"),
}
#: a second section this mechanism declares (sim.engine.declare.sections)
EXTRA_SECTIONS = {"competitors": COMPETITOR_PARAMS}
FLOWS = flows(
    ("new_wins", "accounts won", "accounts"),
    ("new_losses", "accounts that bought elsewhere", "accounts"),
    ("new_opportunities_won", "opportunities won", "accounts"),
    ("new_opportunities_lost", "opportunities lost to a competitor", "accounts"),
    ("new_status_quo", "buying episodes ended with no decision by a group that never agreed to change (it stayed split, or the need faded first): the status quo (also in new_no_decisions)", "accounts"),
    ("new_opportunities_status_quo", "opportunities ended with no decision whose group never agreed to change (also in new_opportunities_stalled)", "accounts"),
    ("new_indecision", "buying episodes ended with no decision by a group that had agreed to change and did not act: indecision (also in new_no_decisions)", "accounts"),
    ("new_opportunities_indecision", "opportunities ended with no decision whose group had agreed to change (also in new_opportunities_stalled)", "accounts"),
)
STOCKS = ()
STATE = (State("stance", "float32", 0.0, "the member's position on changing the status quo (above 0: for a change)"),
         State("stance_own", "float32", 0.0, "the member's own position, the anchor deliberation pulls back to: drawn at the episode's start, moved by our sales' case for change, never by colleagues"),
         State("hesitant", "bool", False, "the member hesitates to act on a change the group agreed (indecision)"),
         State("day_deliberating", "float64", float("nan"), "the day a split or hesitant group first tried to decide in this episode", per="account"),
         State("agreed", "bool", False, "whether the buying group has agreed to change in this episode (nobody against when it tried to decide)", per="account"),
         State("conflicted", "bool", False, "whether the buying group's members have disagreed in this episode (some for a change, some against, on the same day)", per="account"))


def draw_stances(model, acc: np.ndarray) -> None:
    """Positions of the members of accounts ``acc`` at the start of an episode: an account part and a
    personal part, each from its own stream, mixed by ``stance_correlation``."""
    if acc.size == 0:
        return
    pop, c, day = model.pop, model.cfg.decision, model.day
    members = pop.members_of(acc)
    za = ndtri(np.clip(model.streams.uniform("decision.stance_account", day, acc, per="account"), 1e-12, 1 - 1e-12))
    zi = ndtri(np.clip(model.streams.uniform("decision.stance", day, members), 1e-12, 1 - 1e-12))
    rho = c.stance_correlation
    z = np.sqrt(rho) * np.repeat(za, pop.group_size[acc]) + np.sqrt(1.0 - rho) * zi
    pop.stance[members] = (c.stance_mean + c.stance_sd * z).astype(np.float32)
    pop.stance_own[members] = pop.stance[members]
    pop.hesitant[members] = False
    pop.agreed[acc] = False
    pop.day_deliberating[acc] = np.nan
    pop.conflicted[acc] = False


def note_conflict(model, live: np.ndarray) -> None:
    """Mark the in-market accounts ``live`` whose members disagree today (one for a change, another against) as
    having had conflict in this episode: Gartner's (2024) measure of buying groups, checked against it, is whether
    the group disagreed at any point of the decision, however it ended."""
    pop = model.pop
    if live.size == 0 or pop.one_person_accounts:
        return
    live = live[pop.group_size[live] > 1]
    if live.size == 0:
        return
    lo, hi = pop.account_min_max(pop.stance, live)
    split = (lo < 0) & (hi >= 0)
    pop.conflicted[live[split]] = True


def deliberate(model, live: np.ndarray) -> None:
    """Members of the in-market accounts ``live`` deliberate (the Friedkin-Johnsen model in daily steps): each
    moves, at rate ``alignment``, towards ``susceptibility`` x the group's decision-weighted mean position +
    (1 - ``susceptibility``) x their own. Anchored members (susceptibility below 1) settle apart, so a dissenter
    can stay against however long the group talks."""
    pop, a = model.pop, model.cfg.decision.alignment
    if a <= 0 or live.size == 0 or pop.one_person_accounts:
        return
    live = live[pop.group_size[live] > 1]
    if live.size == 0:
        return
    mean = np.repeat(pop.account_mean(pop.stance, live), pop.group_size[live])
    members = pop.members_of(live)
    lam = np.float32(model.cfg.decision.susceptibility)
    pull = lam * mean.astype(np.float32) + (np.float32(1) - lam) * pop.stance_own[members]
    pop.stance[members] += np.float32(a) * (pull - pop.stance[members])


def make_case_for_change(model, members: np.ndarray) -> None:
    """A meeting with our sales makes the case for change to ``members``, the buying-group members in the
    conversation (the opener and the colleagues who joined it): each one's position rises by
    ``decision.meeting_stance_gain``. Colleagues the seller never met move only by deliberating with the
    group (``deliberate``). A hesitant member in the room is reassured with chance ``meeting_reassurance``."""
    if members.size:
        pop, c = model.pop, model.cfg.decision
        gain = np.float32(c.meeting_stance_gain)
        pop.stance[members] += gain
        pop.stance_own[members] += gain
        doubt = members[pop.hesitant[members]]
        if doubt.size:
            pop.hesitant[doubt[model.streams.uniform("decision.meeting_reassurance", model.day, doubt)
                               < c.meeting_reassurance]] = False


def reassure(model) -> None:
    """Hesitant members' doubts settle on their own at ``reassurance_rate`` a day."""
    pop, rate = model.pop, model.cfg.decision.reassurance_rate
    doubt = np.flatnonzero(pop.hesitant)
    if doubt.size and rate > 0:
        pop.hesitant[doubt[model.streams.uniform("decision.reassurance", model.day, doubt) < rate]] = False


def hold_or_stall(model, acc: np.ndarray) -> None:
    """Accounts ``acc`` tried to decide today and could not (split, or someone hesitates): start their clock on
    the first try, and end with no decision those whose clock has run ``stall_days``."""
    pop, day = model.pop, model.day
    first = np.isnan(pop.day_deliberating[acc])
    pop.day_deliberating[acc[first]] = day
    stalled = day - pop.day_deliberating[acc] >= model.cfg.decision.stall_days
    if stalled.any():
        end_without_decision(model, acc[stalled])


def step(model) -> None:
    pop, cfg, day = model.pop, model.cfg, model.day
    if not pop.in_market.any():
        return
    in_mkt = pop.in_market & ~pop.customer
    live = np.flatnonzero(in_mkt)
    reassure(model)
    deliberate(model, live)
    note_conflict(model, live)
    done = pop.account_sum(pop.progress >= 1.0, live)
    need = np.maximum(np.ceil(cfg.decision.consensus_share * pop.group_size[live] - 1e-9), 1)
    acc = live[done >= need]
    if acc.size == 0:
        return
    # the group acts only if nobody is against; a split group deliberates, and stalls after stall_days
    against = pop.account_any(pop.stance < 0, acc)
    if against.any():
        hold_or_stall(model, acc[against])
        acc = acc[~against]
        if acc.size == 0:
            return
    # agreed: on the first agreement of the episode each member may hesitate; the group acts once nobody does
    new = acc[~pop.agreed[acc]]
    if new.size:
        pop.agreed[new] = True
        members = pop.members_of(new)
        pop.hesitant[members] = model.streams.uniform("decision.indecision", day, members) < cfg.decision.indecision
    doubt = pop.account_any(pop.hesitant, acc)
    if doubt.any():
        hold_or_stall(model, acc[doubt])
        acc = acc[~doubt]
        if acc.size == 0:
            return
    aware_any = pop.account_any(pop.aware, acc)
    t_us = pop.account_mean(pop.trust - pop.resentment, acc, pop.aware) + cfg.decision.engaged_bonus * pop.opp[acc]
    t_us += cfg.decision.fit_weight * (pop.fit[acc] - cfg.market.fit_mean)
    beta = cfg.competitors.choice_sensitivity
    k = np.array([getattr(cfg.market.segments, s).n_competitors for s in ("smb", "mid", "enterprise")])[pop.segment[acc]]
    ours = np.exp(beta * (t_us - cfg.competitors.baseline_trust))
    p_us = np.where(aware_any, ours / (ours + k), 0.0)
    u = model.streams.uniform("decision.choice", day, acc, per="account")
    won = acc[u < p_us]
    lost = acc[u >= p_us]

    if won.size:
        src = pop.opp_source[won].copy()
        # self-serve wins (no sales conversation): the champion's last touch gets the credit
        champ_touch = pop.last_touch[pop.group_start[won]]
        src = np.where(src < 0, np.where(champ_touch < 0, SRC["content"], champ_touch), src)
        win_accounts(model, won, src)
    if lost.size:
        had_opp = pop.qualified[lost]
        close_opportunities(model, lost)
        set_account_stage(model, lost, LOST)
        pop.in_market[lost] = False
        pop.cooldown_until[lost] = day + cfg.need.cooldown_days
        model.metrics.count("new_losses", lost, per="account")
        record_episode_end(model, lost, decided=True)
        model.metrics.count("new_opportunities_lost", lost[had_opp], per="account")
        record_opportunities_closed(model, lost[had_opp], won=False)


def win_accounts(model, won: np.ndarray, src: np.ndarray) -> None:
    """Accounts ``won`` become our customers today, credited to source codes ``src``."""
    pop, day = model.pop, model.day
    cycle_start = np.where(np.isnan(pop.opp_day[won]), pop.day_in_market[won], pop.opp_day[won])
    pop.cycle_days[won] = day - cycle_start
    pop.won_source[won] = src
    pop.won_referred[won] = pop.account_any(pop.referred, won)
    model.metrics.count("new_opportunities_won", won[pop.qualified[won]], per="account")
    record_opportunities_closed(model, won[pop.qualified[won]], won=True)
    close_opportunities(model, won)
    set_account_stage(model, won, CUSTOMER)
    pop.customer[won] = True
    pop.won_in_run[won] = True
    pop.in_market[won] = False
    pop.acv[won] = pop.deal_size[won]
    pop.arr_won += pop.rep_sum(pop.acv[won], won)
    pop.day_won[won] = day
    model.metrics.count("new_wins", won, per="account")
    model.metrics.add_by_source("new_wins", src, won, per="account")
    cyc = pop.cycle_days[won]
    ok = np.isfinite(cyc)
    if ok.any():  # adoptions outside a buying episode (Bass diffusion) have no sales cycle
        model.sample("cycle_days", cyc[ok], won[ok], per="account")
        for i, seg in enumerate(SEGMENT_NAMES):
            sel = ok & (pop.segment[won] == i)
            model.sample(f"cycle_days_{seg}", cyc[sel], won[sel], per="account")
    # the whole journey: from the need trigger (episode start) to the purchase
    jd = day - pop.day_in_market[won]
    okj = np.isfinite(jd)
    for i, seg in enumerate(SEGMENT_NAMES):
        sel = okj & (pop.segment[won] == i)
        model.sample(f"journey_days_{seg}", jd[sel], won[sel], per="account")
    record_episode_end(model, won[okj], decided=True)


def record_opportunities_closed(model, acc: np.ndarray, won: bool) -> None:
    """Samples of closed opportunities (accounts ``acc`` whose opportunity closed today: won, lost to a
    competitor, or ended by no decision), parallel: ``opportunity_closed_segment`` (index into
    ``SEGMENTS``) and ``opportunity_closed_won`` (1 won, 0 not), for win rates by segment."""
    if acc.size:
        model.sample("opportunity_closed_segment", model.pop.segment[acc], acc, per="account")
        model.sample("opportunity_closed_won", np.full(acc.size, 1.0 if won else 0.0), acc, per="account")


def end_without_decision(model, acc: np.ndarray) -> None:
    """Accounts ``acc`` drop their buying episode today with no decision (the need faded, or the group stayed
    split or hesitant): open conversations close, in-market members go dormant, and an open opportunity counts
    as stalled. Counted as JOLT counts it (Dixon & McKenna 2022): indecision where the group had agreed to
    change, the status quo where it never did."""
    pop = model.pop
    had_opp = pop.qualified[acc]
    stalled = acc[had_opp]
    agreed = pop.agreed[acc]
    model.metrics.count("new_indecision", acc[agreed], per="account")
    model.metrics.count("new_status_quo", acc[~agreed], per="account")
    model.metrics.count("new_opportunities_indecision", acc[had_opp & agreed], per="account")
    model.metrics.count("new_opportunities_status_quo", acc[had_opp & ~agreed], per="account")
    held = acc[agreed]  # the episode is over: nobody is left hesitating over it (reassure scans the hesitant)
    if held.size:
        pop.hesitant[pop.members_of(held)] = False
    close_opportunities(model, acc)
    set_account_stage(model, acc, DORMANT, from_stages=(EXPLORING, ENGAGED))
    pop.in_market[acc] = False
    model.metrics.count("new_no_decisions", acc, per="account")
    record_episode_end(model, acc, decided=False)
    model.metrics.count("new_opportunities_stalled", stalled, per="account")
    record_opportunities_closed(model, stalled, won=False)


def record_episode_end(model, acc: np.ndarray, decided: bool) -> None:
    """Samples of ended buying episodes: the buying group's size and whether the account bought
    at all (from us or a competitor: ``decided``) or ended with no decision; and, for the episodes in which
    the account talked to our sales, the opening contact's progress and whether the buyer asked for that
    conversation (per completed purchase, as CEB and 6sense asked buyers who had completed one)."""
    if acc.size:
        pop = model.pop
        model.sample("episode_group_size", pop.group_size[acc], acc, per="account")
        model.sample("episode_segment", pop.segment[acc], acc, per="account")
        model.sample("episode_decided", np.full(acc.size, 1.0 if decided else 0.0), acc, per="account")
        model.sample("episode_conflicted", pop.conflicted[acc].astype(np.float64), acc, per="account")
        talked = acc[np.isfinite(pop.contact_progress[acc])]
        model.sample("purchase_progress_at_first_contact", pop.contact_progress[talked], talked, per="account")
        model.sample("purchase_first_contact_buyer_initiated", pop.contact_inbound[talked].astype(np.float64), talked,
                     per="account")


__all__ = ["step", "draw_stances", "deliberate", "make_case_for_change", "win_accounts", "end_without_decision", "record_episode_end", "record_opportunities_closed", "SOURCES"]


STEPS = (Step(600, "decision", "buying groups that reached consensus choose a vendor", step),)
