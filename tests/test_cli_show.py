"""`tunebench show` on a real SQLite store: regrets against each repetition's own reference, paired
differences against random search, the best configuration, readable at 80 columns in a terminal
(a real pseudo-terminal) and in a pipe."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.cells import cell_len
from scipy import stats as sps

from tunebench.cli.show import best_frame, summary_frame
from tunebench.reports.frames import StoreData
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store, write_store

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
#: The optimum of each repetition's split: far apart, as linreg's are (3108.9, 2004.2, 3103.6).
SHIFTS = {0: 3108.9, 1: 2004.2, 2: 3103.6, 3: 2500.0}


def shifted_store(runners: list[SynthRunner]) -> StoreData:
    """A task whose optimum depends on the repetition (known per seed), and one that knows none."""
    tasks = [SynthTask("split", budget_amount=12, scale=100.0),
             SynthTask("acc", direction="maximize", optimum=None, scale=0.5, best=0.95,
                       budget_amount=12)]
    data = synthetic_store(tasks, runners, repetitions=len(SHIFTS), seed=3)
    trials, studies = data.trials.copy(), data.studies.copy()
    on = trials["task"] == "split"
    shift = trials.loc[on, "repetition"].map(SHIFTS)
    for column in ("value", "test_value", "best_value", "best_test_value", "optimum"):
        trials.loc[on, column] = trials.loc[on, column] + shift
    son = studies["task"] == "split"
    studies.loc[son, "optimum"] = studies.loc[son, "repetition"].map(SHIFTS)
    return StoreData(trials, studies, data.environments, data.suite_specs)


def hand_regrets(data: StoreData) -> pd.DataFrame:
    """Per study, by hand: final best against the optimum of its repetition (split) or the best
    value any runner reached in its repetition (acc)."""
    ok = data.trials[data.trials["status"] == "ok"]
    rows = []
    for (task, runner, rep), group in ok.groupby(["task", "runner", "repetition"]):
        if task == "split":
            regret = group["value"].min() - SHIFTS[rep]
        else:
            best_in_rep = ok[(ok["task"] == "acc") & (ok["repetition"] == rep)]["value"].max()
            regret = best_in_rep - group["value"].max()
        rows.append({"task": task, "runner": runner, "repetition": rep, "regret": regret})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data = shifted_store([SynthRunner("random"), SynthRunner("tpe", power=3.0),
                          SynthRunner("a-runner-with-a-long-name", power=2.0)])
    db = tmp_path_factory.mktemp("show") / "results.db"
    write_store(data, db)
    return data, db


def test_each_repetition_is_measured_against_its_own_reference(store):
    data, db = store
    frame = summary_frame(db)
    expected = hand_regrets(data)
    assert (expected["regret"] >= 0).all() and expected["regret"].max() < 100  # not ~1000s
    for row in frame.itertuples():
        mine = expected[(expected["task"] == row.task) & (expected["runner"] == row.runner)]
        assert row.regret == pytest.approx(mine["regret"].mean(), rel=1e-9, abs=1e-12)


def test_the_spread_is_of_paired_differences_against_random(store):
    data, db = store
    frame = summary_frame(db)
    expected = hand_regrets(data).pivot_table(index=["task", "repetition"], columns="runner",
                                              values="regret")
    for row in frame[frame["runner"] != "random"].itertuples():
        diff = (expected.loc[row.task, row.runner] - expected.loc[row.task, "random"]).to_numpy()
        half = sps.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))
        assert row.delta == pytest.approx(diff.mean(), rel=1e-9)
        assert row.delta_half == pytest.approx(half, rel=1e-9)
        assert row.pairs == len(SHIFTS)
    # The spread over repetitions of the best value is mostly the splits' (hundreds): never shown.
    split = data.trials[data.trials["task"] == "split"].groupby("study_id")["best_value"].last()
    assert split.std() > 100
    assert (frame.loc[frame["task"] == "split", "delta_half"].dropna() < 100).all()


def test_the_best_configuration_is_the_best_trial_over_all_repetitions(store):
    data, db = store
    best = best_frame(db)
    ok = data.trials[data.trials["status"] == "ok"]
    for row in best.itertuples():
        mine = ok[(ok["task"] == row.task) & (ok["runner"] == row.runner)]
        top = mine.loc[mine["value"].idxmax() if row.task == "acc" else mine["value"].idxmin()]
        assert row.value == pytest.approx(top["value"]) and row.config == top["config"]
        assert row.repetition == top["repetition"] and row.trial == top["trial"]
    assert len(best) == 6


def _run(db: Path, *, terminal: bool, args: tuple[str, ...] = ()) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TERM": "xterm"}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    command = [sys.executable, "-m", "tunebench", "show", "--db", str(db), *args]
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120,
                              check=True)
        return done.stdout
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
    proc = subprocess.Popen(command, stdout=slave, stderr=slave, stdin=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    return b"".join(chunks).decode()


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal-80", "pipe"])
def test_show_fits_80_columns(store, terminal):
    _, db = store
    out = _run(db, terminal=terminal, args=() if terminal else ("--format", "table"))
    assert ("\x1b[" in out) == terminal  # a real terminal gets colour codes, a pipe none
    lines = ANSI.sub("", out).replace("\r", "").splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    text = " ".join(" ".join(lines).split())  # titles wrap at 80 columns
    assert "best configuration" in text and "x=" in text
    assert "regret from the optimum of each repetition" in text
    assert "regret from the best value seen in each repetition" in text
    assert "Δ vs random" in text and "baseline" in text
    assert "a-runner-with-a-long-name".replace("-", "") in re.sub(r"[\s│-]", "", text)


def test_without_random_search_no_spread_is_printed(tmp_path):
    data = shifted_store([SynthRunner("tpe", power=3.0), SynthRunner("cma", power=2.0)])
    write_store(data, tmp_path / "r.db")
    out = _run(tmp_path / "r.db", terminal=False, args=("--format", "table"))
    assert "±" not in out
    assert "No random-search runner" in out
    frame = summary_frame(tmp_path / "r.db")
    assert np.isnan(frame["delta"]).all()


def test_a_pipe_gets_one_plain_line_per_task_and_runner(store):
    _, db = store
    frame = summary_frame(db)
    lines = _run(db, terminal=False).splitlines()
    assert len(lines) == len(frame) and not any(c in "".join(lines) for c in "│─┃━")
    for line, row in zip(lines, frame.itertuples(), strict=True):
        suite, task, runner, regret, *_ = line.split()
        assert (suite, task, runner) == (row.suite, row.task, row.runner)  # full names
        assert float(regret) == pytest.approx(row.regret, rel=1e-3)


@pytest.mark.parametrize("fmt", ["json", "tsv", "csv"])
def test_machine_formats_carry_the_summary_and_best_configuration(store, fmt):
    _, db = store
    frame, best = summary_frame(db), best_frame(db)
    out = _run(db, terminal=False, args=("--format", fmt))
    if fmt == "json":
        records = json.loads(out)
    else:
        records = list(csv.DictReader(io.StringIO(out), delimiter="\t" if fmt == "tsv" else ","))
    assert len(records) == len(frame)
    tops = {(r.task, r.runner): r for r in best.itertuples()}
    for record, row in zip(records, frame.itertuples(), strict=True):
        assert record["runner"] == row.runner
        assert float(record["mean_regret"]) == pytest.approx(row.regret, rel=1e-12)
        if row.runner == "random":
            assert record["delta_vs_random"] in (None, "")
        else:
            assert float(record["delta_vs_random"]) == pytest.approx(row.delta, rel=1e-12)
        top = tops[(row.task, row.runner)]
        assert float(record["best_value"]) == pytest.approx(top.value, rel=1e-12)
        config = record["best_config"] if fmt == "json" else json.loads(record["best_config"])
        assert config == pytest.approx(dict(top.config))
