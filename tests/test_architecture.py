"""The package's architecture: the layering of sim/, what ``import sim`` loads, and a non-editable install.

Layers, bottom to top (DESIGN.md, "Architecture"); each imports only from itself and the layers below:

    sim.io
    sim.engine            (all of it except sim.engine.model)
    sim.config            (may import the engine's declarations: the schema is built from them)
    sim.engine.model      (builds a run from a validated scenario)
    sim.executor
    sim.analysis
    sim.sweeps | sim.validation | sim.calibration | sim.optimise | sim.app | sim.crm   (siblings: not each other)
    sim.cli, and the package's own API ``sim`` (sim/__init__.py, which may import anything)

Imports are read with ``ast`` from every module under sim/, at module level and inside functions.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sim"

#: Bottom to top. A module belongs to the layer of the longest matching prefix.
LAYERS: list[tuple[str, ...]] = [
    ("sim.io",),
    ("sim.engine",),
    ("sim.config",),
    ("sim.engine.model",),
    ("sim.executor", "sim.store"),
    ("sim.analysis",),
    ("sim.sweeps", "sim.validation", "sim.calibration", "sim.attribution", "sim.optimise", "sim.app", "sim.crm"),
    ("sim.cli", "sim.docs_gen", "sim"),  # docs_gen: the reference pages, read off every layer below
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
API = "sim"  # sim/__init__.py: exempt, it may import anything


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def component(mod: str) -> str | None:
    """The layer entry a module belongs to (``sim.engine.model`` before ``sim.engine``), or None."""
    if mod == API:
        return API
    best = None
    for name in RANK:
        if name != API and (mod == name or mod.startswith(name + ".")) and (best is None or len(name) > len(best)):
            best = name
    return best


def sim_imports(path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, module) for every import of a ``sim`` module in the file, anywhere in it; ``from A import B``
    counts as importing ``A.B`` when that is a module, else ``A``; relative imports are resolved."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "sim"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sim":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((node.lineno, sub if sub in known else target))
    return sorted(set(out))


def layer_violations() -> list[str]:
    known = modules()
    problems = []
    for mod, path in known.items():
        if mod == API:
            continue
        src = component(mod)
        if src is None:
            problems.append(f"{path.relative_to(ROOT)}: module {mod} is in no layer (add it to LAYERS in "
                            f"tests/test_architecture.py, in the right place)")
            continue
        for line, target in sim_imports(path, known):
            dst = component(target)
            where = f"{path.relative_to(ROOT)}:{line}: {mod} [{src}] imports {target}"
            if dst is None:
                problems.append(f"{where}, which is in no layer")
            elif RANK[dst] > RANK[src]:
                problems.append(f"{where} [{dst}], a layer above it")
            elif RANK[dst] == RANK[src] and dst != src and src != "sim.cli":
                problems.append(f"{where} [{dst}], a sibling layer (siblings may not import each other)")
    return problems


def test_every_module_sits_in_a_layer_and_imports_only_downward():
    problems = layer_violations()
    assert not problems, "layering violations:\n  " + "\n  ".join(problems)


def test_every_sim_import_names_a_module_that_exists():
    """A stale name (a module that moved) fails here, not at run time in a rarely used branch."""
    known = modules()
    missing = []
    for mod, path in known.items():
        for line, target in sim_imports(path, known):
            if target not in known:
                missing.append(f"{path.relative_to(ROOT)}:{line}: imports {target}, which does not exist")
    assert not missing, "\n  ".join(["imports of missing modules:", *missing])


def test_the_layer_check_sees_imports_inside_functions(tmp_path, monkeypatch):
    """The checker itself: an upward import inside a function body is reported (so the test above can fail)."""
    fake = tmp_path / "sim"
    (fake / "engine").mkdir(parents=True)
    (fake / "analysis").mkdir()
    for d in (fake, fake / "engine", fake / "analysis"):
        (d / "__init__.py").write_text("")
    (fake / "analysis" / "stats.py").write_text("X = 1\n")
    (fake / "engine" / "state.py").write_text("def f():\n    from sim.analysis import stats\n    return stats.X\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    problems = layer_violations()
    assert problems == ["sim/engine/state.py:2: sim.engine.state [sim.engine] imports sim.analysis.stats "
                        "[sim.analysis], a layer above it"]


# --------------------------------------------------------------------------------------------------------
# What `import sim` loads
# --------------------------------------------------------------------------------------------------------

HEAVY = ("matplotlib", "dask", "distributed")


@pytest.mark.parametrize("module", ["sim", "sim.validation", "sim.executor", "sim.cli.main"])
def test_import_loads_neither_matplotlib_nor_dask(module, tmp_path):
    code = ("import importlib, json, sys\n"
            f"m = importlib.import_module({module!r})\n"
            "import sim\n"
            f"print(json.dumps({{'file': sim.__file__, 'heavy': sorted({{k.split('.')[0] for k in sys.modules}} & "
            f"set({list(HEAVY)!r}))}}))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("MPLBACKEND", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().is_relative_to(PACKAGE), out["file"]  # this checkout was tested
    assert out["heavy"] == [], f"import {module} loads {out['heavy']}"


# --------------------------------------------------------------------------------------------------------
# A non-editable install, used from another folder
# --------------------------------------------------------------------------------------------------------


def _pip_available() -> bool:
    proc = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, timeout=60)
    return proc.returncode == 0


def _build_isolation_flags() -> list[str]:
    """Build with this interpreter's setuptools if it is new enough for pyproject.toml, else in pip's isolated
    build environment (which installs the build requirement)."""
    try:
        import setuptools

        major = int(setuptools.__version__.split(".")[0])
    except Exception:
        return []
    return ["--no-build-isolation"] if major >= 77 else []


def _copy_source(dest: Path) -> Path:
    """What a wheel is built from, copied so that the build leaves nothing (build/, *.egg-info) in the checkout."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results", "*.egg-info")
    shutil.copytree(ROOT / "sim", dest / "sim", ignore=ignore)
    shutil.copytree(ROOT / "scenarios", dest / "scenarios", ignore=ignore)
    return dest


def _run(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package built as a wheel and installed (no dependencies: they come from this interpreter) into a
    folder of its own, as ``pip install --target`` does."""
    if not _pip_available():
        pytest.skip("pip is not available in this interpreter")
    base = tmp_path_factory.mktemp("install")
    src = _copy_source(base / "src")
    wheels = base / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-input", "--disable-pip-version-check", "-q",
          *_build_isolation_flags(), str(src), "-w", str(wheels)], cwd=base)
    (wheel,) = wheels.glob("*.whl")
    site = base / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check", "-q",
          "--target", str(site), str(wheel)], cwd=base)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONPATH=str(site), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return {"wheel": wheel, "site": site, "cwd": elsewhere, "env": env}


def test_the_wheel_ships_the_package_and_the_presets(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    shipped = sorted(p.relative_to(ROOT / "scenarios").as_posix() for p in (ROOT / "scenarios").rglob("*.toml"))
    assert shipped, "no preset scenarios in the checkout"
    missing = [f"sim/presets/{s}" for s in shipped if f"sim/presets/{s}" not in names]
    assert not missing, f"presets missing from the wheel: {missing}"
    examples = sorted(p.relative_to(ROOT / "scenarios").as_posix() for p in (ROOT / "scenarios" / "examples").rglob("*.csv"))
    assert examples and not [e for e in examples if f"sim/presets/{e}" not in names], "example CRM exports missing"
    modules_missing = [f"{m.replace('.', '/')}" for m, p in modules().items()
                       if p.relative_to(ROOT).as_posix() not in names]
    assert not modules_missing, f"modules missing from the wheel: {modules_missing}"
    static = sorted(p.relative_to(ROOT).as_posix() for p in (PACKAGE / "app" / "static").iterdir())
    assert static and not [s for s in static if s not in names], "the planner page's files missing from the wheel"


def test_installed_package_runs_from_another_folder(installed):
    code = ("import json, sim\n"
            "from sim.config.presets import preset\n"
            "r = sim.run(sim.load_scenario().with_overrides({'market.n_accounts': 200}), 'blended', 1)\n"
            "print(json.dumps({'file': sim.__file__, 'preset': str(preset('default')), "
            "'won': r.summary['customers_won'], 'days': len(r.timeseries)}))\n")
    proc = _run([sys.executable, "-c", code], cwd=installed["cwd"], env=installed["env"])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    site = installed["site"].resolve()
    assert Path(out["file"]).resolve().is_relative_to(site), f"imported {out['file']}, not the installed copy"
    assert not Path(out["file"]).resolve().is_relative_to(ROOT)
    assert Path(out["preset"]).resolve().is_relative_to(site / "sim" / "presets"), out["preset"]
    # the installed copy computes what this checkout computes: same scenario, strategy and seed, same customers won
    import sim

    here = sim.run(sim.load_scenario().with_overrides({"market.n_accounts": 200}), "blended", 1)
    assert out["days"] == 365 == len(here.timeseries)
    assert out["won"] == here.summary["customers_won"], (out["won"], here.summary["customers_won"])


def test_installed_command_line_writes_results_under_the_current_folder(installed):
    cwd = installed["cwd"]
    proc = _run([sys.executable, "-m", "sim.cli.main", "--reps", "1", "--strategies", "blended", "--workers", "1",
                 "--quiet", "--set", "market.n_accounts=200"], cwd=cwd, env=installed["env"])
    summaries = list((cwd / "results").glob("*/*/summary.csv"))
    assert len(summaries) == 1, (sorted(p.relative_to(cwd) for p in cwd.rglob("*")), proc.stdout, proc.stderr)
    folder = summaries[0].parent
    assert str(folder) in proc.stdout
    assert {"summary.csv", "comparison.csv", "manifest.json", "report.html"} <= {p.name for p in folder.iterdir()}
    assert not list(installed["site"].rglob("results")), "results were written inside the installed package"
