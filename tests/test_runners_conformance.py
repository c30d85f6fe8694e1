"""Every registered runner passes the conformance checks (tunebench.runners.conformance).

Parametrised over ``registry.runner_names()``, so a runner added to the entry points is checked
without touching this file. A runner that declares itself unavailable (RunnerUnavailable at
construction) is skipped with its reason. Checks of one runner share their reference run.
"""

from __future__ import annotations

from typing import Any

import pytest

from tunebench import registry
from tunebench.runners.conformance import Conformance, ConformanceSkip

#: Options a runner needs on the conformance space (10 parameters): the grids must stay small.
OPTIONS: dict[str, dict[str, Any]] = {
    "grid": {"resolution": 3},
    "optuna.grid": {"resolution": 2},
    # A short start-up phase, so the resume check replays model-based suggestions too.
    "optuna.gp": {"n_startup_trials": 4},
    "skopt.gp": {"n_initial_points": 4},
}
#: Runs of the slow GP runners are kept short (cost per trial grows with the history); skopt's
#: forests refit 100 trees and score 10000 candidates on every tell; Ax and HEBO spend seconds per
#: model-based trial, so their runs end a few trials past their initialisation (Ax: 5 trials;
#: HEBO: 1 + 10 parameters, failed trials not counted); Syne Tune's CQR fits gradient boosting
#: for every suggestion.
TRIALS = {"optuna.gp": 12, "nevergrad.bo": 6, "smac.bb": 12, "smac.hpo": 20, "smac.mf": 20,
          "skopt.gp": 10, "skopt.rf": 16, "skopt.et": 16, "ax.botorch": 9, "hebo": 16,
          "synetune.cqr": 20, "synetune.asha_cqr": 20}
#: Runners whose default options prune (the others are checked with a pruner in test_runners_optuna).
PRUNES = {"optuna.hyperband", "optuna.asha"}

_cache: dict[str, Conformance] = {}


def conformance(name: str) -> Conformance:
    if name not in _cache:
        _cache[name] = Conformance(registry.get_runner_class(name), OPTIONS.get(name),
                                   trials=TRIALS.get(name, 30), expect_pruning=name in PRUNES)
    return _cache[name]


@pytest.mark.parametrize("check", Conformance.CHECKS)
@pytest.mark.parametrize("name", registry.runner_names())
def test_runner_conformance(name: str, check: str) -> None:
    try:
        conformance(name).run(check)
    except ConformanceSkip as exc:
        pytest.skip(str(exc))


def test_every_declared_runner_is_registered() -> None:
    expected = {"random", "grid"} | {f"optuna.{n}" for n in (
        "tpe", "random", "cmaes", "gp", "qmc", "nsga2", "grid", "hyperband", "asha")} | {
        f"hyperopt.{n}" for n in ("tpe", "anneal", "rand", "atpe")} | {
        f"nevergrad.{n}" for n in ("ngopt", "cma", "de", "pso", "oneplusone", "portfolio", "bo")} | {
        f"synetune.{n}" for n in ("asha", "bohb", "tpe", "rea", "bore", "asha_bore", "cqr",
                                   "asha_cqr")} | {
        f"smac.{n}" for n in ("bb", "hpo", "hyperband", "mf")} | {
        f"skopt.{n}" for n in ("gp", "rf", "et", "gbrt")} | {"cma.cmaes", "dehb", "ax.botorch", "hebo"}
    assert expected <= set(registry.runner_names())
