"""Grid search: the full grid of a space, each point proposed once, in one of two orders.

The grid of a conditional space is a list of blocks, one per combination of the values its parents
("parameters others depend on") can take together: that is scikit-learn's ``ParameterGrid`` given a
list of dicts, one dict per branch (``[{"kernel": ["rbf"], "gamma": …, "C": …}, {"kernel":
["linear"], "C": …}]``). Inside a block the active parameters form a Cartesian product, so no
parameter is ever crossed into a branch where it is inactive.

Two orders:

- ``declared``: exactly ``ParameterGrid``'s. Blocks in the order of their parents' values (parents
  in space order, the first one slowest, each parent's values in grid order); inside a block the
  parameter names sorted, the last name fastest (``ParameterGrid`` sorts each dict's keys). The seed
  plays no part: every repetition proposes the same sequence, by design, as ``GridSearchCV`` does.
- ``shuffle`` (the default): a seeded draw without replacement in which every branch of a parent is
  equally likely and, within a branch, every point: each parameter's grid values are equally likely,
  as random search draws them. Weighting points instead (each grid point equally likely) would give
  a branch with a conditional child ``resolution`` times the share of its siblings.

Either way, once every point has been proposed :meth:`GridSearch.ask` raises
:class:`SearchExhausted`: the study ends and reports the budget it left, nothing is proposed twice.

Without a ``resolution`` option the budget decides: the resolution whose full grid has the most
points within the budget's (full-fidelity) trials, the least such resolution where integers run out
of values. That is about ``budget ** (1 / d)`` values per numeric parameter, more where integers
have fewer values than that, categoricals and conditional branches counted as they are; 1 when even
that grid is larger than the budget (then it is drawn from, as any grid larger than the budget).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, Runner, RunnerError, SearchExhausted
from tunebench.runners.translation import ParamTranslation, fmt, rows
from tunebench.space import Categorical, Config, Direction, Int, Param, Space, Value, canonical_json

#: The resolution used when neither the option nor the budget gives one (a time budget).
DEFAULT_RESOLUTION = 5

ORDERS = ("shuffle", "declared")

#: The most values a numeric axis gets: each axis's values are held in memory.
MAX_RESOLUTION = 100_000
#: The most branches (blocks) a conditional grid may have: each is held in memory.
MAX_BLOCKS = 1_000_000
#: The most points a grid may have: draws without replacement index it with 64-bit integers.
MAX_POINTS = (1 << 63) - 1


class GridTooLarge(ValueError):
    """A grid beyond :data:`MAX_RESOLUTION`, :data:`MAX_BLOCKS` or :data:`MAX_POINTS`."""


@dataclass(frozen=True)
class Block:
    """One branch of the grid: the parents' values, and the active leaves in ParameterGrid order."""

    fixed: Config
    leaves: tuple[tuple[str, tuple[Value, ...]], ...]  # sorted by name; the last varies fastest
    start: int  # index of the block's first point in the whole grid
    size: int


class Grid:
    """The full grid of a space, enumerated lazily in ParameterGrid order: index → configuration.

    Floats and integers get ``resolution`` values each (log-spaced for log parameters; integers
    de-duplicated), categoricals all their choices. A grid of a million points costs a few
    kilobytes: only the blocks are stored.
    """

    def __init__(self, space: Space, resolution: int) -> None:
        if not 1 <= resolution <= MAX_RESOLUTION:
            raise GridTooLarge(f"a grid's resolution must be from 1 to {MAX_RESOLUTION}, got "
                               f"{resolution}")
        self.space = space
        self.resolution = resolution
        dependents = {parent for name in space for parent in space[name].parents}
        #: the parameters others depend on, in space order: the first one varies slowest
        self.parents = tuple(name for name in space if name in dependents)
        self.values = {name: tuple(space[name].grid(resolution)) for name in space}
        branches: list[Config] = [{}]
        for name in self.parents:
            expanded: list[Config] = []
            for fixed in branches:
                if space.is_active(name, fixed):
                    expanded.extend({**fixed, name: value} for value in self.values[name])
                else:
                    expanded.append(fixed)
                if len(expanded) > MAX_BLOCKS:
                    raise GridTooLarge(f"the grid at resolution {resolution} has more than "
                                       f"{MAX_BLOCKS} branches; use a smaller resolution")
            branches = expanded
        self.blocks: list[Block] = []
        start = 0
        for fixed in branches:
            leaves = tuple((name, self.values[name]) for name in sorted(space)
                           if name not in dependents and space.is_active(name, fixed))
            size = math.prod(len(v) for _, v in leaves)
            self.blocks.append(Block(fixed, leaves, start, size))
            start += size
        if start > MAX_POINTS:
            raise GridTooLarge(f"the grid at resolution {resolution} has {start} points (allowed: "
                               f"at most {MAX_POINTS}); use a smaller resolution")
        self._starts = [block.start for block in self.blocks]
        self._size = start

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: int) -> Config:
        if not 0 <= index < self._size:
            raise IndexError(index)
        block = self.blocks[bisect.bisect_right(self._starts, index) - 1]
        return self.point(block, index - block.start)

    def point(self, block: Block, offset: int) -> Config:
        """The ``offset``-th point of ``block`` (mixed radix over its leaves, the last fastest)."""
        chosen = dict(block.fixed)
        for name, options in reversed(block.leaves):
            offset, digit = divmod(offset, len(options))
            chosen[name] = options[digit]
        return {name: chosen[name] for name in self.space if name in chosen}

    def param_grid(self) -> list[dict[str, list[Value]]]:
        """The grid as scikit-learn's ``ParameterGrid`` argument: one dict per block."""
        return [{**{name: [value] for name, value in block.fixed.items()},
                 **{name: list(values) for name, values in block.leaves}} for block in self.blocks]


def grid_points(space: Space, resolution: int) -> list[Config]:
    """Every configuration of the full grid, in declared order (small grids; tests, audits)."""
    grid = Grid(space, resolution)
    return [grid[i] for i in range(len(grid))]


def resolution_for_budget(space: Space, trials: int) -> int:
    """The resolution whose full grid has the most points within ``trials`` (the smallest such:
    integers stop growing once every value is in), but never a single value per numeric axis: where
    only resolution 1 fits (hartmann6 at 30 trials: 2**6 = 64 points), resolution 2, whose grid
    is then drawn from without replacement.

    The grid's size grows with the resolution, so a doubling search then bisections find it in a
    few dozen grid constructions (cheap: a grid stores only its blocks).
    """

    def size(resolution: int) -> float:
        try:
            return len(Grid(space, resolution))
        except GridTooLarge:  # larger than any budget
            return math.inf

    def last_true(predicate: Callable[[int], bool], low: int, high: int) -> int:
        """The largest r in [low, high] with predicate(r), given predicate(low), monotone."""
        while high > low:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if predicate(middle) else (low, middle - 1)
        return low

    if size(1) > trials:
        return 2 if size(2) > size(1) else 1
    high = 2
    while high < min(trials, MAX_RESOLUTION) and size(high) <= trials:
        high *= 2
    fitting = last_true(lambda r: size(r) <= trials, 1, min(high, max(trials, 1), MAX_RESOLUTION))
    most = size(fitting)
    if size(1) == most:
        # A one-point axis is no grid: two values per numeric axis, the grid then drawn from.
        return 2 if size(2) > size(1) else 1
    return 1 + last_true(lambda r: size(r) < most, 1, fitting - 1)


@dataclass
class _Remaining:
    """The unproposed points of one block: a Fisher–Yates shuffle done lazily, one swap per draw."""

    size: int
    swapped: dict[int, int] = field(default_factory=dict)

    def draw(self, rng: np.random.Generator) -> int:
        pick = int(rng.integers(self.size))
        last = self.size - 1
        offset = self.swapped.get(pick, pick)
        self.swapped[pick] = self.swapped.pop(last, last)
        self.size = last
        return offset


def grid_resolution(space: Space, budget_info: BudgetInfo, resolution: int | None) -> tuple[int, str]:
    """The resolution a grid runner uses and where it came from ("option", "budget", "default")."""
    if resolution is not None:
        if (isinstance(resolution, bool) or not isinstance(resolution, int)
                or not 1 <= resolution <= MAX_RESOLUTION):
            raise RunnerError(f"option resolution must be a positive integer (allowed: 1 to "
                              f"{MAX_RESOLUTION}), got {resolution!r} (or leave it out: the budget "
                              "then decides)")
        return resolution, "option"
    trials = budget_info.full_trials
    if trials is None:
        return DEFAULT_RESOLUTION, "default"
    return resolution_for_budget(space, trials), "budget"


def axis_rows(space: Space, resolution: Any, label: str) -> list[ParamTranslation]:
    """The translation audit of a grid over ``space``: each parameter's grid values, or, without a
    ``resolution`` option, that the budget chooses them."""

    if resolution is not None:
        _audited(grid_resolution, space, BudgetInfo(), resolution)

    def render(name: str, param: Param) -> tuple[str, bool, str]:
        if resolution is None and not isinstance(param, Categorical):
            return (f"{label}: resolution from the budget (the most points that fit)", True,
                    "discretised: only the grid's values are ever tried")
        points = param.grid(int(resolution or 1))  # a categorical's grid ignores it
        shown = ", ".join(fmt(p) for p in points[:6]) + (", …" if len(points) > 6 else "")
        complete = isinstance(param, Categorical) or (
            isinstance(param, Int) and len(points) == param.high - param.low + 1)
        reason = "" if complete else f"discretised: only {len(points)} values are ever tried"
        return f"{label} of {len(points)}: [{shown}]", bool(reason), reason

    return rows(space, render)


def _audited(check: Callable[..., Any], *args: Any) -> None:
    """Run an option check for the translation audit, where a bad option is a ValueError (the
    CLI's one-line user error), as it is refused before a run."""
    try:
        check(*args)
    except RunnerError as exc:
        raise ValueError(str(exc)) from None


def _check_order(order: Any) -> str:
    if order not in ORDERS:
        raise RunnerError(f"option order must be one of {', '.join(map(repr, ORDERS))}, got "
                          f"{order!r} (declared: scikit-learn's ParameterGrid order)")
    return order


class GridSearch(Runner):
    """The full grid, each point proposed once: seeded and branch-uniform, or in declared order."""

    name = "grid"
    description = ("Grid search: the full grid (resolution from the budget unless given), each "
                   "point once, in seeded branch-uniform or scikit-learn ParameterGrid order")
    capabilities = Capabilities(
        library="tunebench", family="grid", batch=True,
        notes="order='declared' (scikit-learn's ParameterGrid order) ignores the seed: deterministic "
              "by design, every repetition proposes the same sequence. The default seeded shuffle "
              "draws each branch of a conditional parameter with equal probability. The study ends "
              "(search exhausted) once every grid point was proposed; no point is proposed twice.")

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, resolution: int | None = None,
                 order: str = "shuffle") -> None:
        super().__init__(space, direction, seed, budget_info)
        self.order = _check_order(order)
        if self.order == "declared":  # the seed plays no part: identical repetitions by design
            self.capabilities = replace(type(self).capabilities, deterministic=True)
        self.resolution, self._resolution_from = grid_resolution(space, self.budget_info, resolution)
        self._grid = Grid(space, self.resolution)
        self._rng = np.random.default_rng(self.seed)
        self._proposed = 0
        self._remaining = [_Remaining(block.size) for block in self._grid.blocks]

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        _audited(_check_order, options.get("order", "shuffle"))
        return axis_rows(space, options.get("resolution"), "grid")

    def resolved_options(self) -> dict[str, Any]:
        return {"resolution": self.resolution, "resolution_from": self._resolution_from,
                "order": self.order, "grid_points": len(self._grid)}

    def ask(self) -> Config:
        if self._proposed >= len(self._grid):
            raise SearchExhausted(f"every one of the {len(self._grid)} points of the grid "
                                  f"(resolution {self.resolution}) was proposed")
        index = self._proposed if self.order == "declared" else self._draw()
        self._proposed += 1
        return self._grid[index]

    def _draw(self) -> int:
        """A grid index drawn without replacement: down the branches, parent by parent (space
        order), one of the parent's values with points left, each equally likely; then one of the
        chosen block's unproposed points, uniformly."""
        candidates = [i for i, left in enumerate(self._remaining) if left.size]
        for parent in self._grid.parents:
            fixed = self._grid.blocks[candidates[0]].fixed
            if parent not in fixed:  # inactive on this branch: no choice to make here
                continue
            keys = [canonical_json(self._grid.blocks[i].fixed[parent]) for i in candidates]
            distinct = list(dict.fromkeys(keys))  # canonical forms: True is not 1
            if len(distinct) > 1:
                chosen = distinct[int(self._rng.integers(len(distinct)))]
                candidates = [i for i, key in zip(candidates, keys, strict=True) if key == chosen]
        block = candidates[0]
        return self._grid.blocks[block].start + self._remaining[block].draw(self._rng)

    def tell(self, config: Config, outcome: Outcome) -> None:
        """Grid search learns nothing from outcomes."""


__all__ = ["DEFAULT_RESOLUTION", "MAX_BLOCKS", "MAX_POINTS", "MAX_RESOLUTION", "ORDERS", "Block",
           "Grid", "GridSearch", "GridTooLarge", "axis_rows", "grid_points", "grid_resolution",
           "resolution_for_budget"]
