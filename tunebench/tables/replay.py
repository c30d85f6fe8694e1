"""The ``table`` task: replays a table built by ``tunebench tabulate``, in microseconds per trial.

``table`` with ``path = "my.parquet"`` replays a file; ``table/linreg`` (or ``path = "linreg"``,
the default) replays a table shipped with tunebench (``make tables`` builds them into
``tunebench/tables/data``).
The space, metric, direction and maximum fidelity are the table's (its metadata holds them).

- **Lookup**: a configuration in the table is answered exactly. Any other is answered by its
  nearest neighbour in the space's normalised coordinates: each numeric parameter's unit-interval
  coordinate (:meth:`~tunebench.space.Param.to_unit`: log scale for log parameters), each
  categorical compared by equality (0 or 1), and a parameter active on one side only at distance 1;
  the Euclidean distance over parameters, ties going to the first configuration of the design.
  ``extra`` says which configuration answered and how far it was (``table_distance``; 0 when
  exact). A scikit-learn surrogate for continuous spaces may come later.
- **Seeds**: an evaluation seed that is one of the table's seeds replays that seed; any other
  replays ``seeds[seed % len(seeds)]`` (deterministic per study, varied across repetitions: what
  noise a table has is its seeds).
- **Fidelity**: the table's steps. Steps ``1..fidelity`` are reported through ``context.report``
  one by one, so pruners and multi-fidelity runners act as on the real task. Where the table
  holds an evaluation at the fidelity asked (always the last step; every step of a table built
  with ``--every-fidelity``, as the shipped ones are), its returned and test values are returned.
  Elsewhere the value follows the table's ``value_rule`` (the step's own value, or the best so
  far for tasks that restore their best epoch) and there is no test value.
- **Cost**: ``Result.cost_seconds`` is the recorded charged seconds up to the step reached, and
  each report carries the seconds up to its step, so a device-seconds budget charges what the
  real evaluation cost and a study on simulated time (``simulated_time = "recorded"``) orders
  reports and completions by them. A recorded failure (a diverged
  run) is raised again at the step it happened; it is charged its measured (tiny) time.
- **Optimum**: the best value the table can answer with (any step of any evaluation), per table
  seed for :meth:`~TableTask.optimum_for_seed`: exact for this task, which answers nothing else.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tunebench.space import Categorical, Config, Direction, Space
from tunebench.tables.format import Evaluation, TableError, read_table
from tunebench.tasks.base import Diverged, EvalContext, Result, Task, TaskError


class RecordedFailure(RuntimeError):
    """A failure the table recorded for this evaluation (other than a diverged run)."""


def shipped_tables() -> dict[str, Path]:
    """The tables shipped with tunebench, by name (``linreg`` → ``tables/data/linreg.parquet``)."""
    folder = Path(str(resources.files("tunebench.tables"))) / "data"
    return {p.stem: p for p in sorted(folder.glob("*.parquet"))} if folder.is_dir() else {}


def resolve_table(path: str) -> Path:
    """A shipped table's file for a bare name, else ``path`` itself (a file path)."""
    shipped = shipped_tables()
    if path in shipped:
        return shipped[path]
    if os.sep not in path and not path.endswith(".parquet") and not Path(path).exists():
        known = ", ".join(shipped) or "none (build them with `make tables`)"
        raise TaskError(f"table: {path!r} is neither a shipped table ({known}) nor a file")
    return Path(path).expanduser()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Index:
    """A table ready to answer: its evaluations by (configuration, seed) and the coordinates."""

    meta: dict[str, Any]
    space: Space
    keys: dict[str, int]  # config_key → config_id
    entries: dict[tuple[int, int], Evaluation]
    seeds: tuple[int, ...]
    numeric: np.ndarray  # (configs, numeric params): unit coordinates, NaN where inactive
    categorical: np.ndarray  # (configs, categorical params): choice index, -1 where inactive
    best: dict[int, float]  # per table seed: the best value it can answer with


def _coordinates(space: Space, config: Config) -> tuple[list[float], list[int]]:
    numeric, categorical = [], []
    for name in space:
        param, active = space[name], name in config
        if isinstance(param, Categorical):
            categorical.append(param.index(config[name]) if active else -1)
        else:
            numeric.append(param.to_unit(config[name]) if active else math.nan)
    return numeric, categorical


@functools.lru_cache(maxsize=8)
def _load(path: str, size: int, mtime_ns: int) -> _Index:
    """A table's index, read once per process per file version."""
    table = read_table(path)
    meta = table.meta
    space = Space.from_dict(meta["task"]["space"])
    configs: dict[int, str] = {}
    entries: dict[tuple[int, int], Evaluation] = {}
    for entry in table.evaluations:
        configs.setdefault(entry.config_id, entry.config_json)
        entries[(entry.config_id, entry.seed)] = entry
    seeds = tuple(meta["seeds"])
    ids = sorted(configs)
    if ids != list(range(len(ids))) or len(entries) != len(ids) * len(seeds):
        raise TableError(f"table {path}: it does not hold every design configuration at every "
                         f"seed ({len(entries)} evaluations of {len(ids)} × {len(seeds)})")
    coords = [_coordinates(space, json.loads(configs[i])) for i in ids]
    sign = Direction(meta["task"]["direction"]).sign
    best = {seed: math.nan for seed in seeds}
    for (_, seed), entry in entries.items():
        for v in (*entry.values, *entry.results):
            if v is not None and not sign * v >= sign * best[seed]:  # NaN: none yet
                best[seed] = v
    return _Index(meta, space, {e.config_key: e.config_id for e in entries.values()}, entries,
                  seeds, np.array([c[0] for c in coords], dtype=float).reshape(len(ids), -1),
                  np.array([c[1] for c in coords], dtype=int).reshape(len(ids), -1), best)


class TableTask(Task):
    """Replays a table of evaluations (see the module docstring)."""

    name = "table"
    description = "Replays a table built by `tunebench tabulate` (exact lookup, else nearest neighbour)"
    isolation = "none"  # a dictionary lookup per trial
    recorded_costs = True  # each report and result carries the recorded seconds
    version = "1"
    data_files: ClassVar[dict[str, str | None]] = {"path": "sha256"}
    family_option: ClassVar[str] = "path"
    family_members: ClassVar[tuple[str, ...]] = tuple(shipped_tables())

    def __init__(self, path: str = "linreg", sha256: str | None = None) -> None:
        if not isinstance(path, str) or not path:
            raise TaskError("table: give the table with option path (a .parquet file built by "
                            "`tunebench tabulate`, or a shipped table's name: "
                            f"{', '.join(shipped_tables()) or 'none built'})")
        file = resolve_table(path)
        try:
            stat = file.stat()
        except OSError as exc:
            raise TaskError(f"table: cannot read {file}: {exc.strerror or exc}") from None
        digest = file_sha256(file) if sha256 is not None or path in shipped_tables() else None
        if sha256 is not None and digest != sha256:
            raise TaskError(f"table: {file} has sha256 {digest}, not the pinned {sha256}")
        self._shipped_digest = digest if sha256 is None else None
        try:
            self._index = _load(str(file.resolve()), stat.st_size, stat.st_mtime_ns)
        except TableError as exc:
            raise TaskError(str(exc)) from None
        task = self._index.meta["task"]
        self.metric = task["metric"]
        self.direction = Direction(task["direction"])
        self.max_fidelity = int(task["max_fidelity"])
        self.min_fidelity = int(task.get("min_fidelity", 1))
        self.fidelity_unit = task.get("fidelity_unit", "epoch")
        self.source_task = task["name"]

    def options(self) -> dict[str, Any]:
        """The options given, plus the shipped table's digest: it keys cached evaluations."""
        options = super().options()
        if self._shipped_digest is not None:
            options["sha256"] = self._shipped_digest
        return options

    @property
    def space(self) -> Space:
        return self._index.space

    @property
    def optimum(self) -> float:
        """The best value the table holds, over all its seeds."""
        sign = self.direction.sign
        return sign * min(sign * v for v in self._index.best.values())

    def optimum_for_seed(self, seed: int) -> float:
        """The best value the table holds for the table seed that ``seed`` replays."""
        return self._index.best[self.table_seed(int(seed))]

    def table_seed(self, seed: int) -> int:
        """The table seed that evaluation seed ``seed`` replays."""
        seeds = self._index.seeds
        return seed if seed in seeds else seeds[seed % len(seeds)]

    def nearest(self, config: Config) -> tuple[int, float]:
        """The configuration that answers ``config`` (validated) and its distance (0: exact)."""
        from tunebench.space import config_key

        found = self._index.keys.get(config_key(config))
        if found is not None:
            return found, 0.0
        numeric, categorical = _coordinates(self.space, config)
        index = self._index
        u, t = np.array(numeric, dtype=float), index.numeric
        d_num = np.where(np.isnan(u) & np.isnan(t), 0.0,
                         np.where(np.isnan(u) | np.isnan(t), 1.0, np.abs(t - u)))
        d_cat = (index.categorical != np.array(categorical, dtype=int)).astype(float)
        distance = np.sqrt((d_num**2).sum(axis=1) + d_cat.sum(axis=1))
        best = int(np.argmin(distance))
        return best, float(distance[best])

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        config = self.space.validate(config)
        if isinstance(fidelity, bool) or not isinstance(fidelity, (int, np.integer)) or not (
                1 <= fidelity <= self.max_fidelity):
            raise ValueError(f"table: fidelity must be an integer in 1..{self.max_fidelity}, "
                             f"got {fidelity!r}")
        config_id, distance = self.nearest(config)
        table_seed = self.table_seed(int(seed))
        entry = self._index.entries[(config_id, table_seed)]
        values = entry.values
        reach = min(int(fidelity), len(values))
        for step in range(1, reach + 1):  # with the seconds the evaluation had taken by then
            context.report(step, values[step - 1], entry.costs[step - 1])
        failed_at = entry.failed_at
        if failed_at is not None and fidelity >= min(failed_at, self.max_fidelity):
            _raise_recorded(entry.error or "failed")
        extra = {"table_config_id": config_id, "table_seed": table_seed,
                 "table_distance": distance}
        result = entry.results[reach - 1]
        if result is not None:  # an evaluation at this very fidelity is in the table
            value, test_value = result, entry.tests[reach - 1]
        else:
            value, test_value = self._value_at(values, reach), None
        return Result(value=value, test_value=test_value, fidelity_spent=reach,
                      curve=tuple(values[:reach]), cost_seconds=entry.costs[reach - 1], extra=extra)

    def _value_at(self, values: list[float], step: int) -> float:
        if self._index.meta.get("evaluation", {}).get("value_rule") == "best":
            pick = min if self.direction is Direction.MINIMIZE else max
            return pick(values[:step])
        return values[step - 1]


def _raise_recorded(error: str) -> None:
    """Raise the failure the table recorded, as the real task raised it."""
    kind, _, message = error.partition(": ")
    if kind == "Diverged":
        raise Diverged(message)
    raise RecordedFailure(error)
