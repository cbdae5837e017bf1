"""Configuration: the parameter schema, scenario loading and validation, the TOML template and
the preset scenarios (shipped as package data)."""

from sim.config.scenario import DEFAULT_SCENARIO, Scenario, ScenarioError, load_scenario

__all__ = ["DEFAULT_SCENARIO", "Scenario", "ScenarioError", "load_scenario"]
