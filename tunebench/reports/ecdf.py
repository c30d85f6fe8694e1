"""COCO-style anytime ECDF: the share of fixed targets a runner has reached against budget.

Targets are fixed per (task, repetition) *before* any runner is compared, so adding or removing a
runner moves nobody else's curve:

- where the task declares its optimum: COCO's bbob targets, Δf = 10^2, 10^1.8, …, 10^-8 (51) above
  the optimum of that repetition's seed (a run that beats a reference optimum reaches them all);
- where it does not: random search's evaluations on the task (pooled over its repetitions) set one
  ladder for the task, run-length style: the target of level q is the q-quantile of random
  search's single evaluations, for q from 1/2 (what random search reaches in about 2 evaluations)
  down to 1/n (the best of all n). Pooling keeps random search from reaching every target of its
  own repetition by construction (only one of its studies holds the hardest). Without a
  random-search runner such a task has no targets and is left out (and said so).

A study reaches a target once its best-so-far is at or below it. The share averages over targets
and repetitions within a task, then over tasks (each weighs the same), on one budget grid
(:mod:`tunebench.reports.budget_grid`), so a curve is non-decreasing by construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tunebench.reports.budget_grid import on_common_grid
from tunebench.reports.frames import Frames
from tunebench.reports.metrics import find_baseline

#: COCO's bbob targets: Δf from 10^2 down to 10^-8, five per decade.
DELTA_F_TARGETS = np.logspace(2, -8, 51)

DELTA_F = "Δf above the optimum (COCO's 10^2 … 10^-8)"
RANDOM_LADDER = "quantiles of random search's evaluations, all repetitions (1/2 … 1/n)"


def ecdf_targets(frames: Frames, n_targets: int = 20) -> pd.DataFrame:
    """Targets (as losses, lower is better) per (task, repetition).

    Columns: task, repetition, index, level (Δf, or the random-search quantile q), target_loss,
    kind (:data:`DELTA_F` or :data:`RANDOM_LADDER`). ``n_targets`` is the number of rungs of the
    random-search ladder.
    """
    refs = frames.repetition_references
    known = refs.groupby("task")["declared_loss"].agg(lambda s: bool(np.isfinite(s).all()))
    baseline = find_baseline(frames)
    random = (frames.trials[(frames.trials["runner"] == baseline) & ~frames.trials["clipped"]]
              if baseline else frames.trials.iloc[:0])
    pools = dict(tuple(random.assign(loss=random["loss"].fillna(np.inf))
                       .groupby("task", sort=False)["loss"]))
    pieces = []
    for row in refs.itertuples(index=False):
        if known.get(row.task, False):
            levels, losses, kind = DELTA_F_TARGETS, row.declared_loss + DELTA_F_TARGETS, DELTA_F
        else:
            pool = pools.get(row.task)
            if pool is None or not len(pool):
                continue
            values = pool.to_numpy(dtype=float)
            levels = np.geomspace(0.5, 1.0 / len(values), max(n_targets, 1)) if len(values) > 1 \
                else np.array([0.5])
            losses = np.quantile(values, np.minimum(levels, 1.0), method="inverted_cdf")
            kind = RANDOM_LADDER
        pieces.append(pd.DataFrame({"task": row.task, "repetition": row.repetition,
                                    "index": np.arange(len(levels)), "level": levels,
                                    "target_loss": losses, "kind": kind}))
    columns = ["task", "repetition", "index", "level", "target_loss", "kind"]
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=columns)


def untargeted_tasks(frames: Frames, targets: pd.DataFrame) -> list[str]:
    """Tasks left out of the ECDF: no declared optimum and no random search to set targets."""
    have = set(targets["task"]) if len(targets) else set()
    return [t for t in frames.tasks if t not in have]


def reached_share(curves: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
    """Per row of ``curves`` (task, repetition, loss): the share of its targets reached."""
    share = np.full(len(curves), np.nan)
    rows = curves.groupby(["task", "repetition"], sort=False).indices
    for key, group in targets.groupby(["task", "repetition"], sort=False):
        index = rows.get(key)
        if index is None:
            continue
        levels = np.sort(group["target_loss"].to_numpy(dtype=float))
        loss = curves["loss"].to_numpy(dtype=float)[index]
        loss = np.where(np.isnan(loss), np.inf, loss)
        tolerance = 1e-12 * np.maximum(1.0, np.abs(np.where(np.isfinite(loss), loss, 0.0)))
        below = np.searchsorted(levels, loss - tolerance, side="left")
        share[index] = (len(levels) - below) / len(levels)
    return share


def anytime_ecdf(frames: Frames, targets: pd.DataFrame, *, aggregate: bool = True) -> pd.DataFrame:
    """The ECDF against budget fraction, per runner (``aggregate``) or per task and runner.

    Aggregated: over the cross-task tasks that have targets (smoke tasks left out), on the common
    budget grid; columns runner, x, fraction, n_tasks. Per task: on each task's own grid;
    columns task, runner, x, fraction.
    """
    tasks = [t for t in (frames.cross_task_tasks if aggregate else frames.tasks)
             if t in set(targets["task"])]
    if not tasks:
        return pd.DataFrame(columns=["runner", "x", "fraction", "n_tasks"] if aggregate
                            else ["task", "runner", "x", "fraction"])
    if aggregate:
        curves = on_common_grid(frames, ("loss",), tasks=tasks)
    else:
        curves = frames.curves[(frames.curves["axis"] == "budget")
                               & frames.curves["task"].isin(tasks)].reset_index(drop=True)
    curves = curves.assign(fraction=reached_share(curves, targets))
    per_task = curves.groupby(["task", "runner", "x"], sort=False)["fraction"].mean().reset_index()
    if not aggregate:
        return per_task
    out = per_task.groupby(["runner", "x"], sort=False)["fraction"].agg(["mean", "size"])
    out = out.reset_index().rename(columns={"mean": "fraction", "size": "n_tasks"})
    return out.sort_values(["runner", "x"], kind="stable").reset_index(drop=True)


def target_table(frames: Frames, targets: pd.DataFrame) -> pd.DataFrame:
    """Per task: how its targets were set, how many per repetition, the easiest and the hardest.

    For Δf targets ``easiest`` / ``hardest`` are Δf levels (the same above every repetition's
    optimum); for random-search ladders they are values in the task's direction.
    """
    rows = []
    for task in frames.tasks:
        own = targets[targets["task"] == task] if len(targets) else targets
        if own.empty:
            rows.append({"task": task, "targets_from": "none (no optimum, no random search)",
                         "targets": 0, "easiest": np.nan, "hardest": np.nan})
            continue
        kind = str(own["kind"].iloc[0])
        if kind == DELTA_F:
            easiest, hardest = float(own["level"].max()), float(own["level"].min())
        else:
            sign = float(frames.references.loc[task, "sign"])
            easiest = sign * float(own["target_loss"].max())
            hardest = sign * float(own["target_loss"].min())
        rows.append({"task": task, "targets_from": kind,
                     "targets": int(own.groupby("repetition").size().iloc[0]),
                     "easiest": easiest, "hardest": hardest})
    return pd.DataFrame(rows, columns=["task", "targets_from", "targets", "easiest", "hardest"])
