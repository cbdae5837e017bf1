"""The canonical fields of an opportunities export, the built-in maps (Salesforce Opportunity, HubSpot deals) and
a user's own column map (a small TOML file).

Canonical fields (``FIELDS``): ``opportunity_id``, ``account_id``, ``created``, ``closed``, ``stage``, ``is_closed``,
``is_won``, ``loss_reason``, ``amount``, ``lead_source``, ``type``, ``owner``, ``segment``, ``employees``,
``pipeline``. The outcome of a deal (won / lost / no decision / open) is derived from them (``sim.crm.read``):
Salesforce's ``IsClosed`` and ``IsWon`` where the export has them, else the stage; a closed deal that was not won
counts as no decision where its stage or its loss reason says so.

Company size: a segment column (``segment``: labels such as "SMB", "Mid-Market", "Enterprise") or a head count
(``employees``, on the export or in an ``--accounts`` file), cut at ``SIZE_BANDS``: smb below 100 employees, mid
from 100 to 999, enterprise from 1,000 (``[size]`` in the map or ``--size-bands`` changes the cuts).

A column map (``--columns MAP.toml``)::

    [columns]                       # canonical field = "the export's column"
    opportunity_id = "Deal ID"      # required
    created = "Created on"          # required
    closed = "Closed on"            # required
    stage = "Stage"                 # required unless is_won is mapped
    account_id = "Company ID"       # the bootstrap resamples accounts; without it every deal is its own account
    amount = "Value"
    loss_reason = "Why lost"

    [stages]                        # stage values (case, spaces, '-' and '_' ignored); others are open
    won = ["Closed Won"]
    lost = ["Closed Lost"]
    no_decision = ["No Decision"]

    [loss_reasons]                  # loss reasons that mean no decision
    no_decision = ["No decision", "Status quo"]

    [types]                         # deal types
    new = ["New Business"]
    expansion = ["Upsell", "Renewal"]

    [segments]                      # segment labels of the export
    smb = ["Small"]
    mid = ["Mid"]
    enterprise = ["Large", "Strategic"]

    [size]                          # employees at which a segment begins
    mid = 100
    enterprise = 1000

    [dates]
    format = "%d/%m/%Y"             # strftime format (default: ISO 8601 and the common forms, month first)
    dayfirst = true                 # 03/04/2025 is 3 April

    [accounts]                      # columns of the --accounts file
    account_id = "Id"
    employees = "NumberOfEmployees"
    segment = "Segment__c"

    [leads]                         # columns of the --leads file
    created = "CreatedDate"
    lead_id = "Id"
    lead_source = "LeadSource"

With ``--format salesforce`` or ``hubspot`` (or one detected by ``auto``) the map extends the built-in one: its
columns replace the built-in columns of the same field, its lists replace the built-in lists of the same key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sim.config.parameters import SEGMENTS
from sim.config.scenario import ScenarioError, read_toml

__all__ = ["FIELDS", "REQUIRED", "FORMATS", "SIZE_BANDS", "ColumnMap", "LAYOUTS", "BUILTIN", "detect_format",
           "load_column_map", "norm", "resolve_map"]

#: canonical field -> what it holds
FIELDS: dict[str, str] = {
    "opportunity_id": "the opportunity's (deal's) id",
    "account_id": "the account's (company's) id: the unit the bootstrap resamples",
    "created": "when the opportunity was created",
    "closed": "when it closed (for an open deal: its expected close, not used)",
    "stage": "its stage (the outcome, where is_won / is_closed are absent)",
    "is_closed": "true once the deal is closed (won or lost)",
    "is_won": "true for a won deal",
    "loss_reason": "why a lost deal was lost (no decision, where the map's loss reasons say so)",
    "amount": "the deal's value (ACV of won new-business deals)",
    "lead_source": "where the deal came from",
    "type": "new business or expansion (existing customer)",
    "owner": "the rep who owns it",
    "segment": "the account's segment label",
    "employees": "the account's head count (segment by SIZE_BANDS)",
    "pipeline": "the pipeline it is in (HubSpot)",
}
#: fields every export must map (``stage`` may be replaced by ``is_won``)
REQUIRED = ("opportunity_id", "created", "closed")
FORMATS = ("salesforce", "hubspot", "auto")
#: employees at which mid and enterprise begin: smb < 100 <= mid < 1000 <= enterprise
SIZE_BANDS = (100, 1000)

MAP_KEYS = ("columns", "stages", "loss_reasons", "types", "segments", "size", "dates", "accounts", "leads")
STAGE_KEYS = ("won", "lost", "no_decision")
TYPE_KEYS = ("new", "expansion")
DATE_KEYS = ("format", "dayfirst")
#: canonical fields of the --accounts and --leads files
ACCOUNT_FIELDS = {"account_id": "the account's id (matched to the export's account_id)",
                  "employees": "head count", "segment": "segment label"}
LEAD_FIELDS = {"created": "when the lead was created", "lead_id": "the lead's id", "lead_source": "its source"}


def norm(value: Any) -> str:
    """A label compared case-, space- and punctuation-blind: "Closed - Won" and "closedwon" are the same."""
    return re.sub(r"[^0-9a-z]+", "", str(value).lower())


@dataclass
class ColumnMap:
    """Which column holds each canonical field (candidate names, first present wins), and the vocabularies that
    classify stages, loss reasons, deal types and segment labels (compared with :func:`norm`). In a user's map
    (:func:`load_column_map`) whatever the file does not give is None and the built-in value stays."""

    name: str = "custom"
    columns: dict[str, list[str]] = field(default_factory=dict)       # field -> candidate columns
    explicit: set[str] = field(default_factory=set)                     # fields a user named: must exist
    explicit_accounts: set[str] = field(default_factory=set)            # ... of [accounts]
    explicit_leads: set[str] = field(default_factory=set)               # ... of [leads]
    stages: dict[str, list[str] | None] = field(default_factory=lambda: {k: [] for k in STAGE_KEYS})
    loss_reasons: list[str] | None = field(default_factory=list)        # loss reasons meaning no decision
    types: dict[str, list[str]] | None = None                           # new / expansion labels (None: keywords)
    segments: dict[str, list[str]] | None = None                        # extra labels per segment
    size: tuple[int, int] | None = SIZE_BANDS
    date_format: str | None = None
    dayfirst: bool | None = False
    accounts: dict[str, list[str]] = field(default_factory=dict)
    leads: dict[str, list[str]] = field(default_factory=dict)
    source: str = ""                                                    # the map file, if any

    def extended(self, user: "ColumnMap") -> "ColumnMap":
        """This (built-in) map with a user's map laid over it: the user's columns and lists replace the built-in
        ones of the same field or key."""
        def pick(a, b):
            return a if b is None else b

        return replace(
            self, name=f"{self.name} + {Path(user.source).name}" if self.name != "custom" else "custom",
            columns={**self.columns, **user.columns}, explicit=set(user.explicit),
            explicit_accounts=set(user.explicit_accounts), explicit_leads=set(user.explicit_leads),
            stages={k: pick(self.stages.get(k), user.stages.get(k)) or [] for k in STAGE_KEYS},
            loss_reasons=pick(self.loss_reasons, user.loss_reasons), types=pick(self.types, user.types),
            segments=pick(self.segments, user.segments), size=pick(self.size, user.size),
            date_format=pick(self.date_format, user.date_format), dayfirst=pick(self.dayfirst, user.dayfirst),
            accounts={**self.accounts, **user.accounts}, leads={**self.leads, **user.leads}, source=user.source)


_ND_REASONS = ["No Decision", "No Decision Made", "Status Quo", "Do Nothing", "Decided to do nothing",
               "Chose to do nothing", "No Decision / Non-Responsive"]

#: each built-in layout as data: ``columns`` (field -> candidate columns, the first present wins), ``stages`` (won /
#: lost / no decision stage values), ``accounts`` and ``leads`` (the columns of the --accounts and --leads files),
#: ``signature`` (what the header must hold, each a tuple of alternatives, for --format auto to pick it); every
#: layout's no-decision loss reasons are ``_ND_REASONS``. :func:`_layout_map` turns one into a :class:`ColumnMap`.
LAYOUTS: dict[str, dict[str, Any]] = {
    # Salesforce Opportunity (API names; the labels of a report export too)
    "salesforce": {
        "columns": {
            "opportunity_id": ["Id", "Opportunity ID", "OpportunityId"],
            "account_id": ["AccountId", "Account ID"],
            "created": ["CreatedDate", "Created Date"],
            "closed": ["CloseDate", "Close Date"],
            "stage": ["StageName", "Stage"],
            "is_closed": ["IsClosed", "Closed"],
            "is_won": ["IsWon", "Won"],
            "loss_reason": ["Loss_Reason__c", "Loss Reason", "Closed_Lost_Reason__c", "Reason_Lost__c"],
            "amount": ["Amount"],
            "lead_source": ["LeadSource", "Lead Source"],
            "type": ["Type", "Opportunity Type"],
            "owner": ["OwnerId", "Opportunity Owner", "Owner ID"],
            "segment": ["Segment__c", "Account.Segment__c"],
            "employees": ["Account.NumberOfEmployees", "NumberOfEmployees", "Employees"],
        },
        "stages": {"won": ["Closed Won"], "lost": ["Closed Lost"],
                   "no_decision": ["Closed No Decision", "Closed - No Decision", "No Decision"]},
        "accounts": {"account_id": ["Id", "Account ID", "AccountId"],
                     "employees": ["NumberOfEmployees", "Employees"], "segment": ["Segment__c", "Segment"]},
        "leads": {"created": ["CreatedDate", "Created Date"], "lead_id": ["Id", "Lead ID"],
                  "lead_source": ["LeadSource", "Lead Source"]},
        "signature": [("Id", "Opportunity ID"), ("StageName",), ("CreatedDate", "Created Date"),
                      ("CloseDate", "Close Date")],
    },
    # HubSpot deals (internal property names, and the labels of an export from the deals view)
    "hubspot": {
        "columns": {
            "opportunity_id": ["hs_object_id", "Record ID", "dealId", "dealname", "Deal Name"],
            "account_id": ["associatedcompanyid", "associatedCompanyIds", "associations.companies",
                           "Associated Company IDs", "Associated Company IDs (Primary)", "Associated Company ID"],
            "created": ["createdate", "Create Date"],
            "closed": ["closedate", "Close Date"],
            "stage": ["dealstage", "Deal Stage"],
            "is_closed": ["hs_is_closed", "Is Deal Closed?"],
            "is_won": ["hs_is_closed_won", "Is Closed Won"],
            "loss_reason": ["closed_lost_reason", "Closed Lost Reason"],
            "amount": ["amount", "Amount"],
            "lead_source": ["hs_analytics_source", "Original Source Type", "Original Traffic Source"],
            "type": ["dealtype", "Deal Type"],
            "owner": ["hubspot_owner_id", "Deal owner", "Deal Owner"],
            "pipeline": ["pipeline", "Pipeline"],
            "employees": ["numberofemployees", "Number of Employees"],
        },
        "stages": {"won": ["closedwon", "Closed Won"], "lost": ["closedlost", "Closed Lost"], "no_decision": []},
        "accounts": {"account_id": ["hs_object_id", "Record ID", "Company ID", "companyId"],
                     "employees": ["numberofemployees", "Number of Employees"],
                     "segment": ["segment", "Segment"]},
        "leads": {"created": ["createdate", "Create Date"], "lead_id": ["hs_object_id", "Record ID"],
                  "lead_source": ["hs_analytics_source", "Original Source Type", "Original Traffic Source"]},
        "signature": [("dealstage", "Deal Stage"), ("createdate", "Create Date"), ("closedate", "Close Date"),
                      ("hs_object_id", "Record ID", "dealname", "Deal Name")],
    },
    # a custom layout's defaults: nothing mapped (the user's map names the columns), the generic account and lead
    # columns; never detected
    "custom": {
        "columns": {},
        "stages": {"won": ["Closed Won", "Won"], "lost": ["Closed Lost", "Lost"], "no_decision": ["No Decision"]},
        "accounts": {"account_id": ["account_id", "Account ID", "Id"],
                     "employees": ["employees", "Employees", "NumberOfEmployees"], "segment": ["segment", "Segment"]},
        "leads": {"created": ["created", "Created", "CreatedDate", "createdate"], "lead_id": ["lead_id", "Id"],
                  "lead_source": ["lead_source", "Lead Source", "LeadSource"]},
        "signature": None,
    },
}


def _layout_map(name: str, layout: Mapping[str, Any]) -> ColumnMap:
    """The :class:`ColumnMap` of one entry of :data:`LAYOUTS` (its own copies of every list)."""
    def copied(table: Mapping[str, list[str]]) -> dict[str, list[str]]:
        return {k: list(v) for k, v in table.items()}

    return ColumnMap(name=name, columns=copied(layout["columns"]), stages=copied(layout["stages"]),
                     loss_reasons=list(_ND_REASONS), accounts=copied(layout["accounts"]),
                     leads=copied(layout["leads"]))


#: the built-in maps, by format
BUILTIN: dict[str, ColumnMap] = {name: _layout_map(name, t) for name, t in LAYOUTS.items() if name != "custom"}
#: a custom layout's defaults, extended by the user's map
CUSTOM = _layout_map("custom", LAYOUTS["custom"])
#: what the header of each built-in format must hold (each a set of alternatives) for --format auto to pick it
SIGNATURES: dict[str, list[tuple[str, ...]]] = {name: LAYOUTS[name]["signature"] for name in BUILTIN}


def detect_format(header: Sequence[str]) -> str | None:
    """"salesforce" or "hubspot" if the header has that export's columns, else None."""
    cols = set(header)
    for name, need in SIGNATURES.items():
        if all(any(c in cols for c in alts) for alts in need):
            return name
    return None


# ----------------------------------------------------------------------------------------------- a user's map


def _check_keys(where: str, prefix: str, table: Mapping, allowed: Sequence[str], what: str = "key") -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ScenarioError(where, f"{prefix}{key}", f"unknown {what} (allowed: {', '.join(allowed)}){hint}")


def _table(where: str, data: Mapping, key: str) -> Mapping:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ScenarioError(where, key, f"must be a table [{key}]")
    return value


def _strings(where: str, key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise ScenarioError(where, key, f"must be a list of values (strings), e.g. [\"Closed Won\"], got {value!r}")


def _vocabulary(where: str, data: Mapping, key: str, allowed: Sequence[str]) -> dict[str, list[str]]:
    """The table ``[key]`` of a column map as lists of values (``stages``: won = [...], ...), its keys checked
    against ``allowed``; empty where the map has no such table."""
    table = _table(where, data, key)
    _check_keys(where, f"{key}.", table, allowed)
    return {k: _strings(where, f"{key}.{k}", v) for k, v in table.items()}


def _columns(where: str, prefix: str, table: Mapping, allowed: Mapping[str, str]) -> dict[str, list[str]]:
    _check_keys(where, prefix, table, list(allowed), "field")
    out = {}
    for k, v in table.items():
        if not isinstance(v, str) or not v.strip():
            raise ScenarioError(where, f"{prefix}{k}", f"must be a column name of the file (a string), got {v!r}")
        out[k] = [v]
    return out


def load_column_map(path: str | Path) -> ColumnMap:
    """Read and check a column map (format: this module's docstring). Raises ScenarioError naming the file, the
    key and what is allowed."""
    path = Path(path).expanduser()
    where = str(path)
    data = read_toml(path, "column map")
    _check_keys(where, "", data, MAP_KEYS)
    m = ColumnMap(name="custom", source=where, stages={k: None for k in STAGE_KEYS}, loss_reasons=None, size=None,
                  dayfirst=None)
    m.columns = _columns(where, "columns.", _table(where, data, "columns"), FIELDS)
    m.explicit = set(m.columns)
    m.stages.update(_vocabulary(where, data, "stages", STAGE_KEYS))
    m.loss_reasons = _vocabulary(where, data, "loss_reasons", ("no_decision",)).get("no_decision")
    m.types = _vocabulary(where, data, "types", TYPE_KEYS) or None
    m.segments = _vocabulary(where, data, "segments", SEGMENTS) or None
    size = _table(where, data, "size")
    _check_keys(where, "size.", size, ("mid", "enterprise"))
    if size:
        m.size = check_size_bands(where, "size", size.get("mid", SIZE_BANDS[0]), size.get("enterprise", SIZE_BANDS[1]))
    dates = _table(where, data, "dates")
    _check_keys(where, "dates.", dates, DATE_KEYS)
    if "format" in dates:
        if not isinstance(dates["format"], str) or "%" not in dates["format"]:
            raise ScenarioError(where, "dates.format", f"must be a strftime format such as \"%d/%m/%Y\", got "
                                                       f"{dates['format']!r}")
        m.date_format = dates["format"]
    if "dayfirst" in dates:
        if not isinstance(dates["dayfirst"], bool):
            raise ScenarioError(where, "dates.dayfirst", f"must be true or false, got {dates['dayfirst']!r}")
        m.dayfirst = dates["dayfirst"]
    m.accounts = _columns(where, "accounts.", _table(where, data, "accounts"), ACCOUNT_FIELDS)
    m.leads = _columns(where, "leads.", _table(where, data, "leads"), LEAD_FIELDS)
    m.explicit_accounts, m.explicit_leads = set(m.accounts), set(m.leads)
    return m


def check_size_bands(where: str, key: str, mid: Any, ent: Any) -> tuple[int, int]:
    """(mid, enterprise): whole numbers of employees with 0 < mid < enterprise."""
    for v in (mid, ent):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ScenarioError(where, key, f"must be whole numbers of employees above 0 at which mid and "
                                            f"enterprise begin (default {SIZE_BANDS[0]} and {SIZE_BANDS[1]}), got "
                                            f"{mid!r} and {ent!r}")
    if not mid < ent:
        raise ScenarioError(where, key, f"mid ({mid}) must be below enterprise ({ent})")
    return int(mid), int(ent)


def resolve_map(where: str, fmt: str, header: Sequence[str], user: ColumnMap | None) -> tuple[ColumnMap, str]:
    """The map to read an export with (``where``: the export, for messages), and the format used: the built-in
    one (``fmt``, or detected with "auto"), extended by the user's map; a custom layout with the user's map only."""
    if fmt not in FORMATS:
        raise ScenarioError(where, "--format", f"unknown format {fmt!r} (allowed: {', '.join(FORMATS)})")
    used = fmt if fmt != "auto" else detect_format(header)
    if used is None:
        if user is None:
            raise ScenarioError(where, "header", "is neither a Salesforce Opportunity export (Id, StageName, "
                                                 "CreatedDate, CloseDate) nor a HubSpot deals export (dealstage, "
                                                 "createdate, closedate, hs_object_id or dealname); give --format, "
                                                 "or a column map --columns MAP.toml naming your columns")
        return CUSTOM.extended(user), "custom"
    base = BUILTIN[used]
    return (base.extended(user) if user is not None else replace(base)), used
