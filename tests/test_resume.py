"""Reproducibility of runs: identical DBs from identical suites, resume after SIGKILL, seeds by name."""

from __future__ import annotations

import pytest
from conftest import run_and_kill

import tunebench
from tunebench.suite.seeding import derive_seed
from tunebench.suite.store import StoreError, load_studies, load_trials

SUITE = """
[suite]
name = "resume"
seed = 7
repetitions = 2
plugins = ["@PLUGIN@"]
[budget]
trials = 12
[[tasks]]
name = "curve"
options = { delay = @DELAY@ }
[[tasks]]
name = "branin"
[[runners]]
name = "random"
[[runners]]
name = "recorder"
[[runners]]
name = "grid"
options = { resolution = 7 }  # curve: 7 x 2 points, more than the budget (a grid never repeats)
"""

IDENTITY = ["task", "runner", "repetition", "trial", "status", "value", "test_value", "config_key",
            "fidelity_spent", "charge"]


def _trials(db):
    return load_trials(db)[IDENTITY]


def test_two_runs_of_one_suite_give_bit_identical_trials(write_suite, tmp_path):
    path = write_suite(SUITE.replace("@DELAY@", "0.0"))
    tunebench.run_suite(path, tmp_path / "a.db", progress=False)
    tunebench.run_suite(path, tmp_path / "b.db", progress=False)
    a, b = _trials(tmp_path / "a.db"), _trials(tmp_path / "b.db")
    assert len(a) == 2 * 2 * 3 * 12
    assert a.equals(b)  # exact float equality, NaN positions included


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(write_suite, tmp_path):
    path = write_suite(SUITE.replace("@DELAY@", "0.004"))
    reference = tmp_path / "reference.db"
    tunebench.run_suite(path, reference, progress=False)
    expected = _trials(reference)

    killed = tmp_path / "killed.db"
    stored_before = run_and_kill(path, killed, at_least=25)
    assert 25 <= stored_before < len(expected)
    unfinished = load_studies(killed)
    assert (unfinished["status"] != "done").any()

    summary = tunebench.run_suite(path, killed, progress=False)
    assert summary.studies_skipped >= 1  # finished studies are not run again
    assert summary.trials_run == len(expected) - stored_before  # nothing lost, nothing twice
    resumed = _trials(killed)
    assert resumed.equals(expected)
    assert (load_studies(killed)["status"] == "done").all()


def test_a_finished_suite_rerun_does_nothing(write_suite, tmp_path):
    path = write_suite(SUITE.replace("@DELAY@", "0.0"))
    tunebench.run_suite(path, tmp_path / "a.db", progress=False)
    again = tunebench.run_suite(path, tmp_path / "a.db", progress=False)
    assert again.trials_run == 0 and again.studies_skipped == again.studies_total


FINISHED = """
[suite]
name = "finished"
[budget]
trials = 3
[[tasks]]
name = "branin"
[[runners]]
name = "optuna.tpe"
[[runners]]
name = "nevergrad.ngopt"
"""

_PROBE = """
import sys
from tunebench.cli import main
sys.argv = ["tunebench", "run", sys.argv[1], "--db", sys.argv[2], "-q"]
try:
    main()
except SystemExit:
    pass
print("IMPORTED", sorted(m for m in ("optuna", "nevergrad", "hyperopt", "pandas") if m in sys.modules))
"""


def test_a_finished_suite_reruns_from_the_cli_without_loading_any_library(write_suite, tmp_path):
    import os
    import subprocess
    import sys

    path = write_suite(FINISHED)
    db = tmp_path / "f.db"
    tunebench.run_suite(path, db, progress=False)
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # (a serial run would re-execute itself first)
    done = subprocess.run([sys.executable, "-c", _PROBE, str(path), str(db)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert "all 2 studies of this suite are already finished" in done.stdout, done.stdout
    assert "IMPORTED []" in done.stdout  # nothing heavy: the store alone answered
    # One repetition more is work to do: the full path runs it.
    again = subprocess.run([sys.executable, "-m", "tunebench", "run", str(path), "--db", str(db),
                            "-q", "--repetitions", "2"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert again.returncode == 0 and "2 studies run, 2 already finished" in " ".join(
        again.stdout.split()), again.stdout


def test_a_different_suite_in_the_same_store_is_refused_unless_appended(write_suite, tmp_path):
    db = tmp_path / "a.db"
    tunebench.run_suite(write_suite(SUITE.replace("@DELAY@", "0.0")), db, progress=False)
    other = write_suite(SUITE.replace("@DELAY@", "0.0").replace("trials = 12", "trials = 13"), "o.toml")
    with pytest.raises(StoreError, match="--append"):
        tunebench.run_suite(other, db, progress=False)
    assert len(load_trials(db)) == 144  # nothing stored was touched
    tunebench.run_suite(other, db, progress=False, append=True)
    assert load_trials(db)["suite"].nunique() == 1  # same name, two fingerprints
    assert len(load_trials(db)) == 144 + 156


def test_adding_a_runner_or_task_changes_no_other_study(write_suite, tmp_path):
    small = write_suite("""
    [suite]
    name = "s"
    seed = 11
    repetitions = 2
    [budget]
    trials = 15
    [[tasks]]
    name = "branin"
    [[runners]]
    name = "random"
    """, "small.toml")
    large = write_suite("""
    [suite]
    name = "s"
    seed = 11
    repetitions = 2
    [budget]
    trials = 15
    [[tasks]]
    name = "hartmann3"
    [[tasks]]
    name = "branin"
    [[runners]]
    name = "grid"
    [[runners]]
    name = "random"
    """, "large.toml")
    tunebench.run_suite(small, tmp_path / "small.db", progress=False)
    tunebench.run_suite(large, tmp_path / "large.db", progress=False)
    a = _trials(tmp_path / "small.db")
    b = _trials(tmp_path / "large.db")
    b = b[(b["task"] == "branin") & (b["runner"] == "random")].reset_index(drop=True)
    assert a.equals(b)


def test_seeds_are_derived_from_names_and_stable():
    # A fixed value: if this changes, every stored result's seeds change with it.
    assert derive_seed(0, "runner", "branin", "random", 0) == derive_seed(0, "runner", "branin", "random", 0)
    assert derive_seed(0, "evaluation", "branin", 0) == 574198930
    assert derive_seed(0, "a", 1) != derive_seed(0, "a", "1")  # types are part of the name
    assert derive_seed(1, "evaluation", "branin", 0) != derive_seed(0, "evaluation", "branin", 0)
    assert all(0 <= derive_seed(i, "x") < 2**32 for i in range(100))


def test_the_grid_is_enumerated_lazily_and_completely():
    from tunebench.registry import make_task
    from tunebench.runners.baselines import Grid, GridSearch
    from tunebench.space import config_key

    space = make_task("linreg").space  # conditional: decay, momentum
    grid = Grid(space, 3)
    points = [grid[i] for i in range(len(grid))]
    assert len({config_key(p) for p in points}) == len(points)  # no point twice
    assert all(space.validate(p) == p for p in points)  # every point valid, conditions respected
    assert {p["optimizer"] for p in points} == {"sgd", "momentum", "adam"}
    assert all(("momentum" in p) == (p["optimizer"] == "momentum") for p in points)
    runner = GridSearch(space, "minimize", seed=3, resolution=3)
    asked = [config_key(runner.ask()) for _ in range(len(grid))]
    assert sorted(asked) == sorted(config_key(p) for p in points)  # one pass visits all
    with pytest.raises(IndexError):
        grid[len(grid)]


def test_a_huge_grid_is_sampled_without_replacement_not_refused():
    from tunebench.runners.baselines import GridSearch
    from tunebench.space import Float, Space, config_key

    space = Space({f"x{i}": Float(0.0, 1.0) for i in range(12)})  # 5**12 = 244 million points
    runner = GridSearch(space, "minimize", seed=0, resolution=5)
    asked = [runner.ask() for _ in range(500)]
    assert len({config_key(c) for c in asked}) == 500
    assert all(c[f"x{i}"] in (0.0, 0.25, 0.5, 0.75, 1.0) for c in asked for i in range(12))
    again = GridSearch(space, "minimize", seed=0, resolution=5)
    assert [again.ask() for _ in range(500)] == asked


def test_resume_refuses_to_mix_library_versions(write_suite, tmp_path):
    import sqlite3

    from tunebench.suite.run import ResumeError

    path = write_suite(SUITE.replace("@DELAY@", "0.0"))
    db = tmp_path / "a.db"
    tunebench.run_suite(path, db, progress=False)
    with sqlite3.connect(db) as conn:  # as if the first trials came from an older library
        conn.execute("UPDATE studies SET runner_version='0.0.1', status='running' WHERE id=1")
        conn.execute("DELETE FROM trials WHERE study_id=1 AND number >= 5")
    with pytest.raises(ResumeError, match=r"library version 0\.0\.1 → "):
        tunebench.run_suite(path, db, progress=False)
    assert len(load_trials(db)[lambda f: f["study_id"] == 1]) == 5  # nothing stored was touched


def test_resume_refuses_to_mix_trials_from_two_versions_of_the_task_code(write_suite, tmp_path):
    import sqlite3

    from tunebench.suite.run import ResumeError

    path = write_suite(SUITE.replace("@DELAY@", "0.0"))
    db = tmp_path / "a.db"
    tunebench.run_suite(path, db, progress=False)
    with sqlite3.connect(db) as conn:  # as if the task's source had been edited since
        assert all(code for (code,) in conn.execute("SELECT task_code FROM studies"))
        conn.execute("UPDATE studies SET task_code='0123456789abcdef', status='running' WHERE id=1")
        conn.execute("DELETE FROM trials WHERE study_id=1 AND number >= 5")
    with pytest.raises(ResumeError, match=r"source code \(hash\) 0123456789ab → [0-9a-f]{12}"):
        tunebench.run_suite(path, db, progress=False)
    assert len(load_trials(db)[lambda f: f["study_id"] == 1]) == 5  # nothing stored was touched
