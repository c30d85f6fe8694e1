"""Deterministic stratified subsets and splits, identical on every numpy version.

Order within a class comes from a keyed hash of (seed, index) — splitmix64 — rather than from a
numpy random stream, whose algorithms numpy does not promise to keep across releases.
"""

from __future__ import annotations

import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    z = values.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) & _MASK


def hash_order(n: int, seed: int) -> np.ndarray:
    """A permutation of ``range(n)`` determined by ``seed`` alone."""
    key = _splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    ranks = _splitmix64(np.arange(n, dtype=np.uint64) ^ key)
    return np.argsort(ranks, kind="stable")


def _quotas(counts: np.ndarray, size: int) -> np.ndarray:
    """Split ``size`` over classes in proportion to ``counts`` (largest remainder, exact total)."""
    exact = counts * (size / counts.sum())
    quotas = np.floor(exact).astype(np.int64)
    remainder = size - int(quotas.sum())
    if remainder:
        order = np.argsort(-(exact - quotas), kind="stable")
        quotas[order[:remainder]] += 1
    return np.minimum(quotas, counts)


def stratified_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``size`` items whose class proportions match ``labels`` as closely as possible."""
    labels = np.asarray(labels)
    if not 0 < size <= len(labels):
        raise ValueError(f"a subset must have 1..{len(labels)} items, got {size}")
    classes, counts = np.unique(labels, return_counts=True)
    chosen = []
    for k, (cls, quota) in enumerate(zip(classes, _quotas(counts, size), strict=True)):
        members = np.flatnonzero(labels == cls)
        chosen.append(members[hash_order(len(members), seed * 1_000_003 + k)[:quota]])
    return np.sort(np.concatenate(chosen))


def stratified_split(labels: np.ndarray, holdout: int | float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, held_out)`` sorted index arrays; ``holdout`` is a count or a fraction in (0, 1)."""
    labels = np.asarray(labels)
    size = round(holdout * len(labels)) if isinstance(holdout, float) else int(holdout)
    if not 0 < size < len(labels):
        raise ValueError(f"a held-out split must have 1..{len(labels) - 1} items, got {size}")
    held = stratified_sample(labels, size, seed)
    mask = np.ones(len(labels), dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask), held
