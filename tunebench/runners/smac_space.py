"""The neutral space as a ConfigSpace ``ConfigurationSpace``, the space SMAC3 optimises.

Every parameter keeps its kind and scale: a float becomes ``Float`` (``log=True`` where tunebench's
is log), an integer ``Integer`` (ConfigSpace's own integer, log or not), a categorical
``Categorical`` over the *indices* of its choices. Indices, because tunebench's choices may be
``None``, booleans and numbers side by side, which ConfigSpace would turn into numpy scalars; SMAC
models a categorical by its index in any case, so nothing is lost. Conditions become ConfigSpace
conditions — ``EqualsCondition`` for one activating value, ``InCondition`` for several, joined by
``AndConjunction`` when a parameter has several parents — so SMAC sees the tree natively (inactive
parameters are absent from its configurations, and its random forest imputes them).
"""

from __future__ import annotations

from typing import Any

from ConfigSpace import (
    AndConjunction,
    Categorical,
    Configuration,
    ConfigurationSpace,
    EqualsCondition,
    Float,
    InCondition,
    Integer,
)

from tunebench.runners.translation import ParamTranslation, fmt, rows
from tunebench.space import Categorical as TbCategorical
from tunebench.space import Config, Param, Space, Value
from tunebench.space import Float as TbFloat


def _hyperparameter(name: str, param: Param) -> Any:
    if isinstance(param, TbCategorical):
        return Categorical(name, list(range(len(param.choices))))
    if isinstance(param, TbFloat):
        return Float(name, (float(param.low), float(param.high)), log=param.log)
    return Integer(name, (int(param.low), int(param.high)), log=param.log)


def _encode(param: Param, value: Value) -> Any:
    if isinstance(param, TbCategorical):
        return param.index(value)
    return value


def configspace(space: Space, seed: int) -> ConfigurationSpace:
    """The ConfigurationSpace of ``space``, seeded (SMAC reseeds it with the scenario's seed)."""
    cs = ConfigurationSpace(seed=seed)
    hps = {name: _hyperparameter(name, space[name]) for name in space}
    cs.add(list(hps.values()))
    for name in space:
        clauses = []
        for parent, values in space[name].active_if:
            encoded = [_encode(space[parent], v) for v in values]
            clauses.append(EqualsCondition(hps[name], hps[parent], encoded[0]) if len(encoded) == 1
                           else InCondition(hps[name], hps[parent], encoded))
        if clauses:
            cs.add(clauses[0] if len(clauses) == 1 else AndConjunction(*clauses))
    return cs


def to_config(space: Space, configuration: Configuration) -> Config:
    """A tunebench configuration (space order, active parameters, Python types) from SMAC's."""
    values = dict(configuration)
    config: Config = {}
    for name in space:
        if name not in values:
            continue
        param, raw = space[name], values[name]
        if isinstance(param, TbCategorical):
            config[name] = param.choices[int(raw)]
        elif isinstance(param, TbFloat):
            config[name] = min(max(float(raw), param.low), param.high)
        else:
            config[name] = int(raw)
    return config


def to_configuration(space: Space, cs: ConfigurationSpace, config: Config) -> Configuration:
    """SMAC's configuration of a tunebench one (a configuration told without being asked)."""
    values = {name: _encode(space[name], value) for name, value in config.items()}
    return Configuration(cs, values=values)


def translation(space: Space) -> list[ParamTranslation]:
    """The audit: what SMAC receives for each parameter (nothing is lossy)."""
    def render(name: str, param: Param) -> tuple[str, bool, str]:
        if isinstance(param, TbCategorical):
            text = (f"Categorical({name!r}, indices 0..{len(param.choices) - 1} of "
                    f"[{', '.join(fmt(c) for c in param.choices)}])")
        else:
            kind = "Float" if isinstance(param, TbFloat) else "Integer"
            log = ", log=True" if param.log else ""
            text = f"{kind}({name!r}, ({fmt(param.low)}, {fmt(param.high)}){log})"
        parts = []
        for parent, values in param.active_if:
            shown = [fmt(_encode(space[parent], v)) for v in values]
            parts.append(f"EqualsCondition({parent}={shown[0]})" if len(shown) == 1
                         else f"InCondition({parent} in [{', '.join(shown)}])")
        if len(parts) > 1:
            text += "; AndConjunction(" + ", ".join(parts) + ")"
        elif parts:
            text += "; " + parts[0]
        return text, False, ""

    return rows(space, render)


__all__ = ["configspace", "to_config", "to_configuration", "translation"]
