"""One budget grid for curves averaged over tasks.

Each task's curves are read at its own budget fractions (one per trial for a 30-trial budget,
hundredths for an epoch budget). Averaging those over tasks point by point would average a
different set of tasks at each point (and an ECDF could fall). Here every study's best-so-far is
read on one common grid instead: the union of the tasks' fractions from the first fraction at which
*every* task has a point, each study's step function carried forward to the grid points between its
own. So every point of a cross-task curve averages the same blocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tunebench.reports.frames import Frames


def common_fractions(curves: pd.DataFrame) -> np.ndarray:
    """The grid: every task's budget fractions at or after the latest first fraction of any task."""
    if curves.empty:
        return np.array([])
    x = _rounded(curves["x"])
    start = float(pd.Series(x, index=curves.index).groupby(curves["task"]).min().max())
    grid = np.unique(x)
    return grid[grid >= start - 1e-12]


def _rounded(x: pd.Series) -> np.ndarray:
    """Fractions rounded so that 15/30 and 50/100 are the same point."""
    return np.round(x.to_numpy(dtype=float), 12)


def on_common_grid(frames: Frames, columns: tuple[str, ...] = ("loss",),
                   tasks: list[str] | None = None) -> pd.DataFrame:
    """Every study's budget-axis curve read on :func:`common_fractions` (steps carried forward).

    ``tasks`` defaults to :attr:`Frames.cross_task_tasks` (smoke tasks left out). Columns: task,
    runner, repetition, study_id, x, and ``columns``.
    """
    keep = frames.cross_task_tasks if tasks is None else tasks
    curves = frames.curves[(frames.curves["axis"] == "budget") & frames.curves["task"].isin(keep)]
    return carry_forward(curves, common_fractions(curves), ["task", "runner", "repetition",
                                                            "study_id"], columns)


def carry_forward(frame: pd.DataFrame, grid: np.ndarray, keys: list[str],
                  columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """``frame``'s step functions (one per distinct ``keys``, along ``x``) read at ``grid``.

    A grid point between two of a line's own points takes the earlier one; before a line's first
    point the value is NaN. Columns: ``keys``, x, ``columns``.
    """
    out_columns = [*keys, "x", *columns]
    if frame.empty or not len(grid):
        return pd.DataFrame(columns=out_columns)
    lines = frame.drop_duplicates(keys)[keys].reset_index(drop=True)
    lines["_line"] = np.arange(len(lines))
    right = frame[[*keys, *columns]].merge(lines, on=keys, how="left")
    right = right.assign(x=_rounded(frame["x"]))[["_line", "x", *columns]]
    left = pd.DataFrame({"_line": np.repeat(lines["_line"].to_numpy(), len(grid)),
                         "x": np.tile(np.asarray(grid, dtype=float), len(lines))})
    merged = pd.merge_asof(left.sort_values("x", kind="stable"),
                           right.sort_values("x", kind="stable"),
                           on="x", by="_line", direction="backward")
    merged = merged.merge(lines, on="_line", how="left").sort_values(["_line", "x"], kind="stable")
    return merged[out_columns].reset_index(drop=True)
