"""Synchronous Successive Halving and Hyperband (Li et al., JMLR 2018), small and exact: the
reference multi-fidelity baselines library versions are checked against.

With R the ratio of the task's largest to smallest fidelity and η the halving rate, Hyperband runs
brackets s = s_max … 0 (s_max = ⌊log_η R⌋, B = (s_max + 1)·R). Bracket s starts
n = ⌈B/R · η^s/(s + 1)⌉ random configurations at fidelity r = R·η^−s (in units of the smallest
fidelity); its rung i evaluates ⌊n·η^−i⌋ configurations at r·η^i and promotes the best ⌊n·η^−i−1⌋
(failed trials rank last and are never promoted). When the last bracket ends Hyperband starts
again from s_max, with new configurations, until the harness has spent the budget.

Promotions ask to continue (:class:`~tunebench.runners.base.Proposal` with ``continues``): on a
task that can continue only the new steps are trained and charged; on one that cannot the
harness restarts the configuration and charges its full fidelity — the rule is the harness's.
Successive Halving is one bracket, by default Hyperband's most exploratory one (s = s_max),
repeated. On a task with a single fidelity both are random search.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunebench.runners.base import (
    BudgetInfo,
    Capabilities,
    Outcome,
    Proposal,
    Runner,
    RunnerError,
    WaitForResults,
)
from tunebench.space import Config, Direction, Space

#: Rounding guard for log_η R when R is an exact power of η (log(27)/log(3) = 3.0000000000000004).
_EPS = 1e-9


@dataclass(frozen=True)
class Rung:
    configurations: int
    fidelity: int


def max_bracket(min_fidelity: int, max_fidelity: int, eta: float) -> int:
    """s_max = ⌊log_η R⌋ with R = max_fidelity / min_fidelity."""
    return math.floor(math.log(max_fidelity / min_fidelity) / math.log(eta) + _EPS)


def bracket_rungs(s: int, s_max: int, min_fidelity: int, max_fidelity: int, eta: float
                  ) -> tuple[Rung, ...]:
    """Rungs of Hyperband's bracket ``s``: (configurations, fidelity) per rung, as Li et al."""
    ratio = max_fidelity / min_fidelity
    n = math.ceil((s_max + 1) / (s + 1) * eta ** s - _EPS)
    rungs = []
    for i in range(s + 1):
        fidelity = max_fidelity if i == s else round(min_fidelity * ratio * eta ** (i - s))
        rungs.append(Rung(math.floor(n * eta ** -i + _EPS),
                          max(min_fidelity, min(max_fidelity, fidelity))))
    return tuple(rungs)


def hyperband_brackets(min_fidelity: int, max_fidelity: int, eta: float = 3,
                       count: int | None = None) -> tuple[tuple[Rung, ...], ...]:
    """Hyperband's brackets from s_max down (``count`` of them, all by default)."""
    s_max = max_bracket(min_fidelity, max_fidelity, eta)
    first = range(s_max, -1, -1)
    chosen = list(first)[:count] if count is not None else list(first)
    return tuple(bracket_rungs(s, s_max, min_fidelity, max_fidelity, eta) for s in chosen)


class _Halving(Runner):
    """Rungs of Successive Halving over a schedule of brackets (set by the subclass), repeated."""

    capabilities = Capabilities(library="tunebench", family="bandit", chooses_fidelity=True,
                                continues=True, batch=True)

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None, eta: float, chosen: int | None) -> None:
        super().__init__(space, direction, seed, budget_info)
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 1 < eta <= 1000:
            raise RunnerError(f"option eta must be a number above 1 (Li et al. use 3), got {eta!r}")
        self.eta = eta
        info = self.budget_info
        self.schedule = self._schedule(max_bracket(info.min_fidelity, info.max_fidelity, eta), chosen)
        self._rng = np.random.default_rng(self.seed)
        self._bracket = -1  # index into schedule (cycled)
        self._rung = 0
        self._queue: deque[Proposal] = deque()
        self._results: list[tuple[float, int, Config]] = []  # (loss, slot, config) of this rung
        self._outstanding: list[Any] = []  # tags of this rung's proposals not yet told (in flight)

    def _schedule(self, s_max: int, chosen: int | None) -> tuple[tuple[Rung, ...], ...]:
        raise NotImplementedError

    def _checked(self, option: str, value: Any, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            info = self.budget_info
            raise RunnerError(f"option {option} must be a whole number from {low} to {high} "
                              f"(fidelities {info.min_fidelity}..{info.max_fidelity} at "
                              f"eta={self.eta:g}), got {value!r}")
        return value

    def resolved_options(self) -> dict[str, Any]:
        return {"eta": self.eta,
                "schedule": [[[r.configurations, r.fidelity] for r in b] for b in self.schedule],
                "promotion": "continue"}

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> Proposal:
        while not self._queue:
            if self._outstanding:  # synchronous: the rung ends when all its trials have
                raise WaitForResults
            self._advance()
        proposal = self._queue.popleft()
        self._outstanding.append(proposal.tag)
        return proposal

    def tell(self, config: Config, outcome: Outcome) -> None:
        tag = outcome.tag
        if tag in self._outstanding:
            self._outstanding.remove(tag)
        elif self._outstanding:  # told something else in place of the oldest proposal
            self._outstanding.pop(0)
        if not (isinstance(tag, tuple) and tag[:2] == (self._bracket, self._rung)):
            return  # not a proposal of the current rung (a resumed study's foreign trial)
        if outcome.ok and outcome.value is not None and math.isfinite(outcome.value):
            self._results.append((self.direction.sign * outcome.value, tag[2], config))

    def _advance(self) -> None:
        """Fill the queue with the next rung: the promotions of this bracket, or a new bracket."""
        rungs = self.schedule[self._bracket] if self._bracket >= 0 else ()
        if self._bracket >= 0 and self._rung + 1 < len(rungs):
            keep = min(rungs[self._rung + 1].configurations, len(self._results))
            best = sorted(self._results)[:keep]
            if best:
                self._rung += 1
                self._results = []
                fidelity = rungs[self._rung].fidelity
                self._queue.extend(
                    Proposal(config, fidelity, continues=True, tag=(self._bracket, self._rung, slot))
                    for slot, (_, _, config) in enumerate(sorted(best, key=lambda r: r[1])))
                return
        self._bracket = (self._bracket + 1) % len(self.schedule)
        self._rung = 0
        self._results = []
        first = self.schedule[self._bracket][0]
        self._queue.extend(
            Proposal(self.space.sample(self._rng), first.fidelity, tag=(self._bracket, 0, slot))
            for slot in range(first.configurations))


class Hyperband(_Halving):
    """Hyperband: brackets of Successive Halving from most to least exploratory, repeated."""

    name = "hyperband"
    description = "Hyperband (Li et al. 2018): synchronous brackets of Successive Halving"

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, eta: float = 3,
                 brackets: int | None = None) -> None:
        super().__init__(space, direction, seed, budget_info, eta, brackets)

    def _schedule(self, s_max: int, chosen: int | None) -> tuple[tuple[Rung, ...], ...]:
        count = s_max + 1 if chosen is None else self._checked("brackets", chosen, 1, s_max + 1)
        info = self.budget_info
        return hyperband_brackets(info.min_fidelity, info.max_fidelity, self.eta, count)

    def resolved_options(self) -> dict[str, Any]:
        return {**super().resolved_options(), "brackets": len(self.schedule)}


class SuccessiveHalving(_Halving):
    """Successive Halving: one bracket of Hyperband (the most exploratory by default), repeated."""

    name = "successive_halving"
    description = "Successive Halving (Jamieson & Talwalkar 2016), synchronous, repeated"

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, eta: float = 3,
                 bracket: int | None = None) -> None:
        super().__init__(space, direction, seed, budget_info, eta, bracket)

    def _schedule(self, s_max: int, chosen: int | None) -> tuple[tuple[Rung, ...], ...]:
        s = s_max if chosen is None else self._checked("bracket", chosen, 0, s_max)
        info = self.budget_info
        return (bracket_rungs(s, s_max, info.min_fidelity, info.max_fidelity, self.eta),)

    def resolved_options(self) -> dict[str, Any]:
        return {**super().resolved_options(), "bracket": len(self.schedule[0]) - 1}
