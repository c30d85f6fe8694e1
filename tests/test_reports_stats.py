"""Statistics of the report against independent implementations and answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tunebench.reports import stats
from tunebench.reports.frames import build_frames
from tunebench.reports.metrics import ranks_over_budget
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store


def _matrix(values, runners=("a", "b", "c", "d")) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    return pd.DataFrame(values, columns=list(runners[: values.shape[1]]))


def _friedman_by_hand(values: np.ndarray) -> tuple[float, float]:
    """Friedman's χ² with the tie correction, from the textbook formula (no scipy test call):
    χ² = (12 / (n k (k+1)) Σ R_j² − 3 n (k+1)) / (1 − Σ (t³ − t) / (n k (k² − 1)))."""
    n, k = values.shape
    ranks = np.zeros_like(values)
    ties = 0.0
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            below, equal = float((row < v).sum()), float((row == v).sum())
            ranks[i, j] = below + (equal + 1) / 2
        _, counts = np.unique(row, return_counts=True)
        ties += float((counts**3 - counts).sum())
    sums = ranks.sum(axis=0)
    chi2 = 12 / (n * k * (k + 1)) * float((sums**2).sum()) - 3 * n * (k + 1)
    chi2 /= 1 - ties / (n * k * (k * k - 1))
    return chi2, float(sps.chi2.sf(chi2, k - 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_friedman_matches_the_textbook_formula_with_ties(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 5, size=(12, 4)).astype(float)  # integers: plenty of ties
    result = stats.friedman(_matrix(values))
    statistic, pvalue = _friedman_by_hand(values)
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(pvalue, rel=1e-10)
    assert (result.n_blocks, result.n_runners) == (12, 4)


def test_friedman_statistic_by_hand_without_ties():
    # Ranks per block: (1,2,3) three times → rank sums 3, 6, 9; χ² = 12/(n k (k+1)) Σ R² − 3n(k+1).
    values = [[1, 2, 3], [4, 5, 6], [0.1, 0.2, 0.3]]
    n, k = 3, 3
    expected = 12 / (n * k * (k + 1)) * (3**2 + 6**2 + 9**2) - 3 * n * (k + 1)
    assert stats.friedman(_matrix(values)).statistic == pytest.approx(expected)


def test_friedman_refuses_two_runners_and_one_block():
    with pytest.raises(ValueError, match="three runners"):
        stats.friedman(_matrix([[1, 2], [2, 1]]))
    with pytest.raises(ValueError, match="two blocks"):
        stats.friedman(_matrix([[1, 2, 3]]))


def test_ranks_with_ties_share_the_average_rank_and_nan_ranks_last():
    ranks = stats.rank_rows(np.array([[1.0, 1.0, 2.0], [3.0, 2.0, 1.0], [np.nan, 1.0, 1.0],
                                      [5.0, 5.0, 5.0], [np.nan, np.nan, 0.0]]))
    np.testing.assert_allclose(ranks, [[1.5, 1.5, 3], [3, 2, 1], [3, 1.5, 1.5], [2, 2, 2],
                                       [2.5, 2.5, 1]])
    average = stats.average_ranks(_matrix([[1, 1, 2], [3, 2, 1]]))
    np.testing.assert_allclose(average.to_numpy(), [2.25, 1.75, 2.0])
    assert list(average.index) == ["a", "b", "c"]


def test_ranks_over_budget_handle_ties_between_identical_runners():
    # "twin" draws exactly what "random" draws (same power, same stream is not possible, so build
    # it by copying): the two tie at every budget point and must share ranks 1.5 or 2.5.
    data = synthetic_store([SynthTask("t", budget_amount=10)],
                           [SynthRunner("random"), SynthRunner("worse", power=0.2)],
                           repetitions=3, seed=3)
    twin_trials = data.trials[data.trials["runner"] == "random"].copy()
    twin_studies = data.studies[data.studies["runner"] == "random"].copy()
    offset = int(data.studies["study_id"].max())
    twin_trials["study_id"] += offset
    twin_studies["study_id"] += offset
    twin_trials["runner"] = twin_studies["runner"] = "twin"
    data.trials = pd.concat([data.trials, twin_trials], ignore_index=True)
    data.studies = pd.concat([data.studies, twin_studies], ignore_index=True)
    ranks = ranks_over_budget(build_frames(data))
    wide = ranks.pivot(index="x", columns="runner", values="rank")
    np.testing.assert_allclose(wide["random"], wide["twin"])
    np.testing.assert_allclose(wide.sum(axis=1), 6.0)  # 1 + 2 + 3 at every point
    assert set(np.round(wide["random"].unique() * 2) / 2) <= {1.5, 2.5}


@pytest.mark.parametrize("k", [2, 3, 4, 5, 7, 10])
@pytest.mark.parametrize("n", [5, 20, 60])
def test_critical_difference_with_an_independent_studentized_range(k, n):
    # statsmodels' qsturng interpolates Harter's tables: an implementation independent of scipy's.
    from statsmodels.stats.libqsturng import qsturng

    expected = qsturng(0.95, k, np.inf) / math.sqrt(2) * math.sqrt(k * (k + 1) / (6 * n))
    assert stats.critical_difference(k, n) == pytest.approx(expected, rel=2e-3)


def test_nemenyi_critical_values_match_demsar_table():
    # Demšar (2006), table 5(a): q_0.05 for k = 2…10.
    table = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102,
             10: 3.164}
    for k, q in table.items():
        assert stats.nemenyi_q(k) == pytest.approx(q, abs=1e-3)


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 × (4, 3, 2, 1) = 0.02, 0.03, 0.06, 0.04 → monotone: …, 0.06.
    adjusted = stats.holm(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.holm(np.array([0.5, 0.9])), [1.0, 1.0])


def exact_signed_rank_p(diff: np.ndarray) -> float:
    """Two-sided exact Wilcoxon signed-rank p-value by enumerating every sign assignment (zeros
    dropped, no ties among |d|): an implementation independent of scipy's."""
    d = diff[diff != 0]
    n = len(d)
    ranks = np.argsort(np.argsort(np.abs(d))) + 1.0
    observed = ranks[d > 0].sum()
    signs = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    t_plus = signs @ ranks
    centre = n * (n + 1) / 4
    return float(np.mean(np.abs(t_plus - centre) >= abs(observed - centre) - 1e-9))


def test_pairwise_wilcoxon_matches_exact_enumeration_and_holm_by_hand():
    rng = np.random.default_rng(4)
    base = rng.normal(size=15)
    matrix = pd.DataFrame({"a": base, "b": base + 0.5 + rng.normal(0, 0.3, 15),
                           "c": base + rng.normal(0, 0.3, 15)})
    table = stats.pairwise_wilcoxon(matrix)
    raw = np.array([exact_signed_rank_p((matrix[a] - matrix[b]).to_numpy())
                    for a, b in (("a", "b"), ("a", "c"), ("b", "c"))])
    np.testing.assert_allclose(table["pvalue"], raw, rtol=1e-9)
    order = np.argsort(raw)
    step = np.maximum.accumulate(raw[order] * np.array([3, 2, 1]))
    expected = np.empty(3)
    expected[order] = np.minimum(step, 1)
    np.testing.assert_allclose(table["pvalue_holm"], expected, rtol=1e-9)
    assert table.loc[0, "significant"]  # a vs b: b is clearly worse
    assert table.loc[0, "a_better"] + table.loc[0, "b_better"] == 15


def test_wilcoxon_of_identical_runners_is_not_significant():
    matrix = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]})
    table = stats.pairwise_wilcoxon(matrix)
    assert table.loc[0, "pvalue"] == 1.0 and not table.loc[0, "significant"]


def test_cd_cliques_are_maximal_groups_within_the_critical_difference():
    ranks = pd.Series({"a": 1.0, "b": 1.5, "c": 2.4, "d": 4.0})
    assert stats.cd_cliques(ranks, cd=1.0) == [["a", "b"], ["b", "c"]]
    assert stats.cd_cliques(ranks, cd=5.0) == [["a", "b", "c", "d"]]
    assert stats.cd_cliques(ranks, cd=0.1) == []


def test_win_rates_count_ties_as_half():
    matrix = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 2.0, 1.0, 5.0]})
    rates = stats.win_rates(matrix)
    assert rates.loc["a", "b"] == pytest.approx((2 + 0.5) / 4)
    assert rates.loc["b", "a"] == pytest.approx((1 + 0.5) / 4)
    assert math.isnan(rates.loc["a", "a"])


def test_block_matrix_drops_incomplete_blocks():
    final = pd.DataFrame({
        "task": ["t"] * 5, "repetition": [0, 0, 1, 1, 2], "runner": ["a", "b", "a", "b", "a"],
        "scaled_loss": [0.1, 0.2, 0.3, 0.4, 0.5],
    })
    blocks = stats.block_matrix(final)
    assert blocks.n_blocks == 2 and blocks.dropped_blocks == 1
    assert list(blocks.values.columns) == ["a", "b"]


def test_mean_ci_is_the_student_t_interval_from_the_tables():
    values = np.array([0.91, 0.93, 0.90, 0.95, 0.92])
    mean, lo, hi = stats.mean_ci(values)
    half = 2.7764451051977987 * values.std(ddof=1) / math.sqrt(5)  # t(0.975, 4)
    assert mean == pytest.approx(values.mean())
    assert (lo, hi) == pytest.approx((values.mean() - half, values.mean() + half))
    assert np.isnan(stats.mean_ci(np.array([1.0]))[1])


def test_median_ci_is_an_order_statistic_interval_with_its_level():
    values = np.array([0.91, 0.93, 0.90, 0.95, 0.92])
    median, lo, hi, level = stats.median_ci(values)
    assert (median, lo, hi) == (0.92, 0.90, 0.95)  # min–max at n = 5
    assert level == pytest.approx(1 - 2 / 32)


@pytest.mark.parametrize("center", ["median", "mean"])
def test_bootstrap_band_no_longer_resamples(center):
    # The old name is kept for callers; the band is the interval module's, whatever n_boot or seed.
    rng = np.random.default_rng(5)
    matrix = np.minimum.accumulate(rng.random((6, 30)), axis=1)  # step functions, like curves
    matrix[0, :3] = np.nan  # no successful trial yet
    first = stats.bootstrap_band(matrix, center=center, n_boot=300, seed=9)
    second = stats.bootstrap_band(matrix, center=center, n_boot=50, seed=1)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    mid, lo, hi = first
    reduce = np.nanmedian if center == "median" else np.nanmean
    np.testing.assert_allclose(mid, reduce(matrix, axis=0))
    if center == "median":  # n = 5 or 6: min–max
        np.testing.assert_allclose(lo, np.nanmin(matrix, axis=0))
        np.testing.assert_allclose(hi, np.nanmax(matrix, axis=0))
    assert np.all(lo <= mid + 1e-12) and np.all(mid <= hi + 1e-12)


def test_bootstrap_band_of_one_repetition_has_no_band():
    mid, lo, hi = stats.bootstrap_band(np.array([[3.0, 2.0, 1.0]]))
    np.testing.assert_allclose(mid, [3, 2, 1])
    assert np.isnan(lo).all() and np.isnan(hi).all()
