"""Write a fully commented scenario TOML from the schema (units and sources on every line).

    python -m sim.config.template > my_market.toml

Used to produce ``scenarios/default.toml``; a strategist copies and edits the result.
"""

from __future__ import annotations

import sys

from sim.config.parameters import SCHEMA, P, defaults


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return f"{v:_.6g}".replace("_", "_") if abs(v) >= 10_000 and v.is_integer() else repr(v)
    if isinstance(v, int):
        return f"{v:_}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    raise TypeError(v)


def render(values: dict | None = None, strategies: dict | None = None, header: str = "") -> str:
    values = values or defaults()
    lines = [header.rstrip()] if header else []

    def table(node: dict, vals: dict, path: list[str]):
        scalars = [(k, s) for k, s in node.items() if isinstance(s, P)]
        if scalars:
            lines.append("")
            lines.append(f"[{'.'.join(path)}]")
            width = max(len(f"{k} = {_fmt(vals[k])}") for k, _ in scalars)
            for k, s in scalars:
                item = f"{k} = {_fmt(vals[k])}"
                note = f"{s.unit}; " if s.unit else ""
                lines.append(f"{item:<{width}}  # {note}{s.allowed()}. Source: {s.source}")
        for k, s in node.items():
            if isinstance(s, dict):
                table(s, vals[k], path + [k])

    for section, node in SCHEMA.items():
        table(node, values[section], [section])
    for name, overlay in (strategies or {}).items():
        lines.append("")
        lines.append(f"[strategies.{name}]")
        for key, v in overlay.items():
            lines.append(f"{key} = {_fmt(v) if not isinstance(v, dict) else '{ ' + ', '.join(f'{a} = {_fmt(b)}' for a, b in v.items()) + ' }'}")
    return "\n".join(lines).lstrip("\n") + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
