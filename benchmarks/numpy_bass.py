"""The floor: a minimal numpy + scipy.sparse implementation of the Bass dynamics of sim/diffusion.py.

Same rule as the engine in ``scenarios/bass.toml``: every buyer is a one-person account; each day a
buyer who has not adopted adopts with probability ``1 - exp(-(p + q * A))``, where ``A`` is the
adopted share at the start of the day: the share of the buyer's network neighbours
(``mixing="network"``, the headline comparison of the benchmark suite) or the share of all buyers
(``mixing="full"``, the fully mixed Bass model). Synchronous update, one uniform draw per candidate
per day. On the network each buyer's count of adopted neighbours is kept up to date by adding the
scipy.sparse rows of the day's new adopters (a bincount of their neighbours): the same numbers as
a daily matrix-vector product ``adjacency @ adopted``, at half its cost, so the floor stays a
lower bound on what the engine could cost.

The network is the ``adjacency`` passed in (the benchmark passes the engine's own graph,
``common.engine_adjacency``, so the floor, the peer and the engine run on the identical network);
without one, a random network with the engine's weak-tie degree law (``common.random_weak_network``).

This is the least code that does the job: no scenario files, no named random streams, no metrics.
It is the speed floor the engine is compared against, not a model.

    python benchmarks/numpy_bass.py --n 100000 --mixing network               # random graph
    python benchmarks/numpy_bass.py --n 100000 --mixing network --graph engine  # the engine's graph
"""

from __future__ import annotations

import time

import numpy as np


class NumpyBass:
    def __init__(self, n: int, p: float, q: float, seed: int = 1, mixing: str = "full", k_mean: float = 6.0,
                 adjacency=None):
        """``adjacency``: an n x n symmetric unweighted scipy.sparse CSR matrix (ones), the graph in
        network mixing; ``None``: ``common.random_weak_network(n, k_mean, seed)``. ``seed`` seeds
        only the daily draws when an adjacency is given."""
        self.n, self.p, self.q, self.mixing = int(n), float(p), float(q), mixing
        self.rng = np.random.default_rng(seed)
        self.adopted = np.zeros(self.n, dtype=bool)
        self.count = 0
        if mixing == "network":
            if adjacency is None:
                from common import random_weak_network

                adjacency = random_weak_network(self.n, k_mean, seed)
            if adjacency.shape != (self.n, self.n):
                raise ValueError(f"adjacency must be {self.n} x {self.n}, got {adjacency.shape}")
            self.adj = adjacency.tocsr()  # scipy.sparse CSR
            self.deg = np.maximum(np.diff(self.adj.indptr), 1).astype(np.float64)
            self.adopted_nbrs = np.zeros(self.n, dtype=np.float64)  # == adj @ adopted, kept up to date
        elif mixing != "full":
            raise ValueError(f"mixing must be 'full' or 'network', got {mixing!r}")

    def step(self) -> None:
        cand = np.flatnonzero(~self.adopted)
        if cand.size == 0:
            return
        if self.mixing == "full":
            p_adopt = -np.expm1(-(self.p + self.q * self.count / self.n))  # one number for everyone
        else:
            share = self.adopted_nbrs[cand] / self.deg[cand]
            p_adopt = -np.expm1(-(self.p + self.q * share))
        new = cand[self.rng.random(cand.size) < p_adopt]
        self.adopted[new] = True
        self.count += new.size
        if self.mixing == "network" and new.size:  # the new adopters' neighbours: rows of the sparse matrix
            self.adopted_nbrs += np.bincount(self.adj[new].indices, minlength=self.n)

    def run(self, days: int) -> np.ndarray:
        curve = np.empty(days, dtype=np.int64)
        for t in range(days):
            self.step()
            curve[t] = self.count
        return curve


def simulate(n: int, p: float, q: float, days: int, seed: int = 1, mixing: str = "full", adjacency=None) -> np.ndarray:
    """Adopters at the end of each day."""
    return NumpyBass(n, p, q, seed, mixing, adjacency=adjacency).run(days)


def main() -> None:
    from common import standalone_args

    bp, a, adj = standalone_args(__doc__, 100_000)
    t0 = time.perf_counter()
    m = NumpyBass(a.n, bp["p"], bp["q"], a.seed, a.mixing, bp["weak_ties_mean"], adjacency=adj)
    t1 = time.perf_counter()
    curve = m.run(bp["horizon"])
    t2 = time.perf_counter()
    print(f"numpy floor: {a.n} buyers, {bp['horizon']} days, build {t1 - t0:.3f}s, run {t2 - t1:.3f}s, "
          f"adopted {curve[-1] / a.n:.3f}, {a.n * bp['horizon'] / (t2 - t0):,.0f} buyer-days/s")


if __name__ == "__main__":
    main()
