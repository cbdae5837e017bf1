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
    return np.array([sim.run(scenario, strategy, s).summary["customers_won"] for s in seeds])


def test_self_service_and_enterprise_markets_invert_the_ranking():
    """Content-led nurture beats cold calling for a cheap, searched-for product; cold calling beats
    content in an enterprise market with little search and buyers who want vendors early.

    Same four strategies in both files; only the market differs. Paired over 10 seeds, two-sided
    paired t-test at 5%. Measured when written: 47.2 vs 20.6 (p = 0.0002), 37.8 vs 57.8 (p = 0.007);
    after the calibration of session 2 (readiness thresholds 0.45 / 0.18, keeping their offsets
    from the default's 0.30): 65.8 vs 29.2 (p = 1e-6), 45.9 vs 67.7 (p = 0.0003). 5 seeds gave
    p = 0.025 for enterprise: too close to the line for a test.
    """
    seeds = range(1, 11)
    for name, sign in (("self_service", +1), ("enterprise", -1)):
        s = sim.load_scenario(SCENARIOS / f"{name}.toml")
        d = wins(s, "content_nurture", seeds) - wins(s, "cold_calling", seeds)
        p = stats.ttest_1samp(d, 0.0).pvalue
        assert np.sign(d.mean()) == sign and p < 0.05, (name, d, p)
