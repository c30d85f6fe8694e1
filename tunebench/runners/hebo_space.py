"""The neutral space as a HEBO ``DesignSpace``.

A linear float is ``num``, a log float ``pow`` (HEBO models its base-10 logarithm), a linear integer
``int`` and a log integer ``pow_int`` (the base-10 logarithm, rounded back to an integer), a
categorical ``cat`` whose categories are the choices (their ``repr`` unless all are strings, so
``None`` and booleans keep one type). HEBO has no conditional parameters: every parameter is always
in its design space and the ones inactive for a suggestion are dropped from the configuration (the
task's value cannot depend on them; the audit marks them lossy). A configuration HEBO did not
propose is observed with its inactive parameters at their defaults.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tunebench.runners.hebo_library import DesignSpace
from tunebench.runners.translation import ParamTranslation, describe, fmt, string_labels
from tunebench.space import Categorical, Config, Float, Param, Space, Value


def _entry(name: str, param: Param) -> dict[str, Any]:
    if isinstance(param, Categorical):
        return {"name": name, "type": "cat", "categories": string_labels(param)}
    kind = {("float", False): "num", ("float", True): "pow", ("int", False): "int",
            ("int", True): "pow_int"}[param.kind, bool(param.log)]  # type: ignore[attr-defined]
    return {"name": name, "type": kind, "lb": param.low, "ub": param.high}  # type: ignore[attr-defined]


def design_space(space: Space) -> DesignSpace:
    return DesignSpace().parse([_entry(name, space[name]) for name in space])


def decode(space: Space, row: pd.Series) -> Config:
    """A configuration (space order, active parameters only) from one row of HEBO's suggestions."""
    config: Config = {}
    for name in space:
        if space.is_active(name, config):
            config[name] = _decode(space[name], row[name])
    return config


def _decode(param: Param, raw: Any) -> Value:
    if isinstance(param, Categorical):
        return param.choices[string_labels(param).index(str(raw))]
    if isinstance(param, Float):
        return min(max(float(raw), param.low), param.high)
    return int(min(max(round(float(raw)), param.low), param.high))  # type: ignore[attr-defined]


def encode(space: Space, config: Config) -> pd.DataFrame:
    """One row of HEBO's design space for a configuration (inactive parameters at their defaults)."""
    row: dict[str, Any] = {}
    for name in space:
        param = space[name]
        value = config[name] if name in config else param.default_value()
        row[name] = (string_labels(param)[param.index(value)]
                     if isinstance(param, Categorical) else value)
    return pd.DataFrame([row])


def translation(space: Space) -> list[ParamTranslation]:
    rows = []
    for name in space:
        param = space[name]
        entry = _entry(name, param)
        if isinstance(param, Categorical):
            text = f"cat {name!r} [{', '.join(fmt(c) for c in entry['categories'])}]"
        else:
            text = f"{entry['type']} {name!r} [{fmt(param.low)}, {fmt(param.high)}]"  # type: ignore[attr-defined]
            if param.log:  # type: ignore[attr-defined]
                text += " (base-10 logarithm" + (", rounded)" if param.kind == "int" else ")")
        reason = ("HEBO has no conditional parameters: always optimised, dropped when inactive"
                  if param.active_if else "")
        rows.append(ParamTranslation(name, describe(param), text, bool(param.active_if), reason))
    return rows


__all__ = ["decode", "design_space", "encode", "translation"]
