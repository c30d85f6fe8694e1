"""Upgrades of older results stores, one schema step at a time, inside the writer's transaction.

Readers take an older store as it is; the writer upgrades it before writing (see
:meth:`tunebench.suite.store.ResultStore._prepare_schema`), all steps in one transaction, so a
failed upgrade leaves the file as it was.
"""

from __future__ import annotations

import json
import math
import sqlite3

from tunebench.space import canonical_json
from tunebench.suite.schema import (
    STUDY_FACT_COLUMNS,
    STUDY_SHIFT,
    TRIAL_COLUMNS,
    curve_json,
    mark_identical_repetitions,
    record_trial_facts,
    trials_table,
)


def migrate(cur: sqlite3.Cursor, version: int) -> None:
    """Bring a store of schema ``version`` up to the current one."""
    if version == 1:
        _migrate_from_1(cur)
    if version <= 2:
        _migrate_from_2(cur)
    if version <= 3:
        _migrate_from_3(cur)
    if version <= 4:
        _add_study_fact_columns(cur)  # schema 4 → 5: objectives_json (NULL: one objective)


def _migrate_from_1(cur: sqlite3.Cursor) -> None:
    """Schema 1 → 2: move each trial's rows of the ``curves`` table into its ``curve_json``; add
    ``studies.task_code`` (unknown, so unchecked, for studies run before)."""
    cur.execute("ALTER TABLE studies ADD COLUMN task_code TEXT")
    cur.execute("ALTER TABLE trials ADD COLUMN curve_json TEXT")
    curves: dict[tuple[int, int], list[float]] = {}
    for study_id, trial, value in cur.execute(
            "SELECT study_id, trial, value FROM curves ORDER BY study_id, trial, step"):
        curves.setdefault((study_id, trial), []).append(math.nan if value is None else value)
    cur.executemany("UPDATE trials SET curve_json=? WHERE study_id=? AND number=?",
                    [(curve_json(tuple(c)), s, t) for (s, t), c in curves.items()])
    cur.execute("DROP TABLE curves")


def _migrate_from_2(cur: sqlite3.Cursor) -> None:
    """Schema 2 → 3: rebuild ``trials`` as a rowid table keyed by (study_id << 32) + number.

    Built beside the old table and renamed into its place, so views a user made on ``trials``
    keep working (a rename of the old table would have taken them along), and the user's own
    indexes and triggers on it are made again on the new table."""
    kept = [sql for (sql,) in cur.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'trials' AND type IN ('index', 'trigger')"
        " AND sql IS NOT NULL")]
    cur.execute(trials_table("trials_schema_3"))
    cur.execute(f"INSERT INTO trials_schema_3 (id, {TRIAL_COLUMNS}) SELECT (study_id <<"
                f" {STUDY_SHIFT}) + number, {TRIAL_COLUMNS} FROM trials ORDER BY study_id, number")
    cur.execute("DROP TABLE trials")
    cur.execute("PRAGMA legacy_alter_table = ON")  # leave views naming `trials` as they are
    try:
        cur.execute("ALTER TABLE trials_schema_3 RENAME TO trials")
    finally:
        cur.execute("PRAGMA legacy_alter_table = OFF")
    for sql in kept:
        cur.execute(sql)


def _migrate_from_3(cur: sqlite3.Cursor) -> None:
    """Schema 3 → 4: the study fact columns, derived from the stored trials where they can be
    (resolved precision, trial sequences and identical repetitions; what was not recorded then
    stays NULL); suite fingerprints without the repetition count, suites that differed only in
    it merged."""
    _add_study_fact_columns(cur)
    _merge_grown_suites(cur)
    for study_id, status in cur.execute("SELECT id, status FROM studies").fetchall():
        record_trial_facts(cur, study_id, finished=status == "done")
    for suite_id, task, runner in cur.execute(
            "SELECT DISTINCT suite_id, task, runner FROM studies").fetchall():
        mark_identical_repetitions(cur, suite_id, task, runner)


def _add_study_fact_columns(cur: sqlite3.Cursor) -> None:
    """The study fact columns an older store lacks (NULL in its rows: not recorded then)."""
    existing = {row[1] for row in cur.execute("PRAGMA table_info(studies)")}
    for name, kind in STUDY_FACT_COLUMNS:
        if name not in existing:
            cur.execute(f"ALTER TABLE studies ADD COLUMN {name} {kind}")


def _merge_grown_suites(cur: sqlite3.Cursor) -> None:
    """Give every suite its schema-4 fingerprint. Suites that share one (a suite appended again
    with more repetitions, which schema 3 stored as a second suite) become one: the first keeps
    the fingerprint and the largest repetition count, and takes the others' studies it lacks.
    Studies it already has stay behind, in a suite row no run will match, and readers count
    each study once (:func:`tunebench.suite.store.load_studies`)."""
    from tunebench.suite.spec import suite_fingerprint

    suites = cur.execute("SELECT id, spec_json FROM suites ORDER BY id").fetchall()
    groups: dict[str, list[tuple[int, dict]]] = {}
    for suite_id, text in suites:
        try:
            spec = json.loads(text)
            fingerprint = suite_fingerprint(spec)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise sqlite3.DataError(f"suite {suite_id}'s stored spec_json cannot be read "
                                    f"({type(exc).__name__}: {exc})") from None
        groups.setdefault(fingerprint, []).append((suite_id, spec))
    cur.execute("UPDATE suites SET fingerprint = 'upgrading-' || id")  # no clash while renaming
    for fingerprint, members in groups.items():
        (first, spec), others = members[0], members[1:]
        spec["repetitions"] = max(int(s.get("repetitions", 1)) for _, s in members)
        cur.execute("UPDATE suites SET fingerprint=?, spec_json=? WHERE id=?",
                    (fingerprint, canonical_json(spec), first))
        for other, _ in others:
            cur.execute("UPDATE suites SET fingerprint=? WHERE id=?",
                        (f"{fingerprint}-merged-into-{first}-{other}", other))
            cur.execute(
                "UPDATE studies SET suite_id=? WHERE suite_id=? AND NOT EXISTS (SELECT 1 FROM"
                " studies kept WHERE kept.suite_id=? AND kept.task=studies.task"
                " AND kept.runner=studies.runner AND kept.repetition=studies.repetition)",
                (first, other, first))
