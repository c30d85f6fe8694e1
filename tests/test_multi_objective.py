"""Multi-objective studies: the suite's objectives, runners told them, vectors stored and told.

The optuna runners are checked against the plain optuna loop, proposal by proposal; a study is
killed and resumed to the same trials, and reproduced; runners that optimise one objective are
refused before anything runs; a trial missing an objective fails alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import run_and_kill, run_cli
from trial_records import trial_rows

from tunebench import run_suite
from tunebench.suite.reproduce import reproduce
from tunebench.suite.spec_parse import load_suite
from tunebench.suite.store import load_studies, load_trials

MOO = Path(__file__).parent / "moo_tasks.py"


def _suite(tmp_path: Path, runners: tuple[str, ...], objectives: str = '["f1", "f2"]',
           trials: int = 30, task: str = "schaffer", options: str = "",
           repetitions: int = 1) -> Path:
    path = tmp_path / "mo.toml"
    entries = "".join(f'\n[[runners]]\nname = "{name}"\n' for name in runners)
    path.write_text(f"""
[suite]
name = "mo"
seed = 11
repetitions = {repetitions}
plugins = ["{MOO}"]
[budget]
trials = {trials}
[[tasks]]
name = "{task}"
objectives = {objectives}
{options}
{entries}""")
    return path


def _plain_optuna(sampler: optuna.samplers.BaseSampler, trials: int) -> list[float]:
    """The x optuna proposes for Schaffer's problem in its own ask/tell loop."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler,
                                study_name="tunebench")
    proposed = []
    for _ in range(trials):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(-5.0, 5.0)})
        x = trial.params["x"]
        proposed.append(x)
        if x > 4.5:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, [x * x, (x - 2.0) ** 2])
    return proposed


SAMPLERS = {
    "optuna.nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
    "optuna.nsga3": lambda seed: optuna.samplers.NSGAIIISampler(seed=seed),
    "optuna.tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "optuna.random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    # tunebench's one declared deviation: scrambled, so that the seed means something
    "optuna.qmc": lambda seed: optuna.samplers.QMCSampler(seed=seed, scramble=True),
}


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("runner", sorted(SAMPLERS))
def test_an_optuna_runner_proposes_what_plain_optuna_proposes(tmp_path: Path, runner: str) -> None:
    db = tmp_path / "r.db"
    trials = 70 if runner.startswith("optuna.nsga") else 30  # past NSGA's first generation (50)
    run_suite(_suite(tmp_path, (runner,), trials=trials), db, progress=False)
    stored = load_trials(db)
    seed = int(load_studies(db)["runner_seed"].iloc[0])
    assert list(stored["config"].map(lambda c: c["x"])) == \
        _plain_optuna(SAMPLERS[runner](seed), trials)
    assert (stored["status"] == "failed").any(), "no failed trial: the seed tests less"


def test_the_gp_runner_proposes_what_plain_optuna_proposes(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    run_suite(_suite(tmp_path, ("optuna.gp",), trials=14), db, progress=False)
    seed = int(load_studies(db)["runner_seed"].iloc[0])
    xs = list(load_trials(db)["config"].map(lambda c: c["x"]))
    assert xs == pytest.approx(_plain_optuna(optuna.samplers.GPSampler(seed=seed), 14), rel=1e-12)


def test_every_objective_is_stored_and_the_study_records_its_objectives(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    run_suite(_suite(tmp_path, ("random",), trials=80), db, progress=False)
    trials, studies = load_trials(db), load_studies(db)
    ok = trials[trials["status"] == "ok"]
    x = ok["config"].map(lambda c: c["x"])
    assert (ok["objective_f1"] == x * x).all() and (ok["objective_f2"] == (x - 2.0) ** 2).all()
    assert (ok["objective_x"] == x).all()  # reported, though not optimised
    assert (ok["test_objective_f2"] == ok["objective_f2"] + 0.5).all()
    assert (ok["value"] == ok["objective_f1"]).all()
    failed = trials[trials["status"] == "failed"]
    assert len(failed) and failed["objective_f1"].isna().all()
    recorded = studies["objectives"].iloc[0]
    assert [(o["name"], o["direction"], o["reference"]) for o in recorded["objectives"]] == \
        [("f1", "minimize", 4.0), ("f2", "minimize", 4.0)]
    assert recorded["optimal_hypervolume"] is None  # (two of its three objectives)


def test_a_runner_for_one_objective_is_refused_before_anything_runs(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    done = run_cli("run", str(_suite(tmp_path, ("random", "optuna.cmaes"))), "--db", str(db))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    said = " ".join(done.stderr.split())
    assert "runners[1]" in said and "'optuna.cmaes' optimises one objective" in said
    assert "asks for 2 (f1, f2)" in said and not db.exists()


@pytest.mark.parametrize(("objectives", "message"), [
    ('["f1", "f9"]', "task 'schaffer' has no objective 'f9'; its objectives: f1, f2, x"),
    ('["f2"]', "a multi-objective study trades off two or more"),
    ('["f1", "f1"]', "names one twice"),
    ('"some"', 'must be a list of the task\'s objective names or "all"'),
])
def test_objectives_a_task_does_not_have_are_refused_with_what_it_has(
        tmp_path: Path, objectives: str, message: str) -> None:
    done = run_cli("run", str(_suite(tmp_path, ("random",), objectives=objectives)),
                   "--db", str(tmp_path / "r.db"))
    assert done.returncode == 2 and message in " ".join(done.stderr.split()), done.stderr


def test_objectives_on_a_single_objective_task_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[suite]\nname = "s"\n[budget]\ntrials = 2\n[[tasks]]\nname = "branin"\n'
                    'objectives = "all"\n[[runners]]\nname = "random"\n')
    done = run_cli("run", str(path), "--db", str(tmp_path / "r.db"))
    assert done.returncode == 2
    assert "task 'branin' has one objective" in " ".join(done.stderr.split())


def test_all_objectives_and_a_maximised_one_reach_the_runner_in_order(tmp_path: Path) -> None:
    spec = load_suite(_suite(tmp_path, ("optuna.nsga2",), objectives='"all"'))
    from tunebench.suite.study import StudyLoop

    class Sink:
        def study_started(self, key: Any, info: Any) -> None: ...

        def trial_finished(self, key: Any, record: Any) -> None: ...

    loop = StudyLoop(spec.studies()[0], Sink())
    assert [(o.name, str(o.direction)) for o in loop.runner.objectives] == \
        [("f1", "minimize"), ("f2", "minimize"), ("x", "maximize")]
    loop.run()
    study = loop.runner._study
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE", "MAXIMIZE"]
    told = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert told and all(t.values == [t.params["x"] ** 2, (t.params["x"] - 2) ** 2, t.params["x"]]
                        for t in told)


def test_a_trial_missing_an_objective_fails_alone(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    run_suite(_suite(tmp_path, ("optuna.tpe",), task="schaffer_gaps", trials=40), db,
              progress=False)
    trials = load_trials(db)
    x = trials["config"].map(lambda c: c["x"])
    assert (trials.loc[x > 4.0, "error"].str.startswith(
        "InvalidResult: task 'schaffer_gaps' reported objectives reported")).all()
    assert (trials.loc[x < -4.0, "error"] == "NonFiniteValue: objective f2 = 'nan'").all()
    assert ((trials["status"] == "ok") == ((x >= -4.0) & (x <= 4.0))).all()
    assert (x > 4.0).any() and (x < -4.0).any()


def test_a_killed_multi_objective_run_resumes_to_the_same_trials(tmp_path: Path) -> None:
    suite = _suite(tmp_path, ("optuna.nsga2", "optuna.tpe"), trials=60,
                   options="options = { delay = 0.01 }")
    reference = tmp_path / "reference.db"
    assert run_cli("run", str(suite), "--db", str(reference), "-q").returncode == 0
    db = tmp_path / "killed.db"
    stored = run_and_kill(suite, db, 70)
    assert 70 <= stored < 120
    assert run_cli("run", str(suite), "--db", str(db), "-q").returncode == 0
    assert trial_rows(db, timed=False) == trial_rows(reference, timed=False)
    columns = ["objective_f1", "objective_f2", "test_objective_f1"]
    theirs, ours = (load_trials(p).sort_values(["runner", "trial"])[columns] for p in (reference, db))
    assert theirs.reset_index(drop=True).equals(ours.reset_index(drop=True))


def test_a_multi_objective_run_reproduces_and_a_changed_objective_is_found(tmp_path: Path) -> None:
    import shutil
    import sqlite3

    db = tmp_path / "r.db"
    run_suite(_suite(tmp_path, ("optuna.nsga2",), trials=20), db, progress=False)
    report = reproduce(db)
    assert report.ok and {s.verdict for s in report.studies} == {"identical"}
    changed = tmp_path / "changed.db"
    shutil.copy(db, changed)
    with sqlite3.connect(changed) as conn:  # f2 of trial 3 moved by a part in a billion
        conn.execute("UPDATE trials SET extra_json = json_set(extra_json, '$.objectives.f2',"
                     " json_extract(extra_json, '$.objectives.f2') * (1 + 1e-9)) WHERE number = 3")
    (study,) = reproduce(changed).studies
    assert study.verdict == "different" and study.differing_trials == 1
    assert (study.first_difference.trial, study.first_difference.field) == (3, "objectives.f2")
    assert math.isclose(study.first_difference.theirs, study.first_difference.ours, rel_tol=1e-8)


def _staircase(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """The 2-D hypervolume (both minimised) as a sum of rectangles, written out by hand: the
    non-dominated points sorted by f1, each owning the strip up to the next one's f1."""
    front, best = [], math.inf
    for f1, f2 in sorted(p for p in points if p[0] < reference[0] and p[1] < reference[1]):
        if f2 < best:
            front.append((f1, f2))
            best = f2
    edges = [f1 for f1, _ in front[1:]] + [reference[0]]
    return sum((edge - f1) * (reference[1] - f2)
               for (f1, f2), edge in zip(front, edges, strict=True))


def test_show_gives_each_runners_hypervolume_and_its_difference_from_random(tmp_path: Path) -> None:
    import json

    db = tmp_path / "r.db"
    run_suite(_suite(tmp_path, ("random", "optuna.nsga2"), trials=40, repetitions=3), db,
              progress=False)
    trials = load_trials(db)
    expected: dict[str, list[float]] = {}
    for (runner, _), study in trials[trials["status"] == "ok"].groupby(["runner", "repetition"]):
        points = list(zip(study["objective_f1"], study["objective_f2"], strict=True))
        expected.setdefault(runner, []).append(_staircase(points, (4.0, 4.0)))
    shown = run_cli("show", "--db", str(db), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    rows = {r["runner"]: r for r in json.loads(shown.stdout)}
    for runner, hvs in expected.items():
        assert rows[runner]["compared_on"] == "hypervolume" and rows[runner]["mean_regret"] is None
        assert rows[runner]["mean_hypervolume"] == pytest.approx(sum(hvs) / 3, rel=1e-12)
    pairs = [a - b for a, b in zip(expected["optuna.nsga2"], expected["random"], strict=True)]
    assert rows["optuna.nsga2"]["delta_vs_random"] == pytest.approx(sum(pairs) / 3, rel=1e-9)
    assert rows["random"]["delta_vs_random"] is None
    table = run_cli("show", "--db", str(db), "--format", "table")
    assert "HV to (4, 4)" in table.stdout and "Traceback" not in table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_a_suite_fixes_the_reference_coordinates_a_task_leaves_open(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    run_suite(_suite(tmp_path, ("random",), trials=5, options="references = { f2 = 9.5 }"), db,
              progress=False)
    (recorded,) = load_studies(db)["objectives"]
    assert [o["reference"] for o in recorded["objectives"]] == [4.0, 9.5]
    for options, message in [
            ("references = { x = 1.0 }", "references name 'x', which the study does not optimise"),
            ('references = { f2 = "far" }', "must be a table of objective names to finite numbers")]:
        done = run_cli("run", str(_suite(tmp_path, ("random",), options=options)),
                       "--db", str(tmp_path / "refused.db"))
        assert done.returncode == 2 and message in " ".join(done.stderr.split()), done.stderr


def test_the_training_tasks_report_accuracy_size_and_seconds_as_objectives() -> None:
    from tunebench import get_task
    from tunebench.tasks.base import EvalContext
    from tunebench.tasks.mnist_net import LeNet

    task = get_task("mnist_cnn", train_size=300, test_size=200, max_epochs=1)
    result = task.evaluate(task.space.default(), 1, 0, EvalContext())
    assert result.objectives["accuracy"] == result.value
    assert result.test_objectives["accuracy"] == result.test_value
    config = task.space.default()
    size = sum(p.numel() for p in LeNet(config["channels"], config["hidden"]).parameters())
    assert result.objectives["parameters"] == size == result.test_objectives["parameters"]
    assert result.objectives["train_seconds"] > 0
    largest = sum(p.numel() for p in LeNet(64, 512).parameters())  # the space's bounds
    parameters = {o.name: o for o in task.objectives}["parameters"]
    assert task.space["channels"].high == 64 and task.space["hidden"].high == 512
    assert largest < parameters.reference < 1.05 * largest
    assert {o.name: o.machine_dependent for o in task.objectives} == {
        "accuracy": False, "parameters": False, "train_seconds": True}


def test_a_cached_evaluation_without_the_objectives_is_run_again(tmp_path: Path) -> None:
    """The evaluation cache may hold a configuration's result from before its task reported the
    objectives a multi-objective study needs: that study evaluates it again, never crashes."""
    import dataclasses

    from tunebench.suite.study import StudyLoop

    spec = load_suite(_suite(tmp_path, ("random",), trials=6))
    records: list[Any] = []

    class Sink:
        def study_started(self, key: Any, info: Any) -> None: ...

        def trial_finished(self, key: Any, record: Any) -> None:
            records.append(record)

    class OldCache:  # answers every lookup with a result that names no objectives
        lookups = 0

        def lookup(self, task: Any, study: Any, key: str, fidelity: int, context: Any) -> Any:
            OldCache.lookups += 1
            return dataclasses.replace(template, config_key=key, extra={})

        def store(self, task: Any, study: Any, record: Any, context: Any) -> None: ...

    StudyLoop(spec.studies()[0], Sink()).run()
    template = next(r for r in records if r.status == "ok")
    records.clear()
    StudyLoop(spec.studies()[0], Sink(), cache=OldCache()).run()
    assert OldCache.lookups == 6 and len(records) == 6
    assert sum(r.status == "ok" for r in records) >= 4
    assert all(set(r.extra["objectives"]) == {"f1", "f2", "x"} for r in records
               if r.status == "ok")


def test_the_task_listing_names_the_objectives_and_the_true_fronts_hypervolume() -> None:
    listed = run_cli("list", "tasks", "--format", "json")
    rows = {r["name"]: r for r in __import__("json").loads(listed.stdout)["tasks"]}
    assert rows["zdt1"]["objectives"] == ["f1", "f2"] and rows["zdt1"]["optimum"] == "HV 120.667"
    assert rows["dtlz2"]["objectives"] == ["f1", "f2", "f3"]
    assert rows["mnist_cnn"]["objectives"] == ["accuracy", "parameters", "train_seconds"]
    assert rows["branin"]["objectives"] == []
    plain = run_cli("list", "tasks").stdout.splitlines()
    assert any(line.split()[:3] == ["zdt1", "f1,", "f2"] for line in plain), plain


def test_eval_gives_every_objective_of_a_multi_objective_task() -> None:
    import json

    done = run_cli("eval", "zdt1", "-c", json.dumps({f"x{i}": 0.0 for i in range(30)}))
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    # At x = 0: f1 = 0, g = 1, f2 = g (1 - sqrt(f1 / g)) = 1 (Zitzler, Deb & Thiele 2000).
    assert shown["objectives"] == {"f1": 0.0, "f2": 1.0} == shown["test_objectives"]


@pytest.mark.parametrize(("budget", "settings"), [
    ("device_seconds = 0.3", ""), ("trials = 24", "[settings]\nin_flight = 2")])
def test_budgets_and_evaluations_in_flight_work_as_for_one_objective(
        tmp_path: Path, budget: str, settings: str) -> None:
    path = _suite(tmp_path, ("random", "optuna.tpe"), options="options = { delay = 0.01 }")
    path.write_text(path.read_text().replace("trials = 30", budget) + "\n" + settings + "\n")
    db = tmp_path / "r.db"
    run_suite(path, db, progress=False)
    trials, studies = load_trials(db), load_studies(db)
    assert (studies["status"] == "done").all() and studies["budget_met"].all()
    ok = trials[trials["status"] == "ok"]
    assert len(ok) >= 10 and ok["objective_f2"].notna().all()
    if budget.startswith("device"):  # charged measured seconds, never past the budget
        assert (studies["budget_spent"] <= 0.3 + 1e-9).all()
