"""The two baselines every comparison needs: seeded random search and a shuffled full grid."""

from __future__ import annotations

import bisect
import itertools
import math

import numpy as np

from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, Runner, RunnerError
from tunebench.space import Config, Direction, Space


class RandomSearch(Runner):
    """Uniform (log-uniform for log parameters) independent sampling: the reference every
    normalised score is measured against."""

    name = "random"
    description = "Random search: independent uniform / log-uniform samples (the baseline)"
    capabilities = Capabilities(library="tunebench", family="random", batch=True)

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._rng = np.random.default_rng(self.seed)

    def ask(self) -> Config:
        return self.space.sample(self._rng)

    def tell(self, config: Config, outcome: Outcome) -> None:
        """Random search learns nothing from outcomes."""


class Grid:
    """The full grid of a space, enumerated lazily: index → configuration, without building it.

    Parameters that others depend on ("parents") are expanded into blocks, one per combination
    of parent values that can occur; inside a block the active leaf parameters form a plain
    Cartesian product, decoded from the index in mixed radix. Floats and integers get
    ``resolution`` points each (log-spaced for log parameters; integers de-duplicated),
    categoricals all their choices. A grid of a million points costs a few kilobytes.
    """

    def __init__(self, space: Space, resolution: int) -> None:
        self.space = space
        parents = {parent for name in space for parent in space[name].parents}
        values = {name: space[name].grid(resolution) for name in space}
        assignments: list[Config] = [{}]
        for name in space:
            if name not in parents:
                continue
            expanded: list[Config] = []
            for config in assignments:
                if space.is_active(name, config):
                    expanded.extend({**config, name: v} for v in values[name])
                else:
                    expanded.append(config)
            assignments = expanded
        self._blocks: list[tuple[Config, list[tuple[str, list]]]] = []
        sizes = []
        for fixed in assignments:
            leaves = [(name, values[name]) for name in space
                      if name not in parents and space.is_active(name, fixed)]
            self._blocks.append((fixed, leaves))
            sizes.append(math.prod(len(v) for _, v in leaves))
        self._starts = list(itertools.accumulate(sizes, initial=0))

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, index: int) -> Config:
        if not 0 <= index < len(self):
            raise IndexError(index)
        block = bisect.bisect_right(self._starts, index) - 1
        fixed, leaves = self._blocks[block]
        offset = index - self._starts[block]
        chosen = dict(fixed)
        for name, options in reversed(leaves):
            offset, digit = divmod(offset, len(options))
            chosen[name] = options[digit]
        return {name: chosen[name] for name in self.space if name in chosen}


def grid_points(space: Space, resolution: int) -> list[Config]:
    """Every configuration of the full grid, in enumeration order (small grids; tests, audits)."""
    grid = Grid(space, resolution)
    return [grid[i] for i in range(len(grid))]


class GridSearch(Runner):
    """A full grid, visited in a seeded shuffled order so a budget smaller than the grid does not
    favour one corner; when the grid is exhausted it starts again from a fresh shuffle.

    Grids up to ``shuffle_limit`` points are shuffled as a whole; larger ones (a 12-parameter space
    at resolution 5 has 62.5 million points) are drawn uniformly without replacement, which is the
    same distribution without holding a permutation of every index in memory.
    """

    name = "grid"
    description = "Grid search: the full grid at a per-parameter resolution, in seeded random order"
    capabilities = Capabilities(library="tunebench", family="grid", batch=True)
    shuffle_limit = 1_000_000

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, resolution: int = 5) -> None:
        super().__init__(space, direction, seed, budget_info)
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise RunnerError(f"resolution must be a positive integer, got {resolution!r}")
        self.resolution = resolution
        self._grid = Grid(space, resolution)
        self._rng = np.random.default_rng(self.seed)
        self._order: list[int] = []
        self._seen: set[int] = set()

    def ask(self) -> Config:
        return self._grid[self._next_index()]

    def _next_index(self) -> int:
        size = len(self._grid)
        if size <= self.shuffle_limit:
            if not self._order:
                self._order = self._rng.permutation(size).tolist()
            return self._order.pop()
        if len(self._seen) >= size:
            self._seen.clear()
        while True:
            index = int(self._rng.integers(size))
            if index not in self._seen:
                self._seen.add(index)
                return index

    def tell(self, config: Config, outcome: Outcome) -> None:
        """Grid search learns nothing from outcomes."""


__all__ = ["Grid", "GridSearch", "RandomSearch", "grid_points"]
