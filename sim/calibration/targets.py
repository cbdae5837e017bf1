"""Targets files: what a calibration fits (observed funnel figures), what it may change (free
parameters with priors) and how long it may search.

A targets file (TOML; paths relative to the file)::

    name = "my_market"                  # results/calibration/<name>/ (default: the file name)
    description = "..."                 # one paragraph for the report
    scenario = "default"                # a preset name (scenarios/<name>.toml) or a path ending in .toml
    strategy = "blended"                # the strategy whose funnel the figures describe
    seed = 1                            # every proposal and seed derives from it (default 1)
    replications = 2                    # runs per particle; the metric is their mean (default 2)

    [benchmarks]                        # optional: a benchmark pack
    pack = "b2b_saas"                   # a pack name (scenarios/benchmarks/<name>.toml) or a path
    exclude = ["payback"]               # pack targets to leave out of the fit: validation checks them out of sample
    not_applicable = ["payback_smb_focus"]  # facts about another kind of market: neither fitted nor checked

    [overrides]                         # fixed values applied to the scenario first
    market.n_accounts = 2000

    [targets.won]                       # an observed figure: value +- sd ...
    metric = "customers_won"            # a summary metric of sim.run (default: the table's name)
    value = 40
    sd = 8
    source = "our CRM, FY2025"
    [targets.cycle]                     # ... or a plausible range
    metric = "median_cycle_days"
    low = 30
    high = 60
    source = "our CRM, FY2025"

    [params]                            # free parameters: a uniform prior (log-uniform with scale = "log")
    need.fade_rate = { low = 0.001, high = 0.02, scale = "log" }
    market.segments.smb.research_speed = { low = 0.005, high = 0.03 }

    method = "abc"                      # "abc" (default: ABC-SMC, a posterior) or "optuna" (a point estimate)

    [abc]                               # the search and its budget (all optional)
    population = 150                    # particles per generation
    generations = 5                     # at most this many generations (the first samples the prior)
    min_epsilon = 0.0                   # stop once the tolerance is at or below this distance
    max_runs = 2000                     # all runs (predictive ones included): stop before they would exceed it
    quantile = 0.5                      # next tolerance = this weighted quantile of the last distances
    predictive_draws = 100              # posterior-predictive runs on fresh seeds (0: none)

    [optuna]                            # with method = "optuna" (instead of [abc]; all optional)
    trials = 100                        # TPE trials, each on the same `replications` seeds (0 with start =
                                        # "scenario": no search, the scenario's own values measured)
    batch = 10                          # trials asked at a time (the search does not depend on the workers)
    check_runs = 20                     # runs at the best point on fresh seeds: the checks' intervals
    sampler = "tpe"                     # "tpe" (Optuna's TPE, global) or "cmaes" (CMA-ES, a local search)
    start = "centre"                    # "scenario": CMA-ES's mean (TPE's first trial) at the scenario's values
    sigma = 0.1667                      # CMA-ES only: the initial step, in units of each prior's width
    identify = true                     # then the targets' slopes at the best point: which target pins which
                                        # parameter, ridges, a Laplace posterior (2 x params x replications runs)
    reselect = 1                        # rerun the best K trials on fresh seeds, keep the best there (K x
                                        # replications runs; 1: the best over the search seeds, no rerun)

Facts of a pack with ``role = "target"`` are fitted; facts with ``role = "holdout"`` are never used in
fitting (the report checks them against the posterior predictive, out of sample). A target of the
file with the same name as a pack fact replaces it.

Distance: per target, value +- sd gives z = (sim - value) / sd; a range is read as the central 95% of the
published figures, its middle +- 2 sd (sd = a quarter of its width; the pass band validation uses for a value +- sd
is value +- 2 sd, so both kinds of figure pass on the same terms); the distance of a particle is
sqrt(mean z^2) over the targets, where sim is the mean of the metric over the replications. A NaN
metric (e.g. a median cycle with no wins) makes the distance +inf.

Every problem raises :class:`ScenarioError` with one line naming the file, the key and what is allowed,
before anything runs.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.config.facts import (  # the facts format and pack loader, shared with the validation
    FACT_KEYS,
    TARGET_KEYS,
    Target,
    check_keys,
    fmt_number,
    load_benchmarks,
    load_pack,
    low_high,
    parse_target,
    require_number,
    resolve_file,
)
from sim.config.parameters import P, lookup
from sim.config.scenario import (
    Scenario,
    ScenarioError,
    dotted_paths,
    load_scenario,
    no_such_parameter,
    read_toml,
)

__all__ = [
    "ABC_KEYS",
    "FACT_KEYS",
    "FILE_KEYS",
    "PRIOR_KEYS",
    "TARGET_KEYS",
    "Prior",
    "Settings",
    "Target",
    "Targets",
    "distance",
    "known_metrics",
    "load_pack",
    "load_targets",
    "make_targets",
]

#: Top-level keys of a targets file.
FILE_KEYS = ("name", "description", "scenario", "strategy", "seed", "replications", "method", "benchmarks",
             "overrides", "targets", "params", "abc", "optuna")
#: Keys of one free parameter's prior.
PRIOR_KEYS = ("low", "high", "scale")
#: Keys of ``[abc]``.
ABC_KEYS = ("population", "generations", "min_epsilon", "max_runs", "quantile", "predictive_draws")
#: Keys of ``[optuna]`` (``method = "optuna"``: a point estimate).
OPTUNA_KEYS = ("trials", "batch", "check_runs", "sampler", "start", "sigma", "identify", "reselect")
SAMPLERS = ("tpe", "cmaes")
STARTS = ("centre", "scenario")
METHODS = ("abc", "optuna")
SCALES = ("linear", "log")


# --------------------------------------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------------------------------------


def distance(targets: Sequence[Target], sims: Sequence[float]) -> float:
    """sqrt(mean z^2) over the targets; +inf if any simulated metric is NaN."""
    total = 0.0
    for t, s in zip(targets, sims):
        z = t.z(float(s))
        if not math.isfinite(z):
            return math.inf
        total += z * z
    return math.sqrt(total / len(targets))


@dataclass(frozen=True)
class Prior:
    """A free parameter: uniform on ``low``..``high`` (log-uniform if ``scale == "log"``); ``integer`` for an
    integer parameter (a value is rounded to the nearest whole number, each equally likely)."""

    path: str
    low: float
    high: float
    scale: str = "linear"
    integer: bool = False
    unit: str = ""

    @property
    def bounds(self) -> tuple[float, float]:
        """The prior's support in the transformed scale (log for ``scale == "log"``)."""
        lo, hi = (self.low - 0.5, self.high + 0.5) if self.integer else (self.low, self.high)
        if self.scale == "log":  # low > 0, so an integer's low - 0.5 >= 0.5
            return math.log(lo), math.log(hi)
        return float(lo), float(hi)

    @property
    def prior_sd(self) -> float:
        a, b = self.bounds
        return (b - a) / math.sqrt(12.0)

    def natural(self, theta: float) -> float | int:
        """The parameter value of a transformed coordinate."""
        x = math.exp(theta) if self.scale == "log" else float(theta)
        if self.integer:
            return int(min(max(round(x), int(self.low)), int(self.high)))
        return min(max(x, self.low), self.high)

    def transform(self, x: float) -> float:
        return math.log(x) if self.scale == "log" else float(x)

    def describe(self) -> str:
        kind = "log-uniform" if self.scale == "log" else "uniform"
        return f"{kind} from {fmt_number(self.low)} to {fmt_number(self.high)}" + (" (whole numbers)" if self.integer else "")

    def key(self) -> dict:
        return {"path": self.path, "low": self.low, "high": self.high, "scale": self.scale, "integer": self.integer}


@dataclass(frozen=True)
class Settings:
    """The search: ``population`` particles per generation, at most ``generations`` generations, stop once
    the tolerance is <= ``min_epsilon`` or before the runs needed (``predictive_draws`` included) exceed
    ``max_runs``; the next tolerance is
    the ``quantile`` of the last generation's distances; ``replications`` runs per particle;
    ``predictive_draws`` posterior-predictive runs; everything random derives from ``seed``."""

    population: int = 150
    generations: int = 5
    min_epsilon: float = 0.0
    max_runs: int = 2000
    quantile: float = 0.5
    replications: int = 2
    seed: int = 1
    predictive_draws: int = 100
    method: str = "abc"     # "abc" (ABC-SMC, a posterior) or "optuna" (TPE, a point estimate)
    trials: int = 100       # optuna: trials of the search (each on the same ``replications`` seeds)
    batch: int = 10         # optuna: trials asked at a time (not the worker count); CMA-ES: its population size
    sampler: str = "tpe"    # optuna: "tpe" (Optuna's TPE, a global search) or "cmaes" (CMA-ES, a local one)
    start: str = "centre"   # optuna: "centre" or "scenario" (CMA-ES's mean, TPE's first trial: the scenario's values)
    sigma: float = 1.0 / 6.0  # optuna, CMA-ES: the initial step, in units of each prior's width (transformed scale)
    identify: bool = True   # optuna: after the search, the targets' slopes at the best point (sim.calibration.local)
    reselect: int = 1       # optuna: rerun the best this many trials on fresh seeds and keep the best there (1: off)

    @property
    def sampler_label(self) -> str:
        return "CMA-ES" if self.sampler == "cmaes" else "Optuna TPE"

    def key(self) -> dict:
        """What fixes the sequence of proposals and runs (the budget fields may change on a resume)."""
        if self.method == "optuna":  # the trials fix the sampler's start (random trials = trials / 4, at most 10)
            key = {"method": "optuna", "trials": self.trials, "batch": self.batch,
                   "replications": self.replications, "seed": self.seed}
            if (self.sampler, self.start) != ("tpe", "centre"):  # (files from before these keys keep their hash)
                key.update(sampler=self.sampler, start=self.start, sigma=self.sigma)
            return key
        return {"population": self.population, "quantile": self.quantile, "replications": self.replications,
                "seed": self.seed}


@dataclass
class Targets:
    """A validated targets file: the starting ``scenario`` (overrides applied), the ``strategy``, the fitted
    ``targets``, the ``holdouts``, the free ``params`` and the ``settings``."""

    name: str
    description: str
    scenario: Scenario
    strategy: str
    targets: list[Target]
    params: list[Prior]
    settings: Settings
    holdouts: list[Target] = field(default_factory=list)
    overrides: dict = field(default_factory=dict)
    path: Path | None = None
    scenario_ref: str = ""
    pack: Path | None = None
    scenario_file: Path | None = None   # the starting scenario's file (resolved: a path, or the preset's file)

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else "calibrate()"

    @property
    def names(self) -> list[str]:
        return [p.path for p in self.params]

    @property
    def hash(self) -> str:
        """SHA-256 of what fixes the runs: scenario, strategy, targets, priors, population, quantile,
        replications and seed (not the budget, so a finished calibration can be resumed with more)."""
        return hashlib.sha256(json.dumps(self.definition(), sort_keys=True, default=str).encode()).hexdigest()

    def scenario_values(self) -> dict[str, float]:
        """Each free parameter's value in the starting scenario (for the strategy): where ``start = "scenario"``
        starts the search."""
        cfg = self.scenario.config_dict(self.strategy)
        return {p.path: float(lookup(p.path, cfg)) for p in self.params}

    def definition(self) -> dict:
        return {
            "format": "buyer-journey-sim calibration 1",
            "scenario": self.scenario.to_dict(),
            "strategy": self.strategy,
            "targets": [t.key() for t in self.targets],
            "params": [p.key() for p in self.params],
            "settings": self.settings.key(),
        }

    def describe(self) -> str:
        s = self.settings
        if s.method == "optuna":
            return (f"{len(self.params)} free parameter{'s' if len(self.params) != 1 else ''} "
                    f"({', '.join(p.path for p in self.params)}) fitted to {len(self.targets)} "
                    f"target{'s' if len(self.targets) != 1 else ''} ({', '.join(t.name for t in self.targets)}) "
                    f"of strategy {self.strategy!r} in scenario {self.scenario.name!r}; a point estimate by "
                    f"{s.sampler_label}{' from the scenario' + chr(39) + 's values' if s.start == 'scenario' else ''}: "
                    f"{s.trials} trials, {s.batch} at a time, {s.replications} replication"
                    f"{'s' if s.replications != 1 else ''} per trial (the same seeds for every trial), "
                    f"{s.predictive_draws} check runs at the best point on fresh seeds, seed {s.seed}.")
        return (f"{len(self.params)} free parameter{'s' if len(self.params) != 1 else ''} "
                f"({', '.join(p.path for p in self.params)}) fitted to {len(self.targets)} "
                f"target{'s' if len(self.targets) != 1 else ''} ({', '.join(t.name for t in self.targets)}) "
                f"of strategy {self.strategy!r} in scenario {self.scenario.name!r}; ABC-SMC with "
                f"{s.population} particles, at most {s.generations} generations and {s.max_runs} runs, "
                f"{s.replications} replication{'s' if s.replications != 1 else ''} per particle, seed {s.seed}.")


# --------------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------------


def known_metrics(scenario: Scenario | None = None, strategy: str | None = None) -> tuple[str, ...]:
    """The summary metrics a target may name: the metric registry's (``sim.engine.summary``)."""
    from sim.engine.summary import SUMMARY_METRICS

    return tuple(SUMMARY_METRICS)


# --------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------


def _whole(where: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ScenarioError(where, key, f"must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise ScenarioError(where, key, f"must be a whole number >= {minimum}, got {value!r}")
    return int(value)








def _prior(where: str, key: str, path: str, spec: Any, scenario: Scenario) -> Prior:
    p = lookup(path)
    if not isinstance(p, P):
        raise no_such_parameter(where, key, path)
    if p.kind not in ("int", "float"):
        raise ScenarioError(where, key, f"is {p.allowed()}; only number parameters can be calibrated")
    if not isinstance(spec, Mapping):
        raise ScenarioError(where, key, f"must be a prior range {{ low = .., high = .. }} (optionally scale = "
                                        f"\"log\"), got {spec!r}")
    check_keys(where, f"{key}.", spec, PRIOR_KEYS)
    low, high = low_high(where, key, spec, "a prior needs low and high")
    scale = spec.get("scale", "linear")
    if scale not in SCALES:
        raise ScenarioError(where, f"{key}.scale", f"must be \"linear\" or \"log\", got {scale!r}")
    if scale == "log" and low <= 0:
        raise ScenarioError(where, f"{key}.low", f"must be > 0 on a log scale, got {fmt_number(low)}")
    if (p.lo is not None and low < p.lo) or (p.hi is not None and high > p.hi):
        raise ScenarioError(where, key, f"prior {fmt_number(low)} to {fmt_number(high)} is outside the allowed range of {path} "
                                        f"({p.allowed()})")
    integer = p.kind == "int"
    if integer and not (low.is_integer() and high.is_integer()):
        raise ScenarioError(where, key, f"{path} takes whole numbers; give whole-number low and high, got "
                                        f"{fmt_number(low)} to {fmt_number(high)}")
    for v in (low, high):
        try:
            scenario.with_overrides({path: int(v) if integer else v})
        except ScenarioError as exc:
            raise ScenarioError(where, key, f"at {fmt_number(v)} the scenario is invalid: {exc.message}") from None
    return Prior(path=path, low=int(low) if integer else low, high=int(high) if integer else high, scale=scale,
                 integer=integer, unit=p.unit)


def _settings(where: str, data: Mapping) -> Settings:
    method = data.get("method", "abc")
    if method not in METHODS:
        raise ScenarioError(where, "method", f"must be \"abc\" (ABC-SMC: a posterior) or \"optuna\" (TPE: a fast "
                                             f"point estimate), got {method!r}")
    other = "optuna" if method == "abc" else "abc"
    if other in data:
        raise ScenarioError(where, other, f"the [{other}] table is for method = \"{other}\"; this file's method is "
                                          f"\"{method}\"{' (the default)' if 'method' not in data else ''}")
    d = Settings()
    seed = _whole(where, "seed", data.get("seed", d.seed), 0)
    reps = _whole(where, "replications", data.get("replications", d.replications), 1)
    if method == "optuna":
        opt = data.get("optuna", {})
        if not isinstance(opt, Mapping):
            raise ScenarioError(where, "optuna", "must be a table [optuna]")
        check_keys(where, "optuna.", opt, OPTUNA_KEYS)
        trials = _whole(where, "optuna.trials", opt.get("trials", d.trials), 0)
        batch = _whole(where, "optuna.batch", opt.get("batch", d.batch), 1)
        checks = _whole(where, "optuna.check_runs", opt.get("check_runs", 20), 0)
        sampler = opt.get("sampler", d.sampler)
        if sampler not in SAMPLERS:
            raise ScenarioError(where, "optuna.sampler", f"must be \"tpe\" (Optuna's TPE: a global search) or "
                                                         f"\"cmaes\" (CMA-ES: a local search), got {sampler!r}")
        start = opt.get("start", d.start)
        if start not in STARTS:
            raise ScenarioError(where, "optuna.start", f"must be \"centre\" (the priors' centre) or \"scenario\" (the "
                                                       f"starting scenario's values), got {start!r}")
        if trials < 2 and not (trials == 0 and start == "scenario"):
            raise ScenarioError(where, "optuna.trials", f"must be a whole number >= 2, or 0 with start = \"scenario\" "
                                                        f"(no search: the scenario's own values are measured), got "
                                                        f"{trials}")
        if "sigma" in opt and sampler != "cmaes":
            raise ScenarioError(where, "optuna.sigma", "is CMA-ES's initial step: only with sampler = \"cmaes\"")
        sigma = require_number(where, "optuna.sigma", opt.get("sigma", d.sigma), "a number between 0 and 1")
        if not 0 < sigma <= 1:
            raise ScenarioError(where, "optuna.sigma", f"must be a number above 0 and at most 1 (the initial step in "
                                                       f"units of each prior's width), got {sigma:g}")
        identify = opt.get("identify", d.identify)
        if not isinstance(identify, bool):
            raise ScenarioError(where, "optuna.identify", f"must be true or false (measure the targets' slopes at the "
                                                          f"best point), got {identify!r}")
        reselect = _whole(where, "optuna.reselect", opt.get("reselect", d.reselect), 1)
        if reselect > max(trials, 1):
            raise ScenarioError(where, "optuna.reselect", f"reruns the best K of the {trials} trials: a whole number "
                                                          f"from 1 to optuna.trials, got {reselect}")
        if sampler == "cmaes" and batch < 2:
            raise ScenarioError(where, "optuna.batch", f"is CMA-ES's population size: a whole number >= 2, got {batch}")
        return Settings(replications=reps, seed=seed, predictive_draws=checks, method="optuna", trials=trials,
                        batch=batch, max_runs=trials * reps + checks, generations=1, population=1, sampler=sampler,
                        start=start, sigma=sigma, identify=identify, reselect=reselect)
    abc = data.get("abc", {})
    if not isinstance(abc, Mapping):
        raise ScenarioError(where, "abc", "must be a table [abc]")
    check_keys(where, "abc.", abc, ABC_KEYS)
    pop = _whole(where, "abc.population", abc.get("population", d.population), 2)
    gens = _whole(where, "abc.generations", abc.get("generations", d.generations), 1)
    max_runs = _whole(where, "abc.max_runs", abc.get("max_runs", d.max_runs), 1)
    draws = _whole(where, "abc.predictive_draws", abc.get("predictive_draws", d.predictive_draws), 0)
    if max_runs < pop * reps + draws:
        raise ScenarioError(where, "abc.max_runs", f"must be at least population x replications + predictive_draws = "
                                                   f"{pop * reps + draws} (one generation from the prior and the "
                                                   f"posterior-predictive runs), got {max_runs}")
    eps = require_number(where, "abc.min_epsilon", abc.get("min_epsilon", d.min_epsilon), "a number >= 0")
    if eps < 0:
        raise ScenarioError(where, "abc.min_epsilon", f"must be a number >= 0, got {eps:g}")
    q = require_number(where, "abc.quantile", abc.get("quantile", d.quantile), "a number between 0 and 1")
    if not 0 < q < 1:
        raise ScenarioError(where, "abc.quantile", f"must be a number between 0 and 1 (exclusive), got {q:g}")
    return Settings(population=pop, generations=gens, min_epsilon=eps, max_runs=max_runs, quantile=q,
                    replications=reps, seed=seed, predictive_draws=draws)


def load_targets(path: str | Path) -> Targets:
    """Read and validate a targets file (format: this module's docstring, or ``python run.py calibrate
    --help``). Raises ScenarioError naming the file, the key and what is allowed."""
    path = Path(path).expanduser()
    where = str(path)
    data = read_toml(path, "targets")
    return make_targets(data, where=where, base=path.parent, path=path)


def make_targets(data: Mapping, where: str = "calibrate()", base: str | Path = ".", path: Path | None = None) -> Targets:
    """A :class:`Targets` from the contents of a targets file (a dict), relative paths taken from ``base``."""
    base = Path(base)
    if not isinstance(data, Mapping):
        raise ScenarioError(where, None, "must be a table (the contents of a targets file)")
    check_keys(where, "", data, FILE_KEYS)
    for key in ("name", "description", "strategy"):
        if key in data and not isinstance(data[key], str):
            raise ScenarioError(where, key, f"must be a string, got {data[key]!r}")
    default_name = path.stem if path is not None else "calibration"
    name = data.get("name", default_name)
    if not name.strip() or any(c in name for c in "/\\") or name.startswith("."):
        raise ScenarioError(where, "name", f"must be a plain folder name (no slashes, not starting with '.'), got "
                                           f"{name!r}")
    # the starting scenario
    if "scenario" not in data:
        raise ScenarioError(where, "scenario", "missing: a preset name (e.g. \"default\") or a path to a scenario "
                                               ".toml file, relative to the targets file")
    scen_path = resolve_file(where, "scenario", data["scenario"], base, "scenario")
    scenario = load_scenario(scen_path)
    for key in ("overrides", "params", "targets"):
        if key in data and not isinstance(data[key], Mapping):
            raise ScenarioError(where, key, f"must be a table [{key}]")
    overrides = dotted_paths(where, data.get("overrides", {}), "overrides", lambda v: False)
    for p in overrides:
        if not isinstance(lookup(p), P):
            raise no_such_parameter(where, f"overrides.{p}", p)
    if overrides:
        try:
            scenario = scenario.with_overrides(overrides)
        except ScenarioError as exc:
            key = f"overrides.{exc.key}" if exc.key in overrides else "overrides"
            raise ScenarioError(where, key, exc.message) from None
    # the strategy
    if "strategy" not in data:
        raise ScenarioError(where, "strategy", f"missing: the strategy whose funnel the targets describe; the scenario "
                                               f"has: {', '.join(scenario.strategies)}")
    strategy = data["strategy"]
    if strategy not in scenario.strategies:
        raise ScenarioError(where, "strategy", f"unknown strategy {strategy!r}; the scenario {scen_path.name} has: "
                                               f"{', '.join(scenario.strategies)}")
    settings = _settings(where, data)
    # free parameters
    params_raw = dotted_paths(where, data.get("params", {}), "params",
                              lambda v: bool(v) and set(v) <= set(PRIOR_KEYS))
    if not params_raw:
        raise ScenarioError(where, "params", "missing: a [params] table with at least one free parameter, e.g. "
                                             "need.fade_rate = { low = 0.001, high = 0.02, scale = \"log\" }")
    params = []
    for p, spec in params_raw.items():
        if p in overrides:
            raise ScenarioError(where, f"params.{p}", "is also fixed in [overrides]; a parameter is either fixed or "
                                                      "free")
        params.append(_prior(where, f"params.{p}", p, spec, scenario))
    # targets: the pack's, then the file's (which replace a pack fact of the same name)
    facts: dict[str, Target] = {}
    pack_path = None
    if "benchmarks" in data:
        pack_path, pack_facts, exclude = load_benchmarks(where, data["benchmarks"], base)
        facts = {t.name: t for t in pack_facts if t.name not in exclude}
    own = data.get("targets", {})
    for tname, spec in own.items():
        facts[str(tname)] = parse_target(where, f"targets.{tname}", str(tname), spec, TARGET_KEYS, where)
    targets = [t for t in facts.values() if t.role == "target"]
    holdouts = [t for t in facts.values() if t.role == "holdout"]
    if not targets:
        raise ScenarioError(where, "targets", "missing: at least one observed figure, as [targets.<name>] tables or "
                                              "the role = \"target\" facts of a [benchmarks] pack")
    known = known_metrics(scenario, strategy)
    for t in targets:
        if t.metric not in known:
            key = f"targets.{t.name}.metric" if t.origin == where else f"facts.{t.name}.metric"
            near = difflib.get_close_matches(t.metric, known, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            leave = "" if t.origin == where else f"; or leave it out with [benchmarks] exclude = [\"{t.name}\"] in {where}"
            raise ScenarioError(t.origin, key, f"unknown metric {t.metric!r} (the engine emits: "
                                               f"{', '.join(known)}){hint}{leave}")
    spec = Targets(name=name, description=data.get("description", ""), scenario=scenario, strategy=strategy,
                   targets=targets, params=params, settings=settings, holdouts=holdouts, overrides=overrides,
                   path=path, scenario_ref=str(data["scenario"]), pack=pack_path, scenario_file=scen_path)
    if settings.method == "optuna" and settings.start == "scenario":
        for p, v in zip(params, spec.scenario_values().values()):
            if not p.low <= v <= p.high:
                raise ScenarioError(where, f"params.{p.path}", f"the search starts at the scenario's value "
                                                               f"(optuna.start = \"scenario\"), {fmt_number(v)}, which lies "
                                                               f"outside the prior {fmt_number(p.low)} to {fmt_number(p.high)}; "
                                                               f"widen the prior or start at the centre")
    return spec
