"""The neutral search space: the only vocabulary tasks and runners share.

A space is plain data (it prints, serialises to JSON, hashes) so a task can declare it once and every
runner can translate it into its own library's terms. Parameters may be *conditional*: active only when
other (categorical or integer) parameters take given values, e.g. ``momentum`` only when
``optimizer == "sgd"``. A configuration holds exactly the active parameters.

Every parameter maps the unit interval onto its domain (:meth:`Param.from_unit`), which is how random
search, grid search and quasi-random runners share one definition of "uniform" (log-uniform for log
parameters, equal mass per integer for integers).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

import numpy as np

Value: TypeAlias = float | int | str | bool | None
Config: TypeAlias = dict[str, Value]


class Direction(StrEnum):
    """Whether a task's metric is minimised or maximised: shared by tasks and runners, so it lives
    here in the neutral layer rather than with either of them."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b`` in this direction."""
        return a < b if self is Direction.MINIMIZE else a > b

    @property
    def sign(self) -> float:
        """Multiply a value by this to turn it into a loss (lower is better)."""
        return 1.0 if self is Direction.MINIMIZE else -1.0


@dataclass(frozen=True)
class Objective:
    """One of a multi-objective task's named objectives and its direction (shared by tasks,
    which declare and report them, and runners, which are told them in the study's order)."""

    name: str
    direction: Direction = Direction.MINIMIZE
    #: The objective's coordinate of the task's fixed hypervolume reference point: a value no
    #: worth-having result is worse than (declared by the task, never taken from the runners
    #: compared). None: the task declares none, and no hypervolume is computed.
    reference: float | None = None
    #: A measured cost (training seconds): its values depend on the machine, and reports say so.
    machine_dependent: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SpaceError(f"objective name {self.name!r} must be an identifier "
                             "(letters, digits and underscores)")
        object.__setattr__(self, "direction", Direction(self.direction))
        if self.reference is not None:
            object.__setattr__(self, "reference", float(self.reference))


class SpaceError(ValueError):
    """A search space is defined wrongly (raised when the space is built)."""


class InvalidConfigError(ValueError):
    """A configuration does not belong to its search space."""


def _freeze_condition(active_if: Any) -> tuple:
    """``{parent: value or values}`` (or its frozen form, a tuple of pairs) as a sorted tuple."""
    if not active_if:
        return ()
    if isinstance(active_if, tuple) and all(
            isinstance(item, tuple) and len(item) == 2 for item in active_if):
        active_if = dict(active_if)  # already frozen (dataclasses.replace, a copy)
    if not isinstance(active_if, Mapping):
        raise SpaceError(
            f"active_if must map parent names to a value or a list of values, got {active_if!r}"
        )
    items = []
    for parent, values in active_if.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            values = (values,)
        items.append((str(parent), tuple(values)))
    return tuple(sorted(items))


@dataclass(frozen=True)
class Param:
    """Common behaviour of parameters; use :class:`Float`, :class:`Int` or :class:`Categorical`."""

    active_if: tuple = field(default=(), kw_only=True)

    kind: str = field(default="", init=False, repr=False)

    def from_unit(self, u: float) -> Value:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_unit(self, value: Value) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def contains(self, value: Value) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def normalise(self, name: str, value: Any) -> Value:
        """``value`` in its canonical Python form (so equal values share one key), or
        :class:`InvalidConfigError` naming ``name``. On every trial's path, so plain values of
        the right type take the shortest route."""
        value = _to_python(value)
        if not self.contains(value):
            raise InvalidConfigError(f"parameter {name!r}={value!r} is outside {self!r}")
        return value

    def default_value(self) -> Value:  # pragma: no cover - abstract
        raise NotImplementedError

    def grid(self, resolution: int) -> list[Value]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        """What a user would write: ``Float(1e-05, 1.0, log=True)``, conditions only if any."""
        parts = self._repr_args()
        if self.active_if:
            parts.append(f"active_if={_condition_to_dict(self.active_if)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _repr_args(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(parent for parent, _ in self.active_if)


def _clip_unit(u: float) -> float:
    u = float(u)
    if math.isnan(u):
        raise ValueError("a unit-interval coordinate must be a number in [0, 1], got nan")
    return min(max(u, 0.0), 1.0)


def _check_default(param: Param, name_hint: str = "default") -> None:
    default = getattr(param, "default", None)
    if default is not None and not param.contains(default):
        raise SpaceError(f"{name_hint} {default!r} lies outside {param!r}")


@dataclass(frozen=True, repr=False)
class Float(Param):
    """A real number in ``[low, high]``; ``log=True`` samples uniformly in log space (needs low > 0)."""

    low: float
    high: float
    log: bool = False
    default: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", "float")
        object.__setattr__(self, "active_if", _freeze_condition(self.active_if))
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpaceError(f"Float {bound} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise SpaceError(f"Float {bound} must be finite, got {value!r}")
            object.__setattr__(self, bound, float(value))
        if isinstance(self.default, int) and not isinstance(self.default, bool):
            object.__setattr__(self, "default", float(self.default))
        if not self.low < self.high:
            raise SpaceError(f"Float needs low < high, got low={self.low!r}, high={self.high!r}")
        if self.log and self.low <= 0:
            raise SpaceError(f"Float with log=True needs low > 0, got low={self.low!r}")
        _check_default(self)

    def from_unit(self, u: float) -> float:
        u = _clip_unit(u)
        if u in (0.0, 1.0):  # exactly the bounds (exp(log(high)) can miss high by an ulp)
            return self.high if u else self.low
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            value = math.exp(lo + u * (hi - lo))
        else:
            value = self.low + u * (self.high - self.low)
        return min(max(value, self.low), self.high)

    def to_unit(self, value: Value) -> float:
        assert isinstance(value, (int, float))
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return (math.log(value) - lo) / (hi - lo)
        return (float(value) - self.low) / (self.high - self.low)

    def contains(self, value: Value) -> bool:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and self.low <= value <= self.high
        )

    def normalise(self, name: str, value: Any) -> float:
        if type(value) is not float:
            value = _to_python(value)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidConfigError(f"parameter {name!r}={value!r} is outside {self!r}")
            try:
                value = float(value)
            except OverflowError:
                raise InvalidConfigError(f"parameter {name!r}={value!r} is outside {self!r}") from None
        value += 0.0  # -0.0 becomes 0.0, so both have one key
        if not self.low <= value <= self.high:  # also false for NaN (the bounds are finite)
            raise InvalidConfigError(f"parameter {name!r}={value!r} is outside {self!r}")
        return value

    def default_value(self) -> float:
        if self.default is not None:
            return float(self.default)
        return self.from_unit(0.5)

    def grid(self, resolution: int) -> list[Value]:
        if resolution == 1:
            return [self.from_unit(0.5)]
        return [self.from_unit(i / (resolution - 1)) for i in range(resolution)]

    def _repr_args(self) -> list[str]:
        return _numeric_repr_args(self.low, self.high, self.log, self.default)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log,
                "default": self.default, "active_if": _condition_to_dict(self.active_if)}


@dataclass(frozen=True, repr=False)
class Int(Param):
    """An integer in ``[low, high]`` (both included); ``log=True`` needs low >= 1."""

    low: int
    high: int
    log: bool = False
    default: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", "int")
        object.__setattr__(self, "active_if", _freeze_condition(self.active_if))
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise SpaceError(f"Int {bound} must be an integer, got {value!r}")
            object.__setattr__(self, bound, int(value))
        if not self.low < self.high:
            raise SpaceError(f"Int needs low < high, got low={self.low!r}, high={self.high!r}")
        if self.log and self.low < 1:
            raise SpaceError(f"Int with log=True needs low >= 1, got low={self.low!r}")
        _check_default(self)

    def from_unit(self, u: float) -> int:
        """Equal probability per integer (linear) or per log-width cell of half-integers (log)."""
        u = _clip_unit(u)
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            value = round(math.exp(lo + u * (hi - lo)))
        else:
            value = math.floor(self.low + u * (self.high - self.low + 1))
        return int(min(max(value, self.low), self.high))

    def to_unit(self, value: Value) -> float:
        assert isinstance(value, (int, float))
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            return (math.log(value) - lo) / (hi - lo)
        return (float(value) - self.low + 0.5) / (self.high - self.low + 1)

    def contains(self, value: Value) -> bool:
        return (
            isinstance(value, (int, np.integer))
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def normalise(self, name: str, value: Any) -> int:
        if type(value) is not int:
            value = _to_python(value)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidConfigError(f"parameter {name!r}={value!r} is outside {self!r}")
        if not self.low <= value <= self.high:
            raise InvalidConfigError(f"parameter {name!r}={value!r} is outside {self!r}")
        return int(value)

    def default_value(self) -> int:
        if self.default is not None:
            return int(self.default)
        if self.log:
            return int(min(max(round(math.sqrt(self.low * self.high)), self.low), self.high))
        return (self.low + self.high) // 2

    def grid(self, resolution: int) -> list[Value]:
        if resolution == 1:
            return [self.default_value()]
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            points = [round(math.exp(lo + i * (hi - lo) / (resolution - 1))) for i in range(resolution)]
        else:
            step = (self.high - self.low) / (resolution - 1)
            points = [round(self.low + i * step) for i in range(resolution)]
        return sorted({int(min(max(p, self.low), self.high)) for p in points})

    def _repr_args(self) -> list[str]:
        return _numeric_repr_args(self.low, self.high, self.log, self.default)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log,
                "default": self.default, "active_if": _condition_to_dict(self.active_if)}


@dataclass(frozen=True, repr=False)
class Categorical(Param):
    """One of a finite set of choices (str, int, float, bool or None), unordered."""

    choices: tuple
    default: Value = None
    #: canonical JSON of each choice → its index (membership tests run on every trial)
    _keys: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", "categorical")
        object.__setattr__(self, "active_if", _freeze_condition(self.active_if))
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence):
            raise SpaceError(f"Categorical choices must be a list, got {self.choices!r}")
        choices = tuple(self.choices)
        if len(choices) < 1:
            raise SpaceError("Categorical needs at least one choice")
        for choice in choices:
            if choice is not None and not isinstance(choice, (str, int, float, bool)):
                raise SpaceError(
                    f"Categorical choices must be str, int, float, bool or None, got {choice!r}"
                )
            if isinstance(choice, float) and not math.isfinite(choice):
                raise SpaceError(f"Categorical choices must be finite numbers, got {choice!r}")
        keys = [_canonical_json(c) for c in choices]
        if len(set(keys)) != len(keys):
            raise SpaceError(f"Categorical choices must be distinct, got {list(choices)!r}")
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "_keys", dict(zip(keys, range(len(keys)), strict=True)))
        _check_default(self)

    def from_unit(self, u: float) -> Value:
        u = _clip_unit(u)
        return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]

    def to_unit(self, value: Value) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def index(self, value: Value) -> int:
        # bool is an int in Python: compare canonical forms so True never matches 1.
        value = _to_python(value)
        index = self._keys.get(_canonical_json(value)) if _is_plain(value) else None
        if index is None:
            raise InvalidConfigError(f"{value!r} is not one of {list(self.choices)!r}")
        return index

    def contains(self, value: Value) -> bool:
        return _is_plain(value) and _canonical_json(value) in self._keys

    def default_value(self) -> Value:
        return self.default if self.default is not None else self.choices[0]

    def grid(self, resolution: int) -> list[Value]:
        return list(self.choices)

    def _repr_args(self) -> list[str]:
        parts = [repr(list(self.choices))]
        if self.default is not None:
            parts.append(f"default={self.default!r}")
        return parts

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices), "default": self.default,
                "active_if": _condition_to_dict(self.active_if)}


def _numeric_repr_args(low: float, high: float, log: bool, default: Any) -> list[str]:
    parts = [repr(low), repr(high)]
    if log:
        parts.append("log=True")
    if default is not None:
        parts.append(f"default={default!r}")
    return parts


def _is_plain(value: Any) -> bool:
    """Whether ``value`` could be a categorical choice (NaN and infinities cannot)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))


def _condition_to_dict(active_if: tuple) -> dict[str, list]:
    return {parent: list(values) for parent, values in active_if}


_PARAM_TYPES: dict[str, type[Param]] = {"float": Float, "int": Int, "categorical": Categorical}


class Space(Mapping[str, Param]):
    """An ordered mapping of parameter names to parameters, parents before their children."""

    def __init__(self, params: Mapping[str, Param]) -> None:
        if not isinstance(params, Mapping):
            raise SpaceError(f"a Space is built from a mapping name -> parameter, got {params!r}")
        for name, param in params.items():
            if not isinstance(name, str) or not name:
                raise SpaceError(f"parameter names must be non-empty strings, got {name!r}")
            if not isinstance(param, Param):
                raise SpaceError(
                    f"parameter {name!r} must be Float, Int or Categorical, got {param!r}"
                )
        self._params = dict(params)
        self._check_conditions()
        self._order = self._topological_order()
        #: per conditional parameter: (parent, canonical keys of the values that activate it)
        self._conditions = {
            name: tuple((parent, frozenset(map(_canonical_json, values)))
                        for parent, values in param.active_if)
            for name, param in self._params.items() if param.active_if}

    def _check_conditions(self) -> None:
        for name, param in self._params.items():
            for parent, values in param.active_if:
                if parent == name:
                    raise SpaceError(f"parameter {name!r} cannot depend on itself")
                if parent not in self._params:
                    raise SpaceError(
                        f"parameter {name!r} is active_if {parent!r}, which is not in the space "
                        f"(known: {sorted(self._params)})"
                    )
                parent_param = self._params[parent]
                if isinstance(parent_param, Float):
                    raise SpaceError(
                        f"parameter {name!r} depends on {parent!r}, a Float; conditions must "
                        "name a Categorical or Int parent"
                    )
                for value in values:
                    if not parent_param.contains(value):
                        raise SpaceError(
                            f"parameter {name!r} is active_if {parent}={value!r}, but {parent!r} "
                            f"can never take that value ({parent_param!r})"
                        )

    def _topological_order(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise SpaceError(f"conditions form a cycle: {' -> '.join([*path, name])}")
            state[name] = 1
            for parent in self._params[name].parents:
                visit(parent, [*path, name])
            state[name] = 2
            order.append(name)

        for name in self._params:
            visit(name, [])
        return order

    # Mapping protocol, in dependency order
    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: {self._params[n]!r}" for n in self._order)
        return f"Space({{{inner}}})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    @property
    def is_conditional(self) -> bool:
        return any(p.active_if for p in self._params.values())

    def is_active(self, name: str, config: Mapping[str, Value]) -> bool:
        """Whether ``name`` is active given the values of its parents in ``config``."""
        for parent, keys in self._conditions.get(name, ()):
            if parent not in config or not self.is_active(parent, config):
                return False
            value = config[parent]
            if not (_is_plain(value) and _canonical_json(value) in keys):
                return False
        return True

    def from_unit(self, units: Mapping[str, float]) -> Config:
        """Build a configuration from one unit-interval coordinate per parameter (inactive ones ignored)."""
        config: Config = {}
        for name in self._order:
            if self.is_active(name, config):
                config[name] = self._params[name].from_unit(units[name])
        return config

    def sample(self, rng: np.random.Generator) -> Config:
        """One configuration drawn uniformly (log-uniformly for log parameters).

        One uniform number is drawn per parameter, active or not, so the stream of draws does not
        depend on which branch a conditional space takes.
        """
        units = {name: float(rng.random()) for name in self._order}
        return self.from_unit(units)

    def default(self) -> Config:
        config: Config = {}
        for name in self._order:
            if self.is_active(name, config):
                config[name] = self._params[name].default_value()
        return config

    def validate(self, config: Mapping[str, Any]) -> Config:
        """Check ``config`` belongs to the space; return it normalised (Python ints/floats, space order).

        Raises :class:`InvalidConfigError` naming the offending parameter and what it should be.
        """
        if type(config) is not dict and not isinstance(config, Mapping):  # ABC check: only if needed
            raise InvalidConfigError(f"a configuration must be a mapping, got {config!r}")
        params = self._params
        if not config.keys() <= params.keys():
            raise InvalidConfigError(
                f"unknown parameter(s) {sorted(set(config) - set(params))}; the space has {sorted(params)}"
            )
        normalised: Config = {}
        conditions = self._conditions
        for name in self._order:
            param = params[name]
            if name in conditions and not self.is_active(name, normalised):
                if name in config:
                    raise InvalidConfigError(
                        f"parameter {name!r} is inactive here (it needs "
                        f"{_condition_to_dict(param.active_if)}) but was given {config[name]!r}"
                    )
                continue
            if name not in config:
                raise InvalidConfigError(f"missing parameter {name!r} ({param!r})")
            normalised[name] = param.normalise(name, config[name])
        return normalised

    def key(self, config: Mapping[str, Any]) -> str:
        """A canonical, stable key of a configuration: the same across processes and Python versions."""
        return config_key(self.validate(config))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: self._params[name].to_dict() for name in self._order}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> Space:
        params: dict[str, Param] = {}
        for name, spec in data.items():
            if not isinstance(spec, Mapping):
                raise SpaceError(f"parameter {name!r}: expected a mapping with a 'type', got {spec!r}")
            spec = dict(spec)
            kind = spec.pop("type", None)
            if kind not in _PARAM_TYPES:
                raise SpaceError(
                    f"parameter {name!r}: type must be one of {sorted(_PARAM_TYPES)}, got {kind!r}"
                )
            if kind == "categorical" and "choices" in spec:
                spec["choices"] = tuple(spec["choices"])
            try:
                params[name] = _PARAM_TYPES[kind](**spec)
            except TypeError as exc:
                raise SpaceError(f"parameter {name!r}: {exc}") from None
        return cls(params)

    def fingerprint(self) -> str:
        """A stable hash of the space's definition (changes when any bound or choice changes)."""
        return hashlib.sha256(_canonical_json(self.to_dict()).encode()).hexdigest()[:16]


def _to_python(value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# json writes floats with repr(), the shortest round-tripping form: stable since Python 3.1. One
# encoder built once: json.dumps with options builds a new one per call, a third of the cost.
_canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False,
                                   default=_to_python).encode


def config_key(config: Mapping[str, Any]) -> str:
    """Canonical key of an already-validated configuration: sha256 of its canonical JSON."""
    return keyed_json(config)[1]


def _make_config_encoder() -> Callable[[Any], str]:
    """The canonical encoder without ``JSONEncoder.encode``'s Python frames around its C core.

    Runs on every trial, where those frames were a third of the encoding's cost. Circular checks are
    off: a validated configuration is a flat dict of plain values. Taken only where the C encoder
    exists and writes exactly what the canonical encoder writes.
    """
    try:
        from json.encoder import c_make_encoder, encode_basestring_ascii

        chunks = c_make_encoder(None, _to_python, encode_basestring_ascii, None, ":", ",", True,
                                False, False)
    except (ImportError, TypeError):  # no C encoder (c_make_encoder is None), or a new signature
        return _canonical_json

    def encode(config: Any) -> str:
        return "".join(chunks(config, 0))

    probe = {"lr": 0.001, "b": 1e-300, "opt": "adam\u00e9\"", "n": 3, "on": True, "x": None,
             "np": np.float64(0.1)}
    return encode if encode(probe) == _canonical_json(probe) else _canonical_json


_config_json = _make_config_encoder()


def keyed_json(config: Mapping[str, Any]) -> tuple[str, str]:
    """The canonical JSON of an already-validated configuration and its key, made together
    because the study loop needs the key and the store keeps the JSON."""
    text = _config_json(config if type(config) is dict else dict(config))
    return text, hashlib.sha256(text.encode()).hexdigest()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, for hashing and storage."""
    return _canonical_json(value)
