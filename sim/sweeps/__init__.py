"""Parameter sweeps: designs (grid, random, LHS, Sobol, Morris), running them through the
resumable store, sensitivity indices and the sweep report.

``sim.sweep`` is the one-call function; this package holds the rest (``Sweep``,
``design_points``, ``sobol_indices``, ``morris_indices``, ``load_sweep_file``, ...).
"""

from sim.sweeps.design import (
    DEFAULT_METRICS,
    DESIGNS,
    METRICS,
    Choice,
    Design,
    Dist,
    LogUniform,
    Sweep,
    Uniform,
    connect,
    design_points,
    load_sweep,
    load_sweep_file,
    morris_indices,
    sobol_indices,
    sweep,
)

__all__ = [
    "DEFAULT_METRICS", "DESIGNS", "METRICS", "Choice", "Design", "Dist", "LogUniform", "Sweep", "Uniform", "connect",
    "design_points", "load_sweep", "load_sweep_file", "morris_indices", "sobol_indices", "sweep",
]
