"""BBOB tasks (bbob/f<k>, via ioh) agree with COCO's own C code (cocoex), value for value and at
the optimum, for every function, several dimensions and instances; they run as suite tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tunebench
from tunebench.registry import RegistryError, make_task, task_names
from tunebench.suite.store import load_trials

cocoex = pytest.importorskip("cocoex")

DIMS = (2, 5, 10)
INSTANCES = (1, 2, 3, 7)


@pytest.fixture(scope="module")
def coco():
    suite = cocoex.Suite("bbob", f"instances: {','.join(map(str, INSTANCES))}",
                         f"dimensions: {','.join(map(str, DIMS))}")
    yield suite
    suite.free()


@pytest.mark.parametrize("function", range(1, 25))
def test_every_function_agrees_with_coco(coco, function):
    rng = np.random.default_rng(function)
    for dim in DIMS:
        for instance in INSTANCES:
            task = make_task(f"bbob/f{function}", {"dim": dim, "instance": instance})
            problem = coco.get_problem_by_function_dimension_instance(function, dim, instance)
            names = list(task.space)
            for x in rng.uniform(-5, 5, size=(5, dim)):
                ours = task(dict(zip(names, map(float, x), strict=True)))
                assert ours == pytest.approx(problem(x), rel=1e-9, abs=1e-9)
            # COCO at ioh's optimum is ioh's f_opt: the regret's zero is where COCO puts it.
            x_opt = np.array([task.minimizers[0][n] for n in names])
            assert problem(x_opt) == pytest.approx(task.optimum, rel=1e-9, abs=1e-9)
            assert task(task.minimizers[0]) == task.optimum


def test_a_suite_of_bbob_tasks_records_exact_optima_and_non_negative_regrets(write_suite, tmp_path):
    path = write_suite("""
    [suite]
    name = "bbob-smoke"
    [budget]
    trials = 20
    [[tasks]]
    name = "bbob/f1"
    options = { dim = 3, instance = 2 }
    [[tasks]]
    name = "bbob/f15"
    options = { dim = 5 }
    [[runners]]
    name = "random"
    """)
    tunebench.run_suite(path, tmp_path / "b.db", progress=False)
    trials = load_trials(tmp_path / "b.db")
    assert set(trials["task"]) == {"bbob/f1", "bbob/f15"}
    for task, group in trials.groupby("task"):
        expected = make_task(task, {"dim": 3, "instance": 2} if task == "bbob/f1" else {"dim": 5})
        assert (group["optimum"] == expected.optimum).all() and group["optimum_is_exact"].all()
        assert (group["value"] >= expected.optimum).all()


def test_bad_members_and_options_are_clear_errors():
    assert "bbob" in task_names()
    with pytest.raises(RegistryError, match=r"unknown task bbob/f25: 'bbob' has the members f1, f2"):
        make_task("bbob/f25")
    with pytest.raises(RegistryError, match="names its function already"):
        make_task("bbob/f3", {"function": 4})
    with pytest.raises(RegistryError, match="dim must be a whole number from 2 to 100"):
        make_task("bbob/f3", {"dim": 1})
    with pytest.raises(RegistryError, match="is not a family"):
        make_task("branin/x")
    assert math.isfinite(make_task("bbob", {"function": "f24", "dim": 2}).optimum)


def test_the_shipped_bbob_suite_scales_its_budget_with_the_dimension():
    from tunebench.suite.spec_parse import check_names, load_suite

    spec = load_suite("bbob")
    check_names(spec)
    assert len(spec.tasks) == 32
    for task in spec.tasks:
        assert task.budget.amount == 50 * task.options["dim"] and task.name.startswith("bbob/f")


def test_ma_bbob_is_iohs_many_affine_function_with_its_optimum() -> None:
    import ioh
    import numpy as np

    from tunebench.registry import make_task

    for dim, instance in ((2, 1), (5, 7), (10, 123)):
        task = make_task("ma_bbob", {"dim": dim, "instance": instance})
        problem = ioh.problem.ManyAffine(instance=instance, n_variables=dim)
        rng = np.random.default_rng(instance)
        for _ in range(5):
            config = task.space.sample(rng)
            assert task(config) == problem(np.array(list(config.values())))
        assert abs(task.optimum) < 1e-9  # MA-BBOB's optimum is 0 by construction
        assert task(task.minimizers[0]) == task.optimum
    a, b = make_task("ma_bbob", {"instance": 1}), make_task("ma_bbob", {"instance": 2})
    assert a.minimizers != b.minimizers
