"""Tasks and a runner that misbehave on purpose, loaded by suites as a plugin file."""

from __future__ import annotations

import math
import time

from tunebench.runners.base import Capabilities, Outcome, Runner
from tunebench.runners.optuna_runner import OptunaRandom
from tunebench.space import Categorical, Config, Float, Space
from tunebench.tasks.base import EvalContext, Result, Task
from tunebench.tasks.mf_synthetic import MultiFidelityHartmann6

#: Everything runners of type Recorder were told, by seed (inspected by tests in-process).
TOLD: dict[int, list[Outcome]] = {}


class Flaky(Task):
    """Raises for x < 0.2, returns NaN for x > 0.9, else a parabola."""

    name = "flaky"
    description = "fails on purpose"

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        x = float(config["x"])
        if x < 0.2:
            raise RuntimeError(f"boom at x={x:.3f}")
        if x > 0.9:
            return Result(value=math.nan)
        return Result(value=(x - 0.5) ** 2, test_value=(x - 0.5) ** 2)


class Sleepy(Task):
    """Sleeps ``x`` seconds: trials with x above the suite's trial_timeout time out."""

    name = "sleepy"

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 0.3)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        time.sleep(float(config["x"]))
        return Result(value=float(config["x"]))


class Curve(Task):
    """A multi-fidelity task: the loss decays towards (x - 0.3)^2 + the seed's offset over epochs."""

    name = "curve"
    max_fidelity = 8

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0), "kind": Categorical(["a", "b"])})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        base = (float(config["x"]) - 0.3) ** 2 + (0.1 if config["kind"] == "b" else 0.0)
        value = math.nan
        for epoch in range(1, fidelity + 1):
            if self.delay:
                time.sleep(self.delay)
            value = base + 1.0 / epoch + (seed % 7) * 1e-3
            context.report(epoch, value)
        return Result(value=value, test_value=value + 0.01, fidelity_spent=fidelity)


class Recorder(Runner):
    """Random proposals that record every outcome it is told, and prune after 2 steps when
    the value is above 0.8."""

    name = "recorder"
    capabilities = Capabilities(library="tunebench", family="random", pruning=True)

    def __init__(self, space, direction, seed, budget_info=None) -> None:
        super().__init__(space, direction, seed, budget_info)
        import numpy as np

        self._rng = np.random.default_rng(seed)
        TOLD[seed] = []

    def ask(self) -> Config:
        return self.space.sample(self._rng)

    def tell(self, config: Config, outcome: Outcome) -> None:
        TOLD[self.seed].append(outcome)

    def should_prune(self, config: Config, step: int, value: float) -> bool:
        return step >= 2 and value > 0.8


#: (pruner calls entered, pruner calls finished) of SlowPruner runners, by seed.
PRUNE_CALLS: dict[int, list[int]] = {}


class SlowPruner(Recorder):
    """A pruner that takes 0.15 s to decide (and never prunes): a trial's time limit falls while
    the library is deciding."""

    name = "slow_pruner"

    def __init__(self, space, direction, seed, budget_info=None) -> None:
        super().__init__(space, direction, seed, budget_info)
        PRUNE_CALLS[seed] = [0, 0]

    def should_prune(self, config: Config, step: int, value: float) -> bool:
        PRUNE_CALLS[self.seed][0] += 1
        time.sleep(0.15)
        PRUNE_CALLS[self.seed][1] += 1
        return False


class Overreacher(OptunaRandom):
    """An optuna adapter whose replaced ask() proposes x outside the space."""

    name = "overreacher"

    def ask(self) -> Config:
        return {**super().ask(), "x": 2.0}


class SlowMultiFidelity(MultiFidelityHartmann6):
    """mf_hartmann6 taking ``delay`` seconds per step (so a run can be killed mid-bracket)."""

    name = "mf_slow"

    def __init__(self, delay: float = 0.0, max_steps: int = 27) -> None:
        super().__init__(max_steps=max_steps)
        self.delay = delay

    def evaluate(self, config, fidelity, seed, context):
        time.sleep(self.delay * (fidelity - context.start))
        return super().evaluate(config, fidelity, seed, context)


class RestartingMultiFidelity(MultiFidelityHartmann6):
    """mf_hartmann6 that cannot continue: every promotion restarts from scratch."""

    name = "mf_restart"
    can_continue = False
