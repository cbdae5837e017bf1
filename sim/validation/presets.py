"""Validation group ``presets``: every preset against the headline bands of the benchmark pack.

The question a strategist asks first of a preset is "is this a believable business?". This group answers it
for every preset scenario that a calibration targets file in ``scenarios/calibration/`` describes with a
benchmark pack (``scenario`` a preset name, ``[benchmarks] pack``): it runs that preset with the targets
file's strategy and checks the pack's headline facts, the ones a leadership team reads first
(``HEADLINE``: opportunity win rate, enterprise sales cycle, CAC payback (across segments, or of a company selling
mainly to SMB or to enterprise: the one the targets file keeps), LTV:CAC), with the band rule of the
``benchmarks`` group (:func:`sim.validation.benchmarks.band`). A fact the targets file excludes or marks
not applicable (the SMB cycle of a market without SMB accounts) is left out. Its rows say, for each preset, whether the fact was a
calibration target or is held out.

The default preset's runs are those of the ``benchmarks`` group (same specs, run once).
"""

from __future__ import annotations

from pathlib import Path

from sim.analysis.formatting import format_number
from sim.config.presets import preset_names, presets_dir
from sim.config.scenario import read_toml
from sim.validation.benchmarks import band, evaluate_fact, pack_facts, role_label
from sim.validation.core import Check, Ctx, RunSpec

__all__ = ["plan", "HEADLINE", "preset_targets", "MARKET"]

#: the pack facts checked for every preset (the issue's "every preset's medians inside the bands")
HEADLINE = ("win_rate", "cycle_enterprise", "payback", "payback_smb_focus", "payback_enterprise_focus", "ltv_cac")
#: overrides of every preset's runs: none (the tests shrink them)
MARKET: dict = {}


def preset_targets() -> list[tuple[str, Path, dict]]:
    """(preset name, targets file, its table) for every targets file that calibrates a preset to a pack,
    in preset-name order (one per preset: the first file by name)."""
    names = set(preset_names())
    found: dict[str, tuple[str, Path, dict]] = {}
    for path in sorted((presets_dir() / "calibration").glob("*.toml")):
        table = read_toml(path, "targets")
        scen = table.get("scenario")
        if isinstance(scen, str) and scen in names and "benchmarks" in table and scen not in found:
            found[scen] = (scen, path, table)
    return [found[k] for k in sorted(found)]


def plan(ctx: Ctx) -> list[Check]:
    checks = []
    for name, path, table in preset_targets():
        pack, facts, excluded = pack_facts(table, path.parent)
        strat = str(table["strategy"])
        specs = [RunSpec.make(name, dict(MARKET), strat, s) for s in ctx.seeds]
        for f in facts:
            if f.name not in HEADLINE or f.name in excluded:
                continue
            lo, hi = band(f)
            what = (f"preset {name} ({strat}): {f.metric} {f.observed()}"
                    + (f" (pass band {format_number(lo, 3)} to {format_number(hi, 3)})" if f.value is not None else " (pass band: the range)"))
            source = f"{f.source} [{pack}: facts.{f.name}; calibration/{path.name}]"
            checks.append(Check(f"preset_{name}_{f.name}", "presets", what, source, specs,
                                evaluate_fact(f, role_label(f, excluded), strat, specs)))
    return checks
