"""The neutral space as a ConfigSpace ``ConfigurationSpace`` (what DEHB searches), and back.

Every parameter becomes its ConfigSpace counterpart under its own name: floats
``UniformFloatHyperparameter`` and integers ``UniformIntegerHyperparameter`` (``log=True`` on a log
scale), categoricals ``CategoricalHyperparameter`` with the declared choices (``None`` and booleans
included). Conditions are native: ``active_if={parent: values}`` becomes an ``EqualsCondition``
(one value) or an ``InCondition`` (several), on categorical and integer parents alike, joined by an
``AndConjunction`` when a parameter has several parents; ConfigSpace, like tunebench, makes a child
of an inactive parent inactive, so nesting needs nothing more.

DEHB itself works on the unit hypercube, one coordinate per hyperparameter, and maps it with its own
``vector_to_configspace``: floats linearly or log-linearly, integers rounded from a linear (or
log-linear) scale over ``[low, high]`` (so the two end integers get half-width cells), categoricals
as equal cells of the coordinate. Inactive coordinates are carried along and ignored. That mapping is
DEHB's, not tunebench's, and is recorded here as such.
"""

from __future__ import annotations

from typing import Any

import ConfigSpace as CS

from tunebench.runners.translation import ParamTranslation, active_config, condition_text, fmt, rows
from tunebench.space import Categorical, Config, Float, Param, Space


def _hyperparameter(name: str, param: Param) -> Any:
    if isinstance(param, Categorical):
        return CS.CategoricalHyperparameter(name, list(param.choices))
    kind = CS.UniformFloatHyperparameter if isinstance(param, Float) else CS.UniformIntegerHyperparameter
    return kind(name, param.low, param.high, log=param.log)


def _condition(child: Any, parent: Any, values: tuple) -> Any:
    if len(values) == 1:
        return CS.EqualsCondition(child, parent, values[0])
    return CS.InCondition(child, parent, list(values))


def configuration_space(space: Space, seed: int | None = None) -> CS.ConfigurationSpace:
    """The ConfigurationSpace of ``space`` (seeded, if ``seed`` is given, as DEHB reseeds it)."""
    cs = CS.ConfigurationSpace(seed=seed)
    hps = {name: _hyperparameter(name, space[name]) for name in space}
    cs.add(list(hps.values()))
    for name in space:
        conditions = [_condition(hps[name], hps[parent], tuple(values))
                      for parent, values in space[name].active_if]
        if len(conditions) == 1:
            cs.add(conditions[0])
        elif conditions:
            cs.add(CS.AndConjunction(*conditions))
    return cs


def to_config(space: Space, configuration: Any) -> Config:
    """A ConfigSpace configuration as a configuration of ``space`` (space order, plain values)."""
    return active_config(space, dict(configuration))


def to_configuration(cs: CS.ConfigurationSpace, config: Config) -> CS.Configuration:
    """A configuration of the space as a ConfigSpace configuration (active parameters only)."""
    return CS.Configuration(cs, values=dict(config))


_CLASS = {"float": "UniformFloatHyperparameter", "int": "UniformIntegerHyperparameter",
          "categorical": "CategoricalHyperparameter"}
#: What DEHB's own unit-cube mapping loses, by kind of parameter.
_DEHB_LOSS = {
    "int": "DEHB rounds a continuous coordinate from low to high: the end integers get "
           "half-width cells",
    "categorical": "DEHB's differential evolution moves an equal-cell coordinate, an ordinal "
                   "relaxation of the choices",
}


def hyperparameter_text(param: Param) -> str:
    """The ConfigSpace expression of one parameter, its condition included."""
    if isinstance(param, Categorical):
        arguments = "[" + ", ".join(fmt(c) for c in param.choices) + "]"
    else:
        arguments = f"{fmt(param.low)}, {fmt(param.high)}" + (", log=True" if param.log else "")
    condition = f", active {condition_text(param)} (native condition)" if param.active_if else ""
    return f"{_CLASS[param.kind]}({arguments}){condition}"


def translation(space: Space) -> list[ParamTranslation]:
    """The space-translation audit rows (see :mod:`tunebench.runners.translation`)."""
    return rows(space, lambda name, param: (
        hyperparameter_text(param), param.kind in _DEHB_LOSS, _DEHB_LOSS.get(param.kind, "")))


__all__ = ["configuration_space", "to_config", "to_configuration", "translation"]
