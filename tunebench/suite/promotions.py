"""What the study loop makes of a runner's answer to ``ask()``: the configuration, the fidelity it
asked for, and — for a promotion — the earlier trial it continues.

A runner answers with a plain configuration (the task's full fidelity) or a
:class:`~tunebench.runners.base.Proposal`. A proposal with ``continues`` promotes the latest
completed trial of the same configuration that stopped below the fidelity now asked for; the rule
is the harness's, the same for every runner, and recorded per trial:

- on a task that can continue (``Task.can_continue``) the evaluation starts from that trial's
  checkpoint: only the new steps are trained and charged (``start_fidelity`` > 0);
- on a task that cannot, it restarts from scratch and is charged in full (``start_fidelity`` 0);
- either way ``continued_from`` names the earlier trial.

Checkpoints live in memory, with the study loop, for runners that declare they continue. One
that is missing — the study was resumed, or the earlier trial came from the evaluation cache —
is rebuilt by evaluating that trial again from scratch, outside the charged span (its seconds are
recorded as ``checkpoint_rebuild_seconds``). So a task that can continue promises that
continuing from step k to n gives what training to n in one go gives; that promise is what makes
a resumed study continue exactly as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from tunebench.runners.base import Proposal, Status
from tunebench.space import Config, InvalidConfigError
from tunebench.tasks.base import EvalContext, Task


@dataclass
class Paused:
    """The latest completed trial of a configuration: where a promotion would continue from."""

    number: int
    reached: int  # total fidelity reached
    checkpoint: Any = None  # what the evaluation saved (None: not kept, or none saved)


@dataclass(frozen=True)
class Planned:
    """A runner's answer, checked: the configuration, the fidelity asked for (None: full)."""

    config: Config
    fidelity: int | None = None
    continues: bool = False
    tag: Any = None


class Promotions:
    """Reads proposals and keeps, per configuration, the latest completed trial."""

    def __init__(self, task: Task, runner_name: str, *, validated: bool, continues: bool) -> None:
        self.task = task
        self.runner_name = runner_name
        self.validated = validated  # the runner validates its own proposals against this space
        #: Only a runner that declares it continues trials is followed: for the others nothing is
        #: kept per configuration (a study of a million cheap trials keeps no million entries).
        self.continues = continues
        self.keeps_checkpoints = continues and task.can_continue
        #: What rebuilds a checkpoint: the task's evaluate, or its isolated worker's.
        self.evaluate = task.evaluate
        self._latest: dict[str, Paused] = {}

    def plan(self, answer: Any) -> Planned:
        """The runner's answer as a :class:`Planned` trial; a malformed one is a runner bug."""
        if not isinstance(answer, Proposal):
            return Planned(answer if self.validated else self._validated(answer))
        config = answer.config if self.validated else self._validated(answer.config)
        fidelity = answer.fidelity
        if fidelity is not None:
            low, high = self.task.min_fidelity, self.task.max_fidelity
            if isinstance(fidelity, bool) or not isinstance(fidelity, int) or not low <= fidelity <= high:
                raise InvalidConfigError(
                    f"runner {self.runner_name!r} proposed fidelity {fidelity!r} for {config}: "
                    f"task {self.task.name!r} takes a whole number of {self.task.fidelity_unit}s "
                    f"from {low} to {high}. This is a bug in the runner.")
        return Planned(config, fidelity, bool(answer.continues), answer.tag)

    def _validated(self, proposal: Any) -> Config:
        try:
            return self.task.space.validate(proposal)
        except InvalidConfigError as exc:
            raise InvalidConfigError(
                f"runner {self.runner_name!r} proposed an invalid configuration {proposal}: "
                f"{exc}. This is a bug in the runner."
            ) from None

    def parent(self, key: str, planned: Planned) -> Paused | None:
        """The trial a promotion continues: the latest completed one of this configuration,
        stopped below the fidelity now asked for (None: nothing to continue)."""
        if not planned.continues:
            return None
        latest = self._latest.get(key)
        target = self.task.max_fidelity if planned.fidelity is None else planned.fidelity
        return latest if latest is not None and latest.reached < target else None

    def finished(self, key: str, number: int, status: Status, reached: float,
                 checkpoint: Any = None) -> None:
        """Note a finished trial: a completed one is what a later promotion continues."""
        if status is Status.OK and self.continues:
            self._latest[key] = Paused(number, int(reached),
                                       checkpoint if self.keeps_checkpoints else None)

    def checkpoint(self, config: Config, parent: Paused, seed: int, context: EvalContext,
                   evaluate: Any = None) -> tuple[Any, float | None]:
        """The checkpoint to continue ``parent`` from, and the seconds it took to rebuild it
        (None: it was kept) with ``evaluate`` (default :attr:`evaluate`). ``(None, seconds)``
        when the rebuild failed: the trial restarts."""
        if parent.checkpoint is not None:
            return parent.checkpoint, None
        rebuild = EvalContext(device=context.device, threads=context.threads,
                              precision=context.precision, wants_checkpoint=True)
        t0 = time.perf_counter()
        with contextlib.suppress(Exception):
            (evaluate or self.evaluate)(dict(config), parent.reached, seed, rebuild)
        return rebuild.saved_checkpoint, time.perf_counter() - t0
