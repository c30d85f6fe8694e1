"""Scaling of the process executor (1 → 2 workers) and the Ray executor's overhead against it.

The suite is CPU-bound (linear regression trained by gradient descent, one thread per study), eight
studies, so two workers on two cores should approach 2×. Ray's cost is its start-up plus per-task
scheduling and the queue that streams trials back; it is reported as Ray time / process time.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest

import tunebench
from tunebench.suite.spec_parse import load_suite

from .conftest import best_of, report_ratio

_counter = itertools.count()
_tmp = Path(tempfile.mkdtemp(prefix="tunebench-scaling-"))

SUITE = load_suite({
    "suite": {"name": "scaling", "seed": 0, "repetitions": 4},
    "budget": {"trials": 200}, "settings": {"threads": 1},
    "tasks": [{"name": "linreg"}], "runners": [{"name": "random"}, {"name": "grid"}],
})


def _db() -> Path:
    return _tmp / f"run-{next(_counter)}.db"


def _run(executor: str, workers: int):
    def run(db: Path) -> None:
        summary = tunebench.run_suite(SUITE, db, executor=executor, workers=workers, progress=False)
        assert summary.ok and summary.studies_run == 8

    return run


def test_process_executor_scales_from_one_to_two_workers(benchmark):
    one_worker = best_of(2, _db, _run("process", 1))
    benchmark.pedantic(_run("process", 2), setup=lambda: ((_db(),), {}), rounds=2, iterations=1)
    ratio = report_ratio(benchmark, "process_2_workers_vs_1", one_worker)
    print(f"speed-up with 2 workers: {1 / ratio:.2f}×")


def test_ray_executor_overhead_against_the_process_executor(benchmark):
    pytest.importorskip("ray")
    process = best_of(2, _db, _run("process", 2))
    benchmark.pedantic(_run("ray", 2), setup=lambda: ((_db(),), {}), rounds=2, iterations=1)
    report_ratio(benchmark, "ray_vs_process_2_workers", process)
