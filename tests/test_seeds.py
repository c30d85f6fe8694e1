"""Seeds users can set: a runner's own seed, which seed repetitions vary, and a fixed
PYTHONHASHSEED in every process that runs a study."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tunebench
from tunebench.registry import make_task
from tunebench.suite.seeding import evaluation_seed, runner_seed
from tunebench.suite.spec_parse import load_suite
from tunebench.suite.store import load_studies, load_suite_specs, load_trials

PLUGINS = Path(__file__).parent / "provenance_plugins.py"

SUITE = """
[suite]
name = "seeds"
seed = 5
repetitions = 3
plugins = ["@PLUGINS@"]
@SEEDS@
[budget]
trials = 6
[[tasks]]
name = "branin"
[[runners]]
name = "random"
@OPTIONS@
[[runners]]
name = "seed_blind"
options = { seed = 77 }
"""


def _suite(write_suite, seeds: str = "", options: str = "", name: str = "suite.toml") -> Path:
    text = SUITE.replace("@PLUGINS@", str(PLUGINS)).replace("@SEEDS@", seeds)
    return write_suite(text.replace("@OPTIONS@", options), name)


def test_a_runner_seed_option_seeds_the_runner_and_is_recorded(write_suite, tmp_path):
    db = tmp_path / "r.db"
    tunebench.run_suite(_suite(write_suite, options="options = { seed = 12 }"), db, progress=False)
    studies = load_studies(db)
    random = studies[studies["runner"] == "random"]
    assert random["runner_seed"].tolist() == [12, 12, 12]
    assert random["runner_options"].tolist() == [{"seed": 12}] * 3  # the request, as given
    assert len(set(random["eval_seed"])) == 3  # the data still varies per repetition
    # What ran is plain random search seeded with 12: the same proposals drawn by hand.
    space = make_task("branin").space
    rng = np.random.default_rng(12)
    expected = [space.sample(rng) for _ in range(6)]
    trials = load_trials(db)
    for rep in range(3):
        ran = trials[(trials["runner"] == "random") & (trials["repetition"] == rep)]["config"]
        assert ran.tolist() == expected
    # A plugin runner gets it too, as its `seed`, not as a library option.
    assert (studies[studies["runner"] == "seed_blind"]["runner_seed"] == 77).all()


def test_a_pinned_seed_reaches_a_plugin_runner_built_in_this_process(write_suite, tmp_path):
    path = _suite(write_suite)
    tunebench.load_suite(path)  # imports the plugin (other tests' runs share its module)
    plugin = next(m for name, m in sys.modules.items() if name.startswith("tunebench_plugin_provenance"))
    plugin.SEEDS_GIVEN.clear()
    tunebench.run_suite(path, tmp_path / "r.db", progress=False)
    assert plugin.SEEDS_GIVEN and set(plugin.SEEDS_GIVEN) == {77}


def test_the_default_policy_keeps_the_seeds_stores_were_written_with(write_suite):
    spec = load_suite(_suite(write_suite))
    for study in spec.studies():
        assert study.eval_seed == evaluation_seed(5, "branin", study.repetition)
        if study.runner.label == "random":
            assert study.runner_seed == runner_seed(5, "branin", "random", study.repetition)


@pytest.mark.parametrize(("seeds", "fixed_role"), [
    ('seeds = { evaluation = "fixed" }', "evaluation"),
    ('seeds = { runner = "fixed" }', "runner"),
])
def test_one_seed_can_be_held_while_the_other_varies(write_suite, tmp_path, seeds, fixed_role):
    db = tmp_path / "r.db"
    tunebench.run_suite(_suite(write_suite, seeds), db, progress=False)
    studies = load_studies(db)
    random = studies[studies["runner"] == "random"].sort_values("repetition")
    fixed, varying = ("eval_seed", "runner_seed") if fixed_role == "evaluation" else \
        ("runner_seed", "eval_seed")
    assert random[fixed].nunique() == 1 and random[varying].nunique() == 3
    # Held at repetition 0's value, so repetition 0 is the default suite's repetition 0.
    expected = (evaluation_seed(5, "branin", 0) if fixed_role == "evaluation"
                else runner_seed(5, "branin", "random", 0))
    assert random[fixed].iloc[0] == expected
    assert (random[f"seeds_{fixed_role}"] == "fixed").all()
    other = "runner" if fixed_role == "evaluation" else "evaluation"
    assert (random[f"seeds_{other}"] == "per-repetition").all()
    stored = load_suite_specs(db)[0]["spec"]["seeds"]
    assert stored[fixed_role] == "fixed" and stored[other] == "per-repetition"


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(tunebench.__file__).parents[1]),
            **extra}


HASH_SUITE = """
[suite]
name = "hash"
seed = 1
plugins = ["@PLUGINS@"]
[budget]
trials = 8
[[tasks]]
name = "words"
[[runners]]
name = "hash_order"
"""


def _words(db: Path) -> list[str]:
    return [config["word"] for config in load_trials(db)["config"]]


def _run_cli(path: Path, db: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunebench", "run", str(path), "--db", str(db), "-q",
                           "--no-cache", *args], env=_child_env(**env), capture_output=True,
                          text=True, timeout=120, check=True)


@pytest.mark.slow
def test_the_cli_fixes_the_hash_seed_so_hash_dependent_runners_replay(write_suite, tmp_path):
    path = write_suite(HASH_SUITE.replace("@PLUGINS@", str(PLUGINS)))
    # Unfixed, the runner's proposals depend on the process: two hash seeds, two sequences.
    script = ("import sys, tunebench; tunebench.run_suite(sys.argv[1], sys.argv[2], progress=False)")
    for seed in ("1", "2"):
        subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / f"h{seed}.db")],
                       env=_child_env(PYTHONHASHSEED=seed), check=True, timeout=120,
                       capture_output=True)
    assert _words(tmp_path / "h1.db") != _words(tmp_path / "h2.db")
    # `tunebench run` started without PYTHONHASHSEED re-executes itself with it fixed: every
    # run proposes the same, and the studies record the seed they ran with.
    _run_cli(path, tmp_path / "a.db")
    _run_cli(path, tmp_path / "b.db")
    assert _words(tmp_path / "a.db") == _words(tmp_path / "b.db")
    assert load_studies(tmp_path / "a.db")["python_hash_seed"].tolist() == ["0"]
    # A user's own fixed seed is kept, not replaced.
    _run_cli(path, tmp_path / "c.db", PYTHONHASHSEED="2")
    assert load_studies(tmp_path / "c.db")["python_hash_seed"].tolist() == ["2"]
    assert _words(tmp_path / "c.db") == _words(tmp_path / "h2.db")


@pytest.mark.slow
def test_process_workers_start_with_the_hash_seed_fixed(write_suite, tmp_path):
    path = write_suite(HASH_SUITE.replace("@PLUGINS@", str(PLUGINS)))
    _run_cli(path, tmp_path / "p.db", "--executor", "process", "-j", "1")
    _run_cli(path, tmp_path / "s.db")
    assert load_studies(tmp_path / "p.db")["python_hash_seed"].tolist() == ["0"]
    assert _words(tmp_path / "p.db") == _words(tmp_path / "s.db")


def test_an_unfixed_serial_run_is_recorded_as_unfixed_with_a_warning(write_suite, tmp_path):
    path = write_suite(HASH_SUITE.replace("@PLUGINS@", str(PLUGINS)))
    script = ("import sys, tunebench; s = tunebench.run_suite(sys.argv[1], sys.argv[2], "
              "progress=False); print('seed', s.python_hash_seed)")
    out = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "u.db")],
                         env=_child_env(), capture_output=True, text=True, timeout=120, check=True)
    assert "seed None" in out.stdout
    assert "PYTHONHASHSEED is not fixed" in " ".join(out.stderr.split())
    assert load_studies(tmp_path / "u.db")["python_hash_seed"].tolist() == [None]


@pytest.mark.slow
def test_ray_workers_start_with_the_hash_seed_fixed(write_suite, tmp_path):
    pytest.importorskip("ray")
    path = write_suite(HASH_SUITE.replace("@PLUGINS@", str(PLUGINS)))
    _run_cli(path, tmp_path / "ray.db", "--executor", "ray", "-j", "1")
    _run_cli(path, tmp_path / "s.db")
    assert load_studies(tmp_path / "ray.db")["python_hash_seed"].tolist() == ["0"]
    assert _words(tmp_path / "ray.db") == _words(tmp_path / "s.db")


def test_a_run_with_pinned_seeds_and_a_seed_policy_reproduces_exactly(write_suite, tmp_path):
    """What `reproduce` rebuilds from the store keeps the policy and the pinned seed."""
    from tunebench.suite.reproduce import IDENTICAL, reproduce

    db = tmp_path / "r.db"
    suite = _suite(write_suite, 'seeds = { evaluation = "fixed" }', "options = { seed = 12 }")
    tunebench.run_suite(suite, db, progress=False)
    report = reproduce(db)
    assert report.ok and {s.verdict for s in report.studies} == {IDENTICAL}
    assert len(report.studies) == 6
