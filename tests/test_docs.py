"""The documentation: generated pages cannot drift from the code, and the tutorial notebook runs.

The reference pages (parameters, metrics, the day's schedule) and the generated blocks of the ODD
description are written by ``python -m sim.docs_gen docs`` from the code's declarations and committed;
this test regenerates them into a temporary folder and compares. After changing a parameter, a metric,
a step or a component's docstring, run that command and commit what it writes.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from sim import docs_gen

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_generated_pages_match_the_code(tmp_path):
    # the ODD page mixes hand-written prose and generated blocks: start from the committed prose
    (tmp_path / docs_gen.ODD_PAGE).parent.mkdir(parents=True)
    shutil.copy(DOCS / docs_gen.ODD_PAGE, tmp_path / docs_gen.ODD_PAGE)
    docs_gen.generate(tmp_path)
    stale = []
    for rel in [*docs_gen.PAGES, docs_gen.ODD_PAGE]:
        committed = DOCS / rel
        fresh = (tmp_path / rel).read_text(encoding="utf-8")
        old = committed.read_text(encoding="utf-8") if committed.exists() else ""
        if old != fresh:
            diff = "".join(list(difflib.unified_diff(old.splitlines(True), fresh.splitlines(True),
                                                     f"committed {rel}", f"from the code {rel}", n=1))[:40])
            stale.append(f"{rel}:\n{diff}")
    assert not stale, (f"generated docs differ from the code: run `{docs_gen.REGENERATE}` and commit the result\n\n"
                       + "\n".join(stale))


def test_generated_pages_cover_every_declaration():
    from sim.config.parameters import leaves
    from sim.engine.metrics import daily_metrics
    from sim.engine.schedule import declared_steps
    from sim.engine.summary import SUMMARY_METRICS

    params = (DOCS / "reference/parameters.md").read_text(encoding="utf-8")
    metrics = (DOCS / "reference/metrics.md").read_text(encoding="utf-8")
    schedule = (DOCS / "reference/schedule.md").read_text(encoding="utf-8")
    odd = (DOCS / docs_gen.ODD_PAGE).read_text(encoding="utf-8")
    assert [p for p, _ in leaves() if f"| `{p}` |" not in params] == []
    assert [m for m in [*SUMMARY_METRICS, *daily_metrics()] if f"| `{m}` |" not in metrics] == []
    assert [s.name for s in declared_steps() if f"| `{s.name}` |" not in schedule or f"`{s.name}`" not in odd] == []
    # the seed articles are cited as publications, never by their number
    for text in (params, metrics, odd):
        assert "seed 00" not in text


def test_check_mode_reports_a_stale_page(tmp_path, capsys):
    (tmp_path / docs_gen.ODD_PAGE).parent.mkdir(parents=True)
    shutil.copy(DOCS / docs_gen.ODD_PAGE, tmp_path / docs_gen.ODD_PAGE)
    docs_gen.generate(tmp_path)
    assert docs_gen.main([str(tmp_path), "--check"]) == 0
    page = tmp_path / "reference/metrics.md"
    page.write_text(page.read_text(encoding="utf-8") + "edited by hand\n", encoding="utf-8")
    assert docs_gen.main([str(tmp_path), "--check"]) == 1
    assert docs_gen.REGENERATE in capsys.readouterr().err


def test_tutorial_notebook_runs():
    """Every cell of every tutorial notebook runs (a small market: well under a minute on one core)."""
    pytest.importorskip("jupytext", reason="the docs extra (pip install -e '.[docs]') runs the tutorial notebooks")
    pytest.importorskip("nbclient", reason="the docs extra (pip install -e '.[docs]') runs the tutorial notebooks")
    notebooks = docs_gen.tutorials(DOCS)
    assert notebooks, "no tutorial notebook found under docs/tutorials"
    for nb in notebooks:
        executed = docs_gen.execute_notebook(nb, cwd=ROOT)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{nb}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
