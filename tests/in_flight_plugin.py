"""A runner that says when it was asked and told, and a task that takes real time per step, for
the tests of evaluations in flight (loaded by suites as a plugin file)."""

from __future__ import annotations

import os
import time

import numpy as np

from tunebench.runners.base import Capabilities, Outcome, Proposal, Runner
from tunebench.space import Config, Float, Space
from tunebench.tasks.base import EvalContext, Result, Task

#: What the runner saw, in order: ("ask", n), ("tell", n), ("prune?", n, step).
LOG: list[tuple] = []


class Scripted(Runner):
    """Random configurations at the fidelities of ``fidelities`` (cycled); logs every call."""

    name = "scripted_batch"
    capabilities = Capabilities(library="tunebench", family="random", chooses_fidelity=True,
                                batch=True)

    def __init__(self, space, direction, seed, budget_info=None,
                 fidelities: tuple[int, ...] = (3, 1, 2, 1), prune: tuple[tuple[int, int], ...] = (),
                 xs: tuple[float, ...] = ()) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._rng = np.random.default_rng(seed)
        self.fidelities = tuple(fidelities)
        self.prune = {tuple(p) for p in prune}  # (trial, step) pairs to stop
        self.xs = tuple(xs)  # the configurations to propose, in order (empty: random ones)
        self.asked = 0
        self._number: dict[str, int] = {}

    def ask(self) -> Proposal:
        n = self.asked
        self.asked += 1
        LOG.append(("ask", n))
        config = {"x": self.xs[n]} if n < len(self.xs) else self.space.sample(self._rng)
        self._number[repr(config)] = n
        return Proposal(config, self.fidelities[n % len(self.fidelities)], tag=n)

    def tell(self, config: Config, outcome: Outcome) -> None:
        LOG.append(("tell", outcome.tag))

    def should_prune(self, config: Config, step: int, value: float) -> bool:
        n = self._number[repr(config)]
        LOG.append(("prune?", n, step))
        return (n, step) in self.prune


class ScriptedPruner(Scripted):
    name = "scripted_batch_pruner"
    capabilities = Capabilities(library="tunebench", family="random", chooses_fidelity=True,
                                batch=True, pruning=True)


class Sleepy(Task):
    """``x + 1/step`` after each of its steps, each ``step_seconds`` of real sleep; records the
    process it ran in and when (so a test can see two evaluations overlap)."""

    name = "sleepy"
    max_fidelity = 9

    def __init__(self, step_seconds: float = 0.0, max_epochs: int = 9,
                 by_x: bool = False) -> None:
        self.step_seconds = step_seconds
        self.max_fidelity = max_epochs
        self.by_x = by_x  # a step takes step_seconds × 2x: configurations differ in speed

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        began = time.time()
        value = 0.0
        seconds = self.step_seconds * (2 * float(config["x"]) if self.by_x else 1.0)
        for step in range(context.start + 1, fidelity + 1):
            time.sleep(seconds)
            value = float(config["x"]) + 1.0 / step
            context.report(step, value)
        return Result(value=value, test_value=value,
                      extra={"pid": os.getpid(), "began": began, "ended": time.time()})


class RecordedTable(Task):
    """A table's answer: ``x`` at once, having cost ``8x`` seconds when it was recorded."""

    name = "recorded_table"
    recorded_costs = True

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        cost = 8.0 * float(config["x"])
        context.report(1, float(config["x"]), seconds=cost)
        return Result(value=float(config["x"]), cost_seconds=cost)
