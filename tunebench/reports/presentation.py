"""The last pass over a built report: layouts that depend on the whole of it.

* Beyond :data:`~tunebench.reports.plots.MAX_LINES` runners, tables stay readable: task × runner
  tables are turned (runners as rows), the 210-row pairwise table becomes a runner × runner matrix
  (the long table and the win rates are still written as CSV).
* A table of the best configuration each runner found on each task.

Which cells are bold is decided where the tables are built (:mod:`tunebench.reports.significance`);
nothing here changes it.
"""

from __future__ import annotations

import pandas as pd

from tunebench.reports import decisions
from tunebench.reports.best_config import best_configurations, format_config
from tunebench.reports.frames import Frames
from tunebench.reports.plots import MAX_LINES
from tunebench.reports.render import DASH, Cell, Table, fmt, long_table

#: Task × runner tables turned to runner × task beyond MAX_LINES runners.
WIDE_TABLES = ("final_test", "normalised_score", "final_ranks")


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
             sections: list, statistics: dict) -> Table:
    """Apply the layouts above to a built report in place; returns the table of best
    configurations (for the caller to place)."""
    if len(frames.runners) > MAX_LINES:
        for name in WIDE_TABLES:
            table = tables.get(name)
            if table is not None and table.columns and table.columns[0] == "task":
                tables[name] = transpose(table)
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
