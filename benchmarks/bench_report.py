"""Report generation for a store of 100,000 trials: under 30 s on two cores.

The store is synthetic (see :mod:`tunebench.testing.synthetic_store`), written through the store's own
writer, so the timed part is what ``tunebench report`` does: read the store, build every frame,
statistic and figure, and write HTML, Markdown, PNG, SVG, CSV and LaTeX.

Run it as a pytest-benchmark case (``pytest benchmarks/bench_report.py --benchmark-only``) or as a
script (``python benchmarks/bench_report.py``), which prints the time of each step.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tunebench.reports import write_report
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store, write_store

#: The issue's target, in seconds.
TARGET_SECONDS = 30.0

#: 10 tasks × 5 runners × 20 repetitions × 100 trials (two tasks under epoch budgets).
TASKS = [
    SynthTask(f"sphere-{i}", scale=10.0 ** (i % 3), budget_amount=100) for i in range(6)
] + [
    SynthTask("accuracy-a", direction="maximize", optimum=None, scale=0.4, best=0.97,
              budget_amount=100),
    SynthTask("accuracy-b", direction="maximize", optimum=None, scale=0.3, best=0.9,
              budget_amount=100),
    SynthTask("epochs-a", budget_kind="epochs", budget_amount=250, max_fidelity=4),
    SynthTask("epochs-b", budget_kind="epochs", budget_amount=250, max_fidelity=4, optimum=None,
              best=1.0),
]
RUNNERS = [
    SynthRunner("random"), SynthRunner("tpe", power=3.0), SynthRunner("cma", power=2.0),
    SynthRunner("ngopt", power=2.5, fail_rate=0.02), SynthRunner("anneal", power=1.5),
]
REPETITIONS = 20


def make_store(directory: Path) -> tuple[Path, int]:
    data = synthetic_store(TASKS, RUNNERS, REPETITIONS, seed=1, suite="bench")
    db = directory / "bench.db"
    write_store(data, db)
    return db, len(data.trials)


def test_report_of_100k_trials(benchmark) -> None:
    directory = Path(tempfile.mkdtemp(prefix="tunebench-bench-report-"))
    db, n_trials = make_store(directory)
    assert n_trials >= 100_000
    benchmark.pedantic(write_report, args=(db, directory / "report"), rounds=1, iterations=1)
    seconds = benchmark.stats.stats.min
    benchmark.extra_info.update(trials=n_trials, target_seconds=TARGET_SECONDS)
    print(f"\nreport of {n_trials} trials: {seconds:.1f} s (target < {TARGET_SECONDS:.0f} s)")
    assert seconds < TARGET_SECONDS


def main() -> int:
    directory = Path(tempfile.mkdtemp(prefix="tunebench-bench-report-"))
    start = time.perf_counter()
    db, n_trials = make_store(directory)
    print(f"store of {n_trials} trials written in {time.perf_counter() - start:.1f} s: {db}")
    start = last = time.perf_counter()
    cpu = time.process_time()

    def step(description: str) -> None:
        nonlocal last
        now = time.perf_counter()
        print(f"  {now - start:6.2f} s (+{now - last:5.2f}) {description}")
        last = now

    written = write_report(db, directory / "report", progress=step)
    wall = time.perf_counter() - start
    print(f"report written in {wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU "
          f"(target < {TARGET_SECONDS:.0f} s): {written.index}")
    return 0 if wall < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
