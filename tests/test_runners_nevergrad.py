"""nevergrad runners: parametrization, the failure penalty, the conditional encoding, budgets."""

from __future__ import annotations

import nevergrad as ng
import pytest
from nevergrad.optimization import optimizerlib

from tunebench.runners import nevergrad_runner as nr
from tunebench.runners.base import BudgetInfo, Outcome, RunnerError, Status
from tunebench.runners.conformance import mixed_space
from tunebench.runners.translation import translate
from tunebench.space import Categorical, Float, Int, Space
from tunebench.tasks.base import Direction


def test_parametrization_follows_the_space() -> None:
    runner = nr.NevergradDE(mixed_space(), Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 40))
    params = runner._optimizer.parametrization
    assert isinstance(params, ng.p.Dict) and set(params.value) == set(mixed_space())
    assert isinstance(params["lr"], ng.p.Log)
    assert params["depth"].integer and params["width"].integer
    assert isinstance(params["optimizer"], ng.p.Choice)
    assert runner._optimizer.budget == 40


def test_inactive_parameters_are_dropped_not_sent() -> None:
    space = mixed_space()
    runner = nr.NevergradOnePlusOne(space, Direction.MINIMIZE, 1)
    for _ in range(30):
        config = runner.ask()
        assert space.validate(config) == config
        assert ("momentum" in config) == (config["optimizer"] in ("sgd", "rmsprop"))
        runner.tell(config, Outcome(Status.OK, 1.0, 1))


def test_a_failure_is_told_as_nevergrads_clipped_infinite_loss() -> None:
    space = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    runner = nr.NevergradCMA(space, Direction.MAXIMIZE, 0)
    failed = runner.ask()
    runner.tell(failed, Outcome(Status.FAILED, None, 1))
    good = runner.ask()
    runner.tell(good, Outcome(Status.OK, 3.0, 1))
    losses = sorted(v.mean for v in runner._optimizer.archive.values())
    assert losses == [-3.0, 5.0e20]  # maximised values become losses; inf is clipped to 5e20


def test_integer_ends_are_reachable_and_stay_in_bounds() -> None:
    space = Space({"k": Int(1, 3), "c": Categorical((None, True))})
    runner = nr.NevergradPSO(space, Direction.MINIMIZE, 0)
    seen = set()
    for _ in range(200):
        config = runner.ask()
        runner.tell(config, Outcome(Status.OK, float(config["k"]), 1))
        seen.add(config["k"])
    assert seen == {1, 2, 3}


def test_translation_flags_rounded_integers_relaxed_categoricals_and_flattening() -> None:
    rows = {r.name: r for r in translate(nr.NevergradNGOpt, mixed_space())}
    assert rows["lr"].library == "ng.p.Log(lower=1e-05, upper=1)" and not rows["lr"].lossy
    assert rows["depth"].library == "ng.p.Scalar(lower=0.5, upper=6.5).set_integer_casting()"
    assert rows["depth"].lossy and "rounded" in rows["depth"].reason
    assert rows["optimizer"].lossy and "softmax" in rows["optimizer"].reason
    assert "dropped when inactive" in rows["momentum"].reason


@pytest.mark.parametrize("cls", [nr.NevergradNGOpt, nr.NevergradBO, nr.NevergradCMA,
                                 nr.NevergradPortfolio])
def test_runners_that_need_a_budget_say_so_at_construction(cls) -> None:
    space = Space({"x": Float(0.0, 1.0)})
    with pytest.raises(RunnerError, match="It needs a budget"):
        cls(space, Direction.MINIMIZE, 0, budget_info=None)
    cls(space, Direction.MINIMIZE, 0, budget_info=None, budget=20)  # the option fills in


def test_a_one_dimensional_cma_leaves_no_trace_in_nevergrads_shared_config() -> None:
    one_d = Space({"k": Int(1, 5)})  # nevergrad's CMA wants fcmaes here, which is not installed
    with pytest.raises(RunnerError, match="fcmaes"):
        nr.NevergradCMA(one_d, Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 30))
    assert not optimizerlib.OldCMA.fcmaes  # nevergrad flips this shared flag; we put it back
    nr.NevergradCMA(Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}), Direction.MINIMIZE, 0)


def test_portfolio_past_its_budget_is_a_clear_error() -> None:
    runner = nr.NevergradPortfolio(Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}),
                                   Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 4))
    for _ in range(4):
        runner.tell(runner.ask(), Outcome(Status.OK, 1.0, 1))
    with pytest.raises(RunnerError, match="planned for a budget of 4 trials"):
        runner.ask()


def test_bo_survives_repeated_points_on_a_small_discrete_space() -> None:
    runner = nr.NevergradBO(Space({"k": Int(1, 3), "c": Categorical(("a", "b"))}),
                            Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 12))
    seen = []
    for _ in range(12):
        config = runner.ask()
        runner.tell(config, Outcome(Status.OK, float(config["k"]), 1))
        seen.append(tuple(config.values()))
    assert len(set(seen)) < len(seen)  # repeats happened and were survived


def test_ngopt_refuses_a_metamodel_that_would_crash_on_numpy_2() -> None:
    import numpy as np

    space = Space({f"x{i}": Float(0.0, 1.0) for i in range(6)})
    try:
        float(np.zeros(1))  # type: ignore[arg-type]
    except TypeError:
        with pytest.raises(RunnerError, match="MetaModel"):
            nr.NevergradNGOpt(space, Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 500))
    else:  # pragma: no cover - an older numpy: the MetaModel works
        nr.NevergradNGOpt(space, Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 500))
    # budget 100: picks no MetaModel
    nr.NevergradNGOpt(space, Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 100))


def test_bo_points_a_rounding_error_outside_the_box_are_clipped_back() -> None:
    import numpy as np

    runner = nr.NevergradBO(Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}),
                            Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 10))
    data = runner._optimizer._normalizer.backward(np.array([1.0 + 1e-12, -1e-12]))
    assert np.all(np.isfinite(data))
