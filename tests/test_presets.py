"""Scenario presets a strategist copies: they load, and their markets rank strategies differently."""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import sim

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_every_preset_loads_and_runs_a_week(path):
    s = sim.load_scenario(path)
    assert s.strategies
    short = s.with_overrides({"scenario.horizon_days": 7, "channels.campaigns.burst_days": [1]})
    r = sim.run(short, s.strategies[0], seed=1)
    assert len(r.timeseries) == 7


def wins(scenario, strategy, seeds):
    """Customers won on each of ``seeds``: the runs side by side on the replication axis (each exactly its single
    run, tests/test_batch.py)."""
    return np.array([r.summary["customers_won"] for r in sim.run_batch(scenario, strategy, list(seeds))])


@pytest.mark.slow
def test_markets_move_the_content_versus_cold_calling_gap():
    """Content-led nurture beats cold calling for a cheap, searched-for product; in an enterprise market with
    little search and buyers who want vendors early its edge is gone.

    Same four strategies in both files; only the market differs. In self-service (seeds 1-4), content-led nurture
    wins more customers than cold calling (paired t-test, two-sided, 5%); and the log ratio of their wins, seed by
    seed, is lower in the enterprise market (seeds 1-10) than in self-service (Welch t-test, 5%). Measured in session
    11 over seeds 1-10 in both: self-service 777 vs 474 customers, log ratio 0.49 (sd 0.03); enterprise 21.1 vs 21.9,
    log ratio -0.02 (sd 0.21). Measured in session 7:
    self-service 580 vs 360 customers (p = 4e-9); enterprise 16.7 vs 20.2 (p = 0.13), and on 40 fresh seeds 19.1
    vs 19.8 (p = 0.50); log ratios 0.48 vs -0.21 (p = 0.0004).

    History: until session 7 this test asserted a full inversion, cold calling clearly ahead in enterprise (45.9 vs
    67.7 after session 2's calibration). The session-7 recalibration of the enterprise preset to the benchmark
    pack (115-day enterprise cycles, 914 accounts) closed that gap to a tie. A result, not tuned back.
    """
    # self-service's 36,000 accounts cost 6x enterprise's 900 per run and its log ratio barely varies by seed (sd 0.03
    # over seeds 1-10 in session 11, against 0.2 in enterprise): 4 seeds there, 10 in enterprise
    seeds = {"self_service": range(1, 5), "enterprise": range(1, 11)}
    log_ratio = {}
    for name in ("self_service", "enterprise"):
        s = sim.load_scenario(SCENARIOS / f"{name}.toml")
        content, cold = wins(s, "content_nurture", seeds[name]), wins(s, "cold_calling", seeds[name])
        log_ratio[name] = np.log(content / cold)
        if name == "self_service":
            p = stats.ttest_1samp(content - cold, 0.0).pvalue
            assert content.mean() > cold.mean() and p < 0.05, (content, cold, p)
    t = stats.ttest_ind(log_ratio["self_service"], log_ratio["enterprise"], equal_var=False)
    assert t.statistic > 0 and t.pvalue < 0.05, (log_ratio, t)


def test_every_preset_prices_its_seat_from_the_seat_cost_inputs():
    """A preset's sales.cost_per_rep_day is an input (scenarios/inputs/seat_costs.toml), never fitted: it equals
    the value of the kind of company the preset describes and lies in that kind's [low, high]; no targets file
    frees it, and every kind's low <= value <= high."""
    import tomllib

    from sim.calibration import load_targets

    seats = tomllib.loads((SCENARIOS / "inputs" / "seat_costs.toml").read_text(encoding="utf-8"))
    for kind in seats["kinds"].values():
        assert kind["low"] <= kind["value"] <= kind["high"], kind
    assert set(seats["presets"]) == {"default", "enterprise", "self_service"}
    for name, kind_name in seats["presets"].items():
        kind = seats["kinds"][kind_name]
        cost = sim.load_scenario(SCENARIOS / f"{name}.toml").config().sales.cost_per_rep_day
        assert cost == kind["value"] and kind["low"] <= cost <= kind["high"], (name, cost, kind)
    for path in sorted((SCENARIOS / "calibration").glob("*.toml")):
        free = [p.path for p in load_targets(path).params]  # the calibration's own reading of [params]
        assert free and not [p for p in free if p.endswith(("cost_per_rep_day", "n_accounts"))], (path.name, free)
