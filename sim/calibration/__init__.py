"""Calibration: fit free parameters of a scenario to an observed funnel by ABC-SMC (or a fast Optuna point estimate).

    import sim.calibration as cal
    result = cal.calibrate("scenarios/calibration/quick.toml", workers=2, store="quick.sqlite")
    result.parameters, result.checks, result.scenario      # posterior, fit, calibrated scenario
    spec = cal.load_targets("scenarios/calibration/default_b2b.toml")   # validate a targets file

Modules: :mod:`~sim.calibration.targets` (the targets file, distance, :func:`known_metrics`),
:mod:`~sim.calibration.abc` (the ABC-SMC sampler), :mod:`~sim.calibration.store` (the resumable SQLite
store), :mod:`~sim.calibration.fit` (:func:`calibrate`), :mod:`~sim.calibration.point` (``method = "optuna"``: a point
estimate), :mod:`~sim.calibration.checks` (the targets against the runs, for both), :mod:`~sim.calibration.report`
(outputs), :mod:`~sim.calibration.apply` (``calibrate --apply``).
"""

from sim.calibration.abc import ABCSMC, ABCResult, Generation, normal_toy
from sim.calibration.fit import Calibration, calibrate
from sim.calibration.point import PointCalibration
from sim.calibration.store import CalibrationStore, load_runs
from sim.calibration.targets import (
    Prior,
    Settings,
    Target,
    Targets,
    known_metrics,
    load_pack,
    load_targets,
    make_targets,
)

__all__ = [
    "ABCSMC",
    "ABCResult",
    "Calibration",
    "CalibrationStore",
    "Generation",
    "PointCalibration",
    "Prior",
    "Settings",
    "Target",
    "Targets",
    "calibrate",
    "known_metrics",
    "load_pack",
    "load_runs",
    "load_targets",
    "make_targets",
    "normal_toy",
]
