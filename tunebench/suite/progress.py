"""A live view of a running suite: studies done / total, trials, ETA, then what is running.

What a reader needs first — how far, how long still — comes first and is never squeezed out:
the study count, the trial count, the elapsed time and the ETA have fixed widths, and the
variable parts (the running study, the best values so far) take what is left of the line and
are cut with an ellipsis, so the line fits 80 columns and a pipe alike.

The ETA comes from a cost model per task, not from the studies finished so far: a suite's first
minutes are often cheap synthetic studies, and extrapolating them to its deep-learning studies
said 22 s for a 935 s run. Each task's studies cost about the same, so the ETA is, over tasks,
the studies still to run × that task's mean seconds per study (a running study counts what is
left of it), divided by the workers. A task with no finished study yet has no estimate: the ETA
is then shown as a lower bound (``≥ 0:03:10``) until it has.

A long trial (a deep-learning one, seconds per epoch) gets a line of its own under the suite's,
while it runs: its steps done of those it was asked for, its time so far and what is left of it,
so a twelve-minute phase of few trials shows something moving. The study loop sends those steps
at most twice a second, and only once a trial has run a second.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column

if TYPE_CHECKING:
    from tunebench.suite.records import TrialSteps


class TaskCosts:
    """Seconds per study of each task, and what the studies still to run will take."""

    def __init__(self, pending: Sequence[str], workers: int = 1) -> None:
        self.pending = Counter(pending)  # task label → studies not started
        self.workers = max(1, workers)
        self.running: dict[Any, tuple[str, float]] = {}  # key → (task, start)
        self.spent: dict[str, list[float]] = {}  # task → seconds of its finished studies

    def started(self, key: Any, task: str, now: float) -> None:
        if self.pending[task] > 0:
            self.pending[task] -= 1
        self.running[key] = (task, now)

    def finished(self, key: Any, now: float) -> None:
        if key in self.running:
            task, start = self.running.pop(key)
            self.spent.setdefault(task, []).append(now - start)

    def mean(self, task: str) -> float | None:
        spent = self.spent.get(task)
        return sum(spent) / len(spent) if spent else None

    def eta(self, now: float) -> tuple[float, bool]:
        """Seconds still to go, and whether that is exact to the model (False: a lower bound,
        some task with studies to run has no finished study yet)."""
        left, known = 0.0, True
        for task, count in self.pending.items():
            mean = self.mean(task)
            if count and mean is None:
                known = False
            left += count * (mean or 0.0)
        for task, start in self.running.values():
            mean = self.mean(task)
            if mean is None:
                known = False
            left += max(0.0, (mean or 0.0) - (now - start))
        return left / self.workers, known


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class RunProgress:
    """Progress of a whole suite; a no-op when ``enabled`` is False (tests, notebooks).

    ``pending`` names the task of every study still to run (for the ETA's cost model) and
    ``workers`` how many run at once.
    """

    def __init__(self, total_studies: int, enabled: bool = True,
                 console: Console | None = None, pending: Sequence[str] = (),
                 workers: int = 1) -> None:
        self.enabled = enabled
        self.trials = 0
        self.failed = 0
        self.best: dict[str, float] = {}
        self.costs = TaskCosts(pending, workers)
        self._last_update = 0.0
        self._running = ""
        #: Study key → (trial number, its row) of the long trials running.
        self._stepping: dict[Any, tuple[int, Any]] = {}
        self._progress = Progress(
            BarColumn(bar_width=12),
            MofNCompleteColumn(),
            TextColumn("{task.fields[what]}"),
            TextColumn("{task.fields[elapsed]}"),  # the run's, or a long trial's own
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[status]}", table_column=Column(
                no_wrap=True, overflow="ellipsis", ratio=1, min_width=0)),
            console=console,
            disable=not enabled,
            transient=False,
            expand=True,
            auto_refresh=False,  # drawn by _refresh, at most ten times a second: no thread
        )
        self._began = time.monotonic()
        self._studies = self._progress.add_task("studies", total=total_studies, what="studies",
                                                elapsed=_clock(0), status="starting", eta="ETA ?")

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def skip(self, n: int) -> None:
        self._progress.advance(self._studies, n)

    def study_started(self, label: str, key: Any = None, task: str | None = None) -> None:
        self._running = label
        if key is not None and task is not None:
            self.costs.started(key, task, time.monotonic())
        self._refresh(force=True)

    def trial(self, task: str, value: float | None, failed: bool, better: Any,
              key: Any = None, number: int | None = None) -> None:
        if self._stepping and key in self._stepping and self._stepping[key][0] == number:
            self._progress.remove_task(self._stepping.pop(key)[1])
        self.trials += 1
        self.failed += failed
        if value is not None and math.isfinite(value) and (
                task not in self.best or better(value, self.best[task])):
            self.best[task] = value
        self._refresh()

    def trial_step(self, label: str, key: Any, steps: TrialSteps) -> None:
        """A long trial of the study ``key`` (shown as ``label``) has come this far."""
        if not self.enabled:
            return
        shown = self._stepping.get(key)
        if shown is not None and shown[0] != steps.number:  # the study's next long trial
            self._progress.remove_task(shown[1])
            shown = None
        if shown is None:
            row = self._progress.add_task("trial", total=steps.fidelity, what="steps", eta="",
                                          elapsed="", status=f"trial {steps.number} · {label}")
            self._stepping[key] = shown = (steps.number, row)
        self._progress.update(shown[1], completed=steps.step, total=steps.fidelity,
                              elapsed=_clock(steps.seconds),
                              eta=f"left {_clock(steps.seconds_left())}")
        self._refresh()

    def study_done(self, key: Any = None) -> None:
        if key in self._stepping:
            self._progress.remove_task(self._stepping.pop(key)[1])
        if key is not None:
            self.costs.finished(key, time.monotonic())
        self._progress.advance(self._studies, 1)
        self._refresh(force=True)

    def eta_text(self) -> str:
        seconds, known = self.costs.eta(time.monotonic())
        if not known and seconds == 0:
            return "ETA ?"
        return f"ETA {'' if known else '≥ '}{_clock(seconds)}"

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last_update < 0.1):
            return  # rich redraws ~10 times a second
        self._last_update = now
        best = ", ".join(f"{t} {v:.4g}" for t, v in list(self.best.items())[-3:])
        failed_text = f"[red]{self.failed} failed[/] · " if self.failed else ""
        status = " · ".join(part for part in (self._running, best) if part)
        self._progress.update(self._studies, what=f"studies · {self.trials} trials",
                              elapsed=_clock(now - self._began), status=failed_text + status,
                              eta=self.eta_text(), refresh=True)
