"""Multi-objective optimisers beat random search where they should: NSGA-II and optuna's
multi-objective TPE against random search, on ZDT1 (two objectives, 30 variables) and DTLZ2
(three objectives, 12 variables), 200 trials each, at every library default.

Twenty repetitions with the suite's fixed seeds (ten left NSGA-II's ZDT1 gain at p = 0.056: its
first generation alone is 50 random trials of the 200). The final hypervolume of each study,
up to the task's fixed reference point, is paired with random search's in the same repetition;
the gain must be positive by a one-sided paired t-test and a one-sided Wilcoxon signed-rank test
(scipy), both at 0.05. About two minutes on two cores (``slow``).
"""

from __future__ import annotations

import pytest
from scipy import stats

from tunebench import run_suite
from tunebench.cli.show_moo import study_hypervolumes
from tunebench.suite.store import load_studies, load_trials

pytestmark = pytest.mark.slow

SUITE = """
[suite]
name = "moo-beats-random"
seed = 1
repetitions = 20
[budget]
trials = 200
[[tasks]]
name = "zdt1"
objectives = "all"
[[tasks]]
name = "dtlz2"
objectives = "all"
[[runners]]
name = "random"
[[runners]]
name = "optuna.nsga2"
[[runners]]
name = "optuna.tpe"
"""


@pytest.fixture(scope="module")
def gains(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], list[float]]:
    folder = tmp_path_factory.mktemp("moo")
    (folder / "s.toml").write_text(SUITE)
    db = folder / "r.db"
    run_suite(folder / "s.toml", db, progress=False, executor="process", workers=2)
    frame = study_hypervolumes(load_trials(db), load_studies(db))
    out = {}
    for task in ("zdt1", "dtlz2"):
        wide = frame[frame["task"] == task].pivot_table(
            index="repetition", columns="runner", values="hypervolume")
        assert len(wide) == 20 and wide.notna().all().all()
        for runner in ("optuna.nsga2", "optuna.tpe"):
            out[task, runner] = list(wide[runner] - wide["random"])
    return out


@pytest.mark.parametrize("task", ["zdt1", "dtlz2"])
@pytest.mark.parametrize("runner", ["optuna.nsga2", "optuna.tpe"])
def test_the_optimiser_beats_random_search_in_final_hypervolume(
        gains: dict[tuple[str, str], list[float]], task: str, runner: str) -> None:
    gain = gains[task, runner]
    t = stats.ttest_1samp(gain, 0.0, alternative="greater")
    w = stats.wilcoxon(gain, alternative="greater")
    assert t.pvalue < 0.05 and w.pvalue < 0.05, (task, runner, sum(gain) / len(gain),
                                                 t.pvalue, w.pvalue)

