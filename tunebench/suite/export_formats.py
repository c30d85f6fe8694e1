"""A results store in the formats other tools read: Parquet files and an optuna storage.

**Parquet** (:func:`export_parquet`): a folder with ``studies.parquet``, ``trials.parquet`` and
``curves.parquet`` — exactly the frames of :func:`~tunebench.suite.loading.load_studies`,
:func:`~tunebench.suite.loading.load_trials` and :func:`~tunebench.suite.loading.load_curves`, one
row per study, trial and reported step, with their column names and types. Columns holding
dicts (a trial's ``config`` and ``extra``, a study's options and settings) are stored as JSON text
and listed in the file's metadata (``tunebench.json_columns``), so :func:`read_parquet_export`
gives back frames equal to the loaders' and any Parquet reader (DuckDB, polars, Spark) can query
them as text (``json_extract``). The schema is versioned (``tunebench.export_format``).

**optuna** (:func:`export_optuna`): every study becomes an optuna study named
``suite/task/runner/repetition`` in any optuna storage URL, its trials with their parameters and
distributions (from the task's space; only a conditional configuration's active parameters),
values, states (ok → COMPLETE, pruned → PRUNED, failed → FAIL), learning curves as intermediate
values, and tunebench's own record as user attributes (task, runner, repetition, trial number,
fidelity, charge, test value), so ``optuna-dashboard`` and ``optuna.visualization`` open them.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from tunebench.errors import UserError
from tunebench.suite.loading import load_curves, load_studies, load_trials

EXPORT_FORMAT = "1"
FRAMES = ("studies", "trials", "curves")


def _json_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns
            if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, (dict, list))).any()]


def export_parquet(db: str | Path, folder: str | Path) -> dict[str, int]:
    """Write the store's studies, trials and curves as Parquet files into ``folder`` (created;
    files of these names in it are replaced); the rows written per frame."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder; name a folder for the three "
                        "Parquet files")
    out.mkdir(parents=True, exist_ok=True)
    frames = {"studies": load_studies(db), "trials": load_trials(db), "curves": load_curves(db)}
    written = {}
    for name, frame in frames.items():
        encoded = frame.copy()
        columns = _json_columns(frame)
        for column in columns:
            encoded[column] = frame[column].map(lambda v: json.dumps(v, sort_keys=True))
        table = pa.Table.from_pandas(encoded, preserve_index=False)
        texts = [c for c in frame.columns if frame[c].dtype == object and c not in columns]
        metadata = {**(table.schema.metadata or {}),
                    b"tunebench.export_format": EXPORT_FORMAT.encode(),
                    b"tunebench.json_columns": json.dumps(columns).encode(),
                    b"tunebench.object_columns": json.dumps(texts).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), out / f"{name}.parquet")
        written[name] = len(frame)
    return written


def read_parquet_export(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The frames of :func:`export_parquet`, JSON columns decoded: equal to the loaders'."""
    import pyarrow.parquet as pq

    frames = {}
    for name in FRAMES:
        table = pq.read_table(Path(folder) / f"{name}.parquet")
        metadata = table.schema.metadata or {}
        frame = table.to_pandas()
        for column in json.loads(metadata.get(b"tunebench.json_columns", b"[]")):
            frame[column] = frame[column].map(json.loads)
        for column in json.loads(metadata.get(b"tunebench.object_columns", b"[]")):
            values = frame[column].astype(object)  # text with gaps, as the loaders give it
            frame[column] = values.where(values.notna(), None)
        frames[name] = frame
    return frames


def _distributions(space: Any) -> dict[str, Any]:
    from tunebench.runners.optuna_runner import distribution

    return {name: distribution(space[name]) for name in space}


def _state(status: str) -> Any:
    from optuna.trial import TrialState

    return {"ok": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(status, TrialState.FAIL)


def export_optuna(db: str | Path, storage: str) -> list[str]:
    """Write every study of the store into the optuna ``storage`` URL; the study names."""
    import optuna

    from tunebench.registry import RegistryError, load_plugin_file, make_task

    studies = load_studies(db)
    trials = load_trials(db)
    curves = load_curves(db)
    steps = {key: dict(zip(group["step"], group["value"], strict=True))
             for key, group in curves.groupby(["study_id", "trial"])}
    names = []
    tasks: dict[str, Any] = {}
    for study in studies.itertuples():
        key = json.dumps([study.task_name, study.task_options], sort_keys=True)
        if key not in tasks:
            try:
                tasks[key] = make_task(study.task_name, study.task_options)
            except RegistryError:
                for plugin in _plugins(db):
                    load_plugin_file(plugin)
                tasks[key] = make_task(study.task_name, study.task_options)
        distributions = _distributions(tasks[key].space)
        name = f"{study.suite}/{study.task}/{study.runner}/{study.repetition}"
        # A multi-objective study is one in optuna too: its directions, each trial's values
        # (what optuna-dashboard's Pareto-front plot reads).
        objectives = study.objectives["objectives"] if isinstance(study.objectives, dict) else []
        directed = ({"directions": [o["direction"] for o in objectives]} if objectives
                    else {"direction": study.direction})
        target = optuna.create_study(storage=storage, study_name=name, load_if_exists=False,
                                     **directed)
        if objectives:
            with warnings.catch_warnings():  # experimental since optuna 3.2: it is the API
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                target.set_metric_names([o["name"] for o in objectives])
        target.set_user_attr("tunebench", {"suite": study.suite, "task": study.task,
                                           "runner": study.runner,
                                           "repetition": int(study.repetition)})
        frozen = []
        for trial in trials[trials.study_id == study.study_id].itertuples():
            state = _state(trial.status)
            intermediate = {int(s): float(v) for s, v in steps.get((study.study_id, trial.trial),
                                                                  {}).items() if math.isfinite(v)}
            complete = state == optuna.trial.TrialState.COMPLETE
            told = ({"values": [float(getattr(trial, f"objective_{o['name']}"))
                                for o in objectives] if complete else None} if objectives
                    else {"value": float(trial.value) if complete else None})
            frozen.append(optuna.trial.create_trial(
                state=state, params=dict(trial.config),
                distributions={p: distributions[p] for p in trial.config},
                intermediate_values={} if objectives else intermediate, **told,
                user_attrs={"tunebench_trial": int(trial.trial), "fidelity": int(trial.fidelity),
                            "fidelity_spent": float(trial.fidelity_spent),
                            "charge": float(trial.charge),
                            "test_value": None if pd.isna(trial.test_value)
                            else float(trial.test_value),
                            "error": trial.error if isinstance(trial.error, str) else None}))
        target.add_trials(frozen)
        names.append(name)
    return names


def _plugins(db: str | Path) -> list[str]:
    """The plugin files the store's suites load (a plugin task is built from them)."""
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        specs = [json.loads(text) for (text,) in conn.execute("SELECT spec_json FROM suites")]
    return sorted({plugin for spec in specs for plugin in spec.get("plugins", [])})
