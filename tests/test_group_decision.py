"""The buying group deliberates as the Friedkin-Johnsen model says (anchored members settle apart), and our
sales make the case for change to the people in the room: known answers on hand-set state, then the
group-size claim over seeds."""

import numpy as np
import pytest
from scipy import stats

import sim
from sim.engine.mechanisms.decision import deliberate


def _group(small, overrides=None, size=4):
    m = sim.JourneyModel(small, strategy="content_nurture", seed=3, overrides=overrides)
    m.step()
    pop = m.pop
    acc = int(np.flatnonzero((pop.group_size == size) & ~pop.customer & ~pop.opp)[0])
    members = pop.members_of(np.array([acc]))
    own = np.linspace(-1.5, 1.5, size).astype(np.float32)
    pop.stance[members] = own
    pop.stance_own[members] = own
    return m, acc, members, own


def _weighted_mean(m, members, own):
    w = m.pop.weight[members].astype(np.float64)
    return float((w * own).sum() / w.sum())


def _settle(m, acc, days=3000):
    for _ in range(days):
        deliberate(m, np.array([acc]))


def test_susceptible_members_reach_consensus(small):
    """Susceptibility 1 is DeGroot's averaging: every position converges to the group's mean."""
    m, acc, members, own = _group(small, {"decision.susceptibility": 1.0, "decision.alignment": 0.05})
    _settle(m, acc)
    assert np.ptp(m.pop.stance[members]) < 1e-4
    assert m.pop.stance[members][0] == pytest.approx(_weighted_mean(m, members, own), abs=1e-4)


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7])
def test_anchored_members_settle_apart(small, lam):
    """Below 1, a member settles at lam x the group's decision-weighted mean of its members' own positions +
    (1 - lam) x their own (the Friedkin-Johnsen equilibrium), so the dissenter at -1.5 stays against."""
    m, acc, members, own = _group(small, {"decision.susceptibility": lam, "decision.alignment": 0.05})
    _settle(m, acc)
    expected = lam * _weighted_mean(m, members, own) + (1 - lam) * own
    np.testing.assert_allclose(m.pop.stance[members], expected, atol=1e-3)
    assert m.pop.stance[members][0] < 0


def test_our_case_for_change_reaches_only_the_people_in_the_room(small):
    m, acc, members, own = _group(small)
    pop = m.pop
    pop.opp[acc] = True
    pop.owner[acc] = 0
    pop.engaged[members] = False
    pop.engaged[members[:2]] = True
    m.sales.hold_meetings(np.array([acc]))
    gain = m.cfg.decision.meeting_stance_gain
    assert gain > 0
    np.testing.assert_allclose(pop.stance[members[:2]], own[:2] + gain, rtol=1e-6)
    np.testing.assert_allclose(pop.stance_own[members[:2]], own[:2] + gain, rtol=1e-6)  # their own view moved
    np.testing.assert_array_equal(pop.stance[members[2:]], own[2:])


@pytest.mark.slow
def test_larger_groups_in_one_segment_decide_less_often_when_members_are_anchored(default_scenario):
    """Within the smb segment, groups of one buy more often than groups of six when members keep their own
    positions (susceptibility 0) and less so when they converge (1.0): over 12 seeds, the per-seed difference of
    the share of ended episodes with a purchase (size 1 minus size 6) is positive for anchored groups and larger
    than for converging ones (one-sided t-tests at 5%). The need's fade is slowed and our sales make no case for
    change, so that the group's own decision, not the calendar or the seller, ends most episodes; nobody hesitates
    (decision.indecision 0), so that the claim is deliberation's alone."""
    base = default_scenario.with_overrides({"market.n_accounts": 4000, "scenario.horizon_days": 365,
                                            "need.fade_rate": 0.001, "decision.meeting_stance_gain": 0.0,
                                            "decision.indecision": 0.0})
    seeds = list(range(1, 13))

    def gaps(lam):
        out = []
        for r in sim.run_batch(base.with_overrides({"decision.susceptibility": lam}), "blended", seeds=seeds):
            s = r.samples
            smb = s["episode_segment"] == 0
            one, six = s["episode_decided"][smb & (s["episode_group_size"] == 1)], s["episode_decided"][smb & (s["episode_group_size"] >= 6)]
            out.append(one.mean() - six.mean())
        return np.array(out)

    anchored, converging = gaps(0.0), gaps(1.0)
    assert stats.ttest_1samp(anchored, 0.0, alternative="greater").pvalue < 0.05, anchored
    assert stats.ttest_rel(anchored, converging, alternative="greater").pvalue < 0.05, (anchored.mean(), converging.mean())


CONFLICT_BASE = {"need.fade_rate": 0.0, "decision.alignment": 0.0, "decision.stall_days": 0, "decision.indecision": 0.0,
                 "decision.meeting_stance_gain": 0.0, "decision.stance_mean": 0.3, "decision.stance_correlation": 0.0}


def test_conflict_is_a_group_whose_members_disagree(small):
    """A group has had conflict in an episode if on some day one member was for a change and another against.
    One person cannot disagree with themself; with no spread of positions no group disagrees; the summary's share
    over groups of five or more is the mean of the episodes' flags; and fixed, independent positions drawn at the
    start of an episode disagree as often as 1 - p^n - (1 - p)^n says (the draw itself, 50 draws of every account
    of sizes 2, 5 and 6, within 3 binomial sd)."""
    from sim.engine.mechanisms.decision import draw_stances

    rs = sim.run_batch(small.with_overrides(CONFLICT_BASE), "blended", list(range(1, 7)))
    size = np.concatenate([r.samples["episode_group_size"] for r in rs])
    con = np.concatenate([r.samples["episode_conflicted"] for r in rs])
    assert size.size > 100 and not con[size == 1].any() and con[size > 1].any()
    share = [r.summary["buying_group_conflict_share"] for r in rs]
    assert share == [float(r.samples["episode_conflicted"][r.samples["episode_group_size"] >= 5].mean()) for r in rs]
    same = sim.run_batch(small.with_overrides({**CONFLICT_BASE, "decision.stance_sd": 0.0}), "blended", [1, 2])
    assert all(r.samples["episode_conflicted"].size > 0 and not r.samples["episode_conflicted"].any() for r in same)
    m = sim.JourneyModel(small.with_overrides(CONFLICT_BASE), strategy="blended", seed=1)
    pop, p = m.pop, stats.norm.cdf(0.3)
    for g in (2, 5, 6):
        acc = np.flatnonzero(pop.group_size == g)
        split = []
        for day in range(50):
            m.day = day
            draw_stances(m, acc)
            lo, hi = pop.account_min_max(pop.stance, acc)
            split.append((lo < 0) & (hi >= 0))
        n, q = 50 * acc.size, 1 - p ** g - (1 - p) ** g
        assert abs(np.count_nonzero(split) - n * q) < 3 * np.sqrt(n * q * (1 - q)), (g, np.mean(split), q)


def test_recorded_conflict_follows_the_independent_draw_in_whole_runs(small):
    """Pooled over 24 seeds of whole runs with fixed, independent positions (no deliberation, no meetings moving
    them, correlation 0), the conflict flag of ended episodes agrees with 1 - p^n - (1 - p)^n per size: a
    chi-square goodness of fit over the sizes above 1 with at least 10 episodes, at 1%. (Until session 14 on 6
    seeds, which failed at p = 0.0045 once the default preset was refitted: 24 seeds give the test the power to
    tell a chance deviation from a defect. Watch size 5: 0.83 against 0.90 on these seeds, z = -3.3.)"""
    rs = sim.run_batch(small.with_overrides(CONFLICT_BASE), "blended", list(range(1, 25)))
    size = np.concatenate([r.samples["episode_group_size"] for r in rs])
    con = np.concatenate([r.samples["episode_conflicted"] for r in rs])
    p = stats.norm.cdf(0.3)
    sizes = [g for g in np.unique(size) if g > 1 and np.count_nonzero(size == g) >= 10]
    assert len(sizes) >= 4
    n = np.array([np.count_nonzero(size == g) for g in sizes])
    k = np.array([con[size == g].sum() for g in sizes])
    q = 1 - p ** np.array(sizes) - (1 - p) ** np.array(sizes)
    chi2 = float((((k - n * q) ** 2) / (n * q * (1 - q))).sum())
    assert stats.chi2.sf(chi2, len(sizes)) > 0.01, (sizes, k / n, q)


# ------------------------------------------------------------------------------------------------ indecision


def test_every_member_is_one_more_chance_of_a_hesitation(small):
    """Everyone is for a change (positions far above 0, no spread), nobody's doubts settle (no reassurance, on
    their own or in a meeting) and a group that cannot act stops at once (stall_days 0): a group of n acts with
    chance (1 - h)^n, h = decision.indecision. Pooled over 6 seeds, a chi-square goodness of fit over the sizes
    with at least 10 episodes, at 1%. Every episode ended without a purchase is counted as indecision (the group
    had agreed), none as the status quo; with h = 0 every group acts."""
    h = 0.15
    base = {"need.fade_rate": 0.0, "decision.stall_days": 0, "decision.stance_mean": 5.0, "decision.stance_sd": 0.0,
            "decision.indecision": h, "decision.reassurance_rate": 0.0, "decision.meeting_reassurance": 0.0}
    rs = sim.run_batch(small.with_overrides(base), "blended", list(range(1, 7)))
    size = np.concatenate([r.samples["episode_group_size"] for r in rs])
    decided = np.concatenate([r.samples["episode_decided"] for r in rs])
    assert sum(float(r.timeseries["new_indecision"].sum()) for r in rs) == np.count_nonzero(decided == 0) > 0
    assert sum(float(r.timeseries["new_status_quo"].sum()) for r in rs) == 0
    sizes = [g for g in np.unique(size) if np.count_nonzero(size == g) >= 10]
    assert len(sizes) >= 5
    n = np.array([np.count_nonzero(size == g) for g in sizes])
    k = np.array([decided[size == g].sum() for g in sizes])
    q = (1 - h) ** np.array(sizes)
    chi2 = float((((k - n * q) ** 2) / (n * q * (1 - q))).sum())
    assert stats.chi2.sf(chi2, len(sizes)) > 0.01, (sizes, k / n, q)
    none = sim.run_batch(small.with_overrides({**base, "decision.indecision": 0.0}), "blended", [1, 2])
    assert all(r.samples["episode_decided"].size > 0 and r.samples["episode_decided"].all() for r in none)


def test_a_meeting_reassures_the_hesitant_people_in_the_room(small):
    """With meeting_reassurance 1 a hesitant member in the meeting is reassured, one not in the room is not;
    with 0 nobody is."""
    for chance, expect in ((1.0, False), (0.0, True)):
        m, acc, members, own = _group(small, {"decision.meeting_reassurance": chance})
        pop = m.pop
        pop.opp[acc] = True
        pop.owner[acc] = 0
        pop.hesitant[members] = True
        pop.engaged[members] = False
        pop.engaged[members[:2]] = True
        m.sales.hold_meetings(np.array([acc]))
        assert (pop.hesitant[members[:2]] == expect).all()
        assert pop.hesitant[members[2:]].all()


def test_doubts_settle_at_the_reassurance_rate(small):
    """A day of reassurance at rate r settles each hesitant member's doubts with chance r: over 2,000 hand-set
    hesitant members, a two-sided binomial test at 0.1%."""
    from sim.engine.mechanisms.decision import reassure

    rate = 0.3
    m = sim.JourneyModel(small, strategy="content_nurture", seed=5, overrides={"decision.reassurance_rate": rate})
    m.step()
    pop = m.pop
    pop.hesitant[:] = False
    doubt = np.arange(min(2000, pop.hesitant.size))
    pop.hesitant[doubt] = True
    reassure(m)
    settled = int(np.count_nonzero(~pop.hesitant[doubt]))
    assert stats.binomtest(settled, doubt.size, rate).pvalue > 0.001, settled / doubt.size


def test_indecision_slows_nobody_who_does_not_hesitate(small):
    """decision.indecision 0 leaves the model as it was without the mechanism: no member is ever hesitant and no
    episode ends as indecision, on the same seeds the wins are those of a run whose reassurance settings differ
    (they act only on hesitant members)."""
    a = sim.run(small, "blended", 3, overrides={"decision.indecision": 0.0})
    b = sim.run(small, "blended", 3, overrides={"decision.indecision": 0.0, "decision.reassurance_rate": 0.9,
                                                "decision.meeting_reassurance": 0.0})
    assert a.timeseries["new_indecision"].sum() == 0
    assert a.summary.keys() == b.summary.keys()
    assert all(np.array_equal(a.summary[k], b.summary[k], equal_nan=True) for k in a.summary), a.summary
    assert a.summary["status_quo_share_of_no_decisions"] == 1.0
