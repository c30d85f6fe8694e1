"""What a runner is: one library's algorithm behind a small ask/tell surface.

A runner is built from (space, direction, seed, budget hint, options) and owns nothing but the
library's state. The harness, not the library, decides when the budget is spent: it calls
:meth:`Runner.ask`, evaluates, then :meth:`Runner.tell` with an :class:`Outcome`, failures included.
Runners never see test values.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, ClassVar

from tunebench.space import Config, Direction, Space


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    PRUNED = "pruned"


class RunnerError(Exception):
    """A runner is misconfigured (bad options): a user error, reported before any trial runs."""


class RunnerUnavailable(RunnerError):
    """The runner cannot work here (a missing optional dependency, an unusable algorithm).

    Raised at construction with the reason, which the runner also declares in its description,
    so a conformance check can tell "declared unavailable" from "broken".
    """


@dataclass(frozen=True)
class Outcome:
    """What the runner is told about one trial.

    ``value`` is the validation value in the task's own direction (``None`` for a failed trial);
    a pruned trial carries the last value it reported, at ``fidelity`` steps.
    """

    status: Status
    value: float | None
    fidelity: float
    curve: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass(frozen=True)
class Capabilities:
    """What a runner supports, as data, so incompatible pairs are found before a run starts."""

    library: str
    family: str  # random | grid | QMC | TPE | GP-BO | evolutionary | annealing | bandit-portfolio | …
    conditional: bool = True  # handles conditional spaces natively or by a documented encoding
    integer: bool = True
    log: bool = True
    pruning: bool = False
    batch: bool = False
    #: Replaying the same history (ask, then tell the stored outcome) into a freshly seeded runner
    #: reproduces its state exactly, so a resumed study continues as an uninterrupted one would.
    exact_replay: bool = True
    #: Why replay is inexact, or any other caveat a user comparing runners must know.
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Runner(ABC):
    """Base class of every runner.

    Subclasses set ``name``, ``description`` and ``capabilities`` and implement :meth:`ask` and
    :meth:`tell`. Library options from the suite file arrive as keyword arguments of ``__init__``
    after the four standard ones; declare them with defaults so they are validated by name.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities]

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_hint: int | None = None) -> None:
        self.space = space
        self.direction = Direction(direction)
        self.seed = int(seed)
        self.budget_hint = budget_hint

    @abstractmethod
    def ask(self) -> Config:
        """Propose the next configuration to evaluate (active parameters only)."""

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
