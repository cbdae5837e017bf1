"""``JourneyModel``: the buyer-journey simulation as a ``mesa.Model``.

One day (``step``) runs the components' steps in the order they declare (``sim.engine.schedule``;
``python run.py plan`` prints it): need, the sales team's plan, the channels, word of mouth,
research, sales, decision, diffusion, after the sale, and the close of the day.

Buyers are columns in numpy arrays (``sim.engine.state.Population``); the network is a scipy.sparse
matrix; only the sales reps are Mesa agents. Every random draw comes from a named stream
(``sim.engine.rng``), so two strategies on the same seed share market, network and dice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace

import mesa
import numpy as np
import pandas as pd
import scipy.sparse as sp

from sim.config.scenario import Scenario, ScenarioError, load_scenario
from sim.engine.channels import build_channels
from sim.engine.components import components
from sim.engine.mechanisms import after_sale, need
from sim.engine.mechanisms.sales import SalesTeam
from sim.engine.metrics import COST_CHANNELS, Metrics
from sim.engine.network import Exposure, build_network, initial_rep_ties
from sim.engine.rng import BatchStreams, Streams
from sim.engine.schedule import build_schedule
from sim.engine.state import CUSTOMER, SEGMENTS, STAGES, Population
from sim.engine.summary import SUMMARY_METRICS, ltv_of_won, summarise
from sim.engine.touchlog import TouchLog, log_frame


def _as_scenario(scenario) -> Scenario:
    if scenario is None:
        return load_scenario()
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, (str, Path)):
        return load_scenario(scenario)
    raise ScenarioError("JourneyModel", "scenario", f"must be a Scenario, a path to a .toml file, a preset's name or None, got {type(scenario).__name__}")


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ScenarioError("JourneyModel", "seed", f"must be a non-negative integer, got {seed!r}")
    return int(seed)


class JourneyModel(mesa.Model):
    """Agent-based model of B2B buyer journeys under one go-to-market strategy.

    Args:
        scenario: a ``Scenario``, a path to a scenario TOML file, or None for the default.
        strategy: name of a strategy in the scenario (default: its first).
        seed: non-negative integer; the same seed gives the same run in any process.
        overrides: optional ``{"dotted.path": value}`` applied with ``Scenario.with_overrides``.
        without_channels: channels left out of the market altogether (the channel contract compares
            a switched-off channel with its absence); their steps never run.
        touch_log: record every marketing and sales touch (``sim.engine.touchlog``; read it with
            :meth:`touches`). Off by default: then ``self.touch_log`` is None and costs nothing.
        seeds: several replications side by side (the replication axis), one per seed, instead of
            ``seed``: one population of all their buyers, a block-diagonal network, each replication's
            own random streams, reps and metrics, so that replication ``seeds[i]`` gives exactly the
            numbers of ``JourneyModel(..., seed=seeds[i])`` at a fraction of the cost per run (the
            per-day overhead is paid once per batch). Read them with :meth:`results`; Mesa's data
            collector and the touch log are kept for single runs only.
    """

    def __init__(self, scenario=None, strategy: str | None = None, seed: int = 1, overrides: dict | None = None,
                 without_channels: tuple[str, ...] = (), touch_log: bool = False, seeds=None):
        if seeds is None:
            seeds = (seed,)
        elif isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__len__") or len(seeds) == 0:
            raise ScenarioError("JourneyModel", "seeds", f"must be a non-empty list of non-negative integers, got {seeds!r}")
        seeds = tuple(_check_seed(s) for s in seeds)
        seed = seeds[0]
        if touch_log and len(seeds) > 1:
            raise ScenarioError("JourneyModel", "touch_log", "is kept for a single replication: pass one seed, not seeds")
        super().__init__(seed=seed)
        scen = _as_scenario(scenario)
        if overrides:
            scen = scen.with_overrides(overrides)
        self.scenario = scen
        self.strategy = scen.check_strategy(strategy)
        self.seed = seed
        self.seeds = seeds
        self.R = len(seeds)
        self.cfg = scen.config(self.strategy)
        self.horizon = int(self.cfg.scenario.horizon_days)
        # the warm-up: days simulated under the same strategy before the measured horizon
        # (``scenario.warmup_days``); the run ends on day ``warmup + horizon``
        self.warmup = int(self.cfg.scenario.warmup_days)
        self.end = self.warmup + self.horizon
        self.day = 0
        self.touch_log: TouchLog | None = TouchLog() if touch_log else None

        # market and network: from population.* / network.* streams only (same for every strategy).
        # Each replication's market and day-0 state are built from its own streams, then the
        # replications are put side by side. The network (W, W_weak, degree) is built on first use:
        # a fully mixed market in which no mechanism looks at ties never pays for it, and building
        # it later changes no number.
        pops = []
        for s in seeds:
            streams = Streams(s)
            pop = Population(self.cfg, streams, components())
            initial_rep_ties(pop, self.cfg, streams)
            _initial_state(pop, self.cfg, streams, self.end)
            pops.append(pop)
        self.pop = pop = type(pops[0]).concat(pops)
        del pops
        self.streams = BatchStreams(seeds, pop.boff, pop.aoff)
        self.metrics = Metrics(self.end, start=self.warmup, replications=self.R, pop=pop)
        # exposures to slowly changing groups, kept up to date incrementally (see Exposure)
        W, W_weak = (lambda: self.W), (lambda: self.W_weak)
        self.tie_exposure = Exposure(W)  # tie weight on people who know our reps
        self.advocate_exposure = Exposure(W)  # tie weight on advocates
        self.advocate_exposure_weak = Exposure(W_weak)  # ... at other accounts (referrals)
        self.detractor_exposure = Exposure(W)  # tie weight on detractors
        self.peer_exposure = Exposure(W)  # tie weight on people researching or using a product
        self.customer_exposure = Exposure(W)  # tie weight on customers (Bass on the network)
        self.base_churn = after_sale.base_hazard(self.cfg)
        # churn can happen only in segments that have accounts
        self.churn_possible = bool((self.base_churn[np.unique(pop.segment)] > 0).any())

        # per-day scratch (shares happen in one mechanism, spread in another)
        self.share_content = np.zeros(pop.n, dtype=bool)
        self.share_campaign = np.zeros(pop.n, dtype=bool)
        self.shared_exposure = np.zeros(pop.n, dtype=bool)
        # per-event values, with the replication of each (None: a single replication)
        self._samples: dict[str, list[tuple[np.ndarray, np.ndarray | None]]] = {}
        self._split: dict[str, list[np.ndarray]] | None = None  # the samples by replication, once read

        self.sales = SalesTeam(self)
        self.reps = self.sales.reps
        self.channels = build_channels(self, tuple(without_channels))
        self.schedule = build_schedule(self)
        # Mesa's DataCollector deep-copies every reported value: report plain floats (cheap to copy).
        # The summary metrics (CAC, LTV, conversion, ...) are reported too, computed only on the
        # last day (NaN before), so that mesa.batch_run users can read them at the end.
        reporters = {
            "n_exploring": lambda m: float(m.metrics.cols["n_exploring"][m.metrics.day, 0]),
            "n_engaged": lambda m: float(m.metrics.cols["n_engaged"][m.metrics.day, 0]),
            "n_customer": lambda m: float(m.metrics.cols["n_customer"][m.metrics.day, 0]),
            "cum_leads": lambda m: m.metrics.total("new_leads"),
            "cum_meetings": lambda m: m.metrics.total("new_meetings"),
            "cum_wins": lambda m: m.metrics.total("new_wins"),
            "cum_cost": lambda m: m.metrics.total("new_cost"),
            "rep_utilisation": lambda m: float(m.metrics.cols["rep_utilisation"][m.metrics.day, 0]),
        }
        reporters.update({name: _summary_reporter(name) for name in SUMMARY_METRICS})
        self.datacollector = mesa.DataCollector(model_reporters=reporters)
        self._final: RunResult | None = None  # the result, once the horizon is reached (a single replication)
        self.running = self.end > 0

    # ------------------------------------------------------------------ the network (built on first use)
    @cached_property
    def _network(self) -> tuple:
        if self.R == 1:
            return build_network(self.pop, self.cfg, self.streams.streams[0])
        # each replication's own network from its own streams, side by side (no tie crosses replications)
        parts = [build_network(self.pop.replica(r), self.cfg, self.streams.streams[r]) for r in range(self.R)]
        W = sp.block_diag([w for w, _ in parts], format="csr")
        if all(w is weak for w, weak in parts):
            return W, W
        return W, sp.block_diag([weak for _, weak in parts], format="csr")

    @property
    def W(self):
        """Tie weights, symmetric scipy.sparse CSR (strong ties inside accounts, weak ties across)."""
        return self._network[0]

    @property
    def W_weak(self):
        """The cross-account (weak) part of ``W``."""
        return self._network[1]

    @cached_property
    def degree(self) -> np.ndarray:
        return np.asarray(self.W.sum(axis=1)).ravel()

    @cached_property
    def inv_degree(self) -> np.ndarray:
        return 1.0 / np.maximum(self.degree, 1e-12)  # 0 ties: exposure 0, share 0

    # ------------------------------------------------------------------ the day
    def step(self) -> None:
        if not self.running:
            return
        day = self.day
        self.metrics.day = day
        if day == self.warmup and day > 0:
            self._start_measuring()
        for _step, run in self.schedule:
            run(self)
        self.day = day + 1
        if self.day >= self.end:
            self.running = False
            if self.R == 1:
                self._final = self.result()  # the summary, for the data collector's reporters
        if self.R == 1:
            self.datacollector.collect(self)

    def _start_measuring(self) -> None:
        """The end of the warm-up: from today on everything is measured. Accounts won in the warm-up
        count from now on like the installed base (their revenue, churn and LTV are not this run's),
        and the per-event samples start empty; the deals under way, the customers, the reps' tenure
        and the network carry on as they are."""
        self._samples.clear()
        self._split = None
        self.pop.won_in_run[:] = False
        self.pop.arr_won[:] = 0.0

    def calendar_day(self, day: int | None = None) -> int:
        """The day of the measured horizon (0 = its first day) for a day of the run. In the warm-up the
        calendar of the horizon's first year repeats backwards (day -1 is day 364), so dated events
        such as campaign bursts recur there at the same time of year."""
        t = (self.day if day is None else day) - self.warmup
        return t if t >= 0 else t % 365

    def close_day(self) -> None:
        """The end of the day: rep costs, total cost, stock counts (Mesa's data collector runs after it)."""
        m, pop, s, d = self.metrics, self.pop, self.cfg.sales, self.day
        cols = m.cols
        m.add("new_cost_reps", s.n_reps * s.cost_per_rep_day)
        cols["new_cost"][d] = sum(cols[c][d] for c in _COST_COLUMNS)
        counts = pop.stage_counts()
        for i, name in enumerate(_STAGE_COLUMNS):
            cols[name][d] = counts[:, i]
        cols["n_accounts_in_market"][d] = pop.rep_count(pop.in_market, "account")
        cols["n_customers"][d] = pop.rep_count(pop.customer, "account")
        cols["n_open_opportunities"][d] = pop.rep_count(pop.opp, "account")
        cols["rep_utilisation"][d] = self.sales.utilisation()

    def run(self) -> "RunResult":
        """Run to the horizon and return the results (a single replication; a batch: :meth:`run_all`)."""
        if self.R > 1:
            raise ValueError("this model holds several replications: use run_all(), which returns one result per seed")
        while self.running:
            self.step()
        return self._final if self._final is not None and self._final.timeseries.shape[0] == max(self.day - self.warmup, 0) else self.result()

    def run_all(self) -> list["RunResult"]:
        """Run to the horizon and return one result per replication, in the order of ``seeds``."""
        while self.running:
            self.step()
        return self.results()

    # ------------------------------------------------------------------ results
    def sample(self, kind: str, values, idx: np.ndarray | None = None, per: str = "buyer") -> None:
        """Record per-event values for the distribution ``kind``: one per buyer (or account, ``per="account"``)
        in ``idx``, which says whose replication each value belongs to."""
        values = np.asarray(values, dtype=float).ravel()
        rep = None
        if self.R > 1:
            if idx is None:
                raise ValueError(f"sample {kind!r}: with several replications, say whose values these are (idx)")
            rep = (self.pop.arep if per == "account" else self.pop.brep)[np.asarray(idx, dtype=np.int64)]
        self._samples.setdefault(kind, []).append((values, rep))
        self._split = None

    def _samples_of(self, r: int) -> dict[str, np.ndarray]:
        """Replication ``r``'s values of every kind that occurred in it: a kind is absent where it has no
        value, whether the replication ran alone or in a batch where another replication recorded it."""
        if self.R == 1:
            out = {k: _cat([v for v, _ in parts]) for k, parts in self._samples.items()}
            return {k: v for k, v in out.items() if v.size}
        if self._split is None:  # every replication's values of every kind, split once (in recording order)
            self._split = {}
            for k, parts in self._samples.items():
                v = _cat([p for p, _ in parts])
                rep = np.concatenate([q for _, q in parts])
                order = np.argsort(rep, kind="stable")
                self._split[k] = np.split(v[order], np.searchsorted(rep[order], np.arange(1, self.R)))
        return {k: parts[r] for k, parts in self._split.items() if parts[r].size}

    def samples(self) -> dict[str, np.ndarray]:
        """Per-event distributions. Always: ``progress_at_first_contact`` (buyers, at their first
        sales conversation) and ``cycle_days`` (won deals). Also, where they occurred:
        ``cycle_days_<segment>``; ``lead_delay_days`` with ``lead_converted`` (0/1, same order: each
        worked lead); ``campaign_response_age_direct`` / ``_shared`` (days from exposure to
        response); ``ltv_referred`` / ``ltv_not_referred`` (accounts won in the run);
        ``opportunity_closed_segment`` with ``opportunity_closed_won`` (0/1, same order: each
        opportunity closed in the run, won, lost or ended by no decision).

        Always, one value per account won in the run, parallel (same order): ``won_segment``
        (index into ``SEGMENTS``: 0 smb, 1 mid, 2 enterprise), ``won_acv`` (annual contract value
        at the win, $), ``won_referred`` (1 if a member of the account received a referral from
        an advocate in the run, else 0), ``won_ltv`` (the lifetime value in ``summary['ltv']``, $)
        and ``won_day`` (day of the win), so that customers can be compared like for like (same
        segment and time of acquisition, per ACV dollar)."""
        return self._replica_samples(0)

    def _replica_samples(self, r: int, view=None) -> dict[str, np.ndarray]:
        out = self._samples_of(r)
        for k in ("progress_at_first_contact", "cycle_days"):
            out.setdefault(k, np.zeros(0))
        view = view if view is not None else _Replica(self, r)
        pop = view.pop
        won = np.flatnonzero(pop.won_in_run)
        ltv = ltv_of_won(view, won)
        out["ltv_referred"] = ltv[pop.won_referred[won]]
        out["ltv_not_referred"] = ltv[~pop.won_referred[won]]
        out["won_segment"] = pop.segment[won].astype(float)
        out["won_acv"] = pop.deal_size[won].astype(float)
        out["won_referred"] = pop.won_referred[won].astype(float)
        out["won_ltv"] = ltv
        out["won_day"] = pop.day_won[won].astype(float)
        return out

    def touches(self) -> pd.DataFrame:
        """The touch log so far, one row per touch (``sim.engine.touchlog.log_frame``); the model must have
        been built with ``touch_log=True``."""
        if self.touch_log is None:
            raise ValueError("this model keeps no touch log: build it with JourneyModel(..., touch_log=True)")
        return log_frame(self.touch_log.arrays(self))

    def result(self, r: int = 0) -> "RunResult":
        """The results of replication r (the seed ``seeds[r]``) on the measured days so far (none in the warm-up)."""
        view = _Replica(self, r)
        ts = self.metrics.frame(self.day, r)
        samples = self._replica_samples(r, view)
        return RunResult(
            scenario=self.scenario.name, strategy=self.strategy, seed=self.seeds[r],
            summary=summarise(view, ts, samples), timeseries=ts, samples=samples,
        )

    def results(self) -> list["RunResult"]:
        """The results of every replication, in the order of ``seeds``."""
        return [self.result(r) for r in range(self.R)]


class _Replica:
    """One replication of a model, seen alone (what the summary and the lifetime values read)."""

    def __init__(self, model: JourneyModel, r: int):
        self.pop = model.pop.replica(r)
        self.cfg = model.cfg
        self.day = model.day
        self.base_churn = model.base_churn


def _initial_state(pop: Population, cfg, streams: Streams, days: int) -> None:
    """Day 0 of one replication: an installed base of customers and the accounts already in market."""
    A = pop.n_accounts
    cust = streams.uniform("init.customers", 0, A) < cfg.market.initial_customers
    members = pop.members_of(np.flatnonzero(cust))
    g = streams.generator("init.customer_trust")
    trust0 = np.clip(0.55 + 0.15 * g.standard_normal(pop.n), 0, 1).astype(np.float32)
    pop.customer[cust] = True
    pop.acv[cust] = pop.deal_size[cust]
    pop.set_stage(members, CUSTOMER)
    pop.trust[members] = trust0[members]
    pop.aware[members] = True
    pop.day_aware[members] = 0
    coin = g.random(pop.n)
    adv = members[(pop.trust[members] >= cfg.after_sale.advocacy_trust) & (coin[members] < 0.5)]
    pop.advocate[adv] = True
    # accounts already in market: expected share = trigger rate x typical episode length
    speed = np.array([getattr(cfg.market.segments, s).research_speed for s in SEGMENTS])[pop.segment]
    episode_days = 1.0 / np.maximum(speed, 1e-6)
    p0 = np.clip(cfg.need.annual_trigger_rate / 365.0 * episode_days, 0, 0.5)
    u = streams.uniform("init.in_market", 0, A)
    start = np.flatnonzero((~cust) & (u < p0))
    prog = (0.9 * streams.uniform("init.progress", 0, pop.n)).astype(np.float32)
    # episodes under way at day 0 are not new: their count goes to a scratch record
    day0 = SimpleNamespace(pop=pop, cfg=cfg, day=0, metrics=Metrics(max(days, 1)), streams=streams)
    need.start_episodes(day0, start, progress=prog)


_COST_COLUMNS = tuple(f"new_cost_{c}" for c in COST_CHANNELS)
_STAGE_COLUMNS = tuple(f"n_{s}" for s in STAGES)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(float) if parts else np.zeros(0)


def _summary_reporter(name: str):
    return lambda m: float(m._final.summary[name]) if m._final is not None else float("nan")


@dataclass
class RunResult:
    """One run: ``summary`` (dict of per-run metrics), ``timeseries`` (one row per day),
    ``samples`` (per-event distributions: progress at first contact, cycle days)."""

    scenario: str
    strategy: str
    seed: int
    summary: dict
    timeseries: pd.DataFrame
    samples: dict = field(default_factory=dict)


def run(scenario=None, strategy: str | None = None, seed: int = 1, overrides: dict | None = None) -> RunResult:
    """Run one strategy on one seed to the horizon."""
    return JourneyModel(scenario, strategy=strategy, seed=seed, overrides=overrides).run()


def run_batch(scenario=None, strategy: str | None = None, seeds=(1,), overrides: dict | None = None) -> list[RunResult]:
    """Run one strategy on several seeds side by side (the replication axis) and return one result per
    seed, in order; each equals ``run(scenario, strategy, seed, overrides)`` for its seed."""
    return JourneyModel(scenario, strategy=strategy, seeds=seeds, overrides=overrides).run_all()


def expected_buyers(scenario: Scenario) -> float:
    """The expected number of buyers of one run of ``scenario`` (accounts x mean buying-group size): what
    the executor sizes batches of runs by (``sim.executor.group_runs``)."""
    m = scenario.config(next(iter(scenario.strategies))).market
    segs = [getattr(m.segments, g) for g in SEGMENTS]
    total = sum(s.share for s in segs) or 1.0
    return float(m.n_accounts) * sum(s.share / total * (s.group_min + s.group_max) / 2 for s in segs)
