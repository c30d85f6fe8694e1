"""The report's headline and marks: what it concludes, bold only where significant, intervals inside
the metric's range, and what it says it cannot conclude. Decisions are checked against an
independent computation (scipy's signed-rank test per pair, Holm's step-down written out here)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from report_fixtures import small_store
from scipy import stats as sps

from tunebench.reports import build_report, decisions
from tunebench.reports.frames import StoreData
from tunebench.reports.provenance import environment_table, environments_for_reading
from tunebench.reports.render import fmt_interval
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store

FAST = {"n_boot": 50}
TASKS = [SynthTask("sphere", budget_amount=20),
         SynthTask("acc", direction="maximize", optimum=None, scale=0.5, best=0.95,
                   budget_amount=20)]


def independent_best(values: pd.DataFrame, alpha: float = 0.05) -> str | None:
    """The runner whose every pairwise difference is significant and in its favour (lower is
    better), by scipy's Wilcoxon per pair and Holm's step-down done by hand."""
    pairs = list(itertools.combinations(values.columns, 2))
    p = []
    for a, b in pairs:
        diff = values[a].to_numpy() - values[b].to_numpy()
        p.append(1.0 if not np.any(diff) else sps.wilcoxon(diff).pvalue)
    m = len(p)
    adjusted, running = np.empty(m), 0.0
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    for candidate in values.columns:
        wins = 0
        for (a, b), q in zip(pairs, adjusted, strict=True):
            if candidate in (a, b) and q < alpha:
                other = b if a == candidate else a
                if np.median(values[candidate] - values[other]) < 0:
                    wins += 1
        if wins == len(values.columns) - 1:
            return candidate
    return None


def test_bold_marks_only_the_significantly_best_runner_on_the_test_metric():
    data = synthetic_store(TASKS, [SynthRunner("random"), SynthRunner("tpe", power=8.0),
                                   SynthRunner("cma", power=1.5)], repetitions=12)
    report = build_report(data, **FAST)
    final = report.data.final
    table = report.tables["final_test"]
    winners = []
    for row in table.rows:
        task = row[0].text
        part = final[final["task"] == task]
        sign = -1.0 if part["direction"].iloc[0] == "maximize" else 1.0
        values = part.pivot(index="repetition", columns="runner", values="final_test") * sign
        expected = independent_best(values)
        bold = [c for c, cell in zip(table.columns[1:], row[1:], strict=True) if cell.bold]
        assert bold == ([expected] if expected else []), task
        winners.append(expected)
    assert "tpe" in winners  # the store is built so that a winner exists: the test can fail


def test_no_bold_and_a_plain_statement_where_repetitions_are_too_few():
    report = build_report(small_store(), **FAST)  # 3 runners × 5 repetitions: p ≥ 0.0625 per pair
    for name in ("final_test", "normalised_score", "final_ranks"):
        task_rows = [row for row in report.tables[name].rows if row[0].text in report.data.tasks]
        assert len(task_rows) == 2, name
        assert not any(cell.bold for row in task_rows for cell in row[1:]), name
    text = " ".join(t for _, t in report.headline)
    assert "5 repetitions cannot tell any two runners apart" in text
    assert "at least 7 repetitions" in text


def test_the_overall_sentence_follows_the_significance_table():
    data = synthetic_store(TASKS, [SynthRunner("random"), SynthRunner("tpe", power=8.0),
                                   SynthRunner("cma", power=1.5)], repetitions=8)
    report = build_report(data, **FAST)
    pairs = report.frames["wilcoxon"]
    significant = int(pairs["significant"].sum())
    first = report.headline[0][1]
    assert first.startswith("At 20 trials, over all tasks, ")
    assert f"{significant} of {len(pairs)} pairs differ significantly" in first
    for row in pairs[pairs["significant"]].sort_values("pvalue_holm").head(5).itertuples():
        p = "Holm p < 0.001" if row.pvalue_holm < 0.001 else f"Holm p = {row.pvalue_holm:.3f}"
        assert p in first  # how sure: the adjusted p-value of each difference named
    from tunebench.reports import stats

    matrix = stats.block_matrix(report.data.final).values
    expected = independent_best(matrix)
    assert (f"{expected} is significantly better" in first) if expected else \
        ("no runner is significantly better than every other" in first)


@pytest.mark.parametrize("runners", [2, 3, 5, 21])
def test_min_blocks_follow_the_exact_signed_rank_distribution(runners):
    n = decisions.min_blocks_for_significance(runners)
    pairs = runners * (runners - 1) / 2
    smallest = sps.wilcoxon(-np.arange(1.0, n + 1)).pvalue  # every block on one side
    fewer = sps.wilcoxon(-np.arange(1.0, n)).pvalue
    assert smallest * pairs < 0.05 <= fewer * pairs


def test_intervals_are_clipped_to_the_metric_range():
    assert "±" not in fmt_interval(0.6, -0.5, 1.7, (0.0, 1.0))
    assert fmt_interval(0.6, -0.5, 1.7, (0.0, 1.0)) == "0.60 [0.00, 1.00]"
    assert fmt_interval(0.6, 0.5, 0.7, (0.0, 1.0)) == "0.60 ± 0.10"
    data = synthetic_store([SynthTask("acc", direction="maximize", optimum=None, scale=0.9,
                                      best=0.95, budget_amount=5)],
                           [SynthRunner("random"), SynthRunner("tpe", power=2.0)], repetitions=2)
    report = build_report(data, **FAST)
    cells = [cell.text for row in report.tables["final_test"].rows for cell in row[1:]]
    numbers = [float(x) for text in cells for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", text)]
    assert numbers and all(0.0 <= x <= 1.0 for x in numbers), cells
    assert any("[" in text for text in cells)  # two repetitions: t interval clipped at least once
    detail = report.tables["final_test_detail"]
    low, high = detail.columns.index("95% CI low"), detail.columns.index("95% CI high")
    shown = [float(row[i].text) for row in detail.rows for i in (low, high)]
    assert all(0.0 <= x <= 1.0 for x in shown), shown
    raw = report.frames["final_test"]
    assert (raw["ci_low"] < 0).any() or (raw["ci_high"] > 1).any()  # there was something to clip


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
    data = _identical(small_store(), "cma")
    studies = data.studies.assign(degenerate=data.studies["runner"] == "tpe")
    report = build_report(StoreData(data.trials, studies, data.environments, data.suite_specs),
                          **FAST)
    note = next(t for _, t in report.headline if t.startswith("Identical repetitions"))
    assert "cma on sphere" in note and "cma on acc" in note  # detected from the values
    assert "tpe on sphere" in note  # flagged by the store
    assert "random on" not in note
    plain = build_report(small_store(), **FAST)
    assert not any(t.startswith("Identical repetitions") for _, t in plain.headline)


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
