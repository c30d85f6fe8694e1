"""Ax's ``Client`` (ax-platform 1.3): its default generation strategy, driven one trial at a time.

The runner is what Ax's own loop does: ``Client(random_seed=seed)``, ``configure_experiment`` with
the space (see :mod:`tunebench.runners.ax_space`), ``configure_optimization`` with the objective
``"-value"`` (Ax's way of saying "minimise value"; ``"value"`` when the task maximises: Ax is told
raw values and the direction),
then per trial ``get_next_trials(max_trials=1)`` and ``complete_trial`` with the raw value, or
``mark_trial_failed`` for a failed trial. Ax's ``random_seed`` seeds every ``get_next_trials``
(Ax sets and restores Python's, numpy's and torch's generators around it), so the runner neither
depends on nor disturbs the process's global random state.

Generation strategy: Ax's default (``configure_generation_strategy()``: method "fast", a centre
point and Sobol points up to the initialisation budget Ax picks — 5 trials — then its default
BoTorch model). Every keyword of ``Client.configure_generation_strategy`` is an option passed
through; the values in effect, the strategy's name and its initialisation count are recorded.

Early stopping (option ``early_stopping``, off by default, as in Ax, where a loop asks for it by
calling ``should_stop_trial_early``): ``true`` gives Ax's own choice (its default
``PercentileEarlyStoppingStrategy()``), a table gives that strategy's keywords. Each step the
harness reports is attached with ``attach_data(progression=step)`` and Ax is asked
``should_stop_trial_early``; a pruned trial is ``mark_trial_early_stopped``. Ax's default strategy
stops nothing before progression 10 (``min_progression``) nor with fewer than 5 curves.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

from tunebench.runners.adapter import LibraryRunner
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, RunnerError, Status
from tunebench.runners.library_options import LibraryOptions, at_least
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space

_disabled = logging.root.manager.disable
logging.disable(logging.INFO)  # Ax announces its SQL storage at INFO when imported
try:
    from ax import Client
    from ax.early_stopping.strategies import PercentileEarlyStoppingStrategy

    from tunebench.runners.ax_space import AxSpace
finally:
    logging.disable(_disabled)

METRIC = "value"
STRATEGY = LibraryOptions(Client.configure_generation_strategy,
                          "ax.Client.configure_generation_strategy",
                          checks={"initialization_budget": at_least(0)})
EARLY_STOPPING = LibraryOptions(PercentileEarlyStoppingStrategy,
                                "ax.early_stopping.strategies.PercentileEarlyStoppingStrategy",
                                reserved={"metric_signatures": "the study's objective"})


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Ax logs every trial at INFO and warns about two-choice parameters being ordered; BoTorch
    warns when one of its acquisition optimiser's restarts fails (it goes on with the others)."""
    logger = logging.getLogger("ax")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(ax|botorch|gpytorch|linear_operator)(\.|$)")
            warnings.filterwarnings("ignore", message=".*is_ordered.*")
            yield
    finally:
        logger.setLevel(level)


class AxBoTorch(LibraryRunner):
    """Ax's default generation strategy (centre, Sobol, then BoTorch GP) through ``ax.Client``."""

    name = "ax.botorch"
    description = "Ax (Client, default generation strategy: centre + Sobol, then BoTorch GP-BO)"
    capabilities = Capabilities(
        library="ax-platform", family="GP-BO", pruning=True, batch=True,
        notes=("Ax's default generation strategy (the first 5 trials are its centre point and "
               "Sobol points); early stopping only with option early_stopping (Ax's "
               "PercentileEarlyStoppingStrategy; stops nothing before step 10); conditions on an "
               "integer or on several parents are flattened (always optimised, dropped when "
               "inactive); cost per trial grows with the history (about 0.5 s at 100 trials on hartmann6)"))

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, early_stopping: bool | dict = False,
                 **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._given = STRATEGY.check(options)
        self._stopping = self._check_stopping(early_stopping)
        self._encoding = AxSpace(space)
        with quiet():
            self._client = Client(random_seed=self.seed)
            self._client.configure_experiment(parameters=self._encoding.parameters())
            self._client.configure_optimization(objective=self._objective)
            try:
                self._client.configure_generation_strategy(**self._given)
            except Exception as exc:  # Ax's UserInputError and friends: a bad option combination
                raise RunnerError(f"{STRATEGY.label} rejected {self._given}: {exc}") from exc
            if isinstance(self._stopping, dict):
                try:
                    strategy = PercentileEarlyStoppingStrategy(**self._stopping)
                except Exception as exc:  # e.g. a percentile outside [0, 100]
                    raise RunnerError(f"{EARLY_STOPPING.label} rejected {self._stopping}: "
                                      f"{exc}") from exc
                self._client.set_early_stopping_strategy(strategy)

    @property
    def _objective(self) -> str:
        """Ax's objective string: a leading minus sign means "minimise"."""
        return METRIC if self.direction is Direction.MAXIMIZE else "-" + METRIC

    @staticmethod
    def _check_stopping(value: Any) -> bool | dict[str, Any]:
        if isinstance(value, bool):
            return value
        if isinstance(value, dict):
            return EARLY_STOPPING.check(value, where="early_stopping option")
        raise RunnerError(f"option early_stopping must be true, false or a table of "
                          f"{EARLY_STOPPING.label} keywords, got {value!r}")

    @classmethod
    def accepted_options(cls) -> list[str]:
        return ["early_stopping", *STRATEGY.names()]

    def resolved_options(self) -> dict[str, Any]:
        strategy = self._client._generation_strategy
        resolved: dict[str, Any] = {
            **STRATEGY.resolved(self._given),
            "random_seed": self.seed,
            "generation_strategy": strategy.name,
            "initialization_trials": _initialization_trials(strategy),
            "objective": self._objective,
            "early_stopping": bool(self._stopping),
        }
        if self._stopping:
            given = self._stopping if isinstance(self._stopping, dict) else {}
            resolved["early_stopping_strategy"] = {
                "class": EARLY_STOPPING.label, **EARLY_STOPPING.resolved(given)}
        return resolved

    # ------------------------------------------------------------------ hooks
    def _ask(self) -> tuple[Config, int]:
        with quiet():
            trials = self._client.get_next_trials(max_trials=1)
        if len(trials) != 1:
            raise RuntimeError(f"Ax generated {len(trials)} trials where one was asked (its "
                               "generation strategy may be waiting for data of pending trials)")
        (index, parameters), = trials.items()
        return self._encoding.decode(parameters), index

    def _tell(self, handle: int, config: Config, outcome: Outcome) -> None:
        with quiet():
            self._complete(handle, outcome)

    def _complete(self, index: int, outcome: Outcome) -> None:
        if self.loss(outcome) is None:
            self._client.mark_trial_failed(index, failed_reason=f"tunebench: {outcome.status}")
        elif outcome.status is Status.PRUNED and self._stopping:
            self._client.mark_trial_early_stopped(index)
        else:
            progression = int(outcome.fidelity) if self._stopping else None
            self._client.complete_trial(index, {METRIC: float(outcome.value)},  # type: ignore[arg-type]
                                        progression=progression)

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        with quiet():
            index = self._client.attach_trial(parameters=self._encoding.encode(config))
            self._complete(index, outcome)

    def _discard(self, handle: int) -> None:
        with quiet():
            self._client.mark_trial_abandoned(handle)

    def _should_prune(self, handle: int, step: int, value: float) -> bool:
        if not self._stopping:
            return False
        with quiet():
            self._client.attach_data(handle, {METRIC: float(value)}, progression=int(step))
            return bool(self._client.should_stop_trial_early(handle))

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        return AxSpace(space).translation()


def _initialization_trials(strategy: Any) -> int:
    """How many trials Ax's strategy spends before its model: the centre point (if any) and the
    Sobol node's first criterion (its initialisation budget; it counts the centre point too unless
    ``use_existing_trials_for_initialization=False``)."""
    centre = any("Center" in type(node).__name__ for node in strategy._nodes)
    for node in strategy._nodes:
        if node.name == "Sobol" and node.transition_criteria:
            first = node.transition_criteria[0]
            counts_centre = bool(getattr(first, "use_all_trials_in_exp", False))
            return int(first.threshold) + (centre and not counts_centre)
    return int(centre)


__all__ = ["AxBoTorch"]
