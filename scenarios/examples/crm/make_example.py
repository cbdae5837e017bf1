"""Make the example CRM exports of this folder: SYNTHETIC data in the layout of a Salesforce export.

    python scenarios/examples/crm/make_example.py          # rewrites the two CSV files beside this script

* ``opportunities_salesforce.csv``: 450 opportunities of 200 accounts created from January 2024 to June 2025, with
  Salesforce Opportunity's API field names (Id, AccountId, Amount, CreatedDate, CloseDate, StageName, IsClosed,
  IsWon, LeadSource, Type, OwnerId), a custom loss reason (Loss_Reason__c: "No Decision" marks a no decision) and
  the account's head count as a relationship field (Account.NumberOfEmployees), as a SOQL export can hold it;
* ``leads_salesforce.csv``: the lead records of the same period (Id, CreatedDate, LeadSource, Status).

Nothing in them is real: segment mix, cycle lengths, win and no-decision rates and deal sizes are drawn from simple
distributions near the published benchmarks of scenarios/benchmarks/b2b_saas.toml. A few rows are dirty on
purpose, as real exports are: two duplicate ids, an unreadable created date, a close date before its created date,
amounts written as "$1,250.00" and "1.250,00 EUR", one "n/a" and one negative amount. Deterministic: a fixed seed.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 2025
START, END = date(2024, 1, 1), date(2025, 6, 30)      # opportunities created in these days; the export is of END
N_ACCOUNTS, N_OPPS, N_LEADS = 200, 450, 3000
SEGMENTS = {  # share of accounts, employees (median), cycle days (median), win, no decision, amount (median)
    "smb": (0.50, 40, 24, 0.26, 0.30, 6_000),
    "mid": (0.32, 300, 60, 0.21, 0.38, 25_000),
    "enterprise": (0.18, 3000, 130, 0.18, 0.42, 80_000),
}
SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Employee Referral"]
SOURCE_P = [0.38, 0.14, 0.14, 0.16, 0.10, 0.08]
OPEN_STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Proposal/Price Quote",
               "Negotiation/Review"]
LOSS_REASONS = ["Price", "Lost to Competitor", "Missing Features", "Timing"]
OWNERS = [f"0055g00000{n:05d}AAA" for n in (101, 102, 103, 104, 105)]


def _timestamp(d: date, rng) -> str:
    t = datetime(d.year, d.month, d.day) + timedelta(seconds=int(rng.integers(8 * 3600, 19 * 3600)))
    return t.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def make(folder: Path = HERE) -> tuple[Path, Path]:
    rng = np.random.default_rng(SEED)
    names = list(SEGMENTS)
    seg = rng.choice(len(names), size=N_ACCOUNTS, p=[SEGMENTS[g][0] for g in names])
    employees = np.array([max(1, int(SEGMENTS[names[s]][1] * rng.lognormal(0, 0.45))) for s in seg])
    # keep the head count inside its band (smb < 100 <= mid < 1000 <= enterprise)
    employees = np.clip(employees, [1 if names[s] == "smb" else 100 if names[s] == "mid" else 1000 for s in seg],
                        [99 if names[s] == "smb" else 999 if names[s] == "mid" else 100_000 for s in seg])
    account_ids = [f"0015g00000{n:05d}AAA" for n in range(1, N_ACCOUNTS + 1)]
    days = (END - START).days + 1
    rows = []
    for i in range(N_OPPS):
        a = int(rng.integers(N_ACCOUNTS))
        g = names[seg[a]]
        _, _, cycle_median, p_win, p_nd, amount_median = SEGMENTS[g]
        created = START + timedelta(days=int(rng.integers(days)))
        cycle = max(1, int(round(cycle_median * rng.lognormal(0, 0.5))))
        closed = created + timedelta(days=cycle)
        u = rng.random()
        outcome = "won" if u < p_win else "no_decision" if u < p_win + p_nd else "lost"
        amount = round(float(amount_median * rng.lognormal(0, 0.4)), -1)
        source = SOURCES[int(rng.choice(len(SOURCES), p=SOURCE_P))]
        kind = "Existing Customer - Upgrade" if rng.random() < 0.18 else "New Customer"
        owner = OWNERS[int(rng.integers(len(OWNERS)))]
        if closed > END:  # still open on the day of the export: its CloseDate is the expected one
            stage, is_closed, is_won, reason = OPEN_STAGES[int(rng.integers(len(OPEN_STAGES)))], "false", "false", ""
        elif outcome == "won":
            stage, is_closed, is_won, reason = "Closed Won", "true", "true", ""
        else:
            stage, is_closed, is_won = "Closed Lost", "true", "false"
            reason = "No Decision" if outcome == "no_decision" else LOSS_REASONS[int(rng.integers(len(LOSS_REASONS)))]
        rows.append({
            "Id": f"0065g00000{i + 1:05d}AAA", "AccountId": account_ids[a], "Amount": f"{amount:.2f}",
            "CreatedDate": _timestamp(created, rng), "CloseDate": closed.isoformat(), "StageName": stage,
            "IsClosed": is_closed, "IsWon": is_won, "LeadSource": source, "Type": kind, "OwnerId": owner,
            "Loss_Reason__c": reason, "Account.NumberOfEmployees": str(int(employees[a])),
        })
    # the dirty rows
    rows[10]["Amount"] = f"${float(rows[10]['Amount']):,.2f}"
    rows[11]["Amount"] = f"{float(rows[11]['Amount']):,.2f}".translate(str.maketrans(",.", ".,")) + " EUR"
    rows[12]["Amount"] = "n/a"
    rows[13]["Amount"] = "-" + rows[13]["Amount"]
    rows[20]["CreatedDate"] = "31/02/2024"
    rows[30]["CloseDate"] = (date.fromisoformat(rows[30]["CreatedDate"][:10]) - timedelta(days=5)).isoformat()
    rows[30].update(StageName="Closed Won", IsClosed="true", IsWon="true", Loss_Reason__c="")
    rows.insert(200, dict(rows[40]))
    rows.append(dict(rows[41]))
    opp_path = folder / "opportunities_salesforce.csv"
    with open(opp_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    # leads: created over the same days and the six months before (an opportunity's lead comes first)
    lead_start = START - timedelta(days=90)
    lead_days = (END - lead_start).days + 1
    leads_path = folder / "leads_salesforce.csv"
    with open(leads_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["Id", "CreatedDate", "LeadSource", "Status"])
        for i in range(N_LEADS):
            d = lead_start + timedelta(days=int(rng.integers(lead_days)))
            status = "Converted" if rng.random() < 0.13 else str(rng.choice(["Open", "Working", "Disqualified"]))
            w.writerow([f"00Q5g00000{i + 1:05d}AAA", _timestamp(d, rng),
                        SOURCES[int(rng.choice(len(SOURCES), p=SOURCE_P))], status])
    return opp_path, leads_path


if __name__ == "__main__":
    for p in make():
        print(f"wrote {p}")
