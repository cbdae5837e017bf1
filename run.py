#!/usr/bin/env python
"""Command line of the B2B buyer-journey simulator: a shim over ``sim.cli.main`` (installed as
``buyer-journey``). ``python run.py --help`` lists every command."""

import sys
from pathlib import Path

# run.py sits next to the package: `python run.py` works from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim.cli.main import main  # noqa: E402

# for callers that import run.py (tests, scripts): the run command's helpers
from sim.cli.run import parse_value  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
