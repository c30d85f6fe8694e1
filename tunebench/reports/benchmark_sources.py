"""Citations and licences of the benchmarks a report's tasks come from.

A task class may carry ``citation`` and ``licence`` class attributes (the tabular benchmarks and
BBOB do): whoever publishes numbers on a benchmark owes its authors the citation and its data the
licence terms. They are read from the task class through the registry when the report is built
(not stored with the results: a citation is a fact about the benchmark, not about a run), so a
task whose class has neither, or whose class cannot be found now (a plugin file not loaded),
shows nothing.
"""

from __future__ import annotations

import pandas as pd

from tunebench.reports.frames import Frames

COLUMNS = ["task", "citation", "licence"]


def _attribute(cls: type, name: str) -> str | None:
    value = getattr(cls, name, None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def benchmark_sources(frames: Frames) -> pd.DataFrame:
    """Per task of the report (in its order) whose class declares a citation or a licence: task
    (the report's label), citation, licence (None where the class declares only the other)."""
    from tunebench.registry import RegistryError, get_task_class

    names = frames.studies.drop_duplicates("task").set_index("task")["task_name"]
    rows = []
    for task in frames.tasks:
        try:
            cls = get_task_class(str(names[task]))
        except RegistryError:
            continue
        citation, licence = _attribute(cls, "citation"), _attribute(cls, "licence")
        if citation or licence:
            rows.append({"task": task, "citation": citation, "licence": licence})
    return pd.DataFrame(rows, columns=COLUMNS)
