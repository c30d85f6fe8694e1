"""A runner at its default options is its library at the library's defaults, proposal by proposal.

For each library family, the runner built the way a suite builds it (no options) is driven the way
the harness drives it (ask, report each fidelity step to the pruner, tell), and the same seed, space
and objective are given to the library's own loop, written as its documentation writes it
(``study.optimize`` with define-by-run suggestions; ``hyperopt.fmin``). The two must propose the
same configurations in the same order, failures and pruned trials included. The only settings the
plain loops are given beyond the seed are the deviations tunebench declares, listed here by hand so
that an undeclared one fails :func:`test_declared_deviations_are_the_known_ones`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import pytest
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, anneal, fmin, rand, tpe
from hyperopt.fmin import fmin_pass_expr_memo_ctrl

from tunebench import registry
from tunebench.runners.base import BudgetInfo, Outcome, Status
from tunebench.runners.conformance import mixed_space
from tunebench.runners.hyperopt_space import HyperoptSpace
from tunebench.space import Categorical, Config, Direction, Float, Int, Space

SEED = 7
FLAT = Space({"x": Float(-5.0, 10.0), "y": Float(1e-3, 10.0, log=True), "k": Int(1, 8),
              "c": Categorical(("a", "b", "c"))})
NUMERIC = Space({"x": Float(-5.0, 10.0), "y": Float(1e-3, 10.0, log=True), "k": Int(1, 8)})

#: What tunebench sets differently from each library's defaults (the runners' notes say why);
#: besides these, optuna runners prune only with a pruner option (see optuna_loop).
QUIET = {"warn_independent_sampling": False}
DEVIATIONS: dict[str, dict[str, Any]] = {
    "optuna.tpe": {}, "optuna.random": {}, "optuna.nsga2": {}, "optuna.nsga3": {},
    "optuna.hyperband": {}, "optuna.asha": {},
    "optuna.cmaes": QUIET, "optuna.gp": QUIET, "optuna.qmc": {**QUIET, "scramble": True},
}


# ---------------------------------------------------------------------- the objective
def _unit(param: Any, value: Any) -> float:
    if isinstance(param, Categorical):
        return param.index(value) / max(1, len(param.choices) - 1)
    low, high, value = float(param.low), float(param.high), float(value)
    if param.log:
        low, high, value = math.log(low), math.log(high), math.log(value)
    return (value - low) / (high - low)


def loss(space: Space, config: Config) -> float:
    """A deterministic loss of the configuration, smooth in every parameter."""
    return sum((_unit(space[name], value) - 0.2 - 0.07 * i) ** 2
               for i, (name, value) in enumerate(config.items()))


def fails(space: Space, config: Config) -> bool:
    """About one configuration in eight fails (before any step is reported)."""
    first = next(iter(config))
    return _unit(space[first], config[first]) > 0.875


def curve(space: Space, config: Config, fidelity: int) -> list[float]:
    """The learning curve: the loss approached from above, a little noise that depends on config."""
    final = loss(space, config)
    wobble = (7 * sum(_unit(space[n], v) for n, v in config.items())) % 1 / 10
    return [*(final + (1.0 + wobble) / step for step in range(1, fidelity)), final]


# ---------------------------------------------------------------------- tunebench's loop
def tunebench_loop(name: str, space: Space, n: int, fidelity: int = 1,
                   statuses: list[Status] | None = None) -> list[Config]:
    """The harness's protocol, from a runner built as a suite builds it (no options)."""
    info = BudgetInfo("trials", n, 1, fidelity)
    runner = registry.make_runner(name, space, Direction.MINIMIZE, SEED, info, {})
    proposed = []
    statuses = [] if statuses is None else statuses
    for _ in range(n):
        config = runner.ask()
        proposed.append(config)
        if fails(space, config):
            runner.tell(config, Outcome(Status.FAILED, None, 0))
            statuses.append(Status.FAILED)
            continue
        values: list[float] = []
        status = Status.OK
        for step, value in enumerate(curve(space, config, fidelity), start=1):
            values.append(value)
            if runner.should_prune(config, step, value):
                status = Status.PRUNED
                break
        runner.tell(config, Outcome(status, values[-1], len(values), tuple(values)))
        statuses.append(status)
    return proposed


# ---------------------------------------------------------------------- optuna's own loop
def optuna_loop(sampler: optuna.samplers.BaseSampler, space: Space, n: int, fidelity: int = 1,
                pruner: optuna.pruners.BasePruner | None = None) -> list[Config]:
    # A fixed study name: optuna's Hyperband assigns brackets by hashing it. Without a pruner
    # option tunebench's runners do not prune (declared): optuna's create_study would default to
    # MedianPruner, which prunes once an objective consults it, as the harness always does.
    study = optuna.create_study(sampler=sampler, pruner=pruner or optuna.pruners.NopPruner(),
                                study_name="tunebench")
    proposed = []

    def objective(trial: optuna.trial.Trial) -> float:
        config: Config = {}
        for name in space:
            if not space.is_active(name, config):
                continue
            param = space[name]
            if isinstance(param, Float):
                config[name] = trial.suggest_float(name, param.low, param.high, log=param.log)
            elif isinstance(param, Int):
                config[name] = trial.suggest_int(name, param.low, param.high, log=param.log)
            else:
                config[name] = trial.suggest_categorical(name, list(param.choices))
        proposed.append(config)
        if fails(space, config):
            raise ValueError("this configuration fails")
        for step, value in enumerate(curve(space, config, fidelity), start=1):
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return loss(space, config)

    study.optimize(objective, n_trials=n, catch=(ValueError,))
    return proposed


# ---------------------------------------------------------------------- hyperopt's own loop
def hyperopt_loop(algo: Callable[..., Any], space: Space, n: int) -> list[Config]:
    encoding = HyperoptSpace(space)  # the same space: tunebench's translation, audited elsewhere
    proposed = []

    @fmin_pass_expr_memo_ctrl
    def objective(expr: Any, memo: Any, ctrl: Any) -> dict[str, Any]:
        config = encoding.decode(ctrl.current_trial["misc"]["vals"])
        proposed.append(config)
        if fails(space, config):
            return {"status": STATUS_FAIL}
        return {"status": STATUS_OK, "loss": loss(space, config)}

    fmin(objective, encoding.expression, algo=algo, max_evals=n, trials=Trials(),
         rstate=np.random.default_rng(SEED), show_progressbar=False)
    return proposed


S = optuna.samplers
CASES: list[tuple[str, Space, int, int, Callable[[], list[Config]]]] = [
    # (runner, space, trials, fidelity, the library's loop)
    ("optuna.tpe", mixed_space(), 30, 1, lambda: optuna_loop(S.TPESampler(seed=SEED), mixed_space(), 30)),
    ("optuna.tpe", FLAT, 25, 1, lambda: optuna_loop(S.TPESampler(seed=SEED), FLAT, 25)),
    ("optuna.random", mixed_space(), 15, 1,
     lambda: optuna_loop(S.RandomSampler(seed=SEED), mixed_space(), 15)),
    ("optuna.qmc", FLAT, 12, 1,
     lambda: optuna_loop(S.QMCSampler(seed=SEED, scramble=True, warn_independent_sampling=False), FLAT, 12)),
    ("optuna.cmaes", NUMERIC, 20, 1,
     lambda: optuna_loop(S.CmaEsSampler(seed=SEED, warn_independent_sampling=False), NUMERIC, 20)),
    ("optuna.gp", NUMERIC, 13, 1,
     lambda: optuna_loop(S.GPSampler(seed=SEED, warn_independent_sampling=False), NUMERIC, 13)),
    ("optuna.nsga2", FLAT, 60, 1, lambda: optuna_loop(S.NSGAIISampler(seed=SEED), FLAT, 60)),
    ("optuna.nsga3", FLAT, 60, 1, lambda: optuna_loop(S.NSGAIIISampler(seed=SEED), FLAT, 60)),
    # The multi-fidelity runners: optuna's TPE at its defaults, the pruner's resources from the
    # task's fidelity range (9 steps here).
    ("optuna.hyperband", FLAT, 40, 9, lambda: optuna_loop(
        S.TPESampler(seed=SEED), FLAT, 40, 9, optuna.pruners.HyperbandPruner(1, 9))),
    ("optuna.asha", FLAT, 40, 9, lambda: optuna_loop(
        S.TPESampler(seed=SEED), FLAT, 40, 9, optuna.pruners.SuccessiveHalvingPruner(1))),
    ("hyperopt.tpe", mixed_space(), 30, 1, lambda: hyperopt_loop(tpe.suggest, mixed_space(), 30)),
    ("hyperopt.anneal", mixed_space(), 20, 1, lambda: hyperopt_loop(anneal.suggest, mixed_space(), 20)),
    ("hyperopt.rand", mixed_space(), 10, 1, lambda: hyperopt_loop(rand.suggest, mixed_space(), 10)),
]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # QMCSampler, plain loop
@pytest.mark.parametrize(("runner", "space", "n", "fidelity", "plain"), CASES,
                         ids=[f"{c[0]}-{len(c[1])}d" for c in CASES])
def test_default_runner_proposes_what_the_library_loop_proposes(runner, space, n, fidelity, plain):
    cls = registry.get_runner_class(runner)
    if getattr(cls, "unavailable", None):
        pytest.skip(cls.unavailable)
    ours = tunebench_loop(runner, space, n, fidelity)
    theirs = plain()
    assert len(ours) == len(theirs) == n
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"trial {i}: tunebench proposed {a}, the library's loop {b}"
    assert len({str(c) for c in ours}) > n // 2  # a real search, not one point repeated


def test_the_loops_see_failures_and_pruning() -> None:
    """The comparison above exercises what it claims: failed and pruned trials both occur."""
    statuses: list[Status] = []
    tunebench_loop("optuna.hyperband", FLAT, 40, 9, statuses)
    assert {Status.FAILED, Status.PRUNED, Status.OK} <= set(statuses)


def test_optuna_tpe_leaves_multivariate_to_optuna_and_records_what_it_resolved_to() -> None:
    runner = registry.make_runner("optuna.tpe", FLAT, Direction.MINIMIZE, SEED, None, {})
    assert runner._study.sampler._multivariate is None  # not passed: optuna's default applies
    assert runner.resolved_options()["multivariate"] is True  # optuna: joint TPE, one objective
    independent = registry.make_runner("optuna.tpe", FLAT, Direction.MINIMIZE, SEED, None,
                                       {"multivariate": False})
    assert independent.resolved_options()["multivariate"] is False


@pytest.mark.parametrize("runner", sorted(DEVIATIONS))
def test_declared_deviations_are_the_known_ones(runner: str) -> None:
    cls = registry.get_runner_class(runner)
    declared = {name: d.value for name, d in cls.sampler.deviations.items()}
    assert declared == DEVIATIONS[runner]
    for name in declared:
        assert f"{name}=" in cls.capabilities.notes  # shown wherever the notes are


def test_every_optuna_and_hyperopt_runner_is_covered_here() -> None:
    names = {n for n in registry.runner_names() if n.split(".")[0] in ("optuna", "hyperopt")}
    covered = {case[0] for case in CASES} | {"optuna.grid", "hyperopt.atpe"}  # grid: its own tests
    assert names == covered
