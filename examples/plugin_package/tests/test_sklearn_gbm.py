"""The sklearn_hgb task passes tunebench's conformance checks and learns something real."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from tunebench_sklearn_gbm import HistGradientBoostingTask

from tunebench.plugins import assert_conforms
from tunebench.tasks.base import EvalContext, TaskError, TrialPruned


def test_conforms() -> None:
    assert_conforms(HistGradientBoostingTask, {"iterations_per_step": 3})


def test_digits_conforms_at_low_fidelity() -> None:
    assert_conforms(HistGradientBoostingTask, {"dataset": "digits", "iterations_per_step": 2},
                    fidelity=2, samples=1)


def test_more_boosting_lowers_the_validation_loss() -> None:
    task = HistGradientBoostingTask(iterations_per_step=5)
    context = EvalContext()
    result = task.evaluate(task.default_config(), task.max_fidelity, 3, context)
    assert len(context.curve) == task.max_fidelity
    assert result.value < context.curve[0]
    assert result.extra["test_accuracy"] > 0.9
    assert math.isfinite(result.test_value)


def test_pruning_stops_training() -> None:
    task = HistGradientBoostingTask(iterations_per_step=2)
    context = EvalContext(pruner=lambda step, value: step >= 2)
    with pytest.raises(TrialPruned):
        task.evaluate(task.default_config(), task.max_fidelity, 0, context)
    assert len(context.curve) == 2


def test_options_are_checked() -> None:
    with pytest.raises(TaskError, match="dataset must be one of"):
        HistGradientBoostingTask(dataset="iris")
    with pytest.raises(TaskError, match="iterations_per_step"):
        HistGradientBoostingTask(iterations_per_step=0)


def test_entry_point_names_the_class() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    target = pyproject["project"]["entry-points"]["tunebench.tasks"][HistGradientBoostingTask.name]
    assert target == "tunebench_sklearn_gbm:HistGradientBoostingTask"
