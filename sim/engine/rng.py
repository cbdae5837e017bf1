"""Named random streams: no global random state, common random numbers across strategies.

Every random decision draws from a stream named after the decision ("cold_calling.connect",
"need.trigger", ...). The number a buyer (or account) ``i`` gets from stream ``name`` on
``day`` is a pure function of (run seed, name, day, i): the i-th output of a SplitMix64
generator keyed by the first three (Steele, Lea & Flood 2014; SplitMix64 passes BigCrush).
So

* the same seed gives the same numbers in any process, serial or parallel;
* two strategies run on the same seed give a buyer the same number for the same decision on
  the same day, whatever else either of them did before (common random numbers);
* a decision that concerns k buyers costs O(k), not O(population): no full-size draws.

Larger structures (the population, the network) use ``generator(name)``, a numpy PCG64
seeded from (seed, name, day). The idea of slot-indexed draws per named decision follows
starsim's ``distributions.py``.
"""

from __future__ import annotations

import zlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK = (1 << 64) - 1


_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 output function on a uint64 array, in place (wrapping arithmetic)."""
    t = z >> _S30
    z ^= t
    z *= _M1
    np.right_shift(z, _S27, out=t)
    z ^= t
    z *= _M2
    np.right_shift(z, _S31, out=t)
    z ^= t
    return z


def _mix_int(z: int) -> int:
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """Named, day-indexed random numbers for one run."""

    def __init__(self, seed: int):
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.seed = seed
        self._base = _mix_int(_mix_int(seed + 0x632BE59BD9B4E019))
        self._named: dict[str, int] = {}  # per-name part of the stream key

    def generator(self, name: str, day: int = 0) -> np.random.Generator:
        """A numpy generator owned by ``name`` on ``day`` (for building structures)."""
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([self.seed, _key(name), int(day) + 1]))
        )

    def _stream_key(self, name: str, day: int) -> np.uint64:
        named = self._named.get(name)
        if named is None:
            named = self._named[name] = _mix_int(self._base ^ _key(name))
        return np.uint64(_mix_int(named ^ (int(day) + 1)))

    def uniform(self, name: str, day: int, idx) -> np.ndarray:
        """Uniforms on [0, 1) for decision ``name`` on ``day``, one per index in ``idx``
        (an array of buyer or account indices, or an int n meaning indices 0..n-1)."""
        if isinstance(idx, (int, np.integer)):
            idx = np.arange(int(idx), dtype=np.uint64)
        z = np.asarray(idx).astype(np.uint64)  # a fresh array: the mixing below works in place
        if z.size == 0:
            return np.zeros(z.shape)
        z *= _GOLDEN
        z += self._stream_key(name, day)
        z = _mix64(z)
        z >>= _S11
        out = z.astype(np.float64)
        out *= _TO_UNIT
        return out

    def pick(self, name: str, day: int, eligible: np.ndarray, k: int) -> np.ndarray:
        """A uniform sample of ``k`` of the ``eligible`` indices without replacement: the k with
        the smallest keys. A larger k always picks a superset (CRN-friendly)."""
        k = int(min(max(k, 0), eligible.size))
        if k == 0:
            return eligible[:0]
        if k == eligible.size:
            return eligible
        keys = self.uniform(name, day, eligible)
        part = np.argpartition(keys, k - 1)[:k]
        return eligible[np.sort(part)]

    def sample(self, name: str, day: int, mask: np.ndarray, k: int) -> np.ndarray:
        """A uniform sample of ``k`` of the buyers where ``mask`` is True, without replacement,
        ascending. Costs O(k / share of eligible buyers) when the pool is a large part of the
        population (cold-call lists, event contacts, sponsored reach), instead of a key per
        eligible buyer: it probes uniform positions ``0..n-1`` from the stream ``name#probe`` in a
        fixed order and keeps the first ``k`` distinct eligible ones. The probe sequence depends
        only on (seed, name, day), so a larger k picks a superset and two strategies probe the
        same buyers in the same order. Small or nearly exhausted pools use ``pick``."""
        mask = np.asarray(mask, dtype=bool)
        n = mask.size
        m = int(np.count_nonzero(mask))
        k = int(min(max(k, 0), m))
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        expected_probes = 1.3 * k * n / m
        if k > m // 4 or expected_probes > m + n / 8:
            return self.pick(name, day, np.flatnonzero(mask), k)
        probe = f"{name}#probe"
        chosen = np.zeros(0, dtype=np.int64)
        start = 0
        while chosen.size < k:
            batch = int(1.3 * (k - chosen.size) * n / m) + 64
            pos = (self.uniform(probe, day, np.arange(start, start + batch)) * n).astype(np.int64)
            start += batch
            pos = pos[mask[pos]]
            _, first = np.unique(pos, return_index=True)  # first occurrence, in probe order
            pos = pos[np.sort(first)]
            pos = pos[~np.isin(pos, chosen)]
            chosen = np.concatenate([chosen, pos[: k - chosen.size]])
        return np.sort(chosen)

