"""What a runner is: one library's algorithm behind a small ask/tell surface.

A runner is built from (space, direction, seed, :class:`BudgetInfo`, options) and owns nothing but
the library's state. The harness, not the library, decides when the budget is spent: it calls
:meth:`Runner.ask`, evaluates, then :meth:`Runner.tell` with an :class:`Outcome`, failures included.
Runners never see test values.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, ClassVar

from tunebench.space import Config, Direction, Objective, Space


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    PRUNED = "pruned"


class RunnerError(Exception):
    """A runner is misconfigured (bad options): a user error, reported before any trial runs."""


class SearchExhausted(Exception):
    """Raised by :meth:`Runner.ask` when the runner has nothing left to propose (a grid that has
    visited every point). The study ends there, says so, and reports the budget left unspent:
    the harness never spends it on repeats."""


class WaitForResults(Exception):
    """Raised by :meth:`Runner.ask` of a runner with ``capabilities.batch`` when it cannot propose
    anything until it hears back from trials in flight (Successive Halving at the end of a rung).
    The study asks again after the next trial ends; raised with nothing in flight, it is a bug."""


class RunnerUnavailable(RunnerError):
    """The runner cannot work here (a missing optional dependency, an unusable algorithm).

    Raised at construction with the reason, which the runner also declares in its description,
    so a conformance check can tell "declared unavailable" from "broken".
    """


@dataclass(frozen=True)
class Proposal:
    """A runner's answer to :meth:`Runner.ask` when it chooses more than the configuration.

    A plain configuration means "this, at the task's full fidelity". A proposal may name the
    ``fidelity`` to evaluate at (a rung of Successive Halving), and ask to ``continue`` the latest
    earlier trial of the same configuration (a promotion): on a task that can continue from a
    checkpoint only the new steps are trained and charged, on one that cannot the trial restarts
    from scratch and is charged in full — the same rule for every runner, recorded per trial.
    ``tag`` is the runner's own token, handed back in the :class:`Outcome` of this proposal.
    """

    config: Config
    fidelity: int | None = None  # None: the task's full fidelity
    continues: bool = False
    tag: Any = None


@dataclass(frozen=True)
class Outcome:
    """What the runner is told about one trial.

    ``value`` is the validation value in the task's own direction (``None`` for a failed trial);
    a pruned trial carries the last value it reported, at ``fidelity`` steps. ``fidelity`` is the
    total reached: a trial that continued an earlier one from ``start`` steps trained
    ``fidelity - start`` of them now. ``trial`` is the trial's number and ``tag`` the one its
    :class:`Proposal` carried (None for a plain configuration).
    """

    status: Status
    value: float | None
    fidelity: float
    curve: tuple[float, ...] = ()
    trial: int = -1
    tag: Any = None
    start: int = 0
    #: A multi-objective study's validation values, one per objective in the order the runner
    #: was told them (``BudgetInfo.objectives``), each in its own direction (``value`` stays the
    #: task's first objective, whose learning curve ``curve`` is). None for a single objective
    #: and for a trial that did not complete.
    values: tuple[float, ...] | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass(frozen=True)
class BudgetInfo:
    """What a runner is told about the budget the harness will spend, as data.

    The harness, not the library, spends the budget; libraries that plan with one (nevergrad's
    wizard, optuna's Hyperband, DEHB) read it from here. ``amount`` is in the budget's own currency
    (``kind``: trials, epochs — fidelity units summed over trials — or device_seconds); the task's
    fidelity range and unit come with it.
    """

    kind: str = "trials"
    amount: float | None = None  # None: not known in advance
    min_fidelity: int = 1
    max_fidelity: int = 1
    fidelity_unit: str = "epoch"
    #: How many evaluations the study keeps running at once: a runner that proposes before it
    #: hears back (``Capabilities.batch``) is asked again while up to this many are in flight
    #: (a library with a notion of workers, nevergrad's ``num_workers``, is told it).
    in_flight: int = 1
    #: A multi-objective study's objectives, in order (empty: one objective, the runner's
    #: ``direction``). Told with the budget, so a runner's constructor stays as it is.
    objectives: tuple[Objective, ...] = ()

    @property
    def max_trials(self) -> int | None:
        """The most trials the study can run: every trial is charged at least one unit of a trials
        or epochs budget, so a library planned for this many is never asked past its plan. None
        under a device-seconds budget (no count bounds it in advance)."""
        if self.amount is None or self.kind not in ("trials", "epochs"):
            return None
        return max(1, int(self.amount))

    @property
    def full_trials(self) -> int | None:
        """How many full-fidelity trials fit in the budget (what a library expecting every trial
        at full fidelity should plan for); None under a device-seconds budget."""
        if self.amount is None or self.kind not in ("trials", "epochs"):
            return None
        if self.kind == "trials":
            return max(1, int(self.amount))
        return max(1, int(self.amount) // max(1, self.max_fidelity))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.in_flight == 1:  # only when set: what runners recorded before keeps its form
            del out["in_flight"]
        if not self.objectives:
            del out["objectives"]
        else:
            out["objectives"] = [{"name": o.name, "direction": str(o.direction)}
                                 for o in self.objectives]
        return out


@dataclass(frozen=True)
class Capabilities:
    """What a runner supports, as data, so incompatible pairs are found before a run starts."""

    library: str
    family: str  # random | grid | QMC | TPE | GP-BO | evolutionary | annealing | bandit-portfolio | …
    conditional: bool = True  # handles conditional spaces natively or by a documented encoding
    integer: bool = True
    log: bool = True
    pruning: bool = False
    #: Proposes the fidelity of each trial (a :class:`Proposal` with ``fidelity``).
    chooses_fidelity: bool = False
    #: Asks to continue earlier trials of a configuration (a :class:`Proposal` with ``continues``).
    continues: bool = False
    #: Proposes again before it hears back, so a study can keep several evaluations in flight
    #: (``settings.in_flight``); it may raise :class:`WaitForResults` when it cannot yet.
    batch: bool = False
    #: Replaying the same history (ask, then tell the stored outcome) into a freshly seeded runner
    #: reproduces its state exactly, so a resumed study continues as an uninterrupted one would.
    exact_replay: bool = True
    #: Optimises several objectives at once (told them in ``BudgetInfo.objectives``, and each
    #: trial's vector in ``Outcome.values``); other runners are refused for such studies.
    multi_objective: bool = False
    #: Proposes the same sequence whatever its seed (a grid in declared order): repetitions are
    #: then identical by design, not by a seed being ignored. Recorded per study from the
    #: instance's capabilities, so a runner deterministic under one option only may set it there.
    deterministic: bool = False
    #: Why replay is inexact, or any other caveat a user comparing runners must know.
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Runner(ABC):
    """Base class of every runner.

    Subclasses set ``name``, ``description`` and ``capabilities`` and implement :meth:`ask` and
    :meth:`tell`. Library options from the suite file arrive as keyword arguments of ``__init__``
    after the four standard ones; declare them with defaults so they are validated by name (a
    runner passing a library's options through overrides :meth:`accepted_options`).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities]

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None) -> None:
        if budget_info is not None and not isinstance(budget_info, BudgetInfo):
            raise TypeError(f"budget_info must be a BudgetInfo or None, got {budget_info!r}")
        self.space = space
        self.direction = Direction(direction)
        self.seed = int(seed)
        self.budget_info = budget_info or BudgetInfo()

    @property
    def objectives(self) -> tuple[Objective, ...]:
        """A multi-objective study's objectives (empty: the one objective of ``direction``)."""
        return self.budget_info.objectives

    @property
    def budget_hint(self) -> int | None:
        """Full-fidelity trials that fit in the budget (None under a time budget)."""
        return self.budget_info.full_trials

    @classmethod
    def accepted_options(cls) -> list[str]:
        """The option names a suite may give this runner (validated before any trial runs)."""
        params = list(inspect.signature(cls.__init__).parameters.values())[5:]
        return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def resolved_options(self) -> dict[str, Any]:
        """Every option in effect, the library's defaults included, as plain JSON-able values
        (recorded per study, so a report says exactly what ran). Adapters override this."""
        return {}

    @abstractmethod
    def ask(self) -> Config | Proposal:
        """Propose the next configuration to evaluate (active parameters only), or a
        :class:`Proposal` naming its fidelity too."""

    @abstractmethod
    def tell(self, config: Config, outcome: Outcome) -> None:
        """Report the outcome of a configuration previously returned by :meth:`ask`."""

    def should_prune(self, config: Config, step: int, value: float) -> bool:
        """Called after each fidelity step of ``config``; return True to stop the trial early.

        The default never prunes; runners with ``capabilities.pruning`` override it.
        """
        return False

    @classmethod
    def version(cls) -> str:
        """Version of the library behind the runner (recorded with results)."""
        from tunebench import __version__
        from tunebench.versions import package_version

        return package_version(cls.capabilities.library) or __version__
