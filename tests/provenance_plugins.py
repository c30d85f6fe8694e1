"""Runners and a task that test what a study records about itself, loaded as a plugin file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tunebench.runners.base import Capabilities, Outcome, Runner, SearchExhausted
from tunebench.space import Categorical, Config, Float, Space
from tunebench.tasks.base import EvalContext, Result, Task

#: The seed every SeedBlind runner was built with, in order (inspected by tests in-process).
SEEDS_GIVEN: list[int] = []


class SeedBlind(Runner):
    """Ignores its seed: every instance proposes the same sequence (as nevergrad's NGOpt does
    when it picks Cobyla)."""

    name = "seed_blind"
    capabilities = Capabilities(library="tunebench", family="random")

    def __init__(self, space, direction, seed, budget_info=None) -> None:
        super().__init__(space, direction, seed, budget_info)
        SEEDS_GIVEN.append(self.seed)
        self._rng = np.random.default_rng(0)

    def ask(self) -> Config:
        return self.space.sample(self._rng)

    def tell(self, config: Config, outcome: Outcome) -> None:
        pass


class ShortList(Runner):
    """Three points to propose, then nothing: in declared order (deterministic, as it declares),
    or shuffled by its seed (then not deterministic: the instance says so)."""

    name = "short_list"
    capabilities = Capabilities(library="tunebench", family="grid", deterministic=True)

    def __init__(self, space, direction, seed, budget_info=None, order: str = "declared") -> None:
        super().__init__(space, direction, seed, budget_info)
        self._left = [self.space.sample(np.random.default_rng(i)) for i in range(3)]
        if order != "declared":
            self.capabilities = replace(type(self).capabilities, deterministic=False)
            np.random.default_rng(seed).shuffle(self._left)

    def ask(self) -> Config:
        if not self._left:
            raise SearchExhausted("all three points proposed")
        return self._left.pop(0)

    def tell(self, config: Config, outcome: Outcome) -> None:
        pass

    def resolved_options(self) -> dict:
        return {"points": 3, "order": "declared"}


class HashOrder(Runner):
    """Chooses its categorical value by iterating a set of strings, as libraries that keep
    hyperparameter names in sets do: its proposals depend on the process's hash seed."""

    name = "hash_order"
    capabilities = Capabilities(library="tunebench", family="random")

    def __init__(self, space, direction, seed, budget_info=None) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._choices = list({str(c) for c in space["word"].choices})
        self._n = 0

    def ask(self) -> Config:
        self._n += 1
        return {"x": 0.5, "word": self._choices[self._n % len(self._choices)]}

    def tell(self, config: Config, outcome: Outcome) -> None:
        pass


class PrecisionProbe(Task):
    """Reports the precision its evaluation resolved ``context.precision`` to, as torch tasks do,
    beside other extra facts."""

    name = "precision_probe"

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0),
                      "word": Categorical([f"w{i:02d}" for i in range(12)])})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        from tunebench import devices

        precision = devices.resolve_precision(context.precision or "fp32", "cpu")
        value = (float(config["x"]) - 0.25) ** 2 + int(config["word"][1:]) * 1e-3
        return Result(value=value, test_value=value,
                      extra={"precision": precision, "word_index": int(config["word"][1:])})


class Words(Task):
    """A cheap task with a categorical of many strings (no torch), for hash-order tests."""

    name = "words"

    @property
    def space(self) -> Space:
        return PrecisionProbe().space

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        value = (float(config["x"]) - 0.25) ** 2 + int(config["word"][1:]) * 1e-3
        return Result(value=value, extra={"word_index": int(config["word"][1:])})
