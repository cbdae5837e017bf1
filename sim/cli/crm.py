"""The ``crm`` command of run.py: CRM exports in, calibration inputs out.

    python run.py crm targets EXPORT [--accounts FILE] [--leads FILE] [--format salesforce|hubspot|auto]
                              [--columns MAP.toml] [--since DATE] [--until DATE] [--scenario NAME_OR_PATH]
                              [--size-bands MID,ENTERPRISE] [--out TARGETS.toml]

Writes TARGETS.toml (a targets file ``python run.py calibrate`` runs as it is, checked by loading it before it is
renamed into place) and TARGETS.report.md beside it. Every input problem (a file that cannot be read, a flag or a
column map key that is not allowed, an --out that is not a .toml file name in a folder this user can write in)
raises ``sim.ScenarioError`` naming the file or flag, the key and what is allowed (run.py prints it as one
``error: ...`` line and exits with 2) before anything is written; a write that fails all the same is one such line
too, and leaves nothing behind (both files are staged beside their place and renamed in last).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.cli.common import EXIT_USAGE, Parser, check_writable_folder, wrap
from sim.config.scenario import ScenarioError
from sim.io import results_root

WHERE = "run.py crm targets"

MAP_HELP = """\
column map (--columns MAP.toml), for a layout of your own or to extend a built-in one:

  [columns]                       # canonical field = "your column"
  opportunity_id = "Deal ID"      # required
  created = "Created on"          # required
  closed = "Closed on"            # required
  stage = "Stage"                 # required unless is_won is mapped
  account_id = "Company ID"       # the unit of the bootstrap (else each deal is its own)
  amount = "Value"                # also: is_closed, is_won, loss_reason, lead_source,
  segment = "Tier"                #   type, owner, employees, pipeline

  [stages]                        # stage values; any other stage is an open deal
  won = ["Closed Won"]
  lost = ["Closed Lost"]
  no_decision = ["No Decision"]

  [loss_reasons]                  # loss reasons that mean no decision
  no_decision = ["No decision", "Status quo"]

  [types]                         # deal types (default: by keyword, 'new' vs existing/upsell/...)
  new = ["New Business"]
  expansion = ["Upsell", "Renewal"]

  [segments]                      # your segment labels (SMB, Mid-Market, Enterprise are known)
  enterprise = ["Strategic"]

  [size]                          # employees at which a segment begins
  mid = 100                       #   smb < 100 <= mid < 1000 <= enterprise
  enterprise = 1000

  [dates]
  format = "%d/%m/%Y"             # default: ISO 8601 and the common forms, month first
  dayfirst = true

  [accounts]                      # columns of the --accounts file
  account_id = "Id"
  employees = "NumberOfEmployees"

  [leads]                         # columns of the --leads file
  created = "CreatedDate"
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "crm",
        help="CRM exports in: 'crm targets EXPORT' turns an opportunities export (Salesforce, HubSpot or your own "
             "columns) into a calibration targets file and a data report",
        description=wrap("Work with CRM exports. 'crm targets EXPORT' reads an opportunities export and writes a "
                         "calibration targets file and a data report (run 'python run.py crm targets --help')."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    crm = p.add_subparsers(dest="crm_command", metavar="SUBCOMMAND", title="subcommands", parser_class=Parser)
    t = crm.add_parser(
        "targets",
        help="an opportunities export in; a calibration targets file and a data report out",
        description=wrap(
            "Read an opportunities export (CSV or Parquet: a Salesforce Opportunity export, a HubSpot deals export, "
            "or any layout with a column map), clean it (duplicate ids, unreadable dates, close before create, "
            "currency strings and negative amounts, open deals: each counted by reason, never fatal), compute its "
            "funnel figures with the engine's metric names (opportunity_win_rate and by segment, no_decision_share, "
            "median_cycle_days_<segment>, acv_<segment>; with --leads, leads_per_month and "
            "lead_to_opportunity_rate) and some the engine has no metric for (win rate by lead source, "
            "opportunities per month, expansion share, the mix by source: in the report only), each with an sd "
            "from a bootstrap over accounts (1,000 resamples, seed 1), and write TARGETS.toml, a targets file "
            "'python run.py calibrate TARGETS.toml' runs as it is (checked by loading it before it is renamed into "
            "place), and TARGETS.report.md beside it: what was read, the mapping used, the exclusions with their "
            "counts, every figure with its n and 95% interval.\n"
            "Segments: the export's segment column, or the head count (the export's, or --accounts) cut at smb < "
            "100 <= mid < 1000 <= enterprise employees (--size-bands or [size] in the map change the cuts).\n"
            "No decision: a closed deal not won whose stage or loss reason says so (Salesforce: Loss_Reason__c "
            "\"No Decision\" by default; map your own); where no deal is identified as no decision, "
            "no_decision_share is left out and the report says so."
        ),
        epilog=(
            "examples:\n"
            "  python run.py crm targets scenarios/examples/crm/opportunities_salesforce.csv --out results/crm/targets.toml\n"
            "  python run.py crm targets deals.csv --format hubspot --accounts companies.csv --since 2025-01-01\n"
            "  python run.py crm targets export.parquet --columns my_crm.toml --leads leads.csv --scenario enterprise\n\n"
            + MAP_HELP + "\n"
            + wrap("Fatal input (one 'error: FILE: ...' line naming the file, the column or key and what is allowed; "
                   "exit code 2; nothing written): a file that does not exist or cannot be parsed, a required field "
                   "no column maps to, an unknown field or key in the map, a column the map names that is not in the "
                   "file, an export with no closed deal, a window with none, an unknown --format.")
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("export", metavar="EXPORT", help="the opportunities export: a .csv (, ; or tab separated) or a "
                                                    ".parquet file")
    t.add_argument("--accounts", default=None, metavar="FILE",
                   help="accounts (companies) with their head count or segment, matched on the account id "
                        "(Salesforce Account: Id, NumberOfEmployees; HubSpot companies: hs_object_id, "
                        "numberofemployees; or [accounts] in the column map)")
    t.add_argument("--leads", default=None, metavar="FILE",
                   help="lead records (Salesforce Lead: CreatedDate; HubSpot contacts: createdate; or [leads] in the "
                        "column map): adds leads_per_month and lead_to_opportunity_rate")
    t.add_argument("--format", default="auto", metavar="salesforce|hubspot|auto",
                   help="the export's layout (default: auto, from the header; a layout of your own needs --columns)")
    t.add_argument("--columns", default=None, metavar="MAP.toml",
                   help="a column map: your column names and stage values (format below); with a built-in format it "
                        "extends that format's map")
    t.add_argument("--since", default=None, metavar="DATE",
                   help="first day of the window, YYYY-MM-DD (default: the first created date)")
    t.add_argument("--until", default=None, metavar="DATE",
                   help="last day of the window, YYYY-MM-DD (default: the last date in the export)")
    t.add_argument("--scenario", default="default", metavar="NAME_OR_PATH",
                   help="the scenario the targets are for: a preset name or a .toml path (default: default); its "
                        "strategy 'blended', else its first, is the one the figures describe")
    t.add_argument("--size-bands", default=None, metavar="MID,ENTERPRISE",
                   help="employees at which the mid and enterprise segments begin (default: 100,1000)")
    t.add_argument("--out", default=None, metavar="TARGETS.toml",
                   help="the targets file to write (default: results/crm/<export name>_targets.toml); the report "
                        "goes beside it as <name>.report.md; existing files are replaced")
    t.set_defaults(handler=cmd_targets)
    p.set_defaults(handler=cmd_help, crm_parser=p)
    return p


def cmd_help(args: argparse.Namespace, argv: Sequence[str]) -> int:
    args.crm_parser.print_help(sys.stderr)
    return EXIT_USAGE


def _size_bands(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.replace(" ", "").split(",")
    try:
        mid, ent = (int(x) for x in parts)
    except ValueError:
        raise ScenarioError(WHERE, "--size-bands", f"must be two whole numbers MID,ENTERPRISE (employees at which "
                                                   f"mid and enterprise begin, e.g. 100,1000), got {text!r}") from None
    return mid, ent


def cmd_targets(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sim.calibration.targets import load_targets
    from sim.crm.targets import output_paths, targets_from_export

    # 1. everything that can be checked before anything is read or written: the flags and where --out goes
    export = Path(args.export).expanduser()
    out, _ = output_paths(WHERE, args.out or results_root() / "crm" / f"{export.stem}_targets.toml")
    check_writable_folder(WHERE, out.parent, "--out")
    size_bands = _size_bands(args.size_bands)

    # 2. read the export (every input problem is one ScenarioError naming the file, the key and what is allowed)
    command = " ".join(shlex.quote(a) for a in ["python", "run.py", *argv])
    res = targets_from_export(export, accounts=args.accounts, leads=args.leads, format=args.format,
                              columns=args.columns, since=args.since, until=args.until, scenario=args.scenario,
                              size_bands=size_bands, command=command)

    # 3. the targets file (checked by loading it) and its report, atomically: on failure nothing is left behind
    try:
        targets_path, report_path = res.write(out, check=load_targets)
    except OSError as exc:
        raise ScenarioError(WHERE, "--out", f"cannot write {out} ({exc.strerror or exc}); nothing was written: give "
                                            f"a file in a folder this user can write in") from None
    _print_summary(res, export, targets_path, report_path)
    return 0


def _print_summary(res: Any, export: Path, targets_path: Path, report_path: Path) -> None:
    o = res.opportunities
    print(f"Read {o.rows_read:,} rows of {export.name} ({res.format}); kept {len(o.frame):,}; window "
          f"{res.window.describe()} ({res.window.days} days).")
    dropped = [f"{i.label}: {i.count:,}" for i in res.issues if i.excluded]
    if dropped:
        print("Left out: " + "; ".join(dropped) + ".")
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not o.no_decision_identified:
        print("No deal is identified as no decision: no_decision_share left out (see the report).")
    t = res.targets
    width = max(len(m) for m in t["metric"])
    print(f"\n{'target':<{width}}  {'value':>12}  {'sd':>10}  {'n':>6}")
    for r in t.itertuples():
        print(f"{r.metric:<{width}}  {r.value:>12.4g}  {r.sd:>10.3g}  {r.n:>6,}")
    print(f"\nTargets: {targets_path}\nReport:  {report_path}\nNext:    python run.py calibrate {targets_path} "
          f"--workers 2")
