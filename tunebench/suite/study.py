"""One study's loop: ask → evaluate → tell until the harness has spent the budget.

This module is what every executor runs, in-process or in a worker. It never writes to the store:
finished trials go to a :class:`StudySink` (the driver, the only writer), so the loop is the same
whichever executor runs it. Failures are results: an exception, a non-finite value or a timeout
becomes a failed trial that is stored, told to the runner and charged.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import traceback as traceback_module
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from tunebench.devices import resolve_device, synchronize
from tunebench.runners.adapter import LibraryRunner
from tunebench.runners.base import Runner, SearchExhausted, Status
from tunebench.space import InvalidConfigError, config_key, keyed_json
from tunebench.suite.cache import numerics_settings, task_code_hash
from tunebench.suite.environment import capture_environment, study_facts
from tunebench.suite.records import StudyResult, TrialRecord
from tunebench.suite.spec import StudySpec
from tunebench.tasks.base import EvalContext, Result, Task, TrialPruned, TrialTimeout
from tunebench.threadpools import limit_threads


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


def build_study_objects(study: StudySpec) -> tuple[Task, Runner]:
    """The task and the freshly seeded runner of a study (plugins loaded first)."""
    from tunebench.registry import load_plugin_file, make_runner, make_task

    for plugin in study.plugins:
        load_plugin_file(plugin)
    task = make_task(study.task.name, study.task.options)
    runner = make_runner(
        study.runner.name, task.space, task.direction, study.runner_seed,
        study.budget.info_for(task), study.runner.options,
    )
    return task, runner


@contextlib.contextmanager
def study_threads(threads: int, uses_torch: bool) -> Iterator[None]:
    """Pin BLAS (and torch) threads for the study: thread count changes numbers, so it is fixed."""
    previous_torch = None
    if uses_torch:
        import torch

        previous_torch = torch.get_num_threads()
        torch.set_num_threads(threads)
    with limit_threads(threads):
        try:
            yield
        finally:
            if previous_torch is not None:
                import torch

                torch.set_num_threads(previous_torch)


_NO_TIME_LIMIT = contextlib.nullcontext()


class _Alarm:
    """A trial's time limit as a SIGALRM timer (main thread on POSIX; elsewhere the context's
    deadline still stops tasks that report per step).

    While the runner's pruner decides, an alarm is held back, so a timeout never interrupts a
    library halfway through updating its state: it fires as the pruner returns. Held in Python,
    not with a signal mask: the kernel may deliver the signal to any other thread of the process,
    and Python then runs the handler in the main thread regardless.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._previous: Any = None
        self._holding = False
        self._fired = False

    @staticmethod
    def usable(seconds: float | None) -> bool:
        return (seconds is not None and hasattr(signal, "setitimer")
                and threading.current_thread() is threading.main_thread())

    def _timeout(self) -> TrialTimeout:
        return TrialTimeout(f"trial exceeded its time limit of {self.seconds:g} s")

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self._holding:
            self._fired = True
            return
        raise self._timeout()

    def __enter__(self) -> _Alarm:
        self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
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
                raise self._timeout()  # the alarm that fell while the pruner decided


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
        self.device = resolve_device(study.settings.device, self.task.uses_torch)
        self._gpu = self.device != "cpu"  # the clock reads wait for queued device work
        self.spent = 0.0
        self.n_trials = 0
        self.n_failed = 0
        self._optimizer_seconds = 0.0
        self._alarm: _Alarm | None = None  # armed while an evaluation runs under a time limit
        #: The library adapter's own ask() validates every proposal against this very space:
        #: checking it twice would only cost time on every trial.
        self._proposals_validated = (type(self.runner).ask is LibraryRunner.ask
                                     and "ask" not in vars(self.runner)
                                     and self.runner.space is self.task.space)

    # -------------------------------------------------------------------- resume
    def replay(self, history: Sequence[TrialRecord]) -> None:
        """Feed the stored trials into the freshly seeded runner exactly as they happened."""
        exact = self.runner.capabilities.exact_replay
        for record in history:
            proposed = self.runner.ask()
            if exact and config_key(self.task.space.validate(proposed)) != record.config_key:
                raise ReplayMismatchError(
                    f"{self.study.describe()}: on resume, runner {self.study.runner.name!r} "
                    f"proposed {proposed} for trial {record.number}, but the stored trial has "
                    f"{record.config}. The runner is not deterministic given its seed, or the "
                    "library version changed since the stored run."
                )
            # Show the pruner exactly the steps it was consulted on live, no more, no fewer.
            for step in record.pruner_steps:
                self.runner.should_prune(record.config, step, record.curve[step - 1])
            self.runner.tell(record.config, record.outcome())
            self._count(record)

    def _count(self, record: TrialRecord) -> None:
        self.spent += record.charge
        self.n_trials += 1
        self.n_failed += record.status is Status.FAILED

    # -------------------------------------------------------------------- main loop
    def run(self, history: Sequence[TrialRecord] = ()) -> StudyResult:
        settings = self.study.settings
        with study_threads(settings.threads, self.task.uses_torch):
            self.sink.study_started(self.study.key, {
                "device": self.device, "threads": settings.threads,
                "precision": settings.precision, "runner_version": self.runner.version(),
                "runner_resolved_options": self.runner.resolved_options(),
                "task_version": self.task.version, "task_code": task_code_hash(type(self.task)),
                "environment": self._environment(), **study_facts(self.device, self.runner),
            })
            self.replay(history)
            exhausted, key = self.study.budget.exhausted, self.study.key
            search_exhausted = False
            while not exhausted(self.spent):
                try:
                    record = self.run_trial(self.n_trials)
                except SearchExhausted:  # nothing left to propose: the rest of the budget is left
                    search_exhausted = True
                    break
                self._count(record)
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
        started_at = time.time()
        t0 = self.clock()
        raw = self.runner.ask()
        ask_seconds = self.clock() - t0
        config = raw if self._proposals_validated else self._validated(raw)
        config_json, key = keyed_json(config)
        fidelity = self.study.budget.fidelity_for_next(self.task.max_fidelity, self.spent)
        self._optimizer_seconds = ask_seconds
        context = self._context(config)
        record = self.cache.lookup(self.task, self.study, key, fidelity, context) \
            if self.cache is not None else None
        if record is None:
            record = self._evaluate(number, config, key, fidelity, context, started_at)
            if self.cache is not None:
                self.cache.store(self.task, self.study, record, context)
        record.pruner_steps = tuple(context.pruner_steps)
        t1 = self.clock()
        self.runner.tell(config, record.outcome())
        self._optimizer_seconds += self.clock() - t1
        charge = self.study.budget.charge(
            fidelity_spent=record.fidelity_spent, eval_seconds=record.eval_seconds,
            optimizer_seconds=self._optimizer_seconds,
        )
        record.number, record.optimizer_seconds = number, self._optimizer_seconds
        record.charge, record.started_at, record.config_json = charge, started_at, config_json
        return record

    def _validated(self, proposal: Any) -> dict[str, Any]:
        try:
            return self.task.space.validate(proposal)
        except InvalidConfigError as exc:
            raise InvalidConfigError(
                f"runner {self.study.runner.name!r} proposed an invalid configuration {proposal}: "
                f"{exc}. This is a bug in the runner."
            ) from None

    def _context(self, config: dict[str, Any]) -> EvalContext:
        settings = self.study.settings

        consulted: list[int] = []

        def prune(step: int, value: float) -> bool:
            t0 = self.clock()
            try:
                with self._alarm.held() if self._alarm is not None else _NO_TIME_LIMIT:
                    consulted.append(step)  # replayed on resume, exactly: only steps it decided
                    return self.runner.should_prune(config, step, value)
            finally:
                self._optimizer_seconds += self.clock() - t0

        return EvalContext(device=self.device, threads=settings.threads,
                           precision=settings.precision, pruner=prune, pruner_steps=consulted)

    def _evaluate(self, number: int, config: dict[str, Any], key: str, fidelity: int,
                  context: EvalContext, started_at: float) -> TrialRecord:
        status, error, trace = Status.OK, None, None
        result: Result | None = None
        timeout = self.study.settings.trial_timeout
        context.deadline = time.monotonic() + timeout if timeout else None
        gpu = self._gpu
        if gpu:
            synchronize(self.device)
        cpu0, t0 = time.process_time(), self.clock()
        alarm = self._alarm = _Alarm(timeout) if timeout is not None and _Alarm.usable(timeout) \
            else None
        try:
            if alarm is None:
                returned = self.task.evaluate(dict(config), fidelity, self.study.eval_seed, context)
            else:
                with alarm:
                    returned = self.task.evaluate(dict(config), fidelity, self.study.eval_seed,
                                                  context)
            if gpu:
                synchronize(self.device)
            if not isinstance(returned, Result):
                raise TypeError(f"task {self.task.name!r} returned {type(returned).__name__} "
                                f"{returned!r:.80}, not a tunebench Result")
            result = returned
        except TrialPruned:
            status = Status.PRUNED
        except TrialTimeout as exc:
            status, error = Status.FAILED, f"TrialTimeout: {exc}"
        except Exception as exc:  # a failing trial is a result, never the end of the study
            status, error = Status.FAILED, f"{type(exc).__name__}: {exc}"
            trace = traceback_module.format_exc(limit=20)
        finally:
            self._alarm = None
        eval_seconds = self.clock() - t0
        cpu_seconds = time.process_time() - cpu0
        curve = tuple(context.curve)
        value: float | None = None
        test_value: float | None = None
        spent: float = len(curve) if curve else fidelity
        extra: dict[str, Any] = {}
        if result is not None:
            value, test_value, extra = result.value, result.test_value, dict(result.extra)
            curve = curve or result.curve  # what was reported live, else what the task returned
            spent = result.fidelity_spent if result.fidelity_spent is not None else fidelity
            if not 0 < spent <= fidelity:
                status, error = Status.FAILED, (
                    f"InvalidResult: task {self.task.name!r} reported fidelity_spent={spent!r} "
                    f"for a trial asked for fidelity {fidelity}")
                spent, value = fidelity, None
            elif not math.isfinite(value):
                status, error = Status.FAILED, f"NonFiniteValue: the task returned {value!r}"
                value = None
        elif status is Status.PRUNED:
            value = curve[-1] if curve else None
            spent = max(len(curve), 1)  # a pruned trial pays at least one step
        spent = min(spent, fidelity)
        return TrialRecord(
            number=number, config=config, config_key=key, status=status, value=value,
            test_value=test_value if status is Status.OK else None, fidelity=fidelity,
            fidelity_spent=float(spent), curve=curve, eval_seconds=eval_seconds,
            cpu_seconds=cpu_seconds, optimizer_seconds=0.0, charge=0.0, error=error,
            traceback=trace, started_at=started_at, extra=extra,
        )


def run_study(study: StudySpec, sink: StudySink, history: Sequence[TrialRecord] = (),
              cache: EvaluationCache | None = None) -> StudyResult:
    """Run (or resume) one study, sending every finished trial to ``sink`` as it ends."""
    return StudyLoop(study, sink, cache=cache).run(history)
