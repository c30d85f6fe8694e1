"""The two baselines every comparison needs: seeded random search and a shuffled full grid."""

from __future__ import annotations

import numpy as np

from tunebench.runners.base import Capabilities, Outcome, Runner, RunnerError
from tunebench.space import Config, Space, config_key
from tunebench.tasks.base import Direction


class RandomSearch(Runner):
    """Uniform (log-uniform for log parameters) independent sampling: the reference every
    normalised score is measured against."""

    name = "random"
    description = "Random search: independent uniform / log-uniform samples (the baseline)"
    capabilities = Capabilities(library="tunebench", family="random", batch=True)

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_hint: int | None = None) -> None:
        super().__init__(space, direction, seed, budget_hint)
        self._rng = np.random.default_rng(self.seed)

    def ask(self) -> Config:
        return self.space.sample(self._rng)

    def tell(self, config: Config, outcome: Outcome) -> None:
        """Random search learns nothing from outcomes."""


def grid_points(space: Space, resolution: int) -> list[Config]:
    """Every distinct configuration of the full grid, conditional branches expanded only where active.

    Floats and integers get ``resolution`` points each (log-spaced for log parameters; integers
    de-duplicated), categoricals all their choices.
    """
    configs: list[Config] = [{}]
    for name in space:
        param = space[name]
        values = param.grid(resolution)
        expanded: list[Config] = []
        for config in configs:
            if space.is_active(name, config):
                expanded.extend({**config, name: value} for value in values)
            else:
                expanded.append(config)
        configs = expanded
    unique: dict[str, Config] = {}
    for config in configs:
        unique.setdefault(config_key(config), config)
    return list(unique.values())


class GridSearch(Runner):
    """A full grid, visited in a seeded shuffled order so a budget smaller than the grid does not
    favour one corner. When the grid is exhausted it starts again from a fresh shuffle."""

    name = "grid"
    description = "Grid search: the full grid at a per-parameter resolution, in seeded random order"
    capabilities = Capabilities(library="tunebench", family="grid", batch=True)

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_hint: int | None = None, resolution: int = 5,
                 max_points: int = 1_000_000) -> None:
        super().__init__(space, direction, seed, budget_hint)
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise RunnerError(f"resolution must be a positive integer, got {resolution!r}")
        size = 1
        for name in space:
            size *= len(space[name].grid(resolution))
        if size > max_points:
            raise RunnerError(
                f"the grid would have up to {size:,} points (resolution {resolution} over "
                f"{len(space)} parameters); lower `resolution` or raise `max_points`"
            )
        self.resolution = resolution
        self._points = grid_points(space, resolution)
        self._rng = np.random.default_rng(self.seed)
        self._order: list[int] = []

    def ask(self) -> Config:
        if not self._order:
            self._order = list(self._rng.permutation(len(self._points)))
        return dict(self._points[self._order.pop()])

    def tell(self, config: Config, outcome: Outcome) -> None:
        """Grid search learns nothing from outcomes."""


__all__ = ["GridSearch", "RandomSearch", "grid_points"]
