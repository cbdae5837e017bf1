"""End-to-end tests of the command line (run.py) on a deliberately small scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from store_helpers import stored_runs

ROOT = Path(__file__).resolve().parent.parent
RUN_PY = ROOT / "run.py"
DEFAULT_SCENARIO = ROOT / "scenarios" / "default.toml"
sys.path.insert(0, str(ROOT))

import run  # noqa: E402  (run.py at the project root)

# A small, fast version of the default scenario.
SMALL = {"market.n_accounts": 150, "scenario.horizon_days": 60, "scenario.warmup_days": 0, "channels.campaigns.burst_days": [10, 40]}
SMALL_ARGS = [a for k, v in SMALL.items() for a in ("--set", f"{k}={v}")]
REPS = 3

SUMMARY_COLUMNS = [
    "strategy", "seed", "customers_won", "conversion_rate", "total_cost", "cac", "revenue", "ltv", "ltv_to_cac",
    "median_cycle_days", "median_progress_at_first_contact", "leads", "meetings",
]
RESULT_FILES = ["summary.csv", "comparison.csv", "timeseries.parquet", "samples.parquet", "manifest.json", "report.html"]


def _strategies() -> list[str]:
    import sim

    return list(sim.load_scenario(DEFAULT_SCENARIO).strategies)


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


def _subprocess(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(RUN_PY), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)  # a guard against a hang, not a timing: a loaded machine may be slow


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two identical in-process runs into the same --out: the second must land in a new folder."""
    base = tmp_path_factory.mktemp("cli")
    out = base / "res"
    argv = ["run", str(DEFAULT_SCENARIO), "--reps", str(REPS), "--workers", "1", "--quiet", "--out", str(out),
            *SMALL_ARGS]
    first = run.main(argv)
    second = run.main([*argv, "--reps", "1", "--strategies", _strategies()[0]])  # smaller, same --out
    return base, out, [first, second]


def test_end_to_end_files(two_runs):
    base, out, codes = two_runs
    assert codes == [0, 0]
    for name in RESULT_FILES:
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    pngs = list((out / "charts").glob("*.png"))
    assert len(pngs) >= 8
    assert not [p for p in base.iterdir() if p.name.startswith(".")], "temporary folder left behind"


def test_two_runs_never_overwrite(two_runs):
    base, out, _ = two_runs
    second = out.with_name(out.name + "-2")
    assert second.is_dir()
    assert sorted(p.name for p in base.iterdir()) == ["res", "res-2"]
    for name in RESULT_FILES:
        assert (second / name).is_file()


def test_summary_layout(two_runs):
    _, out, _ = two_runs
    summary = pd.read_csv(out / "summary.csv")
    strategies = _strategies()
    assert list(summary.columns[:2]) == ["strategy", "seed"]
    assert set(SUMMARY_COLUMNS) <= set(summary.columns)
    assert len(summary) == len(strategies) * REPS
    assert list(summary["strategy"].unique()) == strategies
    for _, group in summary.groupby("strategy"):  # common random numbers: same seeds for everyone
        assert sorted(group["seed"]) == [1, 2, 3]


def test_timeseries_and_samples_tidy(two_runs):
    _, out, _ = two_runs
    assert not (out / "timeseries.csv").exists() and not (out / "samples.csv").exists()
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert list(ts.columns[:3]) == ["strategy", "seed", "day"]
    assert not ts.duplicated(["strategy", "seed", "day"]).any()
    assert ts.groupby(["strategy", "seed"]).ngroups == len(_strategies()) * REPS
    samples = pd.read_parquet(out / "samples.parquet")
    assert list(samples.columns) == ["strategy", "seed", "kind", "value"]
    assert {"progress_at_first_contact", "cycle_days"} <= set(samples["kind"])  # always present; other kinds optional
    comparison = pd.read_csv(out / "comparison.csv")
    assert {"strategy", "metric", "mean", "ci_low", "ci_high", "best", "clear"} <= set(comparison.columns)


def test_report_self_contained(two_runs):
    _, out, _ = two_runs
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png" in text
    assert "http://" not in text and "https://" not in text
    # every --set in words with the preset's value (the overrides reach the report from the command line)
    assert "market.n_accounts set to 150 (preset: 2,000)" in text
    assert "scenario.horizon_days set to 60 (preset: 365)" in text
    assert "What each strategy spends, per channel" in text and "How each strategy's reps split" in text
    assert 'alt="funnel"' in text


def test_manifest(two_runs):
    _, out, _ = two_runs
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["strategies"] == _strategies()
    assert m["seeds"] == [1, 2, 3] and m["reps"] == REPS
    assert m["package_version"]
    assert "run.py" in m["command"] and "--reps 3" in m["command"]
    started, finished = datetime.fromisoformat(m["started"]), datetime.fromisoformat(m["finished"])
    assert started <= finished
    for lib in ("python", "numpy", "mesa"):
        assert m["versions"][lib]
    assert m["overrides"] == SMALL  # the --set values, as given
    node = m["scenario"]  # the scenario as resolved after --set
    assert isinstance(node, dict)
    for key, value in SMALL.items():
        d = node
        for part in key.split("."):
            d = d[part]
        assert d == value, key


def test_serial_and_pool_identical():
    import sim
    from sim.analysis.experiment import run_many

    scenario = sim.load_scenario(DEFAULT_SCENARIO).with_overrides(SMALL)
    strategies = list(scenario.strategies)[:2]
    serial = run_many(scenario, strategies=strategies, reps=2, seed=7, workers=1, progress=False)
    pooled = run_many(scenario, strategies=strategies, reps=2, seed=7, workers=2, progress=False)
    assert serial.seeds == pooled.seeds == [7, 8]
    pd.testing.assert_frame_equal(serial.summary, pooled.summary)
    pd.testing.assert_frame_equal(serial.timeseries, pooled.timeseries)
    pd.testing.assert_frame_equal(serial.samples, pooled.samples)


# --------------------------------------------------------------------------------------------------------
# Bad input: exit 2, exactly one "error: ..." line, no traceback, nothing written
# --------------------------------------------------------------------------------------------------------


def _bad_cases(tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (argv, words the error line must contain)."""
    bad_toml = tmp / "broken.toml"
    bad_toml.write_text('[scenario\nname = "x"\n', encoding="utf-8")
    folder = tmp / "a_folder.toml"
    folder.mkdir(exist_ok=True)
    empty = tmp / "empty.toml"
    empty.write_bytes(b"")
    comments = tmp / "comments.toml"
    comments.write_text("# a scenario, some day\n\n# [strategies.x]\n", encoding="utf-8")
    presets = tmp / "presets"
    presets.mkdir(exist_ok=True)
    (presets / "default.toml").write_bytes(DEFAULT_SCENARIO.read_bytes())
    s = str(DEFAULT_SCENARIO)
    return {
        "missing_file": (["run", str(tmp / "nope.toml")], ["nope.toml"]),
        "not_a_file": (["run", str(folder)], ["a_folder.toml", "is a folder, not a scenario file"]),
        "folder_shorthand": ([f"{presets}/"], [str(presets), "is a folder, not a scenario file",
                                                str(presets / "default.toml")]),
        "empty_file": (["run", str(empty)], [str(empty), "has no [strategies]", "at least one strategy"]),
        "comments_only": ([str(comments)], [str(comments), "has no [strategies]", "at least one strategy"]),
        "unknown_word": (["runn"], ["'runn'", "neither a command", "nor a scenario file"]),
        "toml_syntax": (["run", str(bad_toml)], ["broken.toml"]),
        "unknown_strategy": (["run", s, "--strategies", "no_such_strategy"], ["no_such_strategy"]),
        "set_without_equals": (["run", s, "--set", "market.n_accounts"], ["market.n_accounts", "="]),
        "set_unknown_path": (["run", s, "--set", "market.no_such_key=3"], ["no_such_key"]),
        "set_out_of_range": (["run", s, "--set", "market.n_accounts=-5"], ["n_accounts"]),
        "set_not_a_choice": (["run", s, "--set", "policy.lead_queue=lifo"],
                             ["policy.lead_queue", '"freshest", "oldest"', "'lifo'"]),
        "reps_zero": (["run", s, "--reps", "0"], ["--reps"]),
        "workers_zero": (["run", s, "--workers", "0"], ["--workers"]),
        "seed_negative": (["run", s, "--seed", "-1"], ["--seed"]),
        "reps_not_int": (["run", s, "--reps", "many"], ["--reps"]),
        "scheduler_refused": (["run", s, "--scheduler", "tcp://127.0.0.1:1"],
                              ["run.py run: --scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:1"]),
        "scheduler_not_an_address": (["run", s, "--scheduler", "localhost:8786"],
                                     ["run.py run: --scheduler: must be a Dask scheduler address like "
                                      "tcp://HOST:8786, got 'localhost:8786'"]),
        "resume_nothing": (["run", s, "--resume"], ["run.py run: --resume: nothing to resume"]),
    }


BAD_NAMES = ["missing_file", "not_a_file", "folder_shorthand", "empty_file", "comments_only", "unknown_word",
             "toml_syntax", "unknown_strategy", "set_without_equals",
             "set_unknown_path", "set_out_of_range", "set_not_a_choice", "reps_zero", "workers_zero", "seed_negative", "reps_not_int",
             "scheduler_refused", "scheduler_not_an_address", "resume_nothing"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_input_in_process(name, tmp_path, capsys):
    argv, words = _bad_cases(tmp_path)[name]
    parent = tmp_path / "out_parent"
    parent.mkdir()
    results_before = _listing(ROOT / "results")
    code = run.main([*argv, "--out", str(parent / "res"), "--quiet"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in captured.err
    assert _listing(parent) == []
    assert _listing(ROOT / "results") == results_before


@pytest.mark.parametrize("name", ["missing_file", "toml_syntax", "set_unknown_path", "reps_zero", "scheduler_refused",
                                  "empty_file", "folder_shorthand"])
def test_bad_input_subprocess(name, tmp_path):
    argv, words = _bad_cases(tmp_path)[name]
    parent = tmp_path / "out_parent"
    parent.mkdir()
    proc = _subprocess([*argv, "--out", str(parent / "res")], cwd=tmp_path)  # cwd is not the project
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert _listing(parent) == []
    assert not (tmp_path / "results").exists()


def test_scenarios_folder_is_not_a_scenario(tmp_path):
    """`python run.py scenarios/`, typed in the project folder: the folder is named, with a file to use."""
    proc = _subprocess(["scenarios/", "--reps", "1", "--quiet"], cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == ["error: scenarios is a folder, not a scenario file; name a .toml file in it, e.g. "
                     "python run.py scenarios/default.toml"], proc.stderr
    assert proc.stdout == ""


def test_subprocess_success(tmp_path):
    out = tmp_path / "res"
    strategies = _strategies()[:2]
    proc = _subprocess(["run", str(DEFAULT_SCENARIO), "--reps", "2", "--workers", "2", "--quiet", "--out", str(out),
                        "--strategies", ",".join(strategies), *SMALL_ARGS], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(out) in proc.stdout
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["strategy"].unique()) == strategies and len(summary) == 4


# --------------------------------------------------------------------------------------------------------
# Interrupts, defaults, help
# --------------------------------------------------------------------------------------------------------


def test_keyboard_interrupt_while_simulating_leaves_nothing(tmp_path, capsys, monkeypatch):
    import sim.analysis.experiment

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.analysis.experiment, "run_many", interrupt)
    parent = tmp_path / "out_parent"
    parent.mkdir()
    code = run.main(["run", str(DEFAULT_SCENARIO), "--reps", "1", "--workers", "1", "--quiet",
                     "--strategies", _strategies()[0], "--out", str(parent / "deep" / "res"), *SMALL_ARGS])
    err = capsys.readouterr().err
    assert code == 130
    assert err == "error: interrupted before any run finished; no results were written\n"
    assert _listing(parent) == []


def test_keyboard_interrupt_while_writing_keeps_the_runs(tmp_path, capsys, monkeypatch):
    """Interrupted while writing: no results folder, but the finished runs stay in the hidden store, and the
    same command then writes the results without simulating again (and removes the store)."""
    import sim.analysis.charts
    import sim.analysis.experiment

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    parent = tmp_path / "out_parent"
    parent.mkdir()
    argv = ["run", str(DEFAULT_SCENARIO), "--reps", "2", "--workers", "1", "--quiet", "--strategies", _strategies()[0],
            "--out", str(parent / "deep" / "res"), *SMALL_ARGS]
    with monkeypatch.context() as m:
        m.setattr(sim.analysis.charts, "make_all", interrupt)
        code = run.main(argv)
    err = capsys.readouterr().err
    assert code == 130
    assert err.startswith("error: interrupted while writing the results; all 2 runs are saved in ") and \
        "run the same command again" in err and "Traceback" not in err
    assert _listing(parent) == ["deep"]
    [store] = os.listdir(parent / "deep")
    assert store.startswith(".res.runs-") and store.endswith(".sqlite")

    def no_simulation(*args, **kwargs):
        raise AssertionError("a stored run was simulated again")

    monkeypatch.setattr(sim.analysis.experiment, "_simulate", no_simulation)
    assert run.main(argv) == 0
    assert _listing(parent / "deep") == ["res"]  # the store is gone once the results folder is complete
    assert json.loads((parent / "deep" / "res" / "manifest.json").read_text())["runs_from_store"] == 2


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT delivery are POSIX")
def test_ctrl_c_on_a_real_process(tmp_path):
    """SIGINT to the whole process group (what Ctrl-C does) while the pool runs: exit 130, nothing written."""
    import signal
    import time

    parent = tmp_path / "out_parent"
    parent.mkdir()
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.Popen(
        [sys.executable, str(RUN_PY), "run", str(DEFAULT_SCENARIO), "--reps", "200", "--workers", "2",
         "--out", str(parent / "res")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # background jobs may inherit SIG_IGN
    )
    try:
        first = proc.stderr.readline()  # "Running ..." is printed just before the simulations start
        assert first.startswith("Running"), first
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, first + err
    assert "interrupted" in err and "Traceback" not in err
    # no results folder; the runs that finished before Ctrl-C (if any) wait in the hidden store for a rerun
    left = _listing(parent)
    assert left == [] or (len(left) == 1 and left[0].startswith(".res.runs-") and "saved in" in err), (left, err)


# The command line in a child process whose 4th simulation never ends: it is killed with certainty after
# exactly 3 runs are committed, whatever the load (the test polls the store; it never sleeps a fixed time).
STUCK_AFTER_3 = """
import sys, threading
sys.path.insert(0, {root!r})
import sim.analysis.experiment as ex
from sim.cli.main import main

real, calls = ex._simulate, []

def simulate(*args):
    calls.append(args)
    if len(calls) > 3:
        threading.Event().wait()  # stuck here until killed
    return real(*args)

ex._simulate = simulate
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_kill9_then_the_same_command_resumes_byte_identical(tmp_path, capsys, monkeypatch):
    import signal
    import time

    import sim
    import sim.analysis.charts
    from sim.cli.run import store_path

    monkeypatch.setattr(sim.analysis.charts, "make_all", lambda *a, **k: [])  # the numbers are the point here
    strategies = _strategies()[:2]
    args = ["run", str(DEFAULT_SCENARIO), "--reps", "3", "--seed", "4", "--workers", "1", "--quiet",
            "--strategies", ",".join(strategies), *SMALL_ARGS]
    killed = tmp_path / "killed"
    killed.mkdir()
    out = killed / "res"
    scenario = sim.load_scenario(DEFAULT_SCENARIO).with_overrides(SMALL)
    store = store_path(scenario, strategies, [4, 5, 6], out)
    assert store.parent == killed and store.name.startswith(".res.runs-")

    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.Popen([sys.executable, "-c", STUCK_AFTER_3.format(root=str(ROOT)), *args, "--out", str(out)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300  # a guard against a hang, not a timing
        while stored_runs(store) < 3:
            assert proc.poll() is None, f"the run ended early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no 3 runs stored within 300 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert stored_runs(store) == 3
    # no results folder, no temporary folder: only the store (and its WAL files, as a kill leaves them)
    assert {name[:len(store.name)] for name in _listing(killed)} == {store.name}

    # the same command again: only the 3 missing runs are simulated; the store goes once the folder is written
    code = run.main([*[a for a in args if a != "--quiet"], "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"Resuming: 3 of 6 runs are already done ({store})" in err and "Simulated 3 runs" in err, err
    assert _listing(killed) == ["res"]
    assert json.loads((out / "manifest.json").read_text())["runs_from_store"] == 3

    fresh = tmp_path / "fresh"
    assert run.main([*args, "--out", str(fresh)]) == 0
    for name in ("summary.csv", "comparison.csv", "timeseries.parquet", "samples.parquet"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


def test_no_arguments_means_default_scenario(monkeypatch):
    seen = {}

    def fake_cmd_run(args, argv):
        seen.update(vars(args))
        return 0

    import sim.cli.run

    monkeypatch.setattr(sim.cli.run, "cmd_run", fake_cmd_run)
    assert run.main([]) == 0
    assert Path(seen["scenario"]) == DEFAULT_SCENARIO
    assert seen["reps"] == 20 and seen["seed"] == 1 and seen["workers"] is None and seen["out"] is None
    # flags without a command run the default scenario; a scenario file without a command runs it
    assert run.main(["--reps", "3", "--seed", "7"]) == 0
    assert Path(seen["scenario"]) == DEFAULT_SCENARIO and seen["reps"] == 3 and seen["seed"] == 7
    enterprise = str(DEFAULT_SCENARIO.parent / "enterprise.toml")
    assert run.main([enterprise, "--reps", "2"]) == 0
    assert seen["scenario"] == enterprise and seen["reps"] == 2


def test_shorthand_bad_flags_are_usage_errors(tmp_path, capsys):
    assert run.main(["--bogus"]) == 2
    assert run.main(["--reps", "0", "--out", str(tmp_path / "res"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "unrecognized arguments: --bogus" in err[0] and "--reps" in err[-1]
    assert not (tmp_path / "res").exists()


def test_help_explains_every_flag(capsys):
    assert run.main(["--help"]) == 0
    top = capsys.readouterr().out
    assert "run" in top and "default.toml" in top
    assert run.main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--reps", "--seed", "--workers", "--scheduler", "--resume", "--out", "--set", "--strategies",
                 "--quiet", "SCENARIO"):
        assert flag in text, flag


def test_parse_value():
    assert run.parse_value("500") == 500
    assert run.parse_value("0.25") == 0.25
    assert run.parse_value("true") is True
    assert run.parse_value('"abc"') == "abc"
    assert run.parse_value("[1, 2]") == [1, 2]
    assert run.parse_value("plain words") == "plain words"


def test_int_flag_messages():
    """One helper checks the whole-number flags of every command: one line naming the flag and the rule."""
    import sim
    from sim.cli.common import check_int_flags

    rules = {"reps": 1, "seed": 0, "workers": 1}
    check_int_flags("run.py run", {"reps": 1, "seed": 0, "workers": None}, rules)  # None: default applies
    cases = [({"reps": 0, "seed": 1}, "run.py run: --reps: must be at least 1 (got 0)"),
             ({"reps": 2, "seed": -1}, "run.py run: --seed: must be 0 or more (got -1)"),
             ({"reps": 2, "seed": 1, "workers": 0}, "run.py run: --workers: must be at least 1 (got 0)"),
             ({"reps": 2.5, "seed": 1}, "run.py run: --reps: must be a whole number, at least 1 (got 2.5)")]
    for values, message in cases:
        with pytest.raises(sim.ScenarioError) as info:
            check_int_flags("run.py run", values, rules)
        assert str(info.value) == message
    with pytest.raises(sim.ScenarioError, match="at least 2 .got 1.: a confidence interval"):
        check_int_flags("validate", {"reps": 1}, {"reps": 2}, {"reps": "a confidence interval needs two"})


# A folder that takes no new files even for root (os.access says yes to root there): Linux's /proc
NO_NEW_FILES = Path("/proc")
SWEEP_FILE = ROOT / "scenarios" / "sweeps" / "team_size.toml"
TARGETS_FILE = ROOT / "scenarios" / "calibration" / "quick.toml"


@pytest.mark.skipif(not (NO_NEW_FILES / "self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("argv, flag", [
    (["run", str(DEFAULT_SCENARIO), "--reps", "1", *SMALL_ARGS, "--out"], "run.py run: --out"),
    (["sweep", str(SWEEP_FILE), "--out"], "run.py sweep: --out"),
    (["sweep", str(SWEEP_FILE), "--store"], "run.py sweep: --store"),
    (["calibrate", str(TARGETS_FILE), "--out"], "run.py calibrate: --out"),
    (["calibrate", str(TARGETS_FILE), "--store"], "run.py calibrate: --store"),
    (["validate", "--out"], "validate: --out"),
    (["optimize", "--out"], "run.py optimize: --out"),
    (["attribution", "--out"], "run.py attribution: --out"),
])
def test_an_output_folder_that_cannot_be_made_is_one_line_before_anything_runs(argv, flag, capsys):
    code = run.main([*argv, str(NO_NEW_FILES / "results_here"), "--workers", "1"])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.out == "" and "Running" not in captured.err and "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert lines == [f"error: {flag}: cannot create a folder in {NO_NEW_FILES} (No such file or directory); give a "
                     f"folder this user can write in"], captured.err


def test_the_write_check_leaves_nothing_behind(tmp_path):
    from sim.cli.common import check_writable_folder

    check_writable_folder("run.py run", tmp_path / "deep" / "res", "--out")  # a folder that can be made
    assert _listing(tmp_path) == []
