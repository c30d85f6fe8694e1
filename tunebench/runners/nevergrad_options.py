"""nevergrad's own options, passed through to the library: names and types from its signatures.

A nevergrad runner accepts

- the optimizer constructor's keywords ``budget`` and ``num_workers``. ``budget`` is planned by
  the runner unless set (see :mod:`tunebench.runners.nevergrad_runner`). ``num_workers`` defaults
  to the evaluations the study keeps in flight (``settings.in_flight``; nevergrad's own default,
  1, for a study that keeps one): nevergrad's documented meaning of it, the number of candidates
  asked before their results come back, which also changes what it plans for (NGOpt's choice,
  DE's population). A larger value than the study's is allowed; a smaller one is refused;
- ``parametrization``: ``"bounded"`` (default) or ``"unbounded"`` (:mod:`.nevergrad_space`);
- every keyword of the optimizer's configuration. A registry entry that is a configured optimizer
  (``OnePlusOne`` is ``ParametrizedOnePlusOne()``, ``TwoPointsDE`` is
  ``DifferentialEvolution(crossover="twopoints")``, ``PSO`` is ``ConfPSO()``, ``BO`` is
  ``ParametrizedBO()``) takes its class's keywords, the entry's own values being the defaults; an
  optimizer class with a ``config`` argument (``Portfolio``) takes its configuration class's
  keywords (``ConfPortfolio``: ``optimizers``, ``warmup_ratio``, ``no_crossing``). ``NGOpt`` and
  ``CMA`` take none: they choose their algorithm themselves.

Values are checked against nevergrad's type annotations first (a TOML list becomes the tuple
nevergrad wants, names of other optimizers must be in its registry), then by nevergrad itself when
the optimizer is built and asked once; either way the error names the option and what it accepts.
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import math
import typing
from dataclasses import dataclass, field
from typing import Any, ForwardRef

import nevergrad as ng
from nevergrad.optimization import base as ng_base
from nevergrad.optimization import optimizerlib

from tunebench.runners.adapter import check_int
from tunebench.runners.base import RunnerError
from tunebench.runners.nevergrad_space import BOUNDED

#: Options every nevergrad runner takes, besides its optimizer's configuration.
COMMON_OPTIONS = ("budget", "num_workers", "parametrization")


@dataclass(frozen=True)
class Configuration:
    """The configurable keywords of one registry entry: their nevergrad declarations and defaults."""

    optimizer: str
    owner: str  # the class whose keywords these are (for error messages)
    parameters: dict[str, inspect.Parameter] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    builder: Any = None  # configured-optimizer class to build with changed values (None: none)


def _config_class_of(entry: type) -> type | None:
    """The configured-optimizer class behind an optimizer's ``config`` argument, if it has one."""
    parameter = inspect.signature(entry.__init__).parameters.get("config")
    if parameter is None:
        return None
    for arg in (*typing.get_args(parameter.annotation), parameter.annotation):
        name = arg.__forward_arg__ if isinstance(arg, ForwardRef) else getattr(arg, "__name__", arg)
        found = getattr(optimizerlib, str(name), None)
        if isinstance(found, type) and issubclass(found, ng_base.ConfiguredOptimizer):
            return found
    return None


def configuration(optimizer: str) -> Configuration:
    """What ``ng.optimizers.registry[optimizer]`` can be configured with."""
    entry = ng.optimizers.registry[optimizer]
    if isinstance(entry, ng_base.ConfiguredOptimizer):
        builder = type(entry)
        defaults = dict(entry._config)
    else:
        builder = _config_class_of(entry)
        if builder is None:
            return Configuration(optimizer, optimizer)
        defaults = dict(builder()._config)
    parameters = {name: p for name, p in inspect.signature(builder.__init__).parameters.items()
                  if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return Configuration(optimizer, builder.__name__, parameters,
                         {name: defaults.get(name, p.default) for name, p in parameters.items()},
                         builder)


# ---------------------------------------------------------------------- type checks
def _type_text(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("NoneType", "None")
    return text.replace("nevergrad.optimization.base.", "").replace("ForwardRef(", "(")


_NO_MATCH = object()


def _coerce(value: Any, annotation: Any) -> Any:
    """``value`` as ``annotation`` wants it (a list as a tuple), or ``_NO_MATCH``."""
    if annotation in (inspect.Parameter.empty, Any):
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        for arg in args:
            coerced = _coerce(value, arg)
            if coerced is not _NO_MATCH:
                return coerced
        return _NO_MATCH
    if annotation is type(None):
        return value if value is None else _NO_MATCH
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return _NO_MATCH
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        if args and len(args) != len(value):
            return _NO_MATCH
        items = [_coerce(v, a) for v, a in zip(value, args, strict=False)] if args else list(value)
        return _NO_MATCH if _NO_MATCH in items else tuple(items)
    if origin in (list, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return _NO_MATCH
        items = [_coerce(v, args[0] if args else Any) for v in value]
        return _NO_MATCH if any(i is _NO_MATCH for i in items) else tuple(items)
    if origin in (dict, collections.abc.Mapping):
        return value if isinstance(value, dict) else _NO_MATCH
    if annotation is bool:
        return value if isinstance(value, bool) else _NO_MATCH
    if annotation is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO_MATCH
    if annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else _NO_MATCH
    if annotation is str:
        return value if isinstance(value, str) else _NO_MATCH
    if isinstance(annotation, type):
        return value if isinstance(value, annotation) else _NO_MATCH
    return _NO_MATCH  # an object TOML cannot express (an optimizer instance, a class)


def _check_optimizer_names(name: str, value: Any, annotation: Any) -> None:
    """Values of options naming other optimizers (Portfolio's ``optimizers``) must be registered."""
    if "Optimizer" not in str(annotation):
        return
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(item, str) and item not in ng.optimizers.registry:
            close = difflib.get_close_matches(item, sorted(ng.optimizers.registry), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RunnerError(f"option {name}: {item!r} is not an optimizer in nevergrad's "
                              f"registry{hint} (`ng.optimizers.registry` lists them)")


def check_config(config: Configuration, options: dict[str, Any]) -> dict[str, Any]:
    """The user's configuration options, typed as nevergrad wants them, or a clear RunnerError."""
    checked: dict[str, Any] = {}
    for name, value in options.items():
        annotation = config.parameters[name].annotation
        coerced = _coerce(value, annotation)
        if coerced is _NO_MATCH:
            raise RunnerError(
                f"option {name}={value!r} does not fit nevergrad's {config.owner} "
                f"(it takes {_type_text(annotation)}; nevergrad's {config.optimizer} uses "
                f"{config.defaults[name]!r})")
        _check_optimizer_names(name, coerced, annotation)
        checked[name] = coerced
    return checked


# ---------------------------------------------------------------------- parsed options
@dataclass(frozen=True)
class LibraryOptions:
    """A runner's options after validation: what the user set, and nevergrad's configuration."""

    config: Configuration
    user_config: dict[str, Any]
    budget: int | None  # None: planned by the runner
    num_workers: int
    parametrization: str

    @classmethod
    def parse(cls, optimizer: str, options: dict[str, Any], in_flight: int = 1
              ) -> LibraryOptions:
        config = configuration(optimizer)
        unknown = sorted(set(options) - set(COMMON_OPTIONS) - set(config.parameters))
        if unknown:  # the registry checks names first; this guards direct construction
            raise RunnerError(f"nevergrad's {optimizer} has no option(s) {', '.join(unknown)}; "
                              f"accepted: {', '.join(accepted_options(optimizer))}")
        user = {k: v for k, v in options.items() if k in config.parameters}
        budget = options.get("budget")
        workers = check_int("num_workers", options.get("num_workers", in_flight), 1)
        if workers < in_flight:
            raise RunnerError(f"option num_workers = {workers} is below settings.in_flight = "
                              f"{in_flight}: nevergrad would be asked for more candidates at once "
                              "than it plans for; leave num_workers out (it follows in_flight)")
        return cls(config=config, user_config=check_config(config, user),
                   budget=None if budget is None else check_int("budget", budget, 1),
                   num_workers=workers, parametrization=options.get("parametrization", BOUNDED))

    def factory(self, extra: dict[str, Any] | None = None) -> Any:
        """What builds the optimizer: nevergrad's registry entry itself when nothing is changed,
        else its configured-optimizer class with the entry's values and the changes."""
        changes = {**(extra or {}), **self.user_config}
        if not changes:
            return ng.optimizers.registry[self.config.optimizer]
        return self.config.builder(**{**self.config.defaults, **changes})

    def resolved_config(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every configuration keyword with the value in effect (nevergrad's defaults included)."""
        values = {**self.config.defaults, **(extra or {}), **self.user_config}
        return {name: json_value(value) for name, value in values.items()}


def accepted_options(optimizer: str) -> list[str]:
    return [*COMMON_OPTIONS, *configuration(optimizer).parameters]


def json_value(value: Any) -> Any:
    """A configuration value as plain JSON (tuples as lists, optimizers by name)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return getattr(value, "name", None) or getattr(value, "__name__", None) or repr(value)


__all__ = ["COMMON_OPTIONS", "Configuration", "LibraryOptions", "accepted_options",
           "check_config", "configuration", "json_value"]
