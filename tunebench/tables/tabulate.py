"""`tunebench tabulate`: evaluate a design at every fidelity step, into a table anyone can verify.

Each (configuration, seed) is evaluated **once, at the task's maximum fidelity**, and the curve it
reports step by step is what the table holds for every step: for a task whose step *k* does not
depend on the fidelity asked for (linreg's learning-rate schedules depend on the epoch only),
that is what an evaluation at fidelity *k* computes, at a fraction of evaluating every fidelity
apart. The test set is scored at the end of an evaluation, so only the last step has a test
value — unless the table is built with ``every_fidelity``: then each (configuration, seed) is
also evaluated at every lower fidelity, whose test and returned values fill those steps (the
triangular cost, about ``max_fidelity / 2`` times as many steps), so a study of the replay at any
fidelity has the test values the real task would give it.

Evaluations run as a study's would (:mod:`tunebench.tables.evaluate`), with the task's warm-up
before any of them, and through the evaluation cache when one is given (``--cache``, by default
``tunebench-cache.db`` beside the output): an interrupted tabulation re-run trains nothing twice.
Verification never uses the cache.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebench.tables.design import Design, make_design
from tunebench.tables.evaluate import CachedEvaluations, EvalSettings, fresh_evaluator, tabulated
from tunebench.tables.format import TABLE_FORMAT, Evaluation, same_bits, write_table
from tunebench.tasks.base import Task

#: Seeds one table may hold (a typo guard).
MAX_SEEDS = 1000


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


def provenance(task: Task, task_name: str, options: Mapping[str, Any], design: Design,
               seeds: list[int], settings: EvalSettings, evaluations: Sequence[Evaluation],
               every_fidelity: bool = False) -> dict[str, Any]:
    """The table's metadata: everything needed to rebuild and to verify it (``given_options``:
    what the command line gave, which builds the same task again)."""
    from tunebench.suite.cache import numerics_settings, resolved_task_options, task_code_hash
    from tunebench.suite.environment import capture_environment
    from tunebench.versions import package_version

    environment = capture_environment()
    environment.pop("hostname", None)  # a shipped table names no machine
    return {
        "format": TABLE_FORMAT,
        "task": {"name": task_name, "options": resolved_task_options(task),
                 "given_options": dict(options), "version": str(task.version),
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
                                   "each step is its reported curve" + (
                                       "; and one at every lower fidelity for its test and "
                                       "returned values" if every_fidelity else ""),
                       "every_fidelity": every_fidelity,
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
             every_fidelity: bool = False,
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
    cached = None if cache is None else CachedEvaluations(cache, task, task_name, options, settings)
    evaluate = cached if cached is not None else fresh_evaluator(task, settings)
    evaluations: list[Evaluation] = []
    total = len(the_design.configs) * len(seeds)
    with study_threads(settings.threads, task.uses_torch):
        warm_up_once(task, device, settings, time.perf_counter)
        for seed in seeds:
            for config_id, config in enumerate(the_design.configs):
                evaluations.append(tabulated(evaluate, config, seed, config_id,
                                             int(task.max_fidelity), every_fidelity))
                if progress is not None:
                    progress(len(evaluations), total)
    meta = provenance(task, task_name, options, the_design, seeds, settings, evaluations,
                      every_fidelity)
    write_table(out, meta, evaluations)
    return TabulateSummary(Path(out), len(evaluations), len(the_design.configs), len(seeds),
                           0 if cached is None else cached.hits,
                           sum(e.error is not None for e in evaluations),
                           time.perf_counter() - started, Path(out).stat().st_size)
