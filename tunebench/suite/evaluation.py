"""One evaluation of a trial under its limits, and the record of how it ended.

The study loop's longest step, kept apart: run the task (in-process, or in its isolated worker),
under a trial timeout and a device-seconds budget's deadline, and classify how it ended — a
result, a pruned or clipped run, a timeout, a divergence, any exception, a malformed result —
into the uncharged :class:`~tunebench.suite.records.TrialRecord` the loop then tells and charges.
"""

from __future__ import annotations

import math
import time
import traceback as traceback_module
from typing import TYPE_CHECKING, Any

from tunebench.runners.base import Status
from tunebench.suite.budget import trained_steps
from tunebench.suite.isolation import IsolatedEvaluator, annotate
from tunebench.suite.limits import Alarm, EvaluationLimits, clipped_outcome
from tunebench.suite.records import TrialRecord, checked_result
from tunebench.suite.trial_warnings import keep_warnings, trial_warnings
from tunebench.tasks.base import (
    Diverged,
    EvalContext,
    InvalidResult,
    Result,
    TrialClipped,
    TrialPruned,
    TrialStopped,
    TrialTimeout,
)

if TYPE_CHECKING:
    from tunebench.suite.study import StudyLoop


def evaluate_trial(loop: StudyLoop, number: int, config: dict[str, Any], key: str, fidelity: int,
              context: EvalContext, started_at: float, left: float | None,
              clip_at: int | None = None, isolated: IsolatedEvaluator | None = None
              ) -> TrialRecord:
    if isolated is not None:  # (re)started outside the trial's span: never charged to it
        isolated.start()
    evaluate = loop.task.evaluate if isolated is None else isolated.evaluate
    status, error, trace = Status.OK, None, None
    start = context.start
    result: Result | None = None
    stopped: TrialStopped | None = None
    timeout = loop.study.settings.trial_timeout
    context.deadline = time.monotonic() + timeout if timeout else None
    gpu = loop._gpu
    if gpu:
        loop._synchronize()
    cpu_clock = loop.cpu_clock
    cpu0, t0 = cpu_clock(), loop.clock()
    alarm = None
    if timeout is not None or left is not None:
        limits = EvaluationLimits(context, loop.clock, t0, timeout=timeout, budget_left=left,
                                  charge_pruner=loop.study.budget.charge_optimizer)
        if left is not None:
            context.over_budget = limits.over_budget
        first = min(timeout if timeout is not None else math.inf,
                    left if left is not None and loop._real_clock else math.inf)
        if first < math.inf and Alarm.usable():
            alarm = loop._alarm = Alarm(limits, first)
    if clip_at is not None:  # a reproduction: stop where the original was clipped
        context.over_budget = lambda: len(context.curve) >= clip_at
    caught: list[str] = []
    try:
        if left is not None and left <= 0:
            raise TrialClipped("the device-seconds budget ran out before the evaluation began")
        with trial_warnings() as caught:  # an isolated worker catches the task's own
            if alarm is None:
                returned = evaluate(dict(config), fidelity, loop.study.eval_seed, context)
            else:
                with alarm:
                    returned = evaluate(dict(config), fidelity, loop.study.eval_seed, context)
        if not isinstance(returned, Result):
            raise TypeError(f"task {loop.task.name!r} returned {type(returned).__name__} "
                            f"{returned!r:.80}, not a tunebench Result")
        result = returned
    except TrialPruned as exc:
        status, stopped = Status.PRUNED, exc
    except (TrialTimeout, TrialClipped) as exc:
        status, error, stopped = Status.FAILED, f"{type(exc).__name__}: {exc}", exc
    except Diverged as exc:  # a result of the inputs, not a bug: no traceback
        status, error = Status.FAILED, f"Diverged: {exc}"
    except Exception as exc:  # a failing trial is a result, never the end of the study
        status, error = Status.FAILED, f"{type(exc).__name__}: {exc}"
        trace = traceback_module.format_exc(limit=20)
    except SystemExit as exc:  # sys.exit() in a task ends the trial, not the run
        status, error = Status.FAILED, f"SystemExit: {exc.code}"
        trace = traceback_module.format_exc(limit=20)
    finally:
        loop._alarm = None
    if gpu:  # every path: queued work is the trial's, whatever ended it
        try:
            loop._synchronize()
        except Exception as exc:
            if status is Status.OK:
                status, error, result = Status.FAILED, f"{type(exc).__name__}: {exc}", None
    eval_seconds, cpu_seconds = loop.clock() - t0, cpu_clock() - cpu0
    if isolated is not None:  # the worker's CPU time, the parent's pruner time
        cpu_seconds = isolated.cpu_seconds + context.pruner_cpu_seconds
    curve = tuple(context.curve)
    value: float | None = None
    test_value: float | None = None
    extra: dict[str, Any] = {}
    if result is not None:
        try:
            value, test_value, spent, returned_curve, extra = checked_result(
                result, fidelity, start, loop.objective_names)
        except Exception as exc:  # a malformed result fails its trial only
            status, error = Status.FAILED, f"InvalidResult: task {loop.task.name!r} " + (
                f"reported {exc}" if isinstance(exc, InvalidResult)
                else f"returned a Result that cannot be read: {type(exc).__name__}: {exc}")
            spent, value, test_value = fidelity - start, None, None  # charged what it was asked
        else:
            curve = curve or returned_curve  # what was reported live, else what it returned
            if not math.isfinite(value):
                status, error = Status.FAILED, f"NonFiniteValue: the task returned {value!r}"
                value = None
            elif loop.objective_names:
                bad = [f"{name} = {extra['objectives'][name]!r}" for name in loop.objective_names
                       if not isinstance(extra["objectives"][name], float)
                       or not math.isfinite(extra["objectives"][name])]
                if bad:
                    status, error = Status.FAILED, f"NonFiniteValue: objective {', '.join(bad)}"
                    value = None
    else:
        after = stopped.after_step if stopped else None
        spent = trained_steps(len(curve), None if after is None else after - start,
                              fidelity - start)
        if status is Status.PRUNED:
            value = curve[-1] if curve else None
    if context.excluded:  # pruner decisions are optimiser time; uncharged work is recorded only
        eval_seconds -= context.uncharged_seconds + context.pruner_seconds + context.waited_seconds
        if context.waited_seconds:  # for the schedule of trials in flight: no one's work
            extra["waited_seconds"] = context.waited_seconds
        cpu_seconds -= context.uncharged_cpu_seconds + context.pruner_cpu_seconds
        if context.uncharged_seconds:
            extra["uncharged_seconds"] = context.uncharged_seconds
            extra["uncharged_cpu_seconds"] = context.uncharged_cpu_seconds
    clipped = clip_at is not None
    if left is not None and not clipped:  # stopped by the deadline, or a result after it
        charged = extra.get("cost_seconds", eval_seconds) + (
            context.pruner_seconds if loop.study.budget.charge_optimizer else 0.0)
        clipped = isinstance(stopped, TrialClipped) or (status is Status.OK and charged > left)
    if clipped:
        status, value, error, trace = clipped_outcome(curve, left)
        test_value, extra = None, {**extra, "clipped": True}
    if isolated is not None:
        annotate(extra, isolated)
    keep_warnings(extra, caught)  # (with an isolated worker: the parent's, from the pruner)
    return TrialRecord(
        number=number, config=config, config_key=key, status=status, value=value,
        test_value=test_value if status is Status.OK else None, fidelity=fidelity,
        fidelity_spent=float(min(spent, fidelity - start)), curve=curve, eval_seconds=eval_seconds,
        cpu_seconds=cpu_seconds, optimizer_seconds=0.0, charge=0.0, error=error,
        traceback=trace, started_at=started_at, extra=extra,
    )
