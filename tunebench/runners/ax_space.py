"""The neutral space as Ax parameter configs, with Ax's hierarchical search space for conditions.

Translation. A float becomes ``RangeParameterConfig(parameter_type="float")`` and an integer
``parameter_type="int"``, each with ``scaling="log"`` when the parameter is log-scaled. A categorical
becomes an unordered ``ChoiceParameterConfig``: of strings or booleans when all its choices are, and
otherwise of the choices' ``repr`` (Ax takes one value type per parameter; ``None`` is not one), mapped
back on the way out.

Conditions. Ax's hierarchical search spaces nest parameters under the values of a *choice* parameter
(``dependent_parameters={value: [names]}``) and only give a parameter when its branch is taken; the
hierarchy must be a tree (Ax 1.3.1 refuses a parameter reachable under two values: "could be reached
from multiple paths"). A parameter is nested when it has one condition, on a categorical, with one
activating value (nested conditions chain: ``dampening`` under ``nesterov`` under ``optimizer``).
Any other condition (on an integer, on several parents, or on several values) cannot be expressed
there: the parameter is flattened (always in Ax's space, dropped from the configuration when
inactive), which the audit marks as lossy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ax import ChoiceParameterConfig, RangeParameterConfig

from tunebench.runners.translation import ParamTranslation, describe, fmt, string_labels
from tunebench.space import Categorical, Config, Float, Param, Space, Value, canonical_json


def _labels(param: Categorical) -> tuple[str, list[Any]]:
    """Ax's parameter type for a categorical and the value standing for each choice."""
    if all(isinstance(c, bool) for c in param.choices):
        return "bool", list(param.choices)
    return "str", list(string_labels(param))


class AxSpace:
    """Ax's parameter configs for a space, and conversions between Ax's parameters and configs."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.nested: dict[str, str] = {}  # child -> its categorical parent in Ax's hierarchy
        for name in space:
            conditions = space[name].active_if
            if (len(conditions) == 1 and len(conditions[0][1]) == 1
                    and isinstance(space[conditions[0][0]], Categorical)):
                self.nested[name] = conditions[0][0]

    @property
    def flattened(self) -> list[str]:
        return [name for name in self.space if self.space[name].active_if and name not in self.nested]

    def _to_ax(self, name: str, value: Value) -> Any:
        param = self.space[name]
        if isinstance(param, Categorical):
            return _labels(param)[1][param.index(value)]
        return value

    def _from_ax(self, name: str, raw: Any) -> Value:
        param = self.space[name]
        if isinstance(param, Categorical):
            labels = _labels(param)[1]
            return param.choices[labels.index(raw)]
        if isinstance(param, Float):
            return min(max(float(raw), param.low), param.high)
        return int(min(max(round(float(raw)), param.low), param.high))

    def _dependants(self, name: str) -> dict[Any, list[str]] | None:
        param = self.space[name]
        assert isinstance(param, Categorical)
        out: dict[Any, list[str]] = {}
        for child, parent in self.nested.items():
            if parent != name:
                continue
            (_, values), = self.space[child].active_if
            keys = {canonical_json(v) for v in values}
            for choice in param.choices:
                if canonical_json(choice) in keys:
                    out.setdefault(self._to_ax(name, choice), []).append(child)
        return out or None

    def parameters(self) -> list[RangeParameterConfig | ChoiceParameterConfig]:
        configs: list[RangeParameterConfig | ChoiceParameterConfig] = []
        for name in self.space:
            param = self.space[name]
            if isinstance(param, Categorical):
                kind, values = _labels(param)
                configs.append(ChoiceParameterConfig(
                    name=name, values=values, parameter_type=kind,  # type: ignore[arg-type]
                    is_ordered=False, dependent_parameters=self._dependants(name)))
            else:
                configs.append(RangeParameterConfig(
                    name=name, bounds=(param.low, param.high), parameter_type=param.kind,  # type: ignore[arg-type]
                    scaling="log" if param.log else "linear"))
        return configs

    def decode(self, parameters: Mapping[str, Any]) -> Config:
        """A configuration (space order, active parameters only) from Ax's parameters."""
        config: Config = {}
        for name in self.space:
            if name in parameters and self.space.is_active(name, config):
                config[name] = self._from_ax(name, parameters[name])
        return config

    def encode(self, config: Config) -> dict[str, Any]:
        """Ax's parameters for a configuration it did not propose: nested ones exactly where
        their branch is taken, flattened ones always (their default where inactive)."""
        out: dict[str, Any] = {}
        for name in self.space:
            parent = self.nested.get(name)
            if parent is not None:
                if parent not in out:
                    continue
                (_, values), = self.space[name].active_if
                if canonical_json(self._from_ax(parent, out[parent])) not in {
                        canonical_json(v) for v in values}:
                    continue
            value = config[name] if name in config else self.space[name].default_value()
            out[name] = self._to_ax(name, value)
        return out

    def translation(self) -> list[ParamTranslation]:
        rows = []
        flat = set(self.flattened)
        for name in self.space:
            param = self.space[name]
            text = _text(name, param)
            if name in self.nested:
                text += f"; nested under {self.nested[name]} (Ax hierarchical search space)"
            reason = ("its condition is not one value of one categorical parent, so Ax's tree "
                      "cannot nest it: always in Ax's space, dropped when inactive"
                      if name in flat else "")
            rows.append(ParamTranslation(name, describe(param), text, name in flat, reason))
        return rows


def _text(name: str, param: Param) -> str:
    if isinstance(param, Categorical):
        kind, values = _labels(param)
        shown = ", ".join(fmt(v) for v in values)
        return f"ChoiceParameterConfig({name!r}, {kind}, [{shown}], is_ordered=False)"
    scaling = "log" if getattr(param, "log", False) else "linear"
    return (f"RangeParameterConfig({name!r}, {param.kind}, ({fmt(param.low)}, "  # type: ignore[attr-defined]
            f"{fmt(param.high)}), scaling={scaling})")  # type: ignore[attr-defined]


__all__ = ["AxSpace"]
