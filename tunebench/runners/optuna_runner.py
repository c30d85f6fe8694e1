"""optuna runners: each sampler family through optuna's ask/tell API, with an optional pruner.

A runner is its sampler at optuna's defaults: every keyword of the sampler's constructor is an
option (``options = { multivariate = false, n_ei_candidates = 48 }``), validated against the
constructor's signature, and an unset keyword is left to optuna. The pruner is chosen with
``pruner = "median"`` and configured with ``pruner_options = { n_warmup_steps = 2 }``; the
multi-fidelity runners (``optuna.hyperband``, ``optuna.asha``) take their pruner's keywords beside the
sampler's. What tunebench sets itself, and why, is in :mod:`tunebench.runners.optuna_options` and in
each runner's notes; :meth:`~tunebench.runners.base.Runner.resolved_options` records every value in
effect, optuna's defaults included.

One in-memory study per runner, named ``tunebench`` (optuna's Hyperband pruner assigns brackets by
hashing the study name, so a random name would break replay). Parameters are suggested define-by-run
in space order, each only when active, which is optuna's native handling of conditional spaces.
Failed trials are told as ``TrialState.FAIL``; pruned ones as ``TrialState.PRUNED`` after their
learning curve has been reported, so a replayed history rebuilds the pruner's state too.
The harness owns the budget: the grid sampler is kept from stopping the study when it is exhausted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from tunebench.runners import optuna_options as oo
from tunebench.runners.adapter import LibraryRunner, check_int
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, RunnerError, SearchExhausted, Status
from tunebench.runners.grid import axis_rows, grid_resolution
from tunebench.runners.library_options import LibraryOptions, read_back
from tunebench.runners.optuna_options import PRUNERS
from tunebench.runners.translation import ParamTranslation, fmt, rows
from tunebench.space import Categorical, Config, Direction, Float, Param, Space, canonical_json

optuna.logging.set_verbosity(optuna.logging.ERROR)

_CONDITIONAL_RANDOM = ("conditional: outside the search space shared by all trials, so it is "
                       "sampled by the independent (random) sampler, not the model")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _constructing() -> Iterator[None]:
    """Building a sampler or pruner: optuna's ExperimentalWarning is silenced (declared in every
    runner's notes); a FutureWarning about a deprecated keyword the user gave is shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def distribution(param: Param) -> BaseDistribution:
    if isinstance(param, Float):
        return FloatDistribution(param.low, param.high, log=param.log)
    if isinstance(param, Categorical):
        return CategoricalDistribution(list(param.choices))
    return IntDistribution(param.low, param.high, log=param.log)


def distribution_text(param: Param) -> str:
    if isinstance(param, Categorical):
        return f"CategoricalDistribution([{', '.join(fmt(c) for c in param.choices)}])"
    kind = "FloatDistribution" if isinstance(param, Float) else "IntDistribution"
    return f"{kind}({fmt(param.low)}, {fmt(param.high)}{', log=True' if param.log else ''})"


@dataclass(slots=True)
class _Pending:
    trial: optuna.trial.Trial
    reported: set[int] = field(default_factory=set)


def _report_curve(trial: optuna.trial.Trial, reported: set[int], curve: tuple[float, ...]) -> None:
    for step, value in enumerate(curve, start=1):
        if step not in reported and math.isfinite(value):
            trial.report(value, step)
            reported.add(step)


class OptunaRunner(LibraryRunner):
    """Shared optuna adapter; a subclass builds its sampler and calls :meth:`_open`."""

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None) -> None:
        super().__init__(space, direction, seed, budget_info)
        #: Told the task's fidelity range (the harness always is): pruners' resources follow it;
        #: built without one, they keep optuna's defaults ("auto").
        self._fidelity_known = budget_info is not None

    def _open(self, sampler: optuna.samplers.BaseSampler, pruner: str,
              pruner_options: Mapping[str, Any] | None = None) -> None:
        with _constructing():
            built, self._pruner_given = oo.make_pruner(
                pruner, dict(pruner_options or {}), self.budget_info if self._fidelity_known else None)
        self._pruner_name = pruner
        if self.objectives and pruner != "none":
            raise RunnerError(f"optuna cannot prune a multi-objective study (Trial.report is "
                              f"single-objective only): leave pruner = {pruner!r} out")
        #: Learning curves matter to optuna only for pruning (and for ranking pruned trials).
        self._prunes = pruner != "none"
        #: Without conditions every trial has the same parameters: ask for them in one call
        #: (optuna samples them in the same order as define-by-run would, at less cost).
        self._fixed = None if self.space.is_conditional else {
            name: distribution(self.space[name]) for name in self.space}
        with _quiet():
            # A multi-objective study is optuna's own: one direction per objective, in order.
            directed = ({"directions": [o.direction.value for o in self.objectives]}
                        if self.objectives else {"direction": self.direction.value})
            self._study = optuna.create_study(
                sampler=sampler, pruner=built, study_name="tunebench", **directed)

    def resolved_options(self) -> dict[str, Any]:
        return {"pruner": self._pruner_name, "pruner_options": self._pruner_record()}

    def _pruner_record(self) -> dict[str, Any]:
        return oo.PRUNER_OPTIONS[self._pruner_name].resolved(self._pruner_given)

    # ask, tell and prune checks run on every trial without a warnings guard (a third of the
    # adapter's cost): none fires for any runner here (construction's experimental warnings are
    # guarded), and one that did would be worth seeing; Python shows each warning once.
    def _ask(self) -> tuple[Config, _Pending]:
        if self._fixed is not None:
            trial = self._study.ask(self._fixed)
            return trial.params, _Pending(trial)
        config: Config = {}
        trial = self._study.ask()
        for name in self.space:
            if self.space.is_active(name, config):
                config[name] = _suggest(trial, name, self.space[name])
        return config, _Pending(trial)

    def _tell(self, handle: _Pending, config: Config, outcome: Outcome) -> None:
        if (self._prunes or outcome.status is Status.PRUNED) and not self.objectives:
            _report_curve(handle.trial, handle.reported, outcome.curve)
        if outcome.status is Status.PRUNED:
            self._study.tell(handle.trial, state=TrialState.PRUNED)
        elif self.loss(outcome) is None or (self.objectives and outcome.values is None):
            self._study.tell(handle.trial, state=TrialState.FAIL)
        elif self.objectives:
            self._study.tell(handle.trial, list(outcome.values))  # type: ignore[arg-type]
        else:
            self._study.tell(handle.trial, float(outcome.value))  # type: ignore[arg-type]

    def _discard(self, handle: _Pending) -> None:
        with _quiet():
            self._study.tell(handle.trial, state=TrialState.FAIL)

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        state, value = TrialState.COMPLETE, outcome.value
        values = list(outcome.values) if self.objectives and outcome.values else None
        if outcome.status is Status.PRUNED:
            state, value, values = TrialState.PRUNED, None, None
        elif self.loss(outcome) is None or (self.objectives and values is None):
            state, value, values = TrialState.FAIL, None, None
        curve = {} if self.objectives else {
            i: v for i, v in enumerate(outcome.curve, start=1) if math.isfinite(v)}
        told = {"values": values} if self.objectives else {"value": value}
        with _quiet():
            self._study.add_trial(optuna.trial.create_trial(
                params=dict(config), state=state, intermediate_values=curve,
                distributions={name: distribution(self.space[name]) for name in config}, **told,
            ))

    def _should_prune(self, handle: _Pending, step: int, value: float) -> bool:
        if self.objectives:  # (refused a pruner at construction: nothing to ask)
            return False
        if step not in handle.reported:
            handle.trial.report(value, step)
            handle.reported.add(step)
        return handle.trial.should_prune()

    # ------------------------------------------------------------------ translation audit
    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        def render(name: str, param: Param) -> tuple[str, bool, str]:
            text = cls._library_text(param, options)
            if param.active_if:
                text += "; suggested only when active (define-by-run)"
            reason = cls._loss_reason(param, options)
            return text, bool(reason), reason

        return rows(space, render)

    @classmethod
    def _library_text(cls, param: Param, options: dict[str, Any]) -> str:
        return distribution_text(param)

    #: The sampler models only the parameters every trial has (optuna's intersection search
    #: space); the others, conditional ones, go to its independent (random) sampler.
    intersection_only: ClassVar[bool] = False

    @classmethod
    def _loss_reason(cls, param: Param, options: dict[str, Any]) -> str:
        """Why the sampler does not model ``param`` as defined ("" when it does)."""
        return _CONDITIONAL_RANDOM if cls.intersection_only and param.active_if else ""


def _suggest(trial: optuna.trial.Trial, name: str, param: Param) -> Any:
    if isinstance(param, Float):
        return trial.suggest_float(name, param.low, param.high, log=param.log)
    if isinstance(param, Categorical):
        return trial.suggest_categorical(name, list(param.choices))
    return trial.suggest_int(name, param.low, param.high, log=param.log)


def _caps(family: str, notes: str = "", exact: bool = True,
          sampler: LibraryOptions | None = None, multi_objective: bool = True) -> Capabilities:
    """Every optuna sampler here but CMA-ES and the pruning multi-fidelity runners optimises
    several objectives (optuna's ``directions``)."""
    parts = [notes, sampler.deviation_notes() if sampler else "", oo.COMMON_NOTE]
    return Capabilities(library="optuna", family=family, pruning=True, batch=True,
                        exact_replay=exact, multi_objective=multi_objective,
                        notes="; ".join(p for p in parts if p))


class SamplerRunner(OptunaRunner):
    """An optuna sampler at optuna's defaults: every keyword of its constructor is an option.

    ``sampler`` declares the constructor (:mod:`~tunebench.runners.optuna_options`); the pruner is
    the ``pruner`` / ``pruner_options`` options, or ``fixed_pruner`` with its keywords beside the
    sampler's.
    """

    sampler: ClassVar[LibraryOptions]
    fixed_pruner: ClassVar[str | None] = None

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        pruner, pruner_options, sampler_options = self._split(options)
        self._sampler_given = self.sampler.check(sampler_options)
        with _constructing():
            sampler = self.sampler.build(self._sampler_given, seed=self.seed)
        self._open(sampler, pruner, pruner_options)

    @classmethod
    def _split(cls, options: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(pruner, its keywords, the sampler's keywords) from the runner's options."""
        if cls.fixed_pruner is not None:
            names = set(oo.PRUNER_OPTIONS[cls.fixed_pruner].names())
            return (cls.fixed_pruner, {k: v for k, v in options.items() if k in names},
                    {k: v for k, v in options.items() if k not in names})
        rest = dict(options)
        pruner = rest.pop("pruner", "none")
        pruner_options = rest.pop("pruner_options", None) or {}
        if not isinstance(pruner_options, Mapping):
            raise RunnerError("option pruner_options must be a table of the pruner's keywords, "
                              f"e.g. pruner_options = {{ n_warmup_steps = 2 }}; got {pruner_options!r}")
        return pruner, dict(pruner_options), rest

    @classmethod
    def accepted_options(cls) -> list[str]:
        ours = [*oo.PRUNER_OPTIONS[cls.fixed_pruner].names()] if cls.fixed_pruner else [
            "pruner", "pruner_options"]
        return [*super().accepted_options(), *cls.sampler.names(), *ours]

    def resolved_options(self) -> dict[str, Any]:
        record = self.sampler.resolved(self._sampler_given, self._effective())
        if self.fixed_pruner is not None:
            return {**record, **self._pruner_record()}
        return {**record, **super().resolved_options()}

    def _effective(self) -> dict[str, Any]:
        """The values the built sampler holds for keywords whose default is None."""
        return read_back(self._study.sampler, self.sampler.names())


# ---------------------------------------------------------------------- the runners
class OptunaTPE(SamplerRunner):
    name = "optuna.tpe"
    description = "optuna TPESampler (Tree-structured Parzen Estimator)"
    sampler = oo.TPE
    capabilities = _caps("TPE", "optuna's default for one objective, multivariate TPE: one joint "
                         "model of the parameters every trial has, per-parameter models for "
                         "conditional ones (multivariate=false: independent models)", sampler=oo.TPE)

    def _effective(self) -> dict[str, Any]:
        sampler = self._study.sampler
        found = read_back(sampler, self.sampler.names(), "_parzen_estimator_parameters")
        found.pop("multivariate", None)  # the estimator's field of that name is unused (optuna)
        return {**found, **oo.tpe_effective(sampler, self._study)}  # type: ignore[arg-type]


class OptunaRandom(SamplerRunner):
    name = "optuna.random"
    description = "optuna RandomSampler (independent uniform / log-uniform draws)"
    sampler = oo.RANDOM
    capabilities = _caps("random", sampler=oo.RANDOM)


_CMAES_MISSING = ("needs the `cmaes` package, which is not installed "
                  "(pip install cmaes; tunebench's dependencies should list it)")


class OptunaCMAES(SamplerRunner):
    name = "optuna.cmaes"
    description = "optuna CmaEsSampler (CMA-ES over numeric parameters)"
    sampler = oo.CMAES
    capabilities = _caps("evolutionary", "categoricals and conditional parameters are sampled "
                         "at random by the independent sampler; integers are rounded",
                         sampler=oo.CMAES, multi_objective=False)
    unavailable = None if importlib.util.find_spec("cmaes") else _CMAES_MISSING
    intersection_only = True

    @classmethod
    def _loss_reason(cls, param: Param, options: dict[str, Any]) -> str:
        if param.active_if:
            return super()._loss_reason(param, options)
        if isinstance(param, Categorical):
            return "CMA-ES models only numeric parameters: sampled at random (independent sampler)"
        if param.kind == "int" and not options.get("with_margin", False):
            return "modelled as a continuous value, then rounded (with_margin=false)"
        return ""


class OptunaGP(SamplerRunner):
    name = "optuna.gp"
    description = "optuna GPSampler (Gaussian-process Bayesian optimisation, logEI)"
    sampler = oo.GP
    capabilities = _caps("GP-BO", "conditional parameters are sampled at random by the "
                         "independent sampler; cost per trial grows with the history (cubic)",
                         sampler=oo.GP)
    intersection_only = True


class OptunaQMC(SamplerRunner):
    name = "optuna.qmc"
    description = "optuna QMCSampler (scrambled Sobol or Halton low-discrepancy sequence)"
    sampler = oo.QMC
    capabilities = _caps("QMC", sampler=oo.QMC)

    @classmethod
    def _loss_reason(cls, param: Param, options: dict[str, Any]) -> str:
        if param.active_if:
            return ("conditional: in the low-discrepancy sequence only if active in the first "
                    "trial, otherwise sampled at random")
        return ""


class OptunaNSGA2(SamplerRunner):
    name = "optuna.nsga2"
    description = "optuna NSGAIISampler (genetic algorithm; non-dominated sorting, crowding)"
    sampler = oo.NSGA2
    capabilities = _caps("evolutionary", "first generation is random (population_size trials); "
                         "conditional parameters are sampled at random", sampler=oo.NSGA2)
    intersection_only = True


class OptunaNSGA3(SamplerRunner):
    name = "optuna.nsga3"
    description = "optuna NSGAIIISampler (genetic algorithm; reference-point niching)"
    sampler = oo.NSGA3
    capabilities = _caps("evolutionary", "for three or more objectives; first generation is "
                         "random (population_size trials); conditional parameters are sampled "
                         "at random", sampler=oo.NSGA3)
    intersection_only = True


class _EndlessGridSampler(optuna.samplers.GridSampler):
    """optuna's GridSampler over the configurations of a (conditional) space, which never stops
    the study itself: the harness owns the budget, and the runner ends the study once every point
    was proposed.

    GridSampler takes one axis per parameter and crosses them all, so a parameter inactive in a
    branch would multiply that branch's points by its axis length with duplicates (scikit-learn's
    digits grid: 16 points for 12 configurations). Here a crossed point is kept only when every
    parameter inactive in it holds its axis's first value: one point per configuration. The
    filter runs on optuna's own seeded shuffle, and a uniformly shuffled list filtered by a
    predicate is a uniformly shuffled list of what it keeps, so the sampler's order semantics
    (trial n takes point n, then unvisited points at random) are optuna's; an unconditional
    space keeps every point, exactly as plain GridSampler does.
    """

    def __init__(self, axes: dict[str, list[Any]], seed: int, space: Space) -> None:
        super().__init__(axes, seed=seed)
        if space.is_conditional:
            names = self._param_names  # optuna's axis order (sorted names)
            self._all_grids = [point for point in self._all_grids if _one_per_configuration(
                space, axes, dict(zip(names, point, strict=True)))]
            self._n_min_trials = len(self._all_grids)

    @property
    def n_points(self) -> int:
        return self._n_min_trials

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        return None


def _one_per_configuration(space: Space, axes: dict[str, list[Any]], point: dict[str, Any]) -> bool:
    """Whether every parameter inactive at ``point`` holds its axis's first value."""
    active: Config = {}
    for name in space:
        if space.is_active(name, active):
            active[name] = point[name]
        elif canonical_json(point[name]) != canonical_json(axes[name][0]):  # True is not 1
            return False
    return True


class OptunaGrid(OptunaRunner):
    name = "optuna.grid"
    description = "optuna GridSampler over tunebench's grid points (optuna's seeded random order)"
    capabilities = _caps("grid", "each configuration once: conditional parameters are not crossed "
                         "into branches where they are inactive (tunebench removes those duplicates "
                         "from GridSampler's points); points are visited in optuna's seeded shuffle, "
                         "each point equally likely (a branch weighs as many points as it has); the "
                         "study ends (search exhausted) once every point was proposed")

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, resolution: int | None = None,
                 max_points: int = 1_000_000, pruner: str = "none") -> None:
        super().__init__(space, direction, seed, budget_info)
        if resolution is not None:
            check_int("resolution", resolution, 1)
        self._resolution, self._resolution_from = grid_resolution(space, self.budget_info, resolution)
        axes = {name: space[name].grid(self._resolution) for name in space}
        size = math.prod(len(values) for values in axes.values())
        self._max_points = check_int("max_points", max_points, 1)
        if size > self._max_points:
            raise RunnerError(f"the grid would have {size:,} points (resolution {self._resolution} "
                              f"over {len(space)} parameters); lower `resolution` or raise `max_points`")
        with _quiet():
            self._sampler = _EndlessGridSampler(axes, self.seed, space)
            self._open(self._sampler, pruner)
        self._asked = 0

    def _ask(self) -> tuple[Config, _Pending]:
        # Each ask takes an unproposed point while there is one (optuna's rule); past that,
        # GridSampler would re-propose a visited point.
        if self._asked >= self._sampler.n_points:
            raise SearchExhausted(f"every one of the {self._sampler.n_points} points of optuna's "
                                  f"grid (resolution {self._resolution}) was proposed")
        self._asked += 1
        return super()._ask()

    def resolved_options(self) -> dict[str, Any]:
        return {**super().resolved_options(), "resolution": self._resolution,
                "resolution_from": self._resolution_from, "max_points": self._max_points,
                "grid_points": self._sampler.n_points}

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        return axis_rows(space, options.get("resolution"), "GridSampler axis")


class OptunaHyperband(OptunaTPE):
    name = "optuna.hyperband"
    description = "optuna TPESampler + HyperbandPruner (multi-fidelity: stops weak trials early)"
    capabilities = _caps("TPE", "multi-fidelity: prunes between fidelity steps (reduction factor "
                         "3); the sampler is optuna.tpe at optuna's defaults", sampler=oo.TPE,
                         multi_objective=False)
    fixed_pruner = "hyperband"


class OptunaASHA(OptunaTPE):
    name = "optuna.asha"
    description = "optuna TPESampler + SuccessiveHalvingPruner (asynchronous successive halving)"
    capabilities = _caps("TPE", "multi-fidelity: prunes between fidelity steps at rungs "
                         "min_resource * reduction_factor**k (reduction factor 4); the sampler is "
                         "optuna.tpe at optuna's defaults", sampler=oo.TPE,
                         multi_objective=False)
    fixed_pruner = "successive_halving"


__all__ = [
    "PRUNERS",
    "OptunaASHA",
    "OptunaCMAES",
    "OptunaGP",
    "OptunaGrid",
    "OptunaHyperband",
    "OptunaNSGA2",
    "OptunaNSGA3",
    "OptunaQMC",
    "OptunaRandom",
    "OptunaRunner",
    "OptunaTPE",
    "SamplerRunner",
    "distribution",
]
