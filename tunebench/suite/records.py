"""The one exchange format between the study loop, executors and the store: a finished trial."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tunebench.runners.base import Outcome, Status
from tunebench.space import Config
from tunebench.tasks.base import InvalidResult, Result, as_curve, as_number

#: Plain JSON leaves of a task's ``extra`` (a float only when finite): stored as they are.
_PLAIN = frozenset({str, int, bool, type(None)})
#: Nesting below this depth in ``extra`` is stored as its text (JSON encoders recurse).
_MAX_EXTRA_DEPTH = 32


@dataclass(slots=True)
class TrialRecord:
    """Everything stored about one finished trial (picklable, sent back by workers).

    Mutable only while the study loop completes it (number, optimiser time, charge); treat it as
    read-only once it has been sent to a sink.
    """

    number: int
    config: Config
    config_key: str
    status: Status
    value: float | None  # validation value, None when failed
    test_value: float | None
    fidelity: int  # asked for (the total to reach, when it continues an earlier trial)
    fidelity_spent: float  # actually run in this trial (from ``start_fidelity`` on)
    curve: tuple[float, ...]
    #: wall time of the evaluation, device-synchronised, less the pruner's decisions and the work
    #: the task ran uncharged (data preparation, test scoring)
    eval_seconds: float
    cpu_seconds: float  # process CPU time of the same span
    optimizer_seconds: float  # ask + tell (+ prune checks)
    charge: float  # budget units charged
    error: str | None = None
    traceback: str | None = None
    cached: bool = False
    started_at: float = 0.0  # unix time
    #: The task's own extras, plus the harness's: ``uncharged_seconds`` / ``uncharged_cpu_seconds``
    #: (recorded, not charged), ``clipped`` (the trial a device-seconds budget ran out in), and for
    #: a promotion ``continued_from`` (the earlier trial's number), ``start_fidelity`` (the steps it
    #: continued from: 0 when the task had to restart) and ``checkpoint_rebuild_seconds``
    extra: dict[str, Any] = field(default_factory=dict)
    pruner_steps: tuple[int, ...] = ()  # steps the runner's pruner saw, replayed on resume
    #: canonical JSON of ``config`` when the loop already made it (with the key); the store
    #: writes it as it is instead of encoding the configuration again
    config_json: str | None = None

    @property
    def start_fidelity(self) -> int:
        """The steps this trial continued from (0: trained from scratch)."""
        return int(self.extra.get("start_fidelity", 0)) if self.extra else 0

    @property
    def continued_from(self) -> int | None:
        """The number of the trial this one was promoted from (None: not a promotion)."""
        parent = self.extra.get("continued_from") if self.extra else None
        return None if parent is None else int(parent)

    def outcome(self, tag: Any = None, objectives: tuple[str, ...] = ()) -> Outcome:
        """What the runner was told about this trial (``tag``: its proposal's; ``objectives``:
        a multi-objective study's, whose values it is told in that order)."""
        value = self.value if self.value is not None and math.isfinite(self.value) else None
        status = self.status if value is not None or self.status is Status.FAILED else Status.FAILED
        start = self.start_fidelity
        values = None
        if objectives and status is Status.OK:
            reported = self.extra["objectives"]
            values = tuple(float(reported[name]) for name in objectives)
        return Outcome(status=status, value=value, fidelity=start + self.fidelity_spent,
                       curve=self.curve, trial=self.number, tag=tag, start=start, values=values)


@dataclass(frozen=True)
class TrialSteps:
    """How far a long trial has come while it runs (for the progress display; never stored)."""

    number: int
    step: int  # the last step it reported, numbered from the start of training
    fidelity: int  # the step it was asked to reach
    seconds: float  # since its evaluation began
    start: int = 0  # steps trained before (a continued trial)

    def seconds_left(self) -> float:
        """At the pace of its steps so far."""
        done = self.step - self.start
        return self.seconds / done * max(0, self.fidelity - self.step) if done > 0 else 0.0


@dataclass(frozen=True)
class StudyResult:
    """How a study ended (returned to the driver, which records what it spent)."""

    key: tuple[str, str, int]
    n_trials: int
    n_failed: int
    budget_spent: float
    #: The runner had nothing left to propose (a finished grid) before the budget was spent.
    search_exhausted: bool = False


def charged_seconds(record: TrialRecord) -> float:
    """The evaluation seconds a device-seconds budget charges: the recorded cost of a task that
    answers from a table (``Result.cost_seconds``), else the measured span."""
    return record.extra.get("cost_seconds", record.eval_seconds)


def checked_result(result: Result, fidelity: int, start: int = 0,
                   objectives: tuple[str, ...] = ()
                   ) -> tuple[float, float | None, float, tuple[float, ...], dict[str, Any]]:
    """``(value, test_value, fidelity_spent, curve, extra)`` of a task's result, checked at the
    trial boundary: a malformed field raises :class:`InvalidResult` naming it (that trial fails,
    the study goes on); ``extra`` comes back safe to store (see :func:`recordable_extra`).
    A task continuing from ``start`` steps reports the total it reached; what is returned is the
    steps trained now. The objectives a task reports go to ``extra["objectives"]`` and
    ``extra["test_objectives"]``; a multi-objective study's (``objectives``) must all be there.

    :class:`Result` converts its fields when built; this checks again in case a task bypassed
    that (a subclass, ``object.__setattr__``). A well-formed result costs a few type checks.
    """
    value, test_value, spent = result.value, result.test_value, result.fidelity_spent
    curve, extra = result.curve, result.extra
    if type(value) is not float:
        value = as_number("value", value)
    if test_value is not None and type(test_value) is not float:
        test_value = as_number("test_value", test_value)
    if spent is None:
        spent = fidelity
    elif type(spent) is not float and type(spent) is not int:
        spent = as_number("fidelity_spent", spent)
    if not start < spent <= fidelity:
        raise InvalidResult(f"fidelity_spent={spent!r} for a trial asked for fidelity {fidelity}"
                            + (f" from step {start}" if start else ""))
    if type(curve) is not tuple or curve:
        curve = as_curve(curve)
    if type(extra) is not dict:
        raise InvalidResult(f"extra={extra!r:.80} ({type(extra).__name__}), not a dict")
    extra = recordable_extra(extra) if extra else {}
    cost = result.cost_seconds
    if cost is not None:  # recorded with the trial; charged by a device-seconds budget
        cost = as_number("cost_seconds", cost) if type(cost) is not float else cost
        if not (math.isfinite(cost) and cost >= 0):
            raise InvalidResult(f"cost_seconds={cost!r}: a recorded cost is a finite number of "
                                "seconds, zero or more")
        extra["cost_seconds"] = cost
    if result.objectives is not None or objectives:
        _objectives_into(extra, result, objectives)
    return value, test_value, float(spent - start), curve, extra


def _objectives_into(extra: dict[str, Any], result: Result, objectives: tuple[str, ...]) -> None:
    """Store every objective the task reported; a multi-objective study's must all be there."""
    reported = result.objectives
    if reported is None or type(reported) is not dict:
        raise InvalidResult(f"objectives={reported!r:.80}: a multi-objective study needs each of "
                            f"{', '.join(objectives)} reported by name in Result.objectives")
    missing = [name for name in objectives if name not in reported]
    if missing:
        raise InvalidResult(f"objectives reported {sorted(reported)}, without {missing}")
    # (a non-finite value is stored as its text, as in any extra; one of the study's fails it)
    extra["objectives"] = recordable({str(k): as_number(f"objectives[{k!r}]", v)
                                      for k, v in reported.items()})
    if result.test_objectives is not None:
        extra["test_objectives"] = recordable({str(k): as_number(f"test_objectives[{k!r}]", v)
                                               for k, v in dict(result.test_objectives).items()})


def recordable_extra(extra: dict[Any, Any]) -> dict[str, Any]:
    """A copy of a task's ``extra`` that the store can always write and read back as JSON.

    Non-finite floats (a NaN loss is common) become their text (``"nan"``, ``"inf"``,
    ``"-inf"``), numpy numbers plain ones, arrays and other containers lists, keys text, and
    anything else JSON cannot hold its ``repr``: never a failed study. A flat dict of plain values
    (the usual case) is copied as it is.
    """
    for key, item in extra.items():
        kind = type(item)
        if type(key) is not str or not (kind in _PLAIN or (kind is float and math.isfinite(item))):
            return {str(key): _recordable(item, 1) for key, item in extra.items()}
    return dict(extra)


def recordable(value: Any) -> Any:
    """Any value as the store can write it as JSON (the rules of :func:`recordable_extra`)."""
    return _recordable(value, 0)


def _recordable(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(float(value))
    if depth < _MAX_EXTRA_DEPTH:
        if isinstance(value, dict):
            return {str(key): _recordable(item, depth + 1) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [_recordable(item, depth + 1) for item in value]
        if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
            try:
                return _recordable(value.tolist(), depth + 1)
            except Exception:  # whatever it raises, its text is stored instead
                pass
    try:
        return repr(value)
    except Exception as exc:  # a repr that raises must not fail the study either
        return f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
