"""SIGKILL soak: whole ``tunebench run`` processes killed at random moments lose nothing.

Four isolated studies of a task whose trials crash their worker most of the time are run once
uninterrupted, then again under at least 10 SIGKILLs of the whole process group (the driver, the
process executor's workers and every evaluation worker), alternating the serial and the process
executors, at seeded random moments — the first one while a crashing trial is in progress — each
followed by a resume. At the end the store must hold exactly the uninterrupted run's trials: none
lost, none twice, none different (configuration, outcome, error, charge, curve).

Budget: about 40 s on two shared cores (the timeout below is the hard bound, well under 2 min).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import stored_trial_count
from trial_records import in_run_order, isolation_suite, trial_rows

from tunebench.suite.loading import load_studies

KILLS = 10
DELAY = 0.2  # seconds a crashing Crasher trial sleeps between its first report and its crash
CRASHES = {"os_exit", "sigkill", "segfault", "sys_exit0", "sys_exit3"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def suite(tmp_path: Path) -> Path:
    return isolation_suite(tmp_path, "crasher", budget="trials = 10", seed=11, repetitions=2,
                           options=f"options = {{delay = {DELAY}}}",
                           runners=("random", "optuna.random"))


def start(path: Path, db: Path, executor: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tunebench", "run", str(path), "--db", str(db),
                             "-q", "--no-cache", "--executor", executor], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)


def kill(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the run's whole process group; False when it had already finished."""
    finished = proc.poll() is not None
    if not finished:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with contextlib.suppress(ProcessLookupError):  # any straggler of its group
        os.killpg(proc.pid, signal.SIGKILL)
    return not finished


def wait_for(db: Path, count: int, proc: subprocess.Popen[bytes], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while stored_trial_count(db) < count and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


@pytest.mark.slow
@pytest.mark.timeout(110)
def test_sigkills_at_random_moments_lose_duplicate_and_change_no_trial(tmp_path: Path) -> None:
    path = suite(tmp_path)
    reference = tmp_path / "reference.db"
    done = subprocess.run([sys.executable, "-m", "tunebench", "run", str(path), "--db",
                           str(reference), "-q", "--no-cache"], env=ENV, capture_output=True,
                          text=True, timeout=100)
    assert done.returncode == 0, done.stderr
    expected = trial_rows(reference)
    assert len(expected) == 40
    assert sum(row[7] is not None and row[7] != "" for row in expected) >= 20, "too few crashes"

    # The serial order of the uninterrupted run: which trial runs when `n` trials are stored.
    hows = [config["how"] for config in in_run_order(reference)]
    inside = next(n for n in range(1, len(hows))
                  if hows[n] in CRASHES and hows[n - 1] not in CRASHES)  # no worker restart before

    db = tmp_path / "soak.db"
    rng = random.Random(20261204)
    kills, executors = 0, ("serial", "process")
    # 1. Inside a crashing trial: it has reported its first step and sleeps before crashing.
    proc = start(path, db, "serial")
    wait_for(db, inside, proc)
    time.sleep(DELAY / 2)
    assert kill(proc), "the run finished before the kill"
    assert stored_trial_count(db) == inside, "the crashing trial was not running when killed"
    kills += 1
    # 2. At random moments, a few trials into each resumed run, alternating the executors.
    while kills < KILLS:
        executor = executors[kills % 2]
        before = stored_trial_count(db)
        assert before < 40, f"the suite finished after {kills} kills: kill sooner"
        proc = start(path, db, executor)
        wait_for(db, before + rng.randint(1, 2), proc)
        time.sleep(rng.uniform(0.0, 0.15))
        kills += kill(proc)
    assert stored_trial_count(db) < 40
    # 3. The last resume finishes.
    for executor in executors:
        done = subprocess.run([sys.executable, "-m", "tunebench", "run", str(path), "--db", str(db),
                               "-q", "--no-cache", "--executor", executor], env=ENV,
                              capture_output=True, text=True, timeout=100)
        assert done.returncode == 0, done.stderr
    assert kills >= KILLS
    rows = trial_rows(db)
    keys = [row[:4] for row in rows]
    assert len(keys) == len(set(keys)) == 40  # none lost, none twice
    assert rows == expected  # none different
    assert (load_studies(db)["status"] == "done").all()
