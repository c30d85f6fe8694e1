"""What a task is: a pure function of (configuration, fidelity, seed) to a :class:`Result`.

A task never imports a runner; it declares its :class:`~tunebench.space.Space`, its metric and direction,
its maximum fidelity and, where known, its optimum. The harness hands each evaluation an
:class:`EvalContext` that carries the study's device settings and receives the learning curve as it
happens, so a pruner can stop a trial between fidelity steps; work that is not the evaluation's to
pay for (loading and re-splitting data, scoring the test set) runs inside
:meth:`EvalContext.uncharged`, and once-per-process costs go to :meth:`Task.warm_up`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tunebench.errors import UserError
from tunebench.space import Config, Direction, Objective, Space


class TaskError(UserError):
    """A task is misconfigured (bad options): a user error, not a failed trial.

    A missing or corrupt data set raises :class:`~tunebench.data.DataError` instead, a sibling
    under :class:`~tunebench.errors.UserError`: catch that to handle both.
    """


class TrialStopped(Exception):
    """The harness stopped a trial. ``after_step`` is the step whose report raised it (that step
    was trained); None when it was raised in the middle of a step (by a timer), which was then in
    progress: what a stopped trial is charged follows from it."""

    def __init__(self, message: str, after_step: int | None = None) -> None:
        super().__init__(message)
        self.after_step = after_step


class TrialPruned(TrialStopped):
    """Raised from :meth:`EvalContext.report` when the runner's pruner stops a trial."""


class TrialTimeout(TrialStopped):
    """Raised when a trial has run past its time limit (``trial_timeout``)."""


class TrialClipped(TrialStopped):
    """Raised when a trial reaches the end of a device-seconds budget (what remained of it)."""


class Diverged(FloatingPointError):
    """Training diverged: the loss went past the task's declared bound, or became non-finite.

    A failed trial with the reason "diverged" (stored as ``Diverged: …``): the run is stopped at
    the step that diverged and charged the steps it trained. A property of the inputs, so the
    evaluation cache keeps it.
    """


class InvalidResult(TypeError):
    """A task returned a :class:`Result` with a malformed field (named in the message): that trial
    fails with it, the study goes on."""


def as_number(field_name: str, value: Any) -> float:
    """``value`` as a plain float, or :class:`InvalidResult` naming ``field_name`` (text is not a
    number, even when it reads as one)."""
    if not isinstance(value, (str, bytes)):
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            pass
    raise InvalidResult(f"{field_name}={value!r:.80} ({type(value).__name__}), not a number")


def as_curve(curve: Any) -> tuple[float, ...]:
    """A learning curve as a tuple of plain floats (one that is already is returned as it is,
    cheaply: this runs on every trial), or :class:`InvalidResult` naming the step."""
    if type(curve) is tuple:
        for value in curve:
            if type(value) is not float:
                break
        else:
            return curve
    if isinstance(curve, (str, bytes, Mapping)) or not hasattr(curve, "__iter__"):
        raise InvalidResult(f"curve={curve!r:.80} ({type(curve).__name__}), not a sequence of numbers")
    return tuple(v if type(v) is float else as_number(f"curve[{i}]", v) for i, v in enumerate(curve))


def _named_numbers(what: str, values: Any) -> dict[str, float]:
    """``{name: float}`` from a mapping of objective names to numbers, or InvalidResult."""
    if not isinstance(values, Mapping):
        raise InvalidResult(f"{what}={values!r:.80} ({type(values).__name__}), not a dict of "
                            "objective names to numbers")
    return {str(name): as_number(f"{what}[{name!r}]", value) for name, value in values.items()}


@dataclass(frozen=True)
class Result:
    """What one evaluation produced.

    ``value`` is what the optimiser sees (validation); ``test_value`` is what reports judge and the
    optimiser never sees. ``fidelity_spent`` is the number of fidelity units actually consumed
    (epochs trained, which may be fewer than asked when early stopping kicks in); ``None`` means the
    requested fidelity. ``curve`` holds one validation value per fidelity step. ``cost_seconds``
    is what the evaluation cost when it was recorded, for a task that answers from a table or a
    surrogate model in microseconds: a device-seconds budget charges it instead of the measured
    seconds (which are still recorded), so such a budget means what it would on the real
    benchmark. ``extra`` is the task's own record (JSON; a non-finite float or a value JSON
    cannot hold is stored as its text). A task with several objectives (``Task.objectives``)
    gives each one's validation value in ``objectives`` and its test value in
    ``test_objectives``, by name; ``value`` and ``curve`` are then its first objective's. A field
    that is not what it should be raises :class:`InvalidResult` naming it.
    """

    value: float
    test_value: float | None = None
    fidelity_spent: float | None = None
    curve: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    cost_seconds: float | None = None
    objectives: Mapping[str, float] | None = None
    test_objectives: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        # Numbers from numpy or torch become plain floats, so they store and compare exactly.
        # Built on every trial: a field already of the right type is left as it is. A field that
        # is not what it should be raises InvalidResult naming it (the trial fails with it).
        if type(self.value) is not float:
            object.__setattr__(self, "value", as_number("value", self.value))
        if self.test_value is not None and type(self.test_value) is not float:
            object.__setattr__(self, "test_value", as_number("test_value", self.test_value))
        spent = self.fidelity_spent
        if spent is not None and type(spent) is not float and type(spent) is not int:
            object.__setattr__(self, "fidelity_spent", as_number("fidelity_spent", spent))
        cost = self.cost_seconds
        if cost is not None and type(cost) is not float:
            object.__setattr__(self, "cost_seconds", as_number("cost_seconds", cost))
        curve = self.curve
        if type(curve) is not tuple or curve:  # arrays and tensors have no truth value
            checked = as_curve(curve)
            if checked is not curve:
                object.__setattr__(self, "curve", checked)
        if type(self.extra) is not dict:
            if not isinstance(self.extra, Mapping):
                raise InvalidResult(f"extra={self.extra!r:.80} ({type(self.extra).__name__}), "
                                    "not a dict")
            object.__setattr__(self, "extra", dict(self.extra))
        if self.objectives is not None:
            object.__setattr__(self, "objectives", _named_numbers("objectives", self.objectives))
        if self.test_objectives is not None:
            object.__setattr__(self, "test_objectives",
                               _named_numbers("test_objectives", self.test_objectives))

    @property
    def is_finite(self) -> bool:
        return math.isfinite(self.value)


@dataclass
class EvalContext:
    """Per-evaluation services the harness offers a task.

    ``device``, ``threads`` and ``precision`` are study settings, the same for every runner in a
    comparison. ``report(step, value)`` records the learning curve and asks the runner's pruner (if
    any) whether to go on; it raises :class:`TrialPruned` to stop. Wrap work that is not the
    evaluation's to pay for in :meth:`uncharged`.
    """

    device: str = "cpu"
    threads: int | None = None
    precision: str = "fp32"
    deadline: float | None = None  # time.monotonic() value after which the trial times out
    pruner: Callable[[int, float], bool] | None = None
    curve: list[float] = field(default_factory=list)
    #: Steps at which the pruner was consulted (the harness replays exactly these on resume).
    pruner_steps: list[int] = field(default_factory=list)
    #: Steps already trained, when this evaluation continues an earlier trial of the same
    #: configuration from the ``checkpoint`` that trial saved (0 and None: from scratch). A task
    #: that can continue (``Task.can_continue``) trains steps ``start + 1 .. fidelity`` and
    #: reports them by their absolute number.
    start: int = 0
    checkpoint: Any = None
    #: Whether the harness keeps checkpoints for this study (its runner continues trials): a task
    #: that can continue saves one only then, and pays nothing for it otherwise.
    wants_checkpoint: bool = False
    #: What the evaluation saved with :meth:`save_checkpoint` (the harness keeps it for a later
    #: continuation of this configuration).
    saved_checkpoint: Any = None

    # Set per instance by the harness on the evaluations that need them. Declared as class
    # attributes (not dataclass fields), so an evaluation that uses none of them pays nothing.
    #: The clock of the evaluation's span (the study loop's, injectable in tests).
    clock: ClassVar[Callable[[], float]] = staticmethod(time.perf_counter)
    #: Waits for queued device work (set on a GPU), so a clock read measures it.
    sync: ClassVar[Callable[[], None] | None] = None
    #: True once the evaluation has used up what remained of a device-seconds budget.
    over_budget: ClassVar[Callable[[], bool] | None] = None
    #: Wall and CPU seconds spent inside :meth:`uncharged` (taken out of the charged span).
    uncharged_seconds: ClassVar[float] = 0.0
    uncharged_cpu_seconds: ClassVar[float] = 0.0
    #: Clock reading at which the current :meth:`uncharged` block began (None: not inside one).
    uncharged_since: ClassVar[float | None] = None
    #: Wall and CPU seconds the runner's pruner took (optimiser time, never evaluation time).
    pruner_seconds: ClassVar[float] = 0.0
    pruner_cpu_seconds: ClassVar[float] = 0.0
    #: Seconds the evaluation waited for the study's schedule of evaluations in flight (a
    #: pruner's decision in simulated-time order): no one's work, never charged.
    waited_seconds: ClassVar[float] = 0.0
    #: True once uncharged or pruner time was recorded (one read tells the harness to look).
    excluded: ClassVar[bool] = False

    #: The recorded seconds the evaluation had taken by its last report (a task answering from a
    #: table passes them to :meth:`report`; None: not given).
    reported_seconds: ClassVar[float | None] = None

    def report(self, step: int, value: float, seconds: float | None = None) -> None:
        """Report the validation value after fidelity step ``step`` (1-based). A task answering
        from a table passes the recorded ``seconds`` the evaluation had taken by this step."""
        if seconds is not None:
            self.reported_seconds = as_number("seconds", seconds)
        if self.over_budget is not None and self.over_budget():
            # Reached after the budget ran out: the step does not count (it was trained, though).
            raise TrialClipped(f"the budget ran out before step {step} was reported", step)
        self.curve.append(float(value))
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TrialTimeout(f"trial ran past its time limit after step {step}", step)
        if self.pruner is not None and math.isfinite(value) and self.pruner(step, float(value)):
            raise TrialPruned(f"pruned after step {step} (value {value:.6g})", step)

    def save_checkpoint(self, state: Any) -> None:
        """Keep ``state`` (picklable: model and optimiser state, generators) so a later trial of
        this configuration can continue from it. Called by tasks that can continue, at the end of
        the evaluation, when :attr:`wants_checkpoint`; the harness never looks inside it. A task
        continuing from a checkpoint must not change it (copy what training changes in place)."""
        self.saved_checkpoint = state

    @contextlib.contextmanager
    def uncharged(self) -> Iterator[None]:
        """Run the block outside the charged span: its time is recorded, not charged.

        For what is not the configuration's to pay for: loading and re-splitting data, scoring
        the test set. On a GPU the device is synchronised at both ends, so queued training work is
        not moved out of the charge. Nested blocks count once.
        """
        if self.uncharged_since is not None:
            yield
            return
        sync, clock = self.sync, self.clock
        if sync is not None:
            sync()
        cpu0 = time.process_time()
        self.uncharged_since = t0 = clock()
        try:
            yield
        finally:
            if sync is not None:
                sync()
            self.uncharged_seconds += clock() - t0
            self.uncharged_cpu_seconds += time.process_time() - cpu0
            self.uncharged_since = None
            self.excluded = True


class Task(ABC):
    """Base class of every task. A subclass sets the class attributes and implements two methods.

    Options a suite passes (``options = {dim = 4}``) arrive as keyword arguments of ``__init__``;
    declare them as ordinary parameters with defaults so the registry can validate them.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    metric: ClassVar[str] = "loss"
    direction: ClassVar[Direction] = Direction.MINIMIZE
    max_fidelity: ClassVar[int] = 1
    #: A multi-objective task's objectives, in order (its first is ``metric`` and ``direction``,
    #: what a single-objective study of it optimises). Empty: the one objective ``metric``.
    objectives: ClassVar[tuple[Objective, ...]] = ()
    #: The smallest fidelity a trial may be asked for, and what one unit of fidelity is (runners
    #: that choose fidelities, and budgets in fidelity units, are told both).
    min_fidelity: ClassVar[int] = 1
    fidelity_unit: ClassVar[str] = "epoch"
    #: Whether an evaluation can continue from a checkpoint an earlier evaluation of the same
    #: configuration saved (:meth:`EvalContext.save_checkpoint`): a promoted configuration then
    #: trains, and is charged, only its new steps. Otherwise a promotion restarts from scratch.
    can_continue: ClassVar[bool] = False
    #: Whether the task answers from a table or a surrogate model with what each evaluation cost
    #: when it was recorded (``Result.cost_seconds``, and ``seconds`` with each report): a study
    #: can then run on that simulated time (``settings.simulated_time = "recorded"``).
    recorded_costs: ClassVar[bool] = False
    #: Bump when the task's numbers change for the same inputs (invalidates cached evaluations).
    version: ClassVar[str] = "1"
    #: Whether evaluations run torch code, so the harness knows to fix threads and device.
    uses_torch: ClassVar[bool] = False
    #: Options naming a user's data file or directory, each with the option that pins its sha256
    #: (None: none). The evaluation cache hashes an unpinned one by content, so an edited file is
    #: never served the old file's results.
    data_files: ClassVar[dict[str, str | None]] = {}
    #: Where evaluations run unless the suite says (``[settings] isolation``): "process", a child
    #: process per study that a crash, a hang or an out-of-memory takes down instead of the
    #: driver (worth its start-up for heavy tasks); "none", the study's own process (cheap
    #: built-ins). A task defined outside tunebench is isolated unless its own class says "none".
    isolation: ClassVar[str] = "process"

    @property
    @abstractmethod
    def space(self) -> Space:
        """The search space of this task (built once, cheap to call)."""

    @abstractmethod
    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        """Evaluate ``config`` at ``fidelity`` (1..max_fidelity) with evaluation seed ``seed``."""

    @property
    def optimum(self) -> float | None:
        """Best achievable validation value, where known (exact for synthetic functions)."""
        return None

    def optimum_for_seed(self, seed: int) -> float | None:
        """The optimum that applies to evaluations with ``seed``.

        Equal to :attr:`optimum` for tasks whose objective does not depend on the seed; tasks whose
        data split depends on the seed (e.g. ``linreg``) override it, so regret is measured
        against the optimum of the very split a study was evaluated on.
        """
        return self.optimum

    @property
    def optimum_is_exact(self) -> bool:
        """False where :attr:`optimum` is a reference (e.g. a closed-form fit), not a proven bound."""
        return True

    def warm_up(self, context: EvalContext) -> None:
        """Pay this process's one-off costs (library start-up, first kernel calls) before any timed
        trial, so they are never charged to whichever trial runs first. The harness calls it once
        per process and task, with the study's settings, and records how long it took.

        The default does nothing; torch tasks train their model for a step on a few items.
        """
        return

    def default_config(self) -> Config:
        """A sensible configuration to try by hand (``tunebench eval TASK``)."""
        return self.space.default()

    def options(self) -> dict[str, Any]:
        """The options this instance was built with (recorded with results)."""
        return dict(getattr(self, "_options", {}))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


def option_names(cls: type) -> list[str]:
    """The keyword options a task or runner class accepts (its ``__init__`` parameters)."""
    signature = inspect.signature(cls.__init__)
    return [
        p.name
        for p in list(signature.parameters.values())[1:]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
