"""Multi-objective studies as frames: which studies optimise several objectives, their hypervolume
against budget and at the end, and the non-dominated trials each runner found.

A study optimises several objectives when the store's ``objectives`` record lists them (None for
a single-objective study). Its trials carry ``objective_<name>`` (validation: what the optimiser
saw) and ``test_objective_<name>`` (held-out) columns. Hypervolumes use the task's fixed reference
point from that record, never one derived from the results, so adding a runner moves no other
runner's numbers. The indicators are :mod:`tunebench.reports.hypervolume`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tunebench.reports import hypervolume as hv
from tunebench.reports import intervals
from tunebench.reports.budget_grid import carry_forward
from tunebench.reports.frames import Frames, fraction_grid

KEYS = ["task", "runner", "repetition", "study_id"]


def is_multi_objective(studies: pd.DataFrame) -> np.ndarray:
    """True for each study whose ``objectives`` record lists several objectives."""
    if "objectives" not in studies:
        return np.zeros(len(studies), dtype=bool)
    return studies["objectives"].map(
        lambda r: isinstance(r, dict) and len(r.get("objectives") or ()) >= 2).to_numpy(dtype=bool)


@dataclass(frozen=True)
class TaskObjectives:
    """What a task's multi-objective studies optimise, as their ``objectives`` record says."""

    task: str
    names: tuple[str, ...]
    directions: tuple[str, ...]
    reference: tuple[float, ...] | None  # None: the task fixes none, so no hypervolume
    optimal_hypervolume: float | None
    machine_dependent: tuple[str, ...]

    @property
    def labels(self) -> list[str]:
        """``f1 (minimize)``: each objective with its direction, for axes and headers."""
        return [f"{n} ({d})" for n, d in zip(self.names, self.directions, strict=True)]

    def columns(self, test: bool = False) -> list[str]:
        return [("test_objective_" if test else "objective_") + n for n in self.names]


def task_objectives(studies: pd.DataFrame) -> tuple[dict[str, TaskObjectives], list[str]]:
    """Per task of the multi-objective ``studies``: its objectives; and a message for each task
    whose studies record different objectives (left out: their hypervolumes do not compare)."""
    out: dict[str, TaskObjectives] = {}
    problems = []
    for task, group in studies.groupby("task", sort=False):
        records = {_key(r) for r in group["objectives"]}
        if len(records) > 1:
            problems.append(f"The studies of {task} optimise different objectives or reference "
                            "points; their hypervolumes do not compare, so it is left out.")
            continue
        record = group["objectives"].iloc[0]
        objectives = record["objectives"]
        refs = [o.get("reference") for o in objectives]
        optimal = record.get("optimal_hypervolume")
        out[str(task)] = TaskObjectives(
            str(task), tuple(str(o["name"]) for o in objectives),
            tuple(str(o["direction"]) for o in objectives),
            None if any(r is None for r in refs) else tuple(float(r) for r in refs),
            float(optimal) if optimal is not None and math.isfinite(float(optimal)) else None,
            tuple(str(o["name"]) for o in objectives if o.get("machine_dependent")))
    return out, problems


def _key(record: dict) -> str:
    return repr(sorted((k, repr(v)) for k, v in record.items()))


def objective_values(trials: pd.DataFrame, spec: TaskObjectives, test: bool = False) -> np.ndarray:
    """(n, m) objective values of ``trials`` in the spec's order; NaN unless the trial is ok (and
    where a column is missing: the task reports no such value)."""
    ok = trials["status"].astype(str).to_numpy() == "ok"
    columns = [pd.to_numeric(trials[c], errors="coerce").to_numpy(dtype=float) if c in trials
               else np.full(len(trials), np.nan) for c in spec.columns(test)]
    values = np.column_stack(columns) if columns else np.empty((len(trials), 0))
    values[~ok] = np.nan
    return values


def hypervolume_trace(frames: Frames, specs: dict[str, TaskObjectives]) -> pd.DataFrame:
    """Each study's hypervolume after each trial, in trial order, at its cumulative budget.

    Columns: task, runner, repetition, study_id, trial, x (the budget spent as a fraction of the
    study's budget, capped at 1 so a last trial that overshot counts at the end), budget,
    hypervolume and regret (to the task's optimal hypervolume; NaN where that is unknown).
    """
    pieces = []
    for _, group in frames.trials.groupby("study_id", sort=False):
        spec = specs.get(str(group["task"].iloc[0]))
        if spec is None or spec.reference is None:
            continue
        group = group.sort_values("trial", kind="stable")
        volume = hv.anytime_hypervolume(objective_values(group, spec), spec.reference,
                                        spec.directions)
        spent = np.maximum.accumulate(pd.to_numeric(group["budget_spent"], errors="coerce")
                                      .fillna(0).to_numpy(dtype=float))
        amount = float(group["budget_amount"].iloc[0])
        optimal = np.nan if spec.optimal_hypervolume is None else spec.optimal_hypervolume
        pieces.append(pd.DataFrame({
            **{k: group[k].to_numpy() for k in KEYS}, "trial": group["trial"].to_numpy(),
            "x": np.minimum(spent / amount, 1.0) if amount > 0 else 1.0, "budget": spent,
            "hypervolume": volume, "regret": optimal - volume}))
    columns = [*KEYS, "trial", "x", "budget", "hypervolume", "regret"]
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=columns)


def on_budget_grid(trace: pd.DataFrame, frames: Frames,
                   specs: dict[str, TaskObjectives]) -> pd.DataFrame:
    """Every study's hypervolume read on its task's budget grid (the fractions the
    single-objective curves use), steps carried forward; before a study's first trial the
    hypervolume is 0 (nothing is dominated yet). Columns: task, runner, repetition, study_id,
    x, budget, hypervolume, regret."""
    parts = []
    for task, part in trace.groupby("task", sort=False):
        studies = frames.studies[frames.studies["task"] == task]
        kind, amount = str(studies["budget_kind"].iloc[0]), float(studies["budget_amount"].max())
        grid = fraction_grid(kind, amount)
        read = carry_forward(part, grid, KEYS, ("hypervolume", "regret"))
        optimal = specs[str(task)].optimal_hypervolume
        read["hypervolume"] = read["hypervolume"].astype(float).fillna(0.0)
        read["regret"] = read["regret"].astype(float).fillna(
            np.nan if optimal is None else optimal)
        read["budget"] = read["x"].astype(float) * amount
        parts.append(read)
    columns = [*KEYS, "x", "budget", "hypervolume", "regret"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def curve_summary(grid: pd.DataFrame, specs: dict[str, TaskObjectives],
                  center: str = "mean") -> pd.DataFrame:
    """Per (task, runner) and grid point: the ``center`` over repetitions with its interval
    (:func:`tunebench.reports.intervals.band`, cut by :func:`within_range`), of the hypervolume
    regret where the task knows its optimal hypervolume, else of the hypervolume. Columns as
    :func:`tunebench.reports.metrics.curve_summary`'s (quantity ``regret`` or ``hypervolume``)."""
    out = []
    for (task, runner), group in grid.groupby(["task", "runner"], sort=False):
        quantity = "hypervolume" if specs[str(task)].optimal_hypervolume is None else "regret"
        wide = group.pivot_table(index="repetition", columns="x", values=quantity,
                                 aggfunc="first", dropna=False)
        budget = group.groupby("x")["budget"].first().reindex(wide.columns)
        b = intervals.band(wide.to_numpy(dtype=float), center)
        lo, hi = within_range(b.lo, b.hi, b.center, specs[str(task)].optimal_hypervolume)
        out.append(pd.DataFrame({
            "task": task, "runner": runner, "quantity": quantity,
            "x": wide.columns.to_numpy(dtype=float), "budget": budget.to_numpy(dtype=float),
            "center": b.center, "lo": lo, "hi": hi, "n": b.n, "level": b.level}))
    columns = ["task", "runner", "quantity", "x", "budget", "center", "lo", "hi", "n", "level"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def within_range(lo: np.ndarray, hi: np.ndarray, center: np.ndarray,
                 optimal: float | None) -> tuple[np.ndarray, np.ndarray]:
    """An interval of hypervolumes (or of regrets) cut to [0, optimal hypervolume] (no upper
    bound where that is unknown): a Student-t interval over a few repetitions reaches outside.
    A centre outside the range (a negative regret: the optimum given is not the maximum) stays
    inside its interval."""
    top = np.inf if optimal is None else optimal
    with np.errstate(invalid="ignore"):
        return (np.maximum(lo, np.minimum(0.0, center)), np.minimum(hi, np.maximum(top, center)))


def final_hypervolumes(frames: Frames, specs: dict[str, TaskObjectives]) -> pd.DataFrame:
    """One row per study of a task with a reference point: its final hypervolume (all its
    successful trials), the hypervolume of the *test* values of its validation front (its
    non-dominated trials: the front selected on what the optimiser saw, measured held-out; NaN
    where the task reports no test objectives), and the regret to the optimal hypervolume.

    Shaped like the single-objective analysis frame's ``final`` (``direction`` maximize,
    ``final_value`` the hypervolume, ``final_test`` the test hypervolume, ``no_success``,
    ``repeat``), so :mod:`tunebench.reports.significance` compares runners on it unchanged.
    """
    rows = []
    repeats = frames.final.set_index("study_id")["repeat"] if "repeat" in frames.final else {}
    for study_id, group in frames.trials.groupby("study_id", sort=False):
        spec = specs.get(str(group["task"].iloc[0]))
        if spec is None or spec.reference is None:
            continue
        values = objective_values(group, spec)
        tests = objective_values(group, spec, test=True)
        front = hv.nondominated(values, spec.directions)
        final = hv.hypervolume(values, spec.reference, spec.directions)
        tested = tests[front]
        test_hv = (hv.hypervolume(tested, spec.reference, spec.directions)
                   if len(tested) and np.isfinite(tested).all() else np.nan)
        rows.append({
            **{k: group[k].iloc[0] for k in KEYS}, "direction": "maximize",
            "final_value": final, "final_test": test_hv,
            "regret": (np.nan if spec.optimal_hypervolume is None
                       else hv.hypervolume_regret(final, spec.optimal_hypervolume)),
            "front_size": int(front.sum()),
            "no_success": not np.isfinite(values).all(axis=1).any(),
            "repeat": bool(repeats.get(study_id, False)),
        })
    columns = [*KEYS, "direction", "final_value", "final_test", "regret", "front_size",
               "no_success", "repeat"]
    return pd.DataFrame(rows, columns=columns)


def final_summary(final: pd.DataFrame, specs: dict[str, TaskObjectives],
                  center: str = "mean") -> pd.DataFrame:
    """Per (task, runner): the ``center`` of the final hypervolume, its regret and its test
    hypervolume over repetitions, each with its interval (and the level it really has), cut to
    the range those can take (:func:`within_range`)."""
    rows = []
    for (task, runner), group in final.groupby(["task", "runner"], sort=False):
        row = {"task": task, "runner": runner, "n": len(group)}
        for column, name in (("final_value", "hypervolume"), ("regret", "regret"),
                             ("final_test", "test_hypervolume")):
            result = intervals.interval(group[column].to_numpy(dtype=float), center)
            lo, hi = within_range(np.array(result.lo), np.array(result.hi),
                                  np.array(result.center), specs[str(task)].optimal_hypervolume)
            row.update({name: result.center, f"{name}_low": float(lo), f"{name}_high": float(hi)})
            if name == "hypervolume":
                row["level"] = result.level
        row["front_size"] = float(group["front_size"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_sets(frames: Frames, specs: dict[str, TaskObjectives]) -> pd.DataFrame:
    """Per (task, runner): the successful trials no other trial of that runner on that task
    Pareto-dominates, pooled over its repetitions (of equal vectors the first), best first in
    the first objective. Columns: task, runner, repetition, trial, study_id, the objectives'
    ``objective_<name>`` and ``test_objective_<name>`` (as the store names them), in_box
    (strictly better than the reference point in every objective, so it counts towards the
    hypervolume; NaN without a reference), config."""
    parts = []
    for (task, runner), group in frames.trials.groupby(["task", "runner"], sort=False):
        spec = specs.get(str(task))
        if spec is None:
            continue
        values = objective_values(group, spec)
        front = hv.nondominated(values, spec.directions)
        losses = hv.as_losses(values[front], spec.directions)
        if spec.reference is None:
            in_box = np.full(len(losses), np.nan)
        else:
            in_box = (losses < hv.as_losses([spec.reference], spec.directions)).all(axis=1)
        kept = group[front]
        part = pd.DataFrame({"task": task, "runner": runner,
                             "repetition": kept["repetition"].to_numpy(),
                             "trial": kept["trial"].to_numpy(),
                             "study_id": kept["study_id"].to_numpy()})
        tests = objective_values(group, spec, test=True)[front]
        for j, (column, test) in enumerate(zip(spec.columns(), spec.columns(test=True),
                                               strict=True)):
            part[column], part[test] = values[front][:, j], tests[:, j]
        part["in_box"] = in_box
        part["config"] = kept["config"].to_numpy()
        order = np.lexsort((part["trial"], part["repetition"], losses[:, 0])) if len(part) \
            else np.zeros(0, dtype=int)
        parts.append(part.iloc[order])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["task", "runner", "repetition", "trial", "study_id", "in_box", "config"])


def attainment(frames: Frames, spec: TaskObjectives, levels: tuple[float, ...] = (25.0, 50.0, 75.0)
               ) -> dict[str, dict[float, np.ndarray]]:
    """Per runner on a 2-objective task: the 25, 50 and 75% attainment surfaces over its
    repetitions (one point set per study: its successful trials)."""
    trials = frames.trials[frames.trials["task"] == spec.task]
    out = {}
    for runner, group in trials.groupby("runner", sort=False):
        sets = [objective_values(study, spec) for _, study in group.groupby("study_id")]
        out[str(runner)] = hv.attainment_surfaces(sets, spec.directions, levels)
    return out


def devices(studies: pd.DataFrame) -> list[str]:
    """The devices ``studies`` ran on: the model where recorded (``AMD EPYC (cpu)``), else the
    device requested."""
    model = studies["device_model"] if "device_model" in studies else pd.Series(
        None, index=studies.index)
    named = [f"{m} ({d})" if isinstance(m, str) and m else str(d)
             for m, d in zip(model, studies["device"], strict=True)]
    return sorted(set(named))
