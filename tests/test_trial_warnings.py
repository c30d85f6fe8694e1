"""A trial's warnings go to the store with the trial, never through the terminal.

A real run through the CLI (in-process and isolated trials, serial and process executors): every
trial keeps its own warnings, a numpy overflow in each trial that overflowed, and nothing reaches
stderr. The interpreter's own warning filters still rule inside a trial, and warnings outside one
are shown as before.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli
from trial_records import TASKS, isolation_suite

from tunebench.suite.spec_parse import load_suite
from tunebench.suite.store import load_trials
from tunebench.suite.study import StudyLoop
from tunebench.suite.trial_warnings import KEPT, trial_warnings


@pytest.mark.parametrize(("isolation", "executor"),
                         [("none", "serial"), ("process", "serial"), ("none", "process")])
def test_each_trial_stores_its_own_warnings_and_none_reach_the_terminal(
        tmp_path: Path, isolation: str, executor: str) -> None:
    suite = isolation_suite(tmp_path, "warns", budget="trials = 12",
                            settings=f'isolation = "{isolation}"')
    db = tmp_path / "r.db"
    done = run_cli("run", str(suite), "--db", str(db), "--executor", executor)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "Warning" not in done.stdout
    trials = load_trials(db)
    assert len(trials) == 12
    overflowed = 0
    for row in trials.itertuples():
        x, caught = row.config["x"], row.extra["warnings"]
        assert f"UserWarning: configuration x={x:.3f} is only a test (isolation_tasks.py:" \
            in caught[-1]
        overflow = [w for w in caught if w.startswith("RuntimeWarning: overflow encountered")]
        assert len(overflow) == (x > 0.5), (x, caught)  # every trial that overflowed, not the first
        overflowed += x > 0.5
        assert "output" not in row.extra  # caught, not printed to the worker's captured output
    assert 2 <= overflowed <= 10, "the seed no longer draws both kinds of configuration"


def _one_study(tmp_path: Path) -> tuple[StudyLoop, list[Any]]:
    spec = load_suite({"suite": {"name": "w", "seed": 1, "plugins": [str(TASKS)]},
                       "budget": {"trials": 3}, "settings": {"isolation": "none"},
                       "tasks": [{"name": "warns"}], "runners": [{"name": "random"}]})
    records: list[Any] = []

    class Sink:
        def study_started(self, key: Any, info: Any) -> None: ...

        def trial_finished(self, key: Any, record: Any) -> None:
            records.append(record)

    return StudyLoop(spec.studies()[0], Sink()), records


def test_the_interpreters_filters_still_rule_inside_a_trial(tmp_path: Path) -> None:
    loop, records = _one_study(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # as `python -W error::UserWarning` would
        loop.run()
    assert [r.status for r in records] == ["failed"] * 3
    assert all(r.error.startswith("UserWarning: configuration x=") for r in records)

    loop, records = _one_study(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loop.run()
    assert [r.status for r in records] == ["ok"] * 3
    assert all("warnings" not in r.extra for r in records)


def test_warnings_outside_a_trial_are_shown_as_before() -> None:
    with trial_warnings() as caught:
        warnings.warn("inside", UserWarning, stacklevel=1)
    with pytest.warns(UserWarning, match="outside"):
        warnings.warn("outside", UserWarning, stacklevel=1)
    assert len(caught) == 1 and caught[0].startswith("UserWarning: inside (test_trial_warnings.py:")


def test_a_trial_keeps_each_distinct_warning_once_and_at_most_a_bounded_number() -> None:
    with trial_warnings() as caught, np.errstate(over="warn"):
        for _ in range(50):
            np.exp(np.array([1000.0]))  # the same place, the same message: once
        for i in range(3 * KEPT):
            warnings.warn(f"number {i} " + "x" * 400, UserWarning, stacklevel=1)
    assert caught[0].startswith("RuntimeWarning: overflow encountered in exp")
    assert len(caught) == KEPT
    assert all(len(entry) < 400 for entry in caught)


WARNING_RUNNER = '''
import warnings
from tunebench.runners.baselines import RandomSearch


class Warning_(RandomSearch):
    name = "warns_in_ask_and_tell"
    description = "random search that warns as an optimiser library does"

    def ask(self):
        config = super().ask()
        warnings.warn(f"ask warns about x={config['x']:.3f}", RuntimeWarning, stacklevel=1)
        return config

    def tell(self, config, outcome):
        warnings.warn("tell warns", UserWarning, stacklevel=1)
        super().tell(config, outcome)
'''


def test_the_runners_warnings_are_kept_with_the_trial_and_silent_on_resume(tmp_path: Path) -> None:
    """An optimiser warning in ask or tell (nevergrad's COBYLA, a GP at its bounds) is stored in
    the trial's extra["runner_warnings"], apart from the evaluation's; a resume that replays
    the stored trials shows nothing either."""
    plugin = tmp_path / "warning_runner.py"
    plugin.write_text(WARNING_RUNNER)
    suite = isolation_suite(tmp_path, "warns", budget="trials = 6",
                            runners=("warns_in_ask_and_tell",))
    suite.write_text(suite.read_text().replace("plugins = [", f'plugins = ["{plugin}", '))
    db = tmp_path / "r.db"
    done = run_cli("run", str(suite), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr + done.stdout
    for row in load_trials(db).itertuples():
        kept = row.extra["runner_warnings"]
        assert kept[0].startswith(f"RuntimeWarning: ask warns about x={row.config['x']:.3f} (")
        assert kept[1].startswith("UserWarning: tell warns (")
        assert not any("warns" in w for w in row.extra["warnings"])  # the evaluation's own

    study = load_suite(suite).studies()[0]
    records: list[Any] = []

    class Sink:
        def study_started(self, key: Any, info: Any) -> None: ...

        def trial_finished(self, key: Any, record: Any) -> None:
            records.append(record)

    StudyLoop(study, Sink()).run()
    stored, records[:] = records[:3], []
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        StudyLoop(study, Sink()).run(stored)  # replays 3 stored trials, runs 3 more
    assert [r.number for r in records] == [3, 4, 5]
    assert all(len(r.extra["runner_warnings"]) == 2 for r in records)
    assert not [w for w in shown if "warns" in str(w.message)]
