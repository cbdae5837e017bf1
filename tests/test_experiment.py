"""sim.analysis.experiment: run_many (order, seeds, validation) and write_results (naming, atomicity)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.analysis import experiment as ex

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "default.toml"
SMALL = {"market.n_accounts": 150, "scenario.horizon_days": 60, "channels.campaigns.burst_days": [10, 40]}


@pytest.fixture(scope="module")
def scenario():
    return sim.load_scenario(DEFAULT_SCENARIO).with_overrides(SMALL)


@pytest.fixture(scope="module")
def small_experiment(scenario):
    strategies = list(scenario.strategies)[:2]
    return ex.run_many(scenario, strategies=strategies, reps=2, seed=5, workers=1, progress=False)


def test_run_many_order_and_seeds(small_experiment, scenario):
    e = small_experiment
    assert e.seeds == [5, 6] and e.reps == 2
    expected = [(s, sd) for s in e.strategies for sd in e.seeds]  # strategy-major, then seed
    assert list(zip(e.summary["strategy"], e.summary["seed"])) == expected
    assert list(e.summary.columns[:2]) == ["strategy", "seed"]
    for src in sim.SOURCES:
        assert f"deals_{src}" in e.summary.columns
    assert list(e.timeseries.columns[:3]) == ["strategy", "seed", "day"]
    assert len(e.timeseries) == len(expected) * scenario.horizon_days
    assert list(e.samples.columns) == ["strategy", "seed", "kind", "value"]
    assert {"strategy", "metric", "mean", "best"} <= set(e.comparison.columns)


def test_scenario_pickles(scenario):
    import pickle

    clone = pickle.loads(pickle.dumps(scenario))
    assert clone.to_dict() == scenario.to_dict()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"reps": 0}, "reps"),
        ({"seed": -1}, "seed"),
        ({"workers": 0}, "workers"),
        ({"strategies": ["no_such_strategy"]}, "no_such_strategy"),
    ],
)
def test_run_many_rejects_bad_arguments(scenario, kwargs, words):
    with pytest.raises(ValueError, match=words):
        ex.run_many(scenario, **{"reps": 1, "workers": 1, "progress": False, **kwargs})


@pytest.fixture
def fast_charts(monkeypatch):
    """Tests about folders and files do not need real charts: draw one tiny PNG instead (saves seconds)."""
    import sim.analysis.charts

    def one_png(summary, timeseries, samples, out_dir, strategies=None):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(1, 1))
        path = Path(out_dir) / "tiny.png"
        fig.savefig(path)
        plt.close(fig)
        return [path]

    monkeypatch.setattr(sim.analysis.charts, "make_all", one_png)


def _write(e, out, root=None, started=None):
    started = started or datetime(2024, 5, 6, 7, 8, 9).astimezone()
    return ex.write_results(e, out, command="test", started=started, finished=started, results_root=root)


def test_default_folder_naming_never_overwrites(small_experiment, tmp_path, fast_charts):
    first = _write(small_experiment, None, root=tmp_path)
    second = _write(small_experiment, None, root=tmp_path)  # same timestamp
    name = ex._safe_name(small_experiment.scenario.name)
    assert first == (tmp_path / name / "20240506-070809").absolute()
    assert second == first.with_name("20240506-070809-2")
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["20240506-070809", "20240506-070809-2"]
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["started"].startswith("2024-05-06T07:08:09")
    assert manifest["command"] == "test"


def test_empty_existing_out_dir_is_used(small_experiment, tmp_path, fast_charts):
    out = tmp_path / "mine"
    out.mkdir()
    assert _write(small_experiment, out) == out.absolute()
    assert (out / "summary.csv").is_file()


def test_failure_leaves_nothing_behind(small_experiment, tmp_path, monkeypatch):
    import sim.analysis.charts

    def boom(*args, **kwargs):
        raise RuntimeError("chart failure")

    monkeypatch.setattr(sim.analysis.charts, "make_all", boom)
    with pytest.raises(RuntimeError, match="chart failure"):
        _write(small_experiment, tmp_path / "new" / "deeper" / "res")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        _write(small_experiment, None, root=tmp_path / "root")
    assert list(tmp_path.iterdir()) == []


def test_manifest_is_strict_json(small_experiment, tmp_path, fast_charts):
    out = _write(small_experiment, tmp_path / "res")
    text = (out / "manifest.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    summary = pd.read_csv(out / "summary.csv")
    pd.testing.assert_frame_equal(summary[["strategy", "seed"]],
                                  small_experiment.summary[["strategy", "seed"]].reset_index(drop=True))


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_errors_keep_their_type(scenario, monkeypatch, workers):
    """A ScenarioError raised inside a worker reaches the caller as a ScenarioError (not BrokenProcessPool)."""
    import multiprocessing

    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("the patched sim.engine.model.run reaches workers only when they are forked")

    def boom(scenario, strategy, seed):
        raise sim.ScenarioError("some.toml", "market.n_accounts", "must be at least 1")

    import sim.engine.model

    monkeypatch.setattr(sim.engine.model, "run", boom)  # what the experiment's workers call
    with pytest.raises(sim.ScenarioError) as info:
        ex.run_many(scenario, reps=2, workers=workers, progress=False, mp_context="fork")
    assert str(info.value) == "some.toml: market.n_accounts: must be at least 1"
    assert any("while running strategy" in note for note in info.value.__notes__)


def test_remote_error_round_trip():
    """The carrier used for worker exceptions rebuilds the original type, message and attributes."""
    import pickle

    original = sim.ScenarioError("a.toml", "sales.n_reps", "must be at least 1")
    carried = pickle.loads(pickle.dumps(ex._RemoteError.wrap(original)))
    rebuilt = carried.rebuild()
    assert type(rebuilt) is sim.ScenarioError
    assert str(rebuilt) == str(original)
    assert vars(rebuilt).items() >= {"where": "a.toml", "key": "sales.n_reps"}.items()
