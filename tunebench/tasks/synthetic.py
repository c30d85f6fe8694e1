"""Classic synthetic test functions for global optimisation, as noise-free (or seeded-noise) tasks.

Every function here is a :class:`SyntheticFunction`: it declares its standard domain as a space of
floats named ``x1 .. xd``, its exact optimum and its known minimiser(s), and implements one
vectorised formula (:meth:`SyntheticFunction.function`, over the last axis of an array, so tests and
plots can evaluate many points at once). Rosenbrock, Styblinski–Tang, Ackley and Levy are
:class:`ScalableFunction` s: the ``dim`` option sets their dimension.

Optima and minimisers were computed to 40 significant digits (mpmath ``findroot`` on the gradient,
started from the literature's rounded minimisers) and are stored to double precision. Two widely
quoted values are off: the Styblinski–Tang minimum is −39.16616570·d (the often copied −39.16599·d is
1.8e-4 per dimension too high; even the rounded minimiser −2.903534 reaches −39.1661657), and the
first coordinate of the Hartmann-3 minimiser is 0.1145889, not 0.114614.

The ``noise`` option adds Gaussian noise of that standard deviation to ``value`` (what the optimiser
sees), never to ``test_value``. It is drawn from a generator seeded by the pair (evaluation seed,
configuration key), so the same configuration and seed always get the same noise; :attr:`optimum`
stays the noise-free minimum.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from tunebench.space import Config, Float, Space, config_key
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError

__all__ = [
    "Ackley",
    "Branin",
    "Camel6",
    "Hartmann3",
    "Hartmann6",
    "Levy",
    "Rosenbrock",
    "ScalableFunction",
    "StyblinskiTang",
    "SyntheticFunction",
]


class SyntheticFunction(Task):
    """A test function of fixed dimension. A subclass sets ``name``, ``bounds`` (one ``(low, high)``
    per coordinate), ``known_optimum`` and ``known_minimizers`` (every global minimiser, as coordinate
    tuples), and implements :meth:`function`.
    """

    metric = "f"
    direction = Direction.MINIMIZE
    max_fidelity = 1
    isolation = "none"  # microseconds per evaluation: a child process would cost more than it

    bounds: ClassVar[tuple[tuple[float, float], ...]]
    known_optimum: ClassVar[float]
    known_minimizers: ClassVar[tuple[tuple[float, ...], ...]]

    def __init__(self, noise: float = 0.0) -> None:
        if isinstance(noise, bool) or not isinstance(noise, (int, float)):
            raise TaskError(f"{self.name}: noise must be a number >= 0, got {noise!r}")
        if not (math.isfinite(noise) and noise >= 0):
            raise TaskError(f"{self.name}: noise must be a finite number >= 0, got {noise!r}")
        self.noise = float(noise)
        bounds = self.domain()
        self._names = tuple(f"x{i + 1}" for i in range(len(bounds)))
        self._space = Space(
            {n: Float(lo, hi) for n, (lo, hi) in zip(self._names, bounds, strict=True)}
        )

    def function(self, x: np.ndarray) -> np.ndarray:
        """f over the last axis of ``x`` (shape ``(..., d)``), giving shape ``(...)``."""
        raise NotImplementedError

    def domain(self) -> tuple[tuple[float, float], ...]:
        """``(low, high)`` of each coordinate, in order ``x1 .. xd``."""
        return self.bounds

    @property
    def dim(self) -> int:
        return len(self._names)

    @property
    def space(self) -> Space:
        return self._space

    @property
    def optimum(self) -> float:
        return self.known_optimum

    def minimizer_points(self) -> tuple[tuple[float, ...], ...]:
        return self.known_minimizers

    @property
    def minimizers(self) -> list[Config]:
        """The known global minimiser(s), as configurations of :attr:`space`."""
        return [dict(zip(self._names, map(float, p), strict=True)) for p in self.minimizer_points()]

    def to_array(self, config: Config) -> np.ndarray:
        """The point of a configuration, as floats in the order ``x1 .. xd``."""
        return np.array([config[n] for n in self._names], dtype=float)

    def __call__(self, config: Config) -> float:
        """The noise-free value at ``config`` (no validation: for tests and plots)."""
        return float(self.function(self.to_array(config)))

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        x = self.to_array(config)  # the harness has validated config against the space
        fx = float(self.function(x))
        value = fx
        if self.noise > 0:
            key = int(config_key(config)[:16], 16)
            value += self.noise * float(np.random.default_rng([seed % 2**64, key]).normal())
        return Result(value=value, test_value=fx, fidelity_spent=1, curve=(value,))


class ScalableFunction(SyntheticFunction):
    """A test function defined in any dimension ``dim`` >= :attr:`min_dim`, on a cube, minimised at
    the diagonal point ``(minimizer_coordinate, ..., minimizer_coordinate)``."""

    min_dim: ClassVar[int] = 1
    #: The largest dimension: a space of 10,000 floats is built in well under a second; beyond
    #: that every trial is slow, and a billion was an out-of-memory kill.
    max_dim: ClassVar[int] = 10_000
    interval: ClassVar[tuple[float, float]]
    minimizer_coordinate: ClassVar[float]
    optimum_per_dim: ClassVar[float] = 0.0

    def __init__(self, dim: int = 2, noise: float = 0.0) -> None:
        if (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))
                or not self.min_dim <= dim <= self.max_dim):
            raise TaskError(f"{self.name}: dim must be an integer >= {self.min_dim} and "
                            f"<= {self.max_dim}, got {dim!r}")
        self._dim = int(dim)
        super().__init__(noise)

    def domain(self) -> tuple[tuple[float, float], ...]:
        return (self.interval,) * self._dim

    @property
    def optimum(self) -> float:
        return self.optimum_per_dim * self._dim

    def minimizer_points(self) -> tuple[tuple[float, ...], ...]:
        return ((self.minimizer_coordinate,) * self._dim,)


class Branin(SyntheticFunction):
    name = "branin"
    description = "Branin–Hoo (2-d, three global minima)"
    bounds = ((-5.0, 10.0), (0.0, 15.0))
    known_optimum = 5 / (4 * math.pi)  # 0.39788735772973816: 10·t with t = 1/(8π)
    known_minimizers = ((-math.pi, 12.275), (math.pi, 2.275), (3 * math.pi, 2.475))

    def function(self, x: np.ndarray) -> np.ndarray:
        x1, x2 = x[..., 0], x[..., 1]
        b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
        return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


class _Hartmann(SyntheticFunction):
    """f(x) = −Σᵢ αᵢ exp(−Σⱼ Aᵢⱼ (xⱼ − Pᵢⱼ)²) on the unit cube."""

    A: ClassVar[np.ndarray]
    P: ClassVar[np.ndarray]

    def function(self, x: np.ndarray) -> np.ndarray:
        inner = np.sum(self.A * (x[..., None, :] - self.P) ** 2, axis=-1)
        return -(np.exp(-inner) @ _HARTMANN_ALPHA)


class Hartmann3(_Hartmann):
    name = "hartmann3"
    description = "Hartmann 3-d (four local minima, unit cube)"
    bounds = ((0.0, 1.0),) * 3
    A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
    P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470],
                         [1091, 8732, 5547], [381, 5743, 8828]])
    known_optimum = -3.8627797873326625
    known_minimizers = ((0.11458887665506897, 0.55564889461693004, 0.85254698468667744),)


class Hartmann6(_Hartmann):
    name = "hartmann6"
    description = "Hartmann 6-d (six local minima, unit cube)"
    bounds = ((0.0, 1.0),) * 6
    A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
    P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886],
                         [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650],
                         [4047, 8828, 8732, 5743, 1091, 381]])
    known_optimum = -3.3223680114155148
    known_minimizers = ((0.20168951100670542, 0.15001069182345797, 0.47687397422189699,
                         0.27533243049405607, 0.31165161660011324, 0.65730053406562031),)


class Camel6(SyntheticFunction):
    name = "camel6"
    description = "Six-hump camel (2-d, two global minima)"
    bounds = ((-3.0, 3.0), (-2.0, 2.0))
    known_optimum = -1.0316284534898774
    known_minimizers = ((0.089842013100318062, -0.71265640302073963),
                        (-0.089842013100318062, 0.71265640302073963))

    def function(self, x: np.ndarray) -> np.ndarray:
        x1, x2 = x[..., 0], x[..., 1]
        s1, s2 = x1 * x1, x2 * x2
        return (4 - 2.1 * s1 + s1 * s1 / 3) * s1 + x1 * x2 + (4 * s2 - 4) * s2


class Rosenbrock(ScalableFunction):
    name = "rosenbrock"
    description = "Rosenbrock valley (dim >= 2)"
    min_dim = 2
    interval = (-5.0, 10.0)
    minimizer_coordinate = 1.0

    def function(self, x: np.ndarray) -> np.ndarray:
        head, tail = x[..., :-1], x[..., 1:]
        return np.sum(100 * (tail - head**2) ** 2 + (head - 1) ** 2, axis=-1)


class StyblinskiTang(ScalableFunction):
    name = "styblinski_tang"
    description = "Styblinski–Tang (any dim; minimum −39.16616570 per dimension)"
    interval = (-5.0, 5.0)
    minimizer_coordinate = -2.9035340277711771  # the root of 4x³ − 32x + 5 near −2.9
    optimum_per_dim = -39.166165703771415

    def function(self, x: np.ndarray) -> np.ndarray:
        s = x * x
        return 0.5 * np.sum(s * s - 16 * s + 5 * x, axis=-1)


class Ackley(ScalableFunction):
    name = "ackley"
    description = "Ackley (any dim; a = 20, b = 0.2, c = 2π)"
    interval = (-32.768, 32.768)
    minimizer_coordinate = 0.0

    def function(self, x: np.ndarray) -> np.ndarray:
        rms = np.sqrt(np.mean(x * x, axis=-1))
        ripple = np.mean(np.cos(2 * math.pi * x), axis=-1)
        # Grouped so that f(0) is exactly 0: 20·(1 − 1) + (e − e).
        return 20 * (1 - np.exp(-0.2 * rms)) + (math.e - np.exp(ripple))


class Levy(ScalableFunction):
    name = "levy"
    description = "Levy (any dim)"
    interval = (-10.0, 10.0)
    minimizer_coordinate = 1.0

    def function(self, x: np.ndarray) -> np.ndarray:
        w = 1 + (x - 1) / 4
        head, last = w[..., :-1], w[..., -1]
        body = np.sum((head - 1) ** 2 * (1 + 10 * np.sin(math.pi * head + 1) ** 2), axis=-1)
        tail = (last - 1) ** 2 * (1 + np.sin(2 * math.pi * last) ** 2)
        return np.sin(math.pi * w[..., 0]) ** 2 + body + tail
