"""From an opportunities export to a scenario file: :func:`scenario_from_export` (``python run.py crm scenario``).

What the export holds is set from it, everything else is the preset's (``--preset``, default ``default``), and the
result says which is which, key by key (:attr:`CrmScenario.settings`, the file's header, the report):

* ``market.n_accounts``: the distinct account ids of the ``--accounts`` file, or ``--accounts-total N``
  (``n_accounts``); an opportunities export alone holds only the accounts that had a deal, not the market, so
  without either the preset's value stays, and is said to;
* ``market.segments.<segment>.share``: the share of accounts in each segment: of the ``--accounts`` file (its
  segment column, else its head count cut at the size bands), else of the accounts with an opportunity created or
  closed in the window (each account's segment as ``crm targets`` reads it: the export's segment column or head
  count, the same size bands); from ``MIN_ACCOUNTS`` accounts with a known segment;
* ``market.segments.<segment>.deal_size`` (the schema's "$ annual contract value (median)" of a lognormal) and
  ``deal_size_sigma`` (its log-scale sd): the median amount of the won new-business deals closed in the window and
  the sd of their log amounts, from ``MIN_WON`` won deals (as ``acv_<segment>`` in ``crm targets``; fewer, and the
  preset's values stay). The canonical schema has no contract-term field, so amounts are taken as annual, and the
  result says that it assumed so.

Each value from the data has its source (file, column, window, n) and, where it is an estimate, an sd and a 95%
interval from a bootstrap over accounts (the accounts with a deal in the window, or those of the accounts file,
drawn with replacement, ``resamples`` times with a fixed seed, as in ``sim.crm.figures``). A value outside its
parameter's allowed range is clipped to it, and the setting says so.

The scenario file is written by :func:`sim.config.template.scenario_toml` (every parameter with its unit, range and
source; those from the export marked ``FROM CRM EXPORT``), with a header naming the export and listing what came
from the data and what from the preset, and checked by loading it before it is renamed into place; a report
(``<stem>.report.md``) goes beside it. Both are written atomically (:func:`sim.crm.targets.write_atomically`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from sim.analysis.formatting import format_number, format_value
from sim.config.parameters import SEGMENTS, P, lookup
from sim.config.scenario import Scenario, ScenarioError, check_value, load_scenario
from sim.config.template import scenario_toml, toml_value
from sim.crm.figures import BLOCK, Window, make_window
from sim.crm.read import Accounts, Issue, Opportunities, read_accounts, read_opportunities, read_table, size_segment
from sim.crm.schema import SIZE_BANDS, ColumnMap, check_size_bands, load_column_map, resolve_map
from sim.crm.targets import FORMAT_LABELS, MIN_WON, output_paths, report_head, write_atomically
from sim.io import package_version, safe_name

__all__ = ["CrmScenario", "Setting", "scenario_from_export", "MIN_ACCOUNTS", "NOT_IN_EXPORT", "not_in_export_paths"]

WHERE = "crm scenario"
#: the segment mix is set from this many accounts with a known segment
MIN_ACCOUNTS = 20
#: parameters an opportunities export cannot hold, and why: they keep the preset's value (``{g}``: each segment)
NOT_IN_EXPORT: dict[str, str] = {
    "market.initial_customers": "the installed base: the export does not say which accounts were customers before it",
    "market.segments.{g}.group_min": "buying-group size: an opportunities export holds no contacts per deal",
    "market.segments.{g}.group_max": "buying-group size: an opportunities export holds no contacts per deal",
    "market.segments.{g}.annual_churn": "churn needs renewals and cancellations, not new-business deals",
    "market.segments.{g}.research_speed": "the cycle length comes from it through the model: fit it with crm targets "
                                          "and calibrate",
    "need.annual_trigger_rate": "how often accounts start buying: fit it with crm targets --leads and calibrate",
    "competitors.choice_sensitivity": "the win rate comes from it through the model: fit it with crm targets and "
                                      "calibrate",
    "sales.n_reps": "the team: owners in a CRM include people who left and managers; set it by hand",
    "sales.cost_per_rep_day": "the team's cost is not in a CRM",
}
#: how a value of each kind of key prints (sim.analysis.formatting)
_FORMATS = {"share": "share", "deal_size": "money"}
_AMOUNT_ASSUMPTION = ("amounts are read as annual contract values: the export has no contract-term field, so nothing "
                      "was annualised (convert multi-year totals, one-off fees and other currencies first)")


@dataclass
class Setting:
    """One scenario key the command considered: the ``value`` the file holds (``preset``: the preset's),
    ``origin`` ("data", "flag", "preset" or "command"), ``basis`` (what it is, in a few words), ``source`` (file,
    column, window, n), ``n`` (the accounts or deals it counts), ``estimate`` (the figure before rounding and
    clipping), ``sd``, ``lo`` and ``hi`` (bootstrap sd and 95% interval), ``note`` (clipped; why the preset's)."""

    path: str
    value: Any
    preset: Any
    origin: str
    basis: str
    source: str = ""
    n: int | None = None
    estimate: float | None = None
    sd: float | None = None
    lo: float | None = None
    hi: float | None = None
    note: str = ""

    @property
    def from_data(self) -> bool:
        return self.origin in ("data", "flag")

    def shown(self, v: Any = None) -> str:
        """A value of this key as the tables print it."""
        v = self.value if v is None else v
        if isinstance(v, str) or v is None:
            return str(v)
        kind = _FORMATS.get(self.path.rsplit(".", 1)[-1])
        if kind is None and isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return format_value(kind or "number", v)


@dataclass
class CrmScenario:
    """What :func:`scenario_from_export` made: the ``scenario`` (the preset with the export's values set),
    ``settings`` (one :class:`Setting` per key considered: from the data, or kept from the preset and why),
    ``warnings``; :meth:`write` writes the scenario file and its report."""

    export: Path
    format: str
    opportunities: Opportunities
    window: Window
    accounts: Accounts | None
    preset_ref: str
    preset_file: Path
    preset: Scenario
    scenario: Scenario
    settings: list[Setting]
    warnings: list[str]
    issues: list[Issue]
    resamples: int
    seed: int
    command: str = ""

    # ------------------------------------------------------------------------------- what was found
    @property
    def table(self) -> pd.DataFrame:
        """The settings as a tidy table: path, value, preset, origin, basis, source, n, estimate, sd, lo, hi, note."""
        return pd.DataFrame([vars(s) for s in self.settings])

    @property
    def from_data(self) -> list[Setting]:
        """The keys set from the export (or a flag)."""
        return [s for s in self.settings if s.from_data]

    @property
    def kept(self) -> list[Setting]:
        """The keys that keep the preset's value, each with why."""
        return [s for s in self.settings if s.origin == "preset"]

    @property
    def not_derived(self) -> list[Setting]:
        """The keys the export could have set but does not hold (too few deals, no accounts file, ...): the
        preset's, each with why (the keys no export holds, ``NOT_IN_EXPORT``, are not among them)."""
        never = not_in_export_paths()
        return [s for s in self.kept if s.path not in never]

    def setting(self, path: str) -> Setting:
        """One key's setting (KeyError if the command did not consider it)."""
        for s in self.settings:
            if s.path == path:
                return s
        raise KeyError(f"no setting {path!r}; settings: {', '.join(s.path for s in self.settings)}")

    # ------------------------------------------------------------------------------- the scenario file
    def _read_line(self) -> str:
        o = self.opportunities
        return (f"{self.export.name} ({FORMAT_LABELS.get(self.format, self.format)}), {o.rows_read:,} rows read, "
                f"{len(o.frame):,} kept; window {self.window.describe()} ({self.window.days} days)")

    def scenario_text(self, path: str | Path = "scenario.toml") -> str:
        """The scenario file's text (``path``: where it will live, for the command it names)."""
        path = Path(path)
        lines = [
            f"# A scenario from a CRM export, written by `python run.py crm scenario` (buyer-journey-sim "
            f"{package_version()}) on {datetime.now():%Y-%m-%d}. Run it with:",
            "#",
            f"#   python run.py run {path.as_posix()}",
            "#",
            f"# Export: {self._read_line()}.",
        ]
        if self.accounts is not None:
            lines.append(f"# Accounts: {self.accounts.path.name}, {self.accounts.rows_read:,} rows, "
                         f"{len(self.accounts.ids):,} distinct account ids.")
        lines += [f"# Preset: {self.preset_ref} ({_shown(self.preset_file)}): every value not listed under 'From the "
                  f"export' is the preset's.", "#",
                  f"# From the export (sd and 95% interval: a bootstrap over accounts, {self.resamples:,} resamples, "
                  f"seed {self.seed}):"]
        for s in self.from_data:
            unc = f"; sd {s.shown(s.sd)}, 95% {s.shown(s.lo)} to {s.shown(s.hi)}" if s.sd is not None else ""
            lines.append(f"#   {s.path} = {toml_value(s.value)}  ({s.basis}{unc}{'; ' + s.note if s.note else ''})")
        if not self.from_data:
            lines.append("#   nothing: the export holds none of these keys (see below)")
        lines += ["#", "# From the preset (the export cannot hold them, or holds too few deals):"]
        for s in self.kept:
            lines.append(f"#   {s.path} = {toml_value(s.value)}  ({s.note})")
        lines.append("#   channel budgets: each strategy's, as in the preset ("
                     + "; ".join(f"{name} ${total:,.0f} a year" for name, total in self.budgets().items()) + ")")
        lines += ["#   every other parameter: the preset's",
                  "#", f"# Assumed: {_AMOUNT_ASSUMPTION}.",
                  "# Next: fit the behaviour (cycles, win rates) to the same export with",
                  f"#   python run.py crm targets {self.export.as_posix()} --scenario {path.as_posix()}"]
        for w in self.warnings:
            lines.append(f"# WARNING: {w}")
        notes = {s.path: (f"FROM CRM EXPORT {self.export.name}: " if s.origin == "data" else "FROM A FLAG: ")
                 + f"{s.basis}; " for s in self.from_data}
        return scenario_toml(self.scenario, lines, notes)

    def budgets(self) -> dict[str, float]:
        """Each strategy's total channel budget ($ per year), as the preset has it."""
        out = {}
        for name in self.scenario.strategies:
            ch = self.scenario.config_dict(name)["channels"]
            out[name] = float(sum(c.get("budget", 0.0) for c in ch.values()))
        return out

    def report_markdown(self, path: str | Path = "scenario.toml") -> str:
        """The report (Markdown): what was read, every key considered with its source and uncertainty, cleaning."""
        path = Path(path)
        o = self.opportunities
        out = report_head(f"Scenario from a CRM export: {self.export.name}", self.command,
                          f"Scenario file: `{path.name}`, from the preset `{self.preset_ref}` "
                          f"(`{_shown(self.preset_file)}`)", self.warnings)
        out += ["## What was read", "", f"- Export: `{self.export}`: {self._read_line()}.",
                f"- Segment: {o.segment_rule}.", f"- Deal type: {o.type_rule}."]
        if self.accounts is not None:
            a = self.accounts
            out.append(f"- Accounts: `{a.path}` ({', '.join(f'{k}: {v}' for k, v in a.mapping.items())}): "
                       f"{a.rows_read:,} rows, {len(a.ids):,} distinct account ids.")
        out += [f"- Assumed: {_AMOUNT_ASSUMPTION}.", "", "## Set from the export", "",
                f"sd and 95% interval: a bootstrap over accounts ({self.resamples:,} resamples, seed {self.seed}).", "",
                "| key | value | preset | sd | 95% interval | n | source |", "|---|---|---|---|---|---|---|"]
        for s in self.from_data:
            unc = (s.shown(s.sd), f"{s.shown(s.lo)} to {s.shown(s.hi)}") if s.sd is not None else ("-", "-")
            out.append(f"| `{s.path}` | {s.shown()} | {s.shown(s.preset)} | {unc[0]} | {unc[1]} | "
                       f"{'-' if s.n is None else f'{s.n:,}'} | {s.source}{'; ' + s.note if s.note else ''} |")
        out += ["", "## Kept from the preset", "", "| key | value | why |", "|---|---|---|"]
        for s in self.kept:
            out.append(f"| `{s.path}` | {s.shown()} | {s.note} |")
        out.append("| channels.*.budget | " + "; ".join(f"{k} ${v:,.0f}" for k, v in self.budgets().items())
                   + " | budgets are decisions, not in a CRM: each strategy's, as in the preset |")
        out += ["", "Every other parameter is the preset's.", "", "## Cleaning", "",
                "| file | reason | rows | effect |", "|---|---|---|---|"]
        for i in self.issues or []:
            out.append(f"| {i.file} | {i.label} | {i.count:,} | {i.effect} |")
        if not self.issues:
            out.append("| | none | 0 | |")
        out += ["", f"Run: `python run.py run {path.as_posix()}`. Fit the behaviour to the same export: "
                    f"`python run.py crm targets {self.export.as_posix()} --scenario {path.as_posix()}`.", ""]
        return "\n".join(out)

    # ------------------------------------------------------------------------------- writing
    def write(self, path: str | Path, check: Callable[[Path], object] | None = load_scenario,
              report: str | Path | None = None) -> tuple[Path, Path]:
        """Write the scenario file at ``path`` and the report beside it (``<stem>.report.md``), both atomically,
        after ``check(temporary_scenario_path)`` (default: load it with ``sim.load_scenario``); if anything
        raises, nothing is left behind."""
        path, report_path = output_paths(WHERE, path, report)
        write_atomically([(path, lambda: self.scenario_text(path)), (report_path, lambda: self.report_markdown(path))],
                         check)
        return path, report_path


def not_in_export_paths() -> dict[str, str]:
    """:data:`NOT_IN_EXPORT` with ``{g}`` expanded to each segment: path -> why."""
    return {pattern.format(g=g): why for pattern, why in NOT_IN_EXPORT.items()
            for g in (SEGMENTS if "{g}" in pattern else ("",))}


def _shown(path: Path) -> str:
    """A file as a header names it: relative to the current folder where it is below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


# ----------------------------------------------------------------------------------------------- the estimates


def _bootstrap(n_units: int, resamples: int, seed: int, width: int):
    """Blocks (start, weights: resamples x units, how often each unit was drawn) of a bootstrap that draws
    ``n_units`` units with replacement (``width``: the widest array a block is multiplied with)."""
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, BLOCK // max(width, n_units, 1)))
    for start in range(0, resamples, block):
        b = min(block, resamples - start)
        draws = rng.integers(0, n_units, size=(b, n_units))
        yield start, np.bincount((draws + (np.arange(b) * n_units)[:, None]).ravel(),
                                 minlength=b * n_units).reshape(b, n_units)


def _shares(seg: np.ndarray, resamples: int, seed: int) -> dict[str, tuple[float, np.ndarray, int]]:
    """segment -> (share of the units with a known segment, bootstrap replicates, units in it)."""
    known = pd.notna(seg)
    onehot = np.stack([(seg == g) & known for g in SEGMENTS], axis=1).astype(float)
    reps = np.full((resamples, len(SEGMENTS)), np.nan)
    for start, w in _bootstrap(len(seg), resamples, seed, len(seg)):
        with np.errstate(invalid="ignore", divide="ignore"):
            reps[start:start + len(w)] = (w @ onehot) / (w @ known.astype(float))[:, None]
    total = known.sum()
    return {g: (float(onehot[:, j].sum() / total), reps[:, j], int(onehot[:, j].sum())) for j, g in enumerate(SEGMENTS)}


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The median of ``values`` in each row of ``weights`` (whole numbers: how often each value was drawn), as
    ``np.median`` of the values repeated that often: the mean of the lower and the upper middle value; NaN for a
    row that draws none."""
    out = np.full(len(weights), np.nan)
    some = weights.sum(axis=1) > 0
    if some.any():
        w = weights[some]
        v = np.broadcast_to(values, w.shape)
        lower = np.quantile(v, 0.5, axis=1, weights=w, method="inverted_cdf")
        upper = -np.quantile(-v, 0.5, axis=1, weights=w, method="inverted_cdf")
        out[some] = (lower + upper) / 2.0
    return out


def _spread(reps: np.ndarray) -> tuple[float, float, float]:
    """(sd, 2.5% and 97.5% quantiles) of the finite replicates; NaN where fewer than half are finite."""
    ok = reps[np.isfinite(reps)]
    if ok.size < max(2, reps.size // 2):
        return math.nan, math.nan, math.nan
    return float(np.std(ok, ddof=1)), float(np.quantile(ok, 0.025)), float(np.quantile(ok, 0.975))


def _amounts(codes: np.ndarray, n_units: int, amount: np.ndarray, resamples: int, seed: int
             ) -> tuple[float, np.ndarray, float, np.ndarray, int]:
    """(median, its replicates, sd of log amounts, its replicates, positive amounts) of deals of accounts
    ``codes`` (0 .. n_units - 1), every deal weighted by how often its account was drawn."""
    pos = amount > 0
    logs = np.where(pos, np.log(np.where(pos, amount, 1.0)), 0.0)
    s0, s1, s2 = (np.bincount(codes, weights=x, minlength=n_units) for x in (pos.astype(float), logs, logs ** 2))
    med = np.full(resamples, np.nan)
    sig = np.full(resamples, np.nan)
    for start, w in _bootstrap(n_units, resamples, seed, len(amount)):
        b = len(w)
        med[start:start + b] = _weighted_median(amount, w[:, codes])
        n, m1, m2 = w @ s0, w @ s1, w @ s2
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (m2 - m1 ** 2 / n) / (n - 1)
        sig[start:start + b] = np.where(n > 1, np.sqrt(np.clip(var, 0, None)), np.nan)
    sigma = float(np.std(logs[pos], ddof=1)) if pos.sum() > 1 else float("nan")
    return float(np.median(amount)), med, sigma, sig, int(pos.sum())


def _inside(path: str, value: float) -> tuple[Any, str]:
    """(the value inside the parameter's allowed range, of its kind; a note if it had to be clipped)."""
    spec = lookup(path)
    assert isinstance(spec, P), path
    v = float(value)
    if spec.lo is not None:
        v = max(v, spec.lo)
    if spec.hi is not None:
        v = min(v, spec.hi)
    v = int(round(v)) if spec.kind == "int" else v
    note = "" if v == value else (f"clipped from {format_number(value)} to {format_number(v)}: the parameter "
                                  f"allows {spec.allowed()}")
    return v, note


def _rounded_shares(shares: dict[str, float]) -> dict[str, float]:
    """Shares to 4 decimals that still add up to one (the largest takes the rounding)."""
    out = {g: round(v, 4) for g, v in shares.items()}
    top = max(out, key=out.get)
    out[top] = round(1.0 - sum(v for g, v in out.items() if g != top), 4)
    return out


def _preset(ref: str | Path) -> tuple[Scenario, Path, str]:
    """(the preset scenario, its file, how to name it): a preset's name or a scenario file's path."""
    try:
        scen = load_scenario(ref)
    except ScenarioError as exc:
        raise ScenarioError(WHERE, "--preset", str(exc)) from None
    return scen, Path(scen.path).resolve(), str(ref)


def _account_segments(frame: pd.DataFrame, codes: np.ndarray, n_units: int) -> tuple[np.ndarray, int]:
    """Each account's segment (its deals' most common known one; None if none is known), and how many accounts
    have deals in more than one segment."""
    known = frame["segment"].notna().to_numpy()
    counts = pd.crosstab(codes[known], frame["segment"].to_numpy(object)[known])
    seg = np.full(n_units, None, dtype=object)
    if len(counts):
        seg[counts.index.to_numpy()] = counts.idxmax(axis=1).to_numpy(object)
    return seg, int(((counts > 0).sum(axis=1) > 1).sum()) if len(counts) else 0


@dataclass
class _Deals:
    """The deals of the window: ``frame`` (the rows created or closed in it), ``closed_in`` (closed in it), each
    row's account as a code 0 .. ``n_units`` - 1 (the units of the bootstrap), ``label`` (the file and window)."""

    frame: pd.DataFrame
    closed_in: np.ndarray
    opps: Opportunities
    window: Window
    label: str
    codes: np.ndarray = field(init=False)
    accounts: pd.Index = field(init=False)

    def __post_init__(self):
        self.codes, self.accounts = pd.factorize(self.frame["account_id"])

    @property
    def n_units(self) -> int:
        return len(self.accounts)


@dataclass
class _Settings:
    """The settings being made (``cfg``: the preset's values), and the warnings."""

    cfg: dict
    resamples: int
    seed: int
    settings: list[Setting] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def preset(self, path: str) -> Any:
        return lookup(path, self.cfg)

    def get(self, path: str) -> Setting:
        return next(s for s in self.settings if s.path == path)

    def add(self, path: str, estimate: float, origin: str, basis: str, source: str = "", n: int | None = None,
            reps: np.ndarray | None = None, note: str = "", shown: float | None = None) -> None:
        """A key from the data (or a flag): ``shown`` (default ``estimate``) is what is written, inside the
        parameter's range."""
        value, clipped = _inside(path, estimate if shown is None else shown)
        sd, lo, hi = _spread(reps) if reps is not None else (None, None, None)
        self.settings.append(Setting(path, value, self.preset(path), origin, basis, source, n, float(estimate), sd,
                                     lo, hi, "; ".join(x for x in (note, clipped) if x)))

    def keep(self, path: str, why: str) -> None:
        self.settings.append(Setting(path, self.preset(path), self.preset(path), "preset", "the preset's", note=why))


def _market_size(b: _Settings, deals: _Deals, acc: Accounts | None, n_accounts: int | None) -> None:
    """market.n_accounts: the flag, else the accounts file's distinct ids, else the preset's."""
    n_units = deals.n_units
    if n_accounts is not None:
        b.add("market.n_accounts", n_accounts, "flag", "given by --accounts-total", "--accounts-total (n_accounts)")
    elif acc is not None:
        n = len(acc.ids)
        if n == 0:
            raise ScenarioError(str(acc.path), acc.mapping["account_id"], "no account id in the accounts file: the "
                                                                        "market size needs at least one")
        b.add("market.n_accounts", n, "data", f"{n:,} distinct account ids in {acc.path.name}",
              f"accounts file {acc.path.name}, column {acc.mapping['account_id']!r}: {n:,} distinct ids of "
              f"{acc.rows_read:,} rows (an exact count: no sd)", n)
    else:
        b.keep("market.n_accounts", f"not in an opportunities export: it holds the {n_units:,} accounts that had a "
                                    f"deal in the window, not the market; give --accounts FILE (every account) or "
                                    f"--accounts-total N")
    size = b.get("market.n_accounts").value
    if size < n_units:
        b.warnings.append(f"market.n_accounts = {size:,} is below the {n_units:,} accounts with a deal in the window: "
                          f"the market must hold at least those; give --accounts-total")
    if acc is not None:
        seen = pd.Series(deals.accounts).isin(acc.ids)
        if not seen.all():
            b.warnings.append(f"{int((~seen).sum()):,} of the {n_units:,} accounts with a deal in the window are not "
                              f"in the accounts file {acc.path.name}: its count and mix leave them out")


def _segment_mix(b: _Settings, deals: _Deals, acc: Accounts | None, bands: tuple[int, int]) -> None:
    """market.segments.<segment>.share: of the accounts file's accounts, else of the accounts with a deal."""
    if acc is not None:
        ids = sorted(acc.ids)
        label_seg = np.array([acc.segment.get(i) for i in ids], dtype=object)
        emp = np.array([acc.employees.get(i, np.nan) for i in ids], dtype=float)
        unit_seg = np.where(pd.isna(label_seg), size_segment(emp, bands), label_seg)
        rule = [f"column {acc.segment_column!r}"] if acc.segment_column else []
        if "employees" in acc.mapping:
            rule.append(f"employees (column {acc.mapping['employees']!r}) cut at smb < {bands[0]:,} <= mid < "
                        f"{bands[1]:,} <= enterprise")
        mix_from = f"accounts file {acc.path.name} (segment by {', else '.join(rule)})"
        seed, what, note = [b.seed, 1], "accounts in the file", ""
        none = f"no account in {acc.path.name} has a segment or head count that can be read"
    else:
        unit_seg, mixed = _account_segments(deals.frame, deals.codes, deals.n_units)
        several = f"; {mixed} accounts with deals in several segments take their most common" if mixed else ""
        mix_from = (f"{deals.label}: the accounts with an opportunity created or closed in it (segment by "
                    f"{deals.opps.segment_rule}{several})")
        seed, what, note = [b.seed, 0], "accounts with a deal", "the mix of the accounts with a deal, not of the market"
        none = "no segment: the export has no segment or employees column (and no --accounts)"
    n_known = int(pd.notna(unit_seg).sum())
    if n_known < MIN_ACCOUNTS:
        for g in SEGMENTS:
            b.keep(f"market.segments.{g}.share", f"only {n_known} {what} have a known segment (at least "
                                                 f"{MIN_ACCOUNTS} needed)" if n_known else none)
        return
    est = _shares(unit_seg, b.resamples, seed)
    rounded = _rounded_shares({g: v for g, (v, _, _) in est.items()})
    for g in SEGMENTS:
        v, reps, k = est[g]
        b.add(f"market.segments.{g}.share", v, "data", f"{k:,} of {n_known:,} {what} are {g}",
              f"{mix_from}: {k:,} of {n_known:,} {what} with a known segment are {g}", n_known, reps, note,
              shown=rounded[g])
    if acc is None:
        b.warnings.append(f"The segment mix is that of the {n_known:,} accounts with a deal in the window: the "
                          f"market's only if every segment raises deals at the same rate per account; give "
                          f"--accounts FILE (every account) for the market's own mix")
    if len(unit_seg) > n_known:
        b.warnings.append(f"{len(unit_seg) - n_known:,} {what} have no known segment: left out of the mix")


def _deal_sizes(b: _Settings, deals: _Deals) -> None:
    """market.segments.<segment>.deal_size and deal_size_sigma: the median and the sd of the log amounts of the
    won new-business deals closed in the window, from MIN_WON deals."""
    f, opps = deals.frame, deals.opps
    has_type = "type" in opps.mapping
    amount = f["amount"].to_numpy(float)
    won_new = deals.closed_in & (f["outcome"] == "won").to_numpy() & np.isfinite(amount)
    if has_type:
        won_new &= (f["type"] == "new").to_numpy()
    kind = "won new-business" if has_type else "won (no type column: all as new business)"
    seg = f["segment"].to_numpy(object)
    for g in SEGMENTS:
        d = won_new & (seg == g)
        n = int(d.sum())
        paths = (f"market.segments.{g}.deal_size", f"market.segments.{g}.deal_size_sigma")
        why = ("no amount column in the export" if "amount" not in opps.mapping else
               f"no {kind} {g} deal closed in the window {deals.window.describe()}" if n == 0 else
               f"only {n} {kind} {g} deals closed in the window (at least {MIN_WON} needed, as for acv_{g})"
               if n < MIN_WON else "")
        med, med_reps, sigma, sig_reps, n_pos = (_amounts(deals.codes[d], deals.n_units, amount[d], b.resamples,
                                                          [b.seed, 0]) if not why else (0.0, None, 0.0, None, 0))
        if not why and med <= 0:
            why = f"the median amount of the {n} {kind} {g} deals is 0"
        if why:
            for p in paths:
                b.keep(p, why)
            continue
        src = (f"{deals.label}: {n} {kind} {g} deals closed in the window, column {opps.mapping['amount']!r} (taken "
               f"as annual)")
        b.add(paths[0], med, "data", f"median amount of {n} {kind} {g} deals (mean "
              f"{format_value('money', float(amount[d].mean()))}, acv_{g} in crm targets)", src, n, med_reps,
              shown=round(med, 2))
        if math.isfinite(sigma):
            b.add(paths[1], sigma, "data", f"sd of the log amounts of {n_pos} {kind} {g} deals", src, n_pos, sig_reps,
                  shown=round(sigma, 4))
        else:
            b.keep(paths[1], f"fewer than 2 positive amounts among the {n} {kind} {g} deals")


def scenario_from_export(export: str | Path, *, accounts: str | Path | None = None, format: str | None = None,
                         columns: str | Path | ColumnMap | None = None, since=None, until=None,
                         preset: str | Path = "default", size_bands: tuple[int, int] | None = None,
                         n_accounts: int | None = None, resamples: int = 1000, seed: int = 1,
                         command: str = "") -> CrmScenario:
    """A scenario from an opportunities export: the market size, the segment mix and the deal sizes (ACV) where
    the export (and ``accounts``) hold them, everything else from ``preset`` (a preset name or a scenario file),
    each key's origin, source and uncertainty in :attr:`CrmScenario.settings` (the module docstring says what
    is derived from what).

    ``accounts``: a file of the market's accounts (Salesforce Account, HubSpot companies, or the map's
    ``[accounts]``): the market size and the segment mix; ``format``: "salesforce", "hubspot" or None / "auto";
    ``columns``: a column map (``sim.crm.schema``); ``since`` / ``until``: the window whose deals count (default the
    whole export); ``size_bands``: the employees at which mid and enterprise begin (default 100 and 1,000);
    ``n_accounts``: the market size, when no accounts file holds it. Raises ``ScenarioError`` (one line naming the
    file or flag, the key and what is allowed) on input it cannot use; bad rows are counted, not fatal.

    >>> res = scenario_from_export("scenarios/examples/crm/opportunities_salesforce.csv")   # doctest: +SKIP
    >>> res.table[["path", "value", "origin", "sd", "source"]]                               # doctest: +SKIP
    >>> res.write("results/crm/scenario.toml")                                             # doctest: +SKIP
    """
    export = Path(export).expanduser()
    where = str(export)
    fmt_in = "auto" if format is None else format
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 10:
        raise ScenarioError(WHERE, "resamples", f"must be a whole number >= 10, got {resamples!r}")
    if n_accounts is not None:
        n_accounts = check_value(WHERE, "--accounts-total", lookup("market.n_accounts"), n_accounts)
    base, preset_file, preset_ref = _preset(preset)
    user = columns if isinstance(columns, ColumnMap) or columns is None else load_column_map(columns)
    table = read_table(export, "export")
    cmap, fmt = resolve_map(where, fmt_in, table.header, user)
    if size_bands is not None:
        cmap.size = check_size_bands(WHERE, "--size-bands", *size_bands)
    acc = read_accounts(accounts, cmap) if accounts is not None else None
    opps = read_opportunities(table, cmap, fmt, acc)
    window = make_window(where, opps, since, until)

    # the deals that count: closed in the window (ACV), or created or closed in it (the accounts seen)
    f = opps.frame
    closed_in = (f["outcome"] != "open").to_numpy() & window.contains(f["closed"])
    use = closed_in | window.contains(f["created"])
    deals = _Deals(f[use].reset_index(drop=True), closed_in[use], opps, window, f"{export.name}, window "
                                                                            f"{window.describe()}")
    b = _Settings(base.to_dict(), resamples, seed)
    _market_size(b, deals, acc, n_accounts)
    _segment_mix(b, deals, acc, cmap.size or SIZE_BANDS)
    _deal_sizes(b, deals)
    for p, why in not_in_export_paths().items():
        b.keep(p, why)
    if "owner" in opps.mapping:
        owners = deals.frame["owner"].nunique()
        b.get("sales.n_reps").note += f" (the export's deals in the window have {owners} owners)"

    # the scenario: the preset with the values from the data (and a name and description of its own)
    values = {s.path: s.value for s in b.settings if s.from_data}
    from_data = ", ".join(dict.fromkeys(re.sub(r"segments\.[a-z]+\.", "segments.*.", s.path) for s in b.settings
                                        if s.from_data)) or "nothing"
    name = f"crm_{safe_name(export.stem)}"
    desc = (f"From the CRM export {export.name} (window {window.describe()}): {from_data}. Everything else as in the "
            f"preset {preset_ref}.")
    b.settings += [Setting("scenario.name", name, b.preset("scenario.name"), "command", "named after the export"),
                   Setting("scenario.description", desc, b.preset("scenario.description"), "command",
                           "what came from the export")]
    try:
        scen = base.with_overrides({**values, "scenario.name": name, "scenario.description": desc})
    except ScenarioError as exc:  # e.g. a preset whose strategies need something the new values break
        raise ScenarioError(WHERE, exc.key, f"the export's values do not fit the preset {preset_ref}: {exc.message}") \
            from None
    issues = list(opps.issues) + (acc.issues if acc else [])
    return CrmScenario(export=export, format=fmt, opportunities=opps, window=window, accounts=acc,
                       preset_ref=preset_ref, preset_file=preset_file, preset=base, scenario=scen, settings=b.settings,
                       warnings=b.warnings, issues=issues, resamples=resamples, seed=seed, command=command)
