"""The replication axis: several replications simulated side by side as one population.

The promise is exact: replication ``seeds[i]`` of a batch gives the numbers of a single run on that seed,
whichever batch it ran in and at whatever place (common random numbers do not depend on batching). So
these tests compare every summary metric, every daily column and every per-event sample of each
replication with its single run, on every preset and on the mechanisms that select per replication
(cold-call lists, email caps, paid-search budgets, Bass with full mixing).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.config.presets import preset as preset_path
from sim.engine.model import JourneyModel, run, run_batch
from sim.engine.rng import BatchStreams, Streams
from sim.executor import MAX_BATCH_RUNS, group_runs

SMALL = {"market.n_accounts": 300, "scenario.warmup_days": 40, "scenario.horizon_days": 150,
         "channels.campaigns.burst_days": [20, 110]}


def _same_run(a, b) -> list[str]:
    """Where two results differ (empty: identical up to the last bits of a float sum)."""
    bad = []
    for k, x in a.summary.items():
        y = b.summary[k]
        if not (x == y or (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-12 * abs(x)):
            bad.append(f"summary {k}: {x} != {y}")
    assert list(a.timeseries.columns) == list(b.timeseries.columns)
    for c in a.timeseries.columns:
        if not np.allclose(a.timeseries[c], b.timeseries[c], rtol=1e-12, atol=0, equal_nan=True):
            bad.append(f"daily {c}")
    assert sorted(a.samples) == sorted(b.samples)
    for k in a.samples:
        if not np.array_equal(a.samples[k], b.samples[k], equal_nan=True):
            bad.append(f"sample {k}")
    return bad


CASES = [
    ("default", None, SMALL),
    ("default", None, {**SMALL, "channels.paid_search.budget": 60_000.0}),  # budgets paced per replication
    ("enterprise", "blended", {"market.n_accounts": 200, "scenario.warmup_days": 30}),
    ("self_service", None, SMALL),
    ("bass", None, {"market.n_accounts": 1500}),
    ("bass", None, {"market.n_accounts": 1500, "diffusion.mixing": "full"}),  # shares per replication
]


@pytest.mark.parametrize("preset,only,overrides", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_every_replication_of_a_batch_equals_its_single_run(preset, only, overrides):
    scen = sim.load_scenario(preset_path(preset)).with_overrides(overrides)
    seeds = [3, 8, 21]
    for strategy in ([only] if only else list(scen.strategies)):
        batch = run_batch(scen, strategy, seeds)
        assert [r.seed for r in batch] == seeds
        for seed, got in zip(seeds, batch):
            bad = _same_run(run(scen, strategy, seed), got)
            assert not bad, (preset, strategy, seed, bad[:5])


def test_a_replication_does_not_depend_on_its_batch_or_place():
    scen = sim.load_scenario(preset_path("default")).with_overrides(SMALL)
    alone = run_batch(scen, "blended", [5])[0]
    first = run_batch(scen, "blended", [5, 6])[0]
    middle = run_batch(scen, "blended", [9, 5, 2])[1]
    assert not _same_run(alone, first) and not _same_run(alone, middle)
    assert alone.summary["customers_won"] > 0  # a run with something in it


def test_batched_streams_draw_what_each_replication_draws_alone():
    """uniform, pick and sample of a batch against each replication's own Streams, on pools that take every
    path of ``Streams.sample``: probing in one round, a small pool (its pick path), a short first round."""
    rng = np.random.default_rng(0)
    sizes = [500, 1, 2000, 700]
    boff = np.concatenate([[0], np.cumsum(sizes)])
    aoff = np.concatenate([[0], np.cumsum([s // 2 + 1 for s in sizes])])
    bs = BatchStreams([4, 9, 11, 4], boff, aoff)
    alone = [Streams(s) for s in (4, 9, 11, 4)]
    idx = np.sort(rng.choice(boff[-1], 900, replace=False))
    u = bs.uniform("x.y", 17, idx)
    acc = np.arange(aoff[-1])
    ua = bs.uniform("x.y", 17, acc, per="account")
    for r in range(4):
        mine = idx[(idx >= boff[r]) & (idx < boff[r + 1])]
        assert np.array_equal(u[(idx >= boff[r]) & (idx < boff[r + 1])], alone[r].uniform("x.y", 17, mine - boff[r]))
        assert np.array_equal(ua[aoff[r]:aoff[r + 1]], alone[r].uniform("x.y", 17, aoff[r + 1] - aoff[r]))
    for share in (0.9, 0.3, 0.02):
        mask = rng.random(boff[-1]) < share
        for k in ([5, 1, 40, 0], [300, 3, 1000, 12], 7):
            got = bs.sample("pool", 3, mask, k)
            kk = np.broadcast_to(k, 4)
            want = np.concatenate([alone[r].sample("pool", 3, mask[boff[r]:boff[r + 1]], int(kk[r])) + boff[r]
                                   for r in range(4)])
            assert np.array_equal(got, want), (share, k)
            eligible = np.flatnonzero(mask)
            got = bs.pick("pick", 3, eligible, k)
            want = np.concatenate([alone[r].pick("pick", 3, eligible[(eligible >= boff[r]) & (eligible < boff[r + 1])]
                                                 - boff[r], int(kk[r])) + boff[r] for r in range(4)])
            assert np.array_equal(got, want), (share, k)


def test_runs_are_grouped_by_what_they_share_and_keep_the_workers_busy():
    by_strategy = lambda t: t[0]  # noqa: E731
    todo = [(s, sd) for s in ("a", "b", "c", "d") for sd in range(1, 21)]
    two = group_runs(todo, by_strategy, workers=2)
    assert [(b[0][0], len(b)) for b in two] == [("a", 20), ("b", 20), ("c", 20), ("d", 20)]
    assert [t for b in two for t in b] == todo  # every run once, in order
    assert all(len({t[0] for t in b}) == 1 for b in two)
    assert [len(b) for b in group_runs([("a", sd) for sd in range(10)], by_strategy, workers=2)] == [5, 5]
    big = group_runs([("a", sd) for sd in range(100)], by_strategy, workers=1)
    assert max(len(b) for b in big) <= MAX_BATCH_RUNS and sum(len(b) for b in big) == 100
    assert [len(b) for b in group_runs(todo[:6], by_strategy, workers=1, buyers_per_run=300_000)] == [1] * 6  # memory
    mixed = [("a", 1), ("b", 1), ("a", 2), ("b", 2)]  # interleaved tasks still group by key, in first-seen order
    assert group_runs(mixed, by_strategy, workers=1) == [(("a", 1), ("a", 2)), (("b", 1), ("b", 2))]


def test_bad_batches_are_refused_in_one_line():
    with pytest.raises(sim.ScenarioError, match="seeds: must be a non-empty list"):
        JourneyModel(None, seeds=[])
    with pytest.raises(sim.ScenarioError, match="seed: must be a non-negative integer, got -2"):
        JourneyModel(None, seeds=[1, -2])
    with pytest.raises(sim.ScenarioError, match="touch_log: is kept for a single replication"):
        JourneyModel(None, seeds=[1, 2], touch_log=True)
    with pytest.raises(ValueError, match="run_all"):
        JourneyModel(sim.load_scenario(preset_path("bass")).with_overrides({"market.n_accounts": 50}), seeds=[1, 2]).run()
