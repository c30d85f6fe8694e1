"""A task and a runner that spend time on a fake clock (or really sleep), loaded by suites as a
plugin: what trials are charged can then be checked to the last digit."""

from __future__ import annotations

import time

import numpy as np

from tunebench.runners.base import Capabilities, Outcome, Runner
from tunebench.space import Config, Float, Space
from tunebench.tasks.base import Diverged, EvalContext, Result, Task

#: The fake clock: a study loop built with ``clock=charge_plugin.clock`` reads it.
NOW = [0.0]
#: Per-trial step durations to use, consumed one list per evaluation (empty: ``step_seconds``).
DURATIONS: list[list[float]] = []
#: What happened, in order: ("warm_up", clock) and ("evaluate", clock) entries.
EVENTS: list[tuple[str, float]] = []


def clock() -> float:
    return NOW[0]


def reset() -> None:
    NOW[0] = 0.0
    DURATIONS.clear()
    EVENTS.clear()


class Steps(Task):
    """``max_fidelity`` steps of ``step_seconds`` each on the fake clock (or slept, ``real``),
    reporting ``x + 1/step`` after each; ``fail_at`` / ``diverge_at`` raise during that step, and
    ``uncharged_seconds`` are spent inside ``context.uncharged()`` before and after training."""

    name = "charge_steps"
    max_fidelity = 4

    def __init__(self, step_seconds: float = 1.0, fail_at: int = 0, diverge_at: int = 0,
                 uncharged_seconds: float = 0.0, real: bool = False, max_epochs: int = 4,
                 recorded_cost: float | None = None) -> None:
        self.step_seconds, self.fail_at, self.diverge_at = step_seconds, fail_at, diverge_at
        self.recorded_cost = recorded_cost  # a table's answer: what the evaluation cost once
        self.uncharged_seconds, self.real = uncharged_seconds, real
        self.max_fidelity = max_epochs

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def _spend(self, seconds: float) -> None:
        if self.real:
            time.sleep(seconds)
        else:
            NOW[0] += seconds

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        EVENTS.append(("evaluate", NOW[0]))
        durations = DURATIONS.pop(0) if DURATIONS else [self.step_seconds] * fidelity
        if self.uncharged_seconds:
            with context.uncharged():  # loading data, say
                self._spend(self.uncharged_seconds / 2)
        value = float("nan")
        for step in range(1, fidelity + 1):
            self._spend(durations[(step - 1) % len(durations)])
            if step == self.fail_at:
                raise RuntimeError(f"broke in step {step}")
            if step == self.diverge_at:
                raise Diverged(f"the loss passed the bound in step {step}")
            value = float(config["x"]) + 1.0 / step
            context.report(step, value)
        if self.uncharged_seconds:
            with context.uncharged():  # scoring the test set, say
                self._spend(self.uncharged_seconds / 2)
        return Result(value=value, test_value=value, fidelity_spent=fidelity,
                      cost_seconds=self.recorded_cost)


class WarmSteps(Steps):
    """:class:`Steps` with a warm-up that takes ``warm_up_seconds``."""

    name = "charge_warm"

    def __init__(self, warm_up_seconds: float = 100.0, **options: float) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.warm_up_seconds = warm_up_seconds

    def warm_up(self, context: EvalContext) -> None:
        EVENTS.append(("warm_up", NOW[0]))
        self._spend(self.warm_up_seconds)


class Pruner(Runner):
    """Random proposals; the pruner takes ``prune_seconds`` on the fake clock (or slept, ``real``)
    and stops a trial at step ``prune_at`` (0: never)."""

    name = "charge_pruner"
    capabilities = Capabilities(library="tunebench", family="random", pruning=True)

    def __init__(self, space, direction, seed, budget_info=None, prune_seconds: float = 0.0,
                 prune_at: int = 0, real: bool = False) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._rng = np.random.default_rng(seed)
        self.prune_seconds, self.prune_at, self.real = prune_seconds, prune_at, real
        self.told: list[Outcome] = []
        self.prune_calls = 0

    def ask(self) -> Config:
        return self.space.sample(self._rng)

    def tell(self, config: Config, outcome: Outcome) -> None:
        self.told.append(outcome)

    def should_prune(self, config: Config, step: int, value: float) -> bool:
        self.prune_calls += 1
        if self.real:
            time.sleep(self.prune_seconds)
        else:
            NOW[0] += self.prune_seconds
        return bool(self.prune_at) and step >= self.prune_at
