"""Executors run many studies; tasks, runners and the store never know which one did.

An executor receives :class:`StudyJob` objects (a study and its stored history) and reports back
through a :class:`RunSink`: started, each finished trial as it ends, finished or failed. The sink
belongs to the driver, the store's only writer.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tunebench.suite.records import StudyResult, TrialRecord
from tunebench.suite.spec import StudySpec
from tunebench.suite.study import EvaluationCache, run_study


@dataclass(frozen=True)
class StudyJob:
    study: StudySpec
    history: tuple[TrialRecord, ...] = ()


class RunSink(Protocol):
    def study_started(self, key: tuple[str, str, int], info: dict[str, Any]) -> None: ...

    def trial_finished(self, key: tuple[str, str, int], record: TrialRecord) -> None: ...

    def study_finished(self, key: tuple[str, str, int], result: StudyResult) -> None: ...

    def study_failed(self, key: tuple[str, str, int], error: str, trace: str) -> None: ...


class Executor(Protocol):
    name: str

    def run(self, jobs: Sequence[StudyJob], sink: RunSink,
            cache: EvaluationCache | None = None) -> None: ...


class SerialExecutor:
    """Runs studies one after another in this process (the default for one worker)."""

    name = "serial"

    def run(self, jobs: Sequence[StudyJob], sink: RunSink,
            cache: EvaluationCache | None = None) -> None:
        for job in jobs:
            try:
                result = run_study(job.study, sink, job.history, cache=cache)
            except Exception as exc:
                sink.study_failed(job.study.key, f"{type(exc).__name__}: {exc}",
                                  traceback.format_exc())
            else:
                sink.study_finished(job.study.key, result)


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
