"""The space-translation audit: every runner, the fallbacks, and `tunebench space`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tunebench import registry
from tunebench.cli import app
from tunebench.runners.base import Capabilities, Outcome, Runner
from tunebench.runners.baselines import GridSearch, RandomSearch
from tunebench.runners.conformance import mixed_space
from tunebench.runners.translation import describe, translate
from tunebench.space import Categorical, Config, Float, Int, Space
from tunebench.tasks.base import EvalContext, Result, Task


class _PluginRunner(Runner):
    name = "test.plugin_without_translate"
    description = "a plugin runner that declares no translation"
    capabilities = Capabilities(library="someone", family="TPE")

    def ask(self) -> Config:
        return self.space.default()

    def tell(self, config: Config, outcome: Outcome) -> None:
        pass


class _ConditionalTask(Task):
    name = "test.conditional_task"
    description = "a task with every kind of parameter"

    @property
    def space(self) -> Space:
        return mixed_space()

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        return Result(0.0)


def test_definitions_read_as_the_space_defines_them() -> None:
    space = mixed_space()
    assert describe(space["lr"]) == "float [1e-05, 1] log"
    assert describe(space["depth"]) == "int [1, 6]"
    assert describe(space["schedule"]) == "categorical {'constant', 'cosine', None}"
    assert describe(space["momentum"]) == "float [0, 0.99] if optimizer in {'sgd', 'rmsprop'}"


@pytest.mark.parametrize("name", registry.runner_names())
def test_every_runner_has_one_row_per_parameter(name: str) -> None:
    options = {"resolution": 3} if name in ("grid", "optuna.grid") else {}
    rows = translate(registry.get_runner_class(name), mixed_space(), options)
    assert [r.name for r in rows] == list(mixed_space())
    assert all(r.library for r in rows)
    assert all(bool(r.reason) == r.lossy for r in rows)


def test_baselines_and_plugins_get_fallbacks() -> None:
    space = Space({"x": Float(0.0, 1.0), "k": Int(1, 3), "c": Categorical(("a", "b"))})
    random_rows = translate(RandomSearch, space)
    assert not any(r.lossy for r in random_rows)
    assert "equal mass per integer" in random_rows[1].library
    grid = {r.name: r for r in translate(GridSearch, space, {"resolution": 3})}
    assert grid["x"].lossy and grid["x"].library == "grid of 3: [0, 0.5, 1]"
    assert not grid["k"].lossy and not grid["c"].lossy
    plugin = translate(_PluginRunner, space)
    assert all("not declared" in r.library for r in plugin)


def test_cli_prints_the_audit_table() -> None:
    registry.register_task(_ConditionalTask)
    result = CliRunner().invoke(app, ["space", "test.conditional_task", "--runner",
                                      "nevergrad.cma", "--format", "table"],
                                env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    assert "ng.p.Log(lower=1e-05, upper=1)" in result.output
    assert "translated with a loss" in result.output
    plain = CliRunner().invoke(app, ["space", "test.conditional_task"])  # a pipe: plain
    assert plain.exit_code == 0 and "if optimizer in" in plain.output
    assert "│" not in plain.output and plain.output.splitlines()[0].startswith("lr ")


@pytest.mark.parametrize(("args", "message"), [
    (["space", "test.conditional_task", "--runner", "optuna.tpz"], "unknown runner"),
    (["space", "test.conditional_task", "--runner", "grid", "-o", "bogus=1"],
     "does not accept option(s) bogus"),
    (["space", "test.conditional_task", "--runner", "grid", "-o", "resolution"],
     "--option needs KEY=VALUE"),
    (["space", "no_such_task", "--runner", "random"], "unknown task"),
])
def test_cli_user_errors_are_one_line_and_exit_2(args, message) -> None:
    registry.register_task(_ConditionalTask)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output

