"""Attribution methods as practitioners run them on CRM data, here on the simulator's touch log.

The input is a *journey table*: one row per touch of an account's journey, in order (see
:func:`journeys`), with the journey's conversions (1 if the account was won, else 0) and value. Every
method returns the conversions it credits to each channel (an array over channel codes, summing to the
conversions it credits). All are vectorised over touches (numpy / pandas; no loop over journeys).

* ``first_touch``, ``last_touch``: all credit to the first (last) touch of a converting journey;
* ``linear``: equal credit to every touch of a converting journey;
* ``time_decay``: credit in proportion to ``2 ** (-age / half_life)``, age = days from the touch to the
  win (half-life 7 days, the common default of web analytics tools);
* ``position_based`` (U-shaped): 40% to the first touch, 40% to the last, 20% spread over the touches
  between (one touch: all; two: half each);
* ``markov``: the first-order Markov chain of the journeys (start, channels, conversion, null); a
  channel's removal effect is the relative fall of the conversion probability when its state leads to
  null; conversions are split in proportion to the removal effects (Anderl et al. 2016; what the
  ``channelattribution`` package computes, here solved exactly instead of simulated);
* ``shapley_paths``: data-driven Shapley (Dalessandro et al. 2012): the value of a set of channels is the
  conversion rate of the journeys that touched exactly that set; each channel's Shapley value over the
  channels seen, negative values set to 0, conversions split in proportion.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["METHODS", "journeys", "path_table", "credit", "first_touch", "last_touch", "linear", "time_decay",
           "position_based", "markov", "markov_removal_effects", "shapley_paths", "HALF_LIFE_DAYS"]

HALF_LIFE_DAYS = 7.0


def journeys(log: pd.DataFrame | dict, channels: int, include: np.ndarray | None = None) -> pd.DataFrame:
    """The journey table of a touch log (``sim.engine.touchlog`` arrays or frame with integer ``channel``
    codes): one row per touch of an account, in time order, up to its win (touches after the win day are
    not part of the journey). Columns: ``path`` (0..P-1, one per account), ``account``, ``pos``, ``length``,
    ``channel`` (code), ``age`` (days from the touch to the end: the win day, or the last day of the log
    for a journey that did not convert), ``conv`` (1 if won), ``value`` (the won account's contract value).
    ``include``: boolean mask over channel codes to keep (e.g. leave the reps' meetings out)."""
    ch = np.asarray(log["channel"])
    ch = ch.codes if hasattr(ch, "codes") else ch
    ch = np.asarray(ch, dtype=np.int64)
    day = np.asarray(log["day"], dtype=np.int64)
    acc = np.asarray(log["account"], dtype=np.int64)
    won = np.asarray(log["account_won"], dtype=bool)
    day_won = np.asarray(log["day_won"], dtype=float)
    acv = np.asarray(log["acv"], dtype=float)
    keep = ~won | (day <= day_won)
    if include is not None:
        keep &= np.asarray(include, dtype=bool)[ch]
    ch, day, acc, won, day_won, acv = ch[keep], day[keep], acc[keep], won[keep], day_won[keep], acv[keep]
    order = np.lexsort((np.arange(ch.size), day, acc))  # by account, then day, then as logged
    ch, day, acc, won, day_won, acv = ch[order], day[order], acc[order], won[order], day_won[order], acv[order]
    uacc, start, length = np.unique(acc, return_index=True, return_counts=True)
    path = np.repeat(np.arange(uacc.size), length)
    pos = np.arange(ch.size) - np.repeat(start, length)
    end = np.where(won, day_won, (day.max() if day.size else 0))
    return pd.DataFrame({"path": path, "account": acc, "pos": pos, "length": np.repeat(length, length),
                         "channel": ch, "age": end - day, "conv": won.astype(float),
                         "value": acv})


def _per_path(t: pd.DataFrame, col: str) -> np.ndarray:
    first = t["pos"].to_numpy() == 0
    return t[col].to_numpy()[first]


def path_table(t: pd.DataFrame, names) -> pd.DataFrame:
    """Journeys grouped by path string, in the format the ``channelattribution`` package takes: ``path``
    (``"content > email > cold_calling"``), ``total_conversions``, ``total_null``, ``total_conversion_value``."""
    names = np.asarray(list(names), dtype=object)
    lab = pd.Series(names[t["channel"].to_numpy()], index=t.index)
    strings = lab.groupby(t["path"].to_numpy(), sort=True).agg(" > ".join)
    conv = _per_path(t, "conv")
    value = _per_path(t, "value")
    df = pd.DataFrame({"path": strings.to_numpy(), "total_conversions": conv, "total_null": 1.0 - conv,
                       "total_conversion_value": value})
    out = df.groupby("path", sort=True, as_index=False).sum()
    return out.sort_values(["total_conversions", "total_null"], ascending=False, kind="stable").reset_index(drop=True)


def _spread(t: pd.DataFrame, weight: np.ndarray, k: int) -> np.ndarray:
    """Credit of converting journeys spread over their touches in proportion to ``weight``."""
    path = t["path"].to_numpy()
    conv = t["conv"].to_numpy()
    w = np.where(conv > 0, weight, 0.0)
    total = np.bincount(path, weights=w, minlength=int(path.max()) + 1 if path.size else 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total[path] > 0, w / total[path], 0.0)
    return np.bincount(t["channel"].to_numpy(), weights=share * conv, minlength=k)


def first_touch(t: pd.DataFrame, k: int) -> np.ndarray:
    return _spread(t, (t["pos"].to_numpy() == 0).astype(float), k)


def last_touch(t: pd.DataFrame, k: int) -> np.ndarray:
    return _spread(t, (t["pos"].to_numpy() == t["length"].to_numpy() - 1).astype(float), k)


def linear(t: pd.DataFrame, k: int) -> np.ndarray:
    return _spread(t, np.ones(len(t)), k)


def time_decay(t: pd.DataFrame, k: int, half_life: float = HALF_LIFE_DAYS) -> np.ndarray:
    return _spread(t, np.exp2(-t["age"].to_numpy(dtype=float) / half_life), k)


def position_based(t: pd.DataFrame, k: int, ends: float = 0.4) -> np.ndarray:
    pos, n = t["pos"].to_numpy(), t["length"].to_numpy()
    end = (pos == 0) | (pos == n - 1)
    middle = (1.0 - 2 * ends) / np.maximum(n - 2, 1)
    w = np.where(n <= 2, 1.0, np.where(end, ends, middle))
    return _spread(t, w, k)


def _transitions(t: pd.DataFrame, k: int) -> np.ndarray:
    """Transition counts of the first-order chain: states 0..k-1 channels, k start, k+1 conversion,
    k+2 null."""
    ch = t["channel"].to_numpy()
    pos, n = t["pos"].to_numpy(), t["length"].to_numpy()
    conv = t["conv"].to_numpy()
    S, C, N = k, k + 1, k + 2
    counts = np.zeros((k + 3, k + 3))
    first, last = pos == 0, pos == n - 1
    np.add.at(counts, (np.full(int(first.sum()), S), ch[first]), 1.0)
    nxt = ~last
    np.add.at(counts, (ch[:-1][nxt[:-1]], ch[1:][nxt[:-1]]), 1.0)
    np.add.at(counts, (ch[last], np.full(int(last.sum()), C)), conv[last])
    np.add.at(counts, (ch[last], np.full(int(last.sum()), N)), 1.0 - conv[last])
    return counts


def _p_conversion(P: np.ndarray, k: int, removed: int | None = None) -> float:
    """Probability to reach conversion from start in the absorbing chain ``P`` (transient states: the
    channels and start), with channel ``removed`` leading to null."""
    P = P.copy()
    if removed is not None:
        P[removed, :] = 0.0
        P[removed, k + 2] = 1.0
    T = list(range(k + 1))
    Q = P[np.ix_(T, T)]
    r = P[T, k + 1]
    x = np.linalg.lstsq(np.eye(k + 1) - Q, r, rcond=None)[0]
    return float(x[k])


def markov_removal_effects(t: pd.DataFrame, k: int) -> np.ndarray:
    """Removal effect of each channel code (0 for channels never seen): ``1 - P(conv without it) / P(conv)``."""
    counts = _transitions(t, k)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(rows > 0, counts / rows, 0.0)
    for s in range(k):  # a state never visited: absorbing into null (it is never reached anyway)
        if rows[s, 0] == 0:
            P[s, k + 2] = 1.0
    base = _p_conversion(P, k)
    seen = np.bincount(t["channel"].to_numpy(), minlength=k) > 0
    if base <= 0:
        return np.zeros(k)
    return np.array([1.0 - _p_conversion(P, k, j) / base if seen[j] else 0.0 for j in range(k)])


def markov(t: pd.DataFrame, k: int) -> np.ndarray:
    re = markov_removal_effects(t, k)
    total = float(_per_path(t, "conv").sum()) if len(t) else 0.0
    return re / re.sum() * total if re.sum() > 0 else np.zeros(k)


def shapley_paths(t: pd.DataFrame, k: int) -> np.ndarray:
    """Shapley values of the set function v(S) = conversion rate of journeys whose channel set is S."""
    if len(t) == 0:
        return np.zeros(k)
    ch = t["channel"].to_numpy()
    seen = np.flatnonzero(np.bincount(ch, minlength=k) > 0)
    m = seen.size
    if m > 16:
        raise ValueError(f"data-driven Shapley enumerates 2^channels sets; {m} channels are too many")
    compact = np.full(k, -1)
    compact[seen] = np.arange(m)
    bits = np.left_shift(1, compact[ch]).astype(np.int64)
    path = t["path"].to_numpy()
    mask = np.zeros(int(path.max()) + 1, dtype=np.int64)
    np.bitwise_or.at(mask, path, bits)
    conv = _per_path(t, "conv")
    n_set = np.bincount(mask, minlength=1 << m)
    c_set = np.bincount(mask, weights=conv, minlength=1 << m)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(n_set > 0, c_set / n_set, 0.0)
    sets = np.arange(1 << m)
    size = np.array([bin(s).count("1") for s in sets])
    weight = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) if s < m else 0.0
                       for s in range(m + 1)])
    phi = np.zeros(m)
    for i in range(m):
        without = sets[(sets >> i) & 1 == 0]
        phi[i] = float((weight[size[without]] * (v[without | (1 << i)] - v[without])).sum())
    phi = np.maximum(phi, 0.0)
    out = np.zeros(k)
    total = float(conv.sum())
    if phi.sum() > 0:
        out[seen] = phi / phi.sum() * total
    return out


#: name -> function(journey table, number of channel codes) -> conversions credited per channel code
METHODS = {
    "first_touch": first_touch,
    "last_touch": last_touch,
    "linear": linear,
    "time_decay": time_decay,
    "position_based": position_based,
    "markov": markov,
    "shapley_paths": shapley_paths,
}


def credit(t: pd.DataFrame, k: int, methods=None) -> dict[str, np.ndarray]:
    """Conversions credited per channel code by each method."""
    return {name: METHODS[name](t, k) for name in (methods or METHODS)}
