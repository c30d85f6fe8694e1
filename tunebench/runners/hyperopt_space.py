"""The neutral space as a hyperopt expression, with nesting for conditional parameters.

Nesting rule. Parameters are placed in space order. A *categorical* parameter that other parameters
depend on (directly or through a chain) becomes ``hp.choice(label, [branch, ...])``, one dictionary
per choice; each branch holds the dependants that can still be active once that choice is fixed.
Everything else is a leaf: ``hp.uniform`` / ``hp.loguniform`` for floats, ``hp.quniform`` /
``hp.qloguniform`` with ``q=1`` over ``[low - 0.5, high + 0.5]`` for integers (one equal-width cell
per integer, tunebench's own definition of uniform), ``hp.choice`` of choice indices for categoricals.

A condition on an *integer* parent (or on a categorical fixed in another part of the tree) is not
nested: the dependant is sampled wherever it may be active and dropped from the configuration when
it is not. The audit (:meth:`HyperoptSpace.translation`) flags those as lossy.

A parameter that can be active in several branches appears once per branch, under its own label
(``momentum|optimizer='sgd'``), so hyperopt models it separately in each branch.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hyperopt import hp

from tunebench.runners.translation import ParamTranslation, describe, fmt
from tunebench.space import Categorical, Config, Float, Param, Space, Value, canonical_json


@dataclass(frozen=True)
class Slot:
    """One place of a parameter in the hyperopt expression."""

    name: str
    path: tuple[tuple[str, Value], ...]  # the categorical choices fixed above this place
    branching: bool  # an hp.choice whose options are branch dictionaries
    label: str = ""


def _same(a: Value, b: Value) -> bool:
    return canonical_json(a) == canonical_json(b)


class HyperoptSpace:
    """Builds the expression, and converts between hyperopt's ``vals`` and configurations."""

    def __init__(self, space: Space) -> None:
        self.space = space
        raw: list[Slot] = []
        self._tree = self._build(list(space), {}, raw)
        counts = Counter(slot.name for slot in raw)
        self.slots = [Slot(s.name, s.path, s.branching, self._label(s, counts[s.name] > 1))
                      for s in raw]
        self._labels = iter(slot.label for slot in self.slots)
        self.expression = self._express(self._tree)

    # ------------------------------------------------------------------ structure
    def _depends_on(self, name: str, ancestor: str) -> bool:
        return any(parent == ancestor or self._depends_on(parent, ancestor)
                   for parent in self.space[name].parents)

    def _possible(self, name: str, fixed: dict[str, Value]) -> bool:
        """Whether ``name`` can still be active once the choices in ``fixed`` are made."""
        for parent, values in self.space[name].active_if:
            if not self._possible(parent, fixed):
                return False
            if parent in fixed and not any(_same(fixed[parent], v) for v in values):
                return False
        return True

    def _build(self, names: list[str], fixed: dict[str, Value], out: list[Slot]) -> list[Any]:
        """A list of nodes: a name (leaf) or (name, [(choice, [nodes…]), …]) (branching)."""
        nodes: list[Any] = []
        remaining = list(names)
        path = tuple(fixed.items())
        while remaining:
            name = remaining.pop(0)
            param = self.space[name]
            dependants = [n for n in remaining if self._depends_on(n, name)]
            if not (dependants and isinstance(param, Categorical)):
                out.append(Slot(name, path, False))
                nodes.append(name)
                continue
            remaining = [n for n in remaining if n not in dependants]
            out.append(Slot(name, path, True))
            branches = []
            for choice in param.choices:
                inner = {**fixed, name: choice}
                alive = [n for n in dependants if self._possible(n, inner)]
                branches.append((choice, self._build(alive, inner, out)))
            nodes.append((name, branches))
        return nodes

    @staticmethod
    def _label(slot: Slot, repeated: bool) -> str:
        if not repeated:
            return slot.name
        return slot.name + "|" + ",".join(f"{p}={fmt(v)}" for p, v in slot.path)

    def _express(self, nodes: list[Any]) -> dict[str, Any]:
        """The hyperopt expression; consumes labels in the order the slots were created."""
        expression: dict[str, Any] = {}
        for node in nodes:
            if isinstance(node, str):
                label = next(self._labels)
                expression[label] = _leaf(label, self.space[node])
            else:
                _, branches = node
                label = next(self._labels)
                expression[label] = hp.choice(label, [self._express(sub) for _, sub in branches])
        return expression

    # ------------------------------------------------------------------ conversions
    def decode(self, vals: dict[str, list]) -> Config:
        """A configuration (space order, active parameters only) from a trial's ``vals``."""
        values: Config = {}
        for slot in self.slots:
            if vals.get(slot.label):
                values[slot.name] = _decode(self.space[slot.name], vals[slot.label][0])
        config: Config = {}
        for name in self.space:
            if name in values and self.space.is_active(name, config):
                config[name] = values[name]
        return config

    def encode(self, config: Config, tid: int) -> tuple[dict[str, list], dict[str, list]]:
        """hyperopt's ``idxs`` and ``vals`` of a configuration it did not propose itself."""
        idxs: dict[str, list] = {}
        vals: dict[str, list] = {}
        for slot in self.slots:
            on_path = all(p in config and _same(config[p], v) for p, v in slot.path)
            present = on_path and slot.name in config
            idxs[slot.label] = [tid] if present else []
            vals[slot.label] = [_encode(self.space[slot.name], config[slot.name])] if present else []
        return idxs, vals

    # ------------------------------------------------------------------ audit
    def translation(self) -> list[ParamTranslation]:
        rows = []
        for name in self.space:
            param = self.space[name]
            slots = [s for s in self.slots if s.name == name]
            texts = []
            for slot in slots:
                where = " and ".join(f"{p}={fmt(v)}" for p, v in slot.path)
                text = _leaf_text(slot, param)
                texts.append(f"in branch {where}: {text}" if where else text)
            nested = {p for slot in slots for p, _ in slot.path}
            flat = [parent for parent in param.parents if parent not in nested]
            reason = (f"condition on {', '.join(flat)} is not nested (only categorical parents "
                      "branch): sampled wherever it may be active, dropped when inactive"
                      if flat else "")
            rows.append(ParamTranslation(name, describe(param), "; ".join(texts), bool(flat),
                                         reason))
        return rows


def _leaf(label: str, param: Param) -> Any:
    if isinstance(param, Float):
        if param.log:
            return hp.loguniform(label, math.log(param.low), math.log(param.high))
        return hp.uniform(label, param.low, param.high)
    if isinstance(param, Categorical):
        return hp.choice(label, list(range(len(param.choices))))
    low, high = param.low - 0.5, param.high + 0.5
    if param.log:
        return hp.qloguniform(label, math.log(low), math.log(high), 1)
    return hp.quniform(label, low, high, 1)


def _leaf_text(slot: Slot, param: Param) -> str:
    label = repr(slot.label)
    if isinstance(param, Categorical):
        inside = ", ".join(fmt(c) for c in param.choices)
        if slot.branching:
            return f"hp.choice({label}, [one branch per choice: {inside}])"
        return f"hp.choice({label}, [{inside}])"
    if isinstance(param, Float):
        if param.log:
            return f"hp.loguniform({label}, log({fmt(param.low)}), log({fmt(param.high)}))"
        return f"hp.uniform({label}, {fmt(param.low)}, {fmt(param.high)})"
    low, high = fmt(param.low - 0.5), fmt(param.high + 0.5)
    if param.log:
        return f"hp.qloguniform({label}, log({low}), log({high}), q=1)"
    return f"hp.quniform({label}, {low}, {high}, q=1)"


def _decode(param: Param, raw: Any) -> Value:
    if isinstance(param, Categorical):
        return param.choices[int(raw)]
    if isinstance(param, Float):
        return min(max(float(raw), param.low), param.high)
    return int(min(max(round(float(raw)), param.low), param.high))


def _encode(param: Param, value: Value) -> Any:
    if isinstance(param, Categorical):
        return param.index(value)
    return float(value)  # type: ignore[arg-type]


__all__ = ["HyperoptSpace", "Slot"]
