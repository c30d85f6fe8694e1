"""Conformance checks for tasks, and one entry point for checking any plugin class.

Runner checks live in :mod:`tunebench.runners.conformance` and are reused here as they are; the task
checks below drive a task the way the harness does (build it with its options, read its space,
evaluate with an :class:`~tunebench.tasks.base.EvalContext`, threads pinned) and say, in one sentence
each, what a task must do:

- ``declarations``: a non-empty ``name`` and ``description``, a ``metric``, a ``Direction``, a
  positive integer ``max_fidelity``;
- ``build``: the class builds with its default options (or the options given);
- ``space``: ``space`` is a non-empty :class:`~tunebench.space.Space` that round-trips through its
  dictionary form and is the same on every call;
- ``default_config``: the default configuration validates in the space;
- ``evaluate``: the default configuration at full fidelity returns a :class:`Result` with a finite
  value and test value, a ``fidelity_spent`` within the fidelity asked, JSON-storable ``extra``, and
  leaves the configuration it was given unchanged;
- ``deterministic``: the same (configuration, fidelity, seed) gives the same numbers, bit for bit;
- ``curve``: a multi-fidelity task reports steps 1, 2, …, k through ``context.report``, ending at
  the fidelity it says it spent;
- ``fidelity``: at the lowest fidelity the task trains one step at most;
- ``pruning``: a ``TrialPruned`` raised by ``context.report`` reaches the harness (not swallowed);
- ``sampled``: random configurations give well-formed results (raising is allowed: it is a failed
  trial; every one raising is not);
- ``optimum``: a declared exact optimum is finite and not beaten by any evaluation above.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from tunebench.runners.base import Runner
from tunebench.space import Config, Space, canonical_json
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TrialPruned

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


class PluginCheckError(AssertionError):
    """A plugin failed one or more checks; the message names the plugin and every failure."""


class CheckFailed(Exception):
    """Raised by a task check with the reason it failed."""


class CheckSkipped(Exception):
    """Raised by a task check that does not apply (or whose prerequisite failed)."""


@dataclass(frozen=True)
class CheckRow:
    """One verdict: which plugin, which check, and why it failed or was skipped."""

    kind: str  # "task" | "runner" | "plugin" (could not even be loaded)
    plugin: str
    source: str
    check: str
    status: str  # passed | failed | skipped
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def describe(self) -> str:
        return f"{self.kind} {self.plugin!r} ({self.source}): {self.check}: {self.message}"


@dataclass
class PluginReport:
    """Every verdict for one checked target (a file, a module, a distribution, a class)."""

    target: str
    rows: list[CheckRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(row.failed for row in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [row for row in self.rows if row.failed]

    def plugins(self) -> list[tuple[str, str, str]]:
        """(kind, name, source) of every plugin in the report, in order of appearance."""
        seen: dict[tuple[str, str, str], None] = {}
        for row in self.rows:
            seen.setdefault((row.kind, row.plugin, row.source))
        return list(seen)


class _RecordingContext(EvalContext):
    """An EvalContext that also remembers the step numbers reported."""

    def __init__(self, pruner: Callable[[int, float], bool] | None = None) -> None:
        super().__init__(device="cpu", threads=1, precision="fp32", pruner=pruner)
        self.steps: list[Any] = []

    def report(self, step: int, value: float, seconds: float | None = None) -> None:
        self.steps.append(step)
        super().report(step, value, seconds)


@dataclass(frozen=True)
class _Evaluation:
    result: Result | None
    error: BaseException | None
    steps: tuple[Any, ...]
    reported: tuple[float, ...]
    config_after: Config


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fingerprint(evaluation: _Evaluation) -> str:
    """Every number an evaluation produced, as exact text (repr round-trips floats, NaN included)."""
    r = evaluation.result
    assert r is not None
    return repr((r.value, r.test_value, r.fidelity_spent, r.curve, evaluation.reported,
                 evaluation.steps))


class TaskConformance:
    """The conformance checks of one task class built with ``options`` (evaluations are shared).

    ``fidelity`` caps the fidelity of the "full" evaluations (default: the task's ``max_fidelity``),
    for tasks whose full evaluation is too slow to run four times.
    """

    CHECKS = ("declarations", "build", "space", "default_config", "evaluate", "deterministic",
              "curve", "fidelity", "pruning", "sampled", "optimum")

    def __init__(self, task_cls: type[Task], options: Mapping[str, Any] | None = None, *,
                 seed: int = 20240607, fidelity: int | None = None, samples: int = 3) -> None:
        self.cls = task_cls
        self.options = dict(options or {})
        self.seed = seed
        self.fidelity_cap = fidelity
        self.samples = samples

    # ------------------------------------------------------------------ shared state
    @cached_property
    def task(self) -> Task:
        try:
            return self.cls(**self.options)
        except Exception as exc:
            raise CheckFailed(f"cannot be built with options {self.options}: "
                              f"{type(exc).__name__}: {exc}") from exc

    def _need_task(self) -> Task:
        try:
            return self.task
        except CheckFailed:
            raise CheckSkipped("the task could not be built (see `build`)") from None

    @cached_property
    def space(self) -> Space:
        task = self._need_task()
        try:
            space = task.space
        except Exception as exc:
            raise CheckFailed(f"declares an invalid search space: {type(exc).__name__}: {exc}"
                              ) from exc
        if not isinstance(space, Space):
            raise CheckFailed(f"`space` must be a tunebench Space, got {type(space).__name__} "
                              f"{_short(space)}")
        return space

    def _need_space(self) -> Space:
        try:
            return self.space
        except CheckFailed:
            raise CheckSkipped("the space is invalid (see `space`)") from None

    @cached_property
    def default(self) -> Config:
        space = self._need_space()
        try:
            config = self.task.default_config()
        except Exception as exc:
            raise CheckFailed(f"default_config() raised {type(exc).__name__}: {exc}") from exc
        try:
            return space.validate(config)
        except ValueError as exc:
            raise CheckFailed(f"default_config() returned {_short(config)}, which is not in the "
                              f"space: {exc}") from exc

    def _need_default(self) -> Config:
        try:
            return self.default
        except CheckFailed:
            raise CheckSkipped("no valid default configuration (see `default_config`)") from None

    @property
    def full_fidelity(self) -> int:
        top = self._need_task().max_fidelity
        return min(top, self.fidelity_cap) if self.fidelity_cap else top

    def evaluate(self, config: Config, fidelity: int,
                 pruner: Callable[[int, float], bool] | None = None) -> _Evaluation:
        """One evaluation as the harness runs it (threads pinned to 1), never raising."""
        from tunebench.suite.study_setup import study_threads

        task = self._need_task()
        given = copy.deepcopy(config)
        context = _RecordingContext(pruner)
        result: Any = None
        error: BaseException | None = None
        try:
            with study_threads(1, bool(task.uses_torch)):
                result = task.evaluate(given, fidelity, self.seed, context)
        except Exception as exc:
            error = exc
        return _Evaluation(result, error, tuple(context.steps), tuple(context.curve), given)

    @cached_property
    def first(self) -> _Evaluation:
        return self.evaluate(self._need_default(), self.full_fidelity)

    @cached_property
    def good_first(self) -> _Evaluation:
        """The first evaluation of the default configuration, when it was well-formed."""
        try:
            self.check_evaluate()
        except CheckFailed:
            raise CheckSkipped("the default configuration did not evaluate cleanly "
                               "(see `evaluate`)") from None
        return self.first

    def _problem(self, evaluation: _Evaluation, config: Config, fidelity: int,
                 strict: bool) -> str:
        """What is wrong with one evaluation's result ("" when nothing); ``strict`` also asks for
        finite values and a test value (the default configuration must have them)."""
        result = evaluation.result
        if evaluation.error is not None and strict:
            exc = evaluation.error
            return (f"evaluating {config} at fidelity {fidelity} raised "
                    f"{type(exc).__name__}: {exc}")
        if evaluation.error is not None:
            return ""
        if not isinstance(result, Result):
            return (f"evaluate returned {type(result).__name__} {_short(result)}; it must return "
                    "tunebench.Result(value=..., test_value=...)")
        if strict and not math.isfinite(result.value):
            return (f"evaluate returned value={result.value!r} for {config} at fidelity "
                    f"{fidelity}; the default configuration must give a finite value")
        if strict and result.test_value is None:
            return ("evaluate returned no test value: set Result(test_value=...), the score "
                    "reports judge (the optimiser never sees it)")
        if strict and result.test_value is not None and not math.isfinite(result.test_value):
            return f"evaluate returned test_value={result.test_value!r}; it must be finite"
        spent = result.fidelity_spent
        if spent is not None and not (math.isfinite(spent) and 0 < spent <= fidelity):
            return (f"evaluate returned fidelity_spent={spent!r} when asked for fidelity "
                    f"{fidelity}; it must be above 0 and at most {fidelity} (the harness fails "
                    "the trial otherwise)")
        if len(result.curve) > fidelity:
            return (f"Result.curve has {len(result.curve)} values at fidelity {fidelity}; "
                    "one per step at most")
        if not isinstance(result.extra, Mapping):
            return f"Result.extra must be a dict, got {type(result.extra).__name__}"
        try:
            canonical_json(dict(result.extra))
        except (TypeError, ValueError) as exc:
            return (f"Result.extra {_short(result.extra)} is not plain JSON ({exc}): the harness "
                    "would store NaN/inf as strings and other objects as their repr; keep extra to "
                    "finite numbers, strings, lists and dicts")
        if evaluation.config_after != config:
            return (f"evaluate changed the configuration it was given, {config} became "
                    f"{evaluation.config_after}; copy it before changing it")
        return ""

    # ------------------------------------------------------------------ checks
    def check_declarations(self) -> None:
        cls = self.cls
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise CheckFailed(f"{cls.__name__} does not implement {missing}")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise CheckFailed(f"{cls.__name__} must declare `name`, a non-empty string without "
                              f"surrounding spaces (got {name!r})")
        for attribute in ("description", "metric"):
            value = getattr(cls, attribute, None)
            if not isinstance(value, str) or not value.strip():
                raise CheckFailed(f"{cls.__name__} must declare a non-empty `{attribute}` "
                                  f"(got {value!r})")
        if not isinstance(getattr(cls, "direction", None), Direction):
            raise CheckFailed(f"`direction` must be Direction.MINIMIZE or Direction.MAXIMIZE, got "
                              f"{getattr(cls, 'direction', None)!r}")
        top = getattr(cls, "max_fidelity", None)
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise CheckFailed(f"`max_fidelity` must be a positive integer, got {top!r}")
        if not isinstance(getattr(cls, "version", None), str):
            raise CheckFailed(f"`version` must be a string, got {getattr(cls, 'version', None)!r}")

    def check_build(self) -> None:
        self.task  # noqa: B018 - building is the check

    def check_space(self) -> None:
        space = self.space
        if len(space) == 0:
            raise CheckFailed("the space has no parameters: declare at least one")
        again = self.task.space
        if not isinstance(again, Space) or again.fingerprint() != space.fingerprint():
            raise CheckFailed("`space` returned a different space on the second call; build it "
                              "once (in __init__ or at module level)")
        try:
            rebuilt = Space.from_dict(json.loads(json.dumps(space.to_dict())))
        except Exception as exc:
            raise CheckFailed(f"the space does not survive its JSON form: {exc}") from exc
        if rebuilt != space:
            raise CheckFailed("the space changes when written to JSON and read back")

    def check_default_config(self) -> None:
        self.default  # noqa: B018 - validating is the check

    def check_evaluate(self) -> None:
        problem = self._problem(self.first, self._need_default(), self.full_fidelity, strict=True)
        if problem:
            raise CheckFailed(problem)

    def check_deterministic(self) -> None:
        first = self.good_first
        second = self.evaluate(self.default, self.full_fidelity)
        problem = self._problem(second, self.default, self.full_fidelity, strict=True)
        if problem:
            raise CheckFailed(f"second evaluation: {problem}")
        if _fingerprint(first) != _fingerprint(second):
            a, b = first.result, second.result
            assert a is not None and b is not None
            raise CheckFailed(
                f"the same (config, fidelity={self.full_fidelity}, seed={self.seed}) gave "
                f"value {a.value!r} then {b.value!r} (test {a.test_value!r} then {b.test_value!r}, "
                f"curve {_short(first.reported, 60)} then {_short(second.reported, 60)}); draw all "
                "randomness from the `seed` argument"
            )

    def check_curve(self) -> None:
        task = self._need_task()
        if task.max_fidelity == 1:
            raise CheckSkipped("single-fidelity task (max_fidelity = 1)")
        evaluation = self.good_first
        result = evaluation.result
        assert result is not None
        fidelity = self.full_fidelity
        steps = list(evaluation.steps)
        if not steps:
            raise CheckFailed(
                f"evaluate at fidelity {fidelity} never called context.report(step, value): a "
                "multi-fidelity task reports its validation value after every step so pruners "
                "can act")
        if steps != list(range(1, len(steps) + 1)):
            raise CheckFailed(f"context.report got steps {_short(steps, 60)}; they must be 1, 2, "
                              "…, k (one report per fidelity step)")
        if len(steps) > fidelity:
            raise CheckFailed(f"asked for fidelity {fidelity}, the task reported {len(steps)} steps")
        spent = result.fidelity_spent if result.fidelity_spent is not None else fidelity
        if len(steps) != spent:
            raise CheckFailed(f"the task reported {len(steps)} steps but says it spent {spent} "
                              "(Result.fidelity_spent): they must agree")
        if result.curve and tuple(result.curve) != evaluation.reported:
            raise CheckFailed(f"Result.curve {_short(result.curve, 60)} differs from the values "
                              f"reported through the context {_short(evaluation.reported, 60)}")

    def check_fidelity(self) -> None:
        task = self._need_task()
        if task.max_fidelity == 1:
            raise CheckSkipped("single-fidelity task (max_fidelity = 1)")
        self.good_first  # noqa: B018 - only meaningful when evaluation works at all
        evaluation = self.evaluate(self.default, 1)
        problem = self._problem(evaluation, self.default, 1, strict=True)
        if problem:
            raise CheckFailed(f"at fidelity 1: {problem}")
        assert evaluation.result is not None
        if len(evaluation.steps) > 1:
            raise CheckFailed(f"asked for fidelity 1, the task reported steps "
                              f"{_short(list(evaluation.steps), 60)}: it must stop at the "
                              "fidelity it is given")

    def check_pruning(self) -> None:
        task = self._need_task()
        if task.max_fidelity == 1:
            raise CheckSkipped("single-fidelity task (max_fidelity = 1)")
        self.good_first  # noqa: B018 - only meaningful when evaluation works at all
        pruned = self.evaluate(self.default, self.full_fidelity, pruner=lambda step, value: True)
        if isinstance(pruned.error, TrialPruned):
            if len(pruned.steps) != 1:
                raise CheckFailed(f"the task went on reporting after being pruned "
                                  f"(steps {list(pruned.steps)})")
            return
        if pruned.error is not None:
            raise CheckFailed(
                f"the pruner stopped the trial after step 1, but evaluate raised "
                f"{type(pruned.error).__name__}: {pruned.error} instead of letting TrialPruned "
                "through")
        raise CheckFailed("the pruner stopped the trial after step 1, but evaluate went on and "
                          "returned: let the TrialPruned raised by context.report propagate "
                          "(do not catch Exception around training)")

    @cached_property
    def sampled(self) -> list[tuple[Config, _Evaluation]]:
        space = self._need_space()
        rng = np.random.default_rng(self.seed)
        out = []
        for _ in range(self.samples):
            config = space.sample(rng)
            out.append((config, self.evaluate(config, 1)))
        return out

    def check_sampled(self) -> None:
        if self.samples < 1:
            raise CheckSkipped("no samples asked for")
        raised = []
        for config, evaluation in self.sampled:
            problem = self._problem(evaluation, config, 1, strict=False)
            if problem:
                raise CheckFailed(f"for {config}: {problem}")
            if evaluation.error is not None:
                raised.append(f"{config}: {type(evaluation.error).__name__}: {evaluation.error}")
        if len(raised) == len(self.sampled):
            raise CheckFailed(f"every one of {len(raised)} random configurations raised, e.g. "
                              f"{raised[0]}")

    def check_optimum(self) -> None:
        task = self._need_task()
        try:
            optimum = task.optimum
        except Exception as exc:
            raise CheckFailed(f"`optimum` raised {type(exc).__name__}: {exc}") from exc
        if optimum is None:
            raise CheckSkipped("no optimum declared")
        if isinstance(optimum, bool) or not isinstance(optimum, (int, float)) \
                or not math.isfinite(optimum):
            raise CheckFailed(f"`optimum` must be a finite number or None, got {optimum!r}")
        if not task.optimum_is_exact:
            return
        values = []
        if self.first.result is not None and isinstance(self.first.result, Result):
            values.append((self.default, self.first.result.value))
        for config, evaluation in self.sampled:
            if isinstance(evaluation.result, Result):
                values.append((config, evaluation.result.value))
        tolerance = 1e-9 * max(1.0, abs(optimum))
        for config, value in values:
            if math.isfinite(value) and task.direction.better(value, optimum) \
                    and abs(value - optimum) > tolerance:
                raise CheckFailed(f"{config} scored {value!r}, better than the declared exact "
                                  f"optimum {optimum!r}: fix the optimum or set "
                                  "optimum_is_exact = False")

    # ------------------------------------------------------------------ running
    def run(self, check: str) -> None:
        if check not in self.CHECKS:
            raise ValueError(f"unknown check {check!r}; choose from {self.CHECKS}")
        getattr(self, f"check_{check}")()

    def run_all(self) -> list[tuple[str, str, str]]:
        """(check, status, message) for every check, in order."""
        out = []
        for check in self.CHECKS:
            try:
                self.run(check)
            except CheckSkipped as exc:
                out.append((check, SKIPPED, str(exc)))
            except CheckFailed as exc:
                out.append((check, FAILED, str(exc)))
            except Exception as exc:  # the task crashed somewhere a check did not expect
                out.append((check, FAILED, f"{type(exc).__name__}: {exc}"))
            else:
                out.append((check, PASSED, ""))
        return out


# ---------------------------------------------------------------------------- one class, any kind
def class_source(cls: type) -> str:
    return f"class {cls.__module__}.{cls.__qualname__}"


def _plugin_name(cls: type) -> str:
    name = getattr(cls, "name", None)
    return name if isinstance(name, str) and name else cls.__name__


def check_class(cls: type, options: Mapping[str, Any] | None = None, *, source: str | None = None,
                fidelity: int | None = None, samples: int = 3, trials: int = 30
                ) -> list[CheckRow]:
    """Run every conformance check on a Task or Runner class; one row per check."""
    source = source or class_source(cls)
    name = _plugin_name(cls)
    if inspect.isclass(cls) and issubclass(cls, Task):
        checks = TaskConformance(cls, options, fidelity=fidelity, samples=samples)
        return [CheckRow("task", name, source, check, status, message)
                for check, status, message in checks.run_all()]
    if inspect.isclass(cls) and issubclass(cls, Runner):
        from tunebench.runners.conformance import Conformance

        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            return [CheckRow("runner", name, source, "declarations", FAILED,
                             f"{cls.__name__} does not implement {missing}")]
        results = Conformance(cls, options, trials=trials).run_all()
        return [CheckRow("runner", name, source, r.name, r.status, r.message) for r in results]
    return [CheckRow("plugin", getattr(cls, "__name__", repr(cls)), source, "load", FAILED,
                     f"{_short(cls)} is neither a tunebench Task nor a Runner subclass")]


def assert_conforms(cls: type, options: Mapping[str, Any] | None = None, **settings: Any) -> None:
    """Raise :class:`PluginCheckError` naming the plugin and every failed check (for plugin tests).

    ``settings``: ``fidelity`` (cap for tasks), ``samples`` (tasks), ``trials`` (runners).
    """
    failures = [row for row in check_class(cls, options, **settings) if row.failed]
    if failures:
        raise PluginCheckError("\n".join(row.describe() for row in failures))
