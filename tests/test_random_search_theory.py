"""Random search through the whole harness agrees with sampling theory on Branin.

For n independent uniform draws, the expected best value is E[min] = Σ_i v_(i) [(1-(i-1)/M)^n - (1-i/M)^n]
over the order statistics v_(1) ≤ … ≤ v_(M) of a large independent sample (the empirical law of f
under uniform sampling). The harness's mean best over 100 repetitions must agree within four
standard errors computed from its own spread, so the tolerance is derived, not chosen.
"""

from __future__ import annotations

import numpy as np
import pytest

import tunebench
from tunebench.registry import make_task
from tunebench.suite.store import load_trials

REPETITIONS, TRIALS = 100, 200


def expected_best_of(n: int, values: np.ndarray) -> float:
    v = np.sort(values)
    m = len(v)
    survival = 1.0 - np.arange(m + 1) / m  # P(draw > v_(i)) after the i-th order statistic
    weights = survival[:-1] ** n - survival[1:] ** n
    return float(np.dot(weights, v))


@pytest.mark.slow
def test_mean_best_of_random_search_on_branin_matches_sampling_theory(tmp_path):
    db = tmp_path / "theory.db"
    tunebench.run_suite({
        "suite": {"name": "theory", "seed": 2024, "repetitions": REPETITIONS},
        "budget": {"trials": TRIALS},
        "tasks": [{"name": "branin"}], "runners": [{"name": "random"}],
    }, db, progress=False)
    trials = load_trials(db)
    assert len(trials) == REPETITIONS * TRIALS
    finals = trials.groupby("repetition")["best_value"].last().to_numpy()

    task = make_task("branin")
    rng = np.random.default_rng(12345)  # independent of the suite's seeds
    low = np.array([lo for lo, _ in task.domain()])
    high = np.array([hi for _, hi in task.domain()])
    sample = task.function(low + rng.random((2_000_000, 2)) * (high - low))
    theory = expected_best_of(TRIALS, sample)

    standard_error = finals.std(ddof=1) / np.sqrt(REPETITIONS)
    assert abs(finals.mean() - theory) < 4 * standard_error, (finals.mean(), theory, standard_error)
    # The check has power: half the budget would be told apart.
    assert abs(expected_best_of(TRIALS // 2, sample) - theory) > 4 * standard_error
    assert (finals >= task.optimum).all()
