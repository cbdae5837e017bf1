"""The parameter schema, assembled from the components' own declarations.

Every mechanism and channel declares its parameters next to its code (``PARAMS``: default, type,
allowed range, unit and source; see ``sim.engine.declare``); this module puts them together in
the scenario's section order. Only the ``[scenario]`` section is declared here.

A scenario file (TOML) overrides any of these; anything it leaves out takes the default
below. Strategies overlay only the sections in ``STRATEGY_SECTIONS`` (what a go-to-market
team decides: channel budgets, rep time, policies); the market is the same for all.

Numbers are defaults and calibration targets, not constants hard-wired in the mechanisms.
Sources are named where a number comes from published work; "assumption" marks a modelling
choice to be calibrated (see the validation suite).
"""

from __future__ import annotations

from typing import Any

from sim.engine import network, state
from sim.engine.channels import CHANNELS
from sim.engine.components import components
from sim.engine.declare import P, sections
from sim.engine.mechanisms.sales import REP_ACTIVITIES
from sim.engine.state import SEGMENTS

__all__ = ["P", "SCHEMA", "STRATEGY_SECTIONS", "CHANNELS", "REP_ACTIVITIES", "SEGMENTS", "lookup", "defaults", "leaves"]

SCENARIO_PARAMS = {
    "name": P("default", "str", doc="short name, used for the results folder"),
    "description": P("", "str", doc="one paragraph for the report"),
    "horizon_days": P(365, "int", 1, 3650, "days measured: the results cover these days", "one budget year"),
    "warmup_days": P(0, "int", 0, 3650, "days simulated before the measured horizon under the same strategy; "
                     "nothing in them is counted (a CRM's year holds deals that started the year before)",
                     "assumption: a run-in long enough for the longest sales cycles (see README, Calibration)"),
}

#: The order of the sections in the schema and the TOML template (presentation only: what each section
#: holds comes from the component that declares it, and every declared section must be listed here).
SECTION_ORDER = ("scenario", "market", "network", "need", "research", "competitors", "decision", "word_of_mouth",
                 "channels", "sales", "policy", "diffusion", "after_sale")


def _assemble() -> dict[str, Any]:
    declared: dict[str, Any] = {"scenario": SCENARIO_PARAMS}
    for module in (state, network, *components()):
        for name, params in sections(module).items():
            top, _, sub = name.partition(".")
            node = declared.setdefault(top, {}) if sub else declared
            key = sub or top
            if key in node:
                raise ValueError(f"parameter section {name!r} is declared twice (again by {module.__name__})")
            node[key] = params
    if set(declared) != set(SECTION_ORDER):
        raise ValueError(f"sections declared but not ordered, or ordered but not declared: "
                         f"{sorted(set(declared) ^ set(SECTION_ORDER))}")
    declared["channels"] = {name: declared["channels"][name] for name in CHANNELS}
    return {name: declared[name] for name in SECTION_ORDER}


#: The schema, section by section, in the order of the TOML template.
SCHEMA: dict[str, Any] = _assemble()

# Sections a strategy may overlay: decisions of the go-to-market team, not facts of the market.
STRATEGY_SECTIONS = ("channels", "sales", "policy")



def lookup(path: str, tree: dict | None = None) -> Any:
    """The schema node at a dotted path (or, given ``tree``, its value there: a scenario's config dict), or None."""
    node: Any = SCHEMA if tree is None else tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def defaults(node: dict | None = None) -> dict:
    """The nested dict of default values."""
    node = SCHEMA if node is None else node
    return {k: (defaults(v) if isinstance(v, dict) else _copy(v.default)) for k, v in node.items()}


def _copy(v):
    return list(v) if isinstance(v, list) else v


def leaves(node: dict | None = None, prefix: str = ""):
    """Yield (dotted path, P) for every parameter."""
    node = SCHEMA if node is None else node
    for k, v in node.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from leaves(v, path + ".")
        else:
            yield path, v
