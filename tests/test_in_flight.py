"""Several evaluations in flight (``settings.in_flight``): the schedule on the simulated clock, as
computed by hand; the same trials in every run and after a SIGKILL; real parallel evaluations;
budgets exact; a batch runner proposing what its library's own ask-and-tell loop proposes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import run_and_kill
from test_charges import ListSink
from test_suite_bounds import run_cli

import tunebench
from tunebench.registry import import_plugin_module
from tunebench.suite.spec_parse import load_suite
from tunebench.suite.store import load_studies, load_trials
from tunebench.suite.study import StudyLoop

PLUGIN = Path(__file__).parent / "in_flight_plugin.py"
IDENTITY = ["task", "runner", "repetition", "trial", "status", "value", "test_value", "config_key",
            "fidelity", "fidelity_spent", "charge"]


def plugin():
    return import_plugin_module(PLUGIN)


def study_loop(budget: dict, runner: str = "scripted_batch", *, in_flight: int = 2,
               runner_options: dict | None = None, task: str = "sleepy",
               task_options: dict | None = None, isolation: str = "none",
               simulated_time: str = "steps") -> tuple[StudyLoop, ListSink]:
    spec = load_suite({
        "suite": {"name": "in-flight", "plugins": [str(PLUGIN)]}, "budget": budget,
        "settings": {"in_flight": in_flight, "isolation": isolation,
                     "simulated_time": simulated_time},
        "tasks": [{"name": task, "options": task_options or {}}],
        "runners": [{"name": runner, "options": runner_options or {}}],
    })
    sink = ListSink()
    return StudyLoop(spec.studies()[0], sink), sink


def run_logged(budget: dict, **kwargs: Any) -> tuple[list[tuple], ListSink]:
    log = plugin().LOG
    log.clear()
    loop, sink = study_loop(budget, **kwargs)
    loop.run()
    return list(log), sink


def schedule(record) -> tuple[float, float]:
    return record.extra["schedule"]["begin"], record.extra["schedule"]["end"]


# ----------------------------------------------------------------------------- the schedule
def test_the_schedule_is_the_hand_computed_one() -> None:
    # Fidelities 3, 1, 2, 1, 3, 2 with two in flight: trial 1 ends at t=1 and trial 2 starts;
    # trials 0 and 2 both end at t=3 (told in number order) before 3 and 4 start; and so on.
    log, sink = run_logged({"trials": 6}, runner_options={"fidelities": [3, 1, 2, 1, 3, 2]})
    assert log == [("ask", 0), ("ask", 1), ("tell", 1), ("ask", 2), ("tell", 0), ("tell", 2),
                   ("ask", 3), ("ask", 4), ("tell", 3), ("ask", 5), ("tell", 4), ("tell", 5)]
    assert [r.number for r in sink.records] == [1, 0, 2, 3, 4, 5]  # stored as they end
    assert {r.number: schedule(r) for r in sink.records} == {
        0: (0.0, 3.0), 1: (0.0, 1.0), 2: (1.0, 3.0), 3: (3.0, 4.0), 4: (3.0, 6.0), 5: (4.0, 6.0)}
    assert [r.fidelity for r in sorted(sink.records, key=lambda r: r.number)] == [3, 1, 2, 1, 3, 2]


def test_a_pruner_decides_every_report_in_simulated_time_order() -> None:
    # Trial 0 (3 steps) and trial 1 (2 steps) report at t=1 and t=2; trial 0 is stopped at its
    # second report, so both end at t=2 — reports first, then ends, lower numbers first.
    log, sink = run_logged({"trials": 2}, runner="scripted_batch_pruner",
                           runner_options={"fidelities": [3, 2], "prune": [[0, 2]]})
    assert log == [("ask", 0), ("ask", 1), ("prune?", 0, 1), ("prune?", 1, 1), ("prune?", 0, 2),
                   ("prune?", 1, 2), ("tell", 0), ("tell", 1)]
    by_number = {r.number: r for r in sink.records}
    assert by_number[0].status == "pruned" and by_number[0].fidelity_spent == 2
    assert by_number[0].pruner_steps == (1, 2) and by_number[1].pruner_steps == (1, 2)
    assert schedule(by_number[0]) == (0.0, 2.0) == schedule(by_number[1])


def test_synchronous_successive_halving_waits_for_its_rung() -> None:
    # Hyperband at max fidelity 9, eta 3: its first bracket's nine 1-epoch trials run three at a
    # time; the three promotions start only once all nine have ended (at t=3).
    _, sink = run_logged({"trials": 12}, runner="hyperband", in_flight=3)
    by_number = sorted(sink.records, key=lambda r: r.number)
    assert [r.fidelity for r in by_number] == [1] * 9 + [3] * 3
    assert [schedule(r)[0] for r in by_number] == [0.0] * 3 + [1.0] * 3 + [2.0] * 3 + [3.0] * 3
    assert all(r.extra.get("continued_from") is not None for r in by_number[9:])


def test_an_epochs_budget_is_spent_exactly_with_trials_in_flight() -> None:
    _, sink = run_logged({"epochs": 50}, runner="hyperband", in_flight=4)
    assert sum(r.charge for r in sink.records) == 50.0
    running = 0.0
    for record in sorted(sink.records, key=lambda r: schedule(r)[0]):
        running += record.charge
        assert running <= 50.0


def test_on_recorded_time_the_schedule_follows_the_tables_costs() -> None:
    # Costs 5, 1, 2, 3 s (8x), two workers: trial 1 ends at 1 s and trial 2 starts, ends at 3 s
    # and trial 3 starts; trial 0 ends at 5 s, trial 3 at 6 s: 6 s of simulated wall-clock.
    log, sink = run_logged({"trials": 4}, task="recorded_table",
                           runner_options={"fidelities": [1], "xs": [0.625, 0.125, 0.25, 0.375]},
                           simulated_time="recorded")
    assert log == [("ask", 0), ("ask", 1), ("tell", 1), ("ask", 2), ("tell", 2), ("ask", 3),
                   ("tell", 0), ("tell", 3)]
    assert {r.number: schedule(r) for r in sink.records} == {
        0: (0.0, 5.0), 1: (0.0, 1.0), 2: (1.0, 3.0), 3: (3.0, 6.0)}
    assert max(schedule(r)[1] for r in sink.records) == 6.0


def test_recorded_time_needs_a_task_that_records_costs(tmp_path: Path) -> None:
    from test_suite_bounds import suite_text

    code, output = run_cli(tmp_path, suite_text(settings='simulated_time = "recorded"'))
    assert code == 2 and "task 'branin' does not" in output, output


@pytest.mark.parametrize(("runner", "options", "task", "simulated_time"), [
    ("hyperband", {}, "sleepy", "steps"),
    ("scripted_batch_pruner", {"fidelities": [9, 4, 1], "prune": [[3, 2], [7, 5]]}, "sleepy",
     "steps"),
    ("optuna.tpe", {}, "recorded_table", "recorded"),
    ("nevergrad.ngopt", {}, "nb201/cifar10", "recorded"),  # a real table, its train_time
    ("skopt.rf", {"n_initial_points": 4}, "sleepy", "steps"),  # constant-liar batches of 3
    ("cma.cmaes", {}, "sleepy", "steps"),  # a generation is a batch
])
@pytest.mark.parametrize("kept", [0, 5, 11])
def test_resuming_from_any_stored_prefix_gives_the_uninterrupted_trials(
        runner: str, options: dict, task: str, simulated_time: str, kept: int) -> None:
    # A kill stores the trials that had ended (in the order they ended); the ones in flight are
    # lost. Resuming from that prefix must give every trial the uninterrupted run gave.
    budget = {"epochs": 40} if task == "sleepy" else {"trials": 16}
    _, full = run_logged(budget, runner=runner, runner_options=options, task=task, in_flight=3,
                         simulated_time=simulated_time)
    stored = full.records[:kept]
    loop, sink = study_loop(budget, runner, runner_options=options, task=task, in_flight=3,
                            simulated_time=simulated_time)
    loop.run(sorted(stored, key=lambda r: r.number))
    assert [r.number for r in full.records[kept:]] == [r.number for r in sink.records]
    for ours, theirs in zip(sink.records, full.records[kept:], strict=True):
        assert (ours.config, ours.value, ours.fidelity, ours.charge, ours.extra["schedule"]) == (
            theirs.config, theirs.value, theirs.fidelity, theirs.charge, theirs.extra["schedule"])
    assert loop.spent == sum(r.charge for r in full.records)


# ----------------------------------------------------------------------------- real parallelism
def test_isolated_evaluations_run_at_the_same_time_in_their_own_workers() -> None:
    _, sink = run_logged({"trials": 4}, runner_options={"fidelities": [2]},
                         task_options={"step_seconds": 0.15}, isolation="process")
    records = sorted(sink.records, key=lambda r: r.number)
    assert all(r.status == "ok" for r in records), [r.error for r in records]
    assert len({r.extra["pid"] for r in records}) == 2  # one worker per evaluation in flight
    first, second = records[0].extra, records[1].extra
    assert second["began"] < first["ended"] and first["began"] < second["ended"]  # overlapping
    # What each evaluation is charged and timed is its own work, not the other's.
    assert all(r.eval_seconds < 0.3 + 0.25 for r in records)


def test_an_evaluation_waiting_for_a_decision_is_not_charged_for_the_wait() -> None:
    # Two 3-step trials whose steps take 0.4·x s: the faster one's reports wait for the slower
    # one's (simulated time orders them). The wait is recorded, never counted as its evaluation.
    _, sink = run_logged({"trials": 2}, runner="scripted_batch_pruner",
                         runner_options={"fidelities": [3, 3]},
                         task_options={"step_seconds": 0.2, "by_x": True})
    fast, slow = sorted(sink.records, key=lambda r: r.config["x"])
    own = [3 * 0.4 * r.config["x"] for r in (fast, slow)]
    lag = own[1] - own[0]
    assert lag > 0.05  # (seed 3's two configurations differ enough for this to show)
    assert fast.extra["waited_seconds"] > 0.6 * lag
    assert fast.eval_seconds < own[0] + 0.1
    assert slow.eval_seconds < own[1] + 0.1


# ----------------------------------------------------------------------------- runs and resumes
SUITE = f"""
[suite]
name = "in-flight"
seed = 3
repetitions = 2
plugins = ["{PLUGIN}"]
[budget]
epochs = 60
[settings]
in_flight = 2
@ISOLATION@
[[tasks]]
name = "sleepy"
options = {{ step_seconds = @STEP@ }}
[[runners]]
name = "hyperband"
[[runners]]
name = "random"
[[runners]]
name = "optuna.tpe"
[[runners]]
name = "scripted_batch_pruner"
options = {{ fidelities = [9, 4, 1], prune = [[3, 2], [7, 5]] }}
"""


def write(tmp_path: Path, step: float, isolation: str) -> Path:
    path = tmp_path / f"suite-{isolation}-{step}.toml"
    path.write_text(SUITE.replace("@STEP@", str(step))
                    .replace("@ISOLATION@", f'isolation = "{isolation}"'))
    return path


def trials(db: Path):
    return load_trials(db)[IDENTITY].sort_values(["runner", "repetition", "trial"]) \
        .reset_index(drop=True)


def schedules(db: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT study_id, number, extra_json, pruner_steps FROM trials "
                            "ORDER BY study_id, number").fetchall()
    return [(s, n, json.loads(e)["schedule"], p) for s, n, e, p in rows]


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_two_runs_store_the_same_trials(tmp_path: Path, isolation: str) -> None:
    path = write(tmp_path, 0.0, isolation)
    tunebench.run_suite(path, tmp_path / "a.db", progress=False)
    tunebench.run_suite(path, tmp_path / "b.db", progress=False)
    a, b = trials(tmp_path / "a.db"), trials(tmp_path / "b.db")
    assert len(a) > 8 * 10 and a.equals(b)
    assert schedules(tmp_path / "a.db") == schedules(tmp_path / "b.db")
    assert (a.groupby(["runner", "repetition"]).charge.sum() == 60.0).all()


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_trials(tmp_path: Path) -> None:
    # Budget: about 15 s (two runs of 8 studies × 60 epochs of 10 ms steps, isolated).
    path = write(tmp_path, 0.01, "process")
    reference = tmp_path / "reference.db"
    tunebench.run_suite(path, reference, progress=False)
    killed = tmp_path / "killed.db"
    stored = run_and_kill(path, killed, 30, "--no-cache")
    assert 30 <= stored < len(trials(reference))
    assert (load_studies(killed).status != "done").any()
    tunebench.run_suite(path, killed, progress=False)
    assert trials(killed).equals(trials(reference))
    assert schedules(killed) == schedules(reference)


# ----------------------------------------------------------------------------- the library's loop
def test_optuna_tpe_in_flight_proposes_what_optunas_own_ask_and_tell_loop_proposes() -> None:
    loop, sink = study_loop({"trials": 24}, "optuna.tpe", in_flight=3, task="branin")
    loop.run()
    records = {r.number: r for r in sink.records}
    # Optuna's own batch loop (its ask-and-tell interface), in the study's order: every trial
    # asked at its begin, told at its end; ends before asks at equal times, numbers in order.
    events = sorted([(schedule(r)[1], 0, n) for n, r in records.items()]
                    + [(schedule(r)[0], 1, n) for n, r in records.items()])
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=loop.study.runner_seed))
    asked: dict[int, optuna.trial.Trial] = {}
    for _, kind, n in events:
        if kind == 1:
            trial = asked[n] = study.ask()
            config = {"x1": trial.suggest_float("x1", -5.0, 10.0),
                      "x2": trial.suggest_float("x2", 0.0, 15.0)}
            assert config == records[n].config, f"trial {n}"
        else:
            study.tell(asked[n], records[n].value)
    assert len(asked) == 24


# ----------------------------------------------------------------------------- what is refused
@pytest.mark.parametrize(("settings", "runner", "budget", "message"), [
    ("in_flight = 2", "smac.hpo", "trials = 4", "runner 'smac.hpo' cannot propose a "
     "configuration before it hears back"),
    ("in_flight = 2", "random", "device_seconds = 5", "settings.in_flight = 2 with a "
     "device-seconds budget"),
    ("in_flight = 0", "random", "trials = 4", "settings.in_flight: must be at least 1"),
    ("in_flight = 1000", "random", "trials = 4", "settings.in_flight: must be at most 256"),
])
def test_what_cannot_run_in_flight_is_a_clear_error(tmp_path: Path, settings: str, runner: str,
                                                     budget: str, message: str) -> None:
    from test_suite_bounds import suite_text

    code, output = run_cli(tmp_path, suite_text(settings=settings, runner=runner, budget=budget))
    assert code == 2 and message in output, output



SIMULATED = """
[suite]
name = "simulated-k4"
seed = 5
repetitions = 3
[budget]
trials = 150
[settings]
in_flight = 4
simulated_time = "recorded"
[[tasks]]
name = "nb201/cifar10"
[[tasks]]
name = "fcnet/protein_structure"
[[runners]]
name = "random"
[[runners]]
name = "optuna.tpe"
"""


@pytest.mark.slow
def test_the_simulator_with_four_workers_resumes_after_sigkill_to_the_same_trials(
        tmp_path: Path) -> None:
    # Budget: about 40 s (two runs of 12 studies × 150 trials on recorded tables, k = 4).
    path = tmp_path / "simulated.toml"
    path.write_text(SIMULATED)
    reference = tmp_path / "reference.db"
    tunebench.run_suite(path, reference, progress=False)
    again = tmp_path / "again.db"
    tunebench.run_suite(path, again, progress=False)
    assert trials(again).equals(trials(reference))
    killed = tmp_path / "killed.db"
    stored = run_and_kill(path, killed, 600, "--no-cache")
    assert 600 <= stored < len(trials(reference))
    tunebench.run_suite(path, killed, progress=False)
    assert trials(killed).equals(trials(reference))
    assert schedules(killed) == schedules(reference)
    # The schedule is the recorded costs': every trial ends at its begin plus its train_time.
    ends = load_trials(reference)
    for row in ends.itertuples():
        assert row.extra["schedule"]["end"] == row.extra["schedule"]["begin"] + \
            row.extra["cost_seconds"]
