"""Checks the Ax and HEBO runner tests share: a runner's proposals in fresh Python processes
(different hash seeds), and the comparison with the library's own loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

_SCRIPT = """
import json, sys
from tunebench import registry
from tunebench.runners.conformance import drive, mixed_space
from tunebench.runners.base import BudgetInfo
from tunebench.space import Direction, config_key

name, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
space = mixed_space()
runner = registry.make_runner(name, space, Direction.MINIMIZE, seed, BudgetInfo("trials", n), {})
print(json.dumps([config_key(t.config) for t in drive(runner, space, n)]))
"""


def proposals_in_processes(runner: str, n: int, seed: int,
                           hash_seeds: tuple[str, ...] = ("1", "2")) -> list[list[str]]:
    """The first ``n`` proposals of ``runner`` on the conformance space, driven as the
    conformance checks drive it, once per hash seed, each in its own process (run in parallel)."""
    children = []
    for hash_seed in hash_seeds:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        children.append(subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, runner, str(n), str(seed)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    runs = []
    for child in children:
        out, err = child.communicate(timeout=900)
        assert child.returncode == 0, err[-2000:]
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return runs


def assert_same_as_library(ours: list, theirs: list, space: Any, distinct: int,
                           with_failure: bool = True) -> None:
    """The runner proposed what the library's loop did, trial by trial; the run is a real search
    (at least ``distinct`` different configurations) and, if ``with_failure``, includes a failed
    trial."""
    from test_runners_defaults import fails

    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"trial {i}: tunebench proposed {a}, the library's loop {b}"
    assert len({str(c) for c in ours}) >= distinct
    assert any(fails(space, c) for c in ours) or not with_failure


__all__ = ["assert_same_as_library", "proposals_in_processes"]
