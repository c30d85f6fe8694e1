"""Where the harness's new facts meet the report: smoke tasks, repeated runs (a pinned seed),
trials clipped by a time budget, grids that ran out of points, tasks with their own repetition
counts. One real mixed store, built once (a few seconds)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import tunebench
from tunebench.reports.frames import build_frames, read_store

PLUGIN = '''
import time
from tunebench import Direction, Float, Result, Space, Task

class BusyQuadratic(Task):
    """x² + 0.1/step over three steps of about 10 ms of busy time each."""
    name = "busy_quadratic"
    direction = Direction.MINIMIZE
    max_fidelity = 3
    space = Space({"x": Float(-1.0, 1.0)})
    optimum = 0.0

    def evaluate(self, config, fidelity, seed, context):
        for step in range(1, fidelity + 1):
            start = time.perf_counter()
            while time.perf_counter() - start < 0.01:
                pass
            value = config["x"] ** 2 + 0.1 / step
            context.report(step, value)
        return Result(value=value, test_value=value)
'''

SUITE = '''
[suite]
name = "seams"
seed = 0
repetitions = 6
plugins = ["busy.py"]
[budget]
trials = 12
[[tasks]]
name = "branin"
[[tasks]]
name = "hartmann6"
repetitions = 3
[[tasks]]
name = "busy_quadratic"
budget = { device_seconds = 0.12 }
repetitions = 4
[[tasks]]
name = "camel6"
smoke = true
budget = { trials = 5 }
[[runners]]
name = "random"
[[runners]]
name = "grid"
options = { resolution = 3 }
[[runners]]
name = "optuna.tpe"
[[runners]]
name = "hyperopt.tpe"
options = { seed = 12 }
'''


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seams")
    (folder / "busy.py").write_text(textwrap.dedent(PLUGIN))
    (folder / "suite.toml").write_text(SUITE)
    db = folder / "seams.db"
    summary = tunebench.run_suite(folder / "suite.toml", db, progress=False)
    assert summary.ok, summary.failed_studies
    return db


@pytest.fixture(scope="module")
def report(store: Path):
    return tunebench.build_report(store, n_boot=10)


def test_smoke_tasks_stay_out_of_every_test_and_the_headline_says_so(report) -> None:
    blocks = report.statistics["comparison"].blocks.values.index
    assert "camel6" not in set(blocks) and "branin" in set(blocks)
    text = " ".join(t for _, t in report.headline)
    assert "camel6" in text and "not compared" in text
    assert not any(t.startswith("On camel6") for _, t in report.headline)


def test_a_pinned_seed_is_one_run_counted_once(report, store) -> None:
    studies = tunebench.load_studies(store)
    pinned = studies[studies["runner"] == "hyperopt.tpe"]
    assert pinned["identical_to"].notna().sum() == len(pinned) - pinned["task"].nunique()
    # The paired tests see one run of it per task, so it can never be "significant".
    versus = report.frames["vs_random_test"]
    assert (versus.loc[versus["runner"] == "hyperopt.tpe", "n"] <= 1).all()
    assert not any("hyperopt.tpe is significantly" in t for _, t in report.headline)
    note = next(t for _, t in report.headline if t.startswith("Repetitions that repeat"))
    assert "hyperopt.tpe on branin (1 distinct of 6)" in note


def test_clipped_trials_are_neither_pruned_nor_evaluations_of_random_search(report, store) -> None:
    frames = build_frames(read_store(store))
    trials = frames.trials
    clipped = trials[trials["clipped"]]
    assert len(clipped) and set(clipped["task"]) == {"busy_quadratic"}
    counts = report.frames["failure_counts"].set_index("runner")
    assert counts.loc["random", "pruned"] == 0 and counts.loc["random", "clipped"] > 0
    problems = report.frames["normalised_problems"]
    clip = problems.loc[problems["task"] == "busy_quadratic"]
    pool = trials[(trials["runner"] == "random") & (trials["task"] == "busy_quadratic")
                  & ~trials["clipped"]]
    for row in clip.itertuples():
        mine = (pool if row.pooled else pool[pool["repetition"] == row.repetition])
        mine = mine["loss"].fillna(np.inf).to_numpy()  # a failed evaluation counts as +inf
        assert row.n_random == len(mine)
        assert row.clip_loss == pytest.approx(np.quantile(mine, 0.5, method="inverted_cdf"))


def test_a_grid_that_ran_out_of_points_is_a_note_not_an_unspent_budget(report, store) -> None:
    studies = tunebench.load_studies(store)
    exhausted = studies[studies["search_exhausted"]]
    assert set(exhausted["runner"]) == {"grid"} and not exhausted["budget_met"].any()
    assert not any("did not spend their whole budget" in w for w in report.warnings)
    assert any("proposed every point" in n for n in report.provenance.notes)


def test_the_tasks_with_few_repetitions_are_named(report) -> None:
    warning = next(t for _, t in report.headline if t.startswith("Fewer than 5 repetitions"))
    assert "hartmann6 (3)" in warning and "busy_quadratic (4)" in warning
    assert "branin" not in warning


def test_the_run_names_a_pinned_seed_as_the_cause_of_identical_repetitions(store) -> None:
    spec = tunebench.load_suite(store.parent / "suite.toml")
    summary = tunebench.run_suite(spec, store, progress=False)  # nothing left to run
    said = summary.identical_repetitions["branin × hyperopt.tpe"]
    assert "seed is pinned (options.seed = 12)" in said and "each distinct run once" in said
