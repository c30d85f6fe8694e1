"""nevergrad under every budget kind: told a cap it can never overrun, never refused.

Real studies (``tunebench.run_suite`` into a real SQLite store) on two cheap tasks: one that stops
early (each trial trains 1..8 epochs, so an epochs budget runs far more trials than full-fidelity
ones fit), one that takes wall-clock time (for a device-seconds budget).
"""

from __future__ import annotations

import time

import pytest

import tunebench
from tunebench.registry import register_task
from tunebench.runners import nevergrad_runner as nr
from tunebench.runners.base import BudgetInfo, Outcome, Status
from tunebench.space import Config, Float, Space
from tunebench.suite.spec_parse import parse_suite
from tunebench.suite.store import load_studies, load_trials
from tunebench.suite.study import StudyLoop
from tunebench.tasks.base import EvalContext, Result, Task

ALL_RUNNERS = ["nevergrad.ngopt", "nevergrad.cma", "nevergrad.de", "nevergrad.pso",
               "nevergrad.oneplusone", "nevergrad.portfolio", "nevergrad.bo"]


class EarlyStopping(Task):
    """A learning curve (x − 0.3)² + (y − 0.6)² + 1/epoch whose trial stops after 1 + ⌊7x⌋ epochs,
    as a patience rule would: what a trial costs depends on its configuration."""

    name = "ng_early_stopping"
    max_fidelity = 8

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        base = (float(config["x"]) - 0.3) ** 2 + (float(config["y"]) - 0.6) ** 2
        stop = min(fidelity, 1 + int(7 * float(config["x"])))
        curve = []
        for epoch in range(1, stop + 1):
            curve.append(base + 1.0 / epoch)
            context.report(epoch, curve[-1])
        return Result(value=curve[-1], test_value=curve[-1], fidelity_spent=stop, curve=tuple(curve))


class Waiting(Task):
    """Sleeps 4 ms per evaluation (wall-clock time without using a core), then a parabola."""

    name = "ng_waiting"

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        time.sleep(0.004)
        value = (float(config["x"]) - 0.3) ** 2 + (float(config["y"]) - 0.6) ** 2
        return Result(value=value, test_value=value)


@pytest.fixture(autouse=True)
def _tasks() -> None:
    register_task(EarlyStopping)
    register_task(Waiting)


def _suite(task: str, budget: dict, runners: list[str], repetitions: int = 1) -> dict:
    return {"suite": {"name": "ng-budget", "seed": 3, "repetitions": repetitions},
            "budget": budget, "tasks": [{"name": task}],
            "runners": [{"name": name} for name in runners]}


@pytest.mark.parametrize("runner", ["nevergrad.portfolio", "nevergrad.ngopt"])
def test_an_epochs_budget_with_early_stopping_runs_to_its_end(runner: str, tmp_path) -> None:
    """32 epochs at max_fidelity 8: four full trials fit, early stopping runs many more. nevergrad
    was once told 4 and Portfolio crashed at the fifth ("planned for a budget of 4 trials")."""
    db = tmp_path / "r.db"
    summary = tunebench.run_suite(_suite("ng_early_stopping", {"epochs": 32}, [runner], 2), db,
                                  progress=False)
    assert summary.ok, summary.failed_studies
    studies, trials = load_studies(db), load_trials(db)
    assert (studies["status"] == "done").all() and studies["budget_met"].all()
    assert (studies["budget_spent"] == 32).all()
    per_study = trials.groupby("study_id").size()
    assert (per_study > 4).all()  # more trials than the 4 full ones nevergrad used to plan for
    assert (trials["status"] == "ok").all() and (trials["fidelity_spent"] < 8).any()


def test_the_cap_nevergrad_is_told_is_the_most_trials_the_study_can_run() -> None:
    info = BudgetInfo("epochs", 100, 1, 10)  # about 10 full trials, at most 100
    for cls in (nr.NevergradNGOpt, nr.NevergradPortfolio, nr.NevergradOnePlusOne):
        runner = cls(EarlyStopping().space, "minimize", 0, budget_info=info)
        resolved = runner.resolved_options()
        assert runner._optimizer.budget == 100 == resolved["budget"]
        assert resolved["budget_source"] == "max_trials" and resolved["full_trials"] == 10


def test_a_smaller_planned_budget_ends_the_study_as_search_exhausted() -> None:
    """The user may plan nevergrad for fewer trials (option budget); Portfolio then stops
    proposing, and the study ends there, saying so, with the budget left unspent."""
    spec = parse_suite({**_suite("ng_early_stopping", {"epochs": 32}, []), "runners": [
        {"name": "nevergrad.portfolio", "options": {"budget": 4}}]})
    (study,) = spec.studies()

    class Sink:
        def study_started(self, key, info) -> None:
            self.info = info

        def trial_finished(self, key, record) -> None:
            pass

    sink = Sink()
    result = StudyLoop(study, sink).run()
    assert result.search_exhausted and result.n_trials == 4 and result.budget_spent < 32
    assert sink.info["runner_resolved_options"]["budget_source"] == "option"


def test_every_nevergrad_runner_completes_a_device_seconds_study(tmp_path) -> None:
    db = tmp_path / "r.db"
    summary = tunebench.run_suite(_suite("ng_waiting", {"device_seconds": 0.08}, ALL_RUNNERS), db,
                                  progress=False)
    assert summary.ok, summary.failed_studies
    studies = load_studies(db)
    assert sorted(studies["runner"]) == sorted(ALL_RUNNERS)
    assert (studies["status"] == "done").all() and studies["budget_met"].all()
    assert (studies["n_trials"] >= 5).all() and (studies["n_failed"] == 0).all()


def test_without_a_trial_count_nevergrad_runs_unbounded_and_ngopt_plans_for_100() -> None:
    info = BudgetInfo("device_seconds", 60.0)
    space = Waiting().space
    for cls in (nr.NevergradCMA, nr.NevergradDE, nr.NevergradPSO, nr.NevergradOnePlusOne,
                nr.NevergradPortfolio):
        runner = cls(space, "minimize", 0, budget_info=info)
        assert runner._optimizer.budget is None and runner.resolved_options()["budget"] is None
    portfolio = nr.NevergradPortfolio(space, "minimize", 0, budget_info=info)
    assert portfolio.resolved_options()["chosen_optimizers"] == ["MetaCMA", "TwoPointsDE"]
    bo = nr.NevergradBO(space, "minimize", 0, budget_info=info)
    assert bo.resolved_options()["init_budget"] == 5 and bo._optimizer.budget is None
    ngopt = nr.NevergradNGOpt(space, "minimize", 0, budget_info=info)
    assert ngopt.resolved_options()["budget"] == nr.PLAN_WITHOUT_COUNT == 100
    seen = set()
    for _ in range(150):  # past its plan: the chosen Cobyla is done, nevergrad goes on sampling
        config = ngopt.ask()
        ngopt.tell(config, Outcome(Status.OK, (config["x"] - 0.3) ** 2, 1))
        seen.add(tuple(config.values()))
    assert len(seen) > 100
