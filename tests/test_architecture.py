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

Imports are read with ``ast`` from every module under sim/, at module level and inside functions. Inside a layer,
no module imports one that imports it back (no import cycles, not even inside one package), and no module uses
another's private (``_underscored``) names.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest
from interpreter_helpers import in_fresh_interpreter

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


def package_of(path: Path) -> str:
    """The package a module's relative imports start from: itself for an ``__init__.py``, else its parent."""
    mod = module_name(path)
    return mod if path.name == "__init__.py" else mod.rpartition(".")[0]


def from_target(node: ast.ImportFrom, package: str) -> str:
    """The module ``from X import ...`` imports from, a relative ``X`` resolved against ``package``."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    return ".".join(base[:len(base) - (node.level - 1)] + ([node.module] if node.module else []))


def sim_imports(path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, module) for every import of a ``sim`` module in the file, anywhere in it; ``from A import B``
    counts as importing ``A.B`` when that is a module, else ``A``; relative imports are resolved."""
    package = package_of(path)
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "sim"]
        elif isinstance(node, ast.ImportFrom):
            target = from_target(node, package)
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
# No import cycles, not even inside a package
# --------------------------------------------------------------------------------------------------------


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports: the first line that imports it}, for every module under sim/; what counts
    as an import: :func:`test_no_import_cycles_inside_the_package`."""
    known = modules()
    graph: dict[str, dict[str, int]] = {m: {} for m in known}
    for mod, path in known.items():
        for line, target in sim_imports(path, known):
            if target != mod and target in known:
                graph[mod].setdefault(target, line)
    return graph


def strongly_connected(graph: dict[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm, iterative), each sorted,
    in sorted order: every group of modules that import each other, directly or through others."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    group.append(top)
                    if top == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return sorted(found)


def shortest_cycle(graph: dict[str, Iterable[str]], start: str, within: set[str]) -> list[str]:
    """A shortest chain ``start -> ... -> start`` through the modules ``within`` (breadth first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in within:
                    continue
                if child == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(parent[chain[-1]])
                    return [*reversed(chain), start]
                if child not in parent:
                    parent[child] = node
                    nxt.append(child)
        frontier = nxt
    return []


def import_cycles() -> list[str]:
    """One message per group of modules that import each other: a shortest cycle as a chain of imports, each
    with its file and line, then the group's other imports among themselves."""
    graph = import_graph()
    known = modules()

    def hop(a: str, b: str) -> str:
        return f"{a} -> {b}  ({known[a].relative_to(ROOT).as_posix()}:{graph[a][b]})"

    out = []
    for group in strongly_connected(graph):
        members = set(group)
        chain = shortest_cycle(graph, group[0], members)
        hops = list(zip(chain, chain[1:]))
        lines = [f"{len(group)} modules import each other: {', '.join(group)}", "  a cycle:"]
        lines += [f"    {hop(a, b)}" for a, b in hops]
        rest = [hop(a, b) for a in group for b in sorted(graph[a]) if b in members and (a, b) not in hops]
        if rest:
            lines += ["  their other imports of each other:", *[f"    {r}" for r in rest]]
        out.append("\n".join(lines))
    return out


def test_no_import_cycles_inside_the_package():
    """No module imports, directly or through others, a module that imports it back: not across packages (the
    layers forbid that already) and not inside one (which the layers cannot see).

    What counts as module ``A`` importing module ``B`` (:func:`sim_imports`, :func:`import_graph`):

    * an ``import`` statement in A that names B, anywhere in the file: at module level, inside a function (a
      deferred import hides a cycle from Python, not from the design) or under ``TYPE_CHECKING``;
    * ``from P import name`` imports module ``P.name`` when that is a module, else ``P`` itself. So a package's
      ``__init__`` that re-exports its submodules is a node like any other: ``sim/x/__init__.py`` importing
      ``sim.x.a`` while ``sim.x.a`` does ``from sim.x import helper`` is a cycle (import the helper from the
      module that defines it);
    * importing ``sim.x.a`` is no import of ``sim.x`` (Python runs the package's ``__init__`` first, but ``a``
      depends on nothing it holds; else every package whose ``__init__`` re-exports were a cycle);
    * a module importing itself is ignored, and ``importlib.import_module`` of a computed name (the channel
      registry, :func:`sim.engine.channels.channel_module`) is no import statement and is not seen.

    A cycle means the two sides share something that belongs to neither: move it down into a module both import
    (a ``core`` of the package, a module of its own, or the lower of the two) and import it from there."""
    cycles = import_cycles()
    assert not cycles, (
        "import cycles (break each by moving what both sides need down into a module that both import, and "
        "importing it from there; a package's __init__ re-exports: import from the defining module instead):\n"
        + "\n".join(cycles))


def test_the_cycle_check_sees_a_cycle_through_a_function_and_a_package_init(tmp_path, monkeypatch):
    """The checker itself: a cycle closed by an import inside a function, and one through a package's
    ``__init__`` that re-exports a submodule which imports a name from the package; a submodule imported by
    its own name (``from sim.x import b``) is no import of ``__init__``."""
    fake = tmp_path / "sim"
    (fake / "x").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "x" / "__init__.py").write_text("from sim.x.a import f\nhelper = 1\n")
    (fake / "x" / "a.py").write_text("from sim.x import helper\n\ndef f():\n    return helper\n")
    (fake / "x" / "b.py").write_text("import numpy\n\ndef g():\n    from sim.x.c import h\n    return h\n")
    (fake / "x" / "c.py").write_text("from sim.x import b\n\ndef h():\n    return b\n")
    (fake / "x" / "d.py").write_text("from sim.x import c\nimport sim.x.d\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert strongly_connected(import_graph()) == [["sim.x", "sim.x.a"], ["sim.x.b", "sim.x.c"]]
    cycles = import_cycles()
    assert cycles[0] == ("2 modules import each other: sim.x, sim.x.a\n  a cycle:\n"
                         "    sim.x -> sim.x.a  (sim/x/__init__.py:1)\n    sim.x.a -> sim.x  (sim/x/a.py:1)")
    assert "sim.x.b -> sim.x.c  (sim/x/b.py:4)" in cycles[1] and "sim.x.c -> sim.x.b  (sim/x/c.py:1)" in cycles[1]


def test_strongly_connected_finds_every_cycle_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a", "f"}, "g": set()}
    assert strongly_connected(graph) == [["a", "b", "c"], ["d", "e"]]
    assert shortest_cycle(graph, "a", {"a", "b", "c"}) == ["a", "b", "c", "a"]
    chain = {f"m{i}": {f"m{i + 1}"} for i in range(5000)} | {"m5000": {"m0"}}  # deep: no recursion limit
    assert strongly_connected(chain) == [sorted(chain)]


# --------------------------------------------------------------------------------------------------------
# No private names across modules
# --------------------------------------------------------------------------------------------------------


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for an attribute chain of names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def private_imports() -> list[str]:
    """``from sim.a import _x``, and ``m._x`` where ``m`` names a sim module (``import sim.a as m``,
    ``from sim import a as m``, ``import sim.a`` then ``sim.a._x``), in every module under sim/ but for the
    module's own names. Dunder names (``__version__``) are public."""
    known = modules()
    problems = []
    for mod, path in known.items():
        package = package_of(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(ROOT).as_posix()
        aliases: dict[str, str] = {}  # a name bound to a sim module (anywhere in the file)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "sim":  # ``import sim.a.b`` binds ``sim``; ``... as m`` binds m
                        aliases[a.asname or "sim"] = a.name if a.asname else "sim"
            elif isinstance(node, ast.ImportFrom):
                target = from_target(node, package)
                if target.split(".")[0] != "sim":
                    continue
                for a in node.names:
                    if f"{target}.{a.name}" in known:
                        aliases[a.asname or a.name] = f"{target}.{a.name}"
                    if _private(a.name) and target != mod:
                        problems.append(f"{where}:{node.lineno}: from {target} import {a.name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                name = _dotted(node.value)
                if name is None:
                    continue
                root, _, rest = name.partition(".")
                if root not in aliases:
                    continue
                target = aliases[root] + (f".{rest}" if rest else "")
                if target in known and target != mod:
                    problems.append(f"{where}:{node.lineno}: {name}.{node.attr} (a private name of {target})")
    return sorted(set(problems))


def test_no_private_names_imported_across_modules():
    """A name with a leading underscore is its module's own business: another module that needs it makes it
    public where it is defined (drop the underscore) or moves it to the module that needs it."""
    problems = private_imports()
    assert not problems, ("private names used outside their module (make them public in the defining module, or "
                          "move them):\n  " + "\n  ".join(problems))


def test_the_private_name_check_sees_imports_and_module_attributes(tmp_path, monkeypatch):
    fake = tmp_path / "sim"
    (fake / "x").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "x" / "__init__.py").write_text("__version__ = '1'\n")
    (fake / "x" / "a.py").write_text("_h = 1\n_g = 2\n__all__ = []\n\ndef _f():\n    return _h\n")
    (fake / "x" / "b.py").write_text(
        "import sim.x.a\nfrom sim.x import a as m\nfrom sim.x.a import _f, __all__\nfrom sim.x import __version__\n"
        "\ndef g(obj):\n    from sim.x import a\n    return m._h, a._g, sim.x.a._f, obj._private, m.__name__\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert private_imports() == [
        "sim/x/b.py:3: from sim.x.a import _f",
        "sim/x/b.py:8: a._g (a private name of sim.x.a)",
        "sim/x/b.py:8: m._h (a private name of sim.x.a)",
        "sim/x/b.py:8: sim.x.a._f (a private name of sim.x.a)",
    ]


# --------------------------------------------------------------------------------------------------------
# What `import sim` loads
# --------------------------------------------------------------------------------------------------------

HEAVY = ("matplotlib", "dask", "distributed")


@pytest.mark.parametrize("module", ["sim", "sim.validation", "sim.executor", "sim.cli.main"])
def test_import_loads_neither_matplotlib_nor_dask(module, tmp_path):
    heavy = in_fresh_interpreter("import importlib, sys\n"
                                 f"m = importlib.import_module({module!r})\n"
                                 "import sim\n"
                                 f"result = sorted({{k.split('.')[0] for k in sys.modules}} & set({list(HEAVY)!r}))\n",
                                 cwd=tmp_path)
    assert heavy == [], f"import {module} loads {heavy}"


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
