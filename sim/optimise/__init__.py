"""Optimisation: search channel budgets and the reps' time for the best go-to-market plan, confirm it on fresh
seeds, and draw each channel's response curve (what the next dollar buys).

    import sim.optimise as opt
    result = opt.optimise("scenarios/default.toml", objective="profit", trials=100, replications=5, workers=2)
    result.best, result.confirmation, result.marginal
    result.write("my_folder")   # recommended.toml, trials.csv, mix.csv, confirmation.csv, curves.csv, report.html ...

Modules: :mod:`~sim.optimise.space` (the decision space: budgets and rep time on simplices, constraints),
:mod:`~sim.optimise.search` (:func:`optimise`: search, confirmation, response curves),
:mod:`~sim.optimise.store` (the resumable SQLite store), :mod:`~sim.optimise.report` (outputs).
"""

from sim.optimise.search import (
    Optimisation,
    Problem,
    Settings,
    make_problem,
    objective_values,
    optimise,
)
from sim.optimise.space import (
    OBJECTIVE_LABELS,
    OBJECTIVES,
    RECOMMENDED,
    Constraints,
    Space,
    fill,
    load_constraints,
    simplex_coords,
    simplex_point,
)
from sim.optimise.store import OptimisationStore, load_runs

#: American spelling, as the command (``run.py optimize``).
optimize = optimise

__all__ = [
    "OBJECTIVES",
    "OBJECTIVE_LABELS",
    "RECOMMENDED",
    "Constraints",
    "Optimisation",
    "OptimisationStore",
    "Problem",
    "Settings",
    "Space",
    "fill",
    "load_constraints",
    "load_runs",
    "make_problem",
    "objective_values",
    "optimise",
    "optimize",
    "simplex_coords",
    "simplex_point",
]
