"""`tunebench new task|runner`: the generated package passes its own generated tests (which run
tunebench's conformance checks), declares an entry point that resolves, and `check-plugin` agrees.

The generated tests run in a subprocess with the package's `src` on the path (its pyproject sets
pytest's `pythonpath`), so nothing is installed into the project venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunebench.cli import app
from tunebench.plugins import check_plugin
from tunebench.plugins.scaffold import ScaffoldError, new_plugin, plugin_names


def run_generated_tests(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=root, capture_output=True, text=True, env=env, timeout=300)


def entry_point(root: Path, group: str) -> tuple[str, str]:
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    ((name, target),) = pyproject["project"]["entry-points"][group].items()
    return name, target


@pytest.mark.parametrize(("kind", "name", "group"), [
    ("task", "my_task", "tunebench.tasks"),
    ("runner", "mylib.walk", "tunebench.runners"),
])
def test_generated_package_passes_its_own_tests(kind: str, name: str, group: str,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "pkg"
    result = CliRunner().invoke(app, ["new", kind, name, "--dir", str(root)])
    assert result.exit_code == 0, result.output
    names = plugin_names(kind, name)
    assert (root / "src" / names.module / "__init__.py").is_file()
    assert entry_point(root, group) == (name, f"{names.module}:{names.cls}")

    proc = run_generated_tests(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout

    monkeypatch.syspath_prepend(str(root / "src"))
    report = check_plugin(names.module, trials=12)
    assert report.ok, [row.describe() for row in report.failures]
    assert report.plugins() == [(kind, name, f"module {names.module}")]


def test_a_broken_edit_fails_the_generated_test(tmp_path: Path) -> None:
    root, _ = new_plugin("task", "edited", tmp_path / "pkg")
    module = root / "src" / "tunebench_edited" / "__init__.py"
    text = module.read_text()
    # A typical slip: reporting only every other epoch.
    module.write_text(text.replace("context.report(epoch, value)",
                                   "context.report(2 * epoch, value)"))
    proc = run_generated_tests(root)
    assert proc.returncode == 1
    assert "task 'edited'" in proc.stdout and "curve:" in proc.stdout


def test_generated_pyproject_builds(tmp_path: Path) -> None:
    """pip can build the package's metadata (a dry run: nothing is installed, nothing fetched)."""
    root, _ = new_plugin("runner", "buildable", tmp_path / "pkg")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-e", str(root), "--report", "-"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(proc.stdout)["install"]
    assert item["metadata"]["name"] == "tunebench-buildable"


def test_names_are_derived_and_checked() -> None:
    names = plugin_names("runner", "mylib.tpe-fast")
    assert (names.dist, names.module, names.cls) == (
        "tunebench-mylib-tpe-fast", "tunebench_mylib_tpe_fast", "MylibTpeFastRunner")
    assert plugin_names("task", "branin_task").cls == "BraninTask"
    for bad in ("1task", "my task", "", "a..b", "x-"):
        with pytest.raises(ScaffoldError, match="cannot name a task"):
            plugin_names("task", bad)


def test_existing_directories_are_not_overwritten(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cli = CliRunner()
    first = cli.invoke(app, ["new", "task", "twice"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "tunebench-twice" / "pyproject.toml").is_file()  # default directory
    again = cli.invoke(app, ["new", "task", "twice"])
    assert again.exit_code == 2
    assert "already exists and is not empty" in again.output
    forced = cli.invoke(app, ["new", "task", "twice", "--force"])
    assert forced.exit_code == 0, forced.output
    bad = cli.invoke(app, ["new", "runner", "no spaces"])
    assert bad.exit_code == 2 and "cannot name a runner" in bad.output
