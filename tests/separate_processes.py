"""A runner's proposals computed in fresh Python processes (different hash seeds), for the
"same seed, two processes, same proposals" checks of the library runners."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


__all__ = ["proposals_in_processes"]
