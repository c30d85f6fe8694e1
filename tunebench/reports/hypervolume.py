"""Multi-objective indicators for the reports: hypervolume (final and against budget), the
non-dominated rows, hypervolume regret and empirical attainment surfaces.

Pure functions on numpy arrays, one row per trial and one column per objective, in the order of the
task's :class:`~tunebench.space.Objective` list. The computations are moocore's (exact, maintained
C code); this module only turns the task's directions into moocore's minimisation form, drops
failed trials and applies the task's fixed reference point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import moocore
import numpy as np

from tunebench.space import Direction


def as_losses(points: np.ndarray | Sequence[Sequence[float]],
              directions: Sequence[Direction | str]) -> np.ndarray:
    """``points`` as an (n, m) float array in minimisation form (maximised columns negated): the
    one form moocore computes in, so every indicator here agrees on which way is better."""
    signs = _signs(directions)
    values = np.asarray(points, dtype=float)
    if values.size == 0:
        values = values.reshape(0, len(signs))
    if values.ndim != 2 or values.shape[1] != len(signs):
        raise ValueError(f"points must be an (n, {len(signs)}) array, one column per direction; "
                         f"got shape {values.shape}")
    return values * signs


def hypervolume(points: np.ndarray | Sequence[Sequence[float]], reference: Sequence[float],
                directions: Sequence[Direction | str]) -> float:
    """The hypervolume dominated by ``points`` up to the task's fixed ``reference`` point (in the
    objectives' own units and directions).

    A row counts only if it is finite (failed trials are NaN) and strictly better than the
    reference in every objective; others lie outside the reference box and add nothing, so
    runners are never rewarded for results no one wants. No such row: 0.0.
    """
    losses, ref = as_losses(points, directions), _loss_reference(reference, directions)
    inside = losses[_in_box(losses, ref)]
    return float(moocore.hypervolume(inside, ref=ref)) if len(inside) else 0.0


def anytime_hypervolume(points_in_trial_order: np.ndarray | Sequence[Sequence[float]],
                        reference: Sequence[float],
                        directions: Sequence[Direction | str]) -> np.ndarray:
    """``out[k - 1]`` is the :func:`hypervolume` of the first ``k`` trials, for every ``k``: the
    "hypervolume against budget" curve (non-decreasing; 0.0 until a trial enters the box).

    Moocore recomputes the value only when a trial enters the non-dominated set inside the
    reference box, from that set alone; other trials (dominated, duplicated, outside the box,
    failed) carry the previous value. Thousands of trials in up to 4 objectives take well under a
    second, since a front rarely grows beyond a few hundred points.
    """
    losses, ref = as_losses(points_in_trial_order, directions), _loss_reference(reference,
                                                                               directions)
    usable = _in_box(losses, ref)
    out = np.zeros(len(losses))
    front = np.empty((0, losses.shape[1]))
    value = 0.0
    for k, row in enumerate(losses):
        if usable[k] and not np.all(front <= row, axis=1).any():  # not weakly dominated
            front = np.vstack([front[~np.all(row <= front, axis=1)], row])
            value = float(moocore.hypervolume(front, ref=ref))
        out[k] = value
    return out


def nondominated(points: np.ndarray | Sequence[Sequence[float]],
                 directions: Sequence[Direction | str]) -> np.ndarray:
    """Boolean mask of the rows no other finite row Pareto-dominates (the front a report draws).

    Non-finite rows (failed trials) are False and take no part. Duplicates follow moocore's
    ``is_nondominated`` default (``keep_weakly=False``): of several equal non-dominated rows only
    the first in row order is True, so the mask counts distinct front points.
    """
    losses = as_losses(points, directions)
    finite = np.isfinite(losses).all(axis=1)
    mask = np.zeros(len(losses), dtype=bool)
    if finite.any():
        mask[finite] = moocore.is_nondominated(losses[finite])
    return mask


def hypervolume_regret(hv: float, optimal_hv: float) -> float:
    """``optimal_hv - hv``: how much of the best attainable hypervolume (same reference point) a
    runner missed. Zero at the optimum and positive below it; a negative value means
    ``optimal_hv`` is not the maximum (an approximate reference front), and is kept so it shows."""
    return float(optimal_hv) - float(hv)


def attainment_surfaces(sets: Sequence[np.ndarray | Sequence[Sequence[float]]],
                        directions: Sequence[Direction | str],
                        levels: Sequence[float] = (25.0, 50.0, 75.0)) -> dict[float, np.ndarray]:
    """The empirical attainment function's ``level``%-attainment surfaces of 2-objective point
    sets (one set per repetition), for drawing the median and quartile fronts of a runner.

    A point is attained by a set when one of its points is at least as good in both objectives;
    the k% surface bounds the region attained by at least ``c`` of the ``n`` sets, with moocore's
    convention ``c = ceil(n * k / 100)`` (within sqrt(machine epsilon) of an integer counts as that
    integer) and at least 1. So with an odd ``n`` 50% is the true median, (n + 1) / 2 sets (3 of 5);
    with an even ``n`` it is the better of the two middle surfaces, n / 2 sets (2 of 4). 25% and
    75% of 5 sets are 2 and 4 sets; 100% is all of them.

    Each surface is returned as its corner points (the minimal attained points, which no other
    attained point beats; the step curve joins them), an (r, 2) array in the objectives' own
    units and directions, sorted by increasing first objective. Non-finite rows are dropped; a set
    with no finite row attains nothing but still counts in ``n``, and a level needing more sets
    than have points gets an empty (0, 2) array.
    """
    if len(_signs(directions)) != 2:
        raise ValueError("attainment surfaces are computed for exactly 2 objectives")
    losses = [as_losses(s, directions) for s in sets]
    losses = [s[np.isfinite(s).all(axis=1)] for s in losses]
    present = [s for s in losses if len(s)]
    surfaces: dict[float, np.ndarray] = {}
    for level in levels:
        level = float(level)
        if not 0.0 < level <= 100.0:
            raise ValueError(f"attainment level {level} is not a percentage in (0, 100]")
        needed = _sets_needed(level, len(losses))
        if needed > len(present):
            surfaces[level] = np.empty((0, 2))
            continue
        # moocore counts the sets it is given: say the level as a share of the non-empty ones.
        eaf = moocore.eaf(np.vstack(present), np.repeat(np.arange(len(present)),
                                                        [len(s) for s in present]),
                          percentiles=[100.0 * needed / len(present)])
        corners = eaf[:, :2] * _signs(directions)
        surfaces[level] = corners[np.argsort(corners[:, 0], kind="stable")]
    return surfaces


def _signs(directions: Sequence[Direction | str]) -> np.ndarray:
    """Each objective's multiplier into minimisation form (:attr:`Direction.sign`)."""
    signs = np.array([Direction(d).sign for d in directions], dtype=float)
    if len(signs) == 0:
        raise ValueError("at least one objective direction is needed")
    return signs


def _loss_reference(reference: Sequence[float],
                    directions: Sequence[Direction | str]) -> np.ndarray:
    """The reference point in minimisation form; it must be finite, one value per objective."""
    signs = _signs(directions)
    ref = np.asarray(reference, dtype=float).ravel()
    if ref.shape != signs.shape or not np.isfinite(ref).all():
        raise ValueError(f"reference must be {len(signs)} finite values, got {reference!r}")
    return ref * signs


def _in_box(losses: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Rows that are finite and strictly better than the reference in every objective."""
    return np.isfinite(losses).all(axis=1) & (losses < ref).all(axis=1)


def _sets_needed(level: float, n_sets: int) -> int:
    """How many of ``n_sets`` sets attain a point at ``level``%: moocore's ``percentile2level``."""
    x = n_sets * level / 100.0
    needed = math.floor(x) if x - math.floor(x) <= math.sqrt(np.finfo(float).eps) else math.ceil(x)
    return max(needed, 1)
