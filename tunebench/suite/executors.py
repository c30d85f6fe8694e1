"""Executors run many studies; tasks, runners and the store never know which one did.

An executor receives :class:`StudyJob` objects (a study and its stored history) and reports back
through a :class:`RunSink`: started, each finished trial as it ends, finished or failed — and,
for a sink with a ``trial_step`` method, how far a long trial has come while it runs. The sink
belongs to the driver, the store's only writer.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tunebench.suite.records import StudyResult, TrialRecord, TrialSteps
from tunebench.suite.spec import StudySpec
from tunebench.suite.study import EvaluationCache, StudySink, run_study


@dataclass(frozen=True)
class StudyJob:
    study: StudySpec
    history: tuple[TrialRecord, ...] = ()


class RunSink(Protocol):
    def study_started(self, key: tuple[str, str, int], info: dict[str, Any]) -> None: ...

    def trial_finished(self, key: tuple[str, str, int], record: TrialRecord) -> None: ...

    def study_finished(self, key: tuple[str, str, int], result: StudyResult) -> None: ...

    def study_failed(self, key: tuple[str, str, int], error: str, trace: str) -> None: ...


def notify_step(sink: Any, key: tuple[str, str, int], steps: TrialSteps) -> None:
    """Pass a long trial's progress on to a sink that shows it (showing it is optional)."""
    shown = getattr(sink, "trial_step", None)
    if shown is not None:
        shown(key, steps)


class Executor(Protocol):
    name: str

    def run(self, jobs: Sequence[StudyJob], sink: RunSink,
            cache: EvaluationCache | None = None) -> None: ...


@dataclass(frozen=True)
class JobOutcome:
    """How one study ended, as plain data: a worker process sends it back over a queue and a Ray
    task returns it, so every executor reports an ending the same way. No ``result`` means failed."""

    key: tuple[str, str, int]
    result: StudyResult | None = None
    error: str = ""
    trace: str = ""

    @classmethod
    def failed(cls, key: tuple[str, str, int], exc: BaseException, trace: str = "") -> JobOutcome:
        """A failure named after its exception, as the store and the summary show it."""
        return cls(key, error=f"{type(exc).__name__}: {exc}", trace=trace)

    def report(self, sink: RunSink) -> None:
        if self.result is None:
            sink.study_failed(self.key, self.error, self.trace)
        else:
            sink.study_finished(self.key, self.result)


def run_job(job: StudyJob, sink: StudySink, cache: EvaluationCache | None = None,
            prepare: Callable[[StudySpec], StudySpec] | None = None) -> JobOutcome:
    """Run one study and return how it ended rather than raise, so one broken study never stops
    the others. ``prepare`` (a worker giving the study its GPU) runs inside the same guard, so a
    plugin that fails to load there fails only its study."""
    try:
        study = prepare(job.study) if prepare else job.study
        result = run_study(study, sink, job.history, cache=cache)
    except Exception as exc:
        return JobOutcome.failed(job.study.key, exc, traceback.format_exc())
    return JobOutcome(job.study.key, result)


class SerialExecutor:
    """Runs studies one after another in this process (the default for one worker)."""

    name = "serial"

    def run(self, jobs: Sequence[StudyJob], sink: RunSink,
            cache: EvaluationCache | None = None) -> None:
        for job in jobs:
            run_job(job, sink, cache).report(sink)


def make_executor(name: str, workers: int = 1, **options: Any) -> Executor:
    """An executor by name: ``serial``, ``process`` or ``ray``."""
    if name == "serial":
        if options or workers > 1:
            raise ValueError("the serial executor runs one study at a time: for parallel studies "
                             "use --executor process (one machine) or --executor ray")
        return SerialExecutor()
    if name == "process":
        if options:
            raise ValueError(f"the process executor takes only --workers, not {sorted(options)} "
                             "(--address is for --executor ray)")
        from tunebench.suite.parallel import ProcessExecutor

        return ProcessExecutor(workers=workers)
    if name == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ValueError("the ray executor needs Ray: pip install 'tunebench[ray]'")
        from tunebench.suite.ray_executor import RayExecutor

        return RayExecutor(workers=workers, **options)
    raise ValueError(f"unknown executor {name!r}: choose serial, process or ray")
