"""Library options passed through: checked against the library callable's own signature.

The option sets are checked on small functions written here (their signatures are the test's
subject) and on the real libraries' callables, and through the registry as a suite uses them.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable
from typing import Any, Literal, Optional, Union

import numpy as np
import optuna
import pytest

from tunebench import registry
from tunebench.registry import RegistryError
from tunebench.runners import optuna_runner as opt
from tunebench.runners.base import BudgetInfo, RunnerError
from tunebench.runners.conformance import mixed_space
from tunebench.runners.library_options import (
    Deviation,
    LibraryOptions,
    at_least,
    inside,
    plain,
    read_back,
)
from tunebench.space import Direction


def toy(*, rate: float = 0.5, scale: float = 2.0, steps: int = 3, name: str | None = None, on: bool = False,
        weights: list[float] | None = None, table: dict[str, Any] | None = None,
        key: Callable[[int], int] | None = None, mode: Literal["a", "b"] = "a") -> dict[str, Any]:
    """A library callable: records what it was called with (only what was passed)."""
    if steps > 100:
        raise ValueError("steps must be at most 100")
    return dict(locals())


def untyped(new_ids, trials, seed, gamma=0.25, n_jobs=20, verbose=True, hook=print):
    """hyperopt style: no annotations; the kinds come from the defaults."""
    return {"gamma": gamma, "n_jobs": n_jobs}


def needs(level: int, *, scale: Optional[float] = None, alt: Union[int, str] = "x") -> None:  # noqa: UP007, UP045
    """A keyword without a default (required) and typing-module spellings."""


TOY = LibraryOptions(toy, "lib.toy", deviations={"on": Deviation(True, "messages only")},
                     checks={"rate": inside(0, 1), "steps": at_least(1)})


@pytest.mark.parametrize(("options", "message"), [
    ({"rat": 0.1}, "lib.toy has no option(s) 'rat' (did you mean 'rate'?); it accepts: rate, scale"),
    ({"RATE": 0.1}, "(did you mean 'rate'?)"),
    ({"rate": "fast"}, "option rate of lib.toy must be a number, got 'fast'"),
    ({"rate": True}, "option rate of lib.toy must be a number, got True"),
    ({"rate": math.nan}, "option rate of lib.toy must be finite"),
    ({"rate": 1.5}, "option rate must lie in (0, 1), got 1.5"),
    ({"steps": 2.0}, "option steps of lib.toy must be an integer, got 2.0"),
    ({"steps": 0}, "option steps must be >= 1, got 0"),
    ({"on": 1}, "option on of lib.toy must be true or false, got 1"),
    ({"name": 3}, "option name of lib.toy must be a string, got 3"),
    ({"weights": "heavy"}, "must be a list, got 'heavy'"),
    ({"table": [1]}, "must be a table, got [1]"),
    ({"key": "len"}, "option key of lib.toy takes Callable[[int], int], which a suite file cannot "
                     "express; leave it unset for the library's default"),
])
def test_bad_options_say_what_where_and_how(options, message) -> None:
    with pytest.raises(RunnerError, match=re.escape(message)):
        TOY.check(options)


def test_good_options_pass_as_given_and_unset_ones_are_not_passed() -> None:
    given = TOY.check({"scale": 3, "steps": 5, "weights": [1.0, 2], "table": {"a": 1}, "mode": "b"})
    assert given == {"scale": 3.0, "steps": 5, "weights": [1.0, 2], "table": {"a": 1}, "mode": "b"}
    assert isinstance(given["scale"], float)  # an integer given for a float becomes one
    called = TOY.build(given)
    assert called["on"] is True  # the declared deviation
    assert called["name"] is None and called["key"] is None  # not passed: the library's default
    assert TOY.build({"on": False})["on"] is False  # the user's value wins over a deviation
    with pytest.raises(RunnerError, match=re.escape("lib.toy rejected the options {'steps': 101}: "
                                                    "steps must be at most 100")):
        TOY.build(TOY.check({"steps": 101}))


def test_kinds_come_from_defaults_when_the_library_has_no_annotations() -> None:
    spec = LibraryOptions(untyped, "lib.untyped",
                          reserved={"new_ids": "ids", "trials": "history", "seed": "the study seed"})
    assert spec.names() == ["gamma", "n_jobs", "verbose", "hook"]
    assert spec.check({"gamma": 1, "n_jobs": 4, "verbose": False}) == {
        "gamma": 1.0, "n_jobs": 4, "verbose": False}
    with pytest.raises(RunnerError, match=re.escape("n_jobs of lib.untyped must be an integer")):
        spec.check({"n_jobs": 4.5})
    with pytest.raises(RunnerError, match=re.escape("takes a Python callable (builtins.print)")):
        spec.check({"hook": "print"})
    with pytest.raises(RunnerError, match=re.escape("'seed' (set by tunebench: the study seed)")):
        spec.check({"seed": 1})


def test_required_keywords_and_typing_spellings() -> None:
    spec = LibraryOptions(needs, "lib.needs")
    with pytest.raises(RunnerError, match=re.escape("lib.needs needs option(s) level (no library default)")):
        spec.check({})
    assert spec.check({"level": 2, "scale": 3, "alt": 4}) == {"level": 2, "scale": 3.0, "alt": 4}
    assert spec.check({"level": 2, "alt": "y"})["alt"] == "y"
    with pytest.raises(RunnerError, match=re.escape("scale of lib.needs must be a number")):
        spec.check({"level": 2, "scale": "big"})
    # optuna's pruners carry real (not string) annotations
    median = LibraryOptions(optuna.pruners.MedianPruner, "optuna.pruners.MedianPruner")
    assert median.check({"n_warmup_steps": 2}) == {"n_warmup_steps": 2}
    with pytest.raises(RunnerError, match="must be an integer"):
        median.check({"n_warmup_steps": 2.5})


def test_resolved_gives_every_keyword_in_effect_as_json() -> None:
    record = TOY.resolved({"steps": 4}, effective={"name": "filled", "rate": 0.9})
    assert record == {"rate": 0.5, "scale": 2.0, "steps": 4, "name": "filled", "on": True, "weights": None,
                      "table": None, "key": None, "mode": "a"}  # effective fills only a None
    assert json.loads(json.dumps(record)) == record
    assert plain(math.inf) == "inf" and plain((1, {"a": print})) == [1, {"a": "builtins.print"}]
    assert plain(optuna.samplers.RandomSampler()) == "optuna.samplers._random.RandomSampler()"
    assert plain(np.float64(0.5)) == 0.5 and plain(np.arange(3)) == [0, 1, 2]
    assert TOY.deviation_notes() == "tunebench sets lib.toy on=True (messages only)"


def test_read_back_finds_what_the_library_holds() -> None:
    sampler = optuna.samplers.TPESampler(seed=0)
    found = read_back(sampler, ["n_startup_trials", "prior_weight", "multivariate", "nonexistent"],
                      "_parzen_estimator_parameters")
    assert found["n_startup_trials"] == 10 and found["prior_weight"] == 1.0
    assert "nonexistent" not in found


@pytest.mark.parametrize("cls", [opt.OptunaTPE, opt.OptunaRandom, opt.OptunaCMAES, opt.OptunaGP,
                                 opt.OptunaQMC, opt.OptunaNSGA2])
def test_an_optuna_runner_accepts_every_keyword_of_its_sampler(cls) -> None:
    sampler_class = getattr(optuna.samplers, cls.sampler.label.rsplit(".", 1)[1])
    keywords = [p for p in inspect.signature(sampler_class.__init__).parameters if p not in ("self", "seed")]
    assert cls.accepted_options() == [*keywords, "pruner", "pruner_options"]


def _library_runners() -> list[str]:
    return [name for name in registry.runner_names()
            if name.split(".")[0] in ("optuna", "hyperopt")
            and not getattr(registry.get_runner_class(name), "unavailable", None)
            and name != "optuna.grid"]  # the grid's options are its own, not a library's


@pytest.mark.parametrize("name", _library_runners())
def test_resolved_options_are_json_and_the_same_for_the_same_study(name: str) -> None:
    def record() -> str:
        runner = registry.make_runner(name, mixed_space(), Direction.MINIMIZE, 3,
                                      BudgetInfo("epochs", 100, 1, 10), {})
        return json.dumps(runner.resolved_options(), sort_keys=True)

    first = record()
    assert first == record() and "0x" not in first  # no object addresses
    assert set(json.loads(first)) == set(registry.get_runner_class(name).accepted_options())


def test_the_registry_refuses_a_misspelt_library_option_with_a_hint() -> None:
    with pytest.raises(RegistryError, match=re.escape("'multivariat' (did you mean 'multivariate'?)")):
        registry.make_runner("optuna.tpe", mixed_space(), Direction.MINIMIZE, 0, None,
                             {"multivariat": True})
    with pytest.raises(RegistryError, match="cannot express"):
        registry.make_runner("optuna.tpe", mixed_space(), Direction.MINIMIZE, 0, None, {"gamma": 0.1})


def test_the_cli_prints_an_option_error_as_written(write_suite, tmp_path) -> None:
    from typer.testing import CliRunner

    from tunebench.cli import app

    suite = write_suite("""
        [suite]
        name = "options"
        [budget]
        trials = 3
        [[tasks]]
        name = "branin"
        [[runners]]
        name = "optuna.tpe"
        options = { gamma = 0.2 }
        """)
    result = CliRunner().invoke(app, ["run", str(suite), "--db", str(tmp_path / "r.db"), "-q"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "option gamma of optuna.samplers.TPESampler takes Callable[[int], int]" in text
