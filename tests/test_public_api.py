"""The package's public names: every capability one call away from ``import sim``, and ``import sim`` still light."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from interpreter_helpers import in_fresh_interpreter

import sim

ROOT = Path(__file__).resolve().parent.parent

#: what ``import sim`` must not load: the capabilities' heavy dependencies and the capabilities themselves
NOT_AT_IMPORT = ("optuna", "cmaes", "matplotlib", "dask", "distributed", "sim.calibration", "sim.optimise",
                 "sim.validation", "sim.attribution", "sim.app")


def test_import_sim_loads_no_capability_until_it_is_used():
    out = in_fresh_interpreter("import sys\n"
                               "import sim\n"
                               "before = sorted(sys.modules)\n"
                               "sim.calibrate\n"
                               "result = {'before': before, 'after': sorted(sys.modules)}\n", cwd=ROOT)

    def loaded(mods, name):
        return [m for m in mods if m == name or m.startswith(name + ".")]

    assert not [m for name in NOT_AT_IMPORT for m in loaded(out["before"], name)]
    assert loaded(out["after"], "sim.calibration"), "sim.calibrate did not load sim.calibration"


@pytest.mark.parametrize("name, module, attr", [
    ("compare", "sim.analysis.experiment", "run_many"),
    ("Experiment", "sim.analysis.experiment", "Experiment"),
    ("calibrate", "sim.calibration", "calibrate"),
    ("load_posterior", "sim.calibration.posterior", "load_posterior"),
    ("validate", "sim.validation", "run_checks"),
    ("attribute", "sim.attribution", "attribution"),
    ("sweep", "sim.sweeps", "sweep"),
    ("run", "sim.engine.model", "run"),
])
def test_each_top_level_name_is_the_function_documented_where_it_lives(name, module, attr):
    import importlib

    assert getattr(sim, name) is getattr(importlib.import_module(module), attr)
    assert name in sim.__all__ and name in dir(sim)


def test_subpackages_are_attributes_and_the_optimiser_is_one_call_away():
    from sim.optimise.search import optimise

    assert sim.optimise.optimise is optimise
    for name in ("analysis", "attribution", "calibration", "optimise", "sweeps", "validation"):
        assert getattr(sim, name).__name__ == f"sim.{name}"


def test_every_name_in_all_resolves_and_an_unknown_one_says_so():
    for name in sim.__all__:
        assert getattr(sim, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'compair'"):
        sim.compair  # noqa: B018


def test_compare_runs_the_main_job_in_one_call(small):
    e = sim.compare(small, strategies=["blended", "cold_calling"], reps=2, workers=1, progress=False)
    assert isinstance(e, sim.Experiment)
    assert sorted(e.summary["strategy"].unique()) == ["blended", "cold_calling"]
    assert list(e.summary.loc[e.summary["strategy"] == "blended", "seed"]) == [1, 2]
    one = sim.run(small, "blended", seed=2).summary["customers_won"]
    row = e.summary[(e.summary["strategy"] == "blended") & (e.summary["seed"] == 2)]
    assert row["customers_won"].item() == one  # the same numbers as a single run


def test_a_preset_is_reachable_by_its_name():
    """sim.run, sim.run_batch and sim.load_scenario take a preset's name as the command line does; a name that
    is neither a file nor a preset is one error listing the presets."""
    by_name = sim.run("enterprise", "blended", seed=1)
    by_path = sim.run(sim.load_scenario(Path(sim.__file__).resolve().parents[1] / "scenarios" / "enterprise.toml"),
                      "blended", seed=1)
    assert json.dumps(by_name.summary) == json.dumps(by_path.summary)  # (NaN == NaN as text)
    assert sim.load_scenario("self_service").name == sim.load_scenario(
        Path(sim.__file__).resolve().parents[1] / "scenarios" / "self_service.toml").name
    with pytest.raises(sim.ScenarioError, match="not a preset's name .*default.*enterprise"):
        sim.run_batch("nonesuch", "blended", seeds=[1])
