"""Syne Tune 0.16's schedulers (ASHA, BOHB, TPE, REA, CQR, ASHA-CQR, BORE, ASHA-BORE), driven
directly, one worker.

Syne Tune runs trials asynchronously on many workers; tunebench's study loop runs them one after
another, so these runners are Syne Tune with **one worker**: the scheduler is asked for a trial
only when the previous one has stopped. Syne Tune's ``AskTellScheduler`` knows single-fidelity
trials only, so the runner calls the scheduler as Syne Tune's ``Tuner`` does:
``suggest()`` gives a new configuration (or a paused trial to resume); ``on_trial_add`` registers
it; every fidelity step is reported by ``on_trial_result`` and its decision obeyed; a trial that
stops is removed (``on_trial_remove``), one that runs out of steps completes
(``on_trial_complete``) and a failed one is an error (``on_trial_error``).

Syne Tune's ASHA is the stopping kind: a trial reports every step and, at each rung level
(grace period · η^k), continues only if it ranks in the top 1/η of the results recorded there so
far. Between rung levels it always continues, so each tunebench trial runs one stretch, up to the
next rung level (or the largest fidelity): the first as a new configuration, each later one as a
promotion that continues it (``Proposal(continues=True)``): on a task that can continue only the
new steps are trained and charged. With one worker a trial that passes a rung continues at once.

Library defaults, except: ``max_t`` is the task's largest fidelity and ``grace_period`` its
smallest (Syne Tune's default 1 is the smallest of most tasks); ``random_seed`` is the runner's
seed. Three draws of Syne Tune 0.16 ignore that seed and use numpy's global generator
(``Domain.sample()`` without the searcher's random state, or ``np.random`` itself): ASHA's choice
of bracket for each trial (``brackets`` > 1 only), ASHA's random configurations after the first
five (its ``RandomSearcher``) and BOHB's random ones (until its KDE has enough data, then its
``random_fraction``). So that studies replay, every call into the scheduler runs with numpy's
global generator set to the runner's own (seeded by its seed, as ``np.random.seed(seed)`` seeds
it) and restored afterwards.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from syne_tune.backend.trial_status import Trial
from syne_tune.optimizer import baselines
from syne_tune.optimizer.scheduler import SchedulerDecision, TrialScheduler

from tunebench.runners import synetune_space
from tunebench.runners.adapter import LibraryRunner
from tunebench.runners.base import (
    BudgetInfo,
    Capabilities,
    Outcome,
    Proposal,
    RunnerError,
    SearchExhausted,
    Status,
)
from tunebench.runners.library_options import LibraryOptions, at_least, inside
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space

METRIC, TIME = "objective", "epoch"
#: Trials are timestamped by Syne Tune's backend; no scheduler reads it, so it is fixed.
_CREATED = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_RESERVED = {
    "config_space": "the task's space, translated (see translate)",
    "metric": "the task's validation value",
    "time_attr": "the fidelity step",
    "max_t": "the task's largest fidelity",
    "do_minimize": "the task's direction",
    "random_seed": "the runner's seed",
    "points_to_evaluate": "tunebench starts every runner from its seed alone",
}


def _rate(name: str, value: Any) -> None:
    if not value > 1:
        raise RunnerError(f"option {name} must be above 1 (Syne Tune's default is 3), got {value!r}")


_HALVING = {"reduction_factor": _rate, "brackets": at_least(1), "grace_period": at_least(1)}
_KDE = {"top_n_percent": inside(0, 100), "min_bandwidth": at_least(0),
        "num_candidates": at_least(1), "bandwidth_factor": at_least(1),
        "random_fraction": at_least(0), "num_min_data_points": at_least(1)}
def _missing(searcher: str, modules: dict[str, str]) -> str | None:
    """Why ``searcher`` cannot be imported here (None: it can): Syne Tune is installed without
    its dependencies (see the Makefile), so the modules its searchers import are probed."""
    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return (f"Syne Tune's {searcher} imports {' and '.join(absent)}, which this environment "
            f"lacks; `pip install {' '.join(modules[name] for name in absent)}` (as `make install` "
            "does) makes it available")


#: BORE and its ASHA searcher import xgboost at module level, whatever classifier is chosen (the
#: CPU-only wheel: the default one pulls NCCL); CQR also imports Syne Tune's blackbox repository,
#: which imports huggingface_hub (never called: nothing is downloaded).
_XGBOOST = {"xgboost": "xgboost-cpu==3.2.0"}
_NO_XGBOOST = _missing("BORE", _XGBOOST)
_NO_CQR = _missing("CQR", {**_XGBOOST, "huggingface_hub": "huggingface_hub"})


@dataclass
class _Running:
    """A Syne Tune trial and how far it has run."""

    trial: Trial
    config: Config
    reached: int = 0


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Syne Tune logs a warning at construction about an option tunebench never sets
    (points_to_evaluate) and one per failed trial, which the study records anyway."""
    logger = logging.getLogger("syne_tune")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class SyneTuneRunner(LibraryRunner):
    """Shared driver: ``algorithm`` declares the Syne Tune scheduler whose keywords are options."""

    algorithm: ClassVar[LibraryOptions]
    multi_fidelity: ClassVar[bool] = True

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._given = self.algorithm.check(options)
        info = self.budget_info
        fixed: dict[str, Any] = {"config_space": synetune_space.config_space(space),
                                 "metric": METRIC, "do_minimize": self.direction is Direction.MINIMIZE,
                                 "random_seed": self.seed}
        self._max_t = info.max_fidelity
        if self.multi_fidelity:
            grace = self._given.setdefault("grace_period", info.min_fidelity)
            if not info.min_fidelity <= grace <= info.max_fidelity:
                raise RunnerError(f"option grace_period must be a whole number from "
                                  f"{info.min_fidelity} to {info.max_fidelity} (the task's "
                                  f"fidelities), got {grace!r}")
            fixed.update(time_attr=TIME, max_t=info.max_fidelity)
        self._global_state = np.random.RandomState(self.seed).get_state()
        self.scheduler: TrialScheduler = self._call(self.algorithm.build, self._given, **fixed)
        self._trials: dict[int, _Running] = {}
        self._continuing: int | None = None  # trial id told CONTINUE at its last step

    @classmethod
    def accepted_options(cls) -> list[str]:
        return [*super().accepted_options(), *cls.algorithm.names()]

    def resolved_options(self) -> dict[str, Any]:
        resolved = self.algorithm.resolved(self._given)
        if self.multi_fidelity:
            resolved["max_t"] = self._max_t
        return {**resolved, "workers": 1}

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        return synetune_space.translation(space)

    # ------------------------------------------------------------------ ask
    def _ask(self) -> tuple[Proposal, int]:
        if self._continuing is not None:
            tid, self._continuing = self._continuing, None
        else:
            tid = self._suggested()
        running = self._trials[tid]
        if not self.multi_fidelity:
            return Proposal(running.config, tag=(tid, 0)), tid
        return Proposal(running.config, self._next_stop(tid), continues=running.reached > 0,
                        tag=(tid, running.reached)), tid

    def _suggested(self) -> int:
        suggestion = self._call(self.scheduler.suggest)
        if suggestion is None:
            raise SearchExhausted("Syne Tune's scheduler has no configuration left to suggest")
        if not suggestion.spawn_new_trial_id:  # resume a paused trial (not ASHA's way in 0.16)
            tid = suggestion.checkpoint_trial_id
            if suggestion.config is not None:  # resumed with a new configuration
                self._trials[tid].trial.config = suggestion.config
                self._trials[tid].config = synetune_space.to_config(self.space, suggestion.config)
            return tid
        tid = len(self._trials)
        trial = Trial(trial_id=tid, config=suggestion.config, creation_time=_CREATED)
        self._trials[tid] = _Running(trial, synetune_space.to_config(self.space, suggestion.config))
        self._call(self.scheduler.on_trial_add, trial=trial)
        return tid

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the scheduler with numpy's global generator set to the runner's own (see the
        module docstring), its log quiet."""
        saved = np.random.get_state()
        np.random.set_state(self._global_state)
        try:
            with _quiet():
                return method(*args, **kwargs)
        finally:
            self._global_state = np.random.get_state()
            np.random.set_state(saved)

    def _next_stop(self, tid: int) -> int:
        """The first step past where the trial is at which ASHA may stop it: the next rung level
        (a level between steps is decided at the step after it), else the largest fidelity."""
        reached = self._trials[tid].reached
        bracket = getattr(self.scheduler, "trial_info", {}).get(tid)
        levels = [math.ceil(level - 1e-9) for level, _ in getattr(bracket, "rungs", ())]
        return min([level for level in levels if reached < level < self._max_t] + [self._max_t])

    # ------------------------------------------------------------------ tell
    def _tell(self, handle: int, config: Config, outcome: Outcome) -> None:
        running = self._trials[handle]
        results = self._results(running.reached, outcome)
        if outcome.status is Status.FAILED or not results:
            self._call(self.scheduler.on_trial_error, running.trial)
            return
        decision = SchedulerDecision.CONTINUE
        for step, value in results:
            result = {METRIC: value, TIME: step}
            decision = self._call(self.scheduler.on_trial_result, running.trial, result)
            running.reached = step
            if decision != SchedulerDecision.CONTINUE:
                break
        if decision != SchedulerDecision.CONTINUE:  # stopped or paused: Tuner removes it
            self._call(self.scheduler.on_trial_remove, running.trial)
        elif running.reached >= self._max_t:  # it ran out of steps: it completed
            self._call(self.scheduler.on_trial_complete, running.trial, result)
        else:
            self._continuing = handle

    def _results(self, reached: int, outcome: Outcome) -> list[tuple[int, float]]:
        """The steps past ``reached`` the outcome reports, with their values in the task's
        direction (Syne Tune's mode does the rest); the last is the outcome's value."""
        if outcome.value is None or not math.isfinite(outcome.value):
            return []
        end = int(outcome.fidelity)
        first = end - len(outcome.curve) + 1  # the step of curve[0]
        results = [(step, float(outcome.curve[step - first])) for step in range(reached + 1, end)
                   if step >= first and math.isfinite(outcome.curve[step - first])]
        return [*results, (end, float(outcome.value))] if end > reached else []

    def _discard(self, handle: int) -> None:
        """A suggestion told something else in its place stopped outside the scheduler's say."""
        self._call(self.scheduler.on_trial_error, self._trials[handle].trial)

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        """A configuration the runner did not propose is not shown to Syne Tune: its schedulers
        hear only of trials they started."""


def _options(scheduler: type, checks: dict[str, Any]) -> LibraryOptions:
    return LibraryOptions(scheduler, f"syne_tune.optimizer.baselines.{scheduler.__name__}",
                          reserved=_RESERVED, checks=checks)


_NOTES = ("Syne Tune with one worker: trials run one at a time; ASHA (stopping type) continues "
          "a trial at each rung level it passes, as a promotion; grace_period = the task's "
          "smallest fidelity, max_t its largest")
_MF = Capabilities(library="syne-tune", family="bandit", chooses_fidelity=True, continues=True,
                   notes=_NOTES)


class SyneTuneASHA(SyneTuneRunner):
    name = "synetune.asha"
    description = "Syne Tune ASHA: asynchronous successive halving (stopping type), random search"
    capabilities = _MF
    algorithm = _options(baselines.ASHA, _HALVING)


class SyneTuneBOHB(SyneTuneRunner):
    name = "synetune.bohb"
    description = "Syne Tune BOHB: ASHA with kernel density estimates (TPE-like) on each rung"
    capabilities = Capabilities(library="syne-tune", family="bandit-TPE", chooses_fidelity=True,
                                continues=True, notes=_NOTES)
    algorithm = _options(baselines.BOHB, {**_HALVING, **_KDE})


class SyneTuneTPE(SyneTuneRunner):
    name = "synetune.tpe"
    description = "Syne Tune TPE: kernel density estimates of good and bad trials, full fidelity"
    capabilities = Capabilities(library="syne-tune", family="TPE",
                                notes="Syne Tune with one worker; every trial at full fidelity")
    algorithm = _options(baselines.TPE, _KDE)
    multi_fidelity = False


class SyneTuneREA(SyneTuneRunner):
    name = "synetune.rea"
    description = ("Syne Tune REA: regularized evolution (Real et al. 2019), tournament selection "
                   "and one-parameter mutation, the oldest member dies; full fidelity")
    capabilities = Capabilities(library="syne-tune", family="evolutionary",
                                notes="Syne Tune with one worker; every trial at full fidelity")
    algorithm = _options(baselines.REA, {"population_size": at_least(1),
                                         "sample_size": at_least(1)})
    multi_fidelity = False


class SyneTuneCQR(SyneTuneRunner):
    name = "synetune.cqr"
    description = ("Syne Tune CQR: conformalized quantile regression (scikit-learn gradient "
                   "boosting) as the surrogate, full fidelity")
    capabilities = Capabilities(library="syne-tune", family="CQR",
                                notes="Syne Tune with one worker; every trial at full fidelity")
    algorithm = _options(baselines.CQR, {})
    multi_fidelity = False
    unavailable: ClassVar[str | None] = _NO_CQR


class SyneTuneASHACQR(SyneTuneRunner):
    name = "synetune.asha_cqr"
    description = "Syne Tune ASHA-CQR: ASHA with a conformalized quantile regression on each rung"
    capabilities = Capabilities(library="syne-tune", family="bandit-CQR", chooses_fidelity=True,
                                continues=True, notes=_NOTES)
    algorithm = _options(baselines.ASHACQR, _HALVING)
    unavailable: ClassVar[str | None] = _NO_CQR


class SyneTuneASHABORE(SyneTuneRunner):
    name = "synetune.asha_bore"
    description = "Syne Tune ASHA-BORE: ASHA with a BORE classifier on each rung"
    capabilities = Capabilities(library="syne-tune", family="bandit-BORE", chooses_fidelity=True,
                                continues=True, exact_replay=True,
                                notes=_NOTES + ("; unavailable: " + _NO_XGBOOST if _NO_XGBOOST else ""))
    algorithm = _options(baselines.ASHABORE, _HALVING)
    unavailable: ClassVar[str | None] = _NO_XGBOOST


class SyneTuneBORE(SyneTuneRunner):
    name = "synetune.bore"
    description = "Syne Tune BORE: Bayesian optimisation by density-ratio estimation"
    capabilities = Capabilities(library="syne-tune", family="BORE",
                                notes="unavailable: " + _NO_XGBOOST if _NO_XGBOOST else "")
    algorithm = _options(baselines.BORE, {})
    multi_fidelity = False
    unavailable: ClassVar[str | None] = _NO_XGBOOST


__all__ = ["SyneTuneASHA", "SyneTuneASHABORE", "SyneTuneASHACQR", "SyneTuneBOHB", "SyneTuneBORE",
           "SyneTuneCQR", "SyneTuneREA", "SyneTuneRunner", "SyneTuneTPE"]
