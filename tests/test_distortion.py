"""The distortion check: rankings on a table's replay against the real task, Kendall's tau and the
pairwise conclusions that flip — checked against hand-built stores whose answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from typer.testing import CliRunner

import tunebench
from tunebench.cli import app
from tunebench.reports.distortion import compare_task, distortion

REPLAY = """
[suite]
name = "replay"
repetitions = 4
[budget]
epochs = 150
[[tasks]]
name = "table/linreg"
[[runners]]
name = "random"
[[runners]]
name = "hyperband"
"""


def rows(values: dict[str, list[float]], direction: str = "minimize") -> pd.DataFrame:
    return pd.DataFrame([{"task": "t", "task_name": "t", "runner": r, "repetition": i,
                          "best_value": v, "direction": direction}
                         for r, vs in values.items() for i, v in enumerate(vs)])


def test_identical_rankings_give_tau_one_and_no_flip() -> None:
    data = {"a": [1.0, 1.1, 0.9], "b": [2.0, 2.1, 1.9], "c": [3.0, 3.2, 2.9]}
    _, tau, _, pairs = compare_task(rows(data), rows(data))
    assert tau == 1.0 and not any(p.flips for p in pairs)


def test_a_reversed_pair_flips_and_tau_is_scipys() -> None:
    rng = np.random.default_rng(0)
    replay = {r: list(rng.normal(m, 0.05, 12)) for r, m in (("a", 1), ("b", 2), ("c", 3))}
    real = {r: list(rng.normal(m, 0.05, 12)) for r, m in (("a", 2), ("b", 1), ("c", 3))}
    _, tau, _, pairs = compare_task(rows(replay), rows(real))
    expected = stats.kendalltau([1, 2, 3], [2, 1, 3])
    assert tau == expected.statistic
    flipped = [p for p in pairs if p.flips]
    assert [(p.a, p.b) for p in flipped] == [("a", "b")]
    assert flipped[0].better_replay == "a" and flipped[0].better_real == "b"
    assert flipped[0].contradicts(0.05)  # both sides significant: a contradiction
    # Under maximisation the same numbers name the other runner better.
    _, _, _, pairs_max = compare_task(rows(replay, "maximize"), rows(real, "maximize"))
    assert next(p for p in pairs_max if p.flips).better_replay == "b"


def test_a_replay_store_is_matched_to_the_real_task_it_was_built_from(tmp_path: Path) -> None:
    (tmp_path / "replay.toml").write_text(REPLAY)
    (tmp_path / "real.toml").write_text(REPLAY.replace('"table/linreg"', '"linreg"')
                                        .replace('"replay"', '"real"'))
    tunebench.run_suite(tmp_path / "replay.toml", tmp_path / "replay.db", progress=False)
    tunebench.run_suite(tmp_path / "real.toml", tmp_path / "real.db", progress=False)
    [result] = distortion(tmp_path / "replay.db", tmp_path / "real.db")
    assert (result.replay_task, result.real_task) == ("table/linreg", "linreg")
    assert list(result.means.index) == ["hyperband", "random"]
    out = CliRunner().invoke(app, ["distortion", "--replay", str(tmp_path / "replay.db"), "--real",
                                   str(tmp_path / "real.db"), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data[0]["real_task"] == "linreg" and len(data[0]["pairs"]) == 1


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["distortion", "--replay", str(tmp_path / "x.db"), "--real",
                                   str(tmp_path / "y.db")])
    assert out.exit_code == 2 and "no such results store" in out.output
    out = CliRunner().invoke(app, ["distortion", "--replay", "a", "--real", "b", "--pair", "nope"])
    assert out.exit_code == 2 and "REPLAY_TASK=REAL_TASK" in out.output
