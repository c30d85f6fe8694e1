"""Shared fixtures: suite files written on the fly, a test plugin with misbehaving tasks."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

TESTS = Path(__file__).parent
PLUGIN_TASKS = TESTS / "plugin_tasks.py"


@pytest.fixture
def write_suite(tmp_path: Path) -> Callable[..., Path]:
    """Write a suite TOML (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "suite.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).replace("@PLUGIN@", str(PLUGIN_TASKS)))
        return path

    return write


def stored_trial_count(db: Path) -> int:
    """Trials committed so far in a store another process may be writing (0 before it exists)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``tunebench ARGS`` in a fresh process, its output captured."""
    return subprocess.run([sys.executable, "-m", "tunebench", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def run_and_kill(suite: Path, db: Path, at_least: int, *extra: str, timeout: float = 90) -> int:
    """Run ``tunebench run`` in a child process group, SIGKILL the whole group once ``at_least``
    trials are stored, and return how many were stored when it died."""
    proc = subprocess.Popen([sys.executable, "-m", "tunebench", "run", str(suite), "--db", str(db),
                             "-q", *extra], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + timeout
    while stored_trial_count(db) < at_least and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed; slow the task down"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and any workers it started
    proc.wait()
    return stored_trial_count(db)
