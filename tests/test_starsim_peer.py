"""The Starsim peer of the benchmarks (benchmarks/starsim_bass.py, issue 15) simulates the same Bass
dynamics as the numpy floor and the engine: same network, same daily rule 1 - exp(-(p + q A)),
synchronous update. Statistical checks use fixed seeds, so they are deterministic; no timing here
(speed is the benchmark's job).

Starsim is heavy (numba) and lives in the ``bench`` extra: without it these tests skip.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starsim", reason="starsim is not installed (pip install -e '.[bench]'): the Starsim peer of "
                                      "benchmarks/ cannot be checked")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import starsim_bass
from common import random_weak_network
from numpy_bass import simulate as floor_simulate

N, K = 1000, 6.0


@pytest.fixture(scope="module")
def graph():
    return random_weak_network(N, K, 3)


def test_network_is_the_graph_given_and_rel_sus_carries_q(graph):
    m = starsim_bass.StarsimBass(N, 0.002, 0.4, 10, seed=1, adjacency=graph)
    net = m.sim.networks["ties"]
    ties = {(min(a, b), max(a, b)) for a, b in zip(net.p1.tolist(), net.p2.tolist())}
    rows, cols = graph.nonzero()
    expected = {(a, b) for a, b in zip(rows.tolist(), cols.tolist()) if a < b}
    assert len(net) == len(ties) == len(expected)  # each undirected tie exactly once
    assert ties == expected
    deg = np.diff(graph.tocsr().indptr)
    rel_sus = np.asarray(m.sim.diseases.adoption.rel_sus.raw[:N])
    want = np.where(deg > 0, -np.expm1(-0.4 / np.maximum(deg, 1)), 0.0)
    np.testing.assert_allclose(rel_sus, want, rtol=1e-6)  # Starsim stores floats as float32


def test_without_imitation_adoption_is_external_only():
    """q = 0: each day a non-adopter adopts with 1 - exp(-p); after t days the adopted share is
    Binomial(n, 1 - exp(-p t)) / n."""
    n, p, days = 4000, 0.01, 50
    curve = starsim_bass.simulate(n, p, 0.0, days, seed=5, adjacency=random_weak_network(n, K, 1))
    assert curve.shape == (days,)
    assert np.all(np.diff(curve) >= 0)
    f = -math.expm1(-p * days)
    z = (curve[-1] - n * f) / math.sqrt(n * f * (1 - f))
    assert abs(z) < 4, (curve[-1], n * f)


def test_update_is_synchronous(graph):
    """Day 1 starts with nobody adopted, so imitation cannot act on day 1 whatever q is: adopters are
    Binomial(n, 1 - exp(-p)). With a huge q the neighbours of day 1's adopters follow on day 2, not
    the same day."""
    p = 0.01
    curve = starsim_bass.simulate(N, p, 50.0, 3, seed=2, adjacency=graph)
    f = -math.expm1(-p)
    assert abs(curve[0] - N * f) < 5 * math.sqrt(N * f * (1 - f)), curve[:3]
    assert curve[1] > 3 * curve[0], curve[:3]  # imitation acts from day 2 (mean degree 6, q large)


def _mean_adoption_day_z(curves, refs) -> float:
    """D = sum over days of the adopted share (the mean adoption day, up to a constant);
    z of the difference between the runs' mean D and the reference runs' mean D."""
    d, dref = curves.sum(axis=1), refs.sum(axis=1)
    return float((d.mean() - dref.mean()) / (dref.std(ddof=1) * math.sqrt(1 / d.size + 1 / dref.size)))


def test_same_adoption_curve_as_the_numpy_floor_on_the_same_graph(graph):
    """12 Starsim runs against 200 numpy-floor runs on the same graph (other seeds): the mean adoption
    day and the final adopters agree within 4 standard errors. The same statistic rejects Starsim
    with q 30% too high, so the tolerance has teeth."""
    p, q, days = 0.005, 0.5, 40  # imitation dominates: the curve's shape is q's
    refs = np.array([floor_simulate(N, p, q, days, seed=1000 + s, mixing="network", adjacency=graph)
                     for s in range(200)]) / N
    runs = np.array([starsim_bass.simulate(N, p, q, days, seed=1 + s, adjacency=graph) for s in range(12)]) / N
    z = _mean_adoption_day_z(runs, refs)
    assert abs(z) < 4, z
    final, ref_final = runs[:, -1], refs[:, -1]
    z_final = (final.mean() - ref_final.mean()) / (ref_final.std(ddof=1) * math.sqrt(1 / final.size + 1 / ref_final.size))
    assert abs(z_final) < 4, (final.mean(), ref_final.mean())
    wrong = np.array([starsim_bass.simulate(N, p, 1.3 * q, days, seed=1 + s, adjacency=graph) for s in range(12)]) / N
    assert _mean_adoption_day_z(wrong, refs) > 4
