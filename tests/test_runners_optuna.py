"""optuna runners: options passed through to samplers and pruners, the pruners' fidelity range,
the grid, trial states and the translation audit."""

from __future__ import annotations

import re

import optuna
import pytest
from optuna.trial import TrialState

from tunebench.runners import optuna_options as oo
from tunebench.runners import optuna_runner as opt
from tunebench.runners.base import BudgetInfo, Outcome, RunnerError, RunnerUnavailable, Status
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
    (opt.OptunaTPE, {"pruner": "early"}, "option pruner must be one of"),
    (opt.OptunaTPE, {"group": True, "multivariate": False},
     "optuna.samplers.TPESampler rejected the options {'group': True, 'multivariate': False}"),
    (opt.OptunaTPE, {"n_startup_trials": -1}, "option n_startup_trials must be >= 0"),
    (opt.OptunaTPE, {"multivariate": "yes"},
     "option multivariate of optuna.samplers.TPESampler must be true or false, got 'yes'"),
    (opt.OptunaTPE, {"n_startup_trials": 2.5}, "must be an integer, got 2.5"),
    (opt.OptunaTPE, {"gamma": 0.25}, "takes Callable[[int], int], which a suite file cannot express"),
    (opt.OptunaTPE, {"n_ei_candidate": 48}, "has no option(s) 'n_ei_candidate' (did you mean "
                                            "'n_ei_candidates'?)"),
    (opt.OptunaQMC, {"qmc_type": "lhs"}, "QMCSampler rejected the options {'qmc_type': 'lhs'}"),
    (opt.OptunaNSGA2, {"population_size": 1}, "`population_size` must be greater than or equal to 2"),
    (opt.OptunaGrid, {"resolution": 0}, "resolution must be >= 1"),
    (opt.OptunaGrid, {"max_points": 10}, "lower `resolution` or raise `max_points`"),
    (opt.OptunaHyperband, {"reduction_factor": 1}, "option reduction_factor must be >= 2"),
    (opt.OptunaTPE, {"pruner": "median", "pruner_options": {"n_warmup": 1}},
     "optuna.pruners.MedianPruner has no pruner option(s) 'n_warmup' (did you mean 'n_warmup_steps'?)"),
    (opt.OptunaTPE, {"pruner": "median", "pruner_options": 3}, "pruner_options must be a table"),
    (opt.OptunaRandom, {"pruner_options": {"n_warmup_steps": 1}}, "NopPruner has no pruner option"),
    (opt.OptunaRandom, {"pruner": "percentile"}, "needs pruner option(s) percentile"),
])
def test_bad_options_are_clear_errors(cls, options, message) -> None:
    if getattr(cls, "unavailable", None):
        pytest.skip(cls.unavailable)
    with pytest.raises(RunnerError, match=re.escape(message)):
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


def test_sampler_keywords_reach_optuna_and_are_recorded() -> None:
    runner = opt.OptunaTPE(SMALL, Direction.MINIMIZE, 0, n_ei_candidates=48, constant_liar=False)
    sampler = runner._study.sampler
    assert sampler._n_ei_candidates == 48 and sampler._constant_liar is False
    record = runner.resolved_options()
    assert record["n_ei_candidates"] == 48 and record["constant_liar"] is False
    assert record["n_startup_trials"] == 10 and record["pruner"] == "none"  # optuna's defaults
    assert set(record) == set(opt.OptunaTPE.accepted_options())


def test_a_deprecated_keyword_shows_optunas_own_warning() -> None:
    with pytest.warns(FutureWarning, match="restart_strategy"):
        opt.OptunaCMAES(SMALL, Direction.MINIMIZE, 0, restart_strategy="ipop")


def test_pruner_options_reach_the_pruner_and_are_recorded() -> None:
    runner = opt.OptunaTPE(SMALL, Direction.MINIMIZE, 0, pruner="median",
                           pruner_options={"n_warmup_steps": 2, "n_startup_trials": 1})
    pruner = runner._study.pruner
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert pruner._n_warmup_steps == 2 and pruner._n_startup_trials == 1
    assert runner.resolved_options()["pruner_options"] == {
        "n_startup_trials": 1, "n_warmup_steps": 2, "interval_steps": 1, "n_min_trials": 1}


def test_multi_fidelity_runners_take_every_sampler_and_pruner_keyword() -> None:
    for cls in (opt.OptunaHyperband, opt.OptunaASHA):
        accepted = set(cls.accepted_options())
        assert set(oo.TPE.names()) < accepted and "pruner" not in accepted
        assert not set(oo.TPE.names()) & set(oo.PRUNER_OPTIONS[cls.fixed_pruner].names())
        runner = cls(SMALL, Direction.MINIMIZE, 0, multivariate=False, reduction_factor=2)
        assert runner._study.sampler._multivariate is False  # joint vs independent: switchable
        assert runner._study.pruner._reduction_factor == 2
        assert cls(SMALL, Direction.MINIMIZE, 0)._study.sampler._multivariate is None  # optuna's


def _drive_first_trial_stopped_early(runner: opt.OptunaRunner) -> None:
    """A first trial that stops early at 3 of 27 epochs, then a second one consulting the pruner."""
    first = runner.ask()
    runner.tell(first, Outcome(Status.OK, 0.5, 3, (0.9, 0.7, 0.5)))
    second = runner.ask()
    runner.should_prune(second, 1, 0.8)  # the pruner sets its brackets up on its first decision


def test_hyperband_brackets_follow_the_tasks_maximum_fidelity() -> None:
    info = BudgetInfo("epochs", 300, min_fidelity=1, max_fidelity=27)
    runner = opt.OptunaHyperband(SMALL, Direction.MINIMIZE, 0, info)
    _drive_first_trial_stopped_early(runner)
    pruner = runner._study.pruner
    # Hyperband with R = 27, eta = 3: s_max = log_3 27 = 3, so four brackets, trial budgets
    # ceil(4 * 3**s / (s + 1)) for s = 3, 2, 1, 0, first rungs at 1, 3, 9 and 27 epochs.
    assert pruner._max_resource == 27 and pruner._n_brackets == 4
    assert pruner._trial_allocation_budgets == [27, 12, 6, 4]
    assert [p._min_resource * 3 ** p._min_early_stopping_rate for p in pruner._pruners] == [1, 3, 9, 27]
    assert runner.resolved_options()["max_resource"] == 27
    # optuna's "auto" on the same history infers 3 + 1 epochs from the early-stopped trial.
    auto = opt.OptunaTPE(SMALL, Direction.MINIMIZE, 0, pruner="hyperband",
                         pruner_options={"max_resource": "auto"})
    _drive_first_trial_stopped_early(auto)
    assert auto._study.pruner._max_resource == 4 and auto._study.pruner._n_brackets == 2
    # The same fidelity range reaches a Hyperband chosen as a pruner option.
    chosen = opt.OptunaRandom(SMALL, Direction.MINIMIZE, 0, info, pruner="hyperband")
    assert chosen.resolved_options()["pruner_options"]["max_resource"] == 27


def test_pruner_resources_are_checked_against_the_fidelity_range_or_left_to_optuna() -> None:
    info = BudgetInfo("epochs", 90, 1, 9)
    with pytest.raises(RunnerError, match=re.escape(
            "min_resource (12) exceeds max_resource (9, the task's maximum fidelity unless given)")):
        opt.OptunaHyperband(SMALL, Direction.MINIMIZE, 0, info, min_resource=12)
    # Built without budget information (not by the harness), the pruners keep optuna's defaults.
    bare = opt.OptunaHyperband(SMALL, Direction.MINIMIZE, 0).resolved_options()
    assert (bare["min_resource"], bare["max_resource"]) == (1, "auto")
    assert opt.OptunaASHA(SMALL, Direction.MINIMIZE, 0).resolved_options()["min_resource"] == "auto"


def test_successive_halving_min_resource_follows_the_fidelity_range() -> None:
    def min_resource(info: BudgetInfo, **options) -> int:
        return opt.OptunaASHA(SMALL, Direction.MINIMIZE, 0, info, **options)._study.pruner._min_resource

    # optuna's "auto": a hundredth of the longest trial, at least 1 -- of the task's maximum
    # fidelity here, not of whichever trial completed first.
    assert min_resource(BudgetInfo("epochs", 900, 1, 300)) == 3
    assert min_resource(BudgetInfo("epochs", 90, 1, 10)) == 1
    assert min_resource(BudgetInfo("epochs", 90, 5, 10)) == 5
    assert min_resource(BudgetInfo("epochs", 90, 1, 10), min_resource=2) == 2
    assert min_resource(BudgetInfo("epochs", 90, 1, 10), min_resource="auto") is None  # optuna's rule


@pytest.mark.parametrize("cls", [opt.OptunaTPE, opt.OptunaRandom, opt.OptunaCMAES, opt.OptunaGP,
                                 opt.OptunaQMC, opt.OptunaNSGA2, opt.OptunaGrid,
                                 opt.OptunaHyperband, opt.OptunaASHA])
def test_every_optuna_runner_declares_where_it_deviates(cls) -> None:
    notes = cls.capabilities.notes
    assert oo.COMMON_NOTE in notes
    for name in getattr(cls, "sampler", oo.RANDOM).deviations:
        assert f"{name}=" in notes
