"""Bayesmark's models and their search spaces, as Bayesmark 0.0.8 declares them.

The declarations are facts read from Bayesmark's ``bayesmark/sklearn_funcs.py`` (uber/bayesmark,
commit 8c420e9, Apache-2.0): per model a type (real, int, bool), a warping (linear, log, logit) and a
range. Every Bayesmark optimiser, random search included, samples uniformly in the *warped*
coordinates. tunebench's space knows linear and log scales but no logit, so a logit-warped
parameter ``p`` is declared as ``p_logit``, a linear Float over ``[logit(low), logit(high)]``, and
the task passes ``expit(p_logit)`` to scikit-learn: uniform sampling then means what it means in
Bayesmark. Integers are tunebench Ints (equal mass per integer; Bayesmark rounds a uniform real,
so its two end values get half the mass of the others).

Estimators are re-built for scikit-learn 1.9 with the fixed settings Bayesmark gives them
(``max_leaf_nodes=None``, ``n_estimators=10`` for forests, early stopping for the MLPs …); where
1.9 no longer has what Bayesmark used, the equivalent is built (see :func:`build_estimator`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tunebench.space import Categorical, Config, Float, Int, Param, Space

__all__ = ["CLASSIFIERS", "DATASETS", "METRICS", "MODELS", "Declared", "build_estimator",
           "declared_space", "sklearn_params", "tunebench_space"]

#: Bayesmark's model names (``constants.MODEL_NAMES``).
MODELS = ("DT", "MLP-adam", "MLP-sgd", "RF", "SVM", "ada", "kNN", "lasso", "linear")
#: Its scikit-learn data sets and whether each is a classification problem; ``boston`` is gone
#: from scikit-learn (removed in 1.2), so its 18 problems are not offered.
DATASETS = {"breast": True, "digits": True, "iris": True, "wine": True, "diabetes": False}
#: Metrics by problem type (``constants.SCORERS_CLF`` / ``SCORERS_REG``).
METRICS = {True: ("nll", "acc"), False: ("mse", "mae")}
CLASSIFIERS = tuple(name for name, is_clf in DATASETS.items() if is_clf)


@dataclass(frozen=True)
class Declared:
    """One parameter as Bayesmark declares it: ``kind`` real/int/bool, ``warp``, ``low``, ``high``."""

    kind: str
    warp: str = ""
    low: float = 0.0
    high: float = 1.0


def _real(warp: str, low: float, high: float) -> Declared:
    return Declared("real", warp, low, high)


def _int(warp: str, low: int, high: int) -> Declared:
    return Declared("int", warp, low, high)


_BOOL = Declared("bool")
_TREE = {
    "max_depth": _int("linear", 1, 15),
    "min_samples_split": _real("logit", 0.01, 0.99),
    "min_samples_leaf": _real("logit", 0.01, 0.49),
    "min_weight_fraction_leaf": _real("logit", 0.01, 0.49),
    "max_features": _real("logit", 0.01, 0.99),
    "min_impurity_decrease": _real("linear", 0.0, 0.5),
}
_MLP = {
    "hidden_layer_sizes": _int("linear", 50, 200),
    "alpha": _real("log", 1e-5, 1e1),
    "batch_size": _int("linear", 10, 250),
    "learning_rate_init": _real("log", 1e-5, 1e-1),
    "tol": _real("log", 1e-5, 1e-1),
    "validation_fraction": _real("logit", 0.1, 0.9),
}
_ADA = {"n_estimators": _int("linear", 10, 100), "learning_rate": _real("log", 1e-4, 1e1)}
_LOGISTIC = {"C": _real("log", 1e-2, 1e2), "intercept_scaling": _real("log", 1e-2, 1e2)}


def _penalised_regression(tol_low: float) -> dict[str, Declared]:
    return {"alpha": _real("log", 1e-2, 1e2), "fit_intercept": _BOOL, "normalize": _BOOL,
            "max_iter": _int("log", 10, 5000), "tol": _real("log", tol_low, 1e-1)}


_SHARED = {
    "kNN": {"n_neighbors": _int("linear", 1, 25), "p": _int("linear", 1, 4)},
    "SVM": {"C": _real("log", 1.0, 1e3), "gamma": _real("log", 1e-4, 1e-3),
            "tol": _real("log", 1e-5, 1e-1)},
    "DT": _TREE,
    "RF": _TREE,
    "MLP-adam": {**_MLP, "beta_1": _real("logit", 0.5, 0.99),
                 "beta_2": _real("logit", 0.9, 1.0 - 1e-6), "epsilon": _real("log", 1e-9, 1e-6)},
    "MLP-sgd": {**_MLP, "power_t": _real("logit", 0.1, 0.9), "momentum": _real("logit", 0.001, 0.999)},
    "ada": _ADA,
}
_DECLARED: dict[bool, dict[str, dict[str, Declared]]] = {
    True: {**_SHARED, "lasso": _LOGISTIC, "linear": _LOGISTIC},
    False: {**_SHARED, "lasso": {**_penalised_regression(1e-5), "positive": _BOOL},
            "linear": _penalised_regression(1e-4)},
}


def declared_space(model: str, classification: bool) -> dict[str, Declared]:
    """Bayesmark's declaration of ``model``'s space (classifier or regressor)."""
    return dict(_DECLARED[classification][model])


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _param(declared: Declared) -> Param:
    if declared.kind == "bool":
        return Categorical((False, True))
    if declared.kind == "int":
        return Int(int(declared.low), int(declared.high), log=declared.warp == "log")
    if declared.warp == "logit":
        return Float(_logit(declared.low), _logit(declared.high))
    return Float(declared.low, declared.high, log=declared.warp == "log")


def tunebench_space(model: str, classification: bool) -> Space:
    """The neutral space of a model: Bayesmark's, a logit parameter ``p`` as ``p_logit``."""
    return Space({name + ("_logit" if d.warp == "logit" else ""): _param(d)
                  for name, d in declared_space(model, classification).items()})


def sklearn_params(model: str, classification: bool, config: Config) -> dict[str, Any]:
    """The scikit-learn parameters a configuration stands for (logits mapped back)."""
    params: dict[str, Any] = {}
    for name, declared in declared_space(model, classification).items():
        if declared.warp == "logit":
            value = 1.0 / (1.0 + math.exp(-float(config[name + "_logit"])))  # type: ignore[arg-type]
            params[name] = min(max(value, declared.low), declared.high)
        else:
            params[name] = config[name]
    return params


def build_estimator(model: str, classification: bool, params: dict[str, Any], random_state: int) -> Any:
    """A fresh scikit-learn estimator: Bayesmark's fixed settings plus ``params``.

    ``random_state`` seeds every model that draws random numbers (Bayesmark left them unseeded,
    so its evaluations of DT, RF, MLP, ada, SVM's Platt scaling and liblinear varied run to run).
    What scikit-learn 1.9 changed: logistic regression's ``penalty``/``multi_class="ovr"`` become
    ``l1_ratio`` inside a one-vs-rest wrapper (what ``ovr`` did); Lasso's and Ridge's removed
    ``normalize=True`` is the column scaling it applied (:class:`_Normalised`); AdaBoost's
    classifier is SAMME.R, the default of Bayesmark's scikit-learn 0.20, which 1.9 no longer has
    (:class:`_SammeR`).
    """
    from sklearn import ensemble, linear_model, multiclass, neighbors, neural_network, svm, tree

    p = dict(params)
    if model == "kNN":
        cls = neighbors.KNeighborsClassifier if classification else neighbors.KNeighborsRegressor
        return cls(**p)
    if model == "SVM":
        if classification:  # Platt scaling for nll, as Bayesmark's probability=True
            return svm.SVC(kernel="rbf", probability=True, random_state=random_state, **p)
        return svm.SVR(kernel="rbf", **p)
    if model in ("DT", "RF"):
        kind = "Classifier" if classification else "Regressor"
        if model == "DT":
            return getattr(tree, f"DecisionTree{kind}")(max_leaf_nodes=None, random_state=random_state, **p)
        return getattr(ensemble, f"RandomForest{kind}")(n_estimators=10, max_leaf_nodes=None,
                                                        random_state=random_state, **p)
    if model.startswith("MLP"):
        p["hidden_layer_sizes"] = (int(p["hidden_layer_sizes"]),)
        fixed: dict[str, Any] = {"solver": "adam", "early_stopping": True}
        if model == "MLP-sgd":
            fixed = {"solver": "sgd", "early_stopping": True, "learning_rate": "invscaling",
                     "nesterovs_momentum": True}
            if not classification:
                fixed["activation"] = "tanh"  # Bayesmark: regression crashes often with relu
        cls = neural_network.MLPClassifier if classification else neural_network.MLPRegressor
        return cls(random_state=random_state, **fixed, **p)
    if model == "ada":
        if classification:
            return _SammeR(random_state=random_state, **p)
        return ensemble.AdaBoostRegressor(random_state=random_state, **p)
    if classification:  # lasso / linear: liblinear logistic regression, one-vs-rest
        base = linear_model.LogisticRegression(l1_ratio=1.0 if model == "lasso" else 0.0,
                                               fit_intercept=True, solver="liblinear",
                                               random_state=random_state, **p)
        return multiclass.OneVsRestClassifier(base)
    normalize = p.pop("normalize")
    regressor = (linear_model.Lasso(**p) if model == "lasso" else linear_model.Ridge(solver="auto", **p))
    if normalize and p["fit_intercept"]:  # scikit-learn ignored normalize without an intercept
        return _Normalised(regressor)
    return regressor


class _Normalised:
    """A Lasso or Ridge fitted on columns centred and divided by their L2 norm (training rows').

    What scikit-learn < 1.2 did for ``normalize=True`` before fitting (a column of norm zero is
    left unscaled); predictions are made on the same scaling."""

    def __init__(self, regressor: Any) -> None:
        self.regressor = regressor

    def _scaled(self, x: Any) -> Any:
        return (x - self.mean_) / self.norm_

    def fit(self, x: Any, y: Any) -> _Normalised:
        import numpy as np

        self.mean_ = np.mean(x, axis=0)
        norm = np.sqrt(np.sum((x - self.mean_) ** 2, axis=0))
        self.norm_ = np.where(norm == 0.0, 1.0, norm)
        self.regressor.fit(self._scaled(x), y)
        return self

    def predict(self, x: Any) -> Any:
        return self.regressor.predict(self._scaled(x))


class _SammeR:
    """AdaBoost's real-valued multi-class variant SAMME.R (Zhu, Zou, Rosset & Hastie 2009, "Multi-class
    AdaBoost", algorithm 4) on depth-1 trees, as scikit-learn 0.20's default AdaBoostClassifier ran it.

    Each round fits a stump to the weighted rows, takes its class probabilities p (floored at the
    float epsilon) and multiplies every row's weight by exp(−ν·(K−1)/K · Σ_k y_k log p_k), with y coded
    1 for the true class and −1/(K−1) otherwise (ν the learning rate); weights are renormalised
    between rounds, and boosting stops early at a stump without training error. A stump's vote is
    (K−1)·(log p − mean_k log p); the votes are averaged, and the probabilities are the softmax of
    the average divided by K−1."""

    def __init__(self, n_estimators: int, learning_rate: float, random_state: int) -> None:
        self.n_estimators, self.learning_rate, self.random_state = n_estimators, learning_rate, random_state

    def fit(self, x: Any, y: Any) -> _SammeR:
        import numpy as np
        from sklearn.tree import DecisionTreeClassifier

        self.classes_ = np.unique(y)
        k = len(self.classes_)
        coding = np.where(y[:, None] == self.classes_[None, :], 1.0, -1.0 / (k - 1))
        weights = np.full(len(y), 1.0 / len(y))
        seeds = np.random.RandomState(self.random_state)
        self.stumps_: list[Any] = []
        for round_ in range(self.n_estimators):
            stump = DecisionTreeClassifier(max_depth=1, random_state=seeds.randint(np.iinfo(np.int32).max))
            stump.fit(x, y, sample_weight=weights)
            proba = self._proba(stump, x)
            self.stumps_.append(stump)
            wrong = self.classes_[np.argmax(proba, axis=1)] != y
            if np.average(wrong, weights=weights) <= 0:
                break  # a perfect stump: nothing left to boost
            step = -self.learning_rate * (k - 1) / k * np.sum(coding * np.log(proba), axis=1)
            weights = weights * np.exp(step * ((weights > 0) | (step < 0)))
            total = weights.sum()
            if not total > 0:
                break
            if round_ < self.n_estimators - 1:
                weights = weights / total
        return self

    def _proba(self, stump: Any, x: Any) -> Any:
        """The stump's probabilities over all classes (a class absent from its leaves gets 0),
        floored at the float epsilon."""
        import numpy as np

        proba = np.zeros((len(x), len(self.classes_)))
        proba[:, np.searchsorted(self.classes_, stump.classes_)] = stump.predict_proba(x)
        return np.maximum(proba, np.finfo(float).eps)

    def _votes(self, x: Any) -> Any:
        import numpy as np

        k = len(self.classes_)
        total = np.zeros((len(x), k))
        for stump in self.stumps_:
            log_p = np.log(self._proba(stump, x))
            total += (k - 1) * (log_p - log_p.mean(axis=1, keepdims=True))
        return total / len(self.stumps_)

    def predict(self, x: Any) -> Any:
        import numpy as np

        return self.classes_[np.argmax(self._votes(x), axis=1)]

    def predict_proba(self, x: Any) -> Any:
        import numpy as np

        proba = np.exp(self._votes(x) / (len(self.classes_) - 1))
        return proba / proba.sum(axis=1, keepdims=True)
