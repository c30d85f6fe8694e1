"""The progress line: the count and the ETA at 80 columns whatever runs, and an ETA from each
task's own cost rather than from whichever studies happened to finish first."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rich.console import Console

from tunebench.suite.progress import RunProgress, TaskCosts


def test_the_eta_counts_each_tasks_studies_at_that_tasks_cost() -> None:
    costs = TaskCosts(["cheap"] * 10 + ["dear"] * 2, workers=2)
    costs.started("c0", "cheap", 0.0)
    costs.finished("c0", 1.0)  # cheap studies take 1 s
    costs.started("d0", "dear", 1.0)
    assert costs.eta(1.0) == (9 * 1.0 / 2, False)  # dear has no estimate yet: a lower bound
    costs.finished("d0", 101.0)  # dear studies take 100 s
    seconds, known = costs.eta(101.0)
    assert known and seconds == (9 * 1.0 + 1 * 100.0) / 2
    costs.started("d1", "dear", 101.0)
    assert costs.eta(131.0) == ((9 * 1.0 + 70.0) / 2, True)  # what is left of a running one


def test_the_count_and_the_eta_stay_on_an_80_column_line() -> None:
    label = "styblinski_tang_with_a_long_label × nevergrad.oneplusone #17"
    bar = RunProgress(240, console=Console(width=80), pending=["a"] * 120 + ["b"] * 120)
    bar.skip(12)
    for i in range(30):
        bar.study_started(label, ("a", "r", i), "a")
        for task in ("first_task_with_a_long_name", "second_task_name", "third_task"):
            bar.trial(task, 0.123456 * i, failed=i % 7 == 0, better=lambda a, b: a < b)
        bar.study_done(("a", "r", i))
    bar._refresh(force=True)
    # The line as the live display draws it, on an 80-column terminal.
    console = Console(record=True, width=80, force_terminal=True, color_system=None)
    console.print(bar._progress.get_renderable())
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    assert len(lines) == 1 and len(lines[0]) <= 80, lines
    last = lines[-1]
    assert re.search(r"42/240 studies · 90 trials", last), last
    assert re.search(r"ETA (≥ )?\d+:\d\d:\d\d", last), last


def _drawn(bar: RunProgress) -> list[str]:
    """The live display's lines as an 80-column terminal shows them."""
    bar._refresh(force=True)
    console = Console(record=True, width=80, force_terminal=True, color_system=None)
    console.print(bar._progress.get_renderable())
    return [line for line in console.export_text().splitlines() if line.strip()]


def test_a_long_trial_gets_a_line_of_its_own_while_it_runs() -> None:
    from tunebench.suite.records import TrialSteps

    bar = RunProgress(8, console=Console(width=80), pending=["mnist_cnn"] * 8)
    key = ("mnist_cnn", "optuna.tpe", 0)
    bar.study_started("mnist_cnn × optuna.tpe #0", key, "mnist_cnn")
    bar.trial_step("mnist_cnn × optuna.tpe #0", key, TrialSteps(3, 2, 8, seconds=30.0))
    lines = _drawn(bar)
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines), lines
    assert re.search(r"0/8 studies · 0 trials", lines[0]), lines
    # Two of eight steps in 30 s: six more take 90 s.
    assert re.search(r"2/8 steps +0:00:30 left 0:01:30 trial 3 · mnist_cnn",
                     lines[1]), lines
    bar.trial_step("mnist_cnn × optuna.tpe #0", key, TrialSteps(3, 6, 8, seconds=60.0))
    assert re.search(r"6/8 steps .*left 0:00:20", _drawn(bar)[1])
    bar.trial("mnist_cnn", 0.5, failed=False, better=lambda a, b: a < b, key=key, number=2)
    assert len(_drawn(bar)) == 2, "another trial of the study ended: this one still runs"
    bar.trial("mnist_cnn", 0.4, failed=False, better=lambda a, b: a < b, key=key, number=3)
    assert len(_drawn(bar)) == 1, "its line goes when it ends"
    bar.trial_step("mnist_cnn × optuna.tpe #0", key, TrialSteps(4, 1, 8, seconds=12.0, start=0))
    assert re.search(r"1/8 steps .*trial 4 · mnist_cnn", _drawn(bar)[1])
    bar.study_done(key)
    assert len(_drawn(bar)) == 1, "and with its study"


def test_a_continued_trial_paces_only_the_steps_it_trained() -> None:
    from tunebench.suite.records import TrialSteps

    assert TrialSteps(1, step=6, fidelity=8, seconds=40.0, start=4).seconds_left() == 40.0
    assert TrialSteps(1, step=4, fidelity=8, seconds=0.5, start=4).seconds_left() == 0.0


class _Recorder:
    """A driver's sink that keeps the steps a running trial reports."""

    def __init__(self) -> None:
        self.steps: list[Any] = []
        self.ended: list[Any] = []

    def study_started(self, key: Any, info: Any) -> None: ...

    def trial_finished(self, key: Any, record: Any) -> None: ...

    def trial_step(self, key: Any, steps: Any) -> None:
        self.steps.append((key, steps))

    def study_finished(self, key: Any, result: Any) -> None:
        self.ended.append(result)

    def study_failed(self, key: Any, error: str, trace: str) -> None:
        raise AssertionError(error)


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_running_trial_reports_its_steps_once_it_has_run_a_second(executor: str) -> None:
    from trial_records import TASKS

    from tunebench.suite.executors import StudyJob, make_executor
    from tunebench.suite.spec_parse import load_suite

    spec = load_suite({"suite": {"name": "steps", "seed": 3, "plugins": [str(TASKS)]},
                       "budget": {"trials": 2}, "settings": {"isolation": "none"},
                       "tasks": [{"name": "stepped", "options": {"step_seconds": 0.4}}],
                       "runners": [{"name": "random"}]})
    sink = _Recorder()
    make_executor(executor, workers=1 if executor == "serial" else 2).run(
        [StudyJob(study) for study in spec.studies()], sink)
    assert len(sink.ended) == 1
    # Four steps of 0.4 s a trial: none in its first second, then step 3 and (at most two a
    # second) step 4 only if 0.5 s came between them.
    assert {key for key, _ in sink.steps} == {spec.studies()[0].key}
    for number in (0, 1):
        shown = [steps for _, steps in sink.steps if steps.number == number]
        assert [s.step for s in shown][:1] == [3], shown
        assert all(s.fidelity == 4 and s.seconds >= 1.0 for s in shown), shown
        if len(shown) == 2:
            assert shown[1].step == 4 and shown[1].seconds - shown[0].seconds >= 0.5, shown
        assert len(shown) <= 2
