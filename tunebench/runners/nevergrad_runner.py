"""nevergrad runners: the wizard, CMA-ES, DE, PSO, (1+1), a portfolio and BO, through ask/tell.

Parametrization: see :mod:`.nevergrad_space` (bounded by default; nevergrad's own unbounded scalars
with ``parametrization = "unbounded"``). It is seeded through ``parametrization.random_state =
numpy.random.RandomState(seed)``, which every nevergrad optimizer draws from, with ``seed`` the
runner's seed (the harness derives it, or a suite sets it): the same as nevergrad's own
``optimizer.parametrization.random_state.seed(seed)``.

The budget nevergrad is told. In nevergrad, ``budget`` is the number of evaluations (asks) the
optimizer may make: its algorithms plan by it, several refuse to propose past it (Portfolio's
Hammersley member, "planned for a budget of N"), and ``minimize(max_time=...)`` shows its own
idiom for an outside limit that may end a run early: the budget stays the cap on evaluations and the
clock stops the run sooner. tunebench's budgets are such outside limits, so nevergrad is told the cap:

- trials or epochs budget: ``BudgetInfo.max_trials``, the most trials the study can run (each is
  charged at least one trial or epoch). Under an epochs budget this is looser than the number of
  full-fidelity trials (epochs 100 at max_fidelity 10: a cap of 100, about 10 full trials): early
  stopping, failures and the clamped last trial make trials cheaper, and a smaller number would be
  a promise the harness may break. NGOpt therefore chooses the algorithm nevergrad chooses for
  "at most 100 evaluations", which is what a nevergrad user stating their cap gets; the resolved
  options record the cap, its source and the full-trial count. A user who wants NGOpt to plan for
  fewer sets ``budget``; an optimizer that then refuses to propose past it ends the study as
  search-exhausted (the budget left is reported), never with a crash.
- device-seconds budget (no count known in advance): nevergrad's own unbounded mode,
  ``budget=None``, for CMA, TwoPointsDE, PSO, OnePlusOne and Portfolio, which run without one
  (Portfolio then leaves out its Hammersley member, nevergrad's rule for an unknown budget). NGOpt
  asserts a budget to choose by; it is told 100 (:data:`PLAN_WITHOUT_COUNT`, the budget of
  nevergrad's own quick-start example) and keeps proposing past it (the chosen algorithm goes on,
  a scipy method that has finished proposes nevergrad's random points). BO needs a budget only to
  size its initial design (``sqrt(budget)``): without one it gets ``init_budget = 5``, bayes_opt's
  own default (``maximize(init_points=5)``). Both are declared and recorded.

Conditional parameters: nevergrad has no native mechanism, so every parameter is always in the
parametrization and the ones inactive for a candidate are dropped from the configuration the task
sees. The task's value cannot depend on them, so nevergrad learns nothing from them, and the
harness neither records nor charges them. A configuration nevergrad did not propose (a resumed
study told a stored configuration) is told as a child whose inactive parameters take their defaults.

What was chosen: the resolved options name the algorithms NGOpt, CMA or Portfolio delegate to
(``chosen_optimizers``), whether the chosen algorithm ignores the seed (``deterministic``: a scipy
method such as Cobyla, run from the parametrization's centre, proposes the same points for every
seed) and whether the seed reproduces the run at all (``reproducible``).

Failures: nevergrad's documented handling of a non-finite loss is to clip it to its ceiling
(5e20, ``LossTooLargeWarning``); a failed trial is told as ``inf``, which becomes that penalty.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from typing import Any, ClassVar

import nevergrad as ng
import numpy as np

from tunebench.runners.adapter import LibraryRunner
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, RunnerError, SearchExhausted
from tunebench.runners.nevergrad_library import (
    clock_seeded,
    members,
    metamodel_on_numpy2,
    quiet,
    seed_free,
    uses_metamodel,
)
from tunebench.runners.nevergrad_options import LibraryOptions, accepted_options
from tunebench.runners.nevergrad_space import (
    check_parametrization,
    parametrization,
    to_config,
    translation,
)
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space

FAILURE_LOSS = float("inf")
#: A failed trial's loss in each objective of a multi-objective study (nevergrad's own ceiling).
VECTOR_FAILURE_LOSS = 5.0e20
#: Evaluations NGOpt plans for when no count bounds the study (a device-seconds budget): the
#: budget of nevergrad's quick-start example (``NGOpt(parametrization=2, budget=100)``).
PLAN_WITHOUT_COUNT = 100


class NevergradRunner(LibraryRunner):
    """Shared nevergrad adapter; a subclass names its optimizer in ``optimizer``."""

    #: Name in ``ng.optimizers.registry``.
    optimizer: ClassVar[str]
    #: The optimizer cannot run without a budget (it chooses by it): see the module docstring.
    needs_budget: ClassVar[bool] = False
    #: Configuration given to the optimizer when it runs without a budget (unless the user sets it).
    without_budget: ClassVar[dict[str, Any]] = {}

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        self.options = LibraryOptions.parse(self.optimizer, options, self.budget_info.in_flight)
        self.parametrization_kind = check_parametrization(self.options.parametrization, space)
        self.budget, self.budget_source = self._plan_budget()
        self._extra = {k: v for k, v in self.without_budget.items()
                       if self.budget is None and k not in self.options.user_config}
        self._metamodel_shim = metamodel_on_numpy2()
        params = parametrization(space, self.parametrization_kind)
        params.random_state = np.random.RandomState(self.seed)
        with quiet():
            try:
                self._optimizer = self.options.factory(self._extra)(
                    parametrization=params, budget=self.budget, num_workers=self.options.num_workers)
            except (AssertionError, ValueError, TypeError, KeyError, NotImplementedError) as exc:
                raise self._rejected(exc) from exc
            self._probe()  # on a copy made before NGOpt chooses (a scipy choice cannot be copied)
            self._chosen = [m.name for m in members(self._optimizer)]  # NGOpt chooses here
        if clock_seeded(self._optimizer):  # a resumed study cannot replay it: told, not replayed
            self.capabilities = dataclasses.replace(type(self).capabilities, exact_replay=False)
        elif seed_free(self._optimizer):  # NGOpt chose a seed-free method (Cobyla): by design,
            # every repetition is the same run, and reports treat it as one deterministic result
            self.capabilities = dataclasses.replace(type(self).capabilities, deterministic=True)

    @classmethod
    def accepted_options(cls) -> list[str]:
        return accepted_options(cls.optimizer)

    def _plan_budget(self) -> tuple[int | None, str]:
        """The budget nevergrad is told and where it comes from (see the module docstring)."""
        if self.options.budget is not None:
            return self.options.budget, "option"
        if self.budget_info.max_trials is not None:
            return self.budget_info.max_trials, "max_trials"
        if self.needs_budget:
            return PLAN_WITHOUT_COUNT, "plan without a trial count"
        return None, "none (nevergrad's unbounded mode)"

    def _rejected(self, exc: BaseException) -> RunnerError:
        given = self.options.user_config
        what = f" with options {given}" if given else ""
        return RunnerError(
            f"nevergrad's {self.optimizer} cannot run on this space{what} (budget "
            f"{self.budget}): {type(exc).__name__}: {exc}")

    def _probe(self) -> None:
        """Ask, tell and ask again on a copy, so a setting nevergrad cannot handle fails here."""
        try:
            probe = copy.deepcopy(self._optimizer)
            candidate = probe.ask()
            probe.tell(candidate, 0.0)
            if self.budget is None or self.budget > 1:  # a second ask is within the plan
                probe.ask()
        except (ImportError, AssertionError, ValueError, TypeError, KeyError,
                NotImplementedError) as exc:
            raise self._rejected(exc) from exc

    def resolved_options(self) -> dict[str, Any]:
        """Every option in effect, nevergrad's defaults included, and what nevergrad chose."""
        return {
            "optimizer": self.optimizer,
            "budget": self.budget,
            "budget_source": self.budget_source,
            "max_trials": self.budget_info.max_trials,
            "full_trials": self.budget_info.full_trials,
            "num_workers": self.options.num_workers,
            "parametrization": self.parametrization_kind,
            "seed": self.seed,
            **self.options.resolved_config(self._extra),
            "chosen_optimizers": self._chosen,
            "deterministic": seed_free(self._optimizer),
            "reproducible": not clock_seeded(self._optimizer),
            "metamodel_numpy2_shim": self._metamodel_shim and uses_metamodel(self._optimizer),
        }

    def recommendation(self) -> Config:
        """nevergrad's ``recommend()`` as a configuration of the space."""
        with quiet():
            return to_config(self.space, self._optimizer.recommend().value)

    def _ask(self) -> tuple[Config, ng.p.Parameter]:
        with quiet():
            try:
                candidate = self._optimizer.ask()
            except Exception as exc:
                if self.budget is None or self._optimizer.num_ask < self.budget:
                    raise
                raise SearchExhausted(
                    f"nevergrad's {self.optimizer} was planned for a budget of {self.budget} "
                    f"trials ({self.budget_source}) and refuses to propose more "
                    f"({type(exc).__name__}: {exc})") from exc
        return to_config(self.space, candidate.value), candidate

    def _tell(self, handle: ng.p.Parameter, config: Config, outcome: Outcome) -> None:
        with quiet():
            self._optimizer.tell(handle, self._losses(outcome))

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        full = {name: config[name] if name in config else self.space[name].default_value()
                for name in self.space}
        with quiet():
            child = self._optimizer.parametrization.spawn_child(new_value=full)
            # an optimizer that cannot learn from points it did not propose just skips this one
            with contextlib.suppress(ng.errors.TellNotAskedNotSupportedError):
                self._optimizer.tell(child, self._losses(outcome))

    def _losses(self, outcome: Outcome) -> float | list[float]:
        """What nevergrad is told: the loss, or a multi-objective study's vector of losses
        (nevergrad then optimises its own hypervolume-based pseudo-loss, with the upper bounds
        it takes from the losses it sees, its default). A failure is ``inf`` for one objective
        (which nevergrad clips to 5e20); nevergrad clips no vector, so a failed vector is that
        ceiling itself."""
        loss = self.loss(outcome)
        if not self.objectives:
            return FAILURE_LOSS if loss is None else loss
        if loss is None or outcome.values is None:
            return [VECTOR_FAILURE_LOSS] * len(self.objectives)
        return [o.direction.sign * float(v) for o, v in zip(self.objectives, outcome.values,
                                                             strict=True)]

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        try:
            kind = check_parametrization(options.get("parametrization", "bounded"), space)
        except RunnerError as exc:  # a bad option here is the user's, reported as such
            raise ValueError(f"runner {cls.name!r}: {exc}") from None
        return translation(space, kind)


_EDGE = 1e-9


class _BoxClipper:
    """bayes_opt proposes points on the faces of its [0, 1] box; mapping a coordinate of exactly
    0 or 1 back through nevergrad's normaliser can fail part-way (ValueError "Only data between
    [0] and [1] can be transformed back", seen on linreg with seed 5). Points are moved 1e-9
    inside the box first, which changes no configuration beyond that rounding."""

    def __init__(self, normalizer: Any) -> None:
        self._normalizer = normalizer

    def backward(self, x: Any) -> Any:
        return self._normalizer.backward(np.clip(x, _EDGE, 1.0 - _EDGE))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._normalizer, name)


_NOTES = ("deviations from nevergrad's defaults: the task's bounds are given to nevergrad "
          "(option parametrization='unbounded' for nevergrad's own unbounded scalars); budget = the "
          "most trials the study can run (recorded with its source); conditional parameters "
          "flattened (always optimised, dropped when inactive)")


def _caps(family: str, notes: str = "", multi_objective: bool = True) -> Capabilities:
    """nevergrad optimises several objectives through its hypervolume pseudo-loss (all but BO,
    whose bayes_opt models one)."""
    return Capabilities(library="nevergrad", family=family, batch=True,
                        multi_objective=multi_objective,
                        notes="; ".join(n for n in (notes, _NOTES) if n))


class NevergradNGOpt(NevergradRunner):
    name = "nevergrad.ngopt"
    description = "nevergrad NGOpt, the wizard: picks an algorithm from budget, dimension and types"
    capabilities = _caps("bandit-portfolio", (
        "its choice depends on the budget and the space and is recorded (chosen_optimizers); it may "
        "choose a method that ignores the seed (Cobyla on Branin at 20 trials): then every "
        "repetition is identical and the resolved options say deterministic=true; where it "
        "chooses CmaFmin2 (cma.fmin seeds itself from the clock) runs cannot be replayed: "
        "reproducible=false; under a device-seconds budget it plans for "
        f"{PLAN_WITHOUT_COUNT} trials; nevergrad 1.0.12's MetaModel gets numpy < 2.4's float() "
        "of a one-element array where numpy refuses it (same numbers, recorded)"))
    optimizer = "NGOpt"
    needs_budget = True


class NevergradCMA(NevergradRunner):
    name = "nevergrad.cma"
    description = "nevergrad CMA (covariance matrix adaptation evolution strategy)"
    capabilities = _caps("evolutionary", "nevergrad picks the CMA variant from budget and space "
                         "(recorded as chosen_optimizers)")
    optimizer = "CMA"


class NevergradDE(NevergradRunner):
    name = "nevergrad.de"
    description = "nevergrad TwoPointsDE (differential evolution, two-point crossover)"
    capabilities = _caps("evolutionary")
    optimizer = "TwoPointsDE"


class NevergradPSO(NevergradRunner):
    name = "nevergrad.pso"
    description = "nevergrad PSO (particle swarm optimisation)"
    capabilities = _caps("evolutionary")
    optimizer = "PSO"


class NevergradOnePlusOne(NevergradRunner):
    name = "nevergrad.oneplusone"
    description = "nevergrad OnePlusOne ((1+1) evolution strategy, one-fifth rule)"
    capabilities = _caps("evolutionary")
    optimizer = "OnePlusOne"


class NevergradPortfolio(NevergradRunner):
    name = "nevergrad.portfolio"
    description = "nevergrad Portfolio (passive: CMA, TwoPointsDE, scrambled Hammersley take turns)"
    capabilities = _caps("bandit-portfolio", "under a device-seconds budget nevergrad leaves out "
                         "the Hammersley member (it needs a budget)")
    optimizer = "Portfolio"


class NevergradBO(NevergradRunner):
    name = "nevergrad.bo"
    description = "nevergrad BO (Gaussian-process Bayesian optimisation via bayes_opt)"
    capabilities = _caps("GP-BO", "cost per trial grows with the history; a repeated point is not "
                         "told twice (bayes_opt refuses duplicates); points are kept 1e-9 inside "
                         "the unit box; under a device-seconds budget init_budget = 5 "
                         "(bayes_opt's default initial design)", multi_objective=False)
    optimizer = "BO"
    without_budget: ClassVar[dict[str, Any]] = {"init_budget": 5}

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info, **options)
        self._optimizer._normalizer = _BoxClipper(self._optimizer._normalizer)

    def _tell(self, handle: ng.p.Parameter, config: Config, outcome: Outcome) -> None:
        from bayes_opt.util import NotUniqueError

        # bayes_opt keeps one value per point and raises on a repeat (nevergrad notes it too);
        # on integer or categorical spaces BO can propose a point twice. The first value stays.
        with contextlib.suppress(NotUniqueError):
            super()._tell(handle, config, outcome)


__all__ = [
    "NevergradBO",
    "NevergradCMA",
    "NevergradDE",
    "NevergradNGOpt",
    "NevergradOnePlusOne",
    "NevergradPSO",
    "NevergradPortfolio",
    "NevergradRunner",
    "seed_free",
]
