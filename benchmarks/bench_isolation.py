"""What trial isolation costs per trial: ``isolation = "process"`` against the in-process path.

Both sides run the same suite in this process (random search, trials budget, no store writes
beyond tunebench's own), alternating rounds: a ``Reporting`` task that reports every one of its
``STEPS`` steps (each report is a round trip to the parent, which owns the pruner) and returns
in microseconds, so what is measured is the harness, not the task. Reported: milliseconds per
trial each way, their difference (the isolation cost per trial, start-up excluded), the ratio,
and what starting a study's worker costs once (Python, tunebench and the task built and warmed
up in the child). Starting a fresh process per trial would pay that start-up on every trial, so
the worker is persistent; the numbers say by how much it wins.

Run as a pytest-benchmark case (``pytest benchmarks/bench_isolation.py --benchmark-only -s``) or
as a script (``python -m benchmarks.bench_isolation``).
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from pathlib import Path

import tunebench
from tunebench.registry import register_task
from tunebench.space import Float, Space
from tunebench.suite.isolation import IsolatedEvaluator
from tunebench.suite.spec_parse import load_suite
from tunebench.tasks.base import EvalContext, Result, Task

TRIALS = 200
STEPS = 4
ROUNDS = 5
_tmp = Path(tempfile.mkdtemp(prefix="tunebench-bench-isolation-"))


class Reporting(Task):
    """Reports ``STEPS`` steps of a parabola, in microseconds."""

    name = "bench_reporting"
    max_fidelity = STEPS

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config, fidelity, seed, context: EvalContext) -> Result:
        value = (config["x"] - 0.3) ** 2
        for step in range(1, fidelity + 1):
            context.report(step, value + 1.0 / step)
        return Result(value=value, fidelity_spent=fidelity)


if __name__ != "__main__":  # as a script, the importable copy below registers it (a worker
    register_task(Reporting)  # finds a task by its module, and __main__ is not one)


def suite(isolation: str):
    return load_suite({
        "suite": {"name": f"isolation-{isolation}", "seed": 0}, "budget": {"trials": TRIALS},
        "settings": {"isolation": isolation}, "tasks": [{"name": Reporting.name}],
        "runners": [{"name": "random"}],
    })


def one_run(isolation: str) -> float:
    """Seconds of one study of TRIALS trials (the store's set-up included, both sides alike)."""
    gc.collect()
    db = _tmp / f"{isolation}-{time.perf_counter_ns()}.db"
    spec = suite(isolation)
    start = time.perf_counter()
    summary = tunebench.run_suite(spec, db, progress=False)
    seconds = time.perf_counter() - start
    assert summary.ok and summary.trials_run == TRIALS
    return seconds


def worker_start_seconds(rounds: int = 3) -> float:
    """The fastest start of a study's worker (to ready: task built, warm-up run)."""
    from tunebench.registry import make_task

    study = suite("process").studies()[0]
    best = float("inf")
    for _ in range(rounds):
        evaluator = IsolatedEvaluator(study, make_task(Reporting.name), "cpu")
        t0 = time.perf_counter()
        evaluator.start()
        best = min(best, time.perf_counter() - t0)
        evaluator.close()
    return best


def measure(rounds: int = ROUNDS) -> dict[str, float]:
    """Alternating rounds; the per-trial cost from the median paired difference."""
    one_run("process")  # warm both sides (imports, caches)
    one_run("none")
    pairs = [(one_run("none"), one_run("process")) for _ in range(rounds)]
    start = worker_start_seconds()
    inproc = min(a for a, _ in pairs)
    isolated = min(b for _, b in pairs)
    paired_ms = statistics.median((b - a - start) / TRIALS * 1e3 for a, b in pairs)
    return {"in_process_ms": inproc / TRIALS * 1e3, "isolated_ms": isolated / TRIALS * 1e3,
            "cost_per_trial_ms": paired_ms, "ratio": isolated / inproc,
            "worker_start_ms": start * 1e3}


def test_isolated_trial_cost_vs_in_process(benchmark):
    reference: list[float] = []

    def in_process_round_first():
        reference.append(one_run("none"))
        return ("process",), {}

    one_run("process")
    benchmark.pedantic(one_run, setup=in_process_round_first, rounds=ROUNDS, iterations=1,
                       warmup_rounds=1)
    start = worker_start_seconds()
    measured = benchmark.stats.stats.min
    ratio = measured / min(reference)
    cost_ms = statistics.median(
        (ours - bare - start) / TRIALS * 1e3
        for ours, bare in zip(benchmark.stats.stats.data, reference[-ROUNDS:], strict=True))
    benchmark.extra_info.update({"isolated_vs_in_process_ratio": ratio,
                                 "isolation_cost_per_trial_ms": cost_ms,
                                 "worker_start_ms": start * 1e3})
    print(f"\nisolated {measured / TRIALS * 1e3:.3f} ms/trial vs in-process "
          f"{min(reference) / TRIALS * 1e3:.3f} ms/trial ({ratio:.2f}×); isolation costs "
          f"{cost_ms:.3f} ms per trial of {STEPS} reports, plus {start * 1e3:.0f} ms once per "
          "study (the worker's start)")
    # A round trip per report and per trial: far below any trial worth isolating.
    assert cost_ms < 20, "isolation costs far more per trial than a few socket round trips"


if __name__ == "__main__":
    from benchmarks import bench_isolation

    numbers = bench_isolation.measure()
    for key, value in numbers.items():
        print(f"{key}: {value:.3f}")
