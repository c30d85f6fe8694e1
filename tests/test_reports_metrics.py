"""Frames and metrics of the report on synthetic stores with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from report_fixtures import fail_study, small_store

from tunebench.reports import metrics
from tunebench.reports.frames import StoreData, build_frames


@pytest.fixture(scope="module")
def frames():
    return build_frames(small_store())


def _study(values, *, direction="minimize", optimum=0.0, budget_kind="trials", amount=None,
           charges=None, tests=None) -> StoreData:
    """One study of one runner from explicit validation values (NaN = failed trial)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    sign = -1.0 if direction == "maximize" else 1.0
    loss = sign * values
    best = np.fmin.accumulate(loss) * sign
    charges = np.ones(n) if charges is None else np.asarray(charges, dtype=float)
    tests = values + 0.5 if tests is None else np.asarray(tests, dtype=float)
    incumbent = pd.Series(np.where(~np.isnan(loss) & ~(np.fmin.accumulate(loss)
                                                       >= np.r_[np.nan, np.fmin.accumulate(loss)[:-1]]),
                                   np.arange(n), np.nan)).ffill()
    best_test = [tests[int(i)] if not np.isnan(i) else np.nan for i in incumbent]
    amount = float(amount if amount is not None else n)
    trials = pd.DataFrame({
        "suite": "s", "study_id": 1, "task": "t", "task_name": "t", "runner": "random",
        "runner_name": "random", "repetition": 0, "trial": np.arange(n),
        "status": np.where(np.isnan(values), "failed", "ok"), "value": values,
        "test_value": np.where(np.isnan(values), np.nan, tests), "best_value": best,
        "best_test_value": best_test, "direction": direction, "optimum": optimum,
        "optimum_is_exact": True, "fidelity": 1, "fidelity_spent": charges,
        "budget_kind": budget_kind, "budget_amount": amount, "charge": charges,
        "budget_spent": np.cumsum(charges), "eval_seconds": 0.01, "optimizer_seconds": 0.001,
        "cpu_seconds": 0.01, "config": [{}] * n, "config_key": [str(i) for i in range(n)],
        "error": [None if v == v else "ValueError: nan" for v in values], "cached": False,
        "device": "cpu",
    })
    studies = pd.DataFrame([{
        "study_id": 1, "suite": "s", "task": "t", "task_name": "t", "task_options": {},
        "runner": "random", "runner_name": "random", "runner_options": {}, "repetition": 0,
        "eval_seed": 1, "runner_seed": 2, "budget_kind": budget_kind, "budget_amount": amount,
        "budget_spent": float(np.sum(charges)), "budget_met": True, "status": "done",
        "n_trials": n, "n_failed": int(np.isnan(values).sum()), "device": "cpu", "threads": 1,
        "precision": "fp32", "direction": direction, "optimum": optimum, "runner_version": "1",
        "started_at": 0.0, "finished_at": 1.0, "env_id": 1,
    }])
    return StoreData(trials, studies)


def test_curves_are_best_so_far_step_functions():
    f = build_frames(_study([5.0, np.nan, 3.0, 4.0, 1.0]))
    trials_axis = f.curves[f.curves["axis"] == "trials"]
    np.testing.assert_allclose(trials_axis["x"], [1, 2, 3, 4, 5])
    np.testing.assert_allclose(trials_axis["value"], [5, 5, 3, 3, 1])
    np.testing.assert_allclose(trials_axis["regret"], [5, 5, 3, 3, 1])
    np.testing.assert_allclose(trials_axis["test"], [5.5, 5.5, 3.5, 3.5, 1.5])
    final = f.final.iloc[0]
    assert final["final_value"] == 1.0 and final["final_test"] == 1.5
    assert (final["n_trials"], final["n_ok"], final["n_failed"]) == (5, 4, 1)


def test_budget_axis_reads_the_budget_spent_and_ends_on_the_final_incumbent():
    # An epochs budget of 10: charges 4, 4, 4 overshoot it; the last point is the end of the study.
    f = build_frames(_study([3.0, 2.0, 1.0], budget_kind="epochs", amount=10,
                            charges=[4, 4, 4]))
    budget = f.curves[f.curves["axis"] == "budget"]
    assert len(budget) == 100
    at = dict(zip(np.round(budget["budget"], 6), budget["value"], strict=True))
    assert np.isnan(at[3.9]) and at[4.0] == 3.0 and at[7.9] == 3.0 and at[8.0] == 2.0
    assert budget["value"].iloc[-1] == 1.0  # the overshooting trial still counts at the end


def test_maximised_task_regret_and_unknown_optimum_use_best_seen():
    f = build_frames(_study([0.5, 0.7, 0.6], direction="maximize", optimum=np.nan))
    ref = f.references.loc["t"]
    assert not ref["optimum_known"] and ref["reference_source"].startswith("best value seen")
    assert ref["reference_value"] == pytest.approx(0.7)
    np.testing.assert_allclose(f.trials["regret"], [0.2, 0.0, 0.0])
    assert metrics.plotted_quantity(f, "t") == "value"


def test_known_optimum_is_the_regret_reference():
    f = build_frames(_study([3.0, 1.5], optimum=1.0))
    assert f.references.loc["t", "optimum_known"]
    np.testing.assert_allclose(f.trials["regret"], [2.0, 0.5])


def test_a_study_where_every_trial_failed_counts_as_the_worst():
    data = small_store()
    sid = int(data.studies.loc[data.studies["runner"] == "tpe", "study_id"].iloc[0])
    f = build_frames(fail_study(data, sid))
    row = f.final.set_index("study_id").loc[sid]
    assert row["no_success"] and np.isnan(row["final_value"]) and row["scaled_loss"] == 1.0
    task_rows = f.final[f.final["task"] == row["task"]]
    assert row["filled_loss"] == task_rows["final_loss"].max()


def test_final_test_summary_is_direction_aware(frames):
    summary = metrics.final_test_summary(frames).set_index(["task", "runner"])
    final = frames.final
    for (task, runner), row in summary.iterrows():
        values = final.loc[(final["task"] == task) & (final["runner"] == runner),
                           "final_test"].dropna()
        assert row["mean"] == pytest.approx(values.mean())
        if row["direction"] == "maximize":
            assert (row["best"], row["worst"]) == (values.max(), values.min())
        else:
            assert (row["best"], row["worst"]) == (values.min(), values.max())
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_ranks_over_budget_average_to_the_mean_rank(frames):
    ranks = metrics.ranks_over_budget(frames)
    k = len(frames.runners)
    np.testing.assert_allclose(ranks.groupby("x")["rank"].sum(), k * (k + 1) / 2)
    assert ranks["n_blocks"].max() == 10  # two tasks × five repetitions


def test_failures_are_grouped_by_the_first_line_of_the_message():
    data = small_store()
    trials = data.trials.copy()
    failed = trials.index[trials["status"] == "failed"]
    trials.loc[failed, "error"] = [f"RuntimeError: out of memory\n  at line {i}"
                                   for i in range(len(failed))]
    table = metrics.failures(build_frames(StoreData(trials, data.studies)))
    assert list(table["error"]) == ["RuntimeError: out of memory"]
    assert table["count"].iloc[0] == len(failed)
    assert metrics.first_line(None) == "(no message)"
    assert metrics.first_line("x" * 500).endswith("…")


def test_optimizer_overhead_and_costs(frames):
    overhead = metrics.optimizer_overhead(frames)
    assert set(overhead["runner"]) == set(frames.runners)
    assert (overhead["q25"] <= overhead["median"]).all()
    costs = metrics.eval_costs(frames)
    assert len(costs) == len(frames.tasks) * len(frames.runners)
    assert (costs["trials"] == 100).all()  # 5 repetitions × 20 trials


def test_several_suites_keep_their_tasks_apart():
    a = small_store(suite="one")
    b = small_store(suite="two", seed=1)
    b.trials["study_id"] += 1000
    b.studies["study_id"] += 1000
    merged = StoreData(pd.concat([a.trials, b.trials], ignore_index=True),
                       pd.concat([a.studies, b.studies], ignore_index=True))
    f = build_frames(merged)
    assert "one / sphere" in f.tasks and "two / sphere" in f.tasks
    assert build_frames(merged, suites=["two"]).tasks == ["sphere", "acc"]
    with pytest.raises(LookupError):
        build_frames(merged, suites=["three"])


def test_missing_columns_are_a_clear_error():
    data = small_store()
    with pytest.raises(ValueError, match="best_value"):
        StoreData(data.trials.drop(columns=["best_value"]), data.studies)


def test_a_store_without_finished_trials_is_a_clear_error():
    data = small_store(repetitions=1)
    with pytest.raises(ValueError, match="no trial has finished"):
        build_frames(StoreData(data.trials.iloc[:0], data.studies))
