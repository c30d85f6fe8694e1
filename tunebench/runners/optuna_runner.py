"""optuna runners: each sampler family through optuna's ask/tell API, with an optional pruner.

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
from collections.abc import Iterator
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

from tunebench.runners.adapter import (
    LibraryRunner,
    check_bool,
    check_choice,
    check_int,
)
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, RunnerError, SearchExhausted, Status
from tunebench.runners.grid import axis_rows, grid_resolution
from tunebench.runners.translation import ParamTranslation, fmt, rows
from tunebench.space import Categorical, Config, Direction, Float, Param, Space, canonical_json

optuna.logging.set_verbosity(optuna.logging.ERROR)

PRUNERS = ("none", "median", "successive_halving", "hyperband")

_CONDITIONAL_RANDOM = ("conditional: outside the search space shared by all trials, so it is "
                       "sampled by the independent (random) sampler, not the model")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """optuna's pruner for the ``pruner`` option (defaults as optuna's own)."""
    check_choice("pruner", name, PRUNERS)
    return {
        "none": optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
    }[name]()


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

    def _open(self, sampler: optuna.samplers.BaseSampler, pruner: str) -> None:
        check_choice("pruner", pruner, PRUNERS)
        #: Learning curves matter to optuna only for pruning (and for ranking pruned trials).
        self._prunes = pruner != "none"
        #: Without conditions every trial has the same parameters: ask for them in one call
        #: (optuna samples them in the same order as define-by-run would, at less cost).
        self._fixed = None if self.space.is_conditional else {
            name: distribution(self.space[name]) for name in self.space}
        with _quiet():
            self._study = optuna.create_study(
                sampler=sampler, pruner=make_pruner(pruner), study_name="tunebench",
                direction=self.direction.value,
            )

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
        if self._prunes or outcome.status is Status.PRUNED:
            _report_curve(handle.trial, handle.reported, outcome.curve)
        if outcome.status is Status.PRUNED:
            self._study.tell(handle.trial, state=TrialState.PRUNED)
        elif self.loss(outcome) is None:
            self._study.tell(handle.trial, state=TrialState.FAIL)
        else:
            self._study.tell(handle.trial, float(outcome.value))  # type: ignore[arg-type]

    def _discard(self, handle: _Pending) -> None:
        with _quiet():
            self._study.tell(handle.trial, state=TrialState.FAIL)

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        state, value = TrialState.COMPLETE, outcome.value
        if outcome.status is Status.PRUNED:
            state, value = TrialState.PRUNED, None
        elif self.loss(outcome) is None:
            state, value = TrialState.FAIL, None
        curve = {i: v for i, v in enumerate(outcome.curve, start=1) if math.isfinite(v)}
        with _quiet():
            self._study.add_trial(optuna.trial.create_trial(
                params=dict(config), state=state, value=value, intermediate_values=curve,
                distributions={name: distribution(self.space[name]) for name in config},
            ))

    def _should_prune(self, handle: _Pending, step: int, value: float) -> bool:
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


def _caps(family: str, notes: str = "", exact: bool = True) -> Capabilities:
    return Capabilities(library="optuna", family=family, pruning=True, batch=True,
                        exact_replay=exact, notes=notes)


# ---------------------------------------------------------------------- the runners
class OptunaTPE(OptunaRunner):
    name = "optuna.tpe"
    description = "optuna TPESampler (Tree-structured Parzen Estimator)"
    capabilities = _caps("TPE", "independent per-parameter model unless multivariate=true")

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, multivariate: bool = False, group: bool = False,
                 n_startup_trials: int = 10, pruner: str = "none") -> None:
        super().__init__(space, direction, seed, budget_info)
        check_bool("multivariate", multivariate)
        if check_bool("group", group) and not multivariate:
            raise RunnerError("option group=true needs multivariate=true (optuna's rule)")
        with _quiet():
            sampler = optuna.samplers.TPESampler(
                seed=self.seed, multivariate=multivariate, group=group,
                n_startup_trials=check_int("n_startup_trials", n_startup_trials, 0),
            )
        self._open(sampler, pruner)


class OptunaRandom(OptunaRunner):
    name = "optuna.random"
    description = "optuna RandomSampler (independent uniform / log-uniform draws)"
    capabilities = _caps("random")

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, pruner: str = "none") -> None:
        super().__init__(space, direction, seed, budget_info)
        self._open(optuna.samplers.RandomSampler(seed=self.seed), pruner)


_CMAES_MISSING = ("needs the `cmaes` package, which is not installed "
                  "(pip install cmaes; tunebench's dependencies should list it)")


class OptunaCMAES(OptunaRunner):
    name = "optuna.cmaes"
    description = "optuna CmaEsSampler (CMA-ES over numeric parameters)"
    capabilities = _caps("evolutionary", "categoricals and conditional parameters are sampled "
                         "at random by the independent sampler; integers are rounded")
    unavailable = None if importlib.util.find_spec("cmaes") else _CMAES_MISSING
    intersection_only = True

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, n_startup_trials: int = 1,
                 restart_strategy: str = "none", with_margin: bool = False,
                 pruner: str = "none") -> None:
        super().__init__(space, direction, seed, budget_info)
        restart = check_choice("restart_strategy", restart_strategy, ("none", "ipop", "bipop"))
        with _quiet():
            sampler = optuna.samplers.CmaEsSampler(
                seed=self.seed, n_startup_trials=check_int("n_startup_trials", n_startup_trials, 0),
                restart_strategy=None if restart == "none" else restart,
                with_margin=check_bool("with_margin", with_margin), warn_independent_sampling=False,
            )
        self._open(sampler, pruner)

    @classmethod
    def _loss_reason(cls, param: Param, options: dict[str, Any]) -> str:
        if param.active_if:
            return super()._loss_reason(param, options)
        if isinstance(param, Categorical):
            return "CMA-ES models only numeric parameters: sampled at random (independent sampler)"
        if param.kind == "int" and not options.get("with_margin", False):
            return "modelled as a continuous value, then rounded (with_margin=false)"
        return ""


class OptunaGP(OptunaRunner):
    name = "optuna.gp"
    description = "optuna GPSampler (Gaussian-process Bayesian optimisation, logEI)"
    capabilities = _caps("GP-BO", "conditional parameters are sampled at random by the "
                         "independent sampler; cost per trial grows with the history (cubic)")
    intersection_only = True

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, n_startup_trials: int = 10,
                 deterministic_objective: bool = False, pruner: str = "none") -> None:
        super().__init__(space, direction, seed, budget_info)
        with _quiet():
            sampler = optuna.samplers.GPSampler(
                seed=self.seed, n_startup_trials=check_int("n_startup_trials", n_startup_trials, 0),
                deterministic_objective=check_bool("deterministic_objective",
                                                   deterministic_objective),
                warn_independent_sampling=False,
            )
        self._open(sampler, pruner)


class OptunaQMC(OptunaRunner):
    name = "optuna.qmc"
    description = "optuna QMCSampler (scrambled Sobol or Halton low-discrepancy sequence)"
    capabilities = _caps("QMC", "scramble=false ignores the seed (every repetition identical)")

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, qmc_type: str = "sobol", scramble: bool = True,
                 pruner: str = "none") -> None:
        super().__init__(space, direction, seed, budget_info)
        with _quiet():
            sampler = optuna.samplers.QMCSampler(
                seed=self.seed, qmc_type=check_choice("qmc_type", qmc_type, ("sobol", "halton")),
                scramble=check_bool("scramble", scramble), warn_independent_sampling=False,
                warn_asynchronous_seeding=False,
            )
        self._open(sampler, pruner)

    @classmethod
    def _loss_reason(cls, param: Param, options: dict[str, Any]) -> str:
        if param.active_if:
            return ("conditional: in the low-discrepancy sequence only if active in the first "
                    "trial, otherwise sampled at random")
        return ""


class OptunaNSGA2(OptunaRunner):
    name = "optuna.nsga2"
    description = "optuna NSGAIISampler (genetic algorithm; single objective here)"
    capabilities = _caps("evolutionary", "first generation is random (population_size trials); "
                         "conditional parameters are sampled at random")
    intersection_only = True

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, population_size: int = 50,
                 pruner: str = "none") -> None:
        super().__init__(space, direction, seed, budget_info)
        with _quiet():
            sampler = optuna.samplers.NSGAIISampler(
                seed=self.seed, population_size=check_int("population_size", population_size, 2))
        self._open(sampler, pruner)


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


class _MultiFidelityTPE(OptunaTPE):
    """TPE with a fixed multi-fidelity pruner; ``reduction_factor=None`` keeps optuna's default."""

    pruner_class: ClassVar[type[optuna.pruners.BasePruner]]

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, min_resource: int = 1,
                 reduction_factor: int | None = None, n_startup_trials: int = 10) -> None:
        super().__init__(space, direction, seed, budget_info, n_startup_trials=n_startup_trials)
        settings = {"min_resource": check_int("min_resource", min_resource, 1)}
        if reduction_factor is not None:
            settings["reduction_factor"] = check_int("reduction_factor", reduction_factor, 2)
        self._study.pruner = self.pruner_class(**settings)


class OptunaHyperband(_MultiFidelityTPE):
    name = "optuna.hyperband"
    description = "optuna TPESampler + HyperbandPruner (multi-fidelity: stops weak trials early)"
    capabilities = _caps("TPE", "multi-fidelity: prunes between fidelity steps (reduction "
                         "factor 3); max resource inferred from the first complete trial")
    pruner_class = optuna.pruners.HyperbandPruner


class OptunaASHA(_MultiFidelityTPE):
    name = "optuna.asha"
    description = "optuna TPESampler + SuccessiveHalvingPruner (asynchronous successive halving)"
    capabilities = _caps("TPE", "multi-fidelity: prunes between fidelity steps at rungs "
                         "min_resource * reduction_factor**k (reduction factor 4)")
    pruner_class = optuna.pruners.SuccessiveHalvingPruner


__all__ = [
    "PRUNERS",
    "OptunaASHA",
    "OptunaCMAES",
    "OptunaGP",
    "OptunaGrid",
    "OptunaHyperband",
    "OptunaNSGA2",
    "OptunaQMC",
    "OptunaRandom",
    "OptunaRunner",
    "OptunaTPE",
    "distribution",
    "make_pruner",
]
