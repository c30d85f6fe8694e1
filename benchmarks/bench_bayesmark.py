"""What one evaluation of a Bayesmark problem costs here: the charged 5-fold cross-validation and
the uncharged refit and test scoring, in process (the family's ``isolation = "none"``).

Per problem: the median and the largest wall time over ``CONFIGS`` random configurations (the
same seeds for every problem), after one warm-up evaluation that loads the data. Run as a script
(``python -m benchmarks.bench_bayesmark [PROBLEM ...]``, every problem by default) or as a
pytest-benchmark case on one cheap problem (``pytest benchmarks/bench_bayesmark.py --benchmark-only``).
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time

import numpy as np

from tunebench.registry import make_task
from tunebench.tasks.base import EvalContext
from tunebench.tasks.bayesmark import PROBLEMS

CONFIGS = 5


def evaluation_seconds(problem: str, configs: int = CONFIGS) -> tuple[list[float], list[float]]:
    """(total, charged) wall seconds of ``configs`` evaluations of ``problem``."""
    task = make_task(f"bayesmark/{problem}")
    rng = np.random.default_rng(0)
    task.evaluate(task.space.sample(rng), 1, 0, EvalContext())  # data loaded, imports paid
    total, charged = [], []
    for _ in range(configs):
        context = EvalContext()
        started = time.perf_counter()
        with contextlib.suppress(ValueError, FloatingPointError):  # a failed trial costs what it cost
            task.evaluate(task.space.sample(rng), 1, 0, context)
        spent = time.perf_counter() - started
        total.append(spent)
        charged.append(spent - context.uncharged_seconds)
    return total, charged


def test_bench_bayesmark_evaluation(benchmark):
    task = make_task("bayesmark/SVM-wine-acc")
    config = task.space.default()
    task.evaluate(config, 1, 0, EvalContext())
    result = benchmark(lambda: task.evaluate(config, 1, 0, EvalContext()))
    assert result.value < 0


def main(problems: list[str]) -> None:
    print(f"{'problem':24} {'median ms':>10} {'max ms':>9} {'charged ms':>11}")
    for problem in problems:
        total, charged = evaluation_seconds(problem)
        print(f"{problem:24} {1000 * statistics.median(total):10.1f} {1000 * max(total):9.1f} "
              f"{1000 * statistics.median(charged):11.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(PROBLEMS))
