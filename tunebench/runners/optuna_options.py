"""optuna's samplers and pruners as option sets: their own keywords, validated, defaults left to optuna.

A sampler's keywords are the runner's options (``options = { multivariate = false }``); the pruner
is chosen by ``pruner = "median"`` and its keywords go in a table,
``pruner_options = { n_startup_trials = 5 }``, so a sampler keyword and a pruner keyword of the same
name (``n_startup_trials``) never collide. The multi-fidelity runners, whose pruner is part of their
identity, take their pruner's keywords beside the sampler's (``min_resource = 1``).

What tunebench sets itself is declared here: the seed (reserved), the few deviations from optuna's
defaults (each with its reason), and the pruners' resource bounds, which come from the task's
fidelity range instead of optuna's ``"auto"`` (inferred from the first completed trial, which early
stopping shortens).
"""

from __future__ import annotations

import contextlib
from typing import Any

import optuna

from tunebench.runners.base import BudgetInfo, RunnerError
from tunebench.runners.library_options import Deviation, LibraryOptions, at_least

_SEED = {"seed": "tunebench passes the study's runner seed"}
_QUIET_SAMPLING = Deviation(False, "messages only: optuna logs a warning when it samples a "
                            "parameter independently, which tunebench's ERROR log level hides anyway")

#: Said in every optuna runner's notes: what tunebench sets that is not a sampler keyword.
COMMON_NOTE = ("no pruning unless a pruner is chosen (optuna's create_study defaults to "
               "MedianPruner); optuna's log level is ERROR and its ExperimentalWarning at "
               "construction is silenced (messages only); a pruner's min_resource / max_resource "
               "come from the task's fidelity range, not optuna's 'auto' (inferred from the first "
               "completed trial, which early stopping shortens)")


def _sampler(cls: type, deviations: dict[str, Deviation] | None = None, **checks: Any) -> LibraryOptions:
    return LibraryOptions(cls, f"optuna.samplers.{cls.__name__}", reserved=_SEED,
                          deviations=deviations or {}, checks=checks)


TPE = _sampler(optuna.samplers.TPESampler, n_startup_trials=at_least(0), n_ei_candidates=at_least(1))
RANDOM = _sampler(optuna.samplers.RandomSampler)
CMAES = _sampler(optuna.samplers.CmaEsSampler, {"warn_independent_sampling": _QUIET_SAMPLING},
                 n_startup_trials=at_least(0))
GP = _sampler(optuna.samplers.GPSampler, {"warn_independent_sampling": _QUIET_SAMPLING},
              n_startup_trials=at_least(0))
QMC = _sampler(optuna.samplers.QMCSampler, {
    "warn_independent_sampling": _QUIET_SAMPLING,
    "scramble": Deviation(True, "optuna's default, an unscrambled sequence, ignores the seed, so "
                          "every repetition of a study would be the same; scramble=false restores it"),
})
NSGA2 = _sampler(optuna.samplers.NSGAIISampler)
NSGA3 = _sampler(optuna.samplers.NSGAIIISampler)

_PRUNERS: dict[str, type] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}
PRUNERS = tuple(_PRUNERS)
PRUNER_OPTIONS = {
    name: LibraryOptions(cls, f"optuna.pruners.{cls.__name__}",
                         checks={"min_resource": at_least(1), "reduction_factor": at_least(2)})
    for name, cls in _PRUNERS.items()
}

def pruner_options(name: Any) -> LibraryOptions:
    if name not in _PRUNERS:
        raise RunnerError(f"option pruner must be one of {', '.join(repr(p) for p in PRUNERS)}, "
                          f"got {name!r}")
    return PRUNER_OPTIONS[name]


def fidelity_settings(pruner: str, budget: BudgetInfo) -> dict[str, int]:
    """The pruner's resource bounds from the task's fidelity range (used unless given).

    Hyperband: min_resource is the minimum fidelity and max_resource the maximum, so its brackets
    are the ones its paper defines for that range. Successive halving: optuna's own "auto" rule
    (a hundredth of the longest trial, at least 1) applied to the maximum fidelity, not to
    whichever trial completed first; never below the minimum fidelity.
    """
    if pruner == "hyperband":
        return {"min_resource": budget.min_fidelity, "max_resource": budget.max_fidelity}
    if pruner == "successive_halving":
        return {"min_resource": max(budget.min_fidelity, budget.max_fidelity // 100, 1)}
    return {}


def make_pruner(name: str, options: dict[str, Any] | None = None,
                budget: BudgetInfo | None = None) -> tuple[optuna.pruners.BasePruner, dict[str, Any]]:
    """optuna's pruner ``name`` with the given keywords (checked) over the fidelity settings
    (none without a ``budget``: optuna's defaults); returns it and the keywords it was given."""
    spec = pruner_options(name)
    given = {**(fidelity_settings(name, budget) if budget is not None else {}),
             **spec.check(options or {}, "pruner option")}
    if name == "hyperband" and isinstance(given.get("max_resource"), int) \
            and given["min_resource"] > given["max_resource"]:
        raise RunnerError(f"pruner option min_resource ({given['min_resource']}) exceeds max_resource "
                          f"({given['max_resource']}, the task's maximum fidelity unless given)")
    return spec.build(given), given


def tpe_effective(sampler: optuna.samplers.TPESampler, study: optuna.Study) -> dict[str, Any]:
    """What TPESampler makes of its defaults of None in this study (optuna 4.3+ rules)."""
    effective: dict[str, Any] = {"consider_prior": True}  # deprecated; always on since optuna 4.3
    with contextlib.suppress(AttributeError):  # another optuna: the record keeps None
        effective["multivariate"] = sampler._is_multivariate(study)
    gamma = getattr(sampler, "_gamma", None)
    if gamma is None:
        from optuna.samplers._tpe import sampler as tpe_module

        gamma = getattr(tpe_module, "default_gamma", None)
    if gamma is not None:
        effective["gamma"] = gamma
    return effective


__all__ = ["CMAES", "COMMON_NOTE", "GP", "NSGA2", "NSGA3", "PRUNERS", "PRUNER_OPTIONS",
           "QMC", "RANDOM", "TPE", "fidelity_settings", "make_pruner", "pruner_options",
           "tpe_effective"]
