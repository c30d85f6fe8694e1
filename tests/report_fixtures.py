"""Small synthetic stores for the report tests (shared by tests/test_reports_*.py)."""

from __future__ import annotations

import pandas as pd

from tunebench.reports.frames import StoreData
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store

#: A name with every HTML special character, and a dollar (matplotlib's mathtext trigger).
NASTY = '<script>window.__pwned = 1</script>&"$x$'


def small_store(**kwargs) -> StoreData:
    """Two tasks (one maximised, optimum unknown), three runners, five repetitions, 20 trials."""
    kwargs.setdefault("tasks", [
        SynthTask("sphere", budget_amount=20),
        SynthTask("acc", direction="maximize", optimum=None, scale=0.5, best=0.95,
                  budget_amount=20),
    ])
    kwargs.setdefault("runners", [SynthRunner("random"), SynthRunner("tpe", power=3.0),
                                  SynthRunner("cma", power=2.0, fail_rate=0.1)])
    kwargs.setdefault("repetitions", 5)
    return synthetic_store(**kwargs)


def subset(data: StoreData, *, runners=None, tasks=None, repetitions=None) -> StoreData:
    """The same store restricted to some runners, tasks or repetitions."""
    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        mask = pd.Series(True, index=frame.index)
        if runners is not None:
            mask &= frame["runner"].isin(runners)
        if tasks is not None:
            mask &= frame["task"].isin(tasks)
        if repetitions is not None:
            mask &= frame["repetition"].isin(repetitions)
        return frame[mask].reset_index(drop=True)

    return StoreData(keep(data.trials), keep(data.studies), data.environments, data.suite_specs)


def fail_study(data: StoreData, study_id: int, message: str = "RuntimeError: boom") -> StoreData:
    """The same store with every trial of one study failed (as the store reports failures)."""
    trials = data.trials.copy()
    rows = trials["study_id"] == study_id
    trials.loc[rows, "status"] = "failed"
    for column in ("value", "test_value", "best_value", "best_test_value"):
        trials.loc[rows, column] = float("nan")
    trials.loc[rows, "error"] = message
    studies = data.studies.copy()
    studies.loc[studies["study_id"] == study_id, "n_failed"] = int(rows.sum())
    return StoreData(trials, studies, data.environments, data.suite_specs)


def rename(data: StoreData, *, task: dict[str, str] | None = None,
           runner: dict[str, str] | None = None) -> StoreData:
    """The same store with task or runner labels renamed."""
    def apply(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if task:
            frame["task"] = frame["task"].replace(task)
        if runner:
            frame["runner"] = frame["runner"].replace(runner)
        return frame

    return StoreData(apply(data.trials), apply(data.studies), data.environments,
                     data.suite_specs)
