"""The examples work as documented: the plugin package, installed, is used by a suite through its
entry-point name; the plugin files are used by a suite through ``[suite] plugins``; the README's
task (under 20 lines) and runner (under 40) pass tunebench's conformance checks."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

import tunebench
from tunebench import registry
from tunebench.plugins import check_plugin

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "examples" / "plugin_package"
PLUGIN_FILES = ROOT / "examples" / "plugin_file"
DIST = "tunebench-sklearn-gbm"
LIMITS = {"Task": 20, "Runner": 40}  # the README promises fewer lines than these


def _installed() -> bool:
    try:
        dist = distribution(DIST)
    except PackageNotFoundError:
        return False
    return any(ep.group == "tunebench.tasks" and ep.name == "sklearn_hgb"
               for ep in dist.entry_points)


@pytest.fixture(scope="module")
def example_package() -> Iterator[None]:
    """The example package installed into the venv (editable, no dependencies, offline).

    `make install` installs it already; otherwise it is installed here and uninstalled after.
    Its source directory goes on sys.path because a fresh editable install's .pth file is only
    read by interpreters started after it.
    """
    installed_here = not _installed()
    if installed_here:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
             "--no-index", "-e", str(PACKAGE)], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    src = str(PACKAGE / "src")
    added = src not in sys.path
    if added:
        sys.path.insert(0, src)
    importlib.invalidate_caches()
    registry.refresh()
    yield
    if added:
        sys.path.remove(src)
    if installed_here:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", DIST],
                       capture_output=True, timeout=600, check=True)
    registry.refresh()


def test_a_suite_names_the_installed_task_by_its_entry_point(example_package: None,
                                                             tmp_path: Path) -> None:
    assert "sklearn_hgb" in registry.task_names()
    assert f"({DIST})" in registry.task_source("sklearn_hgb")
    suite = {
        "suite": {"name": "plugin-package", "seed": 1},
        "budget": {"trials": 2},
        "settings": {"threads": 1},
        "tasks": [{"name": "sklearn_hgb", "options": {"iterations_per_step": 2}}],
        "runners": [{"name": "random"}, {"name": "grid", "options": {"resolution": 2}}],
    }
    db = tmp_path / "package.db"
    summary = tunebench.run_suite(suite, db, progress=False)
    assert summary.ok, summary.failed_studies
    trials = tunebench.load_trials(db)
    assert len(trials) == 4
    assert set(trials["task_name"]) == {"sklearn_hgb"}
    assert set(trials["status"]) == {"ok"}
    assert (trials["fidelity_spent"] == 10).all()
    assert trials["test_value"].notna().all() and (trials["value"] > 0).all()


def test_check_plugin_passes_on_the_distribution(example_package: None) -> None:
    report = check_plugin(DIST, {"iterations_per_step": 2}, fidelity=3, samples=2)
    assert report.ok, [row.describe() for row in report.failures]
    assert report.plugins() == [("task", "sklearn_hgb", "entry point sklearn_hgb = "
                                 f"tunebench_sklearn_gbm:HistGradientBoostingTask ({DIST})")]


@pytest.mark.slow
def test_the_package_passes_its_own_tests() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=PACKAGE, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_suite_brings_its_own_plugin_files(tmp_path: Path) -> None:
    spec = tunebench.load_suite(PLUGIN_FILES / "suite.toml")
    assert [Path(p).name for p in spec.plugins] == ["digits_svc.py", "pycma_runner.py"]
    db = tmp_path / "files.db"
    summary = tunebench.run_suite(spec, db, progress=False)
    assert summary.ok, summary.failed_studies
    trials = tunebench.load_trials(db)
    assert set(trials["runner"]) == {"random", "pycma"}
    assert set(trials["status"]) == {"ok"}
    assert len(trials) == 2 * spec.budget.amount
    assert trials["best_value"].max() > 0.9  # accuracy on digits


def _plugin_blocks(text: str) -> list[tuple[str, str]]:
    """(Task|Runner, code) for every fenced Python block of ``text`` that defines a plugin."""
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    out = []
    for block in blocks:
        kind = re.search(r"^class \w+\((Task|Runner)\):", block, flags=re.MULTILINE)
        if kind:
            out.append((kind.group(1), block))
    return out


@pytest.mark.parametrize(("file", "kind"), [("digits_svc.py", "Task"),
                                            ("pycma_runner.py", "Runner")])
def test_the_example_plugin_files_are_short_and_conform(file: str, kind: str) -> None:
    path = PLUGIN_FILES / file
    assert _plugin_blocks(f"```python\n{path.read_text()}```")[0][0] == kind
    assert len(path.read_text().splitlines()) < LIMITS[kind]
    report = check_plugin(str(path))
    assert report.ok, [row.describe() for row in report.failures]


def test_the_readme_snippets_are_short_and_conform(tmp_path: Path) -> None:
    blocks = _plugin_blocks((ROOT / "README.md").read_text())
    if not blocks:
        pytest.skip("README.md shows no custom task or runner yet")
    assert {kind for kind, _ in blocks} == {"Task", "Runner"}
    for i, (kind, code) in enumerate(blocks):
        lines = len(code.rstrip("\n").splitlines())
        assert lines < LIMITS[kind], f"README {kind} snippet has {lines} lines"
        path = tmp_path / f"readme_snippet_{i}.py"
        path.write_text(code)
        report = check_plugin(str(path))
        assert report.ok, [row.describe() for row in report.failures]


def test_the_keras_example_runs_as_a_task_and_its_pruner_stops_fit(tmp_path: Path) -> None:
    """Keras 3 on its torch backend, as a plugin file; ASHA's stop raised inside Keras's epoch
    callback ends `fit` (a reduced budget of the shipped suite: 24 epochs, 2-epoch trials)."""
    import tomllib

    root = Path(__file__).parent.parent / "examples" / "keras_task"
    suite = tomllib.loads((root / "suite.toml").read_text())
    suite["suite"]["plugins"] = [str(root / "keras_mlp.py")]
    suite["suite"]["repetitions"] = 1
    suite["budget"] = {"epochs": 24}
    suite["runners"] = [{"name": "optuna.asha", "options": {"min_resource": 1}}]
    tunebench.run_suite(suite, tmp_path / "k.db", progress=False)
    trials = tunebench.load_trials(tmp_path / "k.db")
    assert (trials.status != "failed").all(), trials.error.dropna().tolist()
    assert (trials.status == "pruned").any()
    pruned = trials[trials.status == "pruned"]
    assert (pruned.fidelity_spent < pruned.fidelity).any()  # stopped before its last epoch
    assert trials.charge.sum() == 24
