"""The components declare themselves, and everything is assembled from the declarations: the schema,
the metric registry, the state columns and the day's schedule."""

from __future__ import annotations

import pytest

import sim
from sim.config.parameters import SCHEMA, leaves
from sim.engine.components import MECHANISMS, components
from sim.engine.declare import P
from sim.engine.metrics import daily_metrics, metric
from sim.engine.schedule import declared_steps, plan
from sim.engine.summary import SUMMARY_METRICS

SMALL = {"market.n_accounts": 150, "scenario.horizon_days": 30, "scenario.warmup_days": 0, "channels.campaigns.burst_days": [5]}


def _section(path: str) -> dict:
    node = SCHEMA
    for part in path.split("."):
        node = node[part]
    return node


def test_schema_is_the_components_declarations():
    """Every component's PARAMS is, object for object, its section of the schema; nothing else is in it
    but [scenario], [competitors] and [policy] (declared by decision and sales beside their PARAMS)."""
    for comp in components():
        assert _section(comp.SECTION) is comp.PARAMS, comp.__name__
    covered = {comp.SECTION.split(".")[0] for comp in components()} | {"scenario", "market", "network",
                                                                        "competitors", "policy"}
    assert set(SCHEMA) == covered


def test_every_parameter_has_a_source_and_numbers_a_unit():
    for path, p in leaves():
        assert isinstance(p, P)
        assert p.source.strip(), f"{path} has no source"
        if p.kind in ("int", "float", "list[int]") and not path.startswith("scenario."):
            assert p.unit.strip(), f"{path} has no unit"


def test_every_column_of_a_run_is_declared_and_always_there():
    """Two strategies that use different channels produce exactly the declared columns (plus cum_*)."""
    cols = set()
    for strategy in ("cold_calling", "content_nurture"):
        ts = sim.run(sim.load_scenario(), strategy, 1, overrides=SMALL).timeseries
        new = set(ts.columns)
        assert not cols or new == cols
        cols = new
    declared = set(daily_metrics())
    assert cols == {"day"} | declared | {"cum_" + k[4:] for k in declared if k.startswith("new_")}
    for name in cols - {"day"}:
        assert metric(name).label


def test_a_misspelt_metric_raises():
    m = sim.JourneyModel(overrides=SMALL)
    with pytest.raises(KeyError, match="unknown metric 'new_leadz'"):
        m.metrics.add("new_leadz", 1)
    with pytest.raises(KeyError):
        metric("no_such_metric")


def test_summary_registry_matches_the_summary():
    s = sim.run(sim.load_scenario(), "blended", 1, overrides=SMALL).summary
    assert list(s) == list(SUMMARY_METRICS)
    for m in SUMMARY_METRICS.values():
        assert m.better in ("max", "min", "") and m.fmt and m.label


def test_declared_state_columns_are_allocated():
    m = sim.JourneyModel(overrides=SMALL)
    seen = set()
    for comp in components():
        for col in getattr(comp, "STATE", ()):
            assert col.name not in seen, f"{col.name} declared twice"
            seen.add(col.name)
            arr = getattr(m.pop, col.name)
            assert arr.dtype.name == col.dtype
            assert arr.shape == ((m.pop.n,) if col.per == "buyer" else (m.pop.n_accounts,))


def test_the_model_runs_the_printed_schedule_in_order():
    """The schedule has one step per declaration, in ascending order; the model calls exactly those, in
    that order, every day; the printed plan lists them in the same order."""
    steps = declared_steps()
    orders = [s.order for s in steps]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert {s.name for s in steps} >= {m.STEPS[0].name for m in MECHANISMS}
    text = plan()
    positions = [text.index(f" {s.name} ") for s in steps]
    assert positions == sorted(positions)

    m = sim.JourneyModel(overrides=SMALL)
    called = []
    m.schedule = [(s, (lambda fn, name: (lambda model: (called.append(name), fn(model))))(fn, s.name))
                  for s, fn in m.schedule]
    m.step()
    m.step()
    names = [s.name for s in steps]
    assert called == names + names


def test_a_channel_left_out_has_no_step():
    m = sim.JourneyModel(overrides=SMALL, without_channels=("email",))
    assert "email" not in m.channels and "email" not in [s.name for s, _ in m.schedule]


def test_schema_sections_come_from_declarations_and_a_stray_section_fails(monkeypatch):
    """The decision and sales mechanisms declare their second sections (competitors, policy) themselves; a
    section a component declares but the presentation order does not list stops the schema's assembly."""
    from sim.config import parameters
    from sim.engine.declare import sections
    from sim.engine.mechanisms import decision, sales

    assert SCHEMA["competitors"] is sections(decision)["competitors"] is decision.COMPETITOR_PARAMS
    assert SCHEMA["policy"] is sections(sales)["policy"] is sales.POLICY_PARAMS
    assert list(SCHEMA) == list(parameters.SECTION_ORDER)
    monkeypatch.setattr(decision, "EXTRA_SECTIONS", {**decision.EXTRA_SECTIONS, "rivals": {"x": P(1.0, "float")}})
    with pytest.raises(ValueError, match="rivals"):
        parameters._assemble()
    monkeypatch.undo()
    monkeypatch.setattr(sales, "EXTRA_SECTIONS", {**sales.EXTRA_SECTIONS, "competitors": {}})  # decision has it
    with pytest.raises(ValueError, match="declared twice"):
        parameters._assemble()
