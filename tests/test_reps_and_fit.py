"""Reps who ramp up and leave, and account fit: known answers on hand-set state, then claims over seeds."""

import numpy as np
import pytest
from scipy import stats

import sim
from sim.engine.mechanisms import after_sale


def _model(small, overrides=None, strategy="content_nurture", seed=2):
    m = sim.JourneyModel(small, strategy=strategy, seed=seed, overrides=overrides)
    m.step()
    return m


def _open_deal(m, acc, owner):
    pop = m.pop
    members = pop.members_of(np.array([acc]))
    pop.opp[acc] = True
    pop.owner[acc] = owner
    pop.n_meetings[acc] = 5  # past the intent meetings: the expertise gain
    pop.trust[members] = 0.2
    return members


def test_a_new_rep_builds_less_trust_per_meeting_than_a_tenured_one(small):
    m = _model(small, {"sales.annual_attrition": 0.0, "sales.ramp_days": 200})
    team, pop = m.sales, m.pop
    team.tenure[:] = 10_000.0
    team.tenure[1] = -float(m.day)  # rep 1 joined today
    acc_old, acc_new = np.flatnonzero(~pop.customer & ~pop.opp & (pop.group_size >= 2))[:2]
    old, new = _open_deal(m, acc_old, 0), _open_deal(m, acc_new, 1)
    team.hold_meetings(np.array([acc_old, acc_new]))
    gain = m.cfg.sales.expertise_trust_gain
    assert pop.trust[old] == pytest.approx(0.2 + gain * 0.8, rel=1e-5)
    assert pop.trust[new] == pytest.approx(0.2 + 0.3 * gain * 0.8, rel=1e-5)  # a new hire starts at 30%


def test_new_reps_close_less_than_tenured_ones(default_scenario):
    """A team hired on day 0 (a year's ramp) against the same team with ten years' tenure, same seeds: its
    opportunities are won less often (paired one-sided t-test over 24 seeds at 5%). A rep's ramp acts through the
    trust a meeting builds, which matters to the win as much as competitors.choice_sensitivity lets it: the test
    holds that at 8 (the preset's value before session 11's refit). At the refit's 4.4 the effect on the win rate
    is 0.184 against 0.188 over these seeds, too small to show on 24."""
    base = default_scenario.with_overrides({"competitors.choice_sensitivity": 8.0, "market.n_accounts": 2000, "scenario.warmup_days": 0,
                                            "scenario.horizon_days": 365, "sales.annual_attrition": 0.0,
                                            "sales.ramp_days": 365})
    seeds = list(range(1, 25))
    new = [r.summary["opportunity_win_rate"] for r in
           sim.run_batch(base.with_overrides({"sales.initial_tenure_days": 0}), "content_nurture", seeds=seeds)]
    old = [r.summary["opportunity_win_rate"] for r in
           sim.run_batch(base.with_overrides({"sales.initial_tenure_days": 3650}), "content_nurture", seeds=seeds)]
    assert np.mean(new) < np.mean(old)
    assert stats.ttest_rel(new, old, alternative="less").pvalue < 0.05, (np.mean(new), np.mean(old))


def test_rep_departures_follow_the_attrition_hazard(small):
    """Departures over a run are Poisson with mean reps x hazard x years (two-sided test at 0.1%), each seat is
    refilled (the team keeps its size) and with no attrition nobody leaves."""
    rate = 2.0
    r = sim.run(small, "blended", seed=5, overrides={"sales.annual_attrition": rate})
    n_reps = small.config("blended").sales.n_reps
    years = small.horizon_days / 365.0
    left = r.timeseries["new_rep_departures"].sum()
    expected = n_reps * (1 - np.exp(-rate / 365.0)) * 365.0 * years
    assert stats.poisson.cdf(left, expected) > 0.0005 and stats.poisson.sf(left - 1, expected) > 0.0005, (left, expected)
    assert sim.run(small, "blended", seed=5, overrides={"sales.annual_attrition": 0.0}).timeseries[
        "new_rep_departures"].sum() == 0


def test_a_leaver_hands_on_open_deals_and_takes_personal_ties(small):
    m = _model(small, {"sales.annual_attrition": 0.0}, strategy="networking")
    team, pop = m.sales, m.pop
    acc = int(np.flatnonzero(~pop.customer & ~pop.opp)[0])
    _open_deal(m, acc, 0)
    tied = np.flatnonzero(pop.rep_tie)
    mine, others = tied[pop.tie_rep[tied] == 0], tied[pop.tie_rep[tied] != 0]
    assert mine.size and others.size  # the default market starts with personal ties to every rep
    tenure = team.tenure.copy()
    team.replace(np.array([0]))  # rep 0 leaves today; a new hire takes the seat
    assert team.tenure[0] == -float(m.day) and (team.tenure[1:] == tenure[1:]).all()
    assert not pop.rep_tie[mine].any() and (pop.tie_rep[mine] == -1).all()  # the leaver's ties are gone ...
    assert pop.rep_tie[others].all()  # ... the colleagues' stay
    assert pop.opp[acc] and pop.owner[acc] >= 0  # the open deal has an owner


def test_a_rep_does_not_qualify_an_account_that_does_not_fit(small):
    """With qualify_fit above every account's fit no conversation becomes an opportunity, though meetings are
    held; at 0 the fit is no bar."""
    none = sim.run(small, "content_nurture", seed=3, overrides={"sales.qualify_fit": 1.0}).timeseries
    assert none["new_meetings"].sum() > 0 and none["new_opportunities"].sum() == 0
    every = sim.run(small, "content_nurture", seed=3, overrides={"sales.qualify_fit": 0.0}).timeseries
    assert every["new_opportunities"].sum() > 0


def test_fit_is_an_account_attribute_that_does_not_move_other_draws(small):
    """Account fit has a stream of its own: its distribution's mean moves it and nothing else of the market."""
    a = sim.JourneyModel(small, strategy="blended", seed=4).pop
    b = sim.JourneyModel(small, strategy="blended", seed=4, overrides={"market.fit_mean": 0.8}).pop
    assert b.fit.mean() > a.fit.mean() + 0.2
    for col in ("segment", "group_size", "deal_size", "threshold", "speed"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    assert 0.45 < a.fit.mean() < 0.55 and (a.fit > 0).all() and (a.fit < 1).all()


def test_fit_lowers_churn_and_raises_our_side_of_the_choice(small):
    m = _model(small)
    pop = m.pop
    acc = np.flatnonzero(pop.customer)[:20]
    pop.fit[acc] = 0.2
    low = after_sale.churn_hazard(m, acc)
    pop.fit[acc] = 0.8
    high = after_sale.churn_hazard(m, acc)
    k = m.cfg.after_sale.fit_churn_sensitivity
    np.testing.assert_allclose(high / low, np.exp(-k * 0.6), rtol=1e-5)


#: a market large enough for the fit claims (wins and referrals are rare in ``small``)
FIT_MARKET = {"market.n_accounts": 1000, "scenario.horizon_days": 200, "scenario.warmup_days": 0,
              "channels.campaigns.burst_days": [20, 80]}


def test_accounts_we_win_fit_better_than_the_market(default_scenario):
    """Over 24 seeds the accounts won in the run have a higher mean fit than the market (one-sided t-test of the
    per-seed gaps at 5%). A run of this market wins about 14 accounts, so one seed's gap is noisy: with every outbound
    yes on the sales calendar (issue 21) 8 seeds gave p = 0.10, 16 gave 0.046 and 24 gave 0.004 (mean gap +0.037)."""
    base = default_scenario.with_overrides(FIT_MARKET)
    gaps = []
    for seed in range(1, 25):
        m = sim.JourneyModel(base, strategy="blended", seed=seed)
        m.run()
        won = np.flatnonzero(m.pop.won_in_run)
        gaps.append(float(m.pop.fit[won].mean() - m.pop.fit.mean()))
    assert stats.ttest_1samp(gaps, 0.0, alternative="greater").pvalue < 0.05, gaps


def test_referred_buyers_are_at_accounts_like_their_advocates(default_scenario):
    """With referrals falling off with the fit distance, referred accounts' fit lies closer to the mean fit of
    advocates than with similarity off (same 16 seeds; paired, one-sided at 5%; on 8 seeds of session 9's refitted
    default p was 0.050: 16 for power)."""
    richer = default_scenario.with_overrides({**FIT_MARKET, "word_of_mouth.referral_rate": 0.2,
                                              "after_sale.advocacy_rate": 0.05})

    def distance(k, seed):
        m = sim.JourneyModel(richer, strategy="networking", seed=seed,
                             overrides={"word_of_mouth.referral_fit_similarity": k})
        m.run()
        pop = m.pop
        ref = np.flatnonzero(pop.referred)
        adv_fit = pop.fit[pop.account[pop.advocate]].mean() if pop.advocate.any() else np.nan
        return float(np.abs(pop.fit[pop.account[ref]] - adv_fit).mean()) if ref.size else np.nan

    on = np.array([distance(8.0, s) for s in range(1, 17)])
    off = np.array([distance(0.0, s) for s in range(1, 17)])
    ok = np.isfinite(on) & np.isfinite(off)
    assert ok.sum() >= 14
    assert stats.ttest_rel(on[ok], off[ok], alternative="less").pvalue < 0.05, (on, off)
