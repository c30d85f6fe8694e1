"""SMAC3 runners: the black-box (GP), HPO (random forest), Hyperband and multi-fidelity facades.

Each runner is one SMAC facade at its defaults, driven through ``ask()`` -> ``TrialInfo`` and
``tell(info, TrialValue)``; how the facade is built (scenario, output folder, logging, the
process-independent order of the local search's start points) is in :mod:`.smac_session`. SMAC
minimises a cost: the cost is the loss (the value, negated for a maximised task); a failed trial is
told as SMAC's crash (``StatusType.CRASHED`` at the scenario's crash cost, infinity by default).

The multi-fidelity facades choose each trial's fidelity: ``ask`` answers a
:class:`~tunebench.runners.base.Proposal` with SMAC's budget rounded to a whole step (SMAC's budgets
are ``max_budget / eta**k``, fractional unless the fidelity range is a power of ``eta``),
``continues=False`` (SMAC's Hyperband restarts a promoted configuration at the larger budget) and
the ``TrialInfo`` as its tag, told back with the outcome. ``eta`` is an option (SMAC's default 3).
A task with a single fidelity step has nothing to choose: those runners refuse it.

Resume: SMAC is deterministic given its seed and the history told, so replaying a stored history
into a fresh runner reproduces its state (``exact_replay``). A configuration told in place of the
one asked is added to SMAC's history as a trial it did not propose (at the fidelity it reached);
the asked one stays pending, as does a trial the budget's end cut short of its fidelity (its value
is told at the fidelity reached).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from tunebench.runners.adapter import LibraryRunner, check_int
from tunebench.runners.base import (
    BudgetInfo,
    Capabilities,
    Outcome,
    Proposal,
    RunnerError,
    Status,
)
from tunebench.runners.smac_session import SmacSession, plan_trials
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space

if TYPE_CHECKING:
    from smac.runhistory.dataclasses import TrialInfo

_NOTES = ("deterministic=True (one evaluation per configuration); tunebench orders the local "
          "search's start points by first appearance (SMAC 2.4.1 iterates a set whose order "
          "follows PYTHONHASHSEED)")


class SmacRunner(LibraryRunner):
    """What every SMAC runner shares: one :class:`SmacSession`, told losses."""

    facade: ClassVar[str]

    def _open(self, budgets: tuple[int, int] | None = None,
              intensifier: dict[str, Any] | None = None) -> None:
        self._plan = plan_trials(self.budget_info, chooses_fidelity=budgets is not None)
        self._session = SmacSession(self.facade, self.space, self.seed, self._plan, budgets,
                                    intensifier)

    def resolved_options(self) -> dict[str, Any]:
        return self._session.resolved(self._plan)

    def _ask(self) -> tuple[Config | Proposal, TrialInfo]:
        return self._session.ask()

    def _tell(self, handle: TrialInfo, config: Config, outcome: Outcome) -> None:
        self._session.tell(handle, self.loss(outcome))

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        self._session.tell_foreign(config, self.loss(outcome))

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        from tunebench.runners.smac_space import translation

        return translation(space)


class SmacFullFidelityRunner(SmacRunner):
    """A single-fidelity facade: every trial at the task's full fidelity."""

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._open()


class SmacBlackBox(SmacFullFidelityRunner):
    name = "smac.bb"
    description = "SMAC3 BlackBoxFacade: Gaussian-process BO (Sobol initial design, EI)"
    capabilities = Capabilities(library="smac", family="GP-BO", notes=_NOTES)
    facade = "BlackBoxFacade"


class SmacHPO(SmacFullFidelityRunner):
    name = "smac.hpo"
    description = "SMAC3 HyperparameterOptimizationFacade: random-forest BO (Sobol initial design, log EI)"
    capabilities = Capabilities(library="smac", family="RF-BO", notes=_NOTES)
    facade = "HyperparameterOptimizationFacade"


class SmacMultiFidelityRunner(SmacRunner):
    """A facade with SMAC's Hyperband intensifier: it chooses each trial's fidelity."""

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, eta: int | None = None) -> None:
        super().__init__(space, direction, seed, budget_info)
        low, high = self.budget_info.min_fidelity, self.budget_info.max_fidelity
        if low >= high:
            raise RunnerError(
                f"{self.name} chooses fidelities between the task's min and max, but this task "
                f"has a single fidelity step ({low} {self.budget_info.fidelity_unit}); use "
                f"smac.hpo or smac.bb here")
        self._open((low, high), {"eta": check_int("eta", eta, 2)} if eta is not None else None)

    def resolved_options(self) -> dict[str, Any]:
        return {**super().resolved_options(), "eta": self._session.facade.intensifier._eta,
                "fidelity": "SMAC's budget rounded to a whole step, within [min, max]",
                "continues": False}

    def _fidelity(self, info: TrialInfo) -> int:
        return min(max(round(info.budget), self.budget_info.min_fidelity),
                   self.budget_info.max_fidelity)

    def _ask(self) -> tuple[Proposal, TrialInfo]:
        config, info = self._session.ask()
        return Proposal(config, fidelity=self._fidelity(info), continues=False, tag=info), info

    def _tell(self, handle: TrialInfo, config: Config, outcome: Outcome) -> None:
        if outcome.status is Status.FAILED or outcome.fidelity >= self._fidelity(handle):
            self._session.tell(handle, self.loss(outcome))
        else:  # cut short (the budget's last trial): a trial at the fidelity it reached
            self._tell_foreign(config, outcome)

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        reached = outcome.fidelity >= self.budget_info.min_fidelity
        budget = float(outcome.fidelity if reached else self.budget_info.max_fidelity)
        self._session.tell_foreign(config, self.loss(outcome), budget)


_MF_CAPS = {"chooses_fidelity": True, "continues": False}


class SmacHyperband(SmacMultiFidelityRunner):
    name = "smac.hyperband"
    description = "SMAC3 HyperbandFacade: Hyperband over random configurations (eta=3)"
    capabilities = Capabilities(library="smac", family="bandit", notes=_NOTES, **_MF_CAPS)
    facade = "HyperbandFacade"


class SmacMultiFidelity(SmacMultiFidelityRunner):
    name = "smac.mf"
    description = "SMAC3 MultiFidelityFacade: Hyperband with random-forest BO proposals (BOHB-like)"
    capabilities = Capabilities(library="smac", family="RF-BO", notes=_NOTES, **_MF_CAPS)
    facade = "MultiFidelityFacade"


__all__ = ["SmacBlackBox", "SmacFullFidelityRunner", "SmacHPO", "SmacHyperband",
           "SmacMultiFidelity", "SmacMultiFidelityRunner", "SmacRunner"]
