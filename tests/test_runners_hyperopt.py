"""hyperopt runners: the nested space, conversions, trial documents, options passed through to
``suggest``, ATPE's declared absence."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from hyperopt import STATUS_FAIL, STATUS_OK, anneal, tpe

from tunebench import registry
from tunebench.runners import hyperopt_runner as hr
from tunebench.runners.base import Outcome, RunnerError, RunnerUnavailable, Status
from tunebench.runners.conformance import mixed_space
from tunebench.runners.hyperopt_space import HyperoptSpace
from tunebench.runners.translation import translate
from tunebench.space import Categorical, Float, Int, Space
from tunebench.tasks.base import Direction


def test_categorical_parents_nest_and_integer_parents_flatten() -> None:
    encoding = HyperoptSpace(mixed_space())
    slots = {s.label: s for s in encoding.slots}
    assert slots["optimizer"].branching
    # momentum can be active under two optimizers: one label per branch
    assert {"momentum|optimizer='sgd'", "momentum|optimizer='rmsprop'"} <= set(slots)
    assert slots["nesterov"].path == (("optimizer", "sgd"),)
    assert slots["dampening"].path == (("optimizer", "sgd"), ("nesterov", False))
    assert slots["warmup"].path == ()  # depends on an Int: flattened
    rows = {r.name: r for r in encoding.translation()}
    assert rows["warmup"].lossy and "not nested" in rows["warmup"].reason
    assert not rows["dampening"].lossy
    assert rows["width"].library == "hp.qloguniform('width', log(3.5), log(512.5), q=1)"
    assert rows["depth"].library == "hp.quniform('depth', 0.5, 6.5, q=1)"
    assert "in branch optimizer='sgd' and nesterov=False" in rows["dampening"].library


def test_encode_then_decode_round_trips_every_sampled_configuration() -> None:
    space = mixed_space()
    encoding = HyperoptSpace(space)
    rng = np.random.default_rng(0)
    for _ in range(200):
        config = space.sample(rng)
        _, vals = encoding.encode(config, 0)
        assert encoding.decode(vals) == config


def test_integers_get_equal_mass_per_value() -> None:
    space = Space({"k": Int(1, 3)})
    runner = hr.HyperoptRandom(space, Direction.MINIMIZE, 0)
    counts = {1: 0, 2: 0, 3: 0}
    for _ in range(600):
        config = runner.ask()
        runner.tell(config, Outcome(Status.OK, 0.0, 1))
        counts[config["k"]] += 1
    assert all(150 < c < 250 for c in counts.values()), counts


def test_outcomes_become_trial_documents_in_the_tasks_direction() -> None:
    space = Space({"x": Float(0.0, 1.0), "c": Categorical(("a", "b"))})
    runner = hr.HyperoptTPE(space, Direction.MAXIMIZE, 0)
    for status, value in [(Status.OK, 2.0), (Status.FAILED, None), (Status.PRUNED, 1.5)]:
        config = runner.ask()
        runner.tell(config, Outcome(status, value, 1))
    results = [doc["result"] for doc in runner._trials.trials]
    assert results == [{"status": STATUS_OK, "loss": -2.0}, {"status": STATUS_FAIL},
                       {"status": STATUS_OK, "loss": -1.5}]


def test_atpe_is_declared_unavailable_with_its_reason() -> None:
    cls = registry.get_runner_class("hyperopt.atpe")
    assert "unavailable" in cls.description and "lightgbm" in cls.capabilities.notes
    with pytest.raises(RunnerUnavailable, match="ignores the seed"):
        cls(mixed_space(), Direction.MINIMIZE, 0)
    assert translate(cls, mixed_space())  # the audit still explains the translation


@pytest.mark.parametrize(("cls", "options", "message"), [
    (hr.HyperoptTPE, {"gamma": 1.5}, "option gamma must lie in (0, 1), got 1.5"),
    (hr.HyperoptTPE, {"n_startup_jobs": -1}, "option n_startup_jobs must be >= 0"),
    (hr.HyperoptTPE, {"n_EI_candidates": 0.5},
     "option n_EI_candidates of hyperopt.tpe.suggest must be an integer, got 0.5"),
    (hr.HyperoptTPE, {"n_ei_candidates": 48}, "(did you mean 'n_EI_candidates'?)"),
    (hr.HyperoptAnneal, {"shrink_coef": "fast"}, "shrink_coef of hyperopt.anneal.suggest must be a number"),
    (hr.HyperoptRandom, {"gamma": 0.5}, "hyperopt.rand.suggest has no option(s) 'gamma'"),
])
def test_bad_options_are_clear_errors(cls, options, message) -> None:
    with pytest.raises(RunnerError, match=re.escape(message)):
        cls(mixed_space(), Direction.MINIMIZE, 0, **options)


def test_every_suggest_keyword_is_an_option_passed_as_given_and_recorded() -> None:
    # hyperopt 0.3's own names, read here from the functions themselves.
    tpe_keywords = [p for p in inspect.signature(tpe.suggest).parameters if p not in
                    ("new_ids", "domain", "trials", "seed")]
    assert hr.HyperoptTPE.accepted_options() == tpe_keywords
    assert {"n_startup_jobs", "n_EI_candidates", "gamma", "prior_weight"} <= set(tpe_keywords)
    assert hr.HyperoptAnneal.accepted_options() == ["avg_best_idx", "shrink_coef"]
    assert hr.HyperoptRandom.accepted_options() == []
    runner = hr.HyperoptTPE(mixed_space(), Direction.MINIMIZE, 0, n_startup_jobs=5, gamma=0.5)
    assert runner._suggest.keywords == {"n_startup_jobs": 5, "gamma": 0.5}  # nothing else set
    assert runner.resolved_options() == {"prior_weight": 1.0, "n_startup_jobs": 5,
                                         "n_EI_candidates": 24, "gamma": 0.5, "verbose": True}
    plain = hr.HyperoptAnneal(mixed_space(), Direction.MINIMIZE, 0)
    assert plain._suggest is anneal.suggest  # no option given: hyperopt's function as it is
    assert plain.resolved_options() == {"avg_best_idx": 2.0, "shrink_coef": 0.1}


def test_startup_jobs_option_changes_when_the_model_starts() -> None:
    """n_startup_jobs reaches TPE: with 3, trial 4 is TPE's, and differs from the default's."""
    space = Space({"x": Float(0.0, 1.0)})

    def run(**options) -> list[float]:
        runner = hr.HyperoptTPE(space, Direction.MINIMIZE, 1, **options)
        xs = []
        for _ in range(6):
            config = runner.ask()
            runner.tell(config, Outcome(Status.OK, (config["x"] - 0.3) ** 2, 1))
            xs.append(config["x"])
        return xs

    default, early = run(), run(n_startup_jobs=3)
    assert default[:3] == early[:3] and default[3:] != early[3:]
