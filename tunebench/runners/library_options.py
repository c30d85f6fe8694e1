"""A library's own keyword options, passed through from a suite file as the library declares them.

A runner wrapping a library callable (optuna's ``TPESampler``, hyperopt's ``tpe.suggest``) declares
it once as a :class:`LibraryOptions`; its keywords *are* the runner's options, so a runner is its
library at the library's defaults:

- a name not in the callable's signature is refused with a did-you-mean;
- a value of the wrong type is refused naming the expected type (read from the annotation, or from
  the default's type where the library has no annotations);
- a keyword a TOML file cannot express (a callable such as TPE's ``gamma``, a sampler object) is
  refused saying so and what to do instead;
- an unset keyword is not passed at all, so the library's own default applies;
- the keywords tunebench sets itself are either *reserved* (the seed, the space: not options) or
  *deviations* (a value other than the library's default, each with its reason, shown in the
  runner's notes so a report can say so).

:meth:`LibraryOptions.resolved` gives every keyword in effect (given, deviation or library default,
with defaults the library resolves only later filled in from the built object) as JSON-able data,
which the study records.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tunebench.runners.base import RunnerError

#: A range check a library does not make itself (it would fail mid-study, or silently misbehave):
#: ``check(name, value)`` raises :class:`RunnerError`.
Check = Callable[[str, Any], None]

_TOML_KIND = {"bool": bool, "int": int, "float": float, "str": str}
_CONTAINERS = {"dict": dict, "Mapping": dict, "list": list, "Sequence": list, "tuple": list}
_KIND_TEXT = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
              dict: "a table", list: "a list"}


@dataclass(frozen=True)
class Deviation:
    """A keyword tunebench sets to something other than the library's default, and why."""

    value: Any
    why: str


@dataclass(frozen=True)
class _Kind:
    """What values a keyword takes, as far as a suite file can give them."""

    types: tuple[type, ...]  # the TOML types it takes (none: only Python objects, see below)
    inexpressible: str = ""  # the annotation's Python-only part, when there is one
    any: bool = False  # the library does not say: any TOML value is passed on

    def accepts(self, value: Any) -> bool:
        if self.any:
            return True
        if isinstance(value, bool):
            return bool in self.types
        if isinstance(value, int) and float in self.types:
            return True
        return any(isinstance(value, t) for t in self.types if t is not bool)


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _plain_items(inner: str) -> bool:
    """Whether a list's item annotation (``"float]"``, ``"int | None]"``) is TOML data."""
    items = re.split(r"[,|]", inner.removesuffix("]"))
    return all(item.strip() in (*_TOML_KIND, "None", "Any", "...", "") for item in items)


def _annotation_kind(annotation: Any) -> _Kind:
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = re.sub(r"\btyping\.", "", text.replace("'", ""))
    optional = re.fullmatch(r"Optional\[(.*)\]", text)
    if optional:
        text = optional.group(1) + " | None"
    union = re.fullmatch(r"Union\[(.*)\]", text)
    atoms = _split_top(union.group(1), ",") if union else _split_top(text, "|")
    types: list[type] = []
    foreign: list[str] = []
    for atom in atoms:
        head, _, inner = atom.partition("[")
        if atom == "None":
            continue  # a suite file cannot give None: leaving the option unset does
        if atom in _TOML_KIND:
            types.append(_TOML_KIND[atom])
        elif head in _CONTAINERS and (head in ("dict", "Mapping") or _plain_items(inner)):
            types.append(_CONTAINERS[head])
        elif head == "Literal":
            types.append(str)
        elif atom != "Any":
            foreign.append(atom)
        else:
            return _Kind((), any=True)
    return _Kind(tuple(types), " | ".join(foreign))


def _default_kind(default: Any) -> _Kind:
    if default is inspect.Parameter.empty or default is None:
        return _Kind((), any=True)
    if callable(default):
        return _Kind((), f"a Python callable ({plain(default)})")
    for kind in (bool, int, float, str, dict, list, tuple):
        if isinstance(default, kind):
            return _Kind((float,) if kind is float else (list,) if kind is tuple else (kind,))
    return _Kind((), type(default).__qualname__)


def plain(value: Any) -> Any:
    """``value`` as JSON-able data: callables by qualified name, other objects by type name."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if callable(getattr(value, "tolist", None)):  # a numpy scalar or array
        return plain(value.tolist())
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    return f"{type(value).__module__}.{type(value).__qualname__}()"


@dataclass(frozen=True)
class LibraryOptions:
    """The keyword options of one library callable, as a suite file may give them.

    ``signature_of`` names where the keywords are declared when ``target`` only forwards
    ``**kwargs`` (hyperopt's ``anneal.suggest`` to ``AnnealingAlgo``).
    """

    target: Callable[..., Any]
    label: str  # how the library's users know the callable: "optuna.samplers.TPESampler"
    reserved: Mapping[str, str] = field(default_factory=dict)  # keyword -> why tunebench sets it
    deviations: Mapping[str, Deviation] = field(default_factory=dict)
    checks: Mapping[str, Check] = field(default_factory=dict)
    signature_of: Callable[..., Any] | None = None

    @cached_property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The keywords a suite may set, in the library's order."""
        keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        params = inspect.signature(self.signature_of or self.target).parameters.values()
        return {p.name: p for p in params
                if p.kind in keyword and p.name != "self" and p.name not in self.reserved}

    def names(self) -> list[str]:
        return list(self.parameters)

    def defaults(self) -> dict[str, Any]:
        """The library's defaults (keywords without one are required)."""
        return {name: p.default for name, p in self.parameters.items()
                if p.default is not inspect.Parameter.empty}

    def _kind(self, param: inspect.Parameter) -> _Kind:
        if param.annotation is not inspect.Parameter.empty:
            return _annotation_kind(param.annotation)
        return _default_kind(param.default)

    def check(self, options: Mapping[str, Any], where: str = "option") -> dict[str, Any]:
        """The options, validated by name and type (integers given for floats become floats)."""
        unknown = [name for name in options if name not in self.parameters]
        if unknown:
            raise RunnerError(self._unknown_message(unknown, where))
        checked: dict[str, Any] = {}
        for name, value in options.items():
            kind = self._kind(self.parameters[name])
            if not kind.types and not kind.any:
                raise RunnerError(
                    f"{where} {name} of {self.label} takes {kind.inexpressible}, which a suite "
                    f"file cannot express; leave it unset for the library's default, or wrap the "
                    f"library in a runner plugin that builds it in Python")
            if not kind.accepts(value):
                raise RunnerError(f"{where} {name} of {self.label} must be {self._expected(kind)}, "
                                  f"got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise RunnerError(f"{where} {name} of {self.label} must be finite, got {value!r}")
            if type(value) is int and float in kind.types and int not in kind.types:
                value = float(value)
            if name in self.checks:
                self.checks[name](name, value)
            checked[name] = value
        missing = [name for name, p in self.parameters.items()
                   if p.default is inspect.Parameter.empty and name not in checked
                   and name not in self.deviations]
        if missing:
            raise RunnerError(f"{self.label} needs {where}(s) {', '.join(missing)} (no library default)")
        return checked

    def _unknown_message(self, unknown: Iterable[str], where: str) -> str:
        accepted = self.names()
        lowered = {name.lower(): name for name in accepted}
        hints = []
        for name in unknown:
            close = lowered.get(name.lower()) or next(
                iter(difflib.get_close_matches(name, accepted, n=1, cutoff=0.6)), None)
            hints.append(f"{name!r}" + (f" (did you mean {close!r}?)" if close else ""))
            if name in self.reserved:
                hints[-1] += f" (set by tunebench: {self.reserved[name]})"
        known = ", ".join(accepted) or "none"
        return f"{self.label} has no {where}(s) {', '.join(hints)}; it accepts: {known}"

    @staticmethod
    def _expected(kind: _Kind) -> str:
        texts = [_KIND_TEXT[t] for t in kind.types if t in _KIND_TEXT]
        return " or ".join(texts) if texts else "a value the library accepts"

    def kwargs(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """What to pass the library: tunebench's deviations, then the user's (checked) options."""
        return {**{name: d.value for name, d in self.deviations.items()}, **options}

    def build(self, options: Mapping[str, Any], **fixed: Any) -> Any:
        """Call the library with the reserved keywords ``fixed`` and :meth:`kwargs`; the library's
        own refusal (a ValueError or TypeError) becomes a RunnerError naming the callable."""
        given = self.kwargs(options)
        try:
            return self.target(**fixed, **given)
        except (ValueError, TypeError) as exc:
            what = f"the options {dict(options)}" if options else "its defaults"
            raise RunnerError(f"{self.label} rejected {what}: {exc}") from exc

    def resolved(self, options: Mapping[str, Any],
                 effective: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every keyword in effect: given, else tunebench's deviation, else the library default;
        a default of None the library resolves later is taken from ``effective`` (read from the
        built object) where the runner knows it. JSON-able."""
        values = {**self.defaults(), **self.kwargs(options)}
        for name, value in (effective or {}).items():
            if name in values and values[name] is None and value is not None:
                values[name] = value
        return {name: plain(values[name]) for name in self.parameters if name in values}

    def deviation_notes(self) -> str:
        """The deviations as one sentence for a runner's capabilities notes ("" if none)."""
        if not self.deviations:
            return ""
        parts = [f"{name}={plain(d.value)!r} ({d.why})" for name, d in self.deviations.items()]
        return f"tunebench sets {self.label} " + "; ".join(parts)


def read_back(obj: Any, names: Iterable[str], *inner: str) -> dict[str, Any]:
    """The values a built library object holds for ``names`` (as ``_name`` or ``name``, on the
    object or on its attributes ``inner``): what the library made of a default of None."""
    found: dict[str, Any] = {}
    holders = [obj, *(getattr(obj, attr, None) for attr in inner)]
    for name in names:
        for holder in holders:
            for attr in ("_" + name, name):
                value = getattr(holder, attr, None) if holder is not None else None
                if value is not None and not inspect.ismethod(value):
                    found[name] = value
                    break
            if name in found:
                break
    return found


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def at_least(minimum: float) -> Check:
    """A check: a number given is >= ``minimum`` (a keyword's other kinds, "auto", pass)."""
    def check(name: str, value: Any) -> None:
        if _number(value) and value < minimum:
            raise RunnerError(f"option {name} must be >= {minimum}, got {value!r}")
    return check


def inside(low: float, high: float) -> Check:
    """A check: a number given lies in the open interval (low, high)."""
    def check(name: str, value: Any) -> None:
        if _number(value) and not low < value < high:
            raise RunnerError(f"option {name} must lie in ({low}, {high}), got {value!r}")
    return check


__all__ = ["Check", "Deviation", "LibraryOptions", "at_least", "inside", "plain", "read_back"]
