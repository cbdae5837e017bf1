"""The planner page's JSON API (sim.app) on a small market, and the ``app`` command's bad input."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import sim
from sim.analysis import stats
from sim.app import form
from sim.app.jobs import METRICS, Job
from sim.app.server import Planner, make_server
from sim.cli.main import main

DEFAULT = {"kind": "preset", "name": "default"}
#: The page's fields for a small market (the test suite's usual one: no warm-up, few accounts, short horizon)
SMALL = {"market.n_accounts": 150, "scenario.horizon_days": 60, "scenario.warmup_days": 0,
         "channels.campaigns.burst_days": [10, 40]}


class Client:
    """Requests as the page's own script sends them: a POST has a JSON body and the server's token."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
             data: bytes | None = None):
        if data is None and body is not None:
            data = json.dumps(body).encode()
        own = {"Content-Type": "application/json", "X-Planner-Token": self.token} if method == "POST" else {}
        sent = {k: v for k, v in {**own, **(headers or {})}.items() if v is not None}  # None: a header not sent
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def json(self, method: str, path: str, body: dict | None = None):
        status, _, raw = self.call(method, path, body)
        return status, json.loads(raw)

    def wait(self, job_id: str, timeout: float = 300) -> list[dict]:
        """Poll a job until it is no longer running; every state seen, in order."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, job = self.json("GET", f"/api/jobs/{job_id}")
            assert status == 200, job
            seen.append(job)
            if job["status"] not in ("queued", "running", "reporting"):
                return seen
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} still {seen[-1]['status']} after {timeout} s")


@pytest.fixture()
def planner(tmp_path):
    p = Planner(DEFAULT, workers=1, reps=3, workdir=tmp_path / "work", results_root=tmp_path / "results")
    server = make_server(p, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    p.client = Client(f"http://127.0.0.1:{server.server_address[1]}", server.token)
    yield p
    server.shutdown()
    server.server_close()
    p.close()


def run_job(planner, values: dict, reps: int) -> dict:
    status, job = planner.client.json("POST", "/api/run", {"source": DEFAULT, "values": values, "reps": reps})
    assert status == 200, job
    final = planner.client.wait(job["id"])[-1]
    assert final["status"] == "done", final
    return final


# ------------------------------------------------------------------------------------------------ fields


def test_the_page_shows_the_scenario_it_loads(planner):
    status, model = planner.client.json("POST", "/api/load", {"source": DEFAULT})
    assert status == 200
    scen = sim.load_scenario()
    assert model["strategies"] == scen.strategies
    market = {f["key"]: f["value"] for f in model["market"]}
    assert market["market.n_accounts"] == scen.to_dict()["market"]["n_accounts"]
    assert market["channels.campaigns.burst_days"] == scen.to_dict()["channels"]["campaigns"]["burst_days"]
    for s in scen.strategies:
        cfg = scen.config_dict(s)
        assert model["strategy_values"][s]["channels.content.budget"] == cfg["channels"]["content"]["budget"]
        assert model["strategy_values"][s]["sales.split.dialing"] == cfg["sales"]["split"]["dialing"]
        assert model["strategy_values"][s]["sales.n_reps"] == cfg["sales"]["n_reps"]


def test_a_missing_scenario_file_is_a_message_for_the_source_field(planner, tmp_path):
    status, body = planner.client.json("POST", "/api/load", {"source": {"kind": "file", "path": str(tmp_path / "no.toml")}})
    assert status == 400
    assert body["errors"][0]["key"] == "source" and "not found" in body["errors"][0]["message"]


@pytest.mark.parametrize("values, key, words", [
    ({"strategies.blended.channels.content.budget": -5}, "strategies.blended.channels.content.budget", ">= 0"),
    ({"strategies.networking.sales.split.dialing": 0.3}, "strategies.networking.sales.split", "add up to 1"),
    ({"market.segments.smb.share": 0.6}, "market.segments.*.share", "add up to 1"),
    ({"market.n_accounts": "lots"}, "market.n_accounts", "an integer"),
    ({"scenario.horizon_days": 60}, "channels.campaigns.burst_days", "within the horizon"),
])
def test_a_value_out_of_range_names_its_field_and_runs_nothing(planner, values, key, words):
    for path in ("/api/validate", "/api/run"):
        status, body = planner.client.json("POST", path, {"source": DEFAULT, "values": values, "reps": 2})
        assert status == 400, body
        assert [e["key"] for e in body["errors"]] == [key]
        assert words in body["errors"][0]["message"]
        assert "Traceback" not in json.dumps(body)
    assert planner.jobs == {}  # nothing ran


def test_every_wrong_field_gets_its_message(planner):
    values = {"strategies.blended.channels.email.budget": -1, "strategies.cold_calling.sales.n_reps": 2.5,
              "research.search_intensity": 1.5, "strategies.blended.sales.split.social": 0.5}
    status, body = planner.client.json("POST", "/api/validate", {"source": DEFAULT, "values": values})
    assert status == 400
    assert sorted(e["key"] for e in body["errors"]) == sorted([*list(values)[:3], "strategies.blended.sales.split"])


def test_replications_out_of_range_are_refused(planner):
    for reps in (0, 1.5, "many", form.MAX_REPS + 1):
        status, body = planner.client.json("POST", "/api/run", {"source": DEFAULT, "values": SMALL, "reps": reps})
        assert status == 400 and body["errors"][0]["key"] == "reps"
    assert planner.jobs == {}


# ------------------------------------------------------------------------------------------------ runs


def test_a_run_reports_progress_then_the_comparison_charts_and_report(planner):
    values = {**SMALL, "strategies.blended.channels.content.budget": 150_000}
    status, job = planner.client.json("POST", "/api/run", {"source": DEFAULT, "values": values, "reps": 3})
    assert status == 200 and job["total"] == 4 * 3
    states = planner.client.wait(job["id"])
    final = states[-1]
    assert final["status"] == "done", final
    done = [s["done"] for s in states]
    assert done == sorted(done) and final["done"] == final["total"] == 12
    assert final["reps_done"] == 3 and final["first_numbers_seconds"] <= final["first_intervals_seconds"]

    # the numbers are those of the runs themselves (seeds 1, 2, 3 of each strategy)
    scen = form.build(DEFAULT, values)
    assert scen.config_dict("blended")["channels"]["content"]["budget"] == 150_000
    won = {s: [sim.run(scen, s, seed).summary["customers_won"] for seed in (1, 2, 3)] for s in scen.strategies}
    rows = {(r["strategy"], r["metric"]): r for r in final["comparison"]}
    assert {m for _, m in rows} == set(METRICS)
    for s, values_won in won.items():
        mean, lo, hi = stats.mean_ci(values_won)
        r = rows[(s, "customers_won")]
        assert r["mean"] == pytest.approx(mean) and r["n"] == 3
        if np.std(values_won) > 0:
            assert r["low"] == pytest.approx(lo) and r["high"] == pytest.approx(hi)

    assert "cumulative_customers" in {c["name"] for c in final["charts"]}
    assert all(c["caption"] for c in final["charts"] if c["name"] == "cumulative_customers")
    import io

    import matplotlib.colors as mc
    import matplotlib.image as mpimg

    from sim.analysis.charts import strategy_colors

    for chart in final["charts"]:
        status, headers, body = planner.client.call("GET", chart["url"])
        assert status == 200 and headers["Content-Type"] == "image/png" and body[:8] == b"\x89PNG\r\n\x1a\n"
        img = (mpimg.imread(io.BytesIO(body), format="png")[..., :3] * 255).round().astype(int)
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20, f"{chart['name']}: a flat picture"
        if chart["name"] == "cumulative_customers":  # the served chart draws every strategy of the run, in its colour
            for s, colour in strategy_colors(list(scen.strategies)).items():
                rgb = np.array([round(c * 255) for c in mc.to_rgb(colour)])
                assert (np.abs(img - rgb).max(axis=2) <= 2).sum() >= 30, (s, colour)  # a drawn line: tens of pixels
    status, headers, body = planner.client.call("GET", final["report"])
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    assert b"<html" in body and b"blended" in body and b"http://" not in body.replace(b"http://www.w3.org", b"")


def test_the_comparison_comes_in_rounds_means_first_then_intervals():
    """The job's rounds: nothing until every strategy has its first seed, then means, then intervals."""
    from sim.analysis.experiment import _run_task

    scen = form.build(DEFAULT, SMALL)
    job = Job(scen, reps=2, workers=1, folder=None)
    tasks = [(s, seed) for seed in (1, 2) for s in scen.strategies]
    seen = []
    for i, task in enumerate(tasks):
        job._record(task, _run_task(scen, task))
        state = job.state()
        rows = [r for r in state["comparison"] if r["metric"] == "total_cost"]
        seen.append((state["done"], state["reps_done"], len(rows), all(r["low"] is not None for r in rows)))
    n = len(scen.strategies)
    assert seen[n - 2] == (n - 1, 0, 0, True)  # a round not yet complete: no numbers
    assert seen[n - 1] == (n, 1, n, False)  # one round: means without intervals
    assert seen[-1] == (2 * n, 2, n, True)  # two rounds: intervals
    assert job.first_numbers_seconds is not None and job.first_intervals_seconds is not None


def test_worker_processes_give_the_numbers_of_one_process(tmp_path):
    """The page's runs on two spawned worker processes (the project's executor) equal those in this process."""
    scen = form.build(DEFAULT, SMALL)
    results = {}
    for workers in (1, 2):
        job = Job(scen, reps=2, workers=workers, folder=tmp_path / f"w{workers}")
        job.start()
        job.join(timeout=600)
        assert job.status == "done", job.error
        results[workers] = job.summary().sort_values(["strategy", "seed"]).reset_index(drop=True)
    assert results[1].equals(results[2])


def test_a_scenario_file_is_a_source(planner, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[scenario]\nname = "mine"\n[strategies.only]\nchannels.content.budget = 5000\n')
    status, model = planner.client.json("POST", "/api/load", {"source": {"kind": "file", "path": str(path)}})
    assert status == 200 and model["name"] == "mine" and model["strategies"] == ["only"]
    assert model["strategy_values"]["only"]["channels.content.budget"] == 5000
    path.write_text("[scenario]\nhorizon_days = -1\n")
    status, body = planner.client.json("POST", "/api/load", {"source": {"kind": "file", "path": str(path)}})
    assert status == 400 and body["errors"][0]["key"] == "source" and "horizon_days" in body["errors"][0]["message"]


def test_stop_ends_a_run_before_its_last_replication(planner):
    status, job = planner.client.json("POST", "/api/run", {"source": DEFAULT, "values": SMALL, "reps": 100})
    assert status == 200
    status, _ = planner.client.json("POST", f"/api/jobs/{job['id']}/cancel", {})
    assert status == 200
    final = planner.client.wait(job["id"])[-1]
    assert final["status"] == "cancelled" and final["done"] < final["total"] and final["report"] is None


def test_a_new_run_stops_the_one_running(planner):
    status, first = planner.client.json("POST", "/api/run", {"source": DEFAULT, "values": SMALL, "reps": 50})
    assert status == 200
    status, second = planner.client.json("POST", "/api/run", {"source": DEFAULT, "values": SMALL, "reps": 2})
    assert status == 200
    assert planner.client.wait(first["id"])[-1]["status"] == "cancelled"
    assert planner.client.wait(second["id"])[-1]["status"] == "done"


# ------------------------------------------------------------------------------------------------ what-ifs


def test_what_ifs_side_by_side_with_a_paired_difference(planner):
    more = {**SMALL, "strategies.networking.channels.networking.budget": 400_000,
            "strategies.networking.sales.n_reps": 8}
    base_job = run_job(planner, SMALL, reps=4)
    more_job = run_job(planner, more, reps=4)

    status, body = planner.client.json("POST", "/api/compare", {"names": ["base"]})
    assert status == 400 and body["errors"][0]["key"] == "compare"
    for name, job in (("base", base_job), ("more networking", more_job)):
        status, body = planner.client.json("POST", "/api/whatifs", {"job": job["id"], "name": name})
        assert status == 200, body
    assert [w["name"] for w in body["whatifs"]] == ["base", "more networking"]

    status, cmp = planner.client.json("POST", "/api/compare", {"names": ["base", "more networking"]})
    assert status == 200, cmp
    assert cmp["common_seeds"] == [1, 2, 3, 4]
    rows = {(r["strategy"], r["metric"]): r for r in cmp["rows"]}

    # a strategy the what-if did not change: the same runs on the same seeds, a difference of exactly zero
    same = rows[("cold_calling", "customers_won")]
    assert same["cells"][0] == same["cells"][1]
    assert same["deltas"][0]["diff"] == 0 and same["deltas"][0]["low"] == 0 and same["deltas"][0]["high"] == 0
    assert cmp["identical"] == ["cold_calling", "content_nurture", "blended"]

    # the changed strategy: the paired t-interval of the seed-by-seed differences, recomputed from the runs
    base_s, more_s = form.build(DEFAULT, SMALL), form.build(DEFAULT, more)
    for metric in ("total_cost", "customers_won"):
        a = [sim.run(base_s, "networking", seed).summary[metric] for seed in (1, 2, 3, 4)]
        b = [sim.run(more_s, "networking", seed).summary[metric] for seed in (1, 2, 3, 4)]
        d, lo, hi, _ = stats.paired_diff_ci(b, a)
        delta = rows[("networking", metric)]["deltas"][0]
        assert delta["diff"] == pytest.approx(d) and delta["pairs"] == 4
        if math.isfinite(lo):
            assert delta["low"] == pytest.approx(lo) and delta["high"] == pytest.approx(hi)
    assert rows[("networking", "total_cost")]["deltas"][0]["diff"] > 0  # more budget and reps cost more


def test_a_what_if_needs_a_finished_run_and_a_name(planner):
    job = run_job(planner, SMALL, reps=2)
    status, body = planner.client.json("POST", "/api/whatifs", {"job": job["id"], "name": "   "})
    assert status == 400 and body["errors"][0]["key"] == "whatif_name"
    status, body = planner.client.json("POST", "/api/whatifs", {"job": "0123456789ab", "name": "x"})
    assert status == 404 and "not found" in body["error"]


# ------------------------------------------------------------------------------------------------ downloads


def test_the_scenario_downloads_as_toml_that_loads_back(planner, tmp_path):
    values = {**SMALL, "strategies.blended.channels.paid_search.budget": 25_000,
              "strategies.blended.sales.split.dialing": 0.2, "strategies.blended.sales.split.meetings": 0.5,
              "market.segments.smb.share": 0.5, "market.segments.mid.share": 0.38, "research.search_intensity": 0.7}
    status, headers, body = planner.client.call("POST", "/api/toml", {"source": DEFAULT, "values": values})
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    path = tmp_path / "downloaded.toml"
    path.write_bytes(body)
    loaded = sim.load_scenario(path)
    assert loaded.to_dict() == form.build(DEFAULT, values).to_dict()
    assert loaded.config_dict("blended")["channels"]["paid_search"]["budget"] == 25_000
    assert loaded.config_dict("blended")["sales"]["split"]["dialing"] == 0.2


# ------------------------------------------------------------------------------------------------ the server


def test_the_server_answers_json_and_never_a_traceback(planner, monkeypatch):
    def broken(_body):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(planner, "setup", broken)
    status, _, body = planner.client.call("GET", "/api/setup")
    assert status == 500
    assert json.loads(body)["error"].startswith("internal error") and b"Traceback" not in body and b"secret" not in body

    status, _, body = planner.client.call("POST", "/api/run", None, {"Content-Type": "application/json"})
    assert status == 400 and "errors" in json.loads(body)  # an empty body: no source
    status, _, body = planner.client.call("POST", "/api/run", data=b"{not json")
    assert status == 400 and "not JSON" in json.loads(body)["error"]
    assert planner.client.call("GET", "/api/nothing")[0] == 404
    assert planner.client.call("GET", "/static/../server.py")[0] == 404
    assert planner.client.call("GET", "/api/whatifs", headers={"Host": "attacker.example"})[0] == 403


# ------------------------------------------------------------------------------------------------ other sites

TINY_RUN = {"source": DEFAULT, "values": SMALL, "reps": 1}
#: what a page of another site can make the browser send: a "simple request" (no CORS preflight) without the token
EVIL = {"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site",
        "X-Planner-Token": None}


def _port(planner) -> int:
    return int(planner.client.base.rsplit(":", 1)[1])


def _refused(status: int, body: bytes, words: str) -> None:
    assert status == 403, body
    text = body.decode()
    assert len(text.splitlines()) == 1 and "Traceback" not in text
    message = json.loads(text)["error"]
    assert message.startswith("refused: ") and words in message, message


@pytest.mark.parametrize("headers, words", [
    ({"Origin": "http://evil.example"}, "Origin is 'http://evil.example'"),
    ({"Origin": "null"}, "Origin is 'null'"),  # a sandboxed frame or a file:// page
    ({"Origin": "http://127.0.0.1:1"}, "Origin is 'http://127.0.0.1:1'"),  # another server of this computer
    ({"Origin": "http://localhost:{port}"}, "Origin is 'http://localhost:"),  # not the Host the request names
    ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site is 'cross-site'"),
    ({"Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site is 'same-site'"),  # another port: same site, other origin
    ({"Content-Type": "text/plain"}, "Content-Type is 'text/plain'"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, "must be 'application/json'"),
    ({"Content-Type": "multipart/form-data; boundary=x"}, "Content-Type is 'multipart/form-data'"),
    ({"Content-Type": None}, "must be 'application/json'"),  # urllib then sends a form's type
    ({"X-Planner-Token": None}, "no valid X-Planner-Token"),
    ({"X-Planner-Token": "0" * 43}, "no valid X-Planner-Token"),
    ({"Host": "evil.example"}, "Host is 'evil.example'"),  # DNS rebinding: the other site's name
    ({"Host": "evil.example:{port}"}, "or localhost:{port} only"),
    ({"Host": "127.0.0.1"}, "Host is '127.0.0.1'; this server answers requests for 127.0.0.1:{port}"),
])
def test_a_post_not_from_the_page_itself_is_refused_and_runs_nothing(planner, headers, words):
    """Each case is the page's own request with one header changed: each check is needed on its own."""
    headers = {k: v.format(port=_port(planner)) if v else v for k, v in headers.items()}
    words = words.format(port=_port(planner))
    for path in ("/api/run", "/api/validate", "/api/whatifs/delete"):
        status, _, body = planner.client.call("POST", path, TINY_RUN, headers=headers)
        _refused(status, body, words)
    assert planner.jobs == {}  # nothing ran


def test_another_sites_post_neither_starts_a_run_nor_stops_the_running_one(planner):
    status, job = planner.client.json("POST", "/api/run", {"source": DEFAULT, "values": SMALL, "reps": 100})
    assert status == 200
    try:
        for path in ("/api/run", f"/api/jobs/{job['id']}/cancel", "/api/whatifs", "/api/compare", "/api/toml"):
            status, _, body = planner.client.call("POST", path, data=json.dumps(TINY_RUN).encode(), headers=EVIL)
            _refused(status, body, "Sec-Fetch-Site is 'cross-site'")
        # an older browser that sends no Sec-Fetch-Site: the Origin refuses it; one that sends no Origin either:
        # the text/plain body refuses it
        evil = {**EVIL, "Sec-Fetch-Site": None}
        _refused(*planner.client.call("POST", "/api/run", TINY_RUN, headers=evil)[::2], "Origin is")
        _refused(*planner.client.call("POST", "/api/run", TINY_RUN, headers={**evil, "Origin": None})[::2],
                 "Content-Type is 'text/plain'")
        assert list(planner.jobs) == [job["id"]] and planner.jobs[job["id"]].active
        assert planner.client.json("GET", f"/api/jobs/{job['id']}")[1]["status"] == "running"
    finally:
        planner.client.json("POST", f"/api/jobs/{job['id']}/cancel", {})
    assert planner.client.wait(job["id"])[-1]["status"] == "cancelled"


def test_the_pages_own_requests_as_a_browser_sends_them_are_answered(planner):
    port = _port(planner)
    for host in ("127.0.0.1", "localhost"):
        own = {"Host": f"{host}:{port}", "Origin": f"http://{host}:{port}", "Sec-Fetch-Site": "same-origin",
               "Content-Type": "application/json"}
        status, _, body = planner.client.call("POST", "/api/validate", TINY_RUN, headers=own)
        assert status == 200 and json.loads(body) == {"ok": True}
    # no Origin and no Sec-Fetch-Site (a script such as this test's client): the token and the JSON body suffice
    job = run_job(planner, SMALL, reps=1)
    assert list(planner.jobs) == [job["id"]]
    # a GET of the page from a link on another site is answered (it changes nothing and the other site cannot read it)
    status, _, page = planner.client.call("GET", "/", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 200


def test_the_page_carries_this_servers_token(planner, tmp_path):
    from sim.app.server import STATIC

    status, _, page = planner.client.call("GET", "/")
    assert status == 200
    assert f'<meta name="planner-token" content="{planner.client.token}">' in page.decode()
    assert len(planner.client.token) >= 40 and planner.client.token not in (STATIC / "index.html").read_text()
    assert "X-Planner-Token" in (STATIC / "app.js").read_text()
    other = Planner(DEFAULT, workers=1, reps=1, workdir=tmp_path / "other", results_root=tmp_path / "results")
    server = make_server(other, 0)
    try:
        assert server.token != planner.client.token  # a new one for every server
    finally:
        server.server_close()
        other.close()


def test_the_page_and_its_files_are_served_and_name_no_other_host(planner):
    status, headers, page = planner.client.call("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for name in ("app.js", "app.css"):
        status, _, body = planner.client.call("GET", f"/static/{name}")
        assert status == 200
        page += body
    text = page.decode()
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert 'src="/static/app.js"' in text and 'href="/static/app.css"' in text


# ------------------------------------------------------------------------------------------------ the command


@pytest.mark.parametrize("argv, words", [
    (["app", "--port", "70000"], "--port must be from 0 to 65535"),
    (["app", "--port", "abc"], "invalid int value"),
    (["app", "--workers", "0"], "--workers"),
    (["app", "--reps", "0"], "--reps"),
    (["app", "no_such_preset.toml"], "not found"),
    (["app", "--colour", "red"], "unrecognized arguments"),
])
def test_bad_flags_exit_2_with_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and words in err, err


def test_a_port_in_use_exits_2_with_one_line(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["app", "--port", str(port), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"port {port}" in err and "in use" in err, err
