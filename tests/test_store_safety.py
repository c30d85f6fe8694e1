"""The results store can't be clobbered, shared by accident or silently damaged: one writer
through any name of the file, foreign files refused unchanged, damage named, read-only stores
and full disks told clearly, and a finished run's ``.db`` complete on its own."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import stored_trial_count
from typer.testing import CliRunner

import tunebench
from tunebench.cli import app
from tunebench.suite import connection
from tunebench.suite import run as run_module
from tunebench.suite.store import ResultStore, StoreError, load_studies, load_trials

SUITE = """
[suite]
name = "safety"
seed = 3
repetitions = 2
plugins = ["@PLUGIN@"]
[budget]
trials = @TRIALS@
[[tasks]]
name = "curve"
options = { delay = @DELAY@ }
[[tasks]]
name = "branin"
[[runners]]
name = "random"
[[runners]]
name = "recorder"
"""

IDENTITY = ["task", "runner", "repetition", "trial", "status", "value", "config_key", "charge"]


def _suite(write_suite, trials: int = 30, delay: float = 0.0) -> Path:
    return write_suite(SUITE.replace("@TRIALS@", str(trials)).replace("@DELAY@", str(delay)))


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunebench", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        result.exception
    return result


def _damage(db: Path, seed: int = 5) -> None:
    """Overwrite one page in the middle of the file with random bytes, as a failing disk might."""
    data = bytearray(db.read_bytes())
    page = 4096
    middle = (len(data) // page) // 2
    garbage = random.Random(seed).randbytes(page)
    data[middle * page:(middle + 1) * page] = garbage
    db.write_bytes(bytes(data))


# ---------------------------------------------------------------------------- one writer

@pytest.mark.parametrize("link", ["symlink", "hard link"])
def test_a_second_run_through_another_name_of_the_store_is_refused(write_suite, tmp_path, link):
    suite = _suite(write_suite, trials=30, delay=0.003)  # ≈ 3 s of trials in all
    db = tmp_path / "x.db"
    alias = tmp_path / "other" / "y.db"
    first = subprocess.Popen([sys.executable, "-m", "tunebench", "run", str(suite), "--db", str(db),
                              "-q", "--no-cache"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while stored_trial_count(db) < 3 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.poll() is None, "the first run ended before the second started; slow it down"
    alias.parent.mkdir()
    if link == "symlink":
        alias.symlink_to(db)
    else:
        os.link(db, alias)
    second = _cli("run", str(suite), "--db", str(alias), "-q", "--no-cache")
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stdout + second.stderr
    assert "being written by another tunebench run" in second.stderr
    assert f"process {first.pid}" in second.stderr  # the writer, named
    assert "Traceback" not in second.stderr
    trials = load_trials(db)
    assert len(trials) == 2 * 2 * 2 * 30
    assert not trials.duplicated(["study_id", "trial"]).any()
    assert (load_studies(db)["status"] == "done").all()


def test_a_finished_run_leaves_the_store_free_for_the_next(write_suite, tmp_path):
    suite = _suite(write_suite, trials=3)
    tunebench.run_suite(suite, tmp_path / "new" / "folder" / "x.db", progress=False)  # made for it
    db = tmp_path / "x.db"
    tunebench.run_suite(suite, db, progress=False)
    with ResultStore(tmp_path / "x.db"):
        pass  # the lock was released
    alias = tmp_path / "y.db"
    alias.symlink_to(db)
    with ResultStore(db), pytest.raises(StoreError, match=r"y.db \(it is .*x.db\) is being written"):
        ResultStore(alias)


# ---------------------------------------------------------------------------- foreign files unchanged

def _journal_mode(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def _optuna_database(path: Path) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="mine")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1) ** 2, n_trials=3)
    del study


def _wal_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()


def _delete_mode_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT)")  # one of a store's table names, not all
    conn.close()


@pytest.mark.parametrize("make", [_optuna_database, _wal_database, _delete_mode_database],
                         ids=["optuna", "wal-sqlite", "delete-mode-sqlite"])
def test_an_sqlite_file_that_is_not_a_store_is_refused_unchanged(tmp_path, write_suite, make):
    path = tmp_path / "foreign.db"
    make(path)
    before, mode = path.read_bytes(), _journal_mode(path)
    files = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(StoreError, match="not a tunebench results store"):
        ResultStore(path)
    with pytest.raises(StoreError, match="not a tunebench results store"):
        load_trials(path)
    result = _invoke("run", str(_suite(write_suite, trials=2)), "--db", str(path), "-q", "--no-cache")
    assert result.exit_code == 2 and "not a tunebench results store" in result.output
    assert path.read_bytes() == before
    assert _journal_mode(path) == mode
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".toml") == files


def test_a_file_that_is_not_sqlite_is_refused_unchanged(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"my notes, not a database\n" * 200)
    before = path.read_bytes()
    for attempt in (lambda: ResultStore(path), lambda: load_trials(path)):
        with pytest.raises(StoreError, match="not an SQLite file"):
            attempt()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]
    assert _invoke("check", "--db", str(path)).exit_code == 2


# ---------------------------------------------------------------------------- damage

@pytest.fixture
def finished_store(write_suite, tmp_path) -> tuple[Path, Path]:
    suite = _suite(write_suite, trials=40)
    db = tmp_path / "x.db"
    tunebench.run_suite(suite, db, progress=False)
    return suite, db


def test_check_says_ok_for_a_sound_store_and_names_damage(finished_store):
    _, db = finished_store
    result = _invoke("check", "--db", str(db))
    assert result.exit_code == 0 and f"{db}: ok" in result.output
    _damage(db)
    result = _invoke("check", "--db", str(db))
    assert result.exit_code == 1, result.output
    assert "malformed" in result.output or "page" in result.output.lower()
    assert "damaged" in result.output
    assert _invoke("check", "--db", str(db.with_name("missing.db"))).exit_code == 2
    assert _invoke("check", "--db", str(db.parent)).exit_code == 2


def test_check_finds_a_missing_table(finished_store):
    _, db = finished_store
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE environments RENAME TO environments_gone")
    conn.close()
    result = _invoke("check", "--db", str(db))
    assert result.exit_code == 1
    assert "the environments table is missing" in result.output


def test_every_command_refuses_a_damaged_store_in_one_clear_message(finished_store, tmp_path):
    suite, db = finished_store
    _damage(db)
    damaged = db.read_bytes()
    commands = [["run", str(suite), "--db", str(db), "-q", "--no-cache"],
                ["show", "--db", str(db)],
                ["report", "--db", str(db), "-o", str(tmp_path / "report")],
                ["export", "--db", str(db), "-o", str(tmp_path / "bundle.tar.gz")]]
    for command in commands:
        if command[0] == "run":  # as a user starts it (it re-executes itself)
            started = _cli(*command)
            code, output = started.returncode, started.stdout + started.stderr
        else:
            invoked = _invoke(*command)
            code, output = invoked.exit_code, invoked.output
        assert code == 2, (command, output)
        assert f"{db} is damaged" in output and f"tunebench check --db {db}" in output, output
        assert "Traceback" not in output
        assert "already finished" not in output
    assert db.read_bytes() == damaged
    with pytest.raises(StoreError, match="is damaged"):
        ResultStore(db)


# ---------------------------------------------------------------------------- read-only, full disk

def test_a_store_sqlite_may_not_write_gets_one_clear_message(finished_store, monkeypatch):
    """The refusal SQLite gives on a read-only mount or file (what root meets, whom permissions
    do not stop): every connection opened read-only, so each write fails in SQLite itself."""
    suite, db = finished_store
    stored = load_trials(db)[IDENTITY]
    before = db.read_bytes()
    real_connect = sqlite3.connect

    def read_only(target, *args, **kwargs):
        if isinstance(target, Path):
            return real_connect(f"file:{target}?mode=ro", *args, uri=True, **kwargs)
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(connection.sqlite3, "connect", read_only)
    with pytest.raises(StoreError) as raised:
        ResultStore(db)
    message = str(raised.value)
    assert "is read-only" in message and "upgrading" not in message
    # A finished suite needs no write: it answers from the store. More repetitions must write.
    result = _invoke("run", str(suite), "--db", str(db), "-q", "--no-cache")
    assert result.exit_code == 0 and "nothing to run" in " ".join(result.output.split())
    result = _invoke("run", str(suite), "--db", str(db), "-q", "--no-cache", "--repetitions", "9")
    assert result.exit_code == 2 and "is read-only" in result.output
    monkeypatch.undo()
    assert db.read_bytes() == before
    assert load_trials(db)[IDENTITY].equals(stored)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes files whatever their permissions")
@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_store_or_folder_is_refused_and_still_read(finished_store, what):
    suite, db = finished_store
    stored = load_trials(db)[IDENTITY]
    target = db if what == "file" else db.parent
    mode = target.stat().st_mode
    target.chmod(0o444 if what == "file" else 0o555)
    try:
        result = _invoke("run", str(suite), "--db", str(db), "-q", "--no-cache")
        assert result.exit_code == 2, result.output
        assert "is read-only" in result.output and "upgrading" not in result.output
        assert _invoke("show", "--db", str(db)).exit_code == 0
        assert load_trials(db)[IDENTITY].equals(stored)
    finally:
        target.chmod(mode)


class _FillingConnection:
    """An SQLite connection whose disk fills up after ``room`` more trials: that INSERT and every
    write after it fail as SQLite fails on a full disk."""

    def __init__(self, conn: sqlite3.Connection, room: int) -> None:
        self._conn, self.room, self.full = conn, room, False

    def _write(self, sql: str) -> None:
        if sql.startswith("INSERT INTO trials"):
            self.room -= 1
            self.full = self.full or self.room < 0
        if self.full and sql.split()[0].upper() in ("INSERT", "UPDATE", "BEGIN", "DELETE"):
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql: str, *args):
        self._write(sql)
        return self._conn.execute(sql, *args)

    def cursor(self):
        outer = self

        class Cursor:
            def __init__(self) -> None:
                self._cur = outer._conn.cursor()

            def execute(self, sql: str, *args):
                outer._write(sql)
                return self._cur.execute(sql, *args)

            def __getattr__(self, name: str):
                return getattr(self._cur, name)

        return Cursor()

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


@pytest.mark.parametrize("room", [0, 25])
def test_a_full_disk_stops_the_run_clearly_and_loses_no_stored_trial(write_suite, tmp_path,
                                                                     monkeypatch, room):
    suite = _suite(write_suite, trials=20)
    reference = tmp_path / "reference.db"
    tunebench.run_suite(suite, reference, progress=False)

    class FillingStore(ResultStore):
        def __init__(self, path) -> None:
            super().__init__(path)
            self._conn = _FillingConnection(self._conn, room=room)

    monkeypatch.setattr(run_module, "ResultStore", FillingStore)
    db = tmp_path / "full.db"
    result = _invoke("run", str(suite), "--db", str(db), "-q", "--no-cache")
    assert result.exit_code == 2, result.output
    assert "full" in result.output and "Every trial committed before is kept" in result.output
    assert "Traceback" not in result.output
    monkeypatch.undo()
    assert stored_trial_count(db) == room
    tunebench.run_suite(suite, db, progress=False)  # space freed: the same run resumes
    assert load_trials(db)[IDENTITY].equals(load_trials(reference)[IDENTITY])


# ---------------------------------------------------------------------------- the .db alone

def test_a_finished_run_leaves_every_trial_in_the_db_file_alone(write_suite, tmp_path):
    suite = _suite(write_suite, trials=10)
    db = tmp_path / "x.db"
    tunebench.run_suite(suite, db, progress=False)
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)  # a notebook left open on the store
    reader.execute("SELECT COUNT(*) FROM trials").fetchone()
    try:
        tunebench.run_suite(suite, db, progress=False, repetitions=4)  # grown: more trials written
        copy = tmp_path / "elsewhere" / "x.db"
        copy.parent.mkdir()
        shutil.copyfile(db, copy)  # the .db only, as a user copies "one SQLite file"
    finally:
        reader.close()
    copied = load_trials(copy)
    assert len(copied) == 2 * 2 * 4 * 10
    assert copied[IDENTITY].equals(load_trials(db)[IDENTITY])


def test_a_folder_this_process_may_not_write_refuses_the_run_and_still_reads(finished_store,
                                                                             monkeypatch):
    """The decisions taken on a folder that is not writable (permissions as a user other than
    root meets them, told here by ``os.access``): the run is refused before SQLite is asked, and
    readers read the store as immutable, since SQLite could not create its ``-shm`` there."""
    _, db = finished_store
    stored = load_trials(db)[IDENTITY]
    real_access = os.access
    monkeypatch.setattr(connection.os, "access",
                        lambda path, mode: False if Path(path) == db.parent else real_access(path, mode))
    with pytest.raises(StoreError, match=f"its folder {db.parent} is not writable"):
        ResultStore(db)
    for leftover in ("-wal", "-shm"):  # what readers in a writable folder leave behind
        db.with_name(db.name + leftover).unlink(missing_ok=True)
    assert connection._read_only_uri(db).endswith("&immutable=1")
    assert load_trials(db)[IDENTITY].equals(stored)
    db.with_name(db.name + "-shm").write_bytes(b"")  # a writer's index there: never immutable
    assert "immutable" not in connection._read_only_uri(db)


def test_check_says_when_trials_are_still_only_in_the_wal_file(finished_store):
    _, db = finished_store
    writer = sqlite3.connect(db)  # a run that is writing (or was killed): its log holds trials
    try:
        writer.execute("INSERT INTO meta VALUES ('note', 'in the log only')")
        writer.commit()
        assert db.with_name("x.db-wal").stat().st_size > 0
        result = _invoke("check", "--db", str(db))
    finally:
        writer.close()
    assert result.exit_code == 0
    assert "x.db-wal holds trials not yet copied into x.db" in " ".join(result.output.split())
    assert "tunebench export" in result.output
