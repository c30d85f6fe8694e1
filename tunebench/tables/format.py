"""The table format: one Parquet file, one row per (configuration, seed, step), provenance inside.

Columns (one row per fidelity step an evaluation reported):

==================  =======  ================================================================
``config_id``       int32    the configuration's position in the design (0-based)
``config_key``      string   its canonical key (:meth:`tunebench.space.Space.key`)
``config``          string   its canonical JSON (the authority; parameters by name)
``seed``            int64    the evaluation seed
``step``            int32    the fidelity step, 1-based (an epoch for tunebench's trained tasks)
``value``           float64  the validation value reported after the step (null on a failure row)
``test_value``      float64  the test value of an evaluation at this step's fidelity: on the
                             last step (the evaluation itself), and on every step of a table
                             built with ``--every-fidelity`` (null elsewhere)
``result_value``    float64  the value that evaluation returned (its ``Result.value``), on the
                             same rows: a trained task returns its best epoch's, not the last
``cost_seconds``    float64  charged seconds from the evaluation's start to the end of the step
``cost_per_step``   bool     true: measured when the step was reported; false: the evaluation's
                             seconds spread evenly over its steps (a cache hit, or a task that
                             reports no steps)
``status``          string   "ok", or "failed" on a failure row
``error``           string   the failure as the study loop records it (``Diverged: …``), else null
==================  =======  ================================================================

A failed evaluation has its reported steps as "ok" rows and one "failed" row at the step it failed
in (one past its last reported step). The schema's metadata holds one key, ``tunebench.table``: a
JSON object with the format version, the task (name, options, version, code hash, space, metric,
direction, fidelity), the seeds, the design's recipe, the settings and numerics the evaluations ran
with, the environment and tunebench's version (see :func:`tunebench.tables.tabulate.provenance`).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebench.errors import UserError

#: Bump when the columns or the metadata's meaning change.
TABLE_FORMAT = 1
METADATA_KEY = b"tunebench.table"
COLUMNS = ("config_id", "config_key", "config", "seed", "step", "value", "test_value",
           "result_value", "cost_seconds", "cost_per_step", "status", "error")


#: What a table's metadata must say of its task (replay and verification read these).
TASK_KEYS = ("name", "space", "metric", "direction", "max_fidelity", "given_options")


class TableError(UserError, ValueError):
    """A table file is missing, unreadable or not a tunebench table; the message says which."""


@dataclass
class Evaluation:
    """One evaluation of one configuration at one seed, as a table holds it.

    ``tests`` and ``results`` hold, per reported step, the test value and the returned value of an
    evaluation *at that fidelity* (None where none was run: by default only the last step, the
    evaluation itself; every step of a table built with ``--every-fidelity``).
    """

    config_id: int
    config_key: str
    config_json: str
    seed: int
    values: list[float]  # one per reported step
    costs: list[float]  # cumulative charged seconds per row: each reported step, then a failure
    cost_per_step: bool
    tests: list[float | None]
    results: list[float | None]
    error: str | None = None  # None: complete

    @property
    def failed_at(self) -> int | None:
        """The step the evaluation failed in (one past its last reported step), or None."""
        return None if self.error is None else len(self.values) + 1

    @property
    def test_value(self) -> float | None:
        """The complete evaluation's test value (None when it failed)."""
        return self.tests[-1] if self.error is None and self.tests else None

    @property
    def result_value(self) -> float | None:
        """What the complete evaluation returned (None when it failed)."""
        return self.results[-1] if self.error is None and self.results else None

    def rows(self) -> list[dict[str, Any]]:
        base = {"config_id": self.config_id, "config_key": self.config_key,
                "config": self.config_json, "seed": self.seed, "cost_per_step": self.cost_per_step}
        out = [{**base, "step": step, "value": value, "cost_seconds": cost, "status": "ok",
                "error": None, "test_value": test, "result_value": result}
               for step, (value, cost, test, result)
               in enumerate(zip(self.values, self.costs, self.tests, self.results, strict=False), 1)]
        if self.error is not None:
            out.append({**base, "step": len(self.values) + 1, "value": None, "test_value": None,
                        "result_value": None, "cost_seconds": self.costs[-1], "status": "failed",
                        "error": self.error})
        return out


def _schema(meta: dict[str, Any]) -> Any:
    import pyarrow as pa

    fields = [("config_id", pa.int32()), ("config_key", pa.string()), ("config", pa.string()),
              ("seed", pa.int64()), ("step", pa.int32()), ("value", pa.float64()),
              ("test_value", pa.float64()), ("result_value", pa.float64()), ("cost_seconds", pa.float64()),
              ("cost_per_step", pa.bool_()), ("status", pa.string()), ("error", pa.string())]
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)})


def write_table(path: str | os.PathLike[str], meta: dict[str, Any],
                evaluations: list[Evaluation]) -> None:
    """Write ``evaluations`` with ``meta`` to ``path`` (through ``PATH.partial`` and a rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [row for evaluation in evaluations for row in evaluation.rows()]
    columns = {name: [row[name] for row in rows] for name in COLUMNS}
    table = pa.table(columns, schema=_schema(meta))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial, compression="zstd", use_dictionary=True)
    os.replace(partial, path)


@dataclass
class TableFile:
    """A table read back: its metadata and its evaluations, in file order."""

    path: Path
    meta: dict[str, Any]
    evaluations: list[Evaluation]


def read_table(path: str | os.PathLike[str]) -> TableFile:
    """Read a table written by :func:`write_table`; :class:`TableError` on anything else."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path).expanduser()
    if not path.is_file():
        raise TableError(f"table {path}: no such file" + ("" if not path.exists() else
                                                          " (it is not a regular file)"))
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise TableError(f"table {path} cannot be read as Parquet: {exc}") from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise TableError(f"table {path} is Parquet but not a tunebench table (no "
                         f"{METADATA_KEY.decode()} metadata); build one with `tunebench tabulate`")
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise TableError(f"table {path}: its metadata is not JSON ({exc})") from None
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != TABLE_FORMAT:
        raise TableError(f"table {path} has format {found!r}; this tunebench reads format "
                         f"{TABLE_FORMAT}")
    task = meta.get("task")
    lacking = [key for key in ("seeds", "task") if key not in meta] + (
        [f"task.{key}" for key in TASK_KEYS if key not in task] if isinstance(task, dict) else [])
    if lacking:
        raise TableError(f"table {path}: its metadata lacks {', '.join(lacking)}; rebuild it with "
                         "`tunebench tabulate`")
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise TableError(f"table {path} lacks the column(s) {', '.join(missing)}")
    return TableFile(path, meta, _evaluations(path, table.to_pydict()))


def _evaluations(path: Path, columns: dict[str, list[Any]]) -> list[Evaluation]:
    """Group rows into evaluations by (config_id, seed), checking steps run 1, 2, … in order."""
    found: dict[tuple[int, int], Evaluation] = {}
    for i in range(len(columns["config_id"])):
        row = {name: columns[name][i] for name in COLUMNS}
        key = (row["config_id"], row["seed"])
        evaluation = found.get(key)
        if evaluation is None:
            evaluation = found[key] = Evaluation(row["config_id"], row["config_key"], row["config"],
                                                 row["seed"], [], [], bool(row["cost_per_step"]),
                                                 [], [])
        where = f"table {path}: configuration {row['config_id']} seed {row['seed']}"
        if evaluation.error is not None or row["step"] != len(evaluation.values) + 1:
            raise TableError(f"{where}: step {row['step']} is out of order (steps run 1, 2, … and a "
                             "failure row comes last)")
        if row["status"] == "failed":
            evaluation.error = row["error"] or "failed"
            evaluation.costs.append(float(row["cost_seconds"]))
            continue
        if row["status"] != "ok" or row["value"] is None:
            raise TableError(f"{where} step {row['step']}: status {row['status']!r} with value "
                             f"{row['value']!r}")
        evaluation.values.append(float(row["value"]))
        evaluation.costs.append(float(row["cost_seconds"]))
        evaluation.tests.append(row["test_value"])
        evaluation.results.append(row["result_value"])
    return list(found.values())


def same_bits(a: float | None, b: float | None) -> bool:
    """Whether two recorded numbers are the same, bit for bit (None only equals None)."""
    if a is None or b is None:
        return a is b
    return struct.pack("<d", a) == struct.pack("<d", b)
