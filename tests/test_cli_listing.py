"""`tunebench list`: fits 80 columns in a pipe, and says truthfully what each runner does with
fidelities (prune / choose / continue) and which tasks can continue a trial."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from tunebench import registry


def _listing(what: str, columns: int) -> str:
    done = subprocess.run([sys.executable, "-m", "tunebench", "list", what], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": str(columns)}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("what", ["runners", "tasks"])
def test_the_listing_fits_80_columns_and_names_every_entry(what):
    out = _listing(what, 80)
    assert max(len(line) for line in out.splitlines()) <= 80
    # What the subprocess finds: the entry points (plugin files loaded by other tests are not).
    group = registry.RUNNER_GROUP if what == "runners" else registry.TASK_GROUP
    names = {ep.name for ep in entry_points(group=group)}
    rows = {line.split()[0].split("/")[0] for line in out.splitlines() if line.strip()}
    assert set(names) <= rows  # a family shows as its name and members (bbob/f1…f24)


def test_each_runner_row_states_its_fidelity_support():
    out = _listing("runners", 200)
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for name in {ep.name for ep in entry_points(group=registry.RUNNER_GROUP)}:
        caps = registry.get_runner_class(name).capabilities
        cells = rows[name].split()
        for word, declared in (("prune", caps.pruning), ("choose", caps.chooses_fidelity),
                               ("continue", caps.continues)):
            assert (word in cells) == declared, (name, word, rows[name])
    assert "choose" in rows["hyperband"] and "continue" in rows["hyperband"]
    assert "prune" in rows["optuna.asha"]


def test_tasks_that_can_continue_are_marked():
    out = _listing("tasks", 200)
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "27 ↻" in rows["mf_hartmann6"]
    assert "↻" not in rows["hartmann6"]
