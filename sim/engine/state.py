"""Accounts and buyers as preallocated numpy arrays (columns, never Python objects).

Built once per run from the ``population.*`` random streams only, so every strategy run on
the same seed faces the same market (common random numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np

from sim.engine.arrays import count_by_segment, segment_slices
from sim.engine.channels import CHANNELS
from sim.engine.declare import P

SEGMENTS = ("smb", "mid", "enterprise")


def _segment(share, deal, group_min, group_max, speed, shift, churn, competitors):
    return {
        "share": P(share, "float", 0, 1, "share of accounts", "assumption: typical mid-market SaaS TAM mix"),
        "deal_size": P(deal, "float", 0, None, "$ annual contract value (median)", "assumption: SaaS ACV bands"),
        "deal_size_sigma": P(0.5, "float", 0, 3, "lognormal sigma of deal size", "assumption"),
        "group_min": P(group_min, "int", 1, 50, "people in the buying group (min; sizes are uniform from min to max)", "assumption: CEB's average buying group of 5.4 (2014) to 6.8 (2016) people, Gartner's 6-10 for complex purchases; ranges overlap across segments so that size can be compared within one"),
        "group_max": P(group_max, "int", 1, 50, "people in the buying group (max)", "assumption: as group_min"),
        "research_speed": P(speed, "float", 0, 1, "share of decision made per research day (mean)", "assumption calibrated to typical cycle lengths: SMB ~1-2 months, enterprise 6+ months"),
        "threshold_shift": P(shift, "float", -0.5, 0.5, "added to readiness threshold", "seed 003 / CEB 2012: buyers of low-price products go further alone"),
        "annual_churn": P(churn, "float", 0, 1, "share of customers lost per year at neutral trust", "assumption: SaaS churn benchmarks by segment"),
        "n_competitors": P(competitors, "int", 0, 50, "competing vendors on a typical shortlist", "assumption"),
    }


SECTION = "market"
#: the market: accounts, segments, buyers' thresholds and receptivity (the same for every strategy)
PARAMS = {
    "n_accounts": P(2000, "int", 1, 10_000_000, "companies in the addressable market", "assumption: mid-size B2B market"),
    "initial_customers": P(0.03, "float", 0, 1, "share of accounts already customers at day 0 (installed base)", "assumption: an established vendor"),
    "n_communities": P(20, "int", 1, 100_000, "industry communities", "assumption"),
    "gross_margin": P(0.75, "float", 0, 1, "share of revenue", "SaaS benchmarks (~75% gross margin)"),
    "readiness_mean": P(0.30, "float", 0.01, 0.99, "mean personal readiness threshold: share of the decision made before a buyer is willing to talk to sales",
                        "assumption. Until session 7 it was tuned so that the per-person median progress at the first sales conversation matched CEB / Google 2012 (57%), which made that check an input reproduced; since session 8 validation compares CEB's figure with the per-purchase median, to which it was not tuned, and this value is not fitted"),
    "readiness_sd": P(0.15, "float", 0, 0.5, "spread of the personal readiness threshold", "seed 003: 57% is an average; some go 70%+"),
    "fit_mean": P(0.5, "float", 0.01, 0.99, "mean account fit: how well an account matches the product (0 none, 1 perfect; an account attribute, the same for every strategy)",
                  "assumption: fit is latent and scale-free (an ideal-customer-profile score); only its effects, each with its own parameter, are checked"),
    "fit_concentration": P(4.0, "float", 0.1, 1000, "concentration a + b of the Beta distribution of account fit (4: Beta(2, 2) at mean 0.5; larger: accounts more alike)", "assumption"),
    "receptivity_sigma": P(0.5, "float", 0, 3, "lognormal sigma of channel receptivity per buyer", "assumption"),
    "segments": {
        "smb": _segment(0.55, 6_000, 1, 6, 0.012, 0.08, 0.25, 6),
        "mid": _segment(0.33, 25_000, 2, 9, 0.006, 0.0, 0.12, 5),
        "enterprise": _segment(0.12, 80_000, 4, 14, 0.0035, -0.05, 0.07, 4),
    },
}

# Journey stages (int8), docs/explanation/odd.md, section 2.
DORMANT, EXPLORING, ENGAGED, CUSTOMER, LOST = 0, 1, 2, 3, 4
STAGES = ("dormant", "exploring", "engaged", "customer", "lost")

# Roles in the buying group. The first member of every account is its champion, the second
# its economic buyer; the rest are influencers or users. Decision weight: the economic buyer
# counts double in the group's view of a vendor (assumption; Gartner buying-group research).
CHAMPION, ECONOMIC, INFLUENCER, USER = 0, 1, 2, 3
ROLES = ("champion", "economic_buyer", "influencer", "user")
ROLE_WEIGHT = np.array([1.0, 2.0, 1.0, 0.7], dtype=np.float32)

# Lead / deal sources (int8); -1 = none.
SEGMENT_NAMES = SEGMENTS
SOURCES = ("content", "email", "cold_calling", "networking", "referral", "campaigns", "social", "paid_search")  # append only: codes are stored
SRC = {name: i for i, name in enumerate(SOURCES)}
CH = {name: i for i, name in enumerate(CHANNELS)}  # receptivity columns


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + l) for s, l in zip(starts, lengths)])`` without a Python loop:
    the members of accounts (contiguous buyers), the entries of CSR rows."""
    lengths = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = np.asarray(starts, dtype=np.int64) - ends  # start - (entries before the range), in place
    shift += lengths
    out = np.repeat(shift, lengths)
    out += np.arange(int(ends[-1]) if ends.size else 0)
    return out


class Population:
    """Market structure (fixed for the run) plus the mutable state of every buyer and account."""

    def __init__(self, cfg, streams, components: Sequence[ModuleType]):
        """The market of ``cfg`` drawn from ``streams``; ``components``: the model's components
        (:func:`sim.engine.components.components`), each of whose ``STATE`` declarations becomes a column.
        Passed in, not imported: the components import this module."""
        m = cfg.market
        A = int(m.n_accounts)
        gen = streams.generator("population.accounts")
        seg_cfg = [getattr(m.segments, s) for s in SEGMENTS]
        shares = np.array([s.share for s in seg_cfg])
        self.segment = np.searchsorted(np.cumsum(shares) / shares.sum(), gen.random(A), side="right").astype(np.int8)
        self.segment = np.minimum(self.segment, len(SEGMENTS) - 1)
        gmin = np.array([s.group_min for s in seg_cfg])[self.segment]
        gmax = np.array([s.group_max for s in seg_cfg])[self.segment]
        self.group_size = (gmin + np.floor(gen.random(A) * (gmax - gmin + 1))).astype(np.int32)
        median = np.array([s.deal_size for s in seg_cfg])[self.segment]
        sigma = np.array([s.deal_size_sigma for s in seg_cfg])[self.segment]
        self.deal_size = median * np.exp(sigma * gen.standard_normal(A))
        self.community = gen.integers(0, m.n_communities, A).astype(np.int32)
        # account fit from a stream of its own: adding it moved no other draw of the market
        k = m.fit_concentration
        self.fit = streams.generator("population.fit").beta(m.fit_mean * k, (1 - m.fit_mean) * k, A).astype(np.float32)
        self.group_start = np.concatenate([[0], np.cumsum(self.group_size)[:-1]]).astype(np.int64)
        self.one_person_accounts = bool(A == 0 or self.group_size.max() == 1)
        self.n_accounts = A

        # ---- buyers
        n = int(self.group_size.sum())
        self.n = n
        self.account = np.repeat(np.arange(A, dtype=np.int32), self.group_size)
        self.bseg = self.segment[self.account]
        rank = np.arange(n) - self.group_start[self.account]  # position inside the account
        bgen = streams.generator("population.buyers")
        other_role = np.where(bgen.random(n) < 0.5, INFLUENCER, USER)
        self.role = np.where(rank == 0, CHAMPION, np.where(rank == 1, ECONOMIC, other_role)).astype(np.int8)
        self.weight = ROLE_WEIGHT[self.role]
        shift = np.array([s.threshold_shift for s in seg_cfg], dtype=np.float32)[self.bseg]
        thr = m.readiness_mean + shift + m.readiness_sd * bgen.standard_normal(n)
        self.threshold = np.clip(thr, 0.05, 0.98).astype(np.float32)
        speed = np.array([s.research_speed for s in seg_cfg])[self.bseg]
        self.speed = (speed * np.exp(0.3 * bgen.standard_normal(n) - 0.045)).astype(np.float32)
        self.phase = bgen.integers(0, 10_000, n).astype(np.int32)  # spreads cadences over days
        # Each channel's receptivity comes from its own stream ("<channel>.receptivity"): adding or
        # removing a channel leaves every other draw of the market unchanged.
        sig = m.receptivity_sigma
        self.receptivity = np.empty((n, len(CHANNELS)), dtype=np.float32)
        for j, ch in enumerate(CHANNELS):
            z = streams.generator(f"{ch}.receptivity").standard_normal(n)
            self.receptivity[:, j] = np.exp(sig * z - sig * sig / 2)  # mean 1 per channel

        # ---- buyer state
        f4 = lambda v=np.nan: np.full(n, v, dtype=np.float32)
        self.stage = np.zeros(n, dtype=np.int8)  # change it only with set_stage
        self.stage_count = np.zeros(len(STAGES), dtype=np.int64)  # buyers per stage, kept by set_stage
        self.stage_count[DORMANT] = n
        self.progress = f4(0.0)
        self.trust = f4(0.0)
        self.resentment = f4(0.0)  # ill will from unwanted calls, beyond lost trust (journey.annoy)
        self.aware = np.zeros(n, dtype=bool)
        self.known = np.zeros(n, dtype=bool)  # a contact in our database (email nurture)
        self.lead_pending = np.zeros(n, dtype=bool)
        self.lead_day = f4()
        self.lead_source = np.full(n, -1, dtype=np.int8)
        self.lead_outbound = np.zeros(n, dtype=bool)  # the pending lead is an outbound yes waiting for a meeting slot
        self.last_touch = np.full(n, -1, dtype=np.int8)  # channel that touched the buyer last
        self.touches = np.zeros(n, dtype=np.int32)
        self.day_aware = f4()
        self.day_exploring = f4()
        self.day_first_contact = f4()  # first sales conversation (a meeting)
        self.progress_at_first_contact = f4()
        self.engaged = np.zeros(n, dtype=bool)  # talked to sales in the current episode

        # ---- account state
        fa = lambda v=np.nan: np.full(A, v, dtype=np.float64)
        self.in_market = np.zeros(A, dtype=bool)
        self.day_in_market = fa()
        self.customer = np.zeros(A, dtype=bool)
        self.acv = np.zeros(A, dtype=np.float64)
        # annual revenue of the accounts won in this run that are still customers, one per replication
        # (kept up to date where ACV changes: decision.win_accounts, after_sale churn and expansion);
        # set by _one_replication
        self.day_won = fa()
        self.cooldown_until = fa(-np.inf)
        self.opp = np.zeros(A, dtype=bool)  # open conversation with our sales
        self.qualified = np.zeros(A, dtype=bool)  # a conversation became an opportunity in this episode
        # the buying episode as a CRM records it: one lead record per episode (whoever raised it), and the
        # episode's opening contact with our sales (the person, how far through their decision, who asked)
        self.lead_record = np.zeros(A, dtype=bool)
        self.contact_progress = fa()  # the opening contact's own progress at the episode's first conversation
        self.contact_inbound = np.zeros(A, dtype=bool)  # that conversation answered a lead the buyer raised
        self.opp_source = np.full(A, -1, dtype=np.int8)
        self.opp_day = fa()  # the day the episode's (latest) conversation with us opened
        self.last_meeting = fa()
        self.n_meetings = np.zeros(A, dtype=np.int32)
        self.owner = np.full(A, -1, dtype=np.int32)  # rep index
        self.won_source = np.full(A, -1, dtype=np.int8)
        self.won_referred = np.zeros(A, dtype=bool)
        self.won_in_run = np.zeros(A, dtype=bool)  # won during this run (not the installed base)
        self.cycle_days = fa()

        # ---- the columns the components own (their STATE declarations: sim.engine.declare.State)
        for comp in components:
            for col in getattr(comp, "STATE", ()):
                if hasattr(self, col.name):
                    raise ValueError(f"{comp.__name__} declares state {col.name!r}, which already exists")
                size = n if col.per == "buyer" else A
                setattr(self, col.name, np.full(size, col.fill, dtype=col.dtype))
        self._one_replication()

    # ---- the replication axis: several replications side by side as one population (``concat``).
    # Replication r owns buyers boff[r]:boff[r+1] and accounts aoff[r]:aoff[r+1]; every index any
    # mechanism sees is global, and accounts, members, ties and reps never cross replications.
    def _one_replication(self) -> None:
        self.R = 1
        self.boff = np.array([0, self.n], dtype=np.int64)
        self.aoff = np.array([0, self.n_accounts], dtype=np.int64)
        self.brep = np.zeros(self.n, dtype=np.int64)
        self.arep = np.zeros(self.n_accounts, dtype=np.int64)
        self.arr_won = np.zeros(1)
        self._rep_stage = None
        self._slices = None

    #: arrays holding account indices (shifted by the account offset) or buyer indices (buyer offset)
    _ACCOUNT_INDEX = ("account",)
    _BUYER_INDEX = ("group_start",)
    _PER_REPLICATION = ("R", "boff", "aoff", "brep", "arep", "arr_won", "stage_count", "_rep_stage", "_slices",
                        "n", "n_accounts", "one_person_accounts")

    @classmethod
    def concat(cls, pops: list["Population"]) -> "Population":
        """One population of the replications ``pops`` (each built from its own seed's streams), side by
        side: buyer and account arrays concatenated, index-valued columns shifted."""
        if len(pops) == 1:
            return pops[0]
        out = cls.__new__(cls)
        first = pops[0]
        boff = np.concatenate([[0], np.cumsum([p.n for p in pops])]).astype(np.int64)
        aoff = np.concatenate([[0], np.cumsum([p.n_accounts for p in pops])]).astype(np.int64)
        for name, v in vars(first).items():
            if name in cls._PER_REPLICATION:
                continue
            if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] in (first.n, first.n_accounts):
                parts = [getattr(p, name) for p in pops]
                if name in cls._ACCOUNT_INDEX:
                    parts = [x + aoff[r] for r, x in enumerate(parts)]
                elif name in cls._BUYER_INDEX:
                    parts = [x + boff[r] for r, x in enumerate(parts)]
                setattr(out, name, np.concatenate(parts))
            else:
                setattr(out, name, v)
        out.R = len(pops)
        out.boff, out.aoff = boff, aoff
        out.n, out.n_accounts = int(boff[-1]), int(aoff[-1])
        out.one_person_accounts = all(p.one_person_accounts for p in pops)
        out.brep = np.repeat(np.arange(out.R, dtype=np.int64), np.diff(boff))
        out.arep = np.repeat(np.arange(out.R, dtype=np.int64), np.diff(aoff))
        out.arr_won = np.concatenate([p.arr_won for p in pops])
        out._rep_stage = np.stack([p.stage_count for p in pops])
        out._slices = None  # each replication's buyer and account slices (rep_count), made on first use
        out.stage_count = out._rep_stage.sum(axis=0)
        return out

    def replica(self, r: int) -> "Population":
        """Replication r alone, as a population of its own (views of this one's arrays; index-valued
        columns shifted back): for its summary, or to build its network."""
        if self.R == 1:
            return self
        out = Population.__new__(Population)
        b0, b1, a0, a1 = self.boff[r], self.boff[r + 1], self.aoff[r], self.aoff[r + 1]
        for name, v in vars(self).items():
            if name in self._PER_REPLICATION:
                continue
            if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] in (self.n, self.n_accounts):
                per_account = v.shape[0] == self.n_accounts
                x = v[a0:a1] if per_account else v[b0:b1]
                if name in self._ACCOUNT_INDEX:
                    x = x - a0
                elif name in self._BUYER_INDEX:
                    x = x - b0
                setattr(out, name, x)
            else:
                setattr(out, name, v)
        out.n, out.n_accounts = int(b1 - b0), int(a1 - a0)
        out.one_person_accounts = bool(out.n_accounts == 0 or out.group_size.max() == 1)
        out._one_replication()
        out.arr_won = self.arr_won[r:r + 1]
        out.stage_count = self._rep_stage[r].copy()
        return out

    def stage_counts(self) -> np.ndarray:
        """Buyers per stage in each replication, shape (R, stages)."""
        return self.stage_count[None, :] if self.R == 1 else self._rep_stage

    def per_rep(self, idx: np.ndarray, per: str = "buyer") -> np.ndarray:
        """How many of the indices ``idx`` (buyers, or accounts with ``per="account"``) each replication has."""
        if self.R == 1:
            return np.array([len(idx)], dtype=np.int64)
        rep = (self.arep if per == "account" else self.brep)[idx]
        return np.bincount(rep, minlength=self.R)

    def rep_sum(self, values: np.ndarray, idx: np.ndarray, per: str = "account") -> np.ndarray:
        """Sum of ``values`` (one per index in ``idx``) in each replication, shape (R,)."""
        if self.R == 1:  # the same sequential sum as bincount's, so a replication's sum is the same in any batch
            return np.bincount(np.zeros(len(idx), dtype=np.int64), weights=np.asarray(values, dtype=np.float64), minlength=1)
        rep = (self.arep if per == "account" else self.brep)[idx]
        return np.bincount(rep, weights=np.asarray(values, dtype=np.float64), minlength=self.R)

    def rep_count(self, mask: np.ndarray, per: str = "buyer") -> np.ndarray:
        """How many buyers (or accounts) of each replication have ``mask``, shape (R,)."""
        if self.R == 1:
            return np.array([np.count_nonzero(mask)], dtype=np.int64)
        if self._slices is None:
            self._slices = {"buyer": segment_slices(self.boff), "account": segment_slices(self.aoff)}
        return count_by_segment(mask, self._slices["account" if per == "account" else "buyer"])

    # ---- helpers used by several mechanisms. An account's buyers are contiguous
    # (group_start .. group_start + group_size), so account-level work costs O(members of
    # the accounts concerned), never O(population).
    # A market of one-person accounts (self-serve buyers, the Bass scenario) takes a short cut:
    # buyer i is account i and is its own champion (decision weight 1).
    def members_of(self, acc: np.ndarray) -> np.ndarray:
        """Buyer indices of the accounts ``acc`` (in account order)."""
        acc = np.asarray(acc, dtype=np.int64)
        if self.one_person_accounts:
            return acc.copy()
        return concat_ranges(self.group_start[acc], self.group_size[acc])

    def set_stage(self, idx: np.ndarray, stage: int) -> None:
        """Move the buyers ``idx`` (unique indices) to ``stage``. Every stage change goes through
        here, so ``stage_count`` is always the number of buyers per stage (O(len(idx)))."""
        if len(idx):
            old = np.bincount(self.stage[idx].view(np.uint8), minlength=len(STAGES))
            self.stage_count -= old
            self.stage_count[stage] += len(idx)
            if self.R > 1:
                S = len(STAGES)
                rep = self.brep[idx]
                self._rep_stage -= np.bincount(rep * S + self.stage[idx].view(np.uint8), minlength=self.R * S).reshape(self.R, S)
                self._rep_stage[:, stage] += np.bincount(rep, minlength=self.R)
            self.stage[idx] = stage

    def _segments(self, acc: np.ndarray) -> np.ndarray:
        sizes = self.group_size[acc]
        return np.cumsum(sizes) - sizes  # start of each account's run in members_of(acc)

    def account_sum(self, values: np.ndarray, acc: np.ndarray) -> np.ndarray:
        """Sum of a buyer value over each account's members."""
        if len(acc) == 0:
            return np.zeros(0)
        if self.one_person_accounts:
            return np.asarray(values[acc], dtype=np.float64)
        return np.add.reduceat(np.asarray(values[self.members_of(acc)], dtype=np.float64), self._segments(acc))

    def account_mean(self, values: np.ndarray, acc: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Decision-weighted mean of a buyer value per account in ``acc`` (over ``mask`` members;
        0 where no member qualifies)."""
        if len(acc) == 0:
            return np.zeros(0)
        if self.one_person_accounts:
            v = np.asarray(values[acc], dtype=np.float64)
            return v if mask is None else np.where(mask[acc], v, 0.0)
        mem = self.members_of(acc)
        w = self.weight[mem].astype(np.float64) * (1.0 if mask is None else mask[mem])
        seg = self._segments(acc)
        num = np.add.reduceat(w * values[mem], seg)
        den = np.add.reduceat(w, seg)
        return np.divide(num, den, out=np.zeros(den.shape), where=den > 0)

    def account_min_max(self, values: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest of a buyer value over each account's members."""
        if len(acc) == 0:
            return np.zeros(0), np.zeros(0)
        v = values[self.members_of(acc)]
        if self.one_person_accounts:
            return v, v
        seg = self._segments(acc)
        return np.minimum.reduceat(v, seg), np.maximum.reduceat(v, seg)

    def account_any(self, mask: np.ndarray, acc: np.ndarray) -> np.ndarray:
        """Whether any member of each account in ``acc`` has ``mask``."""
        return self.account_sum(mask, acc) > 0
