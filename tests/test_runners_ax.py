"""The ax.botorch runner is Ax's own ``Client`` loop, proposal by proposal, and reproducible.

Ax's model-based trials cost about half a second each (a BoTorch GP fit and acquisition
optimisation per trial; many times more on a loaded machine), so the runs are short: a few trials
past Ax's 5 initialisation trials. Cost (1 core): about 1 minute.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from ax import Client
from ax.early_stopping.strategies import PercentileEarlyStoppingStrategy
from separate_processes import assert_same_as_library, proposals_in_processes
from test_runners_defaults import FLAT, SEED, curve, fails, loss, tunebench_loop

from tunebench import registry
from tunebench.runners.ax_runner import AxBoTorch, quiet
from tunebench.runners.ax_space import AxSpace
from tunebench.runners.base import BudgetInfo, Outcome, RunnerError, Status
from tunebench.runners.conformance import mixed_space
from tunebench.space import Categorical, Config, Direction, Float, Int, Space

pytestmark = pytest.mark.slow


def ax_loop(space: Space, n: int, fidelity: int = 1,
            stopping: dict[str, Any] | None = None) -> list[Config]:
    """Ax's documented loop: Client, configure, get_next_trials / complete_trial (or
    mark_trial_failed), with early stopping by attach_data + should_stop_trial_early."""
    encoding = AxSpace(space)  # the same parameters: tunebench's translation, audited elsewhere
    proposed = []
    with quiet():
        client = Client(random_seed=SEED)
        client.configure_experiment(parameters=encoding.parameters())
        client.configure_optimization(objective="-value")  # minimise
        if stopping is not None:
            client.set_early_stopping_strategy(PercentileEarlyStoppingStrategy(**stopping))
        for _ in range(n):
            (index, parameters), = client.get_next_trials(max_trials=1).items()
            config = encoding.decode(parameters)
            proposed.append(config)
            if fails(space, config):
                client.mark_trial_failed(index)
                continue
            if stopping is None:
                client.complete_trial(index, {"value": loss(space, config)})
                continue
            for step, value in enumerate(curve(space, config, fidelity), start=1):
                client.attach_data(index, {"value": value}, progression=step)
                if client.should_stop_trial_early(index):
                    client.mark_trial_early_stopped(index)
                    break
            else:
                client.complete_trial(index, {"value": loss(space, config)}, progression=fidelity)
    return proposed


# The flat run includes a failed trial; the conditional one exercises the hierarchy.
@pytest.mark.parametrize(("space", "n", "failure"), [(FLAT, 8, True), (mixed_space(), 7, False)],
                         ids=["flat", "conditional"])
def test_default_runner_proposes_what_axs_own_loop_proposes(space: Space, n: int, failure: bool) -> None:
    # Ax may propose a failed configuration again ("FAILED trials may be re-suggested")
    assert_same_as_library(tunebench_loop("ax.botorch", space, n), ax_loop(space, n), space, n - 2,
                           with_failure=failure)


def test_early_stopping_is_axs_own_and_stops_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    stopping = {"min_curves": 3, "min_progression": 2}
    original = registry.make_runner
    monkeypatch.setattr(registry, "make_runner", lambda name, space, direction, seed, info, _: (
        original(name, space, direction, seed, info, {"early_stopping": stopping})))
    statuses: list[Status] = []
    ours = tunebench_loop("ax.botorch", FLAT, 10, 6, statuses)
    theirs = ax_loop(FLAT, 10, 6, stopping)
    assert ours == theirs
    assert Status.PRUNED in statuses and Status.OK in statuses


def test_without_the_option_ax_never_stops_a_trial() -> None:
    runner = AxBoTorch(FLAT, Direction.MINIMIZE, SEED)
    config = runner.ask()
    assert not any(runner.should_prune(config, step, 100.0 * step) for step in range(1, 30))
    assert runner.resolved_options()["early_stopping"] is False


def test_resolved_options_record_axs_choices() -> None:
    resolved = AxBoTorch(FLAT, Direction.MAXIMIZE, 3).resolved_options()
    assert json.loads(json.dumps(resolved)) == resolved  # recorded per study as JSON
    assert resolved["random_seed"] == 3
    assert resolved["objective"] == "value"  # maximise
    minimise = AxBoTorch(FLAT, Direction.MINIMIZE, 3)
    assert minimise.resolved_options()["objective"] == "-value"
    assert minimise._client._experiment.optimization_config.objective.minimize
    assert resolved["generation_strategy"] == "Center+Sobol+MBM:fast"
    assert resolved["initialization_trials"] == 5  # Ax's default budget, the centre included
    assert resolved["method"] == "fast" and resolved["initialization_budget"] is None
    stopping = AxBoTorch(FLAT, Direction.MINIMIZE, 3, early_stopping=True).resolved_options()
    assert stopping["early_stopping_strategy"]["min_progression"] == 10  # Ax's default
    smaller = AxBoTorch(FLAT, Direction.MINIMIZE, 3, initialization_budget=3)
    assert smaller.resolved_options()["initialization_trials"] == 3


def test_the_initialisation_count_is_where_ax_switches_to_its_model() -> None:
    runner = AxBoTorch(FLAT, Direction.MINIMIZE, 3, initialization_budget=2)
    for _ in range(3):
        config = runner.ask()
        runner.tell(config, Outcome(Status.OK, loss(FLAT, config), 1))
    nodes = [trial.generator_runs[0]._generation_node_name
             for trial in runner._client._experiment.trials.values()]
    assert runner.resolved_options()["initialization_trials"] == 2
    assert nodes == ["CenterOfSearchSpace", "Sobol", "MBM"]


@pytest.mark.parametrize(("options", "message"), [
    ({"initialisation_budget": 3}, "did you mean 'initialization_budget'"),
    ({"method": 3}, "must be a string"),
    ({"method": "best"}, "rejected"),
    ({"early_stopping": "yes"}, "true, false or a table"),
    ({"early_stopping": {"percentile": 10}}, "did you mean 'percentile_threshold'"),
    ({"initialization_budget": -1}, ">= 0"),
    ({"early_stopping": {"patience": -1.0}}, "patience must be non-negative"),
])
def test_bad_options_are_clear_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises((RunnerError, registry.RegistryError), match=message):
        registry.make_runner("ax.botorch", FLAT, Direction.MINIMIZE, 0, BudgetInfo(), options)


def test_translation_nests_single_value_conditions_and_flattens_the_rest() -> None:
    rows = {row.name: row for row in AxBoTorch.translate(mixed_space())}
    assert "nested under optimizer" in rows["nesterov"].library and not rows["nesterov"].lossy
    assert "nested under nesterov" in rows["dampening"].library
    assert rows["momentum"].lossy and rows["warmup"].lossy  # two values; an integer parent
    assert "is_ordered=False" in rows["schedule"].library


def test_mixed_type_choices_reach_ax_as_strings_and_come_back_as_themselves() -> None:
    space = Space({"c": Categorical((None, 3, "x")), "b": Categorical((True, False)),
                   "k": Int(1, 100, log=True), "y": Float(1e-3, 1.0, log=True)})
    encoding = AxSpace(space)
    kinds = {p.name: p.parameter_type for p in encoding.parameters()}
    assert kinds == {"c": "str", "b": "bool", "k": "int", "y": "float"}
    for config in ({"c": None, "b": True, "k": 1, "y": 1e-3}, {"c": 3, "b": False, "k": 100, "y": 1.0}):
        assert encoding.decode(encoding.encode(config)) == config


def test_a_foreign_configuration_is_attached_to_axs_experiment() -> None:
    space = mixed_space()
    runner = AxBoTorch(space, Direction.MINIMIZE, 1)
    runner.ask()
    foreign = {"lr": 0.1, "width": 8, "depth": 5, "dropout": 0.1, "optimizer": "sgd",
               "momentum": 0.5, "nesterov": False, "dampening": 0.1, "schedule": None, "warmup": 2}
    runner.tell(foreign, Outcome(Status.OK, 1.0, 1))
    trials = runner._client._experiment.trials
    assert trials[0].status.is_abandoned and trials[1].status.is_completed
    assert AxSpace(space).decode(trials[1].arm.parameters) == foreign


def test_same_seed_in_two_processes_gives_the_same_proposals() -> None:
    first, second = proposals_in_processes("ax.botorch", 7, 11)
    assert first == second and len(set(first)) == 7


def test_two_trials_in_flight_are_two_ax_trials_told_in_any_order() -> None:
    """batch=True: the runner may be asked again before it hears back (Ax keeps pending trials)."""
    runner = AxBoTorch(FLAT, Direction.MINIMIZE, 2)
    first, second = runner.ask(), runner.ask()
    assert first != second
    runner.tell(second, Outcome(Status.OK, loss(FLAT, second), 1))
    runner.tell(first, Outcome(Status.FAILED, None, 0))
    trials = runner._client._experiment.trials
    assert trials[0].status.is_failed and trials[1].status.is_completed
