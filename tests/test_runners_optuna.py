"""optuna runners: pruners, option checks, the grid, trial states and the translation audit."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from tunebench.runners import optuna_runner as opt
from tunebench.runners.base import Outcome, RunnerError, RunnerUnavailable, Status
from tunebench.runners.conformance import Conformance, mixed_space
from tunebench.runners.translation import translate
from tunebench.space import Categorical, Float, Int, Space
from tunebench.tasks.base import Direction

SMALL = Space({"x": Float(-1.0, 2.0), "n": Int(1, 3), "c": Categorical(("a", None, True))})


@pytest.mark.parametrize("pruner", ["median", "successive_halving", "hyperband"])
def test_tpe_with_a_pruner_prunes_and_replays_exactly(pruner: str) -> None:
    check = Conformance(opt.OptunaTPE, {"pruner": pruner}, trials=30, expect_pruning=True)
    check.run("pruning")
    check.run("resume")  # the pruned trials' curves rebuild the pruner's state on replay
    assert any(t.outcome.status is Status.PRUNED for t in check.reference)


@pytest.mark.parametrize(("cls", "options", "message"), [
    (opt.OptunaTPE, {"pruner": "early"}, "pruner must be one of"),
    (opt.OptunaTPE, {"group": True}, "group=true needs multivariate=true"),
    (opt.OptunaTPE, {"n_startup_trials": -1}, "n_startup_trials must be >= 0"),
    (opt.OptunaTPE, {"multivariate": "yes"}, "multivariate must be true or false"),
    (opt.OptunaQMC, {"qmc_type": "lhs"}, "qmc_type must be one of 'sobol', 'halton'"),
    (opt.OptunaCMAES, {"restart_strategy": "bogus"}, "restart_strategy must be one of"),
    (opt.OptunaNSGA2, {"population_size": 1}, "population_size must be >= 2"),
    (opt.OptunaGrid, {"resolution": 0}, "resolution must be >= 1"),
    (opt.OptunaGrid, {"max_points": 10}, "lower `resolution` or raise `max_points`"),
    (opt.OptunaHyperband, {"reduction_factor": 1}, "reduction_factor must be >= 2"),
])
def test_bad_options_are_clear_errors(cls, options, message) -> None:
    if getattr(cls, "unavailable", None):
        pytest.skip(cls.unavailable)
    with pytest.raises(RunnerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls(mixed_space(), Direction.MINIMIZE, 0, None, **options)


def test_failures_and_pruned_trials_reach_optuna_with_their_states() -> None:
    runner = opt.OptunaTPE(SMALL, Direction.MAXIMIZE, 0, pruner="median")
    for status, value in [(Status.OK, 1.0), (Status.FAILED, None), (Status.PRUNED, 0.5)]:
        config = runner.ask()
        runner.tell(config, Outcome(status, value, 2, (0.1, 0.5)))
    trials = runner._study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]
    assert trials[0].intermediate_values == {1: 0.1, 2: 0.5}
    assert trials[0].value == 1.0 and runner._study.direction.name == "MAXIMIZE"


def test_a_foreign_configuration_replaces_the_pending_trial() -> None:
    runner = opt.OptunaRandom(SMALL, Direction.MINIMIZE, 0)
    runner.ask()
    stored = {"x": 0.5, "n": 2, "c": None}
    runner.tell(stored, Outcome(Status.OK, 3.0, 1))
    states = [(t.state, t.params) for t in runner._study.trials]
    assert states == [(TrialState.FAIL, states[0][1]), (TrialState.COMPLETE, stored)]


def test_cmaes_declares_itself_unavailable_without_the_cmaes_package(monkeypatch) -> None:
    monkeypatch.setattr(opt.OptunaCMAES, "unavailable", opt._CMAES_MISSING)
    with pytest.raises(RunnerUnavailable, match="needs the `cmaes` package"):
        opt.OptunaCMAES(SMALL, Direction.MINIMIZE, 0)


def test_translation_audit_flags_what_each_sampler_cannot_model() -> None:
    space = mixed_space()
    tpe = {r.name: r for r in translate(opt.OptunaTPE, space)}
    assert not any(r.lossy for r in tpe.values())
    assert tpe["lr"].library == "FloatDistribution(1e-05, 1, log=True)"
    assert tpe["width"].library == "IntDistribution(4, 512, log=True)"
    assert tpe["momentum"].library.endswith("suggested only when active (define-by-run)")
    cma = {r.name: r for r in translate(opt.OptunaCMAES, space)}
    assert cma["optimizer"].lossy and "numeric" in cma["optimizer"].reason
    assert cma["depth"].lossy and "rounded" in cma["depth"].reason
    assert not {r.name: r for r in translate(opt.OptunaCMAES, space, {"with_margin": True})}[
        "depth"].lossy
    assert cma["momentum"].lossy and "independent" in cma["momentum"].reason
    assert not cma["lr"].lossy
    grid = {r.name: r for r in translate(opt.OptunaGrid, space, {"resolution": 3})}
    assert grid["lr"].lossy and grid["lr"].library.startswith("GridSampler axis of 3")
    assert not grid["optimizer"].lossy
