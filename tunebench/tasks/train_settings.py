"""What the shared torch loop (:mod:`tunebench.tasks.training`) is told to do, without torch.

The optimiser and schedule names a task's space offers, :class:`TrainSettings`, the learning-rate
schedule and the per-purpose seeds are plain Python, so a deep-learning task's space, options and
seeded data splits are built without importing torch (2–3 s): listing tasks or checking a suite
never pays for it, only evaluating a trial does.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from tunebench.tasks.base import TaskError

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "exponential", "step", "cosine")
#: Where the exponential schedule ends, as a fraction of the initial learning rate.
EXPONENTIAL_FINAL_FACTOR = 0.01


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one purpose (``"init"``, ``"shuffle"``, ``"split"``…) of an evaluation seed."""
    digest = hashlib.sha256(f"{int(seed)}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


@dataclass(frozen=True)
class TrainSettings:
    """The optimisation hyperparameters every task shares (taken from a configuration)."""

    lr: float
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    l1: float = 0.0
    batch_size: int = 128
    schedule: str = "constant"
    patience: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise TaskError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise TaskError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.batch_size < 1:
            raise TaskError(f"batch_size must be positive, got {self.batch_size}")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TrainSettings:
        """Pick the shared hyperparameters out of a task configuration (absent ones: defaults)."""
        names = ("lr", "optimizer", "momentum", "weight_decay", "l1", "batch_size", "schedule",
                 "patience")
        return cls(**{name: config[name] for name in names if config.get(name) is not None})


def lr_factor(schedule: str, epoch: int, horizon: int) -> float:
    """The learning-rate multiplier during epoch ``epoch`` (0-based) of a ``horizon``-epoch schedule."""
    horizon = max(int(horizon), 1)
    if schedule == "constant":
        return 1.0
    if schedule == "exponential":
        return EXPONENTIAL_FINAL_FACTOR ** (epoch / horizon)
    if schedule == "step":  # x0.1 at half and again at three quarters of the horizon
        return 0.1 ** ((epoch >= horizon / 2) + (epoch >= 3 * horizon / 4))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * epoch / horizon))
    raise TaskError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
