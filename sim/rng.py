"""Named random streams: no global random state, common random numbers across strategies.

Every random decision in the model draws from a stream named after the decision
("cold_calling.connect", "need.trigger", ...). A stream for (run seed, name, day) is a
fresh PCG64 generator seeded from ``SeedSequence([seed, crc32(name), day])``, so

* the same seed gives the same numbers in any process, serial or parallel;
* two strategies run on the same seed draw identical numbers for the same decision on
  the same day, whatever else either of them did before (common random numbers);
* draws are made at population size and indexed by buyer (``u[idx]``), so a buyer's
  dice do not depend on how many other buyers were eligible that day.

The idea follows starsim's ``distributions.py`` (slot-indexed draws per named module).
"""

from __future__ import annotations

import zlib

import numpy as np


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """Factory of named, day-indexed random generators for one run."""

    def __init__(self, seed: int):
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.seed = seed

    def generator(self, name: str, day: int = 0) -> np.random.Generator:
        """A generator owned by decision ``name`` on ``day``; same inputs, same numbers."""
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([self.seed, _key(name), int(day) + 1]))
        )

    def uniform(self, name: str, day: int, n: int) -> np.ndarray:
        """``n`` uniforms on [0, 1) for decision ``name`` on ``day`` (index them by buyer)."""
        return self.generator(name, day).random(n)

    def keys(self, name: str, day: int, n: int) -> np.ndarray:
        """Random priority keys: picking the k smallest among the eligible is a uniform
        sample without replacement, and a larger k always picks a superset (CRN-friendly)."""
        return self.generator(name, day).random(n)


def pick_lowest(keys: np.ndarray, eligible_idx: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` eligible indices with the smallest keys (uniform sample without replacement)."""
    k = int(min(max(k, 0), eligible_idx.size))
    if k == 0:
        return eligible_idx[:0]
    if k == eligible_idx.size:
        return eligible_idx
    part = np.argpartition(keys[eligible_idx], k - 1)[:k]
    return eligible_idx[np.sort(part)]
