"""The report's multi-objective section, on a real store: Schaffer's problem with two and with
three objectives (random search and NSGA-II, three repetitions, 40 trials) beside a
single-objective entry of the same task.

Every number is checked against a computation written here from the stored objective columns:
a 2-D staircase sum and a 3-D sum of slices for the hypervolumes, scipy's Student-t interval and
Wilcoxon test for the statistics, a brute-force dominance check for the Pareto tables.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tunebench import run_suite
from tunebench.reports import build_report, write_report
from tunebench.reports.frames import StoreData, read_store
from tunebench.reports.render import fmt
from tunebench.suite.store import load_trials

MOO = Path(__file__).parent / "moo_tasks.py"
MULTI = ("schaffer", "schaffer3")
SINGLE = "schaffer_single"
RUNNERS = ("optuna.nsga2", "random")
TRIALS, REPETITIONS = 40, 3
#: Schaffer's true front f2 = (√f1 − 2)², f1 in [0, 4], under the reference (4, 4): ∫ 4√f − f.
SCHAFFER_OPTIMAL_HV = 40.0 / 3.0

SINGLE_OBJECTIVE_SECTIONS = ("sample-efficiency", "final-accuracy", "best-configurations",
                             "normalised-score", "ranks", "significance", "anytime")


def write_suite(folder: Path) -> Path:
    path = folder / "mo.toml"
    runners = "".join(f'\n[[runners]]\nname = "{r}"\n' for r in RUNNERS)
    path.write_text(f"""
[suite]
name = "mo"
seed = 5
repetitions = {REPETITIONS}
plugins = ["{MOO}"]
[budget]
trials = {TRIALS}
[[tasks]]
name = "schaffer"
objectives = ["f1", "f2"]
[[tasks]]
name = "schaffer"
label = "schaffer3"
objectives = "all"
[[tasks]]
name = "schaffer"
label = "{SINGLE}"
{runners}""")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mo")
    db = folder / "mo.db"
    run_suite(write_suite(folder), db, progress=False)
    return db


@pytest.fixture(scope="module")
def report(store):
    return build_report(store)


@pytest.fixture(scope="module")
def written(report, tmp_path_factory):
    return write_report(report, tmp_path_factory.mktemp("mo-report"))


# -- independent computations -------------------------------------------------------------------

def losses(trials: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Successful trials' objectives in minimisation form (x is maximised), and the reference."""
    ok = trials[trials["status"] == "ok"]
    if task == "schaffer":
        return ok[["objective_f1", "objective_f2"]].to_numpy(float), np.array([4.0, 4.0])
    points = ok[["objective_f1", "objective_f2", "objective_x"]].to_numpy(float)
    return points * np.array([1.0, 1.0, -1.0]), np.array([4.0, 4.0, 5.0])


def staircase(points: np.ndarray, ref: np.ndarray) -> float:
    """2-D hypervolume: sweep by the first objective, add each rectangle a point newly covers."""
    inside = sorted(map(tuple, points[(points < ref).all(axis=1)]))
    area, level = 0.0, ref[1]
    for a, b in inside:
        if b < level:
            area += (ref[0] - a) * (level - b)
            level = b
    return area


def volume(points: np.ndarray, ref: np.ndarray) -> float:
    """2-D staircase, or in 3-D the sum of slices along the third objective."""
    if points.shape[1] == 2:
        return staircase(points, ref)
    inside = points[(points < ref).all(axis=1)]
    levels = np.unique(inside[:, 2])
    tops = np.append(levels[1:], ref[2])
    return float(sum(staircase(inside[inside[:, 2] <= z][:, :2], ref[:2]) * (top - z)
                     for z, top in zip(levels, tops, strict=True)))


def study_volumes(trials: pd.DataFrame, task: str, upto: float = math.inf) -> pd.DataFrame:
    """Per study of ``task``: its hypervolume over trials whose cumulative budget is <= upto."""
    rows = []
    for (runner, repetition), study in trials[trials["task"] == task].groupby(
            ["runner", "repetition"]):
        points, ref = losses(study[study["budget_spent"] <= upto], task)
        rows.append({"runner": runner, "repetition": repetition, "hv": volume(points, ref)})
    return pd.DataFrame(rows)


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(values))
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, float(lo), float(hi)


def brute_front(points: np.ndarray) -> np.ndarray:
    """Rows no other row dominates (at least as good everywhere, better somewhere)."""
    keep = np.ones(len(points), dtype=bool)
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            if i != j and np.all(q <= p) and np.any(q < p):
                keep[i] = False
                break
    return keep


# -- (a) hypervolumes ------------------------------------------------------------------------------

@pytest.mark.parametrize("task", MULTI)
def test_the_final_hypervolume_of_every_study_is_the_volume_its_trials_dominate(
        report, store, task):
    mine = study_volumes(load_trials(store), task)
    final = report.frames["final_hypervolume"]
    final = final[final["task"] == task].set_index(["runner", "repetition"])["final_value"]
    assert len(mine) == len(RUNNERS) * REPETITIONS
    for row in mine.itertuples():
        assert final[(row.runner, row.repetition)] == pytest.approx(row.hv, rel=1e-12), row
    assert (mine["hv"] > 0).all()  # every study found points inside the box (a real check)
    if task == "schaffer":  # and none beats the true front's volume
        assert (mine["hv"] < SCHAFFER_OPTIMAL_HV).all()


@pytest.mark.parametrize("runner", RUNNERS)
def test_the_final_table_shows_the_mean_and_student_t_interval(report, store, runner):
    mine = study_volumes(load_trials(store), "schaffer")
    mean, lo, hi = t_interval(mine.loc[mine["runner"] == runner, "hv"].to_numpy())
    lo = max(lo, 0.0)  # a hypervolume is never negative: the table cuts the interval there
    table = report.tables["final_hypervolume"]
    row = next(r for r in table.rows if r[0].text == "schaffer")
    cell = row[table.columns.index(runner)]
    assert cell.text == f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]"
    assert not cell.bold  # three repetitions: no test can make a runner significantly best


@pytest.mark.parametrize("budget", [10, 20, 40])
def test_the_hypervolume_curve_is_the_mean_of_the_studies_at_that_budget(report, store, budget):
    trials = load_trials(store)
    curves = report.frames["hypervolume_curves"]
    for task in MULTI:
        mine = study_volumes(trials, task, upto=budget)
        for runner in RUNNERS:
            mean, lo, hi = t_interval(mine.loc[mine["runner"] == runner, "hv"].to_numpy())
            point = curves[(curves["task"] == task) & (curves["runner"] == runner)
                           & np.isclose(curves["budget"], budget)]
            assert len(point) == 1 and point["quantity"].iloc[0] == "hypervolume"
            assert point["center"].iloc[0] == pytest.approx(mean, rel=1e-12)
            assert point["lo"].iloc[0] == pytest.approx(max(lo, 0.0), rel=1e-9, abs=1e-12)
            assert point["hi"].iloc[0] == pytest.approx(hi, rel=1e-9)
            assert int(point["n"].iloc[0]) == REPETITIONS


def test_the_runners_are_compared_as_the_single_objective_final_values_are(report, store):
    """Two tasks (fewer than three): (task, repetition) blocks, each task's hypervolumes as
    losses scaled to [0, 1], a two-sided Wilcoxon signed-rank test of A − B."""
    trials = load_trials(store)
    blocks = []
    for task in MULTI:
        mine = study_volumes(trials, task)
        loss = -mine["hv"]
        mine["scaled"] = (loss - loss.min()) / (loss.max() - loss.min())
        blocks.append(mine.pivot(index="repetition", columns="runner", values="scaled"))
    matrix = pd.concat(blocks)
    expected = stats.wilcoxon(matrix["optuna.nsga2"] - matrix["random"]).pvalue
    pairs = report.frames["multi_objective_pairwise"]
    assert list(zip(pairs["runner_a"], pairs["runner_b"], strict=True)) == [RUNNERS]
    assert int(pairs["n"].iloc[0]) == len(MULTI) * REPETITIONS
    assert pairs["pvalue"].iloc[0] == pytest.approx(expected, rel=1e-12)
    text = _section_text(report, "multi-objective")
    assert "(task, repetition) pairs" in text and "pseudo-replication" in text


def test_a_known_optimum_gives_regrets_and_machine_dependent_objectives_are_flagged(store):
    """The same store, its Schaffer studies' record given the true front's hypervolume and f2
    marked machine-dependent, their device model named."""
    data = read_store(store)
    studies = data.studies.copy()
    rows = studies["task"] == "schaffer"
    records = []
    for record in studies.loc[rows, "objectives"]:
        record = copy.deepcopy(record)
        record["optimal_hypervolume"] = SCHAFFER_OPTIMAL_HV
        record["objectives"][1]["machine_dependent"] = True
        records.append(record)
    studies.loc[rows, "objectives"] = pd.Series(records, index=studies.index[rows])
    studies.loc[rows, "device_model"] = "Test CPU 9000"
    report = build_report(StoreData(data.trials, studies, data.environments, data.suite_specs))
    mine = study_volumes(load_trials(store), "schaffer")
    summary = report.frames["final_hypervolume_summary"].set_index(["task", "runner"])
    for runner in RUNNERS:
        regrets = SCHAFFER_OPTIMAL_HV - mine.loc[mine["runner"] == runner, "hv"]
        assert summary.loc[("schaffer", runner), "regret"] == pytest.approx(regrets.mean())
    curves = report.frames["hypervolume_curves"]
    assert set(curves.loc[curves["task"] == "schaffer", "quantity"]) == {"regret"}
    assert set(curves.loc[curves["task"] == "schaffer3", "quantity"]) == {"hypervolume"}
    first = report.figures["hypervolume_curves"].axes[0]
    assert first.get_yscale() == "log" and first.get_ylabel() == "mean hypervolume regret"
    warnings = [p for k, p in _section(report, "multi-objective").items if k == "warn"]
    flagged = [w for w in warnings if "f2" in w and "machine" in w]
    assert len(flagged) == 1 and "Test CPU 9000 (cpu)" in flagged[0]
    assert "schaffer3" not in flagged[0]


# -- (b) the single-objective sections leave the multi-objective studies out --------------------

def test_single_objective_sections_leave_multi_objective_studies_out_and_say_so(report):
    assert set(report.data.studies["task"]) == {SINGLE}
    for name in ("final_test", "curves_trials", "final_regret", "best_configurations",
                 "normalised_scores", "ecdf_per_task"):
        assert set(report.frames[name]["task"]) == {SINGLE}, name
    blocks = report.statistics["comparison"].blocks.values
    assert set(blocks.index.get_level_values("task")) == {SINGLE}
    # Costs and provenance still count every study.
    assert set(report.frames["costs"]["task"]) == {SINGLE, *MULTI}
    assert len(report.frames["studies"]) == 3 * len(RUNNERS) * REPETITIONS
    for section in report.sections:
        notes = [p for k, p in section.items if k == "note" and "several objectives" in p]
        if section.id in SINGLE_OBJECTIVE_SECTIONS:
            assert len(notes) == 1, section.id
            assert "schaffer and schaffer3" in notes[0] and "left out" in notes[0]
        else:
            assert not notes, section.id
    assert any("left out" in text and "schaffer3" in text for _, text in report.headline)
    assert dict(report.summary)["Studies"] == str(3 * len(RUNNERS) * REPETITIONS)


def test_a_store_of_multi_objective_studies_only_has_no_single_objective_sections(store):
    data = read_store(store)
    keep = data.studies["task"].isin(MULTI)
    ids = set(data.studies.loc[keep, "study_id"])
    only = StoreData(data.trials[data.trials["study_id"].isin(ids)].reset_index(drop=True),
                     data.studies[keep].reset_index(drop=True), data.environments,
                     data.suite_specs)
    report = build_report(only)
    assert [s.id for s in report.sections] == ["multi-objective", "costs", "provenance"]
    assert [k for k, _ in report.headline].count("p") == len(MULTI)  # one conclusion per task


def test_a_store_without_multi_objective_studies_gets_nothing_new(store, report):
    data = read_store(store)
    keep = data.studies["task"] == SINGLE
    ids = set(data.studies.loc[keep, "study_id"])
    alone = build_report(StoreData(data.trials[data.trials["study_id"].isin(ids)],
                                   data.studies[keep], data.environments, data.suite_specs))
    assert "multi-objective" not in [s.id for s in alone.sections]
    assert [s.id for s in alone.sections] == [s.id for s in report.sections
                                              if s.id != "multi-objective"]
    assert not [n for n in [*alone.tables, *alone.figures]
                if "hypervolume" in n or "pareto" in n or "attainment" in n]
    assert "Multi-objective" not in dict(alone.summary)
    assert not any("several objectives" in str(p) for s in alone.sections for _, p in s.items)


# -- (c) the section in the HTML and Markdown pages --------------------------------------------

FIGURES = ("hypervolume_curves", "attainment_schaffer", "pareto_parallel_schaffer3")
TABLES = ("final_hypervolume", "final_hypervolume_detail", "multi_objective_pairwise",
          "multi_objective_vs_random",
          *(f"pareto_{t}_{r.replace('.', '_')}" for t in MULTI for r in RUNNERS))


def test_the_section_is_in_the_html_page(written):
    html = written.index.read_text()
    assert '<section id="multi-objective">' in html and '<a href="#multi-objective">' in html
    for name in FIGURES:
        assert f'<figure id="figure-{name}">' in html, name
        assert (written.directory / "figures" / f"{name}.png").stat().st_size > 5000
    for name in TABLES:
        assert f'id="table-{name}"' in html, name
        assert (written.directory / "tables" / f"{name}.csv").is_file()


def test_the_section_is_in_the_markdown_page(written, report):
    text = written.markdown.read_text()
    section = text[text.index("## Multi-objective"):text.index("## Costs and failures")]
    for name in FIGURES:
        assert f"](figures/{name}.png)" in section, name
    for name in TABLES:
        assert f"(tables/{name}.csv)" in section, name
    table = report.tables["pareto_schaffer_random"]
    header = "| " + " | ".join(table.columns) + " |"
    assert header == ("| repetition | trial | f1 (minimize) | f2 (minimize) | counts towards "
                      "hypervolume | configuration |")
    title, lines = section[section.index(f"**{table.title}**"):].split("\n\n")[:2]
    lines = lines.splitlines()
    assert "(tables/pareto_schaffer_random.csv)" in title and lines[0] == header
    assert len(lines) == 2 + len(table.rows)  # header, rule, one line per non-dominated trial


# -- (d) the Pareto tables -----------------------------------------------------------------------

@pytest.mark.parametrize("task", MULTI)
@pytest.mark.parametrize("runner", RUNNERS)
def test_the_pareto_table_holds_exactly_the_non_dominated_trials(report, store, task, runner):
    trials = load_trials(store)
    mine = trials[(trials["task"] == task) & (trials["runner"] == runner)
                  & (trials["status"] == "ok")]
    points, ref = losses(mine, task)
    front = brute_front(points)
    expected = set(zip(mine["repetition"][front], mine["trial"][front], strict=True))
    table = report.tables[f"pareto_{task}_{runner.replace('.', '_')}"]
    shown = {(int(r[0].text), int(r[1].text)) for r in table.rows}
    assert shown == expected
    assert len(table.rows) == len(expected) and len({r[0].text for r in table.rows}) > 1
    inside = dict(zip(zip(mine["repetition"], mine["trial"], strict=True),
                      (points < ref).all(axis=1), strict=True))
    flag = table.columns.index("counts towards hypervolume")
    configs = dict(zip(zip(mine["repetition"], mine["trial"], strict=True), mine["config"],
                       strict=True))
    for row in table.rows:
        key = (int(row[0].text), int(row[1].text))
        assert row[flag].text == ("yes" if inside[key] else "no")
        assert row[-1].text == f"x={configs[key]['x']:.4g}"


def _section(report, id_: str):
    return next(s for s in report.sections if s.id == id_)


def _section_text(report, id_: str) -> str:
    return " ".join(str(p) for _, p in _section(report, id_).items)


def test_the_section_states_its_conclusions(report, store):
    text = _section_text(report, "multi-objective")
    trials = load_trials(store)
    for task in MULTI:
        said = re.search(rf"On {task} \(final hypervolume, 3 repetitions\): (\S+) has the highest "
                         r"mean \(([^)]+)\)", text)
        assert said, task
        means = study_volumes(trials, task).groupby("runner")["hv"].mean()
        assert said.group(1) == means.idxmax() and said.group(2) == fmt(means.max())
        assert said.group(0) in " ".join(t for _, t in report.headline)
    assert "no runner can be significantly best" in text
    assert "1 pairs differ significantly" in text
