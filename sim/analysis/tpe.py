"""Optuna's TPE sampler asked and told in fixed batches: a search that is the same serially, on local processes
and on a Dask cluster, and that a resume replays exactly.

The optimiser (:mod:`sim.optimise.search`) and calibration's point-estimate mode (:mod:`sim.calibration.point`)
both search this way:

* the sampler is seeded in the parent (multivariate TPE with the constant liar, so the trials of one batch spread
  out), and ``n_startup`` random trials start it;
* ``batch`` trials are asked at a time (a setting, not the worker count), ``evaluate`` runs the whole batch (in any
  order, on any executor; a resume reads stored runs back) and returns one value per trial, and the values are told
  back *in trial order*; a non-finite value is told as a failed trial;
* so the sequence of trials depends only on the seed, the batch size and the values, never on which run finished
  first: replaying the told values from a store regenerates the same trials.

Optuna is imported here on demand; without it :func:`batched_tpe` raises ImportError (the callers say how to
install it).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["batched_tpe", "default_startup"]


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
