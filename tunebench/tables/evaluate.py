"""Evaluations as a table holds them: run as a study would, measured per step, cached by key.

An evaluation runs as a study's would: threads pinned by the caller (``settings.threads``), the
study's device and precision, uncharged work (data loading, test scoring) left out of the costs,
a diverged run kept as a failure with the message the study loop would store. Costs are charged
seconds read at each ``context.report`` (cumulative from the evaluation's start; the last step's
is the whole evaluation's); a task that reports no steps gets its evaluation's seconds.

**The evaluation cache**: :class:`CachedEvaluations` looks each evaluation up by the very key a
suite's study would use (task, options, version, code hash, numerics, configuration, fidelity,
seed) and stores what it runs, as the study loop's record of it: a re-run after an interruption
trains nothing twice, and a suite asking for the same evaluation is served it. A hit has no
per-step times, so its costs are its evaluation seconds spread evenly (``cost_per_step`` false).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tunebench.space import Config, keyed_json
from tunebench.tables.format import Evaluation
from tunebench.tasks.base import Diverged, EvalContext, Task

#: ``(config, seed, config_id, fidelity) -> Evaluation``: fresh, or through the cache.
Evaluate = Callable[[Config, int, int, int], Evaluation]


@dataclass(frozen=True)
class EvalSettings:
    """Where evaluations run: the study settings that change numbers (part of the cache key)."""

    device: str = "auto"
    threads: int = 1
    precision: str = "auto"


@dataclass
class _TimedContext(EvalContext):
    """An evaluation context that stamps each reported step with the charged seconds so far."""

    started: float = 0.0
    stamps: list[float] = field(default_factory=list)

    def report(self, step: int, value: float, seconds: float | None = None) -> None:
        super().report(step, value, seconds)
        self.stamps.append(time.perf_counter() - self.started - self.uncharged_seconds)


def fresh(task: Task, config: Config, seed: int, settings: EvalSettings, config_id: int,
          fidelity: int) -> tuple[Evaluation, float]:
    """A fresh evaluation at ``fidelity`` and its CPU seconds (the cache records both)."""
    from tunebench.suite.records import checked_result

    context = _TimedContext(device=settings.device, threads=settings.threads,
                            precision=settings.precision)
    error: str | None = None
    result: tuple[float, float | None, tuple[float, ...]] | None = None
    cpu0 = time.process_time()
    context.started = time.perf_counter()
    try:
        returned = task.evaluate(dict(config), fidelity, seed, context)
        value, test_value, _, curve, _ = checked_result(returned, fidelity)
        result = (value, test_value, curve)
    except Diverged as exc:
        error = f"Diverged: {exc}"
    except Exception as exc:  # a failing evaluation is a result, stored as the study loop would
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - context.started - context.uncharged_seconds
    cpu = time.process_time() - cpu0 - context.uncharged_cpu_seconds
    values, costs, per_step = list(context.curve), list(context.stamps), True
    if result is not None and not math.isfinite(result[0]):
        error, result = f"NonFiniteValue: the task returned {result[0]!r}", None
    if result is not None and not values:  # a task that reports no steps: its returned curve
        values = list(result[2]) or [result[0]]
        costs, per_step = spread(seconds, len(values)), False
    if error is None:
        costs[-1] = seconds  # the last step's cost is the whole evaluation's charge
    else:
        costs.append(seconds)  # the failure row's
    test, value = (None, None) if result is None else (result[1], result[0])
    return _evaluation(config, seed, config_id, values, costs, per_step, test, value, error), cpu


def _evaluation(config: Config, seed: int, config_id: int, values: list[float],
                costs: list[float], per_step: bool, test: float | None, value: float | None,
                error: str | None) -> Evaluation:
    """An evaluation whose test and returned values belong to its last step (if it completed)."""
    config_json, key = keyed_json(config)
    last = [None] * max(len(values) - 1, 0)
    tests, results = ([*last, test], [*last, value]) if error is None else (
        [None] * len(values), [None] * len(values))
    return Evaluation(config_id, key, config_json, seed, values, costs, per_step, tests, results,
                      error)


def spread(seconds: float, steps: int) -> list[float]:
    """``seconds`` spread evenly over ``steps`` steps, cumulatively."""
    return [seconds * k / steps for k in range(1, steps + 1)]


def tabulated(evaluate: Evaluate, config: Config, seed: int, config_id: int, max_fidelity: int,
              every_fidelity: bool) -> Evaluation:
    """What a table holds of ``config`` at ``seed``: one evaluation at ``max_fidelity``, and with
    ``every_fidelity`` one at each fidelity before its last step too, whose test and returned
    values fill those steps (an evaluation at a fidelity that fails leaves its step empty)."""
    evaluation = evaluate(config, seed, config_id, max_fidelity)
    if every_fidelity:
        before = len(evaluation.values) - (evaluation.error is None)
        for fidelity in range(1, before + 1):
            shorter = evaluate(config, seed, config_id, fidelity)
            evaluation.tests[fidelity - 1] = shorter.test_value
            evaluation.results[fidelity - 1] = shorter.result_value
    return evaluation


class CachedEvaluations:
    """The evaluation cache as a study would use it, for one task's evaluations."""

    def __init__(self, cache: Any, task: Task, task_name: str, options: Mapping[str, Any],
                 settings: EvalSettings) -> None:
        from tunebench.suite.budget import Budget
        from tunebench.suite.spec import RunnerSpec, Settings, StudySpec, TaskSpec

        self.cache, self.task, self.settings = cache, task, settings
        self.hits = 0
        self.study = StudySpec(
            suite="tabulate", task=TaskSpec(task_name, task_name, dict(options)),
            runner=RunnerSpec("random", "random"), repetition=0, eval_seed=0, runner_seed=0,
            budget=Budget("trials", 1), settings=Settings(threads=settings.threads,
                                                          precision=settings.precision))

    def __call__(self, config: Config, seed: int, config_id: int, fidelity: int) -> Evaluation:
        """The evaluation, from the cache when it holds it (counted in :attr:`hits`)."""
        from tunebench.runners.base import Status

        study = replace(self.study, eval_seed=seed)
        key = keyed_json(config)[1]
        context = EvalContext(device=self.settings.device, threads=self.settings.threads,
                              precision=self.settings.precision)
        record = self.cache.lookup(self.task, study, key, fidelity, context)
        if record is not None:
            self.hits += 1
            values = list(record.curve)
            failed = record.status is not Status.OK
            return _evaluation(config, seed, config_id, values,
                               spread(record.eval_seconds, len(values) + failed), False,
                               record.test_value, record.value, record.error)
        evaluation, cpu = fresh(self.task, config, seed, self.settings, config_id, fidelity)
        context.curve = list(evaluation.values) if evaluation.cost_per_step else []  # reported
        self.cache.store(self.task, study, _record(evaluation, config, fidelity, cpu), context)
        return evaluation


def _record(evaluation: Evaluation, config: Config, fidelity: int, cpu: float) -> Any:
    """The evaluation as the study loop's record of it (what the cache stores)."""
    from tunebench.runners.base import Status
    from tunebench.suite.budget import trained_steps
    from tunebench.suite.records import TrialRecord

    ok = evaluation.error is None
    spent = len(evaluation.values) if ok else trained_steps(len(evaluation.values), None, fidelity)
    return TrialRecord(
        number=0, config=config, config_key=evaluation.config_key,
        status=Status.OK if ok else Status.FAILED, value=evaluation.result_value,
        test_value=evaluation.test_value, fidelity=fidelity, fidelity_spent=float(spent),
        curve=tuple(evaluation.values), eval_seconds=evaluation.costs[-1], cpu_seconds=cpu,
        optimizer_seconds=0.0, charge=0.0, error=evaluation.error)


def fresh_evaluator(task: Task, settings: EvalSettings) -> Evaluate:
    """Evaluations run afresh, never from a cache (what verification uses)."""

    def evaluate(config: Config, seed: int, config_id: int, fidelity: int) -> Evaluation:
        return fresh(task, config, seed, settings, config_id, fidelity)[0]

    return evaluate
