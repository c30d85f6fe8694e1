"""The COCO-style ECDF and the cross-task budget grid: fixed targets, monotone curves, the same
blocks at every budget point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from report_fixtures import small_store, subset

from tunebench.reports import build_report
from tunebench.reports.budget_grid import common_fractions, on_common_grid
from tunebench.reports.ecdf import DELTA_F_TARGETS, anytime_ecdf, ecdf_targets
from tunebench.reports.frames import StoreData, build_frames
from tunebench.reports.metrics import ranks_over_budget
from tunebench.testing.synthetic_store import (
    ExplicitStudy,
    SynthRunner,
    SynthTask,
    explicit_store,
    synthetic_store,
)


def _mixed_store(**kwargs):
    """Trial-budget tasks (30 trials) beside an epoch-budget task (hundredths of 40 epochs)."""
    return synthetic_store(
        [SynthTask("sphere", budget_amount=30, shift=1.0),
         SynthTask("acc", direction="maximize", optimum=None, best=0.9, scale=0.4,
                   budget_amount=30),
         SynthTask("cnn", direction="maximize", optimum=None, best=0.95, scale=0.5,
                   budget_kind="epochs", budget_amount=40, max_fidelity=4)],
        [SynthRunner("random"), SynthRunner("tpe", power=3.0),
         SynthRunner("cma", power=2.0, fail_rate=0.1)], repetitions=4, **kwargs)


def test_known_optimum_targets_are_cocos_delta_f_above_each_seeds_optimum():
    frames = build_frames(_mixed_store())
    targets = ecdf_targets(frames)
    sphere = targets[targets["task"] == "sphere"]
    assert len(DELTA_F_TARGETS) == 51
    assert DELTA_F_TARGETS[0] == 100.0 and DELTA_F_TARGETS[-1] == pytest.approx(1e-8)
    for rep, group in sphere.groupby("repetition"):
        np.testing.assert_allclose(group["target_loss"], 1.0 * rep + DELTA_F_TARGETS)


def test_unknown_optimum_targets_are_quantiles_of_random_search_evaluations():
    frames = build_frames(_mixed_store())
    targets = ecdf_targets(frames, n_targets=5)
    t = frames.trials
    random = t[(t["task"] == "acc") & (t["runner"] == "random")]
    losses = sorted(-v if s == "ok" else math.inf
                    for v, s in zip(random["value"], random["status"], strict=True))
    assert len(losses) == 4 * 30  # pooled over the repetitions: one ladder for the task
    for rep in range(4):
        own = targets[(targets["task"] == "acc") & (targets["repetition"] == rep)]
        levels = own["level"].to_numpy()
        assert levels[0] == 0.5 and levels[-1] == pytest.approx(1 / len(losses))
        hand = [losses[math.ceil(len(losses) * q - 1e-9) - 1] for q in levels]
        np.testing.assert_allclose(own["target_loss"], hand)


def test_direct_count_on_a_hand_example():
    data = explicit_store([ExplicitStudy("t", "random", 0, (150.0, 1.0, 0.5, 1e-3))])
    frames = build_frames(data)
    ecdf = anytime_ecdf(frames, ecdf_targets(frames))
    # Δf targets 10^2 … 10^-8 (five per decade): 150 reaches none, 1 reaches 10^2 … 10^0 (11),
    # 0.5 also 10^-0.2 (12), 1e-3 reaches down to 10^-3 (26).
    np.testing.assert_allclose(ecdf["fraction"], np.array([0, 11, 12, 26]) / 51)


def test_adding_a_runner_moves_nobody_elses_curve():
    full = build_frames(_mixed_store(seed=3))
    fewer = build_frames(subset(_mixed_store(seed=3), runners=["random", "tpe"]))
    for aggregate in (True, False):
        a = anytime_ecdf(full, ecdf_targets(full), aggregate=aggregate)
        b = anytime_ecdf(fewer, ecdf_targets(fewer), aggregate=aggregate)
        keys = ["runner", "x"] if aggregate else ["task", "runner", "x"]
        merged = a.merge(b, on=keys, suffixes=("_full", "_fewer"))
        assert len(merged) == len(b)
        np.testing.assert_allclose(merged["fraction_full"], merged["fraction_fewer"])


def test_ecdf_is_non_decreasing_on_a_store_mixing_trial_and_epoch_budgets():
    frames = build_frames(_mixed_store(seed=4))
    ecdf = anytime_ecdf(frames, ecdf_targets(frames))
    assert set(ecdf["n_tasks"]) == {3}
    for _, line in ecdf.groupby("runner"):
        fractions = line.sort_values("x")["fraction"].to_numpy()
        assert (np.diff(fractions) >= 0).all()
        assert ((fractions >= 0) & (fractions <= 1)).all()
    per_task = anytime_ecdf(frames, ecdf_targets(frames), aggregate=False)
    for _, line in per_task.groupby(["task", "runner"]):
        assert (np.diff(line.sort_values("x")["fraction"].to_numpy()) >= 0).all()


def test_the_common_grid_starts_where_every_task_has_a_value():
    frames = build_frames(_mixed_store())
    budget = frames.curves[frames.curves["axis"] == "budget"]
    grid = common_fractions(budget)
    assert grid[0] == pytest.approx(1 / 30) and grid[-1] == 1.0
    # The union of 1/30 steps and 1/100 steps from 1/30 on.
    expected = np.unique(np.round(np.r_[np.arange(1, 31) / 30, np.arange(4, 101) / 100], 12))
    np.testing.assert_allclose(grid, expected)
    read = on_common_grid(frames)
    assert read["loss"].notna().mean() > 0.95  # only failed-so-far studies lack a value
    # Carried forward: the epoch task read at 1/30 is its own value at 0.03.
    cnn = budget[(budget["task"] == "cnn") & np.isclose(budget["x"], 0.03)].set_index("study_id")
    at = read[(read["task"] == "cnn") & np.isclose(read["x"], 1 / 30)].set_index("study_id")
    np.testing.assert_allclose(at["loss"], cnn.loc[at.index, "loss"])


def test_ranks_over_budget_use_the_same_blocks_at_every_point():
    frames = build_frames(_mixed_store(seed=5))
    ranks = ranks_over_budget(frames)
    assert ranks["n_blocks"].nunique() == 1 and ranks["n_blocks"].iloc[0] == 12  # 3 tasks × 4
    assert ranks["n_tasks"].nunique() == 1 and ranks["n_tasks"].iloc[0] == 3
    k = len(frames.runners)
    np.testing.assert_allclose(ranks.groupby("x")["rank"].sum(), k * (k + 1) / 2)
    assert ranks["x"].nunique() == len(common_fractions(
        frames.curves[frames.curves["axis"] == "budget"]))


def test_the_report_draws_the_ecdf_on_a_log_budget_axis():
    report = build_report(small_store(), n_boot=50)
    fig = report.figures["ecdf"]
    assert all(ax.get_xscale() == "log" for ax in fig.axes if ax.has_data())
    assert "ecdf_per_task" in report.frames


def test_smoke_tasks_are_left_out_of_the_cross_task_curves():
    data = synthetic_store([SynthTask("real", budget_amount=10),
                            SynthTask("smoke", budget_amount=20, smoke=True)],
                           [SynthRunner("random"), SynthRunner("tpe", power=3.0)], repetitions=3)
    frames = build_frames(data)
    assert frames.smoke_tasks == ["smoke"] and frames.cross_task_tasks == ["real"]
    assert set(anytime_ecdf(frames, ecdf_targets(frames))["n_tasks"]) == {1}
    ranks = ranks_over_budget(frames)
    assert set(ranks["n_tasks"]) == {1} and set(ranks["n_blocks"]) == {3}
    assert np.isclose(ranks["x"].min(), 0.1)  # the smoke task's 1/20 steps are not on the grid


def test_a_block_missing_a_runner_is_left_out_at_every_point():
    data = _mixed_store(seed=6)
    gone = int(data.studies.query("task == 'cnn' and runner == 'tpe' and repetition == 2")
               ["study_id"].iloc[0])
    data = StoreData(data.trials[data.trials["study_id"] != gone],
                     data.studies[data.studies["study_id"] != gone])
    ranks = ranks_over_budget(build_frames(data))
    assert set(ranks["n_blocks"]) == {11} and set(ranks["n_tasks"]) == {3}
