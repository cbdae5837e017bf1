"""Validation (Rand & Rust 2011): what every check shares (a run, a check, the statistics helpers) in
:mod:`sim.validation.core`, the framework (planning, execution, the report) in :mod:`sim.validation.framework`,
and one module per group of checks: :mod:`~sim.validation.bass`
(docking with the Bass model), :mod:`~sim.validation.network` (diffusion on networks),
:mod:`~sim.validation.stylized` (stylized facts), :mod:`~sim.validation.statics` (comparative statics) and
:mod:`~sim.validation.benchmarks` (the benchmark pack's facts: calibration targets and held-out facts).

    import sim.validation as v
    df = v.run_checks(fast=True)        # one row per check
    folder = v.write_validation(df)     # results/validation/<timestamp>/
"""

from sim.validation.framework import (
    COLUMNS,
    GROUPS,
    VERIFICATION_CHECKS,
    evidence,
    headline,
    planned_checks,
    render_report,
    run_checks,
    write_validation,
)

__all__ = ["COLUMNS", "GROUPS", "VERIFICATION_CHECKS", "evidence", "headline", "planned_checks", "render_report", "run_checks",
           "write_validation"]
