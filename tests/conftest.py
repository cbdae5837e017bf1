import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

import sim

# A small market that runs in well under a second: the mechanisms are the same as the default.
SMALL = {"market.n_accounts": 300, "scenario.horizon_days": 150, "scenario.warmup_days": 0, "channels.campaigns.burst_days": [20, 80]}


@pytest.fixture(scope="session")
def default_scenario():
    return sim.load_scenario()


@pytest.fixture(scope="session")
def small(default_scenario):
    return default_scenario.with_overrides(SMALL)
