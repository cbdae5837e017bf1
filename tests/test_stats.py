"""Tests for sim/stats.py: interval coverage, scipy agreement, degenerate cases, compare(), format_table()."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from sim.analysis.stats import (
    COLUMNS,
    POSITIVE_RATIOS,
    compare,
    direction,
    format_table,
    mean_ci,
    metric_ci,
    paired_diff_ci,
    positive_mean_ci,
)

REPS = 2000


def binom_band(p=0.95, reps=REPS, conf=0.999):
    """Central `conf` interval of the observed coverage fraction if the true coverage is exactly p."""
    lo = st.binom.ppf((1 - conf) / 2, reps, p) / reps
    hi = st.binom.ppf(1 - (1 - conf) / 2, reps, p) / reps
    return lo, hi


# ---------------------------------------------------------------- coverage

def test_mean_ci_coverage_normal():
    rng = np.random.default_rng(12345)
    mu = 3.7
    hits = 0
    for _ in range(REPS):
        _, lo, hi = mean_ci(rng.normal(mu, 2.0, size=10))
        hits += lo <= mu <= hi
    cov = hits / REPS
    lo, hi = binom_band()
    print(f"normal n=10 coverage {cov:.4f} (99.9% band {lo:.4f}-{hi:.4f})")
    # For normal data the t interval is exact, so only binomial noise remains.
    assert lo <= cov <= hi


def test_mean_ci_coverage_skewed():
    rng = np.random.default_rng(12345)
    mu = 2.0  # exponential with scale 2 has mean 2
    hits = 0
    for _ in range(REPS):
        _, lo, hi = mean_ci(rng.exponential(mu, size=30))
        hits += lo <= mu <= hi
    cov = hits / REPS
    print(f"exponential n=30 coverage {cov:.4f}")
    # The t interval is only approximate for skewed data: for Exp with n=30 the true
    # coverage is known to be about 0.93-0.94 (skewness biases it low). Add binomial
    # noise (sd ~0.005 at 2000 reps, ~3.3 sd -> 0.017 at 99.9%) -> accept 0.92-0.975.
    assert 0.92 <= cov <= 0.975


@pytest.mark.parametrize("n", [5, 20])
def test_positive_mean_ci_coverage_lognormal(n):
    """The ratio interval covers the MEAN of lognormal data (exp(mu + sigma^2/2), what the tables show) at
    95%: 2,000 simulated samples, observed coverage within 0.025 of 0.95. Tolerance: the 99.9% binomial
    band at 2,000 draws is +/-0.016 (3.3 x 0.0049), plus up to 0.01 for the method's own small-sample
    error (its coverage here is 0.940 at n = 5 and 0.948 at n = 20 over 40,000 draws). Every interval is
    above zero, while the plain t-interval of the same samples often is not."""
    rng = np.random.default_rng(20250101 + n)
    mu, sigma = math.log(50_000.0), 0.7  # a CAC of ~$50k with a seed-to-seed CV of ~0.8
    true_mean = math.exp(mu + sigma ** 2 / 2)
    hits, naive_below_zero = 0, 0
    for _ in range(REPS):
        x = rng.lognormal(mu, sigma, size=n)
        m, lo, hi = positive_mean_ci(x)
        assert 0 < lo <= hi and m == pytest.approx(x.mean())
        hits += lo <= true_mean <= hi
        naive_below_zero += mean_ci(x)[1] < 0
    cov = hits / REPS
    print(f"lognormal n={n} coverage {cov:.4f}; plain t-interval below zero in {naive_below_zero} of {REPS}")
    assert abs(cov - 0.95) <= 0.025
    if n == 5:
        assert naive_below_zero > 0.05 * REPS  # the problem this interval solves


def test_skewed_positive_sample_gets_a_positive_interval():
    """A CAC-like sample with one expensive seed: the t-interval crosses zero, the ratio interval does not,
    and it still holds the mean."""
    cac = np.array([62_000.0, 48_000.0, 75_000.0, 55_000.0, 520_000.0])
    m, lo, hi = mean_ci(cac)
    assert lo < 0 < hi  # "CAC $152k [95% CI -$87k, $391k]"
    pm, plo, phi = positive_mean_ci(cac)
    assert pm == m
    assert 0 < plo < pm < phi
    # metric_ci picks it for the ratio metrics only
    assert metric_ci("cac", cac) == (pm, plo, phi)
    assert metric_ci("revenue", cac) == (m, lo, hi)
    assert {"cac", "cost_per_lead", "cost_per_meeting", "payback_months"} <= POSITIVE_RATIOS


def test_positive_mean_ci_degenerate_and_fallback():
    assert all(math.isnan(v) for v in positive_mean_ci([]))
    m, lo, hi = positive_mean_ci([7.0, math.nan, math.inf])
    assert m == 7.0 and math.isnan(lo) and math.isnan(hi)
    assert positive_mean_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)
    # a zero or a negative value: no log scale, the ordinary t-interval
    assert positive_mean_ci([0.0, 2.0, 4.0]) == mean_ci([0.0, 2.0, 4.0])
    # the formula: log-scale centre ybar + s2/2, standard error sqrt(s2/n + s2^2/(2(n-1))), t quantile
    x = np.array([1.0, 2.0, 4.0, 8.0])
    y = np.log(x)
    s2 = y.var(ddof=1)
    half = st.t.ppf(0.975, 3) * math.sqrt(s2 / 4 + s2 ** 2 / 6)
    _, lo, hi = positive_mean_ci(x)
    assert lo == pytest.approx(math.exp(y.mean() + s2 / 2 - half))
    assert hi == pytest.approx(math.exp(y.mean() + s2 / 2 + half))


def test_compare_gives_ratio_metrics_a_positive_interval():
    df = pd.DataFrame({"strategy": ["a"] * 5 + ["b"] * 5, "seed": list(range(1, 6)) * 2,
                       "cac": [62_000.0, 48_000.0, 75_000.0, 55_000.0, 520_000.0] + [40_000.0] * 5,
                       "revenue": [1.0, 2.0, 3.0, 4.0, 50.0] + [5.0] * 5})
    out = compare(df).set_index(["strategy", "metric"])
    assert out.loc[("a", "cac"), "ci_low"] > 0
    assert out.loc[("a", "revenue"), "ci_low"] < 0  # other metrics keep the t-interval
    # the paired difference against the best may be negative: it is not a ratio
    assert out.loc[("a", "cac"), "diff_ci_low"] < 0


def test_paired_diff_ci_coverage():
    rng = np.random.default_rng(12345)
    delta = 0.8
    hits = 0
    for _ in range(REPS):
        base = rng.normal(10.0, 5.0, size=12)       # shared seed effect
        a = base + delta + rng.normal(0, 1.0, size=12)
        b = base + rng.normal(0, 1.0, size=12)
        _, lo, hi, _ = paired_diff_ci(a, b)
        hits += lo <= delta <= hi
    cov = hits / REPS
    lo, hi = binom_band()
    print(f"paired n=12 coverage {cov:.4f} (99.9% band {lo:.4f}-{hi:.4f})")
    # differences are exactly normal -> exact t interval, only binomial noise
    assert lo <= cov <= hi


def test_pairing_narrows_interval_for_correlated_pairs():
    rng = np.random.default_rng(7)
    base = rng.normal(100.0, 20.0, size=20)
    a = base + 2.0 + rng.normal(0, 0.5, size=20)
    b = base + rng.normal(0, 0.5, size=20)
    _, plo, phi, p = paired_diff_ci(a, b)
    unpaired = st.ttest_ind(a, b).confidence_interval(0.95)
    paired_w, unpaired_w = phi - plo, unpaired.high - unpaired.low
    assert paired_w < 0.2 * unpaired_w
    assert plo > 0  # the paired test sees the +2 shift ...
    assert unpaired.low < 0 < unpaired.high  # ... the unpaired one drowns in seed noise
    assert p < 0.05


# ---------------------------------------------------------------- agreement with scipy

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_p_value_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(5, 2, size=15)
    b = a + rng.normal(0.5, 1, size=15)
    m, lo, hi, p = paired_diff_ci(a, b, level=0.9)
    ref = st.ttest_rel(a, b)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    ci = ref.confidence_interval(0.9)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert m == pytest.approx(np.mean(a - b))


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([1.0, 4.0, 2.5, 7.0, 3.3])
    m, lo, hi = mean_ci(x, level=0.99)
    ref = st.t.interval(0.99, len(x) - 1, loc=x.mean(), scale=st.sem(x))
    assert m == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(ref)


# ---------------------------------------------------------------- degenerate cases

def test_mean_ci_degenerate():
    assert all(math.isnan(v) for v in mean_ci([]))
    assert all(math.isnan(v) for v in mean_ci([np.nan, np.inf, -np.inf]))
    m, lo, hi = mean_ci([4.2])
    assert m == 4.2 and math.isnan(lo) and math.isnan(hi)
    m, lo, hi = mean_ci([4.2, np.nan, np.inf])
    assert m == 4.2 and math.isnan(lo) and math.isnan(hi)
    assert mean_ci([0.1, 0.1, 0.1]) == (0.1, 0.1, 0.1)


def test_mean_ci_drops_nonfinite():
    assert mean_ci([1.0, 2.0, np.nan, 3.0, np.inf]) == pytest.approx(mean_ci([1.0, 2.0, 3.0]))


def test_paired_diff_ci_degenerate():
    assert all(math.isnan(v) for v in paired_diff_ci([], []))
    d, lo, hi, p = paired_diff_ci([3.0], [1.0])
    assert d == 2.0 and math.isnan(lo) and math.isnan(hi) and math.isnan(p)
    assert paired_diff_ci([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == (0.0, 0.0, 0.0, 1.0)
    assert paired_diff_ci([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]) == (1.0, 1.0, 1.0, 0.0)
    # a pair is dropped if either side is non-finite
    a = [1.0, np.nan, 3.0, 5.0, 2.0]
    b = [0.5, 1.0, np.inf, 4.0, 2.5]
    assert paired_diff_ci(a, b) == pytest.approx(paired_diff_ci([1.0, 5.0, 2.0], [0.5, 4.0, 2.5]))
    with pytest.raises(ValueError):
        paired_diff_ci([1, 2, 3], [1, 2])


def test_direction():
    assert direction("cac") == "min"
    assert direction("median_progress_at_first_contact") == "min"
    assert direction("touches_per_deal") == "min"
    assert direction("revenue") == "max"
    assert direction("deals_referral") == "max"
    assert direction("something_new") == "max"


# ---------------------------------------------------------------- compare()

def _summary():
    """3 strategies x 4 seeds; a strong seed effect shared by all strategies (CRN)."""
    seed_eff = {1: 0.0, 2: 50.0, 3: -30.0, 4: 80.0}
    shift = {"beta": 10.0, "alpha": 0.0, "gamma": 9.0}
    noise = {1: 0.3, 2: -0.2, 3: 0.1, 4: -0.4}
    rows = []
    for s in ["beta", "alpha", "gamma"]:
        for seed in [1, 2, 3, 4]:
            rev = 100 + seed_eff[seed] + shift[s] + (noise[seed] if s == "gamma" else 0.0)
            rows.append({"strategy": s, "seed": seed, "revenue": rev,
                         "cac": 1000.0 + rev, "leads": float(seed)})
    return pd.DataFrame(rows)


def test_compare_columns_order_and_best():
    out = compare(_summary())
    assert list(out.columns) == COLUMNS
    assert list(out["metric"].unique()) == ["revenue", "cac", "leads"]  # seed excluded
    for _, g in out.groupby("metric", sort=False):
        assert list(g["strategy"]) == ["beta", "alpha", "gamma"]
    rev = out[out.metric == "revenue"].set_index("strategy")
    assert (rev["best"] == "beta").all()
    assert (rev["n"] == 4).all()
    assert rev.loc["alpha", "mean"] == pytest.approx(125.0)
    b = rev.loc["beta"]
    assert b["diff_vs_best"] == 0.0 and not b["clear"]
    assert math.isnan(b["diff_ci_low"]) and math.isnan(b["diff_ci_high"]) and math.isnan(b["p_value"])
    # alpha is exactly 10 below beta on every seed -> zero-variance paired diff
    a = rev.loc["alpha"]
    assert (a["diff_vs_best"], a["diff_ci_low"], a["diff_ci_high"]) == (-10.0, -10.0, -10.0)
    assert a["clear"]
    # gamma is 1 below beta with small noise: clear thanks to pairing despite huge seed spread
    g = rev.loc["gamma"]
    assert g["diff_vs_best"] == pytest.approx(-1.0 + np.mean([0.3, -0.2, 0.1, -0.4]))
    assert g["diff_ci_high"] < 0 and g["clear"] and g["p_value"] < 0.05
    assert g["ci_low"] < rev.loc["beta", "mean"]  # the unpaired mean CIs overlap heavily


def test_compare_min_direction():
    out = compare(_summary(), metrics=["cac"])
    cac = out.set_index("strategy")
    assert (cac["best"] == "alpha").all()  # lowest cac
    assert cac.loc["beta", "diff_vs_best"] == pytest.approx(10.0)
    assert cac.loc["beta", "clear"]


def test_compare_no_difference_is_not_clear():
    out = compare(_summary(), metrics=["leads"]).set_index("strategy")
    assert out.loc["beta", "best"] == "beta"  # tie -> first appearance
    assert out.loc["alpha", "diff_vs_best"] == 0.0 and out.loc["alpha", "p_value"] == 1.0
    assert not out["clear"].any()


def test_compare_pairs_by_seed_when_shuffled():
    df = _summary()
    ref = compare(df, metrics=["revenue"])
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    # force a different first-appearance order to check ordering follows the input
    order = list(pd.unique(shuffled["strategy"]))
    out = compare(shuffled, metrics=["revenue"])
    assert list(out["strategy"]) == order
    a = ref.set_index("strategy").loc[order]
    b = out.set_index("strategy")
    for col in ["mean", "ci_low", "ci_high", "diff_vs_best", "diff_ci_low", "diff_ci_high", "p_value"]:
        np.testing.assert_allclose(b[col].to_numpy(float), a[col].to_numpy(float), equal_nan=True)
    assert (b["clear"] == a["clear"]).all()


def test_compare_handles_missing_seed_and_nan():
    df = _summary()
    df.loc[(df.strategy == "gamma") & (df.seed == 2), "revenue"] = np.nan
    df = df[~((df.strategy == "alpha") & (df.seed == 4))]
    out = compare(df, metrics=["revenue"]).set_index("strategy")
    assert out.loc["gamma", "n"] == 3 and out.loc["alpha", "n"] == 3 and out.loc["beta", "n"] == 4
    assert out.loc["alpha", "diff_vs_best"] == pytest.approx(-10.0)


# ---------------------------------------------------------------- format_table()

def test_format_table_contains_strategies_and_fits():
    comp = compare(_summary())
    text = format_table(comp, ["revenue", "cac", "leads"])
    assert isinstance(text, str)
    for s in ["alpha", "beta", "gamma"]:
        assert s in text
    assert "*" in text and "best" in text
    assert max(len(line) for line in text.splitlines()) <= 120


def test_format_table_money_and_rates():
    df = pd.DataFrame({"strategy": ["a", "a", "b", "b"], "seed": [1, 2, 1, 2],
                       "revenue": [1_234_567.0, 1_300_000.0, 900_000.0, 950_000.0],
                       "conversion_rate": [0.0312, 0.0335, 0.041, 0.0399]})
    text = format_table(compare(df), ["revenue", "conversion_rate"])
    assert "1,267,284" in text  # thousands separators for money
    assert "0.032" in text      # a few decimals for rates


def test_sweep_findings_use_the_ratio_interval():
    """The sweep report's best points and per-level bands (the findings' "CAC $170k [95% CI ...]") take their
    intervals from metric_ci: positive for CAC, the t-interval for other metrics."""
    from sim.sweeps.report import best_points, marginal_table

    cac = [62_000.0, 48_000.0, 75_000.0, 55_000.0, 520_000.0]
    frame = pd.DataFrame({"point": [0] * 5 + [1] * 5, "strategy": "blended", "seed": list(range(1, 6)) * 2,
                          "x": [1.0] * 5 + [2.0] * 5, "cac": cac + [600_000.0] * 5,
                          "revenue": [1.0, 2.0, 3.0, 4.0, 50.0] + [0.5] * 5})
    best = best_points(frame, ["x"], ["cac", "revenue"]).set_index("metric")
    assert best.loc["cac", "point"] == 0
    assert (best.loc["cac", "mean"], best.loc["cac", "ci_low"], best.loc["cac", "ci_high"]) == metric_ci("cac", cac)
    assert best.loc["cac", "ci_low"] > 0
    assert best.loc["revenue", "ci_low"] < 0  # a t-interval: revenue is not a ratio
    band = marginal_table(frame, "x", "cac").set_index("x")
    assert band.loc[1.0, "ci_low"] > 0
    assert (band.loc[1.0, "ci_low"], band.loc[1.0, "ci_high"]) == metric_ci("cac", cac)[1:]


def test_t_quantile_and_tail_are_scipy_stats_t_bit_for_bit():
    """sim.analysis.stats computes t quantiles and tails with scipy.special (scipy.stats is slow to import): the
    very numbers of scipy.stats.t."""
    from sim.analysis.stats import t_quantile, t_sf

    df = np.r_[np.arange(1, 400), 1000.0, 2.5, 1e6]
    for q in (0.5 + 0.95 / 2, 0.5 + 0.9 / 2, 0.5 + 0.99 / 2, 0.995):
        assert np.array_equal(t_quantile(q, df), st.t.ppf(q, df))
        assert float(t_quantile(q, 19)) == float(st.t.ppf(q, 19))
    x = np.r_[0.0, 1e-300, np.random.default_rng(1).exponential(2.0, 50), 40.0, np.inf]
    for d in (1, 2, 5, 19, 79, 1000):
        assert np.array_equal(t_sf(x, d), st.t.sf(x, d))
        assert float(t_sf(2.3, d)) == float(st.t.sf(2.3, d))
