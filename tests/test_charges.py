"""Every charge is what was trained: failures, pruner time, the budget's last trial, warm-up,
uncharged work and the device clock (see tunebench.suite.budget for the rules).

Most studies here run on the fake clock of ``charge_plugin`` (the loop's injectable clock), so
every charge is checked exactly; the timer, timeout and device-sync paths use the real clock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tunebench.registry import import_plugin_module
from tunebench.suite import limits
from tunebench.suite import study as study_module
from tunebench.suite.budget import trained_steps
from tunebench.suite.spec_parse import load_suite
from tunebench.suite.study import StudyLoop

PLUGIN = Path(__file__).parent / "charge_plugin.py"


class ListSink:
    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.records: list = []

    def study_started(self, key, info) -> None:
        self.info = info

    def trial_finished(self, key, record) -> None:
        self.records.append(record)


def plugin():
    return import_plugin_module(PLUGIN)


def make_loop(budget: dict, *, task: str = "charge_steps", task_options: dict | None = None,
              runner_options: dict | None = None, settings: dict | None = None,
              fake_clock: bool = True, sink: ListSink | None = None) -> tuple[StudyLoop, ListSink]:
    spec = load_suite({
        "suite": {"name": "charges", "plugins": [str(PLUGIN)]}, "budget": budget,
        "settings": settings or {}, "tasks": [{"name": task, "options": task_options or {}}],
        "runners": [{"name": "charge_pruner", "options": runner_options or {}}],
    })
    mod = plugin()
    sink = sink or ListSink()
    loop = StudyLoop(spec.studies()[0], sink, clock=mod.clock if fake_clock else time.perf_counter)
    return loop, sink


def run(budget: dict, **kwargs: Any) -> tuple[StudyLoop, ListSink]:
    plugin().reset()
    loop, sink = make_loop(budget, **kwargs)
    loop.run()
    return loop, sink


# ----------------------------------------------------------------------------- (a) failures

def test_trained_steps_are_those_reported_plus_the_one_in_progress() -> None:
    assert trained_steps(0, None, 5) == 1  # failed in step 1: one step, never the fidelity
    assert trained_steps(2, None, 5) == 3  # failed in step 3
    assert trained_steps(2, 2, 5) == 2  # stopped at the report of step 2: nothing in progress
    assert trained_steps(1, 2, 5) == 2  # step 2 trained, its report came after the deadline
    assert trained_steps(5, None, 5) == 5  # never past the fidelity asked for
    assert trained_steps(0, None, 1) == 1


def test_a_trial_failing_in_its_first_epoch_is_charged_one_epoch() -> None:
    _, sink = run({"epochs": 12}, task_options={"fail_at": 1})
    assert len(sink.records) == 12
    for record in sink.records:
        assert record.status == "failed" and record.error == "RuntimeError: broke in step 1"
        assert record.fidelity == min(4, 12 - record.number)  # the last ones clamped to what is left
        assert record.fidelity_spent == 1 and record.charge == 1


def test_a_trial_failing_in_epoch_k_is_charged_k_epochs_or_its_measured_time() -> None:
    _, sink = run({"epochs": 12}, task_options={"fail_at": 3})
    assert [r.charge for r in sink.records] == [3, 3, 3, 3]
    assert all(len(r.curve) == 2 and r.fidelity_spent == 3 for r in sink.records)
    # Under device seconds the same trials cost what they ran: three steps of 1.5 s.
    _, sink = run({"device_seconds": 9.0}, task_options={"fail_at": 3, "step_seconds": 1.5})
    assert [r.eval_seconds for r in sink.records] == [4.5, 4.5]
    assert [r.charge for r in sink.records] == [4.5, 4.5]


def test_a_diverged_run_is_a_failed_trial_charged_what_it_trained() -> None:
    _, sink = run({"epochs": 8}, task_options={"diverge_at": 2})
    assert len(sink.records) == 4
    for record in sink.records:
        assert record.status == "failed"
        assert record.error == "Diverged: the loss passed the bound in step 2"
        assert record.traceback is None  # a result of the inputs, not a bug
        assert record.charge == 2 and record.curve == (pytest.approx(record.config["x"] + 1),)


# ----------------------------------------------------------------------------- (b) the pruner

def test_pruner_time_is_optimiser_time_charged_once_under_charge_optimizer() -> None:
    # Four steps of 0.25 s, four pruner decisions of 1 s each: 1 s evaluation, 4 s optimiser.
    options = {"task_options": {"step_seconds": 0.25}, "runner_options": {"prune_seconds": 1.0}}
    loop, sink = run({"device_seconds": 100.0, "charge_optimizer": True}, **options)
    assert loop.runner.prune_calls == 4 * len(sink.records)
    for record in sink.records:
        assert record.eval_seconds == 1.0 and record.optimizer_seconds == 4.0
        assert record.charge == 5.0  # not 9: the pruner is not also evaluation time
    assert len(sink.records) == 20 and loop.spent == 100.0
    # Without charge_optimizer the pruner is not charged at all, though it is recorded.
    loop, sink = run({"device_seconds": 10.0}, **options)
    assert [r.charge for r in sink.records] == [1.0] * 10
    assert all(r.eval_seconds == 1.0 and r.optimizer_seconds == 4.0 for r in sink.records)


def test_a_real_pruner_sleep_is_not_in_the_evaluation_clock() -> None:
    _, sink = run({"trials": 2}, task_options={"step_seconds": 0.0, "real": True},
                  runner_options={"prune_seconds": 0.03, "real": True}, fake_clock=False)
    for record in sink.records:
        assert record.optimizer_seconds >= 4 * 0.03
        assert record.eval_seconds < 0.03  # four decisions took 0.12 s: none of it is here
        assert record.cpu_seconds < 0.03


# ----------------------------------------------------------------------------- (c) clipping

def test_the_trial_a_device_seconds_budget_runs_out_in_is_clipped_to_what_remained() -> None:
    # Trials of four 1 s steps under 10 s: two full trials, then 2 s remain for the third.
    loop, sink = run({"device_seconds": 10.0})
    full, last = sink.records[:2], sink.records[2]
    assert [r.charge for r in full] == [4.0, 4.0] and all(r.status == "ok" for r in full)
    x = last.config["x"]
    assert last.status == "pruned" and last.curve == (x + 1.0, x + 0.5)  # two steps in time
    assert last.value == x + 0.5  # the last value it reported in time
    assert last.test_value is None and last.extra["clipped"] is True
    assert last.error.startswith("Clipped: the device-seconds budget ran out (2 s remained)")
    assert last.charge == 2.0 and loop.spent == 10.0  # exactly the budget, never more
    assert last.fidelity_spent == 3  # the third step was trained; its report came too late
    # The runner is told what the store keeps: a pruned trial, never a finished one.
    told = loop.runner.told[-1]
    assert told.status == "pruned" and told.value == x + 0.5 and told.fidelity == 3


def test_a_device_seconds_budget_charges_a_tables_recorded_cost_not_the_lookup() -> None:
    # A table answers in no time on the fake clock; each answer cost 3 s when it was recorded.
    loop, sink = run({"device_seconds": 10.0},
                     task_options={"step_seconds": 0.0, "recorded_cost": 3.0})
    assert [r.charge for r in sink.records] == [3.0, 3.0, 3.0, 1.0]
    assert all(r.eval_seconds == 0.0 and r.extra["cost_seconds"] == 3.0 for r in sink.records)
    last = sink.records[-1]
    assert last.extra["clipped"] is True and last.test_value is None  # past what remained
    assert loop.spent == 10.0


def test_a_recorded_cost_that_is_not_a_cost_fails_its_trial_naming_it() -> None:
    _, sink = run({"trials": 2}, task_options={"recorded_cost": -1.0})
    assert all(r.status == "failed" for r in sink.records)
    assert "cost_seconds=-1.0" in sink.records[0].error


def test_a_clipped_trial_is_never_the_incumbent_in_the_store(tmp_path: Path) -> None:
    from tunebench.suite.progress import RunProgress
    from tunebench.suite.sink import StoreSink
    from tunebench.suite.store import ResultStore, load_trials

    plugin().reset()
    db = tmp_path / "r.db"
    spec_dict = {"suite": {"name": "clip", "plugins": [str(PLUGIN)]},
                 "budget": {"device_seconds": 10.0}, "tasks": [{"name": "charge_steps"}],
                 "runners": [{"name": "charge_pruner"}]}
    spec = load_suite(spec_dict)
    study = spec.studies()[0]
    with ResultStore(db) as store:
        suite_id = store.register_suite(spec)
        study_id = store.ensure_study(suite_id, study, "minimize", None, True)
        sink = StoreSink(store, {study.key: study_id}, RunProgress(1, enabled=False))
        StudyLoop(study, sink, clock=plugin().clock).run()
    trials = load_trials(db)
    assert list(trials["status"]) == ["ok", "ok", "pruned"]
    assert trials["charge"].sum() == 10.0
    # Its value counts as its curve (stored, told), not as a result: best_value stays.
    assert trials["best_value"].iloc[2] == trials["best_value"].iloc[1]


def test_a_clipped_trial_is_stopped_by_the_timer_in_the_middle_of_a_step() -> None:
    # Steps of 0.2 s under 0.3 s: step 1 is reported, step 2 is cut at 0.3 s by the timer.
    _, sink = run({"device_seconds": 0.3}, task_options={"step_seconds": 0.2, "real": True},
                  fake_clock=False)
    [record] = sink.records
    assert record.status == "pruned" and record.extra["clipped"] is True
    assert len(record.curve) == 1 and record.fidelity_spent == 2
    assert record.charge == 0.3
    assert 0.299 <= record.eval_seconds < 0.35  # it did not sleep its second step to the end


# ----------------------------------------------------------------------------- (d) warm-up

def test_warm_up_runs_once_per_process_before_any_timed_trial_and_is_never_charged(monkeypatch):
    monkeypatch.setattr(limits, "_WARMED", set())
    mod = plugin()
    mod.reset()
    loop, sink = make_loop({"device_seconds": 10.0}, task="charge_warm")
    loop.run()
    assert sink.info["warm_up_seconds"] == 100.0
    assert mod.EVENTS[0] == ("warm_up", 0.0)
    assert [kind for kind, _ in mod.EVENTS[1:]] == ["evaluate"] * len(sink.records)
    assert sink.records[0].eval_seconds == 4.0  # the first trial pays no warm-up
    assert sum(r.charge for r in sink.records) == 10.0
    # A second study of the task in the same process is already warm.
    mod.EVENTS.clear()
    loop, sink = make_loop({"device_seconds": 10.0}, task="charge_warm")
    loop.run()
    assert sink.info["warm_up_seconds"] == 0.0
    assert all(kind == "evaluate" for kind, _ in mod.EVENTS)
    # A task without a warm-up records none.
    _, sink = run({"trials": 1})
    assert sink.info["warm_up_seconds"] == 0.0


# ----------------------------------------------------------------------------- (e) uncharged work

def test_data_preparation_and_test_scoring_are_recorded_but_not_charged() -> None:
    _, sink = run({"device_seconds": 8.0}, task_options={"uncharged_seconds": 6.0})
    assert len(sink.records) == 2
    for record in sink.records:
        assert record.status == "ok" and record.eval_seconds == 4.0 and record.charge == 4.0
        assert record.extra["uncharged_seconds"] == 6.0


def test_a_task_that_charges_everything_records_no_uncharged_time() -> None:
    _, sink = run({"trials": 2})
    assert all("uncharged_seconds" not in r.extra for r in sink.records)


# ----------------------------------------------------------------------------- (f) device sync

@pytest.mark.parametrize(("path", "budget", "settings", "task_options", "runner_options", "syncs"), [
    ("ok", {"trials": 2}, {}, {"step_seconds": 0.001}, {}, 2),
    ("failed", {"trials": 2}, {}, {"step_seconds": 0.001, "fail_at": 1}, {}, 2),
    ("pruned", {"trials": 2}, {}, {"step_seconds": 0.001}, {"prune_at": 1}, 2),
    ("timed out", {"trials": 2}, {"trial_timeout": 0.05}, {"step_seconds": 0.3}, {}, 2),
    ("clipped", {"device_seconds": 0.05}, {}, {"step_seconds": 0.3, "max_epochs": 1}, {}, 2),
    ("uncharged", {"trials": 2}, {}, {"step_seconds": 0.001, "uncharged_seconds": 0.002}, {}, 6),
])
def test_every_gpu_path_syncs_the_device_before_reading_the_clock(monkeypatch, path, budget,
                                                                  settings, task_options,
                                                                  runner_options, syncs):
    """The CPU stand-in for a GPU: a sync that waits (queued device work finishing) and counts.
    Each trial syncs before its clock starts and before it stops, whatever ended it (and around
    each uncharged block)."""
    synced: list[str] = []

    def slow_sync(device: str) -> None:
        synced.append(device)
        time.sleep(0.02)

    monkeypatch.setattr(study_module, "synchronize", slow_sync)
    # The in-process path (an isolated one syncs in its worker, out of this monkeypatch's reach).
    _, sink = run(budget, settings={"device": "cuda:0", "isolation": "none", **settings},
                  task_options={**task_options, "real": True}, runner_options=runner_options,
                  fake_clock=False)
    expected_status = {"ok": "ok", "failed": "failed", "pruned": "pruned", "timed out": "failed",
                       "clipped": "pruned", "uncharged": "ok"}[path]
    assert all(r.status == expected_status for r in sink.records), [r.error for r in sink.records]
    assert synced == ["cuda:0"] * syncs * len(sink.records)
    assert all(r.eval_seconds >= 0.02 for r in sink.records)  # the closing wait is charged
    if path == "timed out":
        assert all(r.error.startswith("TrialTimeout") for r in sink.records)
    if path == "clipped":
        assert len(sink.records) == 1 and sink.records[0].extra["clipped"] is True
        assert sink.records[0].charge == 0.05


def test_a_reproduction_clips_where_the_original_was_clipped(tmp_path: Path) -> None:
    """The replayed budget charges the recorded costs, so the clipped trial is stopped at the step
    the original reached, whatever this machine's clock says."""
    import tunebench
    from tunebench.suite.reproduce import IDENTICAL, reproduce
    from tunebench.suite.store import load_trials

    db = tmp_path / "r.db"
    tunebench.run_suite({
        "suite": {"name": "clip", "seed": 4, "plugins": [str(PLUGIN)]},
        "budget": {"device_seconds": 0.1},
        "tasks": [{"name": "charge_steps", "options": {"step_seconds": 0.015, "real": True}}],
        "runners": [{"name": "charge_pruner"}],
    }, db, progress=False)
    trials = load_trials(db)
    assert trials["error"].iloc[-1].startswith("Clipped") and trials["charge"].sum() == 0.1
    report = reproduce(db)
    assert report.ok and report.studies[0].verdict == IDENTICAL


def test_the_warm_up_is_stored_with_the_study_that_paid_it(tmp_path):
    """What the loop measured reaches the store: the first study of the process records its
    task's warm-up, the next one (already warm) records 0, and no trial is charged for it."""
    plugin = tmp_path / "sleepy.py"
    plugin.write_text(
        "import time\n"
        "from tunebench import Result, Task\n"
        "from tunebench.space import Float, Space\n\n"
        "class SleepyWarmUp(Task):\n"
        "    name = 'sleepy_warm_up'\n"
        "    @property\n"
        "    def space(self):\n"
        "        return Space({'x': Float(0.0, 1.0)})\n"
        "    def warm_up(self, context):\n"
        "        time.sleep(0.3)\n"
        "    def evaluate(self, config, fidelity, seed, context):\n"
        "        return Result(value=config['x'])\n")
    suite = {"suite": {"name": "warm", "plugins": [str(plugin)], "repetitions": 2},
             "budget": {"trials": 3}, "tasks": [{"name": "sleepy_warm_up"}],
             "runners": [{"name": "random"}]}
    import tunebench

    # In-process: once per process. Isolated (a plugin's default): once per worker, and the second
    # study takes over the first one's worker (same task, same settings), already warm.
    for isolation in ("none", None):
        db = tmp_path / f"warm-{isolation}.db"
        settings = {"isolation": isolation} if isolation else {}
        tunebench.run_suite({**suite, "settings": settings}, db, progress=False)
        studies = tunebench.load_studies(db).sort_values("repetition")
        first, second = studies["warm_up_seconds"].tolist()
        assert first >= 0.29 and second == 0.0, isolation
        assert tunebench.load_trials(db)["eval_seconds"].max() < 0.1
