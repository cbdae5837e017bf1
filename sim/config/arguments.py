"""Checks of whole-number arguments shared by every command and API entry point (reps, seeds,
workers): one line naming where, the flag and what is allowed."""

from __future__ import annotations

import argparse
import numbers
from typing import Any, Mapping

from sim.config.scenario import ScenarioError

__all__ = ["check_int_flags"]


def check_int_flags(where: str, values: argparse.Namespace | Mapping[str, Any], minimums: Mapping[str, int],
                    reasons: Mapping[str, str] | None = None, allow_none: bool = True) -> None:
    """Check that each flag named in ``minimums`` (``{"reps": 1, "seed": 0, "workers": 1}``) is a whole number
    of at least its minimum; ``values`` is the parsed arguments (or a dict). A value of None means "not
    given" (its default applies) and passes, unless ``allow_none`` is False.

    The first flag that fails raises ``ScenarioError(where, "--<flag>", ...)``: ``run.py sweep: --workers:
    must be at least 1 (got 0)``, ``... must be 0 or more (got -1)``; ``reasons`` adds why a minimum is what
    it is (``{"reps": "a confidence interval needs two replications"}``).
    """
    if not isinstance(values, Mapping):
        values = vars(values)
    for name, minimum in minimums.items():
        value = values.get(name)
        if value is None and allow_none:
            continue
        rule = "0 or more" if minimum == 0 else f"at least {minimum}"
        why = f": {reasons[name]}" if reasons and name in reasons else ""
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ScenarioError(where, flag, f"must be a whole number, {rule} (got {value!r}){why}")
        if value < minimum:
            raise ScenarioError(where, flag, f"must be {rule} (got {value}){why}")
