"""A live view of a running suite: studies done / total, trials, best so far, ETA (rich)."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RunProgress:
    """Progress of a whole suite; a no-op when ``enabled`` is False (tests, notebooks)."""

    def __init__(self, total_studies: int, enabled: bool = True,
                 console: Console | None = None) -> None:
        self.enabled = enabled
        self.trials = 0
        self.failed = 0
        self.best: dict[str, float] = {}
        self._last_update = 0.0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("studies · {task.fields[trials]} trials · {task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._studies = self._progress.add_task("studies", total=total_studies, trials=0,
                                                status="starting")

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def skip(self, n: int) -> None:
        self._progress.advance(self._studies, n)

    def study_started(self, label: str) -> None:
        self._progress.update(self._studies, description=label)

    def trial(self, task: str, value: float | None, failed: bool, better: Any) -> None:
        self.trials += 1
        self.failed += failed
        if value is not None and math.isfinite(value) and (
                task not in self.best or better(value, self.best[task])):
            self.best[task] = value
        now = time.monotonic()
        if not self.enabled or now - self._last_update < 0.1:  # rich redraws ~10 times a second
            return
        self._last_update = now
        best = ", ".join(f"{t} best {v:.4g}" for t, v in list(self.best.items())[-3:])
        failed_text = f" · [red]{self.failed} failed[/]" if self.failed else ""
        self._progress.update(self._studies, trials=self.trials, status=best + failed_text)

    def study_done(self) -> None:
        self._last_update = 0.0
        self._progress.advance(self._studies, 1)
