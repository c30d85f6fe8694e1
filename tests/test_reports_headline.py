"""The report's headline: what it concludes, overall and per task, in agreement with the tables
it opens (the significance table, the final table's bold, the paired differences against random
search), and what it says it cannot conclude; the pairwise matrix; merged environments."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from report_fixtures import small_store
from scipy import stats as sps

from tunebench.reports import build_report, decisions
from tunebench.reports.frames import StoreData
from tunebench.reports.provenance import environment_table, environments_for_reading
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store

FAST = {"n_boot": 50}
TASKS = [SynthTask("sphere", budget_amount=20),
         SynthTask("acc", direction="maximize", optimum=None, scale=0.5, best=0.95,
                   budget_amount=20)]


def test_the_headline_names_the_runner_the_final_table_bolds():
    data = synthetic_store(TASKS, [SynthRunner("random"), SynthRunner("tpe", power=8.0),
                                   SynthRunner("cma", power=1.5)], repetitions=12)
    report = build_report(data, **FAST)
    table = report.tables["final_test"]
    said = {t: text for _, text in report.headline for t in report.data.tasks
            if text.startswith(f"On {t} (")}
    winners = []
    for row in table.rows:
        task = row[0].text
        bold = [c for c, cell in zip(table.columns[1:], row[1:], strict=True) if cell.bold]
        assert len(bold) <= 1
        if bold:
            assert f"{bold[0]} is significantly best" in said[task]
        else:
            assert "no runner is significantly better than every other" in said[task]
        winners += bold
    assert winners  # the store is built so that a winner exists: the test can fail
    versus = report.frames["vs_random_test"]
    for row in versus[versus["better"] == versus["runner"]].itertuples():
        assert f"{row.runner} (Holm p" in said[row.task]  # and how sure, from the paired table


def test_no_bold_and_a_plain_statement_where_repetitions_are_too_few():
    report = build_report(small_store(), **FAST)  # 3 runners × 5 repetitions: p ≥ 0.0625 per pair
    assert not any(cell.bold for row in report.tables["final_test"].rows for cell in row[1:])
    text = " ".join(t for _, t in report.headline)
    assert "5 repetitions cannot make any runner significantly better than another" in text
    assert "at least 7 repetitions" in text  # 2/2^6 × 2 comparisons ≥ 0.05 > 2/2^7 × 2
    # 10 (task, repetition) blocks, 3 pairs: enough for a pair, so no "too few blocks" warning
    assert not any("are too few for any pair" in t for _, t in report.headline)
    two = build_report(small_store(repetitions=2), **FAST)
    warning = next(t for k, t in two.headline if k == "warn" and "too few for any pair" in t)
    assert warning.startswith("4 (task, repetition) blocks are too few")


def test_the_overall_sentence_follows_the_significance_table():
    data = synthetic_store(TASKS, [SynthRunner("random"), SynthRunner("tpe", power=8.0),
                                   SynthRunner("cma", power=1.5)], repetitions=8)
    report = build_report(data, **FAST)
    pairs = report.frames["wilcoxon"]
    significant = int(pairs["significant"].sum())
    first = report.headline[0][1]
    assert first.startswith("At 20 trials, over all tasks, ")
    assert "(task, repetition) blocks, pseudo-replicated" in first  # two tasks: r2's fallback
    assert f"{significant} of {len(pairs)} pairs differ significantly" in first
    for row in pairs[pairs["significant"]].sort_values("pvalue_holm").head(5).itertuples():
        p = "Holm p < 0.001" if row.pvalue_holm < 0.001 else f"Holm p = {row.pvalue_holm:.3f}"
        assert p in first  # how sure: the adjusted p-value of each difference named
    # the runner on the winning side of every one of its pairs, read off the page's own table
    expected = None
    for runner in report.data.runners:
        mine = pairs[(pairs["runner_a"] == runner) | (pairs["runner_b"] == runner)]
        won = [(r.runner_a == runner) == (r.median_difference < 0) for r in mine.itertuples()]
        if mine["significant"].all() and all(won):
            expected = runner
    assert (f"{expected} is significantly better" in first) if expected else \
        ("no runner is significantly better than every other" in first)


@pytest.mark.parametrize("pairs", [1, 2, 3, 20, 210])
def test_min_blocks_follow_the_exact_signed_rank_distribution(pairs):
    n = decisions.min_blocks(pairs)
    smallest = sps.wilcoxon(-np.arange(1.0, n + 1)).pvalue  # every block on one side
    fewer = sps.wilcoxon(-np.arange(1.0, n)).pvalue
    assert smallest * pairs < 0.05 <= fewer * pairs


def test_no_interval_leaves_the_metric_range():
    data = synthetic_store([SynthTask("acc", direction="maximize", optimum=None, scale=0.9,
                                      best=0.95, budget_amount=5)],
                           [SynthRunner("random"), SynthRunner("tpe", power=2.0)], repetitions=2)
    report = build_report(data, **FAST)
    cells = [cell.text for row in report.tables["final_test"].rows for cell in row[1:]]
    numbers = [float(x) for text in cells for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", text)]
    assert numbers and all(0.0 <= x <= 1.0 for x in numbers), cells


def _identical(data: StoreData, runner: str) -> StoreData:
    """Every repetition of ``runner`` made a copy of its repetition 0."""
    trials = data.trials.copy()
    for task in trials["task"].unique():
        mine = (trials["task"] == task) & (trials["runner"] == runner)
        first = trials[mine & (trials["repetition"] == 0)]
        for rep in trials.loc[mine, "repetition"].unique():
            rows = mine & (trials["repetition"] == rep)
            for column in ("value", "test_value", "best_value", "best_test_value", "status"):
                trials.loc[rows, column] = first[column].to_numpy()
    return StoreData(trials, data.studies, data.environments, data.suite_specs)


def test_identical_repetitions_are_named():
    """A store that compared trial sequences (its identical_to column) is trusted, a mark of 0
    ("repeats repetition 0") included; an older store without it is read from equal values."""
    note_of = lambda report: next(  # noqa: E731
        (t for _, t in report.headline if t.startswith("Repetitions that repeat")), "")
    data = _identical(small_store(), "cma")
    assert "identical_to" not in data.studies
    older = note_of(build_report(data, **FAST))
    assert "cma on sphere (1 distinct of" in older and "cma on acc" in older  # from the values
    assert "tpe on" not in older and "random on" not in older
    studies = data.studies
    tpe = studies[(studies["runner"] == "tpe") & (studies["task"] == "sphere")]
    marks = pd.Series(pd.NA, index=studies.index, dtype="Int64")
    marks[tpe.index[tpe["repetition"] > 0]] = 0  # repetition 0's number: a mark, not "false"
    studies = studies.assign(identical_to=marks)
    note = note_of(build_report(StoreData(data.trials, studies, data.environments,
                                          data.suite_specs), **FAST))
    n = tpe["repetition"].nunique()
    assert f"tpe on sphere (1 distinct of {n})" in note and "tpe on acc" not in note
    assert "cma on" not in note  # the store compared sequences and marked none of cma's
    plain = build_report(small_store(), **FAST)
    assert not note_of(plain)


def test_a_budget_inside_the_startup_phase_is_a_warning():
    runners = [SynthRunner("random"), SynthRunner("tpe", power=2.0, runner_name="optuna.tpe")]
    data = synthetic_store([SynthTask("sphere", budget_amount=8)], runners, repetitions=3)
    report = build_report(data, **FAST)
    warning = next(t for k, t in report.headline if t.startswith("Budget inside"))
    # optuna's TPESampler draws n_startup_trials = 10 random trials before its model.
    assert "tpe on sphere (8 trials, n_startup_trials = 10)" in warning
    options = data.studies.assign(runner_options=[{"n_startup_trials": 4}] * len(data.studies))
    report = build_report(StoreData(data.trials, options, data.environments, data.suite_specs),
                          **FAST)
    assert not any(t.startswith("Budget inside") for _, t in report.headline)


def test_many_runners_get_a_pairwise_matrix_instead_of_a_long_table():
    runners = [SynthRunner("random")] + [SynthRunner(f"r{i}", power=1.0 + i) for i in range(9)]
    report = build_report(synthetic_store(TASKS, runners, repetitions=8), **FAST)
    shown = [p for s in report.sections for k, p in s.items if k == "table"]
    assert "wilcoxon_matrix" in shown and "wilcoxon" not in shown and "win_rates" not in shown
    assert "wilcoxon" in report.tables  # still written as CSV
    matrix = report.tables["wilcoxon_matrix"]
    order = [cell.text.split(" ", 1)[1] for cell in (row[0] for row in matrix.rows)]
    assert len(matrix.rows) == 10 and len(matrix.columns) == 11
    checked = 0
    for row in report.frames["wilcoxon"].itertuples():
        a, b = order.index(row.runner_a), order.index(row.runner_b)
        cell_ab, cell_ba = matrix.rows[a][b + 1], matrix.rows[b][a + 1]
        # the median paired difference says who is better; on a tie of medians, who wins more
        a_better = (row.median_difference < 0 if row.median_difference != 0
                    else row.a_better > row.b_better)
        assert cell_ab.text[0] == ("+" if a_better else "−")
        assert cell_ba.text[0] == ("−" if a_better else "+")
        assert cell_ab.bold == (bool(row.significant) and a_better)
        assert cell_ba.bold == (bool(row.significant) and not a_better)
        checked += row.significant
    assert checked > 0  # some pairs differ, so bold is exercised


def test_environments_listing_libraries_in_another_order_are_one():
    base = {"python": "3.12.1", "hostname": "h", "packages": {"numpy": "2.0"},
            "git_revision": "abc123",
            "blas": [{"internal_api": "openblas", "num_threads": 2},
                     {"internal_api": "openmp", "num_threads": 2}],
            "torch": {"version": "2.5", "threads": 2}}
    reordered = {**base, "blas": base["blas"][::-1]}
    # as recorded before torch was imported: no torch facts, and torch's own OpenMP runtime,
    # a second pool like the first, not yet listed
    loaded = {**base, "blas": [*base["blas"], base["blas"][1]]}
    no_torch = {**base, "torch": None}
    other = {**base, "packages": {"numpy": "2.1"}}
    fewer_threads = {**reordered, "blas": [{"internal_api": "openblas", "num_threads": 1},
                                           {"internal_api": "openmp", "num_threads": 2}]}
    table = environment_table({1: loaded, 2: reordered, 3: no_torch, 4: other, 5: fewer_threads})
    assert list(table["env_id"]) == ["1, 2, 3", "4", "5"]
    assert list(table["torch_threads"]) == [2, 2, 2]
    assert set(table["git_revision"]) == {"abc123"}
    alone = environment_table({5: no_torch})
    assert alone["torch"].iloc[0] == "not imported" and alone["torch_threads"].iloc[0] is None
    shown = environments_for_reading(alone)
    assert "nan" not in " ".join(map(str, shown.to_numpy().ravel())).lower()
    assert "git revision" in shown.index
