"""Outputs of an attribution study: tables, the touch log (Parquet), charts and a self-contained report.

Charts use the project's :func:`sim.analysis.plotting.figure` (Agg, titled, labelled axes with units) and
the report the shared page shell (:func:`sim.analysis.html.page`).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.plotting import figure
from sim.analysis.formatting import format_percent
from sim.analysis.html import frame_table, page
from sim.io import versions, write_manifest

__all__ = ["write_all", "credited_vs_true", "error_heatmap", "CAPTIONS"]

CAPTIONS = {
    "credited_vs_true": "Share of the credit each method gives each channel (bars: mean over replications, "
                        "whiskers 95% t-intervals) against the true share, the channel's Shapley value over all "
                        "incremental customers (black diamond with its 95% t-interval over replications, delta method).",
    "error_heatmap": "Credited minus true share, in points of share, per method and channel: red over-credits, "
                     "blue under-credits. Channels below the line are touch labels no studied channel owns "
                     "(true share 0).",
}

_METHOD_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def credited_vs_true(res, out_dir) -> Path:
    at = res.attribution
    channels = list(dict.fromkeys(at["channel"]))
    methods = list(dict.fromkeys(at["method"]))
    x = np.arange(len(channels))
    width = 0.8 / len(methods)
    with figure(out_dir, "credited_vs_true", "Credit given by each method against the true share",
                "channel (touch label)", "share of credit (%)", size=(11, 5.5)) as ch:
        ax = ch.ax
        for i, m in enumerate(methods):
            g = at[at["method"] == m].set_index("channel").reindex(channels)
            y = 100 * g["credited_share"].to_numpy()
            err = np.vstack([y - 100 * g["ci_low"].to_numpy(), 100 * g["ci_high"].to_numpy() - y])
            ax.bar(x - 0.4 + (i + 0.5) * width, y, width, color=_METHOD_COLORS[i % 7], label=m.replace("_", " "),
                   yerr=np.nan_to_num(np.clip(err, 0, None)), error_kw={"elinewidth": 0.7, "capsize": 1.5})
        g = at[at["method"] == methods[0]].set_index("channel").reindex(channels)
        t = 100 * g["true_share"].to_numpy()
        terr = np.vstack([t - 100 * g["true_ci_low"].to_numpy(), 100 * g["true_ci_high"].to_numpy() - t])
        ax.errorbar(x, t, yerr=np.nan_to_num(np.clip(terr, 0, None)), fmt="D", color="black", ms=6, capsize=3,
                    label="true share (Shapley)")
        ax.axhline(0, color="#888", lw=0.6)
        ax.set_xticks(x, [c.replace("_", " ") for c in channels], rotation=20)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return ch.path


def error_heatmap(res, out_dir) -> Path:
    at = res.attribution.copy()
    at["err"] = 100 * (at["credited_share"] - at["true_share"])
    table = at.pivot(index="method", columns="channel", values="err")
    channels = list(dict.fromkeys(at["channel"]))
    methods = list(dict.fromkeys(at["method"]))
    table = table.reindex(index=methods, columns=channels)
    n_studied = int(res.attribution.drop_duplicates("channel")["studied"].sum())
    lim = max(5.0, float(np.nanmax(np.abs(table.to_numpy()))) if table.size else 5.0)
    with figure(out_dir, "error_heatmap", "Attribution error by method and channel", "channel (touch label)",
                "method", size=(10, 4.8)) as ch:
        ax = ch.ax
        im = ax.imshow(table.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(len(channels)), [c.replace("_", " ") for c in channels], rotation=20)
        ax.set_yticks(range(len(methods)), [m.replace("_", " ") for m in methods])
        for i in range(len(methods)):
            for j in range(len(channels)):
                v = table.iat[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:+.0f}", ha="center", va="center", fontsize=8,
                            color="white" if abs(v) > 0.6 * lim else "black")
        if n_studied < len(channels):
            ax.axvline(n_studied - 0.5, color="black", lw=1.2)
        cb = ch.fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        cb.set_label("credited minus true share (points)")
    return ch.path


def _table(df: pd.DataFrame, pct: tuple[str, ...] = ()) -> str:
    """A table of the report: the ``pct`` columns (shares) as per cent, other numbers with three significant
    digits (:func:`sim.analysis.html.frame_table`)."""
    return frame_table(df, {c: format_percent for c in pct}, digits=3)


def _peer(res, folder: Path) -> str:
    """Our Markov and heuristic credit against the channelattribution package on the paths of the replication
    with the most conversions (``peer_check.csv``), in one sentence."""
    from sim.attribution import peer
    from sim.engine.touchlog import TOUCH_CHANNELS

    if peer.load() is None:
        return ("The channelattribution package is not installed (pip install channelattribution), so this study "
                "was not compared with it; tests/test_attribution_methods.py compares the two when it is.")
    convs = [float(t.loc[t["pos"] == 0, "conv"].sum()) for t in res.journeys]
    r = int(np.argmax(convs))
    df = peer.compare(res.journeys[r], TOUCH_CHANNELS)
    if df is None:
        return "No journey converted in any replication, so there is nothing to compare with channelattribution."
    df.insert(0, "rep", r)
    df.to_csv(folder / "peer_check.csv", index=False)
    total = convs[r]
    mk = df[df["method"] == "markov"]
    heur = df[df["method"] != "markov"]
    gap = (mk["ours"] - mk["channelattribution"]).abs()
    big = mk.loc[mk["ours"] >= 0.05 * total]
    rel = float(big["relative_difference"].max()) if len(big) else 0.0
    return (f"On the journeys of replication {r} (peer_check.csv) the package's first, last and linear touch give the "
            f"same credit as ours (largest difference {float((heur['ours'] - heur['channelattribution']).abs().max()):.2g} "
            f"conversions). Its Markov model, which simulates journeys (10^6 here) where ours solves the chain exactly, "
            f"differs from ours by at most {100 * float(gap.max()) / total:.2f}% of the {total:.0f} conversions; on the "
            f"channels credited with at least 5% of them by at most {100 * rel:.1f}% of their credit.")


def write_all(res, folder: Path, manifest: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    s = res.study
    at_cols = ["method", "channel", "credited_share", "true_share", "ci_low", "ci_high", "abs_error", "true_ci_low",
               "true_ci_high", "credited_customers", "studied"]
    res.attribution[at_cols].to_csv(folder / "attribution.csv", index=False)
    res.truth.to_csv(folder / "truth.csv", index=False)
    res.scores.to_csv(folder / "scores.csv", index=False)
    res.paths.to_csv(folder / "paths.csv", index=False)
    res.touch_log.to_parquet(folder / "touch_log.parquet", engine="pyarrow", index=False)
    charts = folder / "charts"
    paths = {credited_vs_true(res, charts): CAPTIONS["credited_vs_true"],
             error_heatmap(res, charts): CAPTIONS["error_heatmap"]}
    e = html.escape
    peer_text = _peer(res, folder)
    tr = res.truth[["channel", "incremental_customers", "incremental_customers_ci_low", "incremental_customers_ci_high",
                    "incremental_revenue", "shapley_customers", "true_share", "true_share_ci_low",
                    "true_share_ci_high"]]
    sc = res.scores[["method", "mean_abs_error", "max_abs_error", "worst_channel", "share_to_unstudied",
                     "rank_correlation", "cut", "cut_is_right", "decision_cost_customers"]]
    body = f"""<p class="question"><b>Question:</b> who gets credit for the customers won, and which attribution
method tells the truth? The simulator knows the truth: it reruns the market without each set of channels on the
same seeds.</p>
<h2>Study</h2>
<p>{e(s.describe())}. {e(s.scenario.describe())}</p>
<p class="muted">A channel is removed with its budget and its steps; the rep hours the strategy gives its activity
are left idle, not moved to other work. Credit that travels through the network (word of mouth, advocates,
referrals, introductions) belongs to the channel that started it: it vanishes from the runs without that channel.
Methods see the journeys of the run with every channel (marketing touches per account up to the win, as a CRM
holds them); the reps' meetings are in the touch log but not in the journeys.</p>
<h2>Main finding</h2>
<p class="finding">{e(res.finding())}</p>
<h2>Against the channelattribution package</h2>
<p>{e(peer_text)}</p>
<h2>Ground truth</h2>
{_table(tr, pct=("true_share", "true_share_ci_low", "true_share_ci_high"))}
<h2>Scores of the methods</h2>
{_table(sc, pct=("mean_abs_error", "max_abs_error", "share_to_unstudied"))}
<p class="muted">cut: the studied channel with the least credit; cut_is_right: whether it is the channel whose
removal loses the fewest customers (the right cut); decision_cost_customers: customers lost by the method's cut
beyond the right cut.</p>"""
    manifest = {"study": s.definition() | {"scenario_config": "(see definition hash)"}, "hash": s.hash,
                "runs": len(s.tasks()), "executed_now": res.executed, "versions": versions(), **manifest}
    (folder / "report.html").write_text(page(f"Attribution lab: {s.scenario.name} / {s.strategy}", body, paths,
                                                  manifest), encoding="utf-8")
    write_manifest(folder, manifest)
    return folder
