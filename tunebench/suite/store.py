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
from tunebench.suite.migrations import migrate
from tunebench.suite.records import StudyResult, TrialRecord
from tunebench.suite.schema import (
    SCHEMA,
    SCHEMA_VERSION,
    STUDY_FACT_COLUMNS,
    STUDY_SHIFT,
    TRIAL_COLUMNS,
    TRIAL_VALUE_COLUMNS,
    curve_json,
    mark_identical_repetitions,
    record_trial_facts,
    schema_version,
    study_trials,
)
from tunebench.suite.spec import StudySpec, SuiteSpec

__all__ = ["SCHEMA_VERSION", "TRIAL_VALUE_COLUMNS", "ResultStore", "StoreError", "load_curves",
           "load_environments", "load_studies", "load_suite_specs", "load_trials", "read_history"]

_INSERT_TRIAL = (f"INSERT INTO trials (id, {TRIAL_COLUMNS})"  # one placeholder per column, id included
                 f" VALUES ({','.join('?' * (1 + len(TRIAL_COLUMNS.split(','))))})")


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


def _curve(text: str | None) -> tuple[float, ...]:
    return tuple(math.nan if v is None else float(v) for v in json.loads(text)) if text else ()


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
        version = schema_version(self._conn) if has_meta else SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer tunebench (schema {version});"
                             " upgrade tunebench to read it")
        self._conn.executescript(SCHEMA)  # idempotent; executescript manages its own commit
        try:
            with self._transaction() as cur:
                migrate(cur, version)
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
        row = self._conn.execute("SELECT id, spec_json FROM suites WHERE fingerprint=?",
                                 (fingerprint,)).fetchone()
        if row is not None:
            self._grow_suite(int(row[0]), spec, json.loads(row[1]))
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

    def _grow_suite(self, suite_id: int, spec: SuiteSpec, stored: dict[str, Any]) -> None:
        """Keep the stored resolved suite current: the most repetitions ever asked for (a run
        with fewer leaves the others stored and counted) and the latest marks (smoke) and text."""
        data = spec.to_dict()
        data["repetitions"] = max(spec.repetitions, int(stored.get("repetitions", 1)))
        if data != stored:
            with self._transaction() as cur:
                cur.execute("UPDATE suites SET spec_json=?, source_text=COALESCE(?, source_text)"
                            " WHERE id=?", (_json(data), spec.source_text, suite_id))

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
        smoke = int(study.task.smoke)
        if row is not None:  # a task marked smoke (or no longer) since: a mark, not a new study
            self._conn.execute("UPDATE studies SET smoke=? WHERE id=? AND smoke<>?",
                               (smoke, row[0], smoke))
            return int(row[0])
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO studies (suite_id, task, task_name, task_options, runner, runner_name,"
                " runner_options, repetition, eval_seed, runner_seed, budget_json, settings_json,"
                " direction, optimum, optimum_is_exact, smoke)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (suite_id, study.task.label, study.task.name, _json(dict(study.task.options)),
                 study.runner.label, study.runner.name, _json(dict(study.runner.options)),
                 study.repetition, study.eval_seed, study.runner_seed,
                 _json(study.budget.to_dict()), _json(study.settings.to_dict()), direction,
                 _finite(optimum), int(optimum_is_exact), smoke),
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
        """Record what a study runs with, as its process found it (``info`` from the study loop)."""
        resolved = info.get("runner_resolved_options")
        deterministic = info.get("runner_deterministic")
        with self._transaction() as cur:
            cur.execute(
                "UPDATE studies SET status='running', device=?, threads=?, precision=?, "
                "runner_version=?, task_version=?, task_code=?, env_id=?, "
                "device_model=?, device_memory=?, device_uuid=?, runner_resolved_options=?, "
                "runner_deterministic=?, python_hash_seed=?, "
                "started_at=COALESCE(started_at, ?) WHERE id=?",
                (info.get("device"), info.get("threads"), info.get("precision"),
                 info.get("runner_version"), info.get("task_version"), info.get("task_code"),
                 env_id, info.get("device_model"), info.get("device_memory"),
                 info.get("device_uuid"), _json(resolved) if resolved is not None else None,
                 None if deterministic is None else int(bool(deterministic)),
                 info.get("python_hash_seed"), time.time(), study_id),
            )

    def finish_study(self, study_id: int, result: StudyResult) -> None:
        """Mark a study done, with what its trials say it ran in and whether a repetition before it
        proposed the very same sequence."""
        with self._transaction() as cur:
            cur.execute("UPDATE studies SET status='done', budget_spent=?, finished_at=?, "
                        "error=NULL, search_exhausted=? WHERE id=?",
                        (result.budget_spent, time.time(), int(result.search_exhausted), study_id))
            record_trial_facts(cur, study_id, finished=True)
            suite_id, task, runner = cur.execute(
                "SELECT suite_id, task, runner FROM studies WHERE id=?", (study_id,)).fetchone()
            mark_identical_repetitions(cur, suite_id, task, runner)

    def fail_study(self, study_id: int, error: str) -> None:
        """Mark a study that stopped on an error (its finished trials stay; a re-run resumes it)."""
        with self._transaction() as cur:
            cur.execute("UPDATE studies SET status='failed', error=? WHERE id=?", (error, study_id))
            record_trial_facts(cur, study_id, finished=False)

    def identical_repetitions(self, suite_id: int) -> dict[tuple[str, str], list[tuple[int, int]]]:
        """Per (task, runner) of a suite: (repetition, the earlier repetition it repeats exactly)."""
        out: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for task, runner, repetition, first in self._conn.execute(
                "SELECT task, runner, repetition, identical_to FROM studies WHERE suite_id=?"
                " AND identical_to IS NOT NULL ORDER BY id", (suite_id,)):
            out.setdefault((task, runner), []).append((int(repetition), int(first)))
        return out

    def exhausted_searches(self, suite_id: int) -> dict[tuple[str, str, int], float]:
        """Studies of a suite whose runner ran out of proposals: their unspent budget."""
        out = {}
        for task, runner, repetition, spent, budget in self._conn.execute(
                "SELECT task, runner, repetition, budget_spent, budget_json FROM studies"
                " WHERE suite_id=? AND search_exhausted=1 ORDER BY id", (suite_id,)):
            out[(task, runner, int(repetition))] = max(0.0, float(json.loads(budget)["amount"]) - spent)
        return out

    # ------------------------------------------------------------------ trials
    def add_trial(self, study_id: int, record: TrialRecord) -> None:
        """Commit one finished trial, its curve included.

        One INSERT in autocommit mode is one transaction of its own (atomic, and committed when it
        returns: durable against a killed process, as every commit here), so the trial's path makes
        one call into SQLite instead of BEGIN / INSERT / COMMIT.
        """
        self._conn.execute(_INSERT_TRIAL, (
            (study_id << STUDY_SHIFT) + record.number, study_id, record.number,
            record.config_json or _json(record.config), record.config_key,
            str(record.status), _finite(record.value), _finite(record.test_value), record.fidelity,
            record.fidelity_spent, record.eval_seconds, record.cpu_seconds,
            record.optimizer_seconds, record.charge, record.error, record.traceback,
            int(record.cached), record.started_at, _json(record.extra) if record.extra else None,
            ",".join(map(str, record.pruner_steps)) if record.pruner_steps else None,
            curve_json(record.curve),
        ))

    def history(self, study_id: int) -> list[TrialRecord]:
        """The stored trials of a study, in order, as the study loop produced them."""
        return read_history(self._conn, study_id)


def read_history(conn: sqlite3.Connection, study_id: int) -> list[TrialRecord]:
    """A study's stored trials, in order, as the study loop produced them (any schema version)."""
    version = schema_version(conn)  # a read-only store of an older schema is read as it is
    legacy = version == 1
    curve_column = "NULL" if legacy else "curve_json"
    legacy_curves: dict[int, list[float]] = {}
    if legacy:
        for trial, value in conn.execute(
                "SELECT trial, value FROM curves WHERE study_id=? ORDER BY trial, step", (study_id,)):
            legacy_curves.setdefault(trial, []).append(math.nan if value is None else value)
    where, parameters = study_trials(version, study_id)
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

_STUDY_COLUMNS = (
    "id AS study_id", "task", "task_name", "task_options", "runner", "runner_name",
    "runner_options", "repetition", "eval_seed", "runner_seed", "budget_json", "settings_json",
    "direction", "optimum", "optimum_is_exact", "task_version", "task_code", "runner_version",
    "device", "threads", "precision", "env_id", "status", "error", "started_at", "finished_at",
    *(name for name, _ in STUDY_FACT_COLUMNS),
)

#: What makes two study rows one study run twice (a store that holds a suite appended again with
#: more repetitions, as schema 3 did): the same suite name, task, runner, repetition, seeds,
#: options, budget and settings. Readers keep one of them (:func:`_count_each_study_once`).
_STUDY_IDENTITY = ["suite", "task", "task_name", "task_options", "runner", "runner_name",
                   "runner_options", "repetition", "eval_seed", "runner_seed", "budget_json",
                   "settings_json"]


def _study_columns(conn: sqlite3.Connection) -> str:
    """The study columns to select; those an older schema lacks read as NULL."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(studies)")}
    out = []
    for column in _STUDY_COLUMNS:
        name = column.split(" AS ")[-1] if " AS " in column else column
        source = column.split(" AS ")[0]
        out.append(f"s.{source} AS {name}" if source in present else f"NULL AS {name}")
    return ", ".join(out)


def load_studies(db_path: str | Path) -> pd.DataFrame:
    """One row per study: identity, seeds, budget (and whether it was met), settings, status, and
    the facts it ran with. Each study is counted once, however many times the store holds it.

    Beyond identity and status: ``precision_resolved`` (what the trials ran in, "auto" resolved;
    None for tasks without a precision), ``device_model``, ``device_memory`` (bytes),
    ``device_uuid``, ``host``, ``runner_resolved_options`` (dict), ``runner_deterministic``,
    ``python_hash_seed`` (None: randomised), ``search_exhausted`` and ``budget_left`` (what a runner
    that ran out of proposals left unspent), ``smoke`` (keep out of statistics),
    ``trial_sequence`` and ``identical_to`` (the first repetition whose trial sequence this one
    repeats; NA when none), ``seeds_evaluation`` / ``seeds_runner`` (the suite's seed policy).
    Facts a store predating them did not record are None.
    """
    with closing(_connect(Path(db_path), readonly=True)) as conn:
        frame = pd.read_sql_query(
            f"SELECT su.name AS suite, {_study_columns(conn)}, COALESCE(t.n_trials, 0) AS n_trials,"
            " COALESCE(t.budget_spent, 0.0) AS budget_spent, COALESCE(t.n_failed, 0) AS n_failed,"
            " su.spec_json AS suite_spec"
            " FROM studies s JOIN suites su ON su.id = s.suite_id LEFT JOIN"
            " (SELECT study_id, COUNT(*) AS n_trials, SUM(charge) AS budget_spent,"
            "  SUM(status = 'failed') AS n_failed FROM trials GROUP BY study_id) t"
            " ON t.study_id = s.id ORDER BY s.id",
            conn,
        )
        hosts = _hosts(conn)
    frame = _count_each_study_once(frame)
    policies = frame.pop("suite_spec").map(lambda text: json.loads(text).get("seeds") or {})
    frame["seeds_evaluation"] = policies.map(lambda p: p.get("evaluation", "per-repetition"))
    frame["seeds_runner"] = policies.map(lambda p: p.get("runner", "per-repetition"))
    budgets = frame.pop("budget_json").map(json.loads)
    frame["budget_kind"] = budgets.map(lambda b: b["kind"]).astype(str)
    frame["budget_amount"] = budgets.map(lambda b: float(b["amount"])).astype(float)
    frame["budget_met"] = frame["budget_spent"] >= frame["budget_amount"] - 1e-9
    frame["budget_left"] = (frame["budget_amount"] - frame["budget_spent"]).clip(lower=0.0)
    frame["task_options"] = frame["task_options"].map(json.loads)
    frame["runner_options"] = frame["runner_options"].map(json.loads)
    frame["runner_resolved_options"] = frame["runner_resolved_options"].map(
        lambda text: json.loads(text) if isinstance(text, str) else None)
    frame["settings"] = frame.pop("settings_json").map(json.loads)
    frame["optimum_is_exact"] = frame["optimum_is_exact"].astype(bool)
    frame["optimum"] = frame["optimum"].astype(float)
    frame["host"] = frame["env_id"].map(lambda i: hosts.get(int(i)) if pd.notna(i) else None)
    for column in ("search_exhausted", "smoke"):
        frame[column] = frame[column].fillna(0).astype(bool)
    frame["runner_deterministic"] = frame["runner_deterministic"].astype("boolean")
    for column in ("identical_to", "device_memory"):
        frame[column] = frame[column].astype("Int64")
    for column in ("precision_resolved", "device_model", "device_uuid", "python_hash_seed",
                   "trial_sequence"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.reset_index(drop=True)


def _hosts(conn: sqlite3.Connection) -> dict[int, str | None]:
    """Environment id → the host it was captured on (none for a store without environments)."""
    try:
        rows = conn.execute("SELECT id, env_json FROM environments").fetchall()
    except sqlite3.OperationalError:  # a store of another schema may lack the table
        return {}
    return {int(i): json.loads(text).get("hostname") for i, text in rows}


def _count_each_study_once(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the repeats of a study stored twice, keeping the most complete one (done before
    unfinished, then the most trials, then the first stored)."""
    if not frame.duplicated(_STUDY_IDENTITY).any():
        return frame
    ranked = frame.assign(_done=frame["status"] != "done", _trials=-frame["n_trials"])
    ranked = ranked.sort_values(["_done", "_trials", "study_id"], kind="stable")
    kept = ranked.drop_duplicates(_STUDY_IDENTITY).drop(columns=["_done", "_trials"])
    return kept.sort_values("study_id", kind="stable")


def load_trials(db_path: str | Path) -> pd.DataFrame:
    """One row per trial with its study's identity and running aggregates.

    Columns: suite, study_id, task, task_name, runner, runner_name, repetition, trial, status,
    value, test_value, best_value (best so far over ok trials), best_test_value (the incumbent's
    test value), direction, optimum, optimum_is_exact, fidelity, fidelity_spent, budget_kind,
    budget_amount, charge, budget_spent (cumulative), eval_seconds, optimizer_seconds,
    cpu_seconds, config (dict), config_key, error, cached, device, extra (dict: what the task
    reported beside its value, e.g. a torch task's precision and epochs; empty when nothing).
    Trials of a study stored twice are read once (see :func:`load_studies`).
    """
    studies = load_studies(db_path)
    with closing(_connect(Path(db_path), readonly=True)) as conn:
        trials = pd.read_sql_query(
            "SELECT study_id, number AS trial, status, value, test_value, fidelity, "
            "fidelity_spent, charge, eval_seconds, optimizer_seconds, cpu_seconds, config_json, "
            "config_key, error, cached, extra_json FROM trials ORDER BY study_id, number", conn,
        )
    keep = ["study_id", "suite", "task", "task_name", "runner", "runner_name", "repetition",
            "direction", "optimum", "optimum_is_exact", "budget_kind", "budget_amount", "device"]
    frame = trials.merge(studies[keep], on="study_id", how="inner", validate="many_to_one")
    frame["config"] = frame.pop("config_json").map(json.loads)
    frame["extra"] = frame.pop("extra_json").map(lambda text: json.loads(text) if text else {})
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
             "device", "extra"]
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
        if schema_version(conn) == 1:
            query = ("SELECT c.study_id, c.trial, t.status, c.step, c.value FROM curves c JOIN "
                     "trials t ON t.study_id = c.study_id AND t.number = c.trial")
        else:
            query = ("SELECT t.study_id, t.number AS trial, t.status, CAST(j.key AS INTEGER) + 1"
                     " AS step, j.value FROM trials t, json_each(t.curve_json) j"
                     " WHERE t.curve_json IS NOT NULL")
        curves = pd.read_sql_query(query + " ORDER BY 1, 2, 4", conn)
    keep = ["study_id", "suite", "task", "runner", "repetition"]
    frame = curves.merge(studies[keep], on="study_id", how="inner", validate="many_to_one")
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
