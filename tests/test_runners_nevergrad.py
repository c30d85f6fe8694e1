"""nevergrad runners: parametrization, the failure penalty, the conditional encoding, budgets."""

from __future__ import annotations

import json
import math
import re
import warnings

import nevergrad as ng
import numpy as np
import pytest
from nevergrad.optimization import optimizerlib

from tunebench.runners import nevergrad_runner as nr
from tunebench.runners.base import BudgetInfo, Outcome, RunnerError, SearchExhausted, Status
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


def test_a_one_dimensional_cma_leaves_no_trace_in_nevergrads_shared_config() -> None:
    one_d = Space({"k": Int(1, 5)})  # nevergrad's CMA wants fcmaes here, which is not installed
    with pytest.raises(RunnerError, match="fcmaes"):
        nr.NevergradCMA(one_d, Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 30))
    assert not optimizerlib.OldCMA.fcmaes  # nevergrad flips this shared flag; we put it back
    nr.NevergradCMA(Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}), Direction.MINIMIZE, 0)


def test_bo_survives_repeated_points_on_a_small_discrete_space() -> None:
    runner = nr.NevergradBO(Space({"k": Int(1, 3), "c": Categorical(("a", "b"))}),
                            Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 12))
    seen = []
    for _ in range(12):
        config = runner.ask()
        runner.tell(config, Outcome(Status.OK, float(config["k"]), 1))
        seen.append(tuple(config.values()))
    assert len(set(seen)) < len(seen)  # repeats happened and were survived


def test_ngopts_metamodel_runs_to_its_end_on_numpy_2() -> None:
    """nevergrad 1.0.12's MetaModel calls float() on a one-element array (numpy 2.4 refuses it):
    NGOpt chooses MetaModel here and the study runs all 100 trials to nevergrad's optimum."""
    runner = nr.NevergradNGOpt(Space({"x": Float(0.0, 1.0)}), Direction.MINIMIZE, 0,
                               budget_info=BudgetInfo("trials", 100))
    assert runner.resolved_options()["chosen_optimizers"] == ["MetaModel"]
    for _ in range(100):
        config = runner.ask()
        runner.tell(config, Outcome(Status.OK, (config["x"] - 0.3) ** 2, 1))
    assert abs(runner.recommendation()["x"] - 0.3) < 1e-6


def test_bo_points_a_rounding_error_outside_the_box_are_clipped_back() -> None:
    import numpy as np

    runner = nr.NevergradBO(Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}),
                            Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 10))
    data = runner._optimizer._normalizer.backward(np.array([1.0 + 1e-12, -1e-12]))
    assert np.all(np.isfinite(data))


def test_portfolio_past_a_budget_set_by_option_ends_the_search_not_the_process() -> None:
    runner = nr.NevergradPortfolio(Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}),
                                   Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 10),
                                   budget=4)
    assert runner.resolved_options()["budget_source"] == "option"
    for _ in range(4):
        runner.tell(runner.ask(), Outcome(Status.OK, 1.0, 1))
    with pytest.raises(SearchExhausted, match="planned for a budget of 4 trials"):
        runner.ask()


# ---------------------------------------------------------------- the plain nevergrad loop
def _branin(x: float, y: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


_BRANIN_INT = Space({"x": Float(-5.0, 10.0), "y": Float(0.0, 15.0), "k": Int(1, 4)})


def _plain_nevergrad(optimizer: object, seed: int, budget: int, n: int) -> list[tuple]:
    """nevergrad used as its documentation shows, on the parametrization written out by hand."""
    params = ng.p.Dict(x=ng.p.Scalar(lower=-5.0, upper=10.0), y=ng.p.Scalar(lower=0.0, upper=15.0),
                       k=ng.p.Scalar(lower=0.5, upper=4.5).set_integer_casting())
    params.random_state.seed(seed)
    factory = ng.optimizers.registry[optimizer] if isinstance(optimizer, str) else optimizer
    proposals = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = factory(parametrization=params, budget=budget, num_workers=1)
        for _ in range(n):
            candidate = opt.ask()
            x, y, k = candidate.value["x"], candidate.value["y"], candidate.value["k"]
            proposals.append((x, y, k))
            opt.tell(candidate, _branin(x, y) + k)
    return proposals


def _tunebench(runner: nr.NevergradRunner, n: int) -> list[tuple]:
    proposals = []
    for _ in range(n):
        config = runner.ask()
        proposals.append((config["x"], config["y"], config["k"]))
        runner.tell(config, Outcome(Status.OK, _branin(config["x"], config["y"]) + config["k"], 1))
    return proposals


@pytest.mark.parametrize("cls", [nr.NevergradNGOpt, nr.NevergradCMA, nr.NevergradDE, nr.NevergradPSO,
                                 nr.NevergradOnePlusOne, nr.NevergradPortfolio, nr.NevergradBO])
def test_default_options_propose_what_plain_nevergrad_proposes(cls) -> None:
    budget, n = (8, 8) if cls is nr.NevergradBO else (30, 30)
    runner = cls(_BRANIN_INT, Direction.MINIMIZE, 7, budget_info=BudgetInfo("trials", budget))
    json.dumps(runner.resolved_options())  # stored with the study: plain JSON
    ours, theirs = _tunebench(runner, n), _plain_nevergrad(cls.optimizer, 7, budget, n)
    if cls is nr.NevergradBO:  # the declared deviation: points kept 1e-9 (of the range) inside
        # the box; the GP then fits the nudged points, so later proposals move by ~1e-7
        assert np.allclose(ours, theirs, rtol=0, atol=1e-6) and ours != theirs
    else:
        assert ours == theirs


def test_library_options_reach_nevergrad_and_are_recorded() -> None:
    # noise_handling arrives from TOML as a list; nevergrad wants a (str, float) tuple
    options = {"mutation": "cauchy", "noise_handling": ["optimistic", 0.5]}
    runner = nr.NevergradOnePlusOne(_BRANIN_INT, Direction.MINIMIZE, 3,
                                    budget_info=BudgetInfo("trials", 25), **options)
    resolved = runner.resolved_options()
    assert resolved["mutation"] == "cauchy" and resolved["noise_handling"] == ["optimistic", 0.5]
    assert resolved["crossover"] is False and resolved["tabu_length"] == 0  # nevergrad's defaults
    plain = optimizerlib.ParametrizedOnePlusOne(mutation="cauchy", noise_handling=("optimistic", 0.5))
    assert _tunebench(runner, 25) == _plain_nevergrad(plain, 3, 25, 25)


def test_accepted_options_are_nevergrads_own_keywords() -> None:
    assert set(nr.NevergradOnePlusOne.accepted_options()) >= {
        "budget", "num_workers", "parametrization", "noise_handling", "mutation", "crossover"}
    assert set(nr.NevergradDE.accepted_options()) >= {"crossover", "F1", "F2", "popsize"}
    assert set(nr.NevergradPortfolio.accepted_options()) >= {"optimizers", "warmup_ratio"}
    assert nr.NevergradNGOpt.accepted_options() == ["budget", "num_workers", "parametrization"]
    de = nr.NevergradDE(_BRANIN_INT, Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 20))
    assert de.resolved_options()["crossover"] == "twopoints"  # the registry entry's value


@pytest.mark.parametrize("runner, options, message", [
    ("nevergrad.oneplusone", {"mutaton": "cauchy"}, "did you mean 'mutation'"),
    ("nevergrad.oneplusone", {"mutation": 3}, "option mutation=3 does not fit"),
    ("nevergrad.oneplusone", {"mutation": "bogus"}, "Unkwnown mutation: 'bogus'"),
    ("nevergrad.portfolio", {"optimizers": ["CMA", "TwoPointDE"]}, "did you mean 'TwoPointsDE'"),
    ("nevergrad.de", {"num_workers": 0}, "num_workers must be >= 1"),
    ("nevergrad.pso", {"parametrization": "boxed"}, "must be one of 'bounded', 'unbounded'"),
])
def test_bad_library_options_are_clear_errors(runner: str, options: dict, message: str) -> None:
    from tunebench.registry import RegistryError, make_runner

    with pytest.raises(RegistryError, match=re.escape(message)):
        make_runner(runner, _BRANIN_INT, Direction.MINIMIZE, 0, BudgetInfo("trials", 20), options)


def test_portfolio_members_and_workers_are_passed_and_recorded() -> None:
    runner = nr.NevergradPortfolio(_BRANIN_INT, Direction.MINIMIZE, 0,
                                   budget_info=BudgetInfo("trials", 20),
                                   optimizers=["OnePlusOne", "TwoPointsDE"], num_workers=2)
    resolved = runner.resolved_options()
    assert resolved["chosen_optimizers"] == ["OnePlusOne", "TwoPointsDE"]
    assert resolved["optimizers"] == ["OnePlusOne", "TwoPointsDE"] and resolved["num_workers"] == 2
    assert runner._optimizer.num_workers == 2
    _tunebench(runner, 20)


def test_unbounded_parametrization_is_nevergrads_default_scalar() -> None:
    space = Space({"a": Float(-10.0, 10.0), "n": Int(-5, 5), "c": Categorical(("u", "v"))})
    runner = nr.NevergradOnePlusOne(space, Direction.MINIMIZE, 0, parametrization="unbounded")
    params = runner._optimizer.parametrization
    assert params["a"].value == 0.0 and params["a"].bounds == (None, None)
    assert float(params["a"].sigma.value) == 1.0 and params["n"].integer
    rows = {r.name: r for r in translate(nr.NevergradOnePlusOne, space,
                                         {"parametrization": "unbounded"})}
    assert rows["a"].library == "ng.p.Scalar()" and "clipped onto the bounds" in rows["a"].reason
    with pytest.raises(RunnerError, match="log-scale parameter"):
        nr.NevergradOnePlusOne(mixed_space(), Direction.MINIMIZE, 0, parametrization="unbounded")


def test_ngopts_choice_is_recorded_and_a_seed_free_choice_is_declared() -> None:
    branin = Space({"x1": Float(-5.0, 10.0), "x2": Float(0.0, 15.0)})
    seen = []
    for seed in (0, 1):
        runner = nr.NevergradNGOpt(branin, Direction.MINIMIZE, seed,
                                   budget_info=BudgetInfo("trials", 20))
        resolved = runner.resolved_options()
        assert resolved["chosen_optimizers"] == ["Cobyla"] and resolved["deterministic"] is True
        seen.append([tuple(c.values()) for c in (_ask_tell(runner) for _ in range(20))])
    assert seen[0] == seen[1]  # what "deterministic" declares: the seed changes nothing
    assert "deterministic=true" in nr.NevergradNGOpt.capabilities.notes
    one = nr.NevergradOnePlusOne(branin, Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 20))
    assert one.resolved_options()["deterministic"] is False


def _ask_tell(runner: nr.NevergradRunner) -> dict:
    config = runner.ask()
    runner.tell(config, Outcome(Status.OK, _branin(*config.values()), 1))
    return config


def test_a_clock_seeded_choice_is_declared_unreproducible() -> None:
    """At 1000 trials in 6-D NGOpt wraps CmaFmin2 (cma.fmin, seeded from the clock): two runners
    with one seed propose different points, and the runner says so instead of claiming replay."""
    space = Space({f"x{i}": Float(0.0, 1.0) for i in range(6)})
    runs = []
    for _ in range(2):
        runner = nr.NevergradNGOpt(space, Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 1000))
        assert runner.resolved_options()["reproducible"] is False
        assert runner.capabilities.exact_replay is False
        runs.append([_ask_tell_sum(runner) for _ in range(30)])
    assert runs[0] != runs[1]
    assert nr.NevergradNGOpt.capabilities.exact_replay  # the class still replays its other choices
    cobyla = nr.NevergradNGOpt(space, Direction.MINIMIZE, 0, budget_info=BudgetInfo("trials", 20))
    assert cobyla.resolved_options()["reproducible"] is True


def _ask_tell_sum(runner: nr.NevergradRunner) -> tuple:
    config = runner.ask()
    runner.tell(config, Outcome(Status.OK, sum((v - 0.3) ** 2 for v in config.values()), 1))
    return tuple(config.values())


def _plain_two_objectives(optimizer: str, seed: int, budget: int) -> list[tuple]:
    """nevergrad's multi-objective loop as its documentation shows: a list of losses per tell."""
    params = ng.p.Dict(x=ng.p.Scalar(lower=-5.0, upper=10.0), y=ng.p.Scalar(lower=0.0, upper=15.0),
                       k=ng.p.Scalar(lower=0.5, upper=4.5).set_integer_casting())
    params.random_state.seed(seed)
    proposals = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = ng.optimizers.registry[optimizer](parametrization=params, budget=budget,
                                                num_workers=1)
        for i in range(budget):
            candidate = opt.ask()
            x, y, k = candidate.value["x"], candidate.value["y"], candidate.value["k"]
            proposals.append((x, y, k))
            if i % 7 == 3:  # a failed trial: the ceiling nevergrad clips single losses to
                opt.tell(candidate, [5.0e20, 5.0e20])
            else:  # the second objective is maximised: its loss is its negative
                opt.tell(candidate, [_branin(x, y), -(x + y + k)])
    return proposals


@pytest.mark.parametrize("cls", [nr.NevergradNGOpt, nr.NevergradDE, nr.NevergradOnePlusOne,
                                 nr.NevergradPortfolio, nr.NevergradCMA, nr.NevergradPSO])
def test_a_multi_objective_study_proposes_what_plain_nevergrad_proposes(cls) -> None:
    from tunebench.space import Objective

    objectives = (Objective("f", Direction.MINIMIZE, reference=400.0),
                  Objective("g", Direction.MAXIMIZE, reference=0.0))
    runner = cls(_BRANIN_INT, Direction.MINIMIZE, 7,
                 budget_info=BudgetInfo("trials", 40, objectives=objectives))
    ours = []
    for i in range(40):
        config = runner.ask()
        x, y, k = config["x"], config["y"], config["k"]
        ours.append((x, y, k))
        if i % 7 == 3:
            outcome = Outcome(Status.FAILED, None, 1)
        else:
            f, g = _branin(x, y), x + y + k
            outcome = Outcome(Status.OK, f, 1, values=(f, g))
        runner.tell(config, outcome)
    assert ours == _plain_two_objectives(cls.optimizer, 7, 40)
    assert runner._optimizer.num_objectives == 2


def test_bo_is_refused_for_several_objectives() -> None:
    assert not nr.NevergradBO.capabilities.multi_objective
    assert nr.NevergradDE.capabilities.multi_objective
