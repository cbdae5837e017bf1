"""The measurement lab on simulated markets: the touch log, the counterfactual truth, known answers, the
executor and store (workers, resume after kill -9) and the command line."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.attribution import Study, attribution
from sim.attribution.truth import full_mask
from sim.cli.main import main
from sim.config.scenario import ScenarioError
from sim.engine.model import JourneyModel
from sim.engine.touchlog import MEETING, TOUCH_CHANNELS
from store_helpers import kill_after_runs, stored_runs

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"market.n_accounts": 300, "scenario.horizon_days": 150, "scenario.warmup_days": 0,
         "channels.campaigns.burst_days": [20, 80]}
#: email that reaches known contacts but does nothing: no trust, no progress, no clicks. Known contacts have
#: heard of us already, so its touches change no buyer's journey: its true effect is exactly zero.
INERT_EMAIL = {"channels.email.trust_gain": 0.0, "channels.email.progress_gain": 0.0, "channels.email.click_rate": 0.0}
TRIO = ("content", "email", "campaigns")


# ------------------------------------------------------------------------------------------------ touch log

def test_touch_log_is_off_by_default_and_changes_no_number():
    off = JourneyModel(None, "blended", 3, overrides=SMALL)
    assert off.touch_log is None
    a = off.run()
    on = JourneyModel(None, "blended", 3, overrides=SMALL, touch_log=True)
    b = on.run()
    pd.testing.assert_series_equal(pd.Series(a.summary), pd.Series(b.summary))
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    with pytest.raises(ValueError, match="touch_log=True"):
        off.touches()


@pytest.mark.parametrize("warmup", [0, 60])
def test_touch_log_rows_match_the_touch_counters(warmup):
    m = JourneyModel(None, "blended", 2, overrides={**SMALL, "scenario.warmup_days": warmup}, touch_log=True)
    res = m.run()
    log = m.touch_log.arrays(m)
    ts = res.timeseries
    # every touch of every buyer is one row: marketing touches (transitions.touch) and the reps' meetings
    np.testing.assert_array_equal(np.bincount(log["buyer"], minlength=m.pop.n), m.pop.touches)
    # days are those of the timeseries: the warm-up's touches are kept, on negative days
    assert (log["day"] < 0).any() == (warmup > 0) and log["day"].min() >= -warmup
    measured = log["day"] >= 0
    assert (measured & (log["channel"] < MEETING)).sum() == ts["new_touches"].sum()
    for code, name in enumerate(TOUCH_CHANNELS[:MEETING]):
        col = f"new_touches_{name}"
        if col in ts.columns:
            assert (measured & (log["channel"] == code)).sum() == ts[col].sum(), name
    assert (log["day_won"][log["account_won"]] >= 0).all()  # the horizon's wins
    assert np.all(np.diff(log["day"]) >= 0)
    frame = m.touches()
    # cost: each channel's spend on days it touched someone, spread over its own touches (never more)
    for name in ("content", "email", "campaigns"):
        spent = frame.loc[frame["channel"] == name, "cost"].sum()
        assert 0 < spent <= m.metrics.cols[f"new_cost_{name}"].sum() + 1e-6  # the run's spend, warm-up included
    won = frame["account_won"].to_numpy()
    assert np.all(np.isnan(frame["day_won"].to_numpy()[~won]))
    assert set(frame.loc[frame["channel"] == "sales_meeting", "rep"]) <= set(range(m.cfg.sales.n_reps))


# ------------------------------------------------------------------------------------------------ the study

KNOWN_REPS = 6


@pytest.fixture(scope="module")
def known():
    """content_nurture with an inert email and a zero-budget paid search among the studied channels (the
    strategy's other channels stay as they are in every run)."""
    return attribution(None, "content_nurture", reps=KNOWN_REPS,
                       overrides={**SMALL, "market.n_accounts": 600, "scenario.horizon_days": 300, **INERT_EMAIL},
                       channels=("content", "email", "paid_search"))


def test_shapley_adds_up_to_all_channels_against_none_on_every_seed(known):
    full = known._col[full_mask(3)]
    np.testing.assert_allclose(known.phi.sum(axis=1), known.wins[:, full] - known.wins[:, 0], atol=1e-9)
    np.testing.assert_allclose(known.phi_revenue.sum(axis=1), known.revenue[:, full] - known.revenue[:, 0],
                               rtol=1e-9, atol=1e-6)
    assert known.truth["true_share"].sum() == pytest.approx(1.0)


def test_zero_budget_channel_has_no_effect_and_no_credit(known):
    tr = known.truth.set_index("channel").loc["paid_search"]
    assert known.phi[:, 2].tolist() == [0.0] * KNOWN_REPS  # on every seed, exactly
    assert tr["incremental_customers"] == 0 and tr["incremental_revenue"] == 0
    at = known.attribution
    assert (at.loc[at["channel"] == "paid_search", "credited_share"] == 0).all()


def test_channel_that_changes_nothing_has_zero_effect_while_path_methods_credit_it(known):
    tr = known.truth.set_index("channel").loc["email"]
    assert tr["incremental_customers_ci_low"] <= 0 <= tr["incremental_customers_ci_high"]
    assert tr["shapley_customers"] == 0 and tr["true_share"] == 0
    at = known.attribution.set_index(["method", "channel"])
    # the methods that spread credit over a path give it credit all the same (over the seeds): it is on the winners'
    # paths. (Last touch need not: since session 8 a social post or a campaign is usually the last touch before a win.)
    for method in ("linear", "time_decay", "markov", "shapley_paths"):
        assert at.loc[(method, "email"), "credited_customers"] > 0, method
        assert at.loc[(method, "email"), "abs_error"] > 0, method
    # ... and the channel the strategy lives on is the one it truly owes its customers to
    assert known.truth.set_index("channel").loc["content", "incremental_customers_ci_low"] > 0


def test_scores_and_finding_come_from_the_numbers(known):
    sc = known.scores.set_index("method")
    assert set(sc.index) == {"first_touch", "last_touch", "linear", "time_decay", "position_based", "markov",
                             "shapley_paths"}
    at = known.attribution
    mae = at[at["studied"]].groupby("method")["abs_error"].mean()
    np.testing.assert_allclose(sc.loc[mae.index, "mean_abs_error"], mae)
    right = known.truth.set_index("channel")["incremental_customers"].idxmin()
    assert (sc["right_cut"] == right).all()
    best = sc["mean_abs_error"].idxmin().replace("_", " ")
    assert best in known.finding()


def test_sampled_shapley_beyond_max_exact_is_efficient_with_an_interval():
    # 3 replications: in the small market two give so few wins (0-2 a coalition since session 14's refit) that every
    # sampled permutation gave the same values, and a standard error of 0 says nothing about sampling
    res = attribution(None, "content_nurture", reps=3, overrides=SMALL, channels=TRIO, max_exact=2, permutations=3)
    assert not res.study.exact and len(res.study.coalitions()) < 8
    full = res._col[full_mask(3)]
    np.testing.assert_allclose(res.phi.sum(axis=1), res.wins[:, full] - res.wins[:, 0], atol=1e-9)
    se = res.truth["shapley_se_permutations"]
    # sampled, not exact: the permutation standard error is finite and not zero everywhere (an exact study's is 0)
    assert np.isfinite(se).all() and (se >= 0).all() and (se > 0).any(), se.to_dict()


def test_bad_study_input_is_one_scenario_error():
    with pytest.raises(ScenarioError, match="unknown strategy"):
        Study.make(None, "nope")
    with pytest.raises(ScenarioError, match="reps"):
        Study.make(None, "blended", reps=1)


def _same(a, b):
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.attribution, b.attribution)
    pd.testing.assert_frame_equal(a.scores, b.scores)


def test_serial_equals_processes_and_a_resume_redoes_nothing_done(tmp_path):
    store = tmp_path / "s.sqlite"
    one = attribution(None, "content_nurture", reps=2, overrides=SMALL, channels=TRIO, store=store)
    two = attribution(None, "content_nurture", reps=2, overrides=SMALL, channels=TRIO, workers=2)
    _same(one, two)
    conn = sqlite3.connect(store)
    conn.execute("DELETE FROM runs WHERE rep = 1 AND coalition IN (0, 3, 7)")
    conn.commit()
    conn.close()
    again = attribution(None, "content_nurture", reps=2, overrides=SMALL, channels=TRIO, store=store)
    assert again.executed == 3 and again.reused == 13
    _same(one, again)
    with pytest.raises(ScenarioError, match="different attribution study"):
        attribution(None, "content_nurture", reps=3, overrides=SMALL, channels=TRIO, store=store)


KILL_SCRIPT = """
import sys
from sim.attribution import attribution
SMALL = {"market.n_accounts": 300, "scenario.horizon_days": 150, "scenario.warmup_days": 0,
         "channels.campaigns.burst_days": [20, 80]}
if __name__ == "__main__":
    attribution(None, "content_nurture", reps=3, overrides=SMALL, channels=("content", "email", "campaigns"),
                workers=2, store=sys.argv[1])
"""


def test_kill9_and_resume(tmp_path):
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "study.py"
    script.write_text(KILL_SCRIPT)
    store = tmp_path / "killed.sqlite"
    children = kill_after_runs([sys.executable, str(script), str(store)], store, 6, cwd=tmp_path, what="study",
                               extra_paths=(ROOT / "tests",), guard_s=90)
    stored = stored_runs(store)
    assert 6 <= stored < 24, stored
    psutil.wait_procs(children, timeout=15)
    resumed = attribution(None, "content_nurture", reps=3, overrides=SMALL, channels=TRIO, store=store)
    assert resumed.reused == stored and resumed.executed == 24 - stored
    reference = attribution(None, "content_nurture", reps=3, overrides=SMALL, channels=TRIO)
    _same(reference, resumed)


# ------------------------------------------------------------------------------------------------ the command

TRIO_STRATEGY = """
[strategies.trio]
channels.content.budget = 200_000
channels.email.budget = 40_000
channels.cold_calling.budget = 0.0
channels.networking.budget = 0.0
channels.campaigns.budget = 80_000
channels.social.budget = 0.0
sales.split = { dialing = 0.0, meetings = 1.0, networking = 0.0, social = 0.0 }

[strategies.nothing]
channels.content.budget = 0.0
channels.content.initial_stock = 0.0
channels.email.budget = 0.0
channels.cold_calling.budget = 0.0
channels.networking.budget = 0.0
channels.campaigns.budget = 0.0
channels.social.budget = 0.0
sales.split = { dialing = 0.0, meetings = 1.0, networking = 0.0, social = 0.0 }
"""


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    text = (ROOT / "scenarios" / "default.toml").read_text()
    text = re.sub(r"(?m)^n_accounts = 2000 ", "n_accounts = 300  ", text)
    text = re.sub(r"(?m)^horizon_days = 365 ", "horizon_days = 150 ", text)
    text = re.sub(r"(?m)^burst_days = \[30, 120, 210, 300\]", "burst_days = [20, 80]", text)
    path = tmp_path_factory.mktemp("scen") / "small.toml"
    path.write_text(text + TRIO_STRATEGY)
    return path


@pytest.mark.parametrize("flags, message", [
    (["--strategy", "nope"], "unknown strategy 'nope'"),
    (["--strategy", "nothing"], "funds no channel"),
    (["--strategy", "trio", "--reps", "1"], "--reps: must be at least 2"),
])
def test_cli_bad_input_is_one_line_exit_2_nothing_written(small_file, tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    code = main(["attribution", str(small_file), *flags, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_the_results_folder(small_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "lab"
    assert main(["attribution", str(small_file), "--strategy", "trio", "--reps", "2", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    assert "Results:" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"attribution.csv", "truth.csv", "scores.csv", "paths.csv", "touch_log.parquet", "report.html",
            "manifest.json", "attribution.sqlite", "charts"} <= names
    at = pd.read_csv(out / "attribution.csv")
    assert list(at.columns[:7]) == ["method", "channel", "credited_share", "true_share", "ci_low", "ci_high",
                                    "abs_error"]
    assert set(pd.read_csv(out / "truth.csv")["channel"]) == set(TRIO)
    log = pd.read_parquet(out / "touch_log.parquet")
    assert set(log["rep"]) == {0, 1} and {"day", "buyer", "account", "role", "channel", "cost", "rep"} <= set(log)
    paths = pd.read_csv(out / "paths.csv")
    assert paths["path"].str.contains(" > ").any()
    assert {p.name for p in (out / "charts").iterdir()} == {"credited_vs_true.png", "error_heatmap.png"}
    assert "Main finding" in (out / "report.html").read_text()
