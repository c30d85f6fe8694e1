"""Suites of the isolation tasks, and stored trials as comparable rows (what two runs of the same
suite must agree on)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tunebench.suite.loading import load_curves, load_trials

TASKS = Path(__file__).parent / "isolation_tasks.py"


def isolation_suite(tmp_path: Path, task: str, *, budget: str, settings: str = "",
                    options: str = "", runners: tuple[str, ...] = ("random",),
                    repetitions: int = 1, seed: int = 5) -> Path:
    """A suite file of one task of ``isolation_tasks.py`` (written as ``TASK.toml``)."""
    from test_suite_bounds import suite_text  # the same skeleton the bounds tests fill in

    path = tmp_path / f"{task}.toml"
    others = "".join(f'\n[[runners]]\nname = "{name}"' for name in runners[1:])
    path.write_text(suite_text(
        suite=f'seed = {seed}\nrepetitions = {repetitions}\nplugins = ["{TASKS}"]', budget=budget,
        settings=settings, task=task, task_extra=options, runner=runners[0], runner_extra=others))
    return path


def curves(db: Path) -> dict[tuple[int, int], tuple[float, ...]]:
    """Every trial's learning curve, by (study id, trial number)."""
    out: dict[tuple[int, int], list[float]] = {}
    for row in load_curves(db).itertuples():
        out.setdefault((row.study_id, row.trial), []).append(row.value)
    return {key: tuple(values) for key, values in out.items()}


def pruner_steps(db: Path) -> dict[tuple[int, int], str | None]:
    """The steps the pruner decided at, as stored, by (study id, trial number)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT study_id, number, pruner_steps FROM trials").fetchall()
    return {(study, number): steps for study, number, steps in rows}


def in_run_order(db: Path) -> list[dict[str, Any]]:
    """Every stored trial's configuration, in the order the trials started."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT config_json FROM trials ORDER BY started_at").fetchall()
    return [json.loads(text) for (text,) in rows]


def trial_rows(db: Path, timed: bool = True) -> list[tuple[Any, ...]]:
    """Every stored trial's identity, numbers and outcome, in (task, runner, repetition, trial)
    order. ``timed=False`` leaves out what a clock decides (charges under device seconds)."""
    trials = load_trials(db).sort_values(["task", "runner", "repetition", "trial"])
    curve = curves(db)
    return [(r.task, r.runner, r.repetition, r.trial, r.config_key, r.status,
             None if r.value != r.value else r.value, r.error, r.fidelity_spent,
             r.charge if timed else None, curve.get((r.study_id, r.trial), ()))
            for r in trials.itertuples()]
