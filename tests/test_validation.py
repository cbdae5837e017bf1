"""The validation suite (sim/validation/, `python run.py validate`), in its fast version.

One in-process `run.py validate --fast` run feeds every per-check test (the suite is the expensive part:
running it once keeps this file well under two minutes). Every check must run and give a finite measured
value, a finite confidence interval and a boolean verdict. The verification checks (Bass docking, the
q = 0 reduction, diffusion on networks between full mixing and the Fibich & Gibori bound) must pass.
Stylized facts and comparative statics report their outcome but are not asserted: a fact the model does
not produce must be reported as failing, not hidden.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN_PY = ROOT / "run.py"
sys.path.insert(0, str(ROOT))

import run  # noqa: E402  (run.py at the project root)
import sim  # noqa: E402
from sim.validation import framework as v  # noqa: E402
from sim.validation.bass import bass_curve, bass_daily  # noqa: E402
from sim.validation.network import chain_daily, fg_1d_curve, pair_daily  # noqa: E402
from sim.validation.stylized import referral_premium  # noqa: E402

FAST_CHECKS = v.planned_checks(fast=True)
WORKERS = str(min(2, os.cpu_count() or 1))


def _is_verification(name: str) -> bool:
    return name.split("(")[0] in v.VERIFICATION_CHECKS


@pytest.fixture(scope="module")
def fast_cli(tmp_path_factory):
    """`python run.py validate --fast` in process, into a fresh --out folder."""
    base = tmp_path_factory.mktemp("validate")
    out = base / "val"
    t0 = time.perf_counter()
    rc = run.main(["validate", "--fast", "--quiet", "--workers", WORKERS, "--out", str(out)])
    elapsed = time.perf_counter() - t0
    df = pd.read_csv(out / "validation.csv") if out.is_dir() else pd.DataFrame(columns=v.COLUMNS)
    print(f"\nfast validation suite: {elapsed:.1f} s")
    return rc, base, out, df


def test_cli_writes_complete_folder(fast_cli):
    rc, base, out, df = fast_cli
    assert rc == 0
    assert out.is_dir()
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "report.html", "validation.csv"]
    assert not [p for p in base.iterdir() if p.name.startswith(".")], "temporary folder left behind"
    assert list(df.columns) == v.COLUMNS
    assert list(df["check"]) == FAST_CHECKS  # one row per check, in order
    assert df["check"].is_unique


def test_report_is_self_contained(fast_cli):
    _, _, out, df = fast_cli
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert "<script src" not in text and "<link" not in text
    assert "data:image/png;base64," in text  # charts embedded
    for name in df["check"]:
        assert name in text
    assert f"{int(df['passed'].sum())} of {len(df)} checks pass" in text


# ---------------------------------------------------------------------------------------- every check's verdict
# test_check_runs recomputes each row's verdict from the row itself (measured, interval, and the threshold or p-value
# its target and detail state) with the rule its group module documents, and checks the measured value is of a
# plausible size for what it measures. A check whose name no rule below knows fails: add its rule.

from scipy import stats as _sps  # noqa: E402

from sim.validation import stylized as _sty  # noqa: E402

# plausible measured values of the benchmark and preset facts, by metric (rates are fractions of 1)
_FRACTIONS = ("opportunity_win_rate", "lead_to_opportunity_rate", "no_decision_share", "connect_rate",
              "meetings_per_connect", "share_in_market", "median_progress_at_first_contact", "buyer_initiated_share",
              "buying_group_conflict_share")
_METRIC_RANGE = {
    "status_quo_share_of_no_decisions": (0.0, 1.0),
    "meetings_per_conversation": (0.0, 1.0),
    "median_progress_at_first_contact_per_purchase": (0.0, 1.0),
    "buyer_initiated_share_per_purchase": (0.0, 1.0),
    "median_cycle_days": (0.0, 1000.0),  # days from first conversation to the decision: within horizon + warm-up
    "payback_months": (0.0, 1200.0),
    "referral_to_web_close_ratio": (0.0, 100.0),
    "decision_rate_ratio_group_1_vs_6": (0.0, 100.0),
    "cac_per_new_arr": (0.0, 100.0),
    "ltv_to_cac": (0.0, 100.0),
    "meetings_per_1000_dials": (0.0, 1000.0),
    "referral_ltv_premium": (-1.0, 10.0),
}
# comparative statics: the expected direction of the effect (+1 up, -1 down)
_STATICS_DIRECTION = {"more_reps_more_meetings": +1, "higher_readiness_later_contact": +1,
                      "denser_network_more_referral_deals": +1, "more_content_more_inbound_leads": +1,
                      "more_annoyance_lower_cold_conversion": -1}


def _num(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not found in {text!r}"
    return float(m.group(1))


def _args(name: str) -> dict:
    """p, q, weak_ties ... from a check name such as bass_fit_p(p=0.002,q=0.03)."""
    return {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.e]+)", name)}


def _metric_range(metric: str) -> tuple[float, float]:
    base = metric
    for seg in ("_smb", "_mid", "_enterprise"):
        base = base.removesuffix(seg)
    if base in _FRACTIONS:
        return 0.0, 1.0
    assert base in _METRIC_RANGE, f"no plausible range for metric {metric}: add one to _METRIC_RANGE"
    return _METRIC_RANGE[base]


def _fact_of(name: str):
    """The benchmark-pack fact a benchmark_* or preset_<preset>_* check reads."""
    facts = {f.name: f for f in load_pack("b2b_saas")[1]}
    if name.startswith("benchmark_"):
        return facts[name.removeprefix("benchmark_")]
    for preset_name, _, _ in pres.preset_targets():
        if name.startswith(f"preset_{preset_name}_") and name.removeprefix(f"preset_{preset_name}_") in facts:
            return facts[name.removeprefix(f"preset_{preset_name}_")]
    raise AssertionError(f"no pack fact for {name}")


def expected_verdict(name: str, r) -> tuple[bool | None, tuple[float, float]]:
    """(the verdict the check's rule gives for this row, or None when the value sits on the rounding edge of a
    printed threshold; the plausible range of its measured value)."""
    m, lo, target, detail = float(r["measured"]), float(r["ci_low"]), str(r["target"]), str(r["detail"])
    kind = name.split("(")[0]
    a = _args(name)

    if kind == "bass_curve":
        tol = _num(r"<= ([\d.]+)$", target)
        return (None if abs(m - tol) < 5e-5 else m <= tol), (0.0, 0.2)
    if kind in ("bass_fit_p", "bass_fit_q"):
        which = kind[-1]
        true = _num(rf"^{which} = ([\d.e-]+) within", target)
        assert true == pytest.approx(a[which]), (name, target)  # the target is the rate the runs were made with
        tol = _num(r"\+/-([\d.]+)%", target) / 100
        err = abs(m / true - 1)
        return (None if abs(err - tol) < 5e-4 else err <= tol), (0.5 * true, 2.0 * true)
    if kind == "bass_peak":
        p, q = a["p"], a["q"]
        tstar = math.log(q / p) / (p + q)  # the Bass inflection, computed here from the check's p and q
        assert _num(r"t\* = ([\d.]+)", target) == pytest.approx(tstar, abs=0.05), (name, target)
        tol = _num(r"\+/- ([\d.]+) days", target)
        return (None if abs(abs(m - tstar) - tol) < 0.05 else abs(m - tstar) <= tol), (0.5 * tstar, 2.0 * tstar)
    if kind == "bass_q0":
        runs, n = _num(r"(\d+) runs, N=", detail), _num(r"N=(\d+)", detail)
        crit = float(_sps.kstwobign.ppf(0.999)) / math.sqrt(n * runs)  # Kolmogorov 99.9% critical value, here
        assert _num(r"<= ([\d.]+)", target) == pytest.approx(crit, abs=5e-5), (name, target, crit)
        return m <= crit, (0.0, 0.1)
    if kind == "network_slower":
        sup, allowance = _num(r"max_t \(F_net - F_full\) = ([-+\d.]+)", detail), _num(r"allowance ([\d.]+)", detail)
        return (lo > 0 and sup <= allowance), (-365.0, 365.0)
    if kind == "network_lower_bound":
        tol = _num(r">= -([\d.]+)$", target)
        return (None if abs(m + tol) < 5e-5 else m >= -tol), (-1.0, 1.0)
    if kind == "progress_at_first_contact_median":
        return abs(m - _sty.PFC_TARGET) <= _sty.PFC_TOL, (0.0, 1.0)
    if kind == "progress_at_first_contact_spread":
        return m >= _sty.PFC_IQR_MIN, (0.0, 1.0)
    if kind == "share_in_market":
        return _sty.IN_MARKET_BAND[0] <= m <= _sty.IN_MARKET_BAND[1], (0.0, 1.0)
    if kind == "campaign_direct_within_2_days":
        return m >= _sty.CAMPAIGN_DIRECT_MIN, (0.0, 1.0)
    if kind == "campaign_sharing_tail":
        pval = _num(r"one-sided p=([\d.e+-]+|nan)\)", detail)
        return (lo > 0 and pval < v.ALPHA), (-1.0, 1.0)
    if kind == "speed_to_lead":
        return (m >= _sty.SPEED_TO_LEAD_MIN and lo > 1.0), (0.0, 1000.0)
    if kind == "referral_ltv_premium":
        return (m >= _sty.REFERRAL_PREMIUM_MIN and lo > 0.0), (-1.0, 10.0)
    if kind == "enterprise_cycle_longer":
        return lo > 0, (-1000.0, 1000.0)
    if kind == "introductions_vs_cold_calls":
        return (m >= _sty.INTRO_VS_COLD_MIN and lo > 1.0), (0.0, 1000.0)
    if kind in _STATICS_DIRECTION:
        direction = _STATICS_DIRECTION[kind]
        before, after = (_num(r"seeds paired: ([-+\d.e]+) ->", detail), _num(r"-> ([-+\d.e]+), mean difference", detail))
        # the measured value is the mean paired difference: the difference of the two printed means (4 digits)
        assert m == pytest.approx(after - before, rel=2e-3, abs=2e-3 * max(abs(before), abs(after))), (name, detail)
        assert float(r["ci_low"]) <= m <= float(r["ci_high"])
        pval = _num(r"paired t-test p=([\d.e+-]+|nan)\.", detail)
        return (pval < v.ALPHA and np.sign(m) == direction), (-1e6, 1e6)
    if name.startswith(("benchmark_", "preset_")):
        fact = _fact_of(name)
        assert float(r["ci_low"]) <= m <= float(r["ci_high"])
        return bench.in_band(fact, m), _metric_range(fact.metric)
    raise AssertionError(f"no verdict rule for check {name}: add it to expected_verdict")


@pytest.mark.parametrize("name", FAST_CHECKS)
def test_check_runs(fast_cli, name):
    """Every check runs, is measured (a finite value and interval), has a measured value of a plausible size, and
    its pass/fail is the one its own rule gives for that value (recomputed here from the row)."""
    df = fast_cli[3]
    rows = df[df["check"] == name]
    assert len(rows) == 1, f"{name} missing from validation.csv"
    r = rows.iloc[0]
    assert isinstance(r["target"], str) and r["target"]
    assert isinstance(r["source"], str) and r["source"], "every target carries its source"
    assert isinstance(r["detail"], str) and r["detail"]
    assert "NOT MEASURABLE" not in r["detail"], r["detail"]
    for col in ("measured", "ci_low", "ci_high"):
        assert math.isfinite(float(r[col])), f"{name}: {col} = {r[col]} ({r['detail']})"
    assert float(r["ci_low"]) <= float(r["ci_high"])
    assert r["passed"] in (True, False)
    print(f"\n{name}: measured {r['measured']:.4g} [{r['ci_low']:.4g}, {r['ci_high']:.4g}] "
          f"{'pass' if r['passed'] else 'FAIL'} (target {r['target']})")
    verdict, (low, high) = expected_verdict(name, r)
    assert low <= float(r["measured"]) <= high, f"{name}: measured {r['measured']} outside [{low}, {high}]"
    if verdict is not None:
        assert bool(r["passed"]) == verdict, f"{name}: reported {'pass' if r['passed'] else 'fail'}, its rule says " \
                                             f"{'pass' if verdict else 'fail'}: {r['target']}; {r['detail']}"
    if not r["passed"] and r["group"] in ("benchmarks", "presets"):
        assert "FAILS" in r["detail"], r["detail"]  # a miss says so, with its size and direction
    if _is_verification(name):
        assert bool(r["passed"]), f"verification check failed: {name}: {r['detail']}"


@pytest.fixture(scope="module")
def bass_serial():
    """The Bass docking group through the Python API, in this process."""
    return v.run_checks(fast=True, groups=["bass"], workers=1)


def test_api_columns_and_bass_docking(bass_serial):
    """The Python API on one group, in this process: the Bass docking checks all pass."""
    df = bass_serial
    assert list(df.columns) == v.COLUMNS
    assert list(df["check"]) == v.planned_checks(fast=True, groups=["bass"])
    assert df["passed"].dtype == bool
    assert df["passed"].all(), df.loc[~df["passed"], ["check", "detail"]].to_string()
    assert np.isfinite(df[["measured", "ci_low", "ci_high"]].to_numpy()).all()


def test_dask_cluster_gives_the_same_numbers(bass_serial, tmp_path):
    """run_checks(executor=...) runs on a Dask cluster (a Client or its address) through sim.executor, with
    the same rows as in this process: seeds are fixed in the parent."""
    distributed = pytest.importorskip("distributed")
    import dask

    scratch = dask.config.set({"temporary-directory": str(tmp_path)})  # no dask-scratch-space in /tmp
    with scratch, distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, silence_logs=40) as cluster:
        with distributed.Client(cluster) as client:
            on_dask = v.run_checks(fast=True, groups=["bass"], executor=client)
            assert client.status == "running", "a Client passed in is the caller's to close"
        by_address = v.run_checks(fast=True, groups=["bass"], executor=cluster.scheduler_address)
    pd.testing.assert_frame_equal(bass_serial, on_dask, check_exact=True)
    pd.testing.assert_frame_equal(bass_serial, by_address, check_exact=True)
    assert on_dask.attrs["settings"]["executor"] == f"dask {cluster.scheduler_address}"
    assert "executor" not in bass_serial.attrs["settings"]


@pytest.mark.parametrize("address, fragment", [
    ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
    ("127.0.0.1:8786", "must be a Dask scheduler address like tcp://HOST:8786"),
])
def test_scheduler_flag_bad_address_exits_2(address, fragment, tmp_path, capsys):
    """--scheduler is checked (as in run.py sweep) before anything runs: one line, exit 2, nothing written."""
    out = tmp_path / "never"
    rc = run.main(["validate", "--fast", "--quiet", "--scheduler", address, "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: validate: --scheduler: ") and fragment in err[0], err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_api_rejects_a_bad_executor():
    with pytest.raises(sim.ScenarioError, match="executor.*distributed.Client or a scheduler address"):
        v.run_checks(fast=True, groups=["bass"], executor=42)
    with pytest.raises(sim.ScenarioError, match="executor.*cannot reach"):
        v.run_checks(fast=True, groups=["bass"], executor="tcp://127.0.0.1:1")


def test_analytic_curves():
    """The curves the docking relies on: Bass, its q = 0 limit, and the exact daily versions."""
    t = np.arange(1, 366)
    assert np.allclose(bass_curve(t, 0.01, 0.0), 1 - np.exp(-0.01 * t))
    p, q = 0.002, 0.03
    # the peak of f = F' is where F = (1 - p/q)/2, at ln(q/p)/(p+q)
    tstar = np.log(q / p) / (p + q)
    assert bass_curve(tstar, p, q) == pytest.approx((1 - p / q) / 2)
    # daily rule -> continuous curves as the step shrinks (rates per step scaled down by 100)
    fine = bass_daily(p / 100, q / 100, 36500)[99::100]
    assert np.max(np.abs(fine - bass_curve(t, p, q))) < 2e-4
    chain = chain_daily(p / 50, q / 50, 50 * 120)[49::50]
    assert np.max(np.abs(chain - fg_1d_curve(t[:120], p, q))) < 2e-4
    # the envelope: pair <= 1D chain <= Bass, and all above external influence alone
    T = 365
    ext, pair, ch, full = 1 - np.exp(-p * t), pair_daily(p, q, T), chain_daily(p, q, T), bass_daily(p, q, T)
    assert np.all(ext <= pair + 1e-12) and np.all(pair <= ch + 1e-12) and np.all(ch <= full + 1e-12)


def test_bad_input_exits_2_with_one_line(tmp_path):
    out = tmp_path / "never"
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(RUN_PY), "validate", "--reps", "0", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--reps" in lines[0], proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--seed", "-1"], ["--workers", "0"], ["--reps", "x"]])
def test_bad_numbers_in_process(argv, capsys, tmp_path):
    rc = run.main(["validate", *argv, "--out", str(tmp_path / "x")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    assert not (tmp_path / "x").exists()


def test_api_rejects_bad_arguments():
    with pytest.raises(sim.ScenarioError):
        v.run_checks(reps=1)
    with pytest.raises(sim.ScenarioError):
        v.run_checks(groups=["nope"])


def test_help_lists_flags(capsys):
    assert run.main(["validate", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--reps", "--seed", "--workers", "--scheduler", "--fast", "--out"):
        assert flag in text


def test_referral_premium_is_like_for_like():
    """The referral check's estimator: LTV per ACV dollar within segment and acquisition quarter, so a
    referred share that leans to large or long-lived segments alone gives no premium, and a real
    within-segment premium is recovered."""
    rng = np.random.default_rng(0)
    n = 4000
    seg = rng.integers(0, 3, n).astype(float)
    acv = np.array([6e3, 25e3, 80e3])[seg.astype(int)] * np.exp(0.5 * rng.standard_normal(n))
    years = np.array([2.0, 3.5, 4.5])[seg.astype(int)]
    day = rng.integers(0, 365, n).astype(float)
    referred = (rng.random(n) < np.array([0.02, 0.1, 0.3])[seg.astype(int)]).astype(float)  # mostly enterprise
    ltv = 0.75 * acv * years
    assert ltv[referred > 0].mean() / ltv[referred == 0].mean() - 1 > 1.0  # the raw comparison is confounded
    assert referral_premium(seg, acv, referred, ltv, day) == pytest.approx(0.0, abs=1e-12)
    assert referral_premium(seg, acv, referred, ltv * np.where(referred > 0, 1.2, 1.0), day) == pytest.approx(0.2)
    assert math.isnan(referral_premium(seg, acv, np.zeros(n), ltv, day))


# ================================================================================================
# The benchmarks group: every fact of the benchmark pack, observed against simulated
# ================================================================================================

from sim.config.facts import Target, load_pack  # noqa: E402
from sim.validation import benchmarks as bench  # noqa: E402

PACK_FILE = ROOT / "scenarios" / "benchmarks" / "b2b_saas.toml"
TINY_MARKET = {"market.n_accounts": 400, "scenario.horizon_days": 150, "channels.campaigns.burst_days": [20, 80]}


def _pack_table() -> dict:
    import tomllib

    return tomllib.loads(PACK_FILE.read_text(encoding="utf-8"))["facts"]


@pytest.fixture(scope="module")
def bench_fast():
    """The benchmarks group alone, --fast (2 replications of the default market), in this process."""
    return v.run_checks(fast=True, groups=["benchmarks"], workers=1)


def test_benchmark_facts_are_read_from_the_pack():
    """The facts come from the pack through the calibration's loader: one check per [facts.<name>] table,
    in file order, with the file's role, metric (segment appended) and figures."""
    name, facts, excluded = bench.pack_facts()
    table = _pack_table()
    # the default's mixed market: the payback of SMB- and enterprise-focused sellers is not about it
    absent = {"payback_smb_focus", "payback_enterprise_focus"}
    assert name == PACK_FILE.name and excluded == set() and absent <= set(table)
    table = {k: t for k, t in table.items() if k not in absent}
    assert [f.name for f in facts] == list(table)
    for f in facts:
        t = table[f.name]
        assert f.role == t["role"]
        seg = t.get("segment")
        assert f.metric == (t["metric"] if seg is None or t["metric"].endswith(f"_{seg}") else f"{t['metric']}_{seg}")
        assert (f.value, f.sd, f.low, f.high) == tuple(t.get(k) for k in ("value", "sd", "low", "high"))
    assert v.planned_checks(fast=True, groups=["benchmarks"]) == [f"benchmark_{n}" for n in table]
    assert bench.strategy() == "blended"  # the strategy of scenarios/calibration/default_b2b.toml


def test_benchmark_facts_follow_the_targets_file(tmp_path, monkeypatch):
    """Nothing is hard-coded: another targets file naming another pack gives that pack's facts; a target the
    targets file excludes from calibration is labelled out of sample."""
    (tmp_path / "pack.toml").write_text(
        '[facts.a]\nmetric = "connect_rate"\nvalue = 0.1\nsd = 0.02\nsource = "s"\nrole = "target"\n'
        '[facts.b]\nmetric = "opportunity_win_rate"\nsegment = "smb"\nlow = 0.1\nhigh = 0.3\nsource = "s"\n'
        'role = "target"\n[facts.c]\nmetric = "payback_months"\nlow = 8\nhigh = 12\nsource = "s"\nrole = "target"\n',
        encoding="utf-8")
    (tmp_path / "t.toml").write_text('scenario = "default"\nstrategy = "networking"\n'
                                     '[benchmarks]\npack = "pack.toml"\nexclude = ["b"]\nnot_applicable = ["c"]\n',
                                     encoding="utf-8")
    monkeypatch.setattr(bench, "TARGETS_FILE", str(tmp_path / "t.toml"))
    _, facts, excluded = bench.pack_facts()
    assert [f.name for f in facts] == ["a", "b"] and excluded == {"b"}
    assert facts[1].metric == "opportunity_win_rate_smb"
    assert bench.strategy() == "networking"
    assert [bench.role_label(f, excluded) for f in facts] == [bench.ROLE_TARGET, bench.ROLE_EXCLUDED]
    checks = bench.plan(v.Ctx(True, 2, 1))
    assert [c.name for c in checks] == ["benchmark_a", "benchmark_b"]
    assert {s.strategy for c in checks for s in c.specs} == {"networking"}


def test_band_rule_at_the_edges():
    """value +- sd: pass within value +- 2 sd, edges included; range: pass within [low, high]; NaN fails; a miss
    says by how much and in which direction."""
    f = Target(name="x", metric="m", value=1.0, sd=0.25)
    assert bench.BAND_SDS == 2.0 and bench.band(f) == (0.5, 1.5)
    for x, ok in [(1.0, True), (0.5, True), (1.5, True), (0.4999, False), (1.5001, False), (math.nan, False),
                  (math.inf, False)]:
        assert bench.in_band(f, x) is ok, x
    assert bench.miss(f, 1.2) == "" and bench.miss(f, 0.5) == ""
    assert bench.miss(f, 2.0).startswith("0.5 above the band's upper edge 1.5") and "+4.0 sd" in bench.miss(f, 2.0)
    assert bench.miss(f, 0.25).startswith("0.25 below the band's lower edge 0.5") and "-3.0 sd" in bench.miss(f, 0.25)
    r = Target(name="y", metric="m", low=0.4, high=0.6)
    assert bench.band(r) == (0.4, 0.6)
    for x, ok in [(0.4, True), (0.6, True), (0.5, True), (0.3999, False), (0.6001, False), (math.nan, False)]:
        assert bench.in_band(r, x) is ok, x
    assert bench.miss(r, 0.8).startswith("0.2 above the range's upper edge 0.6") and "2.0 half-widths" in bench.miss(r, 0.8)
    assert bench.miss(r, 0.3).startswith("0.1 below the range's lower edge 0.4")
    assert "NaN" in bench.miss(r, math.nan)


def test_benchmarks_every_fact_has_a_row(bench_fast):
    """--fast on the default market: one row per fact of the pack, observed vs simulated (mean over replications
    with a 95% interval), the verdict the band rule gives, the role, and for a miss its size and direction."""
    df = bench_fast
    _, facts, _ = bench.pack_facts()
    assert list(df.columns) == v.COLUMNS
    assert list(df["check"]) == [f"benchmark_{f.name}" for f in facts]
    assert (df["group"] == "benchmarks").all()
    assert df.attrs["settings"]["runs"] == 2  # every fact reads the same two runs
    for f, (_, r) in zip(facts, df.iterrows()):
        assert f.observed() in r["target"] and f.metric in r["target"]
        assert f.source in r["source"]
        for col in ("measured", "ci_low", "ci_high"):
            assert math.isfinite(r[col]), (f.name, col, r["detail"])
        assert r["ci_low"] <= r["measured"] <= r["ci_high"]
        assert bool(r["passed"]) == bench.in_band(f, r["measured"])
        label = bench.role_label(f)  # held out, an identity (with its formula) or a target
        assert r["detail"].startswith(label), r["detail"]
        if not r["passed"]:
            assert "FAILS" in r["detail"] and bench.miss(f, r["measured"]) in r["detail"]
            assert (" above " in r["detail"]) != (" below " in r["detail"])
        print(f"\n{f.name} ({f.role}): observed {f.observed()}, simulated {r['measured']:.4g} "
              f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}] {'pass' if r['passed'] else 'FAIL'}")
    text = v.render_report(df)
    assert bench.BAND_RULE in text and bench.ROLE_HOLDOUT in text
    assert "http://" not in text and "https://" not in text  # sources as plain text: the report links nowhere


def test_benchmarks_end_to_end_on_a_small_market(monkeypatch):
    """--fast on a tiny market (few events: some metrics have nothing to count): still one row per fact, none
    raises; a fact without a value is reported as not measurable or failing, never as passing."""
    monkeypatch.setattr(bench, "MARKET", dict(TINY_MARKET))
    df = v.run_checks(fast=True, groups=["benchmarks"], workers=1)
    _, facts, _ = bench.pack_facts()
    assert list(df["check"]) == [f"benchmark_{f.name}" for f in facts]
    assert df.attrs["settings"]["runs"] == 2
    nan = ~np.isfinite(df["measured"].to_numpy(dtype=float))
    assert not df.loc[nan, "passed"].any()
    for f, (_, r) in zip(facts, df.iterrows()):
        label = bench.role_label(f)  # held out, an identity (with its formula) or a target
        if r["detail"].startswith("NOT MEASURABLE"):
            assert r["detail"].startswith(f"NOT MEASURABLE: {label}: "), r["detail"]
        else:
            assert r["detail"].startswith(label) and "[market: 400 accounts, 150 days]" in r["detail"], r["detail"]
        print(f"\n{f.name}: {r['measured']:.4g} {'pass' if r['passed'] else 'FAIL'} {r['detail'][:90]}")


# ================================================================================================
# The presets group: every calibrated preset against the pack's headline bands
# ================================================================================================

from sim.validation import presets as pres  # noqa: E402


def test_presets_group_plans_the_headline_facts_of_every_calibrated_preset():
    """One row per (preset, headline fact) for every targets file that calibrates a preset to a pack, with the
    targets file's strategy; a fact the file excludes (no SMB or no enterprise accounts) is left out."""
    found = pres.preset_targets()
    assert [name for name, _, _ in found] == ["default", "enterprise", "self_service"]
    checks = pres.plan(v.Ctx(True, 2, 1))
    expected = []
    for name, _, table in found:
        left_out = set(table["benchmarks"].get("exclude", [])) | set(table["benchmarks"].get("not_applicable", []))
        expected += [f"preset_{name}_{f}" for f in pres.HEADLINE if f not in left_out]
    assert [c.name for c in checks] == expected
    assert "preset_self_service_cycle_enterprise" not in expected  # the self-service market has no enterprise
    # one payback per preset: the one about its kind of market
    assert [c for c in expected if "_payback" in c] == ["preset_default_payback",
                                                         "preset_enterprise_payback_enterprise_focus",
                                                         "preset_self_service_payback_smb_focus"]
    for c in checks:
        assert {s.scenario for s in c.specs} <= {"default", "enterprise", "self_service"}
        assert {s.strategy for s in c.specs} == {"blended"}
    assert v.planned_checks(fast=True, groups=["presets"]) == expected


def test_presets_group_end_to_end_on_small_markets(monkeypatch):
    """--fast on shrunk presets: every row is measured or not measurable, and passes exactly when its mean is
    inside the band; the report has the group's section."""
    monkeypatch.setattr(pres, "MARKET", {"market.n_accounts": 150, "scenario.horizon_days": 120,
                                         "scenario.warmup_days": 30, "channels.campaigns.burst_days": [20, 80]})
    df = v.run_checks(fast=True, groups=["presets"], workers=1)
    assert (df["group"] == "presets").all() and len(df) == len(pres.plan(v.Ctx(True, 2, 1)))
    facts = {f.name: f for f in load_pack("b2b_saas")[1]}  # every fact, those the default leaves out included
    by_check = {f"preset_{name}_{f}": facts[f] for name, _, _ in pres.preset_targets() for f in pres.HEADLINE}
    for _, r in df.iterrows():
        if r["detail"].startswith("NOT MEASURABLE"):
            assert not r["passed"]
        else:
            assert bool(r["passed"]) == bench.in_band(by_check[r["check"]], r["measured"]), r["detail"]
    assert "6. Every preset" in v.render_report(df)



def test_a_failing_fact_says_why_in_the_model():
    """A benchmark fact that misses its band carries the model's reason (benchmarks.WHY) in its detail; inside the
    band, or a metric without a known reason, it does not."""
    metric = "buyer_initiated_share_per_purchase"
    runs = [{"summary": {metric: v, "connect_rate": 0.1}} for v in (0.50, 0.52, 0.49)]
    ctx = types.SimpleNamespace(runs=lambda specs: runs)
    far = Target(name="m", metric=metric, value=0.83, sd=0.08, role="holdout")
    near = Target(name="m", metric=metric, value=0.5, sd=0.08, role="holdout")
    other = Target(name="c", metric="connect_rate", value=0.3, sd=0.01, role="holdout")
    out = bench.evaluate_fact(far, bench.ROLE_HOLDOUT, "blended", [])(ctx)
    assert not out["passed"] and f"Why, in the model: {bench.WHY[metric]}" in out["detail"]
    assert bench.evaluate_fact(near, bench.ROLE_HOLDOUT, "blended", [])(ctx)["passed"]
    assert "Why, in the model" not in bench.evaluate_fact(near, bench.ROLE_HOLDOUT, "blended", [])(ctx)["detail"]
    miss = bench.evaluate_fact(other, bench.ROLE_HOLDOUT, "blended", [])(ctx)
    assert not miss["passed"] and "Why, in the model" not in miss["detail"]
    pack = {f.metric for f in load_pack("b2b_saas")[1]}
    assert set(bench.WHY) <= pack  # every reason belongs to a fact of the pack


def test_headline_counts_passes_by_kind_of_evidence():
    """The headline says what the passes are evidence of: a held-out fact (or a pack target excluded from the fit)
    is out of sample, a calibration target confirms the fit, an identity is not evidence, and every other group's
    check is a model check; a row that is NOT MEASURABLE keeps its role; a fact row without a role is an error."""
    rows = [("b1", "benchmarks", f"{bench.ROLE_HOLDOUT}. Observed ...", True),
            ("b2", "benchmarks", f"{bench.ROLE_HOLDOUT}. Observed ...", False),
            ("b3", "benchmarks", f"NOT MEASURABLE: {bench.ROLE_EXCLUDED}: x is NaN", False),
            ("b4", "presets", f"{bench.ROLE_TARGET}. Observed ...", True),
            ("b5", "benchmarks", f"{bench.ROLE_IDENTITY}: payback = 12 x cac_ratio / margin. Observed", True),
            ("s1", "stylized", "anything", True), ("d1", "bass", "anything", False)]
    df = pd.DataFrame([{"check": c, "group": g, "detail": d, "passed": p} for c, g, d, p in rows])
    assert list(v.evidence(df)) == ["out of sample"] * 3 + ["fitted", "identity", "model", "model"]
    assert v.headline(df) == ("4 of 7 checks pass (held-out facts (out of sample): 1 of 3; model checks (docking "
                              "with known models, stylized facts, comparative statics): 1 of 2; calibration targets "
                              "(they confirm the fit): 1 of 1; identities of targets and inputs (reported, not "
                              "evidence): 1 of 1)")
    assert v.headline(df.iloc[5:]) == ("1 of 2 checks pass (model checks (docking with known models, stylized facts, "
                                       "comparative statics): 1 of 2)")
    with pytest.raises(ValueError, match="b9"):
        v.evidence(pd.DataFrame([{"check": "b9", "group": "benchmarks", "detail": "no role", "passed": True}]))
