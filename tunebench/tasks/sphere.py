"""The shifted sphere Σ (xᵢ − cᵢ)²: the quadratic of nevergrad's own optimizer tests.

nevergrad's test suite records, per optimizer, its recommendation after a small run on this
function (their ``Fitness``: centre [0.5, −0.8, 0, 4] in dimension 4); with the centre as an
option a suite can replay such a published run exactly (``examples/nevergrad_recorded``). A module
of its own, so adding it changes no other synthetic task's code hash (and cached evaluations).
"""

from __future__ import annotations

import math

import numpy as np

from tunebench.tasks.base import TaskError
from tunebench.tasks.synthetic import SyntheticFunction


class Sphere(SyntheticFunction):
    """f(x) = Σ (xᵢ − cᵢ)² on the cube [−bound, bound]^d, d = len(center); minimum 0 at the centre."""

    name = "sphere"
    description = "shifted sphere Σ(xᵢ − cᵢ)² (dimension = len(center); minimum 0 at the centre)"
    known_optimum = 0.0

    def __init__(self, center: list[float] | tuple[float, ...] = (0.0, 0.0), bound: float = 5.12,
                 noise: float = 0.0) -> None:
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not (
                math.isfinite(bound) and bound > 0):
            raise TaskError(f"sphere: bound must be a finite number > 0, got {bound!r}")
        if not isinstance(center, (list, tuple)) or not center or not all(
                isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)
                for c in center):
            raise TaskError(f"sphere: center must be a non-empty list of finite numbers, "
                            f"got {center!r}")
        if any(abs(c) > bound for c in center):
            raise TaskError(f"sphere: center {list(center)} lies outside the domain "
                            f"[-{bound:g}, {bound:g}] per coordinate; raise `bound`")
        self._center = np.array(center, dtype=float)
        self._bound = float(bound)
        super().__init__(noise)

    def domain(self) -> tuple[tuple[float, float], ...]:
        return ((-self._bound, self._bound),) * len(self._center)

    def minimizer_points(self) -> tuple[tuple[float, ...], ...]:
        return (tuple(float(c) for c in self._center),)

    def function(self, x: np.ndarray) -> np.ndarray:
        return np.sum((x - self._center) ** 2, axis=-1)


__all__ = ["Sphere"]
