"""The plugin checker: each task rule caught on a task that breaks it, with a message naming
the plugin and the problem; runner checks delegated to tunebench's runner conformance module."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tunebench.plugins import (
    PluginCheckError,
    PluginNotFound,
    assert_conforms,
    check_class,
    check_plugin,
    find_plugins,
)
from tunebench.runners.base import Capabilities, Outcome, Runner
from tunebench.space import Config, Float, Int, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task

SPACE = Space({"x": Float(0.0, 1.0), "n": Int(1, 4)})


class Good(Task):
    """A multi-fidelity task that follows every rule."""

    name = "good"
    description = "a well-behaved toy"
    max_fidelity = 4

    @property
    def space(self) -> Space:
        return SPACE

    def loss(self, config: Config, seed: int) -> float:
        return (float(config["x"]) - 0.3) ** 2 + 0.01 * int(config["n"]) + (seed % 5) * 1e-3

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        value = math.nan
        for step in range(1, fidelity + 1):
            value = self.loss(config, seed) + 1.0 / step
            context.report(step, value)
        return Result(value=value, test_value=value + 0.01, fidelity_spent=fidelity)


def statuses(cls: type, **settings: object) -> dict[str, tuple[str, str]]:
    return {row.check: (row.status, row.message) for row in check_class(cls, **settings)}


def failed(cls: type, **settings: object) -> dict[str, str]:
    return {check: message for check, (status, message) in statuses(cls, **settings).items()
            if status == "failed"}


def test_a_well_behaved_task_passes_every_check() -> None:
    rows = statuses(Good)
    assert {check for check, (status, _) in rows.items() if status != "passed"} == {"optimum"}
    assert rows["optimum"] == ("skipped", "no optimum declared")
    assert_conforms(Good)


def test_single_fidelity_tasks_skip_the_curve_checks() -> None:
    class Flat(Good):
        name = "flat"
        max_fidelity = 1

        def evaluate(self, config, fidelity, seed, context):
            return Result(value=self.loss(config, seed), test_value=0.0)

    rows = statuses(Flat)
    assert {c for c, (s, _) in rows.items() if s == "skipped"} == {"curve", "fidelity", "pruning",
                                                                   "optimum"}
    assert not failed(Flat)


def test_malformed_result_names_the_plugin_and_the_problem() -> None:
    class Dicty(Good):
        name = "dicty"

        def evaluate(self, config, fidelity, seed, context):
            return {"value": 1.0}

    problems = failed(Dicty)
    assert "evaluate returned dict {'value': 1.0}" in problems["evaluate"]
    assert "tunebench.Result" in problems["evaluate"]
    assert set(problems) == {"evaluate", "sampled"}  # dependent checks are skipped, not piled on
    with pytest.raises(PluginCheckError) as caught:
        assert_conforms(Dicty)
    assert "task 'dicty' (class " in str(caught.value)
    assert "evaluate: evaluate returned dict" in str(caught.value)


@pytest.mark.parametrize(("result", "expected"), [
    (Result(value=math.nan, test_value=0.0), "value=nan"),
    (Result(value=1.0), "no test value"),
    (Result(value=1.0, test_value=math.inf), "test_value=inf"),
    (Result(value=1.0, test_value=1.0, fidelity_spent=9), "fidelity_spent=9"),
    (Result(value=1.0, test_value=1.0, fidelity_spent=0), "fidelity_spent=0"),
    (Result(value=1.0, test_value=1.0, extra={"bad": math.nan}), "is not plain JSON"),
    (Result(value=1.0, test_value=1.0, extra={"bad": object()}), "is not plain JSON"),
])
def test_each_malformed_field_is_reported(result: Result, expected: str) -> None:
    class Fixed(Good):
        name = "fixed"
        max_fidelity = 1

        def evaluate(self, config, fidelity, seed, context):
            return result

    assert expected in failed(Fixed)["evaluate"]


def test_invalid_space_is_reported_and_the_rest_skipped() -> None:
    class BadSpace(Good):
        name = "bad_space"

        @property
        def space(self):
            return Space({"x": Float(1.0, 0.0)})

    rows = statuses(BadSpace)
    assert rows["space"][0] == "failed"
    assert "declares an invalid search space: SpaceError: Float needs low < high" in rows["space"][1]
    assert rows["evaluate"][0] == rows["deterministic"][0] == "skipped"


def test_space_that_is_not_a_space_or_empty() -> None:
    class Dict(Good):
        name = "dict_space"
        space = {"x": Float(0.0, 1.0)}  # type: ignore[assignment]  # noqa: RUF012

    class Empty(Good):
        name = "empty_space"
        space = Space({})  # type: ignore[assignment]

    assert "must be a tunebench Space, got dict" in failed(Dict)["space"]
    assert "no parameters" in failed(Empty)["space"]


def test_default_config_outside_the_space() -> None:
    class BadDefault(Good):
        name = "bad_default"

        def default_config(self):
            return {"x": 2.0, "n": 1}

    assert "not in the space" in failed(BadDefault)["default_config"]


def test_nondeterminism_is_caught() -> None:
    class Noisy(Good):
        name = "noisy"

        def evaluate(self, config, fidelity, seed, context):
            rng = np.random.default_rng()  # not from the seed
            value = self.loss(config, seed) + rng.random()
            context.report(1, value)
            return Result(value=value, test_value=value, fidelity_spent=1)

    assert "draw all randomness from the `seed` argument" in failed(Noisy)["deterministic"]


def test_curve_rules() -> None:
    class Silent(Good):
        name = "silent"

        def evaluate(self, config, fidelity, seed, context):
            return Result(value=1.0, test_value=1.0)

    class Skipping(Good):
        name = "skipping"

        def evaluate(self, config, fidelity, seed, context):
            for step in range(2, fidelity + 1, 2):
                context.report(step, 1.0)
            return Result(value=1.0, test_value=1.0)

    class Overrun(Good):
        name = "overrun"

        def evaluate(self, config, fidelity, seed, context):
            for step in range(1, self.max_fidelity + 1):
                context.report(step, 1.0 / step)
            return Result(value=1.0, test_value=1.0, fidelity_spent=fidelity)

    class Disagreeing(Good):
        name = "disagreeing"

        def evaluate(self, config, fidelity, seed, context):
            for step in range(1, fidelity + 1):
                context.report(step, 1.0 / step)
            return Result(value=1.0, test_value=1.0, curve=(5.0,) * fidelity)

    assert "never called context.report" in failed(Silent)["curve"]
    assert "they must be 1, 2, …, k" in failed(Skipping)["curve"]
    overrun = failed(Overrun)
    assert "must stop at the fidelity it is given" in overrun["fidelity"]
    assert "differs from the values reported" in failed(Disagreeing)["curve"]


def test_swallowed_pruning_is_caught() -> None:
    class Swallower(Good):
        name = "swallower"

        def evaluate(self, config, fidelity, seed, context):
            value = 1.0
            for step in range(1, fidelity + 1):
                try:  # noqa: SIM105 - the mistake under test, spelled as users write it
                    context.report(step, value)
                except Exception:
                    pass
            return Result(value=value, test_value=value, fidelity_spent=fidelity)

    assert "let the TrialPruned" in failed(Swallower)["pruning"]


def test_mutating_the_config_is_caught() -> None:
    class Mutator(Good):
        name = "mutator"

        def evaluate(self, config, fidelity, seed, context):
            config["x"] = 0.0
            return super().evaluate(config, fidelity, seed, context)

    assert "changed the configuration" in failed(Mutator)["evaluate"]


def test_failing_samples_are_allowed_but_not_all_of_them() -> None:
    class SometimesFails(Good):
        name = "sometimes"

        def evaluate(self, config, fidelity, seed, context):
            if config != self.default_config():
                raise RuntimeError("diverged")
            return super().evaluate(config, fidelity, seed, context)

    assert "every one of 3 random configurations raised" in failed(SometimesFails)["sampled"]
    assert "sampled" not in failed(SometimesFails, samples=0)


def test_declarations_and_optimum() -> None:
    class Undeclared(Good):
        name = "undeclared"
        description = ""

    class WrongDirection(Good):
        name = "wrong_direction"
        direction = "minimize"  # type: ignore[assignment]

    class Beaten(Good):
        name = "beaten"

        @property
        def optimum(self):
            return 1.5

    class Reference(Beaten):
        name = "reference"
        optimum_is_exact = False

    assert "non-empty `description`" in failed(Undeclared)["declarations"]
    assert "Direction.MINIMIZE" in failed(WrongDirection)["declarations"]
    assert "better than the declared exact optimum 1.5" in failed(Beaten)["optimum"]
    assert "optimum" not in failed(Reference)


def test_options_reach_the_task_and_unbuildable_tasks_fail_build() -> None:
    class Needy(Good):
        name = "needy"

        def __init__(self, scale: float) -> None:
            self.scale = scale

    assert "cannot be built with options {}" in failed(Needy)["build"]
    assert not failed(Needy, options={"scale": 2.0})


def test_fidelity_cap_limits_full_evaluations() -> None:
    seen: list[int] = []

    class Counting(Good):
        name = "counting"
        max_fidelity = 50

        def evaluate(self, config, fidelity, seed, context):
            seen.append(fidelity)
            return super().evaluate(config, fidelity, seed, context)

    assert not failed(Counting, fidelity=3)
    assert max(seen) == 3


class Echo(Runner):
    """A seeded random runner, conforming."""

    name = "echo"
    description = "random proposals"
    capabilities = Capabilities(library="tunebench", family="random")

    def __init__(self, space, direction, seed, budget_info=None) -> None:
        super().__init__(space, direction, seed, budget_info)
        self.rng = np.random.default_rng(self.seed)

    def ask(self) -> Config:
        return self.space.sample(self.rng)

    def tell(self, config: Config, outcome: Outcome) -> None:
        pass


def test_runners_go_through_the_runner_conformance_checks() -> None:
    from tunebench.runners.conformance import Conformance

    rows = check_class(Echo)
    assert [row.check for row in rows] == list(Conformance.CHECKS)
    # Echo declares neither batch nor multi_objective: those checks do not apply to it; every
    # other one passes.
    assert all(row.kind == "runner" and row.status == (
        "skipped" if row.check in ("batch", "multi_objective") else "passed") for row in rows)

    class Unseeded(Echo):
        name = "unseeded"

        def ask(self) -> Config:
            return self.space.sample(np.random.default_rng())

    problems = {row.check: row.message for row in check_class(Unseeded) if row.failed}
    assert "same_seed" in problems


def test_neither_task_nor_runner() -> None:
    rows = check_class(dict)
    assert rows[0].failed and "neither a tunebench Task nor a Runner" in rows[0].message


# ---------------------------------------------------------------------------- discovery
def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_one_broken_class_in_a_file_never_hides_the_others(tmp_path: Path) -> None:
    plugin = write(tmp_path / "mixed.py", """
        from tunebench.space import Float, Space
        from tunebench.tasks.base import Result, Task

        class Fine(Task):
            name = "fine"
            description = "fine"
            space = Space({"x": Float(0.0, 1.0)})

            def evaluate(self, config, fidelity, seed, context):
                return Result(value=config["x"], test_value=config["x"])

        class Broken(Fine):
            name = "broken"

            def evaluate(self, config, fidelity, seed, context):
                return config["x"]

        class Nameless(Fine):
            name = ""

        class Unfinished(Task):
            name = "unfinished"
            description = "forgot evaluate"
            space = Space({"x": Float(0.0, 1.0)})
    """)
    report = check_plugin(str(plugin))
    by_plugin = {}
    for row in report.rows:
        by_plugin.setdefault(row.plugin, []).append(row)
    assert set(by_plugin) == {"fine", "broken", "Nameless", "unfinished"}
    assert not any(row.failed for row in by_plugin["fine"])
    assert any("evaluate returned float" in row.message for row in by_plugin["broken"])
    assert "has no `name`" in by_plugin["Nameless"][0].message
    assert "does not implement evaluate" in by_plugin["unfinished"][0].message
    assert not report.ok
    assert all(row.source == f"plugin file {plugin}" for row in report.rows)


def test_a_file_that_fails_to_import_is_one_clear_failure(tmp_path: Path) -> None:
    plugin = write(tmp_path / "typo.py", "import tunebench_no_such_module\n")
    report = check_plugin(str(plugin))
    (row,) = report.rows
    assert row.failed and row.check == "load" and row.plugin == "typo.py"
    assert "failed to import: ModuleNotFoundError" in row.message
    assert str(plugin) in row.source
    empty = write(tmp_path / "empty.py", "X = 1\n")
    assert "defines no Task or Runner" in check_plugin(str(empty)).rows[0].message


def test_targets_modules_classes_and_registered_names(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    package = tmp_path / "tb_check_pkg"
    package.mkdir()
    write(package / "__init__.py", "from tb_check_pkg.tasks import Toy\n")
    write(package / "tasks.py", """
        from tunebench.space import Float, Space
        from tunebench.tasks.base import Result, Task

        class Toy(Task):
            name = "toy"
            description = "toy"
            space = Space({"x": Float(0.0, 1.0)})

            def evaluate(self, config, fidelity, seed, context):
                return Result(value=config["x"], test_value=config["x"])
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    (found,) = find_plugins("tb_check_pkg")  # re-exported from a submodule: found once
    assert (found.kind, found.name, found.source) == ("task", "toy", "module tb_check_pkg")
    (found,) = find_plugins("tb_check_pkg.tasks:Toy")
    assert found.cls is not None and found.cls.__name__ == "Toy"
    # nameless base classes of a module are not plugins (a plugin file is stricter: see above)
    synthetic = {f.name for f in find_plugins("tunebench.tasks.synthetic")}
    assert "branin" in synthetic and all(f.cls for f in find_plugins("tunebench.tasks.synthetic"))
    kinds = {f.kind for f in find_plugins("branin")} | {f.kind for f in find_plugins("random")}
    assert kinds == {"task", "runner"}  # registered names win over the stdlib module `random`
    for missing in ("tb_no_such_thing", "tb_check_pkg.tasks:Nope", "nope.py"):
        with pytest.raises(PluginNotFound):
            find_plugins(missing)


def test_builtin_tasks_and_runners_pass() -> None:
    for target, options in (("branin", {}), ("random", {}), ("grid", {"resolution": 2})):
        report = check_plugin(target, options, trials=12)
        assert report.ok, [row.describe() for row in report.failures]


def test_direction_is_direction() -> None:
    assert isinstance(Good.direction, Direction)
