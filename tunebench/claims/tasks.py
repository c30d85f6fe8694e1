"""The small tasks the shipped claims need, loaded by their settings as a plugin file.

- ``gd_line``: full-batch gradient descent fitting a line ``y ≈ w·x + b`` by mean squared error —
  the worked example x = 1, 2, 3, 4; y = 2, 4, 6, 8 (slope 2, intercept 0).
- ``ridge_diabetes``: ridge regression on scikit-learn's diabetes data, scored exactly as
  ``RidgeCV`` scores an ``alpha`` by default — the mean squared leave-one-out error.

- ``low_effective_dim``: a quadratic bowl in [0, 1]^d in which only the first ``important``
  coordinates matter much — the "low effective dimensionality" of Bergstra & Bengio (2012).

The first two are deterministic and ignore the evaluation seed; the third places its optimum
from the seed, so every repetition is a new function of the same shape (no grid is favoured by
where the optimum happens to lie).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from tunebench.space import Categorical, Config, Float, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError


def _numbers(name: str, values: Sequence[float], least: int) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) < least:
        raise TaskError(f"{name} must be a list of at least {least} numbers, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TaskError(f"{name} must hold finite numbers, got {v!r}")
        out.append(float(v))
    return tuple(out)


class GradientDescentLine(Task):
    """Fit ``y ≈ w·x + b`` by full-batch gradient descent on the mean squared error from (0, 0).

    The loss is ``L(w, b) = (1/n)·Σ (w·xᵢ + b − yᵢ)²``; its gradient is computed from the sums
    Σx, Σx², Σy, Σxy (the same numbers as summing the residuals, in O(1) per step). ``value`` is the
    loss after ``steps`` steps; ``extra`` holds the fitted slope and intercept. A run whose loss
    ends above where it started (or overflows) has diverged and raises ``FloatingPointError``,
    which the harness stores as a failed trial.

    L is quadratic with Hessian ``(2/n)·[[Σx², Σx], [Σx, n]]``, so gradient descent converges for
    every starting point exactly when the learning rate is below ``2/λ_max`` (the claim
    ``gd-critical-learning-rate`` derives it for the worked example).
    """

    name = "gd_line"
    description = "Full-batch gradient descent on a least-squares line fit (claims' worked example)"
    metric = "mse"
    direction = Direction.MINIMIZE

    def __init__(self, x: Sequence[float] = (1.0, 2.0, 3.0, 4.0),
                 y: Sequence[float] = (2.0, 4.0, 6.0, 8.0), steps: int = 10_000,
                 lr_low: float = 0.02, lr_high: float = 0.2) -> None:
        self.x, self.y = _numbers("x", x, 2), _numbers("y", y, 2)
        if len(self.x) != len(self.y):
            raise TaskError(f"x and y must have the same length, got {len(self.x)} and {len(self.y)}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise TaskError(f"steps must be a positive integer, got {steps!r}")
        self.steps = steps
        try:
            self._space = Space({"learning_rate": Float(lr_low, lr_high)})
        except ValueError as exc:
            raise TaskError(f"learning-rate range: {exc}") from None

    @property
    def space(self) -> Space:
        return self._space

    def loss(self, w: float, b: float) -> float:
        return sum((w * xi + b - yi) ** 2 for xi, yi in zip(self.x, self.y, strict=True)) / len(self.x)

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        lr = float(self._space.validate(config)["learning_rate"])
        n = len(self.x)
        sx, sxx = sum(self.x), sum(v * v for v in self.x)
        sy, sxy = sum(self.y), sum(a * b for a, b in zip(self.x, self.y, strict=True))
        w = b = 0.0
        start = self.loss(w, b)
        for _ in range(self.steps):
            grad_w = 2.0 / n * (w * sxx + b * sx - sxy)
            grad_b = 2.0 / n * (w * sx + b * n - sy)
            w, b = w - lr * grad_w, b - lr * grad_b
            if not (abs(w) < 1e150 and abs(b) < 1e150):
                break
        final = self.loss(w, b)
        if not math.isfinite(final) or final > start:
            raise FloatingPointError(f"gradient descent diverged at learning_rate={lr:.6g}: the loss "
                                     f"went from {start:.6g} to {final:.6g}")
        return Result(value=final, test_value=final, extra={"slope": w, "intercept": b})


@functools.cache
def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


class DiabetesRidgeLOO(Task):
    """Ridge regression (unpenalised intercept) on the diabetes data, 442 × 10, as ``RidgeCV`` does it.

    ``value`` is the mean squared leave-one-out error of ``Ridge(alpha)`` — the criterion with which
    ``RidgeCV`` (``cv=None``) picks its alpha — computed exactly: with Z = [X, 1] and the penalty
    P = diag(alpha, …, alpha, 0), the hat matrix is H = Z (ZᵀZ + P)⁻¹ Zᵀ and the leave-one-out
    residual of row i is rᵢ / (1 − Hᵢᵢ). ``extra["r2"]`` is the coefficient of determination of the
    model fitted on all rows, scored on the same rows (``Ridge(alpha).fit(X, y).score(X, y)``).
    There is no held-out split, so ``test_value`` is None.
    """

    name = "ridge_diabetes"
    description = "Ridge regression on the diabetes data, scored by exact leave-one-out MSE (RidgeCV)"
    metric = "loo_mse"
    direction = Direction.MINIMIZE

    def __init__(self, alphas: Sequence[float] = (0.1, 1.0, 10.0)) -> None:
        values = _numbers("alphas", alphas, 1)
        if any(a <= 0 for a in values):
            raise TaskError(f"alphas must be positive, got {list(values)}")
        self._space = Space({"alpha": Categorical(values)})

    @property
    def space(self) -> Space:
        return self._space

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        alpha = float(self._space.validate(config)["alpha"])
        x, y = _diabetes()
        n, p = x.shape
        z = np.hstack([x, np.ones((n, 1))])
        penalty = np.diag(np.append(np.full(p, alpha), 0.0))
        inverse_zt = np.linalg.solve(z.T @ z + penalty, z.T)  # (p+1, n)
        coef = inverse_zt @ y
        residual = y - z @ coef
        leverage = np.einsum("ij,ji->i", z, inverse_zt)
        loo_mse = float(np.mean((residual / (1.0 - leverage)) ** 2))
        r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
        return Result(value=loo_mse, test_value=None, extra={"r2": r2})


class LowEffectiveDimension(Task):
    """f(x) = Σᵢ wᵢ·(xᵢ − cᵢ)² on [0, 1]^d with wᵢ = 1 for the first ``important`` coordinates and
    ``weight`` (default 0.01) for the rest; c is drawn uniformly from the evaluation seed.

    Bergstra & Bengio (JMLR 2012, §1 and Figure 1) argue that when f depends mostly on a few
    coordinates, a grid of n points tries only n^(1/d) values of each, where random search tries n:
    this is the function of their figure, f(x, y) = g(x) + h(y) with h small. ``test_value`` is
    the same noise-free value; ``optimum`` is 0 (at c, whatever the seed).
    """

    name = "low_effective_dim"
    description = "Quadratic in [0,1]^d where few coordinates matter (Bergstra & Bengio 2012, Fig. 1)"
    metric = "value"
    direction = Direction.MINIMIZE
    optimum = 0.0

    def __init__(self, dims: int = 2, important: int = 1, weight: float = 0.01) -> None:
        if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= 50:
            raise TaskError(f"dims must be an integer from 1 to 50, got {dims!r}")
        if isinstance(important, bool) or not isinstance(important, int) \
                or not 1 <= important <= dims:
            raise TaskError(f"important must be an integer from 1 to dims ({dims}), got {important!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
            raise TaskError(f"weight must be a number in [0, 1], got {weight!r}")
        self.weights = np.array([1.0] * important + [float(weight)] * (dims - important))
        self._space = Space({f"x{i + 1}": Float(0.0, 1.0) for i in range(dims)})

    @property
    def space(self) -> Space:
        return self._space

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        checked = self._space.validate(config)
        x = np.array([float(checked[f"x{i + 1}"]) for i in range(len(self.weights))])
        centre = np.random.default_rng(seed).uniform(0.0, 1.0, len(self.weights))
        value = float(self.weights @ (x - centre) ** 2)
        return Result(value=value, test_value=value)


__all__ = ["DiabetesRidgeLOO", "GradientDescentLine", "LowEffectiveDimension"]
