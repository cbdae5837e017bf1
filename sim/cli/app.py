"""``app``: the planner page, a local what-if page served on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from sim.cli.common import UsageError, check_int_flags, wrap
from sim.config.scenario import ScenarioError

WHERE = "run.py app"
DEFAULT_PORT = 8765


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "app",
        help="open the planner page: change budgets, team and market, run, compare what-ifs (local, offline)",
        description=wrap(
            "Serve the planner page on http://127.0.0.1:PORT/ and open it in the browser. On the page: pick a "
            "preset, a calibrated scenario or a scenario file; change the market (accounts, segment mix, search "
            "demand), each strategy's channel budgets, team size and rep time split, and the horizon; run (runs go "
            "in rounds of growing size, seed 1 of every strategy, then seed 2, then 3-4, 5-8, ...: means after the "
            "first round, intervals after the second, "
            "narrowing as more finish); "
            "see the comparison and the report's charts; save what-ifs and compare two or three of them (the "
            "difference with a paired interval: same seeds); download the scenario as TOML and the report as "
            "HTML. Everything the page uses is served by this command: it works with no internet. Stop it with "
            "Ctrl-C."
        ),
        epilog="examples:\n  python run.py app\n  python run.py app enterprise --port 8800 --no-browser\n"
               "  python run.py app path/to/calibrated.toml --workers 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", nargs="?", default="default", metavar="SCENARIO",
                   help="the scenario the page starts with: a preset name (default, enterprise, ...) or a scenario "
                        "file (default: default)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="P",
                   help=f"port on 127.0.0.1, 0 to 65535; 0 picks a free one (default: {DEFAULT_PORT})")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser; just print the address")
    p.add_argument("--workers", type=int, default=None, metavar="W",
                   help=f"worker processes for the runs, at least 1 (default: all cores, here {os.cpu_count() or 1})")
    p.add_argument("--reps", type=int, default=10, metavar="N",
                   help="replications per strategy the page starts with, 1 to 200 (default: 10)")
    p.set_defaults(handler=cmd_app)
    return p


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_app(args: argparse.Namespace, argv: Sequence[str]) -> int:
    check_int_flags(WHERE, args, {"workers": 1, "reps": 1})
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535 (0 picks a free port), got {args.port}")
    from sim.app import form

    if args.reps > form.MAX_REPS:
        raise UsageError(f"--reps must be from 1 to {form.MAX_REPS}, got {args.reps}")
    source = form.source_of(args.scenario)
    try:
        form.load_source(source)  # a scenario the page cannot open is bad input, before the server starts
    except form.Invalid as exc:
        raise ScenarioError(WHERE, "SCENARIO", exc.errors[0]["message"]) from None

    from sim.app.server import Planner, make_server

    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    planner = Planner(source, workers=workers, reps=args.reps)
    try:
        server = make_server(planner, args.port)
    except OSError as exc:
        planner.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {args.port} on 127.0.0.1 is in use; choose another with --port "
                             f"(--port 0 picks a free one)") from None
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    print(f"Planner page: {url}  (runs on {workers} worker process(es); Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    signal.signal(signal.SIGTERM, _stop)  # `kill` stops it as Ctrl-C does: runs stopped, temporary files removed
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Planner page stopped.", file=sys.stderr)
    finally:
        server.server_close()
        planner.close()
    return 0
