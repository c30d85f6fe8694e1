"""Serial, process and Ray executors give identical trials; a local Ray listens on loopback only."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from conftest import run_and_kill

import tunebench
from tunebench.suite.parallel import assign_device, worker_environment
from tunebench.suite.store import load_studies, load_trials

SUITE = """
[suite]
name = "executors"
seed = 5
repetitions = 2
plugins = ["@PLUGIN@"]
[budget]
trials = 10
[[tasks]]
name = "branin"
[[tasks]]
name = "curve"
options = { delay = @DELAY@ }
[[runners]]
name = "random"
[[runners]]
name = "recorder"
"""

IDENTITY = ["task", "runner", "repetition", "trial", "status", "value", "test_value", "config_key",
            "fidelity_spent"]


def _identity(db: Path):
    return load_trials(db)[IDENTITY]


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serial")
    path = folder / "suite.toml"
    from conftest import PLUGIN_TASKS

    path.write_text(SUITE.replace("@PLUGIN@", str(PLUGIN_TASKS)).replace("@DELAY@", "0.0"))
    tunebench.run_suite(path, folder / "serial.db", progress=False)
    return path, _identity(folder / "serial.db")


def test_process_executor_gives_the_serial_trials(serial_reference, tmp_path):
    path, expected = serial_reference
    summary = tunebench.run_suite(path, tmp_path / "p.db", executor="process", workers=2,
                                  progress=False)
    assert summary.ok and summary.studies_run == 8
    assert _identity(tmp_path / "p.db").equals(expected)
    studies = load_studies(tmp_path / "p.db")
    assert (studies["status"] == "done").all() and (studies["threads"] == 1).all()


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _listening_sockets_of_children() -> set[tuple[str, int]]:
    """(address, port) of TCP sockets in LISTEN state held by this process's descendants."""
    inodes = _socket_inodes(_descendants(os.getpid()) | {os.getpid()})
    found = set()
    for name in ("tcp", "tcp6"):
        table = Path(f"/proc/net/{name}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            address_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(address_hex)
            # /proc/net stores each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((str(ipaddress.ip_address(raw)), int(port_hex, 16)))
    return found


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@pytest.mark.slow
def test_ray_executor_gives_the_serial_trials_and_listens_on_loopback_only(serial_reference, tmp_path):
    ray = pytest.importorskip("ray")
    from tunebench.suite.ray_executor import start_local_ray
    from tunebench.suite.ray_session import new_session_dir, remove_session

    path, expected = serial_reference
    session = new_session_dir()
    start_local_ray(num_cpus=2, session_dir=session)
    try:
        opened = _listening_sockets_of_children()
        assert len(opened) >= 3, "a running Ray instance should have opened listening sockets"
        exposed = sorted(s for s in opened if not _is_loopback(s[0]))
        assert not exposed, f"Ray listens beyond loopback: {exposed}"
        # The executor reuses the running instance rather than starting another.
        summary = tunebench.run_suite(path, tmp_path / "ray.db", executor="ray", workers=2,
                                      progress=False)
        assert summary.ok and summary.studies_run == 8
        exposed = sorted(s for s in _listening_sockets_of_children() if not _is_loopback(s[0]))
        assert not exposed, f"Ray listens beyond loopback: {exposed}"
    finally:
        ray.shutdown()
        remove_session(session)
    assert _identity(tmp_path / "ray.db").equals(expected)


def test_an_interrupted_parallel_run_resumes_like_a_serial_one(serial_reference, write_suite, tmp_path):
    _, expected = serial_reference
    path = write_suite(SUITE.replace("@DELAY@", "0.01"))  # same numbers, slower trials
    db = tmp_path / "killed.db"
    stored = run_and_kill(path, db, 30, "--executor", "process", "-j", "2")
    assert 30 <= stored < len(expected)
    summary = tunebench.run_suite(path, db, executor="process", workers=2, progress=False)
    assert summary.trials_run == len(expected) - stored
    assert _identity(db).equals(expected)


def test_a_failing_study_does_not_stop_the_others(write_suite, tmp_path):
    path = write_suite("""
    [suite]
    name = "partly-broken"
    plugins = ["@PLUGIN@"]
    [budget]
    trials = 5
    [[tasks]]
    name = "branin"
    [[runners]]
    name = "random"
    """)
    from tunebench.suite.executors import SerialExecutor, StudyJob
    from tunebench.suite.spec_parse import load_suite

    spec = load_suite(path)
    good = spec.studies()[0]
    bad = good.__class__(**{**good.__dict__, "runner": good.runner.__class__(
        name="random", label="broken", options={"nonsense": 1})})

    events = []

    class Sink:
        def study_started(self, key, info):
            events.append(("started", key))

        def trial_finished(self, key, record):
            events.append(("trial", key))

        def study_finished(self, key, result):
            events.append(("finished", key))

        def study_failed(self, key, error, trace):
            events.append(("failed", key, error))

    SerialExecutor().run([StudyJob(bad), StudyJob(good)], Sink())
    assert events[0][0] == "failed" and "nonsense" in events[0][2]
    assert ("finished", good.key) in events
    assert sum(e[0] == "trial" for e in events) == 5


PROBE_TASK = """
from pathlib import Path

from tunebench.space import Float, Space
from tunebench.tasks.base import Result, Task


class EnvironmentProbe(Task):
    \"\"\"Writes the environment its process was started with (Linux keeps it in /proc).\"\"\"

    name = "environment_probe"

    def __init__(self, out: str) -> None:
        self.out = out

    @property
    def space(self):
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config, fidelity, seed, context):
        Path(self.out).write_bytes(Path("/proc/self/environ").read_bytes())
        return Result(value=0.0)
"""


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_process_workers_start_with_their_thread_variables(write_suite, tmp_path):
    """BLAS and OpenMP read these once, when numpy (or torch) loads them, and a spawned worker
    imports numpy before any of its own code runs. /proc/self/environ holds the environment the
    process was started with (later os.environ changes do not show there), so finding the values
    in it proves they were in place before the worker imported anything."""
    plugin = tmp_path / "probe_task.py"
    plugin.write_text(PROBE_TASK)
    out = tmp_path / "environ"
    path = write_suite(f"""
    [suite]
    name = "probe"
    plugins = ["{plugin}"]
    [budget]
    trials = 1
    [settings]
    threads = 3
    [[tasks]]
    name = "environment_probe"
    options = {{ out = "{out}" }}
    [[runners]]
    name = "random"
    """)
    expected = worker_environment(3)
    driver_before = {name: os.environ.get(name) for name in expected}
    summary = tunebench.run_suite(path, tmp_path / "probe.db", executor="process", workers=1,
                                  progress=False)
    assert summary.ok
    started_with = dict(entry.split("=", 1) for entry in out.read_text().split("\0") if "=" in entry)
    assert {name: started_with.get(name) for name in expected} == expected
    assert {name: os.environ.get(name) for name in expected} == driver_before  # the driver's own


def test_devices_are_assigned_round_robin_over_gpus():
    assert [assign_device("auto", w, 2) for w in range(4)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert assign_device("auto", 3, 0) == "auto"  # no GPU: the study resolves to CPU itself
    assert assign_device("cpu", 1, 4) == "cpu"  # an explicit device always wins
    env = worker_environment(1)
    assert env["OMP_NUM_THREADS"] == "1" and env["OMP_WAIT_POLICY"] == "PASSIVE"
