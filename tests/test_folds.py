"""The three-fold out-of-sample benchmark (benchmarks/folds.py, issue 21): the fold assignment and each fold's
calibration file without running anything; the whole script on a tiny budget (marked slow)."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "folds.py"
BASE = ROOT / "scenarios" / "calibration" / "default_b2b.toml"


def _load_script():
    spec = importlib.util.spec_from_file_location("benchmarks_folds", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


folds = _load_script()


@pytest.fixture(scope="module")
def facts():
    return folds.load_facts(BASE)


def _pack_and_base():
    base = tomllib.loads(BASE.read_text(encoding="utf-8"))
    pack = tomllib.loads((ROOT / "scenarios" / "benchmarks" / f"{base['benchmarks']['pack']}.toml")
                         .read_text(encoding="utf-8"))["facts"]
    return pack, base


def test_the_eligible_facts_are_the_packs_targets_and_holdouts_that_apply(facts):
    pack, base = _pack_and_base()
    absent = set(base["benchmarks"].get("not_applicable", []))
    want = [n for n, f in pack.items() if f.get("role", "target") in ("target", "holdout") and n not in absent]
    assert facts.names == want
    identities = {n for n, f in pack.items() if f.get("role") == "identity"}
    assert identities, "the pack has identity facts (the check below would be empty)"
    assert identities | absent == set(facts.skipped)
    assert not (identities | absent) & set(facts.names)


@pytest.mark.parametrize("n_folds", [2, 3, 4])
def test_every_eligible_fact_is_in_exactly_one_fold(facts, n_folds):
    a = folds.assign_folds(facts.eligible, n_folds, seed=1)
    assert list(a) == facts.names  # every fact once, in the pack's order
    assert set(a.values()) == set(range(1, n_folds + 1))
    for f in facts.skipped:
        assert f not in a
    # each fact is predicted in its own fold and in no other
    for name in facts.names:
        predicted_in = [k for k in range(1, n_folds + 1)
                        if folds.fold_roles(facts, a, k)[name][0] == folds.PREDICTED]
        assert predicted_in == [a[name]]


def test_the_assignment_is_the_documented_deal_and_depends_only_on_the_seed(facts):
    a1 = folds.assign_folds(facts.eligible, 3, seed=1)
    assert folds.assign_folds(list(facts.eligible), 3, seed=1) == a1
    assert folds.assign_folds(list(reversed(facts.eligible)), 3, seed=1) == {n: a1[n] for n in reversed(facts.names)}
    assert any(folds.assign_folds(facts.eligible, 3, seed=s) != a1 for s in range(2, 7))
    # the rule in the docstring: targets then holdouts, each ordered by sha256("<seed>:<name>"), dealt round-robin
    import hashlib

    order = [f.name for role in ("target", "holdout")
             for f in sorted((f for f in facts.eligible if f.role == role),
                             key=lambda f: hashlib.sha256(f"1:{f.name}".encode()).hexdigest())]
    assert {n: i % 3 + 1 for i, n in enumerate(order)} == a1


@pytest.mark.parametrize("seed", [1, 2, 3, 17])
def test_the_folds_are_stratified_by_role(facts, seed):
    k = 3
    a = folds.assign_folds(facts.eligible, k, seed=seed)
    sizes = Counter(a.values())
    assert max(sizes.values()) - min(sizes.values()) <= 1
    for role in folds.STRATA:
        members = [f.name for f in facts.eligible if f.role == role]
        per_fold = Counter(a[n] for n in members)
        counts = [per_fold.get(i, 0) for i in range(1, k + 1)]
        assert max(counts) - min(counts) <= 1, (role, counts)
        if len(members) >= k:
            assert min(counts) >= 1, (role, counts)


def test_a_metric_that_cannot_be_a_target_is_only_ever_predicted(facts):
    unfit = [f for f in facts.eligible if not folds.fittable(f)[0]]
    assert [f.metric for f in unfit] == ["referral_ltv_premium"]
    assert "pooled" in folds.fittable(unfit[0])[1]
    a = folds.assign_folds(facts.eligible, 3, seed=1)
    for k in (1, 2, 3):
        roles = folds.fold_roles(facts, a, k)
        for f in unfit:
            what, role = roles[f.name]
            assert role == "holdout"
            assert what == (folds.PREDICTED if a[f.name] == k else folds.NOT_FITTABLE)
        for name, (what, role) in roles.items():
            assert (role == "target") == (what == folds.FITTED)
            assert (what == folds.PREDICTED) == (a[name] == k)
            if what == folds.FITTED:
                assert folds.fittable(facts.by_name(name))[0]


def test_each_folds_calibration_file_is_the_base_with_the_facts_subset(facts, tmp_path):
    from sim.calibration import load_targets

    base = load_targets(BASE)
    a = folds.assign_folds(facts.eligible, 3, seed=1)
    budget = folds.Budget(trials=7, replications=2, check_runs=3, folds=3, seed=5, start=base.settings.start,
                          sigma=base.settings.sigma)
    for k in (1, 2, 3):
        roles = folds.write_fold_files(tmp_path / f"fold_{k}", facts, a, k, BASE, budget)
        spec = load_targets(tmp_path / f"fold_{k}" / "targets.toml")
        assert [t.name for t in spec.targets] == [n for n, (w, _) in roles.items() if w == folds.FITTED]
        assert sorted(t.name for t in spec.holdouts) == sorted(n for n, (w, _) in roles.items() if w != folds.FITTED)
        for t in [*spec.targets, *spec.holdouts]:  # the published figures are the pack's
            assert t.key() == facts.by_name(t.name).key()
        assert spec.params == base.params
        assert spec.scenario.to_dict() == base.scenario.to_dict()
        assert spec.strategy == base.strategy and spec.overrides == base.overrides
        s, b = spec.settings, base.settings
        assert (s.method, s.sampler, s.batch, s.start, s.sigma) == (b.method, b.sampler, b.batch, b.start, b.sigma)
        assert (s.trials, s.replications, s.predictive_draws, s.seed) == (7, 2, 3, 5)
        assert getattr(s, "identify", False) is False  # no slope runs: the budget is trials x replications + checks
    # --start / --sigma replace the base file's
    centre = folds.Budget(trials=7, replications=2, check_runs=3, folds=3, seed=5, start="centre", sigma=0.3)
    folds.write_fold_files(tmp_path / "centre", facts, a, 1, BASE, centre)
    s = load_targets(tmp_path / "centre" / "targets.toml").settings
    assert (s.start, s.sigma) == ("centre", 0.3)


def _runs(values):
    return [{"summary": {"opportunity_win_rate": v}, "samples": {}} for v in values]


def test_a_fact_passes_by_the_validations_band_of_the_mean(facts):
    from sim.validation.benchmarks import band

    win = facts.by_name("win_rate")  # 0.2 +- 0.04: the band is 0.12 to 0.28
    lo, hi = band(win)
    row = folds.score_fact(win, folds.PREDICTED, 1, "blended", _runs([hi - 0.01, hi + 0.01]), None)
    assert row["pass"] is True and row["measurable"] is True
    assert math.isclose(row["sim_mean"], hi) and (row["band_low"], row["band_high"]) == (lo, hi)
    row = folds.score_fact(win, folds.PREDICTED, 1, "blended", _runs([hi, hi + 0.02]), None)
    assert row["pass"] is False and row["measurable"] is True
    row = folds.score_fact(win, folds.FITTED, 1, "blended", _runs([math.nan, math.nan]), None)
    assert row["pass"] is False and row["measurable"] is False and row["detail"].startswith("NOT MEASURABLE")
    assert list(row) == folds.CSV_COLUMNS


def test_bad_flags_are_one_error_line_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "out"
    assert folds.main(["--folds", "1", "--out", str(out), "--quiet"]) == 2
    assert folds.main(["--trials", "1", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert not out.exists()


@pytest.mark.slow
def test_the_script_on_a_tiny_budget(tmp_path, facts):
    """The whole benchmark: 3 folds of 2 trials x 1 replication and 1 check run on the default market (9 runs,
    about 30 s). One worker: no pool of worker processes to start for each generation and each fold's checks, which
    on 2 shared cores costs more than it saves; the numbers are the same for any number of workers (the library's
    contract; a 2-worker run of these flags wrote the identical folds.csv)."""
    pytest.importorskip("cmaes")
    from sim.validation.benchmarks import band

    out = tmp_path / "folds"
    cmd = [sys.executable, str(SCRIPT), "--trials", "2", "--replications", "1", "--check-runs", "1", "--workers", "1",
           "--out", str(out), "--quiet", "--no-reports"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    df = pd.read_csv(out / "folds.csv")
    assert list(df.columns) == folds.CSV_COLUMNS
    assert len(df) == 3 * len(facts.names)
    assert not df.duplicated(["fold", "fact"]).any()
    assert sorted(df["fact"].unique()) == sorted(facts.names)
    predicted = df[df["fitted_or_predicted"] == folds.PREDICTED]
    assert sorted(predicted["fact"]) == sorted(facts.names)  # each fact predicted once
    a = folds.assign_folds(facts.eligible, 3, seed=1)
    assert all(a[r.fact] == r.fold for r in predicted.itertuples())
    unfit = [f.name for f in facts.eligible if not folds.fittable(f)[0]]
    assert not df[df["fact"].isin(unfit)]["fitted_or_predicted"].eq(folds.FITTED).any()
    # pass is a boolean computed from the band: recompute it from the CSV
    assert df["pass"].dtype == bool and df["measurable"].dtype == bool
    for r in df.to_dict("records"):
        lo, hi = band(facts.by_name(r["fact"]))
        assert math.isclose(r["band_low"], lo) and math.isclose(r["band_high"], hi)
        if r["measurable"]:
            assert r["pass"] == bool(r["band_low"] <= r["sim_mean"] <= r["band_high"]), r["fact"]
        else:
            assert not r["pass"]
    # the summary counts the predicted facts of each fold
    md = (out / "summary.md").read_text(encoding="utf-8")
    for k in (1, 2, 3):
        p = predicted[predicted["fold"] == k]
        inside = int(p["pass"].sum())
        not_meas = int((~p["measurable"]).sum())
        assert f"| {k} | {len(p)} | {inside} | {len(p) - inside - not_meas} | {not_meas} |" in md
    import json

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["budget"]["trials"] == 2 and manifest["budget"]["check_runs"] == 1
    assert len(manifest["seeds"]["check_seeds"]) == 1 and manifest["versions"]["numpy"]
    assert pd.read_csv(out / "assignment.csv").set_index("fact")["fold"].to_dict() == a
    # a second call finds every fold done and writes the same table
    before = (out / "folds.csv").read_bytes()
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "folds.csv").read_bytes() == before
    # another budget into the same folder is refused
    other = subprocess.run([*cmd, "--seed", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and "holds another benchmark" in other.stderr
