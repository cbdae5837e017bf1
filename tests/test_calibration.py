"""Calibration (sim.calibration, run.py calibrate).

Every bad targets file is one line naming the file and the key (ScenarioError; the command exits 2 and
writes nothing); the ABC-SMC core recovers the known posterior of a toy model and is identical for a
fixed seed whatever runs it (1 worker, 2 workers, Dask); the real model's parameters are recovered from
targets it generated itself; a calibration interrupted (by an exception, or by kill -9) and resumed
equals an uninterrupted one; the calibrated scenario loads and carries the posterior medians.
"""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from store_helpers import kill_after_runs, stored_runs

import sim
import sim.calibration as cal
from sim.calibration.abc import ABCSMC, fit_seed, normal_toy, predictive_seed
from sim.calibration.apply import apply_calibration
from sim.calibration.store import STORE_NAME, CalibrationStore
from sim.calibration.targets import Prior, Settings, Target, distance
from sim.cli.main import main
from sim.config.scenario import ScenarioError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "default.toml"

# A tiny market (well under 0.1 s a run) and a calibration small enough for several tests to repeat it.
TINY = {"market.n_accounts": 120, "scenario.horizon_days": 40, "scenario.warmup_days": 0, "channels.campaigns.burst_days": [5]}
TINY_TOML = f"""
name = "tiny"
scenario = "{DEFAULT}"
strategy = "cold_calling"
seed = 3
replications = 1

[overrides]
market.n_accounts = 120
scenario.horizon_days = 40
scenario.warmup_days = 0
channels.campaigns.burst_days = [5]

[targets.leads]
value = 12
sd = 4
source = "test"

[targets.cycle]
metric = "median_progress_at_first_contact"
low = 0.4
high = 0.7
source = "test"

[params]
channels.cold_calling.connect_rate = {{ low = 0.01, high = 0.3, scale = "log" }}
sales.n_reps = {{ low = 2, high = 8 }}

[abc]
population = 8
generations = 3
max_runs = 60
predictive_draws = 5
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("tiny") / "tiny.toml", TINY_TOML)


@pytest.fixture(scope="module")
def tiny_reference(tiny_file):
    """The uninterrupted tiny calibration, in this process, in memory."""
    return cal.calibrate(tiny_file, workers=1, progress=False)


def _same_posterior(a, b) -> None:
    pd.testing.assert_frame_equal(a.posterior, b.posterior, check_exact=True)
    pd.testing.assert_frame_equal(a.generations, b.generations, check_exact=True)
    pd.testing.assert_frame_equal(a.predictive, b.predictive, check_exact=True)
    assert a.medians == b.medians


# ------------------------------------------------------------------------------------------ targets files

GOOD = {
    "head": f'scenario = "{DEFAULT}"\nstrategy = "blended"\n',
    "target": '[targets.won]\nmetric = "customers_won"\nvalue = 40\nsd = 8\nsource = "CRM"\n',
    "param": '[params]\nneed.fade_rate = { low = 0.001, high = 0.02, scale = "log" }\n',
}


def _file(**parts: str) -> str:
    return "\n".join(parts.get(k, v) for k, v in GOOD.items()) + "\n" + parts.get("extra", "")


BAD_FILES = [
    # (name, file text, key named in the message, words in the message)
    ("unknown metric", _file(target='[targets.x]\nmetric = "win_ratio"\nvalue = 1\nsd = 1\nsource = "s"\n'),
     "targets.x.metric", ["unknown metric 'win_ratio'", "customers_won"]),
    ("unknown parameter", _file(param='[params]\nneed.fade_rat = { low = 0.001, high = 0.02 }\n'),
     "params.need.fade_rat", ["no such parameter", "need.fade_rate"]),
    ("range low > high", _file(target='[targets.c]\nmetric = "median_cycle_days"\nlow = 60\nhigh = 30\n'
                                      'source = "s"\n'), "targets.c.low", ["below high"]),
    ("prior low > high", _file(param='[params]\nneed.fade_rate = { low = 0.02, high = 0.001 }\n'),
     "params.need.fade_rate.low", ["below high"]),
    ("prior outside the schema", _file(param='[params]\ncompetitors.baseline_trust = { low = 0.2, high = 1.5 }\n'),
     "params.competitors.baseline_trust", ["outside the allowed range", "from 0 to 1"]),
    ("missing sd", _file(target='[targets.won]\nmetric = "customers_won"\nvalue = 40\nsource = "CRM"\n'),
     "targets.won.sd", ["missing"]),
    ("missing value", _file(target='[targets.won]\nmetric = "customers_won"\nsd = 4\nsource = "CRM"\n'),
     "targets.won.value", ["missing"]),
    ("no figure", _file(target='[targets.won]\nmetric = "customers_won"\nsource = "CRM"\n'),
     "targets.won", ["missing", "value and sd"]),
    ("strategy not in the scenario", _file(head=f'scenario = "{DEFAULT}"\nstrategy = "telepathy"\n'),
     "strategy", ["unknown strategy 'telepathy'", "blended"]),
    ("missing strategy", _file(head=f'scenario = "{DEFAULT}"\n'), "strategy", ["missing", "blended"]),
    ("unknown preset", _file(head='scenario = "nowhere"\nstrategy = "blended"\n'), "scenario",
     ["no preset", "default"]),
    ("zero sd", _file(target='[targets.won]\nmetric = "customers_won"\nvalue = 4\nsd = 0\nsource = "CRM"\n'),
     "targets.won.sd", ["> 0"]),
    ("missing source", _file(target='[targets.won]\nmetric = "customers_won"\nvalue = 4\nsd = 1\n'),
     "targets.won.source", ["missing"]),
    ("log prior from 0", _file(param='[params]\nneed.fade_rate = { low = 0, high = 0.02, scale = "log" }\n'),
     "params.need.fade_rate.low", ["> 0"]),
    ("fixed and free", _file(extra="[overrides]\nneed.fade_rate = 0.01\n"), "params.need.fade_rate",
     ["also fixed"]),
    ("not a number parameter", _file(param='[params]\ndiffusion.mixing = { low = 0, high = 1 }\n'),
     "params.diffusion.mixing", ["only number parameters"]),
    ("unknown key", _file(head=GOOD["head"] + "populaton = 5\n"), "populaton", ["unknown key", "abc"]),
    ("budget below one generation", _file(extra="[abc]\npopulation = 50\nmax_runs = 199\n"), "abc.max_runs",
     ["at least population x replications + predictive_draws = 200"]),
    ("quantile", _file(extra="[abc]\nquantile = 1.5\n"), "abc.quantile", ["between 0 and 1"]),
    ("unknown method", _file(head=GOOD["head"] + 'method = "bayes"\n'), "method", ["\"abc\"", "\"optuna\""]),
    ("optuna table with ABC", _file(extra="[optuna]\ntrials = 5\n"), "optuna", ["method = \"optuna\""]),
    ("abc table with optuna", _file(head=GOOD["head"] + 'method = "optuna"\n', extra="[abc]\npopulation = 5\n"),
     "abc", ["method = \"abc\""]),
    ("optuna trials", _file(head=GOOD["head"] + 'method = "optuna"\n', extra="[optuna]\ntrials = 1\n"),
     "optuna.trials", [">= 2"]),
    ("unknown pack fact excluded", _file(extra='[benchmarks]\npack = "b2b_saas"\nexclude = ["nope"]\n'),
     "benchmarks.exclude", ["no fact 'nope'"]),
    ("unknown fact not applicable", _file(extra='[benchmarks]\npack = "b2b_saas"\nnot_applicable = ["nope"]\n'),
     "benchmarks.not_applicable", ["no fact 'nope'"]),
    ("fact excluded and not applicable",
     _file(extra='[benchmarks]\npack = "b2b_saas"\nexclude = ["payback"]\nnot_applicable = ["payback"]\n'),
     "benchmarks.not_applicable", ["'payback' is also in exclude"]),
    ("unknown sampler", _file(head=GOOD["head"] + 'method = "optuna"\n', extra='[optuna]\nsampler = "grid"\n'),
     "optuna.sampler", ["\"tpe\"", "\"cmaes\"", "'grid'"]),
    ("unknown start", _file(head=GOOD["head"] + 'method = "optuna"\n', extra='[optuna]\nstart = "best"\n'),
     "optuna.start", ["\"centre\"", "\"scenario\"", "'best'"]),
    ("sigma with TPE", _file(head=GOOD["head"] + 'method = "optuna"\n', extra='[optuna]\nsigma = 0.2\n'),
     "optuna.sigma", ["only with sampler = \"cmaes\""]),
    ("sigma above 1", _file(head=GOOD["head"] + 'method = "optuna"\n',
                            extra='[optuna]\nsampler = "cmaes"\nsigma = 1.5\n'), "optuna.sigma", ["at most 1"]),
    ("CMA-ES population of 1", _file(head=GOOD["head"] + 'method = "optuna"\n',
                                     extra='[optuna]\nsampler = "cmaes"\nbatch = 1\n'), "optuna.batch", [">= 2"]),
    ("start outside the prior", _file(head=GOOD["head"] + 'method = "optuna"\n',
                                      param='[params]\nneed.fade_rate = { low = 0.02, high = 0.03 }\n',
                                      extra='[optuna]\nstart = "scenario"\n'),
     "params.need.fade_rate", ["starts at the scenario's value", "outside the prior 0.02 to 0.03"]),
]


@pytest.mark.parametrize("name, text, key, words", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_targets_file_is_one_line_naming_file_and_key(tmp_path, name, text, key, words):
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(ScenarioError) as info:
        cal.load_targets(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: {key}: "), msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("name, text, key, words", BAD_FILES[:10], ids=[b[0] for b in BAD_FILES[:10]])
def test_cli_bad_targets_file_exit_2_nothing_written(tmp_path, monkeypatch, capsys, name, text, key, words):
    path = _write(tmp_path / "bad.toml", text)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["calibrate", str(path), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and f"{key}:" in err[0] and str(path) in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no results folder, no store


def test_known_metrics_are_the_run_summary_keys(default_scenario):
    known = cal.known_metrics(default_scenario, "blended")
    for m in ("customers_won", "leads", "meetings", "opportunities", "conversion_rate", "median_cycle_days",
              "median_progress_at_first_contact", "cost_per_lead"):
        assert m in known


def test_pack_targets_and_holdouts(tmp_path, monkeypatch):
    """The pack's role = "target" facts are fitted, "holdout" facts never; a file target replaces a pack fact."""
    import tomllib

    from sim.calibration import targets as tmod

    pack = tomllib.loads((ROOT / "scenarios" / "benchmarks" / "b2b_saas.toml").read_text())["facts"]
    metrics = {f["metric"] if "segment" not in f or f["metric"].endswith(f["segment"]) else
               f"{f['metric']}_{f['segment']}" for f in pack.values()}
    real = tmod.known_metrics
    monkeypatch.setattr(tmod, "known_metrics", lambda s, st=None: (*real(s, st), *sorted(metrics)))
    spec = cal.load_targets(ROOT / "scenarios" / "calibration" / "default_b2b.toml")
    other = {"payback_smb_focus", "payback_enterprise_focus"}  # not about the default's mixed market
    assert {t.name for t in spec.targets} == {n for n, f in pack.items() if f["role"] == "target"} - other
    assert {t.name for t in spec.holdouts} == {n for n, f in pack.items() if f["role"] == "holdout"}
    assert len(spec.params) == 15 and len(spec.targets) == 12
    assert not {t.name for t in spec.holdouts} & {n for n, f in pack.items() if f["role"] == "identity"}  # no evidence
    by = {t.name: t for t in spec.holdouts}
    assert by["win_rate_enterprise"].metric == "opportunity_win_rate_enterprise"
    assert {t.name: t.metric for t in spec.targets}["cycle_smb"] == "median_cycle_days_smb"
    text = _file(extra='[benchmarks]\npack = "b2b_saas"\nexclude = ["payback"]\n'
                       'not_applicable = ["payback_smb_focus", "payback_enterprise_focus", "referral_ltv"]\n'
                       '[targets.win_rate]\nmetric = "customers_won"\nvalue = 3\nsd = 1\nsource = "mine"\n')
    spec = cal.load_targets(_write(tmp_path / "t.toml", text))
    names = [t.name for t in spec.targets]
    assert "payback" not in names and names.count("win_rate") == 1
    assert not {"payback_smb_focus", "payback_enterprise_focus"} & set(names)
    assert "referral_ltv" not in {t.name for t in spec.holdouts}  # not applicable: not even held out
    assert {t.name: t for t in spec.targets}["win_rate"].source == "mine"


def test_example_files_are_valid():
    spec = cal.load_targets(ROOT / "scenarios" / "calibration" / "quick.toml")
    assert spec.strategy == "cold_calling" and len(spec.params) == 3


def test_distance():
    """A value +- sd: z = (sim - value) / sd; a range 1 to 3: its middle 2 +- 2 sd, so sd 0.5 and the edges at z = +-2,
    where a value +- sd figure leaves validation's pass band too."""
    t = [Target("a", "m", value=10.0, sd=2.0), Target("b", "m", low=1.0, high=3.0)]
    assert distance(t, [10.0, 2.0]) == 0.0
    assert distance(t, [14.0, 2.0]) == pytest.approx(math.sqrt((2.0 ** 2) / 2))
    assert distance(t, [10.0, 3.0]) == pytest.approx(math.sqrt(2.0 ** 2 / 2))   # the upper edge: z = 2
    assert distance(t, [10.0, 4.0]) == pytest.approx(math.sqrt(4.0 ** 2 / 2))   # 1 past it: 2 / 0.5
    assert distance(t, [10.0, 1.5]) == pytest.approx(math.sqrt(1.0 / 2))
    assert distance(t, [math.nan, 2.0]) == math.inf


# ------------------------------------------------------------------------------------------ the ABC-SMC core


def _toy_spec(key: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(hash=key, name="toy", definition=lambda: {"toy": key}, names=["mu"])


def _toy(settings: Settings, workers: int = 1, client=None, store=None, on_run=None):
    abc = ABCSMC(normal_toy, 1.0, [Prior("mu", -5.0, 5.0)], [Target("y", "y", value=0.0, sd=1.0)], settings)
    st = store if store is not None else CalibrationStore.open(":memory:", _toy_spec("toy"))
    try:
        return abc.run(st, workers=workers, client=client, progress=False, on_run=on_run)
    finally:
        if store is None:
            st.close()


def _moments(gen) -> tuple[float, float]:
    m = float(gen.weights @ gen.theta[:, 0])
    return m, math.sqrt(float(gen.weights @ (gen.theta[:, 0] - m) ** 2))


@pytest.mark.parametrize("reps", [1, 2])
def test_toy_normal_mean_posterior(reps):
    """y ~ N(mu, 1) observed at 0 with a flat prior: the posterior of mu is N(0, 1/R); ABC with a uniform
    kernel of half-width eps (|mean of R draws - 0| <= eps) widens it to variance 1/R + eps^2/3."""
    s = Settings(population=300, generations=5, max_runs=8_000 * reps, replications=reps, seed=11, predictive_draws=0)
    res = _toy(s)
    g = res.final
    m, sd = _moments(g)
    expected = math.sqrt(1.0 / reps + g.epsilon ** 2 / 3.0)
    assert g.epsilon < 0.5
    assert abs(m) < 0.2 * expected, (m, expected)             # Monte Carlo error of ~250 effective particles
    assert abs(sd / expected - 1) < 0.15, (sd, expected)
    assert g.ess > 0.7 * s.population
    assert len(res.generations) == 5 and res.stop_reason.startswith("it reached the maximum of 5")
    again = _toy(s)                                          # deterministic for a fixed seed
    assert np.array_equal(again.final.theta, g.theta) and np.array_equal(again.final.weights, g.weights)
    other = _toy(Settings(population=300, generations=5, max_runs=8_000 * reps, replications=reps, seed=12,
                          predictive_draws=0))
    assert not np.array_equal(other.final.theta, g.theta)


def test_toy_identical_with_one_two_workers_and_dask(tmp_path):
    s = Settings(population=40, generations=3, max_runs=2_000, replications=2, seed=5, predictive_draws=10)
    one = _toy(s, workers=1)
    two = _toy(s, workers=2)
    for a, b in zip(one.generations, two.generations):
        assert a.particles == b.particles
        assert np.array_equal(a.theta, b.theta) and np.array_equal(a.weights, b.weights)
    assert one.predictive == two.predictive and len(one.predictive) == 10
    assert all(seed % 2 == 1 for _, _, seed, _, _ in one.predictive)  # predictive seeds: odd, never a fit seed
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"temporary-directory": str(tmp_path)}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = _toy(s, client=client)
    for a, b in zip(one.generations, on_dask.generations):
        assert a.particles == b.particles and np.array_equal(a.weights, b.weights)
    assert one.predictive == on_dask.predictive


def test_toy_budget_and_min_epsilon_stop():
    res = _toy(Settings(population=50, generations=10, max_runs=300, replications=1, seed=2, predictive_draws=0))
    assert "budget of 300 runs" in res.stop_reason
    assert sum(g.runs for g in res.generations) <= 300
    res = _toy(Settings(population=50, generations=10, max_runs=50_000, min_epsilon=1.0, replications=1, seed=2,
                        predictive_draws=0))
    assert "min_epsilon" in res.stop_reason and res.final.epsilon <= 1.0
    assert len(res.generations) < 10


def test_seeds_are_fixed_in_the_parent():
    assert fit_seed(1, 2, 3, 0) == fit_seed(1, 2, 3, 0) != fit_seed(1, 2, 3, 1)
    fits = {fit_seed(1, g, i, r) for g in range(3) for i in range(200) for r in range(2)}
    preds = {predictive_seed(1, g, k) for g in range(3) for k in range(200)}
    assert not fits & preds and all(s % 2 == 0 for s in fits) and all(0 <= s < 2 ** 31 for s in fits | preds)


# ------------------------------------------------------------------------------------------ the real model


RECOVERY_POINTS = [(0.04, 400.0), (0.08, 800.0), (0.16, 600.0)]  # (connect_rate, cost_per_rep_day)
RECOVERY_MARKET = {"market.n_accounts": 2000, "scenario.horizon_days": 30, "scenario.warmup_days": 0, "channels.campaigns.burst_days": [5]}


@pytest.mark.slow
@pytest.mark.parametrize("truth", RECOVERY_POINTS[::2], ids=[f"{a}-{b:g}" for a, b in RECOVERY_POINTS[::2]])
def test_parameter_recovery(truth):
    """Targets generated by the model at known parameter values (the mean of 4 runs on seeds the fit never
    uses; sd 10% of the value for leads and meetings, 2% for total cost) are calibrated back: every
    parameter the report calls identified has the true value inside its 90% posterior interval, widened by
    5% of the prior's width (transformed scale) for the Monte Carlo error of 20 particles. At the two outer points
    (the middle one, 0.08 / 800, is the point estimates' recovery point below; session 12 dropped it here to keep CI
    under its limit)."""
    p1, p2 = "channels.cold_calling.connect_rate", "sales.cost_per_rep_day"
    base = sim.load_scenario(DEFAULT).with_overrides(RECOVERY_MARKET)
    at = base.with_overrides({p1: truth[0], p2: truth[1]})
    metrics = {"leads": 0.10, "meetings": 0.10, "total_cost": 0.02}
    runs = [sim.run(at, "cold_calling", 1_000_001 + 2 * k).summary for k in range(4)]
    observed = {m: float(np.mean([r[m] for r in runs])) for m in metrics}
    data = {"scenario": str(DEFAULT), "strategy": "cold_calling", "seed": 5, "replications": 1,
            "overrides": RECOVERY_MARKET,
            "targets": {m: {"value": v, "sd": metrics[m] * v, "source": "the model at known values"}
                        for m, v in observed.items()},
            "params": {p1: {"low": 0.01, "high": 0.5, "scale": "log"}, p2: {"low": 200, "high": 1200}},
            "abc": {"population": 20, "generations": 4, "max_runs": 1000, "predictive_draws": 0}}
    res = cal.calibrate(data, workers=1, progress=False)
    post = res.parameters.set_index("parameter")
    assert post["identified"].any(), post
    for (path, true), prior in zip(((p1, truth[0]), (p2, truth[1])), res.spec.params):
        row = post.loc[path]
        if not row["identified"]:
            continue
        a, b = prior.bounds
        slack = 0.05 * (b - a)
        lo, hi = prior.transform(row["q05"]) - slack, prior.transform(row["q95"]) + slack
        assert lo <= prior.transform(true) <= hi, (path, true, row.to_dict())


def test_resume_after_an_interruption_equals_uninterrupted(tiny_file, tiny_reference, tmp_path):
    store = tmp_path / "interrupted.sqlite"

    class Stop(Exception):
        pass

    def stop_after(n: int) -> None:
        if n >= 7:
            raise Stop

    with pytest.raises(Stop):
        cal.calibrate(tiny_file, workers=1, progress=False, store=store, on_run=stop_after)
    assert stored_runs(store) == 7
    resumed = cal.calibrate(tiny_file, workers=1, progress=False, store=store)
    _same_posterior(tiny_reference, resumed)
    assert resumed.result.reused == 7
    assert resumed.result.executed == tiny_reference.result.executed - 7
    again = cal.calibrate(tiny_file, workers=1, progress=False, store=store)  # nothing left to run
    assert again.result.executed == 0
    _same_posterior(tiny_reference, again)


def test_workers_do_not_change_the_posterior(tiny_file, tiny_reference, tmp_path):
    pooled = cal.calibrate(tiny_file, workers=2, progress=False, store=tmp_path / "pool.sqlite")
    _same_posterior(tiny_reference, pooled)


KILL_SCRIPT = """
import sys
import sim.calibration as cal
cal.calibrate(sys.argv[1], workers=2, store=sys.argv[2], progress=False)
"""


def test_kill9_and_resume(tiny_file, tiny_reference, tmp_path):
    psutil = pytest.importorskip("psutil")
    store = tmp_path / "killed.sqlite"
    children = kill_after_runs([sys.executable, "-c", KILL_SCRIPT, str(tiny_file), str(store)], store, 12,
                               cwd=tmp_path, what="calibration", guard_s=90)
    stored = stored_runs(store)
    total = tiny_reference.result.executed
    assert 12 <= stored < total, (stored, total)
    _gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"orphaned workers still running: {alive}"
    resumed = cal.calibrate(tiny_file, workers=1, progress=False, store=store)
    _same_posterior(tiny_reference, resumed)
    assert resumed.result.reused == stored


def test_store_refuses_another_calibration(tiny_file, tiny_reference, tmp_path):
    store = tmp_path / "s.sqlite"

    def stop(n):
        if n >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cal.calibrate(tiny_file, workers=1, progress=False, store=store, on_run=stop)
    other = _write(tmp_path / "other.toml", TINY_TOML.replace("seed = 3", "seed = 4"))
    with pytest.raises(ScenarioError, match="different calibration"):
        cal.calibrate(other, workers=1, progress=False, store=store)
    longer = _write(tmp_path / "longer.toml", TINY_TOML.replace("generations = 3", "generations = 4")
                    .replace("max_runs = 60", "max_runs = 120"))
    more = cal.calibrate(longer, workers=1, progress=False, store=store)  # a larger budget continues it
    # it reuses the 3 stored runs and goes on past the smaller budget (how many generations those runs make depends
    # on the model's acceptance rate, not on the store: that is not what is checked here)
    done = more.result.executed + more.result.reused
    assert more.result.reused == 3 and done > tiny_reference.result.executed + tiny_reference.result.reused
    assert len(more.result.generations) >= len(tiny_reference.result.generations)
    first = tiny_reference.result.generations
    assert [g.particles for g in more.result.generations[:len(first)]] == [g.particles for g in first]


def test_outputs_and_calibrated_scenario(tiny_reference, tmp_path):
    res = tiny_reference
    folder = res.write(tmp_path / "out")
    for name in ("calibrated.toml", "posterior.csv", "parameters.csv", "targets.csv", "generations.csv",
                 "predictive.csv", "runs.csv", "report.html", "manifest.json"):
        assert (folder / name).is_file(), name
    charts = {p.stem for p in (folder / "charts").glob("*.png")}
    assert {"targets_overview", "targets", "marginals", "pairs", "identifiability", "convergence"} <= charts
    post = pd.read_csv(folder / "posterior.csv")
    assert len(post) == 8 and post["weight"].sum() == pytest.approx(1.0)
    assert res.result.runs_needed + len(res.result.predictive) <= 60  # max_runs: predictive runs included
    assert {"channels.cold_calling.connect_rate", "sales.n_reps", "weight"} <= set(post.columns)
    scen = sim.load_scenario(folder / "calibrated.toml")
    cfg = scen.config_dict("cold_calling")
    assert cfg["channels"]["cold_calling"]["connect_rate"] == res.medians["channels.cold_calling.connect_rate"]
    assert cfg["sales"]["n_reps"] == res.medians["sales.n_reps"] and isinstance(res.medians["sales.n_reps"], int)
    assert cfg["market"]["n_accounts"] == 120  # the fixed overrides are part of the calibrated scenario
    assert scen.to_dict() == res.scenario.to_dict()
    assert scen.strategies == sim.load_scenario(DEFAULT).strategies
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["posterior_medians"] == json.loads(json.dumps(res.medians))
    runs = pd.read_csv(folder / "runs.csv")
    assert len(runs) == res.result.executed and set(runs["kind"]) == {"fit", "predictive"}
    checks = pd.read_csv(folder / "targets.csv")
    assert list(checks["name"]) == ["leads", "cycle"] and checks["sim_q05"].le(checks["sim_q95"]).all()
    assert "Calibration: tiny" in (folder / "report.html").read_text()


def test_cli_end_to_end_then_run_the_calibrated_scenario(tiny_file, tiny_reference, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", str(tiny_file), "--workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    runs = list((tmp_path / "results" / "calibration" / "tiny").iterdir())
    assert len(runs) == 1 and not runs[0].name.startswith(".")
    folder = runs[0]
    assert (folder / STORE_NAME).is_file() and f"Results: {folder}" in out
    post = pd.read_csv(folder / "posterior.csv")
    pd.testing.assert_frame_equal(post, pd.read_csv(_csv(tiny_reference.posterior, tmp_path)), check_exact=False,
                                  rtol=1e-12)
    assert main(["run", str(folder / "calibrated.toml"), "--reps", "1", "--strategies", "cold_calling",
                 "--quiet", "--out", str(tmp_path / "ran")]) == 0
    assert (tmp_path / "ran" / "summary.csv").is_file()


def _csv(df: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "ref.csv"
    df.to_csv(path, index=False)
    return path


def test_cli_resume_continues_the_unfinished_calibration(tiny_file, tiny_reference, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    partial = tmp_path / "results" / "calibration" / "tiny" / ".20260101-000000.partial"
    partial.mkdir(parents=True)

    class Stop(Exception):
        pass

    def stop(n):
        if n >= 5:
            raise Stop

    with pytest.raises(Stop):
        cal.calibrate(tiny_file, workers=1, progress=False, store=partial / STORE_NAME, on_run=stop)
    assert main(["calibrate", str(tiny_file), "--workers", "1", "--quiet", "--resume"]) == 0
    final = tmp_path / "results" / "calibration" / "tiny" / "20260101-000000"
    assert final.is_dir() and not partial.exists()
    post = pd.read_csv(final / "posterior.csv")
    pd.testing.assert_frame_equal(post, pd.read_csv(_csv(tiny_reference.posterior, tmp_path)), check_exact=False,
                                  rtol=1e-12)
    capsys.readouterr()
    assert main(["calibrate", str(tiny_file), "--resume", "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ calibrate --apply

def _results_folder(res, tmp_path: Path, scenario_file: Path | None) -> Path:
    """A calibration's results folder whose manifest names ``scenario_file`` as the starting scenario."""
    folder = res.write(tmp_path / "results")
    man = json.loads((folder / "manifest.json").read_text())
    man["scenario_file"] = None if scenario_file is None else str(scenario_file)
    (folder / "manifest.json").write_text(json.dumps(man))
    return folder


def _value(scen, path: str, strategy: str):
    d = scen.config_dict(strategy)
    for p in path.split("."):
        d = d[p]
    return d


def test_apply_writes_the_medians_in_place_and_nothing_else(tiny_reference, tmp_path, capsys):
    """The default target is the starting scenario file; only the free parameters' lines change (value, and the
    Source part of their comment); the file loads to exactly the posterior medians (an integer as an integer);
    applying again changes nothing more."""
    scen_file = tmp_path / "scen.toml"
    scen_file.write_bytes(DEFAULT.read_bytes())
    folder = _results_folder(tiny_reference, tmp_path, scen_file)
    before = scen_file.read_bytes().splitlines(keepends=True)
    assert main(["calibrate", "--apply", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"into {scen_file}" in out and "Not written: the calibration's fixed [overrides]" in out
    after = scen_file.read_bytes().splitlines(keepends=True)
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert 1 <= len(changed) <= 2
    for i in changed:  # the line keeps its key, spacing and own comment text; its source is the calibration
        old, new = before[i].decode(), after[i].decode()
        key = old.split("=")[0]
        assert new.startswith(key + "= ") and old.split("#", 1)[1].split("Source:")[0] in new
        assert "Source: calibrated with" in new and "ABC-SMC posterior median; 90% interval" in new
        assert new.count("Source:") == 1
    scen = sim.load_scenario(scen_file)
    for strategy in scen.strategies:
        for path, v in tiny_reference.medians.items():
            got = _value(scen, path, strategy)
            assert got == v and type(got) is type(v), (path, got, v)
    assert _value(scen, "market.n_accounts", "blended") == _value(sim.load_scenario(DEFAULT), "market.n_accounts",
                                                                    "blended")  # overrides are not written
    once = scen_file.read_bytes()
    assert main(["calibrate", "--apply", str(folder), "--to", str(scen_file)]) == 0
    assert scen_file.read_bytes() == once
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scen.")]  # no temporary file left


APPLY_SCENARIO = """\
# A hand-written scenario: tables, dotted keys, quoted keys, a multi-line array
[scenario]
name = "hand"   # a name
horizon_days = 40

[market]
"n_accounts" = 300   # accounts in the market; Source: a guess

[market.segments.enterprise]
research_speed = 0.002  # per research day. Source: old source
share = 0.12

[channels]
cold_calling.connect_rate = 0.07

[channels.campaigns]
burst_days = [
  5,   # research_speed = 9 (inside an array: not a key)
  20,
]

[need]
annual_trigger_rate = 0.2

[strategies.s]
channels.content.budget = 1000
"""


def _fake_folder(tmp_path: Path, estimates: dict, scenario_file: Path | None = None, name: str = "fake",
                 **manifest) -> Path:
    """The two files --apply reads, as a calibration writes them."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({
        "calibration_name": "fake", "targets_file": "cal/fake.toml", "posterior_medians": estimates,
        "scenario_file": None if scenario_file is None else str(scenario_file), **manifest}))
    pd.DataFrame([{"parameter": p, "median": v, "q05": v / 2, "q95": v * 2, "sd_ratio": 0.3, "identified": True}
                  for p, v in estimates.items()]).to_csv(folder / "parameters.csv", index=False)
    return folder


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_apply_finds_keys_as_toml_does(tmp_path, eol):
    """A key in its [section], a dotted key inside a parent table, a quoted key, a key the file does not set (added
    at the end of its table), an integer; a look-alike inside a multi-line array is not a key."""
    scen_file = tmp_path / "hand.toml"
    scen_file.write_bytes(APPLY_SCENARIO.replace("\n", eol).encode())
    est = {"market.segments.enterprise.research_speed": 0.0123456789012345, "channels.cold_calling.connect_rate": 0.1,
           "market.n_accounts": 512, "need.fade_rate": 1 / 3}
    applied = apply_calibration(_fake_folder(tmp_path, est, scen_file))
    text = scen_file.read_bytes().decode()
    lines = text.split(eol)
    assert "\r\n" not in text.replace(eol, "") if eol == "\n" else text.count("\r\n") == text.count("\n")
    assert 'research_speed = 0.0123456789012345  # per research day. Source: calibrated with cal/fake.toml' in text
    assert "cold_calling.connect_rate = 0.1  # Source: calibrated with" in text
    assert '"n_accounts" = 512   # accounts in the market. Source: calibrated with' in text
    assert "  5,   # research_speed = 9 (inside an array: not a key)" in text
    i = lines.index("annual_trigger_rate = 0.2")
    assert lines[i + 1].startswith("fade_rate = 0.3333333333333333  # Source: calibrated with")
    assert {c["path"]: c["old"] for c in applied.changes}["need.fade_rate"] is None
    assert lines[applied.changes[0]["line"] - 1].startswith("research_speed = 0.0123")
    scen = sim.load_scenario(scen_file)
    for path, v in est.items():
        got = _value(scen, path, "s")
        assert got == v and type(got) is type(v)
    old = APPLY_SCENARIO.split("\n")
    kept = [ln for ln in old if not any(k in ln for k in ('research_speed = 0.002', 'connect_rate', '"n_accounts"'))]
    assert all(ln in lines for ln in kept)  # every other line byte for byte
    assert len(lines) == len(old) + 1


BAD_APPLY = [
    ("no section to put it in", {"competitors.choice_sensitivity": 5.0}, ["competitors.choice_sensitivity",
                                                                          "no [competitors] table"]),
    ("a strategy sets it too", {"channels.content.budget": 5000.0}, ["strategy 's'", "sets it too"]),
    ("inside an inline table", {"market.segments.mid.share": 0.3}, ["inline table"]),
]


@pytest.mark.parametrize("name, est, words", BAD_APPLY, ids=[b[0] for b in BAD_APPLY])
def test_apply_refuses_and_leaves_the_file_untouched(tmp_path, capsys, name, est, words):
    scen_file = tmp_path / "hand.toml"
    text = APPLY_SCENARIO.replace("[need]", "[market.segments]\nmid = { share = 0.33 }\n\n[channels.content]\n"
                                            "budget = 500\n\n[need]")
    scen_file.write_text(text)
    stat = scen_file.stat()
    assert main(["calibrate", "--apply", str(_fake_folder(tmp_path, est, scen_file))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {scen_file}"), err
    for w in words:
        assert w in err[0], (w, err)
    assert scen_file.read_text() == text and scen_file.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake", "hand.toml"]


def test_apply_bad_folders_are_one_line_exit_2(tmp_path, capsys):
    scen_file = tmp_path / "hand.toml"
    scen_file.write_text(APPLY_SCENARIO)
    empty = tmp_path / "empty"
    empty.mkdir()
    installed = tmp_path / "lib" / "site-packages" / "sim" / "presets" / "default.toml"
    installed.parent.mkdir(parents=True)
    installed.write_text(APPLY_SCENARIO)
    cases = [
        (["--apply", str(tmp_path / "nowhere")], "no such folder"),
        (["--apply", str(empty)], "not a calibration results folder"),
        (["--apply", str(scen_file)], "is not a folder"),
        (["--apply", str(_fake_folder(tmp_path, {"need.fade_rate": 0.01}, installed, "f1"))], "installed with the package"),
        (["--apply", str(_fake_folder(tmp_path, {"need.fade_rate": 0.01}, None, "f2"))], "--to SCENARIO.toml"),
        (["--apply", str(tmp_path / "f2"), "--to", str(tmp_path / "none.toml")], "scenario file not found"),
        (["--to", str(scen_file)], "only goes with --apply"),
        ([str(scen_file), "--apply", str(tmp_path / "f2")], "not a targets file too"),
    ]
    for argv, words in cases:
        assert main(["calibrate", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], (argv, err)
    assert scen_file.read_text() == APPLY_SCENARIO and installed.read_text() == APPLY_SCENARIO


# ------------------------------------------------------------------------------------------ pooled holdouts

PACK_TARGETS = ["win_rate", "lead_to_opportunity", "no_decision", "cycle_smb", "cycle_mid", "cycle_enterprise",
                "payback", "connect_rate", "meetings_per_conversation", "in_market"]
# A small market where advocates refer often enough that a few referred accounts are won within 8 runs.
REFERRING = {"market.n_accounts": 200, "scenario.horizon_days": 60, "scenario.warmup_days": 60,
             "channels.campaigns.burst_days": [5], "word_of_mouth.referral_rate": 1.0,
             "after_sale.advocacy_rate": 1.0, "after_sale.advocacy_trust": 0.2}


def test_referral_ltv_premium_is_a_holdout_check(tmp_path):
    """The pack's referral_ltv_premium (a pooled figure, not a per-run metric) gets a row in the holdout checks:
    one estimate from the won accounts of all posterior-predictive runs, by the very estimator validation uses,
    with a 90% bootstrap interval over the runs; it is in targets.csv and the report."""
    from sim.analysis.pooled import pooled_referral_premium
    from sim.validation.stylized import pooled_referral_premium as validation_estimate

    data = {"scenario": str(DEFAULT), "strategy": "cold_calling", "seed": 2, "replications": 1,
            "overrides": REFERRING, "benchmarks": {"pack": "b2b_saas", "exclude": PACK_TARGETS},
            "targets": {"leads": {"value": 40, "sd": 20, "source": "test"}},
            "params": {"channels.cold_calling.connect_rate": {"low": 0.05, "high": 0.2}},
            "abc": {"population": 3, "generations": 1, "max_runs": 30, "predictive_draws": 8}}
    store = tmp_path / "s.sqlite"
    res = cal.calibrate(data, workers=1, progress=False, store=store)
    row = res.checks.set_index("name").loc["referral_ltv"]
    assert row["role"] == "holdout" and row["metric"] == "referral_ltv_premium"
    assert row["status"].startswith("ok: pooled over 8 runs"), row["status"]
    samples = res.predictive_samples
    assert len(samples) == 8 and all(set(s) >= {"won_referred", "won_ltv"} for s in samples)
    est, lo, hi, _ = pooled_referral_premium(samples, level=0.90)
    assert row["sim_median"] == est and row["sim_q05"] == lo and row["sim_q95"] == hi and lo <= est <= hi
    assert validation_estimate([{"samples": s} for s in samples])[0] == est  # the same estimator as validation
    assert row["inside"] == bool(lo <= 0.36 and hi >= 0.16)
    folder = res.write(tmp_path / "out")
    csv = pd.read_csv(folder / "targets.csv").set_index("name")
    assert csv.loc["referral_ltv", "sim_median"] == pytest.approx(est, rel=1e-12)
    assert "referral_ltv (referral_ltv_premium): ok: pooled over 8 runs" in (folder / "report.html").read_text()
    runs = pd.read_csv(folder / "runs.csv")
    assert "_samples" not in runs.columns and "referral_ltv_premium" not in runs.columns
    again = cal.calibrate(data, workers=1, progress=False, store=store)  # read back from the store: the same
    assert again.result.executed == 0
    pd.testing.assert_frame_equal(again.checks, res.checks)


def test_pooled_check_without_referred_wins_says_so(tiny_reference):
    from sim.calibration.fit import checks_table

    spec = tiny_reference.spec
    holdout = Target("referral_ltv", "referral_ltv_premium", low=0.16, high=0.36, source="test", role="holdout")
    spec2 = types.SimpleNamespace(targets=spec.targets, holdouts=[holdout])
    empty = {k: [] for k in ("won_segment", "won_acv", "won_referred", "won_ltv", "won_day")}
    table = checks_table(spec2, tiny_reference.predictive, [empty] * len(tiny_reference.predictive))
    row = table.set_index("name").loc["referral_ltv"]
    assert row["status"] == "not estimable: no referred customers won in 5 runs" and pd.isna(row["sim_median"])
    table = checks_table(spec2, tiny_reference.predictive, [None] * len(tiny_reference.predictive))
    assert "kept no engine samples" in table.set_index("name").loc["referral_ltv", "status"]


# ------------------------------------------------------------------------------------------ the Optuna point estimate

TINY_OPTUNA = TINY_TOML.replace('name = "tiny"', 'name = "tiny_optuna"\nmethod = "optuna"').split("[abc]")[0] + """
[optuna]
trials = 16
batch = 5
check_runs = 4
"""


@pytest.fixture(scope="module")
def optuna_file(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("optuna") / "tiny_optuna.toml", TINY_OPTUNA)


@pytest.fixture(scope="module")
def optuna_reference(optuna_file):
    return cal.calibrate(optuna_file, workers=1, progress=False)


def _same_point(a, b) -> None:
    pd.testing.assert_frame_equal(a.trials, b.trials, check_exact=True)
    pd.testing.assert_frame_equal(a.predictive, b.predictive, check_exact=True)
    pd.testing.assert_frame_equal(a.checks, b.checks, check_exact=True)
    assert a.estimate == b.estimate and a.result.best == b.result.best


@pytest.mark.slow
@pytest.mark.parametrize("truth", RECOVERY_POINTS[1:2], ids=["0.08-800"])
def test_optuna_point_estimate_recovers_a_well_identified_parameter(truth):
    """Targets generated by the model at known values (as in the ABC recovery test, on a 500-account market): 60
    TPE trials put the well-identified sales.cost_per_rep_day (pinned by total cost, sd 2%) within 12% of the truth
    (measured: 0.6-5% at these three points until session 8; 9.6% at (0.16, 600) on session 9's refitted default:
    sixty TPE trials are a coarse point estimate, CMA-ES below meets 8%). connect_rate is only weakly pinned by leads and meetings (sd 10%):
    no tolerance is claimed for it."""
    p1, p2 = "channels.cold_calling.connect_rate", "sales.cost_per_rep_day"
    market = {**RECOVERY_MARKET, "market.n_accounts": 500}
    at = sim.load_scenario(DEFAULT).with_overrides({**market, p1: truth[0], p2: truth[1]})
    sds = {"leads": 0.10, "meetings": 0.10, "total_cost": 0.02}
    runs = [sim.run(at, "cold_calling", 1_000_001 + 2 * k).summary for k in range(4)]
    observed = {m: float(np.mean([r[m] for r in runs])) for m in sds}
    data = {"scenario": str(DEFAULT), "strategy": "cold_calling", "seed": 5, "replications": 1, "method": "optuna",
            "overrides": market,
            "targets": {m: {"value": v, "sd": sds[m] * v, "source": "the model at known values"}
                        for m, v in observed.items()},
            "params": {p1: {"low": 0.01, "high": 0.5, "scale": "log"}, p2: {"low": 200, "high": 1200}},
            "optuna": {"trials": 60, "batch": 10, "check_runs": 4}}
    res = cal.calibrate(data, workers=1, progress=False)
    assert abs(res.estimate[p2] / truth[1] - 1) <= 0.12, (truth, res.estimate)
    assert len(res.trials) == 60 and res.result.executed == 64 + 2 * 2  # + the slopes: 2 sides x 2 parameters
    assert res.trials["distance"].min() == res.best_distance
    # the slopes at the point: total cost (sd 2%) pins the seat's cost, and its Laplace interval holds the truth
    row = res.parameters.set_index("parameter").loc[p2]
    assert row["pinned_by"] == "total_cost" and row["identified"] and row["slope_over_se"] > 2, row
    assert row["q05"] <= truth[1] <= row["q95"], row


def test_optuna_same_numbers_with_one_and_two_workers(optuna_file, optuna_reference, tmp_path):
    res = optuna_reference
    assert isinstance(res, cal.PointCalibration) and len(res.trials) == 16
    assert set(res.trials["sales.n_reps"]) <= set(range(2, 9))  # an integer parameter stays an integer
    seeds = set(res.runs.loc[res.runs["kind"] == "fit", "seed"])
    assert len(seeds) == 1 and all(s % 2 == 0 for s in seeds)  # every trial on the same (even) seed
    assert all(s % 2 == 1 for s in res.predictive["seed"])      # checks on fresh (odd) seeds
    assert (res.predictive["trial"] == res.result.best).all()
    pooled = cal.calibrate(optuna_file, workers=2, progress=False, store=tmp_path / "two.sqlite")
    _same_point(res, pooled)


OPTUNA_KILL = """
import sys
import sim.calibration as cal
if __name__ == "__main__":
    cal.calibrate(sys.argv[1], workers=2, store=sys.argv[2], progress=False)
"""


def test_optuna_resume_after_kill9(optuna_file, optuna_reference, tmp_path):
    """kill -9 in the middle of the search: the runs in flight are lost, none is run twice, and the resumed search
    gives the same trials, point and checks as an uninterrupted one."""
    psutil = pytest.importorskip("psutil")
    store = tmp_path / "killed.sqlite"
    script = _write(tmp_path / "kill_optuna.py", OPTUNA_KILL)
    children = kill_after_runs([sys.executable, str(script), str(optuna_file), str(store)], store, 8,
                               cwd=tmp_path, what="optuna calibration", guard_s=90)
    stored = stored_runs(store)
    total = optuna_reference.result.executed
    assert 8 <= stored < total, (stored, total)
    _gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"orphaned workers still running: {alive}"
    resumed = cal.calibrate(optuna_file, workers=1, progress=False, store=store)
    _same_point(optuna_reference, resumed)
    assert resumed.result.reused == stored and resumed.result.executed == total - stored  # none run twice
    assert stored_runs(store) == total


def test_optuna_outputs_say_point_estimate_and_apply(optuna_reference, tmp_path, capsys):
    res = optuna_reference
    folder = res.write(tmp_path / "out")
    for name in ("calibrated.toml", "parameters.csv", "trials.csv", "targets.csv", "predictive.csv", "runs.csv",
                 "report.html", "manifest.json", "charts/targets_overview.png", "charts/trace.png"):
        assert (folder / name).is_file(), name
    assert not (folder / "posterior.csv").exists()
    params = pd.read_csv(folder / "parameters.csv")
    assert {"estimate", "q05", "q95", "sd_ratio", "identified", "pinned_by"} <= set(params.columns)
    assert ((params["q05"] <= params["estimate"]) & (params["estimate"] <= params["q95"])).all()
    assert ((params["sd_ratio"] > 0) & (params["sd_ratio"] <= 1 + 1e-9)).all()  # the prior's sd at most
    slopes = pd.read_csv(folder / "slopes.csv")
    assert list(slopes["target"]) == ["leads", "cycle"] and set(res.estimate) <= set(slopes.columns)
    for name in ("ridges.csv", "charts/slopes.png"):
        assert (folder / name).is_file(), name
    report = (folder / "report.html").read_text()
    assert "with a local (Laplace) approximation of the posterior around it" in report
    assert "Identification at the point" in report
    checks = pd.read_csv(folder / "targets.csv")
    assert list(checks["name"]) == ["leads", "cycle"] and (checks["draws"] == 4).all()
    scen = sim.load_scenario(folder / "calibrated.toml")
    for path, v in res.estimate.items():
        assert _value(scen, path, "cold_calling") == v
    scen_file = tmp_path / "scen.toml"
    scen_file.write_bytes(DEFAULT.read_bytes())
    assert main(["calibrate", "--apply", str(folder), "--to", str(scen_file)]) == 0
    text = scen_file.read_text()
    assert "Optuna TPE point estimate: the best of 16 trials" in text and "Laplace 90% interval" in text
    applied = sim.load_scenario(scen_file)
    for path, v in res.estimate.items():
        assert _value(applied, path, "cold_calling") == v
    capsys.readouterr()
    monkey_out = tmp_path / "cli"
    assert main(["calibrate", str(Path(folder).parent / "x.toml")]) == 2  # (a missing targets file: one line)
    assert main(["calibrate", str(_write(tmp_path / "o.toml", TINY_OPTUNA)), "--workers", "1", "--quiet", "--out",
                 str(monkey_out)]) == 0
    out = capsys.readouterr().out
    assert "Point estimate (Optuna TPE, 16 trials)" in out and "estimate" in out
    pd.testing.assert_frame_equal(pd.read_csv(monkey_out / "trials.csv"), pd.read_csv(folder / "trials.csv"))


def test_optuna_reselect_reruns_the_best_trials_on_fresh_seeds(tmp_path):
    """reselect = K: the K trials with the lowest search distance rerun on the same fresh seeds (even, neither a
    search nor a check seed), and the point estimate is the one closest to the targets there (the first of equals);
    the search's trials are unchanged; a second call reads every run back from the store."""
    text = TINY_OPTUNA.replace("check_runs = 4", "check_runs = 2\nidentify = false\nreselect = 4")
    base = cal.calibrate(_write(tmp_path / "b.toml", text.replace("reselect = 4", "reselect = 1")), workers=1,
                         progress=False)
    store = tmp_path / "r.sqlite"
    res = cal.calibrate(_write(tmp_path / "r.toml", text), workers=1, progress=False, store=store)
    pd.testing.assert_frame_equal(base.trials, res.trials, check_exact=True)
    top = res.trials.sort_values(["distance", "trial"]).head(4)["trial"].tolist()
    sel = res.selection
    assert sel["trial"].tolist() == top and res.result.executed == 16 + 4 + 2
    assert res.result.best == sel.sort_values(["selection_distance", "trial"]).iloc[0]["trial"]
    runs = res.runs
    fresh, fit = set(runs.loc[runs["kind"] == "select", "seed"]), set(runs.loc[runs["kind"] == "fit", "seed"])
    assert len(fresh) == 1 and not fresh & fit and all(x % 2 == 0 for x in fresh)
    assert (res.predictive["trial"] == res.result.best).all()
    again = cal.calibrate(_write(tmp_path / "r.toml", text), workers=1, progress=False, store=store)
    assert again.result.executed == 0 and again.result.best == res.result.best
    assert "Reselected: of the best 4 trials" in res.finding()
    with pytest.raises(ScenarioError, match="optuna.reselect"):
        cal.calibrate(_write(tmp_path / "x.toml", text.replace("reselect = 4", "reselect = 17")), workers=1,
                      progress=False)


def test_trials_zero_measures_the_scenario_itself(tmp_path):
    """trials = 0 with start = "scenario": no search; the one 'trial' is the scenario's own values, then its slopes
    and checks, so a preset fitted before gets its Laplace intervals without moving. trials = 0 from the centre is
    refused."""
    text = TINY_OPTUNA.replace("trials = 16", "trials = 0\nstart = \"scenario\"").replace("check_runs = 4", "check_runs = 2")
    res = cal.calibrate(_write(tmp_path / "z.toml", text), workers=1, progress=False)
    own = res.spec.scenario_values()
    assert len(res.trials) == 1 and res.estimate == own
    assert res.result.executed == 1 + 2 * len(own) + 2  # the point, its slopes (2 sides, 1 seed), the checks
    assert res.local is not None and "no search, trials = 0" in res.finding()
    with pytest.raises(ScenarioError, match="optuna.trials"):
        cal.calibrate(_write(tmp_path / "c.toml", TINY_OPTUNA.replace("trials = 16", "trials = 0")), workers=1,
                      progress=False)


def test_optuna_without_slopes_says_it_has_no_interval(tmp_path):
    """identify = false: the search and the checks only (no slope runs), and the outputs say there is no interval."""
    res = cal.calibrate(_write(tmp_path / "t.toml", TINY_OPTUNA.replace("check_runs = 4", "check_runs = 2\nidentify = false")),
                        workers=1, progress=False)
    assert res.local is None and res.result.executed == 16 + 2
    folder = res.write(tmp_path / "out")
    assert not {"q05", "q95", "identified"} & set(pd.read_csv(folder / "parameters.csv").columns)
    assert not (folder / "slopes.csv").exists()
    assert "This is a point estimate, not a posterior." in (folder / "report.html").read_text()


def test_local_fit_recovers_known_slopes_and_the_laplace_covariance():
    """On a model whose targets are linear in the parameters (per prior width, with replication noise that cancels
    in pairs), the slopes are the known ones, the covariance is (J'J + 12 I)^-1, a parameter no target moves keeps
    its prior's sd, two parameters that only move together form a ridge, and a point on a bound moves one way."""
    from sim.calibration.local import local_fit, moves
    from sim.calibration.targets import Prior, Target

    priors = [Prior("a", 0.0, 1.0), Prior("b", 0.0, 10.0), Prior("c", 1.0, 100.0, scale="log"), Prior("d", 0.0, 1.0)]
    targets = [Target("t1", "m1", value=0.0, sd=0.1, source="x"), Target("t2", "m2", value=0.0, sd=0.2, source="x")]
    # m1 = 0.9 a + 0.09 b (a and b only as a + b/10 in prior widths: a ridge); m2 = 2 u_c; d moves nothing
    def metrics(vals, rep):
        u_c = (np.log(vals[2]) - np.log(1.0)) / (np.log(100.0) - np.log(1.0))
        return {"m1": 0.9 * vals[0] + 0.09 * vals[1] + 0.01 * rep, "m2": 2.0 * u_c - 0.02 * rep}
    point = [0.5, 5.0, 10.0, 1.0]
    runs = {(i, side): [metrics(v, r) for r in range(3)] for i, side, v, _du in moves(priors, point)}
    loc = local_fit(priors, targets, point, runs)
    J = np.array([[9.0, 9.0, 0.0, 0.0], [0.0, 0.0, 10.0, 0.0]])
    np.testing.assert_allclose(loc.slopes, J, atol=1e-9)
    np.testing.assert_allclose(loc.cov, np.linalg.inv(J.T @ J + 12 * np.eye(4)), rtol=1e-9)
    tab = loc.parameters().set_index("parameter")
    assert tab.loc["d", "sd_ratio"] == pytest.approx(1.0) and tab.loc["d", "pinned_by"] == ""
    assert tab.loc["c", "pinned_by"] == "t2" and tab.loc["c", "identified"] and tab.loc["a", "pinned_by"] == "t1"
    assert tab.loc["d", "q95"] == 1.0  # clipped to the bound
    ridge = loc.ridges()
    assert list(ridge[["parameter_a", "parameter_b"]].iloc[0]) == ["a", "b"] and ridge["correlation"][0] < -0.5
    down, up = [m for m in moves(priors, point) if m[0] == 3]
    assert up[3] == 0.0 and down[3] == pytest.approx(-0.05)  # d sits on its upper bound


# ------------------------------------------------------------------------------------------ CMA-ES (sampler = "cmaes")

def test_batched_cma_is_seeded_starts_where_told_and_ranks_failures_last():
    """The search itself: a function of the seed and the told values only; its first generation lies around the start
    point at the given step; a region whose trials fail (non-finite) is left; it finds a quadratic's minimum."""
    from sim.analysis.tpe import batched_cma

    box = {"a": (0.0, 1.0), "b": (-5.0, 5.0)}

    def bowl(batch):
        return [(p["a"] - 0.3) ** 2 + ((p["b"] - 2.0) / 10) ** 2 for _n, p in batch]

    one = batched_cma(box, 120, 8, 11, bowl)
    assert one == batched_cma(box, 120, 8, 11, bowl) and one != batched_cma(box, 120, 8, 12, bowl)
    assert [n for n, _p, _v in one] == list(range(120))
    best = min(one, key=lambda t: t[2])[1]
    assert abs(best["a"] - 0.3) < 0.02 and abs(best["b"] - 2.0) < 0.2, best
    first = batched_cma(box, 8, 8, 11, bowl, start={"a": 0.9, "b": -4.0}, sigma=0.01)
    for _n, p, _v in first:  # 5 steps of 0.01 of the width around the start
        assert abs(p["a"] - 0.9) <= 0.05 and abs(p["b"] + 4.0) <= 0.5, p
    with pytest.raises(ValueError, match="outside the box"):
        batched_cma(box, 8, 8, 11, bowl, start={"a": 1.5, "b": 0.0})

    def walled(batch):  # a < 0.5 fails: the search must still end in a > 0.5, at its edge near 0.5
        return [math.inf if p["a"] < 0.5 else (p["a"] - 0.3) ** 2 for _n, p in batch]

    res = batched_cma({"a": (0.0, 1.0)}, 80, 6, 2, walled)
    fin = [t for t in res if math.isfinite(t[2])]
    assert min(fin, key=lambda t: t[2])[1]["a"] < 0.55 and len(fin) > 40


TINY_CMA = TINY_OPTUNA.replace('name = "tiny_optuna"', 'name = "tiny_cma"').replace(
    "[optuna]\n", '[optuna]\nsampler = "cmaes"\nstart = "scenario"\nsigma = 0.2\n')


@pytest.mark.slow
def test_cmaes_point_estimate_recovers_a_well_identified_parameter():
    """The recovery test of the TPE mode (targets made by the model at known values) with CMA-ES from the priors'
    centre: 120 trials (20 generations of 6) put the well-identified sales.cost_per_rep_day within 8% of the truth
    at each point. Measured on the session-7 default: 0.1-0.2% off at 120 trials, up to 1.6% at 90; at 60 the
    search had not converged at (0.04, $400) (8.2% off, distance 0.71 against 0.30). At the two outer points since
    session 12 (CI time; the middle one is TPE's recovery point above)."""
    p1, p2 = "channels.cold_calling.connect_rate", "sales.cost_per_rep_day"
    market = {**RECOVERY_MARKET, "market.n_accounts": 500}
    for truth in RECOVERY_POINTS[::2]:
        at = sim.load_scenario(DEFAULT).with_overrides({**market, p1: truth[0], p2: truth[1]})
        sds = {"leads": 0.10, "meetings": 0.10, "total_cost": 0.02}
        runs = [sim.run(at, "cold_calling", 1_000_001 + 2 * k).summary for k in range(4)]
        observed = {m: float(np.mean([r[m] for r in runs])) for m in sds}
        data = {"scenario": str(DEFAULT), "strategy": "cold_calling", "seed": 5, "replications": 1,
                "method": "optuna", "overrides": market,
                "targets": {m: {"value": v, "sd": sds[m] * v, "source": "the model at known values"}
                            for m, v in observed.items()},
                "params": {p1: {"low": 0.01, "high": 0.5, "scale": "log"}, p2: {"low": 200, "high": 1200}},
                "optuna": {"trials": 120, "batch": 6, "check_runs": 2, "sampler": "cmaes", "identify": False}}
        res = cal.calibrate(data, workers=1, progress=False)
        assert abs(res.estimate[p2] / truth[1] - 1) <= 0.08, (truth, res.estimate)
        assert len(res.trials) == 120 and res.trials["distance"].min() == res.best_distance


def test_cmaes_same_numbers_any_workers_resume_and_outputs(tmp_path):
    """CMA-ES from the scenario's values: the same trials with 1 and 2 workers and after a stop part-way (the
    resumed search reads the stored runs back, runs none twice); its first generation lies around the scenario's
    values; the report, calibrated.toml and --apply name CMA-ES."""
    path = _write(tmp_path / "tiny_cma.toml", TINY_CMA)
    spec = cal.load_targets(path)
    assert spec.settings.sampler == "cmaes" and spec.settings.start == "scenario"
    assert "CMA-ES from the scenario's values" in spec.describe()
    ref = cal.calibrate(path, workers=1, progress=False)
    start = spec.scenario_values()
    first = ref.trials[ref.trials["trial"] < 5]
    rate = start["channels.cold_calling.connect_rate"]
    # sigma 0.2 of the log-width log(30): at most about 4 steps away from the start in the first generation
    assert (np.abs(np.log(first["channels.cold_calling.connect_rate"] / rate)) <= 4 * 0.2 * math.log(30)).all()
    _same_point(ref, cal.calibrate(path, workers=2, progress=False, store=tmp_path / "two.sqlite"))

    class Stop(Exception):
        pass

    def stop_after(n):
        if n == 7:
            raise Stop

    store = tmp_path / "stopped.sqlite"
    with pytest.raises(Stop):
        cal.calibrate(path, workers=1, progress=False, store=store, on_run=stop_after)
    resumed = cal.calibrate(path, workers=1, progress=False, store=store)
    _same_point(ref, resumed)
    assert resumed.result.reused == 7 and resumed.result.executed == ref.result.executed - 7
    folder = ref.write(tmp_path / "out")
    assert "CMA-ES (the cmaes package" in (folder / "report.html").read_text()
    assert "CMA-ES point estimate" in (folder / "calibrated.toml").read_text()
    scen_file = _write(tmp_path / "scen.toml", DEFAULT.read_text())
    assert main(["calibrate", "--apply", str(folder), "--to", str(scen_file)]) == 0
    assert "CMA-ES point estimate: the best of 16 trials" in scen_file.read_text()


def test_tpe_start_at_the_scenario_is_its_first_trial(tmp_path):
    text = TINY_OPTUNA.replace("[optuna]\n", '[optuna]\nstart = "scenario"\n')
    spec = cal.load_targets(_write(tmp_path / "t.toml", text))
    res = cal.calibrate(spec, workers=1, progress=False)
    first = res.trials.iloc[0]
    for path, v in spec.scenario_values().items():
        assert first[path] == pytest.approx(v, rel=1e-12), path
