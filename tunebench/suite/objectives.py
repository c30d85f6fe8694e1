"""Which objectives a study optimises: the suite's ``objectives = [...]`` against its task's.

A task may declare several objectives (``Task.objectives``: a test problem's f1 and f2, a
network's error and training seconds). A study of it is single-objective — its first objective,
the task's ``metric`` — unless its suite entry lists the objectives to optimise together
(``objectives = ["f1", "f2"]``, or ``"all"``). Only then is a runner told them and asked for a
Pareto front; everything else about the study (budget, seeds, resume) is unchanged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tunebench.space import Objective

#: The suite's word for every objective the task declares.
ALL = "all"


class ObjectivesError(ValueError):
    """A suite names objectives its task does not have (or too few to trade off)."""


def declared_objectives(task: Any) -> tuple[Objective, ...]:
    """The objectives a task instance declares (empty: its one ``metric``)."""
    return tuple(getattr(task, "objectives", ()) or ())


def study_objectives(task: Any, names: tuple[str, ...] | None,
                     references: Mapping[str, float] | None = None) -> tuple[Objective, ...]:
    """The objectives a study of ``task`` optimises together, in the suite's order; () for a
    single-objective study. ``references`` (the suite's) fix reference coordinates the task
    leaves open or overrides. Raises :class:`ObjectivesError` saying what the task offers."""
    if names is None:
        if references:
            raise ObjectivesError("`references` are for a multi-objective study: name its "
                                  "objectives too (objectives = [...])")
        return ()
    declared = {o.name: o for o in declared_objectives(task)}
    label = getattr(task, "name", type(task).__name__)
    if not declared:
        raise ObjectivesError(
            f"task {label!r} has one objective ({getattr(task, 'metric', 'its metric')}); "
            "`objectives` needs a task that declares several (Task.objectives): leave it out")
    if names == (ALL,):
        names = tuple(declared)
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise ObjectivesError(f"task {label!r} has no objective {', '.join(map(repr, unknown))}; "
                              f"its objectives: {', '.join(declared)} (or \"all\")")
    if len(set(names)) != len(names):
        raise ObjectivesError(f"objectives {list(names)} names one twice")
    if len(names) < 2:
        first = next(iter(declared))
        raise ObjectivesError(
            f"objectives = {list(names)}: a multi-objective study trades off two or more; a "
            f"single-objective study of {label!r} optimises its first objective, {first!r} (its "
            "learning curve is that one's), and needs no `objectives`")
    chosen = tuple(declared[name] for name in names)
    stray = sorted(set(references or ()) - set(names))
    if stray:
        raise ObjectivesError(f"references name {', '.join(map(repr, stray))}, which the study "
                              f"does not optimise (its objectives: {', '.join(names)})")
    return tuple(replace(o, reference=float(references[o.name])) if references
                 and o.name in references else o for o in chosen)


def reference_point(objectives: tuple[Objective, ...]) -> tuple[float, ...] | None:
    """The task's fixed hypervolume reference point for these objectives (None: it declares
    none for one of them, and no hypervolume is computed)."""
    if not objectives or any(o.reference is None for o in objectives):
        return None
    return tuple(float(o.reference) for o in objectives)  # type: ignore[arg-type]


def objectives_record(task: Any, names: tuple[str, ...] | None,
                      references: Mapping[str, float] | None = None) -> str | None:
    """What the store keeps of a multi-objective study's objectives (None for one objective):
    reports read directions, the reference point and the true front's hypervolume from it,
    never from the task."""
    objectives = study_objectives(task, names, references)
    if not objectives:
        return None
    optimal = getattr(task, "optimal_hypervolume", None)
    if callable(optimal):
        optimal = optimal(tuple(o.name for o in objectives))
    # The true front's hypervolume is of all its objectives, at the task's own reference.
    exact = (optimal is not None and math.isfinite(float(optimal)) and not references
             and len(objectives) == len(declared_objectives(task)))
    return json.dumps({
        "objectives": [{"name": o.name, "direction": str(o.direction), "reference": o.reference,
                        "machine_dependent": o.machine_dependent} for o in objectives],
        "optimal_hypervolume": float(optimal) if exact else None,
    }, sort_keys=True)
