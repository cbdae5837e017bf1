"""Invariants of the engine's fast paths: random sampling, incremental network products,
running totals. Each fast path is checked against the slow, obvious computation."""

import numpy as np
import pytest
from scipy import stats

import sim
from sim.engine.network import Exposure, spread
from sim.engine.rng import Streams
from sim.engine.state import STAGES


# ---------------------------------------------------------------- Streams.sample
@pytest.mark.parametrize("share, k", [(0.7, 20), (0.05, 3), (0.5, 200)])  # probing, sparse pool, large k
def test_sample_is_uniform_over_eligible_without_replacement(share, k):
    n, days = 2000, 3000
    mask = np.random.default_rng(1).random(n) < share
    st = Streams(7)
    counts = np.zeros(n)
    for d in range(days):
        s = st.sample("t", d, mask, k)
        assert s.size == min(k, mask.sum()) and np.unique(s).size == s.size
        assert mask[s].all() and (np.diff(s) > 0).all()
        counts[s] += 1
    # every eligible buyer equally likely: chi-square over 20 groups of eligible buyers
    el = counts[mask]
    groups = np.array([g.sum() for g in np.array_split(el, 20)])
    expected = np.array([g.size for g in np.array_split(el, 20)]) * k * days / el.size
    assert stats.chisquare(groups, expected).pvalue > 1e-3


def test_sample_larger_k_picks_a_superset_and_is_reproducible():
    mask = np.random.default_rng(2).random(50_000) < 0.6
    st = Streams(3)
    small, large = st.sample("t", 4, mask, 100), st.sample("t", 4, mask, 400)
    assert np.isin(small, large).all()
    assert np.array_equal(large, Streams(3).sample("t", 4, mask, 400))
    assert not np.array_equal(large, Streams(4).sample("t", 4, mask, 400))
    assert st.sample("t", 4, mask, 0).size == 0
    assert np.array_equal(st.sample("t", 4, mask, 10**9), np.flatnonzero(mask))


# ---------------------------------------------------------------- network products
def _model(**over):
    return sim.JourneyModel(overrides={"market.n_accounts": 400, **over}, seed=5)


def test_network_is_symmetric_and_a_repeated_tie_is_one_tie():
    m = _model()
    W, net = m.W, m.cfg.network
    assert abs(W - W.T).max() == 0
    assert set(np.unique(W.data)) <= {np.float32(net.strong_weight), np.float32(net.weak_weight)}
    coo = m.W_weak.tocoo()
    assert (m.pop.account[coo.row] != m.pop.account[coo.col]).all()
    assert (W - m.W_weak).nnz == W.nnz - m.W_weak.nnz  # the weak part is exactly W's cross-account ties


def test_spread_and_exposure_equal_the_full_product():
    W = _model().W
    rng = np.random.default_rng(0)
    x = rng.random(W.shape[0]) < 0.05
    reached, e = spread(W, np.flatnonzero(x))
    full = W @ x.astype(np.float32)
    assert np.array_equal(reached, np.flatnonzero(full))
    assert np.allclose(e, full[reached], rtol=1e-6)
    exp = Exposure(W)
    for _ in range(100):  # small changes: incremental updates, with a periodic full recompute
        flip = rng.integers(0, x.size, 5)
        x[flip] = ~x[flip]
        assert np.allclose(exp(x), W @ x.astype(np.float64), atol=1e-9)


# ---------------------------------------------------------------- running totals
def test_stage_counts_and_won_revenue_match_a_recount_every_day(small):
    churny = small.with_overrides({"after_sale.expansion_rate": 4.0, "after_sale.fit_expansion_sensitivity": 0.0,
                                   **{f"market.segments.{s}.annual_churn": 0.9 for s in ("smb", "mid", "enterprise")}})
    exercised = {"new_churned_won": 0.0, "new_expansions": 0.0}
    for strategy in churny.strategies:
        m = sim.JourneyModel(churny, strategy, seed=3)
        pop = m.pop
        while m.running:
            m.step()
            assert np.array_equal(pop.stage_count, np.bincount(pop.stage, minlength=len(STAGES)))
            assert pop.arr_won == pytest.approx(pop.acv[pop.customer & pop.won_in_run].sum(), rel=1e-9, abs=1e-6)
        ts = m.result().timeseries
        for c in exercised:
            exercised[c] += ts[c].sum() if c in ts else 0.0
    assert min(exercised.values()) > 0, f"the test must exercise churn and expansion of accounts won in the run: {exercised}"
