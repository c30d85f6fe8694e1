"""Confidence intervals over repetitions that say the level they actually hold.

The report summarises a handful of repetitions (3 to 10 in the shipped suites). At that size a
percentile bootstrap covers far less than its label (about 74% for a "95%" band on the median at
n = 3), and no interval for a *mean* can hold its level for every distribution (skewed results
make Student-t under-cover). So:

- the **median** gets the exact, distribution-free order-statistic interval
  ``[X(j), X(n+1-j)]``, whose coverage ``1 - 2 P(Binomial(n, 1/2) <= j-1)`` is known for any
  continuous distribution (and is at least that with ties). The ``j`` whose level is nearest the
  nominal one is used and its true level reported: with few values it is the min–max range
  (75% at n = 3, 93.75% at n = 5);
- the **mean** gets the Student-t interval: it holds its level for symmetric data (normal or
  heavy-tailed alike) but under-covers skewed data at small n, which :class:`IntervalMethod` says.

Both stay inside the range of the data they summarise (the median's by construction), so they
never leave the metric's range. Coverage is checked by simulation in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

#: The level every interval in the report aims at.
LEVEL = 0.95

#: Below this many repetitions no interval reaches 95% (min–max of 5 values covers the median
#: 93.75% of the time): the report labels the level and warns.
SMALL_N = 5

CENTERS = ("median", "mean")


@lru_cache(maxsize=512)
def order_statistic_rank(n: int, level: float = LEVEL) -> tuple[int, float]:
    """The 1-based rank ``j`` of the lower bound ``X(j)`` (upper ``X(n+1-j)``) for the median, and
    the exact coverage of that interval.

    Of the attainable levels (they jump: 96.9%, 78.1%, … at n = 6) the one nearest ``level`` is
    used, the higher on a tie; with few values that is ``j = 1`` (min–max), whose coverage
    ``1 - 2 * 0.5**n`` is then below ``level``. ``n < 2`` gives ``(0, nan)``: no interval.
    """
    if n < 2:
        return 0, math.nan
    levels = [_median_coverage(n, j) for j in range(1, (n + 1) // 2 + 1)]
    j = min(range(len(levels)), key=lambda i: (abs(levels[i] - level), -levels[i]))
    return j + 1, levels[j]


def _median_coverage(n: int, j: int) -> float:
    """P(X(j) <= median <= X(n+1-j)) for n independent draws of a continuous variable."""
    return float(1.0 - 2.0 * stats.binom.cdf(j - 1, n, 0.5))


@dataclass(frozen=True)
class IntervalMethod:
    """How an interval is computed and the level it really has: captions read this."""

    center: str  # "median" or "mean"
    nominal: float = LEVEL

    def __post_init__(self) -> None:
        if self.center not in CENTERS:
            raise ValueError(f"center must be 'median' or 'mean', not {self.center!r}")

    @property
    def name(self) -> str:
        if self.center == "median":
            return "exact order-statistic interval for the median"
        return "Student-t interval for the mean"

    def achieved(self, n: int) -> float:
        """The coverage the interval has with ``n`` values (NaN with fewer than two)."""
        if n < 2:
            return math.nan
        if self.center == "median":
            return order_statistic_rank(n, self.nominal)[1]
        return self.nominal

    def describe(self, n_min: int, n_max: int | None = None) -> str:
        """One sentence for a caption: the method and the level it has at these sample sizes."""
        n_max = n_min if n_max is None else n_max
        if n_max < 2:
            return "no interval (one repetition)"
        low, high = self.achieved(max(n_min, 2)), self.achieved(n_max)
        level = _percent(low) if math.isclose(low, high) else f"{_percent(low)}–{_percent(high)}"
        if self.center == "mean":
            return (f"{level} {self.name} (it assumes roughly symmetric values and under-covers "
                    "skewed ones at small n)")
        detail = "distribution-free"
        if order_statistic_rank(max(n_min, 2), self.nominal)[0] == 1:
            detail += f"; at n = {max(n_min, 2)} it is the min–max range of the repetitions"
        return f"{level} {self.name} ({detail})"

    def short_label(self, n: int) -> str:
        """E.g. ``75% band`` — the level a band actually has with ``n`` repetitions."""
        level = self.achieved(n)
        return "no band" if math.isnan(level) else f"{_percent(level)} band"

    def below_nominal(self, n: int) -> bool:
        """True where the interval's true level is under the nominal one by more than a point."""
        level = self.achieved(n)
        return bool(n >= 2 and level < self.nominal - 0.01)


def _percent(level: float) -> str:
    value = 100 * level
    return f"{value:.0f}%" if abs(value - round(value)) < 0.05 else f"{value:.1f}%"


def describe_counts(counts: np.ndarray | list[int], center: str = "median",
                    level: float = LEVEL) -> str:
    """Caption text for intervals over these repetition counts (e.g. a summary frame's ``n``).

    Counts under two (no interval) are ignored; "no interval" where nothing is left.
    """
    n = np.asarray(counts, dtype=float)
    n = n[np.isfinite(n) & (n >= 2)]
    if not len(n):
        return "no interval (fewer than two repetitions)"
    return IntervalMethod(center, level).describe(int(n.min()), int(n.max()))


@dataclass(frozen=True)
class Band:
    """A centre and interval at each point of a curve, with the repetitions and level behind it."""

    center: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n: np.ndarray  # values (non-NaN repetitions) at each point
    level: np.ndarray  # the coverage each point's interval actually has (NaN: no interval)


def band(matrix: np.ndarray, center: str = "median", level: float = LEVEL) -> Band:
    """Centre and interval over the rows (repetitions) of ``matrix`` (rows × points), per column.

    NaN entries (no successful trial yet) are left out of that column; a column with fewer than two
    values has no interval.
    """
    method = IntervalMethod(center, level)
    m = np.atleast_2d(np.asarray(matrix, dtype=float))
    n = (~np.isnan(m)).sum(axis=0)
    ordered = np.sort(m, axis=0)  # NaN sorts last
    points = m.shape[1]
    lo, hi = np.full(points, np.nan), np.full(points, np.nan)
    levels = np.array([method.achieved(int(k)) for k in n]) if points else np.zeros(0)
    mid = _median_sorted(ordered, n)
    if center == "median":
        ranks = np.array([order_statistic_rank(int(k), level)[0] for k in n], dtype=int)
        ok = ranks > 0
        cols = np.flatnonzero(ok)
        lo[ok] = ordered[ranks[ok] - 1, cols]
        hi[ok] = ordered[n[ok] - ranks[ok], cols]
    else:
        with np.errstate(all="ignore"):
            mid = np.nansum(m, axis=0) / np.where(n > 0, n, 1)
            mid = np.where(n > 0, mid, np.nan)
            sd = np.sqrt(np.nansum((m - mid) ** 2, axis=0) / np.maximum(n - 1, 1))
            half = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(
                np.maximum(n, 1))
        ok = n >= 2
        lo[ok], hi[ok] = mid[ok] - half[ok], mid[ok] + half[ok]
    return Band(mid, lo, hi, n, levels)


def _median_sorted(ordered: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Column medians of a matrix sorted along axis 0 with NaN last, ``n`` values per column."""
    if ordered.shape[0] == 0:
        return np.full(ordered.shape[1], np.nan)
    cols = np.arange(ordered.shape[1])
    lower = ordered[np.maximum(n - 1, 0) // 2, cols]
    upper = ordered[np.minimum(n // 2, ordered.shape[0] - 1), cols]
    return np.where(n > 0, 0.5 * (lower + upper), np.nan)


@dataclass(frozen=True)
class Interval:
    """One summary value with its interval."""

    center: float
    lo: float
    hi: float
    n: int
    level: float  # the coverage the interval actually has (NaN: no interval)


def interval(values: np.ndarray, center: str = "median", level: float = LEVEL) -> Interval:
    """The median or mean of ``values`` (NaN left out) with its interval."""
    x = np.asarray(values, dtype=float).reshape(-1, 1)
    b = band(x, center, level)
    return Interval(float(b.center[0]), float(b.lo[0]), float(b.hi[0]), int(b.n[0]),
                    float(b.level[0]))
