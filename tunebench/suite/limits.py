"""The limits one evaluation runs under (its own time limit, the end of a device-seconds budget) and
the one-off costs kept out of every evaluation (a task's warm-up).

An evaluation's **charged span** is its wall time minus what it ran inside
:meth:`~tunebench.tasks.base.EvalContext.uncharged` (data preparation, test scoring) and minus the
runner's pruner decisions (optimiser time, charged as such only under ``charge_optimizer``). Two
limits stop it:

- ``trial_timeout``: wall seconds of the whole evaluation (a :class:`TrialTimeout`);
- what remains of a device-seconds budget: charged seconds (a :class:`TrialClipped`).

Both are checked at every reported step (in the study loop's clock, so a fake clock drives them
in tests) and, in the main thread of a POSIX process with the real clock, by a SIGALRM timer that
also stops a step in the middle. The timer is held while the runner's pruner decides, so a limit
never interrupts a library halfway through updating its state; it fires as the pruner returns.

A task's :meth:`~tunebench.tasks.base.Task.warm_up` runs once per process (:func:`warm_up_once`),
before the first timed trial of the first study that needs it.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from tunebench.devices import synchronize
from tunebench.runners.base import Status
from tunebench.tasks.base import EvalContext, Task, TrialClipped, TrialStopped, TrialTimeout

#: A limit closer than this (seconds) counts as reached when the timer fires: re-arming the timer
#: for less would only wake the process again.
_SLACK = 1e-4


def charged_seconds(context: EvalContext, now: float, started: float, charge_pruner: bool) -> float:
    """Seconds of the evaluation's span so far that a device-seconds budget charges."""
    since = context.uncharged_since
    uncharged = context.uncharged_seconds + (now - since if since is not None else 0.0)
    pruner = 0.0 if charge_pruner else context.pruner_seconds
    return now - started - uncharged - pruner


class EvaluationLimits:
    """One evaluation's time limit and budget deadline (either may be None), as one check."""

    def __init__(self, context: EvalContext, clock: Callable[[], float], started: float, *,
                 timeout: float | None, budget_left: float | None, charge_pruner: bool) -> None:
        self.context, self.clock, self.started = context, clock, started
        self.timeout, self.budget_left, self.charge_pruner = timeout, budget_left, charge_pruner
        self._started_real = time.monotonic()

    def charged(self) -> float:
        return charged_seconds(self.context, self.clock(), self.started, self.charge_pruner)

    def over_budget(self) -> bool:
        """Whether the evaluation has used up what remained of the budget (checked per step)."""
        return self.budget_left is not None and self.charged() > self.budget_left

    def check(self) -> tuple[float, TrialStopped | None]:
        """Seconds until the nearer limit, and the exception to raise if one is reached."""
        left = math.inf
        if self.timeout is not None:
            left = self.timeout - (time.monotonic() - self._started_real)
            if left <= _SLACK:
                return 0.0, TrialTimeout(f"trial exceeded its time limit of {self.timeout:g} s")
        if self.budget_left is not None:
            budget = self.budget_left - self.charged()
            if budget <= _SLACK:
                return 0.0, TrialClipped(
                    f"the device-seconds budget ran out ({self.budget_left:.6g} s remained)")
            left = min(left, budget)
        return left, None

    def first_alarm(self) -> float | None:
        """Seconds after which the timer should first look, or None when there is no limit."""
        values = [v for v in (self.timeout, self.budget_left) if v is not None]
        return min(values) if values else None


class Alarm:
    """The limits as a SIGALRM timer (main thread on POSIX; elsewhere the per-step checks still
    stop tasks that report per step).

    When it fires it asks the limits whether one is reached: if so it raises the limit's exception
    in the evaluation, else it re-arms for what is left (time spent uncharged or in the pruner does
    not count toward the budget). While the runner's pruner decides, the timer is held back: it
    fires as the pruner returns. Held in Python, not with a signal mask: the kernel may deliver the
    signal to any other thread of the process, and Python then runs the handler in the main thread
    regardless.
    """

    def __init__(self, limits: EvaluationLimits, seconds: float) -> None:
        self.limits = limits
        self.seconds = seconds
        self._previous: Any = None
        self._holding = False
        self._fired = False

    @staticmethod
    def usable() -> bool:
        return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()

    def _look(self) -> None:
        left, exc = self.limits.check()
        if exc is not None:
            raise exc
        signal.setitimer(signal.ITIMER_REAL, max(left, _SLACK))

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self._holding:
            self._fired = True
            return
        self._look()

    def __enter__(self) -> Alarm:
        self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, max(self.seconds, _SLACK))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:  # an alarm falling between the two calls must not leave our handler installed
            signal.signal(signal.SIGALRM, self._previous)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            if self._fired:
                self._fired = False
                self._look()  # the alarm that fell while the pruner decided


def clipped_outcome(curve: tuple[float, ...], left: float | None
                    ) -> tuple[Status, float | None, str, None]:
    """(status, value, error, traceback) of a trial the budget ran out in (the rule is
    tunebench.suite.budget's): pruned — stopped by the harness, not failed by its configuration —
    at its last step reported in time, without a value when it reported none."""
    remained = ("the device-seconds budget ran out here in the run reproduced" if left is None
                else f"the device-seconds budget ran out ({max(left, 0.0):.6g} s remained)")
    if curve:
        return (Status.PRUNED, curve[-1],
                f"Clipped: {remained} after step {len(curve)} was reported", None)
    return Status.PRUNED, None, f"Clipped: {remained} before a step was reported", None


#: Tasks warmed up in this process (by class, options and settings): warm-up happens once.
_WARMED: set[tuple[Any, ...]] = set()


def warm_up_once(task: Task, device: str, settings: Any, clock: Callable[[], float]) -> float:
    """Run ``task``'s warm-up in this process unless it ran already; the seconds it took (0 for a
    task without one, or already warm). ``settings`` are the study's (threads, precision)."""
    if type(task).warm_up is Task.warm_up:
        return 0.0
    key = (type(task), repr(task), device, settings.precision, settings.threads)
    if key in _WARMED:
        return 0.0
    _WARMED.add(key)
    context = EvalContext(device=device, threads=settings.threads, precision=settings.precision)
    t0 = clock()
    # A warm-up that fails (missing data, say) fails the trials too, each with its error; one
    # that calls sys.exit() does not end the run.
    with contextlib.suppress(Exception, SystemExit):
        task.warm_up(context)
    synchronize(device)
    return clock() - t0
