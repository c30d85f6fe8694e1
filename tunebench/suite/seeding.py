"""Seeds derived from names, never from positions.

A study's seeds are hashes of (suite seed, role, task label, [runner label], repetition), so adding
or removing a task or runner changes no other study's numbers, and every runner in repetition r of
task t faces the same evaluation seed (same split, initialisation and batch order).

A suite's seed policy (``[suite] seeds``) can hold either seed at its repetition-0 value across
repetitions, so repetitions vary only the optimiser (evaluation fixed) or only the data (runner
fixed): that is how a report separates optimiser variance from data variance. A runner's ``seed``
option pins its seed outright, so a published run can be replayed exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: Seeds fit in 32 bits: numpy's legacy RandomState, hyperopt and nevergrad all accept them.
SEED_BITS = 32  # registry.MAX_SEED is the same bound for user-given seeds
#: The largest suite seed: 32 bits, as every seed the suite derives and every runner seed.
MAX_SUITE_SEED = (1 << SEED_BITS) - 1

PER_REPETITION = "per-repetition"
FIXED = "fixed"
#: How a seed moves across repetitions: a new one each repetition, or repetition 0's for all.
SEED_MODES = (PER_REPETITION, FIXED)


def derive_seed(*parts: object) -> int:
    """A 32-bit seed from an ordered tuple of names and numbers (stable across processes/versions)."""
    text = "\x1f".join(f"{type(p).__name__}:{p}" for p in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % (1 << SEED_BITS)


def evaluation_seed(suite_seed: int, task: str, repetition: int) -> int:
    """The seed every runner's evaluations use in repetition ``repetition`` of ``task``."""
    return derive_seed(suite_seed, "evaluation", task, repetition)


def runner_seed(suite_seed: int, task: str, runner: str, repetition: int) -> int:
    """The seed of ``runner``'s own randomness in repetition ``repetition`` of ``task``."""
    return derive_seed(suite_seed, "runner", task, runner, repetition)


@dataclass(frozen=True)
class SeedPolicy:
    """How the evaluation seed and the runner seed move across repetitions.

    The default (both per repetition) is how every suite was seeded before the policy existed, so
    stores written then keep their seeds.
    """

    evaluation: str = PER_REPETITION
    runner: str = PER_REPETITION

    def __post_init__(self) -> None:
        for role in ("evaluation", "runner"):
            if getattr(self, role) not in SEED_MODES:
                raise ValueError(f"seeds.{role} must be one of {', '.join(map(repr, SEED_MODES))}, "
                                 f"got {getattr(self, role)!r}")

    @property
    def is_default(self) -> bool:
        return self == SeedPolicy()

    def to_dict(self) -> dict[str, str]:
        return {"evaluation": self.evaluation, "runner": self.runner}

    def study_seeds(self, suite_seed: int, task: str, runner: str, repetition: int,
                    pinned_runner_seed: int | None = None) -> tuple[int, int]:
        """(evaluation seed, runner seed) of one study; a runner's ``seed`` option wins."""
        eval_rep = 0 if self.evaluation == FIXED else repetition
        runner_rep = 0 if self.runner == FIXED else repetition
        chosen_runner_seed = (pinned_runner_seed if pinned_runner_seed is not None
                              else runner_seed(suite_seed, task, runner, runner_rep))
        return evaluation_seed(suite_seed, task, eval_rep), chosen_runner_seed
