"""A calibration's posterior, carried into decisions: one parameter set per replication.

``run.py run SCENARIO --posterior posterior.csv`` (or ``run_many(..., parameter_draws=...)``) runs
replication *i* of every strategy with the same draw *i* from the posterior, so the comparison's
intervals include what the data do not pin down, and strategies stay paired (common random numbers
and common parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.config.parameters import P, lookup
from sim.config.scenario import ScenarioError

__all__ = ["Posterior", "load_posterior"]

_DRAW_STREAM = 0x706F7374  # "post": draws are keyed by (seed, this, replication count)


@dataclass(frozen=True)
class Posterior:
    """A weighted sample of parameter sets: ``values[i, j]`` is particle i's value of ``paths[j]``."""

    paths: tuple[str, ...]
    values: np.ndarray
    weights: np.ndarray
    source: str = ""

    def draws(self, n: int, seed: int) -> list[dict]:
        """``n`` parameter sets drawn by weight (with replacement), the same for the same ``seed`` and ``n``;
        each is ``{"dotted.path": value}`` for ``Scenario.with_overrides``."""
        rng = np.random.default_rng([int(seed), _DRAW_STREAM, int(n)])
        rows = rng.choice(len(self.values), size=int(n), p=self.weights)
        return [{p: _plain(self.values[r, j], p) for j, p in enumerate(self.paths)} for r in rows]


def _plain(v: float, path: str):
    spec = lookup(path)
    return int(round(v)) if isinstance(spec, P) and spec.kind == "int" else float(v)


def load_posterior(path: str | Path) -> Posterior:
    """Read a calibration's ``posterior.csv``: its parameter columns (every column that is a scenario
    parameter path) and its ``weight`` column. One clear ScenarioError for a file that is not one."""
    where = str(path)
    p = Path(path).expanduser()
    if not p.is_file():
        raise ScenarioError(where, None, "posterior file not found" if not p.exists() else "is not a file")
    try:
        df = pd.read_csv(p)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line
        raise ScenarioError(where, None, f"not a readable CSV file ({type(exc).__name__}: {exc})") from None
    paths = tuple(c for c in df.columns if isinstance(lookup(c), P))
    if not paths:
        raise ScenarioError(where, None, "has no parameter columns: expected a calibration's posterior.csv "
                                         "(columns named by parameter paths, e.g. need.fade_rate, and weight)")
    if "weight" not in df.columns:
        raise ScenarioError(where, "weight", "column missing: expected a calibration's posterior.csv")
    values = df[list(paths)].to_numpy(dtype=float)
    w = df["weight"].to_numpy(dtype=float)
    if len(df) == 0 or not np.all(np.isfinite(values)) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ScenarioError(where, "weight", "needs at least one row, finite parameter values and non-negative "
                                             "weights that sum to more than 0")
    for j, c in enumerate(paths):
        spec = lookup(c)
        lo, hi = spec.lo, spec.hi
        bad = (lo is not None and (values[:, j] < lo).any()) or (hi is not None and (values[:, j] > hi).any())
        if bad:
            raise ScenarioError(where, c, f"values outside the parameter's range ({spec.allowed()})")
    return Posterior(paths, values, w / w.sum(), source=where)
