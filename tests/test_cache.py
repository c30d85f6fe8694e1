"""The evaluation cache: a re-run trains nothing, and nothing it serves differs from a live run."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import warnings

import pytest
from typer.testing import CliRunner

import tunebench
from tunebench.registry import load_plugin_file, make_task
from tunebench.suite.cache import (
    CACHE_FILENAME,
    EvaluationCacheStore,
    is_cacheable,
    task_code_hash,
)
from tunebench.suite.store import load_trials

HEADER = """
[suite]
name = "cache"
seed = 3
repetitions = 2
plugins = ["@PLUGIN@"]
"""

#: What must be identical with and without the cache (charges and recorded times included).
SAME = ["task", "runner", "repetition", "trial", "status", "value", "test_value", "config_key",
        "fidelity", "fidelity_spent", "charge", "budget_spent", "eval_seconds", "cpu_seconds", "error"]


def _suite(write_suite, body: str, name: str = "suite.toml"):
    return write_suite(HEADER + body, name)


def test_a_rerun_into_a_new_store_is_served_entirely_from_the_cache(write_suite, tmp_path):
    path = _suite(write_suite, """
[budget]
trials = 15
[[tasks]]
name = "branin"
[[tasks]]
name = "curve"
[[runners]]
name = "random"
[[runners]]
name = "grid"
options = { resolution = 8 }
""")
    first = EvaluationCacheStore.beside(tmp_path / "a.db")
    tunebench.run_suite(path, tmp_path / "a.db", cache=first, progress=False)
    assert first.stats.stored > 0
    second = EvaluationCacheStore.beside(tmp_path / "b.db")
    assert second.path == first.path == tmp_path / CACHE_FILENAME
    tunebench.run_suite(path, tmp_path / "b.db", cache=second, progress=False)
    a, b = load_trials(tmp_path / "a.db"), load_trials(tmp_path / "b.db")
    assert second.stats.misses == 0 and second.stats.hits == len(b) == 2 * 2 * 2 * 15
    assert b["cached"].all()
    # A configuration proposed twice in a study was a hit already in the first run.
    assert first.stats.hits + first.stats.misses == len(a) and a["cached"].sum() == first.stats.hits
    assert a[SAME].equals(b[SAME])


def test_without_a_cache_the_numbers_are_the_same(write_suite, tmp_path):
    path = _suite(write_suite, """
[budget]
trials = 10
[[tasks]]
name = "curve"
[[runners]]
name = "random"
""")
    cache = EvaluationCacheStore(tmp_path / "c.db")
    tunebench.run_suite(path, tmp_path / "warm.db", cache=cache, progress=False)
    tunebench.run_suite(path, tmp_path / "hit.db", cache=cache, progress=False)
    tunebench.run_suite(path, tmp_path / "live.db", progress=False)
    keep = [c for c in SAME if c not in ("eval_seconds", "cpu_seconds")]
    assert load_trials(tmp_path / "hit.db")[keep].equals(load_trials(tmp_path / "live.db")[keep])


def test_a_device_seconds_budget_runs_out_at_the_same_trial(write_suite, tmp_path):
    path = _suite(write_suite, """
[budget]
device_seconds = 0.05
[[tasks]]
name = "curve"
options = { delay = 0.001 }
[[runners]]
name = "random"
""")
    cache = EvaluationCacheStore(tmp_path / "c.db")
    tunebench.run_suite(path, tmp_path / "a.db", cache=cache, progress=False)
    tunebench.run_suite(path, tmp_path / "b.db", cache=cache, progress=False)
    a, b = load_trials(tmp_path / "a.db"), load_trials(tmp_path / "b.db")
    # The trial each study's budget ran out in was clipped: not a complete evaluation, so never
    # stored; it runs again, live, under what remains (the same amount: the same trials before
    # it, charged their recorded seconds). Measured live, it may just fit this time and the next
    # trial be clipped instead: timing decides that, nothing else.
    def clipped_at(trials):
        clipped = trials["error"].fillna("").str.startswith("Clipped")
        last = trials.groupby("study_id")["trial"].max()
        assert (last == trials[clipped].set_index("study_id")["trial"]).all()  # the last, once
        return last

    first = clipped_at(a)
    assert (clipped_at(b) >= first).all()
    before = b["trial"] < b["study_id"].map(first)
    assert b.loc[before, "cached"].all() and not b.loc[~before, "cached"].any()
    theirs = a[a["trial"] < a["study_id"].map(first)][SAME].reset_index(drop=True)
    assert theirs.equals(b.loc[before, SAME].reset_index(drop=True))  # the recorded seconds
    # Both spent the whole budget (a sum of other charges when the clip moved: equal to rounding).
    assert list(a.groupby("study_id")["charge"].sum()) == pytest.approx(
        list(b.groupby("study_id")["charge"].sum()), rel=1e-12)


def test_cached_curves_are_replayed_through_the_runners_pruner(write_suite, tmp_path):
    # Same runner label and suite seed: "random" and "recorder" propose the same configurations,
    # so the recorder (which prunes) meets evaluations that random search stored complete.
    body = """
[budget]
epochs = 120
[[tasks]]
name = "curve"
[[runners]]
name = "@RUNNER@"
label = "r"
"""
    complete = _suite(write_suite, body.replace("@RUNNER@", "random"), "random.toml")
    pruning = _suite(write_suite, body.replace("@RUNNER@", "recorder"), "recorder.toml")
    cache = EvaluationCacheStore(tmp_path / "c.db")
    tunebench.run_suite(complete, tmp_path / "complete.db", cache=cache, progress=False)
    replay = EvaluationCacheStore(tmp_path / "c.db")
    tunebench.run_suite(pruning, tmp_path / "cached.db", cache=replay, progress=False)
    tunebench.run_suite(pruning, tmp_path / "live.db", progress=False)
    cached, live = load_trials(tmp_path / "cached.db"), load_trials(tmp_path / "live.db")
    assert replay.stats.pruned_hits > 0 and (cached["status"] == "pruned").any()
    keep = ["repetition", "trial", "status", "value", "test_value", "config_key", "fidelity",
            "fidelity_spent", "charge"]
    assert cached[keep].equals(live[keep])
    # Served from complete evaluations, nothing was evaluated: no prefix was needed.
    assert {e["status"] for e in replay.entries()} == {"ok"}


def test_a_pruning_runner_rerun_trains_nothing_pruned_trials_included(write_suite, tmp_path):
    path = _suite(write_suite, """
[budget]
epochs = 60
[[tasks]]
name = "curve"
[[runners]]
name = "recorder"
""")
    cache = EvaluationCacheStore(tmp_path / "c.db")
    tunebench.run_suite(path, tmp_path / "first.db", cache=cache, progress=False)
    first = load_trials(tmp_path / "first.db")
    assert (first["status"] == "pruned").any()
    assert "pruned" in {e["status"] for e in cache.entries()}  # stored as prefixes
    again = EvaluationCacheStore(tmp_path / "c.db")
    tunebench.run_suite(path, tmp_path / "second.db", cache=again, progress=False)
    second = load_trials(tmp_path / "second.db")
    assert second["cached"].all()
    assert again.stats.misses == 0
    keep = ["trial", "status", "value", "config_key", "fidelity_spent", "charge"]
    assert first[keep].equals(second[keep])


def test_only_complete_and_deterministic_failures_are_stored(write_suite, tmp_path):
    path = _suite(write_suite, """
[budget]
trials = 40
[[tasks]]
name = "flaky"
[[runners]]
name = "random"
""")
    cache = EvaluationCacheStore(tmp_path / "c.db")
    tunebench.run_suite(path, tmp_path / "a.db", cache=cache, progress=False)
    trials = load_trials(tmp_path / "a.db")
    errors = trials["error"].dropna()
    assert errors.str.startswith("RuntimeError").any() and errors.str.startswith("NonFiniteValue").any()
    stored = list(cache.entries())
    assert len(stored) == int((trials["status"] == "ok").sum() + errors.str.startswith("NonFinite").sum())
    assert {e["status"] for e in stored} == {"ok", "failed"}


def test_timeouts_are_not_stored(write_suite, tmp_path):
    path = _suite(write_suite, """
[budget]
trials = 6
[settings]
trial_timeout = 0.1
[[tasks]]
name = "sleepy"
[[runners]]
name = "random"
""")
    cache = EvaluationCacheStore(tmp_path / "c.db")
    tunebench.run_suite(path, tmp_path / "a.db", cache=cache, progress=False)
    trials = load_trials(tmp_path / "a.db")
    timed_out = trials["error"].fillna("").str.startswith("TrialTimeout")
    assert timed_out.any()
    assert cache.count() == int((~timed_out).sum())


def test_changing_threads_or_options_misses(write_suite, tmp_path):
    base = """
[budget]
trials = 5
[settings]
threads = @T@
[[tasks]]
name = "rosenbrock"
options = @O@
[[runners]]
name = "random"
"""
    cache = EvaluationCacheStore(tmp_path / "c.db")

    def run(threads: int, options: str, name: str) -> EvaluationCacheStore:
        store = EvaluationCacheStore(cache.path)
        text = base.replace("@T@", str(threads)).replace("@O@", options)
        tunebench.run_suite(_suite(write_suite, text, f"{name}.toml"), tmp_path / f"{name}.db",
                            cache=store, progress=False)
        return store

    assert run(1, "{}", "one").stats.misses == 10
    assert run(1, "{ dim = 2 }", "explicit").stats.hits == 10  # the default, spelled out
    assert run(2, "{}", "two").stats.hits == 0  # thread count is part of the key
    assert run(1, "{ dim = 3 }", "three").stats.hits == 0


def test_the_code_hash_follows_the_source_not_the_path(tmp_path):
    source = (
        "from tunebench.space import Float, Space\n"
        "from tunebench.tasks.base import Result, Task\n\n"
        "class Square(Task):\n"
        "    name = 'square_@N@'\n"
        "    @property\n"
        "    def space(self):\n"
        "        return Space({'x': Float(-1.0, 1.0)})\n"
        "    def evaluate(self, config, fidelity, seed, context):\n"
        "        return Result(value=config['x'] ** 2)\n"
    )
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "sq.py").write_text(source.replace("@N@", "a"))
    (tmp_path / "two" / "sq.py").write_text(source.replace("@N@", "a"))
    (tmp_path / "three.py").write_text(source.replace("@N@", "b"))
    hashes = []
    for path, name in ((tmp_path / "one" / "sq.py", "square_a"), (tmp_path / "two" / "sq.py", "square_a"),
                       (tmp_path / "three.py", "square_b")):
        load_plugin_file(path)
        hashes.append(task_code_hash(type(make_task(name))))
    assert hashes[0] == hashes[1]  # same source in another folder: same hash
    assert hashes[0] != hashes[2]  # one character changed: entries invalidated
    branin = task_code_hash(type(make_task("branin")))
    assert branin == task_code_hash(type(make_task("hartmann6")))  # both live in tasks/synthetic.py
    assert branin != task_code_hash(type(make_task("linreg")))


def test_the_version_attribute_is_part_of_the_key(tmp_path):
    from tunebench.suite.spec_parse import load_suite
    from tunebench.tasks.base import EvalContext

    study = load_suite({"suite": {"name": "v"}, "budget": {"trials": 1},
                        "tasks": [{"name": "branin"}], "runners": [{"name": "random"}]}).studies()[0]
    cache = EvaluationCacheStore(tmp_path / "c.db")
    task = make_task("branin")
    key = cache.key(task, study, "k", 1, EvalContext())
    bumped = make_task("branin")
    bumped.version = "2"
    assert cache.key(bumped, study, "k", 1, EvalContext()) != key
    assert cache.key(make_task("branin"), study, "k", 1, EvalContext()) == key


def test_the_store_pickles_and_each_process_writes_through_its_own_connection(write_suite, tmp_path):
    cache = EvaluationCacheStore(tmp_path / "c.db")
    cache.count()  # opens a connection in this process
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.path == cache.path and clone._conn is None
    paths = [_suite(write_suite, f"""
[budget]
trials = 20
[[tasks]]
name = "branin"
[[runners]]
name = "random"
label = "r{i}"
""", f"s{i}.toml") for i in range(2)]
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_run_in_child, args=(str(p), str(tmp_path / f"p{i}.db"), cache))
               for i, p in enumerate(paths)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    assert cache.count() == 2 * 2 * 20  # two suites × two repetitions × 20 distinct evaluations


def _run_in_child(path: str, db: str, cache: EvaluationCacheStore) -> None:
    tunebench.run_suite(path, db, cache=cache, progress=False)
    os._exit(0 if cache.stats.stored == 40 and cache.stats.errors == 0 else 1)


def test_an_unusable_cache_warns_once_and_recomputes(write_suite, tmp_path):
    path = _suite(write_suite, """
[budget]
trials = 5
[[tasks]]
name = "branin"
[[runners]]
name = "random"
""")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache's folder should be")
    cache = EvaluationCacheStore(blocker / "c.db")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = tunebench.run_suite(path, tmp_path / "a.db", cache=cache, progress=False)
    assert summary.ok and summary.trials_run == 10
    assert len([w for w in caught if "evaluation cache" in str(w.message)]) == 1


def test_is_cacheable_by_status_and_error():
    from tunebench.runners.base import Status
    from tunebench.suite.records import TrialRecord

    def record(status, error=None, cached=False, curve=()):
        return TrialRecord(0, {}, "k", status, None, None, 1, 1.0, curve, 0.0, 0.0, 0.0, 0.0,
                           error=error, cached=cached)

    assert is_cacheable(record(Status.OK))
    assert not is_cacheable(record(Status.OK, cached=True))
    assert is_cacheable(record(Status.PRUNED, curve=(0.5, 0.4)))  # a prefix of the evaluation
    assert not is_cacheable(record(Status.PRUNED))  # stopped before reporting anything
    assert is_cacheable(record(Status.FAILED, "NonFiniteValue: the task returned nan"))
    assert is_cacheable(record(Status.FAILED, "FloatingPointError: diverged"))
    for error in ("TrialTimeout: slow", "RuntimeError: boom", "FileNotFoundError: x", "MemoryError: "):
        assert not is_cacheable(record(Status.FAILED, error))


def test_the_cli_uses_the_cache_beside_the_store(write_suite, tmp_path):
    from tunebench.cli import app

    path = _suite(write_suite, """
[budget]
trials = 8
[[tasks]]
name = "branin"
[[runners]]
name = "random"
""")
    runner = CliRunner()
    for name in ("a.db", "b.db"):
        result = runner.invoke(app, ["run", str(path), "--db", str(tmp_path / name), "-q"])
        assert result.exit_code == 0, result.output
    assert (tmp_path / CACHE_FILENAME).is_file()
    assert load_trials(tmp_path / "b.db")["cached"].all()
    result = runner.invoke(app, ["run", str(path), "--db", str(tmp_path / "c.db"), "-q", "--no-cache"])
    assert result.exit_code == 0 and not load_trials(tmp_path / "c.db")["cached"].any()


@pytest.fixture(autouse=True)
def _one_thread():
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def test_a_task_code_hash_does_not_depend_on_what_else_the_process_imported(tmp_path):
    """A driver builds every task of a suite; a worker builds one. Importing a sibling module
    attaches it to the package, which must not change the hash (resume compares the two)."""
    import subprocess
    import sys
    import textwrap

    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("def helper(x):\n    return x\n")
    for name in ("a", "b"):
        (package / f"{name}.py").write_text(textwrap.dedent(f"""
            from pkg import helper
            from tunebench.tasks.base import Task
            class {name.upper()}(Task):
                pass
        """))
    probe = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import pkg.b
        if sys.argv[1] == "driver":
            import pkg.a
        from tunebench.suite.cache import task_code_hash
        print(task_code_hash(pkg.b.B))
    """)
    hashes = {side: subprocess.run([sys.executable, "-c", probe, side], capture_output=True,
                                   text=True, check=True).stdout.strip()
              for side in ("worker", "driver")}
    assert hashes["worker"] == hashes["driver"] and len(hashes["worker"]) == 64
