"""The peer: the Bass docking scenario written the way a Mesa 3 user would write it.

One ``mesa.Agent`` per buyer with a ``step`` method; the model activates them in random order each
day (``AgentSet.shuffle_do``, Mesa 3's replacement for ``RandomActivation``) and records the
adopters with a ``DataCollector``. Same dynamics as sim/diffusion.py in ``scenarios/bass.toml``:
a buyer who has not adopted adopts with probability ``1 - exp(-(p + q * A))`` per day.

* ``mixing="network"`` (the headline comparison of the benchmark suite: a Mesa agent per buyer on
  a network): the agents live on a ``mesa.discrete_space.Network`` built with networkx (as in
  Mesa's own virus_on_network example); ``A`` is the share of a buyer's neighbours who had adopted
  at the start of the day. A buyer decides in ``step`` and switches in ``advance`` (simultaneous
  activation, Mesa 3 style: ``shuffle_do("step")`` then ``do("advance")``). The graph is the
  ``adjacency`` passed in (the benchmark passes the engine's own graph, ``common.engine_adjacency``,
  so peer, floor and engine run on the identical network); without one, a random network with the
  engine's weak-tie degree law (mean 6, no communities; ``common.random_weak_network``).
* ``mixing="full"`` (the fully mixed Bass model; also measured): ``A`` is the share of all buyers who
  had adopted at the start of the day. The model keeps a running count of adopters (a careful
  user: no O(N^2) counting, no per-agent scan of the population), so ``A`` is the same for every
  agent within a day, exactly the engine's synchronous rule.

    python benchmarks/mesa_bass.py --n 10000 --mixing network               # random graph
    python benchmarks/mesa_bass.py --n 10000 --mixing network --graph engine  # the engine's graph
"""

from __future__ import annotations

import math
import time

import mesa


class Buyer(mesa.Agent):
    """A buyer (a one-person account): adopts once, never un-adopts."""

    def __init__(self, model):
        super().__init__(model)
        self.adopted = False
        self.day_adopted = None

    def step(self) -> None:
        if self.adopted:
            return
        m = self.model
        hazard = m.p + m.q * m.adopted_share
        if self.random.random() < 1.0 - math.exp(-hazard):
            self.adopted = True
            self.day_adopted = m.day
            m.n_adopted += 1


class NetworkBuyer(mesa.discrete_space.FixedAgent):
    """A buyer on a network cell: looks at its neighbours' state at the start of the day."""

    def __init__(self, model, cell):
        super().__init__(model)
        self.cell = cell
        self.adopted = False
        self.next_adopted = False

    def step(self) -> None:
        if self.adopted:
            return
        m = self.model
        neighbours = list(self.cell.neighborhood.agents)
        share = sum(1 for a in neighbours if a.adopted) / len(neighbours) if neighbours else 0.0
        if self.random.random() < 1.0 - math.exp(-(m.p + m.q * share)):
            self.next_adopted = True

    def advance(self) -> None:
        if self.next_adopted and not self.adopted:
            self.adopted = True
            self.model.n_adopted += 1


class BassModel(mesa.Model):
    def __init__(self, n: int = 10_000, p: float = 0.002, q: float = 0.03, mixing: str = "full",
                 k_mean: float = 6.0, seed: int | None = None, adjacency=None):
        """``adjacency``: an n x n symmetric scipy.sparse matrix, the graph in network mixing (its
        weights are ignored: a tie is a tie); ``None``: ``common.random_weak_network(n, k_mean, seed)``."""
        super().__init__(seed=seed)
        self.n, self.p, self.q, self.mixing = n, p, q, mixing
        self.day = 0
        self.n_adopted = 0
        self.adopted_share = 0.0
        if mixing == "full":
            Buyer.create_agents(self, n)
        elif mixing == "network":
            import networkx as nx

            if adjacency is None:
                from common import random_weak_network

                adjacency = random_weak_network(n, k_mean, seed or 0)
            if adjacency.shape != (n, n):
                raise ValueError(f"adjacency must be {n} x {n}, got {adjacency.shape}")
            graph = nx.from_scipy_sparse_array(adjacency)
            self.grid = mesa.discrete_space.Network(graph, capacity=1, random=self.random)
            NetworkBuyer.create_agents(self, n, list(self.grid.all_cells))
        else:
            raise ValueError(f"mixing must be 'full' or 'network', got {mixing!r}")
        self.datacollector = mesa.DataCollector(model_reporters={"adopted": "n_adopted"})

    def step(self) -> None:
        self.adopted_share = self.n_adopted / self.n
        if self.mixing == "full":
            self.agents.shuffle_do("step")
        else:
            self.agents.shuffle_do("step")
            self.agents.do("advance")
        self.datacollector.collect(self)
        self.day += 1

    def adoption_curve(self) -> list[int]:
        """Adopters at the end of each day."""
        return [int(x) for x in self.datacollector.get_model_vars_dataframe()["adopted"]]


def main() -> None:
    from common import standalone_args

    bp, a, adj = standalone_args(__doc__, 10_000)
    t0 = time.perf_counter()
    m = BassModel(a.n, bp["p"], bp["q"], a.mixing, bp["weak_ties_mean"], seed=a.seed, adjacency=adj)
    t1 = time.perf_counter()
    for _ in range(bp["horizon"]):
        m.step()
    t2 = time.perf_counter()
    print(f"Mesa peer: {a.n} buyers, {bp['horizon']} days, build {t1 - t0:.3f}s, run {t2 - t1:.3f}s, "
          f"adopted {m.n_adopted / a.n:.3f}, {a.n * bp['horizon'] / (t2 - t0):,.0f} buyer-days/s")


if __name__ == "__main__":
    main()
