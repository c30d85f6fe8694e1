"""Budgets, spent by the harness (never by the library) in one of three currencies.

- ``trials``: one unit per trial, failed ones included;
- ``epochs``: the fidelity units each trial actually ran (a pruned trial pays only for what it ran),
  which is what multi-fidelity methods must be charged;
- ``device_seconds``: measured evaluation time on the study's device (synchronised on GPUs),
  optionally plus optimiser time (``charge_optimizer``).

Each trial's charge is stored with it, so a resumed or reproduced study decides where the budget ran
out from the recorded costs, not from a new clock.

**What a trial is charged: what it trained, the same rules for every runner.**

- A trial that ends without a result (failed, timed out, pruned, diverged) trained the steps it
  reported plus the one in progress when it stopped (:func:`trained_steps`), at most the fidelity
  it was asked for: a trial failing in epoch 1 costs one epoch, never the full fidelity. One that
  returned a result ran its ``fidelity_spent``. Under device seconds it costs its measured time.
- The measured span (``eval_seconds``, ``cpu_seconds``) is the evaluation minus two things it
  records but is not charged for: the runner's pruner decisions (optimiser time: charged once,
  with ask and tell, only under ``charge_optimizer``) and what the task ran inside
  ``EvalContext.uncharged()`` (loading and re-splitting data, scoring the test set; recorded in
  the trial's ``extra`` as ``uncharged_seconds``). A task's once-per-process warm-up
  (``Task.warm_up``) runs before the first timed trial and is recorded per study
  (``warm_up_seconds``), never charged. On a GPU the clock is read only after the device is
  synchronised, on every path.
- An **epochs** budget is never overshot: the last trial is *asked for* the fidelity that remains
  (:meth:`Budget.fidelity_for_next`); it is an ordinary trial at that fidelity.
- A **device-seconds** budget is never overshot either: every trial runs under a deadline of what
  remains of the budget (less its own ask time under ``charge_optimizer``), in charged seconds.
  A trial that reaches it is **clipped** — stopped by a timer wherever it is (or, off the main
  thread, at its next report) — and then:

  - its status is ``pruned`` (stopped by the harness; its configuration did not fail, so it never
    counts as a failure), with ``value`` the last value it reported before the deadline and its
    curve those steps — no value when it reported none; its error reads ``Clipped: …`` and its
    ``extra`` holds ``clipped = true``; a step reported after the deadline does not count, nor
    does a result returned after it;
  - it is charged exactly what remained, so the study spends its budget to the last digit;
  - it is never an incumbent: the store's ``best_value`` takes ``ok`` trials only, and the runner
    is told the trial was pruned at its last value (failed, when it has no value to learn from),
    so the runner's idea of its best and the report's agree. It did not complete the fidelity it
    was asked for, unlike the epochs budget's last trial, which completes the smaller fidelity it
    was asked for;
  - it is never stored in the evaluation cache (where it stopped depends on the moment), and a
    cached evaluation that would not fit in what remains is run live instead, so it is clipped as
    a live one would be;
  - a reproduction (``tunebench reproduce``), which replays the recorded charges, clips it at the
    step the original reached (:meth:`Budget.clip_steps`), not by its own clock.

  Trials that end within the deadline are charged as measured (eval time, plus ask, pruner and
  tell time under ``charge_optimizer``), capped at what remained: the last trial's ``tell`` is
  the only time the cap can leave uncharged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tunebench.runners.base import BudgetInfo
from tunebench.space import Objective


class BudgetKind(StrEnum):
    TRIALS = "trials"
    EPOCHS = "epochs"
    DEVICE_SECONDS = "device_seconds"


#: A study's trial numbers are 32-bit keys in the store (``study_id << 32 | number``).
MAX_TRIALS = (1 << 32) - 1
#: The most a study's budget may hold, per currency: trials and epochs within the trial-number key
#: space, device time within a year (more is a typo, and timers take no infinity).
MAX_AMOUNT: dict[BudgetKind, float] = {
    BudgetKind.TRIALS: MAX_TRIALS,
    BudgetKind.EPOCHS: MAX_TRIALS,
    BudgetKind.DEVICE_SECONDS: 366 * 24 * 3600.0,
}


def amount_problem(kind: BudgetKind | str, amount: Any) -> str | None:
    """What is wrong with ``amount`` as a budget of ``kind`` (None: nothing), with the allowed
    range: a number, finite, positive, whole for trials and epochs, at most :data:`MAX_AMOUNT`."""
    kind = BudgetKind(kind)
    limit = MAX_AMOUNT[kind]
    allowed = (f"allowed: a whole number from 1 to {limit:.0f}" if kind is not BudgetKind.DEVICE_SECONDS
               else f"allowed: seconds above 0, at most {limit:.0f} (366 days)")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        return f"must be a number ({allowed}), got {amount!r}"
    # Compared, never converted first: 10**400 has no float, and nan compares false to all.
    if amount != amount:
        return f"must be a number ({allowed}), got nan"
    if amount <= 0:
        return f"must be positive ({allowed}), got {amount!r}"
    if amount > limit:
        return f"is too large ({allowed}), got {amount!r}"
    if kind is not BudgetKind.DEVICE_SECONDS and isinstance(amount, float) and not amount.is_integer():
        return f"must be a whole number ({allowed}), got {amount!r}"
    return None


@dataclass(frozen=True)
class Budget:
    kind: BudgetKind
    amount: float
    charge_optimizer: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", BudgetKind(self.kind))
        problem = amount_problem(self.kind, self.amount)
        if problem:
            raise ValueError(f"a {self.kind} budget {problem}")

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

    @property
    def clips_live(self) -> bool:
        """Whether each trial runs under a live deadline of what remains (a device-seconds budget;
        a reproduction's replayed budget clips where the original did instead, :meth:`clip_steps`)."""
        return self.kind is BudgetKind.DEVICE_SECONDS

    def clip_steps(self, number: int) -> int | None:
        """Under a replayed budget: how many steps trial ``number`` of the original reported before
        the budget clipped it (None: it was not clipped). A live budget replays nothing."""
        return None

    def fidelity_for_next(self, max_fidelity: int, spent: float, requested: int | None = None,
                          start: int = 0) -> int:
        """The fidelity the next trial is asked for: the runner's ``requested`` one (a
        :class:`~tunebench.runners.base.Proposal`'s), else the task's full fidelity.

        Under an epochs budget the last trial is clamped to what remains, so every runner spends
        exactly the same number of epochs; a trial continuing from ``start`` steps is charged only
        the steps after it, so it may reach ``start`` plus what remains.
        """
        fidelity = max_fidelity if requested is None else requested
        if self.kind is BudgetKind.EPOCHS:
            remaining = math.floor(self.amount - spent + 1e-9)
            return max(start + 1, min(fidelity, start + remaining))
        return fidelity

    def info(self, min_fidelity: int = 1, max_fidelity: int = 1,
             fidelity_unit: str = "epoch", in_flight: int = 1,
             objectives: tuple[Objective, ...] = ()) -> BudgetInfo:
        """What a runner is told about this budget and the task's fidelity range (as data)."""
        return BudgetInfo(kind=str(self.kind), amount=float(self.amount),
                          min_fidelity=int(min_fidelity), max_fidelity=int(max_fidelity),
                          fidelity_unit=fidelity_unit, in_flight=int(in_flight),
                          objectives=tuple(objectives))

    def info_for(self, task: Any, in_flight: int = 1,
                 objectives: tuple[Objective, ...] = ()) -> BudgetInfo:
        """:meth:`info` for a task, from its declared fidelity range and unit, with the number of
        evaluations the study keeps in flight and a multi-objective study's objectives."""
        return self.info(getattr(task, "min_fidelity", 1), task.max_fidelity,
                         getattr(task, "fidelity_unit", "epoch"), in_flight, objectives)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "amount": self.amount,
                "charge_optimizer": self.charge_optimizer}

    def describe(self) -> str:
        unit = {"trials": "trials", "epochs": "epochs", "device_seconds": "device s"}[self.kind]
        extra = " (+ optimiser time)" if self.charge_optimizer else ""
        return f"{self.amount:g} {unit}{extra}"


def trained_steps(reported: int, after_step: int | None, fidelity: int) -> int:
    """The fidelity steps a trial that ended without a result trained (what an epochs budget
    charges it): those it reported plus the one in progress when it stopped — none when it was
    stopped at a report (``after_step``, the step whose report stopped it) — at least one and at
    most ``fidelity``. A trial failing in its first epoch is charged one epoch, never more."""
    steps = max(reported, after_step) if after_step is not None else reported + 1
    return max(1, min(steps, fidelity))
