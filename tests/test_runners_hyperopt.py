"""hyperopt runners: the nested space, conversions, trial documents, ATPE's declared absence."""

from __future__ import annotations

import numpy as np
import pytest
from hyperopt import STATUS_FAIL, STATUS_OK

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


@pytest.mark.parametrize(("options", "message"), [
    ({"gamma": 1.5}, "gamma must lie in"),
    ({"n_startup_jobs": -1}, "n_startup_jobs must be >= 0"),
    ({"n_ei_candidates": 0.5}, "n_ei_candidates must be an integer"),
])
def test_bad_tpe_options_are_clear_errors(options, message) -> None:
    with pytest.raises(RunnerError, match=message):
        hr.HyperoptTPE(mixed_space(), Direction.MINIMIZE, 0, **options)
