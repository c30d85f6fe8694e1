"""`tunebench tabulate`: evaluate a design at every fidelity step, into a table anyone can verify.

Each (configuration, seed) is evaluated **once, at the task's maximum fidelity**, and the curve it
reports step by step is what the table holds for every step: for a task whose step *k* does not
depend on the fidelity asked for (linreg's learning-rate schedules depend on the epoch only),
that is what an evaluation at fidelity *k* computes, at a fraction of evaluating every fidelity
apart. The test set is scored once, at the end, so only the last step has a test value.

Evaluations run as a study's would: threads pinned (``settings.threads``, 1 unless asked), the
study's device and precision, the task's warm-up outside any timing, uncharged work (data loading,
test scoring) left out of the costs, a diverged run stored as a failure with its message. Costs
are charged seconds measured at each ``context.report`` (cumulative from the evaluation's start);
a task that reports no steps gets its evaluation's seconds.

**Through the evaluation cache**: with a cache (``--cache``, by default ``tunebench-cache.db``
beside the output), each evaluation is looked up by the very key a suite's study would use
(task, options, version, code hash, numerics, configuration, fidelity, seed) and stored there: a
re-run after an interruption, or a larger design, trains nothing twice, and a suite that asks for
the same evaluation is served it. A hit has no per-step times, so its costs are its evaluation
seconds spread evenly over its steps (``cost_per_step`` false). Verification never uses the cache.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.space import Config, keyed_json
from tunebench.tables.design import Design, make_design
from tunebench.tables.format import TABLE_FORMAT, Evaluation, same_bits, write_table
from tunebench.tasks.base import Diverged, EvalContext, Task

#: Seeds one table may hold (a typo guard).
MAX_SEEDS = 1000


@dataclass
class _TimedContext(EvalContext):
    """An evaluation context that stamps each reported step with the charged seconds so far."""

    started: float = 0.0
    stamps: list[float] = field(default_factory=list)

    def report(self, step: int, value: float) -> None:
        super().report(step, value)
        self.stamps.append(time.perf_counter() - self.started - self.uncharged_seconds)


@dataclass(frozen=True)
class EvalSettings:
    """Where evaluations run: the study settings that change numbers (part of the cache key)."""

    device: str = "auto"
    threads: int = 1
    precision: str = "auto"


def evaluate_at_max(task: Task, config: Config, seed: int, settings: EvalSettings,
                    config_id: int = 0) -> Evaluation:
    """One fresh evaluation of ``config`` at the task's maximum fidelity, as a table holds it."""
    return _fresh(task, config, seed, settings, config_id)[0]


def _fresh(task: Task, config: Config, seed: int, settings: EvalSettings,
           config_id: int) -> tuple[Evaluation, float]:
    """A fresh evaluation and its CPU seconds (what the cache records beside the wall seconds)."""
    from tunebench.suite.records import checked_result

    context = _TimedContext(device=settings.device, threads=settings.threads,
                            precision=settings.precision)
    fidelity = int(task.max_fidelity)
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
        costs, per_step = _spread(seconds, len(values)), False
    if error is None:
        costs[-1] = seconds  # the last step's cost is the whole evaluation's charge
    else:
        costs.append(seconds)  # the failure row's
    config_json, key = keyed_json(config)
    return Evaluation(config_id, key, config_json, seed, values, costs, per_step,
                      None if result is None else result[1], None if result is None else result[0],
                      error), cpu


def _spread(seconds: float, steps: int) -> list[float]:
    return [seconds * k / steps for k in range(1, steps + 1)]


class _CachedEvaluations:
    """The evaluation cache as a study would use it, for one task's evaluations at max fidelity."""

    def __init__(self, cache: Any, task: Task, task_name: str, options: Mapping[str, Any],
                 settings: EvalSettings) -> None:
        from tunebench.suite.budget import Budget
        from tunebench.suite.spec import RunnerSpec, Settings, StudySpec, TaskSpec

        self.cache, self.task = cache, task
        self.study = StudySpec(
            suite="tabulate", task=TaskSpec(task_name, task_name, dict(options)),
            runner=RunnerSpec("random", "random"), repetition=0, eval_seed=0, runner_seed=0,
            budget=Budget("trials", 1), settings=Settings(threads=settings.threads,
                                                          precision=settings.precision))
        self.settings = settings

    def evaluate(self, config: Config, seed: int, config_id: int) -> tuple[Evaluation, bool]:
        """The evaluation (from the cache when it holds it) and whether it was a hit."""
        from dataclasses import replace

        from tunebench.runners.base import Status

        study = replace(self.study, eval_seed=seed)
        config_json, key = keyed_json(config)
        fidelity = int(self.task.max_fidelity)
        context = EvalContext(device=self.settings.device, threads=self.settings.threads,
                              precision=self.settings.precision)
        record = self.cache.lookup(self.task, study, key, fidelity, context)
        if record is not None:
            values = list(record.curve)
            failed = record.status is not Status.OK
            costs = _spread(record.eval_seconds, len(values) + failed)
            return Evaluation(config_id, key, config_json, seed, values, costs, False,
                              None if failed else record.test_value,
                              None if failed else record.value, record.error), True
        evaluation, cpu = _fresh(self.task, config, seed, self.settings, config_id)
        context.curve = list(evaluation.values) if evaluation.cost_per_step else []  # reported
        self.cache.store(self.task, study, _record(evaluation, config, fidelity, cpu), context)
        return evaluation, False


def _record(evaluation: Evaluation, config: Config, fidelity: int, cpu: float) -> Any:
    """The evaluation as the study loop's record of it (what the cache stores)."""
    from tunebench.runners.base import Status
    from tunebench.suite.budget import trained_steps
    from tunebench.suite.records import TrialRecord

    ok = evaluation.error is None
    seconds = evaluation.costs[-1] if evaluation.costs else 0.0
    return TrialRecord(
        number=0, config=config, config_key=evaluation.config_key,
        status=Status.OK if ok else Status.FAILED, value=evaluation.result_value,
        test_value=evaluation.test_value, fidelity=fidelity,
        fidelity_spent=float(len(evaluation.values) if ok
                             else trained_steps(len(evaluation.values), None, fidelity)),
        curve=tuple(evaluation.values), eval_seconds=seconds, cpu_seconds=cpu,
        optimizer_seconds=0.0, charge=0.0, error=evaluation.error)


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """The table's seeds, checked: distinct non-negative integers, at least one."""
    from tunebench.registry import check_seed

    if not seeds:
        raise ValueError("--seeds needs at least one evaluation seed, e.g. --seeds 0,1,2")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"--seeds: at most {MAX_SEEDS} seeds, got {len(seeds)}")
    checked = [check_seed(s) for s in seeds]
    if len(set(checked)) != len(checked):
        raise ValueError(f"--seeds must be distinct, got {list(seeds)}")
    return checked


def value_rule(task: Task, evaluations: Sequence[Evaluation]) -> str:
    """What a complete evaluation returns, judged over the table: its ``last`` step's value, its
    ``best`` so far (trained tasks restore their best epoch), or something else (``returned``)."""
    complete = [e for e in evaluations if e.error is None and e.values]
    if all(same_bits(e.result_value, e.values[-1]) for e in complete):
        return "last"
    pick = min if task.direction.sign > 0 else max
    if all(same_bits(e.result_value, pick(e.values)) for e in complete):
        return "best"
    return "returned"


def provenance(task: Task, task_name: str, design: Design, seeds: list[int],
               settings: EvalSettings, evaluations: Sequence[Evaluation]) -> dict[str, Any]:
    """The table's metadata: everything needed to rebuild and to verify it."""
    from tunebench.suite.cache import numerics_settings, resolved_task_options, task_code_hash
    from tunebench.suite.environment import capture_environment
    from tunebench.versions import package_version

    environment = capture_environment()
    environment.pop("hostname", None)  # a shipped table names no machine
    return {
        "format": TABLE_FORMAT,
        "task": {"name": task_name, "options": resolved_task_options(task),
                 "given_options": task.options(), "version": str(task.version),
                 "code_hash": task_code_hash(type(task)), "metric": task.metric,
                 "direction": str(task.direction), "max_fidelity": int(task.max_fidelity),
                 "min_fidelity": int(task.min_fidelity), "fidelity_unit": task.fidelity_unit,
                 "space": task.space.to_dict(), "space_fingerprint": task.space.fingerprint()},
        "seeds": seeds, "design": design.to_dict(),
        "settings": {"device": settings.device, "threads": settings.threads,
                     "precision": settings.precision},
        "numerics": numerics_settings(task.uses_torch, settings.device, settings.threads,
                                      settings.precision),
        "evaluation": {"fidelity": "one evaluation at max_fidelity per (configuration, seed); "
                                   "each step is its reported curve",
                       "value_rule": value_rule(task, evaluations),
                       "failed": sum(e.error is not None for e in evaluations)},
        "tunebench_version": package_version("tunebench"), "environment": environment,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@dataclass
class TabulateSummary:
    """What one tabulation did."""

    path: Path
    evaluations: int
    configs: int
    seeds: int
    cache_hits: int
    failed: int
    seconds: float
    bytes: int


def tabulate(task_name: str, options: Mapping[str, Any], *, n: int, seeds: Sequence[int],
             out: str | os.PathLike[str], design: str = "sobol", design_seed: int = 0,
             settings: EvalSettings = EvalSettings(), cache: Any = None,
             progress: Callable[[int, int], None] | None = None) -> TabulateSummary:
    """Evaluate the design on every seed and write the table to ``out`` (see the module doc)."""
    from tunebench.devices import resolve_device
    from tunebench.registry import make_task
    from tunebench.suite.limits import warm_up_once
    from tunebench.suite.study_setup import study_threads

    started = time.perf_counter()
    task = make_task(task_name, dict(options))
    seeds = check_seeds(list(seeds))
    the_design = make_design(design, task.space, n, design_seed)
    device = resolve_device(settings.device, task.uses_torch)
    settings = EvalSettings(device, settings.threads, settings.precision)
    cached = None if cache is None else _CachedEvaluations(cache, task, task_name, options, settings)
    evaluations: list[Evaluation] = []
    hits = 0
    total = len(the_design.configs) * len(seeds)
    with study_threads(settings.threads, task.uses_torch):
        warm_up_once(task, device, settings, time.perf_counter)
        for seed in seeds:
            for config_id, config in enumerate(the_design.configs):
                if cached is None:
                    evaluation = evaluate_at_max(task, config, seed, settings, config_id)
                else:
                    evaluation, hit = cached.evaluate(config, seed, config_id)
                    hits += hit
                evaluations.append(evaluation)
                if progress is not None:
                    progress(len(evaluations), total)
    write_table(out, provenance(task, task_name, the_design, seeds, settings, evaluations),
                evaluations)
    return TabulateSummary(Path(out), len(evaluations), len(the_design.configs), len(seeds), hits,
                           sum(e.error is not None for e in evaluations),
                           time.perf_counter() - started, Path(out).stat().st_size)
