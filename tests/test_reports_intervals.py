"""Intervals of the report: levels worked out by hand, and coverage checked by simulation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from report_fixtures import small_store, subset

from tunebench.reports import build_report, intervals, metrics, significance
from tunebench.reports.frames import build_frames
from tunebench.reports.intervals import IntervalMethod, band, order_statistic_rank

REPLICATIONS = 20_000  # vectorised: the whole simulation takes well under a second
SIZES = (3, 5, 10, 30)


def _binomial_cdf_half(k: int, n: int) -> float:
    """P(Binomial(n, 1/2) <= k), summed by hand (no scipy)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


@pytest.mark.parametrize(("n", "rank"), [(3, 1), (5, 1), (6, 1), (8, 2), (10, 2), (20, 6), (30, 10)])
def test_order_statistic_rank_and_level_by_hand(n, rank):
    j, level = order_statistic_rank(n)
    assert j == rank
    assert level == pytest.approx(1 - 2 * _binomial_cdf_half(j - 1, n), abs=1e-12)
    # No other attainable rank is nearer the nominal 95%.
    others = [1 - 2 * _binomial_cdf_half(i - 1, n) for i in range(1, (n + 1) // 2 + 1)]
    assert min(abs(o - 0.95) for o in others) == pytest.approx(abs(level - 0.95))


def test_three_repetitions_give_the_min_max_range_at_75_percent():
    assert order_statistic_rank(3) == (1, pytest.approx(1 - 2 * 0.5**3))
    method = IntervalMethod("median")
    assert method.achieved(3) == 0.75 and method.below_nominal(3)
    text = method.describe(3)
    assert "75%" in text and "min–max" in text
    assert method.short_label(3) == "75% band"
    assert not method.below_nominal(10) and math.isnan(method.achieved(1))


def test_captions_read_the_level_from_the_repetition_counts():
    assert intervals.describe_counts([1, 3, 3]).startswith("75% exact order-statistic")
    assert intervals.describe_counts([5, 10]).startswith("93.8%–97.9%")
    assert intervals.describe_counts([1, 0]).startswith("no interval")
    assert intervals.describe_counts([4], "mean").startswith("95% Student-t")


def _families(rng: np.random.Generator):
    """Samplers and their true median and mean: normal, skewed and heavy-tailed."""
    return {
        "normal": (lambda size: rng.normal(size=size), 0.0, 0.0),
        "lognormal": (lambda size: rng.lognormal(size=size), 1.0, math.exp(0.5)),
        "exponential": (lambda size: rng.exponential(size=size), math.log(2), 1.0),
        "t3": (lambda size: rng.standard_t(3, size=size), 0.0, 0.0),
        "pareto": (lambda size: rng.pareto(1.5, size=size) + 1, 2 ** (1 / 1.5), 3.0),
    }


def _coverage(draw, n: int, truth: float, center: str) -> tuple[float, float]:
    """Simulated coverage of :func:`band` (replications are columns) and the level it claims."""
    sample = draw((n, REPLICATIONS))
    result = band(sample, center)
    covered = (result.lo <= truth) & (truth <= result.hi)
    return float(covered.mean()), float(result.level[0])


@pytest.mark.slow
def test_median_band_holds_its_stated_level_for_every_distribution():
    rng = np.random.default_rng(20260)
    for name, (draw, median, _mean) in _families(rng).items():
        for n in SIZES:
            coverage, claimed = _coverage(draw, n, median, "median")
            # What the band says it covers is what it covers (over 3 standard errors)...
            assert abs(coverage - claimed) <= 0.01, (name, n, coverage, claimed)
            # ... and from five repetitions that is within 3 points of 95%.
            if n >= 5:
                assert abs(coverage - 0.95) <= 0.03, (name, n, coverage)
            else:
                assert claimed == pytest.approx(0.75)


@pytest.mark.slow
def test_mean_band_holds_for_symmetric_data_and_says_it_misses_skewed_data():
    rng = np.random.default_rng(20261)
    families = _families(rng)
    for name in ("normal", "t3"):
        draw, _median, mean = families[name]
        for n in SIZES:
            coverage, claimed = _coverage(draw, n, mean, "mean")
            assert claimed == 0.95
            assert abs(coverage - 0.95) <= 0.03, (name, n, coverage)
    # Skewed values: Student-t under-covers, which is why the report draws median bands and why
    # the method's description says so.
    draw, _median, mean = families["lognormal"]
    coverage, _ = _coverage(draw, 5, mean, "mean")
    assert coverage < 0.9
    assert "under-covers skewed" in IntervalMethod("mean").describe(5)


@pytest.mark.slow
def test_paired_difference_interval_covers_the_median_difference():
    # 1500 tasks, each with one runner and random search over 9 paired repetitions: a shared
    # repetition effect, skewed noise of different shapes. The interval of the median difference is
    # computed by the report's own function, end to end.
    rng = np.random.default_rng(20262)
    tasks, n = 1500, 9
    shared = rng.normal(size=(tasks, n))
    runner = shared + rng.lognormal(size=(tasks, n))
    random = shared + rng.exponential(size=(tasks, n))
    big = rng.lognormal(size=2_000_000) - rng.exponential(size=2_000_000)
    truth = float(np.median(big))
    final = pd.DataFrame({
        "task": np.repeat([f"t{i}" for i in range(tasks)], 2 * n),
        "runner": np.tile(np.repeat(["r", "random"], n), tasks),
        "repetition": np.tile(np.arange(n), 2 * tasks),
        "direction": "minimize",
        "final_test": np.concatenate([np.concatenate([a, b]) for a, b in zip(runner, random,
                                                                               strict=True)]),
    })
    diffs = significance.paired_differences(final, "random")
    assert len(diffs) == tasks and (diffs["n"] == n).all()
    np.testing.assert_allclose(diffs["median_diff"], np.median(runner - random, axis=1))
    covered = ((diffs["ci_low"] <= truth) & (truth <= diffs["ci_high"])).mean()
    assert diffs["level"].iloc[0] == pytest.approx(order_statistic_rank(n)[1])
    assert abs(covered - 0.95) <= 0.03, covered


def test_band_leaves_out_missing_values_and_needs_two():
    matrix = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, 1.0, np.nan],
                       [0.0, 4.0, 2.0, np.nan]])
    result = band(matrix, "median")
    np.testing.assert_allclose(result.center[:3], [1.0, 4.5, 2.0])
    np.testing.assert_allclose(result.lo[:3], [0.0, 4.0, 1.0])  # min–max at n = 3 and n = 2
    np.testing.assert_allclose(result.hi[:3], [2.0, 5.0, 3.0])
    np.testing.assert_allclose(result.level[:3], [0.75, 0.5, 0.75])
    assert np.isnan(result.center[3]) and np.isnan(result.lo[3]) and list(result.n) == [3, 2, 3, 0]
    one = band(np.array([[3.0, 2.0]]))
    assert np.isnan(one.lo).all() and np.isnan(one.level).all()
    empty = intervals.interval(np.array([]))
    assert math.isnan(empty.center) and empty.n == 0


def test_median_interval_stays_inside_the_values_and_mean_interval_is_students():
    values = np.array([0.91, 0.93, 0.90, 0.95, 0.92, 0.97, 0.89, 0.94, 0.96, 0.88])
    med = intervals.interval(values, "median")
    ordered = np.sort(values)
    assert (med.lo, med.hi) == (ordered[1], ordered[-2])  # j = 2 at n = 10
    mean = intervals.interval(values, "mean")
    half = 2.2621571627982053 * values.std(ddof=1) / math.sqrt(10)  # t(0.975, 9), from tables
    assert (mean.lo, mean.hi) == pytest.approx((values.mean() - half, values.mean() + half))


def test_curve_summary_reports_the_level_of_each_point():
    frames = build_frames(subset(small_store(), repetitions=[0, 1, 2]))
    summary = metrics.curve_summary(frames, "trials")
    full = summary[summary["n"] == 3]
    assert len(full) and (full["level"] == 0.75).all()
    curves = frames.curves[frames.curves["axis"] == "trials"]
    one = summary.iloc[-1]
    quantity = one["quantity"]
    values = curves[(curves["task"] == one["task"]) & (curves["runner"] == one["runner"])
                    & (curves["x"] == one["x"])][quantity]
    assert (one["lo"], one["hi"]) == (values.min(), values.max())


def test_a_three_repetition_report_warns_that_its_intervals_are_75_percent():
    report = build_report(subset(small_store(), repetitions=[0, 1, 2]))
    warnings = [payload for section in report.sections for kind, payload in section.items
                if kind == "warn"]
    assert any("Only 3 repetitions" in w and "75%" in w for w in warnings)
    summary = report.frames["final_test"]
    assert (summary["median_ci_level"] == 0.75).all()
    assert (summary["median_ci_low"] <= summary["median"]).all()
