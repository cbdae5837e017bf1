"""Reading an opportunities export (CSV or Parquet), mapping its columns onto the canonical fields and cleaning it,
with every problem counted by reason (``Issue``), never fatal when a few rows are bad.

Cleaning, in this order (a row is counted under the first reason that applies):

* no opportunity id, then a duplicate id (the first row with an id is kept): row dropped;
* a created date that is missing or cannot be read: row dropped;
* a closed deal (won, lost or no decision) whose close date is missing or cannot be read, or lies before its
  created date: row dropped;
* an open deal: kept out of every closed-deal figure (win rates, cycles, ACV), kept in opportunities per month;
* an amount that is not a number (after currency symbols and codes and thousands separators are stripped:
  "$1,200.50", "1.200,50 €", "EUR 1 200"), or is negative: the amount is ignored (the row stays in the rates);
  amounts read from text are counted too.

Fatal (``ScenarioError`` naming the file, the column or key, and what is allowed): a file that does not exist or
cannot be parsed, a required field no column maps to, a column the map names that is not in the file.
Row numbers count data rows from 1 (the first row below the header).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.config.parameters import SEGMENTS
from sim.config.scenario import ScenarioError
from sim.crm.schema import REQUIRED, ColumnMap, norm

__all__ = ["Issue", "Table", "Opportunities", "read_table", "parse_dates", "parse_amounts", "parse_bools",
           "read_opportunities", "read_accounts", "read_leads", "size_segment"]

#: how many row numbers an issue lists
FIRST_ROWS = 5

#: segment labels understood without a map (compared with schema.norm)
SEGMENT_LABELS = {
    "smb": ("smb", "small", "smallbusiness", "sme", "smallandmediumbusiness", "smallmediumbusiness", "sb"),
    "mid": ("mid", "midmarket", "mm", "midsize", "middlemarket", "midsized", "mme"),
    "enterprise": ("enterprise", "ent", "large", "largeenterprise", "strategic"),
}
#: deal-type keywords (schema.norm of the value contains one) when the map has no [types]: expansion first, as
#: "renewal" contains "new"
EXPANSION_WORDS = ("existing", "upgrade", "upsell", "expansion", "expand", "crosssell", "renewal", "downgrade",
                   "replacement", "addon")
NEW_WORDS = ("new",)


@dataclass
class Issue:
    """One cleaning problem: ``count`` rows with ``reason``; ``effect`` says what happened to them; ``rows`` the
    first row numbers; ``excluded``: the rows (or their amounts) were left out of some figure."""

    reason: str
    label: str
    count: int
    effect: str
    rows: list[int] = field(default_factory=list)
    excluded: bool = True
    file: str = "export"


@dataclass
class Table:
    """A file as read: ``frame`` (text columns for a CSV), its kind and path."""

    path: Path
    frame: pd.DataFrame
    kind: str            # "CSV" or "Parquet"
    delimiter: str = ","

    @property
    def header(self) -> list[str]:
        return [str(c) for c in self.frame.columns]


def read_table(path: str | Path, what: str = "export") -> Table:
    """A CSV (any of , ; tab as the delimiter, UTF-8 or Windows-1252) or Parquet file (by its suffix .parquet or
    .pq). Raises ScenarioError naming the file when it does not exist or cannot be parsed."""
    path = Path(path).expanduser()
    where = str(path)
    if not path.exists():
        raise ScenarioError(where, None, f"{what} file not found")
    if path.is_dir():
        raise ScenarioError(where, None, f"is a folder, not an {what} file; give a CSV or Parquet file")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise ScenarioError(where, None, f"cannot be read as Parquet ({type(exc).__name__}: "
                                             f"{' '.join(str(exc).split())[:200]}); give a CSV or Parquet file") from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return Table(path, frame.reset_index(drop=True), "Parquet")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(where, None, f"cannot read file ({exc.strerror or exc})") from None
    if b"\x00" in raw[:65536]:
        raise ScenarioError(where, None, f"is not a text (CSV) file; give the {what} as CSV, or as Parquet with the "
                                         f"suffix .parquet")
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise ScenarioError(where, None, f"is empty: an {what} needs a header row naming its columns")
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_values=[""],
                            skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ScenarioError(where, None, f"cannot be parsed as CSV ({' '.join(str(exc).split())[:200]})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(path, frame, "CSV", delimiter)


# ----------------------------------------------------------------------------------------------- parsing values


def _text(s: pd.Series) -> pd.Series:
    """Values as stripped strings, missing (None/NaN/empty) as NA."""
    out = s.astype("string").str.strip()
    return out.mask(out == "")


def parse_dates(s: pd.Series, fmt: str | None = None, dayfirst: bool = False) -> tuple[pd.Series, np.ndarray]:
    """(days as datetime64 without time of day or time zone, NaT where missing or unreadable; a mask of the values
    given but unreadable). Text: ISO 8601 first (any offset, converted to UTC), then the common forms (month first
    unless ``dayfirst``), or ``fmt`` only if given; digits only, 12-13 of them, are epoch milliseconds (HubSpot's
    API); a Parquet date or timestamp column is taken as it is."""
    if pd.api.types.is_datetime64_any_dtype(s):
        d = s.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        d = pd.to_datetime(d).dt.normalize()
        return d.astype("datetime64[ns]"), np.zeros(len(s), bool)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        x = pd.to_numeric(s, errors="coerce")
        unit_ms = x.abs() > 1e11
        d = pd.to_datetime(x.where(unit_ms), unit="ms", errors="coerce").fillna(
            pd.to_datetime(x.where(~unit_ms), unit="s", errors="coerce"))
        bad = x.notna().to_numpy() & d.isna().to_numpy()
        return d.dt.normalize().astype("datetime64[ns]"), bad
    t = _text(s)
    given = t.notna().to_numpy()
    if fmt is not None:
        d = pd.to_datetime(t, format=fmt, errors="coerce")
        d = d.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(d.dt, "tz", None) is not None else d
    else:
        d = pd.to_datetime(t, format="ISO8601", errors="coerce", utc=True)
        epoch = t.str.fullmatch(r"\d{12,13}").fillna(False).to_numpy(bool)
        if epoch.any():
            d[epoch] = pd.to_datetime(pd.to_numeric(t[epoch]), unit="ms", utc=True)
        rest = given & d.isna().to_numpy()
        if rest.any():  # not ISO 8601: the common forms, one by one
            d[rest] = pd.to_datetime(t[rest], format="mixed", dayfirst=dayfirst, errors="coerce", utc=True)
        d = d.dt.tz_localize(None)
    d = d.dt.normalize().astype("datetime64[ns]")
    bad = given & d.isna().to_numpy()
    return d, bad


_CURRENCY = re.compile(r"^[A-Za-z]{0,3}[$€£¥₹₩₽¢]|[$€£¥₹₩₽¢]$|^[A-Z]{3}(?=[\s\d.,(-])|(?<=[\d.,)])[A-Z]{3}$")


def parse_amounts(s: pd.Series) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(values, masks): plain numbers as they are; text with a currency symbol or ISO code ($, €, £, USD, EUR, ...),
    thousands separators (1,200 / 1.200.000 / 1 200 / 1'200) and a decimal point or comma (the last of '.' and ','
    when both appear; a lone ',' is a thousands separator only before groups of three digits) read as the number;
    parentheses mean negative. Masks: ``text`` (read from text), ``failed`` (given but not a number), ``negative``,
    ``missing``. Failed and negative values are NaN."""
    n = len(s)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = pd.to_numeric(s, errors="coerce").to_numpy(float)
        text = failed = np.zeros(n, bool)
    else:
        t = _text(s)
        plain = pd.to_numeric(t, errors="coerce")
        v = plain.to_numpy(float).copy()
        todo = t.notna().to_numpy() & np.isnan(v)
        c = t[todo]
        neg_paren = c.str.fullmatch(r"\(.*\)").fillna(False)
        c = c.str.replace(r"^\((.*)\)$", r"\1", regex=True)
        c = c.str.replace(r"[\s\u00a0\u202f'’]+", "", regex=True)     # spaces and apostrophes group thousands
        c = c.str.replace(_CURRENCY, "", regex=True)
        c = c.str.replace(r"^([+-]?)[$€£¥₹₩₽¢]", r"\1", regex=True)   # -$1,200
        dot, comma = c.str.rfind("."), c.str.rfind(",")
        both = (dot >= 0) & (comma >= 0)
        euro = both & (comma > dot)                                    # 1.200,50
        us = both & (dot > comma)                                      # 1,200.50
        only_comma = (comma >= 0) & (dot < 0)
        grouped_comma = only_comma & c.str.fullmatch(r"[+-]?\d{1,3}(,\d{3})+").fillna(False)
        only_dot = (dot >= 0) & (comma < 0)
        grouped_dot = only_dot & c.str.fullmatch(r"[+-]?\d{1,3}(\.\d{3}){2,}").fillna(False)
        out = c.copy()
        out[euro] = c[euro].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        out[us | grouped_comma] = c[us | grouped_comma].str.replace(",", "", regex=False)
        out[only_comma & ~grouped_comma] = c[only_comma & ~grouped_comma].str.replace(",", ".", regex=False)
        out[grouped_dot] = c[grouped_dot].str.replace(".", "", regex=False)
        parsed = pd.to_numeric(out, errors="coerce").to_numpy(float)
        parsed = np.where(neg_paren.to_numpy(bool), -parsed, parsed)
        v[todo] = parsed
        text = np.zeros(n, bool)
        text[np.flatnonzero(todo)[~np.isnan(parsed)]] = True
        failed = np.zeros(n, bool)
        failed[np.flatnonzero(todo)[np.isnan(parsed)]] = True
    missing = np.isnan(v) & ~failed
    negative = ~np.isnan(v) & (v < 0)
    v = np.where(negative, np.nan, v)
    return v, {"text": text & ~negative, "failed": failed, "negative": negative, "missing": missing}


_TRUE = {"true", "t", "1", "yes", "y", "won", "closed", "1.0"}
_FALSE = {"false", "f", "0", "no", "n", "0.0", "open"}


def parse_bools(s: pd.Series) -> np.ndarray:
    """1.0 / 0.0 for true / false ("true", "1", "yes", ...), NaN where missing or neither."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_numpy()
    t = _text(s).str.lower()
    out = np.full(len(s), np.nan)
    out[t.isin(_TRUE).fillna(False).to_numpy(bool)] = 1.0
    out[t.isin(_FALSE).fillna(False).to_numpy(bool)] = 0.0
    return out


def size_segment(employees: np.ndarray, bands: tuple[int, int]) -> np.ndarray:
    """Segment names by head count: smb below ``bands[0]``, mid below ``bands[1]``, enterprise from it; None where
    the head count is missing or negative."""
    mid, ent = bands
    out = np.full(len(employees), None, dtype=object)
    ok = ~np.isnan(employees) & (employees >= 0)
    out[ok & (employees < mid)] = "smb"
    out[ok & (employees >= mid) & (employees < ent)] = "mid"
    out[ok & (employees >= ent)] = "enterprise"
    return out


def _employees(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return pd.to_numeric(s, errors="coerce").to_numpy(float)
    t = _text(s).str.replace(r"[\s,'’]", "", regex=True)
    return pd.to_numeric(t, errors="coerce").to_numpy(float)


def _classify(s: pd.Series, rule) -> np.ndarray:
    """``rule(normalised value)`` for each value (None where missing), computed once per distinct value."""
    t = _text(s)
    uniq = {v: rule(norm(v)) for v in t.dropna().unique()}
    return np.array(t.map(uniq).astype(object).where(t.notna(), None).to_numpy(object), dtype=object)


def _labels(s: pd.Series, vocab: dict[str, set[str]]) -> np.ndarray:
    """Each value's class in ``vocab`` (class -> normalised labels), None if in none."""
    return _classify(s, lambda k: next((c for c, labels in vocab.items() if k in labels), None))


# ----------------------------------------------------------------------------------------------- mapping columns


def _show(cols: list[str], k: int = 15) -> str:
    return ", ".join(cols[:k]) + (f", ... ({len(cols)} columns)" if len(cols) > k else "")


def resolve_columns(where: str, header: list[str], wanted: dict[str, list[str]], explicit: set[str],
                    prefix: str = "columns.", map_file: str = "") -> dict[str, str]:
    """field -> the column that holds it: the first candidate in the header (exact, then ignoring case). A column a
    user's map names (``explicit``) must be in the header."""
    lower = {}
    for c in header:
        lower.setdefault(c.lower(), c)
    out = {}
    for fld, candidates in wanted.items():
        hit = next((c for c in candidates if c in header), None) or next(
            (lower[c.lower()] for c in candidates if c.lower() in lower), None)
        if hit is None and fld in explicit:
            raise ScenarioError(where, f"{prefix}{fld}", f"column {candidates[0]!r} (named in "
                                                         f"{Path(map_file).name or 'the column map'}) is not in the "
                                                         f"header; the file has: {_show(header)}")
        if hit is not None:
            out[fld] = hit
    return out


def _missing(where: str, fld: str, candidates: list[str], header: list[str], what: str = "columns") -> ScenarioError:
    looked = f" (looked for: {', '.join(candidates)})" if candidates else ""
    return ScenarioError(where, fld, f"required, but no column maps to it{looked}; the file has: {_show(header)}; "
                                     f"name its column in a column map: [{what}] {fld} = \"...\" (--columns MAP.toml)")


# ----------------------------------------------------------------------------------------------- the export


@dataclass
class Opportunities:
    """The cleaned export: ``frame`` has one row per kept opportunity with columns row, opportunity_id,
    account_id, account_known, created, closed, outcome (won / lost / no_decision / open), stage, amount,
    lead_source, type (new / expansion / None), segment (smb / mid / enterprise / None), owner, pipeline."""

    table: Table
    cmap: ColumnMap
    fmt: str
    mapping: dict[str, str]
    frame: pd.DataFrame
    issues: list[Issue]
    rows_read: int
    stage_table: pd.DataFrame          # stage, outcome, count
    loss_reasons: pd.DataFrame         # loss_reason, count, no_decision
    no_decision_identified: bool
    segment_rule: str
    type_rule: str
    notes: list[str] = field(default_factory=list)


def _issue(reason: str, label: str, mask: np.ndarray, rows: np.ndarray, effect: str, excluded: bool = True,
           file: str = "export") -> Issue | None:
    n = int(mask.sum())
    if not n:
        return None
    return Issue(reason, label, n, effect, [int(r) for r in rows[mask][:FIRST_ROWS]], excluded, file)


def read_opportunities(table: Table, cmap: ColumnMap, fmt: str, accounts: "Accounts | None" = None) -> Opportunities:
    """Map, classify and clean an export (see the module docstring)."""
    where = str(table.path)
    header = table.header
    mapping = resolve_columns(where, header, cmap.columns, cmap.explicit, map_file=cmap.source)
    for fld in REQUIRED:
        if fld not in mapping:
            raise _missing(where, fld, cmap.columns.get(fld, []), header)
    if "stage" not in mapping and "is_won" not in mapping:
        raise _missing(where, "stage", cmap.columns.get("stage", []), header)
    df = table.frame
    n = len(df)
    rows = np.arange(1, n + 1)
    col = lambda f: df[mapping[f]] if f in mapping else pd.Series([pd.NA] * n, dtype="string")  # noqa: E731
    issues: list[Issue] = []
    notes: list[str] = []

    def add(issue):
        if issue is not None:
            issues.append(issue)

    # ids
    oid = _text(col("opportunity_id"))
    no_id = oid.isna().to_numpy()
    dup = oid.duplicated(keep="first").to_numpy() & ~no_id
    drop = no_id | dup
    add(_issue("missing_id", "no opportunity id", no_id, rows, "row dropped"))
    add(_issue("duplicate_id", "duplicate opportunity id (the first row kept)", dup, rows, "row dropped"))

    # outcome
    stage = _text(col("stage"))
    vocab = {k: {norm(v) for v in (cmap.stages.get(k) or [])} for k in ("won", "lost", "no_decision")}
    stage_class = _labels(stage, vocab)
    is_won = parse_bools(col("is_won")) if "is_won" in mapping else np.full(n, np.nan)
    is_closed = parse_bools(col("is_closed")) if "is_closed" in mapping else np.full(n, np.nan)
    reason = _text(col("loss_reason"))
    nd_reasons = {norm(v) for v in (cmap.loss_reasons or [])}
    nd_by_reason = (_classify(reason, lambda k: k in nd_reasons) == True) if "loss_reason" in mapping \
        else np.zeros(n, bool)  # noqa: E712
    outcome = np.full(n, "open", dtype=object)
    sc = stage_class
    outcome[sc == "won"] = "won"
    outcome[sc == "lost"] = "lost"
    outcome[sc == "no_decision"] = "no_decision"
    # Salesforce's flags, where given, decide closed / won (the stage only says which kind of loss)
    flag_won = is_won == 1.0
    flag_closed = (is_closed == 1.0) | flag_won
    flag_open = (is_closed == 0.0) & ~flag_won
    has_flags = ~np.isnan(is_closed) | flag_won
    outcome[has_flags & flag_won] = "won"
    lost_flag = has_flags & flag_closed & ~flag_won
    outcome[lost_flag] = np.where(sc[lost_flag] == "no_decision", "no_decision", "lost")
    outcome[has_flags & flag_open] = "open"
    if "is_closed" not in mapping and "is_won" in mapping:  # only IsWon: a closed loss needs the stage
        outcome[(is_won == 0.0) & (sc == "won")] = "lost"
    outcome[(outcome == "lost") & nd_by_reason] = "no_decision"
    closed_deal = outcome != "open"

    # dates
    created, bad_c = parse_dates(col("created"), cmap.date_format, bool(cmap.dayfirst))
    closed, bad_x = parse_dates(col("closed"), cmap.date_format, bool(cmap.dayfirst))
    no_created = created.isna().to_numpy() & ~drop
    add(_issue("bad_created_date", "created date missing or unreadable", no_created, rows, "row dropped"))
    drop |= no_created
    no_closed = closed_deal & closed.isna().to_numpy() & ~drop
    add(_issue("bad_close_date", "closed deal with its close date missing or unreadable", no_closed, rows,
               "row dropped"))
    drop |= no_closed
    before = closed_deal & ~drop & (closed < created).to_numpy()
    add(_issue("close_before_create", "close date before the created date", before, rows, "row dropped"))
    drop |= before
    is_open = ~closed_deal & ~drop
    add(_issue("open", "open deal (not closed)", is_open, rows, "kept out of the closed-deal figures (win rates, "
                                                                "cycles, ACV); counted in opportunities per month"))

    # amounts
    if "amount" in mapping:
        amount, m = parse_amounts(col("amount"))
        add(_issue("amount_from_text", "amount read from text (currency symbol or separators stripped)",
                   m["text"] & ~drop, rows, "kept: the number was read", excluded=False))
        add(_issue("bad_amount", "amount not a number", m["failed"] & ~drop, rows, "amount ignored (left out of "
                                                                                   "ACV)"))
        add(_issue("negative_amount", "negative amount", m["negative"] & ~drop, rows, "amount ignored (left out of "
                                                                                     "ACV)"))
        won_no_amount = m["missing"] & ~drop & (outcome == "won")
        add(_issue("won_without_amount", "won deal without an amount", won_no_amount, rows, "left out of ACV"))
    else:
        amount = np.full(n, np.nan)
        notes.append("No amount column: no ACV figures.")

    # deal type
    typ = _text(col("type"))
    if cmap.types:
        tvocab = {k: {norm(v) for v in vals} for k, vals in cmap.types.items()}
        type_class = _labels(typ, tvocab)
        type_rule = "by the map's [types]: " + "; ".join(f"{k} = {', '.join(v)}" for k, v in cmap.types.items())
    else:
        type_class = _classify(typ, lambda k: "expansion" if any(w in k for w in EXPANSION_WORDS)
                               else "new" if any(w in k for w in NEW_WORDS) else None)
        type_rule = (f"by keyword: a type containing {', '.join(EXPANSION_WORDS)} is expansion, else one containing "
                     f"'new' is new business (e.g. 'New Customer', 'newbusiness'; 'Existing Customer - Upgrade', "
                     f"'existingbusiness', 'Renewal')")
    if "type" in mapping:
        unknown_type = typ.notna().to_numpy() & pd.isna(type_class) & ~drop
        add(_issue("type_not_recognised", "deal type neither new business nor expansion", unknown_type, rows,
                   "left out of ACV and the expansion share", excluded=True))
    else:
        type_rule = "no type column: every won deal counts as new business in ACV"

    # accounts and segments
    acc = _text(col("account_id"))
    account_known = acc.notna().to_numpy()
    if "account_id" not in mapping:
        notes.append("No account id column: every opportunity is its own account in the bootstrap.")
    elif (~account_known & ~drop).any():
        add(_issue("no_account_id", "no account id", ~account_known & ~drop, rows,
                   "kept; its own account in the bootstrap", excluded=False))
    acc_filled = np.array(acc.astype(object).to_numpy(), dtype=object, copy=True)
    acc_filled[~account_known] = np.array([f"(row {r})" for r in rows[~account_known]], dtype=object)
    seg_vocab = {g: set(SEGMENT_LABELS[g]) | {norm(v) for v in ((cmap.segments or {}).get(g) or [])}
                 for g in SEGMENTS}
    segment = np.full(n, None, dtype=object)
    rule = []
    if "segment" in mapping:
        labels = _text(col("segment"))
        segment = _labels(labels, seg_vocab)
        unknown = labels.notna().to_numpy() & pd.isna(segment) & ~drop
        shown = ", ".join(sorted({str(v) for v in labels[unknown]})[:5])
        add(_issue("segment_not_recognised", f"segment label not recognised ({shown})", unknown, rows,
                   "no segment: counted in the overall figures only", excluded=True))
        rule.append(f"the export's column {mapping['segment']!r} (labels: "
                    + "; ".join(f"{g} = {', '.join(sorted(seg_vocab[g]))}" for g in SEGMENTS) + ")")
    emp = _employees(col("employees")) if "employees" in mapping else np.full(n, np.nan)
    emp_from = f"the export's column {mapping['employees']!r}" if "employees" in mapping else None
    if accounts is not None:
        joined = pd.Series(acc_filled).map(accounts.employees).to_numpy(float)
        emp = np.where(np.isnan(emp), joined, emp)
        seg_acc = pd.Series(acc_filled).map(accounts.segment).to_numpy(object)
        segment = np.where(pd.isna(segment), seg_acc, segment)
        emp_from = (emp_from + " and " if emp_from else "") + f"the accounts file {accounts.path.name}"
        matched = pd.Series(acc_filled[account_known & ~drop]).isin(accounts.ids)
        notes.append(f"Accounts file {accounts.path.name}: {int(matched.sum())} of {int(matched.size)} opportunities' "
                     f"accounts found in it.")
        if accounts.segment_column:
            rule.append(f"the accounts file's column {accounts.segment_column!r}")
    by_size = size_segment(emp, cmap.size or (100, 1000))
    if emp_from is not None:
        mid, ent = cmap.size or (100, 1000)
        rule.append(f"employees ({emp_from}): smb < {mid:,} <= mid < {ent:,} <= enterprise")
    segment = np.where(pd.isna(segment), by_size, segment)
    if not rule:
        notes.append("No segment or employees column (and no --accounts): no figures by segment.")
    segment_rule = "; else ".join(rule) if rule else "none (no segment or employees column, no --accounts)"

    keep = ~drop
    frame = pd.DataFrame({
        "row": rows[keep],
        "opportunity_id": oid.to_numpy(object)[keep],
        "account_id": acc_filled[keep],
        "account_known": account_known[keep],
        "created": created.to_numpy()[keep],
        "closed": closed.to_numpy()[keep],
        "outcome": outcome[keep],
        "stage": stage.to_numpy(object)[keep],
        "amount": amount[keep],
        "lead_source": _text(col("lead_source")).to_numpy(object)[keep],
        "type": type_class[keep],
        "segment": segment[keep],
        "owner": _text(col("owner")).to_numpy(object)[keep],
        "pipeline": _text(col("pipeline")).to_numpy(object)[keep],
    })
    frame["closed"] = frame["closed"].where(frame["outcome"] != "open")
    # what each stage value became (on the rows kept)
    st = pd.DataFrame({"stage": stage.fillna("(blank)").to_numpy(object)[keep], "outcome": outcome[keep]})
    stage_table = st.value_counts().rename("count").reset_index().sort_values(["outcome", "count"],
                                                                            ascending=[True, False])
    if "loss_reason" in mapping:
        lr = pd.DataFrame({"loss_reason": reason.to_numpy(object)[keep], "outcome": outcome[keep]})
        lr = lr[lr["outcome"].isin(["lost", "no_decision"]) & lr["loss_reason"].notna()]
        loss = lr.value_counts().rename("count").reset_index()
    else:
        loss = pd.DataFrame(columns=["loss_reason", "outcome", "count"])
    identified = bool((frame["outcome"] == "no_decision").any())
    return Opportunities(table, cmap, fmt, mapping, frame.reset_index(drop=True), issues, n, stage_table, loss,
                         identified, segment_rule, type_rule, notes)


# ----------------------------------------------------------------------------------------------- accounts, leads


@dataclass
class Accounts:
    """An --accounts file: head count and segment label by account id."""

    path: Path
    mapping: dict[str, str]
    employees: dict[str, float]
    segment: dict[str, Any]
    ids: set[str]
    rows_read: int
    issues: list[Issue]
    segment_column: str | None = None


def read_accounts(path: str | Path, cmap: ColumnMap) -> Accounts:
    """Read an --accounts file (Salesforce Account: Id, NumberOfEmployees; HubSpot companies: hs_object_id,
    numberofemployees; or the map's [accounts] columns). Needs an id and a head count or a segment column."""
    table = read_table(path, "accounts")
    where = str(table.path)
    header = table.header
    mapping = resolve_columns(where, header, cmap.accounts, cmap.explicit_accounts,
                              prefix="accounts.", map_file=cmap.source)
    if "account_id" not in mapping:
        raise _missing(where, "account_id", cmap.accounts.get("account_id", []), header, "accounts")
    if "employees" not in mapping and "segment" not in mapping:
        raise _missing(where, "employees", cmap.accounts.get("employees", []) + cmap.accounts.get("segment", []),
                       header, "accounts")
    df = table.frame
    n = len(df)
    rows = np.arange(1, n + 1)
    ids = _text(df[mapping["account_id"]])
    dup = ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
    keep = ids.notna().to_numpy() & ~dup
    issues = [i for i in (_issue("accounts_duplicate_id", "duplicate account id in the accounts file (the first "
                                                           "kept)", dup, rows, "row dropped", file="accounts"),
                          _issue("accounts_missing_id", "no account id in the accounts file", ids.isna().to_numpy(),
                                 rows, "row dropped", file="accounts")) if i is not None]
    key = ids.to_numpy(object)[keep]
    emp = _employees(df[mapping["employees"]])[keep] if "employees" in mapping else np.full(keep.sum(), np.nan)
    seg = np.full(keep.sum(), None, dtype=object)
    if "segment" in mapping:
        vocab = {g: set(SEGMENT_LABELS[g]) | {norm(v) for v in ((cmap.segments or {}).get(g) or [])}
                 for g in SEGMENTS}
        seg = _labels(df[mapping["segment"]], vocab)[keep]
    return Accounts(table.path, mapping, dict(zip(key, emp)), dict(zip(key, seg)), set(key), n, issues,
                    mapping.get("segment"))


@dataclass
class Leads:
    """A --leads file: one created date per lead record."""

    path: Path
    mapping: dict[str, str]
    created: pd.Series
    lead_source: np.ndarray
    rows_read: int
    issues: list[Issue]


def read_leads(path: str | Path, cmap: ColumnMap) -> Leads:
    """Read a --leads file (Salesforce Lead: Id, CreatedDate, LeadSource; HubSpot contacts: createdate,
    hs_analytics_source; or the map's [leads] columns). Needs a created date."""
    table = read_table(path, "leads")
    where = str(table.path)
    header = table.header
    mapping = resolve_columns(where, header, cmap.leads, cmap.explicit_leads, prefix="leads.",
                              map_file=cmap.source)
    if "created" not in mapping:
        raise _missing(where, "created", cmap.leads.get("created", []), header, "leads")
    df = table.frame
    n = len(df)
    rows = np.arange(1, n + 1)
    drop = np.zeros(n, bool)
    issues = []
    if "lead_id" in mapping:
        ids = _text(df[mapping["lead_id"]])
        dup = ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
        i = _issue("leads_duplicate_id", "duplicate lead id (the first kept)", dup, rows, "row dropped", file="leads")
        if i:
            issues.append(i)
        drop |= dup
    created, _ = parse_dates(df[mapping["created"]], cmap.date_format, bool(cmap.dayfirst))
    bad = created.isna().to_numpy() & ~drop
    i = _issue("leads_bad_created_date", "lead created date missing or unreadable", bad, rows, "row dropped",
               file="leads")
    if i:
        issues.append(i)
    drop |= bad
    src = _text(df[mapping["lead_source"]]).to_numpy(object) if "lead_source" in mapping else np.full(n, None)
    return Leads(table.path, mapping, created[~drop].reset_index(drop=True), src[~drop], n, issues)
