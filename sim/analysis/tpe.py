"""Black-box searches asked and told in fixed batches (Optuna's TPE sampler; CMA-ES from the ``cmaes`` package): a
search that is the same serially, on local processes and on a Dask cluster, and that a resume replays exactly.

The optimiser (:mod:`sim.optimise.search`) and calibration's point-estimate mode (:mod:`sim.calibration.point`)
both search this way:

* the sampler is seeded in the parent (multivariate TPE with the constant liar, so the trials of one batch spread
  out), and ``n_startup`` random trials start it;
* ``batch`` trials are asked at a time (a setting, not the worker count), ``evaluate`` runs the whole batch (in any
  order, on any executor; a resume reads stored runs back) and returns one value per trial, and the values are told
  back *in trial order*; a non-finite value is told as a failed trial;
* so the sequence of trials depends only on the seed, the batch size and the values, never on which run finished
  first: replaying the told values from a store regenerates the same trials.

:func:`batched_cma` follows the same contract with CMA-ES (Hansen's covariance matrix adaptation, from ``cmaes``, the
library behind Optuna's own CmaEsSampler): a local search around a start point, one generation of ``batch`` trials at
a time, for a noisy objective near a known good point where TPE's global model needs far more trials than a
calibration can afford in ten dimensions.

Optuna and cmaes are imported here on demand; without them :func:`batched_tpe` / :func:`batched_cma` raise
ImportError (the callers say how to install them).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["batched_cma", "batched_tpe", "default_startup"]


def default_startup(trials: int) -> int:
    """Random trials before TPE models the results: min(10, max(2, trials / 4))."""
    return min(10, max(2, trials // 4))


def batched_tpe(bounds: Mapping[str, tuple[float, float]], trials: int, batch: int, seed: int,
                evaluate: Callable[[list[tuple[int, dict[str, float]]]], Sequence[float]], *,
                direction: str = "minimize", enqueue: Sequence[Mapping[str, float]] = (),
                n_startup: int | None = None) -> list[tuple[int, dict[str, float], float]]:
    """Search the box ``bounds`` (name -> (low, high)) with ``trials`` TPE trials, ``batch`` at a time, the
    sampler seeded with ``seed``; ``enqueue``: points to try first. ``evaluate([(trial number, params), ...])``
    returns the batch's values in the same order. Returns (trial number, params, value) for every trial, in
    trial order."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature warnings (multivariate, constant liar)
        sampler = optuna.samplers.TPESampler(seed=int(seed), multivariate=True, constant_liar=True,
                                             n_startup_trials=default_startup(trials) if n_startup is None
                                             else n_startup, warn_independent_sampling=False)
        study = optuna.create_study(direction=direction, sampler=sampler)
    dists = {n: optuna.distributions.FloatDistribution(float(lo), float(hi)) for n, (lo, hi) in bounds.items()}
    for point in enqueue:
        study.enqueue_trial({k: float(v) for k, v in point.items()})
    out: list[tuple[int, dict[str, float], float]] = []
    for start in range(0, trials, batch):
        size = min(batch, trials - start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            asked: list[Any] = [study.ask(dists) for _ in range(size)]
        values = list(evaluate([(t.number, dict(t.params)) for t in asked]))
        for t, value in zip(asked, values):
            value = float(value)
            if math.isfinite(value):
                study.tell(t, value)
            else:
                study.tell(t, state=optuna.trial.TrialState.FAIL)
            out.append((t.number, dict(t.params), value))
    return out


#: the value told to CMA-ES for a failed trial (a non-finite value): CMA-ES ranks the values of a generation, so any
#: number above every real distance ranks the failure last
_FAILED = 1e300


def batched_cma(bounds: Mapping[str, tuple[float, float]], trials: int, batch: int, seed: int,
                evaluate: Callable[[list[tuple[int, dict[str, float]]]], Sequence[float]], *,
                start: Mapping[str, float] | None = None, sigma: float = 1.0 / 6.0) -> list[tuple[int, dict[str, float],
                                                                                            float]]:
    """Search the box ``bounds`` with CMA-ES: ``trials`` trials in generations of ``batch`` (the population size;
    at least 2), the strategy seeded with ``seed``, its mean at ``start`` (name -> value inside the box; default the
    box's centre) and its initial step ``sigma`` in units of each coordinate's width (the box is searched scaled to
    the unit cube, so every coordinate moves on the same scale). ``evaluate`` as for :func:`batched_tpe`. A
    non-finite value is a failed trial, ranked last in its generation. Returns (trial number, params, value) for
    every trial, in trial order."""
    import numpy as np
    from cmaes import CMA

    if batch < 2:
        raise ValueError(f"CMA-ES needs a population (batch) of at least 2, got {batch}")
    names = list(bounds)
    lo = np.array([float(bounds[n][0]) for n in names])
    width = np.array([float(bounds[n][1]) - float(bounds[n][0]) for n in names])
    mean = np.full(len(names), 0.5)
    if start is not None:
        mean = np.array([(float(start[n]) - lo[i]) / width[i] for i, n in enumerate(names)])
        if not np.all((mean >= 0.0) & (mean <= 1.0)):
            raise ValueError(f"the start point {dict(start)} lies outside the box {dict(bounds)}")
    unit = np.tile(np.array([[0.0, 1.0]]), (len(names), 1))
    # cmaes' CMA needs at least two coordinates; one free parameter gets a dummy second one that nothing reads
    dims = max(len(names), 2)
    if dims > len(names):
        mean, unit = np.append(mean, 0.5), np.vstack([unit, [0.0, 1.0]])
    opt = CMA(mean=mean, sigma=float(sigma), bounds=unit, seed=int(seed) % (2 ** 32), population_size=int(batch))
    out: list[tuple[int, dict[str, float], float]] = []
    number = 0
    while number < trials:
        size = min(batch, trials - number)
        xs = [opt.ask() for _ in range(batch)]  # a whole generation, even when the budget ends inside it
        asked = [(number + k, {n: float(lo[i] + width[i] * x[i]) for i, n in enumerate(names)})
                 for k, x in enumerate(xs[:size])]
        values = [float(v) for v in evaluate(asked)]
        for (num, params), value in zip(asked, values):
            out.append((num, params, value))
        number += size
        if size == batch:
            opt.tell([(x, v if math.isfinite(v) else _FAILED) for x, v in zip(xs, values)])
    return out
