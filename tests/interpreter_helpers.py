"""What the tests of what an import loads share (test_public_api.py, test_architecture.py): running code in a fresh
interpreter, where nothing has been imported yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def in_fresh_interpreter(code: str, cwd: Path, timeout: float = 120) -> Any:
    """Run ``code`` in a new Python process and return the JSON-able value it leaves in ``result``.

    This checkout comes first on the process's path, and MPLBACKEND is unset (conftest.py sets it for this
    process), so the child starts as a user's interpreter does. Asserts that the code ran (exit 0, else its
    stderr is the message) and that the ``sim`` it imported is this checkout's, not an installed copy."""
    script = (f"{code}\n"
              "import json as _json, sim as _sim\n"
              "print(_json.dumps({'result': result, 'sim': _sim.__file__}))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("MPLBACKEND", None)
    proc = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["sim"]).resolve().is_relative_to(ROOT / "sim"), f"imported {out['sim']}, not this checkout"
    return out["result"]
