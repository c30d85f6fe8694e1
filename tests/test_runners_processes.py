"""Every registered runner: the same seed gives the same proposals in two separate processes whose
interpreters hash strings differently (``PYTHONHASHSEED`` 1 and 2), and the same as in this one.

This is the conformance suite's same-seed check across processes, where a library that iterates
over a set or seeds from ``hash()`` would diverge (SMAC does, unless tunebench fixes it:
tests/test_runners_smac.py shows the cause). Each process drives every runner once, as the
conformance checks drive it (same space, options and trial counts), so the cost is two interpreter
starts and one conformance run of each runner, the two processes side by side: about 25 s.
Both are also compared with this process's own conformance run (a third hash seed), which
tests/test_runners_conformance.py has made already when the whole suite runs.
Ax and HEBO spend seconds per model-based trial; their own files run the same check
(``test_same_seed_in_two_processes_gives_the_same_proposals``).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest

from tunebench import registry
from tunebench.runners.conformance import ConformanceSkip

pytestmark = pytest.mark.slow

#: Checked in their own files, with fewer trials (a GP fit and an acquisition search per trial).
OWN_FILE = {"ax.botorch": "tests/test_runners_ax.py", "hebo": "tests/test_runners_hebo.py"}
NAMES = [name for name in registry.runner_names() if name not in OWN_FILE]


def proposals(name: str) -> list | str:
    """What ``name`` proposes in its conformance run (configuration, fidelity, continues), as JSON
    data, or why it cannot run here."""
    from test_runners_conformance import conformance

    try:
        trials = conformance(name).reference
    except ConformanceSkip as exc:
        return str(exc)
    return [[t.config, t.fidelity, bool(t.proposal and t.proposal.continues)] for t in trials]


def _all(names: list[str]) -> dict[str, list | str]:
    return json.loads(json.dumps({name: proposals(name) for name in names}))


_SCRIPT = ("import json, sys, warnings; warnings.simplefilter('ignore'); "
           "sys.path.insert(0, sys.argv[1]); from test_runners_processes import _all; "
           "print(json.dumps(_all(sys.argv[2:])))")


@functools.cache
def in_processes() -> tuple[dict, dict]:
    here = os.path.dirname(__file__)
    children = [subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, here, *NAMES], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"})
        for hash_seed in ("1", "2")]
    runs = []
    for child in children:
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0, err[-3000:]
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return runs[0], runs[1]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_proposals_in_processes_with_other_hash_seeds(name: str) -> None:
    first, second = (run[name] for run in in_processes())
    if isinstance(first, str):
        pytest.skip(first)
    assert first == second, next(
        (f"proposal {i}: {a} (PYTHONHASHSEED=1) vs {b} (PYTHONHASHSEED=2)"
         for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b),
        f"{len(first)} proposals against {len(second)}")
    assert first == _all([name])[name]  # and what this process proposed in its conformance run
    assert len({json.dumps(config) for config, _, _ in first}) > len(first) // 2  # a real search


def test_the_runners_checked_in_their_own_files_are_registered() -> None:
    # (the registry may have grown since collection: other tests load plugin files' runners,
    # which a fresh interpreter would not know)
    assert set(OWN_FILE) <= set(registry.runner_names())
