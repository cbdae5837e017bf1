"""Word of mouth, in one home: buyers pass our content and campaigns on to their ties, customer
advocates raise their peers' trust and refer them to us, churned customers (detractors) speak
against us (seed 003; Schmitt, Skiera & Van den Bulte 2011). No rep, budget or channel drives it:
it is how the market talks, so its parameters are facts of the market, not of a strategy.

Three steps in the day, each where it has always run so that moving it here changed no number:

* ``sharing`` (before the social channel): buyers who engaged with our content or responded to a
  campaign today and chose to share (``share_prob``, drawn where the engagement happens) expose
  their ties; a buyer hears of it with chance ``1 - exp(-wom_rate * shared tie weight)``. Shared
  campaigns start a fresh response clock for the peer, who responds ``shared_response_lift`` times
  as readily as to a paid exposure (the long tail); shared content is a content touch.
* ``influence`` (after the social channel): advocates raise their peers' trust and awareness every
  day; detractors lower it.
* ``referrals`` (after networking): advocates refer peers at other accounts; a referred buyer
  receives a share of the advocate's trust and, if ready enough, a meeting (source "referral").

Its random streams keep the names they had when this code lived in the social and networking
channels ("social.*", "networking.referral*"), so the numbers did not move.
"""

from __future__ import annotations

import numpy as np

from sim.engine.declare import P, State, Step, flows
from sim.engine.network import Exposure, rows_dot, spread
from sim.engine.state import CUSTOMER, EXPLORING
from sim.engine.transitions import acceptance, raise_trust, start_conversations, touch

SECTION = "word_of_mouth"
PARAMS = {
    "share_prob": P(0.25, "float", 0, 1, "chance a buyer who engaged with our content or responded to a campaign shares it with peers",
                    "calibrated (was 0.08: ~1 shared campaign response a run, too few to measure the tail): with shared_response_lift, ~11 of ~250 campaign responses a run are shared (content_nurture; validation campaign_sharing_tail); CMO Council & NetLine 2014, The Content Connection to Vendor Selection: ~94% of B2B buyers pass content on to colleagues (ever); one in four engagements is an assumption"),
    "shared_response_lift": P(3.0, "float", 0, 100, "response to a campaign passed on by a peer, relative to a paid exposure (x)",
                              "assumption: seed 003 (shared content is endorsed by readers, 'the most trusted source of information'); Nielsen Global Trust in Advertising 2015: 83% trust recommendations from people they know vs 42-46% for online and social ads (2x in trust; 3x in response assumed)"),
    "wom_rate": P(0.5, "float", 0, 100, "awareness transmission per unit of sharing tie weight", "assumption"),
    "advocate_trust": P(0.004, "float", 0, 1, "daily trust from an advocate neighbour (per tie weight)", "assumption"),
    "advocate_awareness": P(0.02, "float", 0, 1, "daily chance per advocate tie weight that a peer hears of us", "assumption"),
    "detractor_trust": P(0.008, "float", 0, 1, "daily trust lost from a detractor neighbour (per tie weight)", "assumption: negative WOM weighs more"),
    "detractor_days": P(120, "int", 0, 3650, "days a churned customer speaks badly of us", "assumption"),
    "referral_rate": P(0.01, "float", 0, 1, "daily referral chance per unit of advocate tie weight", "assumption"),
    "referral_fit_similarity": P(4.0, "float", 0, 100, "referrals fall off with the distance in account fit between a referred buyer's account and the advocates who know them: the hazard is multiplied by exp(-k * |fit - the advocates' mean fit|)",
                                 "Schmitt, Skiera & Van den Bulte 2011 (J. Marketing 75(1)): referred customers are a better match, as customers refer people like themselves; k an assumption"),
    "trust_transfer": P(0.5, "float", 0, 1, "share of the introducer's trust passed on", "trust transfer (Schmitt, Skiera & Van den Bulte 2011)"),
}
STATE = (State("referred", "bool", False, "the buyer was referred to us by an advocate"),)
FLOWS = flows(
    ("new_shared_content", "peers reached by shared content", "buyers"),
    ("new_shared_campaigns", "peers reached by shared campaigns", "buyers"),
    ("new_referrals", "referrals by advocates", "buyers"),
)
STOCKS = ()


def sharing(model) -> None:
    c, pop, day, st = model.cfg.word_of_mouth, model.pop, model.day, model.streams
    if not (model.share_content.any() or model.share_campaign.any()):
        return
    not_cust = pop.stage != CUSTOMER
    for kind, flag in (("content", model.share_content), ("campaigns", model.share_campaign)):
        if flag.any():
            reached, e = spread(model.W, np.flatnonzero(flag))
            ok = (e > 0) & not_cust[reached] & ~flag[reached]
            cand, e = reached[ok], e[ok]
            u = st.uniform(f"social.hear_{kind}", day, cand)
            heard = cand[u < -np.expm1(-c.wom_rate * e)]
            model.metrics.count(f"new_shared_{kind}", heard)
            if kind == "content":
                cc = model.cfg.channels.content
                touch(model, heard, "content", cc.trust_gain, cc.progress_gain, organic=True)
            else:
                heard = heard[np.isnan(pop.exposure_day[heard])]
                # the campaign step has already run today: the peer's response clock starts
                # tomorrow at age 0, so no part of the response window is skipped
                pop.exposure_day[heard] = day + 1
                model.shared_exposure[heard] = True
                touch(model, heard, "social", organic=True)
            flag[:] = False


def influence(model) -> None:
    c, pop, day, st = model.cfg.word_of_mouth, model.pop, model.day, model.streams
    det = pop.detractor_until > day
    if pop.advocate.any() or det.any():
        e_adv = model.advocate_exposure(pop.advocate)
        t = c.advocate_trust * e_adv  # trust + (advocate - detractor influence), in float64, clipped
        t -= c.detractor_trust * model.detractor_exposure(det)
        t += pop.trust
        pop.trust[:] = np.clip(t, 0.0, 1.0, out=t)
        cand = np.flatnonzero((e_adv > Exposure.EPS) & ~pop.aware)
        u = st.uniform("social.advocate_awareness", day, cand)
        touch(model, cand[u < -np.expm1(-c.advocate_awareness * e_adv[cand])], "referral", organic=True)


def referrals(model) -> None:
    c, pop, day, st = model.cfg.word_of_mouth, model.pop, model.day, model.streams
    if not pop.advocate.any():
        return
    exposure = model.advocate_exposure_weak(pop.advocate)
    cand = np.flatnonzero((exposure > Exposure.EPS) & (pop.stage == EXPLORING) & ~pop.engaged & ~pop.referred)
    if cand.size:
        u = st.uniform("networking.referral", day, cand)
        rate = c.referral_rate * exposure[cand]
        if c.referral_fit_similarity > 0:  # advocates refer accounts like their own
            adv_fit = rows_dot(model.W_weak, cand, lambda i: pop.advocate[i] * pop.fit[pop.account[i]]) / exposure[cand]
            rate = rate * np.exp(-c.referral_fit_similarity * np.abs(pop.fit[pop.account[cand]] - adv_fit))
        ref = cand[u < -np.expm1(-rate)]
        if ref.size:
            adv_trust = rows_dot(model.W_weak, ref, lambda i: pop.advocate[i] * pop.trust[i]) / exposure[ref]
            pop.referred[ref] = True
            touch(model, ref, "networking", organic=True)
            raise_trust(pop, ref, c.trust_transfer * adv_trust)
            model.metrics.count("new_referrals", ref)
            u = st.uniform("networking.referral_accept", day, ref)
            start_conversations(model, ref[u < acceptance(model, ref, model.cfg.channels.networking.readiness_discount)],
                                "referral")


STEPS = (
    Step(329, "word_of_mouth.sharing", "buyers pass content and campaigns on to their ties", sharing),
    Step(335, "word_of_mouth.influence", "advocates raise, detractors lower their peers' trust", influence),
    Step(345, "word_of_mouth.referrals", "advocates refer peers at other accounts", referrals),
)
