"""The ``crm`` command of run.py: CRM exports in, calibration inputs and scenarios out.

    python run.py crm targets EXPORT [--accounts FILE] [--leads FILE] [--format salesforce|hubspot|auto]
                              [--columns MAP.toml] [--since DATE] [--until DATE] [--scenario NAME_OR_PATH]
                              [--size-bands MID,ENTERPRISE] [--out TARGETS.toml]
    python run.py crm scenario EXPORT [--accounts FILE] [--accounts-total N] [--format salesforce|hubspot|auto]
                               [--columns MAP.toml] [--since DATE] [--until DATE] [--preset NAME_OR_PATH]
                               [--size-bands MID,ENTERPRISE] [--out SCENARIO.toml]

``targets`` writes TARGETS.toml (a targets file ``python run.py calibrate`` runs as it is, checked by loading it
before it is renamed into place) and TARGETS.report.md beside it; ``scenario`` writes SCENARIO.toml (a scenario
file ``python run.py run`` runs as it is: the preset with the export's market size, segment mix and deal sizes,
checked by loading it) and SCENARIO.report.md beside it. Every input problem (a file that cannot be read, a flag or
a column map key that is not allowed, an --out that is not a .toml file name in a folder this user can write in)
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
WHERE_SCENARIO = "run.py crm scenario"

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
             "columns) into a calibration targets file and a data report, 'crm scenario EXPORT' into a scenario file",
        description=wrap("Work with CRM exports. 'crm targets EXPORT' reads an opportunities export and writes a "
                         "calibration targets file and a data report (run 'python run.py crm targets --help'); "
                         "'crm scenario EXPORT' writes a scenario file with the export's market size, segment mix "
                         "and deal sizes (run 'python run.py crm scenario --help')."),
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
    _export_and_accounts(t, "accounts (companies) with their head count or segment, matched on the account id "
                            "(Salesforce Account: Id, NumberOfEmployees; HubSpot companies: hs_object_id, "
                            "numberofemployees; or [accounts] in the column map)")
    t.add_argument("--leads", default=None, metavar="FILE",
                   help="lead records (Salesforce Lead: CreatedDate; HubSpot contacts: createdate; or [leads] in the "
                        "column map): adds leads_per_month and lead_to_opportunity_rate")
    _layout_and_window(t, "a column map: your column names and stage values (format below); with a built-in "
                          "format it extends that format's map")
    t.add_argument("--scenario", default="default", metavar="NAME_OR_PATH",
                   help="the scenario the targets are for: a preset name or a .toml path (default: default); its "
                        "strategy 'blended', else its first, is the one the figures describe")
    _size_bands_and_out(t, "TARGETS.toml", "targets")
    t.set_defaults(handler=cmd_targets)
    _add_scenario_parser(crm)
    p.set_defaults(handler=cmd_help, crm_parser=p)
    return p


def _add_scenario_parser(crm: Any) -> None:
    s = crm.add_parser(
        "scenario",
        help="an opportunities export in; a scenario file (the export's market size, segment mix and deal sizes, "
             "the rest from a preset) out",
        description=wrap(
            "Read an opportunities export (the same files, layouts, column maps and cleaning as 'crm targets') and "
            "write SCENARIO.toml, a scenario file 'python run.py run SCENARIO.toml' runs as it is (checked by "
            "loading it before it is renamed into place), and SCENARIO.report.md beside it. From the data, where it "
            "holds them: market.n_accounts (the distinct accounts of --accounts, or --accounts-total; an "
            "opportunities export alone holds only the accounts that had a deal, so without either the preset's "
            "value stays), market.segments.<segment>.share (the share of accounts per segment: of --accounts, else "
            "of the accounts with a deal in the window, segmented as 'crm targets' does), "
            "market.segments.<segment>.deal_size and deal_size_sigma (the median and the log-scale sd of the "
            "amounts of the won new-business deals closed in the window, from 10 such deals; amounts are taken as "
            "annual). Each with its source and, for the estimates, an sd and a 95% interval from a bootstrap over "
            "accounts (1,000 resamples, seed 1). Everything else (budgets, the team, buying groups, churn, the "
            "behaviour the model fits) is the preset's, and the header and the report list it, key by key.\n"
            "Next: 'python run.py crm targets EXPORT --scenario SCENARIO.toml' fits the behaviour (cycles, win "
            "rates) to the same export."
        ),
        epilog=(
            "examples:\n"
            "  python run.py crm scenario scenarios/examples/crm/opportunities_salesforce.csv --out results/crm/scenario.toml\n"
            "  python run.py crm scenario deals.csv --format hubspot --accounts companies.csv --preset enterprise\n"
            "  python run.py crm scenario export.csv --accounts-total 12000 --since 2025-01-01\n\n"
            + wrap("The column map (--columns) is the one of 'crm targets' (see 'python run.py crm targets --help'). "
                   "Fatal input (one 'error: ...' line naming the file or flag, the key and what is allowed; exit "
                   "code 2; nothing written): the fatal input of 'crm targets', an unknown --preset, an "
                   "--accounts-total outside 1 to 10,000,000, an --out that is not a .toml file name in a folder "
                   "this user can write in.")
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _export_and_accounts(s, "every account of the market, with its head count or segment (Salesforce Account: Id, "
                            "NumberOfEmployees; HubSpot companies: hs_object_id, numberofemployees; or [accounts] in "
                            "the column map): the market size and the segment mix")
    s.add_argument("--accounts-total", default=None, type=int, metavar="N",
                   help="the number of accounts in the market (market.n_accounts), when no accounts file holds it; "
                        "wins over --accounts")
    _layout_and_window(s, "a column map, as for 'crm targets'")
    s.add_argument("--preset", default="default", metavar="NAME_OR_PATH",
                   help="where everything the export cannot hold comes from: a preset name (default, enterprise, "
                        "self_service, bass) or a scenario .toml path (default: default)")
    _size_bands_and_out(s, "SCENARIO.toml", "scenario")
    s.set_defaults(handler=cmd_scenario)


def _export_and_accounts(p: argparse.ArgumentParser, accounts_help: str) -> None:
    """EXPORT and --accounts, the files both subcommands read."""
    p.add_argument("export", metavar="EXPORT", help="the opportunities export: a .csv (, ; or tab separated) or a "
                                                    ".parquet file")
    p.add_argument("--accounts", default=None, metavar="FILE", help=accounts_help)


def _layout_and_window(p: argparse.ArgumentParser, columns_help: str) -> None:
    """--format, --columns, --since and --until: the flags both subcommands read an export with."""
    p.add_argument("--format", default="auto", metavar="salesforce|hubspot|auto",
                   help="the export's layout (default: auto, from the header; a layout of your own needs --columns)")
    p.add_argument("--columns", default=None, metavar="MAP.toml", help=columns_help)
    p.add_argument("--since", default=None, metavar="DATE",
                   help="first day of the window, YYYY-MM-DD (default: the first created date)")
    p.add_argument("--until", default=None, metavar="DATE",
                   help="last day of the window, YYYY-MM-DD (default: the last date in the export)")


def _size_bands_and_out(p: argparse.ArgumentParser, metavar: str, what: str) -> None:
    """--size-bands, and --out (``metavar``: TARGETS.toml or SCENARIO.toml; ``what``: the file's kind)."""
    p.add_argument("--size-bands", default=None, metavar="MID,ENTERPRISE",
                   help="employees at which the mid and enterprise segments begin (default: 100,1000)")
    p.add_argument("--out", default=None, metavar=metavar,
                   help=f"the {what} file to write (default: results/crm/<export name>_{what}.toml); the report "
                        f"goes beside it as <name>.report.md; existing files are replaced")


def cmd_help(args: argparse.Namespace, argv: Sequence[str]) -> int:
    args.crm_parser.print_help(sys.stderr)
    return EXIT_USAGE


def _size_bands(text: str | None, where: str = WHERE) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.replace(" ", "").split(",")
    try:
        mid, ent = (int(x) for x in parts)
    except ValueError:
        raise ScenarioError(where, "--size-bands", f"must be two whole numbers MID,ENTERPRISE (employees at which "
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
    targets_path, report_path = _write(WHERE, res, out, load_targets)
    _print_summary(res, export, targets_path, report_path)
    return 0


def _write(where: str, res: Any, out: Path, check: Any) -> tuple[Path, Path]:
    """``res.write(out, check=check)``, a failing file system one ScenarioError naming --out."""
    try:
        return res.write(out, check=check)
    except OSError as exc:
        raise ScenarioError(where, "--out", f"cannot write {out} ({exc.strerror or exc}); nothing was written: give "
                                            f"a file in a folder this user can write in") from None


def _read_lines(res: Any, export: Path) -> None:
    """What was read and left out (the first lines of both commands' summaries); warnings on stderr."""
    o = res.opportunities
    print(f"Read {o.rows_read:,} rows of {export.name} ({res.format}); kept {len(o.frame):,}; window "
          f"{res.window.describe()} ({res.window.days} days).")
    dropped = [f"{i.label}: {i.count:,}" for i in res.issues if i.excluded]
    if dropped:
        print("Left out: " + "; ".join(dropped) + ".")
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)


def cmd_scenario(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sim.config.scenario import load_scenario
    from sim.crm.scenario import scenario_from_export
    from sim.crm.targets import output_paths

    # 1. the flags and where --out goes, before anything is read or written
    export = Path(args.export).expanduser()
    out, _ = output_paths(WHERE_SCENARIO, args.out or results_root() / "crm" / f"{export.stem}_scenario.toml")
    check_writable_folder(WHERE_SCENARIO, out.parent, "--out")
    size_bands = _size_bands(args.size_bands, WHERE_SCENARIO)

    # 2. read the export and make the scenario (every input problem is one ScenarioError)
    command = " ".join(shlex.quote(a) for a in ["python", "run.py", *argv])
    res = scenario_from_export(export, accounts=args.accounts, format=args.format, columns=args.columns,
                               since=args.since, until=args.until, preset=args.preset, size_bands=size_bands,
                               n_accounts=args.accounts_total, command=command)

    # 3. the scenario file (checked by loading it) and its report, atomically
    scenario_path, report_path = _write(WHERE_SCENARIO, res, out, load_scenario)
    _print_scenario_summary(res, export, scenario_path, report_path)
    return 0


def _print_scenario_summary(res: Any, export: Path, scenario_path: Path, report_path: Path) -> None:
    """What was read, the keys set from the data (value, sd, the preset's, n), those kept and why, what next."""
    _read_lines(res, export)
    if res.accounts is not None:
        print(f"Accounts: {res.accounts.rows_read:,} rows of {res.accounts.path.name}, {len(res.accounts.ids):,} "
              f"distinct ids.")
    rows = res.from_data
    width = max([len(s.path) for s in res.settings if s.origin != "command"] + [len("set from the data")])
    print(f"\n{'set from the data':<{width}}  {'value':>9}  {'sd':>8}  {'preset':>9}  {'n':>5}")
    for s in rows:
        sd = "" if s.sd is None else s.shown(s.sd)
        print(f"{s.path:<{width}}  {s.shown():>9}  {sd:>8}  {s.shown(s.preset):>9}  "
              f"{'' if s.n is None else f'{s.n:,}':>5}")
    if not rows:
        print("(nothing: the export holds none of these keys)")
    if any(s.path.endswith(".deal_size") for s in rows):
        print("Amounts are taken as annual contract values (the export has no contract-term field).")
    print(f"\nkept from the preset {res.preset_ref!r}:")
    for s in res.not_derived:
        print(f"  {s.path} = {s.shown()}: {s.note}")
    never = dict.fromkeys(s.path.rsplit(".", 1)[-1] for s in res.kept if s not in res.not_derived)
    print(f"  and what no export holds: {', '.join(never)}, the channel budgets and every other parameter (the report "
          f"says why)")
    print(f"\nScenario: {scenario_path}\nReport:   {report_path}\nNext:     python run.py run {scenario_path}\n"
          f"          python run.py crm targets {export} --scenario {scenario_path}")


def _print_summary(res: Any, export: Path, targets_path: Path, report_path: Path) -> None:
    o = res.opportunities
    _read_lines(res, export)
    if not o.no_decision_identified:
        print("No deal is identified as no decision: no_decision_share left out (see the report).")
    t = res.targets
    width = max(len(m) for m in t["metric"])
    print(f"\n{'target':<{width}}  {'value':>12}  {'sd':>10}  {'n':>6}")
    for r in t.itertuples():
        print(f"{r.metric:<{width}}  {r.value:>12.4g}  {r.sd:>10.3g}  {r.n:>6,}")
    print(f"\nTargets: {targets_path}\nReport:  {report_path}\nNext:    python run.py calibrate {targets_path} "
          f"--workers 2")
