"""The space-translation audit: how each parameter of a space reaches a runner's library.

Every runner meets the task through the neutral :class:`~tunebench.space.Space`; what the library
actually optimises is its own translation of it. Those translations differ in ways that matter to a
comparison (an integer modelled as a rounded float, a categorical relaxed into continuous weights, a
conditional parameter that the model cannot see), so each runner class says, parameter by parameter,
what it hands the library and whether anything is lost on the way.

A runner exposes this as a classmethod ``translate(space, **options) -> list[ParamTranslation]``.
Runners without one (the baselines, third-party plugins) get :func:`fallback_translation`, which
describes what tunebench itself does for the random and grid families and says "not declared"
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tunebench.runners.base import Runner
from tunebench.space import Categorical, Config, Float, Int, Param, Space


@dataclass(frozen=True)
class ParamTranslation:
    """One row of the audit: a parameter as tunebench defines it and as the library receives it."""

    name: str
    definition: str
    library: str
    lossy: bool = False
    reason: str = ""


def fmt(value: Any) -> str:
    """A short, exact rendering of a bound or choice (``1e-05``, ``0.5``, ``'sgd'``)."""
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return repr(value)


def string_labels(param: Categorical) -> list[str]:
    """One string per choice, for libraries whose categories are strings of one type: the choices
    themselves when they are all strings, else their ``repr`` (``'None'``, ``"'sgd'"``, ``'3'``)."""
    choices = list(param.choices)
    if all(isinstance(c, str) for c in choices):
        return choices  # type: ignore[return-value]
    return [repr(c) for c in choices]


def condition_text(param: Param) -> str:
    """``"if optimizer in {'sgd'}"`` (all conditions joined with "and"), or ``""``."""
    parts = [f"{parent} in {{{', '.join(fmt(v) for v in values)}}}" for parent, values in param.active_if]
    return ("if " + " and ".join(parts)) if parts else ""


def describe(param: Param) -> str:
    """The tunebench definition of a parameter, e.g. ``float [1e-05, 1] log if opt in {'sgd'}``."""
    if isinstance(param, (Float, Int)):
        text = f"{param.kind} [{fmt(param.low)}, {fmt(param.high)}]" + (" log" if param.log else "")
    elif isinstance(param, Categorical):
        text = f"categorical {{{', '.join(fmt(c) for c in param.choices)}}}"
    else:  # pragma: no cover - Space only holds the three kinds
        text = repr(param)
    condition = condition_text(param)
    return f"{text} {condition}" if condition else text


def clipped(param: Param, raw: Any) -> float | int:
    """A library's number for a float or integer parameter, as a plain float or int within the
    parameter's bounds (libraries hand back numpy scalars, and rounding can step past a bound)."""
    if isinstance(param, Float):
        return min(max(float(raw), param.low), param.high)
    return int(min(max(int(raw), param.low), param.high))


def from_library(param: Param, raw: Any) -> Any:
    """A library's value for ``param`` (a numpy scalar, a float for an integer) as the space's own:
    clipped onto the bounds, ``int`` for integers, the declared choice for categoricals."""
    if isinstance(param, Categorical):
        return param.choices[param.index(raw)]
    return clipped(param, raw)


def active_config(space: Space, values: Mapping[str, Any],
                  decode: Callable[[Param, Any], Any] = from_library) -> Config:
    """The configuration a library's values make: space order, active parameters only (a missing
    value is an inactive parameter), each read by ``decode(param, raw)``."""
    config: Config = {}
    for name in space:
        if name in values and space.is_active(name, config):
            config[name] = decode(space[name], values[name])
    return config


def rows(space: Space, render: Callable[[str, Param], tuple[str, bool, str]]) -> list[ParamTranslation]:
    """One row per parameter (space order) from ``render(name, param) -> (library, lossy, reason)``."""
    return [ParamTranslation(name, describe(space[name]), *render(name, space[name]))
            for name in space]


def _random_rows(space: Space, options: Mapping[str, Any]) -> list[ParamTranslation]:
    def render(name: str, param: Param) -> tuple[str, bool, str]:
        how = {"float": "uniform", "int": "equal mass per integer", "categorical": "uniform choice"}
        text = how[param.kind] + (" in log space" if getattr(param, "log", False) else "")
        if param.active_if:
            text += "; drawn only when active"
        return f"tunebench: {text} (Param.from_unit)", False, ""

    return rows(space, render)


def _grid_rows(space: Space, options: Mapping[str, Any]) -> list[ParamTranslation]:
    resolution = int(options.get("resolution", 5))

    def render(name: str, param: Param) -> tuple[str, bool, str]:
        points = param.grid(resolution)
        shown = ", ".join(fmt(p) for p in points[:6]) + (", …" if len(points) > 6 else "")
        lossy = not isinstance(param, Categorical) and len(points) < _size(param)
        reason = f"only {len(points)} of the values are ever tried" if lossy else ""
        return f"grid of {len(points)}: [{shown}]", lossy, reason

    return rows(space, render)


def _size(param: Param) -> float:
    if isinstance(param, Int):
        return param.high - param.low + 1
    if isinstance(param, Categorical):
        return len(param.choices)
    return float("inf")


#: What tunebench's own families do, for runners that declare no ``translate``.
_FAMILY_FALLBACKS: dict[str, Callable[[Space, Mapping[str, Any]], list[ParamTranslation]]] = {
    "random": _random_rows,
    "grid": _grid_rows,
}


def fallback_translation(runner_cls: type[Runner], space: Space,
                         options: Mapping[str, Any] | None = None) -> list[ParamTranslation]:
    """The audit of a runner class that has no ``translate`` classmethod."""
    options = dict(options or {})
    caps = runner_cls.capabilities
    if caps.library == "tunebench" and caps.family in _FAMILY_FALLBACKS:
        return _FAMILY_FALLBACKS[caps.family](space, options)
    return rows(space, lambda name, param: (
        "not declared by the runner (it receives the neutral space as it is)", False, ""))


def translate(runner_cls: type[Runner], space: Space,
              options: Mapping[str, Any] | None = None) -> list[ParamTranslation]:
    """How ``runner_cls`` (built with ``options``) translates every parameter of ``space``."""
    method = getattr(runner_cls, "translate", None)
    if callable(method):
        return list(method(space, **dict(options or {})))
    return fallback_translation(runner_cls, space, options)


__all__ = ["ParamTranslation", "active_config", "clipped", "condition_text", "describe",
           "fallback_translation", "fmt", "from_library", "rows", "string_labels", "translate"]
