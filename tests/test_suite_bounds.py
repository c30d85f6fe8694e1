"""Every suite value is checked against a sane range before anything runs: exit 2 and one line
naming the key and the allowed range, never a hang, a MemoryError or a traceback (issue 14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunebench.cli import app
from tunebench.runners.grid import MAX_RESOLUTION, Grid, resolution_for_budget
from tunebench.space import Float, Space
from tunebench.suite.spec import SuiteError, with_repetitions
from tunebench.suite.spec_parse import load_suite, parse_suite

SUITE = """
[suite]
name = "bounds"
{suite}
[budget]
{budget}
[settings]
{settings}
[[tasks]]
name = "{task}"
{task_extra}
[[runners]]
name = "{runner}"
{runner_extra}
"""


def suite_text(suite: str = "", budget: str = "trials = 2", settings: str = "", task: str = "branin",
               task_extra: str = "", runner: str = "random", runner_extra: str = "") -> str:
    return SUITE.format(suite=suite, budget=budget, settings=settings, task=task,
                        task_extra=task_extra, runner=runner, runner_extra=runner_extra)


def run_cli(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "suite.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(path), "--db", str(tmp_path / "r.db"), "-q",
                                      "--no-cache"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


BOUNDS = {
    "suite repetitions 10**9": (dict(suite="repetitions = 1000000000"),
                                "suite.repetitions: must be at most 100000 (allowed: 1 to 100000)"),
    "task repetitions 10**9": (dict(task_extra="repetitions = 1000000000"),
                               "tasks[0].repetitions: must be at most 100000"),
    "trials beyond the key space": (dict(budget="trials = 4294967301"),
                                    "budget.trials: is too large (allowed: a whole number from 1 "
                                    "to 4294967295)"),
    "trials 1e300": (dict(budget="trials = 1e300"), "budget.trials: is too large"),
    "epochs 1e300": (dict(budget="epochs = 1e300"), "budget.epochs: is too large"),
    "epochs nan": (dict(budget="epochs = nan"), "budget.epochs: must be a number"),
    "device seconds 1e300": (dict(budget="device_seconds = 1e300"),
                             "budget.device_seconds: is too large (allowed: seconds above 0, at "
                             "most 31622400"),
    "a task's budget": (dict(task_extra="budget = { trials = 1e300 }"),
                        "tasks[0].budget.trials: is too large"),
    "threads 100000": (dict(settings="threads = 100000"),
                       "settings.threads: must be at most 512 (allowed: 1 to 512)"),
    "trial timeout inf": (dict(settings="trial_timeout = inf"),
                          "settings.trial_timeout: must be a positive number of seconds (allowed"),
    "trial timeout nan": (dict(settings="trial_timeout = nan"), "settings.trial_timeout:"),
    "seed 2**63": (dict(suite="seed = 9223372036854775807"),
                   "suite.seed: must be at most 4294967295 (allowed: 0 to 4294967295)"),
    "seed 10**20": (dict(suite="seed = 100000000000000000000"), "suite.seed: must be at most"),
    "grid resolution 2**62": (dict(runner="grid", runner_extra="options = { resolution = "
                                                                "4611686018427387904 }"),
                              f"runners[0]: runner 'grid' rejected its options "
                              f"{{'resolution': 4611686018427387904}}: option resolution must be a "
                              f"positive integer (allowed: 1 to {MAX_RESOLUTION})"),
    "synthetic dim 2**31": (dict(task="rosenbrock", task_extra="options = { dim = 2147483648 }"),
                            "rosenbrock: dim must be an integer >= 2 and <= 10000"),
    "text max_length inf": (dict(task="text_clf", task_extra="options = { max_length = inf }"),
                            "max_length must be an integer from 1 to 100000"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(BOUNDS))
def test_out_of_range_value_is_a_clear_exit_2(tmp_path: Path, case: str) -> None:
    parts, message = BOUNDS[case]
    code, output = run_cli(tmp_path, suite_text(**parts))
    assert code == 2, output
    assert output.startswith("error:") and message in output, output
    assert not (tmp_path / "r.db").exists()  # refused before anything ran or was stored


@pytest.mark.timeout(60)
def test_500_deep_nesting_is_a_clear_exit_2(tmp_path: Path) -> None:
    deep = "[" * 500 + "]" * 500
    code, output = run_cli(tmp_path, suite_text(task_extra=f"options = {{ noise = {deep} }}"))
    assert code == 2 and "nest too deep to read (allowed: at most 32 levels)" in output, output


def test_deep_dict_is_refused_without_recursion() -> None:
    value: object = 1
    for _ in range(100_000):  # far past the interpreter's recursion limit
        value = [value]
    data = {"suite": {"name": "s"}, "budget": {"trials": 2},
            "tasks": [{"name": "branin", "options": {"noise": value}}], "runners": [{"name": "random"}]}
    with pytest.raises(SuiteError, match=r"tasks\[0\]\.options\.noise(\[0\])+: tables and arrays "
                                         r"nest more than 32 deep"):
        parse_suite(data)


def test_repetitions_override_is_bounded() -> None:
    spec = parse_suite({"suite": {"name": "s"}, "budget": {"trials": 2},
                        "tasks": [{"name": "branin"}], "runners": [{"name": "random"}]})
    with pytest.raises(SuiteError, match="--repetitions: repetitions must be an integer from 1 to 100000"):
        with_repetitions(spec, 10**9)


def test_study_count_is_bounded() -> None:
    runners = [{"name": "random", "label": f"r{i}"} for i in range(20)]
    with pytest.raises(SuiteError, match=r"2000000 studies .* at most 1000000"):
        parse_suite({"suite": {"name": "s", "repetitions": 100_000}, "budget": {"trials": 2},
                     "tasks": [{"name": "branin"}], "runners": runners})


@pytest.mark.timeout(30)
def test_grid_from_a_huge_budget_stops_at_the_resolution_bound() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    assert resolution_for_budget(space, 2**32 - 1) == MAX_RESOLUTION
    with pytest.raises(ValueError, match="resolution must be from 1 to"):
        Grid(space, 2**62)


def test_plugin_whose_init_raises_is_a_suite_error(tmp_path: Path) -> None:
    plugin = tmp_path / "raising.py"
    plugin.write_text(
        "from tunebench.space import Float, Space\n"
        "from tunebench.tasks.base import Result, Task\n\n"
        "class Raising(Task):\n"
        "    name = 'raising_init'\n"
        "    def __init__(self):\n"
        "        raise RuntimeError('no GPU driver')\n"
        "    @property\n"
        "    def space(self):\n"
        "        return Space({'x': Float(0.0, 1.0)})\n"
        "    def evaluate(self, config, fidelity, seed, context):\n"
        "        return Result(value=0.0)\n")
    code, output = run_cli(tmp_path, suite_text(suite=f'plugins = ["{plugin}"]', task="raising_init"))
    assert code == 2, output
    assert "tasks[0]: task 'raising_init' (plugin file " in output, output
    assert "failed to build with options {}: RuntimeError: no GPU driver" in output, output


def test_plugin_symlink_loop_is_a_suite_error(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b.py", tmp_path / "a.py")
    os.symlink(tmp_path / "a.py", tmp_path / "b.py")
    code, output = run_cli(tmp_path, suite_text(suite=f'plugins = ["{tmp_path / "a.py"}"]'))
    assert code == 2 and "suite.plugins:" in output, output


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text(suite_text(suite='description = "' + "x" * (17 * 1024 * 1024) + '"'))
    with pytest.raises(SuiteError, match="allowed: at most 16777216"):
        load_suite(path)
