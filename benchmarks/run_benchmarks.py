"""The benchmark suite: one command, a table, and benchmarks/results/<date>.json.

    python benchmarks/run_benchmarks.py            # standard set (10k and 100k buyers, 200-run sweep, profile)
    python benchmarks/run_benchmarks.py --quick    # fast subset (~2 min)
    python benchmarks/run_benchmarks.py --full     # everything, including 1,000,000 buyers and the calibration
    python benchmarks/run_benchmarks.py --only calibration   # the calibration benchmark alone (~20 min)
    python benchmarks/run_benchmarks.py --only optimisation  # the optimisation benchmark alone (~10 min)

Every number is measured in a fresh single-threaded subprocess (``benchmarks/measure.py``), so
peak RSS is per measurement; ratios are measured back to back in the same invocation because the
machine is noisy. See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from common import bass_params, curve_stats, mean_field_curve  # noqa: E402

TARGETS = {
    "peer_ratio_min": 50.0,          # engine buyer-days/s >= 50 x Mesa peer, 10k buyers
    "starsim_ratio_min": 1.0,        # engine at least as fast per buyer-day as the Starsim peer (10k and 100k)
    "floor_ratio_max": 3.0,          # engine time <= 3 x numpy floor, 100k buyers
    "full_100k_max_s": 10.0,         # default scenario, 100k buyers, 365 days, construction + stepping
    "full_1m_max_s": 120.0,          # 1M buyers
    "full_1m_max_rss_mb": 4096.0,    # 1M buyers, peak RSS
    "scaling_exponent_max": 1.15,    # "close to linear": time ~ n^b with b <= 1.15 (10k..1M)
    "parallel_speedup_min": 1.8,     # 2 workers vs 1 on a 200-run sweep
    "calibration_max_s": 1200.0,     # a calibration of 6 parameters to 10 targets on 2 cores: under 20 minutes
    "optimisation_max_s": 1200.0,    # an optimisation of 7 variables, 100 trials x 5 replications, on 2 cores: < 20 min
    "throughput_gain_min": 3.0,      # runs per core-second on the default market, side by side vs one at a time
    "batched_vs_1m_max": 1.5,        # a default-market run's time per buyer-day, side by side, vs a 1M-buyer run's
    "main_job_max_s": 15.0,          # python run.py (80 runs, charts and report) on 2 idle cores
}

MODES = {
    #            peer reps, floor reps, sizes,                       size reps, sweep runs, profile, curve-check seeds (10k, 100k)
    "quick": dict(peer_reps=1, floor_reps=2, sizes=[10_000, 100_000], size_reps=1, sweep=20, profile=False, ref=(100, 20), calibration=False, optimisation=False),
    "standard": dict(peer_reps=3, floor_reps=3, sizes=[10_000, 100_000], size_reps=2, sweep=200, profile=True, ref=(200, 40), calibration=False, optimisation=False),
    "full": dict(peer_reps=3, floor_reps=3, sizes=[10_000, 100_000, 1_000_000], size_reps=2, sweep=200, profile=True, ref=(200, 40), calibration=True, optimisation=True),
}
SECTIONS = ("peer", "floor", "full", "parallel", "throughput", "profile", "calibration", "optimisation")
#: the throughput section: the default scenario as shipped, 20 runs one at a time and then in one batch of 20
THROUGHPUT = {"runs": 20, "batch": 20, "strategy": "blended"}
#: Bass mixings measured by the peer and floor sections, in the order they run in each repetition.
#: The headline is network mixing: the issue's peer is a Mesa agent per buyer *on a network*, its
#: floor a numpy + scipy.sparse implementation; all three run on the engine's graph. Full mixing
#: (the fully mixed Bass model) is reported alongside: it is the harder comparison for the engine.
MIXINGS = ("network", "full")
HEADLINE_MIXING = "network"
#: sizes of the Starsim comparison (issue 15's second peer: network mixing only, on the engine's graph)
STARSIM_SIZES = (10_000, 100_000)
# the parallel sweep: the default scenario (every mechanism on) at 300 accounts over its full year,
# ~0.5 s a run, so a 200-run sweep measures the pool, not the pool's start-up (~2 s to spawn workers)
SWEEP = {"n_accounts": 300, "horizon": 365, "burst_days": [10, 40, 70, 100], "strategy": "blended"}
# the calibration: the "calibration of 6 parameters to 10 targets" is the B2B calibration of the
# default scenario (its targets file, the benchmark pack's 10 targets) with its free parameters past the first six
# (sales.meeting_progress_gain, sales.qualify_fit, sales.dormant_accept, decision.stance_mean) left at the
# scenario's values,
# by ABC-SMC with a fixed budget of 1,800 runs (150 particles x 2 replications, at most 5 generations, 100
# posterior-predictive runs), whatever method and budget the file itself records; 2 local worker processes
CALIBRATION = {"targets": "scenarios/calibration/default_b2b.toml",
               "fix": ["sales.meeting_progress_gain", "sales.qualify_fit", "sales.dormant_accept", "decision.stance_mean"],
               "drop": ["optuna", "abc"], "params": 6, "targets_n": 10, "workers": 2,
               "budget": {"method": "abc", "replications": 2, "abc.population": 150, "abc.generations": 5,
                          "abc.max_runs": 1800, "abc.quantile": 0.5, "abc.predictive_draws": 100}}
# the optimisation: the "7 variables (100 trials x 5 replications) on the default market" is the default
# scenario's budget ($400k) over 5 channels (content, email, cold calling, networking, campaigns: 4 coordinates
# of the simplex; social and paid search left out) and the reps' split over 4 activities (3 coordinates), on
# profit; then the confirmation (20 fresh seeds x the plan and 4 strategies) and the response curves (10 seeds)
OPTIMISATION = {"objective": "profit", "workers": 2, "variables": 7,
                "constraints": {"channels": {"social": 0, "paid_search": 0}},
                "settings": {"trials": 100, "replications": 5, "batch": 10, "confirm_replications": 20,
                             "curve_replications": 10}}


# ------------------------------------------------------------------------------------------------
# running one measurement in a fresh process
# ------------------------------------------------------------------------------------------------

def child_env(engine: str | None) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS"):
        env[var] = "1"
    env["PYTHONHASHSEED"] = "0"
    if engine:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(engine).resolve())] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def measure(spec: dict, env: dict, log) -> dict:
    """Run benchmarks/measure.py with ``spec`` in a fresh process; add its peak RSS and the load."""
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, str(HERE / "measure.py"), json.dumps(spec)], stdout=subprocess.PIPE,
                                stderr=err, env=env, cwd=str(HERE))
        out = proc.stdout.read().decode("utf-8", "replace")
        proc.stdout.close()
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    wall = time.perf_counter() - t0
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"measurement {spec} failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    res = json.loads(line[len("RESULT "):])
    res.update(spec=spec, process_wall_s=wall, peak_rss_mb=ru.ru_maxrss / 1024.0,
               process_cpu_s=ru.ru_utime + ru.ru_stime, load_before=list(load0), load_after=list(os.getloadavg()))
    if "build_s" in res:
        res["total_s"] = res["build_s"] + res["run_s"]
        res["total_cpu_s"] = res["build_cpu_s"] + res["run_cpu_s"]
    log(f"    {spec['kind']:<12} " + ", ".join(f"{k}={v}" for k, v in spec.items() if k != "kind")
        + (f": build {res['build_s']:.2f}s run {res['run_s']:.2f}s" if "build_s" in res else f": {wall:.1f}s")
        + f", peak RSS {res['peak_rss_mb']:.0f} MB, load {load0[0]:.2f}")
    return res


def med(rows: list[dict], key: str) -> float:
    return float(np.median([r[key] for r in rows]))


# ------------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------------

def bass_rows(rows: list[dict]) -> dict:
    n, days = rows[0]["n_buyers"], rows[0]["days"]
    tot, run = med(rows, "total_s"), med(rows, "run_s")
    return {"n_buyers": n, "days": days, "reps": len(rows), "build_s": med(rows, "build_s"), "run_s": run,
            "total_s": tot, "total_cpu_s": med(rows, "total_cpu_s"), "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
            "buyer_days_per_s": n * days / tot, "buyer_days_per_s_stepping": n * days / run,
            "curve_stats": [curve_stats(r["curve"], n) for r in rows],
            **({"graphs": [r["graph"] for r in rows]} if "graph" in rows[0] else {}),
            **({"sim_file": rows[0]["sim_file"]} if "sim_file" in rows[0] else {})}


def engine_graph(n: int, seed: int, env, log, graphs: dict) -> dict:
    """The engine's network for ``bass_scenario(n, "network")`` and ``seed``, built once in its own
    process through the public API (``common.engine_adjacency``) and saved as .npz: the peer and the
    floor load it before their clocks start, so all three run on the identical graph."""
    key = (n, seed)
    if key not in graphs:
        path = str(Path(graphs["_dir"]) / f"engine_graph_{n}_{seed}.npz")
        g = measure({"kind": "engine_graph", "n": n, "seed": seed, "path": path}, env, log)
        graphs[key] = {k: g[k] for k in ("graph", "graph_ties", "mean_degree", "isolated", "path", "build_model_s")}
        graphs[key]["seed"] = seed
    return graphs[key]


def bass_reps(n: int, reps: int, impls: tuple | dict, env, log, curves: dict, graphs: dict) -> dict:
    """``reps`` repetitions; in each, for each mixing (network first), the implementations back to
    back. ``impls``: the same tuple for every mixing of MIXINGS, or {mixing: tuple} (the mixings it
    names, in MIXINGS order: the Starsim peer runs network mixing only). Returns {mixing: {impl:
    [rows]}}; adds the curves to ``curves[mixing][n][impl]`` as (graph seed, curve)."""
    by_mixing = {mx: tuple(impls[mx]) for mx in MIXINGS if mx in impls} if isinstance(impls, dict) \
        else {mx: tuple(impls) for mx in MIXINGS}
    out = {mx: {impl: [] for impl in ims} for mx, ims in by_mixing.items()}
    for r in range(reps):
        seed = r + 1
        g = engine_graph(n, seed, env, log, graphs)  # untimed, its own process
        for mx, ims in by_mixing.items():
            extra = {"adjacency": g["path"]} if mx == "network" else {}
            for impl in ims:
                spec = {"kind": f"{impl}_bass", "n": n, "seed": seed, "mixing": mx}
                if impl != "engine":
                    spec.update(extra)
                out[mx][impl].append(measure(spec, env, log))
    for mx, ims in by_mixing.items():
        by = curves.setdefault(mx, {}).setdefault(n, {})
        for impl in ims:
            by.setdefault(impl, []).extend((x["spec"]["seed"], x["curve"]) for x in out[mx][impl])
    return out


def same_graph(runs: dict, graphs: dict) -> dict:
    """Did every network run (engine, peer, floor) use the graph the engine builds for its seed?"""
    rows = [x for lst in runs.values() for x in lst]
    bad = [f"{x['spec']['kind']} seed {x['spec']['seed']}" for x in rows
           if x.get("graph") != graphs[(x["n_buyers"], x["spec"]["seed"])]["graph"]]
    return {"same_graph": not bad, **({"graph_mismatch": bad} if bad else {}),
            "graphs": [{k: v for k, v in graphs[(rows[0]["n_buyers"], s)].items() if k != "path"}
                       for s in sorted({x["spec"]["seed"] for x in rows})]}


def starsim_available() -> str | None:
    """None if the Starsim peer can run (starsim installed: the ``bench`` extra), else why not."""
    import importlib.util

    return None if importlib.util.find_spec("starsim") else "starsim is not installed (pip install -e '.[bench]')"


def starsim_rows(rows: list[dict]) -> dict:
    """bass_rows of the Starsim peer plus its once-per-process costs (medians over the repetitions)."""
    out = bass_rows(rows)
    for k in ("import_s", "first_call_s", "second_call_s", "first_call_overhead_s"):
        out[k] = med(rows, k)
    out["starsim"], out["numba"] = rows[0]["starsim"], rows[0]["numba"]
    # a fresh process's first run: the timed run plus what the warm-up took off it (numba cache load)
    out["buyer_days_per_s_first_call"] = out["n_buyers"] * out["days"] / (out["total_s"] + out["first_call_overhead_s"])
    return out


def starsim_size(runs: dict, graphs: dict, mesa: dict | None = None) -> dict:
    """One size of the Starsim comparison (network mixing, back-to-back runs on the engine's graphs)."""
    e, st, f = bass_rows(runs["engine"]), starsim_rows(runs["starsim"]), bass_rows(runs["numpy"])
    ratio = e["buyer_days_per_s"] / st["buyer_days_per_s"]
    out = {"engine": e, "starsim_peer": st, "numpy_floor": f, "ratio_engine_over_starsim": ratio,
           "ratio_engine_over_starsim_stepping": e["buyer_days_per_s_stepping"] / st["buyer_days_per_s_stepping"],
           "ratio_engine_over_starsim_cpu": st["total_cpu_s"] / e["total_cpu_s"],
           "ratio_engine_over_starsim_first_call": e["buyer_days_per_s"] / st["buyer_days_per_s_first_call"],
           "target": f">= {TARGETS['starsim_ratio_min']:g}x", "pass": ratio >= TARGETS["starsim_ratio_min"],
           **same_graph(runs, graphs)}
    if mesa is not None:
        out["mesa_peer_buyer_days_per_s"] = mesa["buyer_days_per_s"]
    return out


def section_peer(cfg, env, log, curves, graphs) -> dict:
    n = 10_000
    why_not = starsim_available()
    net_impls = ("engine", "mesa", "numpy") if why_not else ("engine", "mesa", "starsim", "numpy")
    log(f"[peer] Bass scenario, {n:,} buyers: engine vs Mesa peer (one mesa.Agent per buyer)"
        + ("" if why_not else " vs Starsim peer (network only)") + " vs numpy floor, network mixing on the "
        "engine's graph, then full mixing; back to back" + (f" (no Starsim peer: {why_not})" if why_not else ""))
    runs = bass_reps(n, cfg["peer_reps"], {"network": net_impls, "full": ("engine", "mesa", "numpy")}, env, log,
                     curves, graphs)
    target = f">= {TARGETS['peer_ratio_min']:g}x"
    mixings = {}
    for mx in MIXINGS:
        e, p, f = bass_rows(runs[mx]["engine"]), bass_rows(runs[mx]["mesa"]), bass_rows(runs[mx]["numpy"])
        ratio = e["buyer_days_per_s"] / p["buyer_days_per_s"]
        mixings[mx] = {"engine": e, "mesa_peer": p, "numpy_floor": f, "mixing": mx,
                       "ratio_engine_over_peer": ratio,
                       "ratio_engine_over_peer_stepping": e["buyer_days_per_s_stepping"] / p["buyer_days_per_s_stepping"],
                       "ratio_engine_over_peer_cpu": p["total_cpu_s"] / e["total_cpu_s"],
                       "target": target, "pass": ratio >= TARGETS["peer_ratio_min"],
                       **(same_graph(runs[mx], graphs) if mx == "network" else {})}
        if "starsim" in runs[mx]:
            mixings[mx]["starsim_peer"] = starsim_rows(runs[mx]["starsim"])
    out = {"mixings": mixings, "headline_mixing": HEADLINE_MIXING, "target": target,
           "pass": mixings[HEADLINE_MIXING]["pass"]}
    out["starsim"] = {"skipped": why_not} if why_not else section_starsim(cfg, env, log, curves, graphs, runs["network"])
    return out


def section_starsim(cfg, env, log, curves, graphs, runs_10k: dict) -> dict:
    """The second peer (issue 15): the engine against Starsim per buyer-day, network mixing on the engine's
    graph, at each of STARSIM_SIZES, back to back in this run (10k: the peer section's network runs; larger
    sizes: engine, Starsim, numpy floor here). Then one Starsim run with an empty numba cache: the compile
    time of its kernels (``first_call_s`` there), reported apart from the per-buyer-day ratio."""
    sizes = {}
    for n in STARSIM_SIZES:
        if n == 10_000:
            runs = {k: runs_10k[k] for k in ("engine", "starsim", "numpy")}
            mesa = bass_rows(runs_10k["mesa"]) if "mesa" in runs_10k else None
        else:
            log(f"[peer] Starsim peer at {n:,} buyers: engine vs Starsim vs numpy floor, network mixing on the "
                f"engine's graph; back to back")
            runs = bass_reps(n, cfg["peer_reps"], {"network": ("engine", "starsim", "numpy")}, env, log, curves,
                             graphs)["network"]
            mesa = None
        sizes[str(n)] = starsim_size(runs, graphs, mesa)
    log("[peer] Starsim compile time: one run with an empty numba cache")
    g = engine_graph(10_000, 1, env, log, graphs)
    cold = measure({"kind": "starsim_bass", "n": 10_000, "seed": 1, "mixing": "network", "adjacency": g["path"],
                    "numba_cache": "cold"}, env, log)
    compile_ = {"n_buyers": 10_000, "numba_cache": "cold", "import_s": cold["import_s"],
                "first_call_s": cold["first_call_s"], "second_call_s": cold["second_call_s"],
                "compile_s": cold["first_call_overhead_s"], "timed_total_s": cold["total_s"],
                "load_before": cold["load_before"]}
    return {"sizes": sizes, "compile": compile_, "target": f">= {TARGETS['starsim_ratio_min']:g}x",
            "pass": all(v["pass"] for v in sizes.values()),
            "definition": "buyer-days/s = buyers x days / (construction + stepping) of one fresh process; "
                          "Starsim's import and one 5,000-agent warm-up sim (numba cache load) run first, untimed "
                          "and reported (first_call_*); compile: an empty numba cache"}


def section_floor(cfg, env, log, curves, graphs) -> dict:
    n = 100_000
    log(f"[floor] Bass scenario, {n:,} buyers: engine vs minimal numpy + scipy.sparse, network mixing on the "
        f"engine's graph, then full mixing; back to back")
    runs = bass_reps(n, cfg["floor_reps"], ("engine", "numpy"), env, log, curves, graphs)
    target = f"<= {TARGETS['floor_ratio_max']:g}x"
    mixings = {}
    for mx in MIXINGS:
        e, f = bass_rows(runs[mx]["engine"]), bass_rows(runs[mx]["numpy"])
        ratio = e["total_s"] / f["total_s"]
        mixings[mx] = {"engine": e, "numpy_floor": f, "mixing": mx, "ratio_engine_over_floor": ratio,
                       "ratio_engine_over_floor_stepping": e["run_s"] / f["run_s"],
                       "ratio_engine_over_floor_cpu": e["total_cpu_s"] / f["total_cpu_s"],
                       "target": target, "pass": ratio <= TARGETS["floor_ratio_max"],
                       **(same_graph(runs[mx], graphs) if mx == "network" else {})}
    return {"mixings": mixings, "headline_mixing": HEADLINE_MIXING, "target": target,
            "pass": mixings[HEADLINE_MIXING]["pass"]}


def section_mixings(sec: dict) -> dict:
    """{mixing: per-mixing section} of a peer or floor section; a record written before network
    mixing was measured (no "mixings") holds one full-mixing measurement."""
    if "mixings" in sec:
        return sec["mixings"]
    return {sec.get("mixing", "full"): sec}


def fit_exponent(ns, ts) -> float | None:
    if len(ns) < 2:
        return None
    b, _ = np.polyfit(np.log(ns), np.log(ts), 1)
    return float(b)


def section_full(cfg, env, log) -> tuple[dict, dict]:
    log("[full model] default scenario scaled to N buyers, strategy 'blended', 365 days, one core")
    sizes = {}
    for n in cfg["sizes"]:
        reps = 1 if n >= 1_000_000 else cfg["size_reps"]
        rows = [measure({"kind": "full_model", "n": n, "seed": 1}, env, log) for _ in range(reps)]
        best = dict(rows[int(np.argsort([r["total_s"] for r in rows])[len(rows) // 2])])  # the median run
        for k in ("build_s", "run_s", "total_s", "build_cpu_s", "run_cpu_s", "total_cpu_s"):
            best[k] = med(rows, k)
        best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rows)
        best["reps"] = reps
        best["buyer_days_per_s"] = best["n_buyers"] * best["days"] / best["total_s"]
        best.pop("spec", None)
        sizes[str(n)] = best
    full = {"sizes": sizes}
    if "100000" in sizes:
        t = sizes["100000"]["total_s"]
        full["t_100k_s"] = t
        full["pass_100k"] = t < TARGETS["full_100k_max_s"]
    if "1000000" in sizes:
        s = sizes["1000000"]
        full["t_1m_s"], full["rss_1m_mb"] = s["total_s"], s["peak_rss_mb"]
        full["pass_1m_time"] = s["total_s"] < TARGETS["full_1m_max_s"]
        full["pass_1m_rss"] = s["peak_rss_mb"] < TARGETS["full_1m_max_rss_mb"]
    ns = [v["n_buyers"] for v in sizes.values()]
    scaling = {"n_buyers": ns,
               "exponent_total": fit_exponent(ns, [v["total_s"] for v in sizes.values()]),
               "exponent_stepping": fit_exponent(ns, [v["run_s"] for v in sizes.values()]),
               "exponent_total_cpu": fit_exponent(ns, [v["total_cpu_s"] for v in sizes.values()]),
               "exponent_stepping_cpu": fit_exponent(ns, [v["run_cpu_s"] for v in sizes.values()]),
               "exponent_construction": fit_exponent(ns, [v["build_s"] for v in sizes.values()]),
               "exponent_peak_rss": fit_exponent(ns, [v["peak_rss_mb"] for v in sizes.values()]),
               "covers_1m": "1000000" in sizes}
    if len(ns) >= 2:  # exponent over consecutive pairs shows where the curve bends
        scaling["pairwise_exponent_total"] = {
            f"{a}->{b}": fit_exponent([sizes[a]["n_buyers"], sizes[b]["n_buyers"]], [sizes[a]["total_s"], sizes[b]["total_s"]])
            for a, b in zip(list(sizes)[:-1], list(sizes)[1:])}
    if scaling["exponent_total"] is not None:
        scaling["target"] = f"<= {TARGETS['scaling_exponent_max']:g}"
        scaling["pass"] = scaling["exponent_total"] <= TARGETS["scaling_exponent_max"]
    return full, scaling


def section_parallel(cfg, env, log) -> dict:
    runs = cfg["sweep"]
    log(f"[parallel] run_many: {runs} runs of the default scenario at {SWEEP['n_accounts']} accounts x "
        f"{SWEEP['horizon']} days, strategy '{SWEEP['strategy']}', workers 1 then 2")
    spec = {"kind": "parallel", "reps": runs, **SWEEP}
    one = measure({**spec, "workers": 1}, env, log)
    two = measure({**spec, "workers": 2}, env, log)
    speed = one["elapsed_s"] / two["elapsed_s"]
    # CPU accounting during run_many (parent + the pool's workers): how many cores the sweep got, and
    # the speed-up it would reach on two otherwise idle cores (2 x serial CPU / parallel CPU, capped at 2)
    share1 = one["cpu_s"] / one["wall_s"]
    share2 = two["cpu_s"] / two["wall_s"]
    idle_est = min(2.0, 2.0 * one["cpu_s"] / two["cpu_s"])
    return {"runs": runs, **SWEEP, "elapsed_1_worker_s": one["elapsed_s"], "elapsed_2_workers_s": two["elapsed_s"],
            "speedup": speed, "cpu_1_worker_s": one["cpu_s"], "cpu_2_workers_s": two["cpu_s"],
            "cores_obtained_1_worker": share1, "cores_obtained_2_workers": share2,
            "speedup_estimate_idle_cores": idle_est,
            "load_during_1": one["load_after"], "load_during_2": two["load_after"],
            "same_results": abs(one["customers_won_mean"] - two["customers_won_mean"]) < 1e-9,
            "target": f">= {TARGETS['parallel_speedup_min']:g}x", "pass": speed >= TARGETS["parallel_speedup_min"]}


def section_throughput(cfg, env, log, full: dict | None) -> dict:
    """Runs per core-second on the default market one at a time and side by side (the replication axis), a run's
    cost per buyer-day side by side against a 1M-buyer run's (this record's full section, else the latest stored
    one), and the main job's wall time on 2 local processes."""
    log(f"[throughput] default scenario as shipped, {THROUGHPUT['runs']} runs of {THROUGHPUT['strategy']!r}: one at a "
        f"time, then side by side in batches of {THROUGHPUT['batch']}")
    t = measure({"kind": "throughput", **THROUGHPUT}, env, log)
    gain = t["single_cpu_s"] / t["batched_cpu_s"]
    out = {k: t[k] for k in ("runs", "batch", "strategy", "n_buyers", "days", "single_cpu_per_run_s",
                             "batched_cpu_per_run_s", "single_buyer_days_per_cpu_s", "batched_buyer_days_per_cpu_s",
                             "single_wall_s", "batched_wall_s", "same_numbers", "load_before", "load_after")}
    out.update(runs_per_core_s_single=1.0 / t["single_cpu_per_run_s"], runs_per_core_s_batched=1.0 / t["batched_cpu_per_run_s"],
               gain=gain, gain_target=f">= {TARGETS['throughput_gain_min']:g}x", gain_pass=gain >= TARGETS["throughput_gain_min"])
    ref, src = None, None
    sizes = (full or {}).get("sizes", {})
    if "1000000" in sizes:
        ref, src = sizes["1000000"], "this run"
    else:
        for path in sorted(RESULTS.glob("*.json"), reverse=True):
            try:
                runs = json.loads(path.read_text()).get("runs", [])
            except (OSError, ValueError):
                continue
            for r in reversed(runs):
                got = r.get("sections", {}).get("full", {}).get("sizes", {}).get("1000000")
                if got and got.get("total_cpu_s"):
                    ref, src = got, f"{path.name} ({r.get('label', '')})"
                    break
            if ref:
                break
    if ref:
        per_1m = ref["total_cpu_s"] / (ref["n_buyers"] * ref["days"])
        per_batch = 1.0 / t["batched_buyer_days_per_cpu_s"]
        out.update(ns_per_buyer_day_1m=per_1m * 1e9, ns_per_buyer_day_batched=per_batch * 1e9,
                   ns_per_buyer_day_single=1e9 / t["single_buyer_days_per_cpu_s"], ratio_vs_1m=per_batch / per_1m,
                   ratio_vs_1m_single=(1.0 / t["single_buyer_days_per_cpu_s"]) / per_1m, ref_1m=src,
                   ratio_target=f"<= {TARGETS['batched_vs_1m_max']:g}x", ratio_pass=per_batch / per_1m <= TARGETS["batched_vs_1m_max"])
    log("[throughput] the main job: python run.py --workers 2 (80 runs, charts and report)")
    mj = measure({"kind": "main_job", "workers": 2}, env, log)
    out.update(main_job_wall_s=mj["wall_s"], main_job_simulate_s=mj["simulate_s"], main_job_runs=mj["runs"],
               main_job_runs_per_s=(mj["runs"] / mj["simulate_s"]) if mj.get("simulate_s") else None,
               main_job_load_before=mj["load_before"], main_job_load_after=mj["load_after"],
               main_job_target=f"< {TARGETS['main_job_max_s']:g} s", main_job_pass=mj["wall_s"] < TARGETS["main_job_max_s"])
    return out


def section_calibration(cfg, env, log) -> dict:
    """The calibration benchmark (CALIBRATION), in one fresh process; ``cfg["calibration_set"]`` ({dotted key
    of the targets file: value}, from --calibration-set) replaces entries of the file, which makes it a
    reduced run: recorded, but never a PASS or FAIL against the target."""
    changed = dict(cfg.get("calibration_set") or {})
    log(f"[calibration] {CALIBRATION['targets']} without {', '.join(CALIBRATION['fix'])}: {CALIBRATION['params']} "
        f"free parameters x {CALIBRATION['targets_n']} targets, {CALIBRATION['workers']} workers"
        + (f"; reduced: {', '.join(f'{k} = {v!r}' for k, v in changed.items())}" if changed else ""))
    spec = {k: v for k, v in CALIBRATION.items() if k != "budget"}
    res = measure({"kind": "calibration", **spec, "set": {**CALIBRATION["budget"], **changed}}, env, log)
    target = f"< {TARGETS['calibration_max_s']:g} s"
    full_size = not changed
    out = {k: res[k] for k in ("wall_s", "cpu_s", "parent_cpu_s", "workers_cpu_s", "runs", "runs_needed",
                               "runs_discarded", "runs_predictive", "runs_per_s", "generations",
                               "incomplete_generation", "final_epsilon", "final_distance_median", "stop_reason",
                               "params", "targets", "settings", "overrides", "definition_hash", "sim_file")}
    out.update(targets_file=CALIBRATION["targets"], fixed=CALIBRATION["fix"], workers=CALIBRATION["workers"],
               set=changed, full_size=full_size, cores_obtained=res["cpu_s"] / res["wall_s"],
               peak_rss_mb=res["peak_rss_mb"], load_before=res["load_before"], load_after=res["load_after"],
               target=target, **{"pass": res["wall_s"] < TARGETS["calibration_max_s"] if full_size else None})
    return out


def section_optimisation(cfg, env, log) -> dict:
    """The optimisation benchmark (OPTIMISATION), in one fresh process; ``cfg["optimisation_set"]`` (setting:
    value, from --optimisation-set) replaces settings, which makes it a reduced run: recorded, never a PASS or
    FAIL against the target."""
    changed = dict(cfg.get("optimisation_set") or {})
    settings = {**OPTIMISATION["settings"], **changed}
    log(f"[optimisation] default scenario: {OPTIMISATION['variables']} variables, {settings['trials']} trials x "
        f"{settings['replications']} replications, {OPTIMISATION['workers']} workers"
        + (f"; reduced: {', '.join(f'{k} = {v!r}' for k, v in changed.items())}" if changed else ""))
    spec = {"kind": "optimisation", **{k: v for k, v in OPTIMISATION.items() if k != "variables"}, "settings": settings}
    res = measure(spec, env, log)
    if res["variables"] != OPTIMISATION["variables"]:
        raise RuntimeError(f"the optimisation benchmark has {res['variables']} variables, not {OPTIMISATION['variables']}")
    full_size = not changed
    out = {k: res[k] for k in ("wall_s", "cpu_s", "parent_cpu_s", "workers_cpu_s", "runs", "runs_by_kind",
                               "runs_per_s", "variables", "settings", "best_trial", "best_search_value",
                               "confirmation", "recommended", "definition_hash", "sim_file")}
    out.update(objective=OPTIMISATION["objective"], workers=OPTIMISATION["workers"], set=changed, full_size=full_size,
               cores_obtained=res["cpu_s"] / res["wall_s"], peak_rss_mb=res["peak_rss_mb"],
               load_before=res["load_before"], load_after=res["load_after"],
               target=f"< {TARGETS['optimisation_max_s']:g} s",
               **{"pass": res["wall_s"] < TARGETS["optimisation_max_s"] if full_size else None})
    return out


def _optimisation_key(o: dict) -> str:
    st = o["settings"]
    return (f"optimisation.{o['variables']}v.{st['trials']}x{st['replications']}"
            + ("" if o.get("full_size", True) else ".reduced"))


def _calibration_key(c: dict) -> str:
    """Headline prefix of a calibration record: only calibrations of the same size are compared."""
    st = c["settings"]
    return (f"calibration.{len(c['params'])}p{len(c['targets'])}t.{st['population']}x{st['replications']}."
            f"{st['max_runs']}r" + ("" if c.get("full_size", True) else ".reduced"))


def section_profile(cfg, env, log, html: str | None) -> tuple[dict, dict]:
    log("[profile] pyinstrument at 100,000 buyers (construction + 365 days): default scenario, then Bass scenario "
        f"({HEADLINE_MIXING} mixing)")
    spec = {"kind": "profile", "n": 100_000, "seed": 1, "top": 15}
    if html:
        spec["html"] = str(Path(html).resolve())
    full = measure(spec, env, log)
    bass = measure({"kind": "profile", "model": "bass", "mixing": HEADLINE_MIXING, "n": 100_000, "seed": 1, "top": 10},
                   env, log)
    for res in (full, bass):
        for k in ("spec", "pid", "load_before", "load_after"):
            res.pop(k, None)
    return full, bass


# ------------------------------------------------------------------------------------------------
# the adoption-curve check: engine, Mesa peer and numpy floor give the same Bass curve
# ------------------------------------------------------------------------------------------------

def hazard_z(curve, n: int, p: float, q: float) -> float:
    """Conditional test of the daily rule on one full-mixing run: given the adopters at the start of
    each day, that day's adoptions are Binomial(non-adopters, 1 - exp(-(p + q * adopted share))).
    Z = sum(observed - expected) / sqrt(sum of variances) is N(0, 1) if the rule holds (martingale
    CLT); a wrong hazard, a lagged share or a missed day pushes it away from 0."""
    c = np.concatenate([[0], np.asarray(curve, dtype=float)])
    prev, new = c[:-1], np.diff(c)
    h = -np.expm1(-(p + q * prev / n))
    cand = n - prev
    var = cand * h * (1 - h)
    return float((new - cand * h).sum() / math.sqrt(var.sum())) if var.sum() > 0 else 0.0


def curve_check(curves: dict, graphs: dict, ref_seeds: tuple[int, int], log) -> dict:
    """Do the engine, the Mesa peer and the numpy floor produce statistically the same Bass curve?
    One check per mixing (``curve_check_full``, ``curve_check_network``); pass if every |z| < 4."""
    out = {"mixings": {}}
    if curves.get("full"):
        out["mixings"]["full"] = curve_check_full(curves["full"], ref_seeds, log)
    if curves.get("network"):
        out["mixings"]["network"] = curve_check_network(curves["network"], graphs, ref_seeds, log)
    out["pass"] = all(v["pass"] for v in out["mixings"].values())
    return out


def curve_check_full(curves: dict, ref_seeds: tuple[int, int], log) -> dict:
    """Full mixing. Two statistics per implementation and size, each N(0, 1) under "same
    dynamics"; pass if |z| < 4:

    * ``z_hazard``: the conditional test of the daily rule (``hazard_z``), combined over runs
      (sum / sqrt(runs)). Needs no reference; sensitive to any per-day error.
    * ``z_curve``: D = sum over days of (adopted share - mean share of many reference floor runs),
      the difference in mean adoption day; z = mean(D) / (sd of D over the references / sqrt(runs)).
      Catches anything that shifts the whole curve, whatever its cause.

    Also recorded: each run's largest gap to the mean-field curve and its 10/50/90% days.
    """
    from numpy_bass import simulate

    bp = bass_params()
    mf = mean_field_curve(bp["p"], bp["q"], bp["horizon"])
    out = {"statistics": "z_hazard: conditional binomial test of the daily rule; z_curve: mean adoption day vs "
                         "reference floor runs; pass if both |z| < 4",
           "mixing": "full", "p": bp["p"], "q": bp["q"], "sizes": {}}
    ok_all = True
    for n, by_impl in sorted(curves.items()):
        m = ref_seeds[0] if n <= 10_000 else ref_seeds[1]
        ref = np.array([simulate(n, bp["p"], bp["q"], bp["horizon"], seed=10_000 + s, mixing="full") for s in range(m)]) / n
        ref_mean = ref.mean(axis=0)
        sd = float((ref - ref_mean).sum(axis=1).std(ddof=1))
        entry = {"reference_runs": m, "sd_D_days": sd, "ref_mean_vs_meanfield_D_days": float((ref_mean - mf).sum()),
                 "ref_gap_to_meanfield_p99": float(np.quantile(np.abs(ref - mf).max(axis=1), 0.99)), "impl": {}}
        for impl, runs in by_impl.items():
            cs = [c for _, c in runs]
            arr = np.array(cs, dtype=float) / n
            d = (arr - ref_mean).sum(axis=1)
            z_curve = float(d.mean() / (sd / math.sqrt(len(d)))) if sd > 0 else 0.0
            zh = [hazard_z(c, n, bp["p"], bp["q"]) for c in cs]
            z_hazard = float(sum(zh) / math.sqrt(len(zh)))
            ok = abs(z_curve) < 4.0 and abs(z_hazard) < 4.0
            ok_all &= ok
            entry["impl"][impl] = {"runs": len(d), "z_hazard": round(z_hazard, 2), "z_curve": round(z_curve, 2), "pass": ok,
                                   "D_days": [round(float(x), 3) for x in d], "z_hazard_runs": [round(z, 2) for z in zh],
                                   "gap_to_meanfield": [round(float(x), 4) for x in np.abs(arr - mf).max(axis=1)],
                                   **curve_stats(arr.mean(axis=0) * n, n)}
        out["sizes"][str(n)] = entry
        log(f"  full mixing, {n:,} buyers: " + ", ".join(f"{k} z_hazard={v['z_hazard']:+.2f} z_curve={v['z_curve']:+.2f}"
                                                        for k, v in entry["impl"].items())
            + f" (sd of D {sd:.2f} days over {m} reference runs)")
    out["pass"] = ok_all
    return out


def curve_check_network(curves: dict, graphs: dict, ref_seeds: tuple[int, int], log) -> dict:
    """Network mixing: on each graph (the engine's, shared by all three), reference floor runs with
    other dynamic seeds give the expected curve on that graph. For each timed run, D = sum over days
    of (adopted share - mean share of the reference runs on its graph), the difference in mean
    adoption day; z = mean(D) / (sd * sqrt((1 + 1/m) / runs)), sd the pooled within-graph sd of D
    over the references, m the reference runs per graph (the 1/m term: the reference mean's own
    error). N(0, 1) if an implementation has the floor's dynamics on the same graph; pass if |z| < 4.
    The daily-rule test (z_hazard) needs each buyer's neighbours and is not done here.
    """
    from common import load_adjacency
    from numpy_bass import simulate

    bp = bass_params()
    out = {"statistics": "z_curve: mean adoption day vs reference floor runs (other dynamic seeds) on the same "
                         "graph; pass if |z| < 4", "mixing": "network", "p": bp["p"], "q": bp["q"], "sizes": {}}
    ok_all = True
    for n, by_impl in sorted(curves.items()):
        seeds = sorted({s for runs in by_impl.values() for s, _ in runs})
        total = ref_seeds[0] if n <= 10_000 else ref_seeds[1]
        m = max(10, math.ceil(total / len(seeds)))
        ref_mean, resid = {}, []
        for g in seeds:
            adj = load_adjacency(graphs[(n, g)]["path"])
            ref = np.array([simulate(n, bp["p"], bp["q"], bp["horizon"], seed=10_000 + s, mixing="network", adjacency=adj)
                            for s in range(m)]) / n
            ref_mean[g] = ref.mean(axis=0)
            resid.extend((ref - ref_mean[g]).sum(axis=1))
        resid = np.asarray(resid)
        sd = float(math.sqrt((resid ** 2).sum() / (resid.size - len(seeds))))
        entry = {"reference_runs_per_graph": m, "graphs": [graphs[(n, g)]["graph"] for g in seeds], "sd_D_days": sd,
                 "impl": {}}
        for impl, runs in by_impl.items():
            d = np.array([(np.asarray(c, dtype=float) / n - ref_mean[g]).sum() for g, c in runs])
            z = float(d.mean() / (sd * math.sqrt((1 + 1 / m) / d.size))) if sd > 0 else 0.0
            ok = abs(z) < 4.0
            ok_all &= ok
            mean_curve = np.mean([np.asarray(c, dtype=float) for _, c in runs], axis=0)
            entry["impl"][impl] = {"runs": int(d.size), "z_curve": round(z, 2), "pass": ok,
                                   "D_days": [round(float(x), 3) for x in d], **curve_stats(mean_curve, n)}
        entry["reference"] = curve_stats(np.mean(list(ref_mean.values()), axis=0) * n, n)
        out["sizes"][str(n)] = entry
        log(f"  network mixing, {n:,} buyers: " + ", ".join(f"{k} z_curve={v['z_curve']:+.2f}" for k, v in entry["impl"].items())
            + f" (sd of D {sd:.2f} days, {m} reference floor runs on each of {len(seeds)} graph(s))")
    out["pass"] = ok_all
    return out


# ------------------------------------------------------------------------------------------------
# table, before/after, JSON
# ------------------------------------------------------------------------------------------------

def headline(rec: dict) -> dict:
    """The numbers that have targets, flattened (used for the table and the before/after columns)."""
    s = rec.get("sections", {})
    h = {}
    # peer and floor: one set of keys per mixing, "peer.<mixing>.ratio" etc. Records written before
    # network mixing was measured hold full mixing only (section_mixings maps them onto "full"), so
    # a 'before' column compares full with full and network with network, never across.
    if "peer" in s:
        for mx, p in section_mixings(s["peer"]).items():
            for key, impl in (("engine_bdps", "engine"), ("mesa_bdps", "mesa_peer"), ("numpy_bdps", "numpy_floor"),
                              ("starsim_bdps", "starsim_peer")):
                if impl in p:
                    h[f"peer.{mx}.{key}"] = p[impl]["buyer_days_per_s"]
                    h[f"peer.{mx}.{key}.cpu"] = p[impl]["n_buyers"] * p[impl]["days"] / p[impl]["total_cpu_s"]
            h[f"peer.{mx}.ratio"] = p["ratio_engine_over_peer"]
            h[f"peer.{mx}.ratio.cpu"] = p["ratio_engine_over_peer_cpu"]
        st = s["peer"].get("starsim", {})
        for n, v in st.get("sizes", {}).items():  # the Starsim peer (network mixing), per size
            pre = f"peer.starsim.{n}"
            for key, impl in (("engine_bdps", "engine"), ("starsim_bdps", "starsim_peer"), ("numpy_bdps", "numpy_floor")):
                h[f"{pre}.{key}"] = v[impl]["buyer_days_per_s"]
                h[f"{pre}.{key}.cpu"] = v[impl]["n_buyers"] * v[impl]["days"] / v[impl]["total_cpu_s"]
            h[f"{pre}.ratio"] = v["ratio_engine_over_starsim"]
            h[f"{pre}.ratio.cpu"] = v["ratio_engine_over_starsim_cpu"]
            h[f"{pre}.ratio_stepping"] = v["ratio_engine_over_starsim_stepping"]
            h[f"{pre}.ratio_first_call"] = v["ratio_engine_over_starsim_first_call"]
            h[f"{pre}.first_call_s"] = v["starsim_peer"]["first_call_overhead_s"]
        if "compile" in st:
            h["peer.starsim.compile_s"] = st["compile"]["compile_s"]
            h["peer.starsim.import_s"] = st["compile"]["import_s"]
    if "floor" in s:
        for mx, f in section_mixings(s["floor"]).items():
            h[f"floor.{mx}.engine_s"] = f["engine"]["total_s"]
            h[f"floor.{mx}.engine_s.cpu"] = f["engine"]["total_cpu_s"]
            h[f"floor.{mx}.numpy_s"] = f["numpy_floor"]["total_s"]
            h[f"floor.{mx}.numpy_s.cpu"] = f["numpy_floor"]["total_cpu_s"]
            h[f"floor.{mx}.ratio"] = f["ratio_engine_over_floor"]
            h[f"floor.{mx}.ratio.cpu"] = f["ratio_engine_over_floor_cpu"]
            h[f"floor.{mx}.ratio_stepping"] = f["ratio_engine_over_floor_stepping"]
    if "full" in s:
        for n, v in s["full"]["sizes"].items():
            for k in ("build", "run", "total"):
                h[f"full.{n}.{k}_s"] = v[f"{k}_s"]
                h[f"full.{n}.{k}_s.cpu"] = v[f"{k}_cpu_s"]
            h[f"full.{n}.rss_mb"] = v["peak_rss_mb"]
    if "scaling" in s and s["scaling"].get("exponent_total") is not None:
        h["scaling.exponent_total"] = s["scaling"]["exponent_total"]
        h["scaling.exponent_stepping"] = s["scaling"]["exponent_stepping"]
        for k in ("total", "stepping"):
            if s["scaling"].get(f"exponent_{k}_cpu") is not None:
                h[f"scaling.exponent_{k}.cpu"] = s["scaling"][f"exponent_{k}_cpu"]
    if "parallel" in s:
        pa = s["parallel"]
        pre = f"parallel.{pa['runs']}x{pa.get('horizon', 120)}d"  # only sweeps of the same size are compared
        h[f"{pre}.t1"] = pa["elapsed_1_worker_s"]
        h[f"{pre}.t2"] = pa["elapsed_2_workers_s"]
        h[f"{pre}.speedup"] = pa["speedup"]
        if "speedup_estimate_idle_cores" in pa:
            h[f"{pre}.speedup.cpu"] = pa["speedup_estimate_idle_cores"]
            h[f"{pre}.t1.cpu"] = pa["cpu_1_worker_s"]
            h[f"{pre}.t2.cpu"] = pa["cpu_2_workers_s"]
    if "calibration" in s:
        c = s["calibration"]
        pre = _calibration_key(c)
        h[f"{pre}.wall_s"] = c["wall_s"]
        h[f"{pre}.runs"] = c["runs"]
        h[f"{pre}.runs_per_s"] = c["runs_per_s"]
        h[f"{pre}.generations"] = c["generations"]
        h[f"{pre}.final_epsilon"] = c["final_epsilon"]
    if "optimisation" in s:
        o = s["optimisation"]
        pre = _optimisation_key(o)
        h[f"{pre}.wall_s"] = o["wall_s"]
        h[f"{pre}.runs"] = o["runs"]
        h[f"{pre}.runs_per_s"] = o["runs_per_s"]
    return h


def find_baseline(label: str, exclude_id: str) -> dict | None:
    """The most recent stored record with this label (any date)."""
    best = None
    for path in sorted(RESULTS.glob("*.json")):
        try:
            runs = json.loads(path.read_text()).get("runs", [])
        except Exception:
            continue
        for r in runs:
            if r.get("label") == label and r.get("id") != exclude_id:
                if best is None or r.get("started", "") > best.get("started", ""):
                    best = r
    return best


def fmt(v, kind: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if kind == "x":
        return f"{v:.1f}x" if v >= 10 else f"{v:.2f}x"
    if kind == "s":
        return f"{v:.2f} s" if v < 100 else f"{v:.0f} s"
    if kind == "mb":
        return f"{v:,.0f} MB"
    if kind == "rate":
        return f"{v / 1e6:.2f} M/s" if v >= 1e6 else f"{v / 1e3:.0f} k/s"
    if kind == "exp":
        return f"{v:.2f}"
    if kind == "n":
        return f"{v:,}"
    if kind == "r":
        return f"{v:.2f}/s"
    if kind == "n1":
        return f"{v:.0f}"
    return str(v)


def verdict(ok) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def table(rec: dict, base: dict | None) -> str:
    s, h = rec["sections"], headline(rec)
    hb = headline(base) if base else {}
    rows: list[tuple] = []  # (section, measure, key, kind, target, ok)

    def add(sec, name, key, kind, target="", ok=None):
        cpu = fmt(h.get(key + ".cpu"), kind) if key + ".cpu" in h else ""
        rows.append((sec, name, fmt(h.get(key), kind), cpu, target, verdict(ok), fmt(hb.get(key), kind) if base else None))

    def mixing_label(mx: str) -> str:
        return "network (headline)" if mx == HEADLINE_MIXING else f"{mx} mixing"

    if "peer" in s:
        for mx, p in section_mixings(s["peer"]).items():
            lab = mixing_label(mx)
            add("peer", f"engine Bass, 10k buyers, {lab} (buyer-days/s)", f"peer.{mx}.engine_bdps", "rate")
            add("peer", f"Mesa peer, 10k buyers, {lab} (buyer-days/s)", f"peer.{mx}.mesa_bdps", "rate")
            add("peer", f"engine / Mesa peer, {lab}", f"peer.{mx}.ratio", "x", p["target"], p["pass"])
        st = s["peer"].get("starsim")
        if st and "skipped" in st:
            rows.append(("peer", "Starsim peer", "not run", "", f"({st['skipped']})", "-", None))
        elif st:
            for n, v in st["sizes"].items():
                lab = f"{int(n) // 1000}k buyers, network"
                pre = f"peer.starsim.{n}"
                add("peer", f"engine Bass, {lab} (buyer-days/s)", f"{pre}.engine_bdps", "rate")
                add("peer", f"Starsim peer, {lab} (buyer-days/s)", f"{pre}.starsim_bdps", "rate")
                add("peer", f"numpy floor, {lab} (buyer-days/s)", f"{pre}.numpy_bdps", "rate")
                add("peer", f"engine / Starsim peer, {lab}", f"{pre}.ratio", "x", v["target"], v["pass"])
                add("peer", f"engine / Starsim, {lab}, stepping only", f"{pre}.ratio_stepping", "x")
                add("peer", f"Starsim first call per process (numba cache load), {lab}", f"{pre}.first_call_s", "s")
                add("peer", f"engine / Starsim incl. its first call, {lab}", f"{pre}.ratio_first_call", "x")
            if "compile" in st:
                add("peer", "Starsim numba compile, empty cache (once per machine)", "peer.starsim.compile_s", "s")
                add("peer", "Starsim import (once per process)", "peer.starsim.import_s", "s")
    if "floor" in s:
        for mx, f in section_mixings(s["floor"]).items():
            lab = mixing_label(mx)
            add("floor", f"engine Bass, 100k buyers, {lab}", f"floor.{mx}.engine_s", "s")
            add("floor", f"numpy floor, 100k buyers, {lab}", f"floor.{mx}.numpy_s", "s")
            add("floor", f"engine / floor, {lab} (construction + stepping)", f"floor.{mx}.ratio", "x", f["target"], f["pass"])
            add("floor", f"engine / floor, {lab} (stepping only)", f"floor.{mx}.ratio_stepping", "x")
    if "full" in s:
        fl = s["full"]
        for n, v in fl["sizes"].items():
            lab = f"{int(n):,}".replace(",000,000", "M").replace(",000", "k")
            add("full", f"{lab} buyers ({v['n_buyers']:,}): construction", f"full.{n}.build_s", "s")
            add("full", f"{lab}: stepping 365 days", f"full.{n}.run_s", "s")
            if n == "100000":
                add("full", f"{lab}: total", f"full.{n}.total_s", "s", f"< {TARGETS['full_100k_max_s']:g} s", fl.get("pass_100k"))
            elif n == "1000000":
                add("full", f"{lab}: total", f"full.{n}.total_s", "s", f"< {TARGETS['full_1m_max_s']:g} s", fl.get("pass_1m_time"))
            else:
                add("full", f"{lab}: total", f"full.{n}.total_s", "s")
            if n == "1000000":
                add("full", f"{lab}: peak RSS", f"full.{n}.rss_mb", "mb", f"< {TARGETS['full_1m_max_rss_mb']:g} MB", fl.get("pass_1m_rss"))
            else:
                add("full", f"{lab}: peak RSS", f"full.{n}.rss_mb", "mb")
    if "scaling" in s and s["scaling"].get("exponent_total") is not None:
        sc = s["scaling"]
        span = f"{min(sc['n_buyers']):,}..{max(sc['n_buyers']):,}"
        add("scaling", f"time ~ n^b, total ({span})", "scaling.exponent_total", "exp",
            sc["target"] + ("" if sc["covers_1m"] else " (needs 1M: --full)"), sc["pass"] if sc["covers_1m"] else None)
        add("scaling", "time ~ n^b, stepping", "scaling.exponent_stepping", "exp")
    if "parallel" in s:
        pa = s["parallel"]
        add("parallel", f"{pa['runs']}-run sweep, 1 worker", f"parallel.{pa['runs']}x{pa.get('horizon', 120)}d.t1", "s")
        add("parallel", f"{pa['runs']}-run sweep, 2 workers", f"parallel.{pa['runs']}x{pa.get('horizon', 120)}d.t2", "s")
        if "cores_obtained_1_worker" in pa:
            rows.append(("parallel", "cores obtained (CPU s / wall s), 1 | 2 workers",
                         f"{pa['cores_obtained_1_worker']:.2f} | {pa['cores_obtained_2_workers']:.2f}", "", "", "", None))
        add("parallel", "speed-up 2 vs 1", f"parallel.{pa['runs']}x{pa.get('horizon', 120)}d.speedup", "x",
            pa["target"] + ("" if pa["runs"] >= 200 else f" (200 runs; this is {pa['runs']})"), pa["pass"])
    if "throughput" in s:
        tp = s["throughput"]

        def put(name, v, kind, target="", ok=None):
            rows.append(("throughput", name, fmt(v, kind), "", target, verdict(ok), None if base is None else ""))

        lab = f"default market ({tp['n_buyers']:,} buyers x {tp['days']} days), {tp['strategy']}"
        put(f"{lab}: runs per core-second, one at a time", tp["runs_per_core_s_single"], "r")
        put(f"{lab}: runs per core-second, side by side ({tp['batch']} a batch)", tp["runs_per_core_s_batched"], "r")
        put("runs per core-second: side by side / one at a time", tp["gain"], "x", tp["gain_target"], tp["gain_pass"])
        put("same numbers side by side as one at a time", str(tp["same_numbers"]), "", "True", tp["same_numbers"])
        if "ratio_vs_1m" in tp:
            put(f"ns per buyer-day: 1M-buyer run ({tp['ref_1m']})", tp["ns_per_buyer_day_1m"], "n1")
            put("ns per buyer-day: default market, one at a time | side by side",
                f"{tp['ns_per_buyer_day_single']:.0f} | {tp['ns_per_buyer_day_batched']:.0f}", "")
            put("default market side by side / 1M-buyer run, per buyer-day", tp["ratio_vs_1m"], "x", tp["ratio_target"],
                tp["ratio_pass"])
        put(f"main job (python run.py, {tp['main_job_runs']} runs, 2 workers, charts and report): wall time",
            tp["main_job_wall_s"], "s", tp["main_job_target"], tp["main_job_pass"])
        put("main job: simulation part", tp["main_job_simulate_s"], "s")
    if "calibration" in s:
        c = s["calibration"]
        pre = _calibration_key(c)
        st = c["settings"]
        size = f"{len(c['params'])} params x {len(c['targets'])} targets"
        note = "" if c["full_size"] else " (reduced run, see --calibration-set)"
        add("calibration", f"{size}, {c['workers']} workers: wall time", f"{pre}.wall_s", "s", c["target"] + note,
            c["pass"])
        rows.append(("calibration", "cores obtained (CPU s / wall s)", f"{c['cores_obtained']:.2f}", "", "", "", None))
        add("calibration", f"runs (budget {st['max_runs']}, {st['predictive_draws']} predictive)", f"{pre}.runs", "n")
        add("calibration", "runs per second", f"{pre}.runs_per_s", "r")
        add("calibration", f"generations (at most {st['generations']}, {st['population']} particles)",
            f"{pre}.generations", "n")
        add("calibration", "final epsilon (tolerance of the posterior)", f"{pre}.final_epsilon", "exp")
    if "optimisation" in s:
        o = s["optimisation"]
        pre = _optimisation_key(o)
        st = o["settings"]
        note = "" if o["full_size"] else " (reduced run, see --optimisation-set)"
        add("optimisation", f"{o['variables']} variables, {st['trials']} trials x {st['replications']} reps, "
            f"{o['workers']} workers: wall time", f"{pre}.wall_s", "s", o["target"] + note, o["pass"])
        rows.append(("optimisation", "cores obtained (CPU s / wall s)", f"{o['cores_obtained']:.2f}", "", "", "", None))
        add("optimisation", "runs (search + confirmation + curves)", f"{pre}.runs", "n")
        add("optimisation", "runs per second", f"{pre}.runs_per_s", "r")
    if "curve_check" in rec:
        cc = rec["curve_check"]
        cc = cc["mixings"] if "mixings" in cc else {cc.get("mixing", "full"): cc}  # older records: full mixing only
        graphs = [g for sec in ("peer", "floor") if sec in s
                  for g in [section_mixings(s[sec]).get("network")] if g and "same_graph" in g]
        graphs += list(s.get("peer", {}).get("starsim", {}).get("sizes", {}).values())  # the Starsim peer's sizes
        if graphs:
            n_graphs = len({gr["graph"] for g in graphs for gr in g["graphs"]})  # distinct graphs (sections share them)
            same = all(g["same_graph"] for g in graphs)
            rows.append(("check", "network: engine, peers, floor on one graph", f"{'yes' if same else 'NO'} "
                         f"({n_graphs} graph{'s' if n_graphs > 1 else ''})", "", "same", verdict(same), None))
        for n, e in cc.get("network", {}).get("sizes", {}).items():
            zs = ", ".join(f"{k} {v['z_curve']:+.1f}" for k, v in e["impl"].items() if k != "numpy")
            rows.append(("check", f"same Bass curve, network, {int(n) // 1000}k (z curve vs floor)", zs, "", "|z| < 4",
                         verdict(all(v["pass"] for v in e["impl"].values())), None))
        for n, e in cc.get("full", {}).get("sizes", {}).items():
            zs = ", ".join(f"{k} {v['z_hazard']:+.1f}/{v['z_curve']:+.1f}" for k, v in e["impl"].items() if k != "numpy")
            rows.append(("check", f"same Bass curve, full mixing, {int(n) // 1000}k (z hazard/curve)", zs, "", "|z| < 4",
                         verdict(all(v["pass"] for v in e["impl"].values())), None))

    head = ("section", "measure", "value", "CPU", "target", "result") + (("before",) if base else ())
    body = [r[:6] + ((r[6] or "",) if base else ()) for r in rows]
    widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    out = [line(head), line(tuple("-" * w for w in widths))] + [line(r) for r in body]
    return "\n".join(out) if body else "(no timed sections)"


def _walk_values(obj, key: str):
    """Every dict in ``obj`` (nested) that has ``key``."""
    if isinstance(obj, dict):
        if key in obj:
            yield obj
        for v in obj.values():
            yield from _walk_values(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_values(v, key)


def git_info() -> dict:
    def run(*args):
        try:
            return subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=20).stdout.strip()
        except Exception:
            return ""

    return {"commit": run("rev-parse", "HEAD"), "sim_modified": bool(run("status", "--porcelain", "--", "sim"))}


def machine_info() -> dict:
    import mesa
    import scipy

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "numpy": np.__version__, "scipy": scipy.__version__, "mesa": mesa.__version__}
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("starsim", "numba"):  # the Starsim peer's (not imported here: starsim is slow to import)
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    try:
        import psutil

        info["memory_total_mb"] = psutil.virtual_memory().total / 2**20
    except Exception:
        pass
    return info


def write_record(rec: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{rec['started'][:10]}.json"
    data = {"runs": []}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except Exception:
            data = {"runs": []}
    data.setdefault("runs", []).append(rec)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float) + "\n")
    tmp.replace(path)
    return path


def toml_value(text: str):
    """A command-line value in TOML syntax (10, 0.5, [5, 40], "x"); anything else is a string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Speed and memory benchmarks of the buyer-journey engine (issue 6).")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="fast subset: 1 rep each, 10k and 100k buyers, 20-run sweep, no profile")
    g.add_argument("--full", action="store_true", help="everything, including the full model at 1,000,000 buyers")
    ap.add_argument("--only", default=None, help=f"comma-separated sections to run: {','.join(SECTIONS)} "
                    "(default: all; without profile in --quick)")
    ap.add_argument("--sizes", default=None, help="full-model sizes in buyers, comma-separated (overrides the mode's)")
    ap.add_argument("--sweep-runs", type=int, default=None, help="runs in the parallel sweep (default 200; 20 with --quick)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions of each Bass timing (median is reported)")
    ap.add_argument("--calibration", action="store_true",
                    help="also run the calibration section (6 parameters x 10 targets, 2 workers, ~20 min; part of "
                         "--full; '--only calibration' runs it alone)")
    ap.add_argument("--calibration-set", action="append", default=[], metavar="KEY=VALUE",
                    help="replace an entry of the calibration's targets file, e.g. abc.population=10 or "
                         "overrides.market.n_accounts=400 (VALUE in TOML syntax; repeatable); makes a reduced run "
                         "that is recorded but never passes or fails")
    ap.add_argument("--optimisation", action="store_true",
                    help="also run the optimisation section (7 variables, 100 trials x 5 replications, 2 workers; part "
                         "of --full; '--only optimisation' runs it alone)")
    ap.add_argument("--optimisation-set", action="append", default=[], metavar="KEY=VALUE",
                    help="replace a setting of the optimisation benchmark, e.g. trials=20 or replications=2 "
                         "(repeatable); makes a reduced run that is recorded but never passes or fails")
    ap.add_argument("--label", default="run", help="label stored with the record, e.g. 'before' or 'after'")
    ap.add_argument("--baseline", default="before", help="show a column with the latest stored record of this label ('' for none)")
    ap.add_argument("--engine", default=None, help="directory containing another 'sim' package to benchmark instead of the installed one")
    ap.add_argument("--profile-html", default=None, help="also write pyinstrument's HTML report to this file")
    ap.add_argument("--no-write", action="store_true", help="print the table only; do not write benchmarks/results/<date>.json")
    a = ap.parse_args(argv)

    mode = "quick" if a.quick else "full" if a.full else "standard"
    cfg = dict(MODES[mode])
    if a.sizes:
        cfg["sizes"] = [int(float(x)) for x in a.sizes.split(",") if x]
    if a.sweep_runs:
        cfg["sweep"] = a.sweep_runs
    if a.reps:
        cfg["peer_reps"] = cfg["floor_reps"] = a.reps
    if a.only is None:
        only = [x for x in SECTIONS if (x != "profile" or cfg["profile"]) and (x != "calibration" or cfg["calibration"])
                and (x != "optimisation" or cfg["optimisation"])]
    else:
        only = [x.strip() for x in a.only.split(",") if x.strip()]
        bad = [x for x in only if x not in SECTIONS]
        if bad:
            ap.error(f"unknown section {bad[0]!r}; sections are {', '.join(SECTIONS)}")
    if a.calibration and "calibration" not in only:
        only.append("calibration")
    if a.optimisation and "optimisation" not in only:
        only.append("optimisation")
    cfg["optimisation_set"] = {}
    for item in a.optimisation_set:
        key, eq, text = item.partition("=")
        if not eq or key.strip() not in OPTIMISATION["settings"]:
            ap.error(f"--optimisation-set takes KEY=VALUE with KEY one of {', '.join(OPTIMISATION['settings'])}, "
                     f"got {item!r}")
        cfg["optimisation_set"][key.strip()] = toml_value(text.strip())
    cfg["calibration_set"] = {}
    for item in a.calibration_set:
        key, eq, text = item.partition("=")
        if not eq or not key.strip():
            ap.error(f"--calibration-set takes KEY=VALUE, got {item!r}")
        cfg["calibration_set"][key.strip()] = toml_value(text.strip())

    env = child_env(a.engine)
    started = _dt.datetime.now().astimezone()
    rec = {"id": started.strftime("%Y%m%dT%H%M%S%f"), "started": started.isoformat(timespec="seconds"), "label": a.label,
           "mode": mode, "sections_run": only, "command": " ".join([Path(sys.executable).name] + sys.argv),
           "engine_path": str(Path(a.engine).resolve()) if a.engine else None, "git": git_info(),
           "machine": machine_info(), "load_start": list(os.getloadavg()), "targets": TARGETS, "sections": {}}
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    log(f"benchmarks: mode {mode}, sections {','.join(only)}, label {a.label!r}, load {rec['load_start'][0]:.2f} "
        f"on {os.cpu_count()} cores" + (f", engine from {a.engine}" if a.engine else ""))
    t0 = time.perf_counter()
    curves: dict = {}  # {mixing: {n: {impl: [(graph seed, curve), ...]}}}
    tmp = tempfile.TemporaryDirectory(prefix="bench-graphs-")
    graphs: dict = {"_dir": tmp.name}  # (n, seed) -> the engine's network saved as .npz, shared by all three
    try:
        if "peer" in only:
            rec["sections"]["peer"] = section_peer(cfg, env, log, curves, graphs)
        if "floor" in only:
            rec["sections"]["floor"] = section_floor(cfg, env, log, curves, graphs)
        if curves:
            log("[check] same adoption curves: network mixing (reference floor runs on the same graphs), full mixing")
            rec["curve_check"] = curve_check(curves, graphs, cfg["ref"], log)
    finally:
        tmp.cleanup()
    if "full" in only:
        rec["sections"]["full"], rec["sections"]["scaling"] = section_full(cfg, env, log)
    if "parallel" in only:
        rec["sections"]["parallel"] = section_parallel(cfg, env, log)
    if "throughput" in only:
        rec["sections"]["throughput"] = section_throughput(cfg, env, log, rec["sections"].get("full"))
    if "profile" in only:
        rec["profile"], rec["profile_bass"] = section_profile(cfg, env, log, a.profile_html)
    if "calibration" in only:
        rec["sections"]["calibration"] = section_calibration(cfg, env, log)
    if "optimisation" in only:
        rec["sections"]["optimisation"] = section_optimisation(cfg, env, log)
    rec["load_end"] = list(os.getloadavg())
    rec["elapsed_s"] = time.perf_counter() - t0
    rec["sim_package"] = sorted({v["sim_file"] for v in _walk_values(rec, "sim_file")})
    rec["headline"] = headline(rec)

    base = find_baseline(a.baseline, rec["id"]) if a.baseline and a.baseline != a.label else None
    print()
    print(f"Benchmarks ({mode}, label {a.label!r}) {rec['started']}, load average {rec['load_start'][0]:.2f} -> "
          f"{rec['load_end'][0]:.2f} on {os.cpu_count()} cores, {rec['elapsed_s']:.0f} s"
          + (f"; 'before' = {base['started']} ({base['mode']})" if base else ""))
    print(table(rec, base))
    if "profile" in rec:
        pr = rec["profile"]
        print(f"\nTop hot spots ({pr['tool']}, default scenario at {pr['n_buyers']:,} buyers, "
              f"{pr['profiled_total_s']:.1f} s profiled; self = time in the function itself):")
        print(f"  {'function':<58} {'self s':>7} {'share':>6} {'cum s':>7} {'share':>6}")
        for hs in pr["hot_spots"]:
            print(f"  {hs['function'][:58]:<58} {hs['self_s']:7.2f} {hs['self_share']:6.1%} {hs['cumulative_s']:7.2f} {hs['cumulative_share']:6.1%}")
        if pr.get("by_mechanism"):
            print("  by mechanism (cumulative): " + ", ".join(f"{k} {v['share']:.0%}" for k, v in pr["by_mechanism"].items()))
    if "profile_bass" in rec:
        pb = rec["profile_bass"]
        print(f"\nBass scenario at {pb['n_buyers']:,} buyers ({pb['profiled_total_s']:.1f} s profiled), top by self time: "
              + "; ".join(f"{h['function'].split(' ', 1)[-1]} ({h['function'].split(':')[0]}) {h['self_share']:.0%}"
                          for h in pb["hot_spots"][:6]))
        if pb.get("by_mechanism"):
            print("  by mechanism (cumulative): " + ", ".join(f"{k} {v['share']:.0%}" for k, v in list(pb["by_mechanism"].items())[:6]))
    if not a.no_write:
        path = write_record(rec)
        print(f"\nwritten: {path.relative_to(ROOT)} (record {rec['id']}, label {a.label!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
