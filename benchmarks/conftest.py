"""Benchmarks report ratios against a reference measured in the same process, never bare seconds."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")


def best_of(rounds: int, setup: Callable[[], object], run: Callable[[object], object]) -> float:
    """Minimum wall time of ``run(setup())`` over ``rounds`` (setup not timed): the reference side."""
    times = []
    for _ in range(rounds):
        arg = setup()
        start = time.perf_counter()
        run(arg)
        times.append(time.perf_counter() - start)
    return min(times)


def report_ratio(benchmark, name: str, reference_seconds: float, target: float | None = None) -> float:
    """Store and print measured/reference; the benchmark's own min is the measured side."""
    measured = benchmark.stats.stats.min
    ratio = measured / reference_seconds
    benchmark.extra_info.update({f"{name}_reference_s": reference_seconds, f"{name}_ratio": ratio})
    verdict = "" if target is None else f" (target ≤ {target}×: {'met' if ratio <= target else 'MISSED'})"
    print(f"\n{name}: {measured:.4f} s vs reference {reference_seconds:.4f} s → {ratio:.2f}×{verdict}")
    return ratio
