"""Small array helpers for the replication axis, shared by the population (``state``) and the random streams
(``rng``): a leaf module (numpy only), so that ``rng`` stays a leaf too.

A batch lays its replications side by side: replication r owns the entries ``off[r]:off[r+1]`` of every buyer (or
account) column. Slicing per replication with Python int bounds is cheaper than fancy indexing for the few
replications of a batch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["segment_slices", "count_by_segment"]


def segment_slices(off: np.ndarray) -> list[slice]:
    """The slices ``off[r]:off[r+1]`` with Python int bounds (cheaper to apply than numpy scalars)."""
    o = np.asarray(off).tolist()
    return [slice(a, b) for a, b in zip(o[:-1], o[1:])]


def count_by_segment(mask: np.ndarray, off) -> np.ndarray:
    """True entries of ``mask`` in each segment ``off[r]:off[r+1]`` (count_nonzero per slice: far faster than a
    cumulative sum over the whole mask for the few segments of a batch). ``off``: the offsets, or their
    ``segment_slices`` (for a caller that counts every day)."""
    slices = off if isinstance(off, list) else segment_slices(off)
    return np.array([np.count_nonzero(mask[s]) for s in slices], dtype=np.int64)
