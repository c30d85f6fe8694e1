"""Linear regression on the diabetes data: real data, seeded splits, training, reference optimum."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, LinearRegression, Ridge

from tunebench.registry import RegistryError, get_task_class, make_task
from tunebench.space import InvalidConfigError
from tunebench.tasks.base import Direction, Diverged, EvalContext, TaskError, TrialPruned
from tunebench.tasks.linreg import (
    LinearRegressionTask,
    _Optimizer,
    diabetes_split,
    load_data,
    reference_fit,
)


@pytest.fixture(scope="module")
def task() -> LinearRegressionTask:
    return LinearRegressionTask()


def _config(task: LinearRegressionTask, **changes) -> dict:
    """The default configuration with ``changes``, keeping only the parameters then active."""
    merged = {**task.default_config(), **changes}
    if "decay" not in merged:
        merged["decay"] = 0.03
    if "momentum" not in merged:
        merged["momentum"] = 0.9
    return task.space.validate({k: v for k, v in merged.items() if task.space.is_active(k, merged)})


def test_registered_under_its_name():
    assert get_task_class("linreg") is LinearRegressionTask
    assert isinstance(make_task("linreg", {"max_epochs": 5}), LinearRegressionTask)


def test_data_is_the_real_diabetes_set():
    x, y = load_data()
    assert x.shape == (442, 10) and y.shape == (442,)
    reference = load_diabetes()
    np.testing.assert_array_equal(x, reference.data)
    np.testing.assert_array_equal(y, reference.target)
    # a few facts of the published data set (Efron et al. 2004)
    assert list(y[:5]) == [151.0, 75.0, 141.0, 206.0, 135.0]
    assert (y.min(), y.max()) == (25.0, 346.0)
    assert y.mean() == pytest.approx(152.133, abs=1e-3)
    assert not x.flags.writeable and not y.flags.writeable


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_split_is_disjoint_complete_and_standardised_with_train_statistics(seed):
    split = diabetes_split(seed)
    train, val, test = split.train_index, split.val_index, split.test_index
    assert (len(train), len(val), len(test)) == (265, 88, 89)
    assert set(train).isdisjoint(val) and set(train).isdisjoint(test) and set(val).isdisjoint(test)
    assert sorted(np.concatenate([train, val, test])) == list(range(442))

    x, y = load_data()
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    for rows, xs, ys in [(train, split.x_train, split.y_train), (val, split.x_val, split.y_val),
                         (test, split.x_test, split.y_test)]:
        np.testing.assert_allclose(xs, (x[rows] - mean) / std, rtol=1e-12)
        np.testing.assert_allclose(split.y_mean + split.y_scale * ys, y[rows], rtol=1e-12)
        assert not xs.flags.writeable
    np.testing.assert_allclose(split.x_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(split.x_train.std(axis=0), 1, rtol=1e-12)
    assert split.y_mean == pytest.approx(y[train].mean()) and split.y_scale == pytest.approx(
        y[train].std())
    # the validation rows are not used for standardising: their statistics differ from 0 / 1
    assert np.abs(split.x_val.mean(axis=0)).max() > 1e-3


def test_split_is_seeded():
    first = diabetes_split(3)
    diabetes_split.cache_clear()
    again = diabetes_split(3)
    assert again is not first
    np.testing.assert_array_equal(first.train_index, again.train_index)
    np.testing.assert_array_equal(first.val_index, again.val_index)
    np.testing.assert_array_equal(first.x_val, again.x_val)
    other = diabetes_split(4)
    assert set(other.val_index) != set(first.val_index)


def test_task_declarations(task):
    assert task.metric == "val_mse"
    assert task.direction is Direction.MINIMIZE
    assert task.max_fidelity == 50
    assert task.optimum_is_exact is False
    assert task.space.is_conditional
    assert set(task.space) == {"learning_rate", "schedule", "decay", "optimizer", "momentum",
                               "batch_size", "l1", "l2", "init"}
    lr, batch = task.space["learning_rate"], task.space["batch_size"]
    assert (lr.low, lr.high, lr.log) == (1e-5, 1.0, True)
    assert (batch.low, batch.high, batch.log) == (8, 256, True)
    for name in ("l1", "l2"):
        assert (task.space[name].low, task.space[name].high, task.space[name].log) == (1e-6, 1, True)


def test_conditional_parameters(task):
    space = task.space
    assert space.is_active("decay", {"schedule": "step"})
    assert space.is_active("decay", {"schedule": "exponential"})
    assert not space.is_active("decay", {"schedule": "constant"})
    assert space.is_active("momentum", {"optimizer": "momentum"})
    assert not space.is_active("momentum", {"optimizer": "adam"})
    config = _config(task, optimizer="adam", schedule="constant")
    assert "momentum" not in config and "decay" not in config
    with pytest.raises(InvalidConfigError, match="'momentum' is inactive"):
        task.evaluate({**config, "momentum": 0.9}, 1, 0, EvalContext())
    with pytest.raises(InvalidConfigError, match="'learning_rate'"):
        task.evaluate({**config, "learning_rate": 2.0}, 1, 0, EvalContext())


def test_reference_optimum_matches_a_direct_scikit_learn_computation(task):
    """Refit every grid point with scikit-learn's own estimators, in original target units."""
    split = diabetes_split(0)
    _, y = load_data()
    n = len(split.y_train)
    penalties = np.logspace(-6, 0, 301)

    def val_mse(model) -> float:
        model.fit(split.x_train, split.y_train)
        predicted = split.y_mean + split.y_scale * model.predict(split.x_val)
        return float(np.mean((predicted - y[split.val_index]) ** 2))

    ridge = min(val_mse(Ridge(alpha=n * pen)) for pen in penalties)
    lasso = min(val_mse(Lasso(alpha=pen / 2, tol=1e-10, max_iter=100_000)) for pen in penalties)
    fine = reference_fit(0)
    assert task.optimum == fine.val_mse
    assert task.optimum == pytest.approx(min(ridge, lasso), rel=1e-9)
    best_of_kind = val_mse(Ridge(alpha=n * fine.penalty)) if fine.kind == "ridge" else val_mse(
        Lasso(alpha=fine.penalty / 2, tol=1e-10, max_iter=100_000))
    assert best_of_kind == pytest.approx(task.optimum, rel=1e-7)
    # regularisation helps on this split: the reference beats ordinary least squares
    assert task.optimum < val_mse(LinearRegression())
    assert 2000 < task.optimum < 4000


def test_seed_for_optimum_option_changes_the_reference():
    assert LinearRegressionTask(seed_for_optimum=1).optimum == reference_fit(1).val_mse
    assert reference_fit(1).val_mse != reference_fit(0).val_mse


def test_optimum_for_seed_is_the_reference_of_that_seeds_split(task):
    assert task.optimum_for_seed(0) == task.optimum
    assert task.optimum_for_seed(2) == reference_fit(2).val_mse != task.optimum


def test_default_config_trains_close_to_the_reference(task):
    config = task.default_config()
    assert task.space.validate(config) == config
    result = task.evaluate(config, task.max_fidelity, seed=0, context=EvalContext())
    assert result.value <= 1.05 * task.optimum
    assert result.curve[0] > result.value  # it learned
    for seed in (1, 2, 3):
        value = task.evaluate(config, task.max_fidelity, seed, EvalContext()).value
        assert value <= 1.1 * reference_fit(seed).val_mse
    assert math.isfinite(result.test_value) and result.test_value != result.value


def test_evaluation_is_deterministic_bit_for_bit(task):
    for optimizer in ("sgd", "momentum", "adam"):
        config = _config(task, optimizer=optimizer, init="gaussian", batch_size=16)
        first = task.evaluate(config, 20, seed=7, context=EvalContext())
        again = task.evaluate(dict(reversed(list(config.items()))), 20, 7, EvalContext())
        assert first.curve == again.curve
        assert first.value.hex() == again.value.hex()
        assert first.test_value.hex() == again.test_value.hex()
        assert task.evaluate(config, 20, seed=8, context=EvalContext()).value != first.value


def test_evaluation_is_identical_in_another_process(task):
    config = _config(task, optimizer="adam", init="gaussian")
    here = task.evaluate(config, 10, seed=5, context=EvalContext())
    code = (
        "from tunebench.tasks.linreg import LinearRegressionTask\n"
        "from tunebench.tasks.base import EvalContext\n"
        f"r = LinearRegressionTask().evaluate({config!r}, 10, 5, EvalContext())\n"
        "print(' '.join(v.hex() for v in (*r.curve, r.test_value)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [v.hex() for v in (*here.curve, here.test_value)]


def test_a_huge_learning_rate_diverges_with_a_clear_error(task):
    context = EvalContext()
    config = _config(task, learning_rate=1.0, optimizer="sgd", schedule="constant", batch_size=8)
    with pytest.raises(Diverged, match=r"diverged in epoch 1 .*learning_rate=1"):
        task.evaluate(config, task.max_fidelity, 0, context)
    assert context.curve == []  # the diverged epoch is not reported


def test_a_run_past_the_declared_bound_is_diverged_though_still_finite(task):
    """Momentum at 0.1 climbs for four epochs, then passes 10^4 times the target's variance: the
    run stops there (no more epochs trained), though the MSE is still a finite number."""
    bound = task.divergence_bound * diabetes_split(0).y_scale ** 2
    context = EvalContext()
    config = _config(task, learning_rate=0.1, optimizer="momentum", momentum=0.9,
                     schedule="constant", batch_size=8)
    with pytest.raises(Diverged, match=r"diverged in epoch 5 \(validation MSE ([\d.e+]+), bound") as info:
        task.evaluate(config, task.max_fidelity, 0, context)
    mse = float(info.value.args[0].split("validation MSE ")[1].split(",")[0])
    assert bound < mse < math.inf
    assert len(context.curve) == 4 and all(v <= bound for v in context.curve)
    assert context.curve == sorted(context.curve)  # climbing
    # A Diverged is a FloatingPointError: arithmetic, a property of the inputs.
    assert issubclass(Diverged, FloatingPointError)


@pytest.mark.parametrize("fidelity", [1, 7, 50])
def test_curve_length_equals_fidelity(task, fidelity):
    context = EvalContext()
    result = task.evaluate(task.default_config(), fidelity, 0, context)
    assert len(result.curve) == fidelity == result.fidelity_spent
    assert list(result.curve) == context.curve
    assert result.value == result.curve[-1]


def test_a_shorter_run_is_a_prefix_of_a_longer_one(task):
    config = _config(task, schedule="step", decay=0.1)
    short = task.evaluate(config, 12, 0, EvalContext())
    long = task.evaluate(config, 30, 0, EvalContext())
    assert long.curve[:12] == short.curve


def test_pruning_exception_propagates_from_report(task):
    context = EvalContext(pruner=lambda step, value: step == 3)
    with pytest.raises(TrialPruned):
        task.evaluate(task.default_config(), 50, 0, context)
    assert len(context.curve) == 3


def test_fidelity_outside_the_range_is_refused(task):
    for bad in (0, 51, 2.5, True):
        with pytest.raises(ValueError, match=r"fidelity \(epochs\) must be an integer in 1\.\.50"):
            task.evaluate(task.default_config(), bad, 0, EvalContext())


def test_max_epochs_option():
    short = LinearRegressionTask(max_epochs=5)
    assert short.max_fidelity == 5
    assert LinearRegressionTask.max_fidelity == 1  # the class attribute is untouched
    assert len(short.evaluate(short.default_config(), 5, 0, EvalContext()).curve) == 5
    for bad in (0, -1, 2.5, "10", True):
        with pytest.raises(TaskError, match="max_epochs must be an integer >= 1"):
            LinearRegressionTask(max_epochs=bad)
    with pytest.raises(TaskError, match="seed_for_optimum must be an integer >= 0"):
        LinearRegressionTask(seed_for_optimum=-1)
    with pytest.raises(RegistryError, match="max_epochs"):
        make_task("linreg", {"max_epochs": 0})


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("schedule", ["constant", "exponential", "step"])
def test_every_optimizer_and_schedule_learns(task, optimizer, schedule):
    for init in ("zeros", "gaussian"):
        config = _config(task, optimizer=optimizer, schedule=schedule, init=init,
                         learning_rate=0.003 if optimizer == "momentum" else 0.01)
        result = task.evaluate(config, 15, 1, EvalContext())
        assert result.value < 1.3 * reference_fit(1).val_mse
        assert result.value < 0.7 * np.var(load_data()[1])  # far better than predicting the mean


def test_penalties_and_learning_rate_matter(task):
    value = {name: task.evaluate(_config(task, **changes), 50, 0, EvalContext()).value
             for name, changes in {
                 "default": {}, "l1": {"l1": 1.0}, "l2": {"l2": 1.0},
                 "tiny_lr": {"learning_rate": 1e-5, "optimizer": "sgd"},
             }.items()}
    # a strong penalty shrinks the weights towards predicting the mean, and so does not training
    assert value["l1"] > 1.3 * value["default"]
    assert value["l2"] > 1.1 * value["default"]
    assert value["tiny_lr"] > 1.5 * value["default"]


def test_adam_and_momentum_follow_the_textbook_updates():
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(30, 4))
    adam = _Optimizer({"optimizer": "adam"}, 4)
    first, second = np.zeros(4), np.zeros(4)
    for t, g in enumerate(grads, start=1):
        first = 0.9 * first + 0.1 * g
        second = 0.999 * second + 0.001 * g * g
        expected = 0.01 * (first / (1 - 0.9**t)) / (np.sqrt(second / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(adam(g, 0.01), expected, rtol=1e-12)
    heavy_ball = _Optimizer({"optimizer": "momentum", "momentum": 0.8}, 4)
    buffer = np.zeros(4)
    for g in grads:
        buffer = 0.8 * buffer + g
        np.testing.assert_allclose(heavy_ball(g, 0.1), 0.1 * buffer, rtol=1e-15)
    np.testing.assert_array_equal(_Optimizer({"optimizer": "sgd"}, 4)(grads[0], 0.5), 0.5 * grads[0])


def test_a_full_evaluation_is_fast(task):
    config = task.default_config()
    task.evaluate(config, 50, 0, EvalContext())  # warm the split cache
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        task.evaluate(config, 50, 0, EvalContext())
        seconds.append(time.perf_counter() - start)
    assert min(seconds) < 0.1
    slowest = _config(task, optimizer="adam", batch_size=8, schedule="step")
    start = time.perf_counter()
    task.evaluate(slowest, 50, 0, EvalContext())
    assert time.perf_counter() - start < 0.5


def test_in_a_study_diverged_runs_fail_as_diverged_and_pay_the_epochs_they_trained(tmp_path):
    import re

    import tunebench
    from tunebench.suite.store import load_studies, load_trials

    db = tmp_path / "r.db"
    tunebench.run_suite({
        "suite": {"name": "lr", "seed": 1}, "budget": {"epochs": 200},
        "tasks": [{"name": "linreg", "options": {"max_epochs": 5}}], "runners": [{"name": "random"}],
    }, db, progress=False)
    trials = load_trials(db)
    bound = LinearRegressionTask.divergence_bound * diabetes_split(
        int(load_studies(db).loc[0, "eval_seed"])).y_scale ** 2
    diverged = trials[trials["error"].fillna("").str.startswith("Diverged: ")]
    assert len(diverged) >= 2 and (diverged["status"] == "failed").all()
    assert diverged["value"].isna().all()
    epochs = diverged["error"].map(lambda e: int(re.search(r"in epoch (\d+)", e).group(1)))
    assert (diverged["charge"] == epochs).all() and (diverged["fidelity_spent"] == epochs).all()
    ok = trials[trials["status"] == "ok"]
    assert len(ok) > 0 and (ok["value"] <= bound).all()  # nothing past the bound is a result
    assert trials["charge"].sum() == 200


def test_data_preparation_and_test_scoring_are_uncharged(task):
    context = EvalContext()
    task.evaluate(task.default_config(), 3, 0, context)
    assert context.uncharged_seconds > 0 and context.uncharged_since is None
