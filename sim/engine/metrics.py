"""Results: the metric registry, and the per-day columns of one run.

covasim's naming: ``new_*`` flows on a day, ``n_*`` stocks at the end of the day (and a few
levels: ``share_of_voice``, ``rep_utilisation``), ``cum_*`` running totals derived at the end
from every ``new_*`` column. Every column is declared, by the component that records it
(``FLOWS``/``STOCKS``) or below for the journey itself, so every run of every strategy has the
same columns and a misspelt name raises instead of creating one.

The registry (``metric(name)``) also holds the per-run summary metrics (``sim.engine.summary``):
one place for a metric's label, unit, better direction and format, read by the summary, sweeps,
statistics and reports.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from sim.engine.channels import CHANNELS
from sim.engine.declare import Metric, flows, stocks
from sim.engine.state import SOURCES, STAGES

COST_CHANNELS = CHANNELS + ("reps",)

#: The journey's own flows and stocks (recorded by ``transitions`` and the day's close).
JOURNEY_FLOWS = flows(
    ("new_leads", "lead records: one per buying episode at an account, whoever raised it", "leads"),
    ("new_meetings", "opening meetings: a conversation with an account opened (or reopened) with a rep's meeting", "meetings"),
    ("new_meetings_buyer_initiated", "opening meetings that answer a lead the buyer raised", "meetings"),
    ("new_contacts_joined", "buyers who joined their account's open conversation as contacts", "buyers"),
    ("new_contacts_joined_buyer_initiated", "buyers who joined their account's open conversation by raising a hand", "buyers"),
    ("new_touches", "marketing and sales touches", "touches"),
) + tuple(
    Metric(f"new_{kind}_{s}", f"{label} from {s.replace('_', ' ')}", unit, fmt="count")
    for kind, label, unit in (("leads", "lead records", "leads"), ("meetings", "opening meetings", "meetings"),
                              ("meetings_booked", "meetings agreed on an outbound call or introduction (booked, "
                               "held when a rep's slot comes)", "meetings"),
                              ("wins", "wins", "accounts"), ("touches", "touches", "touches"))
    for s in SOURCES
) + (Metric("new_cost", "all spend", "$", better="min", fmt="money"),) + tuple(
    Metric(f"new_cost_{c}", f"spend on {c.replace('_', ' ')}", "$", better="min", fmt="money") for c in COST_CHANNELS
)
JOURNEY_STOCKS = tuple(Metric(f"n_{s}", f"buyers {s}", "buyers") for s in STAGES) + stocks(
    ("n_accounts_in_market", "accounts in market", "accounts"),
    ("n_customers", "customer accounts", "accounts"),
    ("n_open_opportunities", "open conversations with our sales", "accounts"),
    ("rep_utilisation", "share of available rep hours used", "share"),
)


@lru_cache(maxsize=1)
def daily_metrics() -> dict[str, Metric]:
    """Every daily column, by name: the journey's, then each component's (in ``components()`` order)."""
    from sim.engine.components import components

    out: dict[str, Metric] = {}
    for group in (JOURNEY_FLOWS, JOURNEY_STOCKS, *(c.FLOWS + c.STOCKS for c in components())):
        for m in group:
            if m.name in out:
                raise ValueError(f"metric {m.name!r} is declared twice")
            out[m.name] = m
    return out


def metric(name: str) -> Metric:
    """The registry entry of a daily column (``new_*``, ``n_*``, ``cum_*``) or a summary metric."""
    from sim.engine.summary import SUMMARY_METRICS

    if name in SUMMARY_METRICS:
        return SUMMARY_METRICS[name]
    daily = daily_metrics()
    if name in daily:
        return daily[name]
    if name.startswith("cum_") and "new_" + name[4:] in daily:
        m = daily["new_" + name[4:]]
        return Metric(name, m.label + " (cumulative)", m.unit, m.better, m.fmt, m.doc)
    raise KeyError(f"unknown metric {name!r}: not a summary metric nor a declared daily column")


class Metrics:
    """The daily columns of a run: preallocated arrays of ``days`` (warm-up and horizon) x ``R``
    replications (the replication axis: ``sim.engine.state.Population.concat``), one per declared
    metric. ``start`` is the first measured day: the days before it are the warm-up.

    ``add``/``set`` take one value for every replication (a scalar: a cost every replication pays alike)
    or one per replication (an array of length R); ``count`` adds how many of some buyers or accounts
    each replication has, which is what a flow of people is."""

    def __init__(self, days: int, start: int = 0, replications: int = 1, pop=None):
        self.days = days
        self.start = start
        self.day = 0
        self.R = int(replications)
        self.pop = pop  # for ``count``: which replication an index belongs to
        self.cols: dict[str, np.ndarray] = {k: np.zeros((days, self.R)) for k in daily_metrics()}

    def _col(self, name: str) -> np.ndarray:
        try:
            return self.cols[name]
        except KeyError:
            raise KeyError(f"unknown metric {name!r}: declare it in the FLOWS or STOCKS of the component that "
                           f"records it (sim.engine.declare)") from None

    def add(self, name: str, value) -> None:
        self._col(name)[self.day] += value

    def set(self, name: str, value) -> None:
        self._col(name)[self.day] = value

    def count(self, name: str, idx: np.ndarray, per: str = "buyer") -> None:
        """Add the number of buyers (or accounts, ``per="account"``) in ``idx`` of each replication."""
        col = self._col(name)
        if len(idx):  # nobody: nothing to add (most calls, on most days)
            col[self.day] += self.counts(idx, per)

    def counts(self, idx: np.ndarray, per: str = "buyer"):
        """What ``count`` adds for ``idx``: the number of its buyers (or accounts) in each replication (one
        number for a single replication); for adding one count to several columns."""
        return len(idx) if self.R == 1 else self.pop.per_rep(idx, per)

    def add_by_source(self, name: str, src: np.ndarray, idx: np.ndarray | None = None, per: str = "buyer") -> None:
        """Count ``name_<source>`` for each source code in ``src`` (one per buyer or account in ``idx``)."""
        S = len(SOURCES)
        src = np.asarray(src, dtype=np.int64)
        if src.size == 0:
            return
        if self.R == 1:
            counts = np.bincount(src, minlength=S)[None, :]
        else:
            rep = (self.pop.arep if per == "account" else self.pop.brep)[idx]
            counts = np.bincount(rep * S + src, minlength=self.R * S).reshape(self.R, S)
        for i in np.flatnonzero(counts.any(axis=0)).tolist():  # the sources that occur
            self._col(f"{name}_{SOURCES[i]}")[self.day] += counts[:, i]

    def get(self, name: str, upto: int | None = None, r: int = 0) -> np.ndarray:
        col = self._col(name)[:, r]
        return col if upto is None else col[:upto]

    def frame(self, stop: int, r: int = 0) -> pd.DataFrame:
        """Replication r's measured days ``start`` to ``stop`` (exclusive), numbered from 0 (the warm-up is
        left out)."""
        lo = min(self.start, stop)
        data = {"day": np.arange(stop - lo)}
        for k in sorted(self.cols):
            data[k] = self.cols[k][lo:stop, r]
        for k in sorted(self.cols):
            if k.startswith("new_"):
                data["cum_" + k[4:]] = np.cumsum(self.cols[k][lo:stop, r])
        return pd.DataFrame(data)

    def total(self, name: str, r: int = 0) -> float:
        """The sum of a flow over the measured days up to today, in replication r."""
        return float(self._col(name)[self.start: self.day + 1, r].sum())
