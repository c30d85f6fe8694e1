"""What a shipped table buys: a 100-trial study on ``table/mnist_cnn_1k`` against the same study
on the real ``mnist_cnn`` it was tabulated from (1,000 training images, 5 epochs).

The replay runs the whole study (random search, 100 trials, every trial at the table's 5
epochs). The real side runs a few full trials of the same task with the table's options and is
extrapolated per epoch (its trials' own training seconds) to the study's 500 epochs (running 100
real trials would take most of an hour here). Both sides run in this process, one after the
other. Reported: seconds of each and their ratio (the issue asks ≥ 1,000×).

Run as a pytest-benchmark case (``pytest benchmarks/bench_table_speedup.py --benchmark-only -s``)
or as a script (``python -m benchmarks.bench_table_speedup``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import tunebench
from tunebench.suite.loading import load_trials

TRIALS = 100
REAL_TRIALS = 2
OPTIONS = {"train_size": 1000, "test_size": 1000, "max_epochs": 5}


def _suite(task: str, options: dict, trials: int) -> dict:
    return {"suite": {"name": f"speedup-{task.replace('/', '-')}", "seed": 0},
            "budget": {"trials": trials}, "settings": {"threads": 1},
            "tasks": [{"name": task, "options": options}], "runners": [{"name": "random"}]}


def measure() -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="tunebench-bench-table-"))
    # Once first, so the timed study pays neither imports nor reading the table (the real side's
    # figure leaves out its worker's start and data loading alike).
    tunebench.run_suite(_suite("table/mnist_cnn_1k", {}, TRIALS), folder / "warm.db",
                        progress=False)
    t0 = time.perf_counter()
    tunebench.run_suite(_suite("table/mnist_cnn_1k", {}, TRIALS), folder / "replay.db",
                        progress=False)
    replay = time.perf_counter() - t0
    tunebench.run_suite(_suite("mnist_cnn", OPTIONS, REAL_TRIALS), folder / "real.db",
                        progress=False)
    real = load_trials(folder / "real.db")
    # The trials' own training seconds: the worker's start, imports and data loading left out,
    # so the extrapolation does not flatter the table.
    per_epoch = real["eval_seconds"].sum() / real["fidelity_spent"].sum()
    extrapolated = per_epoch * TRIALS * OPTIONS["max_epochs"]
    return {"replay": replay, "real_extrapolated": extrapolated, "per_epoch": per_epoch,
            "ratio": extrapolated / replay}


def describe(r: dict[str, float]) -> str:
    return (f"{TRIALS}-trial study: table/mnist_cnn_1k {r['replay']:.2f} s; real mnist_cnn "
            f"{r['real_extrapolated']:.0f} s (extrapolated from {REAL_TRIALS} trials at "
            f"{r['per_epoch']:.2f} s per epoch): {r['ratio']:,.0f}× faster")


def test_table_speedup(benchmark) -> None:
    result = benchmark.pedantic(measure, rounds=1, iterations=1)
    print("\n" + describe(result))
    assert result["ratio"] >= 1000


if __name__ == "__main__":
    print(describe(measure()))
