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
import subprocess
import sys
import time
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


@pytest.mark.parametrize("name", FAST_CHECKS)
def test_check_runs(fast_cli, name):
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
    assert r["passed"] in (True, False) and isinstance(bool(r["passed"]), bool)
    print(f"\n{name}: measured {r['measured']:.4g} [{r['ci_low']:.4g}, {r['ci_high']:.4g}] "
          f"{'pass' if r['passed'] else 'FAIL'} (target {r['target']})")
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
