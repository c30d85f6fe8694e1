"""Metrics computed from the analysis frames: curves with bands, final accuracy, ranks over budget,
and costs (normalised scores: :mod:`tunebench.reports.normalised`; the anytime ECDF:
:mod:`tunebench.reports.ecdf`).

Every function takes :class:`~tunebench.reports.frames.Frames` and returns plain pandas frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tunebench.reports import intervals
from tunebench.reports.budget_grid import on_common_grid
from tunebench.reports.frames import Frames
from tunebench.reports.stats import mean_ci, median_ci, rank_rows

#: The runner Bayesmark's normalised score measures against.
BASELINE = "random"


def plotted_quantity(frames: Frames, task: str) -> str:
    """``regret`` where the task knows its optimum (drawn on a log axis), else the best ``value``."""
    return "regret" if bool(frames.references.loc[task, "optimum_known"]) else "value"


def repetition_matrix(group: pd.DataFrame,
                      column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (task, runner)'s curves as (x, budget, repetitions × x matrix of ``column``)."""
    group = group.sort_values(["repetition", "x"], kind="stable")
    x = np.unique(group["x"].to_numpy(dtype=float))
    reps = group["repetition"].nunique()
    if len(group) == reps * len(x):  # every study on the same grid: a plain reshape
        matrix = group[column].to_numpy(dtype=float).reshape(reps, len(x))
        budget = group["budget"].to_numpy(dtype=float)[: len(x)]
        return x, budget, matrix
    wide = group.pivot_table(index="repetition", columns="x", values=column, aggfunc="first",
                             dropna=False)
    budget = group.groupby("x")["budget"].first().reindex(wide.columns)
    return (wide.columns.to_numpy(dtype=float), budget.to_numpy(dtype=float),
            wide.to_numpy(dtype=float))


def curve_summary(frames: Frames, axis: str = "trials", *, center: str = "median",
                  n_boot: int = 1000, seed: int = 0,
                  tasks: list[str] | None = None) -> pd.DataFrame:
    """Best-so-far (or regret) per task and runner along ``axis``, with an interval band.

    Columns: task, runner, quantity, x, budget, center, lo, hi, n (repetitions with a value), level
    (the coverage the band has there: see :class:`~tunebench.reports.intervals.IntervalMethod`).
    ``tasks`` limits the work to those tasks; ``n_boot`` and ``seed`` are no longer used.
    """
    curves = frames.curves[frames.curves["axis"] == axis]
    if tasks is not None:
        curves = curves[curves["task"].isin(tasks)]
    out = []
    for (task, runner), group in curves.groupby(["task", "runner"], sort=False):
        quantity = plotted_quantity(frames, task)
        x, budget, matrix = repetition_matrix(group, quantity)
        b = intervals.band(matrix, center)
        out.append(pd.DataFrame({
            "task": task, "runner": runner, "quantity": quantity, "x": x, "budget": budget,
            "center": b.center, "lo": b.lo, "hi": b.hi, "n": b.n, "level": b.level,
        }))
    columns = ["task", "runner", "quantity", "x", "budget", "center", "lo", "hi", "n", "level"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def final_test_summary(frames: Frames) -> pd.DataFrame:
    """Per task and runner: the incumbent's test value at the end, over repetitions.

    mean with a Student-t 95% interval (``ci_low``, ``ci_high``: it under-covers skewed values at
    small n), median with its exact order-statistic interval (``median_ci_low``, ``median_ci_high``,
    within the values seen) and the coverage that interval really has (``median_ci_level``), best
    and worst (in the task's direction); ``n`` counts studies with a test value, ``n_missing`` those
    without (no successful trial, or no test score).
    """
    rows = []
    for (task, runner), group in frames.final.groupby(["task", "runner"], sort=False):
        values = group["final_test"].to_numpy(dtype=float)
        present = values[~np.isnan(values)]
        maximize = frames.references.loc[task, "direction"] == "maximize"
        mean, lo, hi = mean_ci(present)
        median, median_lo, median_hi, median_level = median_ci(present)
        rows.append({
            "task": task, "runner": runner, "direction": "maximize" if maximize else "minimize",
            "n": len(present), "n_missing": int(len(values) - len(present)),
            "mean": mean, "ci_low": lo, "ci_high": hi,
            "median": median, "median_ci_low": median_lo, "median_ci_high": median_hi,
            "median_ci_level": median_level,
            "best": float(present.max() if maximize else present.min()) if len(present) else np.nan,
            "worst": float(present.min() if maximize else present.max()) if len(present)
            else np.nan,
        })
    return in_report_order(pd.DataFrame(rows), frames)


def in_report_order(frame: pd.DataFrame, frames: Frames) -> pd.DataFrame:
    """Rows sorted by task (suite order) then runner (the report's runner order)."""
    if frame.empty:
        return frame
    task_rank = {t: i for i, t in enumerate(frames.tasks)}
    runner_rank = {r: i for i, r in enumerate(frames.runners)}
    key = frame["task"].map(task_rank) * (len(runner_rank) + 1) + frame["runner"].map(runner_rank)
    return frame.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def find_baseline(frames: Frames) -> str | None:
    """The random-search runner of the comparison: labelled ``random``, or the one runner whose
    registered name is ``random``; None when there is none."""
    if BASELINE in frames.runners:
        return BASELINE
    names = frames.studies.groupby("runner")["runner_name"].first()
    matches = [str(r) for r, n in names.items() if str(n) == BASELINE]
    return matches[0] if len(matches) == 1 else None


def ranks_over_budget(frames: Frames) -> pd.DataFrame:
    """Average rank (1 = best, ties averaged) of each runner along the common budget grid.

    Studies are ranked within each (task, repetition) block (a runner without a successful trial
    yet ranks last), the ranks averaged over a task's repetitions, then over tasks, so each task
    weighs the same. The grid is :func:`~tunebench.reports.budget_grid.common_fractions` and only
    blocks where every runner has a study count, so every point averages the same blocks. Smoke
    tasks are left out. Columns: x, runner, rank, n_blocks, n_tasks.
    """
    columns = ["x", "runner", "rank", "n_blocks", "n_tasks"]
    curves = on_common_grid(frames, ("loss",))
    if curves.empty:
        return pd.DataFrame(columns=columns)
    wide = curves.assign(loss=curves["loss"].fillna(np.inf)).pivot_table(
        index=["task", "repetition", "x"], columns="runner", values="loss", aggfunc="first")
    wide = wide.reindex(columns=sorted(set(curves["runner"])))
    complete = wide.notna().all(axis=1).groupby(level=["task", "repetition"]).all()
    keep = complete[complete].index
    wide = wide[wide.index.droplevel("x").isin(keep)]
    if wide.empty:
        return pd.DataFrame(columns=columns)
    ranks = pd.DataFrame(rank_rows(wide.to_numpy(dtype=float)), index=wide.index,
                         columns=[str(c) for c in wide.columns])
    per_task = ranks.groupby(level=["task", "x"], sort=False).mean()
    mean = per_task.groupby(level="x").mean()
    long = mean.stack().rename("rank").reset_index()
    long.columns = ["x", "runner", "rank"]
    long["n_blocks"] = long["x"].map(ranks.groupby(level="x").size())
    long["n_tasks"] = long["x"].map(per_task.groupby(level="x").size())
    return long[columns]


def optimizer_overhead(frames: Frames) -> pd.DataFrame:
    """Optimiser seconds per trial (ask + tell) against trial number: median and quartiles."""
    t = frames.trials
    grouped = t.assign(trial_number=t["trial"] + 1).groupby(["runner", "trial_number"])[
        "optimizer_seconds"]
    out = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    out.columns = ["q25", "median", "q75"]
    out["studies"] = grouped.size()
    out = out.reset_index()
    # Trial numbers only a few studies reached (under epoch or time budgets) are noise: drop
    # those with fewer than a tenth of the runner's studies.
    most = out.groupby("runner")["studies"].transform("max")
    return out[out["studies"] >= np.maximum(1, 0.1 * most)].reset_index(drop=True)


def eval_costs(frames: Frames) -> pd.DataFrame:
    """Per task and runner: evaluation and optimiser time, per trial and per study."""
    t = frames.trials
    per_study = t.groupby("study_id").agg(
        eval_total=("eval_seconds", "sum"), opt_total=("optimizer_seconds", "sum"),
        cpu_total=("cpu_seconds", "sum"))
    per_study = per_study.join(frames.studies.set_index("study_id")[["task", "runner"]])
    per_trial = t.groupby(["task", "runner"], sort=False).agg(
        trials=("trial", "size"),
        eval_median=("eval_seconds", "median"),
        optimizer_median=("optimizer_seconds", "median"),
        cached_share=("cached", "mean"),
    )
    per_study_mean = per_study.groupby(["task", "runner"]).agg(
        eval_per_study=("eval_total", "mean"), optimizer_per_study=("opt_total", "mean"),
        cpu_per_study=("cpu_total", "mean"))
    return in_report_order(per_trial.join(per_study_mean).reset_index(), frames)


def first_line(message: object, limit: int = 160) -> str:
    """An error message's first line, trimmed: failures are grouped by it."""
    if message is None or (isinstance(message, float) and np.isnan(message)):
        return "(no message)"
    text = str(message).strip().splitlines()
    line = text[0].strip() if text else ""
    if not line:
        return "(no message)"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def failures(frames: Frames) -> pd.DataFrame:
    """Failed trials grouped by runner and error message (first line), most frequent first."""
    failed = frames.trials[frames.trials["status"] == "failed"]
    columns = ["runner", "error", "count", "tasks", "studies"]
    if failed.empty:
        return pd.DataFrame(columns=columns)
    failed = failed.assign(message=[first_line(e) for e in failed["error"]])
    out = failed.groupby(["runner", "message"]).agg(
        count=("trial", "size"),
        tasks=("task", lambda s: ", ".join(sorted(set(map(str, s))))),
        studies=("study_id", "nunique"),
    ).reset_index().rename(columns={"message": "error"})
    return out.sort_values(["runner", "count"], ascending=[True, False], kind="stable")[columns]


def failure_counts(frames: Frames) -> pd.DataFrame:
    """Per runner: trials, failed and pruned trials, trials clipped by a device-seconds budget
    (stopped by the harness, not a pruner), and studies without a successful trial."""
    f = frames.final
    clipped = ("n_clipped", "sum") if "n_clipped" in f else ("n_pruned", lambda s: 0)
    return f.groupby("runner").agg(
        studies=("study_id", "size"), trials=("n_trials", "sum"), failed=("n_failed", "sum"),
        pruned=("n_pruned", "sum"), clipped=clipped, studies_without_success=("no_success", "sum"),
    ).reset_index()
