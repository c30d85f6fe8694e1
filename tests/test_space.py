"""Property tests of the neutral search space: sampling, unit maps, serialisation, keys, errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tunebench.space import (
    Categorical,
    Float,
    Int,
    InvalidConfigError,
    Space,
    SpaceError,
    canonical_json,
    config_key,
)

# Parameters are cheap to generate; whole (conditional) spaces are not, so they get fewer examples.
PROPERTY = settings(max_examples=150, deadline=None)
SPACE_PROPERTY = settings(max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- strategies

finite = st.floats(allow_nan=False, allow_infinity=False)
units = st.floats(min_value=0.0, max_value=1.0)
choice_values = st.one_of(
    st.text(max_size=6), st.integers(-10**6, 10**6), st.booleans(), st.none(),
    st.floats(-1e6, 1e6, allow_nan=False),
)


@st.composite
def float_params(draw, **kwargs):
    if draw(st.booleans()):
        low = draw(st.floats(1e-8, 1e4))
        high = low * draw(st.floats(1.001, 1e8))
        return Float(low, high, log=True, **kwargs)
    low = draw(st.floats(-1e6, 1e6))
    high = low + draw(st.floats(1e-3, 1e6))
    assume(low < high)
    return Float(low, high, **kwargs)


@st.composite
def int_params(draw, **kwargs):
    if draw(st.booleans()):
        low = draw(st.integers(1, 1000))
        return Int(low, low + draw(st.integers(1, 10**5)), log=True, **kwargs)
    low = draw(st.integers(-10**6, 10**6))
    return Int(low, low + draw(st.integers(1, 10**4)), **kwargs)


@st.composite
def categorical_params(draw, **kwargs):
    choices = draw(st.lists(choice_values, min_size=1, max_size=5, unique_by=canonical_json))
    return Categorical(tuple(choices), **kwargs)


@st.composite
def spaces(draw):
    """Spaces of 1-6 parameters; each may be conditional on an earlier categorical or int one."""
    params: dict = {}
    for i in range(draw(st.integers(1, 6))):
        parents = [n for n, p in params.items() if not isinstance(p, Float)]
        condition = {}
        if parents and draw(st.booleans()):
            parent = draw(st.sampled_from(parents))
            param = params[parent]
            pool = list(param.choices) if isinstance(param, Categorical) else list(
                range(param.low, min(param.high, param.low + 5) + 1))
            condition = {parent: draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3,
                                               unique_by=canonical_json))}
        kind = draw(st.sampled_from([float_params, int_params, categorical_params]))
        params[f"p{i}"] = draw(kind(active_if=condition))
    # insertion order must not matter: shuffle it
    names = draw(st.permutations(list(params)))
    return Space({n: params[n] for n in names})


seeds = st.integers(0, 2**32 - 1)


def _example_space() -> Space:
    return Space({
        "optimizer": Categorical(("sgd", "adam")),
        "lr": Float(1e-5, 1.0, log=True),
        "layers": Int(1, 8),
        "momentum": Float(0.0, 0.99, active_if={"optimizer": "sgd"}),
        "dropout": Categorical((None, 0.1, True, "x")),
    })


EXAMPLE_CONFIG = {"optimizer": "sgd", "lr": 0.001, "layers": 3, "momentum": 0.9, "dropout": None}

# ---------------------------------------------------------------- sampling and validation


@SPACE_PROPERTY
@given(spaces(), seeds)
def test_samples_always_validate_and_hold_exactly_the_active_parameters(space, seed):
    config = space.sample(np.random.default_rng(seed))
    assert space.validate(config) == config
    for name in space:
        assert (name in config) == space.is_active(name, config)
        if name in config:
            assert space[name].contains(config[name])


@SPACE_PROPERTY
@given(spaces(), seeds)
def test_sampling_is_seeded(space, seed):
    assert space.sample(np.random.default_rng(seed)) == space.sample(np.random.default_rng(seed))


@SPACE_PROPERTY
@given(spaces())
def test_default_is_a_valid_configuration(space):
    config = space.default()
    assert space.validate(config) == config
    assert all((n in config) == space.is_active(n, config) for n in space)


@PROPERTY
@given(st.one_of(float_params(), int_params(), categorical_params()), units)
def test_from_unit_stays_in_bounds(param, u):
    assert param.contains(param.from_unit(u))
    for edge in (0.0, 1.0, 5e-324, 1 - 2**-53):
        assert param.contains(param.from_unit(edge))


@PROPERTY
@given(st.one_of(float_params(), int_params()), units, units)
def test_from_unit_is_monotone(param, u, v):
    u, v = min(u, v), max(u, v)
    assert param.from_unit(u) <= param.from_unit(v)


@PROPERTY
@given(st.one_of(float_params(), int_params()))
def test_unit_ends_map_to_the_bounds(param):
    assert param.from_unit(0.0) == param.low
    assert param.from_unit(1.0) == param.high


@PROPERTY
@given(int_params(), units)
def test_int_to_unit_inverts_from_unit(param, u):
    value = param.from_unit(u)
    assert param.from_unit(param.to_unit(value)) == value


@SPACE_PROPERTY
@given(spaces(), st.data())
def test_space_from_unit_builds_valid_configurations(space, data):
    corners = st.sampled_from([0.0, 1.0, 0.5])
    for _ in range(3):
        coordinates = {n: data.draw(st.one_of(units, corners)) for n in space}
        config = space.from_unit(coordinates)
        assert space.validate(config) == config
        assert all((n in config) == space.is_active(n, config) for n in space)


@SPACE_PROPERTY
@given(spaces(), seeds, st.data())
def test_validate_errors_name_the_parameter(space, seed, data):
    config = space.sample(np.random.default_rng(seed))
    name = data.draw(st.sampled_from(sorted(config)))
    param = space[name]
    if isinstance(param, Categorical):
        bad = data.draw(choice_values.filter(lambda v: not param.contains(v)))
    else:
        bad = data.draw(st.sampled_from([param.low - 1, param.high + 1, float("nan"), "text"]))
    with pytest.raises(InvalidConfigError, match=repr(name)):
        space.validate({**config, name: bad})
    missing = {k: v for k, v in config.items() if k != name}
    with pytest.raises(InvalidConfigError) as raised:
        space.validate(missing)
    assert repr(name) in str(raised.value) or any(
        repr(child) in str(raised.value) for child in config if child != name)


def test_validate_messages():
    space = _example_space()
    with pytest.raises(InvalidConfigError, match=r"unknown parameter\(s\) \['bogus'\]"):
        space.validate({**EXAMPLE_CONFIG, "bogus": 1})
    with pytest.raises(InvalidConfigError, match="missing parameter 'layers'"):
        space.validate({k: v for k, v in EXAMPLE_CONFIG.items() if k != "layers"})
    with pytest.raises(InvalidConfigError, match="'momentum' is inactive"):
        space.validate({**EXAMPLE_CONFIG, "optimizer": "adam"})
    with pytest.raises(InvalidConfigError, match=r"'lr'=2\.0 is outside"):
        space.validate({**EXAMPLE_CONFIG, "lr": 2.0})
    with pytest.raises(InvalidConfigError, match=r"'layers'=2\.5 is outside"):
        space.validate({**EXAMPLE_CONFIG, "layers": 2.5})
    with pytest.raises(InvalidConfigError, match="'layers'"):
        space.validate({**EXAMPLE_CONFIG, "layers": True})
    with pytest.raises(InvalidConfigError, match="'dropout'"):
        space.validate({**EXAMPLE_CONFIG, "dropout": 1})  # True is a choice, 1 is not
    with pytest.raises(InvalidConfigError, match="'dropout'"):
        space.validate({**EXAMPLE_CONFIG, "dropout": float("nan")})
    with pytest.raises(InvalidConfigError, match="'lr'"):
        space.validate({**EXAMPLE_CONFIG, "lr": 10**400})
    with pytest.raises(InvalidConfigError, match="mapping"):
        space.validate([("lr", 0.1)])


def test_validate_normalises_numpy_and_integral_values():
    space = _example_space()
    config = {**EXAMPLE_CONFIG, "layers": np.int64(3), "lr": np.float64(0.001), "momentum": 0.9}
    normalised = space.validate(config)
    assert normalised == EXAMPLE_CONFIG
    assert type(normalised["layers"]) is int and type(normalised["lr"]) is float
    assert space.validate({**EXAMPLE_CONFIG, "layers": 3.0})["layers"] == 3
    assert type(space.validate({**EXAMPLE_CONFIG, "lr": 1})["lr"]) is float
    assert list(normalised) == list(space.validate(dict(reversed(list(config.items())))))


# ---------------------------------------------------------------- conditional parameters


def test_conditional_parameters_present_exactly_when_active():
    space = Space({
        "kind": Categorical(("a", "b", "c")),
        "depth": Int(1, 4, active_if={"kind": ["a", "b"]}),
        "width": Float(0.0, 1.0, active_if={"depth": [3, 4]}),  # a grandchild, on an int parent
        "free": Float(-1.0, 1.0),
    })
    assert list(space)[:3] == ["kind", "depth", "width"]
    rng = np.random.default_rng(0)
    seen = Counter()
    for _ in range(400):
        config = space.sample(rng)
        assert ("depth" in config) == (config["kind"] in ("a", "b"))
        assert ("width" in config) == (config.get("depth") in (3, 4))
        seen[frozenset(config)] += 1
    assert len(seen) == 3  # every branch was taken
    assert not space.is_active("width", {"kind": "c", "depth": 3})  # its parent is inactive
    with pytest.raises(InvalidConfigError, match="'width' is inactive"):
        space.validate({"kind": "a", "depth": 1, "width": 0.5, "free": 0.0})
    with pytest.raises(InvalidConfigError, match="missing parameter 'width'"):
        space.validate({"kind": "b", "depth": 4, "free": 0.0})


def test_parents_come_first_whatever_the_definition_order():
    space = Space({
        "child": Float(0, 1, active_if={"parent": "on"}),
        "parent": Categorical(("on", "off"), active_if={"root": 1}),
        "root": Int(0, 1),
    })
    assert list(space) == ["root", "parent", "child"]
    assert space.default() == {"root": 0}


# ---------------------------------------------------------------- serialisation and keys


@SPACE_PROPERTY
@given(spaces())
def test_to_dict_from_dict_round_trip(space):
    again = Space.from_dict(space.to_dict())
    assert again == space
    assert again.fingerprint() == space.fingerprint()
    assert list(again) == list(space)
    through_json = Space.from_dict(json.loads(json.dumps(space.to_dict())))
    assert through_json == space
    assert through_json.fingerprint() == space.fingerprint()


@SPACE_PROPERTY
@given(spaces(), seeds, st.randoms(use_true_random=False))
def test_key_ignores_dict_order_and_number_types(space, seed, random):
    config = space.sample(np.random.default_rng(seed))
    items = list(config.items())
    random.shuffle(items)
    assert space.key(dict(items)) == space.key(config)
    assert space.key(config) == config_key(space.validate(config))
    numpy_typed = {k: (np.float64(v) if isinstance(v, float) else
                       np.int64(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                   for k, v in config.items()}
    assert space.key(numpy_typed) == space.key(config)


@SPACE_PROPERTY
@given(spaces(), seeds, seeds)
def test_different_configurations_have_different_keys(space, a, b):
    first = space.sample(np.random.default_rng(a))
    second = space.sample(np.random.default_rng(b))
    assert (space.key(first) == space.key(second)) == (canonical_json(first) == canonical_json(
        second))


def test_key_is_a_fixed_sha256_of_the_canonical_json():
    space = _example_space()
    assert canonical_json(space.validate(EXAMPLE_CONFIG)) == (
        '{"dropout":null,"layers":3,"lr":0.001,"momentum":0.9,"optimizer":"sgd"}')
    # Hard-coded: this must never change, or every stored result and cached evaluation is orphaned.
    expected = "036469cdc05753c801d0761398f1d5b581f6d4649cb9d39025900c21c49e523f"
    assert space.key(EXAMPLE_CONFIG) == expected
    assert space.key(dict(reversed(list(EXAMPLE_CONFIG.items())))) == expected
    assert space.key({**EXAMPLE_CONFIG, "lr": 1e-3, "layers": 3.0}) == expected


def test_signed_zero_has_one_key():
    space = Space({"x": Float(-1.0, 1.0)})
    assert space.key({"x": -0.0}) == space.key({"x": 0.0}) == space.key({"x": 0})


def test_key_and_fingerprint_are_the_same_in_another_process():
    space = _example_space()
    code = (
        "from tunebench.space import Space, Float, Int, Categorical\n"
        "s = Space({'optimizer': Categorical(('sgd', 'adam')),"
        " 'lr': Float(1e-5, 1.0, log=True), 'layers': Int(1, 8),"
        " 'momentum': Float(0.0, 0.99, active_if={'optimizer': 'sgd'}),"
        " 'dropout': Categorical((None, 0.1, True, 'x'))})\n"
        f"print(s.key({EXAMPLE_CONFIG!r}), s.fingerprint())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # a different str hash than this process
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    assert out.stdout.split() == [space.key(EXAMPLE_CONFIG), space.fingerprint()]


def test_fingerprint_changes_with_the_definition():
    base = _example_space()
    changed = Space({**{n: base[n] for n in base}, "lr": Float(1e-5, 0.5, log=True)})
    assert changed.fingerprint() != base.fingerprint()
    assert Space({"x": Float(0, 1, default=1)}).fingerprint() == Space(
        {"x": Float(0.0, 1.0, default=1.0)}).fingerprint()


# ---------------------------------------------------------------- definition errors


@pytest.mark.parametrize("build, message", [
    (lambda: Float(1.0, 1.0), "Float needs low < high"),
    (lambda: Float(2.0, 1.0), "Float needs low < high"),
    (lambda: Int(5, 5), "Int needs low < high"),
    (lambda: Int(5, 2), "Int needs low < high"),
    (lambda: Float(0.0, 1.0, log=True), r"log=True needs low > 0"),
    (lambda: Float(-1.0, 1.0, log=True), r"log=True needs low > 0"),
    (lambda: Int(0, 10, log=True), r"log=True needs low >= 1"),
    (lambda: Float(0.0, math.inf), "must be finite"),
    (lambda: Float(math.nan, 1.0), "must be finite"),
    (lambda: Float("0", 1.0), "must be a number"),
    (lambda: Int(0.5, 3), "must be an integer"),
    (lambda: Float(0.0, 1.0, default=2.0), "outside"),
    (lambda: Categorical(()), "at least one choice"),
    (lambda: Categorical("abc"), "must be a list"),
    (lambda: Categorical(("a", "b", "a")), "must be distinct"),
    (lambda: Categorical((1, [2])), "must be str, int, float, bool or None"),
    (lambda: Categorical((1.0, math.nan)), "finite"),
    (lambda: Categorical(("a", "b"), default="c"), "outside"),
    (lambda: Float(0.0, 1.0, active_if=["a"]), "active_if"),
    (lambda: Space({"x": Float(0, 1, active_if={"nope": "a"})}),
     "'x' is active_if 'nope', which is not in the space"),
    (lambda: Space({"x": Float(0, 1), "y": Float(0, 1, active_if={"x": 0.5})}),
     "depends on 'x', a Float"),
    (lambda: Space({"a": Categorical(("u", "v"), active_if={"b": "u"}),
                    "b": Categorical(("u", "v"), active_if={"a": "u"})}),
     "conditions form a cycle: a -> b -> a"),
    (lambda: Space({"a": Categorical(("u", "v"), active_if={"a": "u"})}), "cannot depend on itself"),
    (lambda: Space({"a": Categorical(("u", "v")), "b": Float(0, 1, active_if={"a": "w"})}),
     "can never take that value"),
    (lambda: Space({"": Float(0, 1)}), "non-empty strings"),
    (lambda: Space({"x": (0, 1)}), "must be Float, Int or Categorical"),
    (lambda: Space([("x", Float(0, 1))]), "from a mapping"),
    (lambda: Space.from_dict({"x": {"type": "real", "low": 0, "high": 1}}), "type must be one of"),
    (lambda: Space.from_dict({"x": {"type": "float", "low": 0, "high": 1, "bogus": 1}}), "'x'"),
    (lambda: Space.from_dict({"x": 3}), "'x'"),
])
def test_definition_errors_are_space_errors_with_clear_messages(build, message):
    with pytest.raises(SpaceError, match=message):
        build()


# ---------------------------------------------------------------- distributions


def test_int_log_sampling_gives_each_integer_its_log_width():
    param = Int(1, 64, log=True)
    space = Space({"n": param})
    rng = np.random.default_rng(0)
    draws = 40_000
    counts = Counter(space.sample(rng)["n"] for _ in range(draws))
    assert set(counts) == set(range(1, 65))
    # each integer k owns the log-width of [k - 1/2, k + 1/2] within [1/2, 64 + 1/2]
    total = math.log(64.5 / 0.5)
    expected = {k: draws * math.log((k + 0.5) / (k - 0.5)) / total for k in range(1, 65)}
    chi2 = sum((counts[k] - e) ** 2 / e for k, e in expected.items())
    assert chi2 < 120  # 63 degrees of freedom: the 99.99th percentile is about 113
    # roughly log-uniform: each octave gets a similar share (far from the 1/64 per integer of linear)
    octaves = [sum(counts[k] for k in range(2**i, 2 ** (i + 1))) / draws for i in range(1, 6)]
    assert max(octaves) < 1.35 * min(octaves)
    assert counts[1] > 20 * counts[64]


def test_int_linear_sampling_is_uniform_per_integer():
    space = Space({"n": Int(-3, 6)})
    rng = np.random.default_rng(1)
    counts = Counter(space.sample(rng)["n"] for _ in range(20_000))
    assert set(counts) == set(range(-3, 7))
    assert max(counts.values()) < 1.1 * min(counts.values())


def test_float_log_sampling_is_log_uniform():
    space = Space({"x": Float(1e-4, 1e2, log=True)})
    rng = np.random.default_rng(2)
    logs = np.log10([space.sample(rng)["x"] for _ in range(20_000)])
    assert logs.mean() == pytest.approx(-1.0, abs=0.03)
    hist, _ = np.histogram(logs, bins=6, range=(-4, 2))
    assert hist.max() < 1.1 * hist.min()


def test_categorical_sampling_covers_every_choice_evenly():
    space = Space({"c": Categorical(("a", 1, 2.5, None, False))})
    rng = np.random.default_rng(3)
    counts = Counter(canonical_json(space.sample(rng)["c"]) for _ in range(10_000))
    assert len(counts) == 5
    assert max(counts.values()) < 1.15 * min(counts.values())


@PROPERTY
@given(st.one_of(float_params(), int_params(), categorical_params()), st.integers(1, 12))
def test_grid_points_belong_to_the_parameter(param, resolution):
    points = param.grid(resolution)
    assert points and all(param.contains(p) for p in points)


_plain_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.booleans(), st.none(),
    st.text(), st.sampled_from([np.float64(0.1), np.int64(7), np.bool_(True)]))


@given(st.dictionaries(st.text(), _plain_values, max_size=8))
def test_the_per_trial_config_encoder_writes_exactly_the_canonical_json(config):
    from tunebench import space as space_module

    assert space_module._config_json(config) == space_module._canonical_json(config)


def test_without_the_c_json_encoder_the_canonical_encoder_is_used(monkeypatch):
    import json.encoder

    from tunebench import space as space_module

    assert space_module._config_json is not space_module._canonical_json  # CPython has it
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    assert space_module._make_config_encoder() is space_module._canonical_json
