"""The one exchange format between the study loop, executors and the store: a finished trial."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tunebench.runners.base import Outcome, Status
from tunebench.space import Config


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
    fidelity: int  # asked for
    fidelity_spent: float  # actually run
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
    #: (recorded, not charged) and ``clipped`` (the trial a device-seconds budget ran out in)
    extra: dict[str, Any] = field(default_factory=dict)
    pruner_steps: tuple[int, ...] = ()  # steps the runner's pruner saw, replayed on resume
    #: canonical JSON of ``config`` when the loop already made it (with the key); the store
    #: writes it as it is instead of encoding the configuration again
    config_json: str | None = None

    def outcome(self) -> Outcome:
        """What the runner was told about this trial."""
        value = self.value if self.value is not None and math.isfinite(self.value) else None
        status = self.status if value is not None or self.status is Status.FAILED else Status.FAILED
        return Outcome(status=status, value=value, fidelity=self.fidelity_spent, curve=self.curve)


@dataclass(frozen=True)
class StudyResult:
    """How a study ended (returned to the driver, which records what it spent)."""

    key: tuple[str, str, int]
    n_trials: int
    n_failed: int
    budget_spent: float
    #: The runner had nothing left to propose (a finished grid) before the budget was spent.
    search_exhausted: bool = False
