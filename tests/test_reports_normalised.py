"""Bayesmark's normalised score: hand-computed examples, its pooled estimator, its aggregation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from report_fixtures import rename, small_store, subset

from tunebench.reports import build_report
from tunebench.reports.frames import StoreData, build_frames
from tunebench.reports.normalised import (
    ALL_TASKS,
    expected_min,
    normalised_score_curve,
    normalised_scores,
)
from tunebench.testing.synthetic_store import (
    ExplicitStudy,
    SynthRunner,
    SynthTask,
    explicit_store,
    synthetic_store,
)

NAN = float("nan")


def _hand_store() -> StoreData:
    """Known optimum 0 on both repetitions, so random search is pooled over them.

    Random search's six evaluations: 4, 2, 8 and 6, (failed), 3 → sorted 2, 3, 4, 6, 8, +inf; the
    median by order statistic ceil(6 / 2) = 3 is 4: the clip level. The other runner diverges
    (5.8e271, stored as ok) and never beats the clip on repetition 1.
    """
    return explicit_store([
        ExplicitStudy("t", "random", 0, (4.0, 2.0, 8.0)),
        ExplicitStudy("t", "random", 1, (6.0, NAN, 3.0)),
        ExplicitStudy("t", "opt", 0, (5.0, 1.0, 0.5)),
        ExplicitStudy("t", "opt", 1, (9.0, 5.8e271, 9.0)),
    ])


def test_hand_computed_scores_with_clipping():
    scores = normalised_scores(build_frames(_hand_store()))
    problems = scores.problems.set_index("repetition")
    assert problems["pooled"].all() and (problems["clip_loss"] == 4.0).all()
    assert (problems["n_random"] == 6).all()
    final = scores.final.set_index(["runner", "repetition"])["score"]
    # random: best 2 → 2/4; best 3 → 3/4. opt: best 0.5 → 0.5/4; best 9 clipped to 4 → 1.
    assert final[("random", 0)] == pytest.approx(0.5)
    assert final[("random", 1)] == pytest.approx(0.75)
    assert final[("opt", 0)] == pytest.approx(0.125)
    assert final[("opt", 1)] == pytest.approx(1.0)
    assert scores.table.loc["t", "random"] == pytest.approx(0.625)
    assert scores.table.loc["t", "opt"] == pytest.approx(0.5625)
    # Random search's expected score after m evaluations: clipped pool 2, 3, 4, 4, 4, 4.
    # m = 1: the mean, 21/6 = 3.5 → 0.875; m = 3: P(min is the i-th smallest) = C(6-i, 2) / 20
    # = .5, .3, .15, .05 → 2.7 → 0.675.
    expected = scores.random_expected.query("repetition == 0").set_index("m")["score"]
    assert expected[1.0] == pytest.approx(0.875)
    assert expected[3.0] == pytest.approx(0.675)
    summary = scores.summary.set_index("runner")
    assert summary.loc["opt", "mean_score"] == pytest.approx(0.5625)
    assert summary.loc["opt", "bayesmark_score"] == pytest.approx(43.75)
    assert summary.loc["opt", "relative_to_random"] == pytest.approx(0.5625 / 0.675)
    assert summary.loc["random", "relative_to_random"] == pytest.approx(0.625 / 0.675)
    # Over the budget: after one trial opt has 5 and 9, both clipped to 4 → 1.
    first = scores.over_budget.query("runner == 'opt' and x < 0.34")["score"]
    np.testing.assert_allclose(first, [1.0, 1.0])


def test_expected_min_matches_enumerating_every_subset():
    rng = np.random.default_rng(3)
    for n in (1, 4, 7):
        values = np.round(rng.normal(size=n), 2)
        values[: n // 3] = values[-1]  # ties
        for m in range(1, n + 1):
            subsets = list(itertools.combinations(values, m))
            brute = sum(min(s) for s in subsets) / len(subsets)
            assert expected_min(values, [m])[0] == pytest.approx(brute, abs=1e-12)
    assert np.isnan(expected_min([1.0, 2.0], [3])[0])  # m > n: no unbiased estimate


def test_twin_random_search_scores_like_the_pooled_expectation():
    # "random" and "random2" are the same search (independent draws): over many repetitions the
    # twin's mean score must match random search's pooled expected score, so its score relative
    # to random search is 1 within a few standard errors.
    data = synthetic_store(
        [SynthTask("sphere", scale=5.0, budget_amount=15),
         SynthTask("acc", direction="maximize", optimum=None, best=0.9, scale=0.4,
                   budget_amount=15)],
        [SynthRunner("random"), SynthRunner("random2"), SynthRunner("better", power=3.0),
         SynthRunner("worse", power=0.5)],
        repetitions=300, seed=11)
    scores = normalised_scores(build_frames(data))
    end = scores.random_expected.sort_values("x").groupby(["task", "repetition"]).tail(1)
    sphere_expected = end.query("task == 'sphere'")["score"].mean()
    twin = scores.final.query("task == 'sphere' and runner == 'random2'")["score"]
    se = twin.std(ddof=1) / math.sqrt(len(twin))
    assert abs(twin.mean() - sphere_expected) < 4 * se
    table = scores.table
    for task in ("sphere", "acc"):
        assert table.loc[task, "better"] < table.loc[task, "random2"] < table.loc[task, "worse"]
    assert scores.summary.set_index("runner").loc["random2", "relative_to_random"] == \
        pytest.approx(1.0, abs=0.15)


def test_diverged_but_finite_values_keep_the_axis_within_bounds():
    data = small_store()
    trials = data.trials.copy()
    rows = (trials["task"] == "sphere") & (trials["trial"] < 3) & (trials["status"] == "ok")
    trials.loc[rows, "value"] = 5.8e271  # diverged, stored as ok
    trials.loc[rows, "best_value"] = 5.8e271
    frames = build_frames(StoreData(trials, data.studies))
    scores = normalised_scores(frames)
    curve = normalised_score_curve(frames, scores)
    assert curve["center"].between(0.0, 1.0).all()
    assert curve[["lo", "hi"]].stack().between(0.0, 1.0).all()  # t bands clipped to the range
    assert scores.over_budget["score"].dropna().between(0.0, 1.0).all()
    figure = build_report(StoreData(trials, data.studies), n_boot=50).figures["normalised_score"]
    low, high = figure.axes[0].get_ylim()
    assert -0.2 < low <= 0.0 and 1.0 <= high < 1.5


def test_the_curve_averages_the_same_tasks_at_every_point():
    data = synthetic_store([SynthTask("a", budget_amount=30),
                            SynthTask("b", budget_kind="epochs", budget_amount=40, max_fidelity=4)],
                           [SynthRunner("random"), SynthRunner("tpe", power=3.0)], repetitions=4)
    frames = build_frames(data)
    curve = normalised_score_curve(frames, normalised_scores(frames))
    assert (curve["n_tasks"] == 2).all()
    assert curve["x"].min() == pytest.approx(1 / 30)  # the first point every task has


def test_smoke_tasks_stay_out_of_the_mean():
    data = synthetic_store([SynthTask("real", budget_amount=10),
                            SynthTask("smoke", budget_amount=10, smoke=True)],
                           [SynthRunner("random"), SynthRunner("tpe", power=3.0)], repetitions=3)
    scores = normalised_scores(build_frames(data))
    assert scores.left_out_tasks == ["smoke"]
    assert scores.table.loc[ALL_TASKS, "tpe"] == pytest.approx(scores.table.loc["real", "tpe"])
    report = build_report(data, n_boot=50)
    notes = [p for s in report.sections for k, p in s.items if k == "note"]
    assert any("Smoke-test tasks are left out" in n and "smoke" in n for n in notes)


def test_normalised_score_needs_a_random_runner():
    scores = normalised_scores(build_frames(subset(small_store(), runners=["tpe", "cma"])))
    assert scores.baseline is None and scores.final.empty


def test_random_baseline_found_by_registered_name():
    data = rename(small_store(), runner={"random": "my random search"})
    scores = normalised_scores(build_frames(data))
    assert scores.baseline == "my random search"
    assert isinstance(scores.summary, pd.DataFrame) and len(scores.summary) == 3


def test_seed_dependent_optima_get_one_pool_per_repetition():
    data = synthetic_store([SynthTask("shifted", optimum=0.0, shift=50.0, scale=4.0,
                                      budget_amount=9)],
                           [SynthRunner("random"), SynthRunner("tpe", power=3.0)], repetitions=3,
                           seed=4)
    scores = normalised_scores(build_frames(data))
    problems = scores.problems.set_index("repetition")
    assert not problems["pooled"].any() and (problems["n_random"] == 9).all()
    t = data.trials
    for rep in range(3):
        own = sorted(t.loc[(t["runner"] == "random") & (t["repetition"] == rep), "value"])
        assert problems.loc[rep, "clip_loss"] == own[4]  # the 5th of 9: ceil(9 / 2)
        assert problems.loc[rep, "reference_loss"] == 50.0 * rep
    assert scores.final["score"].between(0.0, 1.0).all()
