"""How a tunebench space becomes a nevergrad parametrization: bounded (the default) or unbounded.

``bounded`` (default): an ``ng.p.Dict`` with one child per parameter: ``ng.p.Scalar`` (linear
floats), ``ng.p.Log`` (log floats), the same with ``set_integer_casting()`` over
``[low - 0.5, high + 0.5]`` for integers (rounded, then clipped, so each integer gets an equal-width
cell) and ``ng.p.Choice`` for categoricals. This is a deviation from nevergrad's default: given only
a dimension, nevergrad optimises an unbounded ``ng.p.Array`` (initial value 0, step 1); tunebench
hands it the task's bounds so it searches the task's domain, as every other runner does.

``unbounded``: nevergrad's own default for a parameter without bounds, ``ng.p.Scalar()`` (initial
value 0, sigma 1), with ``set_integer_casting()`` for integers. For a space of d floats this is what
``parametrization=d`` gives nevergrad (an ``ng.p.Array`` of shape (d,): the same standardized data
and random draws, so seeded runs agree exactly), which is how nevergrad's own tests and published
runs are set up. A proposal outside the task's bounds is clipped onto them for the task; nevergrad
keeps its unclipped candidate and is told the clipped point's value. nevergrad has no unbounded
log-scale default (``ng.p.Log`` needs an initial value or bounds), so a log parameter is refused.
"""

from __future__ import annotations

from typing import Any

import nevergrad as ng

from tunebench.runners.base import RunnerError
from tunebench.runners.translation import ParamTranslation, active_config, clipped, fmt, rows
from tunebench.space import Categorical, Config, Float, Param, Space

BOUNDED, UNBOUNDED = "bounded", "unbounded"
PARAMETRIZATIONS = (BOUNDED, UNBOUNDED)


def check_parametrization(kind: Any, space: Space) -> str:
    """``kind`` if it is a parametrization this space can have, else a clear RunnerError."""
    if kind not in PARAMETRIZATIONS:
        raise RunnerError(f"option parametrization must be one of "
                          f"{', '.join(repr(k) for k in PARAMETRIZATIONS)}, got {kind!r}")
    if kind == UNBOUNDED:
        logs = [name for name in space if getattr(space[name], "log", False)]
        if logs:
            raise RunnerError(
                f"parametrization='unbounded' has no nevergrad default for the log-scale "
                f"parameter(s) {', '.join(logs)} (ng.p.Log needs an initial value or bounds); "
                "use the default parametrization='bounded'")
    return str(kind)


def _bounds(param: Param) -> tuple[float, float]:
    assert not isinstance(param, Categorical)
    if isinstance(param, Float):
        return param.low, param.high
    return param.low - 0.5, param.high + 0.5


def parameter(param: Param, kind: str = BOUNDED) -> ng.p.Parameter:
    """The nevergrad parameter for one tunebench parameter."""
    if isinstance(param, Categorical):
        return ng.p.Choice(list(param.choices))
    if kind == UNBOUNDED:
        child = ng.p.Scalar()
    else:
        low, high = _bounds(param)
        child = ng.p.Log(lower=low, upper=high) if param.log else ng.p.Scalar(lower=low, upper=high)
    return child if isinstance(param, Float) else child.set_integer_casting()


def parameter_text(param: Param, kind: str = BOUNDED) -> str:
    """:func:`parameter` as the nevergrad expression that builds it."""
    if isinstance(param, Categorical):
        return f"ng.p.Choice([{', '.join(fmt(c) for c in param.choices)}])"
    if kind == UNBOUNDED:
        text = "ng.p.Scalar()"
    else:
        low, high = _bounds(param)
        text = f"ng.p.{'Log' if param.log else 'Scalar'}(lower={fmt(low)}, upper={fmt(high)})"
    return text if isinstance(param, Float) else text + ".set_integer_casting()"


def parametrization(space: Space, kind: str = BOUNDED) -> ng.p.Dict:
    """One ``ng.p.Dict`` child per parameter of ``space`` (conditional ones included)."""
    return ng.p.Dict(**{name: parameter(space[name], kind) for name in space})


def _value(param: Param, raw: Any) -> Any:
    return raw if isinstance(param, Categorical) else clipped(param, raw)


def to_config(space: Space, values: dict[str, Any]) -> Config:
    """A candidate's value as a configuration: active parameters only, clipped onto the bounds."""
    return active_config(space, values, _value)


def translation(space: Space, kind: str = BOUNDED) -> list[ParamTranslation]:
    """The space-translation audit rows (see :mod:`tunebench.runners.translation`)."""
    def render(name: str, param: Param) -> tuple[str, bool, str]:
        reasons = []
        if kind == UNBOUNDED and not isinstance(param, Categorical):
            reasons.append("unbounded (nevergrad's default: start 0, sigma 1); clipped onto the "
                           "bounds for the task")
        if param.kind == "int":
            reasons.append("continuous internally, rounded to the integer")
        if isinstance(param, Categorical):
            reasons.append("relaxed to one continuous weight per choice, drawn by softmax")
        if param.active_if:
            reasons.append("no native conditions: always optimised, dropped when inactive")
        return parameter_text(param, kind), bool(reasons), "; ".join(reasons)

    return rows(space, render)


__all__ = ["BOUNDED", "PARAMETRIZATIONS", "UNBOUNDED", "check_parametrization", "parameter",
           "parameter_text", "parametrization", "to_config", "translation"]
