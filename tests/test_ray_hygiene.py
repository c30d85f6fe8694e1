"""A local Ray started by tunebench leaves nothing behind: its session folder is its own and goes
when the run ends, and what a SIGKILLed run left (the folder, Ray's orphaned agents) is cleaned up
when the next run starts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import stored_trial_count

from tunebench.suite.ray_session import PREFIX, holders, remove_session

pytest.importorskip("ray")

SUITE = """
[suite]
name = "ray-hygiene"
plugins = ["{plugin}"]
[budget]
trials = {trials}
[[tasks]]
name = "sleepy"
[[runners]]
name = "random"
"""


@pytest.fixture
def short_tmp():
    """A short TMPDIR for the runs (Ray puts Unix sockets, 107 bytes at most, in its folder)."""
    folder = Path(tempfile.mkdtemp(prefix="tbt", dir="/tmp"))
    yield folder
    for session in folder.glob(f"{PREFIX}*"):
        remove_session(session)  # whatever a failed test left running
    shutil.rmtree(folder, ignore_errors=True)


def _run(suite: Path, db: Path, tmp: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tunebench", "run", str(suite), "--db", str(db), "--executor",
         "ray", "-j", "1", "-q"], env={**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)


def _suite(tmp_path: Path, trials: int) -> Path:
    from conftest import PLUGIN_TASKS

    path = tmp_path / f"suite{trials}.toml"
    path.write_text(SUITE.format(plugin=PLUGIN_TASKS, trials=trials))
    return path


@pytest.mark.slow
def test_a_finished_run_leaves_no_session_folder(tmp_path, short_tmp):
    proc = _run(_suite(tmp_path, 3), tmp_path / "a.db", short_tmp)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert stored_trial_count(tmp_path / "a.db") == 3
    assert list(short_tmp.iterdir()) == []  # nothing of Ray's is left in the temp folder


@pytest.mark.slow
def test_a_killed_run_is_cleaned_up_when_the_next_one_starts(tmp_path, short_tmp):
    killed = _run(_suite(tmp_path, 400), tmp_path / "k.db", short_tmp)
    deadline = time.monotonic() + 120
    while stored_trial_count(tmp_path / "k.db") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert killed.poll() is None, killed.stderr.read().decode()[-2000:]
    os.kill(killed.pid, signal.SIGKILL)  # the driver alone: Ray's processes are orphaned
    killed.wait()
    time.sleep(3)
    stale = list(short_tmp.glob(f"{PREFIX}{killed.pid}-*"))
    assert len(stale) == 1
    orphans = holders(stale[0])
    assert orphans, "Ray's agents outlive a SIGKILLed driver (what this cleanup is for)"

    proc = _run(_suite(tmp_path, 2), tmp_path / "next.db", short_tmp)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert list(short_tmp.iterdir()) == []
    time.sleep(0.5)
    assert [pid for pid in orphans if _running(pid)] == []


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False
