"""Direction of effect per channel, and rankings that come out of the market, not the code."""

import numpy as np
import pytest
from scipy import stats

import sim

SEEDS = range(1, 6)


def total(scenario, strategy, seed, column):
    return float(sim.run(scenario, strategy, seed).timeseries[column].sum())


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
    lo = np.array([total(low, "blended", s, column) for s in SEEDS])
    hi = np.array([total(high, "blended", s, column) for s in SEEDS])
    assert (hi >= lo).all(), f"{channel}: {lo} -> {hi}"
    assert hi.sum() > lo.sum()


# rep activity -> metric; time is moved from another activity so the split still sums to 1.
# Meetings are limited by demand unless the team is short of time, so that case uses one rep
# with 0.6 selling hours a day: then meeting time binds and more of it means more meetings.
REP_EFFECTS = [
    ("dialing", "meetings", "new_dials", {}),
    ("networking", "meetings", "new_rep_ties", {}),
    ("social", "meetings", "new_social_reach", {}),
    ("meetings", "social", "new_sales_meetings", {"sales.n_reps": 1, "sales.hours_per_day": 0.6}),
]


@pytest.mark.parametrize("activity, donor, column, setting", REP_EFFECTS)
def test_more_rep_time_never_means_fewer_touches_of_that_activity(small, activity, donor, column, setting):
    small = small.with_overrides(setting)
    split = vars(small.config("blended").sales.split)
    shift = 0.1
    path = "strategies.blended.sales.split"
    more = small.with_overrides({f"{path}.{activity}": split[activity] + shift, f"{path}.{donor}": split[donor] - shift})
    base = np.array([total(small, "blended", s, column) for s in SEEDS])
    up = np.array([total(more, "blended", s, column) for s in SEEDS])
    assert (up >= base).all(), f"{activity}: {base} -> {up}"
    assert up.sum() > base.sum()


def paired_wins_difference(scenario, a, b, seeds):
    wa = np.array([sim.run(scenario, a, s).summary["customers_won"] for s in seeds])
    wb = np.array([sim.run(scenario, b, s).summary["customers_won"] for s in seeds])
    d = wa - wb
    t = stats.ttest_1samp(d, 0.0)
    return d.mean(), t.pvalue


def test_ranking_flips_with_search_demand(default_scenario):
    """Content-led nurture beats cold calling where buyers search a lot; where nobody searches,
    cold calling wins.

    Nothing in the code ranks strategies: content reaches buyers only through search (share of
    voice), while cold calls reach buyers whether they search or not and can create demand.
    Paired over 8 seeds (common random numbers), two-sided paired t-test at 5%, default market.
    Measured when written: 46.8 vs 34.0 wins (p = 0.0002) and 12.8 vs 18.3 wins (p = 0.023).
    """
    seeds = range(1, 9)
    searching = default_scenario.with_overrides({"research.search_intensity": 0.9})
    d_search, p_search = paired_wins_difference(searching, "content_nurture", "cold_calling", seeds)
    no_search = default_scenario.with_overrides({"research.search_intensity": 0.0})
    d_none, p_none = paired_wins_difference(no_search, "content_nurture", "cold_calling", seeds)
    assert d_search > 0 and p_search < 0.05, (d_search, p_search)
    assert d_none < 0 and p_none < 0.05, (d_none, p_none)
