"""The two baselines every comparison needs: seeded random search and the full grid
(:mod:`tunebench.runners.grid`, re-exported here, where the entry point names it)."""

from __future__ import annotations

import numpy as np

from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, Runner
from tunebench.runners.grid import Grid, GridSearch, grid_points
from tunebench.space import Config, Direction, Space


class RandomSearch(Runner):
    """Uniform (log-uniform for log parameters) independent sampling: the reference every
    normalised score is measured against."""

    name = "random"
    description = "Random search: independent uniform / log-uniform samples (the baseline)"
    capabilities = Capabilities(library="tunebench", family="random", batch=True,
                                multi_objective=True)

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._rng = np.random.default_rng(self.seed)

    def ask(self) -> Config:
        return self.space.sample(self._rng)

    def tell(self, config: Config, outcome: Outcome) -> None:
        """Random search learns nothing from outcomes."""


__all__ = ["Grid", "GridSearch", "RandomSearch", "grid_points"]
