"""Which runners the statistics tell apart, read for the report's words and marks.

The decisions themselves are :mod:`tunebench.reports.significance`'s (r2's procedures: pairwise
Wilcoxon signed-rank tests with Holm's correction, and ``significantly_best`` for a task's bold);
this module reads their tables — who beats whom, which runner beats every other — and says how many
blocks a test needs before it can decide anything. Swapping the procedure is a change there.

A *block matrix* here is a frame with one row per block (paired observations: runners faced the
same evaluation seed there), one column per runner.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tunebench.reports import significance, stats


def pairwise_decisions(matrix: pd.DataFrame, alpha: float = stats.ALPHA) -> pd.DataFrame:
    """For every pair of runners (lower is better): the Holm-adjusted p-value, whether they
    differ, and ``a_better`` — True where A's paired differences (A − B) lean negative (their
    median, or their mean where the median is 0); it says nothing without ``significant``."""
    return with_direction(stats.pairwise_wilcoxon(matrix, alpha=alpha), matrix)


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


def best_of(values: pd.DataFrame, maximize: bool, alpha: float = stats.ALPHA) -> str | None:
    """The runner a table may bold: :func:`significance.significantly_best` (repetitions × runners
    in the metric's own direction), or None."""
    found = significance.significantly_best(values, maximize, alpha)
    return found[0] if found else None


def min_blocks(comparisons: int, alpha: float = stats.ALPHA) -> int:
    """Fewest blocks at which a signed-rank test can be significant after Holm's correction over
    ``comparisons`` tests.

    The smallest two-sided p-value of the exact signed-rank test on n untied blocks is 2 / 2ⁿ, and
    Holm multiplies the smallest p-value by the number of tests m, so n must exceed
    1 + log₂(m / α)."""
    return math.floor(1 + math.log2(max(1, comparisons) / alpha)) + 1


def n_pairs(n_runners: int) -> int:
    return n_runners * (n_runners - 1) // 2
