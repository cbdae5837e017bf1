"""The outputs of an optimisation: the recommended scenario, the tables, the charts, the finding and the report.

Charts (matplotlib's Agg backend through :func:`sim.analysis.plotting.figure`; titled, axes labelled with units,
legends off the data): the recommended mix beside the strategies, the confirmation on fresh seeds, a response
curve per channel for customers, CAC and profit, and the optimiser's trace.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.formatting import NA, format_money, format_value
from sim.analysis.html import frame_table, page
from sim.analysis.plotting import money_axis
from sim.engine.channels import CHANNELS
from sim.engine.mechanisms.sales import REP_ACTIVITIES
from sim.optimise.space import OBJECTIVE_LABELS, RECOMMENDED

__all__ = ["CAPTIONS", "finding_sentence", "make_charts", "scenario_toml", "write_outputs"]

CAPTIONS = {
    "mix": "The recommended plan beside the scenario's strategies: each channel's budget ($ per year) and the "
           "reps' time split.",
    "confirmation": "On fresh seeds never used in the search: the objective of each plan (mean, 95% interval), and "
                    "the recommended plan's paired difference from each strategy (95% paired t-interval; right of "
                    "zero is better for the recommended plan).",
    "response_customers": "Customers won against one channel's budget, the rest of the recommended plan held "
                          "(mean and 95% interval over the curve seeds; the dashed line marks the recommended "
                          "budget).",
    "response_cac": "CAC against one channel's budget, the rest of the recommended plan held (mean and 95% interval, "
                    "on the log scale, so never below zero).",
    "response_profit": "Profit (customers won x LTV - total cost) against one channel's budget, the rest of the "
                       "recommended plan held (mean and 95% interval); the channel stops paying for itself where the "
                       "curve turns down.",
    "trace": "The search: every candidate's objective over the search seeds (the scenario's strategies, their mix "
             "rescaled to the budget, first), and the best so far.",
}


#: The registry metric (or format) each objective is printed as.
_OBJECTIVE_METRIC = {"customers": "customers_won", "cac": "cac", "profit": "money", "ltv_to_cac": "ltv_to_cac"}


def _objective_text(objective: str, x: float, signed: bool = False) -> str:
    """A value of the objective, as :func:`sim.analysis.formatting.format_value` prints its metric."""
    return format_value(_OBJECTIVE_METRIC.get(objective, objective), x, signed=signed)


# --------------------------------------------------------------------------------------------------------
# The finding
# --------------------------------------------------------------------------------------------------------


def finding_sentence(res: Any) -> str:
    """One paragraph from the numbers: the recommended plan against every strategy on fresh seeds, and what
    the next $100k buys."""
    obj = res.objective
    label = OBJECTIVE_LABELS[obj][0]
    conf = res.confirmation
    rec = conf[conf["plan"] == RECOMMENDED].iloc[0]
    others = conf[conf["plan"] != RECOMMENDED]
    n = int(rec["n"])
    mix = res.mix.set_index("plan").loc[RECOMMENDED]
    top = sorted(((c, mix[f"budget_{c}"]) for c in CHANNELS), key=lambda t: -t[1])
    spend = ", ".join(f"{c} {format_money(v)}" for c, v in top if v >= 0.5)
    split = ", ".join(f"{a} {mix[f'split_{a}']:.0%}" for a in REP_ACTIVITIES)
    text = (f"The recommended plan (budget {format_money(res.problem.budget)}: {spend or 'no channel spend'}; rep time "
            f"{split}) has {label} {_objective_text(obj, rec['mean'])} on {n} fresh seeds. ")
    clear = others[others["verdict"] == "clearly better"]["plan"].tolist()
    unclear = others[others["verdict"] != "clearly better"]
    if len(others) and len(clear) == len(others):
        worst = others.loc[(others["diff"].abs()).idxmin()]
        text += (f"It is clearly better than every strategy of the scenario (paired 95% interval of the difference "
                 f"excludes 0), by at least {_objective_text(obj, abs(worst['diff']))} (against {worst['plan']}: "
                 f"{_objective_text(obj, worst['diff_ci_low'], True)} to {_objective_text(obj, worst['diff_ci_high'], True)}).")
    else:
        parts = []
        for r in unclear.itertuples():
            parts.append(f"{r.plan} ({_objective_text(obj, r.diff, True)}, 95% interval {_objective_text(obj, r.diff_ci_low, True)} "
                         f"to {_objective_text(obj, r.diff_ci_high, True)}: {r.verdict})")
        text += ("It is clearly better than " + (", ".join(clear) if clear else "none of the strategies")
                 + "; not clearly better than " + "; ".join(parts) + ". ")
        text += ("No mix found beats every strategy on fresh seeds: the search's best is optimistic (the best of "
                 f"{len(res.trace)} noisy candidates on {res.problem.settings.replications} seed(s)). ")
        why = []
        for r in unclear.itertuples():
            need = getattr(r, "seeds_needed", math.nan)
            if isinstance(need, (int, float)) and math.isfinite(need):
                why.append(f"against {r.plan} the difference is small next to its seed-to-seed spread (sd "
                           f"{_objective_text(obj, r.diff_sd)}): about {int(need):,} fresh seeds would tell it from 0")
            else:
                why.append(f"{r.plan} does at least as well on these seeds")
        text += "Why: " + "; ".join(why) + "."
    marg = res.marginal
    if marg is not None and len(marg) and "profit_next_100k" in marg:
        m = marg[marg["centre"] == RECOMMENDED]
        if len(m):
            best = m.loc[m["profit_next_100k"].idxmax()]
            pays = m[m["next_100k_pays_for_itself"] == "yes"]["channel"].tolist()
            text += (f" The next $100k buys most in {best['channel']} ({best['customers_next_100k']:+.1f} customers, "
                     f"profit {_objective_text('profit', best['profit_next_100k'], True)}); it pays for itself (profit "
                     f"interval above 0) in {', '.join(pays) if pays else 'no channel'}.")
    return text.strip()


# --------------------------------------------------------------------------------------------------------
# The scenario with the recommended plan
# --------------------------------------------------------------------------------------------------------


def scenario_toml(res: Any) -> str:
    """The scenario with the recommended plan as strategy ``optimised`` (first), every parameter commented."""
    from sim.config.template import scenario_toml as write_toml

    conf = res.confirmation.set_index("plan")
    header = "\n".join([
        f"# Scenario {res.problem.name} with the plan recommended by 'run.py optimize' as strategy {RECOMMENDED!r}.",
        f"# Objective: {OBJECTIVE_LABELS[res.objective][0]}; budget {format_money(res.problem.budget)} a year over the "
        f"channels.",
        (f"# On {int(conf.loc[RECOMMENDED, 'n'])} fresh seeds: {_objective_text(res.objective, conf.loc[RECOMMENDED, 'mean'])} "
         f"(see report.html for the paired comparison with every strategy)."),
        "# Compare it with the strategies: python run.py run recommended.toml",
    ])
    return write_toml(res.scenario, header)


# --------------------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------------------


def make_charts(res: Any, out_dir: Path) -> dict[Path, str]:
    """Draw every chart into ``out_dir``; returns path -> caption, in report order."""
    out: dict[Path, str] = {}
    for name, fn in (("mix", _chart_mix), ("confirmation", _chart_confirmation),
                     ("response_customers", lambda r, d: _chart_response(r, d, "customers")),
                     ("response_cac", lambda r, d: _chart_response(r, d, "cac")),
                     ("response_profit", lambda r, d: _chart_response(r, d, "profit")),
                     ("trace", _chart_trace)):
        path = fn(res, out_dir)
        if path is not None:
            out[Path(path)] = CAPTIONS[name]
    return out


def _colors(names):
    from sim.analysis.charts import strategy_colors

    return strategy_colors(list(names))


def _chart_mix(res: Any, out_dir: Path):
    from sim.analysis.plotting import figure

    mix = res.mix
    plans = mix["plan"].tolist()
    colors = _colors(plans)
    with figure(out_dir, "mix", "The recommended plan beside the strategies", panels=2, ncols=2,
                size=(13, 5.5)) as c:
        ax = c.axes[0]
        y = np.arange(len(CHANNELS))
        h = 0.8 / len(plans)
        for i, p in enumerate(plans):
            vals = [mix.loc[mix["plan"] == p, f"budget_{ch}"].iloc[0] for ch in CHANNELS]
            ax.barh(y + (i - (len(plans) - 1) / 2) * h, vals, height=h, color=colors[p], label=p,
                    edgecolor="black" if i == 0 else "none", linewidth=0.8)
        ax.set_yticks(y, [ch.replace("_", " ") for ch in CHANNELS])
        ax.invert_yaxis()
        ax.set(title="Channel budgets", xlabel="budget ($ per year)")
        money_axis(ax.xaxis)
        ax2 = c.axes[1]
        left = np.zeros(len(plans))
        shades = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
        for j, a in enumerate(REP_ACTIVITIES):
            vals = mix[f"split_{a}"].to_numpy(dtype=float) * 100
            ax2.barh(np.arange(len(plans)), vals, left=left, color=shades[j % len(shades)], label=a)
            left += vals
        ax2.set_yticks(np.arange(len(plans)), plans)
        ax2.invert_yaxis()
        ax2.set(title="Reps' time split", xlabel="share of selling hours (%)", xlim=(0, 100))
        ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(0, -0.12), ncol=3)
        ax2.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(0, -0.12), ncol=4)
    return c.path


def _chart_confirmation(res: Any, out_dir: Path):
    from sim.analysis.plotting import figure

    conf = res.confirmation
    label, unit, _ = OBJECTIVE_LABELS[res.objective]
    plans = conf["plan"].tolist()
    colors = _colors(plans)
    with figure(out_dir, "confirmation", f"Confirmation on fresh seeds: {label}", panels=2, ncols=2,
                size=(13, 4.8)) as c:
        ax = c.axes[0]
        y = np.arange(len(plans))
        m = conf["mean"].to_numpy(dtype=float)
        lo = conf["ci_low"].to_numpy(dtype=float)
        hi = conf["ci_high"].to_numpy(dtype=float)
        err = np.vstack([np.where(np.isfinite(lo), m - lo, 0), np.where(np.isfinite(hi), hi - m, 0)])
        ax.barh(y, m, color=[colors[p] for p in plans], xerr=err, capsize=4)
        ax.set_yticks(y, plans)
        ax.invert_yaxis()
        ax.set(title="Each plan (mean, 95% interval)", xlabel=f"{label} ({unit})")
        if res.objective in ("cac", "profit"):
            money_axis(ax.xaxis)
        ax2 = c.axes[1]
        others = conf[conf["plan"] != conf["plan"].iloc[0]]
        sign = 1.0 if res.problem.objective != "cac" else -1.0
        d = sign * others["diff"].to_numpy(dtype=float)
        dl = sign * others["diff_ci_low"].to_numpy(dtype=float)
        dh = sign * others["diff_ci_high"].to_numpy(dtype=float)
        lo2, hi2 = np.minimum(dl, dh), np.maximum(dl, dh)
        yy = np.arange(len(others))
        ax2.errorbar(d, yy, xerr=np.vstack([np.nan_to_num(d - lo2), np.nan_to_num(hi2 - d)]), fmt="o", color="black",
                     capsize=4)
        ax2.axvline(0, color="grey", lw=1)
        ax2.set_yticks(yy, [f"vs {p}" for p in others["plan"]])
        ax2.invert_yaxis()
        better_txt = "lower CAC is better: shown as saving" if res.objective == "cac" else "recommended minus strategy"
        ax2.set(title="Paired difference (95% interval)", xlabel=f"{label} ({unit}; {better_txt})")
        if res.objective in ("cac", "profit"):
            money_axis(ax2.xaxis)
    return c.path


def _chart_response(res: Any, out_dir: Path, metric: str):
    from sim.analysis.plotting import figure

    cur = res.curves
    if cur is None or cur.empty:
        return None
    channels = list(dict.fromkeys(cur["channel"]))
    centres = list(dict.fromkeys(cur["centre"]))
    colors = _colors(centres)
    names = {"customers": ("Customers won", "customers won (accounts)"),
             "cac": ("CAC", "CAC ($ per customer)"), "profit": ("Profit", "profit ($, LTV x customers - cost)")}
    title, ylabel = names[metric]
    with figure(out_dir, f"response_{metric}", f"Response curves: {title} against each channel's budget",
                panels=len(channels), ncols=min(4, len(channels)),
                size=(4.2 * min(4, len(channels)) + 1, 3.6 * math.ceil(len(channels) / 4) + 0.8)) as c:
        for ax, ch in zip(c.axes, channels):
            for centre in centres:
                g = cur[(cur["channel"] == ch) & (cur["centre"] == centre)].sort_values("budget")
                x = g["budget"].to_numpy(dtype=float)
                m = g[metric].to_numpy(dtype=float)
                lo, hi = g[f"{metric}_ci_low"].to_numpy(dtype=float), g[f"{metric}_ci_high"].to_numpy(dtype=float)
                ax.plot(x, m, "o-", color=colors[centre], label=f"around {centre}", ms=4)
                ok = np.isfinite(lo) & np.isfinite(hi)
                ax.fill_between(x[ok], lo[ok], hi[ok], color=colors[centre], alpha=0.18, lw=0)
                if centre == RECOMMENDED:
                    x0 = float(g.loc[g["change"] == 0, "budget"].iloc[0])
                    ax.axvline(x0, color=colors[centre], ls="--", lw=1)
            ax.set(title=ch.replace("_", " "), xlabel="channel budget ($ per year)", ylabel=ylabel)
            money_axis(ax.xaxis, nbins=5)
            if metric in ("cac", "profit"):
                money_axis(ax.yaxis)
            means = cur.loc[cur["channel"] == ch, metric].to_numpy(dtype=float)
            if metric == "cac" and np.isfinite(means).any():  # a CAC interval of few seeds can be enormous
                ax.set_ylim(0, 2.5 * float(np.nanmax(means[np.isfinite(means)])))
        if len(centres) > 1:
            c.axes[0].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.25), ncol=2)
    return c.path


def _chart_trace(res: Any, out_dir: Path):
    from sim.analysis.plotting import figure

    tr = res.trace
    label, unit, _ = OBJECTIVE_LABELS[res.objective]
    with figure(out_dir, "trace", "The optimiser's search", "trial (in the order asked)",
                f"{label} over the search seeds ({unit})") as c:
        ax = c.ax
        preset = tr["origin"].str.startswith("strategy")
        ax.plot(tr.loc[~preset, "trial"], tr.loc[~preset, "value"], "o", color="#1f77b4", ms=4, alpha=0.7,
                label="candidate (TPE)")
        ax.plot(tr.loc[preset, "trial"], tr.loc[preset, "value"], "s", color="#ff7f0e", ms=7,
                label="a strategy's mix at this budget")
        ax.step(tr["trial"], tr["best_so_far"], where="post", color="black", lw=1.5, label="best so far")
        ax.plot([res.best_trial], [tr["value"].iloc[res.best_trial]], "*", color="#d62728", ms=14,
                label="recommended (before confirmation)")
        if res.objective in ("cac", "profit"):
            money_axis(ax.yaxis)
        ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    return c.path


# --------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------


def mix_table(res: Any) -> pd.DataFrame:
    """The plans side by side: one row per decision, one column per plan."""
    mix = res.mix.set_index("plan")
    rows = []
    for ch in CHANNELS:
        rows.append({"decision": f"{ch} budget ($/yr)", **{p: format_money(mix.loc[p, f"budget_{ch}"]) for p in mix.index}})
    rows.append({"decision": "all channels ($/yr)", **{p: format_money(mix.loc[p, "budget_total"]) for p in mix.index}})
    for a in REP_ACTIVITIES:
        rows.append({"decision": f"rep time: {a}", **{p: f"{mix.loc[p, f'split_{a}']:.0%}" for p in mix.index}})
    rows.append({"decision": "sales reps", **{p: str(int(mix.loc[p, "n_reps"])) for p in mix.index}})
    rows.append({"decision": "lead-score threshold", **{p: f"{mix.loc[p, 'lead_score_threshold']:.2f}"
                                                        for p in mix.index}})
    return pd.DataFrame(rows)


def confirmation_table(res: Any) -> pd.DataFrame:
    obj = res.objective
    conf = res.confirmation
    rows = []
    for r in conf.itertuples():
        rows.append({
            "plan": r.plan,
            "objective (95% interval)": f"{_objective_text(obj, r.mean)} ({_objective_text(obj, r.ci_low)} to {_objective_text(obj, r.ci_high)})",
            "customers": format_value("customers_won", r.mean_customers_won),
            "total cost": format_money(r.mean_total_cost), "CAC": format_money(r.mean_cac),
            "profit": format_money(r.mean_profit), "LTV:CAC": format_value("ltv_to_cac", r.mean_ltv_to_cac),
            "recommended minus plan (paired 95% interval)": "" if pd.isna(getattr(r, "diff", np.nan)) else
            f"{_objective_text(obj, r.diff, True)} ({_objective_text(obj, r.diff_ci_low, True)} to {_objective_text(obj, r.diff_ci_high, True)})",
            "verdict": "" if not isinstance(getattr(r, "verdict", None), str) else r.verdict,
        })
    return pd.DataFrame(rows)


def marginal_table(res: Any) -> pd.DataFrame:
    m = res.marginal
    if m is None or m.empty:
        return pd.DataFrame()
    rows = []
    for r in m.to_dict("records"):
        row = {"around": r["centre"], "channel": r["channel"], "budget now": format_money(r["budget"])}
        for k in ("10k", "100k"):
            if f"customers_next_{k}" not in r:
                continue
            row[f"next ${k}: customers"] = (f"{r[f'customers_next_{k}']:+.2f} ({r[f'customers_next_{k}_low']:+.2f} to "
                                            f"{r[f'customers_next_{k}_high']:+.2f})")
            row[f"next ${k}: profit"] = (f"{_objective_text('profit', r[f'profit_next_{k}'], True)} "
                                         f"({_objective_text('profit', r[f'profit_next_{k}_low'], True)} to "
                                         f"{_objective_text('profit', r[f'profit_next_{k}_high'], True)})")
        row["cost per extra customer (next $100k)"] = format_money(r.get("cac_of_next_100k", math.nan))
        row["profit peaks at (on the curve)"] = format_money(r["profit_peak_budget"])
        row["next $100k pays for itself"] = r["next_100k_pays_for_itself"]
        so_far = r.get("customers_per_100k_so_far", math.nan)
        row["customers per $100k so far"] = NA if not math.isfinite(so_far) else f"{so_far:.2f}"
        row["saturated"] = r.get("saturated", NA)
        rows.append(row)
    return pd.DataFrame(rows)


def write_report(path: Path, res: Any, chart_paths: dict, manifest: dict) -> Path:
    e = html.escape
    p = res.problem
    s = p.settings
    marg = marginal_table(res)
    body = f"""<p class="question"><b>Question:</b> with {format_money(p.budget)} a year for the channels and the sales team of
scenario <b>{e(p.name)}</b>, which mix of channel budgets and rep time gives the best {e(OBJECTIVE_LABELS[p.objective][0])},
and what does the next dollar buy in each channel?</p>
<h2>Scenario</h2>
<p>{e(p.scenario.describe())}</p>
<p class="muted">Search: {e(p.describe())}.</p>
<h2>Main finding</h2>
<p class="finding">{e(finding_sentence(res))}</p>
<h2>The recommended plan beside the strategies</h2>
{frame_table(mix_table(res))}
<p class="note">The recommended plan keeps the other settings of strategy {e(p.strategy)}. The strategies are shown as
written (their own budgets); in the search each strategy's mix was also tried rescaled to this budget (the first
trials). <code>recommended.toml</code> is the scenario with this plan added as strategy <code>optimised</code>:
<code>python run.py run recommended.toml</code> compares it with the strategies.</p>
<h2>Confirmation on fresh seeds</h2>
{frame_table(confirmation_table(res))}
<p class="note">{int(res.confirmation['n'].max())} replications on fresh seeds never used in the search (the search's
best is optimistic: it is the best of {len(res.trace)} noisy candidates). Every plan runs on the same seeds (common
random numbers), so differences are paired by seed; a verdict is "clearly better" when the 95% paired t-interval of
the difference lies entirely on the better side of 0. Profit = customers won x LTV - total cost: the expected
lifetime gross profit of the accounts won in the run less all channel and rep cost in it.</p>
<h2>What the next dollar buys</h2>
{frame_table(marg) if len(marg) else '<p class="muted">No response curves (curves = "none").</p>'}
<p class="note">Each channel's budget moved alone, the rest of the plan held, on {s.curve_replications} fresh seeds,
paired against the plan itself (95% paired intervals). A channel stops paying for itself where the next dollars
add less lifetime gross profit than they cost: "profit peaks at" is the budget on the curve (0, half, the plan, +$10k,
+$100k, double or +$200k) with the highest profit. "Customers per $100k so far": what the channel's budget buys on
average from 0 to the plan's budget (n/a below $20k); a channel is saturated when the next $100k buys less than half of that. The
total budget grows with the step: this is the marginal return, not a reallocation.</p>
<h2>The search</h2>
<p>{len(res.trace)} trials, {s.replications} replication(s) each on the same seeds; Optuna's TPE sampler (seeded),
{s.batch} candidates asked at a time and told back in trial order; {res.executed} runs executed now,
{res.reused} from the store, in {res.elapsed:.0f} s.</p>"""
    doc = page(f"Optimisation: {p.name}", body, {str(k): v for k, v in chart_paths.items()}, manifest)
    path.write_text(doc, encoding="utf-8")
    return path


def write_outputs(folder: Path, res: Any, manifest: dict) -> None:
    """recommended.toml, the CSV tables, charts/*.png, report.html and manifest.json into ``folder``."""
    from sim.io import jsonable, package_version, versions, write_manifest

    folder = Path(folder)
    (folder / "recommended.toml").write_text(scenario_toml(res), encoding="utf-8")
    trace = res.trace.copy()
    ov = pd.DataFrame([dict(o) for o in trace.pop("overrides")])
    pd.concat([trace, ov], axis=1).to_csv(folder / "trials.csv", index=False)
    res.mix.to_csv(folder / "mix.csv", index=False)
    res.confirmation.to_csv(folder / "confirmation.csv", index=False)
    res.curves.to_csv(folder / "curves.csv", index=False)
    res.marginal.to_csv(folder / "marginal.csv", index=False)
    res.runs.to_csv(folder / "runs.csv", index=False)
    p = res.problem
    full = jsonable({
        "scenario_name": p.name,
        "definition_hash": p.hash,
        "strategy": p.strategy,
        "objective": p.objective,
        "budget": p.budget,
        "constraints": p.constraints.definition(),
        "settings": vars(p.settings),
        "variables": p.space.dims,
        "seed": p.settings.seed,
        "replications": p.settings.replications,
        "best_trial": res.best_trial,
        "recommended": res.best,
        "runs_executed_now": res.executed,
        "runs_from_store": res.reused,
        "elapsed_seconds": res.elapsed,
        "package": "buyer-journey-sim",
        "package_version": package_version(),
        "versions": versions(),
        **manifest,
    })
    write_manifest(folder, full)
    charts = make_charts(res, folder / "charts")
    write_report(folder / "report.html", res, charts, full)
