"""The preset scenarios, sweep files and benchmark packs.

They live in the top-level ``scenarios/`` folder of the repository and are shipped from there into
the wheel as the package data ``sim.presets`` (see ``pyproject.toml``). In a checkout the folder is
read directly; in an installed package, from ``sim/presets``.
"""

from __future__ import annotations

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2] / "scenarios"
_INSTALLED = Path(__file__).resolve().parents[1] / "presets"  # sim/presets in a wheel


def presets_dir() -> Path:
    """The folder that holds ``default.toml``, the other presets, ``sweeps/`` and ``benchmarks/``."""
    if (_CHECKOUT / "default.toml").is_file():
        return _CHECKOUT
    return _INSTALLED


def preset(name: str) -> Path:
    """The path of a preset file: ``preset("enterprise")`` or ``preset("sweeps/team_size.toml")``."""
    rel = name if name.endswith(".toml") else f"{name}.toml"
    return presets_dir() / rel


def preset_names() -> list[str]:
    """The preset scenarios (``default``, ``enterprise``, ...), without sweep files and packs."""
    return sorted(p.stem for p in presets_dir().glob("*.toml"))
