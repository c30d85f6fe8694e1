"""The results store's tables, and the per-study facts derived from a study's trial rows.

Shared by the writer (:mod:`tunebench.suite.store`) and the upgrades of older stores
(:mod:`tunebench.suite.migrations`), so a new store and an upgraded one end with the same tables.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3

#: 2: a trial's learning curve is a JSON array in its own row (was a ``curves`` table in 1: one
#: more B-tree page written per commit, a quarter of the store's cost per trial); studies record
#: the hash of their task's code, so a resume never mixes trials of two versions of it.
#: 3: trials live in a rowid table keyed by ``id = study_id << 32 | number`` (was WITHOUT ROWID on
#: (study_id, number)). SQLite appends to a rowid B-tree by filling its last page and starting a
#: new one, where an index B-tree splits pages in half and rewrites their siblings: a third fewer
#: pages written per trial, and a study's trials are still one contiguous key range.
#: 4: studies record facts, not requests (:data:`STUDY_FACT_COLUMNS`); a suite's fingerprint
#: leaves its repetition count out, so growing it adds studies instead of making another suite.
#: 5: ``studies.objectives_json`` for multi-objective studies.
SCHEMA_VERSION = 5

#: A study's trials are the ids from ``study_id << 32`` up, one per trial number.
STUDY_SHIFT = 32

#: A trial's columns after its key (the same in schemas 2 to 4; only the key changed in 3).
TRIAL_VALUE_COLUMNS = """
    config_json TEXT NOT NULL, config_key TEXT NOT NULL, status TEXT NOT NULL,
    value REAL, test_value REAL, fidelity INTEGER NOT NULL, fidelity_spent REAL NOT NULL,
    eval_seconds REAL NOT NULL, cpu_seconds REAL NOT NULL, optimizer_seconds REAL NOT NULL,
    charge REAL NOT NULL, error TEXT, traceback TEXT, cached INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL, extra_json TEXT, pruner_steps TEXT, curve_json TEXT"""

#: Schema 4's study columns: what a study ran on and what happened, as measured (name, SQL type).
STUDY_FACT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("precision_resolved", "TEXT"),  # what "auto" became: the precisions its trials ran in
    ("device_model", "TEXT"),  # the GPU's or CPU's model name (compare by model, not index)
    ("device_memory", "INTEGER"),  # bytes: the GPU's, or the machine's for a CPU
    ("device_uuid", "TEXT"),  # which physical GPU (indices are remapped per worker)
    ("runner_resolved_options", "TEXT"),  # JSON: every option in effect, library defaults included
    ("runner_deterministic", "INTEGER"),  # the runner declares it proposes the same whatever its seed
    ("python_hash_seed", "TEXT"),  # the study process's PYTHONHASHSEED, NULL when randomised
    ("search_exhausted", "INTEGER NOT NULL DEFAULT 0"),  # nothing left to propose before the budget
    ("smoke", "INTEGER NOT NULL DEFAULT 0"),  # a smoke-test task: kept out of the statistics
    ("trial_sequence", "TEXT"),  # digest of the finished study's config keys, in trial order
    ("identical_to", "INTEGER"),  # the first repetition with the same trial sequence
    ("warm_up_seconds", "REAL"),  # the task's warm-up in this process, before any timed trial
    # Schema 5: JSON, a multi-objective study's objectives (name, direction, reference point)
    # and the hypervolume of its task's true Pareto front where known; NULL for one objective.
    ("objectives_json", "TEXT"),
)


def trials_table(name: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id), number INTEGER NOT NULL,{TRIAL_VALUE_COLUMNS},
    CHECK (study_id >= 0 AND study_id < {1 << (63 - STUDY_SHIFT)}
           AND number >= 0 AND number < {1 << STUDY_SHIFT}
           AND id = (study_id << {STUDY_SHIFT}) + number));
"""


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS suites (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE,
    spec_json TEXT NOT NULL, source_text TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS environments (
    id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, env_json TEXT NOT NULL,
    captured_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY, suite_id INTEGER NOT NULL REFERENCES suites(id),
    task TEXT NOT NULL, task_name TEXT NOT NULL, task_options TEXT NOT NULL,
    runner TEXT NOT NULL, runner_name TEXT NOT NULL, runner_options TEXT NOT NULL,
    repetition INTEGER NOT NULL, eval_seed INTEGER NOT NULL, runner_seed INTEGER NOT NULL,
    budget_json TEXT NOT NULL, settings_json TEXT NOT NULL,
    direction TEXT NOT NULL, optimum REAL, optimum_is_exact INTEGER NOT NULL,
    task_version TEXT, task_code TEXT, runner_version TEXT, device TEXT, threads INTEGER,
    precision TEXT,
    env_id INTEGER REFERENCES environments(id),
    status TEXT NOT NULL DEFAULT 'pending', budget_spent REAL NOT NULL DEFAULT 0,
    started_at REAL, finished_at REAL, error TEXT,
    """ + ",\n    ".join(f"{name} {kind}" for name, kind in STUDY_FACT_COLUMNS) + """,
    UNIQUE (suite_id, task, runner, repetition));
""" + trials_table("trials")

TRIAL_COLUMNS = (
    "study_id, number, config_json, config_key, status, value, test_value, fidelity,"
    " fidelity_spent, eval_seconds, cpu_seconds, optimizer_seconds, charge, error, traceback,"
    " cached, started_at, extra_json, pruner_steps, curve_json"
)
_float_repr = float.__repr__


def curve_json(curve: tuple[float, ...]) -> str | None:
    """A learning curve as a JSON array (null for a non-finite step), None when there is none.

    Written by hand because it runs on every trial: ``float.__repr__`` is exactly what the json
    module writes for a float, at a third of the cost of a call into the encoder."""
    if not curve:
        return None
    return "[" + ",".join([_float_repr(float(v)) if math.isfinite(v) else "null" for v in curve]) + "]"


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return SCHEMA_VERSION if row is None else int(row[0])


def study_trials(version: int, study_id: int) -> tuple[str, tuple[int, ...]]:
    """The clause selecting one study's trials in trial order, and its parameters: a key range
    since schema 3, the (study_id, number) primary key before."""
    if version < 3:
        return "study_id = ? ORDER BY number", (study_id,)
    first = study_id << STUDY_SHIFT
    return "id BETWEEN ? AND ? ORDER BY id", (first, first + (1 << STUDY_SHIFT) - 1)


def record_trial_facts(cur: sqlite3.Cursor, study_id: int, *, finished: bool) -> None:
    """Derive a study's facts from its stored trials: the precisions they report having run in
    (a torch task's ``extra["precision"]``: what "auto" resolved to) and, for a finished study,
    the digest of its configuration sequence, which finds identical repetitions."""
    where, parameters = study_trials(SCHEMA_VERSION, study_id)
    rows = cur.execute(f"SELECT config_key, json_extract(extra_json, '$.precision') FROM trials"
                       f" WHERE {where}", parameters).fetchall()
    precisions = sorted({str(p) for _, p in rows if p is not None})
    sequence = None
    if finished and rows:
        sequence = hashlib.sha256("\n".join(key for key, _ in rows).encode()).hexdigest()[:32]
    cur.execute("UPDATE studies SET precision_resolved=?, trial_sequence=? WHERE id=?",
                (",".join(precisions) or None, sequence, study_id))


def mark_identical_repetitions(cur: sqlite3.Cursor, suite_id: int, task: str, runner: str) -> None:
    """Set ``identical_to`` for every study of (suite, task, runner): the lowest other repetition
    whose finished trial sequence is the same, or NULL (whatever order the studies finished in)."""
    cur.execute(
        "UPDATE studies SET identical_to = (SELECT MIN(o.repetition) FROM studies o"
        " WHERE o.suite_id = studies.suite_id AND o.task = studies.task"
        " AND o.runner = studies.runner AND o.trial_sequence = studies.trial_sequence"
        " AND o.repetition < studies.repetition)"
        " WHERE suite_id = ? AND task = ? AND runner = ?", (suite_id, task, runner))


def schema_problems(conn: sqlite3.Connection) -> list[str]:
    """What is missing or inconsistent in a store's tables (empty when its schema is sound): the
    tables and columns its recorded schema version has, and rows whose study or suite is gone."""
    tables = {name: {row[1] for row in conn.execute(f"PRAGMA table_info('{name}')")}
              for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" not in tables:
        return ["the meta table is missing"]
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    try:
        version = SCHEMA_VERSION if row is None else int(row[0])
    except ValueError:
        return [f"meta.schema_version is {row[0]!r}, not a number"]
    if version > SCHEMA_VERSION:
        return [f"schema {version} is newer than this tunebench's ({SCHEMA_VERSION}): upgrade tunebench"]
    expected = _current_tables() if version == SCHEMA_VERSION else {
        name: set() for name in ("meta", "suites", "studies", "trials")}
    problems = []
    for name, columns in expected.items():
        if name not in tables:
            problems.append(f"the {name} table is missing")
        elif missing := sorted(columns - tables[name]):
            problems.append(f"the {name} table lacks the columns {', '.join(missing)}")
    if not problems:
        orphans = {str(table) for table, *_ in conn.execute("PRAGMA foreign_key_check")}
        problems += [f"rows of the {table} table name a row that is not there" for table in sorted(orphans)]
    return problems


def _current_tables() -> dict[str, set[str]]:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SCHEMA)
        names = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {name: {row[1] for row in conn.execute(f"PRAGMA table_info('{name}')")} for name in names}
    finally:
        conn.close()
