"""Bayesmark's problem grid as tasks: ``bayesmark/<model>-<dataset>-<metric>`` (``bayesmark/SVM-wine-nll``).

Bayesmark (Uber, Apache-2.0, github.com/uber/bayesmark) tunes scikit-learn models on scikit-learn's
bundled data sets; it was the benchmark of the NeurIPS 2020 black-box optimisation challenge. Cite:
R. Turner, D. Eriksson, M. McCourt, J. Kiili, E. Laaksonen, Z. Xu, I. Guyon, *Bayesian Optimization is
Superior to Random Search for Machine Learning Hyperparameter Tuning: Analysis of the Black-Box
Optimization Challenge 2020*, PMLR 133 (2021). ``bayesmark`` itself cannot be installed next to
numpy 2, so its protocol is re-implemented here from its documentation and source (facts only):

- the data set is split once, 80 % training / 20 % test, shuffled with seed 0 (Bayesmark's
  ``shuffle_seed``, the same for every study; boston is gone from scikit-learn: 90 problems remain);
- the value the optimiser sees is the 5-fold cross-validation loss on the training part, folds
  unshuffled (stratified for classifiers, by scikit-learn 0.20's rule: each class's rows, in order,
  cut into five contiguous chunks; scikit-learn ≥ 0.22 stratifies differently). The loss is the
  score negated: ``nll`` (log loss, probabilities clipped to [1e-15, 1 − 1e-15] and renormalised as
  scikit-learn 0.20 did), ``acc`` as −accuracy, ``mse``, ``mae``;
- the held-out test value is the same loss of the model refitted on the whole training part and
  scored on the test part (Bayesmark's "generalization"); it runs uncharged;
- a fit that fails or a loss that is not finite is a failed trial (Bayesmark counted it +inf).

With these, tunebench reproduces Bayesmark's published function signatures (each problem's loss at
five fixed points) to 1e-4 for every model whose loss draws no random numbers
(``tests/test_bayesmark.py``). Where tunebench deviates, on purpose: every model that draws random
numbers is seeded from the evaluation seed (Bayesmark left them unseeded), so an evaluation is
deterministic per seed; the challenge ran scikit-learn 0.20.2, and what 1.9 no longer has is
rebuilt (SAMME.R boosting, Lasso's and Ridge's ``normalize``); spaces and estimators as in
:mod:`tunebench.tasks.bayesmark_models`. :attr:`BayesmarkTask.optimum` is the best
loss any optimiser reached in the challenge's baseline (a reference, not a bound).
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from tunebench.space import Config, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError
from tunebench.tasks.bayesmark_models import (
    DATASETS,
    METRICS,
    MODELS,
    build_estimator,
    sklearn_params,
    tunebench_space,
)

__all__ = ["FOLDS", "PROBLEMS", "TEST_FRACTION", "BayesmarkTask", "cv_folds", "load_split", "loss"]

FOLDS = 5
TEST_FRACTION = 0.2
SPLIT_SEED = 0
#: scikit-learn 0.20's log-loss clipping (1.9 clips at the dtype's machine epsilon instead).
NLL_EPS = 1e-15
#: Every problem name, Bayesmark's order: model, then data set, then metric.
PROBLEMS = tuple(f"{model}-{dataset}-{metric}" for model in MODELS
                 for dataset, is_clf in DATASETS.items() for metric in METRICS[is_clf])
_LOADERS = {"breast": "load_breast_cancer", "digits": "load_digits", "iris": "load_iris",
            "wine": "load_wine", "diabetes": "load_diabetes"}


@functools.cache
def load_split(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of Bayesmark's one fixed split (read-only arrays)."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    x, y = getattr(datasets, _LOADERS[dataset])(return_X_y=True)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64 if DATASETS[dataset] else np.float64)
    parts = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, shuffle=True)
    x_train, x_test, y_train, y_test = parts
    for array in (x_train, x_test, y_train, y_test):
        array.flags.writeable = False
    return x_train, y_train, x_test, y_test


@functools.cache
def cv_folds(dataset: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The five (train rows, validation rows) pairs of the training part, unshuffled.

    Regression: five contiguous blocks, the first ``n % 5`` one row longer. Classification:
    scikit-learn 0.20's stratification, so the folds are Bayesmark's: the rows of each class, in
    their order, are cut into five contiguous chunks the same way (a class of fewer than five rows
    goes one row per fold from the first), and fold k validates on every class's k-th chunk."""
    _, y, _, _ = load_split(dataset)
    fold = np.empty(len(y), dtype=np.int64)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if DATASETS[dataset] else [np.arange(len(y))]
    for rows in groups:
        span = max(len(rows), FOLDS)
        sizes = [span // FOLDS + (k < span % FOLDS) for k in range(FOLDS)]
        bounds = np.cumsum([0, *sizes])
        for k in range(FOLDS):
            fold[rows[bounds[k]:min(bounds[k + 1], len(rows))]] = k
    return tuple((np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(FOLDS))


def loss(metric: str, estimator: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Bayesmark's loss of a fitted estimator on (x, y): the negated scikit-learn score."""
    if metric == "nll":
        proba = np.clip(np.asarray(estimator.predict_proba(x), dtype=np.float64), NLL_EPS, 1 - NLL_EPS)
        proba /= proba.sum(axis=1, keepdims=True)
        column = np.searchsorted(estimator.classes_, y)
        if np.any(column >= len(estimator.classes_)) or np.any(estimator.classes_[
                np.minimum(column, len(estimator.classes_) - 1)] != y):
            raise ValueError("a validation label is missing from the fitted classes")
        return float(-np.mean(np.log(proba[np.arange(len(y)), column])))
    predicted = estimator.predict(x)
    if metric == "acc":
        return -float(np.mean(predicted == y))
    error = np.asarray(predicted, dtype=np.float64) - y
    return float(np.mean(error**2) if metric == "mse" else np.mean(np.abs(error)))


def parse_problem(problem: Any) -> tuple[str, str, str]:
    """``"SVM-wine-nll"`` (Bayesmark's own ``SVM_wine_nll`` too) → (model, dataset, metric)."""
    text = str(problem)
    for model in sorted(MODELS, key=len, reverse=True):  # "MLP-adam" before any split on "-"
        for sep in ("-", "_"):
            if text.startswith(model + sep):
                dataset, _, metric = text[len(model) + 1:].partition(sep)
                if dataset in DATASETS and metric in METRICS[DATASETS[dataset]]:
                    return model, dataset, metric
    hint = " (boston was removed from scikit-learn)" if "boston" in text else ""
    raise TaskError(f"bayesmark: unknown problem {problem!r}{hint}; a problem is MODEL-DATASET-METRIC "
                    f"with MODEL one of {', '.join(MODELS)}, DATASET one of {', '.join(DATASETS)}, "
                    "METRIC nll or acc (classification), mse or mae (diabetes)")


class BayesmarkTask(Task):
    """One of Bayesmark's scikit-learn tuning problems (see the module docstring)."""

    name = "bayesmark"
    description = ("Bayesmark's sklearn problems (Uber, Apache-2.0; Turner et al. 2021, PMLR 133): "
                   "bayesmark/<model>-<dataset>-<metric>, 5-fold CV loss")
    direction = Direction.MINIMIZE
    isolation = "none"  # milliseconds to a few seconds of scikit-learn, nothing that can crash
    #: ``bayesmark/SVM-wine-nll`` names this task with ``problem = "SVM-wine-nll"``.
    family_option: ClassVar[str] = "problem"
    family_members: ClassVar[tuple[str, ...]] = PROBLEMS

    def __init__(self, problem: str = "kNN-iris-acc") -> None:
        self.model, self.dataset, self.metric_name = parse_problem(problem)
        self.problem = f"{self.model}-{self.dataset}-{self.metric_name}"
        self.classification = DATASETS[self.dataset]
        self.metric = "neg_acc" if self.metric_name == "acc" else self.metric_name
        self._space = tunebench_space(self.model, self.classification)

    def __repr__(self) -> str:
        return f"BayesmarkTask(problem={self.problem!r})"

    @property
    def space(self) -> Space:
        return self._space

    @property
    def optimum(self) -> float:
        """The best cross-validation loss of any optimiser in the challenge's baseline."""
        from tunebench.tasks.bayesmark_baseline import baseline

        return baseline(self.problem).best

    @property
    def optimum_is_exact(self) -> bool:
        return False

    def estimator(self, config: Config, seed: int) -> Any:
        """The unfitted scikit-learn model of ``config``, its randomness seeded from ``seed``."""
        params = sklearn_params(self.model, self.classification, self._space.validate(config))
        return build_estimator(self.model, self.classification, params, seed % 2**32)

    def cross_validate(self, config: Config, seed: int) -> list[float]:
        """The loss on each of the five validation folds (their mean is the task's value)."""
        x, y, _, _ = load_split(self.dataset)
        losses = []
        with _quiet():
            for train, val in cv_folds(self.dataset):
                fitted = self.estimator(config, seed).fit(x[train], y[train])
                losses.append(_finite(loss(self.metric_name, fitted, x[val], y[val])))
        return losses

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        with context.uncharged():  # cached per process: the first trial would pay for all
            load_split(self.dataset)
            cv_folds(self.dataset)
        folds = self.cross_validate(config, seed)
        value = float(np.mean(folds))
        context.report(1, value)
        with context.uncharged():  # Bayesmark's "generalization": refit on all training rows
            x, y, x_test, y_test = load_split(self.dataset)
            with _quiet():
                fitted = self.estimator(config, seed).fit(x, y)
                test = _finite(loss(self.metric_name, fitted, x_test, y_test))
        return Result(value=value, test_value=test, fidelity_spent=1, curve=(value,),
                      extra={"fold_losses": folds})


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise FloatingPointError(f"bayesmark: the loss is {value} (Bayesmark counts it as +inf)")
    return value


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence what Bayesmark silenced too (it expects optimisers to try odd settings): user
    warnings, convergence warnings among them; and scikit-learn's notice that SVC's
    ``probability=True`` goes in 1.11 (FutureWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield
