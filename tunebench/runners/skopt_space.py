"""The neutral space as scikit-optimize dimensions, and back.

Each parameter becomes its skopt counterpart, in space order: ``Real(low, high, prior)`` for
floats and ``Integer(low, high, prior)`` for integers (``prior="log-uniform"`` on a log scale,
``"uniform"`` otherwise), ``Categorical(choices)`` for categoricals (any choice values, ``None`` and
booleans included). skopt has no conditional parameters, so every parameter is always a dimension;
the ones inactive for a point are dropped from its configuration (the task cannot depend on them,
so skopt learns nothing from them). A configuration skopt did not propose is told with its inactive
parameters at their defaults.
"""

from __future__ import annotations

from typing import Any

from skopt.space import Categorical as SkCategorical
from skopt.space import Dimension, Integer, Real

from tunebench.runners.translation import ParamTranslation, active_config, fmt, rows
from tunebench.space import Categorical, Config, Float, Param, Space


def _prior(param: Param) -> str:
    return "log-uniform" if getattr(param, "log", False) else "uniform"


def dimension(name: str, param: Param) -> Dimension:
    """The skopt dimension of one parameter."""
    if isinstance(param, Categorical):
        return SkCategorical(list(param.choices), name=name)
    kind = Real if isinstance(param, Float) else Integer
    return kind(param.low, param.high, prior=_prior(param), name=name)


def dimensions(space: Space) -> list[Dimension]:
    return [dimension(name, space[name]) for name in space]


def to_config(space: Space, point: list[Any]) -> Config:
    """A skopt point as a configuration: active parameters only, plain Python values."""
    return active_config(space, dict(zip(space, point, strict=True)))


def to_point(space: Space, config: Config) -> list[Any]:
    """A configuration as a skopt point (inactive parameters at their defaults)."""
    return [config[name] if name in config else space[name].default_value() for name in space]


def translation(space: Space) -> list[ParamTranslation]:
    """The space-translation audit rows (see :mod:`tunebench.runners.translation`)."""
    def render(name: str, param: Param) -> tuple[str, bool, str]:
        if isinstance(param, Categorical):
            text = f"Categorical([{', '.join(fmt(c) for c in param.choices)}])"
        else:
            kind = "Real" if isinstance(param, Float) else "Integer"
            text = f"{kind}({fmt(param.low)}, {fmt(param.high)}, prior={_prior(param)!r})"
        lossy = bool(param.active_if)
        reason = "no native conditions: always optimised, dropped when inactive" if lossy else ""
        return text, lossy, reason

    return rows(space, render)


__all__ = ["dimension", "dimensions", "to_config", "to_point", "translation"]
