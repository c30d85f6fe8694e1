"""Seeds derived from names, never from positions.

A study's seeds are hashes of (suite seed, role, task label, [runner label], repetition), so adding
or removing a task or runner changes no other study's numbers, and every runner in repetition r of
task t faces the same evaluation seed (same split, initialisation and batch order).
"""

from __future__ import annotations

import hashlib

#: Seeds fit in 32 bits: numpy's legacy RandomState, hyperopt and nevergrad all accept them.
SEED_BITS = 32


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
