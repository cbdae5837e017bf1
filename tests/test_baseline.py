"""The golden baseline: exact numbers of every preset, changed only on purpose.

Every strategy of every preset scenario runs on two seeds; the summary metrics and a few daily
columns must equal ``tests/baseline.json``. A commit that moves them says why and refreshes the
file with ``python tests/update_baseline.py``, in a commit of its own (starsim's
``test_baselines.py`` / ``update_baseline`` habit).

Values are compared to a relative 1e-9: the same build gives identical bits, and the tolerance
only absorbs a last-bit difference of a vectorised math routine on another CPU.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import sim

ROOT = Path(__file__).resolve().parents[1]
BASELINE = Path(__file__).with_name("baseline.json")
PRESETS = ("default", "enterprise", "self_service", "bass")
SEEDS = (1, 2)
DAILY = ("n_exploring", "n_customer", "new_leads", "new_wins", "new_cost")
RTOL = 1e-9


def _key(preset: str, strategy: str, seed: int) -> str:
    return f"{preset}/{strategy}/{seed}"


def run_cases():
    """(key, scenario, strategy, seed) for every preset, strategy and seed of the baseline."""
    for preset in PRESETS:
        scen = sim.load_scenario(ROOT / "scenarios" / f"{preset}.toml")
        for strategy in scen.strategies:
            for seed in SEEDS:
                yield _key(preset, strategy, seed), scen, strategy, seed


def measure(scen, strategy: str, seed: int) -> dict:
    """What the baseline records of one run: every summary metric and the daily columns."""
    res = sim.run(scen, strategy, seed)
    ts = res.timeseries
    return {
        "summary": {k: (None if not math.isfinite(v) else float(v)) for k, v in sorted(res.summary.items())},
        "daily": {c: [float(x) for x in ts[c].to_numpy()] for c in DAILY},
    }


def _stored() -> dict:
    if not BASELINE.exists():
        pytest.fail(f"{BASELINE} is missing: create it with `python tests/update_baseline.py`")
    return json.loads(BASELINE.read_text())


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    o, n = old["summary"], new["summary"]
    for k in sorted(set(o) | set(n)):
        if k not in n:
            out.append(f"summary metric {k!r} is gone")
        elif k not in o:
            out.append(f"summary metric {k!r} is new")
        elif (o[k] is None) != (n[k] is None) or (o[k] is not None and not math.isclose(o[k], n[k], rel_tol=RTOL, abs_tol=1e-12)):
            out.append(f"{k}: baseline {o[k]!r}, now {n[k]!r}")
    for c in DAILY:
        a, b = np.asarray(old["daily"].get(c, []), float), np.asarray(new["daily"][c], float)
        if a.shape != b.shape:
            out.append(f"daily {c}: {a.size} days in the baseline, {b.size} now")
        elif not np.allclose(a, b, rtol=RTOL, atol=1e-12):
            day = int(np.flatnonzero(~np.isclose(a, b, rtol=RTOL, atol=1e-12))[0])
            out.append(f"daily {c}: first differs on day {day} (baseline {a[day]!r}, now {b[day]!r})")
    return out


CASES = list(run_cases())


def test_baseline_covers_every_preset_strategy_and_seed():
    stored = _stored()
    assert sorted(stored["runs"]) == sorted(k for k, *_ in CASES), (
        "the baseline's runs are not the presets' strategies x seeds: run `python tests/update_baseline.py`"
    )


@pytest.mark.parametrize("key,scen,strategy,seed", CASES, ids=[c[0] for c in CASES])
def test_baseline(key, scen, strategy, seed):
    stored = _stored()["runs"].get(key)
    assert stored is not None, f"{key} is not in the baseline: run `python tests/update_baseline.py`"
    diffs = _differences(stored, measure(scen, strategy, seed))
    assert not diffs, (
        f"{key} differs from the golden baseline ({len(diffs)} differences; first ones below). If the change is "
        "deliberate, say why in a commit of its own and refresh it with `python tests/update_baseline.py`.\n  "
        + "\n  ".join(diffs[:12])
    )
