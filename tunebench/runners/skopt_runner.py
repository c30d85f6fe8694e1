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

Batches: with several evaluations in flight (``settings.in_flight = k``) the runner is skopt's
documented parallel loop — ``X = opt.ask(n_points=k, strategy)``, evaluate, ``opt.tell(X, Y)``: a
batch of k points from skopt's constant liar (``strategy``, skopt's default ``"cl_min"``; also
``"cl_mean"``, ``"cl_max"``), handed out one at a time, then a wait (``WaitForResults``) until the
whole batch is told, which skopt hears at once, in batch order, whatever the order of completion.
With one in flight it is ``ask()``/``tell()``, one point at a time. One deviation, for a corner:
when a whole batch failed before any finite loss (so skopt was told nothing), skopt's
``ask(n_points)`` cache would hand out the same batch again; the runner clears that cache first.

Space: see :mod:`.skopt_space` (native ``Real``/``Integer``/``Categorical`` with log priors;
conditional parameters flattened).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import skopt

from tunebench.runners.adapter import LibraryRunner, check_choice
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, WaitForResults
from tunebench.runners.library_options import LibraryOptions, at_least, plain
from tunebench.runners.skopt_space import dimensions, to_config, to_point, translation
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space

OPTIMIZER_OPTIONS = LibraryOptions(skopt.Optimizer, "skopt.Optimizer", reserved={
    "dimensions": "the task's space (see the translation audit)",
    "random_state": "the runner's seed",
    "base_estimator": "chosen by the runner: skopt.gp, skopt.rf, skopt.et or skopt.gbrt",
}, checks={"n_initial_points": at_least(0), "n_jobs": at_least(1)})

#: ``Optimizer.ask(n_points, strategy)``'s lies for a batch (constant liar, "cl_min" its default).
STRATEGIES = ("cl_min", "cl_mean", "cl_max")
_SKIPPED = object()  # a point skopt is not told (a failure before any finite loss, a discard)
_FAILED = object()  # a batch slot whose trial failed: the failure rule applies when the batch is told

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
                 budget_info: BudgetInfo | None = None, strategy: str = "cl_min",
                 **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        self.strategy = check_choice("strategy", strategy, STRATEGIES)
        self.batch_size = budget_info.in_flight if budget_info is not None else 1
        self._batch: list[list[Any]] = []  # the points of the batch out now
        self._told: list[Any] = []  # their losses as told (None: not yet)
        self._given = OPTIMIZER_OPTIONS.check(options)
        with quiet():  # skopt's own refusals (a bad acq_func) come back as RunnerError
            self._optimizer = OPTIMIZER_OPTIONS.build(
                self._given, dimensions=dimensions(space), base_estimator=self.base_estimator,
                random_state=self.seed)
        self._worst: float | None = None

    @classmethod
    def accepted_options(cls) -> list[str]:
        return [*OPTIMIZER_OPTIONS.names(), "strategy"]

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
            "batch_size": self.batch_size, "strategy": self.strategy,
        }

    def _ask(self) -> tuple[Config, tuple[int | None, list[Any]]]:
        if self.batch_size == 1:
            with quiet():
                point = self._optimizer.ask()
            return to_config(self.space, point), (None, point)
        handed = len(self._told)
        if handed == len(self._batch):
            if self._batch:
                raise WaitForResults  # skopt hears a batch at once
            if not self._optimizer.yi:  # ask(n_points) caches its batch until something is told
                self._optimizer.cache_ = {}
            with quiet():
                self._batch = self._optimizer.ask(n_points=self.batch_size, strategy=self.strategy)
            handed = 0
        self._told.append(None)
        return to_config(self.space, self._batch[handed]), (handed, self._batch[handed])

    def _tell(self, handle: tuple[int | None, list[Any]], config: Config, outcome: Outcome) -> None:
        slot, point = handle
        loss = self.loss(outcome)
        if slot is None:
            told = self._substitute(loss)
            if told is not _SKIPPED:
                with quiet():
                    self._optimizer.tell(point, told)
            return
        self._told[slot] = _FAILED if loss is None else loss
        if len(self._told) == len(self._batch) and all(v is not None for v in self._told):
            # in batch order, whatever the order of completion (a resume replays another)
            losses = [v if v is _SKIPPED else self._substitute(None if v is _FAILED else v)
                      for v in self._told]
            told = [(x, y) for x, y in zip(self._batch, losses, strict=True) if y is not _SKIPPED]
            self._batch, self._told = [], []
            if told:
                with quiet():
                    self._optimizer.tell([x for x, _ in told], [y for _, y in told])

    def _substitute(self, loss: float | None) -> Any:
        """The failure rule: a failure is the worst loss so far, or not told before any."""
        if loss is None:
            if self._worst is None:
                return _SKIPPED  # nothing to compare a failure with yet: the design goes on
            loss = self._worst
        self._worst = loss if self._worst is None else max(self._worst, loss)
        return loss

    def _discard(self, handle: tuple[int | None, list[Any]]) -> None:
        if handle[0] is not None:
            self._told[handle[0]] = _SKIPPED

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        self._tell((None, to_point(self.space, config)), config, outcome)

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        return translation(space)


_NOTES = ("conditional parameters flattened (always optimised, dropped when inactive); a failed "
          "trial is told as the worst loss so far (not told before any finite loss); in flight: "
          "skopt's constant-liar batches (ask(n_points), strategy), told as a batch")


def _caps(family: str, notes: str = "") -> Capabilities:
    return Capabilities(library="scikit-optimize", family=family, batch=True,
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
