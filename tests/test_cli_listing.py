"""`tunebench list`: fits 80 columns in a pipe, and says truthfully what each runner does with
fidelities (prune / choose / continue) and which tasks can continue a trial."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from tunebench import registry


def _listing(what: str, columns: int, *options: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tunebench", "list", what, *options],
                          capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": str(columns)}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("what", ["runners", "tasks"])
@pytest.mark.parametrize("fmt", ["table", "plain"])
def test_the_listing_fits_80_columns_and_names_every_entry(what, fmt):
    out = _listing(what, 80, "--format", fmt)
    assert max(len(line) for line in out.splitlines()) <= 80
    # What the subprocess finds: the entry points (plugin files loaded by other tests are not).
    group = registry.RUNNER_GROUP if what == "runners" else registry.TASK_GROUP
    names = {ep.name for ep in entry_points(group=group)}
    rows = {line.split()[0].split("/")[0] for line in out.splitlines() if line.strip()}
    unavailable = {n for n in names if getattr(registry.get_runner_class(n), "unavailable", None)} \
        if what == "runners" else set()
    assert set(names) - unavailable <= rows  # a family shows as its name and members (bbob/f1…f24)


def test_a_pipe_gets_one_line_per_runner_with_full_names():
    out = _listing("runners", 80)  # stdout is a pipe here: plain by default
    optuna_lines = [line for line in out.splitlines() if "optuna" in line]
    names = sorted(n for n in registry.runner_names() if n.startswith("optuna."))
    assert sorted(line.split()[0] for line in optuna_lines) == names
    assert "─" not in out and "╭" not in out  # no box drawing


def test_json_output_round_trips_the_capabilities():
    import json

    data = json.loads(_listing("runners", 80, "--format", "json"))
    by_name = {row["name"]: row for row in data["runners"]}
    for name, row in by_name.items():
        assert row["capabilities"] == registry.get_runner_class(name).capabilities.as_dict()
        assert row["origin"] == "built-in" or row["origin"].startswith("plugin package")
    assert "hyperopt.atpe" in {item["name"] for item in data["unavailable"]}
    assert "hyperopt.atpe" not in by_name  # apart, never counted among the runners
    tasks = {row["name"]: row for row in json.loads(_listing("tasks", 80, "--format", "json"))["tasks"]}
    assert tasks["linreg"]["max_fidelity"] == 50  # the instance's, not the class attribute
    assert tasks["mf_hartmann6"]["continues"] is True


def test_tsv_has_a_header_and_a_row_per_task():
    lines = _listing("tasks", 80, "--format", "tsv").splitlines()
    assert lines[0].split("\t")[:3] == ["name", "members", "metric"] or \
        lines[0].split("\t")[:2] == ["name", "metric"]
    assert any(line.startswith("branin\t") for line in lines[1:])


def test_each_runner_row_states_its_fidelity_support():
    out = _listing("runners", 200)
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for name in {ep.name for ep in entry_points(group=registry.RUNNER_GROUP)}:
        if getattr(registry.get_runner_class(name), "unavailable", None):
            assert name not in rows  # listed apart, with its reason
            continue
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
