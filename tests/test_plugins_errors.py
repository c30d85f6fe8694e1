"""Broken plugins: each gets a clear error naming it and the problem, and none hides the others.

A throwaway distribution (a bare ``*.dist-info`` folder on ``sys.path``) declares entry points that
fail in every way a plugin can: a missing module, an object that is not a Task, a name that
disagrees with the class, an invalid space; next to them sits one good task.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tunebench
from tunebench import registry
from tunebench.cli import app
from tunebench.plugins import check_plugin
from tunebench.suite.spec import SuiteError

MODULE = '''
from tunebench.space import Float, Space
from tunebench.tasks.base import Result, Task


class GoodDemo(Task):
    name = "good_demo"
    description = "a working task shipped next to broken ones"
    space = Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config, fidelity, seed, context):
        return Result(value=(config["x"] - 0.5) ** 2, test_value=(config["x"] - 0.5) ** 2)


class BadSpace(GoodDemo):
    name = "bad_space"

    @property
    def space(self):
        return Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0, active_if={"x": 0.5})})
'''

ENTRY_POINTS = '''
[tunebench.tasks]
broken_import = tb_demo_missing_module:Task
not_a_task = json:dumps
misnamed = tb_demo_plugins:GoodDemo
bad_space = tb_demo_plugins:BadSpace
good_demo = tb_demo_plugins:GoodDemo

[tunebench.runners]
broken_runner = tb_demo_missing_module:Runner
'''


def normal(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def broken_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    info = site / "tunebench_broken_demo-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tunebench-broken-demo\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "tb_demo_plugins.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(site))
    registry.refresh()
    yield site
    monkeypatch.undo()
    registry.refresh()


def test_list_shows_broken_plugins_as_unavailable_and_the_rest(broken_distribution: Path) -> None:
    result = CliRunner().invoke(app, ["list", "tasks"])
    assert result.exit_code == 0, result.output
    out = normal(result.output)
    for name in ("branin", "good_demo", "bad_space"):
        assert name in out
    assert ("unavailable broken_import: task 'broken_import' (entry point "
            "tb_demo_missing_module:Task (tunebench-broken-demo)) failed to import: "
            "ModuleNotFoundError") in out
    assert "unavailable not_a_task: task 'not_a_task'" in out and "not a subclass" in out
    assert "unavailable misnamed:" in out and "declares name='good_demo'" in out
    runners = normal(CliRunner().invoke(app, ["list", "runners"]).output)
    assert "optuna.tpe" in runners and "unavailable broken_runner" in runners
    table = normal(CliRunner().invoke(app, ["list", "runners", "--format", "table"]).output)
    assert "Runners (" in table and "unavailable broken_runner" in table


def test_the_good_plugin_still_runs_end_to_end(broken_distribution: Path, tmp_path: Path) -> None:
    suite = {"suite": {"name": "beside-broken"}, "budget": {"trials": 3},
             "tasks": [{"name": "good_demo"}], "runners": [{"name": "random"}]}
    summary = tunebench.run_suite(suite, tmp_path / "r.db", progress=False)
    assert summary.ok and summary.trials_run == 3


@pytest.mark.parametrize(("task", "expected"), [
    ("broken_import", "task 'broken_import' (entry point tb_demo_missing_module:Task "
                      "(tunebench-broken-demo)) failed to import: ModuleNotFoundError"),
    ("bad_space", "task 'bad_space' (entry point tb_demo_plugins:BadSpace (tunebench-broken-demo))"
                  " declares an invalid search space: SpaceError: parameter 'y' depends on 'x', "
                  "a Float"),
    ("misnamed", "declares name='good_demo'; the registered name and the class's name attribute "
                 "must agree"),
])
def test_a_suite_naming_a_broken_plugin_gets_one_clear_error(broken_distribution: Path,
                                                             task: str, expected: str) -> None:
    suite = {"suite": {"name": "broken"}, "budget": {"trials": 2},
             "tasks": [{"name": task}], "runners": [{"name": "random"}]}
    with pytest.raises(SuiteError) as caught:
        tunebench.load_suite(suite)
    assert "tasks[0]" in str(caught.value)
    assert expected in str(caught.value)


def test_check_plugin_on_the_distribution_reports_every_entry_point(
        broken_distribution: Path) -> None:
    report = check_plugin("tunebench-broken-demo")
    failed = {row.plugin: row for row in report.failures}
    assert set(failed) == {"broken_import", "not_a_task", "misnamed", "bad_space",
                           "broken_runner"}
    assert failed["broken_runner"].kind == "runner"
    assert "failed to import" in failed["broken_import"].message
    assert failed["bad_space"].check == "space"
    assert "depends on 'x', a Float" in failed["bad_space"].message
    good = [row for row in report.rows if row.plugin == "good_demo"]
    assert good and not any(row.failed for row in good)

    result = CliRunner().invoke(app, ["check-plugin", "tunebench-broken-demo"])
    assert result.exit_code == 1
    out = normal(result.output)
    assert "5 of 6 plugin(s) in tunebench-broken-demo failed a check" in out
    assert "task good_demo" in out and "✗ FAIL" in out


def test_check_plugin_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(MODULE.split("class BadSpace")[0])
    cli = CliRunner()
    result = cli.invoke(app, ["check-plugin", str(good)])
    assert result.exit_code == 0, result.output
    assert "all 1 plugin(s)" in normal(result.output)
    missing = cli.invoke(app, ["check-plugin", "tb_surely_not_a_module"])
    assert missing.exit_code == 2 and "is no plugin file" in normal(missing.output)
    bad_option = cli.invoke(app, ["check-plugin", "grid", "-o", "resolution"])
    assert bad_option.exit_code == 2 and "--option needs KEY=VALUE" in normal(bad_option.output)
    options = cli.invoke(app, ["check-plugin", "grid", "-o", "resolution=2", "--trials", "10"])
    assert options.exit_code == 0, options.output


def test_plugin_file_errors_in_a_suite_name_the_file(write_suite, tmp_path: Path) -> None:
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("raise RuntimeError('plugin exploded on import')\n")
    path = write_suite(f"""
        [suite]
        name = "s"
        plugins = ["{broken}"]
        [budget]
        trials = 2
        [[tasks]]
        name = "branin"
        [[runners]]
        name = "random"
    """)
    with pytest.raises(SuiteError) as caught:
        tunebench.load_suite(path)
    message = str(caught.value)
    assert "suite.plugins" in message
    assert f"plugin file {broken} failed to import: RuntimeError: plugin exploded" in message


def test_a_malformed_result_in_a_run_is_a_failed_trial_naming_the_task(tmp_path: Path) -> None:
    plugin = tmp_path / "dicty.py"
    plugin.write_text(textwrap.dedent('''
        from tunebench.space import Float, Space
        from tunebench.tasks.base import Task

        class Dicty(Task):
            name = "dicty"
            description = "returns a dict instead of a Result"
            space = Space({"x": Float(0.0, 1.0)})

            def evaluate(self, config, fidelity, seed, context):
                return {"value": config["x"]}
    '''))
    suite = tmp_path / "suite.toml"
    suite.write_text(textwrap.dedent(f'''
        [suite]
        name = "malformed"
        plugins = ["{plugin}"]
        [budget]
        trials = 2
        [[tasks]]
        name = "dicty"
        [[runners]]
        name = "random"
    '''))
    tunebench.run_suite(suite, tmp_path / "r.db", progress=False)
    trials = tunebench.load_trials(tmp_path / "r.db")
    assert list(trials["status"]) == ["failed", "failed"]
    assert trials["error"].str.contains("task 'dicty'").all()
    assert trials["error"].str.contains("Result").all()
