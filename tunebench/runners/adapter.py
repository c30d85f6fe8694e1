"""What every library adapter shares: pending-trial bookkeeping, losses, option checks.

A library runner (optuna, hyperopt, nevergrad) implements four small hooks and inherits the rest:

- ``_ask() -> (config, handle)``: one suggestion and the library's own object for it (an optuna
  trial, a hyperopt trial document, a nevergrad candidate); a library that chooses fidelities
  returns a :class:`~tunebench.runners.base.Proposal` in place of the configuration;
- ``_tell(handle, config, outcome)``: report the outcome of that suggestion;
- ``_tell_foreign(config, outcome)``: register a configuration the runner did not propose (a
  resumed study whose runner cannot replay exactly tells the stored configuration instead);
- ``_discard(handle)``: forget a suggestion that will never be told (it was replaced by a foreign one).

The harness protocol is "ask, evaluate, tell"; a told configuration is matched to the oldest pending
suggestion with the same canonical key, so two identical suggestions are told in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar, final

from tunebench.runners.base import (
    BudgetInfo,
    Outcome,
    Proposal,
    Runner,
    RunnerError,
    RunnerUnavailable,
    Status,
)
from tunebench.space import Config, Direction, Space


class LibraryRunner(Runner):
    """Base of the optuna, hyperopt and nevergrad adapters (see the module docstring)."""

    #: Set to the reason when the runner cannot be used; construction then raises RunnerUnavailable.
    unavailable: ClassVar[str | None] = None

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None) -> None:
        if self.unavailable:
            raise RunnerUnavailable(f"runner {self.name!r} is unavailable: {self.unavailable}")
        super().__init__(space, direction, seed, budget_info)
        self._pending: list[tuple[Config, Any]] = []

    # ------------------------------------------------------------------ the Runner surface
    @final  # the study loop relies on it: proposals from here are validated already
    def ask(self) -> Config | Proposal:
        asked, handle = self._ask()
        if isinstance(asked, Proposal):
            config = self.space.validate(asked.config)
            self._pending.append((config, handle))
            return replace(asked, config=dict(config))
        config = self.space.validate(asked)
        self._pending.append((config, handle))
        return dict(config)

    def tell(self, config: Config, outcome: Outcome) -> None:
        # The harness tells back the (validated) configuration it was given: plain equality
        # finds it without re-validating and hashing on every trial.
        handle = self._take(config)
        if handle is None:
            config = self.space.validate(config)
            handle = self._take(config)
        if handle is not None:
            self._tell(handle, config, outcome)
            return
        if self._pending:  # the harness told something else in place of the oldest suggestion
            self._discard(self._pending.pop(0)[1])
        self._tell_foreign(config, outcome)

    def should_prune(self, config: Config, step: int, value: float) -> bool:
        if not math.isfinite(value):
            return False  # the harness consults the pruner only on finite values
        for pending, handle in self._pending:
            if pending == config:
                return self._should_prune(handle, step, value)
        return False

    # ------------------------------------------------------------------ hooks
    def _ask(self) -> tuple[Config | Proposal, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _tell(self, handle: Any, config: Config, outcome: Outcome) -> None:  # pragma: no cover
        raise NotImplementedError

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:  # pragma: no cover
        raise NotImplementedError

    def _discard(self, handle: Any) -> None:
        """Forget a suggestion that will never be told (default: nothing to do)."""

    def _should_prune(self, handle: Any, step: int, value: float) -> bool:
        return False

    # ------------------------------------------------------------------ helpers
    def _take(self, config: Config) -> Any:
        for i, (pending, handle) in enumerate(self._pending):
            if pending == config:
                del self._pending[i]
                return handle
        return None

    def loss(self, outcome: Outcome) -> float | None:
        """The outcome as a loss to minimise, or None when there is nothing to learn from.

        Failed trials and non-finite values give None. A pruned trial's last reported value is
        returned as it is: libraries without a notion of pruning see it as an ordinary result.
        """
        if outcome.status is Status.FAILED or outcome.value is None:
            return None
        value = float(outcome.value)
        return self.direction.sign * value if math.isfinite(value) else None


# ---------------------------------------------------------------------- option checks
def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RunnerError(f"option {name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise RunnerError(f"option {name} must be >= {minimum}, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise RunnerError(f"option {name} must be true or false, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise RunnerError(
            f"option {name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
        )
    return value


def check_number(name: str, value: Any, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RunnerError(f"option {name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise RunnerError(f"option {name} must be >= {minimum}, got {value!r}")
    return float(value)


__all__ = [
    "LibraryRunner",
    "RunnerUnavailable",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
]
