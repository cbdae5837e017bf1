"""What the targets say about the parameters at a point estimate: slopes, identification, ridges and a Laplace posterior.

A point search (:mod:`sim.calibration.point`) finds where the model comes closest to the targets, not how sure that
point is. This module measures the targets' local slopes there and reads three things off them:

* **which target pins which parameter**: each parameter is moved by ``step`` of its prior's width (on the
  transformed scale) down and up from the point, every move on the search's own seeds (common random numbers, so
  the difference is the parameter's effect, not the seeds'); the central difference of each target's z-score
  (``(sim - value) / sd``, the distance's terms) is the slope ``J[target, parameter]`` per prior width. The
  target with the largest ``|J|`` pins the parameter; the slope's standard error, from its spread over the
  replications, says whether the slope is more than the model's noise;
* **an approximate posterior** (Laplace: a Gaussian at the point): with the targets read as independent Gaussian
  observations (the distance's model) the log posterior near the point is ``-(1/2) |z0 + J du|^2`` plus the
  prior; each uniform prior is matched by a Gaussian of the same sd (``1 / sqrt(12)`` of its width), so the
  covariance is ``(J' J + 12 I)^-1``. A parameter no target moves keeps its prior's sd (ratio 1); one a target
  pins has a ratio well below it. The 90% interval is the point +- 1.645 sd on the transformed scale, clipped to
  the prior's bounds. It is local (it knows nothing of another mode far away) and rests on the pack's sds;
  method = "abc" samples the posterior instead;
* **ridges**: pairs of parameters whose Laplace correlation is at least ``RIDGE`` in size trade off: the
  targets fix a combination of them, not each one (singular values of ``J`` say how many directions are fixed).

Cost: 2 x parameters x replications runs (stored like the search's, kind ``local``, so a resume reruns none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.calibration.targets import Prior, Target

__all__ = ["STEP", "RIDGE", "IDENTIFIED_RATIO", "moves", "LocalFit", "local_fit"]

#: the move of each parameter, in units of its prior's width on the transformed scale (each side)
STEP = 0.05
#: |Laplace correlation| at or above which a pair of parameters is reported as a ridge (a trade-off)
RIDGE = 0.5
#: posterior sd / prior sd at or below which a parameter counts as identified (the ABC report's rule)
IDENTIFIED_RATIO = 0.5
_Z90 = 1.6448536269514722
_PRIOR_PRECISION = 12.0  # 1 / var of a uniform on a unit width


def _unit(p: Prior, natural: float) -> float:
    lo, hi = p.bounds
    return (p.transform(float(natural)) - lo) / (hi - lo)


def _natural(p: Prior, u: float) -> float | int:
    lo, hi = p.bounds
    return p.natural(lo + min(max(u, 0.0), 1.0) * (hi - lo))


def moves(priors: Sequence[Prior], point: Sequence[float], step: float = STEP) -> list[tuple[int, int, list, float]]:
    """The runs' points: for parameter ``i``, ``(i, side, values, du)`` with side 0 the move down and 1 the move up,
    ``values`` the natural values of every parameter and ``du`` the move in prior widths (clipped at a bound, so a
    point on a bound moves one way only: its other side is the point itself, du = 0)."""
    out = []
    u0 = [_unit(p, v) for p, v in zip(priors, point)]
    for i, p in enumerate(priors):
        for side, sign in ((0, -1.0), (1, 1.0)):
            u = min(max(u0[i] + sign * step, 0.0), 1.0)
            vals = list(point)
            vals[i] = _natural(p, u)
            out.append((i, side, vals, u - u0[i]))
    return out


def _z(targets: Sequence[Target], metrics: dict) -> np.ndarray:
    out = np.empty(len(targets))
    for k, t in enumerate(targets):
        v = metrics.get(t.metric)
        out[k] = t.z(float(v)) if v is not None else math.nan
    return out


@dataclass
class LocalFit:
    """The local analysis at a point: ``slopes`` (targets x parameters, z per prior width), ``slope_se`` (their
    standard errors over the replications), ``cov`` (the Laplace covariance in prior widths), and the tables."""

    priors: list[Prior]
    targets: list[Target]
    point: list
    slopes: np.ndarray
    slope_se: np.ndarray
    cov: np.ndarray
    step: float

    @property
    def sd_ratio(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov) * _PRIOR_PRECISION)

    @property
    def singular_values(self) -> np.ndarray:
        return np.linalg.svd(np.nan_to_num(self.slopes), compute_uv=False)

    def interval(self, i: int) -> tuple[float, float]:
        p, u0, sd = self.priors[i], _unit(self.priors[i], self.point[i]), math.sqrt(self.cov[i, i])
        return float(_natural(p, u0 - _Z90 * sd)), float(_natural(p, u0 + _Z90 * sd))

    def parameters(self) -> pd.DataFrame:
        """Per parameter: the Laplace sd ratio, identified or not, the 90% interval, and the target that pins it
        (largest |slope|), its slope, its share of the parameter's squared slopes and its slope / standard error."""
        rows = []
        J, se = np.nan_to_num(self.slopes), self.slope_se
        for i, p in enumerate(self.priors):
            col = np.abs(J[:, i])
            k = int(np.argmax(col))
            q05, q95 = self.interval(i)
            total = float((col ** 2).sum())
            rows.append({"parameter": p.path, "sd_ratio": float(self.sd_ratio[i]),
                         "identified": bool(self.sd_ratio[i] <= IDENTIFIED_RATIO), "q05": q05, "q95": q95,
                         "pinned_by": self.targets[k].name if total > 0 else "",
                         "slope": float(J[k, i]), "slope_share": float(col[k] ** 2 / total) if total > 0 else math.nan,
                         "slope_over_se": float(abs(J[k, i]) / se[k, i]) if se[k, i] > 0 else math.inf})
        return pd.DataFrame(rows)

    def slope_table(self) -> pd.DataFrame:
        """The slopes, one row per target, one column per parameter (z per prior width)."""
        return pd.DataFrame(self.slopes, index=[t.name for t in self.targets],
                            columns=[p.path for p in self.priors]).rename_axis("target").reset_index()

    def ridges(self) -> pd.DataFrame:
        """Pairs of parameters whose Laplace correlation is at least ``RIDGE`` in size, the strongest first."""
        sd = np.sqrt(np.diag(self.cov))
        corr = self.cov / np.outer(sd, sd)
        rows = [{"parameter_a": self.priors[a].path, "parameter_b": self.priors[b].path, "correlation": float(corr[a, b])}
                for a in range(len(self.priors)) for b in range(a + 1, len(self.priors)) if abs(corr[a, b]) >= RIDGE]
        return pd.DataFrame(rows, columns=["parameter_a", "parameter_b", "correlation"]).sort_values(
            "correlation", key=np.abs, ascending=False, ignore_index=True)

    def sentence(self) -> str:
        tab = self.parameters()
        ident = tab[tab["identified"]]["parameter"].tolist()
        loose = tab[tab["sd_ratio"] > 0.9]["parameter"].tolist()
        sv = self.singular_values
        text = (f"Locally (Laplace, slopes from moves of {self.step:g} of each prior's width on the search's seeds), "
                f"{len(ident)} of {len(tab)} free parameters are identified (posterior sd at most "
                f"{IDENTIFIED_RATIO:g} of the prior's)")
        text += f": {', '.join(ident)}" if ident else ""
        text += f"; no target constrains {', '.join(loose)}" if loose else ""
        r = self.ridges()
        if len(r):
            text += f"; {len(r)} pair(s) trade off (|correlation| >= {RIDGE:g}), the strongest {r.parameter_a[0]} and " \
                    f"{r.parameter_b[0]} ({r.correlation[0]:+.2f})"
        text += f". Singular values of the slopes: {', '.join(f'{v:.2g}' for v in sv)}."
        return text


def local_fit(priors: Sequence[Prior], targets: Sequence[Target], point: Sequence[float],
              runs: dict[tuple[int, int], list[dict]], step: float = STEP) -> LocalFit:
    """The analysis from the runs: ``runs[(i, side)]`` is the list of metrics of the replications (the same seeds,
    in order) at ``moves(...)``'s point of parameter ``i``, side 0 (down) or 1 (up). A target NaN on either side of
    every replication gives a slope of 0 for that parameter (it cannot say anything there)."""
    priors, targets = list(priors), list(targets)
    P, K = len(priors), len(targets)
    J, se = np.zeros((K, P)), np.zeros((K, P))
    du = {(i, s): d for i, s, _v, d in moves(priors, point, step)}
    for i in range(P):
        width = du[(i, 1)] - du[(i, 0)]
        if width <= 0:
            continue
        lo = np.array([_z(targets, m) for m in runs[(i, 0)]])
        hi = np.array([_z(targets, m) for m in runs[(i, 1)]])
        per_rep = (hi - lo) / width  # replications x targets, paired on seeds
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(np.where(np.isfinite(per_rep), per_rep, np.nan), axis=0) if per_rep.size else np.zeros(K)
            n = np.isfinite(per_rep).sum(axis=0)
            sd = np.nanstd(np.where(np.isfinite(per_rep), per_rep, np.nan), axis=0, ddof=1) if per_rep.shape[0] > 1 \
                else np.full(K, np.nan)
        J[:, i] = np.where(n > 0, np.nan_to_num(mean), 0.0)
        se[:, i] = np.where(n > 1, np.nan_to_num(sd) / np.sqrt(np.maximum(n, 1)), np.nan)
    cov = np.linalg.inv(J.T @ J + _PRIOR_PRECISION * np.eye(P))
    return LocalFit(priors=priors, targets=targets, point=list(point), slopes=J, slope_se=se, cov=cov, step=step)
