"""Multi-objective test problems with known Pareto fronts: ZDT1, 2, 3, 6 (Zitzler, Deb & Thiele,
Evol. Comput. 8(2), 2000) and DTLZ1, 2 (Deb, Thiele, Laumanns & Zitzler, Springer 2005).

For checking multi-objective optimisers: the true front, its exact hypervolume and a fixed
reference point are known. Values are pymoo 0.6.2's (imported on first use: pymoo is the optional
``libraries`` extra); every objective is minimised; evaluations are exact (the seed is ignored).

Reference points are BoTorch's (botorch/test_functions/multi_objective.py, meta-pytorch/botorch
commit 0edece50): ``ZDT._ref_point = [11.0, 11.0]`` and ``DTLZ1._ref_val = 400.0``, both after
Yang, Emmerich, Deutz & Bäck, Swarm Evol. Comput. 44 (2019), and ``DTLZ2._ref_val = 1.1``. BoTorch
has ZDT1-3 only; ZDT6 takes the same [11, 11], which bounds all it can reach too (f2 <= g <= 10).

Hypervolume (HV) is the volume of the part of the box [ideal, reference] the front weakly
dominates. ZDT's f2 grows with g at fixed f1, so its front has g = 1: f2 = h(f1); in two
objectives HV is the integral over [f1_min, r1] of r2 - m(f1), m(f1) the least f2 the front
reaches at or before f1 (its attainment curve). Each class says what that gives.
"""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar

import numpy as np

from tunebench.space import Config, Float, Objective, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError

__all__ = ["DTLZ1", "DTLZ2", "ZDT1", "ZDT2", "ZDT3", "ZDT6", "MOOProblem", "zdt3_segments"]

MAX_VAR = 10_000
MAX_OBJ = 10  # exact hypervolume (what reports compute) costs exponentially more per objective


def _whole(task: str, option: str, value: Any, low: int, high: int) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or not low <= value <= high):
        raise TaskError(f"{task}: {option} must be a whole number from {low} to {high}, "
                        f"got {value!r}")
    return int(value)


def _objectives(n_obj: int, reference: float) -> tuple[Objective, ...]:
    return tuple(Objective(f"f{i + 1}", Direction.MINIMIZE, reference=reference)
                 for i in range(n_obj))


class MOOProblem(Task):
    """A pymoo problem on the unit cube: objectives ``f1 .. fm``, a reference point, its front."""

    metric = "f1"
    direction = Direction.MINIMIZE
    max_fidelity = 1
    isolation = "none"  # tens of microseconds per evaluation
    version = "1"
    reference_value: ClassVar[float]
    pymoo_class: ClassVar[str]  # its name in pymoo.problems.multi or pymoo.problems.many
    pymoo_options: ClassVar[tuple[str, ...]] = ("n_var",)

    def _build(self, n_var: int, n_obj: int) -> None:
        self.n_var, self.n_obj = n_var, n_obj
        self._names = tuple(f"x{i}" for i in range(n_var))
        self._space = Space({n: Float(0.0, 1.0) for n in self._names})  # pymoo's xl = 0, xu = 1
        self.objectives = _objectives(n_obj, self.reference_value)  # per instance: m varies

    @functools.cached_property
    def problem(self) -> Any:
        """The pymoo problem that computes the values."""
        try:
            from pymoo.problems import many, multi
        except ImportError:
            raise TaskError(f"{self.name} needs pymoo 0.6.2: pip install 'tunebench[libraries]' "
                            "(make install does)") from None
        cls = getattr(multi, self.pymoo_class, None) or getattr(many, self.pymoo_class)
        return cls(**{option: getattr(self, option) for option in self.pymoo_options})

    def __repr__(self) -> str:
        options = ", ".join(f"{o}={getattr(self, o)}" for o in self.pymoo_options)
        return f"{type(self).__name__}({options})"

    @property
    def space(self) -> Space:
        return self._space

    @property
    def reference_point(self) -> np.ndarray:
        return np.array([o.reference for o in self.objectives], dtype=float)

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        x = np.array([[config[n] for n in self._names]], dtype=float)
        f = self.problem.evaluate(x, return_values_of=["F"])[0]
        values = {o.name: float(v) for o, v in zip(self.objectives, f, strict=True)}
        return Result(value=values["f1"], test_value=values["f1"], fidelity_spent=1,
                      objectives=values, test_objectives=dict(values))

    def pareto_front(self, n_points: int = 1000) -> np.ndarray:
        """pymoo's reference front: at most ``n_points`` points, one a row, objectives in columns.
        (pymoo caches a problem's first front, whatever it was asked for: bypassed.)"""
        return self._front(_whole(self.name, "n_points", n_points, max(5, self.n_obj), 10**7))

    def _front(self, n_points: int) -> np.ndarray:
        return self.problem.pareto_front(n_points, use_cache=False)

    @property
    def optimal_hypervolume(self) -> float:
        """The exact hypervolume of the true front w.r.t. :attr:`reference_point`."""
        raise NotImplementedError


class _ZDT(MOOProblem):
    reference_value = 11.0
    objectives = _objectives(2, 11.0)
    f1_min: ClassVar[float] = 0.0

    def __init__(self, n_var: int = 30) -> None:
        self._build(_whole(self.name, "n_var", n_var, 2, MAX_VAR), 2)

    def _front(self, n_points: int) -> np.ndarray:
        # Only the points nothing else on the front weakly dominates: pymoo's 10-digit ZDT3 table
        # starts segments 3-5 just before the true starts, 1e-10 above the previous segment's end
        # (the only points dropped).
        front = super()._front(n_points)
        front = front[np.argsort(front[:, 0], kind="stable")]
        return front[front[:, 1] < np.minimum.accumulate(np.r_[np.inf, front[:-1, 1]])]

    @property
    def optimal_hypervolume(self) -> float:
        r1, r2 = (float(r) for r in self.reference_point)
        return (r1 - self.f1_min) * r2 - self._area_under_front(r1)

    def _area_under_front(self, r1: float) -> float:
        """The integral of the attainment curve m over [f1_min, r1]."""
        raise NotImplementedError


class ZDT1(_ZDT):
    """Front f2 = 1 - sqrt(f1), f1 in [0, 1] (convex), m = 0 past it: HV = r1 r2 - 1/3."""

    name = "zdt1"
    description = "ZDT1: 2 objectives, convex front (pymoo; option n_var, default 30)"
    pymoo_class = "ZDT1"

    def _area_under_front(self, r1: float) -> float:
        return 1 / 3  # the integral of 1 - sqrt(t) over [0, 1]


class ZDT2(_ZDT):
    """Front f2 = 1 - f1², f1 in [0, 1] (concave), m = 0 past it: HV = r1 r2 - 2/3."""

    name = "zdt2"
    description = "ZDT2: 2 objectives, concave front (pymoo; option n_var, default 30)"
    pymoo_class = "ZDT2"

    def _area_under_front(self, r1: float) -> float:
        return 2 / 3  # the integral of 1 - t² over [0, 1]


def _zdt3_h(t: float) -> float:
    return 1 - math.sqrt(t) - t * math.sin(10 * math.pi * t)


def _zdt3_integral(t: float) -> float:
    """An antiderivative of :func:`_zdt3_h`."""
    a = 10 * math.pi
    return t - 2 / 3 * t**1.5 - math.sin(a * t) / a**2 + t * math.cos(a * t) / a


@functools.cache
def zdt3_segments() -> tuple[tuple[float, float], ...]:
    """The f1 ranges ``(start, end)`` of ZDT3's five front segments, to double precision.

    A point of f2 = h(f1) is on the front where h is below all it was before. A segment ends at
    a local minimum of h (a root of h', bracketed on a grid much finer than h's stationary
    points are apart, solved by brentq); the next starts where h comes back down to that value
    (brentq between the next local maximum and the next deeper minimum). A start itself is
    weakly dominated (the previous end's f2, a larger f1): segments after the first are open.
    """
    from scipy.optimize import brentq

    a = 10 * math.pi

    def dh(t: float) -> float:
        return -0.5 / math.sqrt(t) - math.sin(a * t) - a * t * math.cos(a * t)

    def root(f: Any, lo: float, hi: float) -> float:
        return float(brentq(f, lo, hi, xtol=1e-300, rtol=8.9e-16, maxiter=200))

    grid = np.linspace(1e-6, 1.0, 2001)  # h' < 0 at both ends (-> -inf at 0)
    slope = np.array([dh(t) for t in grid])
    segments: list[tuple[float, float]] = []
    last_max, deepest = 0.0, math.inf
    for i in np.flatnonzero(np.sign(slope[:-1]) != np.sign(slope[1:])):
        t = root(dh, grid[i], grid[i + 1])
        if slope[i] > 0:  # a local maximum
            last_max = t
        elif _zdt3_h(t) < deepest:
            start = root(lambda u, y=deepest: _zdt3_h(u) - y, last_max, t) if segments else 0.0
            segments.append((start, t))
            deepest = _zdt3_h(t)
    return tuple(segments)


class ZDT3(_ZDT):
    """Front: five disconnected pieces of h(f1) = 1 - sqrt(f1) - f1 sin(10 pi f1).

    HV = r1 r2 - the integral of m over [0, r1]: on a segment (s, e) m = h, integrated exactly by
    its antiderivative t - 2/3 t^1.5 - sin(a t)/a² + t cos(a t)/a (a = 10 pi); from e to the next
    start, and from the last end to r1, m stays h(e). Segment ends from :func:`zdt3_segments`.
    """

    name = "zdt3"
    description = "ZDT3: 2 objectives, front of 5 disconnected pieces (pymoo; option n_var)"
    pymoo_class = "ZDT3"

    def _area_under_front(self, r1: float) -> float:
        segments = zdt3_segments()
        following = [start for start, _ in segments[1:]] + [r1]
        return sum(_zdt3_integral(e) - _zdt3_integral(s) + _zdt3_h(e) * (after - e)
                   for (s, e), after in zip(segments, following, strict=True))


class ZDT6(_ZDT):
    """Front f2 = 1 - f1², f1 in [f1_min, 1] (concave, uneven), m = 0 past it: HV =
    (r1 - f1_min) r2 - (1 - f1_min) + (1 - f1_min³) / 3.

    f1 = 1 - exp(-4x) sin⁶(6 pi x) is least at the first peak of exp(-4x) sin⁶(6 pi x) (later
    ones are damped lower), where the log's slope -4 + 36 pi cot(6 pi x) is 0: tan(6 pi x) =
    9 pi, sin² = 1 - 1 / (1 + 81 pi²). (pymoo's front starts 3e-10 above it, at 0.2807753191.)
    """

    name = "zdt6"
    description = "ZDT6: 2 objectives, non-uniform concave front (pymoo; option n_var, default 10)"
    pymoo_class = "ZDT6"
    x_min: ClassVar[float] = math.atan(9 * math.pi) / (6 * math.pi)
    f1_min: ClassVar[float] = 1 - math.exp(-4 * x_min) * (1 - 1 / (1 + 81 * math.pi**2)) ** 3

    def __init__(self, n_var: int = 10) -> None:
        super().__init__(n_var)

    def _area_under_front(self, r1: float) -> float:
        a = self.f1_min
        return (1 - a) - (1 - a**3) / 3  # the integral of 1 - t² over [f1_min, 1]


class _DTLZ(MOOProblem):
    k: ClassVar[int]  # the standard n_var is n_obj + k - 1
    pymoo_options = ("n_var", "n_obj")  # pymoo's n_var default ignores n_obj: always given

    def __init__(self, n_obj: int = 3, n_var: int | None = None) -> None:
        n_obj = _whole(self.name, "n_obj", n_obj, 2, MAX_OBJ)
        n_var = n_obj + self.k - 1 if n_var is None else n_var
        self._build(_whole(self.name, f"n_var (with n_obj = {n_obj})", n_var, n_obj, MAX_VAR),
                    n_obj)

    def _front(self, n_points: int) -> np.ndarray:
        # pymoo maps Das-Dennis directions onto the front (it has defaults only for m <= 3):
        # the finest lattice with at most n_points points.
        from pymoo.util import reference_direction as rd

        partitions = rd.get_partition_closest_to_points(n_points, self.n_obj)
        directions = rd.UniformReferenceDirectionFactory(self.n_obj, n_partitions=partitions).do()
        return self.problem.pareto_front(directions, use_cache=False)


class DTLZ1(_DTLZ):
    """Front: the simplex sum(f) = 1/2, f >= 0. A point of [0, r]^m is weakly dominated by it
    exactly when its coordinates sum to 1/2 or more, so HV = r^m - (1/2)^m / m! (the corner
    simplex left over), for r >= 1/2. With r = 400 that shortfall is 3e-13 of HV at m = 3 and
    below double precision from m = 5 (400^5 - 2.6e-4 rounds to 400^5): from m = 4 near-optimal
    fronts' raw hypervolumes differ by about their rounding (~1e-13 of HV in moocore)."""

    name = "dtlz1"
    description = "DTLZ1: linear front, multimodal (pymoo; options n_obj = 3, n_var = n_obj + 4)"
    pymoo_class = "DTLZ1"
    k = 5
    reference_value = 400.0
    objectives = _objectives(3, 400.0)

    @property
    def optimal_hypervolume(self) -> float:
        m, r = self.n_obj, self.reference_value
        return r**m - 0.5**m / math.factorial(m)


class DTLZ2(_DTLZ):
    """Front: the unit sphere in the positive orthant. A point y >= 0 is weakly dominated by it
    exactly when |y| >= 1 (by y/|y|), so HV = r^m - pi^(m/2) / Gamma(m/2 + 1) / 2^m (the
    orthant's share of the unit ball), for r >= 1."""

    name = "dtlz2"
    description = "DTLZ2: spherical front (pymoo; options n_obj = 3, n_var = n_obj + 9)"
    pymoo_class = "DTLZ2"
    k = 10
    reference_value = 1.1
    objectives = _objectives(3, 1.1)

    @property
    def optimal_hypervolume(self) -> float:
        m, r = self.n_obj, self.reference_value
        return r**m - math.pi ** (m / 2) / math.gamma(m / 2 + 1) / 2**m
