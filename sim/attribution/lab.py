"""The measurement lab: attribution methods scored against the simulator's own ground truth.

:func:`attribution` runs a study: for each replication (seed), every coalition of the studied channels
(``sim.attribution.truth``), on the shared executor (this process, local processes or Dask), each run
committed to a resumable store (``sim.attribution.store``). The run with every channel keeps its touch log;
the methods (``sim.attribution.methods``) run on its journeys as a practitioner would on CRM data, and
:class:`AttributionResult` scores them against the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from sim.analysis.stats import mean_ci
from sim.attribution import methods as M
from sim.attribution.store import AttributionStore
from sim.attribution.truth import (
    coalitions,
    full_mask,
    funded_channels,
    run_coalitions,
    sample_permutations,
    shapley_exact,
    shapley_permutations,
)
from sim.config.scenario import Scenario, ScenarioError, load_scenario
from sim.engine.channels import CHANNELS
from sim.engine.model import expected_buyers
from sim.engine.touchlog import MEETING, TOUCH_CHANNELS, log_frame
from sim.executor import progress_bar, run_batched
from sim.store import definition_hash

__all__ = ["Study", "AttributionResult", "attribution", "resolve_scenario", "LEVEL"]

LEVEL = 0.95
K = len(TOUCH_CHANNELS)
#: the journeys practitioners attribute: marketing touches (the reps' meetings are in the log, not the paths)
PATH_CHANNELS = np.array([c != MEETING for c in range(K)])


def resolve_scenario(scenario, where: str = "attribution") -> Scenario:
    """A Scenario from a Scenario, a path to a .toml file, a preset name ("default") or None (default)."""
    if scenario is None or isinstance(scenario, Scenario):
        return load_scenario() if scenario is None else scenario
    text = str(scenario)
    if text.endswith(".toml") or Path(text).exists():
        return load_scenario(text)
    from sim.config.presets import preset, preset_names

    if text in preset_names():
        return load_scenario(preset(text))
    raise ScenarioError(where, "scenario", f"{text!r} is neither a .toml file nor a preset "
                                           f"({', '.join(preset_names())})")


@dataclass
class Study:
    """What fixes the runs of an attribution study (its hash names its store)."""

    scenario: Scenario
    strategy: str
    channels: tuple[str, ...]
    reps: int = 10
    seed: int = 1
    overrides: dict = field(default_factory=dict)
    max_exact: int = 8
    permutations: int = 200

    @classmethod
    def make(cls, scenario=None, strategy: str | None = None, reps: int = 10, seed: int = 1,
             overrides: dict | None = None, channels=None, max_exact: int = 8, permutations: int = 200,
             where: str = "attribution") -> "Study":
        """Check everything before anything runs: ScenarioError (one line naming the key) on bad input."""
        scen = resolve_scenario(scenario, where)
        if overrides:
            scen = scen.with_overrides(overrides)
        strategy = scen.check_strategy(strategy)
        if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 2:
            raise ScenarioError(where, "reps", f"must be a whole number of at least 2 (intervals need replications), "
                                               f"got {reps!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ScenarioError(where, "seed", f"must be a non-negative integer, got {seed!r}")
        if channels is None:
            channels = funded_channels(scen.config(strategy))
            if not channels:
                raise ScenarioError(where, "strategy", f"{strategy!r} funds no channel (no budget and no rep time on "
                                                       f"any of {', '.join(CHANNELS)}); there is nothing to attribute")
        else:
            channels = tuple(channels)
            bad = [c for c in channels if c not in CHANNELS]
            if bad or not channels or len(set(channels)) != len(channels):
                raise ScenarioError(where, "channels", f"must be distinct names from {', '.join(CHANNELS)}, got "
                                                       f"{list(channels)!r}")
        if not isinstance(max_exact, int) or max_exact < 1 or not isinstance(permutations, int) or permutations < 2:
            raise ScenarioError(where, "permutations", "max_exact must be >= 1 and permutations >= 2")
        return cls(scen, strategy, tuple(channels), int(reps), int(seed), dict(overrides or {}), max_exact,
                   permutations)

    @property
    def k(self) -> int:
        return len(self.channels)

    @property
    def exact(self) -> bool:
        return self.k <= self.max_exact

    def perms(self) -> np.ndarray | None:
        return None if self.exact else sample_permutations(self.k, self.permutations, self.seed)

    def coalitions(self) -> list[int]:
        return coalitions(self.k, self.max_exact, self.perms())

    def seeds(self) -> list[int]:
        return [self.seed + r for r in range(self.reps)]

    def tasks(self) -> list[tuple[int, int, int]]:
        return [(r, c, s) for r, s in enumerate(self.seeds()) for c in self.coalitions()]

    def definition(self) -> dict:
        return {"scenario": self.scenario.name, "scenario_config": self.scenario.config_dict(self.strategy),
                "strategy": self.strategy, "channels": list(self.channels), "reps": self.reps, "seed": self.seed,
                "max_exact": self.max_exact, "permutations": None if self.exact else self.permutations}

    @property
    def hash(self) -> str:
        return definition_hash(self.definition())

    def describe(self) -> str:
        shap = (f"exact Shapley over {2 ** self.k} coalitions" if self.exact
                else f"Shapley from {self.permutations} sampled permutations ({len(self.coalitions())} coalitions)")
        return (f"scenario {self.scenario.name!r}, strategy {self.strategy!r}, {self.k} channels "
                f"({', '.join(self.channels)}), {self.reps} replications, {shap}: {len(self.tasks())} runs")


def attribution(scenario=None, strategy: str | None = None, reps: int = 10, *, seed: int = 1,
                overrides: dict | None = None, channels=None, workers: int = 1, executor: Any = None,
                store: str | Path | None = None, progress: bool = False, max_exact: int = 8,
                permutations: int = 200, say: Callable[[str], None] | None = None) -> "AttributionResult":
    """Run an attribution study and score the methods against the truth (see the module doc).

    ``store``: a path for the resumable SQLite store (a rerun with the same path does only the missing runs);
    None keeps it in memory. ``executor``: a ``distributed.Client`` (Dask) instead of local processes.
    """
    study = Study.make(scenario, strategy, reps, seed, overrides, channels, max_exact, permutations)
    st = AttributionStore.open(":memory:" if store is None else store, study)
    try:
        done = st.done()
        todo = [t for t in study.tasks() if (t[0], t[1]) not in done]
        bar = progress_bar(len(study.tasks()), len(study.tasks()) - len(todo), progress, "attribution")
        shared = {"scenario": study.scenario, "strategy": study.strategy, "overrides": {}, "channels": study.channels}

        def record(task, out):
            st.add(task[0], task[1], task[2], out, out.get("elapsed"), out.get("worker"))
            bar.update(1)

        try:
            # one coalition's seeds run side by side (the replication axis); the full coalition's (touch log) alone
            full = full_mask(study.k)
            run_batched(run_coalitions, todo, key=lambda t: (t[1], t[2]) if t[1] == full else t[1], shared=shared,
                        workers=workers, client=executor, record=record, label="attribution run",
                        buyers_per_run=expected_buyers(study.scenario))
        finally:
            bar.close()
        values = st.values()
        full = full_mask(study.k)
        logs = [st.log(r, full) for r in range(study.reps)]
    finally:
        st.close()
    return AttributionResult(study, values, logs, executed=len(todo))


def _ratio_ci(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval of the ratio of means sum(num[r]) / sum(den[r]) over replications r (num: [R, k]),
    by the delta method: the standard error of the ratio is that of the mean of the residuals
    ``num[r] - ratio * den[r]`` over the mean of ``den`` (NaN where the mean of ``den`` is not positive)."""
    from scipy import stats as sps

    R = num.shape[0]
    d = float(den.mean())
    if R < 2 or d <= 0:
        return np.full(num.shape[1], np.nan), np.full(num.shape[1], np.nan)
    ratio = num.mean(axis=0) / d
    resid = num - ratio[None, :] * den[:, None]
    se = resid.std(axis=0, ddof=1) / math.sqrt(R) / d
    q = sps.t.ppf(0.5 + LEVEL / 2, R - 1)
    return ratio - q * se, ratio + q * se


class AttributionResult:
    """The study's runs and what follows from them: ``truth``, ``attribution``, ``scores``, ``paths``,
    ``touch_log`` (frames) and :meth:`finding`."""

    def __init__(self, study: Study, values: dict, logs: list, executed: int = 0):
        self.study, self.executed, self.logs = study, executed, logs
        self.reused = len(study.tasks()) - executed  # runs found in the store
        R = study.reps
        cols = study.coalitions()
        self.wins = np.array([[values[(r, c)][0] for c in cols] for r in range(R)])
        self.revenue = np.array([[values[(r, c)][1] for c in cols] for r in range(R)])
        self._col = {c: i for i, c in enumerate(cols)}
        self.journeys = [M.journeys(log, K, PATH_CHANNELS) for log in logs]
        self.truth = self._truth()
        self.credits = [M.credit(t, K) for t in self.journeys]
        self.attribution = self._attribution()
        self.scores = self._scores()

    # -- truth
    def v(self, what: np.ndarray, mask: int) -> np.ndarray:
        return what[:, self._col[mask]]

    def _shapley(self, what: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self.study.exact:
            return shapley_exact(what), None
        return shapley_permutations(lambda m: self.v(what, m), self.study.perms())

    def _truth(self) -> pd.DataFrame:
        s, k = self.study, self.study.k
        full = full_mask(k)
        self.phi, self.phi_se = self._shapley(self.wins)
        self.phi_revenue, _ = self._shapley(self.revenue)
        self.total = self.v(self.wins, full) - self.v(self.wins, 0)
        lo, hi = _ratio_ci(self.phi, self.total)
        rows = []
        for j, ch in enumerate(s.channels):
            without = full & ~(1 << j)
            inc = self.v(self.wins, full) - self.v(self.wins, without)
            inc_rev = self.v(self.revenue, full) - self.v(self.revenue, without)
            m, a, b = mean_ci(inc, LEVEL)
            mr, ar, br = mean_ci(inc_rev, LEVEL)
            ms, as_, bs = mean_ci(self.phi[:, j], LEVEL)
            share = float(self.phi[:, j].sum() / self.total.sum()) if self.total.sum() > 0 else math.nan
            rows.append({"channel": ch, "incremental_customers": m, "incremental_customers_ci_low": a,
                         "incremental_customers_ci_high": b, "incremental_revenue": mr,
                         "incremental_revenue_ci_low": ar, "incremental_revenue_ci_high": br,
                         "shapley_customers": ms, "shapley_customers_ci_low": as_, "shapley_customers_ci_high": bs,
                         "shapley_se_permutations": (float(np.sqrt((self.phi_se[:, j] ** 2).mean()))
                                                     if self.phi_se is not None else 0.0),
                         "shapley_revenue": float(self.phi_revenue[:, j].mean()),
                         "true_share": share, "true_share_ci_low": float(lo[j]), "true_share_ci_high": float(hi[j])})
        df = pd.DataFrame(rows)
        df.attrs["customers_all"] = float(self.v(self.wins, full).mean())
        df.attrs["customers_none"] = float(self.v(self.wins, 0).mean())
        return df

    # -- methods against it
    def _attribution(self) -> pd.DataFrame:
        s = self.study
        studied = [TOUCH_CHANNELS.index(c) for c in s.channels]
        credited = np.zeros(K, dtype=bool)
        for cr in self.credits:
            for arr in cr.values():
                credited |= arr > 0
        labels = studied + [c for c in range(K) if credited[c] and c not in studied]
        truth = self.truth.set_index("channel")
        rows = []
        for name in M.METHODS:
            per_rep = np.array([cr[name] / cr[name].sum() if cr[name].sum() > 0 else np.full(K, np.nan)
                                for cr in self.credits])
            conv = np.array([cr[name] for cr in self.credits])
            for c in labels:
                ch = TOUCH_CHANNELS[c]
                m, lo, hi = mean_ci(per_rep[:, c], LEVEL)
                lo, hi = max(lo, 0.0), min(hi, 1.0)  # a share lies in [0, 1]
                if ch in truth.index:
                    ts, tl, th = truth.loc[ch, ["true_share", "true_share_ci_low", "true_share_ci_high"]]
                else:  # a label no studied channel owns (referrals, a channel not in the strategy): no true credit
                    ts = tl = th = 0.0
                rows.append({"method": name, "channel": ch, "studied": ch in truth.index, "credited_share": m,
                             "true_share": float(ts), "ci_low": lo, "ci_high": hi, "true_ci_low": float(tl),
                             "true_ci_high": float(th), "abs_error": abs(m - float(ts)),
                             "credited_customers": float(conv[:, c].mean())})
        return pd.DataFrame(rows)

    def _scores(self) -> pd.DataFrame:
        from scipy.stats import spearmanr

        s = self.study
        truth = self.truth.set_index("channel")
        incr = truth["incremental_customers"]
        right = str(incr.idxmin())
        rows = []
        for name, g in self.attribution.groupby("method", sort=False):
            st = g[g["studied"]].set_index("channel").loc[list(s.channels)]
            if len(st) > 1 and st["credited_share"].nunique() > 1 and st["true_share"].nunique() > 1:
                rho = float(spearmanr(st["credited_share"], st["true_share"]).statistic)
            else:
                rho = math.nan
            cut = str(st["credited_share"].idxmin())
            rows.append({"method": name, "mean_abs_error": float(st["abs_error"].mean()),
                         "max_abs_error": float(st["abs_error"].max()),
                         "worst_channel": str(st["abs_error"].idxmax()) if st["abs_error"].notna().any() else "",
                         "share_to_unstudied": float(g.loc[~g["studied"], "credited_share"].sum()),
                         "rank_correlation": rho, "cut": cut, "right_cut": right, "cut_is_right": cut == right,
                         "customers_lost_by_cut": float(incr[cut]), "customers_lost_by_right_cut": float(incr[right]),
                         "decision_cost_customers": float(incr[cut] - incr[right])})
        return pd.DataFrame(rows)

    # -- outputs
    @property
    def paths(self) -> pd.DataFrame:
        """The journeys of every replication grouped by path (channelattribution's format), with ``rep``."""
        frames = [M.path_table(t, TOUCH_CHANNELS).assign(rep=r) for r, t in enumerate(self.journeys)]
        return pd.concat(frames, ignore_index=True)[["rep", "path", "total_conversions", "total_null",
                                                     "total_conversion_value"]]

    @property
    def touch_log(self) -> pd.DataFrame:
        """Every touch of the runs with every channel, one row per touch, with ``rep`` and ``seed``."""
        seeds = self.study.seeds()
        return pd.concat([log_frame(log).assign(rep=r, seed=seeds[r]) for r, log in enumerate(self.logs)],
                         ignore_index=True)

    def finding(self) -> str:
        """One paragraph written from the numbers."""
        sc, at, tr = self.scores, self.attribution, self.truth
        s = self.study
        if not np.isfinite(tr["true_share"]).all():
            return (f"With every channel {tr.attrs['customers_all']:.1f} customers were won, without any "
                    f"{tr.attrs['customers_none']:.1f}: the channels add nothing measurable here, so no share of "
                    f"credit is right or wrong.")
        best = sc.sort_values("mean_abs_error").iloc[0]
        worst = sc.sort_values("mean_abs_error").iloc[-1]
        st = at[at["studied"]]
        miss = st.loc[(st["credited_share"] - st["true_share"]).abs().idxmax()]
        right = sc["right_cut"].iloc[0]
        n_right = int(sc["cut_is_right"].sum())
        lt = sc.set_index("method").loc["last_touch"]
        rt = tr.set_index("channel")
        if lt["cut_is_right"]:
            last_cut = f"last touch would cut {lt['cut']} too."
        else:
            c = lt["cut"]
            last_cut = (f"last touch would cut {c} instead, losing {lt['customers_lost_by_cut']:.1f} customers "
                        f"[{rt.loc[c, 'incremental_customers_ci_low']:.1f}, {rt.loc[c, 'incremental_customers_ci_high']:.1f}] "
                        f"of {tr.attrs['customers_all']:.1f}.")
        parts = [
            f"Against the counterfactual truth ({tr.attrs['customers_all']:.1f} customers won in the run with every channel, "
            f"{tr.attrs['customers_none']:.1f} with none; {s.reps} replications), {best['method'].replace('_', ' ')} "
            f"comes closest (mean absolute error {100 * best['mean_abs_error']:.1f} points of share) and "
            f"{worst['method'].replace('_', ' ')} is furthest ({100 * worst['mean_abs_error']:.1f} points).",
            f"The largest miss: {miss['method'].replace('_', ' ')} gives {miss['channel']} "
            f"{100 * miss['credited_share']:.0f}% of the credit against a true share of {100 * miss['true_share']:.0f}% "
            f"[{100 * miss['true_ci_low']:.0f}%, {100 * miss['true_ci_high']:.0f}%].",
            f"The right channel to cut is {right}: removing it changes the customers won by "
            f"{-rt.loc[right, 'incremental_customers']:+.1f} [{-rt.loc[right, 'incremental_customers_ci_high']:+.1f}, "
            f"{-rt.loc[right, 'incremental_customers_ci_low']:+.1f}]. {n_right} of {len(sc)} methods give it the least "
            f"credit; " + last_cut,
        ]
        if lt["share_to_unstudied"] > 0.005:
            labels = sorted(set(at.loc[~at["studied"] & (at["method"] == "last_touch") & (at["credited_share"] > 0),
                                       "channel"]))
            parts.append(f"Last touch also gives {100 * lt['share_to_unstudied']:.0f}% of the credit to touch labels "
                         f"outside the studied channels ({', '.join(labels)}), whose true share is 0: the truth splits "
                         f"only what the studied channels add, network effects included.")
        return " ".join(parts)

    def write(self, folder: str | Path, manifest: dict | None = None) -> Path:
        """attribution.csv, truth.csv, scores.csv, paths.csv, touch_log.parquet, charts/, report.html and
        manifest.json in ``folder``."""
        from sim.attribution.report import write_all

        return write_all(self, Path(folder), manifest or {})
