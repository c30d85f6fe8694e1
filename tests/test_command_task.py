"""The `command` task: a plain script tuned as it is — configuration in, JSON lines out, pruned,
timed out and failed like any task."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import tunebench
from tunebench.registry import RegistryError, make_task
from tunebench.suite.store import load_trials
from tunebench.tasks.base import EvalContext

SCRIPT = Path(__file__).parent / "command_script.py"
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def task(**options):
    return make_task("command", {"command": ["{python}", str(SCRIPT)], "space": SPACE,
                                 "max_epochs": 5, "script": str(SCRIPT), **options})


def test_a_script_reports_every_epoch_and_its_final_and_test_values() -> None:
    context = EvalContext()
    result = task().evaluate({"x": 0.25}, 4, 0, context)
    assert context.curve == [1.25, 0.75, 0.25 + 1 / 3, 0.5]
    assert result.value == 0.5 and result.test_value == 0.25 and result.fidelity_spent == 4


def test_the_configuration_reaches_the_arguments_too() -> None:
    t = task(command=["{python}", str(SCRIPT), "--x={x}", "--epochs={fidelity}", "--seed={seed}"])
    assert t.argv({"x": 0.5}, 3, 7)[2:] == ["--x=0.5", "--epochs=3", "--seed=7"]
    assert t.argv({"x": 0.5}, 3, 7)[0] == sys.executable


def test_a_failing_script_fails_its_trial_with_its_stderr() -> None:
    space = {**SPACE, "mode": {"type": "categorical", "choices": ["ok", "fail", "hang"]}}
    with pytest.raises(RuntimeError, match=r"exited with code 3.*data loader"):
        task(space=space).evaluate({"x": 0.5, "mode": "fail"}, 2, 0, EvalContext())


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(RegistryError, match="list of strings"):
        make_task("command", {"command": "python train.py", "space": SPACE})
    with pytest.raises(RegistryError, match="one of the two"):
        make_task("command", {"command": ["x"]})


SUITE = f"""
[suite]
name = "command"
[budget]
epochs = 40
[settings]
trial_timeout = 5
[[tasks]]
name = "command"
[tasks.options]
command = ["{{python}}", "{SCRIPT}"]
script = "{SCRIPT}"
max_epochs = 5
[tasks.options.space]
x = {{ type = "float", low = 0.0, high = 1.0 }}
mode = {{ type = "categorical", choices = ["ok", "ok2", "ok3", "hang"] }}
[[runners]]
name = "optuna.asha"
"""


def test_a_suite_prunes_and_times_out_script_trials(tmp_path: Path) -> None:
    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    tunebench.run_suite(path, tmp_path / "r.db", progress=False)
    trials = load_trials(tmp_path / "r.db")
    pruned = trials[trials.status == "pruned"]
    assert len(pruned) > 0 and (pruned.fidelity_spent < 5).all()  # ASHA stopped the scripts
    hung = trials[trials.config.map(lambda c: c["mode"] == "hang")]
    assert len(hung) > 0 and (hung.status == "failed").all()
    assert hung.error.str.contains("TrialTimeout").all()
    assert trials.charge.sum() == 40.0


def test_the_shipped_pytorch_script_example_runs_as_a_task(monkeypatch, tmp_path: Path) -> None:
    import tomllib

    root = Path(__file__).parent.parent
    monkeypatch.chdir(root)  # the example names its script relative to the repository's root
    suite = tomllib.loads((root / "examples/command_task/suite.toml").read_text())
    suite["budget"] = {"epochs": 4}  # two 2-epoch trials of the real script, not the full suite
    suite["suite"]["repetitions"] = 1
    suite["tasks"][0]["options"]["max_epochs"] = 2
    suite["runners"] = [{"name": "random"}]
    tunebench.run_suite(suite, tmp_path / "r.db", progress=False)
    trials = load_trials(tmp_path / "r.db")
    assert (trials.status == "ok").all(), trials.error.tolist()
    assert len(trials) == 2 and trials.test_value.notna().all()
