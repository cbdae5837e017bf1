"""Benchmark of the attribution lab (issue 12): a full study on the default scenario, timed.

    python benchmarks/attribution_study.py [--strategy blended] [--reps 10] [--workers 2]

Runs ``python run.py attribution default --strategy S --reps N --workers W`` in a subprocess (the command a
user runs: every funded channel, exact Shapley over all coalitions, the touch log, charts and report) and
appends one record (wall clock, CPU time of the process and its workers, runs, machine) to
``benchmarks/results/attribution-<YYYY-MM-DD>.json``. The issue's target: under 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_SECONDS = 15 * 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategy", default="blended")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "study"
        cmd = [sys.executable, str(ROOT / "run.py"), "attribution", "default", "--strategy", args.strategy,
               "--reps", str(args.reps), "--workers", str(args.workers), "--quiet", "--out", str(out)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        manifest = json.loads((out / "manifest.json").read_text())
        finding = proc.stdout.split("\n\n")[0]
    record = {"benchmark": "attribution_study", "when": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "command": " ".join(cmd[1:-2]), "runs": manifest["runs"], "wall_seconds": round(wall, 1),
              "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "target_seconds": TARGET_SECONDS,
              "result": "PASS" if wall < TARGET_SECONDS else "FAIL", "load_average": os.getloadavg(),
              "cores": os.cpu_count(), "platform": platform.platform(), "finding": finding}
    path = HERE / "results" / f"attribution-{_dt.date.today().isoformat()}.json"
    data = json.loads(path.read_text()) if path.exists() else {"runs": []}
    data["runs"].append(record)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"{record['runs']} runs in {wall:.0f} s wall ({record['cpu_seconds']:.0f} s CPU); target "
          f"{TARGET_SECONDS} s: {record['result']}. Appended to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
