"""What keeping k evaluations in flight buys: a study's wall time at ``in_flight = 1, 2, 4``.

The same suite (random search, a trials budget, isolated evaluations: each in its own worker
process) runs at each k in this process, rounds alternating. Two tasks: one whose steps sleep
(what a trial waiting on a device or a remote service looks like: the ideal, limited only by the
harness's scheduling) and one whose steps compute (numpy on the CPU: limited by the cores).
Reported: seconds per study at each k and the speed-up over k = 1. The trials are the same at
every k only for k's own schedule (a different k is a different study), so only time is compared.

Run as a pytest-benchmark case (``pytest benchmarks/bench_in_flight.py --benchmark-only -s``) or
as a script (``python -m benchmarks.bench_in_flight``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import tunebench
from tunebench.registry import register_task
from tunebench.space import Float, Space
from tunebench.suite.spec_parse import load_suite
from tunebench.tasks.base import EvalContext, Result, Task

TRIALS = 16
STEPS = 3
STEP_SECONDS = 0.05
ROUNDS = 3
_tmp = Path(tempfile.mkdtemp(prefix="tunebench-bench-in-flight-"))


class Waiting(Task):
    """Each step sleeps STEP_SECONDS."""

    name = "bench_waiting"
    max_fidelity = STEPS

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config, fidelity, seed, context: EvalContext) -> Result:
        for step in range(1, fidelity + 1):
            time.sleep(STEP_SECONDS)
            context.report(step, config["x"] + 1.0 / step)
        return Result(value=config["x"], fidelity_spent=fidelity)


class Computing(Waiting):
    """Each step multiplies matrices for about STEP_SECONDS of one core."""

    name = "bench_computing"

    def evaluate(self, config, fidelity, seed, context: EvalContext) -> Result:
        a = np.random.default_rng(seed).standard_normal((160, 160))
        for step in range(1, fidelity + 1):
            deadline = time.process_time() + STEP_SECONDS
            while time.process_time() < deadline:
                a = np.tanh(a @ a.T / 160.0)
            context.report(step, config["x"] + 1.0 / step)
        return Result(value=config["x"], fidelity_spent=fidelity)


if __name__ != "__main__":  # as a script, the importable copy registers them (a worker finds a
    register_task(Waiting)  # task by its module, and __main__ is not one)
    register_task(Computing)


def seconds(task: str, k: int, index: int) -> float:
    spec = load_suite({
        "suite": {"name": f"in-flight-{task}-{k}", "seed": 0}, "budget": {"trials": TRIALS},
        "settings": {"in_flight": k, "isolation": "process"},
        "tasks": [{"name": task}], "runners": [{"name": "random"}]})
    t0 = time.perf_counter()
    tunebench.run_suite(spec, _tmp / f"{task}-{k}-{index}.db", progress=False)
    return time.perf_counter() - t0


def measure(ks: tuple[int, ...] = (1, 2, 4)) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for task in ("bench_waiting", "bench_computing"):
        runs: dict[int, list[float]] = {k: [] for k in ks}
        for index in range(ROUNDS):
            for k in ks:
                runs[k].append(seconds(task, k, index))
        out[task] = {k: statistics.median(v) for k, v in runs.items()}
    return out


def describe(result: dict[str, dict[int, float]]) -> str:
    lines = [f"{TRIALS} trials × {STEPS} steps of {STEP_SECONDS * 1000:.0f} ms, isolated; median "
             f"of {ROUNDS} rounds"]
    for task, by_k in result.items():
        base = by_k[1]
        lines.append(f"  {task:16} " + "   ".join(
            f"k={k}: {s:5.2f} s ({base / s:4.2f}×)" for k, s in by_k.items()))
    return "\n".join(lines)


def test_in_flight_speed_up(benchmark) -> None:
    result = benchmark.pedantic(measure, rounds=1, iterations=1)
    print("\n" + describe(result))
    # A guard, not a figure: two in flight must not be slower than one on a waiting task.
    assert result["bench_waiting"][2] < result["bench_waiting"][1]


if __name__ == "__main__":
    from benchmarks import bench_in_flight as importable  # registers the tasks by module

    print(importable.describe(importable.measure()))
