"""A calibration's posterior carried into the comparison: one parameter set per replication, the same
for every strategy (run_many(parameter_draws=...), run.py run --posterior)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sim
from sim.analysis.experiment import run_many
from sim.calibration.posterior import load_posterior

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"market.n_accounts": 200, "scenario.horizon_days": 90, "channels.campaigns.burst_days": [20]}


def _write(path: Path, rows: str) -> Path:
    path.write_text("generation,particle,need.fade_rate,competitors.choice_sensitivity,weight,distance\n" + rows)
    return path


@pytest.fixture
def posterior_file(tmp_path):
    return _write(tmp_path / "posterior.csv", "4,0,0.002,5,0.5,0.1\n4,1,0.01,12,0.3,0.2\n4,2,0.02,20,0.2,0.3\n")


def test_draws_follow_the_weights_and_repeat_for_a_seed(posterior_file):
    post = load_posterior(posterior_file)
    assert post.paths == ("need.fade_rate", "competitors.choice_sensitivity")
    assert post.draws(50, seed=3) == post.draws(50, seed=3)
    assert post.draws(50, seed=3) != post.draws(50, seed=4)
    d = post.draws(6000, seed=1)
    counts = pd.Series([x["need.fade_rate"] for x in d]).value_counts().reindex([0.002, 0.01, 0.02]).to_numpy()
    # chi-square goodness of fit against the weights 0.5 / 0.3 / 0.2 (alpha 0.001: a wrong sampler fails)
    assert stats.chisquare(counts, 6000 * np.array([0.5, 0.3, 0.2])).pvalue > 0.001


@pytest.mark.parametrize("rows,key", [
    ("", "weight"),                                                  # no rows
    ("4,0,0.002,5,-1,0.1\n", "weight"),                              # negative weight
    ("4,0,1.5,5,1,0.1\n", "need.fade_rate"),                         # outside the parameter's range
])
def test_bad_posterior_files_are_one_clear_line(tmp_path, rows, key):
    with pytest.raises(sim.ScenarioError) as info:
        load_posterior(_write(tmp_path / "p.csv", rows))
    assert key in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(sim.ScenarioError, match="no parameter columns"):
        load_posterior(tmp_path / "x.csv")
    with pytest.raises(sim.ScenarioError, match="not found"):
        load_posterior(tmp_path / "missing.csv")


def test_each_replication_runs_its_draw_for_every_strategy(posterior_file):
    scen = sim.load_scenario().with_overrides(SMALL)
    draws = load_posterior(posterior_file).draws(3, seed=1)
    strategies = ["blended", "cold_calling"]
    e = run_many(scen, strategies=strategies, reps=3, seed=1, workers=1, progress=False, parameter_draws=draws)
    for strategy in strategies:
        for i, seed in enumerate(e.seeds):
            ref = sim.run(scen.with_overrides(draws[i]), strategy, seed).summary
            row = e.summary[(e.summary["strategy"] == strategy) & (e.summary["seed"] == seed)].iloc[0]
            assert row["customers_won"] == ref["customers_won"] and row["total_cost"] == ref["total_cost"]
    # a draw equal to the scenario's own values is the plain comparison, exactly
    own = [{"need.fade_rate": scen.config("blended").need.fade_rate}] * 3
    same = run_many(scen, strategies=strategies, reps=3, seed=1, workers=1, progress=False, parameter_draws=own)
    plain = run_many(scen, strategies=strategies, reps=3, seed=1, workers=1, progress=False)
    pd.testing.assert_frame_equal(same.summary, plain.summary, check_exact=True)
    with pytest.raises(ValueError, match="one parameter set per replication"):
        run_many(scen, strategies=strategies, reps=3, seed=1, workers=1, progress=False, parameter_draws=draws[:2])


def test_cli_posterior_writes_draws_and_the_parameter_share(posterior_file, tmp_path):
    out = tmp_path / "res"
    sets = [f"--set={k}={v if not isinstance(v, list) else str(v).replace(' ', '')}" for k, v in SMALL.items()]

    def cli(posterior, folder):
        return [sys.executable, str(ROOT / "run.py"), "run", "--reps", "3", "--workers", "1", "--quiet",
                "--strategies", "blended", "--posterior", str(posterior), "--out", str(folder), *sets]

    proc = subprocess.run(cli(posterior_file, out), capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    draws = pd.read_csv(out / "parameter_draws.csv")
    assert list(draws["seed"]) == [1, 2, 3] and set(draws.columns) == {"seed", "need.fade_rate",
                                                                       "competitors.choice_sensitivity"}
    share = pd.read_csv(out / "parameter_uncertainty.csv")
    ok = share["share_from_parameters"].dropna()
    assert len(ok) > 0, share  # a share for at least one metric, not only NaN
    assert ((ok >= 0) & (ok <= 1)).all()
    assert "Parameter uncertainty" in (out / "report.html").read_text()
    assert not list(tmp_path.glob(".*.sqlite"))  # the stores are gone once the folder is complete

    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    proc = subprocess.run(cli(bad, tmp_path / "res2"), capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "no parameter columns" in proc.stderr
    assert not (tmp_path / "res2").exists()
