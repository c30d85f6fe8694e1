"""Harness overhead as a ratio of executed instructions (valgrind), immune to a noisy machine.

Wall-clock ratios on a shared VM swing by ±20% between runs (`test_harness_overhead.py` alternates
rounds and keeps each side's fastest to damp that). Instruction counts do not swing: this script
runs each side of that benchmark in its own process under ``valgrind --tool=callgrind`` and
subtracts a process that only imports and warms both sides up. Instructions are not time (a
cache miss costs more than an add), so read it beside the wall-clock ratio, not instead of it.

    python benchmarks/count_overhead_instructions.py      # about 5 minutes on 2 cores
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SIDE = """
import sys
sys.path.insert(0, {root!r})
import benchmarks.test_harness_overhead as bench
import tunebench
from tunebench.suite.spec_parse import load_suite
trials, bench.TRIALS = bench.TRIALS, 3
bench.bare_optuna_loop(bench._fresh_db())  # warm-up: imports and lazy caches of both sides
tunebench.run_suite(load_suite({{"suite": {{"name": "warm-up"}}, "budget": {{"trials": 3}},
                                "tasks": [{{"name": "branin"}}], "runners": [{{"name": "optuna.random"}}]}}),
                    bench._fresh_db(), progress=False)
bench.TRIALS = trials
if sys.argv[1] == "bare":
    bench.bare_optuna_loop(bench._fresh_db())
elif sys.argv[1] == "tunebench":
    bench.tunebench_run(bench._fresh_db())
"""


def instructions(side: str) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c",
         SIDE.format(root=str(ROOT)), side],
        capture_output=True, text=True, check=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    return int(re.search(r"Collected : (\d+)", out.stderr).group(1))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    with ThreadPoolExecutor(3) as pool:
        warm, bare, ours = pool.map(instructions, ["warm-up only", "bare", "tunebench"])
    bare_cost, our_cost = bare - warm, ours - warm
    from benchmarks.test_harness_overhead import TRIALS

    print(f"bare optuna loop: {bare_cost / TRIALS:,.0f} instructions/trial")
    print(f"tunebench:        {our_cost / TRIALS:,.0f} instructions/trial")
    print(f"ratio:            {our_cost / bare_cost:.3f}×")


if __name__ == "__main__":
    main()
