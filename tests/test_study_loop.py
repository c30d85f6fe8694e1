"""The study loop: failures are results, budgets are spent by the harness, pruning is charged."""

from __future__ import annotations

import math

import tunebench
from tunebench.suite.store import load_studies, load_trials

HEADER = """
[suite]
name = "loop"
seed = 1
repetitions = 1
plugins = ["@PLUGIN@"]
"""


def test_exceptions_nans_and_timeouts_become_failed_trials_and_the_study_goes_on(write_suite, tmp_path):
    path = write_suite(HEADER + """
[budget]
trials = 40
[[tasks]]
name = "flaky"
[[runners]]
name = "recorder"
""")
    db = tmp_path / "r.db"
    summary = tunebench.run_suite(path, db, progress=False)
    assert summary.ok and summary.trials_run == 40
    trials = load_trials(db)
    assert len(trials) == 40 and list(trials["trial"]) == list(range(40))
    raised = trials[trials["config"].map(lambda c: c["x"] < 0.2)]
    nans = trials[trials["config"].map(lambda c: c["x"] > 0.9)]
    assert len(raised) > 0 and len(nans) > 0
    assert (raised["status"] == "failed").all()
    assert raised["error"].str.startswith("RuntimeError: boom").all()
    assert (nans["status"] == "failed").all()
    assert nans["error"].str.contains("NonFiniteValue").all()
    ok = trials[trials["status"] == "ok"]
    assert ok["value"].notna().all() and trials.loc[trials["status"] == "failed", "value"].isna().all()
    # Failures are charged: 40 trials were spent, whatever their status.
    assert trials["charge"].sum() == 40
    studies = load_studies(db)
    assert studies.loc[0, "n_failed"] == len(raised) + len(nans)
    assert bool(studies.loc[0, "budget_met"])


def test_the_runner_is_told_failures_as_failures():
    from conftest import PLUGIN_TASKS

    from tunebench.suite.spec_parse import load_suite
    from tunebench.suite.study import StudyLoop

    class Sink:
        def __init__(self):
            self.records = []

        def study_started(self, key, info):
            pass

        def trial_finished(self, key, record):
            self.records.append(record)

    spec = load_suite({
        "suite": {"name": "x", "plugins": [str(PLUGIN_TASKS)]},
        "budget": {"trials": 30}, "tasks": [{"name": "flaky"}], "runners": [{"name": "recorder"}],
    })
    study = spec.studies()[0]
    sink = Sink()
    loop = StudyLoop(study, sink)
    loop.run()
    told = __import__("sys").modules[type(loop.runner).__module__].TOLD[study.runner_seed]
    assert len(told) == 30
    statuses = [o.status for o in told]
    assert statuses == [t.status for t in sink.records]
    assert all(o.value is None for o in told if o.status == "failed")
    assert any(o.status == "failed" for o in told) and any(o.status == "ok" for o in told)


def test_a_trial_over_its_time_limit_is_failed_and_charged(write_suite, tmp_path):
    path = write_suite(HEADER + """
[budget]
trials = 10
[settings]
trial_timeout = 0.1
# In-process: two extra wake-ups per trial under isolation make 30 ms margins flaky on a loaded
# machine (the isolated timeout is tested in test_isolation.py, with a margin that fits it).
isolation = "none"
[[tasks]]
name = "sleepy"
[[runners]]
name = "random"
""")
    db = tmp_path / "r.db"
    tunebench.run_suite(path, db, progress=False)
    trials = load_trials(db)
    x = trials["config"].map(lambda c: c["x"])
    slow, fast = x > 0.13, x < 0.07  # sleeps well past / well within the 0.1 s limit
    assert slow.any() and fast.any()
    assert (trials.loc[slow, "status"] == "failed").all()
    assert trials.loc[slow, "error"].str.startswith("TrialTimeout").all()
    assert (trials.loc[slow, "eval_seconds"] < 0.25).all()
    assert (trials.loc[fast, "status"] == "ok").all()
    assert len(trials) == 10


def test_epochs_budget_charges_what_ran_and_pruned_trials_pay_only_their_steps(write_suite, tmp_path):
    path = write_suite(HEADER + """
[budget]
epochs = 50
[[tasks]]
name = "curve"
[[runners]]
name = "recorder"
[[runners]]
name = "random"
""")
    db = tmp_path / "r.db"
    tunebench.run_suite(path, db, progress=False)
    trials = load_trials(db)
    for runner, group in trials.groupby("runner"):
        assert group["charge"].sum() == 50, runner  # exactly the budget: the last trial is clamped
        assert (group["charge"] == group["fidelity_spent"]).all()
    pruned = trials[trials["status"] == "pruned"]
    assert len(pruned) > 0, "the recorder runner prunes trials whose value stays above 0.8"
    assert (pruned["fidelity_spent"] == 2).all()
    assert pruned["value"].notna().all()
    # A pruning runner gets more trials for the same epochs: the fair comparison.
    counts = trials.groupby("runner").size()
    assert counts["recorder"] > counts["random"]
    # Curves are stored per step.
    random_rows = trials[(trials["runner"] == "random") & (trials["status"] == "ok")]
    assert (random_rows["fidelity"] <= 8).all()


def test_trials_record_optimizer_and_evaluation_time_separately(write_suite, tmp_path):
    path = write_suite(HEADER + """
[budget]
device_seconds = 0.3
[settings]
isolation = "none"  # 50 ms margins, as above; isolated clipping: test_isolation.py
[[tasks]]
name = "sleepy"
[[runners]]
name = "random"
""")
    db = tmp_path / "r.db"
    tunebench.run_suite(path, db, progress=False)
    trials = load_trials(db)
    done, last = trials.iloc[:-1], trials.iloc[-1]
    assert (done["eval_seconds"] >= done["config"].map(lambda c: c["x"]) - 1e-3).all()
    assert (trials["optimizer_seconds"] > 0).all()
    assert (trials["optimizer_seconds"] < trials["eval_seconds"] + 0.01).all()
    assert (done["charge"] == done["eval_seconds"]).all()
    # The budget is never overshot: the last trial ran under what remained and was clipped.
    remained = 0.3 - done["charge"].sum()
    assert 0 < remained < last["config"]["x"]
    assert last["status"] == "pruned" and last["error"].startswith("Clipped: the device-seconds")
    assert math.isnan(last["value"])  # it reported nothing before the deadline
    assert last["charge"] == remained and math.isclose(trials["charge"].sum(), 0.3)
    assert remained <= last["eval_seconds"] < remained + 0.05  # stopped by the timer, mid-sleep


def test_best_value_only_counts_ok_trials(write_suite, tmp_path):
    path = write_suite(HEADER + """
[budget]
trials = 25
[[tasks]]
name = "flaky"
[[runners]]
name = "random"
""")
    db = tmp_path / "r.db"
    tunebench.run_suite(path, db, progress=False)
    trials = load_trials(db)
    running = math.inf
    for row in trials.itertuples():
        if row.status == "ok" and row.value < running:
            running = row.value
            incumbent_test = row.test_value
        if math.isinf(running):
            assert math.isnan(row.best_value)
        else:
            assert row.best_value == running
            assert row.best_test_value == incumbent_test


def test_the_store_has_one_writer_and_refuses_what_is_not_a_store(tmp_path):
    import sqlite3

    import pytest

    from tunebench.suite.store import ResultStore, StoreError

    db = tmp_path / "r.db"
    with ResultStore(db), pytest.raises(StoreError, match="being written by another tunebench run"):
        ResultStore(db)
    ResultStore(db).close()  # released when the first writer closes
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreError, match="not a tunebench results store"):
        ResultStore(other)
    with pytest.raises(StoreError, match="is a directory"):
        ResultStore(tmp_path)
    text = tmp_path / "text.db"
    text.write_text("hello")
    with pytest.raises(StoreError, match="cannot be used as a tunebench results store"):
        load_trials(text)


def test_a_task_reporting_impossible_fidelity_is_a_failed_trial(write_suite, tmp_path):
    plugin = tmp_path / "liar.py"
    plugin.write_text(
        "from tunebench.space import Float, Space\n"
        "from tunebench.tasks.base import Result, Task\n"
        "class Liar(Task):\n"
        "    name = 'liar'\n"
        "    max_fidelity = 4\n"
        "    space = Space({'x': Float(0.0, 1.0)})\n"
        "    def evaluate(self, config, fidelity, seed, context):\n"
        "        return Result(value=config['x'], fidelity_spent=0 if config['x'] < 0.5 else 99)\n"
    )
    path = write_suite(f"""
[suite]
name = "liar"
plugins = ["{plugin}"]
[budget]
epochs = 12
[[tasks]]
name = "liar"
[[runners]]
name = "random"
""")
    db = tmp_path / "r.db"
    tunebench.run_suite(path, db, progress=False)  # ends: impossible fidelities cannot stall it
    trials = load_trials(db)
    assert (trials["status"] == "failed").all()
    assert trials["error"].str.startswith("InvalidResult: task 'liar' reported fidelity_spent").all()
    assert trials["charge"].sum() == 12 and (trials["charge"] == 4).all()


def test_a_failed_study_is_marked_in_the_store_with_its_error(write_suite, tmp_path):
    from tunebench.suite.executors import StudyJob
    from tunebench.suite.sink import StoreSink
    from tunebench.suite.spec_parse import load_suite
    from tunebench.suite.store import ResultStore

    spec = load_suite(write_suite(HEADER + """
[budget]
trials = 3
[[tasks]]
name = "flaky"
[[runners]]
name = "random"
"""))
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        suite_id = store.register_suite(spec)
        study = spec.studies()[0]
        study_id = store.ensure_study(suite_id, study, "minimize", None, True)
        sink = StoreSink(store, {study.key: study_id}, _NoProgress())
        sink.study_failed(StudyJob(study).study.key, "RuntimeError: worker lost", "")
    assert sink.failed == {study.key: "RuntimeError: worker lost"}
    row = load_studies(db).iloc[0]
    assert row["status"] == "failed" and row["error"] == "RuntimeError: worker lost"


class _NoProgress:
    def study_done(self, key=None) -> None:
        pass


def test_a_time_limit_never_interrupts_the_runner_while_it_decides_whether_to_prune(write_suite,
                                                                                      tmp_path):
    import sys
    import threading

    from tunebench.registry import get_runner_class

    path = write_suite(HEADER + """
[budget]
trials = 2
[settings]
trial_timeout = 0.2
[[tasks]]
name = "curve"
[[runners]]
name = "slow_pruner"
""")
    db = tmp_path / "r.db"
    # Another thread alive in the process (a progress bar, a library's pool) can be the one the
    # kernel hands SIGALRM to: holding the alarm back must not depend on which thread gets it.
    stop = threading.Event()
    bystander = threading.Thread(target=stop.wait, daemon=True)
    bystander.start()
    try:
        tunebench.run_suite(path, db, progress=False)
    finally:
        stop.set()
        bystander.join()
    trials = load_trials(db)
    # The limit falls during the second pruner call (0.15 s each): the call completes, then the
    # trial stops as a timeout. Interrupted mid-call, the runner's state would be half-updated.
    assert (trials["status"] == "failed").all()
    assert trials["error"].str.startswith("TrialTimeout").all()
    runner_module = sys.modules[get_runner_class("slow_pruner").__module__]
    entered, finished = runner_module.PRUNE_CALLS[int(load_studies(db).loc[0, "runner_seed"])]
    # Unloaded, each trial stops right after its second decision; a loaded machine may stop it
    # after the first. Every decision that began has ended either way.
    assert entered == finished >= 2



def test_an_adapter_whose_ask_is_replaced_has_its_proposals_checked(write_suite, tmp_path):
    """The loop skips its own check only for the library adapter's ask(), which validates; a
    runner that replaces ask() (here an optuna subclass) is checked like any other."""
    summary = tunebench.run_suite(write_suite(HEADER + """
[budget]
trials = 3
[[tasks]]
name = "curve"
[[runners]]
name = "overreacher"
"""), tmp_path / "r.db", progress=False)
    [error] = summary.failed_studies.values()
    assert "runner 'overreacher' proposed an invalid configuration" in error
    assert "'x'=2.0 is outside" in error and "bug in the runner" in error


def test_a_result_holds_plain_floats_whatever_numbers_the_task_returns():
    import numpy as np

    from tunebench.tasks.base import Result

    result = Result(value=np.float32(0.5), test_value=np.float64(0.25), curve=[np.float32(1.5), 2])
    assert type(result.value) is float and type(result.test_value) is float
    assert type(result.curve) is tuple and [type(v) for v in result.curve] == [float, float]
    assert result.curve == (1.5, 2.0)
    assert Result(value=1.0, curve=[]).curve == ()
    # Arrays have no truth value; a one-step curve at 0.0 is still a curve.
    assert Result(value=1.0, curve=np.array([0.5, 0.25])).curve == (0.5, 0.25)
    assert Result(value=0.0, curve=np.array([0.0])).curve == (0.0,)
    assert Result(value=1.0, curve=np.array([])).curve == ()
    plain = Result(value=1.0, test_value=None, curve=(1.0,))
    assert plain.test_value is None and plain.curve == (1.0,)


def test_on_a_gpu_each_evaluation_is_timed_between_two_device_syncs(monkeypatch):
    """The GPU path on a CPU machine: a non-torch task takes the requested device as given, and a
    stand-in for torch.cuda.synchronize that waits shows the wait inside eval_seconds."""
    import time

    from tunebench.suite import study as study_module
    from tunebench.suite.spec_parse import load_suite

    synced: list[str] = []

    def slow_sync(device: str) -> None:
        synced.append(device)
        time.sleep(0.02)  # queued device work finishing

    monkeypatch.setattr(study_module, "synchronize", slow_sync)

    class ListSink:
        def __init__(self) -> None:
            self.records: list = []

        def study_started(self, key, info) -> None:
            self.device = info["device"]

        def trial_finished(self, key, record) -> None:
            self.records.append(record)

    def run(device: str) -> ListSink:
        spec = load_suite({"suite": {"name": "gpu"}, "budget": {"trials": 3},
                           "settings": {"device": device},
                           "tasks": [{"name": "branin"}], "runners": [{"name": "random"}]})
        sink = ListSink()
        study_module.run_study(spec.studies()[0], sink)
        return sink

    on_gpu = run("cuda:0")
    assert on_gpu.device == "cuda:0" and synced == ["cuda:0"] * 6  # before and after each trial
    assert all(record.eval_seconds >= 0.02 for record in on_gpu.records)
    synced.clear()
    run("cpu")
    assert synced == []  # nothing to wait for on the CPU
