"""Which runners the statistics tell apart: the one place a report decides "significantly better".

Everything the report marks (bold cells, the headline's sentences, the pairwise matrix) comes from
:func:`pairwise_decisions`, so swapping the procedure (say, for a Bayesian signed-rank test) is a
change to that one function. Today it is the two-sided Wilcoxon signed-rank test of every pair,
Holm-corrected over all pairs (:func:`tunebench.reports.stats.pairwise_wilcoxon`).

A *block matrix* here is a frame with one row per block (paired observations: runners faced the
same evaluation seed there), one column per runner, lower is better.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tunebench.reports import stats

#: Columns every decision table has (a procedure swapped in must give the same).
DECISION_COLUMNS = ("runner_a", "runner_b", "n", "pvalue_holm", "significant", "a_better")


def pairwise_decisions(matrix: pd.DataFrame, alpha: float = stats.ALPHA) -> pd.DataFrame:
    """For every pair of runners: the adjusted p-value, whether they differ, and which is better.

    ``a_better`` is True where A's paired differences (A − B) lean negative (their median, or
    their mean where the median is 0); it says nothing on its own without ``significant``.
    """
    table = stats.pairwise_wilcoxon(matrix, alpha=alpha)
    return with_direction(table, matrix)


def with_direction(table: pd.DataFrame, matrix: pd.DataFrame | None = None) -> pd.DataFrame:
    """A pairwise table (``stats.pairwise_wilcoxon``'s columns) with the ``a_better`` column."""
    table = table.copy()
    if table.empty:
        table["a_better"] = pd.Series(dtype=bool)
        return table
    lean = table["median_difference"].to_numpy(dtype=float)
    if matrix is not None:
        means = np.array([np.mean(matrix[a].to_numpy(dtype=float) - matrix[b].to_numpy(dtype=float))
                          for a, b in zip(table["runner_a"], table["runner_b"], strict=True)])
        lean = np.where(lean == 0, means, lean)
    else:
        wins = table["a_better"] - table["b_better"] if "b_better" in table else 0
        lean = np.where(lean == 0, -np.asarray(wins, dtype=float), lean)
    table["a_better"] = lean < 0
    return table


def better_than(decisions: pd.DataFrame, runner: str) -> tuple[list[str], list[str]]:
    """Runners ``runner`` is significantly better than, and those significantly better than it."""
    beats, beaten_by = [], []
    for row in decisions[decisions["significant"].astype(bool)].itertuples(index=False):
        if runner not in (row.runner_a, row.runner_b):
            continue
        other = row.runner_b if row.runner_a == runner else row.runner_a
        runner_wins = bool(row.a_better) == (row.runner_a == runner)
        (beats if runner_wins else beaten_by).append(str(other))
    return beats, beaten_by


def significantly_best(decisions: pd.DataFrame, runners: list[str]) -> str | None:
    """The runner significantly better than every other one, if there is one (else None)."""
    if len(runners) < 2:
        return None
    for runner in runners:
        beats, _ = better_than(decisions, runner)
        if set(beats) >= set(runners) - {runner}:
            return runner
    return None


def best_in_blocks(matrix: pd.DataFrame, alpha: float = stats.ALPHA) -> str | None:
    """:func:`significantly_best` on a block matrix (None with fewer than two blocks or runners)."""
    if matrix.shape[0] < 2 or matrix.shape[1] < 2:
        return None
    return significantly_best(pairwise_decisions(matrix, alpha), list(matrix.columns))


def min_blocks_for_significance(n_runners: int, alpha: float = stats.ALPHA) -> int:
    """Fewest blocks at which any pair can be significant after Holm over all pairs.

    The smallest two-sided p-value of the exact signed-rank test on n untied blocks is 2 / 2ⁿ, and
    Holm multiplies the smallest p-value by the number of pairs m, so n must exceed
    1 + log₂(m / α)."""
    pairs = max(1, n_runners * (n_runners - 1) // 2)
    return math.floor(1 + math.log2(pairs / alpha)) + 1
