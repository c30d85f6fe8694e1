"""Running what you mean: a suite's `exclude` pairs, `run --only`, and `run --dry-run`."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_suite_bounds import run_cli
from typer.testing import CliRunner

from tunebench.cli import app
from tunebench.suite.spec_parse import load_suite, suite_from_dict
from tunebench.suite.store import load_studies

SUITE = """
[suite]
name = "selection"
repetitions = 2
exclude = [{ task = "hartmann6", runner = "cma.cmaes" }]
[budget]
trials = 3
[[tasks]]
name = "branin"
[[tasks]]
name = "hartmann6"
[[runners]]
name = "random"
[[runners]]
name = "cma.cmaes"
"""


def write(tmp_path: Path, text: str = SUITE) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


def test_an_excluded_pair_plans_no_study_and_survives_the_store(tmp_path: Path) -> None:
    spec = load_suite(write(tmp_path))
    pairs = {(s.task.label, s.runner.label) for s in spec.studies()}
    assert ("hartmann6", "cma.cmaes") not in pairs and len(spec.studies()) == 6
    assert suite_from_dict(spec.to_dict()).exclude == spec.exclude  # stored and rebuilt
    without = load_suite(write(tmp_path, SUITE.replace(
        'exclude = [{ task = "hartmann6", runner = "cma.cmaes" }]\n', "")))
    assert without.fingerprint != spec.fingerprint and "exclude" not in without.to_dict()


@pytest.mark.parametrize(("exclude", "message"), [
    ('exclude = [{ task = "branin" }]', "suite.exclude[0]: must name a task and a runner"),
    ('exclude = [{ task = "nope", runner = "random" }]', "suite.exclude[0].task: 'nope' is not a "
     "task label of this suite"),
    ('exclude = "branin"', "suite.exclude: must be a list of tables"),
])
def test_a_bad_exclude_is_a_clear_error(tmp_path: Path, exclude: str, message: str) -> None:
    text = SUITE.replace('exclude = [{ task = "hartmann6", runner = "cma.cmaes" }]', exclude)
    code, output = run_cli(tmp_path, text)
    assert code == 2 and message in output, output


def test_only_runs_the_studies_asked_for_and_the_rest_later(tmp_path: Path) -> None:
    path, db = write(tmp_path), tmp_path / "r.db"
    result = CliRunner().invoke(app, ["run", str(path), "--db", str(db), "-q", "--only",
                                      "task=branin,runner=random", "--only", "task=hartmann6"])
    assert result.exit_code == 0, result.output
    # branin × random (2 repetitions) and every hartmann6 study (× random only: cma is excluded)
    assert "4 studies run" in " ".join(result.output.split())
    assert "2 left for later (--only)" in " ".join(result.output.split())
    done = load_studies(db)
    done = done[done.status == "done"]
    assert sorted(zip(done.task, done.runner, strict=True)) == \
        [("branin", "random")] * 2 + [("hartmann6", "random")] * 2
    result = CliRunner().invoke(app, ["run", str(path), "--db", str(db), "-q"])
    assert result.exit_code == 0 and (load_studies(db).status == "done").sum() == 6


def test_a_dry_run_shows_the_plan_and_runs_nothing(tmp_path: Path) -> None:
    path, db = write(tmp_path), tmp_path / "r.db"
    result = CliRunner().invoke(app, ["run", str(path), "--db", str(db), "--dry-run"],
                                env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "6 of 6 studies to run" in result.output
    assert "left out by declaration: hartmann6 × cma.cmaes" in result.output
    assert not db.exists()


def test_the_report_says_which_pairs_were_left_out(tmp_path: Path) -> None:
    from tunebench.reports.frames import build_frames, read_store
    from tunebench.reports.provenance import collect

    db = tmp_path / "r.db"
    result = CliRunner().invoke(app, ["run", str(write(tmp_path)), "--db", str(db), "-q"])
    assert result.exit_code == 0, result.output
    data = read_store(db)
    collected = collect(data, build_frames(data))
    notes = collected.notes
    assert any("leaves out by declaration hartmann6 × cma.cmaes" in note for note in notes), notes
    # A pair left out is not a runner with fewer repetitions.
    assert not any("different numbers of repetitions" in w for w in collected.warnings)


def test_a_seed_override_runs_another_suite_stored_with_its_seed(tmp_path: Path) -> None:
    path, db = write(tmp_path), tmp_path / "r.db"
    for seed in ("0", "5"):
        result = CliRunner().invoke(app, ["run", str(path), "--db", str(db), "-q", "--seed", seed,
                                          "--append"])
        assert result.exit_code == 0, result.output
    studies = load_studies(db)
    assert len(studies) == 12  # two suites of six studies: the seeds differ, so the suites do
    seeds = studies.groupby(["task", "runner", "repetition"]).eval_seed.nunique()
    assert (seeds == 2).all()
    result = CliRunner().invoke(app, ["run", str(path), "--db", str(db), "--seed", "-1"])
    assert result.exit_code == 2
