"""The touch log: every marketing and sales touch of a run, for attribution (``sim.attribution``).

Off by default. A model built with ``touch_log=True`` holds a :class:`TouchLog`; otherwise
``model.touch_log`` is None and the two places that touch buyers (``transitions.touch`` and the sales
team's meetings) skip it after one ``is None`` test, so an ordinary run costs nothing and no number
moves. When on, each call appends a few arrays (no per-buyer Python loop); :meth:`TouchLog.arrays`
joins them once at the end, with what followed (was the account won, and when).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.engine.state import ROLES, SEGMENTS, SOURCES, STAGES

#: the channel labels of the log: the touch sources, then the reps' meetings
TOUCH_CHANNELS = (*SOURCES, "sales_meeting")
MEETING = len(SOURCES)

#: columns of :meth:`TouchLog.arrays` (all numeric, so a run's log travels and stores exactly)
ARRAY_COLUMNS = ("day", "buyer", "account", "role", "segment", "stage", "channel", "organic", "rep", "cost",
                 "account_won", "day_won", "acv")


class TouchLog:
    """Touches as appended arrays: day, buyers, channel code, organic (passed on by the market: word of
    mouth, referrals), the buyers' stage at the touch and the rep (meetings; -1 otherwise)."""

    def __init__(self):
        self._parts: list[tuple[int, np.ndarray, int, bool, np.ndarray, np.ndarray | None]] = []

    def add(self, model, idx: np.ndarray, channel: int, organic: bool = False, rep: np.ndarray | None = None) -> None:
        idx = np.asarray(idx)
        if idx.size:
            self._parts.append((model.day, idx.astype(np.int32), int(channel), bool(organic),
                                model.pop.stage[idx].copy(), None if rep is None else np.asarray(rep, np.int32)))

    def __len__(self) -> int:
        return sum(p[1].size for p in self._parts)

    def arrays(self, model) -> dict[str, np.ndarray]:
        """The log as numeric columns (:data:`ARRAY_COLUMNS`), in the order the touches happened. ``cost``
        spreads each channel's spend of a day over its own (not organic) touches that day. ``day`` and ``day_won``
        are days of the measured horizon, as in the timeseries (negative in a warm-up: the log keeps the
        touches of the warm-up, where the paths of the horizon's wins begin); ``account_won``,
        ``day_won`` (NaN if not won in the run) and ``acv`` (the won account's contract value, else 0) say
        what followed."""
        pop = model.pop
        parts = self._parts
        sizes = np.array([p[1].size for p in parts], dtype=np.int64)
        if not parts:
            empty = {c: np.zeros(0, dtype=np.int32) for c in ARRAY_COLUMNS}
            empty.update(cost=np.zeros(0), day_won=np.zeros(0), acv=np.zeros(0))
            return empty
        day = np.repeat(np.array([p[0] for p in parts], dtype=np.int32), sizes)
        buyer = np.concatenate([p[1] for p in parts])
        channel = np.repeat(np.array([p[2] for p in parts], dtype=np.int8), sizes)
        organic = np.repeat(np.array([p[3] for p in parts], dtype=bool), sizes)
        stage = np.concatenate([p[4] for p in parts]).astype(np.int8)
        rep = np.concatenate([p[5] if p[5] is not None else np.full(p[1].size, -1, np.int32) for p in parts])
        account = pop.account[buyer]
        # cost: the channel's spend that day over its paid touches that day (days of the run, warm-up included)
        cols = model.metrics.cols
        cost = np.zeros(buyer.size)
        paid = ~organic & (channel < MEETING)
        for code, name in enumerate(SOURCES):
            col = f"new_cost_{name}"
            sel = paid & (channel == code)
            if col not in cols or not sel.any():
                continue
            per_day = np.bincount(day[sel], minlength=model.day)
            spend = cols[col][: model.day, 0]  # the touch log is kept for one replication
            with np.errstate(invalid="ignore", divide="ignore"):
                cost[sel] = spend[day[sel]] / per_day[day[sel]]
        won = pop.won_in_run[account]
        return {
            "day": day - model.warmup, "buyer": buyer, "account": account.astype(np.int32), "role": pop.role[buyer].astype(np.int8),
            "segment": pop.segment[account].astype(np.int8), "stage": stage, "channel": channel, "organic": organic,
            "rep": rep, "cost": cost, "account_won": won, "day_won": np.where(won, pop.day_won[account].astype(float) - model.warmup, np.nan),
            "acv": np.where(won, pop.acv[account], 0.0),
        }


def log_frame(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """The numeric log (:meth:`TouchLog.arrays`) with names for the codes (role, segment, stage, channel)."""
    df = pd.DataFrame({c: arrays[c] for c in ARRAY_COLUMNS})
    for col, names in (("role", ROLES), ("segment", SEGMENTS), ("stage", STAGES), ("channel", TOUCH_CHANNELS)):
        df[col] = pd.Categorical.from_codes(df[col].astype(int), categories=list(names))
    return df
