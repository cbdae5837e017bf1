"""The second peer: the Bass docking scenario written the way a Starsim user would write it.

Starsim (starsimhub/starsim) is an array-based agent-based engine: agents are ``ss.People``, their
states are numpy arrays (``ss.BoolState``, ``ss.FloatArr``), contacts live in ``ss.Network`` edge
lists, and a disease module's transmission runs in numba-compiled kernels. The Bass model is an SI
"infection" where being infected means having adopted:

* ``ss.People`` of ``n`` agents (no demographics: nobody is born, ages or dies);
* ``BuyerTies``, a static ``ss.Network`` whose edges are the ties of the graph passed in (the
  benchmark passes the engine's own graph, ``common.engine_adjacency``, so the engine, this peer,
  the Mesa peer and the numpy floor run on the identical network), each undirected tie once
  (Starsim transmits along an edge in both directions); its ``step`` does nothing (static);
* ``Adoption``, an ``ss.Infection`` with external adoption ``p`` (``ss.perday(p)``, an
  ``ss.bernoulli`` that Starsim converts to the daily probability ``1 - exp(-p)``) and imitation
  ``q`` through the network: per-edge transmission probability 1 (``beta``) times the target's
  ``rel_sus`` = ``1 - exp(-q / degree)``. A non-adopter with ``k`` adopted neighbours out of
  ``degree`` escapes imitation with probability ``exp(-q k / degree) = exp(-q A)`` and external
  influence with ``exp(-p)``, so adopts with ``1 - exp(-(p + q * A))``: the rule of sim/diffusion.py
  and of the Mesa peer and numpy floor, ``A`` the adopted share of the buyer's neighbours at the
  start of the day. Both draws in a step see the start-of-day state (transmission first, then the
  external draw among those still susceptible at the start of the step; the union adopts), so the
  update is synchronous like the engine's.
* ``ss.Sim(dt=ss.days(1))`` over the horizon: Starsim steps at every time point of
  ``[start, start + dur]``, so 365 daily updates are ``dur=ss.days(364)``; ``people_results=False``
  skips the People-level results the model does not use (Starsim's documented switch for
  lightweight sims: a careful user).

Only network mixing: the fully mixed Bass model has no network, and in Starsim it would be a
different module altogether (no transmission kernel), so the issue's peer is the network one.

The first call of the transmission kernels compiles them with numba (``cache=True``: later
processes load the compiled code from ``__pycache__``); ``warm_up`` runs a small sim so the timed
run does not pay it, and the benchmark reports it separately.

    python benchmarks/starsim_bass.py --n 10000 --mixing network               # random graph
    python benchmarks/starsim_bass.py --n 10000 --mixing network --graph engine  # the engine's graph
"""

from __future__ import annotations

import time

import numpy as np
import starsim as ss


class BuyerTies(ss.Network):
    """A static network: the ties of a given undirected graph, each tie once, never changing."""

    def __init__(self, adjacency, **kwargs):
        import scipy.sparse as sp

        upper = sp.triu(sp.csr_matrix(adjacency), k=1).tocoo()  # each undirected tie once
        super().__init__(p1=upper.row, p2=upper.col, beta=np.ones(upper.nnz), **kwargs)

    def step(self):
        pass  # static: no ties form or end


class Adoption(ss.Infection):
    """Bass adoption as an SI infection: ``infected`` = adopted (adopters stay adopters).

    ``p``: external influence per day (``ss.perday``); ``q``: imitation per day at full adoption of
    a buyer's neighbours (spread over the buyer's ties through ``rel_sus``)."""

    def __init__(self, pars=None, p=None, q=None, **kwargs):
        super().__init__()
        self.define_pars(
            beta=1.0,  # per-edge transmission probability per step; the buyer's rel_sus carries q
            p=ss.perday(0.002),
            q=0.03,
            init_prev=None,  # nobody has adopted at day 0
        )
        self.update_pars(pars, **({"p": ss.perday(p)} if p is not None else {}),
                         **({"q": q} if q is not None else {}), **kwargs)
        self.define_pars(p_external=ss.bernoulli(p=self.pars.p))

    def init_post(self):
        super().init_post()
        n = len(self.sim.people)
        degree = np.zeros(n)
        for net in self.sim.networks.values():
            degree += np.bincount(net.p1, minlength=n) + np.bincount(net.p2, minlength=n)
        # a buyer with k of its d neighbours adopted escapes imitation with prob exp(-q k / d)
        self.rel_sus[ss.uids(np.arange(n))] = np.where(degree > 0, -np.expm1(-self.pars.q / np.maximum(degree, 1)), 0.0)

    def step(self):
        """Word of mouth over the ties, then external influence, both on the start-of-day state."""
        imitators, _, _ = self.infect()
        external = self.pars.p_external.filter(self.susceptible.uids)
        new = ss.uids(np.union1d(imitators, external))
        if len(new):
            self.set_prognoses(new)
        return new

    def set_prognoses(self, uids, sources=None):
        super().set_prognoses(uids, sources)  # no longer susceptible; counts new_infections
        self.infected[uids] = True
        self.ti_infected[uids] = self.ti


class StarsimBass:
    """The Starsim Bass model on a given network: ``run()`` returns the adopters at the end of each day."""

    def __init__(self, n: int, p: float, q: float, days: int, seed: int = 1, adjacency=None, k_mean: float = 6.0):
        """``adjacency``: an n x n symmetric scipy.sparse matrix (weights ignored: a tie is a tie);
        ``None``: ``common.random_weak_network(n, k_mean, seed)``. ``seed`` seeds the daily draws
        (Starsim's ``rand_seed``)."""
        if adjacency is None:
            from common import random_weak_network

            adjacency = random_weak_network(n, k_mean, seed)
        if adjacency.shape != (n, n):
            raise ValueError(f"adjacency must be {n} x {n}, got {adjacency.shape}")
        self.n, self.days = int(n), int(days)
        self.sim = ss.Sim(n_agents=self.n, networks=BuyerTies(adjacency, name="ties"),
                          diseases=Adoption(p=p, q=q, name="adoption"), dt=ss.days(1), dur=ss.days(self.days - 1),
                          rand_seed=int(seed), people_results=False, verbose=0)
        self.sim.init()

    def run(self) -> np.ndarray:
        self.sim.run()
        return self.adoption_curve()

    def adoption_curve(self) -> np.ndarray:
        """Adopters at the end of each day (after each of the ``days`` steps)."""
        return np.cumsum(np.asarray(self.sim.results.adoption.new_infections, dtype=np.int64))


def simulate(n: int, p: float, q: float, days: int, seed: int = 1, adjacency=None) -> np.ndarray:
    """Adopters at the end of each day."""
    return StarsimBass(n, p, q, days, seed, adjacency).run()


def warm_up(n: int = 5000) -> float:
    """Run a small sim (``n`` agents, 10 days) so numba compiles, or loads from its cache, every kernel
    the timed run uses; returns its wall time. Starsim switches from numpy to numba indexing at 2,000
    elements (``ss.options.numba_indexing``), so the warm-up must be above that or the timed run would
    compile ``nb_indexer`` and ``nb_true`` itself."""
    from common import random_weak_network

    adjacency = random_weak_network(n, 6.0, 1)
    t0 = time.perf_counter()
    simulate(n, 0.01, 0.3, 10, seed=1, adjacency=adjacency)
    return time.perf_counter() - t0


def main() -> None:
    from common import standalone_args

    bp, a, adj = standalone_args(__doc__, 10_000)
    if a.mixing != "network":
        raise SystemExit("the Starsim peer runs network mixing only (--mixing network)")
    first = warm_up()
    second = warm_up()
    t0 = time.perf_counter()
    m = StarsimBass(a.n, bp["p"], bp["q"], bp["horizon"], a.seed, adjacency=adj, k_mean=bp["weak_ties_mean"])
    t1 = time.perf_counter()
    curve = m.run()
    t2 = time.perf_counter()
    print(f"Starsim peer (starsim {ss.__version__}): {a.n} buyers, {bp['horizon']} days, first call {first:.3f}s "
          f"(again {second:.3f}s), build {t1 - t0:.3f}s, run {t2 - t1:.3f}s, adopted {curve[-1] / a.n:.3f}, "
          f"{a.n * bp['horizon'] / (t2 - t0):,.0f} buyer-days/s")


if __name__ == "__main__":
    main()
