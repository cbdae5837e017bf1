"""buyer-journey-sim: an agent-based simulator of B2B buyer journeys.

Researchers script against these names::

    import sim
    scen = sim.load_scenario("scenarios/default.toml").with_overrides({"market.n_accounts": 5000})
    res = sim.run(scen, "content_nurture", seed=1)
    res.summary["cac"], res.timeseries.head()
"""

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
