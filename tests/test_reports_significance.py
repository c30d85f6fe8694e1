"""The report's comparison of runners against a published example and independent implementations.

Demšar (2006), "Statistical comparisons of classifiers over multiple data sets", JMLR 7, table 6
and section 3.2.4: AUC of C4.5 with and without tuning of m and cf on 14 data sets; the paper gives
average ranks 3.143, 2.000, 2.893, 1.964, Friedman χ²_F = 9.28, F_F = 3.69 and, for Nemenyi's
test, CD = 1.25 at α = 0.05 (no pair significant) and CD = 1.12 at α = 0.10 (C4.5 worse than
C4.5+m and C4.5+m+cf). autorank and scikit-posthocs are the independent implementations.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from report_fixtures import small_store, subset
from test_reports_stats import exact_signed_rank_p

from tunebench.reports import build_report, significance, stats
from tunebench.reports.frames import build_frames
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store

autorank = pytest.importorskip("autorank")
sp = pytest.importorskip("scikit_posthocs")

DEMSAR_RUNNERS = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]
# Table 6 as printed (AUC, higher is better). On "voting" the printed C4.5+cf and C4.5+m+cf
# both read 0.975, but the paper ranks them 2 and 3 (its unrounded values differ), and its average
# ranks and χ²_F follow from that order: 0.9751 keeps the paper's order without changing the table.
DEMSAR_AUC = pd.DataFrame([
    [0.763, 0.768, 0.771, 0.798],  # adult (sample)
    [0.599, 0.591, 0.590, 0.569],  # breast cancer
    [0.954, 0.971, 0.968, 0.967],  # breast cancer wisconsin
    [0.628, 0.661, 0.654, 0.657],  # cmc
    [0.882, 0.888, 0.886, 0.898],  # ionosphere
    [0.936, 0.931, 0.916, 0.931],  # iris
    [0.661, 0.668, 0.609, 0.685],  # liver disorders
    [0.583, 0.583, 0.563, 0.625],  # lung cancer
    [0.775, 0.838, 0.866, 0.875],  # lymphography
    [1.000, 1.000, 1.000, 1.000],  # mushroom
    [0.940, 0.962, 0.965, 0.962],  # primary tumor
    [0.619, 0.666, 0.614, 0.669],  # rheum
    [0.972, 0.981, 0.9751, 0.975],  # voting
    [0.957, 0.978, 0.946, 0.970],  # wine
], columns=DEMSAR_RUNNERS)


def _losses(auc: pd.DataFrame) -> pd.DataFrame:
    """Lower is better in tunebench's block matrices."""
    return -auc


def test_demsar_worked_example():
    losses = _losses(DEMSAR_AUC)
    ranks = stats.average_ranks(losses)
    np.testing.assert_allclose(ranks.to_numpy(), [3.143, 2.000, 2.893, 1.964], atol=5e-4)
    result = stats.friedman(losses)
    assert result.statistic_uncorrected == pytest.approx(9.28, abs=5e-3)
    assert result.iman_davenport == pytest.approx(3.69, abs=5e-3)
    assert result.statistic > result.statistic_uncorrected  # mushroom's four-way tie corrected
    assert stats.critical_difference(4, 14, 0.05) == pytest.approx(1.25, abs=5e-3)
    assert stats.critical_difference(4, 14, 0.10) == pytest.approx(1.12, abs=5e-3)
    at_05 = significance.nemenyi_pairs(ranks, 14, 0.05)
    assert not at_05["significant"].any()  # "even the best and the worst differ by less than CD"
    at_10 = significance.nemenyi_pairs(ranks, 14, 0.10)
    found = {frozenset(p) for p in at_10.loc[at_10["significant"], ["runner_a", "runner_b"]]
             .itertuples(index=False)}
    assert found == {frozenset(("C4.5", "C4.5+m")), frozenset(("C4.5", "C4.5+m+cf"))}
    # C4.5+cf belongs to neither group: two bars in the diagram (the paper's figure 1a).
    cliques = significance.pairwise_cliques(ranks, at_10)
    assert cliques == [["C4.5+m+cf", "C4.5+m", "C4.5+cf"], ["C4.5+cf", "C4.5"]]


def test_demsar_wilcoxon_example_c45_against_c45_m():
    # Section 3.1.3: C4.5+m against C4.5, R+ = 93 and R- = 12 with zero differences split evenly
    # between the two sums, T = 12 below the critical 21 at α = 0.05: the difference is significant.
    diff = (DEMSAR_AUC["C4.5+m"] - DEMSAR_AUC["C4.5"]).to_numpy().round(3)
    magnitude = np.abs(diff)
    ranks = pd.Series(magnitude).rank().to_numpy()
    zero = ranks[diff == 0].sum()
    r_plus, r_minus = ranks[diff > 0].sum() + zero / 2, ranks[diff < 0].sum() + zero / 2
    assert (r_plus, r_minus) == (93, 12)
    table = stats.pairwise_wilcoxon(_losses(DEMSAR_AUC[["C4.5", "C4.5+m"]]))
    assert table.loc[0, "significant"]
    assert table.loc[0, "b_better"] == 10 and table.loc[0, "a_better"] == 2


def _random_matrix(seed: int, blocks: int, shifts: list[float]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    task_effect = rng.normal(0, 2, size=(blocks, 1))
    values = task_effect + rng.normal(size=(blocks, len(shifts))) + np.asarray(shifts)
    return pd.DataFrame(values, columns=[f"r{i}" for i in range(len(shifts))])


MATRICES = {
    "demsar": _losses(DEMSAR_AUC),
    "twelve-by-five": _random_matrix(1, 12, [0.0, 0.3, 0.8, 1.5, 1.6]),
    "twenty-by-four": _random_matrix(2, 20, [0.0, 0.0, 0.9, 1.2]),
    "ten-by-six": _random_matrix(3, 10, [0.0, 0.2, 0.4, 2.0, 2.1, 2.2]),
}


def _autorank(matrix: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return autorank.autorank(matrix, alpha=0.05, order="ascending",
                                 force_mode="nonparametric")


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_ranks_and_critical_difference_agree_with_autorank(name):
    matrix = MATRICES[name]
    result = _autorank(matrix)
    ours = stats.average_ranks(matrix)
    theirs = result.rankdf["meanrank"].reindex(ours.index)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-12)
    # autorank's CD comes from statsmodels' studentized range, ours from scipy's.
    assert stats.critical_difference(*matrix.shape[::-1]) == pytest.approx(result.cd, rel=2e-3)
    # autorank's Friedman p-value is scipy's too, so it only confirms the wiring; the statistic's
    # independent checks are the textbook formula (test_reports_stats) and Demšar's numbers.
    assert stats.friedman(matrix).pvalue == pytest.approx(result.pvalue, rel=1e-12)
    assert (stats.friedman(matrix).pvalue < 0.05) == (result.pvalue < 0.05)


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_nemenyi_decisions_agree_with_scikit_posthocs(name):
    matrix = MATRICES[name]
    theirs = sp.posthoc_nemenyi_friedman(matrix)
    pairs = significance.nemenyi_pairs(stats.average_ranks(matrix), len(matrix))
    for row in pairs.itertuples(index=False):
        assert row.pvalue == pytest.approx(theirs.loc[row.runner_a, row.runner_b], abs=1e-6)
        assert row.significant == (theirs.loc[row.runner_a, row.runner_b] < 0.05)


def _sp_wilcoxon_holm(matrix: pd.DataFrame) -> pd.DataFrame:
    long = matrix.melt(var_name="runner", value_name="value")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sp.posthoc_wilcoxon(long, val_col="value", group_col="runner", p_adjust="holm",
                                   sort=False)


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_wilcoxon_holm_decisions_and_cliques_agree_with_scikit_posthocs(name):
    matrix = MATRICES[name]
    ours = stats.pairwise_wilcoxon(matrix)
    theirs = _sp_wilcoxon_holm(matrix)  # scipy's test, statsmodels' Holm
    for row in ours.itertuples(index=False):
        assert row.pvalue_holm == pytest.approx(theirs.loc[row.runner_a, row.runner_b], rel=1e-9)
        assert row.significant == (theirs.loc[row.runner_a, row.runner_b] < 0.05)
    if name != "demsar":  # no ties among |differences|: the exact p by enumeration applies
        for row in ours.itertuples(index=False):
            diff = (matrix[row.runner_a] - matrix[row.runner_b]).to_numpy()
            assert row.pvalue == pytest.approx(exact_signed_rank_p(diff), rel=1e-9)
    # The diagram's bars: scikit-posthocs' maximal cliques of "not significantly different".
    adjacency = theirs >= 0.05
    expected = {frozenset(c) for c in sp._plotting._find_maximal_cliques(adjacency) if len(c) > 1}
    cliques = {frozenset(c) for c in significance.pairwise_cliques(stats.average_ranks(matrix),
                                                                     ours)}
    assert cliques <= expected
    # Signed-rank decisions need not follow the rank order; what a bar cannot show is named.
    unshown = significance.unshown_pairs([sorted(c) for c in cliques], ours)
    missing = expected - cliques
    assert {frozenset(p) for p in unshown} == {frozenset((a, b)) for c in missing for a in c
                                               for b in c if a != b and not any(
                                                   {a, b} <= shown for shown in cliques)}
    assert (not missing) == (name != "ten-by-six")  # the last matrix has such a pair: r2, r4


def test_pairwise_cliques_by_hand():
    ranks = pd.Series({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0})
    pairs = pd.DataFrame({"runner_a": ["a", "a", "b", "c"], "runner_b": ["c", "d", "d", "d"],
                          "significant": [True, True, True, False]})
    assert significance.pairwise_cliques(ranks, pairs) == [["a", "b"], ["b", "c"], ["c", "d"]]
    none = pairs.assign(significant=False)
    assert significance.pairwise_cliques(ranks, none) == [["a", "b", "c", "d"]]


def test_holm_against_a_hand_worked_example_and_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.010, 0.040, 0.030, 0.005, 0.200])
    # Sorted 0.005 0.010 0.030 0.040 0.200 × 5 4 3 2 1 = 0.025 0.040 0.090 0.080 0.200, then
    # running maximum: 0.025 0.040 0.090 0.090 0.200.
    np.testing.assert_allclose(stats.holm(p), [0.040, 0.090, 0.090, 0.025, 0.200])
    np.testing.assert_allclose(stats.holm(p), multipletests(p, method="holm")[1])


def _final(rows: list[tuple[str, str, int, float]], direction: str = "minimize") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["task", "runner", "repetition", "final_test"])
    return frame.assign(direction=direction, no_success=False,
                        final_value=frame["final_test"])


def test_task_blocks_average_repetitions_first():
    final = _final([("t1", "a", 0, 1.0), ("t1", "a", 1, 3.0), ("t1", "b", 0, 2.0),
                    ("t1", "b", 1, 2.0), ("t2", "a", 0, 5.0), ("t2", "b", 0, 4.0),
                    ("t2", "b", 1, 9.0)])
    blocks = stats.block_matrix(final, "final_test", design="task")
    assert blocks.design == "task" and list(blocks.values.index) == ["t1", "t2"]
    # t2 repetition 1 has no "a": only repetition 0 pairs there.
    np.testing.assert_allclose(blocks.values.to_numpy(), [[2.0, 2.0], [5.0, 4.0]])
    repetition = stats.block_matrix(final, "final_test")
    assert repetition.n_blocks == 3 and repetition.dropped_blocks == 1


def test_scaled_losses_follow_direction_and_count_failures_worst():
    final = _final([("t", "a", 0, 0.9), ("t", "b", 0, 0.7), ("t", "c", 0, 0.8),
                    ("t", "d", 0, np.nan)], direction="maximize")
    final.loc[3, "no_success"] = True
    scaled = significance.scaled_losses(final, "final_test")
    np.testing.assert_allclose(scaled, [0.0, 1.0, 0.5, 1.0])


def test_too_few_runners_or_tasks_is_a_message_not_a_crash():
    one = significance.compare(_final([("t", "a", 0, 1.0), ("t", "a", 1, 2.0)]))
    assert one.messages == ["Only one runner: nothing to compare."] and one.pairs.empty
    two_tasks = _final([(t, r, i, float(i + (r == "b") + 3 * (t == "u")))
                        for t in ("t", "u") for r in ("a", "b", "c") for i in range(6)])
    result = significance.compare(two_tasks)
    assert not result.can_rank and result.n_blocks == 2
    assert any("too few" in m for m in result.messages)
    pseudo = significance.compare(two_tasks, design="repetition")
    assert pseudo.can_rank and "pseudo-replication" in pseudo.design_label


def test_paired_differences_by_hand():
    final = _final([("t", "random", 0, 0.80), ("t", "random", 1, 0.70), ("t", "random", 2, 0.75),
                    ("t", "x", 0, 0.85), ("t", "x", 1, 0.74), ("t", "x", 2, 0.75),
                    ("t", "x", 3, 0.99)], direction="maximize")
    (row,) = significance.paired_differences(final, "random").itertuples(index=False)
    assert row.n == 3  # repetition 3 has no random-search partner
    assert row.mean_diff == pytest.approx((0.05 + 0.04 + 0.0) / 3)
    assert row.median_diff == pytest.approx(0.04)
    assert (row.ci_low, row.ci_high) == pytest.approx((0.0, 0.05))  # min–max at n = 3
    assert row.level == pytest.approx(0.75)
    assert row.p == 0.5  # two non-zero differences, both positive: exact p = 2 / 4
    assert row.better == "—"


def _clear_winner_store(repetitions: int):
    return synthetic_store(
        [SynthTask("sphere", budget_amount=20),
         SynthTask("acc", direction="maximize", optimum=None, scale=0.5, best=0.95,
                   budget_amount=20)],
        [SynthRunner("random"), SynthRunner("good", power=30.0), SynthRunner("bad", power=0.1)],
        repetitions=repetitions, seed=11)


def test_significantly_best_needs_every_paired_test_to_reject():
    frames = build_frames(_clear_winner_store(8))
    final = frames.final
    tasks, runners = frames.tasks, frames.runners
    mask = significance.significantly_best_mask(final, "final_test", tasks, runners)
    for i, task in enumerate(tasks):
        rows = final[final["task"] == task]
        wide = rows.pivot(index="repetition", columns="runner", values="final_test")
        maximize = rows["direction"].iloc[0] == "maximize"
        best = wide.median().idxmax() if maximize else wide.median().idxmin()
        sign = -1 if maximize else 1
        raw = [exact_signed_rank_p(sign * (wide[best] - wide[o]).to_numpy())
               for o in wide.columns if o != best]
        expected = all(p * (len(raw) - j) < 0.05 for j, p in enumerate(sorted(raw)))
        assert mask[i, runners.index(best)] == expected
        assert mask[i].sum() == int(expected)
    assert mask.any()  # 8 repetitions and a far better runner: at least one task is clear
    # With the direction fixed (lower is better everywhere), the maximised task flips its winner.
    lower = significance.significantly_best_mask(final, "final_test", tasks, runners,
                                                 maximize=False)
    acc = tasks.index("acc")
    np.testing.assert_array_equal(lower[tasks.index("sphere")], mask[tasks.index("sphere")])
    assert not (lower[acc] & mask[acc]).any()


def test_report_significance_uses_test_values_with_validation_beside():
    report = build_report(_clear_winner_store(8))
    stats_ = report.statistics
    assert stats_["value"] == "test" and stats_["procedure"] == "wilcoxon-holm"
    # Two tasks: too few to block on tasks, so the section falls back and says so.
    assert stats_["design"] == "repetition"
    text = " ".join(str(p) for s in report.sections for k, p in s.items if k == "warn")
    assert "pseudo-replication" in text
    pairs = report.frames["pairwise"]
    assert {"pvalue_holm", "pvalue_validation", "significant_validation"} <= set(pairs.columns)
    diffs = report.frames["vs_random_test"]
    assert list(diffs.columns) == significance.PAIRED_COLUMNS
    assert set(diffs["runner"]) == {"good", "bad"} and (diffs["n"] == 8).all()
    assert "vs_random_validation" in report.frames and "vs_random_test" in report.tables
    # The CD diagram's groups are the pairwise table's decisions.
    expected = significance.pairwise_cliques(stats_["average_ranks"], pairs)
    assert stats_["cliques"] == expected


def test_nemenyi_procedure_and_a_bad_procedure_name():
    report = build_report(_clear_winner_store(6), procedure="nemenyi")
    assert report.statistics["procedure"] == "nemenyi" and "nemenyi" in report.tables
    assert "wilcoxon" not in report.frames
    with pytest.raises(ValueError, match="procedure must be one of"):
        build_report(subset(small_store(), repetitions=[0, 1]), procedure="t-test")


@pytest.mark.parametrize(("shift", "rope"), [(0.0, 0.01), (0.02, 0.01), (0.005, 0.02), (0.01, 0.0)])
def test_bayesian_signed_rank_agrees_with_baycomp(shift, rope):
    from baycomp import SignedRankTest  # Benavoli et al.'s own package (autorank brings it)

    from tunebench.reports import bayesian

    rng = np.random.default_rng(7)
    a = rng.normal(0, 0.03, 15)
    b = a + shift + rng.normal(0, 0.03, 15)
    ours = bayesian.signed_rank(a, b, rope, n_samples=50_000, seed=3)
    theirs = SignedRankTest.probs(a, b, rope, nsamples=50_000, random_state=4)
    # baycomp's right side is "b - a above the ROPE": a has the lower loss.
    if rope > 0:
        left, middle, right = theirs
        assert ours.p_equivalent == pytest.approx(middle, abs=0.015)
    else:
        (left, right), middle = theirs, 0.0
        assert ours.p_equivalent == 0.0
    assert ours.p_a_better == pytest.approx(right, abs=0.015)
    assert ours.p_b_better == pytest.approx(left, abs=0.015)
    assert ours.p_a_better + ours.p_equivalent + ours.p_b_better == pytest.approx(1.0)


def test_bayesian_decisions_and_bad_input():
    from tunebench.reports import bayesian

    far = pd.DataFrame({"a": np.linspace(0, 0.1, 12), "b": np.linspace(0, 0.1, 12) + 0.5,
                        "c": np.linspace(0, 0.1, 12) + 0.001})
    table = bayesian.pairwise(far).set_index(["runner_a", "runner_b"])["decision"]
    assert table[("a", "b")] == "a" and table[("b", "c")] == "c"
    assert table[("a", "c")] == "equivalent"
    with pytest.raises(ValueError, match="paired 1-D"):
        bayesian.signed_rank(np.zeros(3), np.zeros(4))


def test_report_blocks_are_tasks_with_three_or_more_tasks():
    tasks = [SynthTask(f"t{i}", budget_amount=15, scale=1.0 + i) for i in range(4)]
    data = synthetic_store(tasks, [SynthRunner("random"), SynthRunner("good", power=3.0),
                                   SynthRunner("bad", power=0.3)], repetitions=4, seed=5)
    report = build_report(data)
    comparison = report.statistics["comparison"]
    assert report.statistics["design"] == "task" and comparison.n_blocks == 4
    final = report.data.final
    scaled = final.assign(s=significance.scaled_losses(final, "final_test"))
    by_hand = scaled.groupby(["task", "runner"])["s"].mean().unstack()
    pd.testing.assert_frame_equal(comparison.blocks.values.sort_index(),
                                  by_hand.reindex(columns=comparison.blocks.values.columns),
                                  check_names=False)
    # Seeds counted as data sets would shrink the critical difference by about √repetitions.
    pseudo = significance.compare(final, design="repetition")
    assert pseudo.critical_difference == pytest.approx(comparison.critical_difference / 2)
    assert "critical_difference" in report.figures and report.statistics["friedman"].n_blocks == 4


def test_without_test_values_the_comparison_reads_validation_values():
    data = small_store()
    data.trials = data.trials.assign(test_value=np.nan, best_test_value=np.nan)
    report = build_report(data)
    assert report.statistics["value"] == "validation"
    assert report.statistics["comparison_validation"] is None
    text = " ".join(str(p) for s in report.sections for k, p in s.items)
    assert "no task records test values" in text and "No study has a test value" in text


@pytest.mark.parametrize("design", ["task", "repetition"])
def test_comparisons_of_a_store_agree_with_autorank_and_scikit_posthocs(design):
    tasks = [SynthTask(f"t{i}", budget_amount=12, scale=1.0 + i) for i in range(6)]
    data = synthetic_store(tasks, [SynthRunner("random"), SynthRunner("good", power=3.0),
                                   SynthRunner("fair", power=1.5), SynthRunner("bad", power=0.3)],
                           repetitions=3, seed=8)
    comparison = significance.compare(build_frames(data).final, design=design)
    matrix = comparison.blocks.values
    assert len(matrix) == (6 if design == "task" else 18)
    result = _autorank(matrix)
    np.testing.assert_allclose(comparison.average_ranks.to_numpy(),
                               result.rankdf["meanrank"].reindex(matrix.columns).to_numpy())
    assert comparison.critical_difference == pytest.approx(result.cd, rel=2e-3)
    theirs = _sp_wilcoxon_holm(matrix)
    for row in comparison.pairs.itertuples(index=False):
        assert row.significant == (theirs.loc[row.runner_a, row.runner_b] < 0.05)
    nemenyi = significance.compare(build_frames(data).final, design=design, procedure="nemenyi")
    theirs = sp.posthoc_nemenyi_friedman(matrix)
    for row in nemenyi.pairs.itertuples(index=False):
        assert row.significant == (theirs.loc[row.runner_a, row.runner_b] < 0.05)
