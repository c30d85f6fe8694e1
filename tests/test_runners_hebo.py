"""The hebo runner is HEBO's own suggest/observe loop, proposal by proposal, and reproducible.

HEBO's model-based suggestions cost about a second each (a GP fit and 100 generations of NSGA-II
over the MACE acquisition), so runs stop a few trials past HEBO's Sobol phase (1 + number of
parameters). Cost (1 core): about 2 minutes.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from separate_processes import assert_same_as_library, proposals_in_processes
from test_runners_defaults import FLAT, SEED, fails, loss, tunebench_loop

from tunebench import registry
from tunebench.runners.base import BudgetInfo, Outcome, RunnerError, Status
from tunebench.runners.conformance import mixed_space
from tunebench.runners.hebo_library import HEBO, HEBO_THREADS
from tunebench.runners.hebo_runner import HEBORunner, seeded_pymoo
from tunebench.runners.hebo_space import decode, design_space, encode
from tunebench.space import Categorical, Config, Direction, Float, Int, Space

pytestmark = pytest.mark.slow


def hebo_loop(space: Space, n: int, seed_pymoo: bool = True) -> list[Config]:
    """HEBO's loop as its examples write it: seed numpy and torch, HEBO(space, scramble_seed),
    suggest / observe (a failure observed as inf). Run at the one torch thread HEBO's import
    sets, with tunebench's declared deviation (pymoo seeded) unless ``seed_pymoo`` is False."""
    threads = torch.get_num_threads()
    torch.set_num_threads(HEBO_THREADS)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    random.seed(SEED)
    optimizer = HEBO(design_space(space), scramble_seed=SEED)
    proposed = []
    try:
        with seeded_pymoo() if seed_pymoo else contextlib.nullcontext():
            for _ in range(n):
                rec = optimizer.suggest(n_suggestions=1)
                config = decode(space, rec.iloc[0])
                proposed.append(config)
                value = np.inf if fails(space, config) else loss(space, config)
                optimizer.observe(rec, np.array([[value]]))
    finally:
        torch.set_num_threads(threads)
    return proposed


@pytest.mark.parametrize(("space", "n"), [(FLAT, 7), (mixed_space(), 15)], ids=["flat", "conditional"])
def test_default_runner_proposes_what_hebos_own_loop_proposes(space: Space, n: int) -> None:
    assert_same_as_library(tunebench_loop("hebo", space, n), hebo_loop(space, n), space, n)


def test_without_a_pymoo_seed_hebo_is_not_reproducible() -> None:
    """Why tunebench seeds pymoo: the same seeds, the same Sobol points (scramble_seed), then
    different model-based suggestions (failed trials do not count towards the Sobol phase)."""
    n = len(FLAT) + 4
    first, second = hebo_loop(FLAT, n, seed_pymoo=False), hebo_loop(FLAT, n, seed_pymoo=False)
    assert first[: len(FLAT) + 1] == second[: len(FLAT) + 1]
    assert first != second
    assert hebo_loop(FLAT, n) == hebo_loop(FLAT, n)  # with the seed: reproducible


def test_the_runner_neither_depends_on_nor_disturbs_the_global_generators() -> None:
    n = len(FLAT) + 2
    reference = tunebench_loop("hebo", FLAT, n)
    runner = HEBORunner(FLAT, Direction.MINIMIZE, SEED, BudgetInfo("trials", n, 1, 1))
    proposed = []
    threads = torch.get_num_threads()
    for i in range(n):
        np.random.seed(1000 + i)  # the process's generators change between the runner's calls
        torch.manual_seed(1000 + i)
        before = (np.random.get_state()[1].copy(), torch.random.get_rng_state().clone())
        config = runner.ask()
        value = None if fails(FLAT, config) else loss(FLAT, config)
        runner.tell(config, Outcome(Status.FAILED if value is None else Status.OK, value, 1))
        assert (np.random.get_state()[1] == before[0]).all()
        assert torch.equal(torch.random.get_rng_state(), before[1])
        assert torch.get_num_threads() == threads
        proposed.append(config)
    assert proposed == reference


def test_maximising_negates_for_hebo() -> None:
    runner = HEBORunner(FLAT, Direction.MAXIMIZE, 0)
    config = runner.ask()
    runner.tell(config, Outcome(Status.OK, 2.5, 1))
    assert runner._hebo.y.tolist() == [[-2.5]]


def test_failed_trials_are_not_learned_from() -> None:
    runner = HEBORunner(FLAT, Direction.MINIMIZE, 0)
    runner.tell(runner.ask(), Outcome(Status.FAILED, None, 0))
    runner.tell(runner.ask(), Outcome(Status.OK, 1.0, 1))
    assert runner._hebo.y.tolist() == [[1.0]]


def test_resolved_options_record_hebos_defaults_and_the_deviation() -> None:
    resolved = HEBORunner(mixed_space(), Direction.MINIMIZE, 4).resolved_options()
    assert json.loads(json.dumps(resolved)) == resolved  # recorded per study as JSON
    assert resolved["model_name"] == "gp" and resolved["es"] == "nsga2"
    assert resolved["rand_sample"] == 11  # HEBO's 1 + number of parameters
    assert resolved["acq_cls"] == "hebo.acquisitions.acq.MACE"
    assert resolved["scramble_seed"] == 4 and "numpy generator" in resolved["pymoo_seed"]
    assert HEBORunner(FLAT, Direction.MINIMIZE, 4, rand_sample=3).resolved_options()["rand_sample"] == 3
    assert "pymoo" in HEBORunner.capabilities.notes


@pytest.mark.parametrize(("options", "message"), [
    ({"model": "gp"}, "did you mean 'model_name'"),
    ({"model_name": "gpx"}, "must be one of"),
    ({"acq_cls": "MACE"}, "cannot express"),
    ({"scramble_seed": 3}, "does not accept"),  # the runner's seed
    ({"rand_sample": 2.5}, "integer"),
])
def test_bad_options_are_clear_errors(options: dict, message: str) -> None:
    with pytest.raises((RunnerError, registry.RegistryError), match=message):
        registry.make_runner("hebo", FLAT, Direction.MINIMIZE, 0, BudgetInfo(), options)


def test_translation_and_round_trip_of_every_kind() -> None:
    space = Space({"c": Categorical((None, 3, "x")), "b": Categorical((True, False)),
                   "k": Int(1, 100, log=True), "j": Int(-3, 3), "y": Float(1e-3, 1.0, log=True),
                   "z": Float(-1.0, 1.0, active_if={"b": True})})
    types = {name: type(para).__name__ for name, para in design_space(space).paras.items()}
    assert types == {"c": "CategoricalPara", "b": "CategoricalPara", "k": "PowIntegerPara",
                     "j": "IntegerPara", "y": "PowPara", "z": "NumericPara"}
    for config in ({"c": None, "b": True, "k": 1, "j": -3, "y": 1e-3, "z": 0.5},
                   {"c": 3, "b": False, "k": 100, "j": 3, "y": 1.0}):
        assert decode(space, encode(space, config).iloc[0]) == config
    rows = {row.name: row for row in HEBORunner.translate(space)}
    assert rows["z"].lossy and not rows["y"].lossy and "logarithm" in rows["y"].library


def test_importing_the_runner_leaves_torchs_thread_count_alone() -> None:
    script = ("import torch; torch.set_num_threads(2); import tunebench.runners.hebo_runner; "
              "from tunebench.runners.hebo_library import HEBO_THREADS; "
              "print(torch.get_num_threads(), HEBO_THREADS)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=300).stdout.split()
    assert out == ["2", "1"]  # the process keeps its 2; HEBO's calls run at HEBO's 1


def test_same_seed_in_two_processes_gives_the_same_proposals() -> None:
    first, second = proposals_in_processes("hebo", 16, 11)
    assert first == second and len(set(first)) == 16
