"""How the report compares runners: one procedure behind the pairwise table and the CD diagram.

Blocks are tasks (each runner's repetitions aggregated within a task first, as Demšar 2006 does
with data sets); the (task, repetition) design stays available and is labelled pseudo-replication.
The pairwise decisions come from one procedure — Wilcoxon signed-rank tests with Holm's step-down
correction by default (as autorank and Benavoli et al. 2016 recommend), Nemenyi's test on average
ranks optionally — and the diagram's groups are read off those same decisions, so the table and
the figure never disagree. Values compared are final *test* values by default (what the headline
table shows), scaled to [0, 1] within each task; validation values can be compared the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from tunebench.reports import intervals, stats

#: The pairwise procedures: the first is the default.
PROCEDURES = ("wilcoxon-holm", "nemenyi")

#: Final-value columns of the analysis frame the comparison can read.
VALUE_COLUMNS = {"test": "final_test", "validation": "final_value"}

#: Fewer runners or blocks than this: no Friedman test and no critical-difference diagram.
MIN_RUNNERS, MIN_BLOCKS = 3, 3


def scaled_losses(final: pd.DataFrame, column: str) -> pd.Series:
    """``column`` as a loss scaled to [0, 1] within each task (0 = the best study there).

    Maximised values are negated first. A study without any successful trial counts as the worst
    (1); a successful study without a value in ``column`` (a task that reports no test value) is
    NaN, so its blocks are left out rather than guessed.
    """
    sign = np.where(final["direction"].astype(str) == "maximize", -1.0, 1.0)
    loss = pd.Series(sign * final[column].to_numpy(dtype=float), index=final.index)
    by_task = loss.groupby(final["task"])
    best, worst = by_task.transform("min"), by_task.transform("max")
    span = (worst - best).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(span > 0, (loss - best).to_numpy() / np.where(span > 0, span, 1.0), 0.0)
    scaled = np.where(loss.isna().to_numpy(), np.nan, scaled)
    no_success = final["no_success"].to_numpy(dtype=bool)
    return pd.Series(np.where(no_success, 1.0, scaled), index=final.index, name=f"scaled_{column}")


def pairwise_cliques(ranks: pd.Series, pairs: pd.DataFrame) -> list[list[str]]:
    """Maximal runs of runners, in average-rank order, within which no pair differs significantly.

    ``pairs`` has ``runner_a``, ``runner_b`` and ``significant``; a pair missing from it counts as
    not significant. These are the bars of a critical-difference diagram.
    """
    ordered = list(ranks.sort_values(kind="stable").index)
    significant = {frozenset((a, b)) for a, b, s in
                   zip(pairs["runner_a"], pairs["runner_b"], pairs["significant"], strict=True) if s}
    groups: list[tuple[int, int]] = []
    for i in range(len(ordered)):
        j = i
        while j + 1 < len(ordered) and not any(
                frozenset((ordered[m], ordered[j + 1])) in significant for m in range(i, j + 1)):
            j += 1
        if j > i and not any(lo <= i and j <= hi for lo, hi in groups):
            groups.append((i, j))
    return [ordered[lo:hi + 1] for lo, hi in groups]


def unshown_pairs(cliques: list[list[str]], pairs: pd.DataFrame) -> list[tuple[str, str]]:
    """Pairs not significantly different that share no bar of the diagram.

    Signed-rank decisions need not follow the rank order: A and C may not differ while B, ranked
    between them, differs from A. A bar cannot show that, so the report names these pairs.
    """
    together = {frozenset((a, b)) for group in cliques for a in group for b in group if a != b}
    return [(a, b) for a, b, s in zip(pairs["runner_a"], pairs["runner_b"], pairs["significant"],
                                      strict=True)
            if not s and frozenset((a, b)) not in together]


def nemenyi_pairs(ranks: pd.Series, n_blocks: int, alpha: float = stats.ALPHA) -> pd.DataFrame:
    """Nemenyi's all-pairs test on average ranks: significant where ranks differ by more than CD."""
    runners = list(ranks.index)
    k = len(runners)
    cd = stats.critical_difference(k, n_blocks, alpha)
    scale = math.sqrt(k * (k + 1) / (6.0 * n_blocks))
    rows = []
    for i, a in enumerate(runners):
        for b in runners[i + 1:]:
            diff = float(ranks[a] - ranks[b])
            q = abs(diff) / scale * math.sqrt(2.0)
            rows.append({"runner_a": a, "runner_b": b, "rank_difference": diff,
                         "pvalue": float(sps.studentized_range.sf(q, k, np.inf)),
                         "significant": abs(diff) > cd})
    return pd.DataFrame(rows, columns=["runner_a", "runner_b", "rank_difference", "pvalue",
                                       "significant"])


@dataclass
class Comparison:
    """Everything one comparison of runners found, and what it could not do (``messages``)."""

    value: str  # "test" or "validation"
    design: str  # "task" or "repetition"
    procedure: str  # one of PROCEDURES
    alpha: float
    blocks: stats.BlockMatrix
    average_ranks: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    friedman: stats.FriedmanResult | None = None
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    cliques: list[list[str]] = field(default_factory=list)
    unshown: list[tuple[str, str]] = field(default_factory=list)  # see unshown_pairs
    critical_difference: float | None = None  # Nemenyi's, whatever the procedure (for reference)
    messages: list[str] = field(default_factory=list)

    @property
    def n_blocks(self) -> int:
        return self.blocks.n_blocks

    @property
    def n_runners(self) -> int:
        return self.blocks.n_runners

    @property
    def can_rank(self) -> bool:
        """Enough runners and blocks for Friedman's test and a critical-difference diagram."""
        return self.n_runners >= MIN_RUNNERS and self.n_blocks >= MIN_BLOCKS

    @property
    def design_label(self) -> str:
        if self.design == "task":
            return "blocks are tasks (each runner's repetitions averaged within a task first)"
        return ("blocks are (task, repetition) pairs — pseudo-replication: seeds of one task are "
                "not independent data sets, so p-values and the critical difference are too "
                "optimistic for conclusions beyond these tasks")


def compare(final: pd.DataFrame, *, value: str = "test", design: str = "task",
            procedure: str = PROCEDURES[0], alpha: float = stats.ALPHA,
            aggregate: str = "mean") -> Comparison:
    """Compare the runners of ``final`` (the analysis frame's per-study rows) on ``value``.

    Never raises for too little data: what could not be computed is said in ``messages``.
    """
    if value not in VALUE_COLUMNS:
        raise ValueError(f"value must be one of {sorted(VALUE_COLUMNS)}, not {value!r}")
    if procedure not in PROCEDURES:
        raise ValueError(f"procedure must be one of {PROCEDURES}, not {procedure!r}")
    scaled = final.assign(_scaled=scaled_losses(final, VALUE_COLUMNS[value]))
    blocks = stats.block_matrix(scaled, "_scaled", design=design, aggregate=aggregate)
    result = Comparison(value, design, procedure, alpha, blocks)
    k, n = blocks.n_runners, blocks.n_blocks
    unit = "tasks" if design == "task" else "(task, repetition) blocks"
    if k < 2:
        result.messages.append("Only one runner: nothing to compare.")
        return result
    if n < 2:
        result.messages.append(f"{n} complete {unit}: too few for any test.")
        return result
    matrix = blocks.values
    result.average_ranks = stats.average_ranks(matrix)
    if (matrix.nunique(axis=1) == 1).all():
        result.messages.append("Every runner ties in every block: nothing to test.")
        return result
    result.critical_difference = stats.critical_difference(k, n, alpha)
    if k >= MIN_RUNNERS:
        result.friedman = stats.friedman(matrix)
    else:
        result.messages.append("Friedman's test needs three or more runners; with two, the "
                               "pairwise test is the whole test.")
    if n < MIN_BLOCKS:
        result.messages.append(f"Only {n} {unit}: too few for Friedman's test to mean much and "
                               "for a critical-difference diagram.")
    if procedure == "wilcoxon-holm":
        result.pairs = stats.pairwise_wilcoxon(matrix, alpha=alpha)
    else:
        result.pairs = nemenyi_pairs(result.average_ranks, n, alpha)
    result.cliques = pairwise_cliques(result.average_ranks, result.pairs)
    result.unshown = unshown_pairs(result.cliques, result.pairs)
    if result.unshown:
        names = "; ".join(f"{a} and {b}" for a, b in result.unshown)
        result.messages.append("Not significantly different, yet not joined by a bar (a runner "
                               f"ranked between them differs from one of them): {names}.")
    return result


def _wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (1 when all are zero)."""
    diff = diff[~np.isnan(diff)]
    if np.count_nonzero(diff) == 0:
        return 1.0
    return float(sps.wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)


def significantly_best(values: pd.DataFrame, maximize: bool = False,
                       alpha: float = stats.ALPHA) -> list[str]:
    """The runner (column) that is best and significantly better than every other, or ``[]``.

    ``values`` has one row per paired block (e.g. repetitions of one task), one column per runner.
    The candidate is the best median; it counts as significantly best when a two-sided Wilcoxon
    signed-rank test against each other runner (Holm-corrected over those k − 1 tests) rejects at
    ``alpha`` and the median difference favours it. Use it to decide what a table may bold.
    """
    clean = values.dropna(how="any")
    if clean.shape[1] < 2 or len(clean) < 2:
        return []
    medians = clean.median(axis=0)
    best = str(medians.idxmax() if maximize else medians.idxmin())
    others = [c for c in clean.columns if c != best]
    sign = -1.0 if maximize else 1.0
    diffs = [sign * (clean[best] - clean[o]).to_numpy(dtype=float) for o in others]
    adjusted = stats.holm(np.array([_wilcoxon_p(d) for d in diffs]))
    favours = [np.median(d) < 0 for d in diffs]
    return [best] if all(p < alpha for p in adjusted) and all(favours) else []


def significantly_best_mask(final: pd.DataFrame, column: str, tasks: list[str], runners: list[str],
                            alpha: float = stats.ALPHA, *,
                            maximize: bool | None = None) -> np.ndarray:
    """task × runner flags of :func:`significantly_best` per task, repetitions paired.

    ``final`` needs ``task``, ``runner``, ``repetition`` and ``column``; the direction is each
    task's ``direction`` column unless ``maximize`` fixes it (e.g. ``False`` for normalised scores).
    """
    mask = np.zeros((len(tasks), len(runners)), dtype=bool)
    for i, task in enumerate(tasks):
        rows = final[final["task"] == task]
        if rows.empty:
            continue
        wide = rows.pivot_table(index="repetition", columns="runner", values=column,
                                aggfunc="first").reindex(columns=runners)
        own = str(rows["direction"].iloc[0]) == "maximize"
        task_maximize = own if maximize is None else maximize
        for name in significantly_best(wide.dropna(axis=1, how="all"), task_maximize, alpha):
            mask[i, runners.index(name)] = True
    return mask


PAIRED_COLUMNS = ["task", "runner", "baseline", "direction", "n", "mean_diff", "median_diff",
                  "ci_low", "ci_high", "level", "p", "p_holm", "better"]


def paired_differences(final: pd.DataFrame, baseline: str, column: str = "final_test", *,
                       alpha: float = stats.ALPHA, level: float = intervals.LEVEL) -> pd.DataFrame:
    """Each runner's value minus the baseline's within the same (task, repetition), per task.

    ``mean_diff`` and ``median_diff`` in the metric's own units (positive = higher value);
    ``ci_low``/``ci_high`` the exact order-statistic interval of the *median* difference (it stays
    within the differences seen, so within the metric's range) with its true coverage ``level``;
    ``p`` the two-sided Wilcoxon signed-rank test, ``p_holm`` Holm-corrected over the runners of a
    task; ``better`` names the runner, the baseline, or ``—`` where ``p_holm >= alpha``.
    """
    rows: list[dict] = []
    if baseline not in set(final["runner"]):
        return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
    everything = final.pivot_table(index=["task", "repetition"], columns="runner", values=column,
                                   aggfunc="first", dropna=False, sort=False)
    directions = final.groupby("task", sort=False)["direction"].first().astype(str)
    for task, wide in everything.groupby(level="task", sort=False):
        maximize = directions[task] == "maximize"
        start = len(rows)
        present = [c for c in wide.columns if c != baseline and wide[c].notna().any()]
        for runner in present:
            diff = (wide[runner] - wide[baseline]).dropna().to_numpy(dtype=float)
            ci = intervals.interval(diff, "median", level)
            rows.append({
                "task": task, "runner": str(runner), "baseline": baseline,
                "direction": "maximize" if maximize else "minimize", "n": len(diff),
                "mean_diff": float(diff.mean()) if len(diff) else np.nan,
                "median_diff": ci.center, "ci_low": ci.lo, "ci_high": ci.hi, "level": ci.level,
                "p": _wilcoxon_p(diff) if len(diff) else np.nan,
            })
        block = rows[start:]
        ps = np.array([r["p"] for r in block], dtype=float)
        adjusted = np.full(len(ps), np.nan)
        finite = ~np.isnan(ps)
        adjusted[finite] = stats.holm(ps[finite])
        for r, p in zip(block, adjusted, strict=True):
            r["p_holm"] = p
            wins = r["median_diff"] > 0 if maximize else r["median_diff"] < 0
            r["better"] = "—" if not p < alpha else (r["runner"] if wins else baseline)
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
