"""The process executor: studies in a pool of local worker processes, results streamed back.

Each worker runs whole studies (the unit of parallel work) with a fixed thread count, so timings
and numbers are the same as under the serial executor. Workers never touch the store: every
finished trial travels back over a queue as it ends and the driver commits it, so an interrupted
parallel run resumes exactly like a serial one. Workers are started with ``spawn`` (no inherited
torch or OpenMP state) and with OpenMP told not to spin, which otherwise slows two busy processes
on two cores by several times. Their thread variables are in the environment they start with:
a worker imports numpy while unpickling its target, before any of its own code could set them;
so is a fixed PYTHONHASHSEED, which an interpreter reads only as it starts.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any

from tunebench.suite.environment import hash_seed_for_workers
from tunebench.suite.executors import RunSink, StudyJob, notify_step, run_job
from tunebench.suite.records import TrialRecord, TrialSteps
from tunebench.suite.spec import StudySpec
from tunebench.suite.study import EvaluationCache

_POLL_SECONDS = 0.5


class _QueueSink:
    """Forwards a worker's study events to the driver."""

    def __init__(self, results: Any, worker: int) -> None:
        self.results = results
        self.worker = worker

    def study_started(self, key: tuple[str, str, int], info: dict[str, Any]) -> None:
        self.results.put(("started", key, {**info, "worker": self.worker}))

    def trial_finished(self, key: tuple[str, str, int], record: TrialRecord) -> None:
        self.results.put(("trial", key, record))

    def trial_step(self, key: tuple[str, str, int], steps: TrialSteps) -> None:
        self.results.put(("step", key, steps))


def thread_environment(threads: int) -> dict[str, str]:
    """A worker's thread count, and OpenMP that sleeps when idle."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}


def worker_environment(threads: int) -> dict[str, str]:
    """Environment a worker process starts with: its threads, and a fixed PYTHONHASHSEED (read by
    the interpreter at start only, so it must be there before the process begins)."""
    return {**thread_environment(threads), "PYTHONHASHSEED": hash_seed_for_workers()}


def assign_device(requested: str, worker: int, gpu_count: int) -> str:
    """Round-robin GPUs over workers when the suite says ``auto`` and GPUs exist."""
    if requested != "auto" or gpu_count == 0:
        return requested
    return f"cuda:{worker % gpu_count}"


def _gpu_count() -> int:
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:
            return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def _with_device(study: StudySpec, worker: int) -> StudySpec:
    """The study with this worker's GPU when the suite says ``auto`` and the task uses torch."""
    if study.settings.device != "auto":
        return study
    from tunebench.registry import get_task_class, load_plugin_file

    for plugin in study.plugins:
        load_plugin_file(plugin)
    if not get_task_class(study.task.name).uses_torch:
        return study
    device = assign_device("auto", worker, _gpu_count())
    return replace(study, settings=replace(study.settings, device=device))


def _worker_main(worker: int, jobs: Any, results: Any, cache: EvaluationCache | None) -> None:
    sink = _QueueSink(results, worker)
    prepare = partial(_with_device, worker=worker)
    for job in iter(jobs.get, None):
        outcome = run_job(job, sink, cache, prepare)
        results.put(("ended", outcome.key, outcome))


@contextmanager
def _driver_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the workers started inside the block: a spawned worker starts from the
    driver's environment, so they are in place before it imports numpy. The driver gets its own
    values back; its libraries are loaded already and its later children should not inherit these."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


class ProcessExecutor:
    """A local pool of ``workers`` processes, one study at a time each."""

    name = "process"

    def __init__(self, workers: int = 2, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError(f"the process executor needs at least one worker, got {workers}")
        if start_method not in ("spawn", "fork"):  # a forkserver keeps the environment it began with
            raise ValueError(f"the process executor starts workers by 'spawn' or 'fork' (their "
                             f"thread variables come from the driver at start), not {start_method!r}")
        self.workers = workers
        self.context = mp.get_context(start_method)

    def run(self, jobs: Sequence[StudyJob], sink: RunSink,
            cache: EvaluationCache | None = None) -> None:
        if not jobs:
            return
        threads = max(job.study.settings.threads for job in jobs)
        job_queue = self.context.Queue()
        results = self.context.Queue()
        for job in jobs:
            job_queue.put(job)
        n_workers = min(self.workers, len(jobs))
        for _ in range(n_workers):
            job_queue.put(None)
        processes = [
            self.context.Process(target=_worker_main, args=(i, job_queue, results, cache),
                                 name=f"tunebench-worker-{i}", daemon=True)
            for i in range(n_workers)
        ]
        with _driver_environment(worker_environment(threads)):
            for process in processes:
                process.start()
        try:
            self._collect(len(jobs), results, processes, sink)
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                process.join(timeout=10)
            _drain_finished_trials(results, sink)

    def _collect(self, n_jobs: int, results: Any, processes: list[Any], sink: RunSink) -> None:
        remaining = n_jobs
        running: dict[int, tuple[str, str, int]] = {}
        while remaining:
            try:
                kind, key, payload = results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                dead = [i for i, p in enumerate(processes) if not p.is_alive() and p.exitcode]
                for worker in dead:
                    if worker in running:
                        key = running.pop(worker)
                        sink.study_failed(key, f"worker process died (exit code "
                                               f"{processes[worker].exitcode}) during this study",
                                          "")
                        remaining -= 1
                if all(not p.is_alive() for p in processes) and remaining:
                    raise RuntimeError(f"all worker processes ended with {remaining} studies "
                                       "unfinished; their finished trials are stored") from None
                continue
            if kind == "started":
                running[payload.pop("worker")] = key
                sink.study_started(key, payload)
            elif kind == "trial":
                sink.trial_finished(key, payload)
            elif kind == "step":
                notify_step(sink, key, payload)
            else:  # ended
                _forget(running, key)
                payload.report(sink)
                remaining -= 1


def _forget(running: dict[int, tuple[str, str, int]], key: tuple[str, str, int]) -> None:
    for worker, current in list(running.items()):
        if current == key:
            del running[worker]


def _drain_finished_trials(results: Any, sink: RunSink) -> None:
    """Commit trials that finished but were still queued when the run stopped (nothing is lost)."""
    while True:
        try:
            kind, key, payload = results.get(timeout=0.1)
        except (queue.Empty, OSError, EOFError, ValueError):
            return
        if kind == "trial":
            sink.trial_finished(key, payload)
