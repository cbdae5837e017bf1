"""Direction of effect per channel, and rankings that come out of the market, not the code."""

import numpy as np
import pytest
from scipy import stats

import sim

SEEDS = range(1, 6)


def totals(scenario, strategy, seeds, column) -> np.ndarray:
    """``column`` summed over each run of ``seeds``: the runs side by side on the engine's replication axis, each
    exactly its single run (tests/test_batch.py), at about half the time of one run after another."""
    return np.array([float(r.timeseries[column].sum()) for r in sim.run_batch(scenario, strategy, list(seeds))])


# channel budget -> the metric counting that channel's own touches
BUDGET_EFFECTS = [
    ("content", "new_content_visits"),
    ("email", "new_emails"),
    ("cold_calling", "new_dials"),
    ("networking", "new_rep_ties"),
    ("campaigns", "new_campaign_reach"),
    ("social", "new_social_reach"),
]


# email volume is limited by known contacts (~10 sends a day here), so only a tiny budget binds
LOW_BUDGET = {"email": 60.0}


@pytest.mark.parametrize("channel, column", BUDGET_EFFECTS)
def test_more_budget_never_means_fewer_touches_of_that_channel(small, channel, column):
    base = small.config("blended").channels
    budget = getattr(base, channel).budget
    # a low budget that binds even where the full budget saturates the small market
    low = small.with_overrides({f"channels.{channel}.budget": LOW_BUDGET.get(channel, budget * 0.1)})
    high = small.with_overrides({f"channels.{channel}.budget": budget})
    lo, hi = totals(low, "blended", SEEDS, column), totals(high, "blended", SEEDS, column)
    assert (hi >= lo).all(), f"{channel}: {lo} -> {hi}"
    assert hi.sum() > lo.sum()


# rep activity -> metric; time is moved from another activity so the split still sums to 1.
REP_EFFECTS = [
    ("dialing", "meetings", "new_dials", {}),
    ("networking", "meetings", "new_rep_ties", {}),
    ("social", "meetings", "new_social_reach", {}),
]


def _more_time(small, activity, donor, setting=None):
    small = small.with_overrides(setting or {})
    split = vars(small.config("blended").sales.split)
    shift = 0.1
    path = "strategies.blended.sales.split"
    more = small.with_overrides({f"{path}.{activity}": split[activity] + shift, f"{path}.{donor}": split[donor] - shift})
    return small, more


@pytest.mark.parametrize("activity, donor, column, setting", REP_EFFECTS)
def test_more_rep_time_never_means_fewer_touches_of_that_activity(small, activity, donor, column, setting):
    """Dials, new ties and social reach are bought with rep hours: more hours, never fewer touches."""
    small, more = _more_time(small, activity, donor, setting)
    base, up = totals(small, "blended", SEEDS, column), totals(more, "blended", SEEDS, column)
    assert (up >= base).all(), f"{activity}: {base} -> {up}"
    assert up.sum() > base.sum()


@pytest.mark.slow
def test_more_meeting_time_means_more_meetings_when_the_team_is_short_of_time(small):
    """Meetings are limited by demand unless the team is short of time, so this uses one rep with
    0.6 selling hours a day. Which buyers get a meeting changes what happens next, so a seed can
    lose a meeting by chance: the claim is on the mean, paired over 30 seeds (one-sided paired
    t-test at 5%). Measured when written: +1.5 meetings per run over 12 seeds, p = 0.004; after the
    session-4 recalibration (more needs fade) 12 seeds gave p = 0.06, so 30 seeds: +1.3, p = 0.0003."""
    small, more = _more_time(small, "meetings", "social", {"sales.n_reps": 1, "sales.hours_per_day": 0.6})
    seeds = range(1, 31)
    base, up = totals(small, "blended", seeds, "new_sales_meetings"), totals(more, "blended", seeds, "new_sales_meetings")
    t = stats.ttest_rel(up, base, alternative="greater")
    assert t.pvalue < 0.05, (base, up, t)


def wins_difference(scenario, a, b, seeds) -> np.ndarray:
    """Customers won by strategy ``a`` minus ``b``, seed by seed (common random numbers)."""
    wa = np.array([r.summary["customers_won"] for r in sim.run_batch(scenario, a, list(seeds))])
    wb = np.array([r.summary["customers_won"] for r in sim.run_batch(scenario, b, list(seeds))])
    return wa - wb


@pytest.mark.slow
def test_search_demand_drives_content_nurtures_edge(default_scenario):
    """Content-led nurture beats cold calling where buyers search a lot, and most of its edge goes when nobody
    searches.

    Nothing in the code ranks strategies: content reaches buyers only through search (share of voice), while
    cold calls reach buyers whether they search or not and can create demand. Both hypotheses are stated in
    advance and tested one-sided at 5% over 12 seeds (24 until session 11; common random numbers, the two markets
    share the seeds), default market: content nurture's edge where buyers search (paired t-test) and the fall of that edge when
    search stops (the paired difference of the two edges). Measured in session 7: searching 60.6 vs 32.0 wins
    (edge 28.6, p = 4e-15); no search 24.4 vs 21.3 (edge 3.1, two-sided p = 0.03). On 12 seeds of session 10's preset: searching 71.6 vs
    42.3 wins (p = 3e-7); no search 20.7 vs 19.4; the fall of the edge p = 1e-6.

    History: until session 7 this test asserted a full flip, cold calling ahead where nobody searches (17.7 vs
    21.1 after session 2's calibration). The session-7 recalibration fitted sales.dormant_accept to the published
    meetings per cold-call conversation (0.026 instead of the assumed 0.05), which halves the meetings a cold call
    books from buyers with no need: without search, cold calling no longer wins. A result, not tuned back.
    """
    seeds = range(1, 13)
    searching = default_scenario.with_overrides({"research.search_intensity": 0.9})
    d_search = wins_difference(searching, "content_nurture", "cold_calling", seeds)
    no_search = default_scenario.with_overrides({"research.search_intensity": 0.0})
    d_none = wins_difference(no_search, "content_nurture", "cold_calling", seeds)
    p_search = stats.ttest_1samp(d_search, 0.0, alternative="greater").pvalue
    p_fall = stats.ttest_1samp(d_search - d_none, 0.0, alternative="greater").pvalue
    assert d_search.mean() > 0 and p_search < 0.05, (d_search, p_search)
    assert (d_search - d_none).mean() > 0 and p_fall < 0.05, (d_search, d_none, p_fall)


def bass_curve(p, q, t):
    e = np.exp(-(p + q) * t)
    return (1 - e) / (1 + (q / p) * e)


@pytest.mark.parametrize("p, q", [(0.002, 0.03), (0.005, 0.0), (0.004, 0.04)])
def test_bass_scenario_docks_with_the_analytic_curve(p, q):
    """Only p and q act on a fully mixed population: the adoption curve is the Bass curve
    (with q = 0 it is 1 - e^{-pt}).

    Tolerance 0.02 on the mean of 8 seeds (N = 10,000 each). Two effects make a single run
    deviate: the daily step uses yesterday's adopted share (a lag of about half a day, <= 0.005
    here) and the random timing of the takeoff, which rests on the first N*p adopters (about
    0.01-0.02 per run, shrinking by sqrt(8) over 8 runs). Both grow with q/p: at q/p = 60 the
    mean lags the analytic curve by 0.02-0.04, which the validation suite reports.
    """
    from pathlib import Path

    s = sim.load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "bass.toml")
    s = s.with_overrides({"diffusion.p": p, "diffusion.q": q})
    t = np.arange(1, s.horizon_days + 1)
    curves = [sim.run(s, "bass", seed).timeseries["cum_wins"].to_numpy() / 10_000 for seed in range(1, 9)]
    F = np.mean(curves, axis=0)
    expected = bass_curve(p, q, t) if q > 0 else 1 - np.exp(-p * t)
    assert np.abs(F - expected).max() < 0.02
    if q > p:  # peak timing t* = ln(q/p) / (p + q), where F crosses its inflection (1 - p/q) / 2
        crossed = t[np.argmax(F >= (1 - p / q) / 2)]
        assert abs(crossed - np.log(q / p) / (p + q)) <= 3


def test_diffusion_is_slower_on_a_sparse_network_than_fully_mixed():
    from pathlib import Path

    s = sim.load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "bass.toml")
    full = np.mean([sim.run(s, "bass", k).timeseries["cum_wins"].iloc[100] for k in (1, 2)])
    sparse = s.with_overrides({"diffusion.mixing": "network", "network.weak_ties_mean": 2.0})
    net = np.mean([sim.run(sparse, "bass", k).timeseries["cum_wins"].iloc[100] for k in (1, 2)])
    assert net < full


def _episodes(scenario, seeds):
    rs = sim.run_batch(scenario, "blended", list(seeds))
    size = np.concatenate([r.samples["episode_group_size"] for r in rs])
    decided = np.concatenate([r.samples["episode_decided"] for r in rs])
    status_quo = sum(float(r.timeseries["new_status_quo"].sum()) for r in rs)
    return size, decided, status_quo


def test_independent_positions_make_larger_groups_decide_less(small):
    """With no fading need, no deliberation and no stall, every episode that ends does so when the group first
    tries to decide: it acts only if nobody is against. With independent positions (correlation 0) and no
    meetings moving them, each member is for a change with chance p = Phi(stance_mean / stance_sd), so a
    group of n buys with chance p^n.

    Pooled over 8 seeds, the decided share of each group size agrees with p^size: a chi-square goodness of
    fit over the sizes with at least 10 episodes, at 1%. The episodes ended without a decision are exactly the
    ``new_status_quo`` flow. With positions fully shared (correlation 1) a group acts with chance p whatever
    its size."""
    base = {"need.fade_rate": 0.0, "decision.alignment": 0.0, "decision.stall_days": 0,
            "decision.meeting_stance_gain": 0.0, "decision.stance_mean": 1.2, "decision.indecision": 0.0}
    p = stats.norm.cdf(1.2)
    size, decided, status_quo = _episodes(small.with_overrides({**base, "decision.stance_correlation": 0.0}), range(1, 9))
    assert status_quo == np.count_nonzero(decided == 0) > 0
    sizes = [g for g in np.unique(size) if np.count_nonzero(size == g) >= 10]
    assert len(sizes) >= 5
    n = np.array([np.count_nonzero(size == g) for g in sizes])
    k = np.array([decided[size == g].sum() for g in sizes])
    q = p ** np.array(sizes)
    chi2 = float((((k - n * q) ** 2) / (n * q * (1 - q))).sum())
    assert stats.chi2.sf(chi2, len(sizes)) > 0.01, (sizes, k / n, q)
    assert decided[size == sizes[0]].mean() - decided[size == sizes[-1]].mean() > 0.3

    size1, decided1, _ = _episodes(small.with_overrides({**base, "decision.stance_correlation": 1.0}), range(1, 9))
    big = size1 >= 6
    assert big.sum() >= 20
    assert stats.binomtest(int(decided1[big].sum()), int(big.sum()), p).pvalue > 0.001, (decided1[big].mean(), p)


def test_a_split_group_that_deliberates_decides_more_often(small):
    """Alignment brings a split group together: with the same positions, deliberating for stall_days lets more
    groups of six or more act than deciding at the first try (paired over 6 seeds, pooled)."""
    base = {"need.fade_rate": 0.0, "decision.meeting_stance_gain": 0.0, "decision.stance_mean": 1.0,
            "decision.stance_correlation": 0.3, "decision.indecision": 0.0}
    s0, d0, _ = _episodes(small.with_overrides({**base, "decision.alignment": 0.0, "decision.stall_days": 0}), range(1, 7))
    s1, d1, _ = _episodes(small.with_overrides({**base, "decision.alignment": 0.05, "decision.stall_days": 60}), range(1, 7))
    a, b = d0[s0 >= 6], d1[s1 >= 6]
    assert a.size >= 20 and b.size >= 20
    table = [[int(b.sum()), int(b.size - b.sum())], [int(a.sum()), int(a.size - a.sum())]]
    assert b.mean() > a.mean() and stats.fisher_exact(table, alternative="greater").pvalue < 0.01, (a.mean(), b.mean())
