"""One measurement in a fresh process (run_benchmarks.py starts this once per number).

    python benchmarks/measure.py '{"kind": "full_model", "n": 100000, "seed": 1}'

Prints one line ``RESULT {json}`` on stdout. Times are wall clock (``perf_counter``) and CPU
(``process_time``) for construction and stepping separately; memory is the process's peak RSS
after imports, after construction and at the end (the parent also reads the peak RSS of the
whole process from ``wait4``). Kinds: ``engine_bass``, ``mesa_bass``, ``numpy_bass``,
``starsim_bass`` (network mixing only), ``engine_graph``, ``full_model``, ``profile``, ``parallel``, ``calibration``.

Bass specs carry ``mixing`` ("network" or "full"). In network mixing the peer and the floor run on
the engine's graph for the same ``n`` and ``seed``: read from ``spec["adjacency"]`` (an .npz written
by the ``engine_graph`` kind in an earlier process) or, without it, built here with
``common.engine_adjacency``; either way before the clock starts (untimed). The engine's timed
construction includes building its own network. Each side records the graph's fingerprint.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class _Clock:
    def __init__(self):
        self.w, self.c = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        w, c = time.perf_counter(), time.process_time()
        out = (w - self.w, c - self.c)
        self.w, self.c = w, c
        return out


def _sim_info() -> dict:
    import sim

    return {"sim_file": str(Path(sim.__file__).resolve().parent)}


# ------------------------------------------------------------------------------------------------
# Bass: engine, Mesa peer, numpy floor
# ------------------------------------------------------------------------------------------------

def _curve_from_result(res, n: int) -> list[int]:
    ts = res.timeseries
    if "n_customers" in ts:
        return [int(x) for x in ts["n_customers"]]
    return [int(x) for x in ts["new_wins"].cumsum()]


def _mixing(spec: dict) -> str:
    from common import bass_params

    return spec.get("mixing") or bass_params()["mixing"]


def engine_bass(spec: dict) -> dict:
    import sim
    from common import bass_scenario, graph_fingerprint

    mixing = _mixing(spec)
    scen = bass_scenario(spec["n"], mixing)
    rss0 = _maxrss_mb()
    clk = _Clock()
    m = sim.JourneyModel(scen, seed=spec["seed"])  # includes building the engine's network
    bw, bc = clk.lap()
    res = m.run()
    rw, rc = clk.lap()
    graph = {"graph": graph_fingerprint(m.W), "graph_ties": int(m.W.nnz) // 2} if mixing == "network" else {}
    return {"n_buyers": int(m.pop.n), "days": int(m.day), "mixing": mixing, "build_s": bw, "build_cpu_s": bc,
            "run_s": rw, "run_cpu_s": rc, "curve": _curve_from_result(res, m.pop.n), "rss_after_import_mb": rss0,
            **graph, **_sim_info()}


def _peer_graph(spec: dict, mixing: str):
    """The network of the peer or the floor (untimed): the engine's graph for this n and seed."""
    if mixing != "network":
        return None, {}
    from common import engine_adjacency, graph_fingerprint, load_adjacency

    if spec.get("adjacency"):
        adj, source = load_adjacency(spec["adjacency"]), "engine (file)"
    else:
        adj, source = engine_adjacency(spec["n"], spec["seed"]), "engine (built in process)"
    return adj, {"graph": graph_fingerprint(adj), "graph_ties": int(adj.nnz) // 2, "graph_source": source}


def engine_graph(spec: dict) -> dict:
    """Build the engine's network for ``bass_scenario(n, "network")`` and this seed and save it to
    ``spec["path"]`` (.npz), for the peer and the floor to load untimed in their own processes."""
    from common import engine_adjacency, graph_fingerprint, save_adjacency

    clk = _Clock()
    adj = engine_adjacency(spec["n"], spec["seed"])
    w, _ = clk.lap()
    save_adjacency(adj, spec["path"])
    deg = adj.indptr[1:] - adj.indptr[:-1]
    return {"graph": graph_fingerprint(adj), "graph_ties": int(adj.nnz) // 2, "mean_degree": float(deg.mean()),
            "isolated": int((deg == 0).sum()), "path": spec["path"], "build_model_s": w, **_sim_info()}


def _time_bass(spec: dict, build, step_all) -> dict:
    """Time one Bass implementation: ``build(bp, mixing, adjacency)`` (timed construction) and
    ``step_all(model, bp)`` (timed stepping, returns the adoption curve). The graph is an input,
    built before the clock starts."""
    from common import bass_params

    bp = bass_params()
    mixing = _mixing(spec)
    adj, graph = _peer_graph(spec, mixing)  # untimed: the graph is an input
    rss0 = _maxrss_mb()
    clk = _Clock()
    m = build(bp, mixing, adj)
    bw, bc = clk.lap()
    curve = step_all(m, bp)
    rw, rc = clk.lap()
    if adj is not None and hasattr(m, "grid"):
        graph["graph_ties_networkx"] = int(m.grid.G.number_of_edges())
    return {"n_buyers": spec["n"], "days": bp["horizon"], "mixing": mixing, "build_s": bw, "build_cpu_s": bc,
            "run_s": rw, "run_cpu_s": rc, "curve": [int(x) for x in curve], "rss_after_import_mb": rss0, **graph}


def mesa_bass(spec: dict) -> dict:
    from mesa_bass import BassModel

    def step_all(m, bp):
        for _ in range(bp["horizon"]):
            m.step()
        return m.adoption_curve()  # timed, like the engine's run(), which returns its result frames

    # timed construction: the agents and, on a network, networkx's graph and mesa's Network space
    return _time_bass(spec, lambda bp, mixing, adj: BassModel(spec["n"], bp["p"], bp["q"], mixing, bp["weak_ties_mean"],
                                                               seed=spec["seed"], adjacency=adj), step_all)


def numpy_bass(spec: dict) -> dict:
    from numpy_bass import NumpyBass

    return _time_bass(spec, lambda bp, mixing, adj: NumpyBass(spec["n"], bp["p"], bp["q"], spec["seed"], mixing,
                                                               bp["weak_ties_mean"], adjacency=adj),
                      lambda m, bp: m.run(bp["horizon"]))


def starsim_bass(spec: dict) -> dict:
    """The Starsim peer (network mixing only). Before the timed run, in this process and untimed: the
    import of starsim (``import_s``) and two tiny warm-up sims (``starsim_bass.warm_up``): the first
    (``first_call_s``) compiles the numba transmission kernels, or loads them from numba's cache, the
    second (``second_call_s``) is the same tiny sim warm. ``first_call_overhead_s`` = their difference
    is what a fresh process pays once on top of the timed numbers. ``spec["numba_cache"] == "cold"``
    points numba's cache at an empty folder first, so the first call is a true compile."""
    import tempfile

    cold = spec.get("numba_cache") == "cold"
    tmp = tempfile.TemporaryDirectory(prefix="bench-numba-") if cold else None
    if cold:
        os.environ["NUMBA_CACHE_DIR"] = tmp.name  # read when numba is first imported, below
    clk = _Clock()
    import numba
    import starsim
    import starsim_bass as sb

    import_s, _ = clk.lap()
    first = sb.warm_up()
    second = sb.warm_up()
    if _mixing(spec) != "network":
        raise ValueError("the Starsim peer runs network mixing only")
    res = _time_bass(spec, lambda bp, mixing, adj: sb.StarsimBass(spec["n"], bp["p"], bp["q"], bp["horizon"],
                                                                   spec["seed"], adjacency=adj,
                                                                   k_mean=bp["weak_ties_mean"]),
                     lambda m, bp: m.run())
    if tmp is not None:
        tmp.cleanup()
    return {**res, "import_s": import_s, "first_call_s": first, "second_call_s": second,
            "first_call_overhead_s": max(0.0, first - second), "numba_cache": "cold" if cold else "default",
            "starsim": starsim.__version__, "numba": numba.__version__}


# ------------------------------------------------------------------------------------------------
# full model
# ------------------------------------------------------------------------------------------------

def _wrap_construction_timers():
    """Time population and network construction inside ``JourneyModel.__init__`` by wrapping the
    names ``sim.engine.model`` uses (only in this process; nothing is written). Missing names are skipped."""
    import sim.engine.model as sm

    timers: dict[str, float] = {}

    def wrap(name: str, key: str):
        fn = getattr(sm, name, None)
        if fn is None:
            return

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timers[key] = timers.get(key, 0.0) + time.perf_counter() - t

        setattr(sm, name, timed)

    wrap("Population", "population_s")
    wrap("build_network", "network_s")
    return timers


PER_1000 = ("customers_won", "leads", "meetings", "opportunities", "total_cost")


def full_model(spec: dict) -> dict:
    import sim
    from common import scaled_default

    scen, info = scaled_default(spec["n"], spec.get("strategy") or "blended")
    timers = _wrap_construction_timers()
    rss0 = _maxrss_mb()
    clk = _Clock()
    m = sim.JourneyModel(scen, strategy=info["strategy"], seed=spec["seed"])
    m.W  # the engine builds its network on first use; every mechanism of the full model uses it: count it as construction
    bw, bc = clk.lap()
    rss1 = _maxrss_mb()
    res = m.run()
    rw, rc = clk.lap()
    n = int(m.pop.n)
    per_k = {f"{k}_per_1000_buyers": float(res.summary[k]) * 1000.0 / n for k in PER_1000 if k in res.summary}
    return {"n_buyers": n, "days": int(m.day), "nnz_ties": int(m.W.nnz), **info, "build_s": bw, "build_cpu_s": bc,
            **timers, "run_s": rw, "run_cpu_s": rc, "rss_after_import_mb": rss0, "rss_after_build_mb": rss1,
            "rss_end_mb": _maxrss_mb(), **per_k, **_sim_info()}


# ------------------------------------------------------------------------------------------------
# profile (pyinstrument; cProfile if pyinstrument is missing)
# ------------------------------------------------------------------------------------------------

STEP_PARTS = {  # per-mechanism breakdown: function name -> label (cumulative time under JourneyModel.step)
    "need.py:step": "1 need", "sales.py:plan_day": "2 sales plan", "content.py:step": "3 content",
    "campaigns.py:step": "4 campaigns", "email.py:step": "5 email", "social.py:step": "6 social",
    "networking.py:step": "7 networking", "cold_calling.py:step": "8 cold_calling",
    "research.py:step": "9 research", "sales.py:step": "10 sales", "decision.py:step": "11 decision",
    "diffusion.py:step": "12 diffusion", "after_sale.py:step": "13 after_sale",
    "model.py:_close_day": "14 close_day", "datacollection.py:collect": "14 datacollector",
}


def _short(path: str) -> str:
    p = path.replace("\\", "/")
    for anchor in ("/sim/", "/site-packages/", "/lib/python"):
        i = p.rfind(anchor)
        if i >= 0:
            return p[i + 1:]
    return Path(p).name


def _pyinstrument_hotspots(session, top: int) -> tuple[list, dict, float]:
    root = session.root_frame()
    total = float(root.time)
    cum: dict[str, float] = {}
    own: dict[str, float] = {}

    def walk(frame, ancestors: frozenset):
        if frame.is_synthetic:  # "[self]" / "[await]" leaves: counted as the parent's own time
            return
        key = f"{_short(frame.file_path or '?')}:{frame.line_no} {frame.function}"
        if key not in ancestors:
            cum[key] = cum.get(key, 0.0) + float(frame.time)
        own[key] = own.get(key, 0.0) + float(frame.total_self_time)
        anc = ancestors | {key}
        for ch in frame.children:
            walk(ch, anc)

    walk(root, frozenset())
    rows = sorted(own, key=lambda k: -own[k])[:top]
    hot = [{"function": k, "self_s": round(own[k], 3), "self_share": round(own[k] / total, 4),
            "cumulative_s": round(cum.get(k, 0.0), 3), "cumulative_share": round(cum.get(k, 0.0) / total, 4)}
           for k in rows]
    # per mechanism (cumulative, matched on file:function)
    parts: dict[str, float] = {}
    for k, v in cum.items():
        loc, func = k.split(" ", 1)
        fname = loc.split(":")[0].rsplit("/", 1)[-1]
        label = STEP_PARTS.get(f"{fname}:{func}")
        if label and ("sim/" in loc or fname == "datacollection.py"):
            parts[label] = parts.get(label, 0.0) + v
    mech = {k: {"cumulative_s": round(v, 3), "share": round(v / total, 4)}
            for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}
    top_cum = sorted(((k, v) for k, v in cum.items() if "/sim/" in "/" + k.split(" ")[0] or k.startswith("sim/")),
                     key=lambda kv: -kv[1])[:top]
    cum_rows = [{"function": k, "cumulative_s": round(v, 3), "cumulative_share": round(v / total, 4),
                 "self_s": round(own.get(k, 0.0), 3)} for k, v in top_cum]
    return hot, {"by_mechanism": mech, "top_cumulative_sim": cum_rows}, total


def profile(spec: dict) -> dict:
    import sim
    from common import bass_scenario, scaled_default

    if spec.get("model") == "bass":  # the Bass docking scenario (what the peer and floor targets time)
        mixing = spec.get("mixing") or "network"
        scen, info = bass_scenario(spec["n"], mixing), {"scenario": "bass", "mixing": mixing, "strategy": None}
    else:
        scen, info = scaled_default(spec["n"], spec.get("strategy") or "blended")
        info["scenario"] = "default"
    top = int(spec.get("top", 15))
    out_html = spec.get("html")
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None
    clk = _Clock()
    if Profiler is not None:
        prof = Profiler(interval=0.001)
        prof.start()
        m = sim.JourneyModel(scen, strategy=info["strategy"], seed=spec["seed"])
        m.run()
        prof.stop()
        wall, _ = clk.lap()
        hot, extra, total = _pyinstrument_hotspots(prof.last_session, top)
        if out_html:
            Path(out_html).write_text(prof.output_html(), encoding="utf-8")
        tool = "pyinstrument"
    else:  # pragma: no cover - fallback
        import cProfile
        import pstats

        pr = cProfile.Profile()
        pr.enable()
        m = sim.JourneyModel(scen, strategy=info["strategy"], seed=spec["seed"])
        m.run()
        pr.disable()
        wall, _ = clk.lap()
        st = pstats.Stats(pr)
        total = max(v[3] for v in st.stats.values())
        rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]
        hot = [{"function": f"{_short(f)}:{ln} {fn}", "self_s": round(v[2], 3), "self_share": round(v[2] / total, 4),
                "cumulative_s": round(v[3], 3), "cumulative_share": round(v[3] / total, 4), "calls": v[1]}
               for (f, ln, fn), v in rows]
        extra = {}
        tool = "cProfile"
    return {"tool": tool, "n_buyers": int(m.pop.n), **info, "profiled_wall_s": wall, "profiled_total_s": total,
            "hot_spots": hot, **extra, **_sim_info()}


# ------------------------------------------------------------------------------------------------
# parallel sweep
# ------------------------------------------------------------------------------------------------

def parallel(spec: dict) -> dict:
    import sim
    from sim.analysis.experiment import run_many

    from common import DEFAULT_TOML

    ov = {"market.n_accounts": spec["n_accounts"], "scenario.horizon_days": spec["horizon"],
          "channels.campaigns.burst_days": spec["burst_days"]}
    scen = sim.load_scenario(DEFAULT_TOML).with_overrides(ov)
    def children_cpu() -> float:  # the pool's workers, once they have exited and been reaped
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    ch0 = children_cpu()
    clk = _Clock()
    exp = run_many(scen, strategies=[spec["strategy"]], reps=spec["reps"], seed=1, workers=spec["workers"], progress=False)
    wall, cpu = clk.lap()
    return {"runs": int(len(exp.summary)), "workers": int(exp.workers), "elapsed_s": float(exp.elapsed_seconds),
            "wall_s": wall, "parent_cpu_s": cpu, "workers_cpu_s": children_cpu() - ch0,
            "cpu_s": cpu + children_cpu() - ch0, "customers_won_mean": float(exp.summary["customers_won"].mean()),
            **_sim_info()}


# ------------------------------------------------------------------------------------------------
# throughput: runs per core-second on the default market, one at a time and side by side
# ------------------------------------------------------------------------------------------------

def throughput(spec: dict) -> dict:
    """The default scenario as shipped (warm-up included), strategy ``spec["strategy"]``: ``spec["runs"]`` runs one
    at a time (``JourneyModel(seed=...)``), then the same runs side by side in batches of ``spec["batch"]`` (the
    replication axis), in this one process; CPU seconds per run and buyer-days per CPU second for each."""
    import sim
    from sim.engine.model import run, run_batch

    from common import DEFAULT_TOML

    scen = sim.load_scenario(DEFAULT_TOML)
    seeds = list(range(1, spec["runs"] + 1))
    run(scen, spec["strategy"], 10_000)  # imports and first-call costs out of the clock
    clk = _Clock()
    single = [run(scen, spec["strategy"], s) for s in seeds]
    sw, sc = clk.lap()
    B = int(spec["batch"])
    batched = [r for i in range(0, len(seeds), B) for r in run_batch(scen, spec["strategy"], seeds[i:i + B])]
    bw, bc = clk.lap()
    same = all(a.summary["customers_won"] == b.summary["customers_won"] and a.summary["total_cost"] == b.summary["total_cost"]
               for a, b in zip(single, batched))
    m = sim.JourneyModel(scen, strategy=spec["strategy"], seed=1)
    buyer_days = float(m.pop.n) * (m.warmup + m.horizon)
    n = len(seeds)
    return {"runs": n, "batch": B, "strategy": spec["strategy"], "n_buyers": int(m.pop.n), "days": m.warmup + m.horizon,
            "single_wall_s": sw, "single_cpu_s": sc, "batched_wall_s": bw, "batched_cpu_s": bc,
            "single_cpu_per_run_s": sc / n, "batched_cpu_per_run_s": bc / n,
            "single_buyer_days_per_cpu_s": buyer_days * n / sc, "batched_buyer_days_per_cpu_s": buyer_days * n / bc,
            "same_numbers": same, **_sim_info()}


def main_job(spec: dict) -> dict:
    """``python run.py`` as a user runs it (80 runs on ``spec["workers"]`` local processes, charts and report
    included), into a temporary folder: its wall time, and the simulation's share as it reports it."""
    import re
    import subprocess
    import tempfile

    from common import ROOT

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--workers", str(spec["workers"]), "--out",
                               str(Path(tmp) / "res")], cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"run.py failed: {proc.stderr[-2000:]}")
    m = re.search(r"Simulated (\d+) runs in ([0-9.]+) s", proc.stderr)
    return {"wall_s": wall, "runs": int(m.group(1)) if m else None, "simulate_s": float(m.group(2)) if m else None,
            "workers": spec["workers"], **_sim_info()}


# ------------------------------------------------------------------------------------------------
# calibration
# ------------------------------------------------------------------------------------------------

def _pop_dotted(table: dict, path: str) -> None:
    """Remove ``path`` ("sales.meeting_progress_gain") from a TOML table, dotted or nested, and the tables
    it leaves empty; KeyError if it is not there."""
    if path in table:
        del table[path]
        return
    head, _, rest = path.partition(".")
    if not rest or not isinstance(table.get(head), dict):
        raise KeyError(path)
    _pop_dotted(table[head], rest)
    if not table[head]:
        del table[head]


def _set_dotted(table: dict, path: str, value) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        table[head] = value
        return
    _set_dotted(table.setdefault(head, {}), rest, value)


def calibration(spec: dict) -> dict:
    """``sim.calibration.calibrate`` of the targets file ``spec["targets"]`` (relative to the project folder),
    with the free parameters ``spec["fix"]`` left at their scenario values and the entries of ``spec["set"]``
    ({dotted key of the targets file: value}) replacing the file's, on ``spec["workers"]`` local worker
    processes, every run committed to an SQLite store in a temporary folder (as ``run.py calibrate`` does).
    Timed: the whole ``calibrate`` call (every fitting and posterior-predictive run and the posterior tables),
    not writing a results folder."""
    import math
    import tempfile
    import tomllib

    import numpy as np

    from sim.calibration import calibrate, make_targets

    from common import ROOT

    path = (ROOT / spec["targets"]).resolve()
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    for p in spec.get("fix", []):
        _pop_dotted(data["params"], p)
    for key in spec.get("drop", []):  # the file's own search tables (the benchmark sets its own)
        data.pop(key, None)
    for key, value in spec.get("set", {}).items():
        _set_dotted(data, key, value)
    targets = make_targets(data, where=f"{path} (benchmark)", base=path.parent, path=path)
    shape = (len(targets.params), len(targets.targets))
    if "params" in spec and "targets_n" in spec and shape != (spec["params"], spec["targets_n"]):
        raise SystemExit(f"the calibration benchmark is {spec['params']} free parameters x {spec['targets_n']} "
                         f"targets, but {spec['targets']} without {spec.get('fix')} gives {shape[0]} x {shape[1]}: "
                         f"{targets.names} x {[t.name for t in targets.targets]}")

    def children_cpu() -> float:  # the pool's workers, once they have exited and been reaped
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    with tempfile.TemporaryDirectory(prefix="bench-calibration-") as tmp:
        ch0 = children_cpu()
        clk = _Clock()
        cal = calibrate(targets, workers=spec["workers"], store=Path(tmp) / "calibration.sqlite", progress=False)
        wall, cpu = clk.lap()
        workers_cpu = children_cpu() - ch0
    res, s = cal.result, targets.settings
    final = res.final

    def finite(x: float) -> float | None:  # the prior generation's tolerance is +inf: JSON null
        return float(x) if math.isfinite(x) else None

    return {"wall_s": wall, "parent_cpu_s": cpu, "workers_cpu_s": workers_cpu, "cpu_s": cpu + workers_cpu,
            "runs": int(res.executed), "runs_needed": int(res.runs_needed),
            "runs_discarded": int(res.discarded), "runs_predictive": len(res.predictive), "runs_per_s": res.executed / wall if wall > 0 else None,
            "generations": len(res.generations), "incomplete_generation": res.incomplete is not None,
            "final_epsilon": finite(final.epsilon), "final_distance_median": finite(float(np.median(final.distances))),
            "stop_reason": res.stop_reason, "params": targets.names, "targets": [t.name for t in targets.targets],
            "settings": dict(vars(s)), "overrides": {k: v for k, v in targets.overrides.items()},
            "definition_hash": targets.hash, **_sim_info()}


# ------------------------------------------------------------------------------------------------
# optimisation
# ------------------------------------------------------------------------------------------------

def optimisation(spec: dict) -> dict:
    """``sim.optimise.optimise`` of the default scenario with ``spec["constraints"]`` and ``spec["settings"]``
    (trials, replications, batch, confirmation and curve replications), objective ``spec["objective"]``, on
    ``spec["workers"]`` local worker processes, every run committed to an SQLite store in a temporary folder (as
    ``run.py optimize`` does). Timed: the whole ``optimise`` call (search, confirmation, response curves and the
    tables), not writing a results folder."""
    import tempfile

    from sim.optimise import optimise

    def children_cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    with tempfile.TemporaryDirectory(prefix="bench-optimisation-") as tmp:
        ch0 = children_cpu()
        clk = _Clock()
        res = optimise(spec.get("scenario"), objective=spec["objective"], constraints=spec["constraints"],
                       workers=spec["workers"], store=Path(tmp) / "optimisation.sqlite", progress=False,
                       **spec["settings"])
        wall, cpu = clk.lap()
        workers_cpu = children_cpu() - ch0
    conf = res.confirmation
    kinds = res.runs["kind"].value_counts().to_dict()
    return {"wall_s": wall, "parent_cpu_s": cpu, "workers_cpu_s": workers_cpu, "cpu_s": cpu + workers_cpu,
            "runs": int(res.executed), "runs_by_kind": {k: int(v) for k, v in kinds.items()},
            "runs_per_s": res.executed / wall if wall > 0 else None, "variables": res.problem.space.dims,
            "settings": dict(vars(res.problem.settings)), "best_trial": res.best_trial,
            "best_search_value": float(res.trace["value"].iloc[res.best_trial]),
            "confirmation": {r.plan: {"mean": r.mean, "verdict": r.verdict if isinstance(r.verdict, str) else None}
                             for r in conf.itertuples()},
            "recommended": res.best, "definition_hash": res.problem.hash, **_sim_info()}


KINDS = {"engine_bass": engine_bass, "mesa_bass": mesa_bass, "numpy_bass": numpy_bass, "starsim_bass": starsim_bass,
         "engine_graph": engine_graph,
         "full_model": full_model, "profile": profile, "parallel": parallel, "calibration": calibration,
         "optimisation": optimisation, "throughput": throughput, "main_job": main_job}


def main() -> None:
    spec = json.loads(sys.argv[1])
    out = KINDS[spec["kind"]](spec)
    out["pid"] = os.getpid()
    out["child_maxrss_mb"] = _maxrss_mb()
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
