"""Shared helpers for the benchmark suite: scenario scaling, the Bass mean-field curve, and the
network the Mesa peer and the numpy floor run on in network-mixing mode (the engine's own graph,
``engine_adjacency``; ``random_weak_network`` is the fallback for standalone runs).

Nothing here is imported by the ``sim`` package; the benchmarks use only the public API
(``sim.load_scenario``, ``Scenario.with_overrides``, ``sim.JourneyModel``, ``sim.analysis.experiment.run_many``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
DEFAULT_TOML = SCENARIOS / "default.toml"
BASS_TOML = SCENARIOS / "bass.toml"

#: the strategy of the full-model benchmark: it funds all six channels and all four rep activities,
#: so every go-to-market mechanism is on.
FULL_MODEL_STRATEGY = "blended"


# ------------------------------------------------------------------------------------------------
# scaling the default scenario to N buyers
# ------------------------------------------------------------------------------------------------

def buyers_per_account(cfg: dict) -> float:
    """Expected buying-group size of the scenario's market (segment shares x mean group size)."""
    segs = cfg["market"]["segments"]
    tot = sum(s["share"] for s in segs.values())
    return sum(s["share"] * (s["group_min"] + s["group_max"]) / 2.0 for s in segs.values()) / tot


def scaled_default(n_buyers: int, strategy: str = FULL_MODEL_STRATEGY, path: Path = DEFAULT_TOML):
    """The default scenario scaled to about ``n_buyers`` buyers with the default per-buyer activity.

    With k = new n_accounts / default n_accounts, every quantity that buys or produces activity
    in absolute numbers is multiplied by k, so touches, leads and meetings *per buyer* stay
    as in the default market:

    * ``market.n_accounts``                = round(n_buyers / expected buyers per account)
    * ``strategies.<s>.channels.<c>.budget`` x k  (dials, sends, reach, events are budget / unit cost)
    * ``channels.<c>.fixed_cost``          x k  (cost only; keeps cost per buyer comparable)
    * ``sales.n_reps``                     = max(1, round(n_reps x k))  (rep hours: dials, meetings, ties)
    * ``competitors.content_stock`` and ``channels.content.initial_stock`` x k  (our content budget
      grows k-fold, so the competitors' stock must too, or our share of voice would rise with N)

    Per-buyer mechanisms (research, network ties per buyer, need triggers, decisions, churn)
    need no scaling. ``market.n_communities`` stays 20 (communities grow with N).
    Returns ``(scenario, info)``.
    """
    import sim

    base = sim.load_scenario(path)
    cfg = base.config_dict(strategy)
    a0 = int(cfg["market"]["n_accounts"])
    bpa = buyers_per_account(cfg)
    n_acc = max(1, int(round(n_buyers / bpa)))
    k = n_acc / a0
    reps = max(1, int(round(cfg["sales"]["n_reps"] * k)))
    ov: dict = {
        "market.n_accounts": n_acc,
        "sales.n_reps": reps,
        "competitors.content_stock": float(cfg["competitors"]["content_stock"]) * k,
        "channels.content.initial_stock": float(cfg["channels"]["content"]["initial_stock"]) * k,
    }
    for ch, c in cfg["channels"].items():
        ov[f"channels.{ch}.fixed_cost"] = float(c["fixed_cost"]) * k
        ov[f"strategies.{strategy}.channels.{ch}.budget"] = float(c["budget"]) * k
    scen = base.with_overrides(ov)
    info = {"n_buyers_target": int(n_buyers), "n_accounts": n_acc, "scale_k": round(k, 4), "n_reps": reps,
            "buyers_per_account_expected": round(bpa, 4), "strategy": strategy}
    return scen, info


def bass_scenario(n_buyers: int, mixing: str | None = None):
    """``scenarios/bass.toml`` with ``n_buyers`` one-person accounts (and optionally another mixing)."""
    import sim

    ov: dict = {"market.n_accounts": int(n_buyers)}
    if mixing:
        ov["diffusion.mixing"] = mixing
    return sim.load_scenario(BASS_TOML).with_overrides(ov)


def bass_params() -> dict:
    """p, q, horizon and mixing of ``scenarios/bass.toml`` (read with tomllib: no engine import)."""
    import tomllib

    with open(BASS_TOML, "rb") as fh:
        d = tomllib.load(fh)
    return {"p": float(d["diffusion"]["p"]), "q": float(d["diffusion"]["q"]),
            "horizon": int(d["scenario"]["horizon_days"]), "mixing": d["diffusion"].get("mixing", "full"),
            "weak_ties_mean": float(d.get("network", {}).get("weak_ties_mean", 6.0))}


# ------------------------------------------------------------------------------------------------
# Bass reference curve
# ------------------------------------------------------------------------------------------------

def mean_field_curve(p: float, q: float, horizon: int) -> np.ndarray:
    """Expected adopted share at the end of each day under the daily-hazard rule of sim/diffusion.py
    (full mixing, synchronous update): F_{t+1} = F_t + (1 - F_t) (1 - exp(-(p + q F_t)))."""
    f = np.empty(horizon)
    x = 0.0
    for t in range(horizon):
        x = x + (1.0 - x) * (-np.expm1(-(p + q * x)))
        f[t] = x
    return f


def curve_stats(curve, n: int) -> dict:
    """Adopted share at a few days and the days at which 10%, 50%, 90% had adopted."""
    c = np.asarray(curve, dtype=float) / float(n)
    out = {}
    for d in (30, 90, 180):
        if d - 1 < c.size:
            out[f"F_day{d}"] = round(float(c[d - 1]), 4)
    for lvl in (0.1, 0.5, 0.9):
        hit = np.flatnonzero(c >= lvl)
        out[f"t{int(lvl * 100)}"] = int(hit[0]) + 1 if hit.size else None
    return out


# ------------------------------------------------------------------------------------------------
# the network of the peer and the floor (network-mixing mode only)
# ------------------------------------------------------------------------------------------------

def engine_adjacency(n: int, seed: int):
    """The graph the engine builds for ``bass_scenario(n, "network")`` with this seed, through the
    public API (``sim.JourneyModel(...).W``), as an unweighted symmetric CSR adjacency (float32
    ones, sorted indices).

    In the Bass scenario every account is one buyer, so every tie is a weak tie and all ties carry
    the same weight: the engine's tie-weighted adopted share of a buyer's neighbours is then the
    plain share of adopted neighbours, which is what the peer and the floor compute. Asserted here.
    """
    import scipy.sparse as sp

    import sim

    m = sim.JourneyModel(bass_scenario(n, "network"), seed=seed)
    w = sp.csr_matrix(m.W, copy=True)
    w.eliminate_zeros()
    assert int(m.pop.n) == int(n), f"the Bass scenario should have one buyer per account ({m.pop.n} != {n})"
    assert w.shape == (n, n)
    if w.nnz:
        assert np.all(w.data == w.data[0]) and w.data[0] > 0, \
            f"the Bass network should have equal tie weights, got {np.unique(w.data)[:5]}"
    assert (w != w.T).nnz == 0, "the engine's network should be symmetric"
    assert not w.diagonal().any(), "the engine's network should have no self-ties"
    a = sp.csr_matrix((np.ones(w.nnz, np.float32), w.indices.copy(), w.indptr.copy()), shape=w.shape)
    a.sort_indices()
    return a


def graph_fingerprint(adj) -> str:
    """A short hash of a sparse adjacency's structure (which ties exist, not their weights): equal
    fingerprints mean the engine, the peer and the floor ran on the same graph."""
    import hashlib

    import scipy.sparse as sp

    a = sp.csr_matrix(adj, copy=True)
    a.eliminate_zeros()
    a.sort_indices()
    h = hashlib.sha1()
    h.update(np.asarray(a.shape, np.int64).tobytes())
    h.update(a.indptr.astype(np.int64).tobytes())
    h.update(a.indices.astype(np.int64).tobytes())
    return h.hexdigest()[:16]


def save_adjacency(adj, path) -> None:
    import scipy.sparse as sp

    sp.save_npz(path, sp.csr_matrix(adj), compressed=False)


def load_adjacency(path):
    import scipy.sparse as sp

    a = sp.load_npz(path).tocsr()
    a.sort_indices()
    return a


def random_weak_network(n: int, k_mean: float, seed: int):
    """Undirected random network with the engine's weak-tie degree law and no communities:
    each buyer starts Poisson(k/2) ties to uniformly random others; symmetrised, duplicates and
    self-ties dropped. Returns (indptr, indices) of the CSR adjacency (unweighted: in the Bass
    scenario every account has one buyer, so all ties are weak and carry the same weight)."""
    import scipy.sparse as sp

    rng = np.random.default_rng([seed, 7])
    stubs = rng.poisson(k_mean / 2.0, n)
    src = np.repeat(np.arange(n, dtype=np.int64), stubs)
    dst = rng.integers(0, n, src.size)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    a = sp.coo_matrix((np.ones(src.size, np.float32), (src, dst)), shape=(n, n)).tocsr()
    a = (a + a.T).tocsr()
    a.data[:] = 1.0  # a repeated tie is still one tie
    a.sort_indices()
    return a


def standalone_args(doc: str, default_n: int):
    """Command line of the standalone Bass scripts (mesa_bass.py, numpy_bass.py): ``--n``, ``--seed``,
    ``--mixing``, ``--graph``. Returns (bass_params(), args, adjacency or None); the engine's graph is
    built here, before the script's clock starts."""
    import argparse

    bp = bass_params()
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--n", type=int, default=default_n)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mixing", choices=("full", "network"), default=bp["mixing"])
    ap.add_argument("--graph", choices=("random", "engine"), default="random",
                    help="network mixing: a random weak-tie network, or the engine's graph for the same n and seed "
                         "(built untimed, needs the sim package)")
    a = ap.parse_args()
    adj = engine_adjacency(a.n, a.seed) if a.mixing == "network" and a.graph == "engine" else None
    return bp, a, adj

