"""scikit-optimize runners: proposal by proposal against skopt's own ask/tell loop, the failure rule,
options passed through to ``skopt.Optimizer``, GBRT's declared absence."""

from __future__ import annotations

import pytest
import skopt
from skopt.space import Categorical as SkCategorical
from skopt.space import Integer, Real

from tunebench import registry
from tunebench.runners import skopt_runner as sr
from tunebench.runners.base import Outcome, RunnerError, RunnerUnavailable, Status
from tunebench.runners.conformance import FIDELITY, mixed_space, objective
from tunebench.runners.skopt_space import to_config
from tunebench.runners.translation import translate
from tunebench.space import Categorical, Config, Direction, Float, Int, Space

SEED = 7
FLAT = Space({"x": Float(-5.0, 10.0), "y": Float(1e-3, 10.0, log=True), "k": Int(1, 8),
              "c": Categorical(("a", "b", "c"))})
def flat_dimensions() -> list:
    """FLAT as a skopt user writes it (fresh objects: skopt's GP rescales dimensions in place)."""
    return [Real(-5.0, 10.0), Real(1e-3, 10.0, prior="log-uniform"), Integer(1, 8),
            SkCategorical(["a", "b", "c"])]


def mixed_dimensions() -> list:
    """mixed_space() as a skopt user writes it: every parameter a dimension (no conditions)."""
    return [
        Real(1e-5, 1.0, prior="log-uniform"), Integer(4, 512, prior="log-uniform"), Integer(1, 6),
        Real(0.0, 0.5), SkCategorical(["sgd", "adam", "rmsprop"]), Real(0.0, 0.99),
        SkCategorical([True, False]), Real(0.01, 0.5, prior="log-uniform"),
        SkCategorical(["constant", "cosine", None]), Integer(0, 10),
    ]


def plain_loop(space: Space, dims: list, n: int, **kwargs: object) -> list[Config]:
    """skopt's own loop: ask, evaluate the active parameters, tell."""
    opt = skopt.Optimizer(dims, random_state=SEED, **kwargs)
    proposed = []
    with sr.quiet():
        for _ in range(n):
            point = opt.ask()
            config = to_config(space, point)
            proposed.append(config)
            opt.tell(point, objective(space, config))
    return proposed


def runner_loop(name: str, space: Space, n: int, direction: Direction = Direction.MINIMIZE,
                **options: object) -> list[Config]:
    runner = registry.make_runner(name, space, direction, SEED, None, dict(options))
    proposed = []
    for _ in range(n):
        config = runner.ask()
        proposed.append(config)
        value = objective(space, config) * direction.sign
        runner.tell(config, Outcome(Status.OK, value, 1))
    return proposed


@pytest.mark.parametrize(("name", "space", "dims", "n", "kwargs"), [
    ("skopt.gp", FLAT, flat_dimensions, 14, {}),
    ("skopt.rf", FLAT, flat_dimensions, 20, {"base_estimator": "RF"}),
    ("skopt.et", mixed_space(), mixed_dimensions, 20, {"base_estimator": "ET"}),
    ("skopt.rf", mixed_space(), mixed_dimensions, 16, {"base_estimator": "RF"}),
], ids=["gp-flat", "rf-flat", "et-mixed", "rf-mixed"])
def test_runner_proposes_what_skopts_own_loop_proposes(name, space, dims, n, kwargs) -> None:
    ours = runner_loop(name, space, n)
    theirs = plain_loop(space, dims(), n, **kwargs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"trial {i}: tunebench proposed {a}, skopt's loop {b}"
    assert len({str(c) for c in ours[10:]}) > 1  # model-based proposals are compared too


def test_maximising_tells_skopt_the_negated_value() -> None:
    assert runner_loop("skopt.rf", FLAT, 14, Direction.MAXIMIZE) == runner_loop("skopt.rf", FLAT, 14)


def test_failures_are_told_as_the_worst_loss_so_far_and_not_before_any() -> None:
    runner = sr.SkoptRF(FLAT, Direction.MINIMIZE, SEED)
    failed = Outcome(Status.FAILED, None, 0)
    runner.tell(runner.ask(), failed)
    assert runner._optimizer.yi == []  # nothing to compare with yet: not told
    for value in (3.0, 5.0, 1.0):
        runner.tell(runner.ask(), Outcome(Status.OK, value, 1))
    runner.tell(runner.ask(), failed)
    assert runner._optimizer.yi == [3.0, 5.0, 1.0, 5.0]
    assert runner._optimizer._n_initial_points == 10 - 4  # only told points use up the design


def test_defaults_are_skopts_and_are_recorded() -> None:
    runner = sr.SkoptGP(FLAT, Direction.MINIMIZE, SEED)
    resolved = runner.resolved_options()
    assert resolved["n_initial_points"] == 10
    assert resolved["acq_func"] == "gp_hedge"
    assert resolved["acq_optimizer"] == "auto"
    assert resolved["acq_optimizer_resolved"] == runner._optimizer.acq_optimizer == "lbfgs"
    assert resolved["base_estimator"] == "GP" and resolved["random_state"] == SEED
    assert resolved["n_points"] == 10000 and resolved["n_restarts_optimizer"] == 5
    forest = sr.SkoptRF(FLAT, Direction.MINIMIZE, SEED).resolved_options()
    assert forest["acq_optimizer_resolved"] == "sampling"  # RF has no gradients: skopt samples


def test_options_are_passed_through_and_validated() -> None:
    runner = sr.SkoptGP(FLAT, Direction.MINIMIZE, SEED, n_initial_points=3, acq_func="EI")
    assert runner._optimizer.n_initial_points_ == 3 and runner._optimizer.acq_func == "EI"
    assert runner.resolved_options()["acq_func"] == "EI"
    with pytest.raises(RunnerError, match="did you mean 'n_initial_points'"):
        sr.SkoptGP(FLAT, Direction.MINIMIZE, SEED, n_initial_point=3)
    with pytest.raises(RunnerError, match="set by tunebench"):
        sr.SkoptGP(FLAT, Direction.MINIMIZE, SEED, random_state=3)
    with pytest.raises(RunnerError, match="must be an integer"):
        sr.SkoptGP(FLAT, Direction.MINIMIZE, SEED, n_initial_points="many")
    with pytest.raises(RunnerError, match=r"skopt\.Optimizer rejected"):
        sr.SkoptGP(FLAT, Direction.MINIMIZE, SEED, acq_func="nope")  # skopt's own refusal


def test_translation_is_native_with_conditions_flattened() -> None:
    rows = {r.name: r for r in translate(sr.SkoptGP, mixed_space())}
    assert rows["width"].library == "Integer(4, 512, prior='log-uniform')"
    assert rows["lr"].library == "Real(1e-05, 1, prior='log-uniform')"
    assert rows["schedule"].library == "Categorical(['constant', 'cosine', None])"
    assert not rows["lr"].lossy
    assert rows["dampening"].lossy and "dropped when inactive" in rows["dampening"].reason


def test_gbrt_is_declared_unavailable_exactly_when_skopt_refuses_it() -> None:
    cls = registry.get_runner_class("skopt.gbrt")
    try:
        skopt.Optimizer([Real(0.0, 1.0)], base_estimator="GBRT", random_state=0)
        refused = False
    except ValueError:
        refused = True
    assert bool(cls.unavailable) is refused
    if refused:
        assert "unavailable" in cls.capabilities.notes
        with pytest.raises(RunnerUnavailable, match="is not a regressor"):
            cls(FLAT, Direction.MINIMIZE, SEED)


def parallel_loop(space: Space, dims: list, n: int, k: int, strategy: str,
                  **kwargs: object) -> list[Config]:
    """skopt's own parallel loop (its documentation's): ask k points, evaluate them, tell them."""
    opt = skopt.Optimizer(dims, random_state=SEED, **kwargs)
    proposed: list[Config] = []
    with sr.quiet():
        while len(proposed) < n:
            points = opt.ask(n_points=k, strategy=strategy)
            configs = [to_config(space, point) for point in points]
            proposed += configs
            # the value the conformance evaluation reports at full fidelity
            opt.tell(points, [1.0 * objective(space, c) * (1.0 + 1.0 / FIDELITY) for c in configs])
    return proposed[:n]


@pytest.mark.parametrize(("name", "dims", "k", "strategy", "kwargs"), [
    ("skopt.rf", flat_dimensions, 3, "cl_min", {"base_estimator": "RF"}),
    ("skopt.gp", flat_dimensions, 2, "cl_mean", {}),
], ids=["rf-3-cl_min", "gp-2-cl_mean"])
def test_in_flight_the_runner_is_skopts_parallel_loop(name, dims, k, strategy, kwargs) -> None:
    """k evaluations in flight, completing out of order: batches of k constant-liar points,
    each batch told at once (in batch order), point for point what skopt's own loop proposes."""
    from tunebench.runners.base import BudgetInfo
    from tunebench.runners.conformance import drive_batch

    n = 18
    runner = registry.make_runner(name, FLAT, Direction.MINIMIZE, SEED,
                                  BudgetInfo("trials", n, in_flight=k), {"strategy": strategy})
    trials = drive_batch(runner, FLAT, n, k=k, fail=lambda index: False)
    theirs = parallel_loop(FLAT, dims(), n, k, strategy, **kwargs)
    assert sorted(map(str, (t.config for t in trials))) == sorted(map(str, theirs))
    assert [str(t.config) for t in trials] != [str(c) for c in theirs]  # told out of order
    assert len({str(c) for c in theirs[10:]}) > 1  # model-based batches are compared too
    assert runner.resolved_options()["batch_size"] == k
