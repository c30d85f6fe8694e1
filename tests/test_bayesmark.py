"""Bayesmark's problems (bayesmark/<model>-<dataset>-<metric>) against Bayesmark's own facts: its
declared spaces, its published function signatures, and its published random-search baseline.

Facts come from uber/bayesmark at commit 8c420e9 (``bayesmark/sklearn_funcs.py``: spaces, fixed
model settings, the 80/20 split with seed 0, 5-fold CV; ``bayesmark/signatures.py``: the five
signature points; ``bayesmark/space.py``: warping and rounding) and from the starter kit's
``input/baseline-16-8.json`` (rdturnermtl/bbo_challenge_starter_kit, commit 61720d5).
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tunebench.registry import RegistryError, make_task, task_names
from tunebench.reports.bayesmark_published import incumbents, published_scores, published_summary
from tunebench.space import Categorical, Float, Int
from tunebench.tasks.base import EvalContext
from tunebench.tasks.bayesmark import PROBLEMS, BayesmarkTask, cv_folds, load_split
from tunebench.tasks.bayesmark_baseline import baseline, baseline_source
from tunebench.tasks.bayesmark_models import declared_space

# What bayesmark/sklearn_funcs.py (8c420e9) declares, typed out here from that file: name ->
# (type, space, low, high). The classifier and regressor spaces differ only for lasso and linear.
REAL, INT = "real", "int"
TREE = {"max_depth": (INT, "linear", 1, 15), "min_samples_split": (REAL, "logit", 0.01, 0.99),
        "min_samples_leaf": (REAL, "logit", 0.01, 0.49),
        "min_weight_fraction_leaf": (REAL, "logit", 0.01, 0.49),
        "max_features": (REAL, "logit", 0.01, 0.99), "min_impurity_decrease": (REAL, "linear", 0.0, 0.5)}
MLP = {"hidden_layer_sizes": (INT, "linear", 50, 200), "alpha": (REAL, "log", 1e-5, 1e1),
       "batch_size": (INT, "linear", 10, 250), "learning_rate_init": (REAL, "log", 1e-5, 1e-1),
       "tol": (REAL, "log", 1e-5, 1e-1), "validation_fraction": (REAL, "logit", 0.1, 0.9)}
SHARED = {
    "kNN": {"n_neighbors": (INT, "linear", 1, 25), "p": (INT, "linear", 1, 4)},
    "SVM": {"C": (REAL, "log", 1.0, 1e3), "gamma": (REAL, "log", 1e-4, 1e-3),
            "tol": (REAL, "log", 1e-5, 1e-1)},
    "DT": TREE, "RF": TREE,
    "MLP-adam": {**MLP, "beta_1": (REAL, "logit", 0.5, 0.99), "beta_2": (REAL, "logit", 0.9, 1 - 1e-6),
                 "epsilon": (REAL, "log", 1e-9, 1e-6)},
    "MLP-sgd": {**MLP, "power_t": (REAL, "logit", 0.1, 0.9), "momentum": (REAL, "logit", 0.001, 0.999)},
    "ada": {"n_estimators": (INT, "linear", 10, 100), "learning_rate": (REAL, "log", 1e-4, 1e1)},
}
LOGISTIC = {"C": (REAL, "log", 1e-2, 1e2), "intercept_scaling": (REAL, "log", 1e-2, 1e2)}
BOOL = ("bool", None, None, None)
DECLARED = {
    True: {**SHARED, "lasso": LOGISTIC, "linear": LOGISTIC},
    False: {**SHARED,
            "lasso": {"alpha": (REAL, "log", 1e-2, 1e2), "fit_intercept": BOOL, "normalize": BOOL,
                      "max_iter": (INT, "log", 10, 5000), "tol": (REAL, "log", 1e-5, 1e-1),
                      "positive": BOOL},
            "linear": {"alpha": (REAL, "log", 1e-2, 1e2), "fit_intercept": BOOL, "normalize": BOOL,
                       "max_iter": (INT, "log", 10, 5000), "tol": (REAL, "log", 1e-4, 1e-1)}},
}
#: Problems whose models draw no random numbers in the cross-validation loss (or whose loss does
#: not depend on them: AdaBoost's stumps only break ties at random, and wine's features have
#: none): Bayesmark's published signatures must come out exactly.
DETERMINISTIC = [f"kNN-{d}-{m}" for d in ("iris", "wine", "breast") for m in ("acc", "nll")] + [
    "kNN-diabetes-mse", "kNN-diabetes-mae", "SVM-iris-acc", "SVM-wine-acc", "SVM-breast-acc",
    "SVM-diabetes-mse", "SVM-diabetes-mae", "linear-iris-acc", "linear-wine-acc", "linear-breast-acc",
    "linear-iris-nll", "linear-diabetes-mse", "linear-diabetes-mae", "lasso-iris-acc",
    "ada-wine-acc", "ada-wine-nll"]


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize(("model", "classification"), list(itertools.product(
    [*SHARED, "lasso", "linear"], (True, False))))
def test_spaces_are_bayesmarks_declarations(model, classification):
    task = make_task(f"bayesmark/{model}-{'iris-acc' if classification else 'diabetes-mse'}")
    facts = DECLARED[classification][model]
    space = task.space
    assert len(space) == len(facts)
    for name, (kind, warp, low, high) in facts.items():
        if kind == "bool":
            assert space[name] == Categorical((False, True))
        elif kind == INT:
            assert space[name] == Int(low, high, log=warp == "log")
        elif warp == "logit":  # searched in logit coordinates, as every Bayesmark optimiser does
            param = space[f"{name}_logit"]
            assert isinstance(param, Float) and not param.log
            assert (_expit(param.low), _expit(param.high)) == pytest.approx((low, high), rel=1e-12)
        else:
            assert space[name] == Float(low, high, log=warp == "log")
    assert {n: (d.kind, d.warp or None, d.low if d.kind != "bool" else None)
            for n, d in declared_space(model, classification).items()} == {
        n: (k, w, lo) for n, (k, w, lo, _) in facts.items()}


def test_the_family_is_found_by_name_with_clear_errors():
    assert "bayesmark" in task_names()
    assert len(PROBLEMS) == 90 and len(set(PROBLEMS)) == 90  # 9 models × (4 × 2 + 1 × 2)
    task = make_task("bayesmark/SVM-wine-nll")
    assert (task.model, task.dataset, task.metric_name, task.metric) == ("SVM", "wine", "nll", "nll")
    assert make_task("bayesmark", {"problem": "MLP-adam_digits_acc"}).problem == "MLP-adam-digits-acc"
    assert make_task("bayesmark/kNN-iris-acc").metric == "neg_acc"
    with pytest.raises(RegistryError, match="unknown task bayesmark/SVM-boston-mse"):
        make_task("bayesmark/SVM-boston-mse")
    with pytest.raises(RegistryError, match="boston was removed from scikit-learn"):
        make_task("bayesmark", {"problem": "SVM-boston-mse"})
    with pytest.raises(RegistryError, match="METRIC nll or acc"):
        make_task("bayesmark", {"problem": "SVM-iris-mse"})
    assert task.optimum == baseline("SVM-wine-nll").best and not task.optimum_is_exact


def test_split_and_folds_are_bayesmarks():
    _, y, _, y_test = load_split("wine")
    assert (len(y), len(y_test)) == (142, 36)  # 178 rows, test_size 0.2 rounded up
    folds = cv_folds("wine")
    seen = np.concatenate([val for _, val in folds])
    assert sorted(seen) == list(range(142))
    for c in np.unique(y):  # each class's rows, in order, cut into five contiguous chunks
        rows = np.flatnonzero(y == c)
        chunks = [np.intersect1d(rows, val) for _, val in folds]
        assert np.array_equal(np.concatenate(chunks), rows)
        assert max(map(len, chunks)) - min(map(len, chunks)) <= 1
    reg = cv_folds("diabetes")
    assert np.array_equal(reg[0][1], np.arange(71)) and len(reg[4][1]) == 70  # 353 rows


def bayesmark_signature_points(task: BayesmarkTask) -> list[dict]:
    """The five points Bayesmark's signature evaluates: numpy RandomState(0) draws uniformly in
    the warped space (parameters in sorted order), then unwarps, clips and rounds (np.round for
    integers and booleans), as bayesmark/signatures.py and space.py do."""
    declared = declared_space(task.model, task.classification)
    names = sorted(declared)
    warps = {"linear": (float, float), "log": (math.log, math.exp),
             "logit": (lambda v: math.log(v / (1 - v)), _expit)}
    bounds = [(0.0, 1.0) if declared[n].kind == "bool" else
              (warps[declared[n].warp][0](declared[n].low), warps[declared[n].warp][0](declared[n].high))
              for n in names]
    lows, highs = zip(*bounds, strict=True)
    points = []
    for row in np.random.RandomState(0).uniform(lows, highs, size=(5, len(names))):
        config: dict = {}
        for name, w, (lo, hi) in zip(names, row, bounds, strict=True):
            d = declared[name]
            if d.kind == "bool":
                config[name] = bool(np.round(w))
            elif d.warp == "logit":
                config[f"{name}_logit"] = float(min(max(w, lo), hi))
            else:
                value = min(max(warps[d.warp][1](w), d.low), d.high)
                config[name] = int(np.round(value)) if d.kind == "int" else float(value)
        points.append(config)
    return points


@pytest.mark.parametrize("problem", DETERMINISTIC)
def test_deterministic_problems_reproduce_bayesmarks_published_signatures(problem):
    """Split, folds, models and losses are Bayesmark's: its published losses at its five signature
    points come out to 1e-4 relative (measured: at most 1.2e-5, kNN-breast-nll; scikit-learn 0.20.2
    then, 1.9 now: solvers and neighbour searches may differ in the last digits). Stochastic models
    (DT, RF, MLP, SVM's Platt scaling) cannot match draw for draw. AdaBoost's classifier here is
    SAMME.R rebuilt (scikit-learn 1.9 has only SAMME): on wine it is Bayesmark's to 5e-5."""
    task = make_task(f"bayesmark/{problem}")
    ours = [float(np.mean(task.cross_validate(c, seed=0))) for c in bayesmark_signature_points(task)]
    assert ours == pytest.approx(list(baseline(problem).signature), rel=1e-4)


def test_evaluation_is_deterministic_per_seed_and_in_another_process():
    task = make_task("bayesmark/RF-wine-nll")  # bootstrap and feature draws: seeded
    config = task.space.sample(np.random.default_rng(3))
    first = task.evaluate(config, 1, 11, EvalContext())
    again = task.evaluate(config, 1, 11, EvalContext())
    other = task.evaluate(config, 1, 12, EvalContext())
    assert (first.value, first.test_value, first.extra) == (again.value, again.test_value, again.extra)
    assert first.value != other.value  # the seed reaches the forest
    assert first.value == pytest.approx(np.mean(first.extra["fold_losses"]))
    script = ("import json, sys; from tunebench.registry import make_task; "
              "from tunebench.tasks.base import EvalContext; t = make_task('bayesmark/RF-wine-nll'); "
              "r = t.evaluate(json.loads(sys.argv[1]), 1, 11, EvalContext()); "
              "print(json.dumps([r.value, r.test_value]))")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(config)], capture_output=True,
                          text=True, timeout=120, env={"PYTHONHASHSEED": "7", "OMP_NUM_THREADS": "1",
                                                       "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == [first.value, first.test_value]


def _integer_law(low: int, high: int, bayesmark: bool) -> tuple[np.ndarray, np.ndarray]:
    """Values and probabilities of an integer under random search: tunebench's Int gives every
    value equal mass; Bayesmark's random search rounds a uniform real on [low, high], so the two
    end values get half the mass of the others."""
    values = np.arange(low, high + 1)
    mass = np.ones(len(values))
    if bayesmark:
        mass[[0, -1]] = 0.5
    return values, mass / mass.sum()


def _expected_clipped_best(losses: np.ndarray, mass: np.ndarray, clip: float, n: int) -> float:
    """E[min(clip, best of n iid draws)] from a finite distribution, exactly."""
    order = np.argsort(losses, kind="stable")
    losses, mass = np.minimum(losses[order], clip), mass[order]
    above = np.clip(1.0 - np.cumsum(mass), 0.0, 1.0)  # P(draw ranks after i)
    at_or_above = np.concatenate([[1.0], above[:-1]])
    return float((at_or_above**n - above**n) @ losses)


@pytest.mark.parametrize("problem", ["kNN-wine-acc", "kNN-iris-nll", "kNN-diabetes-mse"])
def test_knn_random_search_expectations_match_the_published_baseline_exactly(problem):
    """kNN's space is finite (25 × 4 configurations) and deterministic, so random search's expected
    clipped best after 8·(t+1) evaluations is computed exactly, no sampling. Under Bayesmark's law
    for integers it agrees with the published means at all 16 iterations to within 5 % of the
    published (clip − best) span, the scale Bayesmark's scores are on (measured: at most 2.8 %,
    kNN-wine-acc at 128 evaluations, growing with the evaluations as an error in the published
    pooled estimate's tail would; 0.6 % and 0.9 % on the other two). Under tunebench's equal-mass
    integers, kNN-wine-acc is better than published by 15 % of the span (p = 1, the best metric on
    wine, gets 1/4 of the draws instead of 1/6): on integer spaces tunebench's random search is a
    slightly different algorithm from Bayesmark's."""
    task = make_task(f"bayesmark/{problem}")
    published = baseline(problem)
    span = published.clip - published.best
    grid = {(k, p): float(np.mean(task.cross_validate({"n_neighbors": k, "p": p}, 0)))
            for k in range(1, 26) for p in range(1, 5)}
    gaps = {}
    for law in ("bayesmark", "equal"):
        ks, k_mass = _integer_law(1, 25, law == "bayesmark")
        ps, p_mass = _integer_law(1, 4, law == "bayesmark")
        losses = np.array([grid[k, p] for k in ks for p in ps])
        mass = np.outer(k_mass, p_mass).ravel()
        expected = [_expected_clipped_best(losses, mass, published.clip, 8 * (t + 1)) for t in range(16)]
        gaps[law] = np.abs(np.array(expected) - published.mean) / span
    assert gaps["bayesmark"].max() < 0.05, gaps
    if problem == "kNN-wine-acc":
        assert gaps["equal"].max() > 0.10, gaps


def _frame(problem: str, values: list[float], tests: list[float], status: list[str] | None = None,
           runner: str = "random", repetition: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"task": problem, "task_name": f"bayesmark/{problem}", "runner": runner,
                         "repetition": repetition, "trial": range(len(values)), "value": values,
                         "test_value": tests, "status": status or ["ok"] * len(values)})


def test_published_scores_follow_bayesmarks_formula():
    problem = "SVM-wine-nll"
    vis, gen = baseline(problem), baseline(problem, "generalization")
    quarter = vis.best + 0.25 * (vis.clip - vis.best)
    values = [vis.clip + 1] * 8 + [quarter] + [vis.clip] * 6 + [0.0] + [9.0] * 3
    tests = [5.0] * 8 + [gen.best + 0.5 * (gen.clip - gen.best)] + [5.0] * 6 + [7.0] + [1.0] * 3
    status = ["ok"] * 15 + ["failed"] + ["ok"] * 3  # the failed trial's 0.0 must not count
    scores = published_scores(_frame(problem, values, tests, status))
    assert list(scores["evaluations"]) == [8, 16]  # the last 3 trials are no complete batch
    assert scores["visible_score"].tolist() == pytest.approx([1.0, 0.25])  # worse than clip: 1
    assert scores["generalization_score"].tolist() == pytest.approx([1.0, 0.5])  # the incumbent's
    summary = published_summary(pd.concat([scores, published_scores(
        _frame(problem, [vis.best] * 16, [gen.best] * 16, repetition=1))]))
    assert summary["visible"].tolist() == pytest.approx([0.5, 0.125])
    assert summary["leaderboard"].tolist() == pytest.approx([50.0, 87.5])
    held = incumbents(np.array([3.0, 1.0, 2.0, 1.0]), np.array([0.3, 0.1, 0.2, 0.9]), 2)
    assert held.tolist() == [0.1, 0.1]  # the first trial reaching the best keeps it


def test_the_shipped_baseline_records_its_source():
    source = baseline_source()
    assert source["commit"] == "61720d5d2a002e64485ad951ad1d951109b41b7e"
    assert source["path"] == "input/baseline-16-8.json" and "PMLR 133" in source["citation"]
    for problem in PROBLEMS:
        for objective in ("visible", "generalization"):
            b = baseline(problem, objective)
            assert len(b.mean) == len(b.median) == 16 and len(b.signature) == 5
            assert b.best < min(b.mean) and max(b.mean) <= b.clip  # Bayesmark's own invariants
            assert all(np.diff(b.mean) <= 0)


#: Problems whose spaces hold no integer that changes the loss (reals and fair booleans only:
#: Ridge's max_iter is unused by the Cholesky solver scikit-learn picks), so tunebench's random
#: search samples them exactly as Bayesmark's does; the cheapest such problems here (about 190 ms
#: for one evaluation of each, the test split's refit included).
AGREEMENT_PROBLEMS = ("SVM-iris-acc", "SVM-iris-nll", "SVM-wine-acc", "SVM-diabetes-mse",
                      "SVM-diabetes-mae", "linear-iris-acc", "linear-diabetes-mse", "linear-diabetes-mae")
#: Measured not to agree, and why (see the report): not part of the check.
KNOWN_DISAGREEMENTS = {
    "linear-wine-acc": "from 96 evaluations on, tunebench's random search is better than published by "
                       "about 0.004 accuracy (19 % of the span): one rare configuration region "
                       "(C ≳ 10, intercept_scaling 3–4.6) reaches the top accuracy 0.98596 for 0.67 % "
                       "of random draws here, about 0.26 % by the published curve; liblinear's "
                       "numerics then (0.20.2) and now, or the published pool's size (unstated)",
}
AGREEMENT_REPETITIONS = 10
#: The published means carry their own, unstated, estimation error: on kNN, where tunebench's side
#: is exact, they sit up to 0.028 of the (clip − best) span away (the test above), so 0.05 of it.
PUBLISHED_SLACK = 0.05


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_random_search_agrees_with_bayesmarks_published_baseline(tmp_path):
    """tunebench's `random` runner, 10 repetitions × 128 trials (the challenge's 16 × 8) on eight
    problems, against the published random-search means at all 16 iterations.

    Per problem and iteration t, two estimates of random search's expected min(clip, best after
    8·(t+1)) must each lie within 3 of its standard errors plus 0.05 of the published (clip − best)
    span of the published mean: the mean over the 10 repetitions (what Bayesmark's analysis
    reports for a method; se over repetitions) and Bayesmark's own pooled estimator over all 1280
    evaluations (what the published number is; jackknife se over repetitions, several times
    tighter). The file states no spread, so the spread is ours (3 se: about 0.3 % two-sided per
    check under normality, strongly correlated across the 16 iterations) plus the slack for the
    published side's own error. And the published clip must be a median of tunebench's single
    evaluations: at most half of them below it, at least half at or below it, each to 3 binomial
    standard errors (losses on a lattice, accuracies, have atoms at the median; linear-diabetes-mae's
    median sits at the gap between its two modes, fit_intercept true or false, so only this form
    of the check is sound).
    Budget: about 3.5 minutes on two workers (1280 evaluations per problem)."""
    import tunebench
    from tunebench.reports.bayesmark_published import random_search_agreement
    from tunebench.suite.loading import load_trials

    suite = {"suite": {"name": "bayesmark-agreement", "seed": 0, "repetitions": AGREEMENT_REPETITIONS},
             "budget": {"trials": 128}, "settings": {"threads": 1},
             "tasks": [{"name": f"bayesmark/{p}"} for p in AGREEMENT_PROBLEMS],
             "runners": [{"name": "random"}]}
    tunebench.run_suite(suite, tmp_path / "bm.db", executor="process", workers=2, progress=False)
    trials = load_trials(tmp_path / "bm.db")
    table = random_search_agreement(trials)
    assert sorted(table["problem"].unique()) == sorted(AGREEMENT_PROBLEMS)
    assert (table["repetitions"] == AGREEMENT_REPETITIONS).all()
    assert len(table) == 16 * len(AGREEMENT_PROBLEMS)
    failures = []
    for problem, rows in table.groupby("problem"):
        published = baseline(problem)
        span = published.clip - published.best
        for center, se in (("mean", "se"), ("pooled", "pooled_se")):
            allowed = 3 * rows[se] + PUBLISHED_SLACK * span
            off = rows[(rows[center] - rows["published"]).abs() > allowed]
            failures += [f"{problem} @{r.evaluations}: {center} {getattr(r, center):.5g} ± "
                         f"{getattr(r, se):.2g} vs {r.published:.5g}" for r in off.itertuples()]
        values = trials.loc[trials["task"] == f"bayesmark/{problem}", "value"].to_numpy(dtype=float)
        below, at_or_below = np.mean(values < published.clip), np.mean(values <= published.clip)
        tolerance = 3 * 0.5 / math.sqrt(len(values))
        if below > 0.5 + tolerance or at_or_below < 0.5 - tolerance:
            failures.append(f"{problem}: {below:.3f} of single evaluations below the clip "
                            f"{published.clip:.5g}, {at_or_below:.3f} at or below")
    print(table.assign(gap=lambda f: (f["mean"] - f["published"])).to_string())
    assert not failures, "\n".join(failures)


def test_the_listing_calls_the_optimum_a_reference():
    from tunebench import registry
    from tunebench.cli.listing import task_rows

    rows = {row["name"]: row for row in task_rows(registry)[0]}
    assert rows["bayesmark"]["optimum"] == "reference, per member"
    assert rows["bbob"]["optimum"] == "exact, per member"


def test_the_shipped_suite_runs_bayesmarks_budget():
    from tunebench.suite.spec_parse import check_names, load_suite

    spec = load_suite("bayesmark")
    check_names(spec)
    assert len(spec.tasks) == 18 and spec.budget.amount == 128  # the challenge's 16 × 8
    models = [make_task(t.name).model for t in spec.tasks]
    assert sorted(set(models)) == sorted(SHARED.keys() | {"lasso", "linear"})
    assert all(models.count(m) == 2 for m in set(models))


def test_random_search_agreement_reports_bayesmarks_statistics():
    from tunebench.reports.bayesmark_published import random_search_agreement

    problem = "SVM-iris-acc"
    published = baseline(problem)
    low, high = published.best + 0.001, published.clip + 1.0  # the second is clipped to clip
    first = [high] * 8 + [low] + [high] * 7
    second = [high] * 16
    frame = pd.concat([_frame(problem, first, first), _frame(problem, second, second, repetition=1),
                       _frame(problem, first, first, runner="other")])
    table = random_search_agreement(frame)
    assert table["evaluations"].tolist() == [8, 16] and (table["repetitions"] == 2).all()
    assert table["mean"].tolist() == pytest.approx([published.clip, (low + published.clip) / 2])
    assert table["se"].iloc[0] == 0 and table["z"].iloc[0] == (
        0.0 if published.clip == published.mean[0] else math.inf)
    assert table["se"].iloc[1] == pytest.approx((published.clip - low) / 2)
    # pooled: the expected minimum of 16 draws from the 32 clipped values, one of which is low
    assert table["pooled"].iloc[1] == pytest.approx(published.clip - 0.5 * (published.clip - low))
    assert table["published"].tolist() == list(published.mean[:2])
    # jackknife over the two repetitions: leaving out the one holding `low` moves the pool to clip
    assert table["pooled_se"].iloc[1] == pytest.approx(0.5 * (published.clip - low))
