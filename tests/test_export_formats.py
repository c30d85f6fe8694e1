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


def test_the_public_api_is_what_dir_shows_and_the_reports_palette_is_public() -> None:
    import seaborn as sns
    from matplotlib.colors import to_hex

    assert {"run_suite", "load_trials", "palette", "export_parquet", "Proposal"} <= set(dir(tunebench))
    assert all(hasattr(tunebench, name) for name in dir(tunebench))
    colours = tunebench.palette(["random", "optuna.tpe", "hyperband"])
    blind = [to_hex(c) for c in sns.color_palette("colorblind", 10)]
    assert colours["random"] == blind[7]  # grey: the baseline every line is read against
    assert len(set(colours.values())) == 3 and set(colours.values()) <= set(blind)


def test_a_multi_objective_study_exports_as_optuna_multi_objective_with_its_pareto_front(
        tmp_path: Path) -> None:
    """optuna-dashboard's Pareto-front plot reads directions and values: a multi-objective study
    is exported with its objectives' directions, names and every trial's vector; its best trials
    (optuna's Pareto front) are exactly the stored non-dominated trials."""
    plugin = Path(__file__).parent / "moo_tasks.py"
    path = tmp_path / "mo.toml"
    path.write_text(f'[suite]\nname = "mo"\nseed = 4\nplugins = ["{plugin}"]\n[budget]\n'
                    'trials = 25\n[[tasks]]\nname = "schaffer"\nobjectives = ["f1", "x"]\n'
                    '[[runners]]\nname = "optuna.nsga2"\n')
    db = tmp_path / "r.db"
    tunebench.run_suite(path, db, progress=False)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    assert CliRunner().invoke(app, ["export", "--db", str(db), "--optuna-storage",
                                    url]).exit_code == 0
    study = optuna.load_study(study_name="mo/schaffer/optuna.nsga2/0", storage=url)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    assert study.metric_names == ["f1", "x"]
    trials = load_trials(db)
    ok = trials[trials.status == "ok"]
    assert [t.values for t in study.trials if t.values] == \
        [[f1, x] for f1, x in zip(ok.objective_f1, ok.objective_x, strict=True)]
    # Non-dominated by hand: no other trial has f1 <= and x >= with one strictly better.
    front = {int(r.trial) for r in ok.itertuples() if not any(
        (o.objective_f1 <= r.objective_f1 and o.objective_x >= r.objective_x)
        and (o.objective_f1 < r.objective_f1 or o.objective_x > r.objective_x)
        for o in ok.itertuples())}
    assert {t.user_attrs["tunebench_trial"] for t in study.best_trials} == front
