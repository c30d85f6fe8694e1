"""Significance: Friedman, pairwise Wilcoxon signed-rank with Holm, Nemenyi's critical difference.

Everything works on a *block matrix*: one row per block (a task and repetition, which share the
evaluation seed, so runners are paired), one column per runner, lower is better. The values are the
final losses scaled to [0, 1] within each task (a study with no successful trial counts as the worst),
so tasks of different scales weigh the same in the signed-rank tests. Ranks are within rows, ties get
the average rank. The tests themselves are scipy's.
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

ALPHA = 0.05


@dataclass(frozen=True)
class BlockMatrix:
    """Final values arranged for paired tests, and what had to be left out to pair them."""

    values: pd.DataFrame  # index (task, repetition), columns runners, lower is better
    dropped_blocks: int  # blocks where some runner had no study

    @property
    def n_blocks(self) -> int:
        return len(self.values)

    @property
    def n_runners(self) -> int:
        return self.values.shape[1]


def block_matrix(final: pd.DataFrame, value: str = "scaled_loss") -> BlockMatrix:
    """Pivot per-study final values into complete (task, repetition) × runner blocks."""
    wide = final.pivot_table(index=["task", "repetition"], columns="runner", values=value,
                             aggfunc="first", dropna=False)
    complete = wide.dropna(how="any")
    complete.columns = [str(c) for c in complete.columns]
    return BlockMatrix(complete, dropped_blocks=len(wide) - len(complete))


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
    statistic: float
    pvalue: float
    n_blocks: int
    n_runners: int


def friedman(matrix: pd.DataFrame) -> FriedmanResult:
    """Friedman's test that all runners rank alike (needs at least three runners and two blocks)."""
    values = matrix.to_numpy(dtype=float)
    n, k = values.shape
    if k < 3:
        raise ValueError("Friedman's test needs at least three runners")
    if n < 2:
        raise ValueError("Friedman's test needs at least two blocks")
    result = stats.friedmanchisquare(*values.T)
    return FriedmanResult(float(result.statistic), float(result.pvalue), n, k)


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
    """Mean and Student-t confidence interval (NaN bounds with fewer than two values)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, np.nan, np.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def bootstrap_band(matrix: np.ndarray, center: str = "median", n_boot: int = 1000,
                   level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and percentile-bootstrap band over rows (repetitions) of ``matrix`` (rows × points).

    Whole rows are resampled, so each resample keeps every repetition's curve intact. With one row
    the band is NaN (no interval from one repetition). NaN entries (no successful trial yet) are
    left out of the centre at that point.
    """
    m = np.asarray(matrix, dtype=float)
    rows, points = m.shape
    mid = _center(m.T, center)
    if rows < 2 or points == 0:
        nan = np.full(points, np.nan)
        return mid, nan, nan
    # Best-so-far curves are step functions: neighbouring points are often identical in every
    # repetition. Resample each distinct column once and copy the band to its repeats.
    same = np.all((m[:, 1:] == m[:, :-1]) | (np.isnan(m[:, 1:]) & np.isnan(m[:, :-1])), axis=0)
    keep = np.r_[True, ~same]
    owner = np.cumsum(keep) - 1
    distinct = m[:, keep]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, rows, size=(n_boot, rows))
    boot = _center(distinct.T[:, idx], center)  # distinct points × n_boot
    tail = (1 - level) / 2 * 100
    lo, hi = np.full(len(boot), np.nan), np.full(len(boot), np.nan)
    clean = ~np.isnan(boot).any(axis=1)
    if clean.any():
        lo[clean], hi[clean] = np.percentile(boot[clean], [tail, 100 - tail], axis=1)
    if (~clean).any():
        with _quiet_nan_warnings():
            lo[~clean], hi[~clean] = np.nanpercentile(boot[~clean], [tail, 100 - tail], axis=1)
    return mid, lo[owner], hi[owner]


def _center(values: np.ndarray, center: str) -> np.ndarray:
    """NaN-ignoring median or mean along the last axis (NaN where a slice has no value).

    The median sorts (NaN last) and reads the middle of each slice's valid values: for the short
    slices here (one value per repetition) that is far faster than ``np.nanmedian``.
    """
    if center != "median":
        with _quiet_nan_warnings():
            return np.nanmean(values, axis=-1)
    ordered = np.sort(values, axis=-1)
    valid = (~np.isnan(values)).sum(axis=-1)
    lower = np.take_along_axis(ordered, np.maximum(valid - 1, 0)[..., None] // 2, axis=-1)
    upper = np.take_along_axis(ordered, (valid // 2)[..., None], axis=-1)
    median = 0.5 * (lower[..., 0] + upper[..., 0])
    return np.where(valid > 0, median, np.nan)


@contextlib.contextmanager
def _quiet_nan_warnings() -> Iterator[None]:
    """Silence numpy's "all-NaN slice" / "mean of empty slice" warnings (NaN is the right answer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
