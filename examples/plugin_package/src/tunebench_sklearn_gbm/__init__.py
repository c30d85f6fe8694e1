"""Tune scikit-learn's HistGradientBoostingClassifier on a data set bundled with scikit-learn.

Installed, this package registers the task ``sklearn_hgb`` through the entry-point group
``tunebench.tasks``; tunebench never imports it otherwise. The task is a pure function of
(configuration, fidelity, seed): the seed fixes the stratified train / validation / test split and
the model's ``random_state``; fidelity step *k* means ``k * iterations_per_step`` boosting
iterations, trained by warm-starting the same model, with the validation log loss reported after
every step.

scikit-learn is imported where it is used, not at the top: tunebench imports every installed plugin
to list its tasks, and importing scikit-learn takes about 2 s.
"""

from __future__ import annotations

import functools

import numpy as np

from tunebench.space import Config, Float, Int, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError

__version__ = "0.1.0"

#: data set name → its loader in sklearn.datasets
DATASETS = {"breast_cancer": "load_breast_cancer", "digits": "load_digits"}

SPACE = Space({
    "learning_rate": Float(0.01, 1.0, log=True, default=0.1),
    "max_leaf_nodes": Int(4, 64, log=True, default=31),
    "min_samples_leaf": Int(2, 64, log=True, default=20),
    "l2_regularization": Float(1e-6, 10.0, log=True, default=1e-3),
    "max_features": Float(0.3, 1.0, default=1.0),
})


@functools.cache
def _data(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    import sklearn.datasets

    features, labels = getattr(sklearn.datasets, DATASETS[dataset])(return_X_y=True)
    return features, labels


@functools.lru_cache(maxsize=8)
def split(dataset: str, seed: int) -> tuple[np.ndarray, ...]:
    """Stratified 60/20/20 train / validation / test split fixed by ``seed``."""
    from sklearn.model_selection import train_test_split

    features, labels = _data(dataset)
    state = seed % 2**32
    x_fit, x_test, y_fit, y_test = train_test_split(
        features, labels, test_size=0.2, stratify=labels, random_state=state)
    x_train, x_val, y_train, y_val = train_test_split(
        x_fit, y_fit, test_size=0.25, stratify=y_fit, random_state=state)
    return x_train, x_val, x_test, y_train, y_val, y_test


class HistGradientBoostingTask(Task):
    """Histogram gradient boosting; fidelity = rounds of ``iterations_per_step`` iterations."""

    name = "sklearn_hgb"
    description = "scikit-learn HistGradientBoostingClassifier on a bundled data set (log loss)"
    metric = "val_log_loss"
    direction = Direction.MINIMIZE
    max_fidelity = 10

    def __init__(self, dataset: str = "breast_cancer", iterations_per_step: int = 10) -> None:
        if dataset not in DATASETS:
            raise TaskError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
        if isinstance(iterations_per_step, bool) or not isinstance(iterations_per_step, int) \
                or iterations_per_step < 1:
            raise TaskError(f"iterations_per_step must be a positive integer, "
                            f"got {iterations_per_step!r}")
        self.dataset = dataset
        self.iterations_per_step = iterations_per_step

    @property
    def space(self) -> Space:
        return SPACE

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import accuracy_score, log_loss

        x_train, x_val, x_test, y_train, y_val, y_test = split(self.dataset, seed)
        model = HistGradientBoostingClassifier(
            **config, early_stopping=False, warm_start=True, random_state=seed % 2**32)
        value = float("nan")
        for step in range(1, fidelity + 1):
            model.set_params(max_iter=step * self.iterations_per_step)
            model.fit(x_train, y_train)
            value = log_loss(y_val, model.predict_proba(x_val), labels=model.classes_)
            context.report(step, value)  # a pruner may stop the trial here
        test_proba = model.predict_proba(x_test)
        return Result(
            value=value,
            test_value=log_loss(y_test, test_proba, labels=model.classes_),
            fidelity_spent=fidelity,
            extra={
                "val_accuracy": float(accuracy_score(y_val, model.predict(x_val))),
                "test_accuracy": float(accuracy_score(y_test, model.classes_[test_proba.argmax(1)])),
            },
        )
