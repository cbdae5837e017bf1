"""The figures of a cleaned export, named as the engine names its summary metrics where it has them, each with
a standard deviation from a bootstrap over accounts.

Which deals count (the window is ``since`` to ``until``, both days included):

* closed-deal figures use the deals closed (won, lost or no decision) in the window: ``opportunity_win_rate`` =
  won / closed, by segment (``opportunity_win_rate_<segment>``) and by lead source
  (``opportunity_win_rate_source_<source>``); ``no_decision_share`` = no decision / closed (only where some deal
  is identified as no decision); ``median_cycle_days_<segment>``: won deals, days from created to close;
  ``acv_<segment>``: the mean amount of won new-business deals (all won deals if the export has no type);
  ``won_share_source_<source>``: the won deals' mix by source;
* creation figures use the opportunities created in the window, open ones included: ``opportunities_per_month``,
  ``expansion_share`` (expansion / deals with a known type), ``opportunity_share_source_<source>``;
* with a leads file: ``leads_per_month`` (leads created in the window) and ``lead_to_opportunity_rate``
  (opportunities created / leads created in the window: both per record, as the engine counts them).

The bootstrap: the accounts with a deal in the window are resampled with replacement (as many as there are), every
figure recomputed on each resample from per-account sums (a weighted median for the cycles), ``resamples`` times
with a fixed seed; ``sd`` is the standard deviation of the resampled values, ``lo`` and ``hi`` their 2.5% and
97.5% quantiles. A volume (per month) would not vary when a fixed number of accounts is drawn, so volumes use the
Poisson bootstrap (each account drawn a Poisson(1) number of times; Hanley & MacGibbon 2006), and the leads,
which have no account, a Poisson count. Vectorised: one matrix of account weights per block of resamples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.config.parameters import SEGMENTS
from sim.config.scenario import ScenarioError
from sim.crm.read import Issue, Leads, Opportunities

__all__ = ["MONTH_DAYS", "Window", "COLUMNS", "compute_figures", "make_window", "slug"]

#: days in a month, as the engine counts them (sim/engine/summary.py: leads_per_month)
MONTH_DAYS = 30.4375
#: the figures table's columns
COLUMNS = ["metric", "segment", "value", "sd", "n", "source", "lo", "hi", "accounts", "unit", "basis", "detail"]
#: array elements (resamples x accounts) per block of the bootstrap
BLOCK = 2_000_000


def slug(label: str) -> str:
    """A lead source as part of a metric name: "Partner Referral" -> "partner_referral"."""
    return re.sub(r"[^0-9a-z]+", "_", str(label).lower()).strip("_") or "other"


@dataclass(frozen=True)
class Window:
    """The days whose deals count: ``since`` to ``until``, both included."""

    since: pd.Timestamp
    until: pd.Timestamp
    given: tuple[bool, bool] = (False, False)

    @property
    def days(self) -> int:
        return int((self.until - self.since).days) + 1

    @property
    def months(self) -> float:
        return self.days / MONTH_DAYS

    def describe(self) -> str:
        return f"{self.since.date()} to {self.until.date()}"

    def contains(self, d: pd.Series) -> np.ndarray:
        return ((d >= self.since) & (d <= self.until)).fillna(False).to_numpy(bool)


def _day(where: str, key: str, value) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError):
        t = pd.NaT
    if pd.isna(t):
        raise ScenarioError(where, key, f"must be a date YYYY-MM-DD, got {value!r}")
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.normalize()


def make_window(where: str, opps: Opportunities, since=None, until=None) -> Window:
    """The window: ``since`` and ``until`` (dates), by default the first created date and the last date in the
    export. Fatal: ``since`` after ``until``; no closed deal at all; no closed deal closing in the window."""
    s, u = _day(where, "--since", since), _day(where, "--until", until)
    if s is not None and u is not None and s > u:
        raise ScenarioError(where, "--since", f"{s.date()} is after --until {u.date()}")
    f = opps.frame
    closed = f[f["outcome"] != "open"]
    if closed.empty:
        seen = ", ".join(f"{r.stage} ({r.count})" for r in opps.stage_table.head(8).itertuples())
        raise ScenarioError(where, "outcome", f"no closed deal (won, lost or no decision) among the {len(f)} rows kept"
                                              f"{'; stages seen: ' + seen if seen else ''}; name the closed stages in "
                                              f"a column map: [stages] won = [...], lost = [...] (--columns MAP.toml)")
    first = f["created"].min()
    last = max(closed["closed"].max(), f["created"].max())
    win = Window(s if s is not None else first, u if u is not None else last, (s is not None, u is not None))
    if win.since > win.until:
        raise ScenarioError(where, "--since" if s is not None else "--until",
                            f"the window {win.describe()} is empty (the export runs from {first.date()} to "
                            f"{last.date()})")
    if not win.contains(closed["closed"]).any():
        raise ScenarioError(where, "--since/--until", f"no closed deal closes in the window {win.describe()} (the "
                                                      f"export's closed deals close from {closed['closed'].min().date()}"
                                                      f" to {closed['closed'].max().date()})")
    return win


# ----------------------------------------------------------------------------------------------- the figures


@dataclass
class _Ratio:
    metric: str
    segment: str | None
    num: np.ndarray          # per row (0 outside the figure)
    den: np.ndarray          # per row: 1 (or 0) for the rows the figure counts
    unit: str
    basis: str               # "closed" / "created"
    detail: str


@dataclass
class _Median:
    metric: str
    segment: str | None
    values: np.ndarray
    mask: np.ndarray
    unit: str
    detail: str


@dataclass
class Result:
    figures: pd.DataFrame
    replicates: dict[str, np.ndarray]
    issues: list[Issue] = field(default_factory=list)
    accounts: int = 0
    warnings: list[str] = field(default_factory=list)


#: the order of the figures in the table: the engine's metrics first, then the report's own
_FAMILIES = (("opportunity_win_rate_source_", 8), ("opportunity_share_source_", 9), ("won_share_source_", 10),
             ("opportunity_win_rate", 0), ("no_decision_share", 1), ("median_cycle_days", 2), ("acv", 3),
             ("leads_per_month", 4), ("lead_to_opportunity_rate", 5), ("opportunities_per_month", 6),
             ("expansion_share", 7))


def _family(metric: str) -> int:
    return next((k for prefix, k in _FAMILIES if metric.startswith(prefix)), 11)


def _summary(reps: np.ndarray) -> tuple[float, float, float]:
    ok = reps[np.isfinite(reps)]
    if ok.size < max(2, reps.size // 2):
        return float("nan"), float("nan"), float("nan")
    return float(np.std(ok, ddof=1)), float(np.quantile(ok, 0.025)), float(np.quantile(ok, 0.975))


def _median_replicates(w: np.ndarray, acc_sorted: np.ndarray, v_sorted: np.ndarray) -> np.ndarray:
    """The median of each resample: every deal weighted by how often its account was drawn."""
    cw = np.cumsum(w[:, acc_sorted], axis=1)
    total = cw[:, -1]
    lo = (cw >= ((total + 1) // 2)[:, None]).argmax(axis=1)
    hi = (cw >= (total // 2 + 1)[:, None]).argmax(axis=1)
    out = (v_sorted[lo] + v_sorted[hi]) / 2.0
    out[total == 0] = np.nan
    return out


def compute_figures(opps: Opportunities, window: Window, leads: Leads | None = None, resamples: int = 1000,
                    seed: int = 1, label: str = "CRM export") -> Result:
    """Every figure of the export in the window (the module docstring says which deals each counts), with its
    bootstrap sd and 95% interval, as a tidy table (``COLUMNS``)."""
    f = opps.frame
    closed_in = (f["outcome"] != "open").to_numpy() & window.contains(f["closed"])
    created_in = window.contains(f["created"])
    issues = []
    for reason, text, mask, effect in (
            ("closed_outside_window", "closed outside the window", (f["outcome"] != "open").to_numpy() & ~closed_in,
             "left out of the closed-deal figures"),
            ("created_outside_window", "created outside the window", ~created_in,
             "left out of the creation figures (opportunities per month, expansion share, mix by source)")):
        if mask.any():
            issues.append(Issue(reason, text, int(mask.sum()), effect, [int(r) for r in f["row"][mask][:5]]))
    use = closed_in | created_in
    f = f[use].reset_index(drop=True)
    closed_in, created_in = closed_in[use], created_in[use]
    codes, uniques = pd.factorize(f["account_id"])
    n_acc = len(uniques)
    outcome = f["outcome"].to_numpy(object)
    won = closed_in & (outcome == "won")
    nd = closed_in & (outcome == "no_decision")
    seg = f["segment"].to_numpy(object)
    src = f["lead_source"].to_numpy(object)
    src_slug = np.array([slug(s) if isinstance(s, str) else None for s in src], dtype=object)
    typ = f["type"].to_numpy(object)
    amount = f["amount"].to_numpy(float)
    cycle = ((f["closed"] - f["created"]).dt.days).to_numpy(float)
    has_type = "type" in opps.mapping
    one = np.ones(len(f))
    z = lambda m: m.astype(float)  # noqa: E731

    ratios: list[_Ratio] = []
    medians: list[_Median] = []
    segments = {g: g for g in SEGMENTS if (seg == g).any()}
    sources = {}
    for s, lab in zip(src_slug, src):
        if s is not None and s not in sources:
            sources[s] = lab

    def parts(within: np.ndarray, column: np.ndarray, labels: dict, every: bool = False):
        """(key, label, the rows of ``within`` whose ``column`` is the key) for each key of ``labels`` (segments,
        or source slugs and their labels) that has such a row; with ``every``, for each key."""
        for key, lab in labels.items():
            d = within & (column == key)
            if every or d.any():
                yield key, lab, d

    n_closed = int(closed_in.sum())
    ratios.append(_Ratio("opportunity_win_rate", None, z(won), z(closed_in), "share", "closed",
                         f"{int(won.sum())} won of {n_closed} closed (won, lost or no decision)"))
    for g, _, d in parts(closed_in, seg, segments, every=True):
        ratios.append(_Ratio(f"opportunity_win_rate_{g}", g, z(won & d), z(d), "share", "closed",
                             f"{int((won & d).sum())} won of {int(d.sum())} closed {g} deals"))
    if opps.no_decision_identified:
        ratios.append(_Ratio("no_decision_share", None, z(nd), z(closed_in), "share", "closed",
                             f"{int(nd.sum())} no decision of {n_closed} closed"))
    for s, lab, d in parts(closed_in, src_slug, sources):
        ratios.append(_Ratio(f"opportunity_win_rate_source_{s}", None, z(won & d), z(d), "share", "closed",
                             f"{int((won & d).sum())} won of {int(d.sum())} closed deals from {lab!r}"))
    new_won = won & ((typ == "new") if has_type else np.ones(len(f), bool)) & np.isfinite(amount)
    amount0 = np.where(np.isfinite(amount), amount, 0.0)
    what = "won new-business deals" if has_type else "won deals (no type column: all counted as new business)"
    for g, _, d in parts(new_won, seg, segments):
        ratios.append(_Ratio(f"acv_{g}", g, amount0 * d, z(d), "$", "closed",
                             f"mean amount of {int(d.sum())} {what}, {g}"))
    if new_won.any():
        ratios.append(_Ratio("acv", None, amount0 * new_won, z(new_won), "$", "closed",
                             f"mean amount of {int(new_won.sum())} {what}"))
    medians.append(_Median("median_cycle_days", None, cycle, won, "days",
                           f"median of {int(won.sum())} won deals: days from created to close"))
    for g, _, d in parts(won, seg, segments):
        medians.append(_Median(f"median_cycle_days_{g}", g, cycle, d, "days",
                               f"median of {int(d.sum())} won {g} deals: days from created to close"))
    won_src = won & (src_slug != None)  # noqa: E711
    for s, lab, d in parts(won_src, src_slug, sources):
        ratios.append(_Ratio(f"won_share_source_{s}", None, z(d), z(won_src), "share", "closed",
                             f"{int(d.sum())} of {int(won_src.sum())} won deals with a source came from {lab!r}"))
    n_created = int(created_in.sum())
    if has_type:
        typed = created_in & pd.notna(typ)
        exp = typed & (typ == "expansion")
        if typed.any():
            ratios.append(_Ratio("expansion_share", None, z(exp), z(typed), "share", "created",
                                 f"{int(exp.sum())} expansion of {int(typed.sum())} opportunities created with a "
                                 f"known type"))
    src_known = created_in & (src_slug != None)  # noqa: E711
    for s, lab, d in parts(src_known, src_slug, sources):
        ratios.append(_Ratio(f"opportunity_share_source_{s}", None, z(d), z(src_known), "share", "created",
                             f"{int(d.sum())} of {int(src_known.sum())} opportunities created with a source came "
                             f"from {lab!r}"))
    # volumes
    n_leads = None
    if leads is not None:
        in_w = window.contains(leads.created)
        n_leads = int(in_w.sum())
        if n_leads < len(leads.created):
            issues.append(Issue("leads_outside_window", "lead created outside the window",
                                int(len(leads.created) - n_leads), "left out of the lead figures", [], True, "leads"))

    # ------------------------------------------------------------------------------- the bootstrap
    k = len(ratios)
    num = np.zeros((n_acc, k))
    den = np.zeros((n_acc, k))
    for j, r in enumerate(ratios):
        num[:, j] = np.bincount(codes, weights=r.num, minlength=n_acc)
        den[:, j] = np.bincount(codes, weights=r.den, minlength=n_acc)
    created_acc = np.bincount(codes, weights=z(created_in), minlength=n_acc)
    med_prep = []
    for m in medians:
        idx = np.flatnonzero(m.mask)
        order = idx[np.argsort(m.values[idx], kind="stable")]
        med_prep.append((codes[order], m.values[order]))
    B = int(resamples)
    reps_ratio = np.full((B, k), np.nan)
    reps_med = np.full((B, len(medians)), np.nan)
    reps_opm = np.full(B, np.nan)
    reps_leads = np.full(B, np.nan)
    widest = max([n_acc] + [len(a) for a, _ in med_prep] + [1])
    block = max(1, min(B, BLOCK // widest))
    rng_w = np.random.default_rng([seed, 0])  # accounts drawn with replacement
    rng_p = np.random.default_rng([seed, 1])  # Poisson(1) weights of accounts (volumes)
    rng_l = np.random.default_rng([seed, 2])  # Poisson count of leads
    for start in range(0, B, block):
        b = min(block, B - start)
        draws = rng_w.integers(0, n_acc, size=(b, n_acc))
        w = np.bincount((draws + (np.arange(b) * n_acc)[:, None]).ravel(), minlength=b * n_acc).reshape(b, n_acc)
        with np.errstate(invalid="ignore", divide="ignore"):
            dsum = w @ den
            reps_ratio[start:start + b] = np.where(dsum > 0, (w @ num) / np.where(dsum > 0, dsum, 1), np.nan)
        for j, (acc_sorted, v_sorted) in enumerate(med_prep):
            if len(v_sorted):
                reps_med[start:start + b, j] = _median_replicates(w, acc_sorted, v_sorted)
        wp = rng_p.poisson(1.0, size=(b, n_acc))
        reps_opm[start:start + b] = (wp @ created_acc) / window.months
        if n_leads is not None:
            reps_leads[start:start + b] = rng_l.poisson(n_leads, size=b)
    # ------------------------------------------------------------------------------- the table
    base = f"{label}, {{basis}} {window.describe()}"
    rows, replicates = [], {}

    def add(metric, segment, value, reps, n, accounts, unit, basis, detail, source=None):
        """One figure's row (``source``: the default names the export, the window and the accounts resampled)."""
        sd, lo, hi = _summary(reps)
        if source is None:
            said = {"closed": "deals closed", "created": "created"}.get(basis, basis)
            source = (f"{base.format(basis=said)}: {detail}; sd from a bootstrap over {accounts:,} "
                      f"account{'s' if accounts != 1 else ''} ({B:,} resamples)")
        rows.append({"metric": metric, "segment": segment, "value": value, "sd": sd, "n": int(n), "source": source,
                     "lo": lo, "hi": hi, "accounts": int(accounts), "unit": unit, "basis": basis, "detail": detail})
        replicates[metric] = reps

    for j, r in enumerate(ratios):
        d = r.den > 0
        value = float(r.num.sum() / r.den.sum()) if r.den.sum() > 0 else float("nan")
        add(r.metric, r.segment, value, reps_ratio[:, j], int(d.sum()), len(np.unique(codes[d])), r.unit, r.basis,
            r.detail)
    for j, m in enumerate(medians):
        vals = m.values[m.mask]
        value = float(np.median(vals)) if vals.size else float("nan")
        add(m.metric, m.segment, value, reps_med[:, j], int(m.mask.sum()), len(np.unique(codes[m.mask])), m.unit,
            "closed", m.detail)
    n_acc_created = len(np.unique(codes[created_in]))
    add("opportunities_per_month", None, n_created / window.months, reps_opm, n_created, n_acc_created,
        "per month", "created", f"{n_created} opportunities created in {window.days} days (Poisson bootstrap)")
    if n_leads is not None:
        lname = leads.path.name
        add("leads_per_month", None, n_leads / window.months, reps_leads / window.months, n_leads, 0, "per month",
            "created", f"{n_leads} leads created in {window.days} days",
            source=f"leads file {lname}, created {window.describe()}: {n_leads} leads in {window.days} days; sd from a "
                   f"Poisson bootstrap ({B:,} resamples)")
        with np.errstate(invalid="ignore", divide="ignore"):
            l2o = np.where(reps_leads > 0, reps_opm * window.months / reps_leads, np.nan)
        add("lead_to_opportunity_rate", None, n_created / n_leads if n_leads else float("nan"), l2o, n_leads,
            n_acc_created, "share", "created", f"{n_created} opportunities created / {n_leads} leads created",
            source=f"{base.format(basis='created')} and leads file {lname}: {n_created} opportunities created / "
                   f"{n_leads} leads created in the window; sd from a Poisson bootstrap over {n_acc_created:,} "
                   f"accounts and the leads ({B:,} resamples)")
    table = pd.DataFrame(rows, columns=COLUMNS)
    table = table.iloc[np.argsort([_family(m) for m in table["metric"]], kind="stable")].reset_index(drop=True)
    warnings = []
    cyc = table[table["metric"].str.startswith("median_cycle_days_") & table["value"].notna()]
    if len(cyc):
        longest = cyc.loc[cyc["value"].idxmax()]
        if window.days < longest["value"]:
            warnings.append(f"The window ({window.days} days) is shorter than the median cycle of the slowest "
                            f"segment ({longest['segment']}: {longest['value']:.0f} days): deals that take longer than "
                            f"the window are missing from it, so its cycles are too short and its win rates favour "
                            f"quick deals. Use a window of at least {longest['value']:.0f} days, better a year.")
    return Result(table, replicates, issues, n_acc, warnings)
