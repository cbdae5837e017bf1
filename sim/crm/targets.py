"""From an opportunities export to a calibration targets file and a data report: :func:`targets_from_export`.

The targets file is a normal one (``python run.py calibrate TARGETS.toml`` runs it as it is): the scenario and
strategy it describes, ``method = "abc"`` with a small budget, one ``[targets.<metric>]`` table per figure the
engine has a metric for (value, sd from the bootstrap, source naming the file and the window), and ``[params]``:
the free parameters those targets inform, with the priors of ``scenarios/calibration/default_b2b.toml``, each
commented with why. Figures the engine has no metric for (win rate by lead source, opportunities per month,
expansion share, the mix by source) and figures on too few deals are in the report only.

Both files are written atomically (a temporary file in the same folder, renamed over the target), after an
optional ``check`` of the targets file (the command line loads it with ``sim.calibration.load_targets``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sim.analysis.formatting import format_value
from sim.config.parameters import SEGMENTS, P, lookup
from sim.config.presets import preset, preset_names
from sim.config.scenario import Scenario, ScenarioError, load_scenario
from sim.crm.figures import Window, compute_figures, make_window
from sim.crm.read import Accounts, Issue, Leads, Opportunities, read_accounts, read_leads, read_opportunities, read_table
from sim.crm.schema import FIELDS, ColumnMap, check_size_bands, load_column_map, resolve_map
from sim.io import make_parents, package_version, remove_created, safe_name

__all__ = ["CrmTargets", "targets_from_export", "output_paths", "report_head", "write_atomically", "MIN_CLOSED", "MIN_WON",
           "PRIORS", "ABC_SETTINGS", "UNIT_FORMATS"]

WHERE = "crm targets"
#: a rate becomes a target from this many closed deals; a median cycle or an ACV from this many won deals
MIN_CLOSED = 20
MIN_WON = 10
FORMAT_LABELS = {"salesforce": "Salesforce Opportunity export", "hubspot": "HubSpot deals export",
                 "custom": "custom layout"}

#: suggested free parameters: path -> (low, high, scale, why); ranges from scenarios/calibration/default_b2b.toml
PRIORS: dict[str, tuple[float, float, str, str]] = {
    "competitors.choice_sensitivity": (1.0, 30.0, "linear", "logit sensitivity of the vendor choice to trust "
                                       "(mechanisms/decision.py): sets the win rate"),
    "need.fade_rate": (0.001, 0.03, "log", "daily hazard that an in-market account drops its need "
                       "(mechanisms/need.py): opportunities that fade end in no decision"),
    "decision.stance_mean": (-1.0, 3.0, "linear", "buying-group members' mean position on changing the status quo "
                             "(mechanisms/decision.py): a split group stalls into no decision at the decision point"),
    "market.segments.smb.research_speed": (0.004, 0.04, "log", "decision progress per research day of smb buyers "
                                           "(sim/engine/state.py): the smb cycle length"),
    "market.segments.mid.research_speed": (0.002, 0.02, "log", "decision progress per research day of mid buyers: "
                                           "the mid cycle length (a range between default_b2b's smb and enterprise "
                                           "priors; default_b2b keeps mid fixed)"),
    "market.segments.enterprise.research_speed": (0.001, 0.012, "log", "decision progress per research day of "
                                                  "enterprise buyers: the enterprise cycle length"),
    "sales.meeting_progress_gain": (0.005, 0.08, "log", "decision progress a sales meeting adds "
                                    "(mechanisms/sales.py): once buyers talk to sales, meetings set the pace of the "
                                    "cycle, so the research speeds alone cannot lengthen it"),
    "sales.qualify_fit": (0.0, 0.8, "linear", "account fit below which a rep does not qualify a conversation as an "
                          "opportunity (mechanisms/sales.py): how many leads become opportunities"),
    "need.annual_trigger_rate": (0.08, 0.5, "log", "buying episodes per account per year (mechanisms/need.py): how "
                                 "many leads a market of this size raises"),
}
#: the suggested search: small, for a first look (default_b2b.toml's refit used 100 particles, 2,000 runs)
ABC_SETTINGS = {"population": 60, "generations": 4, "max_runs": 600, "quantile": 0.5, "predictive_draws": 40}


#: the registry format (``sim.analysis.formatting``) a figure's unit prints in: a share as the fraction the targets
#: file holds ("0.231"), an amount in the one money style ("$42.5k"), days to a tenth; a volume as a plain number
UNIT_FORMATS = {"share": "share", "$": "money", "days": "days", "per month": "number"}


def _cell(v: float, unit: str) -> str:
    """A figure's value, sd or interval end in the report's table; missing or undefined: ``formatting.NA``."""
    return format_value(UNIT_FORMATS.get(unit, "number"), v)


def _toml_num(v: float) -> str:
    """A float in TOML, to 6 significant digits (integers as x.0 so the type stays a float)."""
    x = float(f"{float(v):.6g}")
    return repr(x) if math.isfinite(x) else "nan"


def _toml_str(s: str) -> str:
    return json.dumps(str(s), ensure_ascii=False)


def _resolve_scenario(ref: str | Path) -> tuple[Path, str]:
    """(the scenario file, how the targets file names it: a preset name or an absolute path)."""
    ref = str(ref)
    if ref.endswith(".toml"):
        p = Path(ref).expanduser().resolve()
        if not p.is_file():
            raise ScenarioError(WHERE, "--scenario", f"scenario file not found: {p}")
        return p, str(p)
    p = preset(ref)
    if not p.is_file():
        raise ScenarioError(WHERE, "--scenario", f"no preset scenario named {ref!r} (presets: "
                                                 f"{', '.join(preset_names())}; or give a path ending in .toml)")
    return p, ref


def _atomic_text(path: Path, text: str) -> Path:
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    tmp.write_text(text, encoding="utf-8")
    return tmp


@dataclass
class CrmTargets:
    """What :func:`targets_from_export` found: ``figures`` (a tidy table: metric, segment, value, sd, n, source,
    lo, hi, accounts, unit, basis, detail, target, why), ``exclusions`` (reason -> rows), the cleaning ``issues``,
    ``warnings``; :meth:`write` writes the targets file and its report."""

    export: Path
    format: str
    opportunities: Opportunities
    window: Window
    figures: pd.DataFrame
    issues: list[Issue]
    warnings: list[str]
    scenario: Scenario
    scenario_file: Path
    scenario_ref: str
    strategy: str
    resamples: int
    seed: int
    accounts: Accounts | None = None
    leads: Leads | None = None
    replicates: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    command: str = ""

    # ------------------------------------------------------------------------------- what was found
    @property
    def exclusions(self) -> dict[str, int]:
        """reason -> how many rows (or amounts) were left out of some figure, for that reason."""
        return {i.reason: i.count for i in self.issues if i.excluded}

    @property
    def targets(self) -> pd.DataFrame:
        """The figures written as targets."""
        return self.figures[self.figures["target"]].reset_index(drop=True)

    def figure(self, metric: str) -> pd.Series:
        """One figure's row (KeyError if the export gives no such figure)."""
        hit = self.figures[self.figures["metric"] == metric]
        if hit.empty:
            raise KeyError(f"no figure {metric!r}; figures: {', '.join(self.figures['metric'])}")
        return hit.iloc[0]

    def params(self) -> list[tuple[str, float, float, str, str]]:
        """The suggested free parameters (path, low, high, scale, why), chosen by which targets are present."""
        names = set(self.targets["metric"])
        chosen = []
        if any(m.startswith("opportunity_win_rate") for m in names):
            chosen.append("competitors.choice_sensitivity")
        if "no_decision_share" in names:
            chosen += ["need.fade_rate", "decision.stance_mean"]
        cycles = [g for g in SEGMENTS if f"median_cycle_days_{g}" in names]
        chosen += [f"market.segments.{g}.research_speed" for g in cycles]
        if cycles:
            chosen.append("sales.meeting_progress_gain")
        if "lead_to_opportunity_rate" in names:
            chosen.append("sales.qualify_fit")
        if "leads_per_month" in names:
            chosen.append("need.annual_trigger_rate")
        if not chosen:
            chosen.append("competitors.choice_sensitivity")
        out = []
        for path in chosen:
            low, high, scale, why = PRIORS[path]
            p = lookup(path)
            assert isinstance(p, P) and (p.lo is None or low >= p.lo) and (p.hi is None or high <= p.hi), path
            out.append((path, low, high, scale, why))
        return out

    # ------------------------------------------------------------------------------- the targets file
    def targets_toml(self, path: str | Path = "targets.toml") -> str:
        """The targets file's text (``path``: where it will live, for the scenario's relative path and the name)."""
        path = Path(path)
        o = self.opportunities
        scen = self.scenario_ref
        if scen.endswith(".toml"):
            try:
                scen = Path(os.path.relpath(self.scenario_file, path.resolve().parent)).as_posix()
            except ValueError:  # another drive
                scen = Path(self.scenario_file).as_posix()
        t = self.targets
        report = Path(_report_path(path)).name
        skipped = self.figures[~self.figures["target"]]
        lines = [
            f"# Calibration targets from a CRM export, written by `python run.py crm targets` (buyer-journey-sim "
            f"{package_version()}) on {datetime.now():%Y-%m-%d}.",
            "#",
            f"#   python run.py calibrate {path.as_posix()}",
            "#",
            f"# Export: {self.export.name} ({FORMAT_LABELS.get(self.format, self.format)}), {o.rows_read:,} rows read, "
            f"{len(o.frame):,} kept; window {self.window.describe()} ({self.window.days} days).",
            f"# Data report: {report} (what was read, the column mapping, exclusions with counts, every figure with "
            f"its n and interval).",
            "#",
            f"# Each sd is the figure's sampling error only: a bootstrap over the export's accounts ({self.resamples:,} "
            f"resamples, seed {self.seed}). It leaves out how far your CRM's definitions differ from the model's "
            f"(sim/engine/summary.py): where they differ (an opportunity created at first meeting or later, amounts "
            f"that are not annual), widen the sd.",
        ]
        if len(skipped):
            lines.append(f"# In the report only (no engine metric, or too few deals): "
                         f"{', '.join(skipped['metric'].head(12))}{', ...' if len(skipped) > 12 else ''}.")
        for w in self.warnings:
            lines.append(f"# WARNING: {w}")
        name = safe_name(path.stem)
        desc = (f"Fitted to the figures of the CRM export {self.export.name} "
                f"({FORMAT_LABELS.get(self.format, self.format)}), window {self.window.describe()}: "
                f"{', '.join(t['metric'])}.")
        lines += [
            "",
            f"name = {_toml_str(name)}",
            f"description = {_toml_str(desc)}",
            f"scenario = {_toml_str(scen)}" + (f"  # a preset (scenarios/{scen}.toml)" if not scen.endswith(".toml")
                                                 else "  # relative to this file"),
            f"strategy = {_toml_str(self.strategy)}  # the strategy whose funnel the figures describe: check it is "
            f"yours",
            'method = "abc"  # ABC-SMC: a posterior',
            "seed = 1",
            "replications = 2  # runs per particle; the metric is their mean",
        ]
        for r in t.itertuples():
            lines += ["", f"[targets.{r.metric}]", f"metric = {_toml_str(r.metric)}"]
            if isinstance(r.segment, str):
                lines.append(f"segment = {_toml_str(r.segment)}")
            lines += [f"value = {_toml_num(r.value)}", f"sd = {_toml_num(r.sd)}", f"source = {_toml_str(r.source)}"]
            if r.metric == "leads_per_month":
                lines.append('note = "An absolute volume: it fits only if the scenario\'s market (market.n_accounts) is '
                             'your addressable market; otherwise drop this table (lead_to_opportunity_rate is a '
                             'rate and needs no such match)."')
            if r.metric.startswith("acv_"):
                lines.append(f'note = "ACV is mostly an input: market.segments.{r.segment}.deal_size sets it (the '
                             f'median of a lognormal); no free parameter below moves it much. Amounts that are not '
                             f'annual (multi-year totals) are not ACV."')
        lines += ["", "[params]                          # free parameters: uniform priors (log-uniform with scale = "
                      "\"log\"), ranges from scenarios/calibration/default_b2b.toml"]
        for p, low, high, scale, why in self.params():
            lines.append(f"# {why}")
            spec = f"low = {_toml_num(low)}, high = {_toml_num(high)}" + (', scale = "log"' if scale == "log" else "")
            lines.append(f"{p} = {{ {spec} }}")
        lines += ["", "[abc]                             # a small first search (default_b2b.toml's refit: 100 "
                      "particles, 2,000 runs); raise population and max_runs for a decision"]
        for k, v in ABC_SETTINGS.items():
            lines.append(f"{k} = {v}")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------------------- the report
    def report_markdown(self, path: str | Path = "targets.toml") -> str:
        """The data report (Markdown): what was read, the mapping, exclusions with counts, every figure."""
        path = Path(path)
        o = self.opportunities
        w = self.window
        out = report_head(f"CRM export: {self.export.name}", self.command,
                          f"Targets file: `{path.name}` ({len(self.targets)} targets)", self.warnings)
        out += ["## What was read", "",
                "| file | kind | rows read | rows kept |", "|---|---|---|---|",
                f"| `{self.export}` | {FORMAT_LABELS.get(self.format, self.format)} ({o.table.kind}) | "
                f"{o.rows_read:,} | {len(o.frame):,} |"]
        if self.accounts is not None:
            a = self.accounts
            out.append(f"| `{a.path}` | accounts ({', '.join(f'{k}: {v}' for k, v in a.mapping.items())}) | "
                       f"{a.rows_read:,} | {len(a.ids):,} |")
        if self.leads is not None:
            le = self.leads
            out.append(f"| `{le.path}` | leads ({', '.join(f'{k}: {v}' for k, v in le.mapping.items())}) | "
                       f"{le.rows_read:,} | {len(le.created):,} |")
        out += ["", f"Window: **{w.describe()}** ({w.days} days, {w.months:.1f} months; "
                    f"{'given' if any(w.given) else 'the whole export'}{': --since ' if w.given[0] else ''}"
                    f"{w.since.date() if w.given[0] else ''}{' --until ' if w.given[1] else ''}"
                    f"{w.until.date() if w.given[1] else ''}). Closed-deal figures count the deals closed in the "
                    f"window, creation figures the opportunities created in it.", ""]
        # mapping
        out += ["## Mapping used", "", f"Map: {o.cmap.name}{' (' + o.cmap.source + ')' if o.cmap.source else ''}.", "",
                "| field | column | holds |", "|---|---|---|"]
        for fld, what in FIELDS.items():
            out.append(f"| {fld} | {('`' + o.mapping[fld] + '`') if fld in o.mapping else '-'} | {what} |")
        out += ["", "Outcome of each stage value (rows kept):", "", "| stage | outcome | rows |", "|---|---|---|"]
        for r in o.stage_table.itertuples():
            out.append(f"| {r.stage} | {r.outcome.replace('_', ' ')} | {r.count:,} |")
        rule = ("the export's IsClosed / IsWon flags, then the stage" if {"is_closed", "is_won"} & set(o.mapping)
                else "the stage")
        nd_stage = ", ".join(o.cmap.stages.get("no_decision") or []) or "none"
        nd_reasons = ", ".join(o.cmap.loss_reasons or []) or "none"
        out += ["", f"Won / lost / open by {rule}. No decision: a closed, not won deal whose stage is one of "
                    f"({nd_stage}) or whose loss reason is one of ({nd_reasons}), case and punctuation ignored.", ""]
        if not o.no_decision_identified:
            out += ["**No deal is identified as no decision** (no stage or loss reason says so), so "
                    "`no_decision_share` is not computed and every closed deal not won counts as lost. If your CRM "
                    "records no decision, name its stage or loss reason in a column map (`[stages] no_decision = "
                    "[...]`, `[loss_reasons] no_decision = [...]`, `[columns] loss_reason = \"...\"`).", ""]
        if len(o.loss_reasons):
            out += ["Loss reasons of closed deals not won:", "", "| loss reason | outcome | rows |", "|---|---|---|"]
            for r in o.loss_reasons.sort_values("count", ascending=False).head(20).itertuples():
                out.append(f"| {r.loss_reason} | {r.outcome.replace('_', ' ')} | {r.count:,} |")
            out.append("")
        out += [f"Segment: {o.segment_rule}.", "", f"Deal type: {o.type_rule}.", ""]
        seg_counts = o.frame["segment"].fillna("(none)").value_counts()
        out.append("Rows kept by segment: " + ", ".join(f"{k} {v:,}" for k, v in seg_counts.items()) + ".")
        out.append("")
        for note in o.notes:
            out += [note, ""]
        # cleaning
        out += ["## Cleaning", "", "Each row is counted under the first reason that applies; rows are numbered from 1, "
                "the first row below the header.", "",
                "| file | reason | rows | effect | first rows |", "|---|---|---|---|---|"]
        if not self.issues:
            out.append("| | none | 0 | | |")
        for i in self.issues:
            out.append(f"| {i.file} | {i.label} | {i.count:,} | {i.effect} | {', '.join(map(str, i.rows))} |")
        out.append("")
        # figures
        out += ["## Figures", "", f"sd and the 95% interval: a bootstrap over accounts ({self.resamples:,} resamples, "
                f"seed {self.seed}; volumes by the Poisson bootstrap). n: the deals (or leads) the figure counts. "
                f"A rate is a target from {MIN_CLOSED} closed deals, a cycle or an ACV from {MIN_WON} won deals.", "",
                "| metric | segment | value | sd | 95% interval | n | accounts | target | basis |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in self.figures.itertuples():
            seg = r.segment if isinstance(r.segment, str) else ""
            out.append(f"| `{r.metric}` | {seg} | {_cell(r.value, r.unit)} | {_cell(r.sd, r.unit)} | "
                       f"{_cell(r.lo, r.unit)} to {_cell(r.hi, r.unit)} | {r.n:,} | {f'{r.accounts:,}' if r.accounts else '-'} | "
                       f"{'yes' if r.target else 'no: ' + r.why} | {r.detail} |")
        out += ["", "## Targets and free parameters", "",
                f"Scenario `{self.scenario_ref}` (`{self.scenario_file}`), strategy `{self.strategy}`. Free parameters "
                f"(priors from `scenarios/calibration/default_b2b.toml`):", ""]
        for p, low, high, scale, why in self.params():
            out.append(f"- `{p}` {'log-uniform' if scale == 'log' else 'uniform'} {low:g} to {high:g}: {why}.")
        out += ["", f"Run: `python run.py calibrate {path.as_posix()} --workers 2`.", ""]
        return "\n".join(out)

    # ------------------------------------------------------------------------------- writing
    def write(self, path: str | Path, check: Callable[[Path], object] | None = None,
              report: str | Path | None = None) -> tuple[Path, Path]:
        """Write the targets file at ``path`` and the report beside it (``<stem>.report.md``), both atomically.
        ``check(temporary_targets_path)`` runs before anything is renamed into place (the command line passes
        ``sim.calibration.load_targets``); if it raises, nothing is left behind."""
        path, report_path = output_paths(WHERE, path, report)
        write_atomically([(path, lambda: self.targets_toml(path)), (report_path, lambda: self.report_markdown(path))],
                         check)
        return path, report_path

    def write_targets(self, path: str | Path, check: Callable[[Path], object] | None = None) -> Path:
        """The targets file alone (atomically)."""
        path = Path(path).expanduser()
        write_atomically([(path, lambda: self.targets_toml(path))], check)
        return path

    def write_report(self, path: str | Path, targets_path: str | Path | None = None) -> Path:
        """The data report alone (atomically)."""
        path = Path(path).expanduser()
        write_atomically([(path, lambda: self.report_markdown(targets_path or path.with_suffix(".toml")))])
        return path


def _report_path(targets: Path) -> Path:
    return targets.with_name(f"{targets.stem}.report.md")


def report_head(title: str, command: str | None, what: str, warnings: list[str]) -> list[str]:
    """The first lines of a CRM report (Markdown): the title, the command that wrote it, what it wrote (``what``)
    with the time and the package version, then each warning."""
    out = [f"# {title}", ""]
    if command:
        out += [f"`{command}`", ""]
    out += [f"{what}; written {datetime.now():%Y-%m-%d %H:%M} by buyer-journey-sim {package_version()}.", ""]
    for w in warnings:
        out += [f"**Warning.** {w}", ""]
    return out


def output_paths(where: str, path: str | Path, report: str | Path | None = None) -> tuple[Path, Path]:
    """(the targets file, its report: ``report`` or ``<stem>.report.md`` beside it), checked before anything is
    computed or written: the targets file a name ending in .toml, neither of them an existing folder. Raises
    ``ScenarioError(where, "--out", ...)``."""
    path = Path(path).expanduser()
    report_path = Path(report).expanduser() if report is not None else _report_path(path)
    if path.suffix != ".toml":
        raise ScenarioError(where, "--out", f"must be a file name ending in .toml, got {str(path)!r}")
    for p, what in ((path, "give a file name ending in .toml"), (report_path, "the report is written there: remove "
                                                                               "it or give another --out")):
        if p.is_dir():
            raise ScenarioError(where, "--out", f"{p} is a folder; {what}")
    return path, report_path


def write_atomically(files: list[tuple[Path, Callable[[], str]]],
                     check: Callable[[Path], object] | None = None) -> None:
    """Write each (path, text) atomically: every text to a temporary file in its path's folder (``check`` runs
    on the first one), then all renamed into place, the first one last. If anything fails or raises, nothing is
    left behind: no temporary file, no file renamed into place by this call, no folder it made."""
    created: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for final, text in files:
            created += make_parents(final.parent)
            staged.append((_atomic_text(final, text()), final))
            if check is not None and len(staged) == 1:
                check(staged[0][0])
        for tmp, final in reversed(staged):
            os.replace(tmp, final)
            placed.append(final)
    except BaseException:
        for p in [t for t, _ in staged] + placed:
            p.unlink(missing_ok=True)
        remove_created(created)
        raise


def _decide(fig: pd.DataFrame, scenario: Scenario, strategy: str) -> pd.DataFrame:
    """Which figures become targets, and why not the others."""
    from sim.engine.summary import SUMMARY_METRICS

    cfg = scenario.config_dict(strategy)
    present = {g for g in SEGMENTS if cfg["market"]["segments"][g]["share"] > 0}
    target, why = [], []
    for r in fig.itertuples():
        reason = ""
        counts_won = r.metric.startswith(("median_cycle_days", "acv"))
        if r.metric not in SUMMARY_METRICS:
            reason = "the engine has no such metric (report only)"
        elif r.metric == "median_cycle_days":
            reason = ("the engine's median_cycle_days also counts self-serve wins from their need trigger; the "
                      "per-segment cycles are the targets")
        elif isinstance(r.segment, str) and r.segment not in present:
            reason = f"the scenario has no {r.segment} accounts"
        elif r.metric != "leads_per_month" and r.n < (MIN_WON if counts_won else MIN_CLOSED) and \
                r.metric != "lead_to_opportunity_rate":
            reason = f"too few deals ({r.n} < {MIN_WON if counts_won else MIN_CLOSED} {'won' if counts_won else 'closed'})"
        elif not (math.isfinite(r.value) and math.isfinite(r.sd) and r.sd > 1e-9 * max(abs(r.value), 1.0)):
            reason = "the bootstrap sd is 0 or undefined (every resample gives the same value)"
        target.append(not reason)
        why.append(reason)
    out = fig.copy()
    out["target"] = target
    out["why"] = why
    return out


def targets_from_export(export: str | Path, *, accounts: str | Path | None = None, leads: str | Path | None = None,
                        format: str = "auto", columns: str | Path | ColumnMap | None = None, since=None, until=None,
                        scenario: str | Path = "default", size_bands: tuple[int, int] | None = None,
                        resamples: int = 1000, seed: int = 1, command: str = "") -> CrmTargets:
    """Read an opportunities export (CSV or Parquet; Salesforce Opportunity, HubSpot deals, or any layout with a
    column map), clean it, and compute its funnel figures with bootstrap sds.

    ``accounts``: a file with each account's head count or segment; ``leads``: a file of lead records (for
    leads_per_month and lead_to_opportunity_rate); ``format``: "salesforce", "hubspot" or "auto" (from the header;
    a custom layout needs ``columns``); ``columns``: a column map (TOML file, format: ``sim.crm.schema``);
    ``since`` / ``until``: the window (dates, both included; default the whole export); ``scenario``: the preset
    name or scenario file the targets are for; ``size_bands``: the employees at which mid and enterprise begin
    (default 100 and 1,000). Raises ``ScenarioError`` (one line naming the file, the column or key, and what is
    allowed) on input it cannot use; bad rows are counted, not fatal.

    >>> res = targets_from_export("scenarios/examples/crm/opportunities_salesforce.csv")   # doctest: +SKIP
    >>> res.figures[["metric", "segment", "value", "sd", "n"]]                               # doctest: +SKIP
    >>> res.write("results/crm/targets.toml")                                              # doctest: +SKIP
    """
    export = Path(export).expanduser()
    where = str(export)
    if format not in ("salesforce", "hubspot", "auto"):
        raise ScenarioError(where, "--format", f"unknown format {format!r} (allowed: salesforce, hubspot, auto)")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 10:
        raise ScenarioError(WHERE, "resamples", f"must be a whole number >= 10, got {resamples!r}")
    scen_file, scen_ref = _resolve_scenario(scenario)
    scen = load_scenario(scen_file)
    strategy = "blended" if "blended" in scen.strategies else scen.strategies[0]
    user = columns if isinstance(columns, ColumnMap) or columns is None else load_column_map(columns)
    table = read_table(export, "export")
    cmap, fmt = resolve_map(where, format, table.header, user)
    if size_bands is not None:
        cmap.size = check_size_bands(WHERE, "--size-bands", *size_bands)
    acc = read_accounts(accounts, cmap) if accounts is not None else None
    lds = read_leads(leads, cmap) if leads is not None else None
    opps = read_opportunities(table, cmap, fmt, acc)
    window = make_window(where, opps, since, until)
    label = f"CRM export {export.name} ({FORMAT_LABELS.get(fmt, fmt)})"
    res = compute_figures(opps, window, lds, resamples=resamples, seed=seed, label=label)
    figures = _decide(res.figures, scen, strategy)
    if not figures["target"].any():
        closed = int((opps.frame["outcome"] != "open").sum())
        raise ScenarioError(where, None, f"no figure can be a target: {closed} closed deal(s) in the window "
                                         f"{window.describe()}, and a rate needs at least {MIN_CLOSED}")
    issues = list(opps.issues) + (acc.issues if acc else []) + (lds.issues if lds else []) + res.issues
    return CrmTargets(export=export, format=fmt, opportunities=opps, window=window, figures=figures, issues=issues,
                      warnings=res.warnings, scenario=scen, scenario_file=scen_file, scenario_ref=scen_ref,
                      strategy=strategy, resamples=resamples, seed=seed, accounts=acc, leads=lds,
                      replicates=res.replicates, command=command)
