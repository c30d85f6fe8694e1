"""scikit-optimize runners: ``skopt.Optimizer`` through ask/tell, one per surrogate.

Each runner is ``skopt.Optimizer`` at scikit-optimize's defaults (``n_initial_points=10``,
``acq_func="gp_hedge"``, ``acq_optimizer="auto"``, ``initial_point_generator="random"``, …) with the
surrogate its name chooses: ``skopt.gp`` (``base_estimator="GP"``, skopt's default), ``skopt.rf``,
``skopt.et`` and ``skopt.gbrt``. Every other keyword of ``Optimizer`` is an option, validated by
name and type; what ``"auto"`` resolved to is recorded. ``random_state`` is the runner's seed (an
int: skopt seeds a ``numpy.random.RandomState`` with it, so runs are the same in every process).

skopt minimises; a maximised task is told ``-value``. Failed trials: skopt needs a number for every
point it is told, and an unevaluated point would be proposed again (its next point is computed at
tell time). A failure is told as the worst loss told so far, the usual skopt practice (a failure
looks like the worst region seen, not a cliff that wrecks the GP's scale); before any finite loss
exists it is not told at all, and the random initial design simply draws another point.

Space: see :mod:`.skopt_space` (native ``Real``/``Integer``/``Categorical`` with log priors;
conditional parameters flattened).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import skopt

from tunebench.runners.adapter import LibraryRunner
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome
from tunebench.runners.library_options import LibraryOptions, at_least, plain
from tunebench.runners.skopt_space import dimensions, to_config, to_point, translation
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space

OPTIMIZER_OPTIONS = LibraryOptions(skopt.Optimizer, "skopt.Optimizer", reserved={
    "dimensions": "the task's space (see the translation audit)",
    "random_state": "the runner's seed",
    "base_estimator": "chosen by the runner: skopt.gp, skopt.rf, skopt.et or skopt.gbrt",
}, checks={"n_initial_points": at_least(0), "n_jobs": at_least(1)})

#: What skopt reads from ``acq_func_kwargs`` / ``acq_optimizer_kwargs`` when they are not given.
_ACQ_DEFAULTS = {"xi": 0.01, "kappa": 1.96}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """skopt and scikit-learn warn on every GP fit that hits its bounds and on repeated points;
    the warnings say nothing the recorded trials do not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class SkoptRunner(LibraryRunner):
    """Shared scikit-optimize adapter; a subclass names its surrogate in ``base_estimator``."""

    base_estimator: ClassVar[str]

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._given = OPTIMIZER_OPTIONS.check(options)
        with quiet():  # skopt's own refusals (a bad acq_func) come back as RunnerError
            self._optimizer = OPTIMIZER_OPTIONS.build(
                self._given, dimensions=dimensions(space), base_estimator=self.base_estimator,
                random_state=self.seed)
        self._worst: float | None = None

    @classmethod
    def accepted_options(cls) -> list[str]:
        return OPTIMIZER_OPTIONS.names()

    def resolved_options(self) -> dict[str, Any]:
        opt = self._optimizer
        acq_kwargs = {**_ACQ_DEFAULTS, **(opt.acq_func_kwargs or {})}
        return {
            **OPTIMIZER_OPTIONS.resolved(self._given),
            "base_estimator": self.base_estimator,
            "random_state": self.seed,
            "acq_optimizer_resolved": opt.acq_optimizer,
            "n_points": opt.n_points,
            "n_restarts_optimizer": opt.n_restarts_optimizer,
            "acq_func_kwargs_resolved": plain(acq_kwargs),
            "failure_rule": "told as the worst loss so far; not told before any finite loss",
        }

    def _ask(self) -> tuple[Config, list[Any]]:
        with quiet():
            point = self._optimizer.ask()
        return to_config(self.space, point), point

    def _tell(self, handle: list[Any], config: Config, outcome: Outcome) -> None:
        loss = self.loss(outcome)
        if loss is None:
            if self._worst is None:
                return  # nothing to compare a failure with yet: the initial design goes on
            loss = self._worst
        self._worst = loss if self._worst is None else max(self._worst, loss)
        with quiet():
            self._optimizer.tell(handle, loss)

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        self._tell(to_point(self.space, config), config, outcome)

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        return translation(space)


_NOTES = ("conditional parameters flattened (always optimised, dropped when inactive); a failed "
          "trial is told as the worst loss so far (not told before any finite loss)")


def _caps(family: str, notes: str = "") -> Capabilities:
    return Capabilities(library="scikit-optimize", family=family,
                        notes="; ".join(n for n in (notes, _NOTES) if n))


class SkoptGP(SkoptRunner):
    name = "skopt.gp"
    description = "scikit-optimize Bayesian optimisation, Gaussian-process surrogate (gp_hedge)"
    capabilities = _caps("GP-BO", "cost per trial grows with the history (a GP fit per tell)")
    base_estimator = "GP"


class SkoptRF(SkoptRunner):
    name = "skopt.rf"
    description = "scikit-optimize sequential model-based optimisation, random-forest surrogate"
    capabilities = _caps("RF-BO")
    base_estimator = "RF"


class SkoptET(SkoptRunner):
    name = "skopt.et"
    description = "scikit-optimize sequential model-based optimisation, extra-trees surrogate"
    capabilities = _caps("RF-BO")
    base_estimator = "ET"


def _gbrt_unavailable() -> str | None:
    """skopt 0.10.2's GBRT surrogate lists ``BaseEstimator`` before ``RegressorMixin``; scikit-learn
    1.6+ reads the estimator type from tags that order leaves empty, so ``Optimizer`` refuses its
    own default GBRT ("has to be a regressor"). Probed, not assumed: a fixed skopt passes."""
    from sklearn.base import is_regressor
    from skopt.learning import GradientBoostingQuantileRegressor

    if is_regressor(GradientBoostingQuantileRegressor()):
        return None
    import sklearn

    return (f"scikit-optimize {skopt.__version__}'s GradientBoostingQuantileRegressor is not a "
            f"regressor to scikit-learn {sklearn.__version__} (its BaseEstimator comes before "
            "RegressorMixin, so the estimator tags are empty), and skopt.Optimizer refuses "
            "base_estimator='GBRT'")


class SkoptGBRT(SkoptRunner):
    name = "skopt.gbrt"
    description = "scikit-optimize sequential model-based optimisation, gradient-boosted trees"
    unavailable: ClassVar[str | None] = _gbrt_unavailable()
    capabilities = _caps("GBRT-BO", "quantile regression trees give the uncertainty" + (
        f"; unavailable: {unavailable}" if unavailable else ""))
    base_estimator = "GBRT"


__all__ = ["OPTIMIZER_OPTIONS", "SkoptET", "SkoptGBRT", "SkoptGP", "SkoptRF", "SkoptRunner"]
