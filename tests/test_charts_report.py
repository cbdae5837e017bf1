"""Tests for sim.analysis.charts and sim.analysis.report on small synthetic tidy frames (see docs/CONTRACT.md)."""

from __future__ import annotations

import os

os.environ["MPLBACKEND"] = "Agg"

import math  # noqa: E402
import re  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from sim.analysis import charts, report  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STRATEGIES = ["cold_calling", "content_nurture", "networking"]
SOURCES = ("content", "email", "cold_calling", "networking", "referral", "campaigns", "social")
EXPECTED_CHARTS = [
    "stages_over_time", "cumulative_customers", "funnel", "cac_conversion", "cost_vs_customers",
    "deals_by_source", "wins_by_segment", "progress_at_first_contact", "cycle_length", "rep_utilisation",
]


# --------------------------------------------------------------------------- synthetic data

def make_frames(strategies=STRATEGIES, seeds=(0, 1, 2), days=30, rng_seed=7):
    rng = np.random.default_rng(rng_seed)
    n_buyers = 200
    ts_rows, sum_rows, sample_rows = [], [], []
    for si, strat in enumerate(strategies):
        for seed in seeds:
            wins = lost = 0
            cum_cost = 0.0
            for day in range(days):
                new_w = int(rng.poisson(0.3 + 0.2 * si))
                new_l = int(rng.poisson(0.2))
                wins += new_w
                lost += new_l
                cost = float(rng.uniform(800, 1200)) * (1 + 0.3 * si)
                cum_cost += cost
                active = n_buyers - wins - lost
                exploring = int(active * min(0.9, 0.2 + day / (2 * days)) * rng.uniform(0.9, 1.0))
                engaged = int((active - exploring) * 0.4 * rng.uniform(0.8, 1.0))
                ts_rows.append({
                    "strategy": strat, "seed": seed, "day": day,
                    "n_dormant": n_buyers - exploring - engaged - wins - lost,
                    "n_exploring": exploring, "n_engaged": engaged,
                    "n_customer": wins, "n_lost": lost, "n_accounts_in_market": 50,
                    "new_wins": new_w, "cum_wins": wins, "new_cost": cost, "cum_cost": cum_cost,
                    "rep_utilisation": float(np.clip(0.4 + 0.1 * si + rng.normal(0, 0.05), 0, 1)),
                })
            leads = int(rng.integers(4, 8)) * max(wins, 1)
            row = {
                "strategy": strat, "seed": seed,
                "customers_won": float(wins), "conversion_rate": wins / leads,
                "total_cost": cum_cost, "cac": cum_cost / wins if wins else math.nan,
                "revenue": wins * 20000.0, "ltv": 30000.0,
                "ltv_to_cac": 30000.0 / (cum_cost / wins) if wins else math.nan,
                "median_cycle_days": float(rng.uniform(30, 90)),
                "median_progress_at_first_contact": float(rng.uniform(0.4, 0.7)),
                "leads": float(leads), "meetings": float(leads * 0.6), "opportunities": float(leads * 0.25),
            }
            shares = rng.dirichlet(np.ones(len(SOURCES)))
            for src, sh in zip(SOURCES, shares):
                row[f"deals_{src}"] = 0.0 if src == "social" else float(round(wins * sh))
            sum_rows.append(row)
            for v in rng.beta(5, 4, size=40):
                sample_rows.append({"strategy": strat, "seed": seed,
                                    "kind": "progress_at_first_contact", "value": float(v)})
            for v in rng.integers(0, 3, size=wins):
                sample_rows.append({"strategy": strat, "seed": seed, "kind": "won_segment", "value": float(v)})
            for v in rng.gamma(4, 12 + 5 * si, size=max(wins, 1)):
                sample_rows.append({"strategy": strat, "seed": seed, "kind": "cycle_days", "value": float(v)})
    return pd.DataFrame(sum_rows), pd.DataFrame(ts_rows), pd.DataFrame(sample_rows)


def make_comparison(means: dict[str, dict[str, float]], best: dict[str, str], clear: dict, p: dict, n=3):
    """Hand-built comparison frame with the CONTRACT columns."""
    rows = []
    for metric, by_strat in means.items():
        b = best[metric]
        for strat, m in by_strat.items():
            is_best = strat == b
            diff = 0.0 if is_best else (m - by_strat[b] if not (math.isnan(m) or math.isnan(by_strat[b]))
                                        else math.nan)
            rows.append({
                "strategy": strat, "metric": metric, "n": n, "mean": m,
                "ci_low": m * 0.9 if not math.isnan(m) else math.nan,
                "ci_high": m * 1.1 if not math.isnan(m) else math.nan,
                "best": b, "diff_vs_best": diff,
                "diff_ci_low": math.nan if is_best else diff - abs(diff) * 0.5,
                "diff_ci_high": math.nan if is_best else diff + abs(diff) * 0.5,
                "p_value": math.nan if is_best else p.get((metric, strat), 0.5),
                "clear": False if is_best else bool(clear.get((metric, strat), False)),
            })
    return pd.DataFrame(rows)


def standard_comparison(clear_customers=True, clear_cac=False):
    means = {
        "customers_won": {"cold_calling": 9.0, "content_nurture": 15.0, "networking": 12.0},
        "cac": {"cold_calling": 4000.0, "content_nurture": 2500.0, "networking": 3000.0},
        "conversion_rate": {"cold_calling": 0.05, "content_nurture": 0.12, "networking": 0.09},
        "total_cost": {"cold_calling": 36000.0, "content_nurture": 37500.0, "networking": 36000.0},
    }
    best = {"customers_won": "content_nurture", "cac": "content_nurture",
            "conversion_rate": "content_nurture", "total_cost": "cold_calling"}
    clear = {("customers_won", "networking"): clear_customers, ("customers_won", "cold_calling"): True,
             ("cac", "networking"): clear_cac, ("cac", "cold_calling"): True}
    p = {("customers_won", "networking"): 0.01 if clear_customers else 0.3,
         ("cac", "networking"): 0.02 if clear_cac else 0.4}
    return make_comparison(means, best, clear, p)


def pixels(path) -> np.ndarray:
    """The chart's RGB pixels (0-255 integers), decoded from the PNG file."""
    import matplotlib.image as mpimg

    return (mpimg.imread(path)[..., :3] * 255).round().astype(int)


def colour_pixels(img: np.ndarray, colour: str, tol: int = 2) -> int:
    """How many pixels of ``img`` are ``colour`` (a matplotlib colour), within ``tol`` per channel."""
    import matplotlib.colors as mc

    rgb = np.array([round(c * 255) for c in mc.to_rgb(colour)])
    return int((np.abs(img - rgb).max(axis=2) <= tol).sum())


def assert_png(path):
    """A PNG that decodes to a real picture: chart-sized and not one flat colour."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    img = pixels(path)
    assert img.shape[0] >= 200 and img.shape[1] >= 300, (path, img.shape)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20, f"{path}: (nearly) one flat colour"


# --------------------------------------------------------------------------- charts

def test_make_all_writes_every_png(tmp_path):
    summary, ts, samples = make_frames()
    out = tmp_path / "charts" / "nested"
    paths = charts.make_all(summary, ts, samples, out)
    assert [p.stem for p in paths] == EXPECTED_CHARTS
    for p in paths:
        assert p.parent == out
        assert p.exists()
        assert_png(p)


# charts that draw each strategy in its own colour (strategy_colors): stages_over_time uses stage colours, and
# deals_by_source source colours (drawn from the same palette, so a strategy's colour can be a source's)
STRATEGY_COLOURED = [c for c in EXPECTED_CHARTS if c not in ("stages_over_time", "deals_by_source")]


def test_the_pixels_follow_the_data(tmp_path):
    """The pictures show the data, not just a frame: every chart differs from its no-data version; in every chart
    coloured by strategy each strategy's colour is drawn, and disappears when that strategy's rows are removed
    (the strategy still listed); the two other charts change too."""
    summary, ts, samples = make_frames()
    full = {p.stem: pixels(p) for p in charts.make_all(summary, ts, samples, tmp_path / "full")}
    empty = pd.DataFrame()
    none = {p.stem: pixels(p) for p in charts.make_all(empty, empty, empty, tmp_path / "none", strategies=STRATEGIES)}
    gone = "networking"
    part = {p.stem: pixels(p) for p in charts.make_all(*(f[f.strategy != gone] for f in (summary, ts, samples)),
                                                         tmp_path / "part", strategies=STRATEGIES)}
    colours = charts.strategy_colors(STRATEGIES)
    for name in EXPECTED_CHARTS:
        assert full[name].shape != none[name].shape or (full[name] != none[name]).any(), f"{name}: same as no data"
        assert full[name].shape != part[name].shape or (full[name] != part[name]).any(), f"{name}: {gone} left no mark"
    for name in STRATEGY_COLOURED:
        for s, c in colours.items():
            assert colour_pixels(full[name], c) >= 100, (name, s)
            assert colour_pixels(none[name], c) == 0, (name, s)
        assert colour_pixels(part[name], colours[gone]) == 0, name
        for s in STRATEGIES[:2]:
            assert colour_pixels(part[name], colours[s]) >= 100, (name, s)


def test_each_chart_callable_alone(tmp_path):
    summary, ts, samples = make_frames()
    for fn, frame in [(charts.stages_over_time, ts), (charts.cumulative_customers, ts), (charts.funnel, summary),
                      (charts.cac_conversion, summary), (charts.cost_vs_customers, summary),
                      (charts.deals_by_source, summary), (charts.wins_by_segment, samples),
                      (charts.progress_at_first_contact, samples),
                      (charts.cycle_length, samples), (charts.rep_utilisation, ts)]:
        p = fn(frame, tmp_path)
        assert_png(p)


def test_strategy_colors_stable_and_distinct():
    a = charts.strategy_colors(STRATEGIES)
    b = charts.strategy_colors(list(STRATEGIES))
    assert a == b
    assert list(a) == STRATEGIES
    assert len(set(a.values())) == len(STRATEGIES)
    ten = [f"s{i}" for i in range(10)]
    assert len(set(charts.strategy_colors(ten).values())) == 10
    # a prefix keeps the same colours
    assert charts.strategy_colors(STRATEGIES[:2]) == {k: a[k] for k in STRATEGIES[:2]}


def test_strategies_default_to_summary_order(tmp_path):
    summary, ts, samples = make_frames()
    order = list(reversed(STRATEGIES))
    summary = pd.concat([summary[summary.strategy == s] for s in order])
    assert charts._strategies_from([summary, ts, samples], None) == order
    assert len(charts.make_all(summary, ts, samples, tmp_path)) == len(EXPECTED_CHARTS)


def test_graceful_single_seed(tmp_path):
    summary, ts, samples = make_frames(seeds=(0,))
    for p in charts.make_all(summary, ts, samples, tmp_path):
        assert_png(p)


def test_graceful_missing_samples_and_nan_cac(tmp_path):
    summary, ts, samples = make_frames()
    samples = samples[~((samples.strategy == "networking") & (samples.kind == "cycle_days"))]
    samples = samples[~((samples.strategy == "cold_calling") & (samples.kind == "progress_at_first_contact"))]
    summary = summary.copy()
    summary["cac"] = math.nan
    summary.loc[summary.strategy == "cold_calling", "conversion_rate"] = math.nan
    for p in charts.make_all(summary, ts, samples, tmp_path):
        assert_png(p)


def test_graceful_empty_frames(tmp_path):
    empty = pd.DataFrame()
    paths = charts.make_all(empty, empty, empty, tmp_path / "empty", strategies=STRATEGIES)
    assert [p.stem for p in paths] == EXPECTED_CHARTS
    for p in paths:
        assert p.read_bytes()[:8] == PNG_MAGIC
        img = pixels(p)
        # "no data" in grey (#666666) on a blank chart: its text is drawn, nothing in a strategy's colour
        assert colour_pixels(img, "#666666", tol=10) > 0, p
        assert not any(colour_pixels(img, c) for c in charts.strategy_colors(STRATEGIES).values()), p
    # totally empty, no strategies given either
    for p in charts.make_all(empty, empty, empty, tmp_path / "empty2"):
        assert p.read_bytes()[:8] == PNG_MAGIC
        assert colour_pixels(pixels(p), "#666666", tol=10) > 0, p


def test_pareto_front():
    pts = {"a": (100.0, 10.0), "b": (200.0, 20.0), "c": (250.0, 15.0), "d": (100.0, 8.0)}
    assert charts._pareto_front(pts) == ["a", "b"]


def test_t_interval():
    m, lo, hi, n = charts.t_interval([1.0, 2.0, 3.0, math.nan])
    assert n == 3 and m == pytest.approx(2.0)
    assert lo == pytest.approx(2.0 - 4.302652729911275 * 1.0 / math.sqrt(3))
    m, lo, hi, n = charts.t_interval([5.0])
    assert m == 5.0 and math.isnan(lo) and n == 1


# --------------------------------------------------------------------------- finding sentence

def test_finding_sentence_names_winners_and_clarity():
    comp = standard_comparison(clear_customers=True, clear_cac=False)
    s = report.finding_sentence(comp)
    assert "content_nurture has the lowest CAC" in s
    assert "content_nurture wins the most" in s
    assert "runner-up networking" in s
    # CAC: 3000 vs 2500 -> $500, 16.7% of runner-up
    assert "$500" in s and "16.7%" in s
    # customers: 15 vs 12 -> 3.0 (25.0%)
    assert "3.0 (25.0%)" in s
    assert "not statistically clear" in s  # CAC runner-up not clear
    assert "statistically clear (95% paired CI excludes zero)" in s  # customers clear


def test_finding_sentence_not_clear():
    comp = standard_comparison(clear_customers=False, clear_cac=False)
    s = report.finding_sentence(comp)
    assert s.count("not statistically clear") == 2  # best vs runner-up, on CAC and on customers
    # ... but cold_calling is clearly behind on both, and the finding says so (it used to leave that out)
    assert "Clearly behind content_nurture on CAC" in s and "cold_calling, $1,500 more per customer" in s
    assert "Clearly behind content_nurture on customers won" in s and "cold_calling, 6.0 fewer customers" in s


def test_finding_sentence_all_nan_cac_and_tie():
    comp = make_comparison(
        {"cac": {"a": math.nan, "b": math.nan},
         "customers_won": {"a": 0.0, "b": 0.0}},
        best={"cac": "a", "customers_won": "a"}, clear={}, p={})
    s = report.finding_sentence(comp)
    assert "undefined for every strategy" in s
    assert "tie" in s
    assert "nan" not in s.lower().replace("financial", "")


def test_finding_sentence_missing_metric_and_empty():
    assert "no" in report.finding_sentence(pd.DataFrame()).lower()
    comp = standard_comparison()
    s = report.finding_sentence(comp[comp.metric != "cac"])
    assert "no CAC" in s


# --------------------------------------------------------------------------- report

def test_write_report_self_contained(tmp_path):
    summary, ts, samples = make_frames()
    chart_paths = charts.make_all(summary, ts, samples, tmp_path / "charts")
    comp = standard_comparison()
    manifest = {"seeds": [0, 1, 2], "reps": 3, "version": "0.1.0",
                "command": "python -m sim run scenarios/x.yaml", "start_time": "2024-01-01T00:00:00",
                "end_time": "2024-01-01T00:01:00", "scenario": {"market": {"n_accounts": 500}}}
    out = report.write_report(tmp_path / "out" / "report.html", title="GTM <comparison> & co",
                              question="Which go-to-market strategy wins?",
                              scenario_description="500 accounts over 30 days.",
                              comparison=comp, chart_paths=chart_paths, manifest=manifest)
    assert out.exists()
    text = out.read_text(encoding="utf-8")
    for s in STRATEGIES:
        assert s in text
    assert report.finding_sentence(comp).replace("&", "&amp;") in text or \
        __import__("html").escape(report.finding_sentence(comp)) in text
    assert text.count("data:image/png;base64,") == len(chart_paths)
    assert "http://" not in text and "https://" not in text
    assert 'src="/' not in text and "<script" not in text.lower() and "<link" not in text.lower()
    assert "@import" not in text and "url(" not in text
    # escaped title
    assert "GTM &lt;comparison&gt; &amp; co" in text
    # manifest facts
    for fact in ("0.1.0", "python -m sim run scenarios/x.yaml", "2024-01-01T00:01:00"):
        assert fact in text
    # comparison table: highlighted clear cells and CI brackets
    assert "<table" in text and 'class="clear"' in text and "[" in text
    # every embedded image decodes to a PNG
    import base64
    for b64 in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text):
        assert base64.b64decode(b64)[:8] == PNG_MAGIC


def test_write_report_graceful(tmp_path):
    comp = make_comparison({"cac": {"a": math.nan}, "customers_won": {"a": 0.0}},
                           best={"cac": "a", "customers_won": "a"}, clear={}, p={})
    out = report.write_report(tmp_path / "r.html", title="t", question="q", scenario_description="d",
                              comparison=comp, chart_paths=[tmp_path / "missing.png"], manifest={},
                              metrics=["cac", "customers_won", "not_a_metric"])
    text = out.read_text()
    assert "Chart missing" in text and "undefined" in text


# --------------------------------------------------------------------------- the figure helper

def test_figure_helper_saves_titled_png_and_always_closes(tmp_path):
    import matplotlib.pyplot as plt

    from sim.analysis.plotting import figure

    open_before = plt.get_fignums()
    with figure(tmp_path / "new", "one", "A title", "day", "buyers (people)") as chart:
        assert chart.ax.get_title() == "A title"
        assert (chart.ax.get_xlabel(), chart.ax.get_ylabel()) == ("day", "buyers (people)")
    assert chart.path == tmp_path / "new" / "one.png"
    assert_png(chart.path)
    with figure(None, "grid", "Suptitle", "x (units)", panels=3) as grid:
        assert len(grid.axes) == 3 and all(ax.get_xlabel() == "x (units)" for ax in grid.axes)
        assert grid.fig._suptitle.get_text() == "Suptitle"
    assert grid.path is None and grid.png and not (tmp_path / "grid.png").exists()
    with pytest.raises(RuntimeError):
        with figure(tmp_path, "broken", "t") as broken:
            raise RuntimeError("drawing failed")
    assert not broken.path.exists()
    assert plt.get_fignums() == open_before


# --------------------------------------------------------------------------- what the charts show

@pytest.fixture
def drawn(monkeypatch):
    """Every chart the charts module draws, by file stem, kept after it is saved (to read its axes and legends)."""
    from contextlib import contextmanager

    seen = {}
    original = charts.figure

    @contextmanager
    def keep(out_dir, name, *args, **kwargs):
        with original(out_dir, name, *args, **kwargs) as chart:
            yield chart
        seen[name] = chart

    monkeypatch.setattr(charts, "figure", keep)
    return seen


def _texts(chart) -> str:
    return " | ".join(t.get_text() for ax in chart.axes for t in ax.texts)


def test_funnel_has_the_four_steps_and_their_conversions(tmp_path, drawn):
    summary, _, _ = make_frames()
    path = charts.funnel(summary, tmp_path)
    assert path == tmp_path / "funnel.png"
    assert_png(path)
    chart = drawn["funnel"]
    assert [ax.get_title() for ax in chart.axes] == [s.replace("_", " ") for s in STRATEGIES]
    for ax in chart.axes:
        ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
        assert set(ticks) == {"leads", "meetings", "opportunities", "wins"}
        assert ticks["leads"] > ticks["meetings"] > ticks["opportunities"] > ticks["wins"]  # top to bottom
    # meetings are 0.6 x leads and opportunities 0.25 x leads in every run: 60% of leads, 42% of meetings
    text = _texts(chart)
    assert text.count("(60% of leads)") == len(STRATEGIES) and text.count("(42% of meetings)") == len(STRATEGIES)
    frame = charts.funnel_frame(summary)
    assert list(frame["step"].unique()) == ["leads", "meetings", "opportunities", "wins"]
    one = frame[frame["strategy"] == "networking"].set_index("step")
    runs = summary[summary["strategy"] == "networking"]
    assert one.loc["wins", "mean"] == pytest.approx(runs["customers_won"].mean())
    assert one.loc["wins", "share_of_previous"] == pytest.approx(runs["customers_won"].mean()
                                                                 / runs["opportunities"].mean())
    assert math.isnan(one.loc["leads", "share_of_previous"])


def test_stages_chart_shows_buyers_in_market_only(tmp_path, drawn):
    _, ts, _ = make_frames()
    charts.stages_over_time(ts, tmp_path)
    chart = drawn["stages_over_time"]
    assert [t.get_text() for t in chart.fig.legends[0].get_texts()] == ["exploring", "engaged"]
    top = max(ax.get_ylim()[1] for ax in chart.axes)
    in_market = (ts["n_exploring"] + ts["n_engaged"]).groupby([ts["strategy"], ts["day"]]).mean().max()
    assert top < 1.2 * in_market  # scaled to the buyers in market, not to the whole (mostly dormant) market
    assert "dormant" in chart.fig._suptitle.get_text() and chart.axes[0].get_ylabel() == "buyers in market (people)"


def test_conversion_panel_says_which_conversion(tmp_path, drawn):
    summary, _, _ = make_frames()
    charts.cac_conversion(summary, tmp_path)
    conv = drawn["cac_conversion"].axes[1]
    assert "per buying decision ended" in conv.get_title() and "not per lead" in conv.get_title()
    assert "buying decisions ended" in conv.get_ylabel()
    assert "not per lead" in charts.CAPTIONS["cac_conversion"]


def test_cost_axis_says_when_the_cost_spread_is_small(tmp_path, drawn):
    assert charts._cost_axis_label([1_000_000.0, 2_000_000.0]) == "total cost ($)"
    label = charts._cost_axis_label([1_470_967.0, 1_502_200.0, 1_482_000.0])
    assert "only 2.1%" in label and "$1.471M to $1.502M" in label and "does not start at $0" in label
    summary, _, _ = make_frames()
    summary = summary.copy()
    summary["total_cost"] = 1_000_000.0 + summary.groupby("strategy").ngroup() * 5_000.0  # a 1% spread
    charts.cost_vs_customers(summary, tmp_path)
    ax = drawn["cost_vs_customers"].ax
    assert "only 1.0%" in ax.get_xlabel() and "zoomed" in ax.get_title()
    assert ax.get_ylim()[0] == 0


def test_wins_by_segment_names_segments_and_counts_zero_wins(tmp_path, drawn):
    samples = pd.DataFrame({"strategy": "a", "seed": [1, 1, 1, 2],
                            "kind": "won_segment", "value": [0.0, 0.0, 2.0, 1.0]})
    summary = pd.DataFrame({"strategy": "a", "seed": [1, 2, 3]})  # seed 3 won nobody
    charts.wins_by_segment(samples, tmp_path, summary=summary)
    ax = drawn["wins_by_segment"].ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["smb", "mid", "enterprise"]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([2 / 3, 1 / 3, 1 / 3])


def test_legends_never_cover_the_plot(tmp_path, drawn):
    """Every legend of every chart lies outside every panel (right of it or below), so it covers no data."""
    summary, ts, samples = make_frames()
    charts.make_all(summary, ts, samples, tmp_path)
    checked = 0
    for name, chart in drawn.items():
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = chart.fig
        canvas = FigureCanvasAgg(fig)  # the figure was closed after saving; lay it out again as it was saved
        canvas.draw()
        renderer = canvas.get_renderer()
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for ax in fig.axes:
                if ax.get_visible():
                    assert not box.overlaps(ax.get_window_extent(renderer)), name
            checked += 1
    assert checked >= 7  # stages, cumulative, cost, deals, segments, progress, cycle, utilisation


# --------------------------------------------------------------------------- every clear difference

def test_finding_names_every_clear_difference():
    """The top two are not clearly apart, but two strategies are clearly ~9 customers behind: the finding says so."""
    strategies = ["cold_calling", "content_nurture", "networking", "blended"]
    comp = make_comparison(
        {"customers_won": dict(zip(strategies, [30.0, 35.0, 39.0, 30.5])),
         "cac": dict(zip(strategies, [52_000.0, 43_000.0, 39_000.0, 45_000.0]))},
        best={"customers_won": "networking", "cac": "networking"},
        clear={("customers_won", "cold_calling"): True, ("customers_won", "blended"): True,
               ("cac", "cold_calling"): True},
        p={("customers_won", "content_nurture"): 0.2, ("cac", "content_nurture"): 0.3}, n=4)
    s = report.finding_sentence(comp)
    assert s.count("not statistically clear at this number of replications") == 2  # the top two, on both
    # customers: both strategies clearly behind, with the paired difference and its interval (diff +- 50%)
    assert "Clearly behind networking on customers won" in s
    assert "cold_calling, 9.0 fewer customers (95% paired CI 4.5 to 13.5)" in s
    assert "blended, 8.5 fewer customers (95% paired CI 4.2 to 12.8)" in s
    # CAC: cold_calling clearly dearer; blended not clearly
    assert "cold_calling, $13k more per customer (95% paired CI $6,500 to $19.5k)" in s
    assert "The difference between networking and blended on CAC is not statistically clear." in s


def test_finding_with_two_strategies_is_unchanged():
    comp = standard_comparison(clear_customers=True)
    two = comp[comp["strategy"] != "cold_calling"]
    assert "Clearly behind" not in report.finding_sentence(two)


# --------------------------------------------------------------------------- the scenario section

def _default_with(overrides):
    import sim

    preset = sim.load_scenario()
    return preset, preset.with_overrides(overrides)


def test_override_sentences_say_what_changed_and_the_preset():
    overrides = {"market.n_accounts": 500, "channels.content.budget": 5000,
                 "strategies.networking.channels.content.budget": 9000.0, "channels.paid_search.budget": 1000}
    preset, scenario = _default_with(overrides)
    lines = report.override_sentences(overrides, scenario, preset)
    assert lines[0] == "market.n_accounts set to 500 (preset: 2,000)"
    assert lines[1].startswith("channels.content.budget set to 5,000 for every strategy (preset: 0 in the base; "
                               "replacing the strategies' own values: cold_calling 60,000, content_nurture 240,000")
    assert lines[1].endswith("; then networking set on its own (below)")
    assert lines[2] == "channels.content.budget set to 9,000 for networking only (preset: 60,000)"
    assert lines[3] == ("channels.paid_search.budget set to 1,000 for every strategy (preset: 0 in the base; "
                        "no strategy sets its own value)")
    assert report.override_sentences({}, scenario, preset) == []
    # without the preset the change is still named
    assert report.override_sentences({"market.n_accounts": 500}) == ["market.n_accounts set to 500"]


def _cost_timeseries(scenario, strategies, seeds=(1, 2)):
    """Two days per run; content costs 100 a day in seed 1 and 300 a day in seed 2 (mean over seeds: 400)."""
    rows = []
    for strat in strategies:
        for seed in seeds:
            for day in (0, 1):
                row = {"strategy": strat, "seed": seed, "day": day}
                for ch in ("content", "email", "cold_calling", "networking", "campaigns", "social", "paid_search",
                           "reps"):
                    row[f"new_cost_{ch}"] = 0.0
                row["new_cost_content"] = 100.0 if seed == 1 else 300.0
                rows.append(row)
    return pd.DataFrame(rows)


def test_spend_frame_plan_and_measured_spend():
    # a horizon of a fifth of a year
    _, scenario = _default_with({"scenario.horizon_days": 73, "channels.campaigns.burst_days": [10, 40]})
    ts = _cost_timeseries(scenario, scenario.strategies)
    df = report.spend_frame(scenario, ts).set_index(["strategy", "item"])
    content = df.loc[("content_nurture", "content")]
    assert content["budget"] == pytest.approx(240_000 / 5) and content["fixed"] == pytest.approx(20_000 / 5)
    assert content["planned"] == pytest.approx(52_000) and content["spent"] == pytest.approx(400.0)
    assert df.loc[("content_nurture", "cold_calling"), "planned"] == 0  # no budget: no fixed cost either
    s = scenario.config("networking").sales  # the reps cost their seat cost a day each
    assert df.loc[("networking", "reps"), "planned"] == pytest.approx(s.n_reps * s.cost_per_rep_day * 73)
    assert math.isnan(report.spend_frame(scenario).loc[0, "spent"])


def test_report_has_spend_table_rep_time_and_overrides(tmp_path):
    overrides = {"market.n_accounts": 500, "channels.content.budget": 5000}
    preset, scenario = _default_with(overrides)
    ts = _cost_timeseries(scenario, scenario.strategies)
    comp = standard_comparison()
    out = report.write_report(tmp_path / "r.html", title="t", question="q", scenario_description="d",
                              comparison=comp, chart_paths=[], manifest={"overrides": overrides},
                              scenario=scenario, timeseries=ts, preset=preset)
    text = out.read_text()
    assert "market.n_accounts set to 500 (preset: 2,000)" in text
    assert "channels.content.budget set to 5,000 for every strategy" in text
    assert "What each strategy spends, per channel" in text
    # content: $5,000 budget + $20,000 fixed over 365 days; spent 400 on average over the two replications
    assert "$25k</span><br><span class=\"ci\">$5,000 + $20k fixed" in text
    assert "spent $400 (2%)" in text
    assert "No strategy spends on: paid search." in text
    # rep time: cold_calling dials 60% of 5 reps x 6 h = 18 team hours a day
    assert "How each strategy's reps split their time" in text
    assert '<span class="mean">60%</span><br><span class="ci">18.0 team h a day' in text
    # the overrides also come from the manifest alone (the planner page passes no overrides)
    again = report.write_report(tmp_path / "r2.html", title="t", question="q", scenario_description="d",
                                comparison=comp, chart_paths=[], manifest={"overrides": overrides})
    assert "market.n_accounts set to 500" in again.read_text()


@pytest.mark.parametrize("case", ["full", "no_wins", "missing_kinds", "empty"])
def test_charts_from_what_they_read_are_the_same_pngs(tmp_path, case):
    """make_all(map=...) sends workers only TIMESERIES_COLUMNS and SAMPLE_KINDS: the very same PNGs (here with the
    builtin map, in this process)."""
    summary, ts, samples = make_frames()
    ts = ts.assign(unrelated=1.0)
    samples = pd.concat([samples, samples.assign(kind="unrelated_kind")], ignore_index=True)
    if case == "no_wins":  # rows, but none of the kinds the charts read
        samples = samples[samples["kind"] == "unrelated_kind"]
    elif case == "missing_kinds":
        samples = samples[samples["kind"] != "cycle_days"]
    elif case == "empty":
        summary = ts = samples = pd.DataFrame()
    here = charts.make_all(summary, ts, samples, tmp_path / "here", STRATEGIES)
    lean = charts.make_all(summary, ts, samples, tmp_path / "lean", STRATEGIES, map=lambda fn, jobs: list(map(fn, jobs)))
    for a, b in zip(here, lean, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
