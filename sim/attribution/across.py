"""A study across markets: where last touch and the Markov model go wrong, and what a budget cut made on
them would cost.

    python -m sim.attribution.across [--reps 3] [--workers 2] [--out DIR]

Runs one attribution study (``sim.attribution.lab``) per market: the presets (their blended strategy; the
enterprise and self-service markets scaled down to 400 and 2,000 accounts to keep the cost) and
the default market with sparser and denser peer networks (``network.weak_ties_mean``) and without and with
more campaign sharing (``word_of_mouth.share_prob``). Each study keeps its own resumable store in ``DIR``,
so a rerun after a kill does only the missing runs. Writes ``DIR/across_markets.csv`` (one row per market
and method) and prints the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from sim.io import safe_name

__all__ = ["MARKETS", "across_markets"]

#: (label, scenario, strategy, overrides)
MARKETS = (
    ("default", "default", "blended", {}),
    # the other presets scaled down to about the default's cost per run (a study is 64 runs per replication)
    ("enterprise_400", "enterprise", "blended", {"market.n_accounts": 400}),
    ("self_service_2000", "self_service", "blended", {"market.n_accounts": 2000}),
    ("sparse_network", "default", "blended", {"network.weak_ties_mean": 2.0}),
    ("dense_network", "default", "blended", {"network.weak_ties_mean": 18.0}),
    ("no_sharing", "default", "blended", {"word_of_mouth.share_prob": 0.0}),
    ("much_sharing", "default", "blended", {"word_of_mouth.share_prob": 0.6}),
)


def _row(label: str, res) -> list[dict]:
    at = res.attribution.set_index(["method", "channel"])
    tr = res.truth.set_index("channel")
    rows = []
    for _, sc in res.scores.iterrows():
        m = sc["method"]

        def credited(ch):
            return float(at.loc[(m, ch), "credited_share"]) if (m, ch) in at.index else 0.0

        def true(ch):
            return float(tr.loc[ch, "true_share"]) if ch in tr.index else 0.0

        rows.append({"market": label, "method": m, "customers_all": res.truth.attrs["customers_all"],
                     "customers_none": res.truth.attrs["customers_none"], "mean_abs_error": sc["mean_abs_error"],
                     "rank_correlation": sc["rank_correlation"], "networking_credited": credited("networking"),
                     "networking_true": true("networking"), "social_credited": credited("social"),
                     "social_true": true("social"), "referral_credited": credited("referral"),
                     "cut": sc["cut"], "right_cut": sc["right_cut"], "cut_is_right": sc["cut_is_right"],
                     "decision_cost_customers": sc["decision_cost_customers"]})
    return rows


def across_markets(markets=MARKETS, reps: int = 3, workers: int = 1, store_dir: str | Path | None = None,
                   progress: bool = False) -> pd.DataFrame:
    """One study per market (see the module doc); one row per market and method."""
    from sim.attribution.lab import attribution

    rows = []
    for label, scenario, strategy, overrides in markets:
        store = None if store_dir is None else Path(store_dir) / f"{safe_name(label)}.sqlite"
        res = attribution(scenario, strategy, reps, overrides=overrides, workers=workers, store=store,
                          progress=progress)
        rows += _row(label, res)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.attribution.across", description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="results/attribution/across")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = across_markets(reps=args.reps, workers=args.workers, store_dir=out, progress=True)
    df.to_csv(out / "across_markets.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(df[df["method"].isin(["last_touch", "markov", "shapley_paths"])].round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
