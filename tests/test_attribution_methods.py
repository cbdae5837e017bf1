"""Attribution methods (sim.attribution.methods) and Shapley values (sim.attribution.truth) on hand-built
inputs whose answers are known analytically; the Markov and heuristic models against the channelattribution
package on the same paths."""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import os

import numpy as np
import pandas as pd
import pytest

from sim.attribution import methods as M
from sim.attribution.truth import coalitions, sample_permutations, shapley_exact, shapley_permutations

A, B, C = 0, 1, 2
NAMES = ("a", "b", "c")


def table(paths) -> pd.DataFrame:
    """A journey table from ``[(channels, conv, ages), ...]`` (ages: days from each touch to the end)."""
    rows = []
    for p, (chs, conv, ages) in enumerate(paths):
        for i, (ch, age) in enumerate(zip(chs, ages or [0] * len(chs))):
            rows.append({"path": p, "account": p, "pos": i, "length": len(chs), "channel": ch, "age": age,
                         "conv": float(conv), "value": 100.0 * conv})
    return pd.DataFrame(rows)


# one converting journey a > b > c (touches 14, 7 and 0 days before the win), one a > b that did not
# convert, one converting single touch c
HAND = table([([A, B, C], 1, [14, 7, 0]), ([A, B], 0, [3, 0]), ([C], 1, [0])])


def test_heuristics_known_answers():
    assert M.first_touch(HAND, 3).tolist() == [1, 0, 1]
    assert M.last_touch(HAND, 3).tolist() == [0, 0, 2]
    np.testing.assert_allclose(M.linear(HAND, 3), [1 / 3, 1 / 3, 1 + 1 / 3])
    w = np.array([2.0 ** -2, 2.0 ** -1, 1.0])  # half-life 7 days
    np.testing.assert_allclose(M.time_decay(HAND, 3), w / w.sum() + [0, 0, 1])
    np.testing.assert_allclose(M.position_based(HAND, 3), [0.4, 0.2, 0.4 + 1])
    two = table([([A, B], 1, None)])
    np.testing.assert_allclose(M.position_based(two, 3), [0.5, 0.5, 0])
    # every method credits exactly the conversions, never a non-converting journey alone
    for name, f in M.METHODS.items():
        assert f(HAND, 3).sum() == pytest.approx(2.0), name


def test_markov_removal_effect_by_hand():
    # a > b converts, a alone does not, b alone converts: start->a 2/3, start->b 1/3, a->b 1/2, a->null 1/2,
    # b->conversion 1. P(conv) = 2/3 * 1/2 + 1/3 = 2/3; without a: 1/3 (RE 1/2); without b: 0 (RE 1)
    t = table([([A, B], 1, None), ([A], 0, None), ([B], 1, None)])
    np.testing.assert_allclose(M.markov_removal_effects(t, 3), [0.5, 1.0, 0.0])
    np.testing.assert_allclose(M.markov(t, 3), [2 * 0.5 / 1.5, 2 * 1.0 / 1.5, 0.0])
    # a self-loop (a repeated touch) changes no absorption probability, hence no removal effect
    t2 = table([([A, A, B], 1, None), ([A], 0, None), ([B], 1, None)])
    np.testing.assert_allclose(M.markov_removal_effects(t2, 3), [0.5, 1.0, 0.0])


def test_shapley_paths_known_answer():
    # conversion rates by channel set: {a} 0.5, {b} 0.1, {a,b} 0.6 -> phi_a = (0.5 + 0.5) / 2 = 0.5,
    # phi_b = (0.1 + 0.1) / 2 = 0.1; 12 conversions split 5:1
    paths = ([([A], 1, None)] * 5 + [([A], 0, None)] * 5 + [([B], 1, None)] + [([B], 0, None)] * 9
             + [([A, B], 1, None)] * 6 + [([B, A], 0, None)] * 4)
    np.testing.assert_allclose(M.shapley_paths(table(paths), 3), [10.0, 2.0, 0.0])


def test_path_table_format():
    pt = M.path_table(HAND, NAMES)
    assert list(pt.columns) == ["path", "total_conversions", "total_null", "total_conversion_value"]
    assert set(pt["path"]) == {"a > b > c", "a > b", "c"}
    assert pt["total_conversions"].sum() == 2 and pt["total_null"].sum() == 1


def _game(k, seed=3):
    g = np.random.default_rng(seed)
    v = g.normal(size=1 << k)
    v[0] = 0.0
    return v


def test_shapley_exact_efficiency_symmetry_dummy():
    k = 4
    v = _game(k)
    phi = shapley_exact(v)
    assert phi.sum() == pytest.approx(v[-1] - v[0], abs=1e-12)
    # against the definition: the mean marginal contribution over all k! orders
    ref = np.zeros(k)
    for perm in itertools.permutations(range(k)):
        mask = 0
        for j in perm:
            ref[j] += v[mask | 1 << j] - v[mask]
            mask |= 1 << j
    np.testing.assert_allclose(phi, ref / math.factorial(k))
    # symmetry: a game in which channels 0 and 1 are interchangeable gives them equal values; a dummy (2)
    # that adds nothing to any coalition gets 0
    sym = np.array([len({j for j in (0, 1) if m >> j & 1}) ** 2 + 3 * (m >> 3 & 1) for m in range(1 << k)], float)
    p = shapley_exact(sym)
    assert p[0] == pytest.approx(p[1]) and p[2] == pytest.approx(0.0) and p[3] == pytest.approx(3.0)


def test_shapley_permutations_close_to_exact():
    k = 5
    v = _game(k, seed=7)
    perms = sample_permutations(k, 4000, seed=1)
    mean, se = shapley_permutations(lambda m: v[m], perms)
    assert mean.sum() == pytest.approx(v[-1] - v[0], abs=1e-9)  # efficient for every permutation
    assert np.all(np.abs(mean - shapley_exact(v)) < 4 * se + 1e-12)
    # the coalitions a sampled study runs: the permutations' prefixes, the empty, full and leave-one-out sets
    few = sample_permutations(k, 3, seed=1)
    cs = coalitions(k, max_exact=3, permutations=few)
    assert {0, 31, *(31 & ~(1 << j) for j in range(k))} <= set(cs) and len(cs) < 32


def _channelattribution():
    """The channelattribution package, imported with its promotional banner (printed to file descriptor 1
    by its C++ core) silenced."""
    fd = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    import ChannelAttribution as ca
                except ImportError:
                    ca = None
    finally:
        os.dup2(fd, 1)
        os.close(fd)
    if ca is None:
        pytest.skip("channelattribution is not installed (pip install channelattribution; it builds from source): "
                    "the reference comparison needs it")
    return ca


def _sim_paths():
    t = table([([A, B, A], 1, None)] * 3 + [([A, B, A], 0, None)] + [([A], 1, None)] + [([A], 0, None)] * 2
              + [([B, C], 1, None)] * 2 + [([B, C], 0, None)] * 2 + [([C, C, A], 0, None)] * 4
              + [([B], 1, None)] + [([B], 0, None)] * 3)
    return t, M.path_table(t, NAMES)


def test_markov_matches_channelattribution_within_one_percent():
    ca = _channelattribution()
    t, pt = _sim_paths()
    with contextlib.redirect_stdout(io.StringIO()):
        # max_step: the package truncates simulated journeys at the longest observed path unless told otherwise,
        # which biases removal effects when journeys loop (a > b > a); the exact chain has no such limit
        res = ca.markov_model(pt, "path", "total_conversions", var_null="total_null", out_more=True, verbose=False,
                              flg_pro=False, nsim_start=1e6, max_step=1000, seed=1)
    theirs = res["result"].set_index("channel_name")["total_conversions"].reindex(list(NAMES)).to_numpy()
    ours = M.markov(t, 3)
    np.testing.assert_allclose(ours, theirs, rtol=0.01)


def test_heuristics_match_channelattribution():
    ca = _channelattribution()
    t, pt = _sim_paths()
    with contextlib.redirect_stdout(io.StringIO()):
        h = ca.heuristic_models(pt, "path", "total_conversions", flg_pro=False).set_index("channel_name")
    h = h.reindex(list(NAMES)).fillna(0.0)
    np.testing.assert_allclose(M.first_touch(t, 3), h["first_touch"])
    np.testing.assert_allclose(M.last_touch(t, 3), h["last_touch"])
    np.testing.assert_allclose(M.linear(t, 3), h["linear_touch"])


def test_true_share_interval_of_a_ratio_of_means():
    from sim.attribution.lab import _ratio_ci

    phi = np.array([[2.0, 1.0], [4.0, 1.0], [3.0, 3.0]])
    total = phi.sum(axis=1)
    lo, hi = _ratio_ci(phi, total)
    share = phi.sum(axis=0) / total.sum()
    assert np.all(lo < share) and np.all(share < hi)
    # a channel whose share is the same on every seed has no spread
    same = np.array([[1.0, 3.0], [2.0, 6.0]])
    lo, hi = _ratio_ci(same, same.sum(axis=1))
    np.testing.assert_allclose(lo, [0.25, 0.75]) and np.testing.assert_allclose(hi, [0.25, 0.75])
    assert np.isnan(_ratio_ci(phi, -total)[0]).all()  # no incremental customers: no share
