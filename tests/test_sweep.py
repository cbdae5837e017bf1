"""Parameter sweeps (sim.sweep and sim.sweeps.design, sim.sweeps.store, sim.sweeps.report, run.py sweep).

Designs have the right size and bounds; serial, pool and Dask runs give identical frames; a sweep killed
with SIGKILL and resumed has every run exactly once and the same numbers as an uninterrupted one; Sobol
indices of the Ishigami function come out right; every bad input is one clear error before any run;
the command line writes a complete results folder.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from store_helpers import kill_after_runs, stored_runs

import sim
from sim.config.scenario import ScenarioError
from sim.sweeps import (
    Choice,
    LogUniform,
    Sweep,
    Uniform,
    design_points,
    load_sweep_file,
    morris_indices,
    sobol_indices,
    sweep,
)
from sim.sweeps.report import sobol_table
from sim.sweeps.store import SweepStore, load_sweep

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "default.toml"
TINY = {"market.n_accounts": 120, "scenario.horizon_days": 40, "scenario.warmup_days": 20, "channels.campaigns.burst_days": [5]}
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def tiny():
    return sim.load_scenario(DEFAULT).with_overrides(TINY)


# ------------------------------------------------------------------------------------------------ designs


def test_grid_size_order_and_balance(tiny):
    sw = Sweep(tiny, {"channels.content.budget": [10_000, 20_000, 40_000],
                      "sales.split.dialing": {"values": [0.0, 0.1], "balance": "meetings"}},
               reps=2, strategies=["blended", "networking"], seed=7)
    assert sw.n_points == 6 and sw.n_runs == 6 * 2 * 2
    assert sw.design.values == [(b, d) for b in (10_000.0, 20_000.0, 40_000.0) for d in (0.0, 0.1)]
    tasks = sw.tasks()
    assert len(set((p, s, sd) for p, s, _, sd in tasks)) == len(tasks) == sw.n_runs
    assert [sd for *_, sd in tasks[:4]] == [7, 8, 7, 8]  # common random numbers: same seeds everywhere
    # the donor keeps each strategy's split summing to 1: meetings = own meetings + own dialing - new dialing
    for point in range(sw.n_points):
        for s in sw.strategies:
            cfg = tiny.with_overrides(sw.point_overrides[point]).config_dict(s)["sales"]["split"]
            assert math.isclose(sum(cfg.values()), 1.0, abs_tol=1e-9)
            orig = tiny.config_dict(s)["sales"]["split"]
            new = sw.design.values[point][1]
            assert math.isclose(cfg["meetings"], orig["meetings"] + orig["dialing"] - new, abs_tol=1e-9)
            assert cfg["dialing"] == new
            assert sw.row_values[point][s]["sales.split.meetings"] == cfg["meetings"]


def test_lhs_random_sobol_morris_sizes_and_bounds(tiny):
    n = 40
    d = design_points({"a": Uniform(0.4, 0.7), "b": LogUniform(1e3, 1e5), "c": Choice(["x", "y"])}, "lhs", n, seed=3)
    assert len(d) == n and d.unit.shape == (n, 3)
    a = np.array([v[0] for v in d.values])
    b = np.array([v[1] for v in d.values])
    assert a.min() >= 0.4 and a.max() <= 0.7 and b.min() >= 1e3 and b.max() <= 1e5
    # Latin hypercube: exactly one point in each of the n equal strata of every dimension
    for j in range(3):
        assert sorted(np.floor(d.unit[:, j] * n).astype(int)) == list(range(n))
    assert {v[2] for v in d.values} == {"x", "y"}
    # integer parameter: whole numbers low..high, all of them used
    sw = Sweep(tiny, {"sales.n_reps": Uniform(2, 6), "market.readiness_mean": Uniform(0.4, 0.7)}, design="lhs",
               n=25, strategies=["blended"])
    reps = [v[0] for v in sw.design.values]
    assert all(isinstance(r, int) for r in reps) and set(reps) == {2, 3, 4, 5, 6}
    # random design: uniform marginals (Kolmogorov-Smirnov, fixed seed)
    r = design_points({"a": Uniform(0.4, 0.7)}, "random", 2000, seed=11)
    assert len(r) == 2000
    assert sps.kstest([v[0] for v in r.values], sps.uniform(0.4, 0.3).cdf).pvalue > 0.01
    logs = np.log10([v[0] for v in design_points({"b": LogUniform(1e3, 1e5)}, "random", 2000, seed=11).values])
    assert sps.kstest(logs, sps.uniform(3, 2).cdf).pvalue > 0.01
    s = design_points({"a": Uniform(0, 1), "b": Uniform(0, 1), "c": Uniform(0, 1)}, "sobol", 16, seed=1)
    assert len(s) == 16 * (3 + 2)
    m = design_points({"a": Uniform(0, 1), "b": Uniform(0, 1)}, "morris", 5, seed=1)
    assert len(m) == 5 * (2 + 1)


# ------------------------------------------------------------------------------------------- Sobol, Morris

ISHIGAMI_S1 = [0.3139, 0.4424, 0.0]
ISHIGAMI_ST = [0.5576, 0.4424, 0.2437]


def ishigami(values) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_indices_of_ishigami():
    params = {f"x{i}": Uniform(-math.pi, math.pi) for i in (1, 2, 3)}
    d = design_points(params, "sobol", 1024, seed=5)
    y = ishigami(d.values)
    res = sobol_indices(d.names, y, seed=5)
    for k, truth in (("S1", ISHIGAMI_S1), ("ST", ISHIGAMI_ST)):
        est, conf = res[k].to_numpy(), res[f"{k}_conf"].to_numpy()
        assert np.all(np.abs(est - truth) < 0.05), (k, est)  # stated tolerance
        assert np.all(np.abs(est - truth) <= conf), (k, est, conf)  # inside the 95% bootstrap interval
    assert np.all(res["ST_conf"] < 0.1)
    # the same numbers through the sweep-frame path (point, strategy, rep -> mean over reps per point)
    frame = pd.DataFrame({"point": np.repeat(np.arange(len(d)), 2), "strategy": "f", "rep": np.tile([0, 1], len(d)),
                          "seed": np.tile([1, 2], len(d))})
    noise = np.tile([-0.5, 0.5], len(d))  # cancels in the mean over the two replications
    frame["y"] = np.repeat(y, 2) + noise
    tab = sobol_table(frame, d.names, metrics=["y"], seed=5)
    np.testing.assert_allclose(tab["ST"].to_numpy(), res["ST"].to_numpy(), atol=1e-12)
    # a shuffled output has no structure: the indices of x2 collapse
    shuffled = sobol_indices(d.names, np.random.default_rng(0).permutation(y), seed=5)
    assert shuffled["S1"].iloc[1] < 0.2


def test_morris_linear_function():
    d = design_points({"a": Uniform(0, 10), "b": Uniform(0, 10)}, "morris", 10, seed=2)
    y = 3 * np.array([v[0] for v in d.values])  # only a matters; +30 over its range
    res = morris_indices(d.names, d.unit, y, seed=2)
    assert res["mu_star"].iloc[0] == pytest.approx(30.0)
    assert res["mu_star"].iloc[1] == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------------ serial = pool = Dask, and store

SWEEP_KW = dict(params={"channels.content.budget": Uniform(10_000, 400_000), "market.readiness_mean": [0.45, 0.65]},
                design="lhs", n=3, reps=2, strategies=["blended", "networking"], progress=False)


def test_serial_pool_dask_identical(tiny, tmp_path):
    serial = sweep(tiny, workers=1, **SWEEP_KW)
    assert len(serial) == 3 * 2 * 2
    assert list(serial.columns[:6]) == ["point", "strategy", "rep", "seed", "channels.content.budget",
                                        "market.readiness_mean"]
    assert set(sim.SOURCES) <= {c[len("deals_"):] for c in serial.columns if c.startswith("deals_")}
    assert list(zip(serial["point"], serial["strategy"], serial["seed"])) == \
        [(p, s, sd) for p in range(3) for s in ("blended", "networking") for sd in (1, 2)]
    # the parameter reached the model: total cost follows the content budget (its spend dominates the change)
    for _, g in serial.groupby(["strategy", "seed"]):
        assert np.corrcoef(g["channels.content.budget"], g["total_cost"])[0, 1] > 0.9
    pooled = sweep(tiny, workers=2, store=tmp_path / "pool.sqlite", **SWEEP_KW)
    pd.testing.assert_frame_equal(serial, pooled, check_exact=True)
    pd.testing.assert_frame_equal(serial, load_sweep(tmp_path / "pool.sqlite"), check_exact=True)

    distributed = pytest.importorskip("distributed")
    import dask

    scratch = dask.config.set({"temporary-directory": str(tmp_path)})  # no dask-scratch-space in /tmp
    with scratch, distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, silence_logs=40) as cluster:
        with distributed.Client(cluster) as client:
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in workers)  # loopback only
            on_dask = sweep(tiny, executor=client, **SWEEP_KW)
        by_address = sweep(tiny, executor=cluster.scheduler_address, **SWEEP_KW)
    pd.testing.assert_frame_equal(serial, on_dask, check_exact=True)
    pd.testing.assert_frame_equal(serial, by_address, check_exact=True)


KILL_SCRIPT = """
import sys
from sim.sweeps.design import sweep
sweep({scenario!r}, params={{"channels.content.budget": [10000, 400000],
                              "sales.split.dialing": {{"values": [0.0, 0.2, 0.4], "balance": "meetings"}}}},
      reps=2, strategies=["blended", "cold_calling"], workers=2, store=sys.argv[1], overrides={tiny!r},
      progress=False)
"""


def test_kill9_and_resume_every_run_once(tiny, tmp_path):
    psutil = pytest.importorskip("psutil")
    store = tmp_path / "killed.sqlite"
    script = KILL_SCRIPT.format(scenario=str(DEFAULT), tiny=TINY)
    children = kill_after_runs([sys.executable, "-c", script, str(store)], store, 3, cwd=tmp_path, what="sweep")
    stored = stored_runs(store)
    total = 6 * 2 * 2
    assert 3 <= stored < total, stored
    # the pool's workers notice their parent is gone and exit on their own
    gone, alive = psutil.wait_procs(children, timeout=60)  # they look every 0.5 s
    assert not alive, f"orphaned workers still running: {alive}"

    kw = dict(params={"channels.content.budget": [10000, 400000],
                      "sales.split.dialing": {"values": [0.0, 0.2, 0.4], "balance": "meetings"}},
              reps=2, strategies=["blended", "cold_calling"], overrides=TINY, progress=False)
    stats: dict = {}
    sw = Sweep(DEFAULT, **{k: v for k, v in kw.items() if k != "progress"})
    resumed = sw.run(workers=1, store=store, progress=False, stats=stats)
    assert stats["total"] == total and stats["reused"] == stored and stats["executed"] == total - stats["reused"]
    assert len(resumed) == total
    assert not resumed.duplicated(["point", "strategy", "seed"]).any()
    with closing(sqlite3.connect(store)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == total
        assert conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM runs GROUP BY point, strategy, seed "
                            "HAVING COUNT(*) > 1)").fetchone()[0] == 0
    fresh = sweep(DEFAULT, workers=1, **kw)  # uninterrupted, in memory
    pd.testing.assert_frame_equal(resumed, fresh, check_exact=True)
    again: dict = {}
    sw.run(workers=1, store=store, progress=False, stats=again)  # nothing left to do
    assert again["executed"] == 0 and stored_runs(store) == total


GUARD_SCRIPT = """
import sim

scenario = sim.load_scenario().with_overrides({tiny!r})
{guard}df = sim.sweep(scenario, params={{"channels.content.budget": [10_000, 20_000]}}, strategies=["blended"],
{indent}             workers=2, store="content.sqlite", progress=False)
{indent}print(len(df), "runs")
"""


def _script(guarded: bool) -> str:
    return GUARD_SCRIPT.format(tiny=TINY, guard='if __name__ == "__main__":\n    ' if guarded else "",
                               indent="    " if guarded else "")


def _python(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          timeout=600)


def test_spawned_workers_need_the_main_guard(tmp_path):
    """README's two-worker example pasted into a script without `if __name__ == "__main__":` (or piped to
    python): one RuntimeError naming the fix, no traceback from the workers, no misleading "in use" message,
    no store left behind. With the guard the same script runs."""
    script = tmp_path / "no_guard.py"
    script.write_text(_script(guarded=False))
    for args, stdin, words in (([str(script)], None, "could not start: each one re-imports the main script "
                                                        f"({script})"),
                               (["-"], _script(guarded=False), "cannot start: they re-import the main script, but "
                                                                "it was read from standard input")):
        proc = _python(args, tmp_path, stdin)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.count("Traceback") == 1, proc.stderr  # the script's own, not one per worker
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("RuntimeError: worker processes ") and words in last, last
        assert 'under `if __name__ == "__main__":`' in last and "workers=1" in last, last
        assert "in use" not in proc.stderr and proc.stdout == ""
        assert sorted(p.name for p in tmp_path.iterdir()) == ["no_guard.py"]  # no store left behind

    guarded = tmp_path / "guarded.py"
    guarded.write_text(_script(guarded=True))
    proc = _python([str(guarded)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2 runs" and (tmp_path / "content.sqlite").is_file()


def test_store_refuses_other_definition_and_foreign_files(tiny, tmp_path):
    one = dict(params={"market.readiness_mean": [0.5]}, strategies=["blended"], progress=False)
    path = tmp_path / "s.sqlite"
    sweep(tiny, workers=1, store=path, **one)
    with pytest.raises(ScenarioError, match="different sweep definition"):
        sweep(tiny, workers=1, store=path, reps=2, **one)
    with pytest.raises(ScenarioError, match="different sweep definition"):
        sweep(tiny.with_overrides({"market.n_accounts": 130}), workers=1, store=path, **one)
    assert stored_runs(path) == 1
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database " * 100)
    with pytest.raises(ScenarioError, match="not a sweep store"):
        sweep(tiny, workers=1, store=text, **one)
    sw = Sweep(tiny, one["params"], strategies=["blended"])
    with SweepStore.open(path, sw):
        with pytest.raises(ScenarioError, match="in use by another running sweep"):
            SweepStore.open(path, sw)


def test_store_refuses_another_package_version(tmp_path, monkeypatch, capsys):
    """A store written by another version of the package is not resumed (its numbers may differ)."""
    import run
    from sim.io import package_version

    f = _sweep_file(tmp_path, 'strategies = ["blended"]\n' + TINY_TOML + "[params]\nmarket.readiness_mean = [0.5]\n")
    sw = load_sweep_file(f)
    path = tmp_path / "s.sqlite"
    with SweepStore.open(path, sw):  # records the package version; no run needed
        pass
    with closing(sqlite3.connect(path)) as conn, conn:  # closed, not left to the garbage collector
        conn.execute("UPDATE meta SET value = '0.0.1' WHERE key = 'package_version'")
    ran = []
    monkeypatch.setattr(sys.modules["sim.sweeps.design"], "_run_one", lambda *a: ran.append(a))
    with pytest.raises(ScenarioError) as info:
        sw.run(workers=1, store=path, progress=False)
    msg = str(info.value)
    assert msg.startswith(f"{path}: was written by buyer-journey-sim 0.0.1, but this is version "
                          f"{package_version()}"), msg
    assert "another store path" in msg and "\n" not in msg
    # the command line refuses it before anything runs or is written
    code = run.main(["sweep", str(f), "--store", str(path), "--out", str(tmp_path / "res"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "written by buyer-journey-sim 0.0.1" in err, err
    assert not (tmp_path / "res").exists() and not ran


def test_module_and_function_names():
    """sim.sweep is the documented function; the module is sim.sweeps.design and is not shadowed."""
    import importlib
    import inspect

    import sim.sweeps.design as module

    assert inspect.ismodule(module) and module is importlib.import_module("sim.sweeps.design")
    assert callable(module.load_sweep) and module.Sweep is sim.Sweep
    assert inspect.isfunction(sim.sweep) and sim.sweep is module.sweep
    assert not hasattr(sim.sweep, "load_sweep")


# -------------------------------------------------------------------------------------------- bad input

BAD = [
    ({"params": {"market.readines_mean": [0.5]}}, "no such parameter; did you mean 'market.readiness_mean'"),
    ({"params": {"market.readiness_mean": []}}, "empty list"),
    ({"params": {"market.readiness_mean": Uniform(0.7, 0.4)}, "design": "lhs", "n": 4}, "empty or inverted range"),
    ({"params": {"market.readiness_mean": Uniform(0.5, 0.5)}, "design": "lhs", "n": 4}, "empty or inverted range"),
    ({"params": {"market.readiness_mean": {"low": 0.5, "high": 1.5}}, "design": "lhs", "n": 4},
     "outside the allowed range"),
    ({"params": {"market.readiness_mean": [0.5, 2.0]}}, "value 2.0 is not allowed"),
    ({"params": {"market.readiness_mean": Uniform(0.4, 0.7)}}, "design \"grid\" needs a list of values"),
    ({"params": {"market.readiness_mean": [0.4, 0.7]}, "design": "sobol", "n": 8}, "needs a range"),
    ({"params": {"market.readiness_mean": Uniform(0.4, 0.7)}, "design": "sobol", "n": 10}, "power of two"),
    ({"params": {"market.readiness_mean": Uniform(0.4, 0.7)}, "design": "lhs"}, "needs n"),
    ({"params": {"market.readiness_mean": [0.4]}, "n": 4}, "is not used by design \"grid\""),
    ({"params": {"market.readiness_mean": [0.4]}, "design": "latin"}, "must be one of grid, random, lhs"),
    ({"params": {"market.readiness_mean": [0.4]}, "strategies": ["nope"]}, "unknown strategy 'nope'"),
    ({"params": {"market.readiness_mean": [0.4]}, "reps": 0}, "reps"),
    ({"params": {"market.readiness_mean": 0.4}}, "a single value is not a sweep"),
    ({"params": {"market.readiness_mean": {"low": 0.4, "hgih": 0.6}}}, "unknown key"),
    ({"params": {"sales.n_reps": Uniform(1.5, 4)}, "design": "lhs", "n": 3}, "whole numbers"),
    ({"params": {"channels.campaigns.sharing": Uniform(0, 1)}, "design": "lhs", "n": 3}, "only fits a number"),
    ({"params": {"sales.split.dialing": [0.1, 0.3]}}, "rep time shares must add up to 1"),
    ({"params": {"sales.split.dialing": {"values": [0.1], "balance": "meting"}}}, "unknown donor 'meting'"),
    ({"params": {"sales.split.dialing": {"values": [0.1, 0.9], "balance": "meetings"}}, "strategies": ["blended"]},
     "would be -0.2, outside its allowed range"),
    ({"params": {"channels.campaigns.burst_days": [[5], [50]]}}, "burst days must be within the horizon"),
    ({"params": {"strategies.blended.channels.content.budget": [1.0, 2.0]}}, "changes strategy 'blended' only"),
    ({"params": {"market.readiness_mean": [0.4]}, "executor": "tcp://127.0.0.1:1"}, "cannot reach the Dask"),
    ({"params": {"market.readiness_mean": [0.4]}, "executor": "127.0.0.1:8786"}, "must be a Dask scheduler address"),
]


@pytest.mark.parametrize("kwargs, words", BAD, ids=[w[:30] for _, w in BAD])
def test_bad_input_fails_before_any_run(tiny, tmp_path, kwargs, words, monkeypatch):
    ran = []
    monkeypatch.setattr(sys.modules["sim.sweeps.design"], "_run_one", lambda *a: ran.append(a))  # would record any run
    store = tmp_path / "never.sqlite"
    with pytest.raises(ScenarioError) as info:
        sweep(tiny, store=store, workers=1, progress=False, **kwargs)
    msg = str(info.value)
    assert words in msg, msg
    assert "\n" not in msg
    assert not ran and not store.exists()


# ------------------------------------------------------------------------------------------ command line


def _sweep_file(folder: Path, body: str, name: str = "tiny.toml") -> Path:
    rel = os.path.relpath(DEFAULT, folder)
    path = folder / name
    path.write_text(f'scenario = "{rel}"\n' + textwrap.dedent(body))
    return path


TINY_TOML = """
[overrides]
market.n_accounts = 120
scenario.horizon_days = 40
scenario.warmup_days = 20
channels.campaigns.burst_days = [5]
"""


def test_cli_end_to_end(tmp_path, capsys):
    import run

    f = _sweep_file(tmp_path, """
        name = "tiny"
        design = "sobol"
        n = 2
        reps = 1
        strategies = ["blended"]
        metrics = ["leads", "total_cost"]
        [params]
        channels.content.budget = { low = 10_000, high = 400_000 }
        sales.split.dialing = { low = 0.0, high = 0.4, balance = "meetings" }
        """ + TINY_TOML)
    out = tmp_path / "res"
    assert run.main(["sweep", str(f), "--workers", "1", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"Results: {out}" in printed and "depends most on" in printed
    df = pd.read_csv(out / "sweep.csv")
    assert len(df) == 2 * (2 + 2)
    assert {"channels.content.budget", "sales.split.dialing", "sales.split.meetings", "leads"} <= set(df.columns)
    assert np.allclose(df["sales.split.dialing"] + df["sales.split.meetings"], 0.25 + 0.45)
    sob = pd.read_csv(out / "sobol.csv")
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(sob.columns) and set(sob["parameter"]) == {
        "channels.content.budget", "sales.split.dialing"}
    for name in ("sensitivity.csv", "manifest.json", "report.html", "sweep.sqlite"):
        assert (out / name).is_file(), name
    pngs = sorted(p.name for p in (out / "charts").glob("*.png"))
    assert {"sobol_leads.png", "tornado_leads.png", "heatmap_leads.png", "leads_vs_params.png"} <= set(pngs)
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(pngs) and "<script" not in html
    pd.testing.assert_frame_equal(load_sweep(out), df, check_dtype=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folder left behind"

    # nothing left to resume
    assert run.main(["sweep", str(f), "--out", str(out), "--resume", "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_cli_resume_runs_only_missing(tmp_path, capsys):
    import run

    f = _sweep_file(tmp_path, """
        reps = 2
        strategies = ["blended"]
        [params]
        market.readiness_mean = [0.45, 0.6, 0.7]
        """ + TINY_TOML)
    out = tmp_path / "res"
    partial = tmp_path / ".res.partial"
    partial.mkdir()
    sw = load_sweep_file(f)
    sw.run(workers=1, store=partial / "sweep.sqlite", progress=False)
    with closing(sqlite3.connect(partial / "sweep.sqlite")) as conn, conn:  # as if killed after 2 of 6 runs
        conn.execute("DELETE FROM runs WHERE point > 0")
    assert run.main(["sweep", str(f), "--out", str(out), "--resume", "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert "4 runs done" in err and "(2 already in the store)" in err
    assert len(pd.read_csv(out / "sweep.csv")) == 6 and not partial.exists()


CLI_BAD = [
    ("[params]\nmarket.readiness_mean = { low = 0.7, high = 0.4 }\n", [], "empty or inverted range"),
    ("design = \"grid\"\n[params]\nmarket.readiness_mean = { low = 0.4, high = 0.7 }\n", [], "needs a list"),
    ("design = \"sobol\"\nn = 4\n[params]\nmarket.readiness_mean = [0.4, 0.7]\n", [], "needs a range"),
    ("[params]\nmarket.readines_mean = [0.4]\n", [], "no such parameter"),
    ("[params]\nmarket = { readiness_mean = { low = 0.4, hgih = 0.6 } }\n", [], "unknown key"),
    ("desing = \"grid\"\n[params]\nmarket.readiness_mean = [0.4]\n", [], "did you mean 'design'"),
    ("[params]\nmarket.readiness_mean = [0.4]\n", ["--scheduler", "tcp://127.0.0.1:1"], "cannot reach"),
    ("[params]\nmarket.readiness_mean = [0.4]\n", ["--workers", "0"], "--workers: must be at least 1"),
    ("[params]\nmarket.readiness_mean = [0.4]\n", ["--resume"], "nothing to resume"),
]


@pytest.mark.parametrize("body, extra, words", CLI_BAD, ids=[w for *_, w in CLI_BAD])
def test_cli_bad_input_exit_2_and_nothing_written(tmp_path, capsys, body, extra, words):
    import run

    f = _sweep_file(tmp_path, body)
    before = sorted(os.listdir(tmp_path))
    out = tmp_path / "res"
    code = run.main(["sweep", str(f), "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    assert sorted(os.listdir(tmp_path)) == before


def test_cli_missing_scenario_file(tmp_path, capsys):
    import run

    f = tmp_path / "s.toml"
    f.write_text('scenario = "nope.toml"\n[params]\nmarket.readiness_mean = [0.4]\n')
    assert run.main(["sweep", str(f), "--out", str(tmp_path / "res")]) == 2
    assert "scenario file not found" in capsys.readouterr().err


def test_example_sweep_files_are_valid():
    files = sorted((ROOT / "scenarios" / "sweeps").glob("*.toml"))
    assert len(files) >= 2
    designs = {load_sweep_file(f).design.design for f in files}
    assert {"grid", "sobol"} <= designs
    grid = load_sweep_file(ROOT / "scenarios" / "sweeps" / "content_x_dialing.toml")
    assert set(grid.names) == {"channels.content.budget", "sales.split.dialing"}
    assert grid.balance_donors == {"sales.split.dialing": "sales.split.meetings"}
