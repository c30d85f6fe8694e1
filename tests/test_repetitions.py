"""Repetitions as growth: `--repetitions N` on a store holding fewer runs only the missing ones,
and no study is ever counted twice, whatever the store holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_store_schema import downgrade_to_schema_3, schema_3_fingerprint
from typer.testing import CliRunner

import tunebench
from tunebench.cli import app
from tunebench.cli.show import summary_frame
from tunebench.suite.spec import SuiteError, SuiteSpec
from tunebench.suite.store import load_curves, load_studies, load_suite_specs, load_trials

SUITE = """
[suite]
name = "grow"
seed = 4
repetitions = 2
plugins = ["@PLUGIN@"]
[budget]
trials = 5
[[tasks]]
name = "branin"
[[tasks]]
name = "curve"
[[runners]]
name = "random"
[[runners]]
name = "recorder"
"""

IDENTITY = ["task", "runner", "repetition", "trial", "status", "value", "config_key", "charge"]


def _identity(db: Path):
    return load_trials(db)[IDENTITY].sort_values(IDENTITY[:4]).reset_index(drop=True)


def test_more_repetitions_run_only_the_missing_studies(write_suite, tmp_path):
    path = write_suite(SUITE)
    db = tmp_path / "grown.db"
    tunebench.run_suite(path, db, progress=False)
    grown = tunebench.run_suite(path, db, progress=False, repetitions=5)
    assert grown.studies_total == 2 * 2 * 5
    assert grown.studies_skipped == 2 * 2 * 2 and grown.studies_run == 2 * 2 * 3
    assert grown.trials_run == 2 * 2 * 3 * 5
    specs = load_suite_specs(db)
    assert len(specs) == 1 and specs[0]["spec"]["repetitions"] == 5  # one suite, grown
    # The grown store is the suite run with 5 repetitions from the start, trial for trial.
    fresh = tmp_path / "fresh.db"
    tunebench.run_suite(write_suite(SUITE.replace("repetitions = 2", "repetitions = 5"), "f.toml"),
                        fresh, progress=False)
    assert _identity(db).equals(_identity(fresh))
    # Fewer repetitions than stored: nothing runs, nothing stored is dropped.
    cut = tunebench.run_suite(path, db, progress=False, repetitions=1)
    assert cut.studies_run == 0 and cut.studies_total == 2 * 2
    assert sorted(load_studies(db)["repetition"].unique()) == [0, 1, 2, 3, 4]
    assert load_suite_specs(db)[0]["spec"]["repetitions"] == 5


def test_the_cli_grows_a_suite_with_repetitions(write_suite, tmp_path):
    path = write_suite(SUITE)
    db = tmp_path / "r.db"
    runner = CliRunner()
    first = runner.invoke(app, ["run", str(path), "--db", str(db), "-q", "--no-cache"])
    assert first.exit_code == 0, first.output
    grown = runner.invoke(app, ["run", str(path), "--db", str(db), "-q", "--no-cache",
                                "--repetitions", "3"])
    assert grown.exit_code == 0, grown.output
    assert "4 studies run, 8 already finished" in " ".join(grown.output.split())
    assert len(load_studies(db)) == 12
    bad = runner.invoke(app, ["run", str(path), "--db", str(db), "--repetitions", "0"])
    assert bad.exit_code == 2


@pytest.fixture
def appended_store(write_suite, tmp_path, monkeypatch) -> Path:
    """A store as `--append` left it before schema 4: the suite with 2 repetitions, then the same
    suite with 3 as a second suite, which ran repetitions 0 and 1 again."""
    db = tmp_path / "appended.db"
    with monkeypatch.context() as patch:
        patch.setattr(SuiteSpec, "fingerprint",
                      property(lambda spec: schema_3_fingerprint(spec.to_dict())))
        tunebench.run_suite(write_suite(SUITE), db, progress=False)
        tunebench.run_suite(write_suite(SUITE.replace("repetitions = 2", "repetitions = 3"), "3.toml"),
                            db, progress=False, append=True)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM suites").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM studies").fetchone()[0] == 2 * 2 * (2 + 3)
    return db


def test_a_study_stored_twice_is_counted_once(appended_store):
    studies = load_studies(appended_store)
    assert len(studies) == 2 * 2 * 3
    assert not studies.duplicated(["task", "runner", "repetition"]).any()
    trials = load_trials(appended_store)
    assert len(trials) == 2 * 2 * 3 * 5
    assert set(trials["study_id"]) == set(studies["study_id"])
    assert set(load_curves(appended_store)["study_id"]) <= set(studies["study_id"])
    # `show` counts three repetitions per pair, not five.
    summary = summary_frame(appended_store)
    assert summary["reps"].tolist() == [3] * 4
    assert summary["trials"].tolist() == [15] * 4


def test_the_kept_copy_is_the_finished_one(appended_store):
    with sqlite3.connect(appended_store) as conn:  # the first copy of one study was interrupted
        first = conn.execute("SELECT MIN(id) FROM studies WHERE task='branin' AND runner='random'"
                             " AND repetition=0").fetchone()[0]
        conn.execute("UPDATE studies SET status='running' WHERE id=?", (first,))
    studies = load_studies(appended_store)
    kept = studies[(studies["task"] == "branin") & (studies["runner"] == "random")
                   & (studies["repetition"] == 0)]
    assert len(kept) == 1 and kept["study_id"].item() != first and kept["status"].item() == "done"


def test_upgrading_merges_a_suite_appended_with_more_repetitions(appended_store, write_suite):
    downgrade_to_schema_3(appended_store)
    counted = load_studies(appended_store)
    assert len(counted) == 2 * 2 * 3  # read as it is, still counted once
    rerun = tunebench.run_suite(write_suite(SUITE.replace("repetitions = 2", "repetitions = 3"),
                                            "3.toml"), appended_store, progress=False)
    assert rerun.studies_run == 0  # upgraded, then every study found done
    with sqlite3.connect(appended_store) as conn:
        suites = conn.execute("SELECT id, fingerprint FROM suites ORDER BY id").fetchall()
        per_suite = dict(conn.execute("SELECT suite_id, COUNT(*) FROM studies GROUP BY suite_id"))
    spec = load_suite_specs(appended_store)[0]
    assert spec["spec"]["repetitions"] == 3 and "merged-into" in suites[1][1]
    # The first suite took the repetition only the second had; the repeats stayed behind.
    assert per_suite == {suites[0][0]: 2 * 2 * 3, suites[1][0]: 2 * 2 * 2}
    assert len(load_studies(appended_store)) == 2 * 2 * 3
    grown = tunebench.run_suite(write_suite(SUITE), appended_store, progress=False, repetitions=4)
    assert grown.studies_run == 2 * 2 and grown.studies_skipped == 2 * 2 * 3
    assert summary_frame(appended_store)["reps"].tolist() == [4] * 4


def test_a_task_may_have_its_own_repetitions_and_they_grow_as_the_suite_does(write_suite, tmp_path):
    """[[tasks]] repetitions: cheap tasks get many, expensive ones few, in one suite; raising a
    task's count in the file is growth (same suite, only the new studies run); the studies of a
    repetition have the seeds they would have in a suite with that many repetitions."""
    text = SUITE.replace('name = "curve"', 'name = "curve"\nrepetitions = 1')
    db = tmp_path / "own.db"
    first = tunebench.run_suite(write_suite(text), db, progress=False)
    assert first.studies_total == 2 * 2 + 1 * 2
    studies = load_studies(db)
    assert sorted(studies.groupby("task")["repetition"].max().items()) == [("branin", 1), ("curve", 0)]
    grown = tunebench.run_suite(write_suite(text.replace("repetitions = 1", "repetitions = 3"),
                                            "grown.toml"), db, progress=False)
    assert grown.studies_skipped == 6 and grown.studies_run == 2 * 2
    specs = load_suite_specs(db)
    assert len(specs) == 1
    assert [t.get("repetitions") for t in specs[0]["spec"]["tasks"]] == [None, 3]
    # The same seeds as a suite that gives every task three repetitions.
    fresh = tmp_path / "fresh.db"
    tunebench.run_suite(write_suite(SUITE.replace("repetitions = 2", "repetitions = 3"), "f.toml"),
                        fresh, progress=False)
    seeds = ["task", "runner", "repetition", "eval_seed", "runner_seed"]
    ours = load_studies(db)[seeds]
    theirs = load_studies(fresh)[seeds]
    merged = ours.merge(theirs, on=["task", "runner", "repetition"], suffixes=("", "_fresh"))
    assert len(merged) == len(ours) == 10
    assert (merged["eval_seed"] == merged["eval_seed_fresh"]).all()
    assert (merged["runner_seed"] == merged["runner_seed_fresh"]).all()
    # --repetitions N applies to every task, its own count included.
    everything = tunebench.run_suite(write_suite(text, "again.toml"), db, progress=False,
                                     repetitions=4)
    assert everything.studies_total == 2 * 2 * 4


def test_a_task_repetitions_value_is_checked(write_suite):
    with pytest.raises(SuiteError, match=r"tasks\[1\]\.repetitions: must be at least 1"):
        tunebench.load_suite(write_suite(SUITE.replace('name = "curve"',
                                                       'name = "curve"\nrepetitions = 0')))
