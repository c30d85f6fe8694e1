"""Grid search is a grid: every point once, branches drawn uniformly, scikit-learn's order on request.

The declared order is checked against scikit-learn's own ``ParameterGrid``; branch frequencies
against the law random search follows (chi-square and binomial tests, fixed seeds); the digits
example end to end against ``GridSearchCV`` on the same data.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import optuna
import pytest
from scipy import stats
from sklearn.model_selection import ParameterGrid

import tunebench
from tunebench.registry import load_plugin_file, make_task
from tunebench.runners.base import BudgetInfo, Outcome, RunnerError, SearchExhausted, Status
from tunebench.runners.conformance import mixed_space
from tunebench.runners.grid import Grid, GridSearch, grid_points, resolution_for_budget
from tunebench.runners.optuna_runner import OptunaGrid
from tunebench.space import Categorical, Float, Int, Space, canonical_json, config_key
from tunebench.tasks.base import Direction

ROOT = Path(__file__).resolve().parents[1]
DIGITS_FILE = ROOT / "examples" / "plugin_file" / "digits_svc.py"
#: The grid of scikit-learn's GridSearchCV digits example, as it writes it.
SKLEARN_DIGITS_GRID = [{"kernel": ["rbf"], "gamma": [1e-3, 1e-4], "C": [1, 10, 100, 1000]},
                       {"kernel": ["linear"], "C": [1, 10, 100, 1000]}]
BRANIN = make_task("branin").space


@pytest.fixture(scope="module")
def digits_space() -> Space:
    load_plugin_file(DIGITS_FILE)
    return make_task("digits_svc").space


def _all(runner) -> list[dict]:
    """Every proposal of ``runner`` until it says the search is exhausted."""
    asked = []
    while True:
        try:
            asked.append(runner.ask())
        except SearchExhausted:
            return asked
        if len(asked) > 100_000:
            raise AssertionError("the runner never ran out of points")


def _same_configs(a: list[dict], b: list[dict]) -> bool:
    return [config_key(x) for x in a] == [config_key(y) for y in b]


# ------------------------------------------------------------------ declared order
def test_declared_order_is_scikit_learns_on_the_digits_grid(digits_space: Space) -> None:
    runner = GridSearch(digits_space, Direction.MAXIMIZE, 0, BudgetInfo("trials", 20),
                        order="declared")
    asked = _all(runner)
    assert asked == list(ParameterGrid(SKLEARN_DIGITS_GRID))  # values, order, and types
    again = GridSearch(digits_space, Direction.MAXIMIZE, 99, BudgetInfo("trials", 20), order="declared")
    assert _all(again) == asked  # the seed plays no part


def test_declared_order_sorts_names_as_parameter_grid_does() -> None:
    # Declared (and topological) order z, a, m; ParameterGrid sorts keys: a, m, z, z fastest.
    space = Space({"z": Float(0.0, 1.0), "a": Int(1, 3), "m": Categorical(["q", "p"])})
    grid = ParameterGrid({name: space[name].grid(3) for name in space})
    assert grid_points(space, 3) == list(grid)


@pytest.mark.parametrize(("space", "resolution"), [(mixed_space(), 2), (make_task("linreg").space, 2)])
def test_declared_order_of_a_conditional_space_is_parameter_grid_of_its_branches(space, resolution):
    """One dict per branch, as the digits example writes its grid; nested conditions included."""
    grid = Grid(space, resolution)
    branches = grid.param_grid()
    assert all(set(branch) == set(space.validate(grid[block.start]))
               for branch, block in zip(branches, grid.blocks, strict=True))
    assert _same_configs(grid_points(space, resolution), list(ParameterGrid(branches)))
    assert len({config_key(p) for p in grid_points(space, resolution)}) == len(grid)


# ------------------------------------------------------------------ never twice
def test_branin_at_30_trials_and_resolution_5_is_25_points_then_exhausted(tmp_path: Path) -> None:
    runner = GridSearch(BRANIN, Direction.MINIMIZE, 3, BudgetInfo("trials", 30), resolution=5)
    asked = _all(runner)
    assert len(asked) == len({config_key(c) for c in asked}) == 25
    with pytest.raises(SearchExhausted, match="25 points"):
        runner.ask()
    suite = {"suite": {"name": "g", "seed": 1}, "budget": {"trials": 30},
             "tasks": [{"name": "branin"}],
             "runners": [{"name": "grid", "options": {"resolution": 5}}]}
    summary = tunebench.run_suite(suite, tmp_path / "g.db", progress=False)
    assert summary.ok, summary.failed_studies
    trials = tunebench.load_trials(tmp_path / "g.db")
    assert len(trials) == trials["config_key"].nunique() == 25
    studies = tunebench.load_studies(tmp_path / "g.db")
    assert studies["budget_spent"].tolist() == [25.0] and not studies["budget_met"].any()


def test_a_grid_larger_than_the_budget_is_drawn_without_replacement() -> None:
    space = Space({f"x{i}": Float(0.0, 1.0) for i in range(12)})  # 5**12 = 244 million points
    runner = GridSearch(space, Direction.MINIMIZE, 0, BudgetInfo("trials", 500), resolution=5)
    asked = [runner.ask() for _ in range(2000)]
    assert len({config_key(c) for c in asked}) == 2000
    assert {v for c in asked for v in c.values()} == {0.0, 0.25, 0.5, 0.75, 1.0}


def test_within_a_branch_every_point_is_equally_likely_at_every_draw() -> None:
    space = Space({"x": Float(0.0, 1.0), "k": Int(1, 2)})  # one block of 3 x 2 points
    keys = [config_key(p) for p in grid_points(space, 3)]
    firsts, seconds = Counter(), Counter()
    for seed in range(3000):
        runner = GridSearch(space, Direction.MINIMIZE, seed, resolution=3)
        firsts[config_key(runner.ask())] += 1
        seconds[config_key(runner.ask())] += 1
    for counts in (firsts, seconds):
        assert stats.chisquare([counts[k] for k in keys]).pvalue > 0.001


# ------------------------------------------------------------------ branch frequencies
def test_branches_are_drawn_uniformly_not_by_their_number_of_points() -> None:
    """linreg at resolution 3: the momentum branch has 3 times the points of sgd's or adam's.

    Weighting points would propose momentum 3/5 of the time; random search proposes each
    optimizer 1/3 of the time, and so does the grid (no branch runs out within 300 draws).
    """
    space = make_task("linreg").space
    runner = GridSearch(space, Direction.MINIMIZE, 11, resolution=3)
    asked = [runner.ask() for _ in range(300)]
    optimizers = Counter(c["optimizer"] for c in asked)
    schedules = Counter(c["schedule"] for c in asked)
    assert stats.chisquare([optimizers[o] for o in ("sgd", "momentum", "adam")]).pvalue > 0.01
    assert stats.chisquare([schedules[s] for s in ("constant", "exponential", "step")]).pvalue > 0.01
    assert stats.binomtest(optimizers["momentum"], 300, 3 / 5).pvalue < 1e-6
    by_points = Counter(p["optimizer"] for p in grid_points(space, 3))
    assert by_points["momentum"] == 3 * by_points["sgd"] == 3 * by_points["adam"]


def test_nested_branches_are_uniform_at_every_level() -> None:
    """mixed_space: nesterov exists only under sgd and dampening only under nesterov=False."""
    space = mixed_space()
    first = [GridSearch(space, Direction.MINIMIZE, seed, resolution=2).ask() for seed in range(1500)]
    optimizers = Counter(c["optimizer"] for c in first)
    assert stats.chisquare([optimizers[o] for o in ("sgd", "adam", "rmsprop")]).pvalue > 0.01
    sgd = [c for c in first if c["optimizer"] == "sgd"]
    assert stats.binomtest(sum(c["nesterov"] is False for c in sgd), len(sgd), 0.5).pvalue > 0.01


def test_branches_of_values_python_finds_equal_stay_apart() -> None:
    space = Space({"a": Categorical([1, True]), "x": Categorical([0, 1, 2], active_if={"a": [True]})})
    firsts = Counter(canonical_json(GridSearch(space, Direction.MINIMIZE, seed).ask()["a"])
                     for seed in range(400))
    assert stats.binomtest(firsts["true"], 400, 0.5).pvalue > 0.01


def test_a_small_branch_runs_out_and_the_others_go_on(digits_space: Space) -> None:
    """digits: 8 rbf points, 4 linear. Each draw picks a branch with points left, 1/2 each, so
    the first proposal is linear half the time (4/12 if points were equally likely)."""
    firsts = Counter()
    for seed in range(800):
        runner = GridSearch(digits_space, Direction.MAXIMIZE, seed, BudgetInfo("trials", 12))
        asked = _all(runner)
        assert sorted(map(config_key, asked)) == sorted(map(config_key, ParameterGrid(SKLEARN_DIGITS_GRID)))
        firsts[asked[0]["kernel"]] += 1
    assert stats.binomtest(firsts["linear"], 800, 0.5).pvalue > 0.01
    assert stats.binomtest(firsts["linear"], 800, 4 / 12).pvalue < 1e-6


# ------------------------------------------------------------------ resolution from the budget
@pytest.mark.parametrize(("space", "trials", "resolution", "points"), [
    (BRANIN, 30, 5, 25),  # floor(30 ** (1/2))
    (BRANIN, 100, 10, 100),
    (BRANIN, 99, 9, 81),
    (Space({f"x{i}": Float(0.0, 1.0) for i in range(3)}), 1000, 10, 1000),
    # an integer with 3 values leaves the rest of the budget to the float: 10 x 3
    (Space({"x": Float(0.0, 1.0), "k": Int(1, 3)}), 30, 10, 30),
    # a categorical counts as it is: 3 x 10
    (Space({"x": Float(0.0, 1.0), "c": Categorical(["a", "b", "c"])}), 31, 10, 30),
    # conditional: x exists only in branch "a", so the grid is r + 1 points
    (Space({"c": Categorical(["a", "b"]), "x": Float(0.0, 1.0, active_if={"c": "a"})}), 10, 9, 10),
    # integers only: every value once, whatever the budget beyond that (the smallest such)
    (Space({"k": Int(1, 4), "j": Int(0, 2)}), 1000, 4, 12),
    (Space({"k": Int(1, 100, log=True)}), 1000, 417, 100),  # log spacing fills the top late
    # the categoricals alone exceed the budget: still two values per numeric axis, drawn from
    (make_task("linreg").space, 10, 2, len(Grid(make_task("linreg").space, 2))),
    # only resolution 1 fits 30 trials in six dimensions: 2 per axis, 64 points drawn from
    (make_task("hartmann6").space, 30, 2, 64),
])
def test_the_resolution_gives_the_most_points_the_budget_holds(space, trials, resolution, points):
    assert resolution_for_budget(space, trials) == resolution
    runner = GridSearch(space, Direction.MINIMIZE, 0, BudgetInfo("trials", trials))
    assert runner.resolved_options() == {"resolution": resolution, "resolution_from": "budget",
                                         "order": "shuffle", "grid_points": points}
    # The search against brute force: the most points within the budget, at the least resolution.
    sizes = {r: len(Grid(space, r)) for r in range(1, trials + 1)}
    fitting = [r for r in sizes if sizes[r] <= trials] or [1]
    best = min(fitting, key=lambda r: (-sizes[r], r))
    assert resolution == (2 if best == 1 and len(Grid(space, 2)) > sizes[1] else best)


def test_the_resolution_option_overrides_the_budget_and_a_time_budget_uses_the_default() -> None:
    given = GridSearch(BRANIN, Direction.MINIMIZE, 0, BudgetInfo("trials", 100), resolution=3)
    assert given.resolved_options()["resolution"] == 3 and len(_all(given)) == 9
    timed = GridSearch(BRANIN, Direction.MINIMIZE, 0, BudgetInfo("device_seconds", 60.0))
    assert timed.resolved_options()["resolution_from"] == "default"
    epochs = GridSearch(BRANIN, Direction.MINIMIZE, 0, BudgetInfo("epochs", 100, 1, 4))
    assert epochs.resolved_options()["resolution"] == 5  # 25 full-fidelity trials fit


@pytest.mark.parametrize("options", [{"order": "sorted"}, {"resolution": 0}, {"resolution": 2.5}])
def test_bad_grid_options_are_refused_clearly(options) -> None:
    with pytest.raises(RunnerError, match=r"option (order|resolution) must be"):
        GridSearch(BRANIN, Direction.MINIMIZE, 0, None, **options)


# ------------------------------------------------------------------ optuna.grid
def test_optuna_grid_covers_the_12_digits_configurations_in_12_trials(digits_space: Space) -> None:
    expected = sorted(map(config_key, ParameterGrid(SKLEARN_DIGITS_GRID)))
    orders = set()
    for seed in range(5):
        runner = OptunaGrid(digits_space, Direction.MAXIMIZE, seed, BudgetInfo("trials", 12))
        asked = []
        for _ in range(12):
            config = runner.ask()
            runner.tell(config, Outcome(Status.OK, 0.5, 1))
            asked.append(config)
        assert sorted(map(config_key, asked)) == expected
        with pytest.raises(SearchExhausted, match="12 points"):
            runner.ask()
        assert runner.resolved_options()["grid_points"] == 12
        orders.add(tuple(map(config_key, asked)))
    assert len(orders) == 5  # optuna's seeded shuffle


@pytest.mark.parametrize("space", [
    mixed_space(),  # nested: dampening only under nesterov=False, nesterov only under sgd
    Space({"a": Categorical([1, True, 0, False]),  # True is not 1, False is not 0
           "x": Categorical([0, 1.5], active_if={"a": [True]}),
           "y": Categorical([False, 0], active_if={"a": [0]})}),
])
def test_optuna_grid_proposes_each_of_tunebenchs_grid_points_once(space: Space) -> None:
    runner = OptunaGrid(space, Direction.MINIMIZE, 1, BudgetInfo("trials", 10), resolution=2)
    asked = []
    while True:
        try:
            config = runner.ask()
        except SearchExhausted:
            break
        runner.tell(config, Outcome(Status.OK, 1.0, 1))
        asked.append(config_key(config))
    assert sorted(asked) == sorted(map(config_key, grid_points(space, 2)))


def test_optuna_grid_without_conditions_proposes_what_plain_optuna_does() -> None:
    seed, axes = 4, {name: BRANIN[name].grid(4) for name in BRANIN}
    plain = optuna.create_study(sampler=optuna.samplers.GridSampler(axes, seed=seed))
    plain.optimize(lambda t: t.suggest_float("x1", -5, 10) + t.suggest_float("x2", 0, 15))
    ours = OptunaGrid(BRANIN, Direction.MINIMIZE, seed, BudgetInfo("trials", 16))
    asked = []
    for _ in range(16):
        config = ours.ask()
        ours.tell(config, Outcome(Status.OK, config["x1"] + config["x2"], 1))
        asked.append(config)
    assert asked == [t.params for t in plain.trials] and len(asked) == 16


# ------------------------------------------------------------------ done when: the digits suite
def test_the_digits_grid_in_declared_order_finds_scikit_learns_answer(tmp_path: Path) -> None:
    """scikit-learn's digits example as a suite: 12 configurations (gamma only under rbf), a
    20-trial budget, 2 repetitions, the grid in declared order and optuna's grid. Each grid
    repetition evaluates each configuration once, in ParameterGrid order, and ends early;
    C = 10, gamma = 0.001 is the best in each, as GridSearchCV finds it: three configurations tie
    (C = 10, 100, 1000 at gamma = 0.001) and the first in ParameterGrid order wins, in
    GridSearchCV and in tunebench's incumbent rule (the store keeps the earlier of equals) alike."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.svm import SVC

    suite = {"suite": {"name": "digits", "seed": 0, "repetitions": 2, "plugins": [str(DIGITS_FILE)]},
             "budget": {"trials": 20}, "settings": {"threads": 1},
             "tasks": [{"name": "digits_svc"}],
             "runners": [{"name": "grid", "options": {"order": "declared"}}, {"name": "optuna.grid"}]}
    db = tmp_path / "d.db"  # optuna.grid's evaluations are the grid's, served from the cache
    summary = tunebench.run_suite(suite, db, cache=tunebench.EvaluationCacheStore.beside(db),
                                  progress=False)
    assert summary.ok, summary.failed_studies
    everything = tunebench.load_trials(db)
    trials = everything[everything["runner"] == "grid"]

    X, X_test, y, y_test = train_test_split(*load_digits(return_X_y=True), test_size=0.5,
                                            random_state=0)
    search = GridSearchCV(SVC(), SKLEARN_DIGITS_GRID, cv=5).fit(X, y)
    assert search.best_params_ == {"C": 10, "gamma": 0.001, "kernel": "rbf"}
    scores = search.cv_results_["mean_test_score"]
    assert sum(scores == search.best_score_) == 3  # the three-way tie is exact
    for _, study in trials.groupby("repetition"):
        assert len(study) == study["config_key"].nunique() == 12  # each once, then exhausted
        assert list(study["config"]) == list(search.cv_results_["params"])
        assert study["value"].tolist() == pytest.approx(list(scores), abs=1e-12)
        best = study["best_value"].iloc[-1]
        assert math.isclose(best, search.best_score_, abs_tol=1e-12)
        # The incumbent: the first trial reaching the best (the store keeps the earlier of ties).
        incumbent = study[study["value"] == best].iloc[0]
        assert incumbent["config"] == {"kernel": "rbf", "C": 10, "gamma": 0.001}
        assert incumbent["trial"] == study["trial"].iloc[int(search.best_index_)]
        assert math.isclose(study["best_test_value"].iloc[-1], search.score(X_test, y_test))
    studies = tunebench.load_studies(db)
    assert studies["n_trials"].tolist() == [12] * 4 and not studies["budget_met"].any()
    # optuna.grid: all 12 configurations in 12 trials, in optuna's seeded order (so which of the
    # tied three it reports first depends on the seed, as the issue found).
    for _, study in everything[everything["runner"] == "optuna.grid"].groupby("repetition"):
        assert sorted(study["config_key"]) == sorted(trials["config_key"].unique())
        assert math.isclose(study["best_value"].iloc[-1], search.best_score_, abs_tol=1e-12)
