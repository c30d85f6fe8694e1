"""Significance: Friedman, pairwise Wilcoxon signed-rank with Holm, Nemenyi's critical difference.

Everything works on a *block matrix*: one row per block, one column per runner, lower is better.
A block is a task (its repetitions aggregated first, as in Demšar 2006: the design the report uses)
or, labelled as pseudo-replication, a (task, repetition) pair. The values are final losses scaled
to [0, 1] within each task (a study with no successful trial counts as the worst), so tasks of
different scales weigh the same in the signed-rank tests. Ranks are within rows, ties get the
average rank. The rank tests are scipy's; intervals live in :mod:`tunebench.reports.intervals`,
the report's procedures in :mod:`tunebench.reports.significance`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from tunebench.reports import intervals

ALPHA = 0.05

#: The two block designs: tasks (repetitions aggregated within each task first), or every
#: (task, repetition) pair as its own block (pseudo-replication: seeds of one task are not
#: independent data sets, so p-values and critical differences come out too optimistic).
DESIGNS = ("task", "repetition")


@dataclass(frozen=True)
class BlockMatrix:
    """Final values arranged for paired tests, and what had to be left out to pair them."""

    values: pd.DataFrame  # index task or (task, repetition), columns runners, lower is better
    dropped_blocks: int  # blocks where some runner had no study (or no value)
    design: str = "repetition"  # "task" or "repetition" (see DESIGNS)

    @property
    def n_blocks(self) -> int:
        return len(self.values)

    @property
    def n_runners(self) -> int:
        return self.values.shape[1]


def block_matrix(final: pd.DataFrame, value: str = "scaled_loss", *, design: str = "repetition",
                 aggregate: str = "mean") -> BlockMatrix:
    """Pivot per-study final values into complete block × runner matrices.

    ``design="repetition"``: one block per (task, repetition) (the default, kept for callers that
    rank within repetitions). ``design="task"``: one block per task, each runner's repetitions
    reduced by ``aggregate`` (``mean`` or ``median``) over the repetitions *every* runner of the
    task has, so the runners stay paired.
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, not {design!r}")
    wide = final.pivot_table(index=["task", "repetition"], columns="runner", values=value,
                             aggfunc="first", dropna=False)
    complete = wide.dropna(how="any")
    complete.columns = [str(c) for c in complete.columns]
    if design == "repetition":
        return BlockMatrix(complete, dropped_blocks=len(wide) - len(complete))
    if aggregate not in ("mean", "median"):
        raise ValueError(f"aggregate must be 'mean' or 'median', not {aggregate!r}")
    tasks = wide.index.get_level_values("task").unique()
    per_task = complete.groupby(level="task", sort=False).agg(aggregate)
    return BlockMatrix(per_task, dropped_blocks=len(tasks) - len(per_task), design="task")


def rank_rows(values: np.ndarray) -> np.ndarray:
    """Rank each row (1 = lowest); ties get their average rank; NaN ranks last (tied with NaN)."""
    filled = np.where(np.isnan(values), np.inf, values)
    return stats.rankdata(filled, method="average", axis=1)


def average_ranks(matrix: pd.DataFrame) -> pd.Series:
    """Each runner's mean within-block rank (1 = best)."""
    ranks = rank_rows(matrix.to_numpy(dtype=float))
    return pd.Series(ranks.mean(axis=0), index=matrix.columns, name="average_rank")


@dataclass(frozen=True)
class FriedmanResult:
    statistic: float  # χ²_F with the correction for ties (scipy's), behind ``pvalue``
    pvalue: float
    n_blocks: int
    n_runners: int
    statistic_uncorrected: float = math.nan  # Demšar's (2006) eq. without the tie correction
    iman_davenport: float = math.nan  # F_F = (N-1) χ²_F / (N (k-1) - χ²_F), from the uncorrected χ²


def friedman(matrix: pd.DataFrame) -> FriedmanResult:
    """Friedman's test that all runners rank alike (needs at least three runners and two blocks)."""
    values = matrix.to_numpy(dtype=float)
    n, k = values.shape
    if k < 3:
        raise ValueError("Friedman's test needs at least three runners")
    if n < 2:
        raise ValueError("Friedman's test needs at least two blocks")
    result = stats.friedmanchisquare(*values.T)
    ranks = rank_rows(values).mean(axis=0)
    chi2 = float(12 * n / (k * (k + 1)) * (np.sum(ranks**2) - k * (k + 1) ** 2 / 4))
    denominator = n * (k - 1) - chi2
    f_f = (n - 1) * chi2 / denominator if denominator > 0 else math.inf
    return FriedmanResult(float(result.statistic), float(result.pvalue), n, k, chi2, float(f_f))


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down; monotone; capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


def pairwise_wilcoxon(matrix: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Two-sided Wilcoxon signed-rank test for every pair of runners, Holm-corrected."""
    runners = list(matrix.columns)
    rows = []
    for i, a in enumerate(runners):
        for b in runners[i + 1:]:
            diff = matrix[a].to_numpy(dtype=float) - matrix[b].to_numpy(dtype=float)
            nonzero = int(np.count_nonzero(diff))
            if nonzero == 0:
                statistic, pvalue = np.nan, 1.0
            else:
                res = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
                statistic, pvalue = float(res.statistic), float(res.pvalue)
            rows.append({
                "runner_a": a, "runner_b": b, "n": len(diff), "n_nonzero": nonzero,
                "median_difference": float(np.median(diff)) if len(diff) else np.nan,
                "a_better": int((diff < 0).sum()), "b_better": int((diff > 0).sum()),
                "statistic": statistic, "pvalue": pvalue,
            })
    table = pd.DataFrame(rows, columns=[
        "runner_a", "runner_b", "n", "n_nonzero", "median_difference", "a_better", "b_better",
        "statistic", "pvalue"])
    table["pvalue_holm"] = holm(table["pvalue"].to_numpy()) if len(table) else []
    table["significant"] = table["pvalue_holm"] < alpha
    return table


@lru_cache(maxsize=64)
def nemenyi_q(k: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical value: the studentized range quantile (k groups, infinite df) over √2."""
    if k < 2:
        raise ValueError("the critical difference needs at least two runners")
    return float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0))


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of average ranks for k runners over n blocks."""
    if n < 1:
        raise ValueError("the critical difference needs at least one block")
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n))


def cd_cliques(ranks: pd.Series, cd: float) -> list[list[str]]:
    """Maximal groups of runners whose average ranks lie within ``cd`` of each other (sorted)."""
    ordered = ranks.sort_values(kind="stable")
    names, values = list(ordered.index), ordered.to_numpy()
    groups: list[tuple[int, int]] = []
    for i in range(len(values)):
        j = i
        while j + 1 < len(values) and values[j + 1] - values[i] < cd:
            j += 1
        if j > i and not any(lo <= i and j <= hi for lo, hi in groups):
            groups.append((i, j))
    return [names[lo:hi + 1] for lo, hi in groups]


def win_rates(matrix: pd.DataFrame) -> pd.DataFrame:
    """Share of blocks where the row runner's value is lower than the column runner's (ties ½)."""
    values = matrix.to_numpy(dtype=float)
    k = values.shape[1]
    out = np.full((k, k), np.nan)
    if len(values):
        for i in range(k):
            for j in range(k):
                if i != j:
                    wins = (values[:, i] < values[:, j]).mean()
                    ties = (values[:, i] == values[:, j]).mean()
                    out[i, j] = wins + 0.5 * ties
    return pd.DataFrame(out, index=matrix.columns, columns=matrix.columns)


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval (NaN bounds with fewer than two values).

    Holds its level for roughly symmetric values; under-covers skewed ones at small n (see
    :class:`~tunebench.reports.intervals.IntervalMethod`), so the report prefers :func:`median_ci`.
    """
    result = intervals.interval(values, "mean", level)
    return result.center, result.lo, result.hi


def median_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Median, its exact order-statistic interval, and the coverage that interval really has."""
    result = intervals.interval(values, "median", level)
    return result.center, result.lo, result.hi, result.level


def bootstrap_band(matrix: np.ndarray, center: str = "median", n_boot: int = 1000,
                   level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and interval band over rows (repetitions) of ``matrix`` (rows × points).

    Kept under its old name for callers: it no longer bootstraps (a percentile bootstrap over a
    few repetitions covers far less than its label). The band is
    :func:`tunebench.reports.intervals.band`'s: exact order statistics for the median, Student-t
    for the mean; ``n_boot`` and ``seed`` are ignored. One row gives a NaN band.
    """
    del n_boot, seed
    result = intervals.band(matrix, center, level)
    return result.center, result.lo, result.hi


@contextlib.contextmanager
def _quiet_nan_warnings() -> Iterator[None]:
    """Silence numpy's "all-NaN slice" / "mean of empty slice" warnings (NaN is the right answer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
