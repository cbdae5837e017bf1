"""The ``channelattribution`` package as a peer: its Markov and heuristic models on the same paths as ours.

Optional: the package builds from source and is not needed for a study. It prints a promotional banner from
its C++ core when imported and when it runs (a known nuisance of the package): both are silenced here, at the
level of the file descriptor.
"""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np
import pandas as pd

__all__ = ["load", "compare"]


@contextlib.contextmanager
def _silenced():
    fd = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)


def load():
    """The ChannelAttribution module, or None if it is not installed."""
    with _silenced():
        try:
            import ChannelAttribution as ca
        except ImportError:
            return None
    return ca


def compare(journeys: pd.DataFrame, names, nsim: float = 1e6, seed: int = 1) -> pd.DataFrame | None:
    """Our Markov, first, last and linear credit against the package's on one journey table; None without the
    package. ``max_step`` is lifted: by default the package truncates simulated journeys at the longest
    observed path, which biases removal effects when journeys loop."""
    from sim.attribution import methods as M

    ca = load()
    if ca is None or len(journeys) == 0 or journeys["conv"].sum() == 0:  # the package needs a conversion
        return None
    k = len(names)
    pt = M.path_table(journeys, names)
    with _silenced():
        mk = ca.markov_model(pt, "path", "total_conversions", var_null="total_null", verbose=False, flg_pro=False,
                             nsim_start=nsim, max_step=10_000, seed=seed)
        h = ca.heuristic_models(pt, "path", "total_conversions", flg_pro=False)
    theirs = h.set_index("channel_name").join(mk.set_index("channel_name")["total_conversions"].rename("markov"))
    rows = []
    for ours_name, their_col in (("markov", "markov"), ("first_touch", "first_touch"), ("last_touch", "last_touch"),
                                 ("linear", "linear_touch")):
        ours = M.METHODS[ours_name](journeys, k)
        for c, name in enumerate(names):
            if name in theirs.index or ours[c] > 0:
                t = float(theirs[their_col].get(name, 0.0))
                rows.append({"method": ours_name, "channel": name, "ours": float(ours[c]), "channelattribution": t,
                             "relative_difference": abs(ours[c] - t) / t if t > 0 else (0.0 if ours[c] == 0 else np.inf)})
    return pd.DataFrame(rows)
