"""Small multi-objective tasks, loaded by suites as a plugin file: known fronts, failures."""

from __future__ import annotations

import math
import time

from tunebench.space import Config, Direction, Float, Objective, Space
from tunebench.tasks.base import EvalContext, Result, Task


class Schaffer(Task):
    """Schaffer's first problem on [-5, 5]: f1 = x², f2 = (x - 2)², its front for x in [0, 2]
    (f2 = (√f1 - 2)²); a fixed reference point (4, 4). Fails for x > 4.5 (a failed trial in a
    multi-objective study), and reports a third, maximised objective ``x`` for subset tests."""

    name = "schaffer"
    metric = "f1"
    direction = Direction.MINIMIZE
    isolation = "none"
    objectives = (Objective("f1", Direction.MINIMIZE, reference=4.0),
                  Objective("f2", Direction.MINIMIZE, reference=4.0),
                  Objective("x", Direction.MAXIMIZE, reference=-5.0))

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    @property
    def space(self) -> Space:
        return Space({"x": Float(-5.0, 5.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        x = float(config["x"])
        time.sleep(self.delay)
        if x > 4.5:
            raise ValueError(f"x = {x:.3f} is out of this task's working range")
        values = {"f1": x * x, "f2": (x - 2.0) ** 2, "x": x}
        return Result(value=values["f1"], test_value=values["f1"], objectives=values,
                      test_objectives={k: v + 0.5 for k, v in values.items()})


class Unreported(Schaffer):
    """Reports f2 as NaN for x < -4 and leaves it out for x > 4: failed trials, never crashes."""

    name = "schaffer_gaps"

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        x = float(config["x"])
        values = {"f1": x * x, "f2": math.nan if x < -4.0 else (x - 2.0) ** 2, "x": x}
        if x > 4.0:
            del values["f2"]
        return Result(value=values["f1"], objectives=values)
