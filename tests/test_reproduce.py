"""`reproduce` and bundles: a run reproduces identically, and any changed number is found exactly."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import tarfile

import pytest
from typer.testing import CliRunner

import tunebench
from tunebench.cli import app
from tunebench.suite.budget import Budget, BudgetKind
from tunebench.suite.bundle import BundleError, export_bundle, open_bundle
from tunebench.suite.cache import EvaluationCacheStore
from tunebench.suite.reproduce import (
    DIFFERENT,
    IDENTICAL,
    WITHIN_TOLERANCE,
    ReplayBudget,
    ReproduceError,
    reproduce,
)
from tunebench.suite.store import load_trials

SUITE = """
[suite]
name = "repro"
seed = 5
repetitions = 2
plugins = ["@PLUGIN@"]
[budget]
trials = 8
[[tasks]]
name = "curve"
[[tasks]]
name = "linreg"
options = { max_epochs = 3 }
[[runners]]
name = "random"
[[runners]]
name = "recorder"
"""


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """One finished run of SUITE (8 studies × 8 trials), shared read-only by the tests."""
    from conftest import PLUGIN_TASKS

    folder = tmp_path_factory.mktemp("original")
    plugin = folder / "plugin_tasks.py"
    shutil.copyfile(PLUGIN_TASKS, plugin)  # a copy the bundle test may delete
    path = folder / "suite.toml"
    path.write_text(SUITE.replace("@PLUGIN@", str(plugin)))
    tunebench.run_suite(path, folder / "original.db", progress=False)
    return folder / "original.db"


def _copy(db, tmp_path, name="copy.db"):
    target = tmp_path / name
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return target


def _execute(db, sql, *args):
    with sqlite3.connect(db) as conn:
        conn.execute(sql, args)


def test_a_run_reproduces_identically(original):
    report = reproduce(original)
    assert report.ok and len(report.studies) == 8
    assert {s.verdict for s in report.studies} == {IDENTICAL}
    assert all(s.trials_ours == s.trials_theirs == 8 for s in report.studies)
    # Same machine, same software: nothing in the environment can explain a difference.
    assert all(not d.matters for env in report.environments for d in env.differences)


def test_one_changed_number_is_reported_as_exactly_that_study_and_trial(original, tmp_path):
    copy = _copy(original, tmp_path)
    trials = load_trials(copy)
    row = trials[(trials["task"] == "linreg") & (trials["runner"] == "recorder")
                 & (trials["repetition"] == 1) & (trials["trial"] == 5)].iloc[0]
    _execute(copy, "UPDATE trials SET value = value * (1 + 1e-9) WHERE study_id = ? AND number = 5",
             int(row["study_id"]))
    report = reproduce(copy)
    different = [s for s in report.studies if s.verdict != IDENTICAL]
    assert not report.ok and len(different) == 1
    study = different[0]
    assert (study.task, study.runner, study.repetition) == ("linreg", "recorder", 1)
    assert study.verdict == DIFFERENT and study.differing_trials == 1
    first = study.first_difference
    assert (first.trial, first.field) == (5, "value")
    assert first.ours == row["value"] and first.theirs == pytest.approx(row["value"] * (1 + 1e-9), rel=0)
    # A tolerance above the change accepts it, and says so.
    tolerant = reproduce(copy, tolerance=1e-8)
    assert tolerant.ok
    assert [s.verdict for s in tolerant.studies].count(WITHIN_TOLERANCE) == 1


def test_a_changed_configuration_or_status_is_a_difference_whatever_the_tolerance(original, tmp_path):
    copy = _copy(original, tmp_path)
    trials = load_trials(copy)
    first = trials.iloc[0]
    _execute(copy, "UPDATE trials SET config_key = 'x' WHERE study_id = ? AND number = 2",
             int(first["study_id"]))
    report = reproduce(copy, tolerance=0.5)
    (study,) = [s for s in report.studies if s.verdict != IDENTICAL]
    assert (study.first_difference.trial, study.first_difference.field) == (2, "config_key")


def test_an_interrupted_study_is_reproduced_up_to_where_it_stopped(original, tmp_path):
    copy = _copy(original, tmp_path)
    study_id = int(load_trials(copy)["study_id"].iloc[-1])
    _execute(copy, "DELETE FROM trials WHERE study_id = ? AND number >= 3", study_id)
    _execute(copy, "UPDATE studies SET status = 'running' WHERE id = ?", study_id)
    report = reproduce(copy)
    assert report.ok
    short = [s for s in report.studies if s.trials_theirs == 3]
    assert len(short) == 1 and short[0].trials_ours == 3 and short[0].verdict == IDENTICAL


def test_a_device_seconds_budget_is_replayed_from_the_recorded_charges(write_suite, tmp_path):
    path = write_suite("""
    [suite]
    name = "timed"
    seed = 2
    plugins = ["@PLUGIN@"]
    [budget]
    device_seconds = 0.03
    [[tasks]]
    name = "curve"
    options = { delay = 0.0005 }
    [[runners]]
    name = "random"
    """)
    db = tmp_path / "timed.db"
    tunebench.run_suite(path, db, progress=False)
    n = len(load_trials(db))
    # Make the recorded machine "twice as fast": the budget now ran out after the same trials, but
    # a clock-based reproduction here would run twice as many. The replay stops where it did.
    _execute(db, "UPDATE trials SET eval_seconds = eval_seconds / 2")
    report = reproduce(db)
    assert report.ok and report.studies[0].trials_ours == n


def test_replay_budget_charges_the_recorded_costs():
    original = Budget(BudgetKind.DEVICE_SECONDS, 1.0)
    budget = ReplayBudget.of(original, [type("R", (), {"charge": c})() for c in (0.3, 0.3, 0.5)])
    assert budget.info().full_trials is None and budget.to_dict() == original.to_dict()
    spent = 0.0
    for _ in range(3):
        assert not budget.exhausted(spent)
        spent += budget.charge(fidelity_spent=1, eval_seconds=99.0, optimizer_seconds=0.0)
    assert budget.exhausted(spent) and spent == pytest.approx(1.1)


def test_the_reproduction_never_uses_the_cache(original, tmp_path):
    cache = EvaluationCacheStore(tmp_path / "cache.db")
    copy = _copy(original, tmp_path)
    tunebench.run_suite(load_suite_of(copy), tmp_path / "warm.db", cache=cache, progress=False)
    assert cache.count() > 0
    keep = tmp_path / "reproduction.db"
    assert reproduce(copy, keep=keep).ok
    assert not load_trials(keep)["cached"].any()


def load_suite_of(db):
    from tunebench.suite.spec_parse import suite_from_dict
    from tunebench.suite.store import load_suite_specs

    return suite_from_dict(load_suite_specs(db)[0]["spec"])


def test_sampling_reruns_a_reproducible_subset(original):
    one = reproduce(original, sample=3, seed=1)
    two = reproduce(original, sample=3, seed=1)
    assert one.ok and len(one.studies) == 3 and one.sampled == 3 and one.total_studies == 8
    assert [s.label for s in one.studies] == [s.label for s in two.studies]


def test_environment_differences_that_can_change_numbers_are_named(original, tmp_path):
    copy = _copy(original, tmp_path)
    with sqlite3.connect(copy) as conn:
        for env_id, text in conn.execute("SELECT id, env_json FROM environments").fetchall():
            env = json.loads(text)
            env["packages"]["numpy"] = "1.0.0"
            env["determinism"]["threads"] = 8
            env["hostname"] = "elsewhere"
            conn.execute("UPDATE environments SET env_json = ? WHERE id = ?", (json.dumps(env), env_id))
    report = reproduce(copy)
    assert report.ok  # the numbers still reproduce; the report names what could have changed them
    differences = {d.key: d for env in report.environments for d in env.differences}
    assert differences["packages.numpy"].matters and differences["packages.numpy"].theirs == "1.0.0"
    assert differences["determinism.threads"].matters
    assert "hostname" not in differences


def test_a_bundle_carries_the_store_suite_environment_lock_and_plugins(original, tmp_path):
    bundle = tmp_path / "results.tar.gz"
    manifest = export_bundle(original, bundle)
    assert {"results.db", "environment.json", "requirements.lock"} <= set(manifest["files"])
    assert any(name.startswith("suites/repro-") and name.endswith(".toml") for name in manifest["files"])
    assert len(manifest["plugins"]) == 1
    with open_bundle(bundle) as opened:
        lock = (opened.db.parent / "requirements.lock").read_text()
        assert "numpy==" in lock and "tunebench==" in lock
    plugin = original.parent / "plugin_tasks.py"
    plugin.rename(plugin.with_suffix(".moved"))  # the other machine does not have the file
    try:
        with pytest.raises(ReproduceError, match="plugin"):
            reproduce(original)
        report = reproduce(bundle)
    finally:
        plugin.with_suffix(".moved").rename(plugin)
    assert report.ok and len(report.studies) == 8


def test_a_damaged_or_unsafe_bundle_is_refused(original, tmp_path):
    bundle = tmp_path / "results.tar.gz"
    export_bundle(original, bundle)
    with tarfile.open(bundle) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
    members["environment.json"] = b"{}"
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(BundleError, match="checksum"), open_bundle(tampered):
        pass
    unsafe = tmp_path / "unsafe.tar.gz"
    with tarfile.open(unsafe, "w:gz") as archive:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BundleError, match="refusing"), open_bundle(unsafe):
        pass


def test_the_cli_reports_and_sets_the_exit_code(original, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["reproduce", "--db", str(original), "-q", "--sample", "2"])
    assert ok.exit_code == 0, ok.output
    assert "identical" in ok.output and "reproduced" in ok.output
    copy = _copy(original, tmp_path)
    _execute(copy, "UPDATE trials SET test_value = 123.0 WHERE number = 0 AND study_id = "
                   "(SELECT MIN(id) FROM studies)")
    report_file = tmp_path / "report.json"
    bad = runner.invoke(app, ["reproduce", str(copy), "-q", "--json", str(report_file)])
    assert bad.exit_code == 1 and "different" in bad.output
    saved = json.loads(report_file.read_text())
    assert saved["counts"]["different"] == 1
    (changed,) = [s for s in saved["studies"] if s["verdict"] == "different"]
    assert changed["first_difference"] == {"trial": 0, "field": "test_value", "theirs": 123.0,
                                           "ours": changed["first_difference"]["ours"]}
    missing = runner.invoke(app, ["reproduce", "--db", str(tmp_path / "nope.db")])
    assert missing.exit_code == 2 and "no results store" in missing.output
    both = runner.invoke(app, ["reproduce", str(copy), "--db", str(copy)])
    assert both.exit_code == 2
    bundle = tmp_path / "b.tar.gz"
    exported = runner.invoke(app, ["export", "--db", str(original), "-o", str(bundle)])
    assert exported.exit_code == 0 and bundle.is_file(), exported.output
    from_bundle = runner.invoke(app, ["reproduce", str(bundle), "-q", "--sample", "1"])
    assert from_bundle.exit_code == 0, from_bundle.output
