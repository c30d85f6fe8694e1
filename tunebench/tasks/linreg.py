"""Linear regression on the real diabetes data, trained by mini-batch gradient descent in numpy.

The data is scikit-learn's bundled ``load_diabetes()`` (442 patients × 10 baseline measurements; the
target is a measure of disease progression one year later). Nothing is downloaded.

For an evaluation seed ``s`` the rows are split 60/20/20 into train / validation / test by a
permutation drawn from ``default_rng([s, 0])``; features *and* target are standardised with the
training rows' mean and standard deviation only. Training runs on the standardised target (so
learning rates mean the same on every split), but every reported MSE is converted back to the
target's **original units** (squared progression points), so the numbers read like the literature's:
the best linear models reach a validation MSE of about 2700–3300 depending on the split.

The model is ``y ≈ X·w + b``; the loss minimised on each mini-batch is
``mean((X·w + b − y)²) + l2·‖w‖² + l1·‖w‖₁`` (the bias is not penalised; the L1 term contributes its
subgradient ``l1·sign(w)``). The initial weights and the order of the batches come from
``default_rng([s, 1])``: the same for every configuration evaluated with seed ``s`` (common random
numbers) and bit-identical between runs. Fidelity is the number of epochs; the validation MSE is
reported after each one. A run whose validation MSE passes
:attr:`~LinearRegressionTask.divergence_bound` times the variance of the training target (the MSE
of predicting the training mean), or overflows, has diverged: training stops in that epoch and
:class:`~tunebench.tasks.base.Diverged` names it (the harness stores a failed trial, reason
"diverged", charged the epochs trained). Drawing 3000 configurations at random, 142 ended with a
finite validation MSE above 10⁴ times the target's variance (up to 10²⁸⁶: numbers that would wreck
every mean they entered) and all are caught; 7 of the 2266 that ended below twice the variance
passed the bound on the way (a decaying learning rate brought them back) and now fail — a bound
of 10³ would fail 9, one of 10⁶ still fails 1 (its peak was 10²⁶).
Loading and splitting the data and scoring the test set run outside the charged span
(:meth:`~tunebench.tasks.base.EvalContext.uncharged`).

``l1`` and ``l2`` are log-scaled from 1e-6 and have no "off" switch: with standardised data a
penalty of 1e-6 moves the validation MSE by less than one part in 10⁵ — it is zero for every purpose
a benchmark has — and an extra categorical switch would only add conditional dimensions that make the
optimisers' job harder without changing what is achievable.

:attr:`LinearRegressionTask.optimum` is a *reference*, not a bound: the best validation MSE of the
same linear model fitted exactly (closed-form ridge over the search space's ``l2`` range, and the lasso
path over its ``l1`` range) on the split of seed ``seed_for_optimum``. Gradient descent may beat it (an
early-stopped or elastic-net solution can generalise better on a small validation set), and splits of
other seeds have other optima, so :attr:`~LinearRegressionTask.optimum_is_exact` is False;
:meth:`~LinearRegressionTask.optimum_for_seed` gives the reference of any seed's own split.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tunebench.space import Categorical, Config, Float, Int, Space
from tunebench.tasks.base import Direction, Diverged, EvalContext, Result, Task, TaskError

__all__ = ["DiabetesSplit", "LinearRegressionTask", "ReferenceFit", "diabetes_split", "load_data"]

TRAIN_FRACTION, VAL_FRACTION = 0.6, 0.2
#: The ``step`` schedule lowers the learning rate once every this many epochs.
STEP_EPOCHS = 10
_ADAM_BETA1, _ADAM_BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8
#: The grid of penalties the reference optimum is taken over: the search space's l1 / l2 range.
_REFERENCE_PENALTIES = np.logspace(-6, 0, 301)


@functools.cache
def load_data() -> tuple[np.ndarray, np.ndarray]:
    """The diabetes data as scikit-learn ships it: features (442, 10) and target (442,), read-only."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    x, y = np.array(bunch.data, dtype=np.float64), np.array(bunch.target, dtype=np.float64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


@dataclass(frozen=True)
class DiabetesSplit:
    """One seed's train / validation / test split, standardised with training statistics.

    ``x_*`` and ``y_*`` are standardised; ``y_mean`` and ``y_scale`` turn a standardised target back
    into original units (``y = y_mean + y_scale · y_std``). ``*_index`` are the rows of
    :func:`load_data` each array holds, in the same (shuffled) order.
    """

    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    y_mean: float
    y_scale: float

    def mse(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray, bias: float) -> float:
        """Mean squared error of ``x·weights + bias`` against standardised ``y``, in original units."""
        residual = x @ weights + bias - y
        return float(residual @ residual) / len(y) * self.y_scale**2


@functools.lru_cache(maxsize=64)
def diabetes_split(seed: int) -> DiabetesSplit:
    """The split of evaluation seed ``seed`` (cached; arrays are read-only)."""
    x, y = load_data()
    n = len(y)
    n_train, n_val = round(TRAIN_FRACTION * n), round(VAL_FRACTION * n)
    order = np.random.default_rng([seed % 2**64, 0]).permutation(n)
    index = {"train": order[:n_train], "val": order[n_train:n_train + n_val],
             "test": order[n_train + n_val:]}
    train = index["train"]
    x_mean, x_scale = x[train].mean(axis=0), x[train].std(axis=0)
    y_mean, y_scale = float(y[train].mean()), float(y[train].std())
    arrays: dict[str, np.ndarray] = {}
    for part, rows in index.items():
        arrays[f"{part}_index"] = rows
        arrays[f"x_{part}"] = (x[rows] - x_mean) / x_scale
        arrays[f"y_{part}"] = (y[rows] - y_mean) / y_scale
    for array in arrays.values():
        array.flags.writeable = False
    return DiabetesSplit(**arrays, y_mean=y_mean, y_scale=y_scale)


@dataclass(frozen=True)
class ReferenceFit:
    """The exactly fitted linear model with the best validation MSE on one split."""

    val_mse: float
    test_mse: float
    kind: str  # "ridge" or "lasso"
    penalty: float  # the l2 (ridge) or l1 (lasso) coefficient, in this task's loss


@functools.lru_cache(maxsize=64)
def reference_fit(seed: int) -> ReferenceFit:
    """The best of closed-form ridge and the lasso path on the split of ``seed``.

    In this task's loss, ``mean(r²) + l2·‖w‖²`` is scikit-learn's ridge with ``alpha = n·l2`` and
    ``mean(r²) + l1·‖w‖₁`` is twice its lasso objective with ``alpha = l1 / 2``. The training features
    and target have mean zero exactly, so the fitted intercept is zero and is left out.
    """
    from sklearn.linear_model import lasso_path

    split = diabetes_split(seed)
    x, y = split.x_train, split.y_train
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    shrink = s / (s**2 + len(y) * _REFERENCE_PENALTIES[:, None])  # (penalties, features)
    ridge = (shrink * (u.T @ y)) @ vt  # (penalties, features): one ridge solution per row
    _, lasso, _ = lasso_path(x, y, alphas=_REFERENCE_PENALTIES / 2, tol=1e-10, max_iter=100_000)
    # lasso_path returns its alphas largest first
    candidates = [("ridge", pen, w) for pen, w in zip(_REFERENCE_PENALTIES, ridge, strict=True)]
    candidates += [("lasso", pen, w) for pen, w in
                   zip(_REFERENCE_PENALTIES[::-1], lasso.T, strict=True)]
    kind, penalty, weights = min(
        candidates, key=lambda c: split.mse(split.x_val, split.y_val, c[2], 0.0))
    return ReferenceFit(split.mse(split.x_val, split.y_val, weights, 0.0),
                        split.mse(split.x_test, split.y_test, weights, 0.0), kind, float(penalty))


def _learning_rate(config: Config, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based) under the configuration's schedule."""
    base = float(config["learning_rate"])
    schedule = config["schedule"]
    if schedule == "constant":
        return base
    exponent = epoch if schedule == "exponential" else STEP_EPOCHS * (epoch // STEP_EPOCHS)
    return base * (1.0 - float(config["decay"])) ** exponent


class LinearRegressionTask(Task):
    """Linear regression of diabetes progression by mini-batch SGD / momentum / Adam (see module doc)."""

    name = "linreg"
    description = "Linear regression on the diabetes data (442×10), mini-batch gradient descent"
    metric = "val_mse"
    direction = Direction.MINIMIZE
    isolation = "none"  # milliseconds of numpy per evaluation: cheaper in-process
    #: A run has diverged once its validation MSE passes this multiple of the training target's
    #: variance (what predicting the training mean scores), see the module docstring.
    divergence_bound: ClassVar[float] = 1e4

    def __init__(self, max_epochs: int = 50, seed_for_optimum: int = 0) -> None:
        for option, value, least in (("max_epochs", max_epochs, 1),
                                     ("seed_for_optimum", seed_for_optimum, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise TaskError(f"linreg: {option} must be an integer >= {least}, got {value!r}")
        self.max_fidelity = int(max_epochs)
        self.seed_for_optimum = int(seed_for_optimum)
        self._space = Space({
            "learning_rate": Float(1e-5, 1.0, log=True, default=0.03),
            "schedule": Categorical(("constant", "exponential", "step"), default="exponential"),
            # fraction by which the learning rate falls per epoch (in steps of STEP_EPOCHS for "step")
            "decay": Float(1e-3, 0.3, log=True, default=0.03,
                           active_if={"schedule": ["exponential", "step"]}),
            "optimizer": Categorical(("sgd", "momentum", "adam"), default="momentum"),
            "momentum": Float(0.5, 0.99, default=0.9, active_if={"optimizer": "momentum"}),
            "batch_size": Int(8, 256, log=True, default=32),
            "l1": Float(1e-6, 1.0, log=True, default=1e-6),
            "l2": Float(1e-6, 1.0, log=True, default=1e-3),
            "init": Categorical(("zeros", "gaussian"), default="zeros"),
        })

    @property
    def space(self) -> Space:
        return self._space

    @property
    def optimum(self) -> float:
        """Reference best validation MSE (original units) on the split of ``seed_for_optimum``."""
        return reference_fit(self.seed_for_optimum).val_mse

    def optimum_for_seed(self, seed: int) -> float:
        """Reference best validation MSE on the split of evaluation seed ``seed`` itself."""
        return reference_fit(seed).val_mse

    @property
    def optimum_is_exact(self) -> bool:
        return False

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        config = self._space.validate(config)
        if isinstance(fidelity, bool) or not isinstance(fidelity, (int, np.integer)) or not (
                1 <= fidelity <= self.max_fidelity):
            raise ValueError(f"linreg: fidelity (epochs) must be an integer in "
                             f"1..{self.max_fidelity}, got {fidelity!r}")
        with context.uncharged():  # cached per process: the first trial would pay for all
            split = diabetes_split(seed)
        bound = self.divergence_bound * split.y_scale**2
        rng = np.random.default_rng([seed % 2**64, 1])
        n, p = split.x_train.shape
        # One parameter vector (weights, bias) against features with a column of ones appended.
        x, y = np.hstack([split.x_train, np.ones((n, 1))]), split.y_train
        theta = np.zeros(p + 1)
        if config["init"] == "gaussian":
            theta[:p] = rng.normal(0.0, 1.0 / math.sqrt(p), size=p)
        penalised = np.append(np.ones(p), 0.0)  # the bias is not penalised
        l1, l2 = float(config["l1"]) * penalised, 2.0 * float(config["l2"]) * penalised
        update = _Optimizer(config, p + 1)
        batch = int(config["batch_size"])
        curve: list[float] = []
        with np.errstate(over="ignore", invalid="ignore"):
            for epoch in range(int(fidelity)):
                lr = _learning_rate(config, epoch)
                order = rng.permutation(n)
                xs, ys = x[order], y[order]
                for start in range(0, n, batch):
                    xb, yb = xs[start:start + batch], ys[start:start + batch]
                    grad = (2.0 / len(yb)) * ((xb @ theta - yb) @ xb) + l2 * theta + l1 * np.sign(theta)
                    theta -= update(grad, lr)
                mse = split.mse(split.x_val, split.y_val, theta[:p], theta[p])
                if not mse <= bound:  # NaN included
                    raise Diverged(
                        f"linreg: training diverged in epoch {epoch + 1} (validation MSE {mse:.4g}, "
                        f"bound {bound:.4g}) with learning_rate={config['learning_rate']:.3g}, "
                        f"optimizer={config['optimizer']!r}, batch_size={batch}: the step is too "
                        "large for this problem"
                    )
                curve.append(mse)
                context.report(epoch + 1, mse)
        with context.uncharged():
            test_mse = split.mse(split.x_test, split.y_test, theta[:p], theta[p])
        return Result(value=curve[-1], test_value=test_mse, fidelity_spent=int(fidelity),
                      curve=tuple(curve))


class _Optimizer:
    """One update rule (sgd, heavy-ball momentum as in PyTorch, or Adam) and its state."""

    def __init__(self, config: Config, size: int) -> None:
        self.kind = config["optimizer"]
        self.momentum = float(config.get("momentum", 0.0))
        self.first = np.zeros(size)  # momentum buffer, or Adam's first moment
        self.second = np.zeros(size)  # Adam's second moment
        self.t = 0

    def __call__(self, grad: np.ndarray, lr: float) -> np.ndarray:
        """The step to subtract from the parameters, given their gradient."""
        if self.kind == "sgd":
            return lr * grad
        if self.kind == "momentum":
            self.first = self.momentum * self.first + grad
            return lr * self.first
        self.t += 1
        self.first = _ADAM_BETA1 * self.first + (1 - _ADAM_BETA1) * grad
        self.second = _ADAM_BETA2 * self.second + (1 - _ADAM_BETA2) * grad * grad
        # The bias corrections folded into the step size: the same update as PyTorch's Adam.
        correction2 = math.sqrt(1 - _ADAM_BETA2**self.t)
        step = lr * correction2 / (1 - _ADAM_BETA1**self.t)
        return step * self.first / (np.sqrt(self.second) + _ADAM_EPS * correction2)
