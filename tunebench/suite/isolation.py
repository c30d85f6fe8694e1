"""Trial isolation: evaluations in a child process, so no trial can take the driver down.

``[settings] isolation = "process"`` runs a study's evaluations in one persistent worker process
(:mod:`tunebench.suite.isolation_worker`), started when the study runs and again after it dies;
when the study ends the worker waits, idle, for the next study of the same task and settings in
this process, so imports, data and the task's warm-up are paid once per process, not per trial or
per study (as in-process). The
study loop stays in the parent: the runner, its pruner, the time limit and the device-seconds
budget are all judged there exactly as in-process (:mod:`tunebench.suite.limits`), because the
worker's :class:`~tunebench.suite.isolation_worker.ChildContext` forwards every ``report`` and
every ``uncharged`` span as it happens. What the parent adds:

- a **hard wall-clock timeout**: past ``trial_timeout`` the worker is killed (SIGKILL, which no
  task can ignore or block in C code), and the trial fails with ``TrialTimeout``;
- an optional **memory limit** (``memory_limit_mb``): the worker's address space (RLIMIT_AS,
  libraries included), so an allocation past it fails (``MemoryError``) or kills the worker;
- a **dead worker is a failed trial**: a segfault, ``os._exit``, an out-of-memory kill — the
  trial fails with ``WorkerDied: exit code -9 (SIGKILL)`` and is charged what it trained, like
  any failure; ``sys.exit()`` in a task is ``SystemExit: code``, as in-process;
- the worker's **stdout and stderr** (the last 64 KiB of each trial's) are stored in the trial's
  ``extra["output"]``, whatever the trial's outcome (nothing is added when it printed nothing).

Defaults (:func:`resolve_isolation`): the task class's ``isolation`` ("none" on the cheap built-ins,
"process" on the torch ones); "process" for any task defined outside tunebench unless its own
class says "none"; "process" whenever ``memory_limit_mb`` is set. Measured cost: see
``benchmarks/bench_isolation.py`` and the README.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from tunebench.errors import UserError
from tunebench.suite.spec import StudySpec
from tunebench.suite.trial_warnings import keep_warnings
from tunebench.tasks.base import (
    Diverged,
    EvalContext,
    Result,
    Task,
    TrialStopped,
    TrialTimeout,
)

#: How much of a trial's output is kept (its end: where the error is).
OUTPUT_LIMIT = 64 * 1024
#: How long a waiting parent blocks at a time, seconds. Short, because the SIGALRM of a limit
#: (tunebench.suite.limits) may be delivered to another thread of the process (BLAS's, say),
#: which does not interrupt the main thread's wait: its Python handler runs when the wait ends.
_SLICE = 0.005
#: How often a waiting parent looks whether its worker still lives, seconds.
_LIVENESS = 0.25


class WorkerDied(Exception):
    """The evaluation worker ended during a trial (a crash, a kill, an exit): the trial failed."""


class RemoteTraceback(Exception):
    """The worker's traceback, chained under the exception raised in the parent."""

    def __str__(self) -> str:
        return str(self.args[0])


_REMOTE: dict[str, type[Exception]] = {}


def remote_error(name: str) -> type[Exception]:
    """An exception class named like the worker's, so the error reads as it would in-process."""
    if name not in _REMOTE:
        _REMOTE[name] = type(name, (Exception,), {"__module__": "tunebench.suite.isolation"})
    return _REMOTE[name]


def rebuildable(cls: type) -> bool:
    """Whether a worker can find ``cls`` again by its module and name."""
    return cls.__module__ != "__main__" and "<locals>" not in cls.__qualname__


def resolve_isolation(setting: str | None, memory_limit_mb: int | None, task: Task) -> str:
    """Where ``task``'s evaluations run: the suite's setting, else the task's default."""
    cls = type(task)
    if setting is not None:
        if setting == "process" and not rebuildable(cls):
            raise UserError(f"task {task.name!r} cannot run isolated: its class {cls.__qualname__} "
                            f"is defined in {cls.__module__} (a worker process cannot import it); "
                            "define it in a module or plugin file, or set isolation = \"none\"")
        return setting
    if not rebuildable(cls):
        return "none"
    if memory_limit_mb is not None:
        return "process"
    if cls.__module__.split(".")[0] == "tunebench":
        return cls.isolation
    return vars(cls).get("isolation", "process")


def exit_cause(code: int) -> str:
    """How a worker's end reads: ``exit code -9 (SIGKILL)``."""
    if code < 0:
        try:
            return f"exit code {code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"exit code {code} (signal {-code})"
    return f"exit code {code}"


class _Worker:
    """One running worker process: its socket, its output file and its end."""

    def __init__(self, init: dict[str, Any], threads: int, timeout: float | None) -> None:
        from tunebench.suite.parallel import worker_environment  # (parallel imports the loop)

        self.timeout = timeout
        self.memory_limit_mb = init["memory_limit_mb"]
        parent, child = socket.socketpair()
        # Lives as long as the worker (closed in release()): what it prints, per trial.
        self.output = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tunebench.suite.isolation_worker", str(child.fileno()),
                 str(os.getpid())],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=self.output,
                stderr=subprocess.STDOUT, env={**os.environ, **worker_environment(threads)})
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        self.code: int | None = None
        self.cpu_total = 0.0  # the worker's CPU seconds after its last message
        self.conn.send(init)

    def alive(self) -> bool:
        if self.code is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self._ended(status, usage)
        return self.code is None

    def _ended(self, status: int, usage: Any) -> None:
        self.code = self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_at_end = usage.ru_utime + usage.ru_stime

    def send(self, message: Any) -> None:
        """Send to the worker; :class:`WorkerDied` when it has gone."""
        try:
            self.conn.send(message)
        except OSError:
            self.died()

    def died(self) -> None:
        """Make sure the worker is gone, read how it ended and raise :class:`WorkerDied`."""
        self.kill()
        cause = exit_cause(self.code if self.code is not None else -9)
        if self.memory_limit_mb is not None:
            cause += f" (under memory_limit_mb = {self.memory_limit_mb})"
        raise WorkerDied(cause)

    def receive(self, deadline: float | None) -> Any:
        """The worker's next message; :class:`WorkerDied` when it ended, TrialTimeout when the
        deadline (``time.monotonic()``) passed first."""
        look = time.monotonic() + _LIVENESS
        while True:
            now = time.monotonic()
            wait = _SLICE if deadline is None else min(_SLICE, deadline - now)
            if wait <= 0:
                raise TrialTimeout(f"trial exceeded its time limit of {self.timeout:g} s (its "
                                   "worker was killed)")
            if self.conn.poll(wait):
                try:
                    return self.conn.recv()
                except (EOFError, OSError):
                    pass  # it ended while writing, or before: see below
            elif now < look:
                continue
            elif self.alive():
                look = now + _LIVENESS
                continue
            self.died()  # the socket closed, or the process ended

    def kill(self) -> None:
        if self.code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(self.proc.pid, 0)
            self._ended(status, usage)
        self.conn.close()

    def take_output(self) -> str:
        """What the worker printed since the last call (its last :data:`OUTPUT_LIMIT` bytes)."""
        fd = self.output.fileno()
        size = os.fstat(fd).st_size
        if not size:
            return ""
        os.lseek(fd, max(0, size - OUTPUT_LIMIT), os.SEEK_SET)
        data = os.read(fd, OUTPUT_LIMIT)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        text = data.decode("utf-8", errors="replace")
        return ("…" + text) if size > OUTPUT_LIMIT else text

    def release(self) -> str:
        """Kill the worker (if it still runs) and return what it last printed."""
        self.kill()
        output = self.take_output()
        self.output.close()
        return output


#: Workers whose study ended, by what they were built for: the next study of the same task and
#: settings in this process takes one over, so its imports, data and warm-up are paid once per
#: process, as in-process. At most this many wait; they die with this process.
IDLE_WORKERS = 2
_IDLE: dict[bytes, _Worker] = {}


def _stop(worker: _Worker | None) -> None:
    """Ask a worker to stop, and make sure it has."""
    if worker is None:
        return
    if worker.alive():
        try:
            worker.conn.send(("stop",))
            worker.proc.wait(timeout=5)
            worker.code = worker.proc.returncode
        except (OSError, subprocess.TimeoutExpired):
            pass
    worker.release()


@atexit.register
def _stop_idle() -> None:
    while _IDLE:
        _stop(_IDLE.popitem()[1])


class IsolatedEvaluator:
    """Runs one study's evaluations in its worker; a drop-in for ``task.evaluate``."""

    def __init__(self, study: StudySpec, task: Task, device: str) -> None:
        cls = type(task)
        self.init = {"sys_path": list(sys.path), "plugins": list(study.plugins),
                     "task_class": (cls.__module__, cls.__qualname__), "options": task.options(),
                     "device": device, "settings": study.settings,
                     "memory_limit_mb": study.settings.memory_limit_mb}
        self.task_name = task.name
        self.settings = study.settings
        self._key = pickle.dumps(self.init)  # studies built the same way may share a worker
        self._worker: _Worker | None = None
        self._started: str | None = None  # why the last start failed, if it did
        self._handshake = False  # launched, its first message not read yet
        #: Of the last evaluation: the worker's CPU seconds, what it printed, its warnings.
        self.cpu_seconds = 0.0
        self.output = ""
        self.warnings: list[str] = []

    # ----------------------------------------------------------------- the worker's life
    def launch(self) -> None:
        """Start the worker's process without waiting for it (:meth:`start` waits): a study
        with several evaluations in flight starts its workers side by side."""
        if self._worker is None and self._key not in _IDLE:
            self._worker = _Worker(self.init, self.settings.threads, self.settings.trial_timeout)
            self._handshake = True

    def start(self) -> float:
        """Start the worker unless it runs; the seconds its warm-up took (0: already running)."""
        if self._handshake:
            self._handshake = False
            return self._ready(self._worker)
        if self._worker is None and (idle := _IDLE.pop(self._key, None)) is not None:
            if idle.alive():  # an earlier study's, built the same way: imports, data, warm-up paid
                idle.take_output()
                self._worker = idle
                return 0.0
            idle.release()
        if self._worker is not None:
            if self._worker.alive():
                return 0.0
            self._worker.release()  # its output was taken with the trial it died in
        worker = self._worker = _Worker(self.init, self.settings.threads,
                                        self.settings.trial_timeout)
        return self._ready(worker)

    def _ready(self, worker: _Worker) -> float:
        """Wait for a new worker's first message; its warm-up seconds (0 when it failed)."""
        try:
            message = worker.receive(None)
        except WorkerDied as exc:
            self._started = f"the evaluation worker did not start: {exc}"
        else:
            if message[0] == "ready":
                self._started = None
                worker.cpu_total = message[2]
                worker.take_output()  # start-up noise belongs to no trial
                return float(message[1])
            self._started = f"the evaluation worker could not build task {self.task_name!r}: " \
                            f"{message[1]}"
        self.output = worker.release()
        self._worker = None
        return 0.0

    def close(self) -> None:
        """The study ended: its worker waits, idle, for the next study built the same way."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        if not worker.alive():
            worker.release()
            return
        _stop(_IDLE.pop(self._key, None))
        _IDLE[self._key] = worker
        while len(_IDLE) > IDLE_WORKERS:
            _stop(_IDLE.pop(next(iter(_IDLE))))  # the longest idle first

    def abandon(self) -> None:
        """Stop the worker now, whatever it is doing (its study was interrupted mid-trial)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.release()

    # ----------------------------------------------------------------- one evaluation
    def evaluate(self, config: dict[str, Any], fidelity: int, seed: int,
                 context: EvalContext) -> Result:
        self.cpu_seconds, self.output, self.warnings = 0.0, "", []
        self.start()  # (a no-op when the study loop started it, outside the trial's span)
        worker = self._worker
        if worker is None:
            raise WorkerDied(self._started or "the evaluation worker is not running")
        hard = self._hard_deadline()
        stop: TrialStopped | None = None
        try:
            worker.send(("eval", config, fidelity, seed, context.threads, context.precision,
                         context.start, context.checkpoint, context.wants_checkpoint))
            while True:
                message = worker.receive(hard)
                kind = message[0]
                if kind == "report":
                    waited = context.waited_seconds
                    stop = self._report(worker, context, *message[1:]) or stop
                    if hard is not None:  # waiting for the study's schedule is not the trial's
                        hard += context.waited_seconds - waited
                elif kind == "u+":
                    context.uncharged_since = context.clock()
                elif kind == "u-":
                    self._uncharged(context, message[1], message[2])
                    context.uncharged_since = None
                else:
                    break
        except BaseException:  # a timeout, a death, an interrupt: the worker goes
            self.output = worker.release()
            self.cpu_seconds = max(0.0, worker.cpu_at_end - worker.cpu_total)
            self._worker = None
            raise
        self.output = worker.take_output()
        *outcome, uncharged, uncharged_cpu, cpu, checkpoint, self.warnings, cpu_total = message
        worker.cpu_total = cpu_total
        self._uncharged(context, uncharged, uncharged_cpu)
        context.saved_checkpoint = checkpoint
        self.cpu_seconds = cpu
        if kind == "done":
            return outcome[1]
        raise self._rebuilt(outcome[1], outcome[2], stop, self.settings.memory_limit_mb)

    def _hard_deadline(self) -> float | None:
        timeout = self.settings.trial_timeout
        return time.monotonic() + timeout if timeout is not None else None

    @staticmethod
    def _uncharged(context: EvalContext, seconds: float, cpu: float) -> None:
        if seconds or cpu:
            context.uncharged_seconds, context.uncharged_cpu_seconds = seconds, cpu
            context.excluded = True

    def _report(self, worker: _Worker, context: EvalContext, step: int, value: float,
                uncharged: float, uncharged_cpu: float, seconds: float | None
                ) -> TrialStopped | None:
        """The parent's own ``context.report`` — over budget, deadline, pruner — and its verdict
        sent back; the stop it ordered, if any."""
        self._uncharged(context, uncharged, uncharged_cpu)
        before = len(context.curve)
        try:
            context.report(step, value, seconds)
        except TrialStopped as exc:
            worker.send(("stop", type(exc).__name__, str(exc), exc.after_step,
                         len(context.curve) > before))
            return exc
        worker.send(("go",))
        return None

    @staticmethod
    def _rebuilt(described: tuple[Any, ...], trace: str, stop: TrialStopped | None,
                 memory_limit_mb: int | None) -> BaseException:
        """The worker's exception as the parent raises it (the stop it ordered, itself)."""
        kind, name, text, extra = described
        if name == "MemoryError" and memory_limit_mb is not None:
            text = f"{text + '; ' if text else ''}past memory_limit_mb = {memory_limit_mb}"
        if kind == "stopped" and stop is not None and type(stop).__name__ == name:
            return stop
        if kind == "exit":
            return SystemExit(extra)
        if kind == "interrupt":
            return KeyboardInterrupt(text)
        if kind == "stopped":
            from tunebench.suite.isolation_worker import STOPS

            return STOPS[name](text, extra)
        exc = Diverged(text) if kind == "diverged" else remote_error(name)(text)
        if trace:
            exc.__cause__ = RemoteTraceback(trace)
        return exc


def isolated_evaluator(study: StudySpec, task: Task, device: str, clock: Any
                       ) -> tuple[str, IsolatedEvaluator | None]:
    """A study loop's isolation mode and its evaluator (None: in-process). An injected clock
    cannot cross into a worker process, so a loop driven by one (tests) evaluates in-process."""
    settings = study.settings
    mode = resolve_isolation(settings.isolation, settings.memory_limit_mb, task) \
        if clock is time.perf_counter else "none"
    return mode, IsolatedEvaluator(study, task, device) if mode == "process" else None


@contextlib.contextmanager
def worker_scope(evaluator: IsolatedEvaluator | None) -> Iterator[None]:
    """The isolated evaluations' worker lives as long as the study runs."""
    try:
        yield
    finally:
        if evaluator is not None:
            evaluator.close()


def isolation_facts(mode: str, settings: Any) -> dict[str, Any]:
    """What a study records about where its evaluations ran."""
    limit = settings.memory_limit_mb
    return {"isolation": mode,
            **({"memory_limit_mb": limit} if limit is not None and mode == "process" else {})}


def annotate(extra: dict[str, Any], evaluator: IsolatedEvaluator) -> None:
    """Store what the worker printed and the warnings it caught during the trial, if any."""
    if evaluator.output:
        extra["output"] = evaluator.output
    keep_warnings(extra, evaluator.warnings)
