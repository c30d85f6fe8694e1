"""Budgets, spent by the harness (never by the library) in one of three currencies.

- ``trials``: one unit per trial, failed ones included;
- ``epochs``: the fidelity units each trial actually ran (a pruned trial pays only for what it ran),
  which is what multi-fidelity methods must be charged;
- ``device_seconds``: measured evaluation time on the study's device (synchronised on GPUs),
  optionally plus optimiser time (``charge_optimizer``).

Each trial's charge is stored with it, so a resumed or reproduced study decides where the budget ran
out from the recorded costs, not from a new clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tunebench.runners.base import BudgetInfo


class BudgetKind(StrEnum):
    TRIALS = "trials"
    EPOCHS = "epochs"
    DEVICE_SECONDS = "device_seconds"


@dataclass(frozen=True)
class Budget:
    kind: BudgetKind
    amount: float
    charge_optimizer: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", BudgetKind(self.kind))
        if not (isinstance(self.amount, (int, float)) and math.isfinite(self.amount)
                and self.amount > 0):
            raise ValueError(f"a {self.kind} budget must be a positive number, got {self.amount!r}")
        if self.kind is not BudgetKind.DEVICE_SECONDS and float(self.amount) != int(self.amount):
            raise ValueError(f"a {self.kind} budget must be a whole number, got {self.amount!r}")

    def charge(self, *, fidelity_spent: float, eval_seconds: float,
               optimizer_seconds: float) -> float:
        """What one finished trial costs in this budget's currency."""
        if self.kind is BudgetKind.TRIALS:
            return 1.0
        if self.kind is BudgetKind.EPOCHS:
            return float(fidelity_spent)
        return eval_seconds + (optimizer_seconds if self.charge_optimizer else 0.0)

    def exhausted(self, spent: float) -> bool:
        return spent >= self.amount - 1e-9

    def fidelity_for_next(self, max_fidelity: int, spent: float) -> int:
        """The fidelity the next trial is asked for.

        Under an epochs budget the last trial is clamped to what remains, so every runner spends
        exactly the same number of epochs; otherwise every trial gets the task's full fidelity.
        """
        if self.kind is BudgetKind.EPOCHS:
            remaining = math.floor(self.amount - spent + 1e-9)
            return max(1, min(max_fidelity, remaining))
        return max_fidelity

    def info(self, min_fidelity: int = 1, max_fidelity: int = 1,
             fidelity_unit: str = "epoch") -> BudgetInfo:
        """What a runner is told about this budget and the task's fidelity range (as data)."""
        return BudgetInfo(kind=str(self.kind), amount=float(self.amount),
                          min_fidelity=int(min_fidelity), max_fidelity=int(max_fidelity),
                          fidelity_unit=fidelity_unit)

    def info_for(self, task: Any) -> BudgetInfo:
        """:meth:`info` for a task, from its declared fidelity range and unit."""
        return self.info(getattr(task, "min_fidelity", 1), task.max_fidelity,
                         getattr(task, "fidelity_unit", "epoch"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "amount": self.amount,
                "charge_optimizer": self.charge_optimizer}

    def describe(self) -> str:
        unit = {"trials": "trials", "epochs": "epochs", "device_seconds": "device s"}[self.kind]
        extra = " (+ optimiser time)" if self.charge_optimizer else ""
        return f"{self.amount:g} {unit}{extra}"
