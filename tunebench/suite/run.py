"""Running a suite: the driver that plans studies, hands them to an executor and stores results.

The driver is the store's only writer. A second run of the same suite against the same file
resumes: finished studies are skipped, unfinished ones replay their stored trials into a freshly
seeded runner and continue, so the outcome equals an uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from tunebench.registry import make_task
from tunebench.suite.executors import Executor, StudyJob, make_executor
from tunebench.suite.progress import RunProgress
from tunebench.suite.sink import StoreSink
from tunebench.suite.spec import StudySpec, SuiteSpec, load_suite, study_label
from tunebench.suite.store import ResultStore
from tunebench.suite.study import EvaluationCache
from tunebench.tasks.base import Direction, Task


@dataclass
class RunSummary:
    """What a call of :func:`run_suite` did."""

    db: Path
    suite: str
    studies_total: int
    studies_skipped: int = 0
    studies_run: int = 0
    trials_run: int = 0
    seconds: float = 0.0
    failed_studies: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed_studies


def run_suite(suite: str | Path | Mapping[str, Any] | SuiteSpec, db: str | Path, *,
              executor: str | Executor = "serial", workers: int = 1, append: bool = False,
              cache: EvaluationCache | None = None, progress: bool = True,
              console: Console | None = None, **executor_options: Any) -> RunSummary:
    """Run (or resume) a suite into the results store at ``db``.

    ``suite`` is a suite file, the name of a shipped suite (``"quick"``), a dict as read from TOML,
    or a :class:`SuiteSpec`. ``append`` allows a different suite in a store that already has one.
    """
    spec = suite if isinstance(suite, SuiteSpec) else load_suite(suite)
    chosen = executor if not isinstance(executor, str) else make_executor(
        executor, workers, **executor_options)
    started = time.perf_counter()
    db = Path(db)
    studies = spec.studies()
    summary = RunSummary(db=db, suite=spec.name, studies_total=len(studies))
    with ResultStore(db) as store:
        suite_id = store.register_suite(spec, allow_other_suites=append)
        jobs, study_ids, directions = _plan(store, suite_id, spec, studies)
        summary.studies_skipped = len(studies) - len(jobs)
        with RunProgress(len(studies), enabled=progress, console=console) as bar:
            bar.skip(summary.studies_skipped)
            sink = StoreSink(store, study_ids, bar, directions)
            try:
                chosen.run(jobs, sink, cache=cache)
            finally:
                summary.trials_run, summary.studies_run = sink.trials_run, sink.studies_run
                summary.failed_studies = {study_label(k): e for k, e in sink.failed.items()}
    summary.seconds = time.perf_counter() - started
    return summary


def _plan(store: ResultStore, suite_id: int, spec: SuiteSpec, studies: list[StudySpec]
          ) -> tuple[list[StudyJob], dict[tuple[str, str, int], int], dict[str, Direction]]:
    """Register every study; return the unfinished ones with their stored history."""
    tasks = {t.label: make_task(t.name, t.options) for t in spec.tasks}
    directions = {label: task.direction for label, task in tasks.items()}
    jobs: list[StudyJob] = []
    study_ids: dict[tuple[str, str, int], int] = {}
    for study in studies:
        task = tasks[study.task.label]
        study_id = store.ensure_study(suite_id, study, str(task.direction),
                                      task.optimum_for_seed(study.eval_seed), task.optimum_is_exact)
        study_ids[study.key] = study_id
        if store.study_status(study_id) != "done":
            history = tuple(store.history(study_id))
            if history:
                _check_versions(store, study_id, study, task)
            jobs.append(StudyJob(study, history))
    return jobs, study_ids, directions


def _short(code_hash: str | None) -> str | None:
    return code_hash[:12] if code_hash else code_hash


class ResumeError(ValueError):
    """Resuming would mix trials from two versions of a task or a library in one study."""


def _check_versions(store: ResultStore, study_id: int, study: StudySpec, task: Task) -> None:
    """Refuse to continue a study whose stored trials came from another task or library version."""
    from tunebench.registry import get_runner_class
    from tunebench.suite.cache import task_code_hash

    stored_runner, stored_task, stored_code = store.study_versions(study_id)
    current_runner = get_runner_class(study.runner.name).version()
    current_code = task_code_hash(type(task))
    changes = [f"{what} {old} → {new}" for what, old, new in (
        (f"runner {study.runner.name!r} library version", stored_runner, current_runner),
        (f"task {study.task.name!r} version", stored_task, task.version),
        (f"task {study.task.name!r} source code (hash)", _short(stored_code), _short(current_code)),
    ) if old is not None and old != new]
    if changes:
        raise ResumeError(
            f"{study.describe()} has stored trials from another version ({'; '.join(changes)}); "
            "resuming would mix both in one study. Run into a new --db, or go back to the "
            "version that produced the stored trials."
        )
