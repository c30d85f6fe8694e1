"""Exports other tools read: Parquet files that give back the loaders' frames exactly, and an
optuna storage that optuna itself opens with the same best values per study."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tunebench
from tunebench.cli import app
from tunebench.suite.export_formats import read_parquet_export
from tunebench.suite.loading import load_curves, load_studies, load_trials

SUITE = """
[suite]
name = "export"
repetitions = 2
[budget]
epochs = 60
[[tasks]]
name = "mf_hartmann6"
[[tasks]]
name = "linreg"
options = { max_epochs = 3 }
[[runners]]
name = "hyperband"
[[runners]]
name = "optuna.tpe"
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    path = folder / "suite.toml"
    path.write_text(SUITE)
    db = folder / "r.db"
    tunebench.run_suite(path, db, progress=False)
    return db


def test_a_parquet_export_gives_back_the_loaders_frames_exactly(store: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", "--db", str(store), "--format", "parquet",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    frames = read_parquet_export(tmp_path / "out")
    pd.testing.assert_frame_equal(frames["trials"], load_trials(store))
    pd.testing.assert_frame_equal(frames["curves"], load_curves(store))
    pd.testing.assert_frame_equal(frames["studies"], load_studies(store))
    # Read as any Parquet reader does: dicts are JSON text, named in the metadata.
    table = pq.read_table(tmp_path / "out" / "trials.parquet")
    assert b'"config"' in table.schema.metadata[b"tunebench.json_columns"]
    assert str(table.column("config").type) in ("string", "large_string")


def test_an_optuna_export_opens_in_optuna_with_the_same_best_values(store: Path,
                                                                   tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = CliRunner().invoke(app, ["export", "--db", str(store), "--optuna-storage", url])
    assert result.exit_code == 0, result.output
    trials = load_trials(store)
    summaries = optuna.get_all_study_summaries(url)
    assert len(summaries) == 8
    for (suite, task, runner, rep), rows in trials.groupby(["suite", "task", "runner",
                                                            "repetition"]):
        study = optuna.load_study(study_name=f"{suite}/{task}/{runner}/{rep}", storage=url)
        ok = rows[rows.status == "ok"]
        best = ok.value.min() if rows.direction.iloc[0] == "minimize" else ok.value.max()
        assert study.best_value == best
        assert len(study.trials) == len(rows)
        states = [t.state.name for t in study.trials]
        assert states.count("COMPLETE") == len(ok)
        first = study.trials[0]
        assert first.params == rows.config.iloc[0]
        assert first.user_attrs["tunebench_trial"] == 0
    # Learning curves arrive as intermediate values (hyperband's rungs on mf_hartmann6).
    hb = optuna.load_study(study_name="export/mf_hartmann6/hyperband/0", storage=url)
    assert any(len(t.intermediate_values) > 1 for t in hb.trials)


def test_export_errors_are_clear(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", "--db", str(tmp_path / "none.db"), "-o",
                                      str(tmp_path / "x")])
    assert result.exit_code == 2 and "no such results store" in result.output
    result = CliRunner().invoke(app, ["export", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "nothing to write" in result.output
