"""nevergrad runners: the wizard, CMA-ES, DE, PSO, (1+1), a portfolio and BO, through ask/tell.

Parametrization: an ``ng.p.Dict`` with one child per parameter: ``ng.p.Scalar`` (linear floats),
``ng.p.Log`` (log floats), the same with ``set_integer_casting()`` over ``[low - 0.5, high + 0.5]``
for integers (rounded, then clipped, so each integer gets an equal-width cell) and ``ng.p.Choice``
for categoricals. It is seeded through ``parametrization.random_state``, which every nevergrad
optimizer draws from; the full-fidelity trials that fit in the budget become the optimizer's
budget (the wizard chooses by it).

Conditional parameters: nevergrad has no native mechanism, so every parameter is always in the
parametrization and the ones inactive for a candidate are dropped from the configuration the task
sees. The task's value cannot depend on them, so nevergrad learns nothing from them, and the
harness neither records nor charges them. A configuration nevergrad did not propose (a resumed
study told a stored configuration) is told as a child whose inactive parameters take their defaults.

Failures: nevergrad's documented handling of a non-finite loss is to clip it to its ceiling
(5e20, ``LossTooLargeWarning``); a failed trial is told as ``inf``, which becomes that penalty.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import nevergrad as ng
import numpy as np

from tunebench.runners.adapter import LibraryRunner, check_int
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, RunnerError
from tunebench.runners.translation import ParamTranslation, fmt, rows
from tunebench.space import Categorical, Config, Direction, Float, Param, Space

FAILURE_LOSS = float("inf")


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence nevergrad's warnings and undo its one known global side effect.

    nevergrad's CMA switches the *shared* configuration object of its variant to fcmaes when it
    meets a one-dimensional problem, which would change every later CMA study in the process.
    """
    flags = [(config, config.fcmaes) for config in _cma_configs()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for config, fcmaes in flags:
            config.fcmaes = fcmaes


@functools.cache
def _cma_configs() -> tuple[Any, ...]:
    from nevergrad.optimization import optimizerlib

    return tuple(value for value in vars(optimizerlib).values()
                 if isinstance(value, optimizerlib.ParametrizedCMA))


def _sub_optimizers(optimizer: Any) -> Iterator[Any]:
    """An optimizer and every optimizer it delegates to (NGOpt's choice, a portfolio's members)."""
    yield optimizer
    for child in [getattr(optimizer, "optim", None), *getattr(optimizer, "optims", [])]:
        if isinstance(child, ng.optimizers.base.Optimizer):
            yield from _sub_optimizers(child)


def parameter(param: Param) -> ng.p.Parameter:
    if isinstance(param, Categorical):
        return ng.p.Choice(list(param.choices))
    low, high = (param.low, param.high) if isinstance(param, Float) else (
        param.low - 0.5, param.high + 0.5)
    child = ng.p.Log(lower=low, upper=high) if param.log else ng.p.Scalar(lower=low, upper=high)
    return child if isinstance(param, Float) else child.set_integer_casting()


def parameter_text(param: Param) -> str:
    if isinstance(param, Categorical):
        return f"ng.p.Choice([{', '.join(fmt(c) for c in param.choices)}])"
    low, high = (param.low, param.high) if isinstance(param, Float) else (
        param.low - 0.5, param.high + 0.5)
    text = f"ng.p.{'Log' if param.log else 'Scalar'}(lower={fmt(low)}, upper={fmt(high)})"
    return text if isinstance(param, Float) else text + ".set_integer_casting()"


def _value(param: Param, raw: Any) -> Any:
    if isinstance(param, Categorical):
        return raw
    if isinstance(param, Float):
        return min(max(float(raw), param.low), param.high)
    return int(min(max(int(raw), param.low), param.high))


class NevergradRunner(LibraryRunner):
    """Shared nevergrad adapter; a subclass names its optimizer in ``optimizer``."""

    #: Name in ``ng.optimizers.registry``.
    optimizer: ClassVar[str]

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, budget: int | None = None) -> None:
        super().__init__(space, direction, seed, budget_info)
        self.budget = self.budget_hint if budget is None else check_int("budget", budget, 1)
        parametrization = ng.p.Dict(**{name: parameter(space[name]) for name in space})
        parametrization.random_state = np.random.RandomState(self.seed)
        with _quiet():
            self._optimizer = ng.optimizers.registry[self.optimizer](
                parametrization=parametrization, budget=self.budget, num_workers=1)
            self._probe()
        self._refuse_metamodel_on_numpy2()

    def _probe(self) -> None:
        """Ask once on a copy, so a setting nevergrad cannot handle fails here, clearly."""
        try:
            copy.deepcopy(self._optimizer).ask()
        except (ImportError, AssertionError) as exc:
            hint = (" It needs a budget: give the study a trial or epoch budget, or set the "
                    "runner option `budget`." if self.budget is None else "")
            raise RunnerError(
                f"nevergrad's {self.optimizer} cannot run on this space with budget "
                f"{self.budget}: {type(exc).__name__}: {exc}.{hint}") from exc

    def _refuse_metamodel_on_numpy2(self) -> None:
        """nevergrad 1.0.12's MetaModel calls ``float()`` on a one-element array, which numpy 2
        refuses (TypeError): a study whose algorithm includes it would crash part-way through."""
        from nevergrad.optimization.optimizerlib import _MetaModel

        if not any(isinstance(o, _MetaModel) for o in _sub_optimizers(self._optimizer)):
            return
        try:
            float(np.zeros(1))  # type: ignore[arg-type]
        except TypeError:
            raise RunnerError(
                f"nevergrad's {self.optimizer} chose a MetaModel for this space and budget "
                f"{self.budget}, and nevergrad {ng.__version__}'s MetaModel fails with numpy "
                f"{np.__version__} (float() of a one-element array) after its first trials; "
                "choose another budget (the runner option `budget`) or another runner") from None

    def _ask(self) -> tuple[Config, ng.p.Parameter]:
        with _quiet():
            try:
                candidate = self._optimizer.ask()
            except AssertionError as exc:
                if self.budget is None or self._optimizer.num_ask < self.budget:
                    raise
                raise RunnerError(
                    f"nevergrad's {self.optimizer} was planned for a budget of {self.budget} "
                    f"trials and refuses to propose more ({exc}); set the runner option "
                    "`budget` to the most trials the study may run") from exc
        values = candidate.value
        config: Config = {}
        for name in self.space:
            if self.space.is_active(name, config):
                config[name] = _value(self.space[name], values[name])
        return config, candidate

    def _tell(self, handle: ng.p.Parameter, config: Config, outcome: Outcome) -> None:
        loss = self.loss(outcome)
        with _quiet():
            self._optimizer.tell(handle, FAILURE_LOSS if loss is None else loss)

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        full = {name: config[name] if name in config else self.space[name].default_value()
                for name in self.space}
        loss = self.loss(outcome)
        with _quiet():
            child = self._optimizer.parametrization.spawn_child(new_value=full)
            # an optimizer that cannot learn from points it did not propose just skips this one
            with contextlib.suppress(ng.errors.TellNotAskedNotSupportedError):
                self._optimizer.tell(child, FAILURE_LOSS if loss is None else loss)

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        def render(name: str, param: Param) -> tuple[str, bool, str]:
            reasons = []
            if param.kind == "int":
                reasons.append("continuous internally, rounded to the integer")
            if isinstance(param, Categorical):
                reasons.append("relaxed to one continuous weight per choice, drawn by softmax")
            if param.active_if:
                reasons.append("no native conditions: always optimised, dropped when inactive")
            return parameter_text(param), bool(reasons), "; ".join(reasons)

        return rows(space, render)


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


_NOTES = "conditional parameters flattened (always optimised, dropped when inactive)"


def _caps(family: str, notes: str = "") -> Capabilities:
    return Capabilities(library="nevergrad", family=family,
                        notes="; ".join(n for n in (notes, _NOTES) if n))


class NevergradNGOpt(NevergradRunner):
    name = "nevergrad.ngopt"
    description = "nevergrad NGOpt, the wizard: picks an algorithm from budget, dimension and types"
    capabilities = _caps("bandit-portfolio", "needs a budget; its choice of algorithm "
                         "depends on the budget and the space")
    optimizer = "NGOpt"


class NevergradCMA(NevergradRunner):
    name = "nevergrad.cma"
    description = "nevergrad CMA (covariance matrix adaptation evolution strategy)"
    capabilities = _caps("evolutionary", "needs a budget; nevergrad picks the CMA variant from "
                         "budget and space ((1+1) for one continuous parameter)")
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
    capabilities = _caps("bandit-portfolio", "needs a budget and cannot propose past it")
    optimizer = "Portfolio"


class NevergradBO(NevergradRunner):
    name = "nevergrad.bo"
    description = "nevergrad BO (Gaussian-process Bayesian optimisation via bayes_opt)"
    capabilities = _caps("GP-BO", "needs a budget; cost per trial grows with the history; a "
                         "repeated point is not told twice (bayes_opt refuses duplicates)")
    optimizer = "BO"

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, budget: int | None = None) -> None:
        super().__init__(space, direction, seed, budget_info, budget)
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
]
