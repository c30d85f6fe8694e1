"""One study's loop: ask → evaluate → tell until the harness has spent the budget.

This module is what every executor runs, in-process or in a worker. It never writes to the store:
finished trials go to a :class:`StudySink` (the driver, the only writer), so the loop is the same
whichever executor runs it. Failures are results: an exception (``sys.exit()`` included), a
non-finite value, a malformed :class:`Result` (the field named; see
:func:`~tunebench.suite.records.checked_result`), a diverged run or a timeout becomes a failed
trial that is stored, told to the runner and charged what it trained; so does the death of an
isolated evaluation's worker process (:mod:`tunebench.suite.isolation`). A ``KeyboardInterrupt``
still interrupts the run.
What each trial is charged, and how the trial a device-seconds budget runs out in is clipped, is
set out in :mod:`tunebench.suite.budget`; the limits an evaluation runs under are in
:mod:`tunebench.suite.limits`, the evaluation itself in :mod:`tunebench.suite.evaluation`. With
``settings.in_flight`` above one, :mod:`tunebench.suite.in_flight` keeps several evaluations
running, in an order on a simulated clock that no machine's speed changes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tunebench.devices import resolve_device, synchronize
from tunebench.runners.adapter import LibraryRunner
from tunebench.runners.base import SearchExhausted, Status
from tunebench.space import config_key, keyed_json
from tunebench.suite.budget import Budget
from tunebench.suite.cache import numerics_settings, task_code_hash
from tunebench.suite.environment import capture_environment, study_facts
from tunebench.suite.evaluation import evaluate_trial
from tunebench.suite.isolation import (
    IsolatedEvaluator,
    isolated_evaluator,
    isolation_facts,
    worker_scope,
)
from tunebench.suite.limits import Alarm, warm_up_once
from tunebench.suite.objectives import study_objectives
from tunebench.suite.promotions import Paused, Planned, Promotions
from tunebench.suite.records import StudyResult, TrialRecord, TrialSteps, charged_seconds
from tunebench.suite.spec import StudySpec
from tunebench.suite.study_setup import build_study_objects, study_threads
from tunebench.suite.trial_warnings import keep_warnings, trial_warnings
from tunebench.tasks.base import (
    EvalContext,
    Result,
    Task,
    TrialStopped,
)


@dataclass
class PendingTrial:
    """A proposed trial, set up to be evaluated: what :meth:`StudyLoop.execute` and
    :meth:`StudyLoop.conclude` need of it."""

    number: int
    planned: Planned
    config_json: str
    key: str
    context: EvalContext
    fidelity: int
    promotion: dict[str, Any]
    left: float | None  # device seconds it may still use (None: no live limit)
    clip_at: int | None  # a reproduction's clip
    started_at: float
    ask_seconds: float
    runner_warnings: list[str]  # what the runner's ask warned (tunebench.suite.trial_warnings)


class ReplayMismatchError(RuntimeError):
    """A resumed runner proposed something other than what the stored history says it proposed."""


class StudySink(Protocol):
    """Where a running study sends what happens (the driver stores it)."""

    def study_started(self, key: tuple[str, str, int], info: dict[str, Any]) -> None: ...

    def trial_finished(self, key: tuple[str, str, int], record: TrialRecord) -> None: ...


class EvaluationCache(Protocol):
    """Looks up and stores complete evaluations by their canonical key (see suite.cache)."""

    def lookup(self, task: Task, study: StudySpec, config_key: str,
               fidelity: int, context: EvalContext) -> TrialRecord | None: ...

    def store(self, task: Task, study: StudySpec, record: TrialRecord,
              context: EvalContext) -> None: ...


_NO_TIME_LIMIT = contextlib.nullcontext()


class StudyLoop:
    """Runs one study from its stored history to the end of its budget."""

    def __init__(self, study: StudySpec, sink: StudySink,
                 cache: EvaluationCache | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.study = study
        self.sink = sink
        self.cache = cache
        self.clock = clock
        self.task, self.runner = build_study_objects(study)
        #: A multi-objective study's objectives, in the suite's order (empty: one objective).
        self.objectives = study_objectives(self.task, study.task.objectives,
                                           study.task.references)
        self.objective_names = tuple(o.name for o in self.objectives)
        self.device = resolve_device(study.settings.device, self.task.uses_torch)
        #: Where evaluations run (tunebench.suite.isolation). The clock reads wait for queued
        #: device work (in the worker, when isolated).
        self.isolation, self._isolated = isolated_evaluator(study, self.task, self.device, clock)
        self._gpu = self.device != "cpu" and self._isolated is None
        budget = study.budget
        #: A device-seconds budget clips the trial it runs out in (see tunebench.suite.budget);
        #: a reproduction's replayed budget clips where the original did.
        self._clip = budget.clips_live
        self._replays_clips = type(budget).clip_steps is not Budget.clip_steps
        self._limited = self._clip or self._replays_clips
        self._real_clock = clock is time.perf_counter
        self._context_extras = self._gpu or not self._real_clock
        self.spent = 0.0
        self.n_trials = 0
        self.n_failed = 0
        #: CPU seconds of an in-process evaluation: the process's, or the evaluating thread's when
        #: several evaluations are in flight (see tunebench.suite.in_flight).
        self.cpu_clock: Callable[[], float] = time.process_time
        self._alarm: Alarm | None = None  # armed while an evaluation runs under a limit
        #: Where a long trial's steps are shown while it runs (a sink may show none), and the
        #: fidelity and start of each trial in flight, by number.
        self._show_steps: Callable[[tuple[str, str, int], TrialSteps], None] | None = \
            getattr(sink, "trial_step", None)
        self._asked: dict[int, tuple[int, float]] = {}
        self._steps_shown_at = 0.0
        #: The library adapter's own ask() validates every proposal against this very space:
        #: checking it twice would only cost time on every trial.
        validated = (type(self.runner).ask is LibraryRunner.ask and "ask" not in vars(self.runner)
                     and self.runner.space is self.task.space)
        self.promotions = Promotions(self.task, study.runner.name, validated=validated,
                                     continues=self.runner.capabilities.continues)
        if self._isolated is not None:  # a checkpoint is rebuilt where evaluations run
            self.promotions.evaluate = self._isolated.evaluate

    # -------------------------------------------------------------------- resume
    def replay(self, history: Sequence[TrialRecord]) -> None:
        """Feed the stored trials into the freshly seeded runner exactly as they happened."""
        with trial_warnings():  # what the runner warns again was kept with the stored trials
            self._replay(history)

    def _replay(self, history: Sequence[TrialRecord]) -> None:
        exact = self.runner.capabilities.exact_replay
        for record in history:
            planned = self.promotions.plan(self.runner.ask())
            if exact and config_key(planned.config) != record.config_key:
                raise self.mismatch(f"proposed {planned.config} for trial {record.number}, but "
                                    f"the stored trial has {record.config}")
            # Show the pruner exactly the steps it was consulted on live, no more, no fewer.
            start = record.start_fidelity
            for step in record.pruner_steps:
                self.runner.should_prune(record.config, step, record.curve[step - 1 - start])
            self.runner.tell(record.config, record.outcome(planned.tag, self.objective_names))
            self.promotions.finished(record.config_key, record.number, record.status,
                                     start + record.fidelity_spent)
            self.count(record)

    def mismatch(self, detail: str) -> ReplayMismatchError:
        """The error of a resume whose runner does not retrace its stored trials."""
        return ReplayMismatchError(
            f"{self.study.describe()}: on resume, runner {self.study.runner.name!r} {detail}. The "
            "runner is not deterministic given its seed, or the library version changed since "
            "the stored run.")

    def count(self, record: TrialRecord) -> None:
        self.spent += record.charge
        self.n_trials += 1
        self.n_failed += record.status is Status.FAILED

    # -------------------------------------------------------------------- main loop
    def run(self, history: Sequence[TrialRecord] = ()) -> StudyResult:
        settings = self.study.settings
        with study_threads(settings.threads, self.task.uses_torch), worker_scope(self._isolated):
            warm_up_seconds = warm_up_once(self.task, self.device, settings, self.clock) \
                if self._isolated is None else self._isolated.start()
            self.sink.study_started(self.study.key, {
                "device": self.device, "threads": settings.threads,
                "precision": settings.precision, "runner_version": self.runner.version(),
                "runner_resolved_options": self.runner.resolved_options(),
                "task_version": self.task.version, "task_code": task_code_hash(type(self.task)),
                "environment": self._environment(), **study_facts(self.device, self.runner),
                "warm_up_seconds": warm_up_seconds, **isolation_facts(self.isolation, settings),
            })
            if settings.scheduled:
                from tunebench.suite.in_flight import InFlightStudy

                return InFlightStudy(self, settings.in_flight).run(history)
            self.replay(history)
            exhausted, key = self.study.budget.exhausted, self.study.key
            search_exhausted = False
            while not exhausted(self.spent):
                try:
                    record = self.run_trial(self.n_trials)
                except SearchExhausted:  # nothing left to propose: the rest of the budget is left
                    search_exhausted = True
                    break
                self.count(record)
                self.sink.trial_finished(key, record)
        return StudyResult(key=key, n_trials=self.n_trials, n_failed=self.n_failed,
                           budget_spent=self.spent, search_exhausted=search_exhausted)

    def _environment(self) -> dict[str, Any]:
        """This process's environment plus the determinism settings the study's evaluations run
        with (threads, precision, BLAS, torch's deterministic flags): what `reproduce` compares."""
        settings = self.study.settings
        return {**capture_environment(),
                "determinism": numerics_settings(self.task.uses_torch, self.device, settings.threads,
                                                 settings.precision, applied=True)}

    def run_trial(self, number: int) -> TrialRecord:
        """Ask, evaluate and tell one trial, one after the other."""
        pending = self.propose(number, self.spent)
        return self.conclude(pending, self.execute(pending, self._isolated))

    def propose(self, number: int, spent: float, evaluator: IsolatedEvaluator | None = None
                ) -> PendingTrial:
        """Ask the runner for trial ``number`` and set up its evaluation, ``spent`` of the budget
        being spent or committed to trials in flight. ``evaluator`` rebuilds a checkpoint."""
        started_at = time.time()
        t0 = self.clock()
        with trial_warnings() as asked:
            planned = self.promotions.plan(self.runner.ask())
        ask_seconds = self.clock() - t0
        config = planned.config
        config_json, key = keyed_json(config)
        budget = self.study.budget
        context = self._context(config, number)
        parent = self.promotions.parent(key, planned)
        promotion: dict[str, Any] = {}
        if parent is not None:
            promotion = self._continue(config, parent, context,
                                       None if evaluator is None else evaluator.evaluate)
        start = context.start
        fidelity = budget.fidelity_for_next(self.task.max_fidelity, spent, planned.fidelity,
                                            start)
        if self._show_steps is not None:
            self._asked[number] = (fidelity, time.monotonic())
        # Under a device-seconds budget: the charged seconds this evaluation may still use.
        left = clip_at = None
        if self._limited:
            if self._clip:
                left = budget.amount - spent - (ask_seconds if budget.charge_optimizer else 0.0)
            else:
                clip_at = budget.clip_steps(number)
        return PendingTrial(number, planned, config_json, key, context, fidelity, promotion,
                            left, clip_at, started_at, ask_seconds, asked)

    def execute(self, pending: PendingTrial, evaluator: IsolatedEvaluator | None) -> TrialRecord:
        """Evaluate a proposed trial (or find it in the cache): its record, not yet charged."""
        config, key, context, fidelity = (pending.planned.config, pending.key, pending.context,
                                          pending.fidelity)
        cache = self.cache if not context.start else None  # a continuation is no evaluation to reuse
        record = cache.lookup(self.task, self.study, key, fidelity, context) \
            if cache is not None else None
        left = pending.left
        if record is not None and left is not None and charged_seconds(record) > left:
            record = None  # a live run would be clipped: run it
        if record is not None and self.objective_names and record.status is Status.OK and any(
                name not in record.extra.get("objectives", ()) for name in self.objective_names):
            record = None  # cached before its task reported these objectives: run it
        if record is None:
            record = self._evaluate(pending.number, config, key, fidelity, context,
                                    pending.started_at, left, pending.clip_at, evaluator)
            if cache is not None and not record.extra.get("clipped"):
                cache.store(self.task, self.study, record, context)
        if pending.promotion:
            record.extra = {**record.extra, **pending.promotion}
        record.pruner_steps = tuple(context.pruner_steps)
        record.number = pending.number
        return record

    def conclude(self, pending: PendingTrial, record: TrialRecord) -> TrialRecord:
        """Tell the runner how the trial went and charge it: the record as it is stored."""
        config, context, budget = pending.planned.config, pending.context, self.study.budget
        self._asked.pop(pending.number, None)
        self.promotions.finished(pending.key, pending.number, record.status,
                                 context.start + record.fidelity_spent, context.saved_checkpoint)
        t1 = self.clock()
        with trial_warnings() as told:
            self.runner.tell(config, record.outcome(pending.planned.tag, self.objective_names))
        optimizer_seconds = pending.ask_seconds + context.pruner_seconds + self.clock() - t1
        if pending.runner_warnings or told:
            record.extra = dict(record.extra)
            keep_warnings(record.extra, pending.runner_warnings + told, "runner_warnings")
        charge = budget.charge(
            fidelity_spent=record.fidelity_spent, eval_seconds=charged_seconds(record),
            optimizer_seconds=optimizer_seconds,
        )
        if self._clip:  # never past the budget: a clipped trial is charged exactly what remained
            charge = min(charge, budget.amount - self.spent)
        record.optimizer_seconds = optimizer_seconds
        record.charge, record.started_at = charge, pending.started_at
        record.config_json = pending.config_json
        return record

    def _continue(self, config: dict[str, Any], parent: Paused, context: EvalContext,
                  evaluate: Callable[..., Result] | None = None) -> dict[str, Any]:
        """Set up a promotion of trial ``parent`` (see tunebench.suite.promotions): from its
        checkpoint on a task that can continue, else from scratch; what to record of it."""
        promotion: dict[str, Any] = {"continued_from": parent.number, "start_fidelity": 0}
        if self.task.can_continue:
            checkpoint, rebuild_seconds = self.promotions.checkpoint(
                config, parent, self.study.eval_seed, context, evaluate)
            if rebuild_seconds is not None:
                promotion["checkpoint_rebuild_seconds"] = rebuild_seconds
            if checkpoint is not None:
                context.start, context.checkpoint = parent.reached, checkpoint
                promotion["start_fidelity"] = parent.reached
        return promotion

    def _context(self, config: dict[str, Any], number: int) -> EvalContext:
        settings = self.study.settings
        consulted: list[int] = []

        def prune(step: int, value: float) -> bool:
            # Timed outside the evaluation (optimiser time only), and the time added before the
            # held alarm looks again, so a limit never counts the pruner's decision as evaluation.
            try:
                with self._alarm.held() if self._alarm is not None else _NO_TIME_LIMIT:
                    if self._show_steps is not None:  # microseconds, at most twice a second
                        self._shown(number, step, context.start)
                    t0, cpu0 = self.clock(), time.process_time()
                    try:
                        consulted.append(step)  # replayed on resume, exactly: only steps it decided
                        return self.runner.should_prune(config, step, value)
                    finally:
                        context.pruner_seconds += self.clock() - t0
                        context.pruner_cpu_seconds += time.process_time() - cpu0
                        context.excluded = True
            except TrialStopped as exc:  # a limit reached while the pruner decided
                if exc.after_step is None:
                    exc.after_step = step  # ... after the step was trained and reported
                raise

        context = EvalContext(device=self.device, threads=settings.threads,
                              precision=settings.precision, pruner=prune, pruner_steps=consulted,
                              wants_checkpoint=self.promotions.keeps_checkpoints)
        if self._context_extras:  # a fake clock, or a GPU to wait for
            if not self._real_clock:
                context.clock = self.clock
            if self._gpu:
                context.sync = self._synchronize
        return context

    def _shown(self, number: int, step: int, start: int) -> None:
        """Tell the sink how far trial ``number`` has come: once it has run a second, at most
        twice a second."""
        now = time.monotonic()
        fidelity, began = self._asked.get(number, (0, now))
        if now - began >= 1.0 and now - self._steps_shown_at >= 0.5:
            self._steps_shown_at = now
            self._show_steps(self.study.key, TrialSteps(number, step, fidelity, now - began, start))

    def _synchronize(self) -> None:
        synchronize(self.device)

    def _evaluate(self, number: int, config: dict[str, Any], key: str, fidelity: int,
                  context: EvalContext, started_at: float, left: float | None,
                  clip_at: int | None = None, isolated: IsolatedEvaluator | None = None
                  ) -> TrialRecord:
        return evaluate_trial(self, number, config, key, fidelity, context, started_at, left,
                              clip_at, isolated)


def run_study(study: StudySpec, sink: StudySink, history: Sequence[TrialRecord] = (),
              cache: EvaluationCache | None = None) -> StudyResult:
    """Run (or resume) one study, sending every finished trial to ``sink`` as it ends."""
    return StudyLoop(study, sink, cache=cache).run(history)
