"""The progress line: the count and the ETA at 80 columns whatever runs, and an ETA from each
task's own cost rather than from whichever studies happened to finish first."""

from __future__ import annotations

import re

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
