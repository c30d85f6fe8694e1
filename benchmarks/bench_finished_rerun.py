"""A finished suite re-run from the command line: what it costs against starting Python itself.

The suite's studies (five libraries' runners on two tasks) are run once; then ``tunebench run``
is started again on the finished store, as a user would, and timed against the same interpreter
started bare (``python -c "import tunebench"``) in the same process, rounds alternating. The
store alone answers (no optimisation library is imported, the interpreter is not re-executed to
fix its hash seed), so the re-run should cost a small multiple of a bare start and well under a
second of wall clock.

Run as a pytest-benchmark case (``pytest benchmarks/bench_finished_rerun.py --benchmark-only -s``)
or as a script (``python -m benchmarks.bench_finished_rerun``).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tunebench

SUITE = """
[suite]
name = "finished-rerun"
repetitions = 2
[budget]
trials = 4
[[tasks]]
name = "branin"
[[tasks]]
name = "hartmann6"
[[runners]]
name = "random"
[[runners]]
name = "optuna.tpe"
[[runners]]
name = "hyperopt.tpe"
[[runners]]
name = "nevergrad.ngopt"
[[runners]]
name = "smac.hpo"
"""
ROUNDS = 5


def _seconds(command: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - t0


def measure() -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="tunebench-bench-rerun-"))
    suite, db = folder / "suite.toml", folder / "r.db"
    suite.write_text(SUITE)
    tunebench.run_suite(suite, db, progress=False)
    rerun = [sys.executable, "-m", "tunebench", "run", str(suite), "--db", str(db), "-q"]
    bare = [sys.executable, "-c", "import tunebench"]
    reruns, bares = [], []
    for _ in range(ROUNDS):
        reruns.append(_seconds(rerun))
        bares.append(_seconds(bare))
    return {"rerun": statistics.median(reruns), "bare": statistics.median(bares)}


def describe(result: dict[str, float]) -> str:
    return (f"finished suite re-run {result['rerun']:.2f} s, bare interpreter "
            f"{result['bare']:.2f} s: {result['rerun'] / result['bare']:.1f}× (median of {ROUNDS})")


def test_finished_rerun(benchmark) -> None:
    result = benchmark.pedantic(measure, rounds=1, iterations=1)
    print("\n" + describe(result))
    assert result["rerun"] < 1.0  # the bound, in wall clock


if __name__ == "__main__":
    print(describe(measure()))
