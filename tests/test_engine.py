"""The simulation engine: reproducibility, common random numbers, conservation, Mesa contract."""

import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim.engine.state import STAGES


def test_same_seed_gives_identical_results(small):
    a = sim.run(small, "blended", seed=7)
    b = sim.run(small, "blended", seed=7)
    assert a.summary == pytest.approx(b.summary, nan_ok=True)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    for k in a.samples:
        np.testing.assert_array_equal(a.samples[k], b.samples[k])


def test_different_seeds_differ(small):
    a = sim.run(small, "blended", seed=1).timeseries
    b = sim.run(small, "blended", seed=2).timeseries
    assert not a["n_exploring"].equals(b["n_exploring"])
    assert not a["cum_touches"].equals(b["cum_touches"])


def test_runs_to_horizon_with_one_row_per_day(small):
    r = sim.run(small, "cold_calling", seed=3)
    assert list(r.timeseries["day"]) == list(range(small.horizon_days))
    for key in ("customers_won", "cac", "ltv_to_cac", "median_progress_at_first_contact", "deals_referral"):
        assert key in r.summary


def _market_and_network(scenario, strategy, seed=5):
    m = sim.JourneyModel(scenario, strategy=strategy, seed=seed)
    p = m.pop
    return m, (p.segment, p.group_size, p.deal_size, p.account, p.role, p.threshold, p.receptivity, p.speed, p.rep_tie)


def test_common_random_numbers_market_and_network_do_not_depend_on_strategy(small):
    """Changing a channel budget (or the whole strategy) leaves population and network identical."""
    richer = small.with_overrides({"channels.content.budget": 999_000.0})
    m1, a = _market_and_network(small, "content_nurture")
    m2, b = _market_and_network(richer, "content_nurture")
    m3, c = _market_and_network(small, "cold_calling")
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    for other in (m2, m3):
        assert (m1.W != other.W).nnz == 0
    # and the decisions' dice are shared: same stream, same day, same numbers
    np.testing.assert_array_equal(
        m1.streams.uniform("need.trigger", 17, m1.pop.n_accounts), m3.streams.uniform("need.trigger", 17, m3.pop.n_accounts)
    )


def test_crn_same_need_triggers_until_behaviour_diverges(small):
    """With common random numbers, the first day's new buying episodes agree across strategies."""
    a = sim.run(small, "cold_calling", seed=4).timeseries
    b = sim.run(small, "networking", seed=4).timeseries
    assert a["new_episodes"].iloc[:2].tolist() == b["new_episodes"].iloc[:2].tolist()


def test_conservation_stages_costs_and_cumulatives(small):
    for strategy in small.strategies:
        r = sim.run(small, strategy, seed=11)
        ts = r.timeseries
        n_buyers = sim.JourneyModel(small, strategy, seed=11).pop.n
        stage_sum = sum(ts[f"n_{s}"] for s in STAGES)
        assert (stage_sum == n_buyers).all(), "every buyer is in exactly one stage every day"
        cost_cols = [c for c in ts if c.startswith("new_cost")]
        assert (ts[cost_cols] >= 0).all().all()
        cum = [c for c in ts if c.startswith("cum_")]
        assert (ts[cum].diff().iloc[1:] >= -1e-9).all().all(), "cumulative counts never fall"
        assert ts["new_cost"].sum() == pytest.approx(sum(ts[f"new_cost_{c}"].sum() for c in sim.COST_CHANNELS))
        assert ((ts["rep_utilisation"] >= 0) & (ts["rep_utilisation"] <= 1 + 1e-9)).all()


def test_reps_are_mesa_agents_and_model_follows_mesa_contract():
    import mesa

    m = sim.JourneyModel(overrides={"market.n_accounts": 100, "scenario.horizon_days": 5, "scenario.warmup_days": 3,
                                    "channels.campaigns.burst_days": [1]})
    assert isinstance(m, mesa.Model)
    assert all(isinstance(a, mesa.Agent) for a in m.reps)
    assert len(m.reps) == m.cfg.sales.n_reps
    steps = 0
    while m.running:
        m.step()
        steps += 1
    assert steps == 3 + 5  # one Mesa step a day, the warm-up's days included
    df = m.datacollector.get_model_vars_dataframe()
    assert len(df) == 8 and "cum_wins" in df.columns
    assert (df["cum_cost"].iloc[:3] == 0).all() and df["cum_cost"].iloc[3] > 0  # cumulated from the horizon
    # each rep reads its own row of the team's capacity arrays; together they are the team
    team = m.sales
    assert sum(r.hours["dialing"] for r in m.reps) == pytest.approx(team.hours("dialing"))
    assert [r.slots for r in m.reps] == pytest.approx(list(team.slots))
    assert all(r.split == pytest.approx(vars(m.cfg.sales.split)) for r in m.reps)
    assert all(0 < r.productivity(m.day) <= 1 and r.hours_per_day == m.cfg.sales.hours_per_day for r in m.reps)
    assert sum(r.used_hours for r in m.reps) == pytest.approx(float(team.used.sum()))


def test_default_model_builds_with_no_arguments():
    m = sim.JourneyModel()
    assert m.strategy == sim.load_scenario().strategies[0]
    assert m.horizon == 365 and m.pop.n_accounts == 2000


def test_mesa_batch_run_works_unchanged():
    import mesa

    out = mesa.batch_run(
        sim.JourneyModel,
        parameters={"strategy": ["cold_calling", "networking"], "seed": [1, 2],
                    "overrides": [{"market.n_accounts": 80, "scenario.horizon_days": 10, "scenario.warmup_days": 0,
                                   "channels.campaigns.burst_days": [2]}]},
        iterations=1, max_steps=100, number_processes=1, display_progress=False,
    )
    df = pd.DataFrame(out)
    assert len(df) == 4  # data_collection_period=-1: one row (the last step) per run
    assert set(df["strategy"]) == {"cold_calling", "networking"}
    # ``running`` turned False at the 10-day horizon, long before max_steps=100;
    # mesa reports the last collected step zero-based
    assert df["Step"].eq(9).all()
    assert (df["cum_cost"] > 0).all()
    # the summary metrics are reporters too: at the end of each run they equal sim.run's summary
    from sim.engine.summary import SUMMARY_METRICS

    assert set(SUMMARY_METRICS) <= set(df.columns)
    for _, row in df.iterrows():
        ref = sim.run(sim.load_scenario(), row["strategy"], int(row["seed"]),
                      overrides={"market.n_accounts": 80, "scenario.horizon_days": 10, "scenario.warmup_days": 0,
                                 "channels.campaigns.burst_days": [2]}).summary
        for k in ("customers_won", "total_cost", "cac", "conversion_rate", "ltv", "leads"):
            assert row[k] == ref[k] or (np.isnan(row[k]) and np.isnan(ref[k])), (k, row[k], ref[k])


def test_sales_capacity_binds_leads_wait_when_reps_are_busy(small):
    """With one rep selling 0.3 hours a day, leads queue up and some expire."""
    busy = small.with_overrides({"sales.n_reps": 1, "sales.hours_per_day": 0.3})
    r_busy = sim.run(busy, "content_nurture", seed=2).timeseries
    r_free = sim.run(small, "content_nurture", seed=2).timeseries
    assert r_busy["n_leads_waiting"].mean() > r_free["n_leads_waiting"].mean()
    assert r_busy["cum_leads_expired"].iloc[-1] > r_free["cum_leads_expired"].iloc[-1]


def test_per_account_samples_of_won_accounts(small):
    """won_segment, won_acv, won_referred, won_ltv and won_day: one value per account won in the run,
    parallel, consistent with the summary LTV and with ltv_referred / ltv_not_referred."""
    r = sim.run(small, "networking", seed=3)
    s = r.samples
    keys = ("won_segment", "won_acv", "won_referred", "won_ltv", "won_day")
    n = s["won_ltv"].size
    assert n > 0
    assert all(s[k].size == n for k in keys)
    assert set(np.unique(s["won_segment"])) <= {0.0, 1.0, 2.0}
    assert set(np.unique(s["won_referred"])) <= {0.0, 1.0}
    assert (s["won_acv"] > 0).all() and (s["won_ltv"] >= 0).all()
    assert ((s["won_day"] >= 0) & (s["won_day"] < small.horizon_days)).all()
    assert s["won_ltv"].mean() == pytest.approx(r.summary["ltv"])
    ref = s["won_referred"] > 0.5
    np.testing.assert_allclose(np.sort(s["won_ltv"][ref]), np.sort(s["ltv_referred"]))
    np.testing.assert_allclose(np.sort(s["won_ltv"][~ref]), np.sort(s["ltv_not_referred"]))


def test_opportunity_win_rate_by_segment(small):
    """opportunity_win_rate_<segment>: from one sample per closed opportunity (segment, won 0/1); the
    samples count every opportunity closed in the run, and pooled over segments they give the
    all-segment opportunity_win_rate."""
    r = sim.run(small, "blended", seed=2)
    s, m, ts = r.samples, r.summary, r.timeseries
    seg, won = s["opportunity_closed_segment"], s["opportunity_closed_won"]
    closed = sum(ts[f"new_opportunities_{k}"].sum() for k in ("won", "lost", "stalled"))
    assert seg.size == won.size == closed > 0
    assert won.sum() == ts["new_opportunities_won"].sum()
    assert set(np.unique(won)) <= {0.0, 1.0} and set(np.unique(seg)) <= {0.0, 1.0, 2.0}
    assert won.mean() == pytest.approx(m["opportunity_win_rate"])
    for i, g in enumerate(("smb", "mid", "enterprise")):
        x = won[seg == i]
        assert (m[f"opportunity_win_rate_{g}"] == pytest.approx(x.mean())) if x.size else math.isnan(
            m[f"opportunity_win_rate_{g}"])


# ---------------------------------------------------------------------------- the warm-up
WARMUP, HORIZON = 150, 120


def _warm(small, warmup, horizon, **extra):
    ov = {"scenario.warmup_days": warmup, "scenario.horizon_days": horizon, **extra}
    m = sim.JourneyModel(small, strategy="blended", seed=11, overrides=ov)
    return m, m.run()


def test_warmup_measures_only_the_horizon_and_changes_no_dynamics(small):
    """A run with a warm-up is the same market as a longer run without one (the days are the same
    days, with the same dice); only what is measured differs: the horizon's days, numbered from 0,
    and the events in them. Campaign bursts are off here, because in a warm-up they recur on the
    calendar of the horizon (tested below)."""
    no_bursts = {"channels.campaigns.burst_days": []}
    _, warm = _warm(small, WARMUP, HORIZON, **no_bursts)
    _, long = _warm(small, 0, WARMUP + HORIZON, **no_bursts)
    ts, lt = warm.timeseries, long.timeseries.iloc[WARMUP:].reset_index(drop=True)
    assert list(ts["day"]) == list(range(HORIZON))
    # every column but those of "accounts won in the run", which in a warm-up start at the horizon
    of_won = {"new_revenue", "new_churned_won", "new_expansions"}
    flows = [c for c in ts.columns if c.startswith(("new_", "n_")) and c not in of_won]
    pd.testing.assert_frame_equal(ts[flows], lt[flows])
    for c in ("wins", "cost", "leads"):  # cumulative columns start at the horizon
        np.testing.assert_allclose(ts[f"cum_{c}"], lt[f"cum_{c}"] - long.timeseries[f"cum_{c}"].iloc[WARMUP - 1])
    assert warm.summary["customers_won"] == lt["new_wins"].sum() > 0
    assert warm.summary["total_cost"] == pytest.approx(lt["new_cost"].sum())
    # the accounts and events of the horizon only: wins, their days and their sales cycles
    s = warm.samples
    assert s["won_day"].size == warm.summary["customers_won"]
    assert (s["won_day"] >= WARMUP).all()
    won_long = long.samples["won_day"] >= WARMUP
    np.testing.assert_array_equal(np.sort(s["won_acv"]), np.sort(long.samples["won_acv"][won_long]))
    assert s["cycle_days"].size == np.isfinite(s["cycle_days"]).sum() <= s["won_day"].size
    # deals that began in the warm-up close in the horizon with their whole cycle counted
    assert s["cycle_days"].max() > (s["won_day"] - WARMUP).min()
    # the revenue of the horizon is that of the accounts won in it: none on a day before the first win
    first_win = int(s["won_day"].min()) - WARMUP
    assert ts["new_revenue"].iloc[:first_win].sum() == 0 and ts["new_revenue"].sum() > 0


def test_warmup_repeats_the_horizons_campaign_calendar(small):
    bursts = [30, 100]
    m, r = _warm(small, WARMUP, HORIZON, **{"channels.campaigns.burst_days": bursts,
                                            "channels.campaigns.budget": 50_000.0})
    reach = m.metrics.get("new_campaign_reach")  # all days of the run, the warm-up first
    burst_days = np.flatnonzero(reach)
    expected = sorted([WARMUP + b for b in bursts] + [WARMUP - 365 + b for b in bursts if WARMUP - 365 + b >= 0])
    assert list(burst_days) == expected
    assert list(np.flatnonzero(r.timeseries["new_campaign_reach"])) == bursts


def test_warmup_days_is_checked_like_any_parameter(small):
    from sim.config.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="warmup_days"):
        sim.JourneyModel(small, seed=1, overrides={"scenario.warmup_days": -1})
