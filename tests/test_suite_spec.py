"""Suite files: valid ones resolve into studies; bad ones give one clear error (and exit code 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunebench.suite.spec import SuiteError
from tunebench.suite.spec_parse import load_suite, parse_suite

GOOD = """
[suite]
name = "t"
seed = 3
repetitions = 2
[budget]
trials = 5
[[tasks]]
name = "branin"
[[tasks]]
name = "rosenbrock"
label = "rosen4"
options = { dim = 4 }
budget = { trials = 7 }
[[runners]]
name = "random"
[[runners]]
name = "grid"
options = { resolution = 3 }
"""


def test_a_good_suite_expands_into_every_study(write_suite):
    spec = load_suite(write_suite(GOOD))
    studies = spec.studies()
    assert len(studies) == 2 * 2 * 2
    assert {s.key for s in studies} == {
        (t, r, rep) for t in ("branin", "rosen4") for r in ("random", "grid") for rep in (0, 1)
    }
    rosen = [s for s in studies if s.task.label == "rosen4"]
    assert all(s.budget.amount == 7 and s.task.options == {"dim": 4} for s in rosen)
    # Every runner in one repetition of one task faces the same evaluation seed.
    by_rep = {(s.task.label, s.repetition): set() for s in studies}
    for s in studies:
        by_rep[(s.task.label, s.repetition)].add(s.eval_seed)
    assert all(len(seeds) == 1 for seeds in by_rep.values())
    assert len({s.runner_seed for s in studies}) == len(studies)


def test_fingerprint_ignores_description_but_not_budget(write_suite):
    a = load_suite(write_suite(GOOD))
    b = load_suite(write_suite(GOOD.replace('name = "t"', 'name = "t"\ndescription = "x"'), "b.toml"))
    c = load_suite(write_suite(GOOD.replace("trials = 5", "trials = 6"), "c.toml"))
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint


def test_fingerprint_leaves_out_repetitions_and_smoke_marks_but_not_the_seed_policy(write_suite):
    a = load_suite(write_suite(GOOD))
    more = load_suite(write_suite(GOOD.replace("repetitions = 2", "repetitions = 100"), "m.toml"))
    smoke = load_suite(write_suite(GOOD.replace('label = "rosen4"', 'label = "rosen4"\nsmoke = true'),
                                   "s.toml"))
    fixed = load_suite(write_suite(GOOD.replace("seed = 3", 'seed = 3\nseeds = { runner = "fixed" }'),
                                   "f.toml"))
    spelled_default = load_suite(write_suite(GOOD.replace(
        "seed = 3", 'seed = 3\nseeds = { runner = "per-repetition", evaluation = "per-repetition" }'),
        "d.toml"))
    pinned = load_suite(write_suite(GOOD.replace("resolution = 3", "resolution = 3, seed = 5"), "p.toml"))
    assert a.fingerprint == more.fingerprint == smoke.fingerprint == spelled_default.fingerprint
    assert len({a.fingerprint, fixed.fingerprint, pinned.fingerprint}) == 3


def test_the_fingerprint_of_a_suite_stored_before_seed_policies_and_smoke_is_unchanged(write_suite):
    """A store written before schema 4 holds resolved suites without `seeds` or `smoke`; the
    fingerprint computed from them equals the one of the same suite read today."""
    import hashlib
    from pathlib import Path

    from tunebench.space import canonical_json
    from tunebench.suite.spec import suite_fingerprint

    spec = load_suite(write_suite(GOOD))
    old = spec.to_dict()
    del old["seeds"]
    for task in old["tasks"]:
        del task["smoke"]
    assert suite_fingerprint(old) == spec.fingerprint
    # and it is the schema-3 formula with the repetition count left out
    formula = {k: v for k, v in old.items() if k not in ("description", "repetitions")}
    formula["plugins"] = sorted(Path(p).name for p in old["plugins"])
    assert spec.fingerprint == hashlib.sha256(canonical_json(formula).encode()).hexdigest()[:16]


BAD = {
    "toml syntax": ("[suite\nname = 1", "not valid TOML"),
    "wrong type": (GOOD.replace("repetitions = 2", 'repetitions = "2"'),
                   "suite.repetitions: must be an integer"),
    "unknown runner": (GOOD.replace('name = "random"', 'name = "randm"'), "Did you mean 'random'"),
    "unknown task": (GOOD.replace('name = "branin"', 'name = "branine"'), "Did you mean 'branin'"),
    "negative budget": (GOOD.replace("trials = 5", "trials = -5"), "budget.trials: must be positive"),
    "fractional trials": (GOOD.replace("trials = 5", "trials = 2.5"), "must be a whole number"),
    "two budgets": (GOOD.replace("trials = 5", "trials = 5\nepochs = 3"), "exactly one of"),
    "no budget": (GOOD.replace("[budget]\ntrials = 5", ""), "missing [budget]"),
    "empty runners": (GOOD.split("[[runners]]")[0], "runners: the suite needs at least one"),
    "unknown key": (GOOD.replace("seed = 3", "sed = 3"), "did you mean 'seed'"),
    "unknown section": (GOOD + "\n[budjet]\ntrials = 1\n", "did you mean 'budget'"),
    "bad option": (GOOD.replace("resolution = 3", "resolutio = 3"), "did you mean 'resolution'"),
    "bad option value": (GOOD.replace("resolution = 3", "resolution = 0"), "resolution must be a positive"),
    "bad task option": (GOOD.replace("dim = 4", "dim = 0"), "rosenbrock"),
    "duplicate label": (GOOD.replace('label = "rosen4"\n', 'label = "branin"\n'), "appears twice"),
    "bad device": (GOOD + '\n[settings]\ndevice = "tpu"\n', "settings.device"),
    "optimiser charge on trials": (GOOD.replace("trials = 5\n", "trials = 5\ncharge_optimizer = true\n", 1),
                                   "only a device_seconds budget can charge"),
    "missing plugin": (GOOD.replace('seed = 3', 'seed = 3\nplugins = ["nope.py"]'),
                       "plugin file 'nope.py' not found"),
    "negative runner seed": (GOOD.replace("resolution = 3", "resolution = 3, seed = -1"),
                             "runners[1].options.seed: a seed must be between 0"),
    "text runner seed": (GOOD.replace("resolution = 3", 'resolution = 3, seed = "12"'),
                         "runners[1].options.seed: a seed must be a non-negative integer"),
    "bool runner seed": (GOOD.replace("resolution = 3", "resolution = 3, seed = true"),
                         "runners[1].options.seed: a seed must be a non-negative integer"),
    "float runner seed": (GOOD.replace("resolution = 3", "resolution = 3, seed = 1.5"),
                          "runners[1].options.seed: a seed must be a non-negative integer"),
    "bad seed mode": (GOOD.replace("seed = 3", 'seed = 3\nseeds = { evaluation = "sometimes" }'),
                      "suite.seeds.evaluation: must be one of 'per-repetition', 'fixed'"),
    "misspelt seed role": (GOOD.replace("seed = 3", 'seed = 3\nseeds = { runer = "fixed" }'),
                           "suite.seeds.runer: unknown key; did you mean 'runner'?"),
    "seeds not a table": (GOOD.replace("seed = 3", 'seed = 3\nseeds = "fixed"'),
                          "suite.seeds: must be a table"),
    "smoke not a bool": (GOOD.replace('label = "rosen4"', 'label = "rosen4"\nsmoke = "yes"'),
                         "tasks[1].smoke: must be true or false"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_suites_raise_one_clear_error_naming_file_and_key(write_suite, case):
    text, expected = BAD[case]
    path = write_suite(text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message


@pytest.mark.parametrize("case", ["toml syntax", "unknown runner", "negative budget", "empty runners",
                                  "wrong type"])
def test_cli_reports_bad_suites_in_one_line_with_exit_code_2(write_suite, tmp_path, case):
    path = write_suite(BAD[case][0])
    done = subprocess.run([sys.executable, "-m", "tunebench", "run", str(path), "--db",
                           str(tmp_path / "r.db"), "-q"], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error:")
    assert BAD[case][1].split(":")[0] in done.stderr.replace("\n", " ")


def test_shipped_suites_are_found_by_name():
    spec = load_suite("quick")
    assert spec.name == "quick"
    with pytest.raises(SuiteError, match="Did you mean 'quick'"):
        load_suite("quik")


_scalars = st.one_of(st.integers(-5, 50), st.floats(allow_nan=True), st.text(max_size=5),
                     st.booleans(), st.none())
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["name", "trials", "epochs", "seed", "repetitions", "options", "label", "dim", "x"]),
        inner, max_size=3)), max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    suite=st.dictionaries(st.sampled_from(["name", "seed", "repetitions", "plugins", "x"]), _values,
                          max_size=4),
    budget=st.dictionaries(st.sampled_from(["trials", "epochs", "device_seconds", "charge_optimizer"]),
                           _values, max_size=3),
    tasks=st.one_of(_values, st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["branin", "levy", "nope", ""])},
        optional={"options": _values, "label": _values}), max_size=3)),
    runners=st.one_of(_values, st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["random", "grid", "nope"])},
        optional={"options": _values}), max_size=3)),
)
def test_parser_never_fails_with_anything_but_a_suite_error(suite, budget, tasks, runners):
    """Whatever a user writes, the parser answers with a valid spec or one SuiteError."""
    data = {"suite": suite, "budget": budget, "tasks": tasks, "runners": runners}
    try:
        spec = parse_suite(data, source="fuzz.toml")
    except SuiteError as exc:
        assert str(exc).startswith("fuzz.toml")
    else:
        assert spec.studies()
        assert spec.budget.amount > 0


@pytest.mark.parametrize("name", ["quick", "standard", "all-runners"])
def test_every_shipped_suite_is_valid_and_names_only_available_runners(name):
    spec = load_suite(name)
    assert spec.studies()
    assert "hyperopt.atpe" not in {r.name for r in spec.runners}
