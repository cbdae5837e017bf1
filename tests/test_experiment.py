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
SMALL = {"market.n_accounts": 150, "scenario.horizon_days": 60, "scenario.warmup_days": 20, "channels.campaigns.burst_days": [10, 40]}


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


def test_big_frames_are_parquet_read_back_equal_and_deterministic(small_experiment, tmp_path, fast_charts):
    """timeseries and samples are written as Parquet (not CSV): read back equal to the frames, and two writes of
    the same experiment give the same bytes (a resumed run's files equal an uninterrupted run's)."""
    first = _write(small_experiment, tmp_path / "a")
    second = _write(small_experiment, tmp_path / "b")
    assert sorted(p.name for p in first.iterdir() if p.is_file()) == [
        "comparison.csv", "manifest.json", "report.html", "samples.parquet", "summary.csv", "timeseries.parquet"]
    for name in ("timeseries", "samples"):
        back = pd.read_parquet(first / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, getattr(small_experiment, name).reset_index(drop=True),
                                      check_exact=True, obj=name)
        assert (first / f"{name}.parquet").read_bytes() == (second / f"{name}.parquet").read_bytes(), name


def test_overrides_reach_manifest_and_report(small_experiment, tmp_path, fast_charts):
    """write_results records the --set values and states them in the report with the preset's values."""
    preset = sim.load_scenario(DEFAULT_SCENARIO)
    out = ex.write_results(small_experiment, tmp_path / "res", command="test", started=datetime(2024, 5, 6),
                           finished=datetime(2024, 5, 6), overrides=SMALL, preset=preset)
    assert json.loads((out / "manifest.json").read_text())["overrides"] == SMALL
    text = (out / "report.html").read_text()
    assert "market.n_accounts set to 150 (preset: 2,000)" in text
    assert "channels.campaigns.burst_days set to [10, 40] for every strategy" in text
    assert "What each strategy spends, per channel" in text and "spent $" in text
    # without an explicit preset it is re-read from the scenario's file
    again = ex.write_results(small_experiment, tmp_path / "res2", command="test", started=datetime(2024, 5, 6),
                             finished=datetime(2024, 5, 6), overrides={"market.n_accounts": 150})
    assert "market.n_accounts set to 150 (preset: 2,000)" in (again / "report.html").read_text()


def test_manifest_is_strict_json(small_experiment, tmp_path, fast_charts):
    out = _write(small_experiment, tmp_path / "res")
    text = (out / "manifest.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    summary = pd.read_csv(out / "summary.csv")
    pd.testing.assert_frame_equal(summary[["strategy", "seed"]],
                                  small_experiment.summary[["strategy", "seed"]].reset_index(drop=True))


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_errors_keep_their_type(scenario, workers):
    """A ScenarioError raised inside a (spawned) worker reaches the caller as a ScenarioError, not as a
    BrokenProcessPool: run_many's own task, given seeds the engine refuses, through the one executor."""
    from sim.executor import run_tasks

    recorded = []
    with pytest.raises(sim.ScenarioError) as info:
        run_tasks(ex._run_task, [("blended", -1), ("blended", -2)], shared=scenario, workers=workers,
                  record=lambda task, result: recorded.append(task))
    assert str(info.value) in ("JourneyModel: seed: must be a non-negative integer, got -1",
                               "JourneyModel: seed: must be a non-negative integer, got -2")
    assert any("while running strategy 'blended' with seed" in note for note in info.value.__notes__)
    assert recorded == []


def _frames_equal(a, b):
    for name in ("summary", "timeseries", "samples", "comparison"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)


def test_serial_pool_store_and_dask_identical(scenario, tmp_path):
    """The same frames, bit for bit, serially, on two spawned workers committing to a store, from that store
    again (nothing re-run), after losing runs from it (only those re-run), and on a Dask cluster."""
    import sqlite3
    from contextlib import closing

    kw = dict(strategies=list(scenario.strategies)[:2], reps=2, seed=7, progress=False)
    serial = ex.run_many(scenario, workers=1, **kw)
    assert serial.executor == "this process" and serial.runs_from_store == 0
    store = tmp_path / "comparison.sqlite"
    pooled = ex.run_many(scenario, workers=2, store=store, **kw)
    assert pooled.executor == "local processes"
    _frames_equal(serial, pooled)
    again = ex.run_many(scenario, workers=2, store=store, **kw)
    assert again.runs_from_store == 4
    _frames_equal(serial, again)
    with closing(sqlite3.connect(store)) as conn, conn:  # as if killed after the first strategy's runs
        conn.execute("DELETE FROM runs WHERE strategy = ?", (kw["strategies"][1],))
    resumed = ex.run_many(scenario, workers=1, store=store, **kw)
    assert resumed.runs_from_store == 2
    _frames_equal(serial, resumed)
    for name in ("summary", "comparison"):  # what run.py writes: byte for byte
        assert getattr(serial, name).to_csv(index=False) == getattr(resumed, name).to_csv(index=False), name
    for name in ("timeseries", "samples"):
        a, b = ex.write_parquet(getattr(serial, name), tmp_path / f"a-{name}.parquet"), \
            ex.write_parquet(getattr(resumed, name), tmp_path / f"b-{name}.parquet")
        assert a.read_bytes() == b.read_bytes(), name

    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"temporary-directory": str(tmp_path)}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None, silence_logs=40) as cluster:
        on_dask = ex.run_many(scenario, executor=cluster.scheduler_address, **kw)
    assert on_dask.executor == f"dask {cluster.scheduler_address}"
    _frames_equal(serial, on_dask)


@pytest.mark.parametrize("workers", [1, 2])
def test_run_many_without_a_store_leaves_no_file(scenario, tmp_path, monkeypatch, workers):
    """A call from Python without ``store=`` writes nothing: not in the current folder, not in results/."""
    monkeypatch.chdir(tmp_path)
    e = ex.run_many(scenario, strategies=list(scenario.strategies)[:2], reps=2, workers=workers, progress=False)
    assert len(e.summary) == 4 and e.runs_from_store == 0
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_the_documented_run_many_example_keeps_no_store_in_the_current_folder():
    """The example in run_many's docstring (and README's, which is the same) is copied into scripts as it is: a
    ``store=`` there is a 12 MB file left in the user's folder (default scenario, 5 replications)."""
    example = ex.run_many.__doc__.split("::", 1)[1]
    assert "sim.compare(" in example and "store=" not in example  # sim.compare is run_many
    readme = (DEFAULT_SCENARIO.parent.parent / "README.md").read_text(encoding="utf-8")
    assert 'store="comparison.sqlite"' not in readme


def test_store_refuses_another_comparison(scenario, tmp_path):
    kw = dict(strategies=[list(scenario.strategies)[0]], reps=1, workers=1, progress=False)
    store = tmp_path / "c.sqlite"
    ex.run_many(scenario, store=store, **kw)
    with pytest.raises(sim.ScenarioError, match="different comparison definition"):
        ex.run_many(scenario, store=store, seed=2, **kw)
    notes = tmp_path / "notes.sqlite"
    notes.write_text("not a database " * 100)
    with pytest.raises(sim.ScenarioError, match="not a comparison store"):
        ex.run_many(scenario, store=notes, **kw)
    with pytest.raises(sim.ScenarioError, match="executor: must be a Dask scheduler address"):
        ex.run_many(scenario, executor="localhost:8786", **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.sqlite", "notes.sqlite"]


def test_remote_error_round_trip():
    """The carrier used for worker exceptions rebuilds the original type, message and attributes."""
    import pickle

    original = sim.ScenarioError("a.toml", "sales.n_reps", "must be at least 1")
    carried = pickle.loads(pickle.dumps(ex._RemoteError.wrap(original)))
    rebuilt = carried.rebuild()
    assert type(rebuilt) is sim.ScenarioError
    assert str(rebuilt) == str(original)
    assert vars(rebuilt).items() >= {"where": "a.toml", "key": "sales.n_reps"}.items()


def _npz_frame(frame: pd.DataFrame) -> bytes:
    """A frame as stores written before the raw blobs held it (an .npz file: numeric columns ``c<i>``, the other
    columns as JSON in ``__header__``)."""
    import io

    import numpy as np

    numeric, other = {}, {}
    for i, (_, col) in enumerate(frame.items()):
        if col.dtype.kind in "biufc":
            numeric[f"c{i}"] = col.to_numpy()
        else:
            other[f"c{i}"] = col.tolist()
    buf = io.BytesIO()
    np.savez(buf, __header__=np.array(json.dumps({"columns": [str(c) for c in frame.columns], "other": other})),
             **numeric)
    return buf.getvalue()


def test_store_blobs_are_exact_and_older_npz_blobs_are_still_read(small_experiment):
    import io
    import pickle

    import numpy as np

    from sim.store import pack_arrays, pack_frame, unpack_arrays, unpack_frame

    ts = small_experiment.timeseries
    mixed = pd.DataFrame({"a": [1, 2], "s": ["x", None], 3: [True, False], "c": [1 + 2j, 3j],
                          "f": np.array([1.5, np.nan], dtype="float32")})
    for frame in (ts, ts.iloc[:0], mixed, pd.DataFrame()):
        for blob in (pack_frame(frame), _npz_frame(frame)):
            back = unpack_frame(blob)
            assert list(back.columns) == [str(c) for c in frame.columns]
            assert back.dtypes.astype(str).tolist() == frame.dtypes.astype(str).replace("str", "object").tolist()
            assert pickle.dumps(back) == pickle.dumps(unpack_frame(_npz_frame(frame)))  # the same frame, bit for bit
    back = unpack_frame(pack_frame(ts))
    back.iloc[0, 1] = -1.0  # the frame owns writable blocks, not views of the blob
    arrays = {"a": np.arange(5), "b": np.zeros((2, 3)), "c": np.array([True]), "d": np.array(["ab", "c"]),
              "e": np.array([], dtype=float)}
    buf = io.BytesIO()
    np.savez(buf, __names__=np.array(json.dumps(list(arrays))), **{f"a{i}": v for i, v in enumerate(arrays.values())})
    for blob in (pack_arrays(arrays), buf.getvalue()):
        back = unpack_arrays(blob)
        assert list(back) == list(arrays)
        for k, v in arrays.items():
            assert back[k].dtype == v.dtype and back[k].shape == v.shape and back[k].tobytes() == v.tobytes()
            assert back[k].flags.writeable
    with pytest.raises(TypeError, match="cannot store an array of dtype object"):
        pack_arrays({"o": np.array([object()])})


def test_a_local_pool_keeps_its_workers_for_the_charts(scenario, tmp_path):
    """run.py run's pool: the runs, then the charts, on the same two spawned workers; the charts drawn there (sent
    only what they read) are the very PNGs drawn in this process, and an error in a worker reaches the caller."""
    from sim.analysis import charts
    from sim.executor import LocalPool

    kw = dict(strategies=list(scenario.strategies)[:2], reps=2, seed=7, progress=False)
    serial = ex.run_many(scenario, workers=1, **kw)
    with LocalPool(prepare=charts.warm_up) as pool:
        pooled = ex.run_many(scenario, workers=2, pool=pool, **kw)
        workers = pool._executor
        assert workers is not None
        _frames_equal(serial, pooled)
        assert ex.run_many(scenario, workers=2, pool=pool, **kw).summary.equals(serial.summary)
        assert pool._executor is workers  # the same shared scenario: the same workers
        frames = (serial.summary, serial.timeseries, serial.samples)
        here = charts.make_all(*frames, tmp_path / "here", kw["strategies"])
        there = charts.make_all(*frames, tmp_path / "there", kw["strategies"], map=pool.map)
        assert [p.name for p in here] == [p.name for p in there]
        for a, b in zip(here, there):
            assert a.read_bytes() == b.read_bytes(), a.name
        with pytest.raises(KeyError, match="no_such_chart"):
            pool.map(charts._draw, [("no_such_chart", (), {})])
        assert pool._executor is None  # stopped at once
        assert pool.map(len, ["ab", "c"]) == [2, 1]  # no workers: here
