"""The Ray executor: the same studies on a Ray cluster (or a local Ray bound to loopback).

Each study is one Ray task asking for ``threads`` CPUs and, for torch tasks on a cluster with GPUs,
one GPU (or ``settings.gpus_per_study``), so Ray's scheduler places studies on devices. Workers
send every finished trial back through a Ray queue as it ends; the driver remains the store's only
writer. A local instance started here listens on 127.0.0.1 only: Ray's defaults listen on every
interface, which a benchmark harness has no business doing. Its session folder is tunebench's own
and removed when the run ends, and what a killed run left behind is cleaned up at the next start
(:mod:`tunebench.suite.ray_session`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunebench.suite.environment import hash_seed_for_workers
from tunebench.suite.executors import JobOutcome, RunSink, StudyJob, notify_step, run_job
from tunebench.suite.parallel import thread_environment
from tunebench.suite.ray_session import clean_stale_sessions, new_session_dir, remove_session
from tunebench.suite.records import TrialRecord, TrialSteps
from tunebench.suite.study import EvaluationCache

#: Set before a local Ray starts: loopback-only listeners, no usage reporting, no token file.
LOOPBACK_ENVIRONMENT = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
}


class _RayQueueSink:
    def __init__(self, events: Any) -> None:
        self.events = events

    def study_started(self, key: tuple[str, str, int], info: dict[str, Any]) -> None:
        self.events.put(("started", key, info))

    def trial_finished(self, key: tuple[str, str, int], record: TrialRecord) -> None:
        self.events.put(("trial", key, record))

    def trial_step(self, key: tuple[str, str, int], steps: TrialSteps) -> None:
        self.events.put(("step", key, steps))


def _run_job(job: StudyJob, events: Any, cache: EvaluationCache | None) -> JobOutcome:
    os.environ.update(thread_environment(job.study.settings.threads))
    return run_job(job, _RayQueueSink(events), cache)


def runtime_environment() -> dict[str, Any]:
    """The Ray runtime environment of every study task: Ray starts the worker processes of a
    runtime environment with its variables set, so PYTHONHASHSEED is fixed from their start (set
    inside a running worker it would change nothing)."""
    return {"env_vars": {"PYTHONHASHSEED": hash_seed_for_workers()}}


def start_local_ray(num_cpus: int, session_dir: Path | None = None) -> None:
    """Start a local Ray instance that listens on loopback only, quietly, keeping its session in
    ``session_dir`` (see tunebench.suite.ray_session).

    Ray's processes read these variables when they start; the driver's copy of the cluster
    switch is read when Ray is first imported, so it is set too in case Ray was imported before.
    With the switch off, Ray uses its single-machine mode (its default on macOS and Windows):
    every listener on 127.0.0.1.
    """
    os.environ.update(LOOPBACK_ENVIRONMENT)
    import ray
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False
    ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", log_to_driver=False, configure_logging=True,
             _temp_dir=str(session_dir) if session_dir is not None else None)


class RayExecutor:
    """Runs studies as Ray tasks; ``address`` joins a running cluster (``auto`` or HOST:PORT)."""

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None) -> None:
        self.workers = workers
        self.address = address

    def run(self, jobs: Sequence[StudyJob], sink: RunSink,
            cache: EvaluationCache | None = None) -> None:
        if not jobs:
            return
        if not self.address:
            os.environ.update(LOOPBACK_ENVIRONMENT)
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'tunebench[ray]'") from None
        started_here = not ray.is_initialized()
        session_dir = None
        if started_here:
            if self.address:
                ray.init(address=self.address, logging_level="ERROR", log_to_driver=False)
            else:  # room for `workers` studies at a time, each with its thread count
                clean_stale_sessions()  # what runs killed before left behind
                session_dir = new_session_dir()
                start_local_ray(self.workers * max(job.study.settings.threads for job in jobs),
                                session_dir)
        try:
            self._run(ray, Queue, jobs, sink, cache)
        finally:
            if started_here:
                ray.shutdown()
            if session_dir is not None:
                remove_session(session_dir)

    def _run(self, ray: Any, queue_cls: Any, jobs: Sequence[StudyJob], sink: RunSink,
             cache: EvaluationCache | None) -> None:
        events = queue_cls()
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        remote = ray.remote(_run_job)
        pending: dict[Any, tuple[str, str, int]] = {}
        for job in jobs:
            options = {"num_cpus": job.study.settings.threads,
                       "num_gpus": _gpus_for(job, cluster_gpus), "max_retries": 0,
                       "runtime_env": runtime_environment()}
            pending[remote.options(**options).remote(job, events, cache)] = job.study.key
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                _drain(events, sink)  # a study's trials all arrive before its result is read
                for ref in done:
                    key = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # a worker crashed or was killed
                        outcome = JobOutcome.failed(key, exc)
                    outcome.report(sink)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            _drain(events, sink)
            ray.kill(events.actor)


def _drain(events: Any, sink: RunSink) -> None:
    while True:
        batch = events.get_nowait_batch(events.qsize()) if events.qsize() else []
        if not batch:
            return
        for kind, key, payload in batch:
            if kind == "started":
                sink.study_started(key, payload)
            elif kind == "step":
                notify_step(sink, key, payload)
            else:
                sink.trial_finished(key, payload)


def _gpus_for(job: StudyJob, cluster_gpus: float) -> float:
    """One GPU (or the suite's fraction) for torch studies when the cluster has GPUs."""
    if job.study.settings.device == "cpu":
        return 0.0
    requested = job.study.settings.gpus_per_study
    if requested is not None:
        return float(requested)
    if cluster_gpus <= 0:
        return 0.0
    from tunebench.registry import get_task_class

    return 1.0 if get_task_class(job.study.task.name).uses_torch else 0.0

