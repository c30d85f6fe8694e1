"""The files ``tunebench new task|runner NAME`` writes, as ``string.Template`` text.

Placeholders: ``$name`` (the registered name), ``$kind`` (task or runner), ``$group`` (the entry-point
group), ``$dist`` (distribution name), ``$module`` (import name) and ``$cls`` (class name).
Kept as Python strings, not data files, so they ship with every kind of install.
"""

from __future__ import annotations

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "The $name $kind for tunebench"
requires-python = ">=3.11"
dependencies = ["tunebench", "numpy"]

# tunebench finds the $kind through this entry point; "$name" is the name suites use.
[project.entry-points."$group"]
"$name" = "$module:$cls"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
pythonpath = ["src"]  # so `pytest` works before `pip install -e .` too
testpaths = ["tests"]
'''

README = '''\
# $dist

The `$name` $kind for tunebench, as a pip-installable plugin.

```
pip install -e .                 # registers the entry point "$name" in group $group
pytest                           # runs tunebench's conformance checks on it
tunebench check-plugin $dist     # the same checks, as a table
tunebench list ${kind}s          # "$name" is listed
```

Edit `src/$module/__init__.py`; keep the tests passing.
'''

TEST = '''\
"""Runs $name through tunebench's conformance checks (what `tunebench check-plugin` runs)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tunebench.plugins import assert_conforms

from $module import $cls


def test_conforms() -> None:
    assert_conforms($cls)


def test_entry_point_names_the_class() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    target = pyproject["project"]["entry-points"]["$group"][$cls.name]
    assert target == f"{$cls.__module__}:{$cls.__qualname__}"
'''

TASK = '''\
"""The $name task: a pure function of (configuration, fidelity, seed) to a tunebench Result.

Replace the body of `evaluate` with real training; keep these rules (tunebench's checks enforce them):
every random number comes from `seed`; the validation value goes to `value`, the held-out score to
`test_value`; after each fidelity step (an epoch) call `context.report(step, value)`, and do not
catch the exception it may raise (that is how a pruner stops the trial).
"""

from __future__ import annotations

import numpy as np

from tunebench.space import Categorical, Config, Float, Int, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task

SPACE = Space({
    "learning_rate": Float(1e-4, 1.0, log=True, default=1e-2),
    "layers": Int(1, 6, default=2),
    "optimizer": Categorical(("adam", "sgd")),
    "momentum": Float(0.0, 0.99, active_if={"optimizer": "sgd"}),  # only when optimizer is sgd
})


class $cls(Task):
    name = "$name"
    description = "TODO: what is tuned, on which data"
    metric = "val_loss"
    direction = Direction.MINIMIZE
    max_fidelity = 10  # fidelity steps (e.g. epochs); 1 for a task without partial training

    def __init__(self, noise: float = 0.01) -> None:
        # Options a suite gives (`options = { noise = 0.1 }`) arrive here, checked by name.
        self.noise = noise

    @property
    def space(self) -> Space:
        return SPACE

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        rng = np.random.default_rng(seed)  # the data split, the initialisation, the batch order
        target = rng.uniform(-3.0, -1.0)
        loss = (np.log10(config["learning_rate"]) - target) ** 2 + 0.1 * abs(config["layers"] - 3)
        if config["optimizer"] == "sgd":
            loss += (config["momentum"] - 0.9) ** 2
        value = float("nan")
        for epoch in range(1, fidelity + 1):
            # ... train one epoch here ...
            value = float(loss + 1.0 / epoch + self.noise * rng.standard_normal())
            context.report(epoch, value)  # may raise to stop the trial: let it through
        test_value = float(loss + 1.0 / fidelity + self.noise * rng.standard_normal())
        return Result(value=value, test_value=test_value, fidelity_spent=fidelity)
'''

RUNNER = '''\
"""The $name runner: an optimiser behind tunebench's ask/tell surface.

This skeleton is a seeded local search over the unit cube (each parameter maps [0, 1] onto its
domain through `Param.from_unit`); replace it with calls to the library you wrap. The rules
tunebench's checks enforce: all randomness from `seed`; `ask` returns a configuration of the space
(active parameters only, plain Python values); `tell` accepts failed trials (`outcome.value` is None)
and configurations it did not propose (a resumed study replays its stored history); values are read
in the task's direction (`self.direction.sign * value` is a loss).
"""

from __future__ import annotations

import numpy as np

from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, Runner, RunnerError
from tunebench.space import Config, Space
from tunebench.space import Direction


class $cls(Runner):
    name = "$name"
    description = "TODO: which library and algorithm"
    # `library` is the PyPI name of what you wrap: its version is recorded with every result.
    capabilities = Capabilities(library="$dist", family="local search")

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, step: float = 0.1,
                 explore: float = 0.3) -> None:
        # Options a suite gives (`options = { step = 0.2 }`) arrive as keyword arguments.
        super().__init__(space, direction, seed, budget_info)
        if not 0.0 < step <= 1.0 or not 0.0 <= explore <= 1.0:
            raise RunnerError(f"need 0 < step <= 1 and 0 <= explore <= 1, got {step}, {explore}")
        self.step, self.explore = step, explore
        self._rng = np.random.default_rng(self.seed)
        self._best: tuple[float, dict[str, float]] | None = None  # (loss, unit coordinates)

    def ask(self) -> Config:
        if self._best is None or self._rng.random() < self.explore:
            units = {name: float(self._rng.random()) for name in self.space}
        else:
            centre = self._best[1]
            units = {name: float(np.clip(centre[name] + self.step * self._rng.standard_normal(),
                                         0.0, 1.0)) for name in self.space}
        return self.space.from_unit(units)

    def tell(self, config: Config, outcome: Outcome) -> None:
        if not outcome.ok or outcome.value is None:
            return  # a failed or pruned trial teaches this search nothing
        loss = self.direction.sign * outcome.value
        if self._best is None or loss < self._best[0]:
            units = {name: self.space[name].to_unit(config[name]) if name in config else 0.5
                     for name in self.space}
            self._best = (loss, units)
'''
