"""Per-day results (covasim naming: ``new_*`` flows, ``n_*`` stocks, ``cum_*`` running totals)
and the per-run summary metrics.

Columns are preallocated arrays of length horizon; mechanisms ``add`` to flows and ``set``
stocks during the day. ``cum_*`` columns are derived at the end from every ``new_*`` column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.engine.state import CHANNELS, SOURCES, STAGES

COST_CHANNELS = CHANNELS + ("reps",)

# Columns that always exist (zero when nothing happened), so every run has the same frame.
FLOWS = (
    "new_leads", "new_meetings", "new_followups", "new_sales_meetings", "new_opportunities", "new_wins", "new_losses",
    "new_churned", "new_revenue", "new_cost", "new_episodes", "new_no_decisions", "new_fumbles",
    "new_dials", "new_connects", "new_emails", "new_content_visits", "new_campaign_reach",
    "new_campaign_responses", "new_campaign_responses_shared", "new_referrals", "new_rep_ties",
    "new_hand_raises", "new_touches", "new_demand_created", "new_adoptions", "new_network_talks", "new_network_meetings", "new_cold_meetings", "new_leads_expired", "new_leads_reached",
) + tuple(f"new_cost_{c}" for c in COST_CHANNELS) + tuple(
    f"new_{kind}_{s}" for kind in ("leads", "meetings", "wins", "touches") for s in SOURCES
)
STOCKS = tuple(f"n_{s}" for s in STAGES) + (
    "n_accounts_in_market", "n_customers", "n_open_opportunities", "n_leads_waiting", "n_rep_ties",
    "n_content_stock", "share_of_voice", "rep_utilisation",
)


class Metrics:
    def __init__(self, horizon: int):
        self.horizon = horizon
        self.day = 0
        self.cols: dict[str, np.ndarray] = {k: np.zeros(horizon) for k in FLOWS + STOCKS}

    def _col(self, name: str) -> np.ndarray:
        col = self.cols.get(name)
        if col is None:
            col = self.cols[name] = np.zeros(self.horizon)
        return col

    def add(self, name: str, value: float) -> None:
        self._col(name)[self.day] += value

    def set(self, name: str, value: float) -> None:
        self._col(name)[self.day] = value

    def add_by_source(self, name: str, src: np.ndarray) -> None:
        counts = np.bincount(np.asarray(src, dtype=np.int64), minlength=len(SOURCES))
        for i, s in enumerate(SOURCES):
            if counts[i]:
                self.add(f"{name}_{s}", counts[i])

    def get(self, name: str, upto: int | None = None) -> np.ndarray:
        col = self._col(name)
        return col if upto is None else col[:upto]

    def frame(self, days: int) -> pd.DataFrame:
        data = {"day": np.arange(days)}
        for k in sorted(self.cols):
            data[k] = self.cols[k][:days]
        for k in sorted(self.cols):
            if k.startswith("new_"):
                data["cum_" + k[4:]] = np.cumsum(self.cols[k][:days])
        return pd.DataFrame(data)
