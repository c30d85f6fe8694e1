"""scikit-optimize, pycma and DEHB runners: the resolved options are JSON data, the same each time
(the same proposals in separate processes: tests/test_runners_processes.py, for every runner)."""

from __future__ import annotations

import json

import pytest

from tunebench import registry
from tunebench.runners.base import BudgetInfo
from tunebench.runners.conformance import mixed_space
from tunebench.space import Direction

NAMES = ("skopt.gp", "skopt.rf", "cma.cmaes", "dehb")


@pytest.mark.parametrize("name", NAMES)
def test_resolved_options_are_json_and_the_same_for_the_same_study(name: str) -> None:
    def record() -> str:
        runner = registry.make_runner(name, mixed_space(), Direction.MINIMIZE, 3,
                                      BudgetInfo("epochs", 100, 1, 9), {})
        return json.dumps(runner.resolved_options(), sort_keys=True)

    first = record()
    assert first == record() and "0x" not in first
