"""The results store: one SQLite file, WAL mode, one transaction per finished trial.

The driver is its only writer. ``synchronous=NORMAL`` in WAL mode makes every committed trial
durable against a killed process (not against a power cut), at a few tens of microseconds per
trial. Reading functions (:func:`load_trials`, :func:`load_studies`, …) are the public API that
reports and notebooks use; they open the file read-only and never change it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from tunebench.runners.base import Status
from tunebench.space import canonical_json
from tunebench.suite.records import StudyResult, TrialRecord
from tunebench.suite.spec import StudySpec, SuiteSpec

#: 2: a trial's learning curve is a JSON array in its own row (was a ``curves`` table in 1: one
#: more B-tree page written per commit, a quarter of the store's cost per trial); studies record
#: the hash of their task's code, so a resume never mixes trials of two versions of it.
#: 3: trials live in a rowid table keyed by ``id = study_id << 32 | number`` (was WITHOUT ROWID on
#: (study_id, number)). SQLite appends to a rowid B-tree by filling its last page and starting a
#: new one, where an index B-tree splits pages in half and rewrites their siblings: a third fewer
#: pages written per trial, and a study's trials are still one contiguous key range.
SCHEMA_VERSION = 3

#: A study's trials are the ids from ``study_id << 32`` up, one per trial number.
_STUDY_SHIFT = 32

#: A trial's columns after its key (the same in schemas 2 and 3; only the key changed).
TRIAL_VALUE_COLUMNS = """
    config_json TEXT NOT NULL, config_key TEXT NOT NULL, status TEXT NOT NULL,
    value REAL, test_value REAL, fidelity INTEGER NOT NULL, fidelity_spent REAL NOT NULL,
    eval_seconds REAL NOT NULL, cpu_seconds REAL NOT NULL, optimizer_seconds REAL NOT NULL,
    charge REAL NOT NULL, error TEXT, traceback TEXT, cached INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL, extra_json TEXT, pruner_steps TEXT, curve_json TEXT"""



def _trials_table(name: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id), number INTEGER NOT NULL,{TRIAL_VALUE_COLUMNS},
    CHECK (study_id >= 0 AND study_id < {1 << (63 - _STUDY_SHIFT)}
           AND number >= 0 AND number < {1 << _STUDY_SHIFT}
           AND id = (study_id << {_STUDY_SHIFT}) + number));
"""


_SCHEMA = """
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
    UNIQUE (suite_id, task, runner, repetition));
""" + _trials_table("trials")


_TRIAL_COLUMNS = (
    "study_id, number, config_json, config_key, status, value, test_value, fidelity,"
    " fidelity_spent, eval_seconds, cpu_seconds, optimizer_seconds, charge, error, traceback,"
    " cached, started_at, extra_json, pruner_steps, curve_json"
)
_INSERT_TRIAL = (f"INSERT INTO trials (id, {_TRIAL_COLUMNS})"  # one placeholder per column, id included
                 f" VALUES ({','.join('?' * (1 + len(_TRIAL_COLUMNS.split(','))))})")
_float_repr = float.__repr__


class StoreError(ValueError):
    """The store cannot be used as asked (another suite in it, a newer schema, not a store)."""


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open a store, turning every way a path can be wrong into one clear :class:`StoreError`."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory; give a file name for the results store, "
                         f"e.g. --db {path / 'results.db'}")
    if readonly and not path.is_file():
        raise FileNotFoundError(f"no results store at {path}; run a suite with --db {path}")
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None)  # explicit transactions only
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"{path} cannot be used as a tunebench results store ({exc})") from None
    if tables and not {"meta", "suites", "trials"} <= tables:
        conn.close()
        raise StoreError(f"{path} is an SQLite database but not a tunebench results store "
                         f"(its tables: {', '.join(sorted(tables))}); choose another --db")
    if readonly and not tables:
        conn.close()
        raise StoreError(f"{path} is empty: no suite has been run into it yet")
    if readonly:  # one snapshot for everything read through it, even while a writer upgrades it
        conn.execute("BEGIN")
    return conn


def _lock(path: Path) -> Any:
    """Hold an exclusive lock beside the store while writing: the driver is the only writer.

    Two runs into one store would evaluate the same unfinished studies twice; the second gets a
    clear error instead. The lock is released when the process ends, however it ends.
    """
    import fcntl

    handle = open(path.with_name(path.name + ".lock"), "w")  # noqa: SIM115 - held while open
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreError(f"{path} is being written by another tunebench run; wait for it to "
                         "finish (or stop it), then run again to resume") from None
    return handle


def _json(value: Any) -> str:
    return canonical_json(value)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _curve_json(curve: tuple[float, ...]) -> str | None:
    """A learning curve as a JSON array (null for a non-finite step), None when there is none.

    Written by hand because it runs on every trial: ``float.__repr__`` is exactly what the json
    module writes for a float, at a third of the cost of a call into the encoder."""
    if not curve:
        return None
    return "[" + ",".join([_float_repr(float(v)) if math.isfinite(v) else "null" for v in curve]) + "]"


def _curve(text: str | None) -> tuple[float, ...]:
    return tuple(math.nan if v is None else float(v) for v in json.loads(text)) if text else ()


def _schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return SCHEMA_VERSION if row is None else int(row[0])


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
                    [(_curve_json(tuple(c)), s, t) for (s, t), c in curves.items()])
    cur.execute("DROP TABLE curves")


def _migrate_from_2(cur: sqlite3.Cursor) -> None:
    """Schema 2 → 3: rebuild ``trials`` as a rowid table keyed by (study_id << 32) + number.

    Built beside the old table and renamed into its place, so views a user made on ``trials``
    keep working (a rename of the old table would have taken them along), and the user's own
    indexes and triggers on it are made again on the new table."""
    kept = [sql for (sql,) in cur.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'trials' AND type IN ('index', 'trigger')"
        " AND sql IS NOT NULL")]
    cur.execute(_trials_table("trials_schema_3"))
    cur.execute(f"INSERT INTO trials_schema_3 (id, {_TRIAL_COLUMNS}) SELECT (study_id <<"
                f" {_STUDY_SHIFT}) + number, {_TRIAL_COLUMNS} FROM trials ORDER BY study_id, number")
    cur.execute("DROP TABLE trials")
    cur.execute("PRAGMA legacy_alter_table = ON")  # leave views naming `trials` as they are
    try:
        cur.execute("ALTER TABLE trials_schema_3 RENAME TO trials")
    finally:
        cur.execute("PRAGMA legacy_alter_table = OFF")
    for sql in kept:
        cur.execute(sql)


def _study_trials(version: int, study_id: int) -> tuple[str, tuple[int, ...]]:
    """The clause selecting one study's trials in trial order, and its parameters: a key range
    since schema 3, the (study_id, number) primary key before."""
    if version < 3:
        return "study_id = ? ORDER BY number", (study_id,)
    first = study_id << _STUDY_SHIFT
    return "id BETWEEN ? AND ? ORDER BY id", (first, first + (1 << _STUDY_SHIFT) - 1)


class ResultStore:
    """Writer side of the store (the driver's)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = _connect(self.path)
        self._lock: Any = None
        try:
            self._lock = _lock(self.path)
            self._prepare_schema()
        except BaseException:
            self.close()
            raise

    def _prepare_schema(self) -> None:
        """Create a new store's tables or upgrade an older store's; a store from a newer tunebench
        is refused before anything is written to it."""
        has_meta = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        version = _schema_version(self._conn) if has_meta else SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer tunebench (schema {version});"
                             " upgrade tunebench to read it")
        self._conn.executescript(_SCHEMA)  # idempotent; executescript manages its own commit
        try:
            with self._transaction() as cur:
                if version == 1:
                    _migrate_from_1(cur)
                if version <= 2:
                    _migrate_from_2(cur)
                cur.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),))
        except sqlite3.Error as exc:
            raise StoreError(
                f"{self.path}: upgrading the store from schema {version} to {SCHEMA_VERSION} failed "
                f"({' '.join(str(exc).split())}); it was left as it was. Its results can still be "
                "read (readers take an older store as it is); to write to it, correct the rows "
                "the error names, in a copy.") from None

    def close(self) -> None:
        self._conn.close()
        if self._lock is not None:
            self._lock.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                cur.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ suite and environment
    def register_suite(self, spec: SuiteSpec, allow_other_suites: bool = False) -> int:
        """The suite's id, creating it; refuses a different suite unless allowed."""
        fingerprint = spec.fingerprint
        row = self._conn.execute("SELECT id FROM suites WHERE fingerprint=?",
                                 (fingerprint,)).fetchone()
        if row is not None:
            return int(row[0])
        others = self._conn.execute("SELECT name, fingerprint FROM suites").fetchall()
        if others and not allow_other_suites:
            names = ", ".join(f"{n!r} ({f})" for n, f in others)
            raise StoreError(
                f"{self.path} already holds results of another suite: {names}. The suite you "
                f"are running ({spec.name!r}, {fingerprint}) differs from it (a changed budget, "
                "seed, task, runner or option makes a different suite). Use a new --db, or pass "
                "--append to keep both suites in this file."
            )
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO suites (name, fingerprint, spec_json, source_text, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (spec.name, fingerprint, _json(spec.to_dict()), spec.source_text, time.time()),
            )
            return int(cur.lastrowid or 0)

    def record_environment(self, environment: dict[str, Any]) -> int:
        import hashlib

        text = _json(environment)
        fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
        with self._transaction() as cur:
            cur.execute("INSERT OR IGNORE INTO environments (fingerprint, env_json, captured_at) "
                        "VALUES (?, ?, ?)", (fingerprint, text, time.time()))
            row = cur.execute("SELECT id FROM environments WHERE fingerprint=?",
                              (fingerprint,)).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ studies
    def ensure_study(self, suite_id: int, study: StudySpec, direction: str,
                     optimum: float | None, optimum_is_exact: bool) -> int:
        row = self._conn.execute(
            "SELECT id FROM studies WHERE suite_id=? AND task=? AND runner=? AND repetition=?",
            (suite_id, study.task.label, study.runner.label, study.repetition),
        ).fetchone()
        if row is not None:
            return int(row[0])
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO studies (suite_id, task, task_name, task_options, runner, runner_name,"
                " runner_options, repetition, eval_seed, runner_seed, budget_json, settings_json,"
                " direction, optimum, optimum_is_exact) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (suite_id, study.task.label, study.task.name, _json(dict(study.task.options)),
                 study.runner.label, study.runner.name, _json(dict(study.runner.options)),
                 study.repetition, study.eval_seed, study.runner_seed,
                 _json(study.budget.to_dict()), _json(study.settings.to_dict()), direction,
                 _finite(optimum), int(optimum_is_exact)),
            )
            return int(cur.lastrowid or 0)

    def study_versions(self, study_id: int) -> tuple[str | None, str | None, str | None]:
        """(runner library version, task version, task code hash) recorded when the study last
        ran (None where unknown)."""
        row = self._conn.execute(
            "SELECT runner_version, task_version, task_code FROM studies WHERE id=?",
            (study_id,)).fetchone()
        return row[0], row[1], row[2]

    def study_status(self, study_id: int) -> str:
        row = self._conn.execute("SELECT status FROM studies WHERE id=?", (study_id,)).fetchone()
        return str(row[0])

    def start_study(self, study_id: int, info: dict[str, Any], env_id: int | None) -> None:
        with self._transaction() as cur:
            cur.execute(
                "UPDATE studies SET status='running', device=?, threads=?, precision=?, "
                "runner_version=?, task_version=?, task_code=?, env_id=?, "
                "started_at=COALESCE(started_at, ?) WHERE id=?",
                (info.get("device"), info.get("threads"), info.get("precision"),
                 info.get("runner_version"), info.get("task_version"), info.get("task_code"),
                 env_id, time.time(), study_id),
            )

    def finish_study(self, study_id: int, result: StudyResult) -> None:
        with self._transaction() as cur:
            cur.execute("UPDATE studies SET status='done', budget_spent=?, finished_at=?, "
                        "error=NULL WHERE id=?", (result.budget_spent, time.time(), study_id))

    def fail_study(self, study_id: int, error: str) -> None:
        """Mark a study that stopped on an error (its finished trials stay; a re-run resumes it)."""
        with self._transaction() as cur:
            cur.execute("UPDATE studies SET status='failed', error=? WHERE id=?", (error, study_id))

    # ------------------------------------------------------------------ trials
    def add_trial(self, study_id: int, record: TrialRecord) -> None:
        """Commit one finished trial, its curve included.

        One INSERT in autocommit mode is one transaction of its own (atomic, and committed when it
        returns: durable against a killed process, as every commit here), so the trial's path makes
        one call into SQLite instead of BEGIN / INSERT / COMMIT.
        """
        self._conn.execute(_INSERT_TRIAL, (
            (study_id << _STUDY_SHIFT) + record.number, study_id, record.number,
            record.config_json or _json(record.config), record.config_key,
            str(record.status), _finite(record.value), _finite(record.test_value), record.fidelity,
            record.fidelity_spent, record.eval_seconds, record.cpu_seconds,
            record.optimizer_seconds, record.charge, record.error, record.traceback,
            int(record.cached), record.started_at, _json(record.extra) if record.extra else None,
            ",".join(map(str, record.pruner_steps)) if record.pruner_steps else None,
            _curve_json(record.curve),
        ))

    def history(self, study_id: int) -> list[TrialRecord]:
        """The stored trials of a study, in order, as the study loop produced them."""
        return read_history(self._conn, study_id)


def read_history(conn: sqlite3.Connection, study_id: int) -> list[TrialRecord]:
    """A study's stored trials, in order, as the study loop produced them (any schema version)."""
    version = _schema_version(conn)  # a read-only store of an older schema is read as it is
    legacy = version == 1
    curve_column = "NULL" if legacy else "curve_json"
    legacy_curves: dict[int, list[float]] = {}
    if legacy:
        for trial, value in conn.execute(
                "SELECT trial, value FROM curves WHERE study_id=? ORDER BY trial, step", (study_id,)):
            legacy_curves.setdefault(trial, []).append(math.nan if value is None else value)
    where, parameters = _study_trials(version, study_id)
    records = []
    for row in conn.execute(
            "SELECT number, config_json, config_key, status, value, test_value, fidelity,"
            " fidelity_spent, eval_seconds, cpu_seconds, optimizer_seconds, charge, error,"
            f" traceback, cached, started_at, extra_json, pruner_steps, {curve_column}"
            f" FROM trials WHERE {where}", parameters):
        records.append(TrialRecord(
            number=row[0], config=json.loads(row[1]), config_key=row[2], status=Status(row[3]),
            value=row[4], test_value=row[5], fidelity=row[6], fidelity_spent=row[7],
            curve=tuple(legacy_curves.get(row[0], ())) if legacy else _curve(row[18]),
            eval_seconds=row[8], cpu_seconds=row[9], optimizer_seconds=row[10], charge=row[11],
            error=row[12], traceback=row[13], cached=bool(row[14]), started_at=row[15],
            extra=json.loads(row[16]) if row[16] else {},
            pruner_steps=tuple(int(step) for step in row[17].split(",")) if row[17] else (),
            config_json=row[1],
        ))
    return records


# ---------------------------------------------------------------------- reading (public API)

_STUDY_COLUMNS = """
    s.id AS study_id, su.name AS suite, s.task, s.task_name, s.task_options, s.runner,
    s.runner_name, s.runner_options, s.repetition, s.eval_seed, s.runner_seed, s.budget_json,
    s.settings_json, s.direction, s.optimum, s.optimum_is_exact, s.task_version,
    {task_code} AS task_code, s.runner_version, s.device, s.threads, s.precision, s.env_id, s.status, s.error,
    s.started_at, s.finished_at
"""


def load_studies(db_path: str | Path) -> pd.DataFrame:
    """One row per study: identity, seeds, budget (and whether it was met), settings, status."""
    with closing(_connect(Path(db_path), readonly=True)) as conn:
        columns = _STUDY_COLUMNS.format(
            task_code="NULL" if _schema_version(conn) == 1 else "s.task_code")
        frame = pd.read_sql_query(
            f"SELECT {columns}, COALESCE(t.n_trials, 0) AS n_trials,"
            " COALESCE(t.budget_spent, 0.0) AS budget_spent, COALESCE(t.n_failed, 0) AS n_failed"
            " FROM studies s JOIN suites su ON su.id = s.suite_id LEFT JOIN"
            " (SELECT study_id, COUNT(*) AS n_trials, SUM(charge) AS budget_spent,"
            "  SUM(status = 'failed') AS n_failed FROM trials GROUP BY study_id) t"
            " ON t.study_id = s.id ORDER BY s.id",
            conn,
        )
    budgets = frame.pop("budget_json").map(json.loads)
    frame["budget_kind"] = budgets.map(lambda b: b["kind"]).astype(str)
    frame["budget_amount"] = budgets.map(lambda b: float(b["amount"])).astype(float)
    frame["budget_met"] = frame["budget_spent"] >= frame["budget_amount"] - 1e-9
    frame["task_options"] = frame["task_options"].map(json.loads)
    frame["runner_options"] = frame["runner_options"].map(json.loads)
    frame["settings"] = frame.pop("settings_json").map(json.loads)
    frame["optimum_is_exact"] = frame["optimum_is_exact"].astype(bool)
    frame["optimum"] = frame["optimum"].astype(float)
    return frame


def load_trials(db_path: str | Path) -> pd.DataFrame:
    """One row per trial with its study's identity and running aggregates.

    Columns: suite, study_id, task, task_name, runner, runner_name, repetition, trial, status,
    value, test_value, best_value (best so far over ok trials), best_test_value (the incumbent's
    test value), direction, optimum, optimum_is_exact, fidelity, fidelity_spent, budget_kind,
    budget_amount, charge, budget_spent (cumulative), eval_seconds, optimizer_seconds,
    cpu_seconds, config (dict), config_key, error, cached, device.
    """
    studies = load_studies(db_path)
    with closing(_connect(Path(db_path), readonly=True)) as conn:
        trials = pd.read_sql_query(
            "SELECT study_id, number AS trial, status, value, test_value, fidelity, "
            "fidelity_spent, charge, eval_seconds, optimizer_seconds, cpu_seconds, config_json, "
            "config_key, error, cached FROM trials ORDER BY study_id, number", conn,
        )
    keep = ["study_id", "suite", "task", "task_name", "runner", "runner_name", "repetition",
            "direction", "optimum", "optimum_is_exact", "budget_kind", "budget_amount", "device"]
    frame = trials.merge(studies[keep], on="study_id", how="left", validate="many_to_one")
    frame["config"] = frame.pop("config_json").map(json.loads)
    frame["cached"] = frame["cached"].astype(bool)
    for column in ("value", "test_value", "fidelity_spent", "charge", "eval_seconds",
                   "optimizer_seconds", "cpu_seconds"):
        frame[column] = frame[column].astype(float)
    frame["trial"] = frame["trial"].astype(int)
    frame["fidelity"] = frame["fidelity"].astype(int)
    frame["budget_spent"] = frame.groupby("study_id", sort=False)["charge"].cumsum()
    _add_incumbent(frame)
    order = ["suite", "study_id", "task", "task_name", "runner", "runner_name", "repetition",
             "trial", "status", "value", "test_value", "best_value", "best_test_value",
             "direction", "optimum", "optimum_is_exact", "fidelity", "fidelity_spent",
             "budget_kind", "budget_amount", "charge", "budget_spent", "eval_seconds",
             "optimizer_seconds", "cpu_seconds", "config", "config_key", "error", "cached",
             "device"]
    return frame[order].reset_index(drop=True)


def _add_incumbent(frame: pd.DataFrame) -> None:
    """best_value / best_test_value: the best ok trial so far in each study (vectorised)."""
    sign = frame["direction"].map({"minimize": 1.0, "maximize": -1.0}).astype(float)
    loss = (frame["value"] * sign).where(frame["status"] == "ok")
    study = frame["study_id"]
    # cummin leaves NaN at failed rows: carry the running best forward over them.
    best_loss = loss.groupby(study, sort=False).cummin().groupby(study, sort=False).ffill()
    frame["best_value"] = best_loss * sign
    # The incumbent's row: the last row that strictly improved the running best (ties keep the
    # earlier trial, as optuna's best_trial does).
    previous = best_loss.groupby(frame["study_id"], sort=False).shift(1)
    improved = loss.notna() & (previous.isna() | (loss < previous))
    row_index = pd.Series(frame.index.where(improved), index=frame.index, dtype=float)
    incumbent_row = row_index.groupby(frame["study_id"], sort=False).ffill()
    test_values = frame["test_value"].to_numpy()
    frame["best_test_value"] = [
        test_values[int(i)] if not math.isnan(i) else math.nan for i in incumbent_row
    ]


def load_curves(db_path: str | Path) -> pd.DataFrame:
    """Every reported learning curve, one row per (trial, step): suite, study_id, task, runner,
    repetition, trial, status, step, value (NaN where a step's value was not finite).

    Long form, so ``seaborn.lineplot(data=..., x="step", y="value", hue="runner")`` plots it.
    """
    studies = load_studies(db_path)
    with closing(_connect(Path(db_path), readonly=True)) as conn:
        if _schema_version(conn) == 1:
            query = ("SELECT c.study_id, c.trial, t.status, c.step, c.value FROM curves c JOIN "
                     "trials t ON t.study_id = c.study_id AND t.number = c.trial")
        else:
            query = ("SELECT t.study_id, t.number AS trial, t.status, CAST(j.key AS INTEGER) + 1"
                     " AS step, j.value FROM trials t, json_each(t.curve_json) j"
                     " WHERE t.curve_json IS NOT NULL")
        curves = pd.read_sql_query(query + " ORDER BY 1, 2, 4", conn)
    keep = ["study_id", "suite", "task", "runner", "repetition"]
    frame = curves.merge(studies[keep], on="study_id", how="left", validate="many_to_one")
    frame["value"] = frame["value"].astype(float)
    return frame[["suite", "study_id", "task", "runner", "repetition", "trial", "status", "step",
                  "value"]].reset_index(drop=True)


def load_environments(db_path: str | Path) -> dict[int, dict[str, Any]]:
    with closing(_connect(Path(db_path), readonly=True)) as conn:
        return {int(i): json.loads(text)
                for i, text in conn.execute("SELECT id, env_json FROM environments")}


def load_suite_specs(db_path: str | Path) -> list[dict[str, Any]]:
    with closing(_connect(Path(db_path), readonly=True)) as conn:
        return [
            {"id": int(i), "name": name, "fingerprint": fingerprint,
             "spec": json.loads(spec), "source_text": source}
            for i, name, fingerprint, spec, source in conn.execute(
                "SELECT id, name, fingerprint, spec_json, source_text FROM suites ORDER BY id")
        ]
