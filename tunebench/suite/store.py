"""The results store: one SQLite file, WAL mode, one transaction per finished trial.

The driver is its only writer. ``synchronous=NORMAL`` in WAL mode makes every committed trial
durable against a killed process (not against a power cut), at a few tens of microseconds per
trial. Reading functions (:func:`load_trials`, :func:`load_studies`, …, in
:mod:`tunebench.suite.loading`, importable from here) are the public API that reports and
notebooks use; they open the file read-only and never change it.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tunebench.space import canonical_json
from tunebench.suite.connection import StoreError, check_writable, connect, explain, refuse_non_file
from tunebench.suite.loading import (
    load_curves,
    load_environments,
    load_studies,
    load_suite_specs,
    load_trials,
    read_history,
)
from tunebench.suite.migrations import migrate
from tunebench.suite.records import StudyResult, TrialRecord, recordable
from tunebench.suite.schema import (
    SCHEMA,
    SCHEMA_VERSION,
    STUDY_SHIFT,
    TRIAL_COLUMNS,
    TRIAL_VALUE_COLUMNS,
    curve_json,
    mark_identical_repetitions,
    record_trial_facts,
    schema_version,
)
from tunebench.suite.spec import StudySpec, SuiteSpec

__all__ = ["SCHEMA_VERSION", "TRIAL_VALUE_COLUMNS", "ResultStore", "StoreError", "load_curves",
           "load_environments", "load_studies", "load_suite_specs", "load_trials", "read_history"]

_INSERT_TRIAL = (f"INSERT INTO trials (id, {TRIAL_COLUMNS})"  # one placeholder per column, id included
                 f" VALUES ({','.join('?' * (1 + len(TRIAL_COLUMNS.split(','))))})")


def _lock(path: Path) -> int:
    """Hold an exclusive OS lock on the store's file itself while writing: the driver is its only
    writer.

    The lock is taken on the file the path resolves to (``flock`` on its inode), so a second run
    through a symlink or a hard link, or after someone deleted a lock file, is refused too; it is
    released when the process ends, however it ends. ``flock`` locks are independent of SQLite's
    own (POSIX) locks on Linux; the descriptor is closed only after SQLite's connection.
    """
    import fcntl

    resolved = path.resolve()
    refuse_non_file(path)
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: its folder cannot be made ({exc.strerror}: {exc.filename})") from None
    check_writable(resolved)
    try:  # never truncates: an existing file is opened as it is, read-only
        descriptor = os.open(resolved, os.O_RDONLY | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"{path} cannot be opened ({exc.strerror})") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        same = "" if resolved == path.absolute() else f" (it is {resolved})"
        raise StoreError(f"{path}{same} is being written by another tunebench run"
                         f"{_lock_holder(resolved)}; wait for it to finish (or stop it), then run "
                         "again to resume") from None
    return descriptor


def _lock_holder(path: Path) -> str:
    """", process PID (its command)" of the process holding the flock on ``path``, where Linux's
    /proc/locks says; empty where it cannot be told."""
    try:
        info = path.stat()
        key = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == key:
                pid = int(fields[4])
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace").strip()
                return f", process {pid}" + (f" ({command[:200]})" if command else "")
    except (OSError, ValueError):
        pass
    return ""


def _json(value: Any) -> str:
    return canonical_json(value)


def _recorded_json(value: Any) -> str:
    """JSON of a value reported for the record (a runner's resolved options): what JSON cannot
    hold (a callable default, a NaN) is written as its text rather than failing the study."""
    try:
        return canonical_json(value)
    except (TypeError, ValueError):
        return canonical_json(recordable(value))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class ResultStore:
    """Writer side of the store (the driver's)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: int | None = _lock(self.path)  # before anything reads or writes the file
        try:
            self._conn = connect(self.path)
        except BaseException:
            os.close(self._lock)
            raise
        try:
            self._prepare_schema()
        except BaseException:
            self.close(checkpoint=False)
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
        try:
            self._conn.executescript(SCHEMA)  # idempotent; executescript manages its own commit
        except sqlite3.Error as exc:
            raise explain(self.path, exc) from None
        try:
            with self._transaction(translate=False) as cur:
                migrate(cur, version)
                cur.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),))
        except sqlite3.OperationalError as exc:  # the file or its disk, not its rows
            raise explain(self.path, exc) from None
        except sqlite3.Error as exc:
            raise StoreError(
                f"{self.path}: upgrading the store from schema {version} to {SCHEMA_VERSION} failed "
                f"({' '.join(str(exc).split())}); it was left as it was. Its results can still be "
                "read (readers take an older store as it is); to write to it, correct the rows "
                "the error names, in a copy.") from None

    def close(self, checkpoint: bool = True) -> None:
        """Close the store; a writer that finished copies its write-ahead log into the ``.db``
        first (``wal_checkpoint(TRUNCATE)``), so the ``.db`` file alone holds every trial."""
        if self._lock is None:
            return  # closed already
        try:
            if checkpoint:  # a reader mid-read (a notebook) delays it a second at most
                self._conn.execute("PRAGMA busy_timeout=1000")
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # the trials stay in the -wal file, which SQLite reads with the store
        finally:
            self._conn.close()
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, translate: bool = True) -> Iterator[sqlite3.Cursor]:
        """One transaction; what SQLite says about the file (full disk, read-only, damaged)
        becomes one clear :class:`StoreError`, and everything committed before stays."""
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    cur.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if translate:
                raise explain(self.path, exc) from None
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
        stored_tasks = {t.get("label"): t for t in stored.get("tasks", [])}
        for task in data["tasks"]:  # a task's own count: likewise the most ever asked for
            before = stored_tasks.get(task["label"], {})
            if "repetitions" in task or "repetitions" in before:
                task["repetitions"] = max(int(task.get("repetitions") or data["repetitions"]),
                                          int(before.get("repetitions") or 1))
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
                     optimum: float | None, optimum_is_exact: bool,
                     objectives_json: str | None = None) -> int:
        row = self._conn.execute(
            "SELECT id FROM studies WHERE suite_id=? AND task=? AND runner=? AND repetition=?",
            (suite_id, study.task.label, study.runner.label, study.repetition),
        ).fetchone()
        smoke = int(study.task.smoke)
        if row is not None:  # a task marked smoke (or no longer) since: a mark, not a new study
            with self._transaction() as cur:
                cur.execute("UPDATE studies SET smoke=? WHERE id=? AND smoke<>?",
                            (smoke, row[0], smoke))
            return int(row[0])
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO studies (suite_id, task, task_name, task_options, runner, runner_name,"
                " runner_options, repetition, eval_seed, runner_seed, budget_json, settings_json,"
                " direction, optimum, optimum_is_exact, smoke, objectives_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (suite_id, study.task.label, study.task.name, _json(dict(study.task.options)),
                 study.runner.label, study.runner.name, _json(dict(study.runner.options)),
                 study.repetition, study.eval_seed, study.runner_seed,
                 _json(study.budget.to_dict()), _json(study.settings.to_dict()), direction,
                 _finite(optimum), int(optimum_is_exact), smoke, objectives_json),
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
                "runner_deterministic=?, python_hash_seed=?, warm_up_seconds=?, "
                "started_at=COALESCE(started_at, ?) WHERE id=?",
                (info.get("device"), info.get("threads"), info.get("precision"),
                 info.get("runner_version"), info.get("task_version"), info.get("task_code"),
                 env_id, info.get("device_model"), info.get("device_memory"),
                 info.get("device_uuid"), _recorded_json(resolved) if resolved is not None else None,
                 None if deterministic is None else int(bool(deterministic)),
                 info.get("python_hash_seed"), info.get("warm_up_seconds"), time.time(),
                 study_id),
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

    def identical_repetitions(self, suite_id: int
                              ) -> dict[tuple[str, str], tuple[list[tuple[int, int]], bool]]:
        """Per (task, runner) of a suite: the (repetition, earlier repetition it repeats exactly)
        pairs, and whether the runner declared itself deterministic when those studies ran."""
        out: dict[tuple[str, str], tuple[list[tuple[int, int]], bool]] = {}
        for task, runner, repetition, first, deterministic in self._conn.execute(
                "SELECT task, runner, repetition, identical_to, runner_deterministic FROM studies"
                " WHERE suite_id=? AND identical_to IS NOT NULL ORDER BY id", (suite_id,)):
            pairs, declared = out.get((task, runner), ([], True))
            pairs.append((int(repetition), int(first)))
            out[(task, runner)] = (pairs, declared and bool(deterministic))
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
        try:  # costs nothing unless SQLite raises
            self._conn.execute(_INSERT_TRIAL, (
                (study_id << STUDY_SHIFT) + record.number, study_id, record.number,
                record.config_json or _json(record.config), record.config_key,
                str(record.status), _finite(record.value), _finite(record.test_value),
                record.fidelity, record.fidelity_spent, record.eval_seconds, record.cpu_seconds,
                record.optimizer_seconds, record.charge, record.error, record.traceback,
                int(record.cached), record.started_at,
                _json(record.extra) if record.extra else None,
                ",".join(map(str, record.pruner_steps)) if record.pruner_steps else None,
                curve_json(record.curve),
            ))
        except sqlite3.OperationalError as exc:  # the file or its disk; a bad row stays an error
            raise explain(self.path, exc) from None

    def history(self, study_id: int) -> list[TrialRecord]:
        """The stored trials of a study, in order, as the study loop produced them."""
        return read_history(self._conn, study_id)


