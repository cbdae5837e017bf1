"""``calibrate --apply``: write a calibration's estimates into a scenario file, in place.

    python run.py calibrate --apply results/calibration/default_b2b/20261101-120000 [--to scenarios/default.toml]

    from sim.calibration.apply import apply_calibration
    applied = apply_calibration("results/calibration/default_b2b/20261101-120000")

Each free parameter's estimate (the posterior median of an ABC-SMC calibration, the best point of an Optuna
point estimate) replaces the parameter's value in the scenario file, and the line's comment keeps its own text with
its ``Source:`` part replaced by where the value comes from::

    research_speed = 0.0178  # share of decision made per research day (mean); ... Source: calibrated with
        scenarios/calibration/default_b2b.toml (ABC-SMC posterior median; 90% interval 0.006491 to 0.03838; weakly
        identified: posterior sd / prior sd 0.80)

The default file is the calibration's starting scenario (``scenario = ...`` of the targets file: a path, or the
preset's file in the checkout); a preset installed with the package (in site-packages) is refused. Keys are found by
reading the file as TOML: table headers (``[market.segments.enterprise]``, quoted keys, ``[[arrays]]``), dotted keys
inside a table, multi-line strings and arrays. A parameter the file does not set is added at the end of its table;
with no table to put it in, the file is left alone. Every other byte of the file is kept. The new text is checked
before it replaces the file: it parses to the old document with only the estimates changed, and loads with the
scenario loader to exactly the estimates for every strategy. It is then written to a temporary file next to the
target and renamed over it (atomic). Any problem is one :class:`ScenarioError` and the file is untouched.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sysconfig
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis.formatting import format_number
from sim.config.parameters import P, lookup
from sim.config.scenario import ScenarioError, load_scenario

__all__ = ["Applied", "apply_calibration", "edit_toml", "read_estimates", "source_note"]

SOURCE = "Source:"


# --------------------------------------------------------------------------------------------------------
# The results folder
# --------------------------------------------------------------------------------------------------------


@dataclass
class Estimates:
    """What a results folder says: the estimate of each free parameter (in order) and its note."""

    folder: Path
    manifest: dict
    values: dict[str, float | int]
    notes: dict[str, str]
    method: str = "abc"
    targets_file: Path | None = None
    scenario_file: Path | None = None
    overrides: dict = field(default_factory=dict)


def read_estimates(folder: str | Path) -> Estimates:
    """The estimates of a calibration results folder (``manifest.json`` and ``parameters.csv``); one
    ScenarioError for a folder that is missing or is not one."""
    where = str(folder)
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise ScenarioError(where, None, "no such folder: give a calibration results folder, e.g. "
                                         "results/calibration/<name>/<timestamp>")
    if not folder.is_dir():
        raise ScenarioError(where, None, "is not a folder: give a calibration results folder (the folder that holds "
                                         "parameters.csv and manifest.json), not a file in it")
    man_path, par_path = folder / "manifest.json", folder / "parameters.csv"
    missing = [p.name for p in (man_path, par_path) if not p.is_file()]
    if missing:
        raise ScenarioError(where, None, f"not a calibration results folder (no {' or '.join(missing)}); give the "
                                         f"folder 'python run.py calibrate' wrote")
    try:
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
        table = pd.read_csv(par_path)
    except (OSError, ValueError) as exc:
        raise ScenarioError(where, None, f"not a calibration results folder: cannot read manifest.json or "
                                         f"parameters.csv ({type(exc).__name__}: {exc})") from None
    method = manifest.get("method", "abc") if isinstance(manifest, dict) else None
    key = "point_estimate" if method == "optuna" else "posterior_medians"
    if not isinstance(manifest, dict) or "calibration_name" not in manifest or not isinstance(manifest.get(key), dict) \
            or "parameter" not in table.columns:
        raise ScenarioError(where, None, f"not a calibration results folder (manifest.json has no calibration_name and "
                                         f"{key}, or parameters.csv no parameter column)")
    rows = {str(r["parameter"]): r for _, r in table.iterrows()}
    values: dict[str, float | int] = {}
    notes: dict[str, str] = {}
    targets = manifest.get("targets_file", "")
    shown = _shown_targets(manifest)
    for path, v in manifest[key].items():
        spec = lookup(path)
        if not isinstance(spec, P) or spec.kind not in ("int", "float"):
            raise ScenarioError(where, path, "is not a number parameter of this version's scenario schema")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise ScenarioError(where, path, f"the estimate in manifest.json is not a finite number: {v!r}")
        values[path] = round(v) if spec.kind == "int" else float(v)
        r = rows.get(path)
        if method == "optuna":
            best = manifest.get("best", {})
            label = "CMA-ES" if (manifest.get("settings") or {}).get("sampler") == "cmaes" else "Optuna TPE"
            head = (f"calibrated with {shown} ({label} point estimate: the best of {best.get('trials', '?')} trials, "
                    f"distance {format_number(best.get('distance', math.nan))}")
            if r is not None and all(c in r for c in ("q05", "q95", "sd_ratio")):
                notes[path] = (f"{head}; Laplace 90% interval {format_number(float(r['q05']))} to "
                               f"{format_number(float(r['q95']))}, posterior sd / prior sd {float(r['sd_ratio']):.2f}, "
                               f"pinned by {r.get('pinned_by') or 'no target'})")
            else:
                notes[path] = f"{head}; no posterior, so no interval)"
        elif r is not None and all(c in r for c in ("q05", "q95", "sd_ratio", "identified")):
            ident = "identified" if str(r["identified"]).strip().lower() == "true" else "weakly identified"
            notes[path] = (f"calibrated with {shown} (ABC-SMC posterior median; 90% interval {format_number(float(r['q05']))} "
                           f"to {format_number(float(r['q95']))}; {ident}: posterior sd / prior sd {float(r['sd_ratio']):.2f})")
        else:
            notes[path] = f"calibrated with {shown} (ABC-SMC posterior median)"
    tf = Path(targets).expanduser() if targets else None
    sf = Path(manifest["scenario_file"]) if manifest.get("scenario_file") else None
    if sf is None and manifest.get("scenario_ref"):  # folders written before scenario_file was recorded
        sf = _resolve_ref(str(manifest["scenario_ref"]), tf)
    return Estimates(folder=folder, manifest=manifest, values=values, notes=notes, method=method,
                     targets_file=tf, scenario_file=sf, overrides=dict(manifest.get("overrides") or {}))


def _shown_targets(manifest: dict) -> str:
    """The targets file as the comment names it: relative to its repository (the first folder up that holds
    pyproject.toml or .git), else as the manifest has it."""
    given = str(manifest.get("targets_path") or manifest.get("targets_file") or "the targets file")
    p = Path(given)
    if p.is_absolute():
        for parent in p.parents:
            if (parent / "pyproject.toml").is_file() or (parent / ".git").exists():
                return p.relative_to(parent).as_posix()
    return given


def _resolve_ref(ref: str, targets_file: Path | None) -> Path | None:
    from sim.config.presets import preset

    if ref.endswith(".toml"):
        p = Path(ref).expanduser()
        if not p.is_absolute() and targets_file is not None:
            p = targets_file.parent / p
        return p
    return preset(ref)


# --------------------------------------------------------------------------------------------------------
# Reading a TOML file line by line
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Line:
    index: int
    kind: str                       # "header", "keyval", "other" (comment, blank, continuation)
    table: tuple[str, ...] | None   # the table the line belongs to (None inside an [[array of tables]])
    key: tuple[str, ...] = ()       # a key-value line's dotted key
    value: tuple[int, int] = (0, 0)  # the value's span in the line (end excludes trailing blanks)
    comment: int = -1               # where the comment starts (-1: none)
    multiline: bool = False         # the value continues on the next lines


def _split_key(text: str, where: str, lineno: int) -> tuple[str, ...]:
    """A (dotted) TOML key: bare parts, "basic" and 'literal' quoted parts."""
    parts, i, n = [], 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            parts.append(json.loads(text[i:j + 1]))
            i = j + 1
        elif i < n and text[i] == "'":
            j = text.index("'", i + 1)
            parts.append(text[i + 1:j])
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in ". \t":
                j += 1
            if j == i:
                raise ScenarioError(where, None, f"line {lineno}: cannot read the key {text.strip()!r}")
            parts.append(text[i:j])
            i = j
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return tuple(parts)
        if text[i] != ".":
            raise ScenarioError(where, None, f"line {lineno}: cannot read the key {text.strip()!r}")
        i += 1


def _scan(lines: list[str], where: str) -> list[_Line]:
    """Classify every line: table headers, key-value lines (key, value span, comment) and the rest, following
    strings (multi-line ones too) and brackets across lines."""
    out: list[_Line] = []
    table: tuple[str, ...] | None = ()
    state = None  # None, or the open multi-line delimiter ('"""', "'''"), or "bracket" with depth > 0
    depth = 0
    for idx, raw in enumerate(lines):
        line = raw.rstrip("\r\n")
        if state is not None:  # a continuation of a multi-line value
            state, depth, _ = _value_end(line, 0, state, depth)
            out.append(_Line(idx, "other", table))
            continue
        s = line.lstrip(" \t")
        start = len(line) - len(s)
        if not s or s.startswith("#"):
            out.append(_Line(idx, "other", table))
            continue
        if s.startswith("["):
            array = s.startswith("[[")
            close = _header_close(s, array)
            if close < 0:
                raise ScenarioError(where, None, f"line {idx + 1}: cannot read the table header {s!r}")
            name = _split_key(s[2 if array else 1:close], where, idx + 1)
            table = None if array else name
            out.append(_Line(idx, "header", table))
            continue
        eq = _key_end(line, start)
        if eq < 0:
            raise ScenarioError(where, None, f"line {idx + 1}: expected key = value, got {s!r}")
        key = _split_key(line[start:eq], where, idx + 1)
        v0 = eq + 1
        while v0 < len(line) and line[v0] in " \t":
            v0 += 1
        state, depth, comment = _value_end(line, v0, None, 0)
        end = comment if comment >= 0 else len(line)
        while end > v0 and line[end - 1] in " \t":
            end -= 1
        out.append(_Line(idx, "keyval", table, key, (v0, end), comment, state is not None))
    return out


def _header_close(s: str, array: bool) -> int:
    i, n = (2 if array else 1), len(s)
    while i < n:
        c = s[i]
        if c in "\"'":
            j = s.find(c, i + 1)
            while c == '"' and j > 0 and s[j - 1] == "\\":
                j = s.find(c, j + 1)
            if j < 0:
                return -1
            i = j + 1
            continue
        if c == "]":
            return i if not array or s[i:i + 2] == "]]" else -1
        i += 1
    return -1


def _after_string(line: str, i: int) -> int:
    """The position just past the one-line string that opens at ``i`` (basic strings honour backslash escapes)."""
    c, n, j = line[i], len(line), i + 1
    while j < n and line[j] != c:
        j += 2 if (c == '"' and line[j] == "\\") else 1
    return j + 1


def _key_end(line: str, i: int) -> int:
    """The position of the ``=`` that ends the key starting at ``i`` (quotes respected), or -1."""
    n = len(line)
    while i < n:
        c = line[i]
        if c in "\"'":
            i = _after_string(line, i)
            continue
        if c == "=":
            return i
        if c == "#":
            return -1
        i += 1
    return -1


def _value_end(line: str, i: int, state: str | None, depth: int) -> tuple[str | None, int, int]:
    """Scan a value from ``i``: (the state it leaves open, bracket depth, where a comment starts or -1)."""
    n = len(line)
    while i < n:
        if state in ('"""', "'''"):
            j = line.find(state, i)
            while state == '"""' and j > 0 and _escaped(line, j):
                j = line.find(state, j + 1)
            if j < 0:
                return state, depth, -1
            i = j + 3
            while i < n and line[i] == state[0]:  # up to two quotes may end the string's content
                i += 1
            state = "bracket" if depth else None
            continue
        c = line[i]
        if line.startswith('"""', i) or line.startswith("'''", i):
            state = line[i:i + 3]
            i += 3
            continue
        if c in "\"'":
            i = _after_string(line, i)
            continue
        if c == "#":
            return ("bracket" if depth else None), depth, i
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return ("bracket" if depth > 0 else None), depth, -1


def _escaped(line: str, j: int) -> bool:
    k, count = j - 1, 0
    while k >= 0 and line[k] == "\\":
        count += 1
        k -= 1
    return count % 2 == 1


# --------------------------------------------------------------------------------------------------------
# Editing
# --------------------------------------------------------------------------------------------------------


def _toml_number(v: float, integer: bool) -> str:
    if integer:
        return str(int(v))
    return repr(float(v))  # the shortest text that reads back as exactly this float


def source_note(old_comment: str, note: str) -> str:
    """The comment of an edited line: its own text with any ``Source:`` part replaced by ``Source: <note>``."""
    text = old_comment.lstrip("#").strip()
    k = text.find(SOURCE)
    if k >= 0:
        text = text[:k].rstrip()
    if text and not text.endswith("."):
        text = text.rstrip(";,") + "."
    return f"# {text + ' ' if text else ''}{SOURCE} {note}"


def edit_toml(text: str, values: dict[str, float | int], notes: dict[str, str], where: str) -> tuple[str, list[dict]]:
    """The text with each dotted path's value replaced (or added at the end of its table) and its comment's
    source replaced by ``notes[path]``; every other byte unchanged. Returns (new text, one dict per path:
    path, line (1-based, in the new text), old (text or None), new)."""
    lines = text.splitlines(keepends=True)
    eol = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    scanned = _scan(lines, where)
    changes: list[dict] = []
    inserts: dict[int, list[str]] = {}
    for path, value in values.items():
        parts = tuple(path.split("."))
        spec = lookup(path)
        new_value = _toml_number(value, isinstance(spec, P) and spec.kind == "int")
        hits = [ln for ln in scanned if ln.kind == "keyval" and ln.table is not None and ln.table + ln.key == parts]
        if len(hits) > 1:
            raise ScenarioError(where, path, f"is set on {len(hits)} lines ({', '.join(str(h.index + 1) for h in hits)})")
        inline = [ln for ln in scanned if ln.kind == "keyval" and ln.table is not None
                  and len(ln.table + ln.key) < len(parts) and parts[:len(ln.table + ln.key)] == ln.table + ln.key]
        if inline:
            ln = inline[0]
            raise ScenarioError(where, path, f"is inside the value of {'.'.join(ln.table + ln.key)} on line "
                                             f"{ln.index + 1} (an inline table); write that table as a [section] "
                                             f"to apply a calibration to it")
        if hits:
            ln = hits[0]
            if ln.multiline:
                raise ScenarioError(where, path, f"line {ln.index + 1}: its value spans several lines; a number "
                                                 f"parameter takes one")
            raw = lines[ln.index]
            body = raw.rstrip("\r\n")
            ending = raw[len(body):]
            v0, v1 = ln.value
            if ln.comment >= 0:
                gap = body[v1:ln.comment] or "  "
                comment = source_note(body[ln.comment:], notes[path])
            else:
                gap, comment = "  ", source_note("", notes[path])
            lines[ln.index] = body[:v0] + new_value + gap + comment + ending
            changes.append({"path": path, "line": ln.index, "old": body[v0:v1], "new": new_value})
            continue
        table = parts[:-1]
        headers = [ln for ln in scanned if ln.kind == "header" and ln.table == table]
        if not headers:
            raise ScenarioError(where, path, f"is not set in this file and it has no [{'.'.join(table)}] table to put "
                                             f"it in; add the table (or the key) by hand, then apply again")
        last = headers[-1].index
        for ln in scanned[last + 1:]:
            if ln.kind == "header":
                break
            if ln.kind == "keyval" or (ln.kind == "other" and lines[ln.index].strip() and not
                                       lines[ln.index].lstrip().startswith("#")):
                last = ln.index
        if not lines[last].endswith(("\n", "\r")):
            lines[last] += eol
        key = parts[-1] if _bare(parts[-1]) else json.dumps(parts[-1])
        inserts.setdefault(last, []).append(f"{key} = {new_value}  {source_note('', notes[path])}{eol}")
        changes.append({"path": path, "line": None, "after": last, "old": None, "new": new_value})
    out, shift, pos = [], {}, 0
    for i, line in enumerate(lines):
        shift[i] = pos
        out.append(line)
        pos += 1
        for extra in inserts.get(i, []):
            out.append(extra)
            pos += 1
    added: dict[int, int] = {}
    for c in changes:
        if c["line"] is not None:
            c["line"] = shift[c["line"]] + 1
        else:
            k = added.get(c["after"], 0) + 1
            added[c["after"]] = k
            c["line"] = shift[c.pop("after")] + 1 + k
    return "".join(out), changes


def _bare(key: str) -> bool:
    return bool(key) and all(ch.isalnum() or ch in "_-" for ch in key) and key.isascii()


def _set(tree: dict, parts: tuple[str, ...], value: Any) -> None:
    for p in parts[:-1]:
        tree = tree.setdefault(p, {})
    tree[parts[-1]] = value


# --------------------------------------------------------------------------------------------------------
# Applying
# --------------------------------------------------------------------------------------------------------


@dataclass
class Applied:
    """What :func:`apply_calibration` wrote: the ``file``, one dict per parameter (``path``, ``line``, ``old``
    value text or None if added, ``new``), and the calibration's fixed ``overrides`` it did not write."""

    file: Path
    changes: list[dict]
    overrides: dict
    estimates: Estimates


def _installed(path: Path) -> bool:
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return True
    for key in ("purelib", "platlib"):
        root = sysconfig.get_paths().get(key)
        if root and path.is_relative_to(Path(root).resolve()):
            return True
    return False


def target_file(est: Estimates, to: str | Path | None) -> Path:
    """The scenario file to write: ``to``, or the calibration's starting scenario file."""
    if to is not None:
        p = Path(to).expanduser()
        if not p.is_file():
            raise ScenarioError(str(to), None, "scenario file not found" if not p.exists() else
                                "is not a file: give the scenario .toml file to write the estimates into")
        return p.resolve()
    p = est.scenario_file
    if p is None or not p.is_file():
        shown = str(p) if p is not None else "not recorded in manifest.json"
        raise ScenarioError(str(est.folder), None, f"cannot find the calibration's starting scenario file ({shown}); "
                                                   f"name the file to write with --to SCENARIO.toml")
    p = p.resolve()
    if _installed(p):
        raise ScenarioError(str(p), None, "is a preset installed with the package (in site-packages): a reinstall "
                                          "would undo the edit; copy it into your project and give the copy with "
                                          "--to COPY.toml, or apply in a checkout of the repository")
    return p


def apply_calibration(results: str | Path, to: str | Path | None = None) -> Applied:
    """Write the estimates of the calibration results folder ``results`` into ``to`` (default: the starting
    scenario file of the calibration), in place and atomically; see the module docstring. One ScenarioError
    for any problem, and then the file is untouched."""
    est = read_estimates(results)
    path = target_file(est, to)
    where = str(path)
    if _installed(path):
        raise ScenarioError(where, None, "is a file installed with the package (in site-packages); copy it and "
                                         "give the copy with --to")
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(where, None, f"cannot read the scenario file ({type(exc).__name__}: {exc})") from None
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(where, None, f"not valid TOML: {exc}") from None
    load_scenario(path)  # a scenario file at all (its own error otherwise)
    new_text, changes = edit_toml(text, est.values, est.notes, where)
    # the edit changed exactly the estimates, nothing else
    want = copy.deepcopy(before)
    for p, v in est.values.items():
        _set(want, tuple(p.split(".")), v)
    try:
        after = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:  # a bug of edit_toml, never the user's
        raise ScenarioError(where, None, f"the edited text would not be valid TOML ({exc}); file left unchanged") \
            from None
    if after != want:
        raise ScenarioError(where, None, "the edit would change more than the estimates (a construct this editor "
                                         "does not follow); file left unchanged; edit it by hand")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".apply.toml", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(new_text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        try:
            scen = load_scenario(Path(tmp))
        except ScenarioError as exc:
            raise ScenarioError(where, exc.key, f"the edited file would not load: {exc.message}; file left "
                                                f"unchanged") from None
        for strategy in scen.strategies:
            cfg = scen.config_dict(strategy)
            for p, v in est.values.items():
                got = lookup(p, cfg)
                if got != v or type(got) is not type(v):
                    raise ScenarioError(where, p, f"strategy {strategy!r} of the file sets it too ({got!r}), so the "
                                                  f"estimate {v!r} would not hold for it; remove it from "
                                                  f"[strategies.{strategy}] or give another file with --to")
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return Applied(file=path, changes=changes, overrides=est.overrides, estimates=est)
