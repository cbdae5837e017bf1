"""The page's fields: a scenario as the fields the page edits, the edited fields back as a validated scenario
(every value checked by the scenario schema, :meth:`Scenario.with_overrides`), and a scenario as TOML.

Field keys are the scenario's own parameter paths: ``market.n_accounts`` for the market, and
``strategies.<name>.channels.content.budget`` for what one strategy decides, so an error of the schema
(:class:`sim.ScenarioError`, whose ``key`` is that path) lands beside the field that caused it.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.config.parameters import CHANNELS, REP_ACTIVITIES, SEGMENTS, P, lookup
from sim.config.presets import preset, preset_names, presets_dir
from sim.config.scenario import Scenario, ScenarioError, load_scenario

#: The market fields of the page: (parameter path, label).
MARKET_FIELDS = (
    ("scenario.horizon_days", "Horizon (days measured)"),
    ("scenario.warmup_days", "Warm-up (days, not counted)"),
    ("market.n_accounts", "Accounts in the market"),
    *((f"market.segments.{s}.share", f"Share of {s if s != 'smb' else 'SMB'} accounts") for s in SEGMENTS),
    ("research.search_intensity", "Search demand (daily chance an exploring buyer searches)"),
    ("channels.campaigns.burst_days", "Campaign burst days (within the horizon)"),
)

CHANNEL_LABELS = {"content": "Content", "email": "Email nurture", "cold_calling": "Cold calling (dialer, data)",
                  "networking": "Networking (events)", "campaigns": "Campaigns", "social": "Social",
                  "paid_search": "Paid search"}

#: The fields each strategy has: (path inside the strategy, label, group).
STRATEGY_FIELDS = (
    *((f"channels.{c}.budget", CHANNEL_LABELS.get(c, c.replace("_", " ").capitalize()), "budget") for c in CHANNELS),
    ("sales.n_reps", "Sales reps", "team"),
    *((f"sales.split.{a}", a.capitalize(), "split") for a in REP_ACTIVITIES),
)

#: Where the schema reports a rule between fields (the key of its ScenarioError) and the fields it concerns.
GROUP_KEYS = {"market.segments.*.share": [f"market.segments.{s}.share" for s in SEGMENTS]}

MAX_REPS = 200


class Invalid(Exception):
    """The page's input does not make a valid scenario: ``errors`` is a list of ``{"key", "message"}``, each key a
    field of the page (or ``source``, ``reps``, ``form``)."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(f"{e['key']}: {e['message']}" for e in errors))


def _invalid(key: str, message: str) -> Invalid:
    return Invalid([{"key": key, "message": message}])


# ------------------------------------------------------------------------------------------------ sources


def calibrated_files(root: Path) -> list[str]:
    """Calibrated scenarios written by ``run.py calibrate`` under ``root`` (newest first)."""
    if not root.is_dir():
        return []
    found = sorted(root.glob("calibration/*/*/calibrated.toml"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [str(p) for p in found[:20]]


def source_of(text: str) -> dict:
    """The page's source for the command line's SCENARIO: a preset name, or a file."""
    if text in preset_names():
        return {"kind": "preset", "name": text}
    path = Path(text).expanduser()
    if path.suffix == ".toml" and path.resolve().parent == presets_dir().resolve() and path.stem in preset_names():
        return {"kind": "preset", "name": path.stem}
    return {"kind": "file", "path": str(path.resolve())}


def load_source(source: Any) -> Scenario:
    """The scenario a source names: ``{"kind": "preset", "name": ...}`` or ``{"kind": "file", "path": ...}``.
    Every problem is :class:`Invalid` with key ``source`` and one line."""
    if not isinstance(source, Mapping):
        raise _invalid("source", "choose a preset, a calibrated scenario or a scenario file")
    kind = source.get("kind")
    if kind == "preset":
        name = source.get("name")
        if name not in preset_names():
            raise _invalid("source", f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
        path = preset(str(name))
    elif kind == "file":
        text = str(source.get("path") or "").strip()
        if not text:
            raise _invalid("source", "give the path of a scenario file (.toml)")
        path = Path(text).expanduser()
        if not path.is_file():
            raise _invalid("source", f"{path} is {'a folder' if path.is_dir() else 'not found'}; give the path of a "
                                     f"scenario file (.toml)")
    else:
        raise _invalid("source", f"unknown kind of source {kind!r}; use 'preset' or 'file'")
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise _invalid("source", str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise _invalid("source", f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise _invalid("source", f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise _invalid("source", f"cannot read {path}: {exc.strerror or exc}") from None


# ------------------------------------------------------------------------------------------------ fields


def _spec(path: str) -> dict:
    spec = lookup(path)
    assert isinstance(spec, P), path
    return {"kind": spec.kind, "unit": spec.unit, "allowed": spec.allowed(), "lo": spec.lo, "hi": spec.hi}


def _get(d: Mapping, path: str) -> Any:
    for part in path.split("."):
        d = d[part]
    return d


def fields(scenario: Scenario, source: dict) -> dict:
    """The page's model of a scenario: its market fields and, per strategy, its budgets, team and rep split."""
    base = scenario.to_dict()
    return {
        "source": source,
        "name": scenario.name,
        "description": base["scenario"]["description"],
        "strategies": scenario.strategies,
        "market": [{"key": k, "label": label, "value": _get(base, k), **_spec(k)} for k, label in MARKET_FIELDS],
        "strategy_fields": [{"path": p, "label": label, "group": group, **_spec(p)} for p, label, group in STRATEGY_FIELDS],
        "strategy_values": {s: {p: _get(scenario.config_dict(s), p) for p, _, _ in STRATEGY_FIELDS}
                            for s in scenario.strategies},
    }


def field_keys(scenario: Scenario) -> set[str]:
    keys = {k for k, _ in MARKET_FIELDS}
    keys |= {f"strategies.{s}.{p}" for s in scenario.strategies for p, _, _ in STRATEGY_FIELDS}
    return keys


def _current(scenario: Scenario, key: str) -> Any:
    if key.startswith("strategies."):
        _, name, path = key.split(".", 2)
        return _get(scenario.config_dict(name), path)
    return _get(scenario.to_dict(), key)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b)))
    return a == b


def build(source: Any, values: Any) -> Scenario:
    """The scenario of ``source`` with the page's ``values`` (field key -> value), validated by the schema.

    Each changed field is checked on its own first (so every wrong field gets its message, not only the first);
    then the rules between fields (segment shares and rep split add up to 1, campaign days within the horizon).
    Raises :class:`Invalid`; runs nothing."""
    base = load_source(source)
    if not isinstance(values, Mapping):
        raise _invalid("form", "the page sent no field values")
    known = field_keys(base)
    errors: list[dict] = []
    changed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            errors.append({"key": key, "message": "not a field of this scenario"})
            continue
        if _same(value, _current(base, key)):
            continue
        try:
            base.with_overrides({key: value})
        except ScenarioError as exc:
            if exc.key == key:  # the value itself; a rule between fields is checked below, with all of them
                errors.append({"key": key, "message": exc.message})
                continue
        changed[key] = value
    try:  # the rules between fields, over the fields that are right on their own
        scenario = base.with_overrides(changed)
    except ScenarioError as exc:
        key = exc.key or "form"
        errors.append({"key": key, "message": exc.message, "fields": GROUP_KEYS.get(key, [])})
    if errors:
        raise Invalid(errors)
    return scenario


def check_reps(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer() \
            or not 1 <= value <= MAX_REPS:
        raise _invalid("reps", f"must be a whole number from 1 to {MAX_REPS}, got {value!r}")
    return int(value)
