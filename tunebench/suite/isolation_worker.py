"""The child side of trial isolation: one persistent evaluation worker per study.

Started by :class:`tunebench.suite.isolation.IsolatedEvaluator` as
``python -m tunebench.suite.isolation_worker FD`` with a socket on ``FD``. It builds the study's
task once (plugins loaded, threads pinned, warm-up run), then evaluates one request at a time.
Its :class:`ChildContext` forwards every ``report`` to the parent, which owns the runner's pruner,
the time limits and the budget, and waits for the verdict; ``uncharged`` spans are announced as
they begin and end so the parent's limits see them live. Nothing here decides a trial's fate: it
only runs the task and says what happened.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from tunebench.suite.trial_warnings import trial_warnings
from tunebench.tasks.base import (
    EvalContext,
    Result,
    Task,
    TrialClipped,
    TrialPruned,
    TrialStopped,
    TrialTimeout,
)

#: The stops the parent can order at a report, by name.
STOPS: dict[str, type[TrialStopped]] = {cls.__name__: cls for cls in
                                        (TrialStopped, TrialPruned, TrialTimeout, TrialClipped)}


class ChildContext(EvalContext):
    """An :class:`EvalContext` whose live protocol crosses the process boundary."""

    def __init__(self, conn: Connection, **fields: Any) -> None:
        super().__init__(**fields)
        self._conn = conn

    def report(self, step: int, value: float, seconds: float | None = None) -> None:
        number = float(value)
        self._conn.send(("report", step, number, self.uncharged_seconds,
                         self.uncharged_cpu_seconds, None if seconds is None else float(seconds)))
        answer = self._conn.recv()
        if answer[0] == "go":
            self.curve.append(number)
            return
        _, name, message, after_step, appended = answer
        if appended:
            self.curve.append(number)
        raise STOPS[name](message, after_step)

    @contextlib.contextmanager
    def uncharged(self) -> Iterator[None]:
        if self.uncharged_since is not None:  # nested: counted once, by the outer block
            yield
            return
        self._conn.send(("u+",))
        try:
            with super().uncharged():
                yield
        finally:
            self._conn.send(("u-", self.uncharged_seconds, self.uncharged_cpu_seconds))


def build_task(init: dict[str, Any]) -> Task:
    """The study's task, rebuilt from its class (found after the study's plugins are loaded)."""
    from tunebench.registry import load_plugin_file

    for plugin in init["plugins"]:
        load_plugin_file(plugin)
    module_name, qualname = init["task_class"]
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    options = dict(init["options"])
    task = target(**options)
    task._options = options
    return task


def sendable(result: Any, task_name: str) -> tuple[str, Any]:
    """("done", result) when it pickles; an ``extra`` value that does not is sent as its text
    (as the store would keep it); anything else that is not a Result is named as the study loop
    names it."""
    try:
        pickle.dumps(result)
        return "done", result
    except Exception:
        pass
    if isinstance(result, Result) and isinstance(result.extra, dict):
        extra = {}
        for key, value in result.extra.items():
            try:
                pickle.dumps(value)
                extra[key] = value
            except Exception:
                extra[key] = repr(value)
        fixed = Result(value=result.value, test_value=result.test_value,
                       fidelity_spent=result.fidelity_spent, curve=result.curve, extra=extra)
        with contextlib.suppress(Exception):
            pickle.dumps(fixed)
            return "done", fixed
    return "error", ("TypeError", f"task {task_name!r} returned {type(result).__name__} "
                     f"{result!r:.80}, not a tunebench Result (or one that cannot be sent from "
                     "its worker process)")


def describe(exc: BaseException) -> tuple[Any, ...]:
    """What the parent needs to raise the same exception: kind, class name, text, extra."""
    name = type(exc).__name__
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, (int, str, type(None))) else repr(exc.code)
        return "exit", name, str(exc), code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupt", name, str(exc), None
    if isinstance(exc, TrialStopped):
        return "stopped", name, str(exc), exc.after_step
    kind = "diverged" if type(exc).__name__ == "Diverged" else "error"
    return kind, name, str(exc), None


def evaluate(conn: Connection, task: Task, device: str, request: tuple[Any, ...]) -> None:
    _, config, fidelity, seed, threads, precision, start, checkpoint, wants = request
    context = ChildContext(conn, device=device, threads=threads, precision=precision,
                           start=start, checkpoint=checkpoint, wants_checkpoint=wants)
    gpu = device != "cpu"
    if gpu:
        from tunebench.devices import synchronize

        context.sync = lambda: synchronize(device)
        synchronize(device)
    cpu0 = time.process_time()
    with trial_warnings() as caught:
        message = _evaluated(task, config, fidelity, seed, context, gpu)
    now = time.process_time()
    timings = (context.uncharged_seconds, context.uncharged_cpu_seconds, now - cpu0)
    try:
        conn.send((*message, *timings, context.saved_checkpoint, caught, now))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:  # pickled before a byte is sent
        conn.send(("raised", ("error", "TypeError", "the evaluation's checkpoint cannot be sent "
                              f"from its worker process: {exc}", None), "", *timings, None, caught,
                   now))


def _evaluated(task: Task, config: dict[str, Any], fidelity: int, seed: int,
               context: ChildContext, gpu: bool) -> tuple[Any, ...]:
    """The task's evaluation as the message that tells the parent how it ended."""
    try:
        returned = task.evaluate(config, fidelity, seed, context)
        if gpu:
            context.sync()
        kind, payload = sendable(returned, task.name)
        message: tuple[Any, ...] = (kind, payload) if kind == "done" else \
            ("raised", ("error", *payload, None), "")
    except BaseException as exc:  # everything is the parent's to judge
        message = ("raised", describe(exc), traceback.format_exc(limit=20))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return message


def die_with(parent: int) -> None:
    """Be killed when the driver dies, even in the middle of a C call (Linux; elsewhere the
    closed socket ends the worker at its next message)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request was made
        os._exit(0)


def main(argv: list[str]) -> int:
    conn = Connection(int(argv[1]))
    die_with(int(argv[2]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    init = conn.recv()
    sys.path[:] = init["sys_path"]
    try:
        if init["memory_limit_mb"] is not None:
            import resource

            limit = init["memory_limit_mb"] * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        from tunebench.suite.limits import warm_up_once
        from tunebench.suite.study_setup import study_threads

        task = build_task(init)
        device = init["device"]
        settings = init["settings"]
        threads = study_threads(settings.threads, task.uses_torch)
        threads.__enter__()  # for the worker's whole life: it runs this study only
        warm = warm_up_once(task, device, settings, time.perf_counter)
    except BaseException as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return 1
    conn.send(("ready", warm, time.process_time()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return 0
        if request[0] == "stop":
            return 0
        evaluate(conn, task, device, request)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
