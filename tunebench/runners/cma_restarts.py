"""The restart regimes of ``cma.fmin``, IPOP and BIPOP, as a plan the ask/tell runner follows.

``cma.fmin`` restarts CMA-ES inside its own loop, which an ask/tell study cannot hand its trials
to; this module keeps the bookkeeping ``fmin`` keeps and answers the one question a restart asks:
with what step-size factor, population size and iteration limit does the next run start?

- IPOP (Auger & Hansen 2005; ``fmin``'s default ``incpopsize = 2``): every restart multiplies
  the first run's population by ``incpopsize``.
- BIPOP (Hansen 2009; ``fmin(..., bipop=True)``): runs with a large population (IPOP's) alternate
  with runs with a small one, a random fraction of the step size (``0.01 ** U``) and a population
  between the first one and the current large one (``popsize0 * m ** (U ** 2)``), limited to half
  the evaluations spent on large runs so far. A small run starts while the evaluations of small
  runs stay below ``bipop`` times those of the large ones, and does not count as a restart.

The two uniform draws come from numpy's global generator, as ``fmin`` draws them: the runner
holds its own generator state there while the plan is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RestartPlan:
    """What ``cma.fmin`` remembers between runs (``restarts``, ``incpopsize``, ``bipop``)."""

    restarts: int
    incpopsize: int
    bipop: float  # 0: IPOP; else the budget ratio of small to large runs (True is 1)
    popsize0: float | None = None  # the first run's popsize option, unrounded, as fmin keeps it
    maxiter0: float | None = None
    runs: int = 0  # runs finished
    small_runs: int = 0  # restarts with a small population (BIPOP), not counted as restarts
    small_evals: list[int] = field(default_factory=list)
    large_evals: list[int] = field(default_factory=list)
    small: bool = True  # the regime of the current run (the first is accounted as small)
    base_evals: int = 0  # evaluations counted before the current run (fmin's ``verb_append``)

    def finished(self, countevals: int, popsize: float, maxiter: float) -> None:
        """The current run stopped when pycma's evaluation count (over all runs) was
        ``countevals``."""
        evaluations, self.base_evals = countevals - self.base_evals, countevals
        if self.runs == 0:
            self.popsize0, self.maxiter0 = popsize, maxiter
        if self.bipop:
            (self.small_evals if self.small else self.large_evals).append(evaluations)
        self.runs += 1

    @property
    def exhausted(self) -> bool:
        """Every restart allowed is done (small BIPOP runs do not count)."""
        return self.runs - self.small_runs > self.restarts

    def next_run(self) -> tuple[float, dict[str, Any]]:
        """The step-size factor and the options of the next run (call after :meth:`finished`)."""
        assert self.popsize0 is not None and self.maxiter0 is not None
        if self.bipop and sum(self.small_evals) < self.bipop * max(1, sum(self.large_evals)):
            self.small = True
            self.small_runs += 1
            multiplier = self.incpopsize ** (self.runs - self.small_runs)
            sigma_factor = 0.01 ** np.random.uniform()
            popsize = int(self.popsize0 * multiplier ** (np.random.uniform() ** 2))
            return sigma_factor, {"popsize": popsize,
                                  "maxiter": min(self.maxiter0, 0.5 * sum(self.large_evals) / popsize)}
        self.small = False
        popsize = self.popsize0 * self.incpopsize ** (self.runs - self.small_runs)
        return 1.0, {"popsize": popsize, **({"maxiter": self.maxiter0} if self.bipop else {})}


__all__ = ["RestartPlan"]
