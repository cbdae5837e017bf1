"""A scenario from a CRM export (sim.crm.scenario, ``python run.py crm scenario``).

The figures are checked against values computed here with pandas straight from the shipped example export
(scenarios/examples/crm/opportunities_salesforce.csv: synthetic, in Salesforce's layout, with dirty rows), not with
the module's readers: the market size and segment mix of an accounts file made here from the same export, the
segment mix of the accounts with a deal, and the median and log-sd of the won new-business amounts per segment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.config.parameters import SEGMENTS, leaves, lookup
from sim.config.scenario import ScenarioError
from sim.config.template import toml_value
from sim.crm import scenario_from_export
from sim.crm.scenario import MIN_ACCOUNTS, not_in_export_paths
from test_crm import _cli, _one_error_line, _tree  # the command-line helpers of the targets tests

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "scenarios" / "examples" / "crm" / "opportunities_salesforce.csv"
TINY = {"market.n_accounts": 120, "scenario.horizon_days": 40, "scenario.warmup_days": 0,
        "channels.campaigns.burst_days": [5]}
EXTRA_ACCOUNTS = 22   # accounts in the accounts file without a deal


# ------------------------------------------------------------------------------------------------ the truth


def _amount(text: str) -> float:
    """The example's amounts: plain numbers, "$1,234.00", "1.234,00 EUR"; "n/a" and negatives are unusable."""
    t = text.strip()
    if t.startswith("$"):
        t = t[1:].replace(",", "")
    elif t.endswith(" EUR"):
        t = t[:-4].replace(".", "").replace(",", ".")
    try:
        v = float(t)
    except ValueError:
        return np.nan
    return v if v >= 0 else np.nan


def _segment(employees: pd.Series) -> np.ndarray:
    e = employees.astype(float).to_numpy()
    return np.select([e < 100, e < 1000], ["smb", "mid"], "enterprise")


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    """The example export cleaned by hand: the first row of each id, a readable created date, a closed deal's
    close date not before it; with segment, amount and outcome."""
    raw = pd.read_csv(EXPORT, dtype=str, keep_default_na=False)
    raw = raw[~raw["Id"].duplicated(keep="first")].copy()
    raw["created"] = pd.to_datetime(raw["CreatedDate"].str[:10], format="%Y-%m-%d", errors="coerce")
    raw["closed"] = pd.to_datetime(raw["CloseDate"], format="%Y-%m-%d", errors="coerce")
    raw["is_closed"] = raw["IsClosed"] == "true"
    raw["won"] = raw["IsWon"] == "true"
    keep = raw["created"].notna() & ~(raw["is_closed"] & (raw["closed"].isna() | (raw["closed"] < raw["created"])))
    out = raw[keep].copy()
    out["segment"] = _segment(out["Account.NumberOfEmployees"])
    out["amount"] = out["Amount"].map(_amount)
    out["new"] = out["Type"] == "New Customer"
    return out


def _window(t: pd.DataFrame, since=None, until=None) -> tuple[pd.Timestamp, pd.Timestamp]:
    s = pd.Timestamp(since) if since else t["created"].min()
    u = pd.Timestamp(until) if until else max(t.loc[t["is_closed"], "closed"].max(), t["created"].max())
    return s, u


def expected(t: pd.DataFrame, since=None, until=None) -> dict:
    s, u = _window(t, since, until)
    closed_in = t["is_closed"] & t["closed"].between(s, u)
    seen = t[closed_in | t["created"].between(s, u)]
    per_account = seen.drop_duplicates("AccountId")
    out = {"accounts": len(per_account)}
    for g in SEGMENTS:
        out[f"market.segments.{g}.share"] = float((per_account["segment"] == g).mean())
        won = t[closed_in & t["won"] & t["new"] & t["amount"].notna() & (t["segment"] == g)]["amount"]
        out[f"n_won_{g}"] = len(won)
        out[f"market.segments.{g}.deal_size"] = float(won.median()) if len(won) else np.nan
        out[f"market.segments.{g}.deal_size_sigma"] = float(np.log(won[won > 0]).std(ddof=1)) if len(won) > 1 \
            else np.nan
    return out


@pytest.fixture(scope="module")
def accounts_file(truth, tmp_path_factory) -> Path:
    """A Salesforce Account export: every account of the example export with its head count, and 22 without a
    deal."""
    acc = truth.drop_duplicates("AccountId")[["AccountId", "Account.NumberOfEmployees"]]
    acc.columns = ["Id", "NumberOfEmployees"]
    extra = pd.DataFrame({"Id": [f"0015gEXTRA{i:05d}AAA" for i in range(EXTRA_ACCOUNTS)],
                          "NumberOfEmployees": [str([20, 60, 400, 4000][i % 4]) for i in range(EXTRA_ACCOUNTS)]})
    path = tmp_path_factory.mktemp("accounts") / "accounts.csv"
    pd.concat([acc, extra]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def res():
    return scenario_from_export(EXPORT)


# ------------------------------------------------------------------------------------------------ the figures


def test_segment_mix_and_acv_match_an_independent_count(res, truth):
    exp = expected(truth)
    for g in SEGMENTS:
        s = res.setting(f"market.segments.{g}.share")
        assert s.origin == "data" and s.n == exp["accounts"]
        assert s.estimate == pytest.approx(exp[s.path], abs=1e-12)
        assert s.value == pytest.approx(exp[s.path], abs=5e-5)          # written to 4 decimals
        assert 0 < s.sd < 0.1 and s.lo < s.estimate < s.hi
        assert exp[f"n_won_{g}"] >= 10
        for key in ("deal_size", "deal_size_sigma"):
            s = res.setting(f"market.segments.{g}.{key}")
            assert s.origin == "data" and s.n == exp[f"n_won_{g}"], s
            assert s.estimate == pytest.approx(exp[s.path], rel=1e-12)
            assert s.value == pytest.approx(exp[s.path], rel=1e-3)
            assert s.sd > 0 and s.lo <= s.estimate <= s.hi
            assert "window 2024-01-01 to 2025-06-30" in s.source and "'Amount'" in s.source
    assert sum(res.setting(f"market.segments.{g}.share").value for g in SEGMENTS) == pytest.approx(1, abs=1e-9)
    cfg = res.scenario.config_dict()["market"]["segments"]
    for g in SEGMENTS:
        assert cfg[g]["deal_size"] == res.setting(f"market.segments.{g}.deal_size").value
        assert cfg[g]["share"] == res.setting(f"market.segments.{g}.share").value
    assert any("accounts with a deal" in w for w in res.warnings)  # a mix of deals, not of the market: said


def test_a_window_counts_only_its_deals(truth):
    since = "2024-07-01"
    r = scenario_from_export(EXPORT, since=since)
    exp = expected(truth, since=since)
    for g in SEGMENTS:
        assert r.setting(f"market.segments.{g}.share").estimate == pytest.approx(exp[f"market.segments.{g}.share"])
        s = r.setting(f"market.segments.{g}.deal_size")
        if exp[f"n_won_{g}"] >= 10:
            assert s.origin == "data" and s.estimate == pytest.approx(exp[s.path]) and s.n == exp[f"n_won_{g}"]
        else:
            assert s.origin == "preset" and f"only {exp[f'n_won_{g}']} won" in s.note


def test_a_window_with_no_won_deal_in_a_segment_keeps_the_preset_acv(truth):
    since, until = "2024-01-01", "2024-03-31"
    exp = expected(truth, since, until)
    assert exp["n_won_mid"] == 0
    r = scenario_from_export(EXPORT, since=since, until=until)
    preset = sim.load_scenario("default").config_dict()["market"]["segments"]["mid"]
    for key in ("deal_size", "deal_size_sigma"):
        s = r.setting(f"market.segments.mid.{key}")
        assert s.origin == "preset" and s.value == s.preset == preset[key]
        assert s.note == "no won new-business mid deal closed in the window 2024-01-01 to 2024-03-31"
        assert s in r.not_derived
    text = r.scenario_text("s.toml")
    assert f"#   market.segments.mid.deal_size = {toml_value(preset['deal_size'])}  (no won " \
           f"new-business mid deal closed in the window" in text


def test_an_accounts_file_gives_the_market_size_and_its_mix(truth, accounts_file):
    r = scenario_from_export(EXPORT, accounts=accounts_file)
    acc = pd.read_csv(accounts_file, dtype=str)
    s = r.setting("market.n_accounts")
    assert s.origin == "data" and s.value == acc["Id"].nunique() == len(truth["AccountId"].unique()) + EXTRA_ACCOUNTS
    assert "accounts.csv" in s.source and "'Id'" in s.source
    seg = _segment(acc["NumberOfEmployees"])
    for g in SEGMENTS:
        s = r.setting(f"market.segments.{g}.share")
        assert s.estimate == pytest.approx(float((seg == g).mean()), abs=1e-12) and s.n == len(acc)
        assert "accounts file accounts.csv" in s.source
    assert not any("accounts with a deal" in w for w in r.warnings)
    assert r.scenario.config_dict()["market"]["n_accounts"] == len(acc)


def test_the_market_size_is_the_presets_unless_given(res):
    s = res.setting("market.n_accounts")
    assert s.origin == "preset" and s.value == sim.load_scenario("default").config_dict()["market"]["n_accounts"]
    assert "--accounts" in s.note and "--accounts-total" in s.note and s in res.not_derived
    r = scenario_from_export(EXPORT, n_accounts=5000)
    s = r.setting("market.n_accounts")
    assert s.origin == "flag" and s.value == 5000 and r.scenario.config_dict()["market"]["n_accounts"] == 5000
    with pytest.raises(ScenarioError, match="--accounts-total: must be an integer from 1 to 1e"):
        scenario_from_export(EXPORT, n_accounts=0)


@pytest.mark.parametrize("preset", ["default", "enterprise"])
def test_keys_not_derivable_keep_the_presets_values_and_are_listed(preset):
    r = scenario_from_export(EXPORT, preset=preset)
    base = sim.load_scenario(preset)
    got, want = r.scenario.to_dict(), base.to_dict()
    derived = {s.path for s in r.from_data} | {"scenario.name", "scenario.description"}
    for path, _ in leaves():
        if path not in derived:
            assert lookup(path, got) == lookup(path, want), path
    assert got["strategies"] == want["strategies"]            # budgets and the team: each strategy's, unchanged
    text = r.scenario_text("s.toml")
    for path, why in not_in_export_paths().items():
        s = r.setting(path)
        assert s.origin == "preset" and s.value == lookup(path, want) and s.note.startswith(why)
        assert f"#   {path} = " in text
    assert "channel budgets: each strategy's, as in the preset" in text


def test_the_written_file_loads_and_runs(res, tmp_path):
    path, report = res.write(tmp_path / "crm" / "scenario.toml")
    assert report == tmp_path / "crm" / "scenario.report.md" and report.is_file()
    loaded = sim.load_scenario(path)
    assert loaded == res.scenario
    text = path.read_text(encoding="utf-8")
    head = text.split("\n[scenario]")[0]
    assert "opportunities_salesforce.csv" in head and f"python run.py run {path.as_posix()}" in head
    assert "# From the export" in head and "# From the preset" in head and "Assumed: amounts are read as annual" in head
    assert "FROM CRM EXPORT opportunities_salesforce.csv: median amount of" in text
    for s in res.from_data:
        assert lookup(s.path, loaded.to_dict()) == s.value
    for p, spec in leaves():       # every value inside its allowed range (load checks it too)
        v = lookup(p, loaded.to_dict())
        if spec.kind in ("int", "float"):
            assert (spec.lo is None or v >= spec.lo) and (spec.hi is None or v <= spec.hi), p
    small = loaded.with_overrides(TINY)
    out = sim.run(small, small.strategies[0], seed=1)
    assert out.summary["total_cost"] > 0 and len(out.timeseries) == TINY["scenario.horizon_days"]


def test_values_outside_the_allowed_range_are_clipped_and_said(tmp_path):
    rows = [f"D{i},A{i},{1 if i % 2 else 100_000_000},2025-01-0{1 + i % 9},2025-03-01,Closed Won,true,true,"
            f"New Customer,{40}" for i in range(12)]
    path = tmp_path / "wide.csv"
    path.write_text("Id,AccountId,Amount,CreatedDate,CloseDate,StageName,IsClosed,IsWon,Type,"
                    "Account.NumberOfEmployees\n" + "\n".join(rows) + "\n")
    r = scenario_from_export(path)
    s = r.setting("market.segments.smb.deal_size_sigma")
    assert s.estimate == pytest.approx(np.log(1e8) * np.sqrt(12 / 11) / 2) and s.estimate > 3
    assert s.value == 3.0 and "clipped from" in s.note and "a number from 0 to 3" in s.note
    assert r.scenario.config_dict()["market"]["segments"]["smb"]["deal_size_sigma"] == 3.0
    # 12 accounts, fewer than MIN_ACCOUNTS: the mix is the preset's, and said so
    assert all(r.setting(f"market.segments.{g}.share").origin == "preset" for g in SEGMENTS)
    assert f"at least {MIN_ACCOUNTS} needed" in r.setting("market.segments.smb.share").note


def test_a_failed_check_leaves_nothing(res, tmp_path):
    def refuse(p):
        raise ScenarioError(str(p), None, "refused")

    with pytest.raises(ScenarioError, match="refused"):
        res.write(tmp_path / "new" / "s.toml", check=refuse)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ the command line


def test_command_line_end_to_end(tmp_path, accounts_file):
    proc = _cli(["crm", "scenario", str(EXPORT), "--accounts", str(accounts_file), "--out",
                 "results/crm/scenario.toml"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "results" / "crm" / "scenario.toml"
    assert out.is_file() and out.with_name("scenario.report.md").is_file()
    assert "Read 452 rows of opportunities_salesforce.csv (salesforce); kept 448" in proc.stdout
    assert "market.n_accounts" in proc.stdout and "market.segments.smb.deal_size" in proc.stdout
    assert "Next:     python run.py run results/crm/scenario.toml" in proc.stdout
    assert sim.load_scenario(out).config_dict()["market"]["n_accounts"] == 178 + EXTRA_ACCOUNTS


def _bad_cases(tmp: Path):
    """(name, argv, strings the error line must hold)."""
    return [
        ("missing file", [str(tmp / "nope.csv")], ("nope.csv: export file not found",)),
        ("unknown preset", [str(EXPORT), "--preset", "nosuch"],
         ("crm scenario: --preset: nosuch: no such file, and not a preset's name (the presets: ", "default")),
        ("out not toml", [str(EXPORT), "--out", str(tmp / "out" / "s.txt")],
         ("--out: must be a file name ending in .toml",)),
        # /proc takes no new files, even from root: refused before the export is read
        ("out unwritable", [str(EXPORT), "--out", "/proc/x/s.toml"], ("run.py crm scenario: --out: ", "in /proc")),
        ("accounts total", [str(EXPORT), "--accounts-total", "0"], ("--accounts-total: must be an integer from 1",)),
        ("size bands", [str(EXPORT), "--size-bands", "1000,100"], ("--size-bands: mid (1000) must be below",)),
        ("missing accounts", [str(EXPORT), "--accounts", str(tmp / "acc.csv")], ("acc.csv: accounts file not found",)),
    ]


def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    from sim.cli.main import main

    for name, argv, needles in _bad_cases(tmp_path):
        out = tmp_path / "out"
        args = ["crm", "scenario", *argv] + ([] if "--out" in argv else ["--out", str(out / "s.toml")])
        before = _tree(tmp_path)
        assert main(args) == 2, name
        cap = capsys.readouterr()
        _one_error_line(cap.err, needles, name)
        assert "Traceback" not in cap.err and cap.out == "", name
        assert not out.exists() and _tree(tmp_path) == before, name
    assert not Path("/proc/x").exists()


@pytest.mark.parametrize("case", ["missing file", "unknown preset", "out not toml", "out unwritable"])
def test_bad_input_in_a_real_process(case, tmp_path):
    name, argv, needles = next(c for c in _bad_cases(tmp_path) if c[0] == case)
    args = ["crm", "scenario", *argv] + ([] if "--out" in argv else ["--out", str(tmp_path / "out" / "s.toml")])
    before = _tree(tmp_path)
    proc = _cli(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    _one_error_line(proc.stderr, needles, name)
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert _tree(tmp_path) == before  # neither --out's folder nor results/ (nor a temporary file) was made


def test_the_help_names_every_flag(capsys):
    from sim.cli.main import main

    assert main(["crm"]) == 2
    assert "crm scenario EXPORT" in capsys.readouterr().err
    assert main(["crm", "scenario", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--accounts", "--accounts-total", "--format", "--columns", "--since", "--until", "--preset",
                 "--size-bands", "--out"):
        assert flag in text, flag


def test_the_bootstrap_median_is_the_median_of_the_drawn_deals():
    from sim.crm.scenario import _weighted_median

    rng = np.random.default_rng(7)
    for _ in range(100):
        n = int(rng.integers(1, 12))
        v = rng.lognormal(8, 1, size=n)
        w = rng.integers(0, 4, size=(6, n))
        got = _weighted_median(v, w)
        for row, g in zip(w, got):
            assert (np.isnan(g) if row.sum() == 0 else g == pytest.approx(np.median(np.repeat(v, row)), rel=1e-12))
