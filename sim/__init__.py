"""buyer-journey-sim: an agent-based simulator of B2B buyer journeys.

Researchers script against these names::

    import sim
    scen = sim.load_scenario("scenarios/default.toml").with_overrides({"market.n_accounts": 5000})
    res = sim.run(scen, "content_nurture", seed=1)
    res.summary["cac"], res.timeseries.head()

Every capability is one call away from ``import sim`` (each loads its own dependencies, such as Optuna or
matplotlib, only when first used)::

    sim.compare(scen, reps=5, workers=1)                  # the main job: strategies side by side (an Experiment)
    sim.sweep(...)                                        # a parameter sweep (sim.sweeps)
    sim.calibrate("scenarios/calibration/quick.toml")     # fit to targets (sim.calibration)
    sim.validate(fast=True)                               # the validation suite, one row per check (sim.validation)
    sim.attribute(scen, "blended", reps=4)                # attribution against the truth (sim.attribution)
    sim.optimise.optimise(scen, budget=400_000)           # the optimiser (sim.optimise: the subpackage has the name)

Each is the function documented where it lives (``sim.compare`` is ``sim.analysis.experiment.run_many``,
``sim.calibrate`` ``sim.calibration.calibrate``, ``sim.validate`` ``sim.validation.run_checks``, ``sim.attribute``
``sim.attribution.attribution``). The optimiser keeps its subpackage's name, as a function cannot share a name
with a subpackage; the subpackages themselves are reachable as attributes too (``sim.calibration``, ...).
"""

import importlib

from sim.config.scenario import Scenario, ScenarioError, load_scenario
from sim.engine.metrics import COST_CHANNELS
from sim.engine.model import JourneyModel, RunResult, run, run_batch
from sim.engine.state import SOURCES, STAGES

# The sweep module is sim.sweeps; sim.sweep is its one-call function (a module of the same name would shadow it).
from sim.sweeps.design import Choice, LogUniform, Sweep, Uniform, load_sweep_file, sweep
from sim.sweeps.store import load_sweep

__all__ = [
    "JourneyModel", "RunResult", "run", "run_batch", "load_scenario", "Scenario", "ScenarioError",
    "SOURCES", "STAGES", "COST_CHANNELS",
    "sweep", "Uniform", "LogUniform", "Choice", "Sweep", "load_sweep", "load_sweep_file",
]
__version__ = "0.1.0"

#: capabilities loaded on first use: name -> (module, attribute); ``import sim`` stays light (tests/test_public_api.py)
_LAZY = {
    "compare": ("sim.analysis.experiment", "run_many"),
    "Experiment": ("sim.analysis.experiment", "Experiment"),
    "calibrate": ("sim.calibration", "calibrate"),
    "load_posterior": ("sim.calibration.posterior", "load_posterior"),
    "validate": ("sim.validation", "run_checks"),
    "attribute": ("sim.attribution", "attribution"),
}
_SUBPACKAGES = ("analysis", "app", "attribution", "calibration", "cli", "config", "crm", "engine", "optimise", "sweeps",
                "validation")
__all__ += list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # once: later lookups do not come here
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"sim.{name}")
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))
