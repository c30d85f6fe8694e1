"""What a study needs before its loop runs: its task and seeded runner, and its fixed threads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tunebench.runners.base import Runner
from tunebench.suite.objectives import study_objectives
from tunebench.suite.spec import StudySpec
from tunebench.tasks.base import Task
from tunebench.threadpools import limit_threads


def build_study_objects(study: StudySpec) -> tuple[Task, Runner]:
    """The task and the freshly seeded runner of a study (plugins loaded first)."""
    from tunebench.registry import load_plugin_file, make_runner, make_task

    for plugin in study.plugins:
        load_plugin_file(plugin)
    task = make_task(study.task.name, study.task.options)
    runner = make_runner(
        study.runner.name, task.space, task.direction, study.runner_seed,
        study.budget.info_for(task, study.settings.in_flight,
                              study_objectives(task, study.task.objectives,
                                               study.task.references)),
        study.runner.options,
    )
    return task, runner


@contextlib.contextmanager
def study_threads(threads: int, uses_torch: bool) -> Iterator[None]:
    """Pin BLAS (and torch) threads for the study: thread count changes numbers, so it is fixed."""
    previous_torch = None
    if uses_torch:
        import torch

        previous_torch = torch.get_num_threads()
        torch.set_num_threads(threads)
    with limit_threads(threads):
        try:
            yield
        finally:
            if previous_torch is not None:
                import torch

                torch.set_num_threads(previous_torch)
