"""A re-run of the quick suite with the evaluation cache, against its first run, in one process.

The reference is a first run of ``suites/quick.toml`` into a fresh results store, with an empty
cache beside it. The measured side re-runs the same suite into a *new* results store in the same
folder — sharing that cache — so nothing is trained again: what remains is the harness (suite
validation, building tasks and runners, the runners' ask/tell, one cache lookup and one committed
trial per trial). (A re-run into the *same* store is a resume of a finished suite and does nothing.)
Target: under 5 % of the first run's time. Both sides run in this process, so the one-time costs
of importing libraries and of in-process caches (``linreg``'s reference optimum, its data) are paid
by the reference; a separate process would pay those again.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

import tunebench
from tunebench.suite.cache import EvaluationCacheStore
from tunebench.suite.run import RunSummary
from tunebench.suite.spec_parse import resolve_suite_path

from .conftest import report_ratio

ROUNDS = 2
SUITE = resolve_suite_path("quick")
_counter = itertools.count()
_folder = Path(tempfile.mkdtemp(prefix="tunebench-bench-cache-"))


def _run(db: Path) -> RunSummary:
    return tunebench.run_suite(SUITE, db, cache=EvaluationCacheStore.beside(db), progress=False,
                               executor="process", workers=2)


def _fresh_db() -> tuple[tuple[Path], dict]:
    return (_folder / f"rerun-{next(_counter)}.db",), {}


def test_a_cached_rerun_of_the_quick_suite_trains_nothing(benchmark):
    start = time.perf_counter()
    first = _run(_folder / "first.db")
    reference = time.perf_counter() - start
    assert first.ok and first.trials_run > 0

    # The done-when as written: the same suite against its own store is a finished resume.
    start = time.perf_counter()
    again = _run(_folder / "first.db")
    same_store = time.perf_counter() - start
    assert again.trials_run == 0 and again.studies_skipped == again.studies_total
    benchmark.extra_info["same_store_rerun_ratio"] = same_store / reference
    print(f"\nre-run against its own store: {same_store:.2f} s = {same_store / reference:.2%} "
          f"of the first run ({reference:.1f} s)")

    # The stronger check: a new store beside the first one, sharing its evaluation cache.
    cache = EvaluationCacheStore.beside(_folder / "first.db")
    stored = cache.count()
    summary = benchmark.pedantic(_run, setup=_fresh_db, rounds=ROUNDS, iterations=1)
    assert summary.ok and summary.trials_run == first.trials_run
    assert cache.count() == stored  # nothing new was evaluated
    rerun = tunebench.load_trials(_folder / f"rerun-{next(_counter) - 1}.db")
    first_trials = tunebench.load_trials(_folder / "first.db")
    assert rerun["value"].equals(first_trials["value"])  # the same trials, cache or not
    assert rerun["cached"].all()  # pruned trials too: served from the stored prefix
    ratio = report_ratio(benchmark, "cached_rerun_vs_first_run", reference, target=0.05)
    evaluating = float(first_trials["eval_seconds"].sum())
    retrained = float(rerun.loc[~rerun["cached"], "eval_seconds"].sum())
    benchmark.extra_info.update({"first_run_eval_seconds": evaluating, "cached_evaluations": stored,
                                 "rerun_retrained_seconds": retrained})
    print(f"first run {reference:.2f} s ({evaluating:.2f} s of evaluation over both workers); "
          f"cached re-run into a new store {benchmark.stats.stats.min:.2f} s, training nothing "
          f"({retrained:.2f} s of evaluation)")
    assert ratio < 1.0, "a cached re-run must at least be faster than the first run"
