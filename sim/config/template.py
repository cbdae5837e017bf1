"""Write a fully commented scenario TOML from the schema (units and sources on every line).

    python -m sim.config.template > my_market.toml

:func:`render` writes the template (``python run.py plan --template``); :func:`scenario_toml` writes any
scenario as such a file, which ``sim.load_scenario`` reads back to the same scenario: the planner page's
saved scenario, the optimiser's ``recommended.toml`` and the calibration's ``calibrated.toml`` are all
written by it. A strategist copies and edits the result.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from typing import Any

from sim.config.parameters import SCHEMA, P, defaults

__all__ = ["render", "scenario_toml", "toml_value"]

#: The widest ``key = value`` the comments are aligned after (a longer one pushes only its own comment).
ALIGN = 34

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_value(v: Any) -> str:
    """A parameter value as TOML that reads back as the same value: 10_000 for large integers (and for a whole
    float whose digits that keeps), floats as their shortest exact text, strings quoted with escapes, lists."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON's escapes are TOML basic-string escapes
    if isinstance(v, float):
        if not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if abs(v) >= 10_000 and v.is_integer():
            text = f"{v:_.6g}"
            if float(text.replace("_", "")) == v:
                return text
        return repr(v)
    if isinstance(v, int):
        return f"{v:_}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _flat(d: Mapping, prefix: str = "") -> dict:
    """A strategy's overlay as dotted keys, the rep split kept as one inline table."""
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and not (prefix + k).endswith("sales.split"):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = dict(v) if isinstance(v, Mapping) else v
    return out


def render(values: dict | None = None, strategies: dict | None = None, header: str = "",
           notes: Mapping[str, str] | None = None) -> str:
    """The scenario file of ``values`` (every section of the schema; default: the defaults) and ``strategies``
    (name -> overlay, nested or as dotted keys), after the ``header`` comment lines. Every parameter has its
    unit, allowed range and source in its comment, ``notes[path]`` in front of it when given."""
    values = values or defaults()
    notes = notes or {}
    lines = [header.rstrip()] if header else []

    def table(node: dict, vals: dict, path: list[str]):
        scalars = [(k, s) for k, s in node.items() if isinstance(s, P)]
        if scalars:
            lines.append("")
            lines.append(f"[{'.'.join(path)}]")
            items = [(k, s, f"{k} = {toml_value(vals[k])}") for k, s in scalars]
            width = min(max(len(item) for _, _, item in items), ALIGN)
            for k, s, item in items:
                note = notes.get(".".join([*path, k]), "") + (f"{s.unit}; " if s.unit else "")
                lines.append(f"{item:<{width}}  # {note}{s.allowed()}. Source: {s.source}".replace("\n", " "))
        for k, s in node.items():
            if isinstance(s, dict):
                table(s, vals[k], path + [k])

    for section, node in SCHEMA.items():
        table(node, values[section], [section])
    for name, overlay in (strategies or {}).items():
        lines.append("")
        lines.append(f"[strategies.{_key(name)}]")
        for key, v in _flat(overlay).items():
            text = toml_value(v) if not isinstance(v, dict) else \
                "{ " + ", ".join(f"{a} = {toml_value(b)}" for a, b in v.items()) + " }"
            lines.append(f"{key} = {text}")
    return "\n".join(lines).lstrip("\n") + "\n"


def scenario_toml(scenario: Any, header: str | list[str] = "", notes: Mapping[str, str] | None = None) -> str:
    """``scenario`` (a :class:`sim.config.scenario.Scenario`) as a complete commented TOML file that
    ``sim.load_scenario`` reads back to the same scenario: ``header`` (text or lines of comments), every
    parameter with its unit, range and source (``notes[path]`` in front of a parameter's comment), then the
    strategies."""
    data = scenario.to_dict()
    strategies = data.pop("strategies")
    return render(data, strategies, "\n".join(header) if isinstance(header, list) else header, notes)


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
