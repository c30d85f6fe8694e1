"""The synthetic test functions: exact optima, minimiser locations, domains, options, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from tunebench.registry import RegistryError, get_task_class, make_task
from tunebench.space import Float, InvalidConfigError
from tunebench.tasks.base import Direction, EvalContext, TaskError
from tunebench.tasks.synthetic import (
    Ackley,
    Branin,
    Camel6,
    Hartmann3,
    Hartmann6,
    Levy,
    Rosenbrock,
    StyblinskiTang,
    SyntheticFunction,
)

SCALABLE = [Rosenbrock, StyblinskiTang, Ackley, Levy]

# Every task instance the tests sweep: fixed-dimension ones, and scalable ones in a few dimensions.
INSTANCES = [Branin(), Hartmann3(), Hartmann6(), Camel6()] + [
    cls(dim=d) for cls in SCALABLE for d in (2, 3, 7) if d >= cls.min_dim
] + [StyblinskiTang(dim=1), Ackley(dim=1), Levy(dim=1)]
IDS = [f"{t.name}-{t.dim}d" for t in INSTANCES]

# name -> (value quoted in the literature / the brief, how many of its digits are right)
LITERATURE = {
    "branin": (0.397887, 6),
    "hartmann3": (-3.86278, 5),
    "hartmann6": (-3.32237, 5),
    "camel6": (-1.0316284534898774, 15),
    "rosenbrock": (0.0, 15),
    "ackley": (0.0, 15),
    "levy": (0.0, 15),
}

# name -> standard domain of each coordinate (a list for fixed-dimension functions)
DOMAINS = {
    "branin": [(-5, 10), (0, 15)],
    "hartmann3": [(0, 1)] * 3,
    "hartmann6": [(0, 1)] * 6,
    "camel6": [(-3, 3), (-2, 2)],
    "rosenbrock": (-5, 10),
    "styblinski_tang": (-5, 5),
    "ackley": (-32.768, 32.768),
    "levy": (-10, 10),
}

# How many global minimisers each function has (in any dimension for the scalable ones).
MINIMIZER_COUNTS = {"branin": 3, "camel6": 2}


def _uniform_points(task: SyntheticFunction, n: int, seed: int) -> np.ndarray:
    low = np.array([task.space[name].low for name in task.space])
    high = np.array([task.space[name].high for name in task.space])
    return np.random.default_rng(seed).uniform(low, high, size=(n, len(low)))


def test_entry_points_resolve_to_these_classes():
    for cls in [Branin, Hartmann3, Hartmann6, Camel6, *SCALABLE]:
        assert get_task_class(cls.name) is cls


@pytest.mark.parametrize("task", INSTANCES, ids=IDS)
def test_declared_task_attributes(task):
    assert task.direction is Direction.MINIMIZE
    assert task.max_fidelity == 1
    assert task.optimum_is_exact
    assert len(task.space) == task.dim
    assert all(isinstance(task.space[name], Float) for name in task.space)


def test_declared_optimum_matches_the_literature():
    for cls in [Branin, Hartmann3, Hartmann6, Camel6, Rosenbrock, Ackley, Levy]:
        quoted, digits = LITERATURE[cls.name]
        assert cls().optimum == pytest.approx(quoted, abs=0.5 * 10.0**-digits), cls.name
    assert Branin().optimum == pytest.approx(0.39788735772973816, abs=1e-15)
    for d in (2, 5, 13):
        assert Rosenbrock(dim=d).optimum == 0 and Ackley(dim=d).optimum == 0
        assert Levy(dim=d).optimum == 0


def test_styblinski_tang_uses_the_precise_minimum_per_dimension():
    for d in (1, 2, 3, 10, 40):
        optimum = StyblinskiTang(dim=d).optimum
        assert optimum == pytest.approx(-39.16616570 * d, abs=1e-8 * d)
        # The widely copied −39.16599·d is wrong by far more than the stated precision.
        assert abs(optimum - -39.16599 * d) > 1.5e-4 * d
    # The precise value is reached, and even the rounded minimiser -2.903534 beats −39.16599.
    task = StyblinskiTang(dim=1)
    assert task({"x1": -2.903534}) < -39.166165
    assert task({"x1": -2.903534}) >= task.optimum


@pytest.mark.parametrize("task", INSTANCES, ids=IDS)
def test_every_minimizer_lies_in_the_domain_and_attains_the_optimum(task):
    minimizers = task.minimizers
    assert len(minimizers) == MINIMIZER_COUNTS.get(task.name, 1)
    assert len({tuple(m.values()) for m in minimizers}) == len(minimizers)
    for config in minimizers:
        assert task.space.validate(config) == config
        result = task.evaluate(config, 1, seed=0, context=EvalContext())
        assert result.value == pytest.approx(task.optimum, abs=1e-6)
        assert result.value == pytest.approx(task.optimum, abs=1e-12 * max(1, task.dim))
        assert result.value >= task.optimum - 1e-12


@pytest.mark.parametrize("task", INSTANCES, ids=IDS)
def test_every_minimizer_location_is_exact_to_1e_6(task):
    """A derivative-free local search started at the declared minimiser finds no better point
    and stays within 1e-6 of it, so the location is right to (well beyond) six digits."""
    for config in task.minimizers:
        x0 = task.to_array(config)
        res = minimize(task.function, x0, method="Nelder-Mead",
                       options={"xatol": 1e-10, "fatol": 1e-16, "maxiter": 2000,
                                "initial_simplex": x0 + 1e-3 * np.vstack([np.zeros(len(x0)),
                                                                          np.eye(len(x0))])})
        assert res.fun >= task.optimum - 1e-12
        np.testing.assert_allclose(res.x, x0, rtol=0, atol=1e-6)


def test_literature_minimizers_agree_to_their_quoted_digits():
    expected = {
        Branin: [(-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)],
        Camel6: [(0.0898, -0.7126), (-0.0898, 0.7126)],
        Hartmann6: [(0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)],
        # The often quoted 0.114614 for the first coordinate is off in its 4th digit.
        Hartmann3: [(0.114589, 0.555649, 0.852547)],
    }
    for cls, points in expected.items():
        declared = [tuple(c.values()) for c in cls().minimizers]
        for declared_point, quoted in zip(declared, points, strict=True):
            np.testing.assert_allclose(declared_point, quoted, rtol=0, atol=1e-4 * 0.6)
    assert StyblinskiTang(dim=3).minimizers == [{f"x{i}": -2.9035340277711771 for i in (1, 2, 3)}]
    assert Rosenbrock(dim=4).minimizers == [{f"x{i}": 1.0 for i in (1, 2, 3, 4)}]
    assert Levy(dim=2).minimizers == [{"x1": 1.0, "x2": 1.0}]
    assert Ackley(dim=2).minimizers == [{"x1": 0.0, "x2": 0.0}]


@pytest.mark.parametrize("task", INSTANCES, ids=IDS)
def test_random_points_never_beat_the_optimum(task):
    values = task.function(_uniform_points(task, 20_000, seed=1))
    assert values.shape == (20_000,)
    assert np.all(np.isfinite(values))
    assert values.min() >= task.optimum - 1e-9
    # and neither do configurations the space samples, through evaluate
    rng = np.random.default_rng(2)
    for _ in range(200):
        assert task.evaluate(task.space.sample(rng), 1, 0, EvalContext()).value >= task.optimum


@pytest.mark.parametrize("task", INSTANCES, ids=IDS)
def test_local_searches_from_random_starts_never_beat_the_optimum(task):
    bounds = [(task.space[n].low, task.space[n].high) for n in task.space]
    for x0 in _uniform_points(task, 8, seed=3):
        res = minimize(task.function, x0, method="L-BFGS-B", bounds=bounds)
        assert res.fun >= task.optimum - 1e-9


def test_vectorised_function_agrees_with_evaluate():
    for task in INSTANCES:
        points = _uniform_points(task, 5, seed=4)
        batch = task.function(points)
        for x, fx in zip(points, batch, strict=True):
            config = dict(zip(task.space, map(float, x), strict=True))
            assert task.evaluate(config, 1, 0, EvalContext()).value == pytest.approx(fx, rel=1e-14)


def test_known_values_away_from_the_minimum():
    # Hand-computed values pin each formula (not only its minimum).
    assert Branin()({"x1": 0.0, "x2": 0.0}) == pytest.approx(
        (6 ** 2) + 10 * (1 - 1 / (8 * math.pi)) + 10, rel=1e-14)
    assert Camel6()({"x1": 1.0, "x2": 1.0}) == pytest.approx(4 - 2.1 + 1 / 3 + 1 + 0, rel=1e-14)
    assert Rosenbrock(dim=3)({"x1": 0.0, "x2": 0.0, "x3": 0.0}) == pytest.approx(2.0)
    assert Rosenbrock(dim=2)({"x1": -1.0, "x2": 1.0}) == pytest.approx(4.0)
    assert StyblinskiTang(dim=2)({"x1": 0.0, "x2": 1.0}) == pytest.approx(0.5 * (1 - 16 + 5))
    assert Ackley(dim=2)({"x1": 1.0, "x2": 1.0}) == pytest.approx(
        20 * (1 - math.exp(-0.2)) + math.e - math.e, abs=1e-12)
    assert Levy(dim=1)({"x1": -3.0}) == pytest.approx(math.sin(0.0) ** 2 + 1 * (1 + 0), abs=1e-12)
    h3 = Hartmann3()({"x1": 0.0, "x2": 0.0, "x3": 0.0})
    a = np.array([[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]])
    p = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547],
                         [381, 5743, 8828]])
    expected = -sum(al * math.exp(-np.sum(a[i] * p[i] ** 2))
                    for i, al in enumerate([1.0, 1.2, 3.0, 3.2]))
    assert h3 == pytest.approx(expected, rel=1e-14)


def test_evaluate_result_shape_and_determinism():
    task = Hartmann6()
    config = task.space.sample(np.random.default_rng(5))
    first = task.evaluate(config, 1, seed=11, context=EvalContext())
    again = task.evaluate(dict(reversed(list(config.items()))), 1, seed=99, context=EvalContext())
    assert first == again  # noise-free: the seed and the dict order change nothing
    assert first.value == first.test_value == first.curve[0]
    assert first.curve == (first.value,)
    assert first.fidelity_spent == 1


@pytest.mark.parametrize("name, domain", DOMAINS.items())
def test_domains_are_the_standard_ones(name, domain):
    task = make_task(name, {})
    bounds = [(task.space[n].low, task.space[n].high) for n in task.space]
    expected = domain if isinstance(domain, list) else [domain] * task.dim
    assert bounds == [(float(lo), float(hi)) for lo, hi in expected]
    assert list(task.space) == [f"x{i + 1}" for i in range(task.dim)]
    assert not any(task.space[n].log for n in task.space)


def test_points_outside_the_domain_are_rejected_naming_the_parameter():
    """The harness validates every configuration against the task's space before evaluate
    (tasks may rely on it); the error names the offending parameter."""
    task = Branin()
    for bad, name in [({"x1": 0.0, "x2": 15.5}, "'x2'"), ({"x1": 0.0}, "'x2'"),
                      ({"x1": 0.0, "x2": 1.0, "x3": 1.0}, "x3"),
                      ({"x1": float("nan"), "x2": 1.0}, "'x1'"), ({"x1": "1.0", "x2": 1.0}, "'x1'")]:
        with pytest.raises(InvalidConfigError, match=name):
            task.space.validate(bad)
    # the bounds themselves belong to the domain
    config = task.space.validate({"x1": -5, "x2": 15})
    assert task.evaluate(config, 1, 0, EvalContext()).is_finite


@pytest.mark.parametrize("cls", SCALABLE)
def test_dim_option_sets_the_dimension(cls):
    for d in range(cls.min_dim, 6):
        task = cls(dim=d)
        assert task.dim == d and len(task.space) == d
        assert len(task.minimizers[0]) == d
    assert cls().dim == 2  # the default
    assert cls(dim=np.int64(3)).dim == 3


@pytest.mark.parametrize("cls", SCALABLE)
@pytest.mark.parametrize("bad", [0, -1, 2.0, 1.5, "2", True, None])
def test_bad_dim_is_a_clear_task_error(cls, bad):
    with pytest.raises(TaskError, match=rf"{cls.name}: dim must be an integer >= {cls.min_dim}"):
        cls(dim=bad)


def test_rosenbrock_needs_two_dimensions():
    with pytest.raises(TaskError, match=">= 2"):
        Rosenbrock(dim=1)
    with pytest.raises(RegistryError, match="dim must be an integer >= 2"):
        make_task("rosenbrock", {"dim": 1})
    with pytest.raises(RegistryError, match="does not accept"):
        make_task("branin", {"dim": 3})  # fixed-dimension functions take no dim


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_noise_is_a_clear_task_error(bad):
    with pytest.raises(TaskError, match="noise must be a"):
        Branin(noise=bad)
    with pytest.raises(TaskError, match="noise must be a"):
        Levy(dim=3, noise=bad)


def test_noise_is_seeded_by_config_and_seed_and_spares_the_test_value():
    task = Camel6(noise=0.5)
    clean = Camel6()
    rng = np.random.default_rng(6)
    configs = [task.space.sample(rng) for _ in range(2000)]
    deltas = []
    for config in configs:
        r = task.evaluate(config, 1, seed=7, context=EvalContext())
        assert r.test_value == clean(config)
        assert r.curve == (r.value,)
        deltas.append(r.value - r.test_value)
    deltas = np.array(deltas)
    assert abs(deltas.mean()) < 0.05
    assert deltas.std() == pytest.approx(0.5, rel=0.06)

    config = configs[0]
    same = task.evaluate(dict(reversed(list(config.items()))), 1, 7, EvalContext())
    assert same.value == task.evaluate(config, 1, 7, EvalContext()).value
    assert Camel6(noise=0.5).evaluate(config, 1, 7, EvalContext()).value == same.value
    other_seed = task.evaluate(config, 1, 8, EvalContext()).value
    assert other_seed != same.value
    # A different configuration with the same seed gets a different draw.
    assert deltas[0] != deltas[1]
    # Large and negative seeds are fine.
    for seed in (2**70, -3):
        assert math.isfinite(task.evaluate(config, 1, seed, EvalContext()).value)


def test_noise_option_is_accepted_by_the_registry():
    task = make_task("hartmann3", {"noise": 0.1})
    assert task.noise == 0.1
    assert task.options() == {"noise": 0.1}
