"""The store's schema: learning curves live in their trial's row, and older stores are upgraded
in place without losing a number."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from pathlib import Path

import pytest

import tunebench
from tunebench.space import canonical_json
from tunebench.suite.schema import STUDY_FACT_COLUMNS
from tunebench.suite.store import (
    SCHEMA_VERSION,
    TRIAL_VALUE_COLUMNS,
    ResultStore,
    StoreError,
    load_curves,
    load_studies,
    load_trials,
    read_history,
)

SUITE = """
[suite]
name = "curves"
seed = 3
repetitions = 2
plugins = ["@PLUGIN@"]
[budget]
epochs = 40
[[tasks]]
name = "curve"
[[runners]]
name = "recorder"
"""


@pytest.fixture
def curve_store(write_suite, tmp_path):
    db = tmp_path / "r.db"
    tunebench.run_suite(write_suite(SUITE), db, progress=False)
    return db


def _histories(db) -> dict[int, list]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        ids = [row[0] for row in conn.execute("SELECT id FROM studies ORDER BY id")]
        return {i: read_history(conn, i) for i in ids}
    finally:
        conn.close()


def test_load_curves_gives_one_row_per_reported_step(curve_store):
    curves = load_curves(curve_store)
    trials = load_trials(curve_store)
    per_trial = curves.groupby(["study_id", "trial"]).size()
    # The "curve" task reports every epoch it runs: a trial's row count is what it spent.
    spent = trials.set_index(["study_id", "trial"])["fidelity_spent"].astype(int)
    assert per_trial.sort_index().tolist() == spent.sort_index().tolist()
    assert (curves.groupby(["study_id", "trial"])["step"].apply(list)
            .map(lambda steps: steps == list(range(1, len(steps) + 1))).all())
    # The last reported step of a completed trial is its value.
    last = curves.groupby(["study_id", "trial"]).last()["value"]
    ok = trials[trials["status"] == "ok"].set_index(["study_id", "trial"])["value"]
    assert last.loc[ok.index].tolist() == ok.tolist()
    assert set(curves.columns) >= {"task", "runner", "repetition", "trial", "step", "value"}


#: The trials table as schema 2 made it: the same columns under a (study_id, number) key.
_SCHEMA_2_TRIALS = f"""
    CREATE TABLE trials (
        study_id INTEGER NOT NULL REFERENCES studies(id), number INTEGER NOT NULL,
        {TRIAL_VALUE_COLUMNS}, PRIMARY KEY (study_id, number)) WITHOUT ROWID;
"""


def _downgrade_to_schema_2(db) -> None:
    """Rewrite a store as schema 2 had it: trials in a WITHOUT ROWID table on (study_id, number)."""
    conn = sqlite3.connect(db, isolation_level=None)
    columns = ", ".join(row[1] for row in conn.execute("PRAGMA table_info(trials)") if row[1] != "id")
    conn.executescript(f"""
        BEGIN;
        ALTER TABLE trials RENAME TO trials_3;
        {_SCHEMA_2_TRIALS}
        INSERT INTO trials ({columns}) SELECT {columns} FROM trials_3;
        DROP TABLE trials_3;
        UPDATE meta SET value = '2' WHERE key = 'schema_version';
        COMMIT;
    """)
    conn.close()


def _downgrade_to_schema_1(db) -> None:
    """Rewrite a store as tunebench 0.1 wrote it: curves in their own table, one row per step."""
    _downgrade_to_schema_2(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript("""
        BEGIN;
        CREATE TABLE curves (study_id INTEGER NOT NULL, trial INTEGER NOT NULL,
            step INTEGER NOT NULL, value REAL, PRIMARY KEY (study_id, trial, step)) WITHOUT ROWID;
        INSERT INTO curves SELECT t.study_id, t.number, CAST(j.key AS INTEGER) + 1, j.value
            FROM trials t, json_each(t.curve_json) j WHERE t.curve_json IS NOT NULL;
        ALTER TABLE trials DROP COLUMN curve_json;
        ALTER TABLE studies DROP COLUMN task_code;
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
        COMMIT;
    """)
    conn.close()


def schema_3_spec(data: dict) -> dict:
    """A resolved suite as schema 3 stored it: no seed policy, no smoke marks."""
    old = {key: value for key, value in data.items() if key != "seeds"}
    old["tasks"] = [{k: v for k, v in task.items() if k != "smoke"} for task in data["tasks"]]
    return old


def schema_3_fingerprint(data: dict) -> str:
    """How schema 3 identified a suite: everything but the description, repetitions included."""
    old = {key: value for key, value in schema_3_spec(data).items() if key != "description"}
    old["plugins"] = sorted(Path(p).name for p in old.get("plugins", []))
    return hashlib.sha256(canonical_json(old).encode()).hexdigest()[:16]


def downgrade_to_schema_3(db) -> None:
    """Rewrite a store as schema 3 had it: no study fact columns, suites identified with their
    repetition count."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    for name, _ in STUDY_FACT_COLUMNS:
        conn.execute(f"ALTER TABLE studies DROP COLUMN {name}")
    for suite_id, text in conn.execute("SELECT id, spec_json FROM suites").fetchall():
        data = json.loads(text)
        conn.execute("UPDATE suites SET spec_json=?, fingerprint=? WHERE id=?",
                     (canonical_json(schema_3_spec(data)), schema_3_fingerprint(data), suite_id))
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.execute("COMMIT")
    conn.close()


def _schema(db) -> tuple[set[str], int]:
    conn = sqlite3.connect(db)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    finally:
        conn.close()
    return tables, int(version)


def test_a_schema_1_store_is_read_as_it_is_and_upgraded_when_written(curve_store):
    before = _histories(curve_store)
    curves_before = load_curves(curve_store)
    assert any(record.curve for history in before.values() for record in history)
    _downgrade_to_schema_1(curve_store)

    # Readers take the old layout as it is (a shared or archived store is never rewritten).
    assert _histories(curve_store) == before
    assert load_curves(curve_store).equals(curves_before)

    # The writer upgrades it in one transaction; every curve survives, bit for bit.
    ResultStore(curve_store).close()
    tables, version = _schema(curve_store)
    assert "curves" not in tables and version == SCHEMA_VERSION
    assert load_studies(curve_store)["task_code"].isna().all()  # unknown for older studies
    assert _histories(curve_store) == before
    assert load_curves(curve_store).equals(curves_before)


def test_a_schema_2_store_is_read_as_it_is_and_rebuilt_when_written(curve_store):
    before = _histories(curve_store)
    trials_before = load_trials(curve_store)
    studies_before = load_studies(curve_store)
    _downgrade_to_schema_2(curve_store)

    assert _histories(curve_store) == before
    assert load_trials(curve_store).equals(trials_before)
    assert load_studies(curve_store).equals(studies_before)

    ResultStore(curve_store).close()
    tables, version = _schema(curve_store)
    assert version == SCHEMA_VERSION and "trials_schema_2" not in tables
    assert _histories(curve_store) == before
    assert load_trials(curve_store).equals(trials_before)
    assert load_studies(curve_store).equals(studies_before)
    conn = sqlite3.connect(curve_store)
    keys = conn.execute("SELECT id, study_id, number FROM trials").fetchall()
    conn.close()
    assert keys and all(key == (study << 32) + number for key, study, number in keys)


def test_a_schema_3_store_is_read_as_it_is_and_upgraded_with_facts_derived_from_its_trials(
        curve_store, write_suite):
    studies_before = load_studies(curve_store)
    trials_before = load_trials(curve_store)
    downgrade_to_schema_3(curve_store)
    _, version = _schema(curve_store)
    assert version == 3

    # Read as it is: the facts schema 3 did not record are None, nothing else moves.
    old = load_studies(curve_store)
    assert old["device_model"].isna().all() and old["trial_sequence"].isna().all()
    assert old["identical_to"].isna().all() and not old["search_exhausted"].any()
    assert load_trials(curve_store).equals(trials_before)
    facts = [name for name, _ in STUDY_FACT_COLUMNS] + ["host"]
    kept = [c for c in studies_before.columns if c not in facts]
    assert old[kept].equals(studies_before[kept])

    ResultStore(curve_store).close()
    _, version = _schema(curve_store)
    assert version == SCHEMA_VERSION
    new = load_studies(curve_store)
    # Derived from the trials: each finished study's sequence, the same as a fresh run records.
    assert new["trial_sequence"].tolist() == studies_before["trial_sequence"].tolist()
    assert new["trial_sequence"].notna().all() and new["identical_to"].isna().all()
    assert new["device_model"].isna().all()  # not recorded then: unknown, not guessed
    assert load_trials(curve_store).equals(trials_before)
    # The suite keeps its identity under the new fingerprint: running it again resumes it.
    again = tunebench.run_suite(write_suite(SUITE), curve_store, progress=False)
    assert again.studies_run == 0 and again.studies_skipped == again.studies_total == 2


def test_a_schema_4_store_gains_the_objectives_column_and_nothing_else_moves(curve_store):
    studies_before, trials_before = load_studies(curve_store), load_trials(curve_store)
    conn = sqlite3.connect(curve_store, isolation_level=None)
    conn.execute("ALTER TABLE studies DROP COLUMN objectives_json")
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    assert load_studies(curve_store).equals(studies_before)  # read as it is: no objectives
    ResultStore(curve_store).close()
    _, version = _schema(curve_store)
    assert version == SCHEMA_VERSION == 5
    assert load_studies(curve_store).equals(studies_before)
    assert load_trials(curve_store).equals(trials_before)
    assert load_studies(curve_store)["objectives"].isna().all()


def test_a_schema_3_store_with_an_unreadable_suite_is_left_as_it_was(curve_store):
    downgrade_to_schema_3(curve_store)
    with sqlite3.connect(curve_store) as conn:
        conn.execute("UPDATE suites SET spec_json = '{\"name\": \"x\"}'")
    with pytest.raises(StoreError, match=rf"from schema 3 to {SCHEMA_VERSION} failed \(suite 1's "
                       r"stored spec_json"):
        ResultStore(curve_store)
    with sqlite3.connect(curve_store) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(studies)")}
    assert _schema(curve_store)[1] == 3 and "device_model" not in columns  # rolled back


def test_views_and_indexes_a_user_made_on_trials_survive_the_upgrade(curve_store):
    _downgrade_to_schema_2(curve_store)
    conn = sqlite3.connect(curve_store, isolation_level=None)
    conn.execute("CREATE VIEW ok_trials AS SELECT study_id, number, value FROM trials"
                 " WHERE status = 'ok'")
    conn.execute("CREATE INDEX trials_by_key ON trials (config_key)")
    before = conn.execute("SELECT * FROM ok_trials ORDER BY study_id, number").fetchall()
    conn.close()

    ResultStore(curve_store).close()
    conn = sqlite3.connect(curve_store)
    try:
        assert conn.execute("SELECT * FROM ok_trials ORDER BY study_id, number").fetchall() == before
        indexes = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trials'")}
        assert "trials_by_key" in indexes
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_an_upgrade_that_fails_leaves_the_store_as_it_was_and_says_why(curve_store):
    _downgrade_to_schema_2(curve_store)
    conn = sqlite3.connect(curve_store, isolation_level=None)
    conn.execute("UPDATE trials SET number = -1 WHERE number = 0 AND study_id = 1")  # no key in 3
    conn.close()
    before = _histories(curve_store)

    with pytest.raises(StoreError, match=rf"from schema 2 to {SCHEMA_VERSION} failed .*left as it was"):
        ResultStore(curve_store)
    assert _schema(curve_store)[1] == 2
    assert _histories(curve_store) == before


def test_a_trial_whose_key_disagrees_with_its_study_and_number_is_refused(curve_store):
    conn = sqlite3.connect(curve_store, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("UPDATE trials SET number = number + 1000 WHERE number = 0")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("UPDATE trials SET number = -1, id = (study_id << 32) - 1 WHERE number = 0")
    finally:
        conn.close()


def _wal_frames_per_trial(db, study_id: int, record_for, n: int) -> float:
    """WAL frames (pages) the store writes per committed trial, with checkpoints held off."""
    with ResultStore(db) as store:
        store._conn.execute("PRAGMA wal_autocheckpoint=0")
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for number in range(n):
            store.add_trial(study_id, record_for(number))
        _, frames, _ = store._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return frames / n


def test_a_trial_commit_writes_little_more_than_one_page(tmp_path):
    """Appending to a rowid table fills its last page before starting the next; the old
    WITHOUT ROWID layout split pages in half and rewrote siblings (≈1.75 pages per trial)."""
    import random

    from tunebench.runners.base import Status
    from tunebench.space import keyed_json
    from tunebench.suite.records import TrialRecord
    from tunebench.suite.spec_parse import load_suite

    spec = load_suite({"suite": {"name": "pages"}, "budget": {"trials": 1},
                       "tasks": [{"name": "branin"}], "runners": [{"name": "random"}]})
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        study_id = store.ensure_study(store.register_suite(spec), spec.studies()[0], "minimize",
                                      None, False)
    rng = random.Random(0)

    def record_for(number: int) -> TrialRecord:
        config = {"x1": rng.uniform(-5, 10), "x2": rng.uniform(0, 15)}
        text, key = keyed_json(config)
        value = rng.uniform(0, 300)
        return TrialRecord(number=number, config=config, config_key=key, status=Status.OK,
                           value=value, test_value=value, fidelity=1, fidelity_spent=1.0,
                           curve=(value,), eval_seconds=1e-5, cpu_seconds=1e-5,
                           optimizer_seconds=1e-4, charge=1.0, started_at=1.7e9, config_json=text)

    assert _wal_frames_per_trial(db, study_id, record_for, 1000) < 1.25


def test_non_finite_curve_steps_are_stored_as_missing(tmp_path):
    from tunebench.runners.base import Status
    from tunebench.suite.records import TrialRecord
    from tunebench.suite.spec_parse import load_suite

    spec = load_suite({"suite": {"name": "nan"}, "budget": {"trials": 1},
                       "tasks": [{"name": "branin"}], "runners": [{"name": "random"}]})
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        suite_id = store.register_suite(spec)
        study_id = store.ensure_study(suite_id, spec.studies()[0], "minimize", None, False)
        store.add_trial(study_id, TrialRecord(
            number=0, config={"x1": 0.0, "x2": 0.0}, config_key="k", status=Status.FAILED,
            value=None, test_value=None, fidelity=3, fidelity_spent=3.0,
            curve=(1.0, math.inf, math.nan), eval_seconds=0.0, cpu_seconds=0.0,
            optimizer_seconds=0.0, charge=1.0))
        [record] = store.history(study_id)
    assert record.curve[0] == 1.0 and math.isnan(record.curve[1]) and math.isnan(record.curve[2])
    assert load_curves(db)["value"].isna().tolist() == [False, True, True]


def test_a_store_from_a_newer_tunebench_is_refused_untouched(curve_store):
    conn = sqlite3.connect(curve_store, isolation_level=None)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.close()
    conn = sqlite3.connect(curve_store, isolation_level=None)
    conn.execute("DROP TABLE environments")  # as a newer schema might have
    conn.close()
    with pytest.raises(StoreError, match="newer tunebench"):
        ResultStore(curve_store)
    conn = sqlite3.connect(curve_store)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "environments" not in tables  # nothing was created in it
    assert len(load_trials(curve_store)) > 0
    # The refused store's lock was released: a second attempt is refused for the same reason.
    with pytest.raises(StoreError, match="newer tunebench"):
        ResultStore(curve_store)
