"""ABC-SMC: approximate Bayesian computation by sequential Monte Carlo, reproducible and resumable.

The algorithm (Beaumont, Cornuet, Marin & Robert 2009, "Adaptive approximate Bayesian computation",
Biometrika 96(4); the tolerance schedule as in Del Moral, Doucet & Jasra 2012):

* generation 0 samples the prior (uniform in each parameter's transformed scale: log for
  ``scale = "log"``) and keeps the first N proposals whose distance is finite (tolerance +inf);
* generation t >= 1 uses the tolerance eps_t = the weighted ``quantile`` of generation t-1's distances;
  a proposal picks a parent particle j with probability w_j and moves it by a Gaussian kernel with
  twice the weighted covariance of generation t-1 (a move outside the prior's support, or to an
  invalid scenario, is drawn again, parent included, so the proposal density is the kernel mixture up
  to one constant); the first N proposals with distance <= eps_t make the population, with weights
  w_i proportional to prior(theta_i) / sum_j w_j K(theta_i | theta_j);
* it stops after ``generations`` generations, once eps_t <= ``min_epsilon``, or when the next
  generation cannot fill within ``max_runs`` runs (less the ``predictive_draws`` posterior-predictive
  runs, which come out of the same budget), whichever comes first.

Reproducibility: every proposal is drawn in the parent from its own random stream keyed by
(seed, generation, proposal index), and every run's seed is a function of (seed, generation, proposal
index, replication). The population is the first N accepted proposals *by proposal index*, not in the
order runs finish, so 1 worker, W workers and a Dask cluster give the identical posterior. Runs go
through :func:`sim.executor.run_tasks` in proposal order; once the first N accepted proposals are all
known the generation stops (the runs still in flight, at most two per worker, are discarded or kept in
the store, never used).

Resumability: every finished run is committed to the store at once (:mod:`sim.calibration.store`). A
resume replays the algorithm: proposals are regenerated from the seed (and checked against the stored
parameter values), stored runs are read back instead of simulated, and the rest runs as before, so the
result equals an uninterrupted run.

The model is a function ``simulate(shared, values, seed) -> {metric: value}`` (module level, so worker
processes can import it); :func:`normal_toy` is a one-line toy with a known posterior.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.calibration.targets import Prior, Settings, Target, distance
from sim.config.scenario import ScenarioError
from sim.executor import progress_bar, run_batched
from sim.store import dumps

__all__ = [
    "ABCSMC",
    "IDENTIFIED_RATIO",
    "ABCResult",
    "Generation",
    "fit_seed",
    "normal_toy",
    "predictive_seed",
    "weighted_quantile",
]

#: A parameter counts as identified by the targets when its posterior sd is at most this share of its prior sd
#: (both in the transformed scale).
IDENTIFIED_RATIO = 0.5
MAX_TRIES = 10_000  # redraws of one proposal that falls outside the prior or makes an invalid scenario

# stream tags (the second entry of every SeedSequence)
_PROPOSAL, _FIT_SEED, _PRED_PICK, _PRED_SEED = 11, 12, 13, 14


class _Full(Exception):
    """Raised from the record callback when the generation's population is known (stops the executor)."""


def _stream(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def seed31(*key: int) -> int:
    """A 30-bit seed drawn from the SeedSequence of ``key`` (a stream tag and its indices)."""
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint32)[0] & 0x3FFFFFFF)


def fit_seed(seed: int, generation: int, particle: int, rep: int) -> int:
    """The seed of replication ``rep`` of proposal ``particle`` of ``generation``: always even."""
    return 2 * seed31(seed, _FIT_SEED, generation, particle, rep)


def predictive_seed(seed: int, generation: int, draw: int) -> int:
    """The seed of posterior-predictive draw ``draw``: always odd, so never a seed used in fitting."""
    return 2 * seed31(seed, _PRED_SEED, generation, draw) + 1


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The smallest x whose cumulative normalised weight (in increasing x) reaches q."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    cw /= cw[-1]
    k = int(np.searchsorted(cw, q - 1e-12, side="left"))
    return float(x[order][min(k, x.size - 1)])


def weighted_sd(x: np.ndarray, w: np.ndarray) -> float:
    w = np.asarray(w, dtype=float) / np.sum(w)
    m = float(np.sum(w * x))
    return float(math.sqrt(max(float(np.sum(w * (np.asarray(x) - m) ** 2)), 0.0)))


def normal_toy(shared: Any, values: Sequence[float], seed: int) -> dict[str, float]:
    """A toy model with a known posterior: ``y`` ~ Normal(mu, ``shared``), mu the first parameter."""
    sd = 1.0 if shared is None else float(shared)
    return {"y": float(values[0] + sd * np.random.default_rng(seed).standard_normal())}


def _run_many(job: tuple, batch: tuple) -> list[tuple[dict, float, str]]:
    """Runs at one parameter point on several seeds (the executor groups them: :func:`run_points`). A model
    whose ``simulate`` has a ``many(shared, values, seeds)`` runs them side by side (the engine's replication
    axis); any other is called once per seed."""
    simulate, shared = job
    values, seeds = batch[0][5], [t[4] for t in batch]
    t0 = time.perf_counter()
    many = getattr(simulate, "many", None)
    results = many(shared, values, seeds) if many is not None else [simulate(shared, values, sd) for sd in seeds]
    each = (time.perf_counter() - t0) / len(batch)
    host = os.uname().nodename if hasattr(os, "uname") else ""
    return [({str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in dict(m).items()}, each,
             f"{host}:{os.getpid()}") for m in results]


def run_points(tasks: Sequence[tuple], *, simulate: Callable, shared: Any, workers: int, client: Any,
               record: Callable, label: str) -> None:
    """Run calibration tasks through the executor, the seeds of one parameter point side by side."""
    from sim.engine.model import expected_buyers

    scenario = shared[0] if isinstance(shared, tuple) and shared else None
    buyers = expected_buyers(scenario) if hasattr(scenario, "strategies") else None
    run_batched(_run_many, tasks, key=lambda t: (t[0], repr(t[5])), shared=(simulate, shared), workers=workers,
                client=client, record=record, label=label, buyers_per_run=buyers)


# --------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------


@dataclass
class Generation:
    """One completed generation: its tolerance, the accepted particles (by proposal index), their
    transformed coordinates ``theta``, parameter ``values``, normalised ``weights``, ``distances`` and
    simulated target metrics ``sims`` (mean over replications), and what it cost."""

    index: int
    epsilon: float
    particles: list[int]
    theta: np.ndarray
    values: list[list]
    weights: np.ndarray
    distances: np.ndarray
    sims: np.ndarray
    proposals: int          # proposals needed: up to and including the N-th accepted
    runs: int               # proposals x replications
    nan_proposals: int      # proposals needed whose distance was +inf (a NaN metric)
    nan_by_target: dict = field(default_factory=dict)

    @property
    def acceptance_rate(self) -> float:
        return len(self.particles) / self.proposals

    @property
    def ess(self) -> float:
        return float(1.0 / np.sum(self.weights ** 2))


@dataclass
class ABCResult:
    """The generations (the last is the posterior), why the search stopped, the runs it needed, and
    the posterior-predictive runs."""

    generations: list[Generation]
    stop_reason: str
    incomplete: dict | None = None     # the generation that could not fill in the budget: index, tried, accepted
    predictive: list = field(default_factory=list)  # (draw, posterior particle, seed, values, metrics)
    executed: int = 0                  # runs simulated by this call
    reused: int = 0                    # runs already in the store when this call started
    discarded: int = 0                 # stored runs a generation did not need (in flight when it filled)

    @property
    def final(self) -> Generation:
        return self.generations[-1]

    @property
    def runs_needed(self) -> int:
        return sum(g.runs for g in self.generations) + (self.incomplete or {}).get("runs", 0)


# --------------------------------------------------------------------------------------------------------
# The sampler
# --------------------------------------------------------------------------------------------------------


class ABCSMC:
    """ABC-SMC over ``priors`` fitting ``targets`` with ``simulate(shared, values, seed)``.

    ``valid(values) -> bool`` (optional, called in the parent) rejects parameter combinations that make an
    invalid scenario: they are drawn again, so the prior is truncated to the valid region.
    """

    def __init__(self, simulate: Callable, shared: Any, priors: Sequence[Prior], targets: Sequence[Target],
                 settings: Settings, valid: Callable[[list], bool] | None = None, label: str = "calibration",
                 predictive_shared: Any = None):
        self.simulate, self.shared = simulate, shared
        # what the posterior-predictive runs get instead of ``shared`` (e.g. asking for engine samples too)
        self.predictive_shared = shared if predictive_shared is None else predictive_shared
        self.priors, self.targets, self.settings = list(priors), list(targets), settings
        self.valid = valid
        self.label = label
        b = np.array([p.bounds for p in self.priors], dtype=float)
        self.lo, self.hi = b[:, 0], b[:, 1]
        self.d = len(self.priors)

    # -- proposals
    def _natural(self, theta: np.ndarray) -> list:
        return [p.natural(float(t)) for p, t in zip(self.priors, theta)]

    def _ok(self, theta: np.ndarray) -> list | None:
        if np.any(theta < self.lo) or np.any(theta > self.hi):
            return None
        values = self._natural(theta)
        if self.valid is not None and not self.valid(values):
            return None
        return values

    def _kernel(self, prev: Generation) -> np.ndarray:
        """Cholesky factor of the perturbation kernel's covariance: twice the weighted covariance."""
        w = prev.weights
        mean = w @ prev.theta
        diff = prev.theta - mean
        cov = 2.0 * (diff * w[:, None]).T @ diff
        cov = cov + np.diag(1e-10 * (self.hi - self.lo) ** 2)
        try:
            return np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            return np.diag(np.sqrt(np.maximum(np.diag(cov), 1e-10 * (self.hi - self.lo) ** 2)))

    def propose(self, generation: int, index: int, prev: Generation | None, chol: np.ndarray | None,
                cw: np.ndarray | None = None) -> tuple[np.ndarray, list]:
        """Proposal ``index`` of ``generation``: a pure function of (seed, generation, index, prev)."""
        rng = _stream(self.settings.seed, _PROPOSAL, generation, index)
        if prev is not None and cw is None:
            cw = _cumulative(prev.weights)
        for _ in range(MAX_TRIES):
            if prev is None:
                theta = self.lo + (self.hi - self.lo) * rng.random(self.d)
            else:
                j = min(int(np.searchsorted(cw, rng.random(), side="right")), len(prev.particles) - 1)
                theta = prev.theta[j] + chol @ rng.standard_normal(self.d)
            values = self._ok(theta)
            if values is not None:
                return theta, values
        raise ScenarioError(self.label, "params", f"no valid parameter combination found in {MAX_TRIES} draws of "
                                                  f"generation {generation}: the priors allow almost only invalid "
                                                  f"scenarios; narrow them")

    def _weights(self, theta: np.ndarray, prev: Generation, chol: np.ndarray) -> np.ndarray:
        from scipy.linalg import solve_triangular
        from scipy.special import logsumexp

        diff = (theta[:, None, :] - prev.theta[None, :, :]).reshape(-1, self.d)
        z = solve_triangular(chol, diff.T, lower=True)
        m = np.sum(z * z, axis=0).reshape(theta.shape[0], prev.theta.shape[0])
        log_den = logsumexp(-0.5 * m + np.log(prev.weights)[None, :], axis=1)
        logw = -log_den
        w = np.exp(logw - logw.max())
        return w / w.sum()

    # -- running
    def run(self, store: Any, workers: int = 1, client: Any = None, progress: bool = True,
            on_run: Callable[[int], None] | None = None, say: Callable[[str], None] | None = None) -> ABCResult:
        """Run (or resume from ``store``) the search and the posterior-predictive draws."""
        s = self.settings
        N, R = s.population, s.replications
        say = say or (lambda msg: None)
        total_budget = s.max_runs
        fit_budget = s.max_runs - s.predictive_draws  # the posterior-predictive runs come out of the budget
        stored_total = store.count()
        bar = progress_bar(total_budget, min(stored_total, total_budget), progress, self.label)
        counts = {"executed": 0, "reused": 0, "discarded": 0}

        def after_run() -> None:
            counts["executed"] += 1
            bar.update(1)
            if on_run is not None:
                on_run(counts["executed"])

        gens: list[Generation] = []
        used = 0
        stop = f"it reached the maximum of {s.generations} generation{'s' if s.generations != 1 else ''}"
        incomplete = None
        try:
            for t in range(s.generations):
                prev = gens[-1] if gens else None
                eps = math.inf if prev is None else weighted_quantile(prev.distances, prev.weights, s.quantile)
                cap = (fit_budget - used) // R
                if cap < N:
                    stop = (f"the budget of {s.max_runs} runs leaves {cap * R} runs for fitting, fewer than one "
                            f"generation needs at the least ({N * R})")
                    break
                bar.set_description(f"{self.label} gen {t}")
                gen, info = self._generation(t, prev, eps, cap, store, workers, client, after_run, counts)
                if gen is None:
                    if t == 0:
                        raise ScenarioError(self.label, "abc.max_runs",
                                            f"the prior generation found only {info['accepted']} of {N} particles "
                                            f"with a finite distance in {info['tried']} proposals ({info['nan']} gave "
                                            f"a NaN target metric: {_nan_text(info['nan_by_target'])}); raise "
                                            f"max_runs, narrow the priors or drop targets the model cannot produce")
                    incomplete = info
                    stop = (f"generation {t} (tolerance {eps:.4g}) could not fill within the budget of {s.max_runs} "
                            f"runs ({fit_budget} for fitting): {info['accepted']} of {N} particles accepted in {info['tried']} proposals")
                    break
                gens.append(gen)
                used += gen.runs
                say(f"generation {t}: tolerance {_eps_text(eps)}, acceptance {gen.acceptance_rate:.1%}, "
                    f"ESS {gen.ess:.0f}, {gen.runs} runs")
                if t > 0 and eps <= s.min_epsilon:
                    stop = f"the tolerance {eps:.4g} reached min_epsilon {s.min_epsilon:g}"
                    break
            if not gens:
                raise ScenarioError(self.label, "abc.max_runs", f"must allow at least one generation and the "
                                                                f"predictive draws: {N * R + s.predictive_draws} "
                                                                f"runs, got {s.max_runs}")
            result = ABCResult(generations=gens, stop_reason=stop, incomplete=incomplete)
            if s.predictive_draws:
                bar.set_description(f"{self.label} predictive")
                result.predictive = self._predictive(gens[-1], store, workers, client, after_run, counts)
        finally:
            bar.close()
        result.executed, result.discarded, result.reused = counts["executed"], counts["discarded"], stored_total
        return result

    def _generation(self, t: int, prev: Generation | None, eps: float, cap: int, store: Any, workers: int,
                    client: Any, after_run: Callable, counts: dict) -> tuple[Generation | None, dict]:
        s = self.settings
        N, R = s.population, s.replications
        chol = None if prev is None else self._kernel(prev)
        cw = None if prev is None else _cumulative(prev.weights)
        stored = store.runs("fit", t)
        results: dict[int, dict[int, dict]] = {}
        for (i, r), (_sd, _vals, mets, _src) in stored.items():
            results.setdefault(i, {})[r] = mets
        thetas: list[np.ndarray] = []
        values: list[list] = []
        st = {"prefix": 0, "accepted": [], "dist": [], "sims": [], "nan": 0, "nan_by": {}}

        def ensure(k: int) -> None:
            while len(thetas) < k:
                i = len(thetas)
                th, vals = self.propose(t, i, prev, chol, cw)
                for r in range(R):
                    if (i, r) in stored:
                        sd, svals, _m, _s = stored[(i, r)]
                        if svals != json.loads(dumps(vals)) or sd != fit_seed(s.seed, t, i, r):
                            raise ScenarioError(getattr(store, "path", "store"), None,
                                                f"holds other proposals than this calibration generates (generation "
                                                f"{t}, proposal {i}: stored {svals}, now {vals}); were numpy or scipy "
                                                f"upgraded? finish it with the versions that made it, or use another "
                                                f"store path")
                thetas.append(th)
                values.append(vals)

        def advance() -> bool:
            while st["prefix"] < len(thetas) and len(results.get(st["prefix"], ())) == R:
                i = st["prefix"]
                reps = results[i]
                sims = [strict_mean([reps[r].get(tg.metric, math.nan) for r in range(R)]) for tg in self.targets]
                d = distance(self.targets, sims)
                st["dist"].append(d)
                st["sims"].append(sims)
                if not math.isfinite(d):
                    st["nan"] += 1
                    for tg, x in zip(self.targets, sims):
                        if not math.isfinite(x):
                            st["nan_by"][tg.name] = st["nan_by"].get(tg.name, 0) + 1
                if (math.isfinite(d) and d <= eps) if math.isfinite(eps) else math.isfinite(d):
                    st["accepted"].append(i)
                st["prefix"] += 1
                if len(st["accepted"]) == N:
                    return True
            return False

        def record(task, result) -> None:
            _kind, _gen, i, r, seed, vals, _src = task
            metrics, elapsed, worker = result
            text = dumps(metrics)
            store.add("fit", t, i, r, seed, vals, text, None, elapsed, worker)
            results.setdefault(i, {})[r] = json.loads(text)
            after_run()
            if advance():
                raise _Full

        full = advance()
        est = 1.0 if prev is None else max(prev.acceptance_rate * s.quantile, 0.02)
        while not full:
            if st["prefix"] >= cap:
                break
            need = N - len(st["accepted"])
            seen = st["prefix"]
            rate = len(st["accepted"]) / seen if seen >= max(N // 4, 1) else est
            # Offer generously more proposals than the expected need (the record callback stops the executor
            # as soon as the population is known): a second batch, which restarts the worker pool, is rare.
            # Only efficiency depends on this size; which proposals are accepted does not.
            size = int(math.ceil(need / max(rate, 0.02) * (2.0 if self.valid is not None else 3.0)))
            end = min(cap, st["prefix"] + size + 2 * max(int(workers), 1))
            ensure(end)
            if advance():
                full = True
                break
            todo = [("fit", t, i, r, fit_seed(s.seed, t, i, r), values[i], None)
                    for i in range(st["prefix"], end) for r in range(R) if r not in results.get(i, {})]
            if not todo:
                continue
            try:
                run_points(todo, simulate=self.simulate, shared=self.shared, workers=workers, client=client,
                           record=record, label=f"{self.label}-g{t}")
            except _Full:
                full = True
        # runs stored beyond what the generation needed (in flight when it filled) are not used
        m = st["prefix"]
        counts["discarded"] += sum(len(v) for i, v in results.items() if i >= m)
        info = {"index": t, "epsilon": eps, "tried": m, "accepted": len(st["accepted"]), "runs": m * R,
                "nan": st["nan"], "nan_by_target": dict(st["nan_by"])}
        if not full:
            return None, info
        idx = st["accepted"]
        theta = np.array([thetas[i] for i in idx], dtype=float).reshape(len(idx), self.d)
        weights = np.full(len(idx), 1.0 / len(idx)) if prev is None else self._weights(theta, prev, chol)
        gen = Generation(index=t, epsilon=eps, particles=list(idx), theta=theta, values=[values[i] for i in idx],
                         weights=weights, distances=np.array([st["dist"][i] for i in idx], dtype=float),
                         sims=np.array([st["sims"][i] for i in idx], dtype=float).reshape(len(idx), -1),
                         proposals=m, runs=m * R, nan_proposals=st["nan"], nan_by_target=dict(st["nan_by"]))
        return gen, info

    def _predictive(self, final: Generation, store: Any, workers: int, client: Any, after_run: Callable,
                    counts: dict) -> list:
        """``predictive_draws`` runs, each of a particle drawn from the posterior, on fresh (odd) seeds."""
        s = self.settings
        rng = _stream(s.seed, _PRED_PICK, final.index)
        cw = np.cumsum(final.weights)
        cw /= cw[-1]
        picks = np.minimum(np.searchsorted(cw, rng.random(s.predictive_draws), side="right"), len(cw) - 1)
        draws = [(final.values[j], final.particles[j], predictive_seed(s.seed, final.index, k)) for k, j in enumerate(picks)]
        return predictive_runs(store, final.index, draws, simulate=self.simulate, shared=self.predictive_shared,
                               workers=workers, client=client, label=f"{self.label}-predictive",
                               what="posterior-predictive draws than this calibration makes (draw", after_run=after_run)


def predictive_runs(store: Any, gen: int, draws: Sequence[tuple], *, simulate: Callable, shared: Any, workers: int,
                    client: Any, label: str, what: str, after_run: Callable[[], None]) -> list:
    """The runs checked against the targets after a fit: draw k = ``draws[k]`` = (values, source, seed), stored as
    ``("predictive", gen, k, 0)``. Stored ones are read back (a store holding other draws is refused: ``what``
    names them in the message); the rest run, seeds of one point side by side, each committed at once and
    followed by ``after_run()``. Returns (k, source, seed, values, metrics) per draw, in order."""
    stored = store.runs("predictive", gen)
    out: dict[int, tuple] = {}
    tasks = []
    for k, (vals, src, seed) in enumerate(draws):
        if (k, 0) in stored:
            sd, svals, mets, ssrc = stored[(k, 0)]
            if sd != seed or ssrc != src or svals != json.loads(dumps(vals)):
                raise ScenarioError(getattr(store, "path", "store"), None,
                                    f"holds other {what} {k}); use another store path")
            out[k] = (k, src, seed, vals, mets)
        else:
            tasks.append(("predictive", gen, k, 0, seed, vals, src))

    def record(task, result) -> None:
        _kind, g, k, _r, seed, vals, src = task
        metrics, elapsed, worker = result
        text = dumps(metrics)
        store.add("predictive", g, k, 0, seed, vals, text, src, elapsed, worker)
        out[k] = (k, src, seed, vals, json.loads(text))
        after_run()

    if tasks:
        run_points(tasks, simulate=simulate, shared=shared, workers=workers, client=client, record=record, label=label)
    return [out[k] for k in range(len(draws))]


def _cumulative(w: np.ndarray) -> np.ndarray:
    cw = np.cumsum(w)
    return cw / cw[-1]


def strict_mean(xs: list) -> float:
    """The mean of ``xs``; NaN if any is None or not finite."""
    total = 0.0
    for x in xs:
        x = float(x) if x is not None else math.nan
        if not math.isfinite(x):
            return math.nan
        total += x
    return total / len(xs)


def _eps_text(eps: float) -> str:
    return "none (prior)" if not math.isfinite(eps) else f"{eps:.4g}"


def _nan_text(by: dict) -> str:
    return ", ".join(f"{k} {v}x" for k, v in by.items()) or "none"
