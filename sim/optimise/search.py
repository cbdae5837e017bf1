"""``optimise``: search channel budgets and the reps' time for the best go-to-market plan, confirm the winner on fresh
seeds against every strategy of the scenario, and draw each channel's response curve around it.

    import sim.optimise as opt
    result = opt.optimise("scenarios/default.toml", objective="profit", trials=100, replications=5, workers=2)
    result.best           # the recommended plan: scenario overrides (budgets, split, ...)
    result.confirmation   # the plan and every strategy on fresh seeds, paired 95% intervals of the differences
    result.marginal       # what the next $10k and $100k buy in each channel
    result.write("folder")

Three phases, every run through :func:`sim.executor.run_tasks` and committed to an
:class:`~sim.optimise.store.OptimisationStore` the moment it finishes:

1. **search**: Optuna's TPE sampler (multivariate, seeded from ``seed``) asks ``batch`` candidates at a time on
   the unit cube of :class:`~sim.optimise.space.Space`; every candidate runs on the same ``replications`` seeds
   (common random numbers: candidates are compared paired); the results are told back in trial order. The
   scenario's strategies, their mix rescaled to the budget, are the first trials. The batch size is a setting,
   not the worker count, so the search is the same serially, on local processes and on a Dask cluster, and a
   resume replays it from the store exactly.
2. **confirm**: the best candidate (best objective over the search seeds: optimistic, as the best of many noisy
   candidates is) and every strategy as written run on ``confirm_replications`` fresh seeds never used in the
   search; paired 95% t-intervals of the differences say whether the plan is clearly better.
3. **curves**: each channel's budget moved around the optimum (0, half, +$10k, +$100k, double or +$200k) with the
   rest of the plan held, on the fresh seeds, paired against the optimum: customers, CAC and profit against
   budget, the marginal return of the next $10k and $100k, where the channel stops paying for itself, and whether it is
   saturated (the next $100k buys less than half the customers per $100k of the budget so far).

Objectives (per run, from the summary metrics): ``customers`` = customers won; ``cac`` = total cost / customers
won; ``profit`` = customers won x LTV - total cost (the expected lifetime gross profit of the accounts won in the
run, less everything spent in it, reps included); ``ltv_to_cac`` = customers won x LTV / total cost. Over the
search seeds a candidate's value is the mean (customers, profit) or the ratio of the sums (CAC, LTV:CAC), which
stays defined when one replication wins nobody.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.experiment import summaries
from sim.analysis.stats import metric_ci, paired_diff_ci
from sim.analysis.tpe import batched_tpe
from sim.config.scenario import Scenario, ScenarioError, load_scenario
from sim.engine.channels import CHANNELS
from sim.engine.model import expected_buyers
from sim.executor import connect, progress_bar, run_batched
from sim.optimise.space import (
    OBJECTIVE_LABELS,
    OBJECTIVES,
    RECOMMENDED,
    Constraints,
    Space,
    channel_budgets,
    make_constraints,
    strategy_plan,
)
from sim.optimise.store import OptimisationStore
from sim.store import definition_hash, dumps

__all__ = [
    "OBJECTIVE_LABELS",
    "RECOMMENDED",
    "Optimisation",
    "Problem",
    "Settings",
    "fresh_seed",
    "make_problem",
    "objective_values",
    "optimise",
    "search_seed",
]

# stream tags (the second entry of every SeedSequence)
_SEARCH_SEED, _FRESH_SEED, _SAMPLER = 21, 22, 23

#: Budget steps of a response curve above the centre ($ per year), and the fractions of it below.
CURVE_STEPS = (10_000.0, 100_000.0)


def _seed31(*key: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint32)[0] & 0x3FFFFFFF)


def search_seed(seed: int, rep: int) -> int:
    """The seed of replication ``rep`` of every search candidate: always even."""
    return 2 * _seed31(seed, _SEARCH_SEED, rep)


def fresh_seed(seed: int, rep: int) -> int:
    """The seed of replication ``rep`` of the confirmation and the response curves: always odd, so never a seed
    of the search."""
    return 2 * _seed31(seed, _FRESH_SEED, rep) + 1


# --------------------------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------------------------


def _num(m: Mapping, k: str) -> float:
    v = m.get(k)
    return math.nan if v is None else float(v)


def _gross(m: Mapping) -> float:
    """Expected lifetime gross profit of the accounts won: customers x LTV (0 with no customer)."""
    won = _num(m, "customers_won")
    return 0.0 if not won else won * _num(m, "ltv")


def per_run(objective: str, m: Mapping) -> float:
    """The objective of one run (NaN where undefined: CAC with no customer, LTV:CAC with no cost)."""
    won, cost = _num(m, "customers_won"), _num(m, "total_cost")
    if objective == "customers":
        return won
    if objective == "profit":
        return _gross(m) - cost
    if objective == "cac":
        return cost / won if won > 0 else math.nan
    if objective == "ltv_to_cac":
        return _gross(m) / cost if cost > 0 else math.nan
    raise ValueError(objective)


def objective_values(objective: str, runs: Sequence[Mapping]) -> np.ndarray:
    """The objective of each run (one per seed, in order)."""
    return np.array([per_run(objective, m) for m in runs], dtype=float)


def aggregate(objective: str, runs: Sequence[Mapping]) -> float:
    """A candidate's value over its replications: the mean, or for the ratios the ratio of the sums."""
    if objective in ("customers", "profit"):
        x = objective_values(objective, runs)
        return float(x.mean()) if x.size and np.isfinite(x).all() else math.nan
    won = sum(_num(m, "customers_won") for m in runs)
    cost = sum(_num(m, "total_cost") for m in runs)
    if objective == "cac":
        return cost / won if won > 0 else math.nan
    gross = sum(_gross(m) for m in runs)
    return gross / cost if cost > 0 else math.nan


def seeds_needed(diff: float, sd: float, level: float = 0.95) -> float:
    """Paired replications for a t-interval (at ``level``) to exclude 0, if the mean difference and its seed-to-seed
    sd stay as observed: the smallest n with t(n - 1) x sd / sqrt(n) < |diff| (inf for no difference)."""
    from scipy import stats

    if not (math.isfinite(diff) and math.isfinite(sd)) or diff == 0:
        return math.inf
    if sd <= 0:
        return 2
    z = float(stats.norm.ppf(0.5 + level / 2))
    n = max(2, math.ceil((z * sd / abs(diff)) ** 2))  # the normal approximation is a lower bound
    while n < 10**7 and float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n) >= abs(diff):
        n = n + 1 if n < 1000 else math.ceil(n * 1.01)
    return n


def better(objective: str) -> str:
    return OBJECTIVE_LABELS[objective][2]


# --------------------------------------------------------------------------------------------------------
# The problem
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How much work: ``trials`` candidates, each on ``replications`` seeds, asked ``batch`` at a time; the
    confirmation on ``confirm_replications`` fresh seeds; response curves on ``curve_replications`` of them,
    around the optimum only (``curves = "optimum"``), around every strategy too (``"all"``) or not at all
    (``"none"``)."""

    trials: int = 100
    replications: int = 5
    batch: int = 10
    confirm_replications: int = 20
    curve_replications: int = 10
    curves: str = "optimum"
    seed: int = 1

    def check(self, where: str) -> None:
        for k, lo in (("trials", 1), ("replications", 1), ("batch", 1), ("confirm_replications", 2),
                      ("curve_replications", 2), ("seed", 0)):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ScenarioError(where, k, f"must be a whole number >= {lo}, got {v!r}")
        if self.curves not in ("optimum", "all", "none"):
            raise ScenarioError(where, "curves", f"must be one of optimum, all, none, got {self.curves!r}")


@dataclass
class Problem:
    """What to optimise: the scenario (with any overrides applied), the strategy whose other settings the
    candidates keep, the total channel budget, the objective, the constraints and the settings."""

    scenario: Scenario
    strategy: str
    budget: float
    objective: str
    constraints: Constraints
    settings: Settings
    where: str = "optimise()"
    space: Space = field(init=False)

    def __post_init__(self) -> None:
        self.space = self.constraints.space(self.budget)

    @property
    def name(self) -> str:
        return self.scenario.name

    def definition(self) -> dict:
        return {"scenario": self.scenario.to_dict(), "strategy": self.strategy, "budget": self.budget,
                "objective": self.objective, "constraints": self.constraints.definition(),
                "settings": asdict(self.settings)}

    @property
    def hash(self) -> str:
        return definition_hash(self.definition())

    def runs_planned(self) -> int:
        s = self.settings
        n_curve = 0
        if s.curves != "none":
            centres = 1 + (len(self.scenario.strategies) if s.curves == "all" else 0)
            n_curve = centres * (1 + 5 * len(self.curve_channels())) * s.curve_replications
        trials = s.trials if self.space.dims else 1
        return trials * s.replications + (1 + len(self.scenario.strategies)) * s.confirm_replications + n_curve

    def curve_channels(self) -> list[str]:
        """Channels whose response curve is drawn: all but those left out (maximum 0)."""
        return [c for c in CHANNELS if self.constraints.channels.get(c, (0.0, math.inf))[1] > 0]

    def describe(self) -> str:
        sp, s = self.space, self.settings
        free = [p.name for p in sp.budgets.free]
        fixed = {p.name: p.low for p in sp.budgets.parts if p not in sp.budgets.free}
        text = (f"{OBJECTIVE_LABELS[self.objective][0]} ({better(self.objective)}imise) with ${self.budget:,.0f} a "
                f"year over {len(free)} channel(s) ({', '.join(free) or 'none'})")
        if fixed:
            text += "; fixed: " + ", ".join(f"{c} ${v:,.0f}" for c, v in fixed.items())
        text += f"; rep time over {', '.join(p.name for p in sp.split.free) or 'nothing (fixed)'}"
        if sp.ranges:
            text += "; " + ", ".join(f"{k} {lo:g} to {hi:g}" for k, (lo, hi) in sp.ranges.items())
        text += (f". {sp.dims} variable(s), {s.trials if sp.dims else 1} trial(s) x {s.replications} replication(s), "
                 f"confirmation on {s.confirm_replications} fresh seeds, {self.runs_planned()} runs in all")
        return text


def make_problem(scenario: str | Path | Scenario | None = None, *, budget: float | None = None,
                 objective: str | None = None, constraints: Constraints | Mapping | str | Path | None = None,
                 strategy: str | None = None, overrides: Mapping[str, Any] | None = None,
                 where: str = "optimise()", **settings: Any) -> Problem:
    """Check every input and build the :class:`Problem` (ScenarioError naming the key on bad input).

    ``constraints``: a :class:`Constraints`, a mapping or a path to a constraints file (its ``objective``,
    ``budget``, ... are used where the arguments are not given)."""
    scen = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if overrides:
        scen = scen.with_overrides(dict(overrides))
    file_settings: dict = {}
    if constraints is None:
        cons = Constraints(where=where)
    elif isinstance(constraints, Constraints):
        cons = constraints
    elif isinstance(constraints, Mapping):
        cons, file_settings = make_constraints(constraints, where)
    else:
        from sim.optimise.space import load_constraints

        cons, file_settings = load_constraints(constraints)
    if budget is None:
        budget = file_settings.pop("budget", None)
    else:
        file_settings.pop("budget", None)
    file_objective = file_settings.pop("objective", None)
    if objective is None:
        objective = file_objective if file_objective is not None else "profit"
    if strategy is None:
        strategy = file_settings.pop("strategy", None)
    file_settings.pop("strategy", None)
    merged = {**file_settings, **{k: v for k, v in settings.items() if v is not None}}
    unknown = set(merged) - set(Settings.__dataclass_fields__)
    if unknown:
        raise ScenarioError(where, min(unknown), f"unknown setting; allowed: "
                                                       f"{', '.join(Settings.__dataclass_fields__)}")
    sett = Settings(**merged)
    sett.check(where)
    if objective not in OBJECTIVES:
        raise ScenarioError(where, "objective", f"must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    strategy = scen.check_strategy(strategy)
    if budget is None:
        budget = max(sum(channel_budgets(strategy_plan(scen, s)).values()) for s in scen.strategies)
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(budget)) or budget < 0:
        raise ScenarioError(where, "budget", f"must be a number of dollars >= 0, got {budget!r}")
    cons.where = where if cons.where == "constraints" else cons.where
    return Problem(scen, strategy, float(budget), objective, cons, sett, where)


# --------------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------------


def _simulate(scenario: Scenario, batch: tuple) -> list[tuple[dict, float, str]]:
    """Runs of one plan on several seeds, side by side: each task is (kind, candidate, rep, seed, (strategy,
    overrides)), and the tasks of a batch share the plan."""
    strategy, overrides = batch[0][4]
    return summaries(scenario, strategy, [t[3] for t in batch], overrides)


class _Runner:
    """Runs tasks of one kind through the executor, skipping and checking the stored ones."""

    def __init__(self, problem: Problem, store: OptimisationStore, workers: int, client: Any, bar: Any,
                 on_run: Callable[[int], None] | None):
        self.problem, self.store, self.workers, self.client, self.bar, self.on_run = (
            problem, store, workers, client, bar, on_run)
        self.executed = 0
        self.cache: dict[str, dict] = {}

    def results(self, kind: str, plans: Sequence[tuple[int, tuple]], seeds: Sequence[int]) -> dict[int, list[dict]]:
        """Run (or read) ``plans`` ((candidate, (strategy, overrides)), ...) on ``seeds``; returns candidate ->
        metrics per seed, in seed order."""
        if kind not in self.cache:
            self.cache[kind] = self.store.runs(kind)
        stored = self.cache[kind]
        got: dict[tuple[int, int], dict] = {}
        todo = []
        for cand, plan in plans:
            want = _plain(plan)
            for r, seed in enumerate(seeds):
                if (cand, r) in stored:
                    sd, splan, mets = stored[(cand, r)]
                    if splan != want or sd != seed:
                        raise ScenarioError(self.store.path, None,
                                            f"holds other plans than this optimisation makes ({kind} {cand}, "
                                            f"replication {r}: stored {splan}, now {want}); were optuna, numpy or "
                                            f"scipy upgraded? finish it with the versions that made it, or use "
                                            f"another store path")
                    got[(cand, r)] = mets
                else:
                    todo.append((kind, cand, r, seed, plan))

        def record(task, result) -> None:
            _k, cand, r, seed, plan = task
            metrics, elapsed, worker = result
            text = dumps(metrics)
            self.store.add(kind, cand, r, seed, list(plan), text, elapsed, worker)
            got[(cand, r)] = _loads(text)
            self.executed += 1
            self.bar.update(1)
            if self.on_run is not None:
                self.on_run(self.executed)

        if todo:
            run_batched(_simulate, todo, key=lambda t: repr(t[4]), shared=self.problem.scenario, workers=self.workers,
                        client=self.client, record=record, label=f"optimise-{kind}",
                        buyers_per_run=expected_buyers(self.problem.scenario))
        return {cand: [got[(cand, r)] for r in range(len(seeds))] for cand, _ in plans}


def _plain(plan: tuple) -> list:
    import json

    return json.loads(dumps(list(plan)))


def _loads(text: str) -> dict:
    import json

    return json.loads(text)


def _search(problem: Problem, runner: _Runner) -> pd.DataFrame:
    """Phase 1: the trials, in order, with their value and plan."""
    s, space = problem.settings, problem.space
    seeds = [search_seed(s.seed, r) for r in range(s.replications)]
    scen = problem.scenario
    rows: list[dict] = []
    if space.dims == 0:  # nothing to choose: the one feasible plan
        plan = (problem.strategy, space.decode({}))
        res = runner.results("search", [(0, plan)], seeds)[0]
        rows.append({"trial": 0, "origin": "only feasible plan", "value": aggregate(problem.objective, res),
                     "overrides": plan[1]})
        return _trace(rows, problem.objective)
    try:
        import optuna  # noqa: F401  (only to say how to install it; the search is sim.analysis.tpe's)
    except ImportError:
        raise ScenarioError(problem.where, "optuna", "the optimiser searches with Optuna, which is not installed: "
                                                     "pip install 'buyer-journey-sim[optimize]' (or pip install "
                                                     "optuna)") from None

    origins = {}
    enqueue = []
    for i, name in enumerate(scen.strategies[: s.trials]):
        enqueue.append(space.encode(strategy_plan(scen, name)))
        origins[i] = f"strategy {name} (mix at this budget)"

    def evaluate(batch: list[tuple[int, dict]]) -> list[float]:
        plans = [(num, (problem.strategy, space.decode(params))) for num, params in batch]
        results = runner.results("search", plans, seeds)
        values = []
        for num, plan in plans:
            value = aggregate(problem.objective, results[num])
            values.append(value)
            rows.append({"trial": num, "origin": origins.get(num, "TPE" if num >= len(origins) else ""),
                         "value": value, "overrides": plan[1]})
        return values

    # the shared batched ask/tell (sim.analysis.tpe): the same sampler, batches and trial-order telling as before
    batched_tpe({n: (0.0, 1.0) for n in space.names()}, s.trials, s.batch, _seed31(s.seed, _SAMPLER), evaluate,
                direction="maximize" if better(problem.objective) == "max" else "minimize", enqueue=enqueue)
    return _trace(rows, problem.objective)


def _trace(rows: list[dict], objective: str) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    vals = df["value"].to_numpy(dtype=float)
    sign = 1.0 if better(objective) == "max" else -1.0
    best, out = -math.inf, []
    for v in vals:
        if math.isfinite(v) and sign * v > best:
            best = sign * v
        out.append(sign * best if math.isfinite(best) else math.nan)
    df["best_so_far"] = out
    return df


def _best(trace: pd.DataFrame, objective: str) -> int:
    vals = trace["value"].to_numpy(dtype=float)
    if not np.isfinite(vals).any():
        return 0
    sign = 1.0 if better(objective) == "max" else -1.0
    score = np.where(np.isfinite(vals), sign * vals, -np.inf)
    return int(np.argmax(score))  # the first of equals


def curve_levels(centre: float) -> list[float]:
    """Budgets of one channel's response curve around ``centre`` (the centre included)."""
    lv = {0.0, centre / 2, centre, centre + CURVE_STEPS[0], centre + CURVE_STEPS[1], max(2 * centre, centre + 200_000)}
    return sorted(float(v) for v in lv)


# --------------------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------------------


class Optimisation:
    """The outcome of :func:`optimise`. DataFrames: ``trace`` (every search trial: value, best so far, plan),
    ``mix`` (the recommended plan beside every strategy: budgets, split, team, policy), ``confirmation`` (each
    plan on fresh seeds, and the paired difference of the recommended plan against it), ``curves`` (response
    curves), ``marginal`` (the next $10k and $100k per channel) and ``runs`` (every stored run). ``best`` is
    the recommended plan as scenario overrides; ``scenario`` the scenario with it added as a strategy."""

    def __init__(self, problem: Problem, trace: pd.DataFrame, best_trial: int, confirm: dict[str, list[dict]],
                 curve_runs: dict, runs: pd.DataFrame, executed: int, reused: int, elapsed: float):
        self.problem, self.trace, self.best_trial = problem, trace, best_trial
        self.best: dict[str, Any] = dict(trace.iloc[best_trial]["overrides"])
        self.confirm_runs, self.curve_runs, self.runs = confirm, curve_runs, runs
        self.executed, self.reused, self.elapsed = executed, reused, elapsed
        self.mix = self._mix()
        self.confirmation = self._confirmation()
        self.curves, self.marginal = self._curves()
        self.scenario = self._scenario()

    @property
    def objective(self) -> str:
        return self.problem.objective

    def _plan_of(self, name: str) -> dict[str, Any]:
        scen = self.problem.scenario
        base = strategy_plan(scen, self.problem.strategy if name == RECOMMENDED else name)
        return {**base, **self.best} if name == RECOMMENDED else base

    def _mix(self) -> pd.DataFrame:
        names = [RECOMMENDED, *self.problem.scenario.strategies]
        rows = []
        for n in names:
            plan = self._plan_of(n)
            rows.append({"plan": n, **{f"budget_{c}": plan[f"channels.{c}.budget"] for c in CHANNELS},
                         "budget_total": sum(plan[f"channels.{c}.budget"] for c in CHANNELS),
                         **{k.replace("sales.split.", "split_"): v for k, v in plan.items()
                            if k.startswith("sales.split.")},
                         "n_reps": plan["sales.n_reps"], "lead_score_threshold": plan["policy.lead_score_threshold"]})
        return pd.DataFrame(rows)

    def _confirmation(self) -> pd.DataFrame:
        obj = self.objective
        rec = objective_values(obj, self.confirm_runs[RECOMMENDED])
        rows = []
        # the per-run means of the other objectives (CAC: the mean of the finite per-seed values)
        metrics = {"customers_won": "customers", "total_cost": None, "cac": "cac", "profit": "profit",
                   "ltv_to_cac": "ltv_to_cac"}
        for name, runs in self.confirm_runs.items():
            x = objective_values(obj, runs)
            m, lo, hi = metric_ci(obj if obj in ("cac", "ltv_to_cac") else "customers_won", x)
            row = {"plan": name, "objective": obj, "n": int(np.isfinite(x).sum()), "mean": m, "ci_low": lo,
                   "ci_high": hi}
            for k, of in metrics.items():
                v = objective_values(of, runs) if of else np.array([_num(r, k) for r in runs], dtype=float)
                row[f"mean_{k}"] = float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
            if name != RECOMMENDED:
                d, dlo, dhi, p = paired_diff_ci(rec, x)
                good = (dlo > 0) if better(obj) == "max" else (dhi < 0)
                bad = (dhi < 0) if better(obj) == "max" else (dlo > 0)
                ok = np.isfinite(rec) & np.isfinite(x)
                sd = float(np.std(rec[ok] - x[ok], ddof=1)) if ok.sum() > 1 else math.nan
                right_way = (d > 0) if better(obj) == "max" else (d < 0)
                need = seeds_needed(d, sd) if right_way else math.inf
                row.update(diff=d, diff_ci_low=dlo, diff_ci_high=dhi, diff_sd=sd, p_value=p, seeds_needed=need,
                           verdict="clearly better" if good else ("clearly worse" if bad else "not clearly better"))
            rows.append(row)
        return pd.DataFrame(rows)

    def _curves(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        rows, marg = [], []
        for (centre, channel), points in self.curve_runs.items():
            centre_budget = self._plan_of(centre)[f"channels.{channel}.budget"]
            base = points[centre_budget]
            for level, runs in sorted(points.items()):
                row = {"centre": centre, "channel": channel, "budget": level, "change": level - centre_budget}
                for obj in ("customers", "cac", "profit"):
                    x = objective_values(obj, runs)
                    m, lo, hi = metric_ci("cac" if obj == "cac" else "customers_won", x)
                    row.update({obj: m, f"{obj}_ci_low": lo, f"{obj}_ci_high": hi})
                    if obj != "cac":
                        d, dlo, dhi, _ = paired_diff_ci(x, objective_values(obj, base))
                        row.update({f"{obj}_diff": d, f"{obj}_diff_ci_low": dlo, f"{obj}_diff_ci_high": dhi})
                rows.append(row)
        curves = pd.DataFrame(rows)
        if curves.empty:
            return curves, pd.DataFrame()
        for (centre, channel), g in curves.groupby(["centre", "channel"], sort=False):
            g = g.sort_values("budget")
            c0 = float(g.loc[g["change"] == 0, "budget"].iloc[0])
            row: dict[str, Any] = {"centre": centre, "channel": channel, "budget": c0}
            for step in CURVE_STEPS:
                r = g[np.isclose(g["change"], step)]
                if r.empty:
                    continue
                r = r.iloc[0]
                k = f"{int(step / 1000)}k"
                row.update({f"customers_next_{k}": r["customers_diff"], f"customers_next_{k}_low": r["customers_diff_ci_low"],
                            f"customers_next_{k}_high": r["customers_diff_ci_high"],
                            f"profit_next_{k}": r["profit_diff"], f"profit_next_{k}_low": r["profit_diff_ci_low"],
                            f"profit_next_{k}_high": r["profit_diff_ci_high"],
                            f"cac_of_next_{k}": (step / r["customers_diff"]) if r["customers_diff"] > 0 else math.inf})
            prof = g["profit"].to_numpy(dtype=float)
            budgets = g["budget"].to_numpy(dtype=float)
            peak = float(budgets[int(np.nanargmax(prof))]) if np.isfinite(prof).any() else math.nan
            row["profit_peak_budget"] = peak
            hi100 = row.get("profit_next_100k_high", math.nan)
            lo100 = row.get("profit_next_100k_low", math.nan)
            row["next_100k_pays_for_itself"] = ("yes" if lo100 > 0 else "no" if hi100 < 0 else "unclear")
            # saturation: the next $100k against the average return of the budget so far (0 -> the plan)
            zero = g[g["budget"] == 0]
            # (not below $20k: the average over a sliver of budget is mostly noise)
            avg = (-float(zero["customers_diff"].iloc[0]) / c0 * 100_000 if c0 >= 20_000 and len(zero) else math.nan)
            nxt = row.get("customers_next_100k", math.nan)
            row["customers_per_100k_so_far"] = avg
            row["saturated"] = ("n/a" if not (math.isfinite(avg) and avg > 0 and math.isfinite(nxt))
                                else "yes" if nxt < 0.5 * avg else "no")
            marg.append(row)
        return curves, pd.DataFrame(marg)

    def _scenario(self) -> Scenario:
        """The scenario with the recommended plan added as the strategy ``optimised``."""
        data = self.problem.scenario.to_dict()
        overlay = data["strategies"].get(self.problem.strategy, {})
        import copy

        new = copy.deepcopy(overlay)
        for path, v in self.best.items():
            parts = path.split(".")
            node = new
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = v
        data["strategies"] = {RECOMMENDED: new, **data["strategies"]}
        return Scenario.from_dict(data, where=f"{self.problem.scenario.name} (optimised)")

    # -- output
    def finding(self) -> str:
        from sim.optimise.report import finding_sentence

        return finding_sentence(self)

    def write(self, folder: str | Path, manifest: Mapping | None = None) -> Path:
        """Write every output into ``folder``: recommended.toml, trials.csv, mix.csv, confirmation.csv, curves.csv,
        marginal.csv, runs.csv, charts/*.png, report.html, manifest.json."""
        from sim.optimise.report import write_outputs

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_outputs(folder, self, dict(manifest or {}))
        return folder

    def __repr__(self) -> str:
        return f"Optimisation({self.problem.name!r}, {self.objective}, best trial {self.best_trial})"


def optimise(scenario: str | Path | Scenario | Problem | None = None, *, budget: float | None = None,
             objective: str | None = None, constraints: Constraints | Mapping | str | Path | None = None,
             strategy: str | None = None, overrides: Mapping[str, Any] | None = None, trials: int | None = None,
             replications: int | None = None, batch: int | None = None, confirm_replications: int | None = None,
             curve_replications: int | None = None, curves: str | None = None, seed: int | None = None,
             workers: int | None = None, executor: Any = None, store: str | Path | None = None,
             out: str | Path | None = None, progress: bool = True, on_run: Callable[[int], None] | None = None,
             say: Callable[[str], None] | None = None) -> Optimisation:
    """Search the channel budgets and the reps' time split (and any ranged decision) for the plan best on
    ``objective``, confirm it on fresh seeds and draw response curves; returns an :class:`Optimisation`.

    ``scenario``: a scenario file, a Scenario or a :class:`Problem` (then the other problem arguments are
    ignored). ``budget``: $ per year over all channels (default: the largest total a strategy of the scenario
    spends). ``constraints``: bounds per channel and activity (see :data:`sim.optimise.space.FILE_HELP`).
    ``workers``: 1 = this process, W = local processes (default: all cores); ``executor``: a Dask client or
    ``"tcp://host:port"``. ``store``: an SQLite file; every run is committed at once and calling again with the
    same store resumes (the result equals an uninterrupted run). The result is the same for any ``workers`` or
    ``executor``.
    """
    from sim.io import staged_folder

    problem = scenario if isinstance(scenario, Problem) else make_problem(
        scenario, budget=budget, objective=objective, constraints=constraints, strategy=strategy,
        overrides=overrides, trials=trials, replications=replications, batch=batch,
        confirm_replications=confirm_replications, curve_replications=curve_replications, curves=curves,
        seed=seed)
    say = say or (lambda msg: None)
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ScenarioError(problem.where, "workers", f"must be a whole number >= 1, got {workers!r}")
    client, owned = (None, False)
    if executor is not None:
        client, owned = connect(executor, problem.where)
    t0 = time.perf_counter()
    s = problem.settings
    try:
        with OptimisationStore.open(store if store is not None else ":memory:", problem) as st:
            reused = st.count()
            bar = progress_bar(problem.runs_planned(), min(reused, problem.runs_planned()), progress,
                               f"optimise {problem.name}")
            try:
                runner = _Runner(problem, st, workers, client, bar, on_run)
                bar.set_description(f"optimise {problem.name}: search")
                trace = _search(problem, runner)
                best = _best(trace, problem.objective)
                say(f"search: best trial {best} of {len(trace)} ({OBJECTIVE_LABELS[problem.objective][0]} "
                    f"{trace['value'].iloc[best]:,.4g} over the search seeds)")
                best_plan = (problem.strategy, dict(trace.iloc[best]["overrides"]))
                fresh = [fresh_seed(s.seed, r) for r in range(s.confirm_replications)]
                names = [RECOMMENDED, *problem.scenario.strategies]
                plans = [(0, best_plan)] + [(j + 1, (n, {})) for j, n in enumerate(problem.scenario.strategies)]
                bar.set_description(f"optimise {problem.name}: confirm")
                got = runner.results("confirm", plans, fresh)
                confirm = {n: got[j] for j, n in enumerate(names)}
                curve_runs = _curve_runs(problem, runner, best_plan)
                runs = st.frame()
            finally:
                bar.close()
    finally:
        if owned:
            client.close()
    result = Optimisation(problem, trace, best, confirm, curve_runs, runs, runner.executed, reused,
                          time.perf_counter() - t0)
    if out is not None:
        with staged_folder(Path(out)) as stage:
            result.write(stage.tmp)
        result.folder = stage.final
    return result


def _curve_runs(problem: Problem, runner: _Runner, best_plan: tuple) -> dict:
    """Phase 3: (centre, channel) -> {budget: runs on the curve seeds}."""
    s = problem.settings
    if s.curves == "none":
        return {}
    seeds = [fresh_seed(s.seed, r) for r in range(s.curve_replications)]
    centres = [(RECOMMENDED, best_plan)]
    if s.curves == "all":
        centres += [(n, (n, {})) for n in problem.scenario.strategies]
    plans: list[tuple[int, tuple]] = []
    where: dict[tuple[str, str, float], int] = {}
    for name, (strat, ov) in centres:
        full = {**strategy_plan(problem.scenario, strat), **ov}
        idx = len(plans)
        plans.append((idx, (strat, ov)))
        for c in problem.curve_channels():
            x = float(full[f"channels.{c}.budget"])
            for level in curve_levels(x):
                if level == x:
                    where[(name, c, level)] = idx
                    continue
                where[(name, c, level)] = len(plans)
                plans.append((len(plans), (strat, {**ov, f"channels.{c}.budget": level})))
    runner.bar.set_description(f"optimise {problem.name}: curves")
    got = runner.results("curve", plans, seeds)
    out: dict = {}
    for (name, c, level), idx in where.items():
        out.setdefault((name, c), {})[level] = got[idx]
    return out

