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


# ------------------------------------------------------------------------------------------------ the two loops
# `python -m pytest -q` is the fast local loop: tests marked `slow` (full-scale statistical claims, each a minute or
# more of simulation) are skipped. `python -m pytest -q --run-slow` (or RUN_SLOW=1) runs everything: CI does.


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (full-scale statistical claims); CI runs them (.ci/run)")


def _run_slow(config) -> bool:
    return config.getoption("--run-slow") or os.environ.get("RUN_SLOW", "") not in ("", "0")


# ------------------------------------------------------------------------------------------------ pytest-xdist
# Under `-n auto --dist loadgroup` (pyproject.toml), a test that uses a module- or class-scoped fixture (a
# calibration, a validation suite, a server: built once per module) is put in one xdist group with every other test
# of its module sharing that fixture, transitively, so the fixture is built on one worker only, not once per worker.
# Tests without such a fixture are spread freely.


def _shared_fixtures(item) -> list[str]:
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the item's fixtures
    if info is None:
        return []
    names = []
    for name in item.fixturenames:
        defs = info.name2fixturedefs.get(name)
        if defs and defs[-1].scope in ("module", "class", "package"):
            names.append(name)
    return names


def _group_by_shared_fixture(items) -> None:
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keyed = []
    for item in items:
        keys = [(item.nodeid.split("::")[0], name) for name in _shared_fixtures(item)]
        for k in keys[1:]:
            parent[find(k)] = find(keys[0])
        keyed.append((item, keys))
    for item, keys in keyed:
        if keys and not item.get_closest_marker("xdist_group"):
            root = find(keys[0])
            item.add_marker(pytest.mark.xdist_group(f"{root[0]}:{root[1]}"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not _run_slow(config):
        skip = pytest.mark.skip(reason="slow (full-scale statistical claim): run with --run-slow or RUN_SLOW=1")
        for item in items:
            if item.get_closest_marker("slow"):
                item.add_marker(skip)
    _group_by_shared_fixture(items)
