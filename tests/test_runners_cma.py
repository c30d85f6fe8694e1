"""pycma runner: proposal by proposal against pycma's own ask/tell loop, per-generation tells,
isolation from numpy's global generator, the seed-0 rule, IPOP and BIPOP restarts against
``cma.fmin``'s own, and options."""

from __future__ import annotations

import math
import warnings

import cma
import numpy as np
import pytest

from tunebench import registry
from tunebench.runners import cma_runner as cr
from tunebench.runners.base import Outcome, RunnerError, SearchExhausted, Status
from tunebench.runners.conformance import mixed_space, objective
from tunebench.runners.translation import translate
from tunebench.space import Categorical, Config, Direction, Float, Int, Space

SEED = 7
FLAT = Space({"x": Float(-5.0, 10.0), "y": Float(1e-3, 10.0, log=True), "k": Int(1, 8),
              "c": Categorical(("a", "b", "c"))})


def decode(space: Space, x: np.ndarray) -> Config:
    config: Config = {}
    for name, u in zip(space, x, strict=True):
        if space.is_active(name, config):
            config[name] = space[name].from_unit(float(u))
    return config


def plain_loop(space: Space, n: int, seed: int = SEED, **opts: object) -> list[Config]:
    """pycma's own loop on the unit cube: ask a population, evaluate it, tell it."""
    es = cma.CMAEvolutionStrategy([0.5] * len(space), 0.25,
                                  {"bounds": [0, 1], "seed": seed, "verbose": -9, "verb_log": 0,
                                   **opts})
    proposed: list[Config] = []
    while len(proposed) < n:
        population = es.ask()
        configs = [decode(space, x) for x in population]
        proposed += configs
        es.tell(population, [objective(space, c) for c in configs])
    return proposed[:n]


def drive(runner: cr.CMAESRunner, space: Space, n: int, sign: float = 1.0) -> list[Config]:
    proposed = []
    for _ in range(n):
        config = runner.ask()
        proposed.append(config)
        runner.tell(config, Outcome(Status.OK, sign * objective(space, config), 1))
    return proposed


@pytest.mark.parametrize(("space", "n"), [(FLAT, 40), (mixed_space(), 50)], ids=["flat", "mixed"])
def test_runner_proposes_what_pycmas_own_loop_proposes(space: Space, n: int) -> None:
    runner = registry.make_runner("cma.cmaes", space, Direction.MINIMIZE, SEED, None, {})
    ours = drive(runner, space, n)
    theirs = plain_loop(space, n)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"trial {i}: tunebench proposed {a}, pycma's loop {b}"
    assert runner._es.countiter >= 4  # several generations told, not one population


def test_pycma_is_told_once_per_generation() -> None:
    runner = cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED)
    popsize = runner.resolved_options()["popsize"]
    assert popsize == int(4 + 3 * math.log(len(FLAT)))  # pycma's default formula
    for i in range(popsize):
        assert runner._es.countiter == 0, f"told before the generation was complete (trial {i})"
        drive(runner, FLAT, 1)
    assert runner._es.countiter == 1


def test_other_users_of_numpys_global_generator_change_nothing() -> None:
    alone = drive(cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED), FLAT, 24)
    a, b = (cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED) for _ in range(2))
    interleaved: list[Config] = []
    np.random.seed(123)
    for _ in range(24):
        interleaved += drive(a, FLAT, 1)
        np.random.rand(5)  # someone else draws from the global generator
        drive(b, FLAT, 1)
    assert interleaved == alone
    state = np.random.get_state()
    drive(cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED), FLAT, 3)
    assert np.array_equal(np.random.get_state()[1], state[1])  # and it is left as it was


def test_seed_zero_is_not_the_clock() -> None:
    assert cr.cma_seed(0) == 2**32 - 1 and cr.cma_seed(5) == 5
    first, second = (drive(cr.CMAESRunner(FLAT, Direction.MINIMIZE, 0), FLAT, 12) for _ in range(2))
    assert first == second == plain_loop(FLAT, 12, seed=2**32 - 1)
    assert cr.CMAESRunner(FLAT, Direction.MINIMIZE, 0).resolved_options()["cma_seed"] == 2**32 - 1


def test_a_failed_trial_is_told_as_nan_which_pycma_replaces_by_the_median() -> None:
    runner = cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED)
    popsize = runner.resolved_options()["popsize"]
    values = [float(i) for i in range(popsize)]
    for i in range(popsize):
        config = runner.ask()
        failed = i == 0
        runner.tell(config, Outcome(Status.FAILED, None, 0) if failed else Outcome(Status.OK, values[i], 1))
    told = list(runner._es.fit.fit)
    median = float(np.median(values[1:]))
    assert median in values[1:]  # an odd count of real values: the median is one of them ...
    assert told.count(median) == 2 and 0.0 not in told  # ... and the failure was told as it too


def test_termination_ends_the_study_or_restarts_with_a_doubled_population() -> None:
    runner = cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED, maxiter=2)
    popsize = runner.resolved_options()["popsize"]
    drive(runner, FLAT, 2 * popsize)
    with pytest.raises(SearchExhausted, match="maxiter"):
        runner.ask()
    restarting = cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED, maxiter=2, restarts=1)
    ours = drive(restarting, FLAT, 2 * popsize + 2 * popsize)
    assert restarting._es.sp.popsize == 2 * popsize
    # cma.fmin's restart: the same start, popsize times incpopsize, seed + 1
    assert ours[2 * popsize:] == plain_loop(FLAT, 2 * popsize, seed=SEED + 1, maxiter=2,
                                            popsize=2 * popsize)


def test_options_are_pycmas_and_validated() -> None:
    runner = cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED, popsize=12, sigma0=0.1)
    assert runner._es.sp.popsize == 12 and runner._es.sigma0 == 0.1
    resolved = runner.resolved_options()
    assert resolved["popsize"] == 12 and resolved["sigma0"] == 0.1
    assert resolved["verbose"] == -9 and resolved["verb_log"] == 0
    with pytest.raises(RunnerError, match="did you mean 'popsize'"):
        cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED, popsiz=12)
    with pytest.raises(RunnerError, match="set by tunebench"):
        cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED, bounds=[0, 2])
    with pytest.raises(RunnerError, match=r"sigma0 must lie in \(0, 1\]"):
        cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED, sigma0=2.0)
    assert "popsize" in cr.CMAESRunner.accepted_options()


def test_nothing_is_written_or_printed(tmp_path, monkeypatch, capfd) -> None:
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor warned
        drive(cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED), FLAT, 20)
    assert list(tmp_path.iterdir()) == []
    assert capfd.readouterr() == ("", "")


def test_translation_declares_the_relaxations() -> None:
    rows = {r.name: r for r in translate(cr.CMAESRunner, mixed_space())}
    assert not rows["lr"].lossy and "log-scaled" in rows["lr"].library
    assert rows["optimizer"].lossy and "ordinal" in rows["optimizer"].reason
    assert rows["depth"].lossy and "rounded" in rows["depth"].reason
    assert "dropped when inactive" in rows["dampening"].reason


def fmin_evaluations(space: Space, restarts: int, bipop: bool, **opts: object) -> tuple[list, list]:
    """What ``cma.fmin`` evaluates, in order, and why each of its runs stopped (its final-mean
    evaluation off: the runner's one declared deviation)."""
    evaluated: list[Config] = []

    def loss(x: np.ndarray) -> float:
        evaluated.append(decode(space, np.asarray(x)))
        return objective(space, evaluated[-1])

    options = {"bounds": [0, 1], "seed": SEED, "verbose": -9, "verb_log": 0,
               "eval_final_mean": False, **opts}
    es = cma.fmin(loss, [0.5] * len(space), 0.25, options, restarts=restarts, bipop=bipop)[-2]
    return evaluated, [sorted(stop) for stop in es.all_stoppings[1:]]


@pytest.mark.parametrize("bipop", [False, True], ids=["ipop", "bipop"])
def test_restarts_propose_what_cma_fmin_evaluates_and_end_where_it_ends(bipop: bool) -> None:
    theirs, stops = fmin_evaluations(FLAT, 3, bipop, tolfun=1e-4)
    runner = cr.CMAESRunner(FLAT, Direction.MINIMIZE, SEED, restarts=3, bipop=bipop, tolfun=1e-4)
    ours: list[Config] = []
    runs: dict[int, tuple[bool, int, float]] = {}  # run -> (small, popsize, sigma0)
    with pytest.raises(SearchExhausted, match="3 restart"):
        while len(ours) <= len(theirs):
            ours += drive(runner, FLAT, 1)
            es = runner._es
            runs[runner._plan.runs] = (runner._plan.small, es.sp.popsize, es.sigma0)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"evaluation {i}: tunebench proposed {a}, cma.fmin evaluated {b}"
    # Large runs: populations 8, 16, 32, 65 (fmin multiplies the unrounded 4 + 3 ln 4 = 8.16) at
    # sigma0 = 0.25. BIPOP adds small runs between them, which are not counted as restarts: at a
    # random fraction of the step size, with populations between the first and the last large one.
    large = [(popsize, sigma0) for small, popsize, sigma0 in list(runs.values())[1:] if not small]
    assert large == [(16, 0.25), (32, 0.25), (65, 0.25)]
    small = [(popsize, sigma0) for small, popsize, sigma0 in list(runs.values())[1:] if small]
    assert len(runs) == len(stops) == 4 + len(small) and bool(small) == bipop
    assert all(8 <= popsize <= 32 and 0.0025 <= sigma0 < 0.25 for popsize, sigma0 in small)


@pytest.mark.parametrize("k", [2, 3, 20])
def test_a_generation_is_a_batch_and_in_flight_changes_nothing(k: int) -> None:
    """With k evaluations in flight, told out of order, the runner hands out the population and
    waits for it (k = 20 exceeds it): the proposals are those of one trial at a time."""
    from tunebench.runners.conformance import drive as one_at_a_time
    from tunebench.runners.conformance import drive_batch

    space = mixed_space()
    serial = one_at_a_time(cr.CMAESRunner(space, Direction.MINIMIZE, SEED), space, 45)
    batched = drive_batch(cr.CMAESRunner(space, Direction.MINIMIZE, SEED), space, 45, k=k)
    assert sorted(map(str, (t.config for t in batched))) == sorted(map(str, (t.config for t in serial)))
    assert cr.CMAESRunner.capabilities.batch
