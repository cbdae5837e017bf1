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

from sim.engine.arrays import count_by_segment, segment_slices

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK = (1 << 64) - 1


_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53
_NO_PROBE = np.iinfo(np.int64).max  # BatchStreams.sample: a position not probed yet


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

    def uniform(self, name: str, day: int, idx, per: str = "buyer") -> np.ndarray:
        """Uniforms on [0, 1) for decision ``name`` on ``day``, one per index in ``idx``
        (an array of buyer or account indices, or an int n meaning indices 0..n-1; ``per`` says which,
        and matters only to a batch of replications: ``BatchStreams``)."""
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



class BatchStreams:
    """The streams of several replications simulated side by side as one population (the replication
    axis): replication ``r`` has its own seed, buyers ``boff[r]:boff[r+1]`` and accounts
    ``aoff[r]:aoff[r+1]``. Every draw a buyer or account gets is the one its replication's own
    ``Streams`` gives it at its index inside that replication, so a replication's numbers do not depend
    on the batch it ran in, nor on its place there (common random numbers across batches).

    ``uniform`` and ``pick`` are one vectorised pass over the whole batch (per-replication stream keys,
    shifted so that the global index gives the local one); ``sample`` probes every replication at once
    and falls back to the replication's own ``Streams.sample`` where one round of probes is not enough.
    A batch of one replication is exactly its ``Streams``.
    """

    def __init__(self, seeds, buyer_offsets, account_offsets):
        self.streams = [Streams(s) for s in seeds]
        self.R = len(self.streams)
        self.boff = np.asarray(buyer_offsets, dtype=np.int64)
        self.aoff = np.asarray(account_offsets, dtype=np.int64)
        self.nb = np.diff(self.boff)  # buyers per replication
        # replication of every buyer and account
        self.brep = np.repeat(np.arange(self.R, dtype=np.int64), self.nb)
        self.arep = np.repeat(np.arange(self.R, dtype=np.int64), np.diff(self.aoff))
        self._bases = np.array([s._base for s in self.streams], dtype=np.uint64)
        # The stream keys of a day, for every name drawn so far, made in one vectorised pass when the day
        # changes (a draw then costs a row lookup instead of a mixing pass of its own): row ``_row[name]``
        # of ``_named`` is the per-name part of every replication's key; of ``_today``, its key on
        # ``_day``, as is (``local`` indices) and shifted by the buyer or account offsets (global ones).
        self._row: dict[str, int] = {}
        self._named = np.zeros((0, self.R), dtype=np.uint64)
        self._day: int | None = None
        self._today: dict[str, np.ndarray] = {}
        # offsets times the stream multiplier: (i - off) * G + key == i * G + (key - off * G) (mod 2**64)
        self._shift = {"local": np.zeros(self.R, dtype=np.uint64),
                       "buyer": self.boff[:-1].astype(np.uint64) * _GOLDEN,
                       "account": self.aoff[:-1].astype(np.uint64) * _GOLDEN}
        self._first: np.ndarray | None = None  # scratch for sample: first probe of each buyer (see there)
        self._slices = segment_slices(self.boff)  # each replication's buyers

    def _keys(self, name: str, day: int, index: str = "local") -> np.ndarray:
        """Every replication's stream key of (name, day): ``Streams._stream_key``, vectorised; with
        ``index="buyer"`` or ``"account"`` less the offset times the multiplier, so that a global index
        draws its replication's number at its local index."""
        day = int(day)
        if day != self._day:  # a new day: every known name's keys at once
            self._day = day
            keys = _mix64(self._named ^ np.uint64(day + 1))
            self._today = {kind: keys - shift for kind, shift in self._shift.items()}
        row = self._row.get(name)
        if row is None:  # a new name: its row, and its keys on the current day
            row = self._row[name] = len(self._row)
            named = _mix64(self._bases ^ np.uint64(_key(name)))
            self._named = np.vstack([self._named, named])
            keys = _mix64(named ^ np.uint64(day + 1))
            self._today = {kind: np.vstack([self._today[kind], keys - shift]) for kind, shift in self._shift.items()}
        return self._today[index][row]

    @staticmethod
    def _draw(z: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Uniforms on [0, 1) from the indices ``z`` (a fresh uint64 array, already times the multiplier;
        overwritten) and each one's stream key: ``Streams.uniform``'s mixing, with as few passes over
        the data as it takes."""
        z += keys
        z = _mix64(z)
        z >>= _S11
        return np.multiply(z, _TO_UNIT)  # exact: z < 2**53 converts to float64 without rounding

    @staticmethod
    def _times_golden(idx: np.ndarray) -> np.ndarray:
        """``idx * G`` as a fresh uint64 array (non-negative indices: an int64 one is reinterpreted, not copied)."""
        if idx.dtype == np.int64:
            return np.multiply(idx.view(np.uint64), _GOLDEN)
        z = idx.astype(np.uint64)
        z *= _GOLDEN
        return z

    def uniform(self, name: str, day: int, idx, per: str = "buyer") -> np.ndarray:
        """Uniforms for decision ``name`` on ``day``, one per buyer (``per="buyer"``) or account
        (``per="account"``) index in ``idx`` (global indices of the batch; an int n means 0..n-1)."""
        if self.R == 1:
            return self.streams[0].uniform(name, day, idx)
        if isinstance(idx, (int, np.integer)):
            idx = np.arange(int(idx), dtype=np.int64)
        idx = np.asarray(idx)
        if idx.size == 0:
            return np.zeros(idx.shape)
        account = per == "account"
        rep = (self.arep if account else self.brep)[idx]
        return self._draw(self._times_golden(idx), self._keys(name, day, "account" if account else "buyer")[rep])

    def _per_rep(self, k) -> np.ndarray:
        if np.ndim(k) == 0:
            return np.full(self.R, int(k), dtype=np.int64)
        return np.broadcast_to(np.asarray(k, dtype=np.int64), (self.R,))

    def _by_rep_then_key(self, rep: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """``np.lexsort((keys, rep))``: the order by replication, then key (ties in input order). A key is
        j * 2**-53 for an integer j < 2**53, so (rep << 53) | j is an exact single integer key for fewer than
        2**11 replications, and its stable argsort is the same order, faster than lexsort's two passes."""
        if self.R >= 2048:
            return np.lexsort((keys, rep))
        comp = (keys * 9007199254740992.0).astype(np.uint64)
        comp |= rep.astype(np.uint64) << np.uint64(53)
        return np.argsort(comp, kind="stable")

    def pick(self, name: str, day: int, eligible: np.ndarray, k) -> np.ndarray:
        """``Streams.pick`` in each replication: the ``k[r]`` (or ``k``) of replication r's eligible buyers
        (ascending global indices) with the smallest keys, ascending."""
        if self.R == 1:
            return self.streams[0].pick(name, day, eligible, int(self._per_rep(k)[0]))
        k = self._per_rep(k)
        if eligible.size == 0 or not (k > 0).any():
            return eligible[:0]
        rep = self.brep[eligible]
        keys = self.uniform(name, day, eligible)
        m = np.bincount(rep, minlength=self.R)
        k = np.minimum(np.maximum(k, 0), m)
        # the k-th smallest of m uniform keys is about k/m: sort only the keys below a generous bound, and
        # every key of a replication whose bound catches fewer than k (then the result is the same)
        bound = np.where(k > 0, (k + 6.0 * np.sqrt(k) + 16.0) / np.maximum(m, 1), 0.0)
        cand = np.flatnonzero(keys < bound[rep])
        short = np.bincount(rep[cand], minlength=self.R) < k
        if short.any():
            cand = np.flatnonzero((keys < bound[rep]) | short[rep])
        order = cand[self._by_rep_then_key(rep[cand], keys[cand])]
        r = rep[order]
        rank = np.arange(order.size) - np.searchsorted(r, r)  # place inside its replication
        return eligible[np.sort(order[rank < k[r]], kind="stable")]  # integers: any sort gives the same; this one is faster here

    def sample(self, name: str, day: int, mask: np.ndarray, k) -> np.ndarray:
        """``Streams.sample`` in each replication: ``k[r]`` (or ``k``) of replication r's buyers where
        ``mask``, ascending. The first round of probes is drawn for every replication at once; a
        replication whose pool is small or whose first round falls short is left to its own
        ``Streams.sample``, which then repeats exactly that first round."""
        if self.R == 1:
            return self.streams[0].sample(name, day, mask, int(self._per_rep(k)[0]))
        mask = np.asarray(mask, dtype=bool)
        m = count_by_segment(mask, self._slices)  # eligible
        n = self.nb
        k = np.minimum(np.maximum(self._per_rep(k), 0), m)
        expected = 1.3 * k * n / np.maximum(m, 1)  # finite: no division by zero
        alone = (k > 0) & ((k > m // 4) | (expected > m + n / 8))  # Streams.sample takes its pick path
        probe = np.flatnonzero((k > 0) & ~alone)
        out = []
        if alone.any():  # Streams.sample's pick path, for every such replication at once
            sel = mask & alone[self.brep] if not alone.all() else mask
            out.append(self.pick(name, day, np.flatnonzero(sel), np.where(alone, k, 0)))
        if probe.size:
            batch = (1.3 * k[probe] * n[probe] / m[probe]).astype(np.int64) + 64
            rep = np.repeat(probe, batch)
            # probe j of replication r is number i = start[r] + j of the batch: (i - start) * G + key is
            # i * G + (key - start * G), so the keys take the shift and the indices are a plain range
            start = np.cumsum(batch) - batch
            keys = self._keys(f"{name}#probe", day)[probe] - start.astype(np.uint64) * _GOLDEN
            z = np.arange(rep.size, dtype=np.uint64)
            z *= _GOLDEN
            u = self._draw(z, np.repeat(keys, batch))
            pos = (u * np.repeat(n[probe], batch)).astype(np.int64)
            pos += np.repeat(self.boff[probe], batch)
            keep = np.flatnonzero(mask[pos])  # indices, then two takes: cheaper than two boolean selections
            pos, rep = pos[keep], rep[keep]
            # the first probe of each position, in probe order (positions are disjoint across replications):
            # the smallest probe number per position, by a scatter into a scratch column of the population
            # (O(probes); a sort of the probes cost far more), left as it was found
            if self._first is None:
                self._first = np.full(int(self.boff[-1]), _NO_PROBE, dtype=np.int64)
            number = np.arange(pos.size)
            np.minimum.at(self._first, pos, number)
            first = self._first[pos] == number
            self._first[pos] = _NO_PROBE
            pos, rep = pos[first], rep[first]
            start = np.searchsorted(rep, np.arange(self.R))
            got = np.bincount(rep, minlength=self.R)
            take = (np.arange(pos.size) - start[rep]) < k[rep]
            short = probe[got[probe] < k[probe]]
            if short.size:  # left to Streams.sample below
                take &= ~np.isin(rep, short)
            out.append(pos[take])
            out += [self.streams[r].sample(name, day, mask[self.boff[r]:self.boff[r + 1]], int(k[r])) + self.boff[r]
                    for r in short]
        # one ascending run per replication (or pick's sorted part): integers sort alike by any method, and the
        # stable one (timsort) makes use of the runs
        return np.sort(np.concatenate(out), kind="stable") if out else np.zeros(0, dtype=np.int64)
