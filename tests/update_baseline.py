"""Refresh the golden baseline (tests/baseline.json) after a deliberate change of numbers.

    python tests/update_baseline.py

Commit the new file on its own, saying why the numbers moved. Prints which runs changed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_baseline import BASELINE, CASES, _differences, measure  # noqa: E402


def main() -> int:
    old = json.loads(BASELINE.read_text())["runs"] if BASELINE.exists() else {}
    runs = {}
    for key, scen, strategy, seed in CASES:
        runs[key] = measure(scen, strategy, seed)
        if key not in old:
            print(f"{key}: new")
        else:
            diffs = _differences(old[key], runs[key])
            print(f"{key}: {'unchanged' if not diffs else f'{len(diffs)} changes, e.g. ' + diffs[0]}")
    tmp = BASELINE.with_suffix(".tmp")
    # one run per line: a diff of the file shows which runs moved
    lines = [f"  {json.dumps(k)}: {json.dumps(runs[k], sort_keys=True)}" for k in sorted(runs)]
    tmp.write_text('{"runs": {\n' + ",\n".join(lines) + "\n}}\n")
    tmp.replace(BASELINE)
    print(f"wrote {BASELINE} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
