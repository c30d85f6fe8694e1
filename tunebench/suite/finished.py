"""Is there anything left to run? Answered from the store alone, before anything heavy loads.

Re-running a finished suite must be instant: validating a suite builds every runner, which imports
every optimisation library (seconds), and a serial run re-executes its interpreter to fix the hash
seed. Neither is needed when the store already holds every study of this very suite (the same
fingerprint) finished, so `tunebench run` asks here first, reading the store read-only.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def finished_count(suite: Any, db: str | Path, repetitions: int | None = None) -> int | None:
    """The number of studies of ``suite`` (a path, a shipped suite's name or a dict) when the
    store at ``db`` holds all of them finished; None when anything is left to run, or the question
    cannot be answered cheaply (the full run then says what is wrong, if anything is)."""
    from tunebench.suite.spec import with_repetitions
    from tunebench.suite.spec_parse import load_suite

    path = Path(db)
    if not path.is_file():
        return None
    try:
        spec = with_repetitions(load_suite(suite, check=False), repetitions)
        expected = {(s.task.label, s.runner.label, s.repetition, int(s.task.smoke))
                    for s in spec.studies()}
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
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
