"""DEHB runner: dehb 0.1.2's ``DEHB`` through its own ask/tell, choosing each trial's fidelity.

DEHB (Awad, Mallik & Hutter 2021) runs Hyperband's brackets of synchronous Successive Halving and
evolves one differential-evolution subpopulation per fidelity. Each ``ask`` answers with a
:class:`~tunebench.runners.base.Proposal`: the configuration, the fidelity of its rung and
``continues=False`` (DEHB evaluates a promoted configuration from scratch at the higher fidelity).
Its tag is the proposal's number, so a told outcome finds the job DEHB issued.

Settings. ``min_fidelity`` / ``max_fidelity`` are the task's fidelity range (``BudgetInfo``); ``eta``
and every other keyword of ``DEHB`` are dehb's defaults (``eta=3``, ``mutation_factor=0.5``,
``crossover_prob=0.5``, ``strategy="rand1_bin"``, …), options validated by name and type. tunebench
sets ``n_workers=1`` (trials are sequential) and ``save_freq="end"`` (dehb's checkpoint files are
written only by its own ``run``: tunebench records every trial itself and resumes by replaying
them), and seeds DEHB with the runner's seed. dehb writes a ``dehb.log`` into its output folder and
logs to stdout through loguru's global logger: it gets a temporary folder, deleted once DEHB is
built, and the loguru handlers dehb installed are removed, so nothing is written anywhere.

Fidelities. DEHB's rungs are ``max_fidelity * eta**-k`` (floats); tunebench's fidelities are whole
steps, so each rung is rounded to the nearest integer inside the range: exact when max/min is a
power of eta (1..27 with eta 3 gives 1, 3, 9, 27), declared otherwise (``rungs`` is recorded).

Failures. DEHB is rank-based (DE selection compares fitnesses, promotions sort them); a failed
trial is told the largest finite float, worse than any real value. (``inf`` would mark it
"unevaluated" to DEHB, which then cannot promote from a rung that only failed.)

A task with a single fidelity (min == max) is refused: dehb itself refuses it and points to plain
DE instead; the error says to use a single-fidelity runner.
"""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

from dehb import DEHB

from tunebench.runners.base import (
    BudgetInfo,
    Capabilities,
    Outcome,
    Proposal,
    Runner,
    RunnerError,
    Status,
)
from tunebench.runners.dehb_space import configuration_space, to_config, to_configuration, translation
from tunebench.runners.library_options import LibraryOptions, at_least, plain
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space, config_key

FAILURE_FITNESS = sys.float_info.max
#: Keywords tunebench sets itself (not options), and why.
_RESERVED = {
    "cs": "the task's space as a ConfigurationSpace (see the translation audit)",
    "f": "the harness evaluates: DEHB is driven by ask/tell",
    "dimensions": "read from the ConfigurationSpace", "configspace": "a ConfigurationSpace is given",
    "min_fidelity": "the task's min_fidelity", "max_fidelity": "the task's max_fidelity",
    "seed": "the runner's seed", "n_workers": "1: trials are sequential",
    "client": "no Dask: trials are sequential", "resume": "tunebench resumes by replay",
    "save_freq": "'end': dehb writes checkpoints only in its own run(); tunebench records trials",
}
DEHB_OPTIONS = LibraryOptions(DEHB.__init__, "dehb.DEHB", reserved=_RESERVED, checks={
    "eta": at_least(2), "mutation_factor": at_least(0), "crossover_prob": at_least(0)})


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """dehb 0.1.2 calls ConfigSpace's deprecated names (get_hyperparameters, get_dictionary)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def build_dehb(space: Space, seed: int, budget: BudgetInfo, **kwargs: Any) -> DEHB:
    """``DEHB`` on ``space`` over the budget's fidelity range, writing nothing (module docstring)."""
    from loguru import logger

    with _quiet(), tempfile.TemporaryDirectory(prefix="tunebench-dehb-") as folder:
        try:
            dehb = DEHB(cs=configuration_space(space), f=None, min_fidelity=budget.min_fidelity,
                        max_fidelity=budget.max_fidelity, seed=seed, n_workers=1, save_freq="end",
                        output_path=folder, **kwargs)
        except (ValueError, TypeError, AssertionError) as exc:
            raise RunnerError(f"dehb.DEHB rejected the options {kwargs}: {exc}") from exc
        finally:
            logger.remove()  # the dehb.log file sink and dehb's stdout sink
    return dehb


class DEHBRunner(Runner):
    """dehb's DEHB (see the module docstring)."""

    name: ClassVar[str] = "dehb"
    description: ClassVar[str] = ("DEHB: differential evolution over Hyperband's brackets, "
                                  "choosing each trial's fidelity (dehb)")
    capabilities: ClassVar[Capabilities] = Capabilities(
        library="dehb", family="DE-Hyperband", chooses_fidelity=True, continues=False,
        notes=("promoted configurations restart from scratch at the higher fidelity; rungs "
               "max*eta^-k rounded to whole steps; n_workers=1, save_freq='end' (nothing "
               "written); a failed trial is told the largest finite float; needs a task "
               "with a fidelity range (min < max)"))

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        low, high = self.budget_info.min_fidelity, self.budget_info.max_fidelity
        if not 1 <= low < high:
            raise RunnerError(
                f"runner 'dehb' needs a task with a fidelity range (min_fidelity < max_fidelity), "
                f"got [{low}, {high}] {self.budget_info.fidelity_unit}s: DEHB's brackets have "
                "nothing to choose from on a single fidelity (dehb points to plain DE then); "
                "use a single-fidelity runner such as nevergrad.de or cma.cmaes")
        self._given = DEHB_OPTIONS.check(options)
        self._dehb = build_dehb(space, self.seed, self.budget_info, **DEHB_OPTIONS.kwargs(self._given))
        self._pending: dict[int, tuple[Config, dict[str, Any]]] = {}
        self._asked = 0

    @classmethod
    def accepted_options(cls) -> list[str]:
        return DEHB_OPTIONS.names()

    def resolved_options(self) -> dict[str, Any]:
        return {
            **DEHB_OPTIONS.resolved(self._given),
            "min_fidelity": self.budget_info.min_fidelity,
            "max_fidelity": self.budget_info.max_fidelity,
            "rungs": [self.fidelity(f) for f in self._dehb.fidelities],
            "dehb_fidelities": plain([float(f) for f in self._dehb.fidelities]),
            "seed": self.seed, "n_workers": 1, "save_freq": "end",
        }

    def fidelity(self, rung: float) -> int:
        """A DEHB rung as whole steps, inside the task's range."""
        low, high = self.budget_info.min_fidelity, self.budget_info.max_fidelity
        return int(min(max(round(float(rung)), low), high))

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> Proposal:
        with _quiet():
            job = self._dehb.ask()
        config = self.space.validate(to_config(self.space, job["config"]))
        tag = self._asked
        self._asked += 1
        self._pending[tag] = (config, job)
        return Proposal(dict(config), fidelity=self.fidelity(job["fidelity"]), continues=False,
                        tag=tag)

    def tell(self, config: Config, outcome: Outcome) -> None:
        tag = self._find(config, outcome.tag)
        if tag is None:
            return  # nothing DEHB is waiting for: a told configuration it cannot place
        asked, job = self._pending.pop(tag)
        config = self.space.validate(config)
        if config_key(config) != config_key(asked):
            job = self._substitute(job, config)
        with _quiet():
            self._dehb.tell(job, {"fitness": self.fitness(outcome), "cost": float(outcome.fidelity)})

    def fitness(self, outcome: Outcome) -> float:
        """What DEHB minimises: the value in the task's direction; a failure is the worst."""
        if outcome.status is Status.FAILED or outcome.value is None:
            return FAILURE_FITNESS
        value = self.direction.sign * float(outcome.value)
        return value if math.isfinite(value) else FAILURE_FITNESS

    def _find(self, config: Config, tag: Any) -> int | None:
        """The pending job a told outcome belongs to: by its tag, else by its configuration, else
        the oldest (a configuration told in place of the one asked)."""
        if isinstance(tag, int) and tag in self._pending:
            return tag
        key = config_key(self.space.validate(config))
        for pending, (asked, _) in self._pending.items():
            if config_key(asked) == key:
                return pending
        return next(iter(self._pending), None)

    def _substitute(self, job: dict[str, Any], config: Config) -> dict[str, Any]:
        """DEHB's job, for a configuration told in its place: announced to DEHB's repository as a
        new configuration at the job's fidelity, so DE selection sees what was evaluated."""
        with _quiet():
            vector = self._dehb.configspace_to_vector(to_configuration(self._dehb.cs, config))
        config_id = self._dehb.config_repository.announce_config(vector, job["fidelity"])
        return {**job, "config": vector, "config_id": config_id}

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        return translation(space)


__all__ = ["DEHB_OPTIONS", "FAILURE_FITNESS", "DEHBRunner", "build_dehb"]
