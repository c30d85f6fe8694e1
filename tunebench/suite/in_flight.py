"""Several evaluations in flight in one study, in an order that does not depend on the machine.

With ``[settings] in_flight = k`` a study keeps up to k evaluations running and asks its runner
for the next configuration as soon as one ends (runners that can propose before they hear back
declare ``Capabilities.batch``). Which evaluation really finishes first depends on the machine's
load; if that decided what the runner sees, two runs of a study would differ and a killed one
could not be resumed to the same trials. So each evaluation moves along a **simulated clock** by
the work it does: a trial asked at time t that reports its s-th step does so at t + s and ends at
t + (steps it trained, at least one). The study handles these events — a pruner's decision at a
report, the end of a trial (tell the runner, store the trial, ask for the next) — strictly in
simulated time; at equal times reports come before ends, then lower trial numbers first; all
ends at a time are handled before the next proposals, so trials of equal length run in
synchronous batches of k. An event is handled only once no running evaluation can still produce
an earlier one (a running evaluation's next event is at least one step after its last report):
a conservative discrete-event simulation. Between events the evaluations run truly in parallel —
each in its own isolated worker process, or in a thread of this one for in-process tasks — and
each evaluation's seconds leave out the time it waited for the schedule (``waited_seconds``).

Resuming is re-simulating: stored trials go through the same schedule, their reports and ends at
the times they had, without being evaluated again; a trial that was in flight when the run was
killed (asked, never stored) is evaluated when the schedule reaches it. So a resumed study
continues exactly as an uninterrupted one, and every number in it is a function of the stored
trials alone. Budgets stay exact: a trial starts only while the budget minus what trials in
flight were asked for is not spent (a trials or epochs budget: what a trial may cost is known
when it starts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from tunebench.runners.base import SearchExhausted, WaitForResults
from tunebench.space import config_key
from tunebench.suite.isolation import IsolatedEvaluator
from tunebench.suite.records import StudyResult, TrialRecord
from tunebench.suite.trial_warnings import trial_warnings

if TYPE_CHECKING:
    from tunebench.suite.study import PendingTrial, StudyLoop

REPORT, END = 0, 1


class Abandoned(BaseException):
    """Ends an evaluation thread whose study stopped (an interrupt, a crash elsewhere)."""


class When(NamedTuple):
    """An event's place in the schedule: simulated time, then reports before ends, then the
    trial's number."""

    time: float
    phase: int
    number: int


@dataclass
class Flight:
    """One trial in flight: where it is on the simulated clock and the event it waits on."""

    number: int
    begin: float
    reserved: float  # what the budget holds back for it while it runs
    pending: PendingTrial | None = None  # a live evaluation
    stored: TrialRecord | None = None  # a stored trial, re-simulated on resume
    tag: Any = None
    evaluator: IsolatedEvaluator | None = None
    progress: float = 0.0  # simulated time since begin of its last report
    event: tuple[When, Any] | None = None  # posted and not yet handled
    answer: Any = None  # the pruner's decision (or what it raised), for a report
    decided: threading.Event = field(default_factory=threading.Event)
    crashed: BaseException | None = None  # the harness itself failed in its thread
    replay: list[tuple[int, float, float]] = field(default_factory=list)  # a stored one's reports
    decide: Any = None  # the study loop's pruner call for this evaluation

    recorded: bool = False  # the clock counts recorded seconds, not steps
    reports: list[float] = field(default_factory=list)  # when its pruner decisions fell

    def report_time(self, step_offset: float, seconds: float | None) -> float:
        """Where a report ``step_offset`` steps (``seconds`` recorded seconds) in lands: never
        before the last one."""
        if self.recorded:
            self.progress = max(self.progress, self.progress if seconds is None else seconds)
        else:
            self.progress = max(float(step_offset), self.progress + 1.0)
        return self.begin + self.progress

    def end_time(self, steps: float, cost: float | None) -> When:
        if self.recorded:
            return When(self.begin + max(cost or 0.0, self.progress), END, self.number)
        return When(self.begin + max(float(steps), self.progress, 1.0), END, self.number)

    def schedule(self, end: When) -> dict[str, Any]:
        """What a trial's record keeps of its place in the schedule (``extra["schedule"]``)."""
        out: dict[str, Any] = {"begin": self.begin, "end": end.time}
        if self.reports:
            out["reports"] = list(self.reports)
        return out

    def bound(self) -> When:
        """Its next event, or the earliest it can be while the evaluation still runs."""
        if self.event is not None:
            return self.event[0]
        if self.recorded:  # a recorded cost may be nothing at all
            return When(self.begin + self.progress, REPORT, self.number)
        if self.progress >= 1.0:
            return When(self.begin + self.progress, END, self.number)
        return When(self.begin + 1.0, REPORT, self.number)


class InFlightStudy:
    """Runs a study loop's trials ``k`` at a time on the simulated clock (module docstring)."""

    def __init__(self, loop: StudyLoop, k: int) -> None:
        self.loop = loop
        self.k = k
        self.prunes = loop.runner.capabilities.pruning
        self.recorded = loop.study.settings.simulated_time == "recorded"
        self.cv = threading.Condition()
        self.flights: dict[int, Flight] = {}
        self.now = 0.0
        self.next_number = 0
        self.committed = 0.0  # held back for trials in flight
        self.waiting = False  # the runner said it must hear back first
        self.exhausted_search = False
        loop.cpu_clock = time.thread_time  # an in-process evaluation's CPU time is its thread's
        first = loop._isolated
        self.free: list[IsolatedEvaluator | None] = [first] if first is not None else [None]
        if first is not None:
            self.free += [IsolatedEvaluator(loop.study, loop.task, loop.device)
                          for _ in range(k - 1)]
        else:
            self.free += [None] * (k - 1)
        self._all = [e for e in self.free if e is not None]

    # ------------------------------------------------------------------ the schedule
    def run(self, history: Sequence[TrialRecord]) -> StudyResult:
        loop = self.loop
        self.stored = {record.number: record for record in history}
        try:
            for evaluator in self._all[1:]:
                evaluator.launch()  # side by side: each takes a fraction of a second to start
            for evaluator in self._all[1:]:
                evaluator.start()
            self._schedule()
        finally:
            self._release()
        if self.stored:
            raise loop.mismatch(f"the schedule ended before stored trial(s) "
                                f"{sorted(self.stored)[:5]} came up again")
        return StudyResult(key=loop.study.key, n_trials=loop.n_trials, n_failed=loop.n_failed,
                           budget_spent=loop.spent, search_exhausted=self.exhausted_search)

    def _schedule(self) -> None:
        while True:
            when, flight = self._next()
            if flight is None or when.time > self.now:
                if self._fill():
                    continue
                if flight is None:
                    return
                self.now = when.time
                continue
            self._handle(flight)

    def _next(self) -> tuple[When, Flight | None]:
        """The earliest event that can be decided now: a posted one no running evaluation can
        precede, or (with ``None``) the time before which nothing more can happen."""
        with self.cv:
            while True:
                if not self.flights:
                    return When(float("inf"), END, -1), None
                flight = min(self.flights.values(), key=Flight.bound)
                for other in self.flights.values():
                    if other.crashed is not None:
                        raise other.crashed
                when = flight.bound()
                if when.time > self.now or flight.event is not None:
                    return when, flight
                self.cv.wait()

    def _fill(self) -> bool:
        """Start one trial at the current time if a slot, the budget and the runner allow."""
        loop = self.loop
        budget = loop.study.budget
        if (self.waiting or self.exhausted_search or len(self.flights) >= self.k
                or budget.exhausted(loop.spent + self.committed)):
            return False
        number = self.next_number
        stored = self.stored.get(number)
        evaluator = self.free[-1]
        try:
            if stored is not None:
                flight = self._replayed(number, stored)
            else:
                flight = self._started(number, evaluator)
        except SearchExhausted:
            self.exhausted_search = True
            return False
        except WaitForResults:
            if not self.flights:
                raise RuntimeError(f"runner {loop.study.runner.name!r} waits for results with "
                                   "no trial in flight; this is a bug in the runner") from None
            self.waiting = True
            return False
        self.stored.pop(number, None)
        self.next_number += 1
        self.committed += flight.reserved
        self.flights[number] = flight
        if stored is None:
            flight.evaluator = self.free.pop()
            threading.Thread(target=self._evaluate, args=(flight,), daemon=True,
                             name=f"tunebench-trial-{number}").start()
        return True

    def _started(self, number: int, evaluator: IsolatedEvaluator | None) -> Flight:
        loop = self.loop
        if evaluator is not None:  # (re)started here: a worker dies with the thread starting it
            evaluator.start()
        pending = loop.propose(number, loop.spent + self.committed, evaluator)
        flight = Flight(number, self.now, self._reservation(pending.fidelity
                                                            - pending.context.start),
                        pending=pending, tag=pending.planned.tag, recorded=self.recorded)
        self._wire(flight)
        return flight

    def _replayed(self, number: int, record: TrialRecord) -> Flight:
        loop = self.loop
        with trial_warnings():  # kept with the stored trial when it ran
            planned = loop.promotions.plan(loop.runner.ask())
        if loop.runner.capabilities.exact_replay and config_key(planned.config) != record.config_key:
            raise loop.mismatch(f"proposed {planned.config} for trial {number}, but the stored "
                                f"trial has {record.config}")
        flight = Flight(number, self.now,
                        self._reservation(record.fidelity - record.start_fidelity),
                        stored=record, tag=planned.tag, recorded=self.recorded)
        schedule = record.extra.get("schedule")
        if not isinstance(schedule, dict) or schedule.get("begin") != self.now:
            raise loop.mismatch(f"trial {number} was stored with schedule {schedule!r}, but it "
                                f"comes up again at simulated time {self.now!r}")
        start, times = record.start_fidelity, schedule.get("reports", [])
        if len(times) != len(record.pruner_steps):
            raise loop.mismatch(f"trial {number} was stored with {len(record.pruner_steps)} "
                                f"pruner decisions but {len(times)} report times")
        flight.replay = [(step, record.curve[step - 1 - start], when)
                         for step, when in zip(record.pruner_steps, times, strict=True)]
        self._post_next_replayed(flight)
        return flight

    def _reservation(self, fidelity: float) -> float:
        return self.loop.study.budget.charge(fidelity_spent=fidelity, eval_seconds=0.0,
                                             optimizer_seconds=0.0)

    # ------------------------------------------------------------------ events
    def _handle(self, flight: Flight) -> None:
        assert flight.event is not None
        when, payload = flight.event
        if when.phase == REPORT:
            step, value = payload
            if flight.stored is not None:
                self.loop.runner.should_prune(flight.stored.config, step, value)
                flight.event = None
                self._post_next_replayed(flight)
                return
            try:
                answer: Any = flight.decide(step, value)
            except BaseException as exc:  # raised in the evaluation, as it would be in-process
                answer = exc
            with self.cv:
                flight.answer, flight.event = answer, None
            flight.decided.set()
            return
        del self.flights[flight.number]
        self.committed -= flight.reserved
        self.waiting = False
        loop = self.loop
        if flight.stored is not None:
            record = flight.stored
            with trial_warnings():
                loop.runner.tell(record.config, record.outcome(flight.tag, loop.objective_names))
            loop.promotions.finished(record.config_key, record.number, record.status,
                                     record.start_fidelity + record.fidelity_spent)
            loop.count(record)
            return
        self.free.append(flight.evaluator)
        record = loop.conclude(flight.pending, payload)
        loop.count(record)
        loop.sink.trial_finished(loop.study.key, record)

    def _post_next_replayed(self, flight: Flight) -> None:
        record = flight.stored
        if flight.replay:
            step, value, when = flight.replay.pop(0)
            flight.event = (When(when, REPORT, flight.number), (step, value))
        else:
            flight.event = (When(float(record.extra["schedule"]["end"]), END, flight.number), None)

    # ------------------------------------------------------------------ an evaluation's thread
    def _wire(self, flight: Flight) -> None:
        """Route the evaluation's reports through the schedule: a pruning runner decides each
        one in simulated-time order (the evaluation waits); for any other a report only moves
        the trial's clock on."""
        context = flight.pending.context
        flight.decide = context.pruner  # the loop's own: called by the scheduling thread only
        start = context.start
        cv = self.cv

        def report(step: int, value: float) -> bool:
            with cv:
                when = flight.report_time(step - start, context.reported_seconds)
                if not self.prunes:
                    cv.notify_all()
                    return False
                flight.reports.append(when)
                flight.decided.clear()
                flight.event = (When(when, REPORT, flight.number), (step, value))
                cv.notify_all()
            t0, decided_in = time.perf_counter(), context.pruner_seconds
            flight.decided.wait()
            # The pruner's own seconds are optimiser time (pruner_seconds); the rest was waiting.
            waited = time.perf_counter() - t0 - (context.pruner_seconds - decided_in)
            context.waited_seconds += waited
            context.excluded = True
            if context.deadline is not None:  # a time limit counts the evaluation, not the wait
                context.deadline += waited
            answer = flight.answer
            if isinstance(answer, BaseException):
                raise answer
            return bool(answer)

        context.pruner = report

    def _evaluate(self, flight: Flight) -> None:
        try:
            record = self.loop.execute(flight.pending, flight.evaluator)
        except BaseException as exc:  # the harness failed (a task's failure is a record)
            with self.cv:
                flight.crashed = exc
                self.cv.notify_all()
            return
        with self.cv:
            end = flight.end_time(record.fidelity_spent, record.extra.get("cost_seconds"))
            record.extra = {**record.extra, "schedule": flight.schedule(end)}
            flight.event = (end, record)
            self.cv.notify_all()

    def _release(self) -> None:
        """Evaluators of trials still in flight (an interrupt, a crash) are stopped; the others
        wait idle for the next study, as a study's one evaluator does."""
        for flight in self.flights.values():
            if flight.evaluator is not None:
                flight.evaluator.abandon()
            flight.answer = Abandoned()  # an evaluation waiting on a decision ends there
            flight.decided.set()
        for evaluator in self._all:
            evaluator.close()
