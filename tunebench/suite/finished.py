"""What is left to run? Answered from the store alone, before anything heavy loads: whether a
suite is finished, what a dry run would do, and which studies ``--only`` keeps.

Re-running a finished suite must be instant: validating a suite builds every runner, which imports
every optimisation library (seconds), and a serial run re-executes its interpreter to fix the hash
seed. Neither is needed when the store already holds every study of this very suite (the same
fingerprint) finished, so `tunebench run` asks here first, reading the store read-only.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any


def finished_count(suite: Any, db: str | Path, repetitions: int | None = None,
                   seed: int | None = None) -> int | None:
    """The number of studies of ``suite`` (a path, a shipped suite's name or a dict) when the
    store at ``db`` holds all of them finished; None when anything is left to run, or the question
    cannot be answered cheaply (the full run then says what is wrong, if anything is)."""
    from tunebench.suite.spec import with_repetitions, with_seed
    from tunebench.suite.spec_parse import load_suite

    path = Path(db)
    if not path.is_file():
        return None
    try:
        spec = with_seed(with_repetitions(load_suite(suite, check=False), repetitions), seed)
        expected = {(s.task.label, s.runner.label, s.repetition, int(s.task.smoke))
                    for s in spec.studies()}
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            # A damaged store is never "finished": the full path names the damage.
            if conn.execute("PRAGMA quick_check").fetchone() != ("ok",):
                return None
            row = conn.execute("SELECT id FROM suites WHERE fingerprint=?",
                               (spec.fingerprint,)).fetchone()
            if row is None:
                return None
            done = set(conn.execute(
                "SELECT task, runner, repetition, smoke FROM studies WHERE suite_id=? AND "
                "status='done'", (row[0],)))
    except Exception:  # any doubt: the full path runs and reports
        return None
    return len(expected) if expected <= done else None


def study_filter(only: list[str]) -> Any:
    """``--only task=A,runner=B`` (repeatable; any one matching) as a test of a study; None: all.
    A bad item raises ValueError naming it."""
    if not only:
        return None
    wanted = []
    for item in only:
        parts = {}
        for part in item.split(","):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in ("task", "runner") or not value.strip():
                raise ValueError(f"--only {item!r}: write task=LABEL, runner=LABEL or both, "
                                 "e.g. --only task=branin,runner=optuna.tpe")
            parts[key.strip()] = value.strip()
        wanted.append(parts)

    def keep(study: Any) -> bool:
        return any(all({"task": study.task.label, "runner": study.runner.label}[k] == v
                       for k, v in parts.items()) for parts in wanted)
    return keep


def plan_rows(spec: Any, db: str | Path, keep: Any = None) -> list[dict[str, Any]]:
    """What ``tunebench run --dry-run`` shows: per (task, runner), the studies of the suite, how
    many are finished in the store, the budget of each, and what the rest should take (the mean
    seconds of this task's finished studies in the store; None when there is none yet)."""
    done: set[tuple[str, str, int]] = set()
    seconds: dict[str, list[float]] = {}
    path = Path(db)
    if path.is_file():
        with contextlib.suppress(sqlite3.Error), \
                sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            for task, runner, rep, status, start, end in conn.execute(
                    "SELECT task, runner, repetition, status, started_at, finished_at FROM studies "
                    "WHERE suite_id IN (SELECT id FROM suites WHERE fingerprint=?)",
                    (spec.fingerprint,)):
                if status == "done":
                    done.add((task, runner, rep))
                    if start is not None and end is not None:
                        seconds.setdefault(task, []).append(end - start)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for study in spec.studies():
        if keep is not None and not keep(study):
            continue
        row = rows.setdefault((study.task.label, study.runner.label), {
            "task": study.task.label, "runner": study.runner.label, "studies": 0, "finished": 0,
            "budget": study.budget.describe(), "estimate_seconds": None})
        row["studies"] += 1
        row["finished"] += (study.task.label, study.runner.label, study.repetition) in done
    for row in rows.values():
        spent = seconds.get(row["task"])
        if spent:
            row["estimate_seconds"] = (row["studies"] - row["finished"]) * sum(spent) / len(spent)
    return list(rows.values())
