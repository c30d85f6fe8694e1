"""scikit-optimize, pycma and DEHB runners: the same seed gives the same proposals in two separate
processes (with different hash seeds), and the resolved options are JSON data, the same each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tunebench import registry
from tunebench.runners.base import BudgetInfo
from tunebench.runners.conformance import FIDELITY, drive, mixed_space
from tunebench.space import Direction

#: (runner, trials): past skopt's 10 initial points, several pycma generations, DEHB's brackets.
CASES = [("skopt.gp", 13), ("skopt.rf", 14), ("cma.cmaes", 30), ("dehb", 30)]
SEED = 11


def proposals(name: str, trials: int) -> str:
    """The proposals (configuration and fidelity asked) of a seeded run, as JSON text."""
    runner = registry.make_runner(name, mixed_space(), Direction.MINIMIZE, SEED,
                                  BudgetInfo("trials", trials, 1, FIDELITY), {})
    return json.dumps([[t.config, t.fidelity] for t in drive(runner, mixed_space(), trials)])


def _in_a_process(name: str, trials: int, hash_seed: str) -> str:
    code = ("import sys, warnings; warnings.simplefilter('ignore'); "
            "sys.path.insert(0, sys.argv[1]); from test_runners_library_seeds import proposals; "
            "print(proposals(sys.argv[2], int(sys.argv[3])))")
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__), name, str(trials)],
                          capture_output=True, text=True, env=env, timeout=300, check=True)
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(("name", "trials"), CASES, ids=[c[0] for c in CASES])
def test_same_seed_same_proposals_in_two_processes(name: str, trials: int) -> None:
    first = _in_a_process(name, trials, "1")
    second = _in_a_process(name, trials, "2")
    assert first == second
    assert len({json.dumps(c) for c, _ in json.loads(first)}) > trials // 2  # a real search


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_resolved_options_are_json_and_the_same_for_the_same_study(name: str) -> None:
    def record() -> str:
        runner = registry.make_runner(name, mixed_space(), Direction.MINIMIZE, 3,
                                      BudgetInfo("epochs", 100, 1, 9), {})
        return json.dumps(runner.resolved_options(), sort_keys=True)

    first = record()
    assert first == record() and "0x" not in first
