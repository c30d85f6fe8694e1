"""How a tunebench space becomes a Syne Tune configuration space, and back.

Syne Tune's domains: ``uniform`` / ``loguniform`` for floats, ``randint`` / ``lograndint`` for
integers (both bounds included), ``choice`` for categoricals. A Syne Tune ``choice`` takes values
of one type only, so a categorical whose choices mix types (``None`` beside strings, say) is handed
over as a ``choice`` of their labels (``'None'``, ``'cosine'``) and read back by label.

Syne Tune has no conditional spaces. The encoding declared here: every parameter is in Syne Tune's
configuration, always sampled and always seen by its models; a proposal keeps only the parameters
that are active, so the task never sees an inactive one (the others ride along unused).
"""

from __future__ import annotations

from typing import Any

from syne_tune.config_space import Domain, choice, lograndint, loguniform, randint, uniform

from tunebench.runners.translation import ParamTranslation, active_config, clipped, fmt, rows
from tunebench.space import Categorical, Config, Float, Param, Space


def _labelled(param: Categorical) -> bool:
    """Whether the choices need labels: Syne Tune's ``choice`` takes values of one type only."""
    kinds = {type(c) for c in param.choices}
    return len(kinds) > 1 or not kinds <= {str, int, float, bool}


def _labels(param: Categorical) -> list[Any]:
    """The choices as Syne Tune sees them: themselves, or their ``str`` (``repr`` when two
    would share one, like ``1`` and ``'1'``)."""
    if not _labelled(param):
        return list(param.choices)
    labels = [str(c) for c in param.choices]
    return labels if len(set(labels)) == len(labels) else [repr(c) for c in param.choices]


def domain(param: Param) -> Domain:
    """The Syne Tune domain of one tunebench parameter."""
    if isinstance(param, Categorical):
        return choice(_labels(param))
    if isinstance(param, Float):
        return (loguniform if param.log else uniform)(param.low, param.high)
    return (lograndint if param.log else randint)(param.low, param.high)


def domain_text(param: Param) -> str:
    """:func:`domain` as the Syne Tune expression that builds it."""
    if isinstance(param, Categorical):
        text = f"choice([{', '.join(fmt(c) for c in _labels(param))}])"
        return text + " of the choices' labels" if _labelled(param) else text
    if isinstance(param, Float):
        name = "loguniform" if param.log else "uniform"
    else:
        name = "lograndint" if param.log else "randint"
    return f"{name}({fmt(param.low)}, {fmt(param.high)})"


def config_space(space: Space) -> dict[str, Domain]:
    """One Syne Tune domain per parameter of ``space``, conditional ones included."""
    return {name: domain(space[name]) for name in space}


def _value(param: Param, raw: Any) -> Any:
    if isinstance(param, Categorical):
        return param.choices[_labels(param).index(raw)]
    return clipped(param, raw)


def to_config(space: Space, values: dict[str, Any]) -> Config:
    """A Syne Tune configuration as a tunebench one: active parameters only, plain Python types."""
    return active_config(space, values, _value)


def translation(space: Space) -> list[ParamTranslation]:
    """The space-translation audit rows (see :mod:`tunebench.runners.translation`)."""
    def render(name: str, param: Param) -> tuple[str, bool, str]:
        reason = ("no native conditions: always sampled and modelled, dropped when inactive"
                  if param.active_if else "")
        return domain_text(param), bool(reason), reason

    return rows(space, render)


__all__ = ["config_space", "domain", "domain_text", "to_config", "translation"]
