"""The last pass over a built report: marks and layouts that depend on the whole of it.

* Bold follows significance, not the best mean: a cell is bold only where its runner is
  significantly better than every other runner (:mod:`tunebench.reports.decisions`).
* Intervals are clipped to the metric's range (:func:`metric_bounds`).
* Beyond :data:`~tunebench.reports.plots.MAX_LINES` runners, tables stay readable: the final test
  table is transposed (runners as rows), the 210-row pairwise table becomes a runner × runner
  matrix (the long table is still written as CSV).
* A table of the best configuration each runner found on each task.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tunebench.reports import decisions, stats
from tunebench.reports.best_config import best_configurations, format_config
from tunebench.reports.frames import Frames
from tunebench.reports.headline import Headline, task_blocks
from tunebench.reports.plots import MAX_LINES
from tunebench.reports.render import DASH, Cell, Table, fmt, fmt_interval, long_table

#: Wide tables whose bold marks are re-decided, and the metric their per-task rows are about.
BOLD_TABLES = {"final_test": "auto", "normalised_score": "validation", "final_ranks": "validation"}


def metric_bounds(values: np.ndarray, direction: str) -> tuple[float, float]:
    """The range a metric's mean cannot leave, from what the task's values are.

    [0, 1] for a maximised metric whose every value lies in [0, 1] (an accuracy or another share);
    [0, ∞) where every value is non-negative (a loss, an error, a squared error); else unbounded.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return -math.inf, math.inf
    if direction == "maximize" and v.min() >= 0 and v.max() <= 1:
        return 0.0, 1.0
    if v.min() >= 0:
        return 0.0, math.inf
    return -math.inf, math.inf


def best_per_task(frames: Frames, metric: str, alpha: float) -> dict[str, str | None]:
    """The significantly best runner of each task (repetitions as blocks), or None."""
    out = {}
    for task in frames.tasks:
        matrix, _ = task_blocks(frames, task, metric)
        out[task] = decisions.best_in_blocks(matrix, alpha)
    return out


def rebold(table: Table, best: dict[str, str | None], overall: str | None) -> None:
    """Bold exactly the cell of each row's significantly best runner (rows are tasks; a row not
    naming a task, such as "all tasks", follows the overall decision)."""
    runners = table.columns[1:]
    for row in table.rows:
        winner = best.get(row[0].text, overall)
        row[1:] = [Cell(cell.text, bold=(runner == winner and cell.text != DASH))
                   for runner, cell in zip(runners, row[1:], strict=True)]


def final_test_table(frames: Frames, summary: pd.DataFrame, best: dict[str, str | None],
                     old: Table) -> Table:
    """The final test table with intervals clipped to each task's metric range and bold by
    significance; runners as rows beyond ``MAX_LINES`` runners (a 22-column table does not fit)."""
    texts: dict[tuple[str, str], Cell] = {}
    for task, part in summary.groupby("task", sort=False):
        values = frames.final.loc[frames.final["task"] == task, "final_test"].to_numpy(dtype=float)
        bounds = metric_bounds(values, str(part["direction"].iloc[0]))
        for row in part.itertuples(index=False):
            texts[(task, row.runner)] = Cell(fmt_interval(row.mean, row.ci_low, row.ci_high, bounds),
                                             bold=best.get(task) == row.runner)
    tasks = [t for t in frames.tasks if t in set(summary["task"])]
    runners = [r for r in frames.runners if r in set(summary["runner"])]
    transpose = len(runners) > MAX_LINES and len(runners) > len(tasks)
    outer, inner = (runners, tasks) if transpose else (tasks, runners)
    rows = []
    for o in outer:
        cells = [Cell(str(o))]
        for i in inner:
            key = (i, o) if transpose else (o, i)
            cells.append(texts.get(key, Cell(DASH)))
        rows.append(cells)
    columns = ["runner" if transpose else "task", *map(str, inner)]
    note = ("Bold: significantly better than every other runner on that task (Wilcoxon "
            "signed-rank over repetitions, Holm-corrected); no bold where no runner is. An "
            "interval that would leave the metric's range is shown clipped, as [low, high].")
    return Table(old.name, old.title, columns, rows, old.data, note=note,
                 in_latex=old.in_latex, collapsed=old.collapsed)


def clip_detail(table: Table, frames: Frames) -> None:
    """The per-study interval columns of a detail table (``95% CI low/high``), clipped to each
    task's metric range like the final table's (the CSV keeps the unclipped bounds)."""
    columns = {c: i for i, c in enumerate(table.columns)}
    if "task" not in columns or not {"95% CI low", "95% CI high"} <= set(columns):
        return
    bounds = {}
    for task in frames.tasks:
        part = frames.final[frames.final["task"] == task]
        bounds[task] = metric_bounds(part["final_test"].to_numpy(dtype=float),
                                     str(frames.references.loc[task, "direction"]))
    for row, raw in zip(table.rows, table.data.itertuples(index=False), strict=False):
        lo, hi = bounds.get(row[columns["task"]].text, (-math.inf, math.inf))
        for name, value in (("95% CI low", raw.ci_low), ("95% CI high", raw.ci_high)):
            if np.isfinite(value) and not lo <= value <= hi:
                row[columns[name]] = Cell(fmt(min(max(value, lo), hi)))


def pairwise_matrix(pairs: pd.DataFrame, order: list[str]) -> Table:
    """Runner × runner: the Holm-adjusted p-value of each pair, signed by who is better.

    ``+`` the row runner is better, ``−`` worse; bold where the difference is significant. Columns
    are numbered like the rows, so 21 runners fit across a page."""
    decided = decisions.with_direction(pairs)
    index = {r: i for i, r in enumerate(order)}
    cell: dict[tuple[str, str], Cell] = {}
    for row in decided.itertuples(index=False):
        a, b = str(row.runner_a), str(row.runner_b)
        p = float(row.pvalue_holm)
        text = "<.01" if p < 0.01 else "1" if p >= 0.995 else f"{p:.2f}".removeprefix("0")
        for me, other, better in ((a, b, bool(row.a_better)), (b, a, not bool(row.a_better))):
            sign = "+" if better else "−"
            cell[(me, other)] = Cell(f"{sign}{text}", bold=bool(row.significant) and better)
    rows = [[Cell(f"{index[r] + 1} {r}")] + [cell.get((r, c), Cell(DASH)) for c in order]
            for r in order]
    raw = decided[["runner_a", "runner_b", "n", "pvalue_holm", "significant", "a_better"]]
    return Table("wilcoxon_matrix", "Pairwise Wilcoxon signed-rank tests (Holm-corrected p; "
                 "+ row runner better, − worse; bold: row significantly better)",
                 ["runner", *[str(index[c] + 1) for c in order]], rows, raw.reset_index(drop=True),
                 compact=True)


def transpose(table: Table) -> Table:
    """A task × runner table turned to runner × task (many runners fit down a page, not across)."""
    runners = table.columns[1:]
    rows = [[Cell(runner)] + [row[j + 1] for row in table.rows] for j, runner in enumerate(runners)]
    return Table(table.name, table.title, ["runner", *[row[0].text for row in table.rows]], rows,
                 table.data, note=table.note, in_latex=table.in_latex, collapsed=table.collapsed)


def best_config_table(frames: Frames) -> Table:
    best = best_configurations(frames.trials)
    shown = pd.DataFrame({
        "task": best["task"], "runner": best["runner"],
        "validation": best["value"].astype(float), "test": best["test_value"].astype(float),
        "repetition": best["repetition"], "trial": best["trial"],
        "configuration": best["config"].map(format_config),
    })
    data = best.assign(config=best["config"].map(lambda c: c if isinstance(c, dict) else {}))
    return long_table("best_configurations", "Best configuration found per task and runner "
                      "(best validation value over all repetitions)", shown,
                      {"validation": fmt, "test": fmt, "repetition": str, "trial": str},
                      data=data, collapsed=len(shown) > 15, in_latex=False)


def finalise(frames: Frames, results: dict[str, pd.DataFrame], tables: dict[str, Table],
             sections: list, statistics: dict, head: Headline,
             alpha: float = stats.ALPHA) -> Table:
    """Apply the marks and layouts above to a built report in place; returns the table of best
    configurations (for the caller to place)."""
    validation_best = best_per_task(frames, "validation", alpha)
    for name, metric in BOLD_TABLES.items():
        table = tables.get(name)
        if table is None or not table.columns or table.columns[0] != "task":
            continue
        if name == "final_test" and "final_test" in results:
            tables[name] = final_test_table(frames, results["final_test"], head.best_by_task, table)
        else:
            rebold(table, validation_best if metric == "validation" else head.best_by_task,
                   head.overall_best)
            table.note = (table.note + " " if table.note else "") + (
                "Bold: significantly better than every other runner (validation values, "
                "Wilcoxon–Holm); no bold where no runner is.")
            if len(frames.runners) > MAX_LINES:
                tables[name] = transpose(table)
    if "final_test_detail" in tables and {"ci_low", "ci_high"} <= set(
            tables["final_test_detail"].data.columns):
        clip_detail(tables["final_test_detail"], frames)
    if len(frames.runners) > MAX_LINES:
        _compact_pairwise(results, tables, sections, statistics)
    config = best_config_table(frames)
    tables[config.name] = config
    return config


def _compact_pairwise(results: dict[str, pd.DataFrame], tables: dict[str, Table],
                      sections: list, statistics: dict) -> None:
    """Show the pairwise matrix instead of the long pairwise and win-rate tables (kept as CSV)."""
    pairs = results.get("wilcoxon")
    if pairs is None or pairs.empty or "wilcoxon" not in tables:
        return
    ranks = statistics.get("average_ranks")
    runners = sorted(set(pairs["runner_a"]) | set(pairs["runner_b"]), key=str)
    order = list(ranks.sort_values(kind="stable").index) if ranks is not None else runners
    matrix = pairwise_matrix(pairs, [r for r in order if r in set(runners)])
    tables[matrix.name] = matrix
    for name in ("wilcoxon", "win_rates"):
        if name in tables:
            tables[name].in_latex = False
    for section in sections:
        items = []
        for kind, payload in section.items:
            if kind == "table" and payload == "wilcoxon":
                items.append(("table", matrix.name))
                items.append(("note", f"The {len(pairs)} pairs in full are in "
                                      "tables/wilcoxon.csv; the win rates in tables/win_rates.csv "
                                      "and the figure above."))
            elif not (kind == "table" and payload == "win_rates"):
                items.append((kind, payload))
        section.items[:] = items
