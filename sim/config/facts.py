"""Observed figures ("facts") and benchmark packs: the format that calibration fits and validation checks.

A benchmark pack (``scenarios/benchmarks/<name>.toml``, shipped as ``sim/presets/benchmarks``) holds
``[facts.<name>]`` tables: a summary ``metric`` (with an optional ``segment``), a ``value`` +- ``sd`` or a
range ``low``..``high``, a ``source``, and a ``role``: "target" (calibration fits it) or "holdout" (never
shown to calibration, checked afterwards). A targets file's own ``[targets.<name>]`` tables have the same
form. :func:`load_pack` reads a pack; :class:`Target` is one figure.

It lives below calibration and validation (``sim.config``) so that both read the facts with the one loader:
``sim.calibration.targets`` fits them, ``sim.validation.benchmarks`` checks them.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from sim.config.parameters import SEGMENTS
from sim.config.presets import preset, presets_dir
from sim.config.scenario import ScenarioError, read_toml

__all__ = ["Target", "load_pack", "load_benchmarks", "TARGET_KEYS", "FACT_KEYS", "BENCHMARK_KEYS", "check_keys",
           "fmt_number", "parse_target", "require_number", "resolve_file"]

#: Keys of one ``[targets.<name>]`` table.
TARGET_KEYS = ("metric", "segment", "value", "sd", "low", "high", "source", "note")
#: Keys of one ``[facts.<name>]`` table of a benchmark pack.
FACT_KEYS = ("metric", "segment", "value", "sd", "low", "high", "source", "primary", "note", "role", "identity")
#: the roles of a pack's facts: fitted, held out (should emerge), or fixed by the targets and inputs by arithmetic
ROLES = ("target", "holdout", "identity")
#: Keys of a targets file's ``[benchmarks]`` table.
BENCHMARK_KEYS = ("pack", "exclude", "not_applicable")


@dataclass(frozen=True)
class Target:
    """One observed figure: ``value`` +- ``sd``, or a range ``low``..``high``, of summary metric ``metric``."""

    name: str
    metric: str
    value: float | None = None
    sd: float | None = None
    low: float | None = None
    high: float | None = None
    source: str = ""
    note: str = ""
    role: str = "target"  # "target" (fitted), "holdout" (checked afterwards only) or "identity" (reported only)
    identity: str = ""  # for role "identity": the arithmetic that ties the fact to the targets and inputs
    origin: str = ""      # the file it came from

    @property
    def is_range(self) -> bool:
        return self.value is None

    def z(self, sim: float) -> float:
        """The standardised miss of a simulated value (NaN stays NaN): (sim - value) / sd, a range read as the
        central 95% of the published figures (its middle +- 2 sd: sd = a quarter of its width), which is also the
        pass band of the validation (value +- 2 sd, or the range)."""
        if not math.isfinite(sim):
            return math.nan
        if self.value is not None:
            return (sim - self.value) / self.sd
        return (sim - (self.low + self.high) / 2.0) / ((self.high - self.low) / 4.0)

    def observed(self) -> str:
        if self.value is not None:
            return f"{fmt_number(self.value)} +- {fmt_number(self.sd)}"
        return f"{fmt_number(self.low)} to {fmt_number(self.high)}"

    def contains(self, lo: float, hi: float) -> bool:
        """Whether the interval [lo, hi] overlaps the observed figure (value +- sd, or the range)."""
        a, b = (self.value - self.sd, self.value + self.sd) if self.value is not None else (self.low, self.high)
        return math.isfinite(lo) and math.isfinite(hi) and lo <= b and hi >= a

    def key(self) -> dict:
        return {"metric": self.metric, "value": self.value, "sd": self.sd, "low": self.low, "high": self.high}


def _resolve_metric(metric: str, segment: str | None) -> str:
    if segment is None or metric.endswith(f"_{segment}"):
        return metric
    return f"{metric}_{segment}"


def fmt_number(v: Any) -> str:
    """A number as messages print it (a float to 6 significant digits)."""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def require_number(where: str, key: str, value: Any, what: str = "a number") -> float:
    """``value`` as a float, or a :class:`ScenarioError` at ``where``/``key`` saying it must be ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ScenarioError(where, key, f"must be {what}, got {value!r}")
    return float(value)


def check_keys(where: str, prefix: str, table: Mapping, allowed: Sequence[str]) -> None:
    """A :class:`ScenarioError` for the first key of ``table`` not in ``allowed`` (with the nearest allowed one)."""
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ScenarioError(where, f"{prefix}{key}", f"unknown key (allowed: {', '.join(allowed)}){hint}")


def resolve_file(where: str, key: str, ref: Any, base: Path, kind: str, preset_folder: str = "") -> Path:
    """A path ending in .toml (relative to ``base``) or a preset name."""
    if not isinstance(ref, str) or not ref.strip():
        raise ScenarioError(where, key, f"must be a preset name or a path to a .toml file, got {ref!r}")
    if ref.endswith(".toml"):
        p = Path(ref).expanduser()
        p = p if p.is_absolute() else (base / p)
        if not p.is_file():
            raise ScenarioError(where, key, f"{kind} file not found: {p.resolve()} (paths are relative to the "
                                            f"targets file)")
        return p.resolve()
    p = preset(f"{preset_folder}{ref}")
    if not p.is_file():
        folder = presets_dir() / preset_folder if preset_folder else presets_dir()
        names = sorted(q.stem for q in folder.glob("*.toml"))
        raise ScenarioError(where, key, f"no preset {kind} named {ref!r} (presets: {', '.join(names)}; or give a "
                                        f"path ending in .toml, relative to the targets file)")
    return p


def parse_target(where: str, key: str, name: str, spec: Any, allowed: Sequence[str], origin: str) -> Target:
    """The :class:`Target` of one ``[targets.<name>]`` or ``[facts.<name>]`` table ``spec`` (keys in ``allowed``)."""
    if not isinstance(spec, Mapping):
        raise ScenarioError(where, key, "must be a table with value and sd, or low and high, and a source")
    check_keys(where, f"{key}.", spec, allowed)
    metric = spec.get("metric", name)
    if not isinstance(metric, str) or not metric.strip():
        raise ScenarioError(where, f"{key}.metric", f"must be the name of a summary metric, got {metric!r}")
    segment = spec.get("segment")
    if segment is not None and segment not in SEGMENTS:
        raise ScenarioError(where, f"{key}.segment", f"must be one of {', '.join(SEGMENTS)}, got {segment!r}")
    has_value, has_range = ("value" in spec or "sd" in spec), ("low" in spec or "high" in spec)
    if has_value and has_range:
        raise ScenarioError(where, key, "give either value and sd, or low and high, not both")
    if not has_value and not has_range:
        raise ScenarioError(where, key, "missing: the observed figure, as value and sd (e.g. value = 0.2, sd = 0.04) "
                                        "or as a range low and high")
    value = sd = low = high = None
    if has_value:
        for k in ("value", "sd"):
            if k not in spec:
                other = "sd" if k == "sd" else "value"
                raise ScenarioError(where, f"{key}.{k}", f"missing: a {other} needs its "
                                                         f"{'uncertainty sd (> 0)' if k == 'sd' else 'value'}, "
                                                         f"or give a range low and high instead")
        value = require_number(where, f"{key}.value", spec["value"])
        sd = require_number(where, f"{key}.sd", spec["sd"], "a number > 0")
        if sd <= 0:
            raise ScenarioError(where, f"{key}.sd", f"must be a number > 0, got {spec['sd']!r}")
    else:
        low, high = low_high(where, key, spec, "a range needs both low and high")
    source = spec.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ScenarioError(where, f"{key}.source", "missing: where the figure comes from, e.g. "
                                                    "source = \"our CRM, FY2025 closed opportunities\"")
    note = spec.get("note", "")
    if not isinstance(note, str):
        raise ScenarioError(where, f"{key}.note", f"must be a string, got {note!r}")
    role = spec.get("role", "target")
    if role not in ROLES:
        raise ScenarioError(where, f"{key}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
    identity = spec.get("identity", "")
    if role == "identity" and (not isinstance(identity, str) or not identity.strip()):
        raise ScenarioError(where, f"{key}.identity", "missing: a fact with role = \"identity\" says which targets and "
                                                      "inputs fix it, and how")
    if role != "identity" and identity:
        raise ScenarioError(where, f"{key}.identity", f"only a fact with role = \"identity\" has one (role is {role!r})")
    return Target(name=name, metric=_resolve_metric(metric, segment), value=value, sd=sd, low=low, high=high,
                  source=source.strip(), note=note, role=role, origin=origin, identity=identity)


def load_benchmarks(where: str, spec: Any, base: Path) -> tuple[Path, list[Target], list[str]]:
    """A targets file's ``[benchmarks]`` table ``spec`` (in file ``where``, paths relative to ``base``), checked:
    (pack path, its facts but those marked ``not_applicable``, the names to ``exclude`` from fitting)."""
    if isinstance(spec, str):
        spec = {"pack": spec}
    if not isinstance(spec, Mapping):
        raise ScenarioError(where, "benchmarks", "must be a table [benchmarks] with pack = \"b2b_saas\" (and "
                                                 "optionally exclude = [...])")
    check_keys(where, "benchmarks.", spec, BENCHMARK_KEYS)
    if "pack" not in spec:
        raise ScenarioError(where, "benchmarks.pack", "missing: a benchmark pack name (e.g. \"b2b_saas\") or a "
                                                      "path ending in .toml")
    path = resolve_file(where, "benchmarks.pack", spec["pack"], base, "benchmark pack", "benchmarks/")
    lists = {}
    for key in ("exclude", "not_applicable"):
        names = spec.get(key, [])
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            raise ScenarioError(where, f"benchmarks.{key}", f"must be a list of fact names, got {names!r}")
        lists[key] = names
    exclude, absent = lists["exclude"], lists["not_applicable"]
    both = [x for x in absent if x in exclude]
    if both:
        raise ScenarioError(where, "benchmarks.not_applicable", f"{both[0]!r} is also in exclude: a fact is either "
                                                                f"held out (exclude) or not about this market "
                                                                f"(not_applicable)")
    pwhere = str(path)
    data = read_toml(path, "benchmark pack")
    check_keys(pwhere, "", data, ("facts",))
    facts = data.get("facts", {})
    if not isinstance(facts, Mapping) or not facts:
        raise ScenarioError(pwhere, "facts", "missing: a benchmark pack holds [facts.<name>] tables")
    out = [parse_target(pwhere, f"facts.{name}", str(name), f, FACT_KEYS, pwhere) for name, f in facts.items()]
    names = {t.name: t for t in out}
    for key, listed in lists.items():
        for x in listed:
            if x not in names:
                raise ScenarioError(where, f"benchmarks.{key}", f"no fact {x!r} in {path.name} (facts: "
                                                                f"{', '.join(names)})")
    return path, [t for t in out if t.name not in absent], exclude


def load_pack(pack: str | Path = "b2b_saas", base: str | Path = ".") -> tuple[Path, list[Target]]:
    """A benchmark pack's path and facts (targets and holdouts, in file order), read and checked as a
    targets file's ``[benchmarks] pack`` is: a pack name (``scenarios/benchmarks/<name>.toml``) or a path
    ending in .toml (relative to ``base``). Raises ScenarioError naming the file, the key and what is allowed."""
    path, facts, _ = load_benchmarks("benchmark pack", {"pack": str(pack)}, Path(base))
    return path, facts


def low_high(where: str, key: str, spec: Mapping, missing: str) -> tuple[float, float]:
    """``spec``'s ``low`` and ``high``: both present (else ``missing:`` + ``missing``), numbers, low < high."""
    for k in ("low", "high"):
        if k not in spec:
            raise ScenarioError(where, f"{key}.{k}", f"missing: {missing}")
    low = require_number(where, f"{key}.low", spec["low"])
    high = require_number(where, f"{key}.high", spec["high"])
    if not low < high:
        raise ScenarioError(where, f"{key}.low", f"must be below high ({fmt_number(high)}), got {fmt_number(low)}")
    return low, high
