"""The planner page's HTTP server: the page and its JSON API, on 127.0.0.1 only.

The standard library's ``ThreadingHTTPServer``: no dependency and nothing fetched from the internet. The page
(``static/``) is served by this server, and every answer of the API is JSON: a wrong value is ``400`` with
``{"errors": [{"key", "message"}]}``, naming the field; anything unexpected is logged here with its traceback and
answered ``500`` with one line, never the traceback.

Only the page this server serves may use it; anything else is refused ``403`` with one line of JSON, before the
request's body is read (so nothing runs and no running job is stopped). A page of any other web site can make the
user's browser send requests to 127.0.0.1, so, as Jupyter's server does (``check_host``, ``check_origin`` and
``check_xsrf_cookie`` in ``jupyter_server/base/handlers.py``):

* the ``Host`` header must be ``127.0.0.1:PORT`` or ``localhost:PORT`` (a site that renames itself to 127.0.0.1,
  DNS rebinding, sends its own name), on every request;
* a POST must come from the page's own origin: ``Sec-Fetch-Site``, when the browser sends it, must be
  ``same-origin`` (``same-site`` is another port of this computer), and ``Origin``, when sent, must be
  ``http://`` + the Host;
* a POST's ``Content-Type`` must be ``application/json``: a ``text/plain`` or form body is a "simple request" that
  another site can send without the browser's CORS preflight;
* a POST carries the server's token in ``X-Planner-Token``: a random value made when the server starts and written
  into the page (``<meta name="planner-token">``), which another site can neither read nor, being a custom header,
  send without a preflight this server never grants. It is not a login: whoever can open the page can read it.

API (all under ``/api``)::

    GET  setup                 presets, calibrated scenarios, the scenario to start with, replications
    POST load      {source}    the page's fields for a scenario
    POST validate  {source, values}
    POST run       {source, values, reps}    -> a job (any running job is stopped first)
    GET  jobs/ID               progress and the comparison so far; charts and report when done
    POST jobs/ID/cancel
    GET  jobs/ID/charts/N      a chart (PNG)
    GET  jobs/ID/report.html   the report (download)
    POST toml      {source, values}          the scenario as TOML (download)
    GET  whatifs / POST whatifs {job, name} / POST whatifs/delete {name}
    POST compare   {names}     two or three what-ifs side by side, with paired differences
"""

from __future__ import annotations

import json
import hmac
import logging
import re
import secrets
import shutil
import tempfile
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sim.app import form
from sim.app.jobs import METRICS, Job, WhatIf, compare_whatifs, metric_info
from sim.config.template import scenario_toml

log = logging.getLogger("sim.app")

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
MAX_BODY = 1 << 20
KEEP_JOBS = 12  # finished jobs whose results folders are kept (what-ifs keep their summaries anyway)
MAX_WHATIFS = 20


class ApiError(Exception):
    """An answer other than 200: ``status`` and the JSON body."""

    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body
        super().__init__(str(body))


def _not_found(what: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, {"error": f"{what} not found"})


def _bad(key: str, message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, {"errors": [{"key": key, "message": message}]})


class Planner:
    """The server's state: the jobs, the saved what-ifs and where the runs go."""

    def __init__(self, source: dict, workers: int, reps: int = 10, workdir: Path | None = None,
                 results_root: Path | None = None):
        from sim.io import results_root as default_root

        self.source, self.workers, self.reps = source, int(workers), int(reps)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="buyer-journey-app-"))
        self.results_root = results_root if results_root is not None else default_root()
        self.jobs: dict[str, Job] = {}
        self.whatifs: dict[str, WhatIf] = {}
        self.lock = threading.Lock()

    def close(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel()
        for job in list(self.jobs.values()):
            job.join(timeout=30)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the API
    def setup(self, _body: Any = None) -> dict:
        from sim.config.presets import preset_names

        return {"presets": preset_names(), "calibrated": form.calibrated_files(self.results_root),
                "source": self.source, "reps": self.reps, "max_reps": form.MAX_REPS, "workers": self.workers,
                "metrics": metric_info(), "metric_order": list(METRICS)}

    def load(self, body: dict) -> dict:
        source = body.get("source")
        return form.fields(form.load_source(source), source)

    def validate(self, body: dict) -> dict:
        form.build(body.get("source"), body.get("values"))
        return {"ok": True}

    def run(self, body: dict) -> dict:
        reps = form.check_reps(body.get("reps"))
        scenario = form.build(body.get("source"), body.get("values"))
        with self.lock:
            for job in self.jobs.values():
                if job.active:
                    job.cancel()  # two cores: one comparison at a time
            job = Job(scenario, reps, self.workers, folder=self.workdir / "jobs", toml=scenario_toml(scenario))
            job.folder = self.workdir / "jobs" / job.id
            job.folder.mkdir(parents=True)
            self.jobs[job.id] = job
            self._forget_old_jobs()
        job.start()
        return job.state()

    def _forget_old_jobs(self) -> None:
        finished = [j for j in self.jobs.values() if not j.active]
        for job in finished[:-KEEP_JOBS]:
            del self.jobs[job.id]
            shutil.rmtree(job.folder, ignore_errors=True)

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise _not_found(f"run {job_id!r} (runs are kept while the page's server runs)")
        return job

    def save_whatif(self, body: dict) -> dict:
        name = " ".join(str(body.get("name") or "").split())
        if not name:
            raise _bad("whatif_name", "give the what-if a name")
        if len(name) > 60:
            raise _bad("whatif_name", f"a name of at most 60 characters, got {len(name)}")
        job = self.job(str(body.get("job") or ""))
        if job.status != "done":
            raise _bad("whatif_name", f"the run is {job.status}; save a what-if once its run is done")
        with self.lock:
            if name not in self.whatifs and len(self.whatifs) >= MAX_WHATIFS:
                raise _bad("whatif_name", f"at most {MAX_WHATIFS} what-ifs; delete one first")
            self.whatifs[name] = WhatIf(name=name, job_id=job.id, scenario_name=job.scenario.name,
                                        summary=job.summary(), strategies=list(job.strategies), seeds=list(job.seeds),
                                        toml=job.toml, description=job.scenario.describe())
        return self.list_whatifs()

    def delete_whatif(self, body: dict) -> dict:
        with self.lock:
            if self.whatifs.pop(str(body.get("name")), None) is None:
                raise _not_found(f"what-if {body.get('name')!r}")
        return self.list_whatifs()

    def list_whatifs(self, _body: Any = None) -> dict:
        return {"whatifs": [{"name": w.name, "scenario": w.scenario_name, "reps": len(w.seeds),
                             "strategies": w.strategies, "description": w.description}
                            for w in self.whatifs.values()]}

    def compare(self, body: dict) -> dict:
        names = body.get("names")
        if not isinstance(names, list) or not 2 <= len(names) <= 3 or len(set(map(str, names))) != len(names):
            raise _bad("compare", "choose two or three different what-ifs to compare")
        missing = [n for n in names if n not in self.whatifs]
        if missing:
            raise _bad("compare", f"no what-if named {missing[0]!r}")
        chosen = [self.whatifs[n] for n in names]
        result = compare_whatifs(chosen)
        if not result["strategies"]:
            raise _bad("compare", "these what-ifs have no strategy in common")
        if len(result["common_seeds"]) < 2:
            raise _bad("compare", "these what-ifs share fewer than two seeds; run them with 2 or more replications")
        return result


# ------------------------------------------------------------------------------------------------ HTTP


ROUTES_GET = {"/api/setup": "setup", "/api/whatifs": "list_whatifs"}
ROUTES_POST = {"/api/load": "load", "/api/validate": "validate", "/api/run": "run", "/api/whatifs": "save_whatif",
               "/api/whatifs/delete": "delete_whatif", "/api/compare": "compare"}
TOKEN_HEADER = "X-Planner-Token"
TOKEN_PLACEHOLDER = b"__PLANNER_TOKEN__"  # in static/index.html; the server writes its token there
JOB_PATH = re.compile(r"^/api/jobs/([0-9a-f]{12})(/cancel|/charts/(\d+)|/report\.html)?$")


class Handler(BaseHTTPRequestHandler):
    server_version = "buyer-journey-planner"
    planner: Planner  # set on the subclass made by make_server
    token: str  # likewise: this server's token, written into the page and required on every POST

    # -- plumbing
    def log_message(self, fmt: str, *args: Any) -> None:  # the access log at debug level, not on the console
        log.debug("%s - %s", self.address_string(), fmt % args)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, allow_nan=False).encode("utf-8"), "application/json; charset=utf-8")

    def _host_ok(self) -> bool:
        """Only pages of this server may call it (a page of another site that renames itself 127.0.0.1, DNS
        rebinding, is refused)."""
        port = self.server.server_address[1]
        allowed = {f"127.0.0.1:{port}", f"localhost:{port}"} | ({"127.0.0.1", "localhost"} if port == 80 else set())
        return self.headers.get("Host", "") in allowed

    def _check_post(self) -> None:
        """A POST changes state (a run started, a running one stopped, a what-if saved or deleted): only the page's
        own script may send one. Raises a ``403`` naming the header and what is allowed."""

        def refuse(why: str) -> ApiError:
            log.warning("refused POST %s: %s", self.path, why)
            return ApiError(HTTPStatus.FORBIDDEN, {"error": f"refused: {why}"})

        own = f"http://{self.headers.get('Host', '')}"
        fetch_site = self.headers.get("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site != "same-origin":
            raise refuse(f"Sec-Fetch-Site is {fetch_site!r}; this server takes requests from its own page "
                         f"({own}) only, 'same-origin'")
        origin = self.headers.get("Origin")
        if origin is not None and origin != own:
            raise refuse(f"Origin is {origin[:100]!r}; this server takes requests from its own page only, {own!r}")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            sent = f"Content-Type is {content_type[:60]!r}" if content_type else "no Content-Type"
            raise refuse(f"{sent}; a POST's body must be 'application/json'")
        if not hmac.compare_digest(self.headers.get(TOKEN_HEADER, "").encode(), self.token.encode()):
            raise refuse(f"no valid {TOKEN_HEADER} header; the page sends it (reload the page: a restarted server "
                         f"has a new token)")

    def _body(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            raise ApiError(HTTPStatus.BAD_REQUEST, {"error": f"a request body of 0 to {MAX_BODY} bytes"})
        raw = self.rfile.read(length) if length else b"{}"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, {"error": f"the request body is not JSON ({exc})"}) from None
        if not isinstance(data, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, {"error": "the request body must be a JSON object"})
        return data

    def _handle(self, method: str) -> None:
        try:
            if not self._host_ok():
                port = self.server.server_address[1]
                log.warning("refused %s %s: Host is %r", method, self.path, self.headers.get("Host"))
                raise ApiError(HTTPStatus.FORBIDDEN, {
                    "error": f"refused: Host is {(self.headers.get('Host') or '')[:100]!r}; this server answers "
                             f"requests for 127.0.0.1:{port} or localhost:{port} only"})
            path = unquote(urlsplit(self.path).path)
            if method == "GET":
                self._get(path)
            else:
                self._check_post()
                self._post(path)
        except ApiError as exc:
            self._json(exc.status, exc.body)
        except form.Invalid as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"errors": exc.errors})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:
            log.exception("%s %s failed", method, self.path)
            try:
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                           {"error": f"internal error ({type(exc).__name__}); the details are in the server's log"})
            except OSError:
                pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    # -- routes
    def _get(self, path: str) -> None:
        if path in ("/", "/index.html"):
            page = (STATIC / "index.html").read_bytes().replace(TOKEN_PLACEHOLDER, self.token.encode())
            return self._send(HTTPStatus.OK, page, CONTENT_TYPES[".html"])
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path in ROUTES_GET:
            return self._json(HTTPStatus.OK, getattr(self.planner, ROUTES_GET[path])(None))
        match = JOB_PATH.match(path)
        if match:
            job = self.planner.job(match.group(1))
            tail = match.group(2)
            if tail is None:
                return self._json(HTTPStatus.OK, job.state())
            if tail.startswith("/charts/"):
                index = int(match.group(3))
                if index >= len(job.charts) or not job.charts[index].is_file():
                    raise _not_found(f"chart {index} of run {job.id}")
                return self._send(HTTPStatus.OK, job.charts[index].read_bytes(), "image/png")
            if tail == "/report.html":
                if job.report is None or not job.report.is_file():
                    raise _not_found(f"the report of run {job.id} (it is written when the run is done)")
                name = re.sub(r"[^A-Za-z0-9._-]+", "_", job.scenario.name)
                return self._send(HTTPStatus.OK, job.report.read_bytes(), CONTENT_TYPES[".html"],
                                  {"Content-Disposition": f'attachment; filename="report-{name}.html"'})
        raise _not_found(f"page {path!r}")

    def _post(self, path: str) -> None:
        body = self._body()
        if path in ROUTES_POST:
            return self._json(HTTPStatus.OK, getattr(self.planner, ROUTES_POST[path])(body))
        if path == "/api/toml":
            scenario = form.build(body.get("source"), body.get("values"))
            text = scenario_toml(scenario, "# Written by the planner page (python run.py app). Run it with:\n"
                                           "#   python run.py run THIS_FILE.toml")
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", scenario.name)
            return self._send(HTTPStatus.OK, text.encode("utf-8"), "application/toml; charset=utf-8",
                              {"Content-Disposition": f'attachment; filename="{name}.toml"'})
        match = JOB_PATH.match(path)
        if match and match.group(2) == "/cancel":
            job = self.planner.job(match.group(1))
            job.cancel()
            return self._json(HTTPStatus.OK, job.state())
        raise _not_found(f"page {path!r}")

    def _static(self, name: str) -> None:
        target = (STATIC / name).resolve()
        if not target.is_relative_to(STATIC) or not target.is_file() or target.suffix not in CONTENT_TYPES:
            raise _not_found(f"file {name!r}")
        self._send(HTTPStatus.OK, target.read_bytes(), CONTENT_TYPES[target.suffix])


def make_server(planner: Planner, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The server on ``host:port`` (0: any free port; ``server.server_address[1]`` says which), with a new token
    (``server.token``) that its page carries on every POST."""
    token = secrets.token_urlsafe(32)
    handler = type("PlannerHandler", (Handler,), {"planner": planner, "token": token})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.token = token
    return server
