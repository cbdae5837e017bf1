"""The social network as a symmetric scipy.sparse CSR matrix of tie weights.

* strong ties: everyone in an account knows everyone else (weight ``strong_weight``);
* weak ties: each buyer has on average ``weak_ties_mean`` peers at other accounts, mostly in
  the same industry community, a share ``cross_community`` anywhere (small-world shortcuts);
* ties to our reps live in ``Population.rep_tie`` (reps are few; a vector is enough).

Built with numpy only (networkx is far too slow at a million nodes), from the ``network.*``
streams, so it is identical across strategies on the same seed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sim.engine.declare import P
from sim.engine.state import concat_ranges

SECTION = "network"
PARAMS = {
    "weak_ties_mean": P(6.0, "float", 0, 1000, "cross-account ties per buyer (mean)", "assumption: industry peer networks"),
    "cross_community": P(0.1, "float", 0, 1, "share of weak ties outside the own community", "small-world shortcuts (Watts & Strogatz 1998)"),
    "strong_weight": P(1.0, "float", 0, 10, "influence weight of a colleague tie", "assumption: strong ties (Granovetter 1973)"),
    "weak_weight": P(0.3, "float", 0, 10, "influence weight of a peer tie", "assumption: weak ties (Granovetter 1973)"),
    "initial_rep_ties": P(0.01, "float", 0, 1, "share of buyers who know one of our reps at day 0", "assumption"),
}


def build_network(pop, cfg, streams) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The tie-weight matrix ``W`` (strong and weak ties) and its weak part ``W_weak`` (ties to
    other accounts), both symmetric CSR with float32 weights."""
    n, net = pop.n, cfg.network
    # strong ties: all pairs inside each account, vectorised over accounts per (i, j) offset
    rows, cols = [], []
    gmax = int(pop.group_size.max()) if pop.n_accounts else 0
    for i in range(gmax):
        for j in range(i + 1, gmax):
            acc = np.flatnonzero(pop.group_size > j)
            if acc.size:
                rows.append(pop.group_start[acc] + i)
                cols.append(pop.group_start[acc] + j)
    strong = _symmetric(n, rows, cols, net.strong_weight)
    # weak ties: each buyer starts Poisson(k/2) ties; symmetrising doubles them to mean k
    gen = streams.generator("network.weak")
    stubs = gen.poisson(net.weak_ties_mean / 2.0, n)
    src = np.repeat(np.arange(n, dtype=np.int64), stubs)
    m = src.size
    rows, cols = [], []
    if m:
        bcomm = pop.community[pop.account]
        order = np.argsort(bcomm, kind="stable")
        counts = np.bincount(bcomm, minlength=int(bcomm.max()) + 1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        c = bcomm[src]
        local = order[starts[c] + np.floor(gen.random(m) * counts[c]).astype(np.int64)]
        anywhere = np.floor(gen.random(m) * n).astype(np.int64)
        dst = np.where(gen.random(m) < net.cross_community, anywhere, local)
        keep = pop.account[src] != pop.account[dst]  # colleagues are already strong ties
        rows.append(src[keep])
        cols.append(dst[keep])
    weak = _symmetric(n, rows, cols, net.weak_weight)
    if strong.nnz == 0:  # one-person accounts: every tie is a weak tie (W is read-only, so share it)
        return weak, weak
    return (strong + weak).tocsr(), weak


def _symmetric(n: int, rows: list, cols: list, weight: float) -> sp.csr_matrix:
    """Symmetric CSR matrix with ``weight`` on every pair (row, col) and (col, row); a pair
    listed more than once is still one tie."""
    r = np.concatenate(rows + cols) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols + rows) if rows else np.zeros(0, np.int64)
    w = sp.coo_matrix((np.ones(r.size, dtype=np.float32), (r, c)), shape=(n, n)).tocsr()  # sums repeats
    w.data[:] = weight
    return w


def draw_tie_reps(u: np.ndarray, n_reps: int) -> np.ndarray:
    """The rep (index within the team) each new personal tie is with: one of the team at random."""
    return np.minimum((u * n_reps).astype(np.int32), max(int(n_reps) - 1, 0)) if n_reps > 0 else np.full(u.shape, -1, np.int32)


def initial_rep_ties(pop, cfg, streams) -> None:
    u = streams.uniform("network.rep_ties", 0, pop.n)
    pop.rep_tie[:] = u < cfg.network.initial_rep_ties
    tied = np.flatnonzero(pop.rep_tie)
    pop.tie_rep[tied] = draw_tie_reps(streams.uniform("network.tie_rep", 0, tied), cfg.sales.n_reps)


def row_entries(W: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and weights of the CSR rows ``rows``, concatenated in that order: the
    neighbours of a few buyers in O(their ties) (scipy's fancy row indexing costs far more)."""
    start = W.indptr[rows]
    pos = concat_ranges(start, W.indptr[np.asarray(rows) + 1] - start)
    return W.indices[pos], W.data[pos]


def spread(W: sp.csr_matrix, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``W @ x`` for the 0/1 vector ``x`` that is 1 on ``sources``, computed from their rows only
    (W is symmetric). Returns ``(reached, weight)``: the buyers with a tie to a source, ascending,
    and ``(W @ x)[reached]`` in ``W``'s dtype, summed in the same order as the full product."""
    cols, w = row_entries(W, sources)
    n = W.shape[0]
    if cols.size * 200 < n:  # few ties: sort them
        reached = np.unique(cols)
        acc = np.zeros(reached.size, dtype=W.dtype)
        np.add.at(acc, np.searchsorted(reached, cols), w)
        return reached, acc
    # many: sum into a full column and mark the reached (the same additions in the same order, without a sort)
    total = np.zeros(n, dtype=W.dtype)
    np.add.at(total, cols, w)
    hit = np.zeros(n, dtype=bool)
    hit[cols] = True
    reached = np.flatnonzero(hit)
    return reached, total[reached]


def rows_dot(W: sp.csr_matrix, rows: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``W[rows] @ v`` from the rows' entries only (scipy's fancy row indexing copies far more), with the
    same result to the last bit: each row's products summed one by one in its CSR order, in the dtype of
    the product (scipy's ``csr_matvec``). ``v`` is a function of buyer indices returning the vector's
    entries there, so that only the entries the rows touch are computed."""
    rows = np.asarray(rows)
    start = W.indptr[rows]
    lengths = W.indptr[rows + 1] - start
    pos = concat_ranges(start, lengths)  # row_entries' positions, with the row lengths kept for the sums
    prod = W.data[pos] * v(W.indices[pos])
    out = np.zeros(len(rows), dtype=prod.dtype)
    np.add.at(out, np.repeat(np.arange(len(rows)), lengths), prod)
    return out


class Exposure:
    """``W @ x`` for a 0/1 vector ``x`` that changes a little from day to day.

    Keeps the previous ``x`` and its product; when few entries changed, it adds and subtracts
    the rows of the changed entries (W is symmetric, so a row is also a column) instead of a
    full sparse product. It recomputes in full when more than 2% of entries changed, and every
    64 updates, so rounding never accumulates. Compare results with ``> EPS``, not ``> 0``.
    """

    EPS = 1e-9

    def __init__(self, W):
        """``W``: the matrix, or a function returning it (called on first use)."""
        self._W = W
        self.x: np.ndarray | None = None
        self.e: np.ndarray | None = None
        self.updates = 0

    @property
    def W(self):
        if callable(self._W):
            self._W = self._W()
        return self._W

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=bool)
        if self.x is not None and self.updates < 64:
            changed = np.flatnonzero(x != self.x)  # one pass finds both the entries switched on and off
            if changed.size == 0:
                return self.e
            if changed.size <= 0.02 * x.size:
                now = x[changed]
                for rows, sign in ((changed[now], 1.0), (changed[~now], -1.0)):
                    if rows.size:
                        cols, w = row_entries(self.W, rows)
                        np.add.at(self.e, cols, sign * w.astype(np.float64))
                self.updates += 1
                self.x[changed] = now  # our own copy of x, brought up to date in O(changes)
                return self.e
        self.e = np.asarray(self.W @ x.astype(np.float64), dtype=np.float64)
        self.x = x.copy()
        self.updates = 0
        return self.e
