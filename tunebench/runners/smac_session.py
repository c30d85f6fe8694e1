"""One SMAC3 facade driven by ask/tell, as tunebench's runners use it.

What is set, and why (every item is recorded in the runners' resolved options):

- The scenario: the task's space as a ConfigurationSpace (:mod:`.smac_space`), ``deterministic=True``
  (the harness evaluates a configuration once per trial, so SMAC must not ask for other seeds of
  it), the runner's seed, ``n_trials`` from the budget (see :func:`plan_trials`), and for the
  multi-fidelity facades ``min_budget``/``max_budget`` from the task's fidelity range.
- The facade at its defaults (initial design, intensifier, random design, model, acquisition), built
  with ``target_function=None`` (ask/tell only), ``overwrite=True`` (a resumed study replays its
  history into a fresh SMAC, never into an old run found on disk) and ``logging_level=False`` (SMAC
  would otherwise reconfigure the root logger; its own loggers are set to WARNING here).
- The output directory: a fresh temporary folder, removed as soon as the facade is built. SMAC
  writes its scenario and an empty history there on construction; every ``tell`` is given
  ``save=False`` (a plain loop's default rewrites the whole history as JSON after every trial), so
  nothing is written afterwards and nothing is left in the working directory.
- **Start points of the local search in a fixed order.** SMAC 2.4.1's
  ``LocalSearch._get_init_points_from_previous_configs`` removes duplicate start points with
  ``list(set(...))`` of ``Configuration`` objects, whose ``__hash__`` is ``hash(repr(config))``: a
  str hash, salted per process unless ``PYTHONHASHSEED`` is fixed. The order of the start points
  decides which random seed each local search draws, so every model-based proposal after the
  initial design depended on the process. The session wraps that method on its own maximizer (no
  other SMAC object is touched) to return the same start points in the order of their first
  appearance among its inputs (the history, then the random search's ranking), as its docstring
  says it intends. SMAC's proposals are then the same in every process whatever its hash seed.
- **Failed trials** are told as ``StatusType.CRASHED`` at the worst finite cost seen so far. SMAC's
  own runner reports a crash at ``Scenario.crash_cost``, infinite by default, and its random forest
  and Gaussian process both fail on an infinite target (SMAC leaves a finite crash cost to the
  user, who knows the scale; tunebench does not, so it takes the worst cost observed). Failures
  before any finite cost stay pending in SMAC (as trials still running) and are told at the first
  finite cost, so SMAC never sees an infinite one.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunebench.runners.base import BudgetInfo, RunnerError
from tunebench.runners.library_options import plain
from tunebench.space import Config, Space

if TYPE_CHECKING:
    from smac.runhistory.dataclasses import TrialInfo

#: SMAC's own default of ``Scenario.n_trials``, used when no trial count bounds the study.
SMAC_DEFAULT_TRIALS = 100

FAILED_TRIALS = ("StatusType.CRASHED at the worst finite cost seen so far (held pending until the "
                 "first finite cost); SMAC's default crash_cost=inf fails its models")
START_POINTS = ("in order of first appearance (history, then random search ranking); SMAC 2.4.1 "
                "iterates a set of Configurations, whose str hashes change with PYTHONHASHSEED")


@dataclass(frozen=True)
class TrialPlan:
    """The ``n_trials`` SMAC is told and where it comes from."""

    n_trials: int
    source: str


def plan_trials(budget: BudgetInfo, chooses_fidelity: bool) -> TrialPlan:
    """``n_trials`` for the scenario. SMAC sizes its initial design by it (a quarter of it at most,
    for the HPO and BB facades) and never stops an ask/tell loop at it, so it is a plan, not a cap.

    A facade that evaluates every trial at full fidelity plans for the full-fidelity trials that fit
    (``BudgetInfo.full_trials``); a multi-fidelity facade, whose trials cost one step or more, for
    the most trials the study can run (``max_trials``). Under a device-seconds budget no count is
    known: SMAC's own default of 100 trials, and the runner goes on proposing past it."""
    count = budget.max_trials if chooses_fidelity else budget.full_trials
    if count is not None:
        return TrialPlan(count, "max_trials" if chooses_fidelity else "full_trials")
    return TrialPlan(SMAC_DEFAULT_TRIALS, "SMAC's default (no trial count: a device-seconds budget)")


def _stable_start_points(local_search: Any) -> None:
    """Give the local search's start points a process-independent order (module docstring)."""
    original: Callable[..., list[Any]] = local_search._get_init_points_from_previous_configs

    def ordered(previous_configs: list[Any], n_points: int, additional_start_points: Any) -> list[Any]:
        first: dict[Any, int] = {}
        for config in [*previous_configs, *(c for _, c in additional_start_points or ())]:
            first.setdefault(config, len(first))
        return sorted(original(previous_configs, n_points, additional_start_points),
                      key=first.__getitem__)

    local_search._get_init_points_from_previous_configs = ordered


def stabilise(facade: Any) -> bool:
    """Apply the start-point order to a facade's maximizer; False if it has no local search
    (Hyperband's random search), where nothing depends on a set's order."""
    local_search = getattr(facade._acquisition_maximizer, "_local_search", None)
    if local_search is None:
        return False
    _stable_start_points(local_search)
    return True


class SmacSession:
    """A built facade with the task's space, and the conversions between the two."""

    def __init__(self, facade: str, space: Space, seed: int, plan: TrialPlan,
                 budgets: tuple[int, int] | None = None,
                 intensifier: dict[str, Any] | None = None) -> None:
        import smac
        from smac.runhistory.dataclasses import TrialInfo, TrialValue
        from smac.runhistory.enumerations import StatusType

        from tunebench.runners import smac_space

        logging.getLogger("smac").setLevel(logging.WARNING)
        self.space = space
        self._conv = smac_space
        self._trial_info, self._trial_value, self._status = TrialInfo, TrialValue, StatusType
        self.configspace = smac_space.configspace(space, seed)
        facade_cls = getattr(smac, facade)
        folder = tempfile.mkdtemp(prefix="tunebench-smac-")
        try:
            extra = {"min_budget": budgets[0], "max_budget": budgets[1]} if budgets else {}
            self.scenario = smac.Scenario(self.configspace, deterministic=True, n_trials=plan.n_trials,
                                          seed=seed, output_directory=folder, **extra)
            kwargs = {}
            if intensifier:
                kwargs["intensifier"] = facade_cls.get_intensifier(self.scenario, **intensifier)
            try:
                self.facade = facade_cls(self.scenario, None, overwrite=True, logging_level=False,
                                         **kwargs)
            except (ValueError, TypeError, AssertionError) as exc:
                raise RunnerError(f"SMAC's {facade} refused this study: {exc}") from exc
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.stabilised = stabilise(self.facade)
        self._seed: int | None = None  # the one seed SMAC gives trials (deterministic=True)
        self._worst: float | None = None  # the worst finite cost told so far
        self._held: list[TrialInfo] = []  # failures waiting for a finite crash cost

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> tuple[Config, TrialInfo]:
        info = self.facade.ask()
        self._seed = info.seed
        return self._conv.to_config(self.space, info.config), info

    def tell(self, info: TrialInfo, loss: float | None) -> None:
        """``loss`` None is a failed trial: a crash at the worst cost so far (module docstring)."""
        if loss is None:
            if self._worst is None:
                self._held.append(info)
            else:
                self._crash(info)
            return
        self.facade.tell(info, self._trial_value(cost=loss), save=False)
        self._worst = loss if self._worst is None else max(self._worst, loss)
        held, self._held = self._held, []
        for waiting in held:
            self._crash(waiting)

    def _crash(self, info: TrialInfo) -> None:
        value = self._trial_value(cost=self._worst, status=self._status.CRASHED)
        self.facade.tell(info, value, save=False)

    def tell_foreign(self, config: Config, loss: float | None, budget: float | None = None) -> None:
        """Register a configuration SMAC did not propose (SMAC's tell accepts any trial)."""
        configuration = self._conv.to_configuration(self.space, self.configspace, config)
        self.tell(self._trial_info(configuration, seed=self._seed, budget=budget), loss)

    # ------------------------------------------------------------------ record
    def resolved(self, plan: TrialPlan) -> dict[str, Any]:
        meta = {k: v for k, v in self.facade.meta.items() if k not in ("runner", "version")}
        return {
            "facade": type(self.facade).__name__,
            "n_trials": plan.n_trials, "n_trials_source": plan.source,
            "deterministic": True, "seed": self.scenario.seed,
            **({"min_budget": self.scenario.min_budget, "max_budget": self.scenario.max_budget}
               if self.scenario.min_budget is not None else {}),
            "components": plain(meta),
            "tunebench": {"start_points": START_POINTS if self.stabilised else "no local search",
                          "failed_trials": FAILED_TRIALS,
                          "save_each_tell": False, "output_directory": "temporary, removed"},
        }


__all__ = ["SMAC_DEFAULT_TRIALS", "SmacSession", "TrialPlan", "plan_trials", "stabilise"]
