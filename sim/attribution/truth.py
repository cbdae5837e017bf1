"""Ground truth by counterfactual runs on the same seeds (common random numbers).

A *coalition* is a set of the studied channels, as a bit mask (bit j: channel j present). Its run is the
strategy with the other studied channels removed from the market altogether
(``JourneyModel(without_channels=...)``): their budget is not spent and their steps never run; the rep
hours the strategy gives their activity (``sales.split``) stay planned but unused, i.e. the freed rep hours
are left idle, not moved to other work. Every coalition of a replication runs on the same seed, so the
market, the network and every draw of the channels present are the same (``sim.engine.rng``).

From the coalitions' wins v(S):

* the incremental wins of channel j: v(all) - v(all without j) (what cutting it would lose);
* its Shapley value: the mean of v(S + j) - v(S) over the orders in which channels could be added; exact
  over all 2^k coalitions for k <= ``max_exact`` channels, else the mean over sampled permutations (with
  its standard error). Shapley values add up to v(all) - v(none) exactly (efficiency).

Wins that travel through the network (word of mouth, advocates, referrals, introductions) belong to the
channel whose touches started them, by this definition: they vanish from the run without it.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from sim.engine.channels import CHANNELS, channel_module

__all__ = ["funded_channels", "coalitions", "shapley_exact", "shapley_permutations", "sample_permutations",
           "run_coalition", "run_coalitions", "full_mask"]


def funded_channels(cfg) -> tuple[str, ...]:
    """The channels a strategy (its resolved config ``cfg``) switches on: a value that ``OFF`` switches off
    is set (a budget, content's initial stock), or reps spend time on the channel's activity."""
    out = []
    for name in CHANNELS:
        mod = channel_module(name)
        ch = getattr(cfg.channels, name)
        on = any(getattr(ch, k) != v for k, v in mod.OFF.items())
        act = getattr(mod, "REP_ACTIVITY", None)
        if act and getattr(cfg.sales.split, act) > 0 and cfg.sales.n_reps > 0:
            on = True
        if on:
            out.append(name)
    return tuple(out)


def full_mask(k: int) -> int:
    return (1 << k) - 1


def sample_permutations(k: int, n: int, seed: int) -> np.ndarray:
    """``n`` random orders of ``k`` channels (rows), fixed by ``seed``."""
    g = np.random.default_rng([int(seed), 0x5A9]) 
    return np.array([g.permutation(k) for _ in range(n)], dtype=np.int64).reshape(n, k)


def coalitions(k: int, max_exact: int = 8, permutations: np.ndarray | None = None) -> list[int]:
    """The coalitions to run: all 2^k for k <= ``max_exact``, else those the permutations pass through
    (their prefixes), always with the empty and the full coalition and every leave-one-out."""
    if k <= max_exact:
        return list(range(1 << k))
    full = full_mask(k)
    out = {0, full, *(full & ~(1 << j) for j in range(k))}
    for perm in permutations:
        mask = 0
        for j in perm:
            mask |= 1 << int(j)
            out.add(mask)
    return sorted(out)


def shapley_exact(v: np.ndarray) -> np.ndarray:
    """Exact Shapley values from ``v[..., mask]`` over all 2^k coalitions; returns ``[..., k]``."""
    v = np.asarray(v, dtype=float)
    k = int(round(math.log2(v.shape[-1])))
    sets = np.arange(1 << k)
    size = np.array([bin(s).count("1") for s in sets])
    w = np.array([math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)])
    out = np.zeros(v.shape[:-1] + (k,))
    for j in range(k):
        without = sets[(sets >> j) & 1 == 0]
        out[..., j] = ((v[..., without | (1 << j)] - v[..., without]) * w[size[without]]).sum(axis=-1)
    return out


def shapley_permutations(value, perms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values estimated from sampled permutations: ``value(mask)`` gives an array (e.g. one value
    per replication); returns (mean, standard error over permutations), each ``[..., k]``. The estimates
    add up to v(all) - v(none) exactly for every permutation, hence also on average."""
    n, k = perms.shape
    contrib = []
    for perm in perms:
        mask, prev = 0, np.asarray(value(0), dtype=float)
        row = [None] * k
        for j in perm:
            mask |= 1 << int(j)
            cur = np.asarray(value(mask), dtype=float)
            row[int(j)] = cur - prev
            prev = cur
        contrib.append(np.stack(row, axis=-1))
    c = np.stack(contrib)  # [n, ..., k]
    se = c.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(c.shape[1:], np.nan)
    return c.mean(axis=0), se


def run_coalition(shared: dict, task: tuple) -> dict:
    """One counterfactual run (an executor task): ``task = (rep, coalition, seed)``. The run with every
    studied channel keeps its touch log."""
    from sim.engine.model import JourneyModel

    rep, mask, seed = task
    channels = shared["channels"]
    without = tuple(c for j, c in enumerate(channels) if not (mask >> j) & 1)
    full = mask == full_mask(len(channels))
    t0 = time.perf_counter()
    m = JourneyModel(shared["scenario"], shared["strategy"], seed, overrides=shared["overrides"] or None,
                     without_channels=without, touch_log=full)
    res = m.run()
    out = {"wins": float(res.summary["customers_won"]), "revenue": float(res.samples["won_acv"].sum())}
    if full:
        out["log"] = m.touch_log.arrays(m)
    out["elapsed"] = time.perf_counter() - t0
    out["worker"] = f"{os.getpid()}"
    return out


def run_coalitions(shared: dict, batch: tuple) -> list[dict]:
    """Counterfactual runs of one coalition on several seeds, side by side (the engine's replication axis; the
    executor groups them: :func:`sim.executor.run_batched`). The full coalition keeps a touch log per run, so
    its runs go one at a time."""
    from sim.engine.model import JourneyModel

    mask = batch[0][1]
    channels = shared["channels"]
    if mask == full_mask(len(channels)) or len(batch) == 1:
        return [run_coalition(shared, t) for t in batch]
    without = tuple(c for j, c in enumerate(channels) if not (mask >> j) & 1)
    t0 = time.perf_counter()
    m = JourneyModel(shared["scenario"], shared["strategy"], seeds=[t[2] for t in batch],
                     overrides=shared["overrides"] or None, without_channels=without)
    results = m.run_all()
    each = (time.perf_counter() - t0) / len(batch)
    return [{"wins": float(r.summary["customers_won"]), "revenue": float(r.samples["won_acv"].sum()),
             "elapsed": each, "worker": f"{os.getpid()}"} for r in results]
