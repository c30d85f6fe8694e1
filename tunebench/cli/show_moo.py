"""`tunebench show` for multi-objective studies: final hypervolume instead of regret.

A multi-objective study is judged by the hypervolume its trials dominate, up to its task's fixed
reference point (recorded with the study, never derived from the runners compared): per study,
of the validation values the optimiser saw, and of the held-out test values of the trials it
would pick on them (its non-dominated set). As for one objective, the spread shown is of paired
differences against random search within each repetition.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tunebench.reports.multi_objective import is_multi_objective

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["is_multi_objective", "print_tables", "records", "study_hypervolumes", "summary"]


def study_hypervolumes(trials: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """One row per multi-objective study: its final hypervolume (validation), the test
    hypervolume of its non-dominated set, and its hypervolume regret where the task knows its
    true front's (NaN otherwise; NaN throughout for a task without a reference point)."""
    from tunebench.reports.hypervolume import hypervolume, nondominated

    rows = []
    for study in studies.itertuples():
        recorded: dict[str, Any] = study.objectives
        objectives = recorded["objectives"]
        names = [o["name"] for o in objectives]
        directions = [o["direction"] for o in objectives]
        reference = [o["reference"] for o in objectives]
        mine = trials[(trials["study_id"] == study.study_id) & (trials["status"] == "ok")]
        values = _matrix(mine, "objective_", names)
        hv = test_hv = math.nan
        if None not in reference and len(values):
            hv = hypervolume(values, reference, directions)
            front = nondominated(values, directions)
            test_hv = hypervolume(_matrix(mine, "test_objective_", names)[front], reference,
                                  directions)
        elif None not in reference:
            hv = test_hv = 0.0
        optimal = recorded.get("optimal_hypervolume")
        rows.append({"study_id": study.study_id, "hypervolume": hv, "test_hypervolume": test_hv,
                     "hv_regret": optimal - hv if optimal is not None else math.nan,
                     "objective_names": ", ".join(names)})
    import pandas

    columns = ["study_id", "hypervolume", "test_hypervolume", "hv_regret", "objective_names"]
    return studies.merge(pandas.DataFrame(rows, columns=columns), on="study_id")


def _matrix(trials: pd.DataFrame, prefix: str, names: list[str]) -> np.ndarray:
    columns = [prefix + name for name in names]
    if not all(c in trials for c in columns):
        return np.full((len(trials), len(names)), np.nan)
    return trials[columns].to_numpy(dtype=float)


def summary(trials: pd.DataFrame, studies: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per (suite, task, runner) of the multi-objective studies: mean final hypervolume, the
    paired difference against ``baseline`` (± the half-width of its 95% t interval), mean test
    hypervolume and hypervolume regret, and counts."""
    import pandas

    from tunebench.cli.show import paired_difference

    frame = study_hypervolumes(trials, studies)
    rows = []
    for (suite, task, runner), group in frame.groupby(["suite", "task", "runner"], sort=False):
        same_task = frame[(frame["suite"] == suite) & (frame["task"] == task)].assign(
            regret=lambda f: -f["hypervolume"])  # paired on "less hypervolume is worse"
        mean, half, pairs = paired_difference(same_task, runner, baseline)
        rows.append({
            "suite": suite, "task": task, "runner": runner, "objectives": group["objective_names"].iloc[0],
            "studies": len(group), "done": int((group["status"] == "done").sum()),
            "trials": int(group["n_trials"].sum()), "failed": int(group["n_failed"].sum()),
            "budget": group["budget_amount"].iloc[0], "budget_kind": group["budget_kind"].iloc[0],
            "hypervolume": float(group["hypervolume"].mean()),
            "delta": -mean if math.isfinite(mean) else mean, "delta_half": half, "pairs": pairs,
            "test_hypervolume": float(group["test_hypervolume"].mean()),
            "hv_regret": float(group["hv_regret"].mean()),
        })
    return pandas.DataFrame(rows)


def records(fronts: pd.DataFrame, keys: Any = None) -> list[dict]:
    """The multi-objective rows of ``show --format``: the single-objective rows' columns, with
    ``compared_on = "hypervolume"`` and the difference against random taken on hypervolume."""
    from tunebench.cli.show import BASELINE, MULTI_OBJECTIVE_FIELDS

    out = []
    for row in fronts.itertuples():
        record = {"compared_on": "hypervolume", "suite": row.suite, "task": row.task,
                  "runner": row.runner, "direction": "maximize hypervolume",
                  "budget": float(row.budget), "budget_kind": str(row.budget_kind),
                  "repetitions": int(row.studies), "studies": int(row.studies),
                  "done": int(row.done), "trials": int(row.trials), "failed": int(row.failed),
                  "mean_regret": None,
                  "delta_vs_random": None if row.runner == BASELINE else float(row.delta),
                  "delta_half_width": None if row.runner == BASELINE else float(row.delta_half),
                  "pairs": int(row.pairs), "mean_test": None,
                  "reference": "the task's fixed reference point", "smoke": False,
                  "best_value": None, "best_repetition": None, "best_config": None,
                  **dict(zip(MULTI_OBJECTIVE_FIELDS, (
                      row.objectives, _finite(row.hypervolume), _finite(row.test_hypervolume),
                      _finite(row.hv_regret)), strict=True))}
        out.append({key: record.get(key) for key in keys} if keys is not None else record)
    return out


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def print_tables(fronts: pd.DataFrame, studies: pd.DataFrame, baseline: str) -> None:
    """One table per multi-objective (suite, task): hypervolume (HV), Δ vs random, the test
    hypervolume of the non-dominated set, and HV regret where the true front's is known."""
    from rich import box
    from rich.table import Table

    from tunebench.cli.common import console
    from tunebench.cli.show import _delta, _number

    has_baseline = baseline in set(fronts["runner"])
    for (suite, task), rows in fronts.groupby(["suite", "task"], sort=False):
        recorded = studies[(studies["suite"] == suite) & (studies["task"] == task)].iloc[0]
        objectives = recorded["objectives"]["objectives"]
        named = ", ".join(f"{o['name']} ({o['direction'][:3]})" for o in objectives)
        reference = ", ".join(_number(o["reference"]) if o["reference"] is not None else "—"
                              for o in objectives)
        first = rows.iloc[0]
        table = Table(title=f"{suite} · {task}: {named} · {first['budget']:g} "
                            f"{first['budget_kind']} · HV to ({reference})",
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        regrets = rows["hv_regret"].notna().any()
        headers = ["runner", "HV"] + (["Δ vs random"] if has_baseline else []) + \
            ["test HV"] + (["regret"] if regrets else []) + ["studies", "failed"]
        longest = min(14, max(len(str(r)) for r in rows["runner"]))
        for column in headers:
            table.add_column(column, justify="left" if column == "runner" else "right",
                             overflow="fold", min_width=longest if column == "runner" else None)
        for row in rows.itertuples():
            cells = [row.runner, _number(row.hypervolume)] + \
                ([_delta(row)] if has_baseline else []) + [_number(row.test_hypervolume)] + \
                ([_number(row.hv_regret)] if regrets else [])
            table.add_row(*cells, f"{row.done}/{row.studies}",
                          f"{row.failed}/{row.trials}" if row.failed else "")
        console.print(table)
        machine = [o["name"] for o in objectives if o.get("machine_dependent")]
        if machine:
            console.print(f"{', '.join(machine)}: measured on this machine "
                          f"({recorded.get('device_model') or recorded.get('device')}); "
                          "another machine gives other values.", highlight=False)
