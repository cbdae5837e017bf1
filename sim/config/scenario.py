"""Scenario files: TOML loading, validation against the schema, overrides, strategy resolution.

A scenario file has the sections of ``sim.config.parameters.SCHEMA`` (all optional: anything left
out takes its default) plus ``[strategies.NAME]`` tables. A strategy overlays only the
``channels``, ``sales`` and ``policy`` sections, e.g.::

    [strategies.cold_calling]
    channels.cold_calling.budget = 120000
    sales.split = { dialing = 0.6, meetings = 0.3, networking = 0.05, social = 0.05 }

Everything is validated before anything runs. Any problem raises ``ScenarioError`` whose
message names the file, the key path and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import math
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Mapping

from sim.config.parameters import (
    SCHEMA,
    SEGMENTS,
    STRATEGY_SECTIONS,
    P,
    defaults,
    lookup,
)
from sim.config.presets import preset

DEFAULT_SCENARIO = preset("default")


class ScenarioError(ValueError):
    """A scenario file, override or argument is invalid. ``str(e)`` is one line for a human."""

    def __init__(self, where: str, key: str | None, message: str):
        self.where, self.key, self.message = where, key, message
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        super().__init__(text)

    def __reduce__(self):  # survives pickling across worker processes with its fields intact
        return (type(self), (self.where, self.key, self.message), dict(self.__dict__))


# ----------------------------------------------------------------------------- validation
def check_value(where: str, path: str, spec: P, value: Any) -> Any:
    """Return the value coerced to the parameter's kind, or raise ScenarioError."""
    bad = lambda: ScenarioError(where, path, f"must be {spec.allowed()} ({spec.unit or spec.kind}), got {value!r}")
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if spec.kind == "str":
        if not isinstance(value, str) or (spec.choices and value not in spec.choices):
            raise bad()
        return value
    if spec.kind == "list[int]":
        if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
            raise bad()
        if spec.lo is not None and any(v < spec.lo for v in value):
            raise bad()
        return list(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad()
    if spec.kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise bad()
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise bad()
    if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
        raise bad()
    return value


def _unknown(where: str, path: str, key: str, options) -> ScenarioError:
    near = difflib.get_close_matches(key, list(options), n=1)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    allowed = ", ".join(sorted(options))
    return ScenarioError(where, path, f"unknown key (allowed here: {allowed}){hint}")


def no_such_parameter(where: str, key: str, path: str) -> ScenarioError:
    """The error for a parameter path that is not in the schema, with the nearest path as a hint."""
    from sim.config.parameters import leaves

    near = difflib.get_close_matches(path, [p for p, _ in leaves()], n=1, cutoff=0.6)
    hint = f"; did you mean '{near[0]}'?" if near else "; see scenarios/default.toml for every parameter path"
    return ScenarioError(where, key, f"no such parameter{hint}")


def dotted_paths(where: str, table: Mapping, section: str, is_spec: Callable[[Mapping], bool],
                 is_param: Callable[[str], bool] | None = None, prefix: str = "") -> dict[str, Any]:
    """Dotted keys from TOML (``need.fade_rate = ...`` nests tables) back to parameter paths (sweep and targets
    files: ``[overrides]``, ``[params]``).

    A table below a path that is not a parameter (``is_param``; default: a schema leaf) is a nesting level,
    unless ``is_spec`` says it is a parameter's spec (``{ low = .., high = .. }``); a path given twice is a
    ScenarioError naming ``section``; unknown paths are reported by the caller.
    """
    if is_param is None:
        def is_param(path: str) -> bool:
            return isinstance(lookup(path), P)

    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and not is_param(path) and not is_spec(value):
            items = list(dotted_paths(where, value, section, is_spec, is_param, path + ".").items())
        else:
            items = [(path, value)]
        for k, v in items:
            if k in out:
                raise ScenarioError(where, f"{section}.{k}", "given twice")
            out[k] = v
    return out


def _validate_tree(where: str, data: Mapping, schema: dict, prefix: str, out: dict) -> None:
    """Check ``data`` against ``schema`` recursively and write coerced values into ``out``."""
    if not isinstance(data, Mapping):
        raise ScenarioError(where, prefix.rstrip(".") or None, "must be a table")
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in schema:
            raise _unknown(where, path, key, schema.keys())
        spec = schema[key]
        if isinstance(spec, dict):
            if not isinstance(value, Mapping):
                raise ScenarioError(where, path, "must be a table of settings")
            _validate_tree(where, value, spec, path + ".", out.setdefault(key, {}))
        else:
            out[key] = check_value(where, path, spec, value)


def _deep_merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _cross_checks(where: str, cfg: dict, label: str = "") -> None:
    """Constraints between parameters (shares sum to one, min <= max, days within horizon)."""
    pre = f"strategies.{label}." if label else ""
    shares = [cfg["market"]["segments"][s]["share"] for s in SEGMENTS]
    if not label and abs(sum(shares) - 1) > 1e-6:
        raise ScenarioError(where, "market.segments.*.share", f"segment shares must add up to 1, got {sum(shares):g}")
    for s in SEGMENTS:
        seg = cfg["market"]["segments"][s]
        if not label and seg["group_min"] > seg["group_max"]:
            raise ScenarioError(where, f"market.segments.{s}.group_min",
                                f"must be <= group_max ({seg['group_max']}), got {seg['group_min']}")
    split = cfg["sales"]["split"]
    total = sum(split.values())
    if abs(total - 1) > 1e-6:
        raise ScenarioError(where, f"{pre}sales.split", f"rep time shares must add up to 1, got {total:g}")
    horizon = cfg["scenario"]["horizon_days"]
    for d in cfg["channels"]["campaigns"]["burst_days"]:
        if d >= horizon:
            raise ScenarioError(where, f"{pre}channels.campaigns.burst_days",
                                f"burst days must be within the horizon (0 to {horizon - 1}), got {d}")


def _namespace(d: Any) -> Any:
    if isinstance(d, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in d.items()})
    return d


# ----------------------------------------------------------------------------- scenario
class Scenario:
    """A validated scenario: a market, a horizon and named strategies.

    Build with ``load_scenario(path)`` or ``Scenario.from_dict(data)``. Immutable in use:
    ``with_overrides`` returns a new validated scenario.
    """

    def __init__(self, base: dict, strategies: dict[str, dict], path: Path | None, where: str):
        self._base = base  # validated, fully resolved (defaults filled)
        self._strategies = strategies  # validated overlays (only STRATEGY_SECTIONS)
        self.path = path
        self._where = where

    # -- construction
    @classmethod
    def from_dict(cls, data: Mapping, where: str = "<scenario>", path: Path | None = None) -> "Scenario":
        data = dict(data)
        raw_strats = data.pop("strategies", None) or {}
        if not data and not raw_strats:  # an empty file (or only comments): nothing to run, say so
            raise ScenarioError(where, None, "has no [strategies] (it sets nothing: empty, or only comments); a "
                                             "scenario needs at least one strategy, e.g. [strategies.blended] with "
                                             "channels.content.budget = 100_000; start from a copy of "
                                             "scenarios/default.toml")
        given: dict = {}
        _validate_tree(where, data, SCHEMA, "", given)
        base = _deep_merge(defaults(), given)
        if not isinstance(raw_strats, Mapping):
            raise ScenarioError(where, "strategies", "must be a table of named strategies")
        if not raw_strats:
            raw_strats = {"baseline": {}}
        strategies: dict[str, dict] = {}
        sub_schema = {k: SCHEMA[k] for k in STRATEGY_SECTIONS}
        for name, overlay in raw_strats.items():
            out: dict = {}
            if not isinstance(overlay, Mapping):
                raise ScenarioError(where, f"strategies.{name}", "must be a table")
            for key in overlay:
                if key not in sub_schema:
                    if key in SCHEMA:
                        raise ScenarioError(where, f"strategies.{name}.{key}",
                                            f"a strategy may set only {', '.join(STRATEGY_SECTIONS)}; '{key}' belongs to the market")
                    raise _unknown(where, f"strategies.{name}.{key}", key, sub_schema.keys())
            _validate_tree(where, overlay, sub_schema, f"strategies.{name}.", out)
            strategies[str(name)] = out
        scen = cls(base, strategies, path, where)
        _cross_checks(where, base)
        for name in strategies:
            _cross_checks(where, scen.config_dict(name), name)
        return scen

    # -- queries
    @property
    def name(self) -> str:
        return self._base["scenario"]["name"]

    @property
    def horizon_days(self) -> int:
        return self._base["scenario"]["horizon_days"]

    @property
    def warmup_days(self) -> int:
        return self._base["scenario"]["warmup_days"]

    @property
    def strategies(self) -> list[str]:
        return list(self._strategies)

    def check_strategy(self, strategy: str | None) -> str:
        if strategy is None:
            return self.strategies[0]
        if strategy not in self._strategies:
            raise ScenarioError(self._where, "strategy",
                                f"unknown strategy {strategy!r}; this scenario has: {', '.join(self.strategies)}")
        return strategy

    def config_dict(self, strategy: str | None = None) -> dict:
        """Resolved parameters (plain nested dict) for one strategy."""
        strategy = self.check_strategy(strategy)
        return _deep_merge(self._base, self._strategies[strategy])

    def config(self, strategy: str | None = None) -> SimpleNamespace:
        """Resolved parameters for one strategy as attribute access: ``cfg.channels.content.budget``."""
        return _namespace(self.config_dict(strategy))

    def to_dict(self) -> dict:
        """The scenario as resolved (after overrides): base and each strategy's overlay."""
        out = copy.deepcopy(self._base)
        out["strategies"] = copy.deepcopy(self._strategies)
        return out

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Scenario":
        """A new validated scenario with dotted-path values replaced.

        ``"market.n_accounts"`` changes the base; for a strategy section (``channels``, ``sales``,
        ``policy``) the override also replaces any value a strategy set for that path, so an
        override always wins. ``"strategies.NAME.channels.content.budget"`` targets one strategy.
        """
        where = f"{self._where} (override)"
        data = self.to_dict()
        for path, value in overrides.items():
            parts = str(path).split(".")
            if parts[0] == "strategies":
                if len(parts) < 3 or parts[1] not in self._strategies:
                    raise ScenarioError(where, str(path),
                                        f"unknown strategy path; strategies are: {', '.join(self.strategies)}")
                sub = ".".join(parts[2:])
                spec = lookup(sub)
                if parts[2] not in STRATEGY_SECTIONS or not isinstance(spec, P):
                    raise ScenarioError(where, str(path), "not a strategy parameter (channels.*, sales.*, policy.*)")
                _set(data["strategies"][parts[1]], parts[2:], check_value(where, str(path), spec, value))
                continue
            spec = lookup(str(path))
            if not isinstance(spec, P):
                near = difflib.get_close_matches(str(path), [p for p, _ in _all_paths()], n=1)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                raise ScenarioError(where, str(path), f"no such parameter{hint}")
            value = check_value(where, str(path), spec, value)
            _set(data, parts, value)
            if parts[0] in STRATEGY_SECTIONS:
                for overlay in data["strategies"].values():
                    if _has(overlay, parts):
                        _set(overlay, parts, value)
        scen = Scenario.from_dict(data, where=where, path=self.path)
        scen._where = self._where
        return scen

    def describe(self) -> str:
        """The scenario in plain words, for reports."""
        b = self._base
        m = b["market"]
        segs = ", ".join(
            f"{s} {m['segments'][s]['share']:.0%} (ACV ${m['segments'][s]['deal_size']:,.0f}, "
            f"groups of {m['segments'][s]['group_min']}-{m['segments'][s]['group_max']})"
            for s in SEGMENTS
        )
        text = (
            f"{b['scenario']['description'].strip()} " if b["scenario"]["description"].strip() else ""
        ) + (
            f"A market of {m['n_accounts']:,} accounts: {segs}. "
            f"Accounts start a buying episode {b['need']['annual_trigger_rate']:g} times a year on average; "
            f"buyers are willing to talk to sales once about {m['readiness_mean']:.0%} of their decision is made "
            f"(on average; when they first do is an outcome of the run). "
            f"The sales team has {b['sales']['n_reps']} reps. Horizon: {self.horizon_days} days"
            + (f", measured after a warm-up of {self.warmup_days} days under the same strategy. " if self.warmup_days
               else ". ") +
            f"Strategies compared: {', '.join(self.strategies)}."
        )
        return text

    def __repr__(self) -> str:
        return f"Scenario(name={self.name!r}, strategies={self.strategies}, horizon_days={self.horizon_days})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Scenario) and self.to_dict() == other.to_dict()

    def __getstate__(self):
        return {"base": self._base, "strategies": self._strategies, "path": self.path, "where": self._where}

    def __setstate__(self, s):
        self.__init__(s["base"], s["strategies"], s["path"], s["where"])


def _all_paths():
    from sim.config.parameters import leaves

    return leaves()


def _has(d: dict, parts: list[str]) -> bool:
    for p in parts:
        if not isinstance(d, dict) or p not in d:
            return False
        d = d[p]
    return True


def _set(d: dict, parts: list[str], value: Any) -> None:
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def example_in(folder: Path, prefer: str | None = "default.toml") -> str | None:
    """A .toml file in ``folder`` for a hint (``prefer`` if there, else the first by name), or None."""
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".toml" and p.is_file())
    except OSError:
        return None
    preferred = [p for p in files if p.name == prefer]
    return str((preferred or files)[0]) if files else None


def read_toml(path: Path, kind: str = "scenario") -> dict:
    """Parse a TOML file; any problem is a ScenarioError naming the file (``kind``: what it should be)."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(where, None, f"{kind} file not found" if kind != "scenario" else "file not found") from None
    except IsADirectoryError:
        example = example_in(path, "default.toml" if kind == "scenario" else None)
        raise ScenarioError(where, None, f"is a folder, not a {kind} file; name a .toml file"
                                         + (f" in it, e.g. {example}" if example else "")) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(where, None, f"cannot read file ({e.__class__.__name__}: {e})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(where, None, f"not valid TOML: {e}") from None


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Load and validate a scenario TOML file (default: ``scenarios/default.toml``), or a preset by its name
    (``"enterprise"``: a name with no folder and no ``.toml`` that names no file here but a preset)."""
    from sim.config.presets import preset, preset_names

    if isinstance(path, str) and not Path(path).exists() and Path(path).suffix != ".toml" and Path(path).name == path:
        if path not in preset_names():
            raise ScenarioError(path, None, f"no such file, and not a preset's name (the presets: "
                                            f"{', '.join(preset_names())})")
        path = preset(path)
    path = Path(path) if path is not None else DEFAULT_SCENARIO
    return Scenario.from_dict(read_toml(path), where=str(path), path=path)
