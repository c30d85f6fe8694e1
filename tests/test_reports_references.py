"""Regret against each study's own (task, repetition) reference, on stores whose optimum moves
with the seed: real linreg runs and a synthetic task with a per-repetition shift."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest

import tunebench
from tunebench.reports import build_report
from tunebench.reports.frames import StoreData, build_frames, read_store
from tunebench.reports.normalised import normalised_scores
from tunebench.reports.references import final_regrets, reference_of
from tunebench.suite.store import load_studies, load_trials
from tunebench.tasks.linreg import LinearRegressionTask
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store

LINREG_SUITE = """
[suite]
name = "lin"
seed = 0
repetitions = 3
[budget]
trials = 12
[settings]
threads = 1
[[tasks]]
name = "linreg"
options = { max_epochs = 10 }
[[runners]]
name = "random"
[[runners]]
name = "optuna.tpe"
[[runners]]
name = "hyperopt.tpe"
"""


@pytest.fixture(scope="module")
def linreg_db(tmp_path_factory):
    """A real store: linreg (its optimum depends on the seed's data split), 3 repetitions."""
    folder = tmp_path_factory.mktemp("linreg")
    suite = folder / "lin.toml"
    suite.write_text(textwrap.dedent(LINREG_SUITE), encoding="utf-8")
    db = folder / "lin.db"
    tunebench.run_suite(suite, db, progress=False)
    return db


def _hand_references(trials: pd.DataFrame, studies: pd.DataFrame) -> dict[int, float]:
    """Per repetition, by hand: the seed's reference optimum unless some run beat it."""
    out = {}
    for rep in sorted(studies["repetition"].unique()):
        optimum = float(studies.loc[studies["repetition"] == rep, "optimum"].iloc[0])
        ok = trials[(trials["repetition"] == rep) & (trials["status"] == "ok")]
        best = min(float(v) for v in ok["value"])
        out[int(rep)] = best if best < optimum * (1 - 1e-9) else optimum
    return out


def test_linreg_references_are_each_seeds_own(linreg_db):
    trials, studies = load_trials(linreg_db), load_studies(linreg_db)
    # The store's optimum per study is the task's reference for that study's own seed.
    task = LinearRegressionTask(max_epochs=10)
    for row in studies.itertuples():
        assert row.optimum == pytest.approx(task.optimum_for_seed(int(row.eval_seed)), rel=1e-9)
    assert studies.groupby("repetition")["optimum"].first().nunique() == 3
    hand = _hand_references(trials, studies)
    report = build_report(linreg_db, n_boot=50)
    regrets = report.frames["final_regret"]
    assert list(regrets.columns[:4]) == ["task", "runner", "repetition", "regret"]
    for row in regrets.itertuples():
        own = trials[(trials["runner"] == row.runner) & (trials["repetition"] == row.repetition)
                     & (trials["status"] == "ok")]
        final = min(float(v) for v in own["value"])
        assert row.regret == pytest.approx(max(final - hand[row.repetition], 0.0), abs=1e-9)
    assert (regrets["regret"] >= 0).all()
    # Where a run beat the reference, the best study of that repetition has regret 0.
    refs = report.frames["references"].set_index("repetition")
    for rep, group in regrets.groupby("repetition"):
        if refs.loc[rep, "reference_source"].startswith("best value seen"):
            assert group["regret"].min() == 0.0


def test_linreg_normalised_scores_computed_by_hand(linreg_db):
    trials, studies = load_trials(linreg_db), load_studies(linreg_db)
    hand = _hand_references(trials, studies)
    per_runner: dict[str, list[float]] = {}
    for row in studies.itertuples():
        rep = int(row.repetition)
        random = trials[(trials["runner"] == "random") & (trials["repetition"] == rep)]
        evals = sorted(float(v) if s == "ok" else math.inf
                       for v, s in zip(random["value"], random["status"], strict=True))
        clip = evals[math.ceil(len(evals) / 2) - 1]  # the median as an order statistic
        own = trials[(trials["study_id"] == row.study_id) & (trials["status"] == "ok")]
        best = min(min(float(v) for v in own["value"]), clip)
        score = min(max((best - hand[rep]) / (clip - hand[rep]), -1.0), 1.0)
        per_runner.setdefault(row.runner, []).append(score)
    scores = normalised_scores(build_frames(read_store(linreg_db)))
    for runner, values in per_runner.items():
        assert scores.table.loc["linreg", runner] == pytest.approx(sum(values) / len(values))
    # Per repetition, random search's pool is its own single study: its expected best after all
    # its evaluations is its own best, so it scores exactly 1 relative to itself.
    summary = scores.summary.set_index("runner")
    assert summary.loc["random", "relative_to_random"] == pytest.approx(1.0)


def test_final_regrets_from_the_store_frames_match_the_report(linreg_db):
    direct = final_regrets(load_trials(linreg_db), load_studies(linreg_db))
    report = build_report(linreg_db, n_boot=50).frames["final_regret"]
    merged = direct.merge(report, on=["task", "runner", "repetition"], suffixes=("", "_report"))
    assert len(merged) == 9
    np.testing.assert_allclose(merged["regret"], merged["regret_report"])
    assert merged["reference_source"].notna().all()


def test_per_seed_shift_known_optimum_gives_per_repetition_regrets():
    data = synthetic_store([SynthTask("shifted", optimum=1.0, shift=5.0, scale=2.0,
                                      budget_amount=10)],
                           [SynthRunner("random"), SynthRunner("tpe", power=3.0)], repetitions=4,
                           seed=5)
    report = build_report(data, n_boot=50)
    regrets = report.frames["final_regret"]
    t = data.trials
    for row in regrets.itertuples():
        own = t[(t["runner"] == row.runner) & (t["repetition"] == row.repetition)
                & (t["status"] == "ok")]
        expected = min(own["value"]) - (1.0 + 5.0 * row.repetition)  # the seed's own optimum
        assert row.regret == pytest.approx(expected, rel=1e-12)
        assert row.regret < 2.0  # never measured from another repetition's optimum
    table = report.tables["references"].data.set_index("task")
    assert table.loc["shifted", "varies"] and table.loc["shifted", "reference_source"] == \
        "known optimum"


def test_per_seed_shift_unknown_optimum_uses_each_repetitions_best():
    data = synthetic_store([SynthTask("acc", direction="maximize", optimum=None, best=0.9,
                                      shift=-0.1, scale=0.3, budget_amount=10)],
                           [SynthRunner("random"), SynthRunner("tpe", power=3.0)], repetitions=3,
                           seed=2)
    regrets = build_report(data, n_boot=50).frames["final_regret"]
    t = data.trials[data.trials["status"] == "ok"]
    for rep, group in regrets.groupby("repetition"):
        best_seen = t.loc[t["repetition"] == rep, "value"].max()
        for row in group.itertuples():
            final = t.loc[(t["repetition"] == rep) & (t["runner"] == row.runner), "value"].max()
            assert row.regret == pytest.approx(best_seen - final, abs=1e-15)
        assert group["regret"].min() == 0.0


def test_a_beaten_reference_optimum_falls_back_to_the_best_seen():
    data = synthetic_store([SynthTask("ref", optimum=0.5, exact=False, scale=2.0,
                                      budget_amount=10)],
                           [SynthRunner("random"), SynthRunner("tpe", power=3.0)], repetitions=2,
                           seed=1)
    # Shift every value down by 0.5 on repetition 1 only, so runs there beat the reference 0.5.
    trials = data.trials.copy()
    rows = trials["repetition"] == 1
    for col in ("value", "best_value"):
        trials.loc[rows, col] -= 0.5
    frames = build_report(StoreData(trials, data.studies), n_boot=50)
    refs = frames.frames["references"].set_index("repetition")
    assert refs.loc[0, "reference_source"] == "reference optimum (not proven)"
    assert refs.loc[0, "reference_value"] == 0.5
    assert refs.loc[1, "reference_source"].startswith("best value seen")
    assert refs.loc[1, "reference_value"] == pytest.approx(
        trials.loc[rows & (trials["status"] == "ok"), "value"].min())


def test_scaled_final_values_for_the_tests_use_each_repetitions_reference():
    # A shift of 100 per repetition dwarfs the differences between runners; scaled from the raw
    # values every study of repetition 3 would read ~1 and of repetition 0 ~0.
    data = synthetic_store([SynthTask("shifted", optimum=0.0, shift=100.0, scale=2.0,
                                      budget_amount=8)],
                           [SynthRunner("random"), SynthRunner("tpe", power=3.0)], repetitions=4,
                           seed=9)
    final = build_frames(data).final
    t = data.trials[data.trials["status"] == "ok"]
    regrets = {(row.runner, row.repetition):
               t.loc[(t["runner"] == row.runner) & (t["repetition"] == row.repetition),
                     "value"].min() - 100.0 * row.repetition
               for row in final.itertuples()}
    low, high = min(regrets.values()), max(regrets.values())
    for row in final.itertuples():
        hand = (regrets[(row.runner, row.repetition)] - low) / (high - low)
        assert row.scaled_loss == pytest.approx(hand, abs=1e-12)


def test_a_row_without_a_reference_reads_nan_not_another_rows_reference():
    refs = build_frames(synthetic_store([SynthTask("a", budget_amount=5, shift=1.0)],
                                        [SynthRunner("random")], repetitions=2)).repetition_references
    probe = pd.DataFrame({"task": ["a", "a", "b"], "repetition": [1, 7, 0]})
    np.testing.assert_array_equal(reference_of(probe, refs), [1.0, np.nan, np.nan])
    assert list(reference_of(probe, refs, "reference_source")) == ["known optimum", None, None]
