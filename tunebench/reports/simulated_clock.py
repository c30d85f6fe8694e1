"""Best-so-far against simulated wall-clock, for studies run on the in-flight schedule.

A study run with ``[settings] in_flight = k`` or ``simulated_time = "recorded"`` stores each
trial's place on its simulated clock in ``extra["schedule"]`` (``begin``, ``end``: steps trained,
or recorded seconds; see :mod:`tunebench.suite.in_flight`). With k workers, trials end out of
their numbering, so the best-so-far against wall-clock is not the trial-numbered curve moved
along: here a trial counts from its ``end`` on, its value joining the running best then.

Per (task, runner), every study's best-so-far (or regret, where the task knows its optimum) is
read at every end time seen on the task and summarised over repetitions with the band the other
curves use (:func:`tunebench.reports.intervals.band`), from the time every repetition has a
successful trial ended (before, a median over fewer studies would jump as the others join). The
unit and k come from the stored suite spec of the task's suite. Tasks whose trials carry no
schedule are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tunebench.reports import intervals
from tunebench.reports.frames import Frames, StoreData
from tunebench.reports.metrics import plotted_quantity
from tunebench.reports.references import reference_of, regret

#: Axis units by the suite's ``simulated_time`` setting.
UNITS = {"recorded": "simulated seconds (recorded train_time)", "steps": "simulated steps"}


@dataclass(frozen=True)
class Clock:
    """How a suite's simulated clock ran: its unit (axis label) and the evaluations in flight."""

    unit: str
    in_flight: int


def suite_clocks(data: StoreData) -> dict[str, Clock]:
    """Per stored suite name: its clock, from the suite spec the store holds (the last stored
    spec of a name wins, as a resumed or appended suite re-registers it)."""
    out: dict[str, Clock] = {}
    for item in data.suite_specs:
        settings = (item.get("spec") or {}).get("settings") or {}
        kind = str(settings.get("simulated_time", "steps"))
        out[str(item.get("name"))] = Clock(UNITS.get(kind, f"simulated {kind}"),
                                           int(settings.get("in_flight", 1) or 1))
    return out


def schedule_end(extra: Any) -> float:
    """A trial's end on the simulated clock, NaN where it has no schedule."""
    if isinstance(extra, dict) and isinstance(extra.get("schedule"), dict):
        end = extra["schedule"].get("end")
        if isinstance(end, (int, float)):
            return float(end)
    return float("nan")


def scheduled_trials(frames: Frames) -> pd.DataFrame:
    """The trials of tasks every one of whose trials has a schedule, with ``end`` (simulated)."""
    trials = frames.trials
    if "extra" not in trials or trials.empty:
        return trials.iloc[:0].assign(end=pd.Series(dtype=float))
    trials = trials.assign(end=trials["extra"].map(schedule_end).astype(float))
    complete = trials.groupby("task", sort=False)["end"].transform(lambda s: s.notna().all())
    return trials[complete.astype(bool)].reset_index(drop=True)


def _study_steps(study: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(end times ascending, best loss once everything ended by then) for one study: trials in
    the order they ended (ties: lower trial number first, as the schedule handles them)."""
    ordered = study.sort_values(["end", "trial"], kind="stable")
    loss = ordered["loss"].to_numpy(dtype=float)
    best = np.fmin.accumulate(np.where(np.isnan(loss), np.inf, loss))
    return ordered["end"].to_numpy(dtype=float), np.where(np.isinf(best), np.nan, best)


def best_at(ends: np.ndarray, best: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The step function (ends, best) read at ``grid``: NaN before the first trial ended."""
    idx = np.searchsorted(ends, grid, side="right") - 1
    out = best[np.clip(idx, 0, max(len(best) - 1, 0))] if len(best) else np.full(len(grid), np.nan)
    return np.where(idx >= 0, out, np.nan)


def simulated_curves(frames: Frames, data: StoreData, *, center: str = "median") -> pd.DataFrame:
    """Best-so-far (or regret) against simulated wall-clock per task and runner, with its band.

    Columns: task, runner, quantity, x (simulated time), budget (= x), center, lo, hi, n, level,
    unit, in_flight. Empty where no task's trials carry a schedule.
    """
    trials = scheduled_trials(frames)
    columns = ["task", "runner", "quantity", "x", "budget", "center", "lo", "hi", "n", "level",
               "unit", "in_flight"]
    if trials.empty:
        return pd.DataFrame(columns=columns)
    clocks = suite_clocks(data)
    trials = trials.assign(reference=reference_of(trials, frames.repetition_references))
    out = []
    for task in [t for t in frames.tasks if t in set(trials["task"])]:
        own = trials[trials["task"] == task]
        quantity = plotted_quantity(frames, task)
        sign = float(frames.references.loc[task, "sign"])
        grid = np.unique(own["end"].to_numpy(dtype=float))
        clock = clocks.get(str(own["suite"].iloc[0]), Clock(UNITS["steps"], 1))
        for runner in [r for r in frames.runners if r in set(own["runner"])]:
            rows = []
            for _, study in own[own["runner"] == runner].groupby("study_id", sort=True):
                ends, best = _study_steps(study)
                line = best_at(ends, best, grid)
                if quantity == "regret":
                    line = regret(line, np.full(len(line), float(study["reference"].iloc[0])))
                else:
                    line = sign * line
                rows.append(line)
            matrix = np.vstack(rows)
            # Only once every repetition has a trial ended: a median over fewer studies would
            # jump as the others join.
            matrix[:, np.isnan(matrix).any(axis=0)] = np.nan
            b = intervals.band(matrix, center)
            out.append(pd.DataFrame({
                "task": task, "runner": runner, "quantity": quantity, "x": grid, "budget": grid,
                "center": b.center, "lo": b.lo, "hi": b.hi, "n": b.n, "level": b.level,
                "unit": clock.unit, "in_flight": clock.in_flight}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)
