"""Running a suite: the driver that plans studies, hands them to an executor and stores results.

The driver is the store's only writer. A second run of the same suite against the same file
resumes: finished studies are skipped, unfinished ones replay their stored trials into a freshly
seeded runner and continue, so the outcome equals an uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from tunebench.registry import make_task
from tunebench.suite.executors import Executor, StudyJob, make_executor
from tunebench.suite.objectives import objectives_record
from tunebench.suite.progress import RunProgress
from tunebench.suite.sink import StoreSink
from tunebench.suite.spec import StudySpec, SuiteSpec, study_label, with_repetitions, with_seed
from tunebench.suite.spec_parse import load_suite
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
    #: unfinished studies that ``only`` left for later
    studies_left_out: int = 0
    studies_run: int = 0
    trials_run: int = 0
    seconds: float = 0.0
    failed_studies: dict[str, str] = field(default_factory=dict)
    #: "task × runner" → which repetitions repeat an earlier one's trial sequence exactly
    identical_repetitions: dict[str, str] = field(default_factory=dict)
    #: study → budget its runner left unspent because it had nothing left to propose
    search_exhausted: dict[str, float] = field(default_factory=dict)
    #: this process's PYTHONHASHSEED when studies ran in it (serial executor); None: randomised
    python_hash_seed: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed_studies

    def warnings(self) -> list[str]:
        """What a user must know before reading the results, one sentence each."""
        out = [f"{pair}: {what}" for pair, what in self.identical_repetitions.items()]
        by_pair: dict[str, list[tuple[str, float]]] = {}
        for label, left in self.search_exhausted.items():
            pair, _, repetition = label.rpartition(" ")
            by_pair.setdefault(pair, []).append((repetition, left))
        for pair, studies in by_pair.items():
            lefts = sorted({left for _, left in studies})
            amount = f"{lefts[0]:g}" if len(lefts) == 1 else f"{lefts[0]:g} to {lefts[-1]:g}"
            out.append(f"{pair}: the runner had nothing left to propose in repetition(s) "
                       f"{', '.join(rep for rep, _ in studies)}; {amount} of the budget was left "
                       "unspent in each (not spent on repeats)")
        return out


def run_suite(suite: str | Path | Mapping[str, Any] | SuiteSpec, db: str | Path, *,
              executor: str | Executor = "serial", workers: int = 1, append: bool = False,
              cache: EvaluationCache | None = None, progress: bool = True,
              console: Console | None = None, repetitions: int | None = None,
              only: Callable[[StudySpec], bool] | None = None, seed: int | None = None,
              **executor_options: Any) -> RunSummary:
    """Run (or resume) a suite into the results store at ``db``.

    ``suite`` is a suite file, the name of a shipped suite (``"quick"``), a dict as read from TOML,
    or a :class:`SuiteSpec`. ``append`` allows a different suite in a store that already has one.
    ``repetitions`` overrides the suite's count: the same suite grown (or cut), so on a store
    holding fewer repetitions only the missing studies run. ``only`` keeps the studies to run
    now (the others are planned and stay unfinished, to be run later). ``seed`` replaces the
    suite's seed (another suite, stored with it).
    """
    spec = suite if isinstance(suite, SuiteSpec) else load_suite(suite)
    spec = with_seed(with_repetitions(spec, repetitions), seed)
    chosen = executor if not isinstance(executor, str) else make_executor(
        executor, workers, **executor_options)
    hash_seed = _hash_seed_here(chosen, console)
    started = time.perf_counter()
    db = Path(db)
    studies = spec.studies()
    summary = RunSummary(db=db, suite=spec.name, studies_total=len(studies))
    with ResultStore(db) as store:
        suite_id = store.register_suite(spec, allow_other_suites=append)
        jobs, study_ids, directions = _plan(store, suite_id, spec, studies)
        summary.studies_skipped = len(studies) - len(jobs)
        if only is not None:
            kept = [job for job in jobs if only(job.study)]
            summary.studies_left_out, jobs = len(jobs) - len(kept), kept
        with RunProgress(len(studies) - summary.studies_left_out, enabled=progress,
                         console=console,
                         pending=[job.study.task.label for job in jobs],
                         workers=getattr(chosen, "workers", workers)) as bar:
            bar.skip(summary.studies_skipped)
            sink = StoreSink(store, study_ids, bar, directions)
            try:
                chosen.run(jobs, sink, cache=cache)
            finally:
                summary.trials_run, summary.studies_run = sink.trials_run, sink.studies_run
                summary.failed_studies = {study_label(k): e for k, e in sink.failed.items()}
        _note_degenerate_studies(store, suite_id, spec, summary)
    summary.python_hash_seed = hash_seed
    summary.seconds = time.perf_counter() - started
    return summary


_warned_hash_seed = False


def _hash_seed_here(executor: Executor, console: Console | None) -> str | None:
    """This process's hash seed where studies run in it, with a warning when it is randomised.

    Process and Ray workers start with a fixed PYTHONHASHSEED; an in-process (serial) run has the
    seed its interpreter started with, which nothing can change now. `tunebench run` re-executes
    itself with one fixed, so only a library call from an unfixed interpreter gets here unfixed."""
    from tunebench.suite.environment import DEFAULT_HASH_SEED, python_hash_seed

    global _warned_hash_seed
    seed = python_hash_seed()
    if seed is None and getattr(executor, "name", "") == "serial" and not _warned_hash_seed:
        _warned_hash_seed = True  # once per process: it cannot change within one
        (console or Console(stderr=True)).print(
            "[yellow]warning[/]: PYTHONHASHSEED is not fixed in this process, so libraries that "
            "iterate sets or dicts of strings may propose differently in another process; the "
            f"studies record it as unfixed. Start Python with PYTHONHASHSEED={DEFAULT_HASH_SEED}, "
            "or use --executor process (its workers start with it fixed).", highlight=False)
    return seed


def _note_degenerate_studies(store: ResultStore, suite_id: int, spec: SuiteSpec,
                             summary: RunSummary) -> None:
    """Identical repetitions and exhausted searches, found in the store once the run ends."""
    for (task, runner), (pairs, deterministic) in store.identical_repetitions(suite_id).items():
        repeated = ", ".join(f"#{rep} = #{first}" for rep, first in pairs)
        runner_spec = next((r for r in spec.runners if r.label == runner), None)
        one_seed = runner_spec is not None and (runner_spec.pinned_seed is not None
                                                or spec.seeds.runner == "fixed")
        if deterministic:
            why = ("the runner is deterministic by design; reports compare its one result with "
                   "the other runners' repetitions")
        else:
            if one_seed and spec.seeds.evaluation == "fixed":
                why = "the suite holds both the runner and the evaluation seed fixed"
            elif runner_spec is not None and runner_spec.pinned_seed is not None:
                why = f"its seed is pinned (options.seed = {runner_spec.pinned_seed})"
            elif one_seed:
                why = "the suite holds the runner's seed fixed (seeds.runner = \"fixed\")"
            else:
                why = "the runner proposed the same configurations whatever its seed"
            why += ", so they are one run: reports count each distinct run once in their tests"
        summary.identical_repetitions[f"{task} × {runner}"] = (
            f"repetitions with identical trial sequences ({repeated}): {why}")
    for key, left in store.exhausted_searches(suite_id).items():
        summary.search_exhausted[study_label(key)] = left


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
                                      task.optimum_for_seed(study.eval_seed), task.optimum_is_exact,
                                      objectives_record(task, study.task.objectives,
                                                        study.task.references))
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
