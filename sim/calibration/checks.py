"""What a calibration's runs carry and how they are checked against the targets: :data:`SAMPLES_KEY` (the engine
samples a run keeps for the pooled metrics), :func:`sample_keys` (which ones) and :func:`checks_table` (each target
and holdout, observed against the runs). Shared by :mod:`sim.calibration.fit` (ABC-SMC) and
:mod:`sim.calibration.point` (the point estimate); it imports neither.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.calibration.targets import Targets

__all__ = ["SAMPLES_KEY", "checks_table", "sample_keys"]


#: The key under which a run's metrics carry the engine samples a pooled metric needs (not a metric itself).
SAMPLES_KEY = "_samples"


def sample_keys(spec: Targets) -> tuple[str, ...]:
    """The engine samples the predictive runs must keep: those of the pooled metrics among the checks."""
    from sim.analysis.pooled import pooled

    keys: list[str] = []
    for t in [*spec.targets, *spec.holdouts]:
        pm = pooled(t.metric)
        if pm is not None:
            keys += [k for k in pm.samples if k not in keys]
    return tuple(keys)


def checks_table(spec: Targets, pred: pd.DataFrame, samples: list | None = None, level: float = 0.90) -> pd.DataFrame:
    """Each target and holdout of ``spec``: observed against the runs ``pred`` (one row per run: the
    posterior-predictive draws, or the runs at a point estimate on fresh seeds): their median and ``level``
    interval; ``inside`` when the observed value (a range: any of it) lies in the interval. A pooled metric
    (:mod:`sim.analysis.pooled`, e.g. ``referral_ltv_premium``) is estimated once from the runs' engine
    ``samples`` (one dict per run) and its interval is a bootstrap over the runs."""
    from sim.analysis.pooled import NotEstimable, pooled

    rows = []
    a = (1 - level) / 2
    for t in [*spec.targets, *spec.holdouts]:
        row = {"name": t.name, "role": t.role, "metric": t.metric, "observed": t.observed(), "value": t.value,
               "sd": t.sd, "low": t.low, "high": t.high, "source": t.source}
        pm = pooled(t.metric)
        q = None
        if pm is not None and len(pred):
            row["draws"] = len(pred)
            if samples is None or any(s is None for s in samples):
                row["status"] = "the runs kept no engine samples (made by an older version): run them again"
            else:
                try:
                    est, lo, hi, how = pm.estimate(samples, level)
                    q = (lo, est, hi)
                    row["status"] = f"ok: {how}"
                except NotEstimable as exc:
                    row["status"] = f"not estimable: {exc}"
        elif len(pred) and t.metric in pred.columns:
            x = pd.to_numeric(pred[t.metric], errors="coerce").to_numpy(dtype=float)
            ok = x[np.isfinite(x)]
            row["draws"] = int(ok.size)
            if ok.size:
                q = tuple(np.quantile(ok, [a, 0.5, 1 - a]))
            row["status"] = "ok" if ok.size else "NaN in every draw"
        else:
            row["draws"] = 0
            row["status"] = "no posterior-predictive draws" if not len(pred) else "metric not emitted by the engine"
        if q is not None and all(math.isfinite(v) for v in q):
            q05, q50, q95 = q
            row.update(sim_median=q50, sim_q05=q05, sim_q95=q95)
            if t.value is not None:
                row["inside"] = bool(q05 <= t.value <= q95)
            else:
                row["inside"] = bool(q05 <= t.high and q95 >= t.low)
            row["z_median"] = t.z(float(q50))
        elif q is not None:
            row.update(sim_median=q[1])
            row["status"] += " (no interval: too few runs)"
        rows.append(row)
    cols = ["name", "role", "metric", "observed", "value", "sd", "low", "high", "sim_median", "sim_q05", "sim_q95",
            "inside", "z_median", "draws", "status", "source"]
    return pd.DataFrame(rows).reindex(columns=cols)
