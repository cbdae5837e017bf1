"""CRM exports in, calibration targets out (sim.crm, ``python run.py crm targets``).

Small exports are built here from a list of deals whose truth is known (Salesforce, HubSpot and a custom layout read
with the shipped example column map), with dirty rows among them: a duplicate id, a close before create, an
unreadable date, currency strings, a negative and a non-numeric amount, open deals. The figures are checked against
values computed here in plain Python from that list, not with the module's code."""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibration import load_targets
from sim.config.scenario import ScenarioError
from sim.crm import targets_from_export
from sim.crm.read import parse_amounts, size_segment

ROOT = Path(__file__).resolve().parent.parent
RUN_PY = ROOT / "run.py"
EXAMPLES = ROOT / "scenarios" / "examples" / "crm"
MAP = EXAMPLES / "columns_example.toml"

SEGS = ("smb", "mid", "enterprise")
EMPLOYEES = {"smb": 40, "mid": 400, "enterprise": 4000}
PATTERN = ("won", "lost", "no_decision", "won", "lost", "open")
SOURCES = ("Web", "Partner Referral", "Trade Show", "Web")
MONTH = 30.4375


@dataclass
class Deal:
    id: str
    account: str
    segment: str
    outcome: str
    created: date
    closed: date           # for an open deal: its expected close
    amount: float | None   # the true amount; None where the export's amount is unusable
    amount_text: str       # what the export holds
    source: str
    type: str              # "new" / "expansion"
    i: int


def deals(n: int = 90, tag: str = "") -> list[Deal]:
    """90 clean deals of 15 accounts (5 per segment), 30 per segment, in each segment 10 won, 10 lost, 5 no
    decision and 5 open; three amounts written as text, one negative, one not a number."""
    out = []
    for i in range(n):
        seg = SEGS[i % 3]
        created = date(2025, 1, 1) + timedelta(days=(i * 37) % 330)
        cycle = {"smb": 10, "mid": 40, "enterprise": 90}[seg] + (i * 11) % 30
        amount = float({"smb": 5000, "mid": 20000, "enterprise": 80000}[seg] + 250 * (i % 11))
        account = 3 * ((i * i // 3 + i // 5) % 5) + i % 3  # 5 accounts per segment, unequal mixes of outcomes
        out.append(Deal(f"OPP{i:03d}{tag}", f"ACC{account:02d}{tag}", seg, PATTERN[(i // 3) % 6], created,
                        created + timedelta(days=cycle), amount, f"{amount:.2f}", SOURCES[i % 4],
                        "expansion" if i % 7 == 0 else "new", i))
    # i = 0, 9: won smb deals with amounts as text; 10: a won mid deal, negative; 11: won enterprise, "n/a"
    out[0] = replace(out[0], amount_text=f"${out[0].amount:,.2f}")            # $5,000.00
    out[9] = replace(out[9], amount_text=f"{out[9].amount:,.2f} €".translate(str.maketrans(",.", ".,")))  # 7.250,00 €
    assert out[0].outcome == out[9].outcome == "won"
    out[10] = replace(out[10], amount=None, amount_text="-1000")
    out[11] = replace(out[11], amount=None, amount_text="n/a")
    return out


def dirty(clean: list[Deal]) -> list[tuple[Deal, str]]:
    """Rows that must be dropped: (deal, what is wrong)."""
    d5 = clean[5]
    return [(replace(d5, outcome="won", amount=999.0, amount_text="999"), "duplicate"),
            (replace(clean[1], id="OPPX1", outcome="won", closed=clean[1].created - timedelta(days=3)), "before"),
            (replace(clean[2], id="OPPX2"), "bad_date")]


# ------------------------------------------------------------------------------------------------ the truth


def window_of(clean: list[Deal]) -> tuple[date, date]:
    """The default window: the first created date to the last date (close of a closed deal, or creation)."""
    return (min(d.created for d in clean),
            max(max(d.closed for d in clean if d.outcome != "open"), max(d.created for d in clean)))


def truth(clean: list[Deal], since: date, until: date, new_only: bool = True) -> dict[str, tuple[float, int]]:
    """metric -> (value, n), computed in plain Python."""
    closed = [d for d in clean if d.outcome != "open" and since <= d.closed <= until]
    created = [d for d in clean if since <= d.created <= until]
    won = [d for d in closed if d.outcome == "won"]
    t = {"opportunity_win_rate": (len(won) / len(closed), len(closed)),
         "no_decision_share": (sum(d.outcome == "no_decision" for d in closed) / len(closed), len(closed))}
    for g in SEGS:
        cg = [d for d in closed if d.segment == g]
        wg = [d for d in won if d.segment == g]
        t[f"opportunity_win_rate_{g}"] = (len(wg) / len(cg), len(cg))
        if wg:
            t[f"median_cycle_days_{g}"] = (statistics.median((d.closed - d.created).days for d in wg), len(wg))
        acv = [d.amount for d in wg if (d.type == "new" or not new_only) and d.amount is not None]
        if acv:
            t[f"acv_{g}"] = (sum(acv) / len(acv), len(acv))
    t["median_cycle_days"] = (statistics.median((d.closed - d.created).days for d in won), len(won))
    t["expansion_share"] = (sum(d.type == "expansion" for d in created) / len(created), len(created))
    days = (until - since).days + 1
    t["opportunities_per_month"] = (len(created) / (days / MONTH), len(created))
    return t


def by_source(clean: list[Deal], since: date, until: date, label) -> dict[str, tuple[float, int]]:
    closed = [d for d in clean if d.outcome != "open" and since <= d.closed <= until]
    out = {}
    for s in sorted(set(SOURCES)):
        c = [d for d in closed if d.source == s]
        name = "_".join(label(s).lower().replace("-", " ").split())
        out[f"opportunity_win_rate_source_{name}"] = (sum(d.outcome == "won" for d in c) / len(c), len(c))
    return out


# ------------------------------------------------------------------------------------------------ the layouts


def _iso(d: date, hour: int = 10) -> str:
    return f"{d.isoformat()}T{hour:02d}:15:00.000+0000"


def _write(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def salesforce_rows(clean: list[Deal]) -> list[dict]:
    rows = []
    for d, what in [(d, "") for d in clean[:50]] + dirty(clean)[:1] + [(d, "") for d in clean[50:]] + dirty(clean)[1:]:
        stage, is_closed, is_won, reason = {
            "won": ("Closed Won", "true", "true", ""), "lost": ("Closed Lost", "true", "false", "Price"),
            "no_decision": ("Closed Lost", "true", "false", "No Decision"),
            "open": ("Negotiation/Review", "false", "false", "")}[d.outcome]
        rows.append({"Id": d.id, "AccountId": d.account, "Amount": d.amount_text,
                     "CreatedDate": "31/02/2025" if what == "bad_date" else _iso(d.created),
                     "CloseDate": d.closed.isoformat(), "StageName": stage, "IsClosed": is_closed, "IsWon": is_won,
                     "LeadSource": d.source, "Type": "New Customer" if d.type == "new" else "Existing Customer - Upgrade",
                     "OwnerId": f"005U{d.i % 4}", "Loss_Reason__c": reason})
    return rows


def accounts_rows(clean: list[Deal], id_col="Id", emp_col="NumberOfEmployees") -> list[dict]:
    seen = {}
    for d in clean:
        seen.setdefault(d.account, EMPLOYEES[d.segment] + len(seen))
    return [{id_col: a, emp_col: str(e), "Name": f"Company {a}"} for a, e in seen.items()]


HUBSPOT_SOURCES = {"Web": "ORGANIC_SEARCH", "Partner Referral": "REFERRALS", "Trade Show": "OFFLINE"}


def _ms(d: date, hour: int = 10) -> str:
    return str(int(datetime(d.year, d.month, d.day, hour, tzinfo=timezone.utc).timestamp() * 1000))


def hubspot_rows(clean: list[Deal]) -> list[dict]:
    rows = []
    for d, what in [(d, "") for d in clean] + dirty(clean):
        stage, reason = {"won": ("closedwon", ""), "lost": ("closedlost", "Chose a competitor"),
                         "no_decision": ("closedlost", "No decision"), "open": ("contractsent", "")}[d.outcome]
        rows.append({"hs_object_id": d.id, "dealname": f"Deal {d.id}", "dealstage": stage, "pipeline": "default",
                     "amount": d.amount_text, "createdate": "yesterday" if what == "bad_date" else _ms(d.created),
                     "closedate": f"{d.closed.isoformat()}T00:00:00Z",
                     "dealtype": "newbusiness" if d.type == "new" else "existingbusiness",
                     "hs_analytics_source": HUBSPOT_SOURCES[d.source], "associatedcompanyid": d.account,
                     "closed_lost_reason": reason, "hubspot_owner_id": str(d.i % 4)})
    return rows


def custom_rows(clean: list[Deal]) -> list[dict]:
    """The layout of scenarios/examples/crm/columns_example.toml: day-first dates, ';' between fields, no decision
    by the stage for even deals and by the loss reason for odd ones."""
    rows = []
    tier = {"smb": "Small", "mid": "Mid-Market", "enterprise": "Key Account"}
    for d, what in [(d, "") for d in clean] + dirty(clean):
        status, why = {"won": ("Won it", ""), "lost": ("Lost it", "Price"),
                       "no_decision": ("Stalled", "") if d.i % 2 == 0 else ("Lost it", "Went dark"),
                       "open": ("In progress", "")}[d.outcome]
        rows.append({"Deal ID": d.id, "Company": d.account,
                     "Opened": "32/13/2025" if what == "bad_date" else d.created.strftime("%d/%m/%Y"),
                     "Closed On": d.closed.strftime("%d/%m/%Y"), "Status": status, "Value": d.amount_text,
                     "Tier": tier[d.segment], "Kind": "Fresh" if d.type == "new" else "Grow", "Channel": d.source,
                     "Owner": f"rep{d.i % 4}", "Why lost": why})
    return rows


def leads_rows(n: int = 400) -> tuple[list[dict], list[date]]:
    days = [date(2024, 12, 1) + timedelta(days=(i * 53) % 420) for i in range(n)]
    return ([{"Id": f"00Q{i:04d}", "CreatedDate": _iso(d, 9), "LeadSource": SOURCES[i % 4]}
             for i, d in enumerate(days)], days)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    base = tmp_path_factory.mktemp("crm")
    clean = deals()
    leads, lead_days = leads_rows()
    return {
        "base": base, "clean": clean, "lead_days": lead_days,
        "salesforce": _write(base / "opportunities.csv", salesforce_rows(clean)),
        "accounts": _write(base / "accounts.csv", accounts_rows(clean)),
        "leads": _write(base / "leads.csv", leads),
        "hubspot": _write(base / "deals.csv", hubspot_rows(clean)),
        "companies": _write(base / "companies.csv", accounts_rows(clean, "hs_object_id", "numberofemployees")),
        "custom": _write(base / "custom.csv", custom_rows(clean), delimiter=";"),
    }


def _check_figures(res, expected: dict[str, tuple[float, int]]):
    for metric, (value, n) in expected.items():
        row = res.figure(metric)
        assert row["value"] == pytest.approx(value, rel=1e-12), metric
        assert row["n"] == n, metric


#: the exclusions every layout's dirty rows give (the export's own; the leads file adds its own)
EXCLUSIONS = {"duplicate_id": 1, "close_before_create": 1, "bad_created_date": 1, "open": 15, "negative_amount": 1,
              "bad_amount": 1}


# ------------------------------------------------------------------------------------------------ the figures


def test_salesforce_figures_match_an_independent_count(files):
    clean = files["clean"]
    res = targets_from_export(files["salesforce"], accounts=files["accounts"], leads=files["leads"])
    assert res.format == "salesforce"
    since, until = window_of(clean)
    assert (res.window.since.date(), res.window.until.date()) == (since, until)
    _check_figures(res, truth(clean, since, until))
    _check_figures(res, by_source(clean, since, until, lambda s: s))
    lead_in = [d for d in files["lead_days"] if since <= d <= until]
    months = ((until - since).days + 1) / MONTH
    assert res.figure("leads_per_month")["value"] == pytest.approx(len(lead_in) / months, rel=1e-12)
    created = sum(since <= d.created <= until for d in clean)
    assert res.figure("lead_to_opportunity_rate")["value"] == pytest.approx(created / len(lead_in), rel=1e-12)
    assert res.exclusions == {**EXCLUSIONS, "leads_outside_window": len(files["lead_days"]) - len(lead_in)}
    # amounts read from text are counted, not excluded; the first rows are named
    parsed = next(i for i in res.issues if i.reason == "amount_from_text")
    assert parsed.count == 2 and not parsed.excluded and parsed.rows == [1, 10]
    dup = next(i for i in res.issues if i.reason == "duplicate_id")
    assert dup.rows == [51]  # the 51st data row repeats OPP005: the first one is kept
    kept = res.opportunities.frame.set_index("opportunity_id")
    assert kept.loc["OPP005", "outcome"] == clean[5].outcome
    # every figure has a bootstrap sd > 0 and an interval around its value
    f = res.figures
    assert (f["sd"] > 0).all() and (f["lo"] <= f["value"]).all() and (f["value"] <= f["hi"]).all()


def test_hubspot_figures_match_an_independent_count(files):
    clean = files["clean"]
    res = targets_from_export(files["hubspot"], accounts=files["companies"])
    assert res.format == "hubspot"
    since, until = window_of(clean)
    _check_figures(res, truth(clean, since, until))
    _check_figures(res, by_source(clean, since, until, lambda s: HUBSPOT_SOURCES[s]))
    assert res.exclusions == EXCLUSIONS
    assert res.opportunities.mapping["account_id"] == "associatedcompanyid"
    assert res.opportunities.mapping["lead_source"] == "hs_analytics_source"


def test_a_custom_layout_with_the_example_column_map(files):
    clean = files["clean"]
    res = targets_from_export(files["custom"], columns=MAP)
    assert res.format == "custom" and res.opportunities.table.delimiter == ";"
    since, until = window_of(clean)
    _check_figures(res, truth(clean, since, until))
    assert res.exclusions == EXCLUSIONS
    # no decision by the stage (even deals) and by the loss reason (odd ones)
    nd = res.opportunities.frame.query("outcome == 'no_decision'")
    assert set(nd["stage"]) == {"Stalled", "Lost it"}


def test_the_same_export_as_parquet(files, tmp_path):
    frame = pd.read_csv(files["salesforce"], dtype=str, keep_default_na=False)
    path = tmp_path / "opportunities.parquet"
    frame.to_parquet(path)
    a = targets_from_export(files["salesforce"], accounts=files["accounts"]).figures
    b = targets_from_export(path, accounts=files["accounts"]).figures
    pd.testing.assert_frame_equal(a.drop(columns="source"), b.drop(columns="source"))


def test_a_window_and_a_short_window_warning(files):
    clean = files["clean"]
    since, until = date(2025, 3, 1), date(2025, 8, 31)
    res = targets_from_export(files["salesforce"], accounts=files["accounts"], since="2025-03-01",
                              until="2025-08-31")
    exp = truth(clean, since, until)
    assert "median_cycle_days_enterprise" in exp and "median_cycle_days_smb" not in exp  # no smb deal won in it
    _check_figures(res, exp)
    assert "median_cycle_days_smb" not in set(res.figures["metric"])
    outside = sum(d.outcome != "open" and not since <= d.closed <= until for d in clean)
    assert res.exclusions["closed_outside_window"] == outside
    assert "2025-03-01 to 2025-08-31" in res.figure("opportunity_win_rate")["source"]
    assert not res.warnings
    short = targets_from_export(files["salesforce"], accounts=files["accounts"], since="2025-06-01",
                                until="2025-07-31")
    assert any("shorter than the median cycle of the slowest segment (enterprise" in w for w in short.warnings)


def test_no_decision_unidentified_is_said_so(files, tmp_path):
    rows = [{k: v for k, v in r.items() if k != "closed_lost_reason"} for r in hubspot_rows(files["clean"])]
    res = targets_from_export(_write(tmp_path / "deals.csv", rows))
    assert "no_decision_share" not in set(res.figures["metric"])
    assert res.opportunities.no_decision_identified is False
    closed = [d for d in files["clean"] if d.outcome != "open"]
    assert res.figure("opportunity_win_rate")["value"] == pytest.approx(
        sum(d.outcome == "won" for d in closed) / len(closed))
    assert "No deal is identified as no decision" in res.report_markdown()


def test_amounts_and_size_bands():
    values, masks = parse_amounts(pd.Series(["1200", "$1,200.50", "1.200,50 €", "EUR 1 200", "1,200", "1200,5",
                                             "(300)", "-5", "n/a", None, "12k", "1.234.567"]))
    expected = [1200, 1200.5, 1200.5, 1200, 1200, 1200.5, np.nan, np.nan, np.nan, np.nan, np.nan, 1234567]
    np.testing.assert_array_equal(values, np.array(expected, float))
    assert masks["text"].tolist() == [False, True, True, True, True, True] + [False] * 5 + [True]
    assert masks["negative"].tolist() == [False] * 6 + [True, True] + [False] * 4
    assert masks["failed"].tolist() == [False] * 8 + [True, False, True, False]
    seg = size_segment(np.array([0, 99, 100, 999, 1000, np.nan]), (100, 1000))
    assert seg.tolist() == ["smb", "smb", "mid", "mid", "enterprise", None]
    assert size_segment(np.array([99, 100, 250]), (50, 250)).tolist() == ["mid", "mid", "enterprise"]


def test_size_bands_move_accounts_between_segments(files):
    """Head counts 40-54 (smb), 400-414 (mid), 4,000-4,014: with mid from 500, the mid accounts become smb."""
    res = targets_from_export(files["salesforce"], accounts=files["accounts"], size_bands=(500, 1000))
    clean = [replace(d, segment="smb" if d.segment == "mid" else d.segment) for d in files["clean"]]
    closed = [d for d in clean if d.outcome != "open" and d.segment == "smb"]
    assert res.figure("opportunity_win_rate_smb")["value"] == pytest.approx(
        sum(d.outcome == "won" for d in closed) / len(closed))
    assert "opportunity_win_rate_mid" not in set(res.figures["metric"])
    assert "smb < 500 <= mid < 1,000 <= enterprise" in res.opportunities.segment_rule


# ------------------------------------------------------------------------------------------------ the bootstrap


def test_bootstrap_sd_shrinks_as_one_over_root_n(files, tmp_path):
    """Replicating the export four times (new ids, new accounts) leaves every value as it is and should halve the
    bootstrap sd (1/sqrt(4)). The plug-in variance of the replicated export is exactly a quarter; what remains is
    the bootstrap's Monte Carlo error (about 2% per sd at 1,000 resamples) and the ratio estimator's small-sample
    curvature, so the ratio of the sds must lie within 0.5 +- 0.08."""
    one = _write(tmp_path / "one.csv", salesforce_rows(files["clean"]))
    four = _write(tmp_path / "four.csv", [r for k in range(4) for r in salesforce_rows(deals(tag=f"-{k}"))])
    a = targets_from_export(one)
    b = targets_from_export(four)
    for metric in ("opportunity_win_rate", "no_decision_share", "expansion_share"):
        ra, rb = a.figure(metric), b.figure(metric)
        assert rb["value"] == pytest.approx(ra["value"], rel=1e-12)
        assert rb["n"] == 4 * ra["n"] and rb["accounts"] == 4 * ra["accounts"]
        assert ra["sd"] > 0
        assert 0.42 < rb["sd"] / ra["sd"] < 0.58, (metric, ra["sd"], rb["sd"])
    # fixed seed: the same numbers again; another seed: other (but close) numbers
    again = targets_from_export(one)
    assert again.figure("opportunity_win_rate")["sd"] == a.figure("opportunity_win_rate")["sd"]
    other = targets_from_export(one, seed=2)
    assert other.figure("opportunity_win_rate")["sd"] != a.figure("opportunity_win_rate")["sd"]
    assert other.figure("opportunity_win_rate")["sd"] == pytest.approx(a.figure("opportunity_win_rate")["sd"],
                                                                         rel=0.15)


def test_the_bootstrap_agrees_with_the_cluster_formula(files):
    """For a ratio of sums over accounts the bootstrap variance is close to the linearised (delta-method) one:
    sum over accounts of (won_a - r closed_a)^2 / closed^2, within the Monte Carlo error of 1,000 resamples and
    the 15-account small-sample bias (15%)."""
    res = targets_from_export(files["salesforce"])
    clean = files["clean"]
    closed = [d for d in clean if d.outcome != "open"]
    r = sum(d.outcome == "won" for d in closed) / len(closed)
    resid = {}
    for d in closed:
        resid[d.account] = resid.get(d.account, 0.0) + (d.outcome == "won") - r
    sd = (sum(v * v for v in resid.values())) ** 0.5 / len(closed)
    assert res.figure("opportunity_win_rate")["sd"] == pytest.approx(sd, rel=0.15)


# ------------------------------------------------------------------------------------------------ the targets file


def _expected_targets(clean, since, until, leads=True):
    t = truth(clean, since, until)
    names = {"opportunity_win_rate", "no_decision_share"}
    for g in SEGS:
        names |= {m for m in (f"opportunity_win_rate_{g}",) if t[m][1] >= 20}
        names |= {m for m in (f"median_cycle_days_{g}", f"acv_{g}") if m in t and t[m][1] >= 10}
    return names | ({"leads_per_month", "lead_to_opportunity_rate"} if leads else set())


def test_the_targets_file_loads_and_holds_the_targets(files, tmp_path):
    res = targets_from_export(files["salesforce"], accounts=files["accounts"], leads=files["leads"])
    path, report = res.write(tmp_path / "out" / "targets.toml", check=load_targets)
    assert report == tmp_path / "out" / "targets.report.md" and report.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["targets.report.md", "targets.toml"]  # no temp files
    spec = load_targets(path)
    since, until = window_of(files["clean"])
    expected = _expected_targets(files["clean"], since, until)
    assert {t.name for t in spec.targets} == expected
    assert {"median_cycle_days_smb", "opportunity_win_rate_enterprise"} <= expected  # the check is not vacuous
    assert not any(n.startswith("acv_") for n in expected)  # n < 10 won new-business deals with an amount
    for t in spec.targets:
        row = res.figure(t.name)
        assert t.metric == t.name and t.value == pytest.approx(row["value"], rel=1e-5)
        assert t.sd == pytest.approx(row["sd"], rel=1e-5) and t.sd > 0
        assert ("leads.csv" if t.name == "leads_per_month" else "opportunities.csv") in t.source
        assert f"{since} to {until}" in t.source
    assert spec.scenario.name == "default" and spec.strategy == "blended" and spec.settings.method == "abc"
    assert set(spec.names) == {"competitors.choice_sensitivity", "need.fade_rate", "decision.stance_mean",
                               "market.segments.smb.research_speed", "market.segments.mid.research_speed",
                               "market.segments.enterprise.research_speed", "sales.meeting_progress_gain",
                               "sales.qualify_fit", "need.annual_trigger_rate"}
    text = path.read_text()
    assert "# logit sensitivity of the vendor choice to trust" in text
    assert 'segment = "smb"' in text
    md = report.read_text()
    for needle in ("## Mapping used", "| opportunity_id | `Id` |", "duplicate opportunity id", "| 1 | row dropped | 51 |",
                   "`opportunity_win_rate_source_partner_referral`", "no: the engine has no such metric"):
        assert needle in md, needle


def test_segments_the_scenario_lacks_are_not_targets(files, tmp_path):
    res = targets_from_export(files["salesforce"], accounts=files["accounts"], scenario="self_service")
    why = res.figure("opportunity_win_rate_enterprise")["why"]
    assert not res.figure("opportunity_win_rate_enterprise")["target"] and "no enterprise accounts" in why
    spec = load_targets(res.write(tmp_path / "t.toml", check=load_targets)[0])
    assert not any(t.name.endswith("enterprise") for t in spec.targets)
    assert "market.segments.enterprise.research_speed" not in spec.names
    # a scenario by path is written relative to the targets file
    scen = ROOT / "scenarios" / "enterprise.toml"
    res = targets_from_export(files["salesforce"], scenario=str(scen))
    out = res.write(tmp_path / "sub" / "t.toml", check=load_targets)[0]
    assert f'scenario = "{os.path.relpath(scen, out.parent)}"' in out.read_text()


def test_a_failed_check_leaves_nothing(files, tmp_path):
    res = targets_from_export(files["salesforce"])

    def refuse(p):
        raise ScenarioError(str(p), None, "refused")

    with pytest.raises(ScenarioError, match="refused"):
        res.write(tmp_path / "new" / "t.toml", check=refuse)
    assert not (tmp_path / "new").exists()


def test_the_shipped_example_is_what_make_example_makes(tmp_path):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import make_example
    finally:
        sys.path.remove(str(EXAMPLES))
    made = make_example.make(tmp_path)
    for p in made:
        assert p.read_bytes() == (EXAMPLES / p.name).read_bytes(), f"{p.name}: run {EXAMPLES / 'make_example.py'}"


# ------------------------------------------------------------------------------------------------ the command line


def _cli(args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(RUN_PY), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_command_line_end_to_end(files, tmp_path):
    out = tmp_path / "results" / "crm" / "targets.toml"
    proc = _cli(["crm", "targets", str(files["salesforce"]), "--accounts", str(files["accounts"]), "--leads",
                 str(files["leads"]), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and out.with_name("targets.report.md").is_file()
    assert str(out) in proc.stdout and "opportunity_win_rate_smb" in proc.stdout
    since, until = window_of(files["clean"])
    assert {t.name for t in load_targets(out).targets} == _expected_targets(files["clean"], since, until)


def test_the_readme_command_on_the_shipped_example(tmp_path):
    proc = _cli(["crm", "targets", str(EXAMPLES / "opportunities_salesforce.csv"), "--out",
                 "results/crm/targets.toml"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    spec = load_targets(tmp_path / "results" / "crm" / "targets.toml")
    assert {"opportunity_win_rate", "no_decision_share", "median_cycle_days_enterprise"} <= {t.name for t in spec.targets}


def _bad_cases(files, tmp):
    """(name, argv, a string the error line must hold)."""
    sf = files["salesforce"]
    no_close = _write(tmp / "no_close.csv", [{k: v for k, v in r.items() if k != "CloseDate"}
                                             for r in salesforce_rows(files["clean"])])
    all_open = _write(tmp / "all_open.csv", salesforce_rows([replace(d, outcome="open") for d in files["clean"]]))
    bad_map = tmp / "bad_map.toml"
    bad_map.write_text('[columns]\noportunity_id = "Deal ID"\n')
    wrong_col = tmp / "wrong_col.toml"
    wrong_col.write_text('[columns]\nopportunity_id = "Deal Number"\n')
    binary = tmp / "binary.csv"
    binary.write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    junk_parquet = tmp / "junk.parquet"
    junk_parquet.write_text("not parquet at all")
    return [
        ("missing file", [str(tmp / "nope.csv")], "nope.csv: export file not found"),
        ("binary file", [str(binary)], "binary.csv: is not a text (CSV) file"),
        ("bad parquet", [str(junk_parquet)], "junk.parquet: cannot be read as Parquet"),
        ("unknown format", [str(sf), "--format", "pipedrive"], "--format: unknown format 'pipedrive' (allowed: "),
        ("undetected layout", [str(files["custom"])], "custom.csv: header: is neither a Salesforce"),
        ("required field", [str(no_close), "--format", "salesforce"], "no_close.csv: closed: required, but no column"),
        ("unknown map field", [str(files["custom"]), "--columns", str(bad_map)],
         "bad_map.toml: columns.oportunity_id: unknown field (allowed: opportunity_id"),
        ("map column absent", [str(files["custom"]), "--columns", str(wrong_col)],
         "custom.csv: columns.opportunity_id: column 'Deal Number' (named in wrong_col.toml) is not in the header"),
        ("no closed deal", [str(all_open)], "all_open.csv: outcome: no closed deal"),
        ("window with no deal", [str(sf), "--since", "2030-01-01", "--until", "2030-12-31"],
         "opportunities.csv: --since/--until: no closed deal closes in the window 2030-01-01 to 2030-12-31"),
        ("window after the export", [str(sf), "--since", "2030-01-01"], "opportunities.csv: --since: the window "),
        ("since after until", [str(sf), "--since", "2025-05-01", "--until", "2025-04-01"],
         "--since: 2025-05-01 is after --until 2025-04-01"),
        ("bad date flag", [str(sf), "--until", "soon"], "--until: must be a date YYYY-MM-DD"),
        ("bad size bands", [str(sf), "--size-bands", "1000,100"], "--size-bands: mid (1000) must be below"),
        ("bad scenario", [str(sf), "--scenario", "nosuch"], "--scenario: no preset scenario named 'nosuch'"),
        ("out not toml", [str(sf), "--out", str(tmp / "out" / "t.txt")], "--out: must be a file name ending in .toml"),
        # /proc takes no new files, even from root (who passes the permission bits): refused before the export is read
        ("out unwritable", [str(sf), "--out", "/proc/x/t.toml"], ("run.py crm targets: --out: ", "in /proc")),
    ]


def _one_error_line(err: str, needle: str | tuple[str, ...], name: str) -> str:
    """The one ``error: ...`` line on stderr, holding every needle, and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (name, err)
    for n in (needle,) if isinstance(needle, str) else needle:
        assert n in lines[0], (name, n, lines[0])
    assert "Traceback" not in err, name
    return lines[0]


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_fatal_input_is_one_line_exit_2_and_nothing_written(files, tmp_path, capsys):
    from sim.cli.main import main

    for name, argv, needle in _bad_cases(files, tmp_path):
        out = tmp_path / "out"
        args = ["crm", "targets", *argv] + ([] if "--out" in argv else ["--out", str(out / "t.toml")])
        before = _tree(tmp_path)
        assert main(args) == 2, name
        cap = capsys.readouterr()
        _one_error_line(cap.err, needle, name)
        assert not out.exists() and _tree(tmp_path) == before, name
    assert not Path("/proc/x").exists()


@pytest.mark.parametrize("case", ["missing file", "no closed deal", "unknown map field", "unknown format",
                                  "map column absent", "out unwritable"])
def test_fatal_input_in_a_real_process(case, files, tmp_path):
    name, argv, needle = next(c for c in _bad_cases(files, tmp_path) if c[0] == case)
    args = ["crm", "targets", *argv] + ([] if "--out" in argv else ["--out", str(tmp_path / "out" / "t.toml")])
    before = _tree(tmp_path)
    proc = _cli(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    _one_error_line(proc.stderr, needle, name)
    assert proc.stdout == ""
    assert _tree(tmp_path) == before  # neither --out's folder nor results/ (nor a temporary file) was made


def test_a_report_path_that_is_a_folder_is_refused_before_anything_runs(files, tmp_path, capsys):
    from sim.cli.main import main

    (tmp_path / "out" / "t.report.md").mkdir(parents=True)
    before = _tree(tmp_path)
    assert main(["crm", "targets", str(files["salesforce"]), "--out", str(tmp_path / "out" / "t.toml")]) == 2
    cap = capsys.readouterr()
    _one_error_line(cap.err, ("--out: ", "t.report.md is a folder"), "report folder")
    assert cap.out == "" and _tree(tmp_path) == before


def test_a_write_that_fails_is_one_line_and_leaves_nothing(files, tmp_path, capsys, monkeypatch):
    """The file system refuses the targets file after the report is in place: one line naming --out, exit 2, and
    neither file, temporary file nor folder left behind."""
    from sim.cli.main import main

    real = os.replace

    def replace_but_not_the_targets(src, dst):
        if str(dst).endswith(".toml"):
            raise PermissionError(13, "Permission denied", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace_but_not_the_targets)
    before = _tree(tmp_path)
    assert main(["crm", "targets", str(files["salesforce"]), "--out", str(tmp_path / "new" / "deep" / "t.toml")]) == 2
    cap = capsys.readouterr()
    _one_error_line(cap.err, ("--out: cannot write ", "t.toml (Permission denied); nothing was written"), "write")
    assert _tree(tmp_path) == before


def test_crm_alone_prints_its_help(capsys):
    from sim.cli.main import main

    assert main(["crm"]) == 2
    assert "targets" in capsys.readouterr().err
    assert main(["crm", "targets", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--accounts", "--leads", "--format", "--columns", "--since", "--until", "--scenario", "--out",
                 "--size-bands", "[stages]"):
        assert flag in text, flag
