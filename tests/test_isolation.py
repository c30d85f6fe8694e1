"""Trial isolation: a trial that kills, hangs or exhausts its process fails alone; the run goes on.

Through the real CLI where a crash would take the driver down: a segfault, ``os._exit``, a
SIGKILL of itself and ``sys.exit`` under the serial and the process executors, then a resume of a
killed run that finishes with the same trials; a C-level block past the timeout, killed near the
limit; the memory limit; captured output. Pruning, clipping and uncharged spans give the same
records isolated and in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import PLUGIN_TASKS, run_and_kill, run_cli
from trial_records import TASKS, curves, isolation_suite, pruner_steps, trial_rows

from tunebench.registry import make_task
from tunebench.suite.isolation import exit_cause, resolve_isolation
from tunebench.suite.spec_parse import load_suite
from tunebench.suite.store import load_studies, load_trials
from tunebench.suite.study import StudyLoop

CAUSES = {"os_exit": "WorkerDied: exit code 7", "sigkill": "WorkerDied: exit code -9 (SIGKILL)",
          "segfault": "WorkerDied: exit code -11 (SIGSEGV)", "sys_exit0": "SystemExit: 0",
          "sys_exit3": "SystemExit: 3"}


def write_suite(tmp_path: Path, task: str, trials: int, settings: str = "",
                options: str = "", budget: str = "") -> Path:
    return isolation_suite(tmp_path, task, budget=budget or f"trials = {trials}",
                           settings=settings, options=options)


cli = run_cli


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_trials_that_kill_their_process_fail_with_their_cause_and_the_run_goes_on(
        tmp_path: Path, executor: str) -> None:
    db = tmp_path / "r.db"
    done = cli("run", str(write_suite(tmp_path, "crasher", 24)), "--db", str(db), "-q",
               "--executor", executor)
    assert done.returncode == 0, done.stderr
    assert "24 trials" in done.stdout and "Traceback" not in done.stderr
    trials = load_trials(db)
    assert list(trials["trial"]) == list(range(24))
    how = trials["config"].map(lambda c: c["how"])
    assert set(how) >= set(CAUSES), "the seed no longer draws every way of crashing"
    for name, cause in CAUSES.items():
        rows = trials[how == name]
        assert (rows["status"] == "failed").all() and (rows["error"] == cause).all(), name
        # Reported step 1, then died in step 2: charged the two steps it trained, as in-process.
        assert (rows["fidelity_spent"] == 2).all() and (rows["charge"] == 1).all(), name
    fine = trials[how.isin(["fine", "prints"])]
    assert (fine["status"] == "ok").all() and (fine["fidelity_spent"] == 3).all()
    studies = load_studies(db)
    assert studies.loc[0, "status"] == "done" and bool(studies.loc[0, "budget_met"])
    assert studies.loc[0, "n_failed"] == int(how.isin(list(CAUSES)).sum())


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_run_killed_among_crashing_trials_resumes_to_the_same_trials(tmp_path: Path,
                                                                        executor: str) -> None:
    """Each crash is stored as it happens, so a resume replays it and never runs into it again."""
    suite = write_suite(tmp_path, "crasher", 16, options="options = {delay = 0.05}")
    reference = tmp_path / "reference.db"
    assert cli("run", str(suite), "--db", str(reference), "-q").returncode == 0
    db = tmp_path / "killed.db"
    stored = run_and_kill(suite, db, 6, "--executor", executor)
    assert 6 <= stored < 16
    done = cli("run", str(suite), "--db", str(db), "-q", "--executor", executor)
    assert done.returncode == 0, done.stderr
    assert trial_rows(db) == trial_rows(reference)


def test_the_crashes_are_told_to_the_runner(tmp_path: Path) -> None:
    spec = load_suite({"suite": {"name": "told", "seed": 5, "plugins": [str(TASKS), str(PLUGIN_TASKS)]},
                       "budget": {"trials": 16}, "tasks": [{"name": "crasher"}],
                       "runners": [{"name": "recorder"}]})

    class Sink:
        def __init__(self) -> None:
            self.records: list[Any] = []
            self.info: dict[str, Any] = {}

        def study_started(self, key, info) -> None:
            self.info = info

        def trial_finished(self, key, record) -> None:
            self.records.append(record)

    sink = Sink()
    loop = StudyLoop(spec.studies()[0], sink)
    loop.run()
    assert sink.info["isolation"] == "process"
    told = sys.modules[type(loop.runner).__module__].TOLD[spec.studies()[0].runner_seed]
    assert [o.status for o in told] == [r.status for r in sink.records]
    crashed = [o for o, r in zip(told, sink.records, strict=True) if r.config["how"] in CAUSES]
    assert crashed and all(o.status == "failed" and o.value is None for o in crashed)


def test_a_c_level_block_past_the_timeout_is_killed_near_the_limit(tmp_path: Path) -> None:
    """A C call that ignores SIGALRM (which in-process it would): the parent kills the worker."""
    db = tmp_path / "r.db"
    t0 = time.monotonic()
    done = cli("run", str(write_suite(tmp_path, "hangs", 2, "trial_timeout = 1")), "--db", str(db),
               "-q")
    elapsed = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    trials = load_trials(db)
    assert (trials["status"] == "failed").all()
    assert trials["error"].str.startswith("TrialTimeout: trial exceeded its time limit of 1 s").all()
    assert trials["eval_seconds"].between(1.0, 1.5).all(), trials["eval_seconds"].tolist()
    assert elapsed < 20  # not the 2 × 30 s the task would block for


def test_the_output_of_a_trial_is_stored_with_it(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    assert cli("run", str(write_suite(tmp_path, "crasher", 24)), "--db", str(db), "-q").returncode == 0
    trials = load_trials(db)
    how = trials["config"].map(lambda c: c["how"])
    for row in trials[how == "prints"].itertuples():
        x = row.config["x"]
        assert row.extra["output"] == f"hello from x={x:.4f}\nand from stderr\n"
    assert all("output" not in e for e in trials.loc[how == "fine", "extra"])


def test_the_memory_limit_fails_an_allocation_heavy_trial_only(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    suite = write_suite(tmp_path, "hungry", 8, "memory_limit_mb = 1024", "options = {mb = 4096}")
    done = cli("run", str(suite), "--db", str(db), "-q")
    assert done.returncode == 0, done.stderr
    trials = load_trials(db)
    heavy = trials["config"].map(lambda c: c["x"] > 0.5)
    assert heavy.any() and (~heavy).any()
    assert (trials.loc[heavy, "status"] == "failed").all()
    assert trials.loc[heavy, "error"].str.fullmatch(
        r"(MemoryError: past memory_limit_mb = 1024|WorkerDied: .*memory_limit_mb = 1024\))").all()
    assert (trials.loc[~heavy, "status"] == "ok").all()


@pytest.mark.parametrize(("settings", "message"), [
    ('isolation = "thread"', "settings.isolation: must be one of 'process', 'none'"),
    ('isolation = 1', "settings.isolation: must be one of"),
    ('isolation = "none"\nmemory_limit_mb = 2048', 'memory_limit_mb: needs isolation = "process"'),
    ("memory_limit_mb = 10", "memory_limit_mb: must be at least 256"),
    ('memory_limit_mb = "4G"', "memory_limit_mb: must be an integer"),
])
def test_bad_isolation_settings_are_exit_2(tmp_path: Path, settings: str, message: str) -> None:
    done = cli("run", str(write_suite(tmp_path, "crasher", 2, settings)), "--db",
               str(tmp_path / "r.db"), "-q")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_defaults_isolate_heavy_and_plugin_tasks_only() -> None:
    from tunebench.registry import load_plugin_file
    from tunebench.tasks.mnist_cnn import MnistCNNTask
    from tunebench.tasks.text_clf import TextClassifierTask

    load_plugin_file(TASKS)
    for name in ("branin", "linreg", "sphere", "hartmann6"):
        assert resolve_isolation(None, None, make_task(name)) == "none", name
        assert resolve_isolation(None, 1024, make_task(name)) == "process", name  # a limit needs one
    assert MnistCNNTask.isolation == TextClassifierTask.isolation == "process"
    assert resolve_isolation(None, None, make_task("crasher")) == "process"
    assert resolve_isolation("none", None, make_task("crasher")) == "none"
    assert resolve_isolation("process", None, make_task("branin")) == "process"
    assert exit_cause(-9) == "exit code -9 (SIGKILL)" and exit_cause(0) == "exit code 0"


# ------------------------------------------------- the same records isolated and in-process

def comparable(db: Path) -> list[tuple[Any, ...]]:
    trials = load_trials(db).sort_values("trial")
    curve = curves(db)
    return [(r.config_key, r.status, r.value, curve.get((r.study_id, r.trial), ()),
             r.fidelity_spent, r.error.split(" (")[0] if isinstance(r.error, str) else None,
             r.extra.get("clipped"))
            for r in trials.itertuples()]


def run_both(tmp_path: Path, budget: str, options: str, runner: str) -> tuple[Path, Path]:
    dbs = []
    for isolation in ("none", "process"):
        suite = write_suite(tmp_path, "stepped", 0, f'isolation = "{isolation}"', options, budget)
        text = suite.read_text().replace('name = "random"', f'name = "{runner}"')
        suite.write_text(text.replace(f'plugins = ["{TASKS}"]',
                                      f'plugins = ["{TASKS}", "{PLUGIN_TASKS}"]'))
        db = tmp_path / f"{isolation}.db"
        done = cli("run", str(suite), "--db", str(db), "-q", "--no-cache")  # both evaluate
        assert done.returncode == 0, done.stderr
        dbs.append(db)
    return dbs[0], dbs[1]


def test_pruning_gives_the_same_records_isolated_and_in_process(tmp_path: Path) -> None:
    inproc, isolated = run_both(tmp_path, "trials = 12", "options = {uncharged_seconds = 0.01}",
                                "recorder")
    rows = comparable(inproc)
    assert rows == comparable(isolated)
    assert {r[1] for r in rows} == {"ok", "pruned"}  # the recorder prunes above 0.8 at step 2
    assert sorted(pruner_steps(inproc).values()) == sorted(pruner_steps(isolated).values())
    for db in (inproc, isolated):
        trials = load_trials(db)
        assert trials["extra"].map(lambda e: e["uncharged_seconds"] >= 0.01).all()
        assert (trials["charge"] == 1).all()


def test_clipping_gives_the_same_records_isolated_and_in_process(tmp_path: Path) -> None:
    """Steps of 0.2 s, 0.05 s uncharged each trial: 0.8 s charged per trial, so a 2.1 s budget
    clips trial 2 half a second in, after its second step (0.1 s from either boundary)."""
    inproc, isolated = run_both(
        tmp_path, "device_seconds = 2.1", "options = {step_seconds = 0.2, uncharged_seconds = 0.05}",
        "random")
    rows = comparable(inproc)
    assert rows == comparable(isolated)
    assert [r[1] for r in rows] == ["ok", "ok", "pruned"] and rows[2][6] is True
    assert len(rows[2][3]) == 2
    for db in (inproc, isolated):
        trials = load_trials(db)
        assert trials["charge"].sum() == pytest.approx(2.1, abs=1e-9)  # to the last digit
        assert trials["charge"].iloc[:2].between(0.8, 0.9).all(), trials["charge"].tolist()
        assert trials["extra"].map(lambda e: 0.05 <= e["uncharged_seconds"] < 0.1).all()


# ------------------------------------------------------------------ the worker itself

def isolated(task: str, options: dict[str, Any] | None = None,
             settings: dict[str, Any] | None = None) -> tuple[Any, Any]:
    from tunebench.suite.isolation import IsolatedEvaluator

    spec = load_suite({"suite": {"name": "unit", "plugins": [str(TASKS)]}, "budget": {"trials": 1},
                       "settings": settings or {},
                       "tasks": [{"name": task, "options": options or {}}],
                       "runners": [{"name": "random"}]})
    study = spec.studies()[0]
    task_object = make_task(task, options)
    return IsolatedEvaluator(study, task_object, "cpu"), task_object


def test_checkpoints_cross_the_process_boundary_both_ways() -> None:
    from tunebench.tasks.base import EvalContext

    evaluator, _ = isolated("stepped")
    try:
        evaluator.start()
        context = EvalContext(start=1, checkpoint={"from": "before"})
        result = evaluator.evaluate({"x": 0.25}, 3, 0, context)
        assert result.value == 0.25 + 1 / 3 and context.curve == [1.25, 0.75, 0.25 + 1 / 3]
        assert context.saved_checkpoint == {"x": 0.25, "steps": 3}
        assert evaluator.cpu_seconds > 0
    finally:
        evaluator.close()


def test_a_killed_driver_takes_its_worker_along(tmp_path: Path) -> None:
    """The worker dies with the driver even while it blocks in C code (no lingering process)."""
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_isolation import isolated
        from tunebench.tasks.base import EvalContext
        evaluator, _ = isolated("hangs", {{"seconds": 60}})
        evaluator.start()
        print(evaluator._worker.proc.pid, flush=True)
        evaluator.evaluate({{"x": 0.5}}, 1, 0, EvalContext())
    """))
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(driver.stdout.readline())
    time.sleep(0.3)  # inside the C sleep
    driver.kill()
    driver.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
            with open(f"/proc/{worker}/stat") as stat:  # a zombie (reaped by init soon) is gone
                if stat.read().split(") ")[1].startswith("Z"):
                    break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the worker outlived its driver")


def test_where_evaluations_run_is_stored_with_the_suite_but_changes_no_fingerprint() -> None:
    from tunebench.suite.spec_parse import suite_from_dict

    base = {"suite": {"name": "fp", "plugins": [str(TASKS)]}, "budget": {"trials": 2},
            "tasks": [{"name": "crasher"}], "runners": [{"name": "random"}]}
    plain = load_suite(base)
    isolated_spec = load_suite({**base, "settings": {"isolation": "process", "memory_limit_mb": 2048}})
    assert "isolation" not in plain.to_dict()["settings"]  # stored suites keep their form
    assert isolated_spec.fingerprint == plain.fingerprint
    again = suite_from_dict(isolated_spec.to_dict())
    assert again.settings.isolation == "process" and again.settings.memory_limit_mb == 2048
