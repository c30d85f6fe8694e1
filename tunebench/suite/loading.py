"""Reading a results store: the public API reports and notebooks use.

Every reader opens the file read-only and never changes it, and takes a store of an older schema
as it is (what that schema did not record reads as None). Each study is counted once, however
many times the store holds it.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

from tunebench.runners.base import Status
from tunebench.suite.connection import reading
from tunebench.suite.records import TrialRecord
from tunebench.suite.schema import STUDY_FACT_COLUMNS, schema_version, study_trials


def _curve(text: str | None) -> tuple[float, ...]:
    return tuple(math.nan if v is None else float(v) for v in json.loads(text)) if text else ()


def read_history(conn: sqlite3.Connection, study_id: int) -> list[TrialRecord]:
    """A study's stored trials, in order, as the study loop produced them (any schema version)."""
    version = schema_version(conn)  # a read-only store of an older schema is read as it is
    legacy = version == 1
    curve_column = "NULL" if legacy else "curve_json"
    legacy_curves: dict[int, list[float]] = {}
    if legacy:
        for trial, value in conn.execute(
                "SELECT trial, value FROM curves WHERE study_id=? ORDER BY trial, step", (study_id,)):
            legacy_curves.setdefault(trial, []).append(math.nan if value is None else value)
    where, parameters = study_trials(version, study_id)
    records = []
    for row in conn.execute(
            "SELECT number, config_json, config_key, status, value, test_value, fidelity,"
            " fidelity_spent, eval_seconds, cpu_seconds, optimizer_seconds, charge, error,"
            f" traceback, cached, started_at, extra_json, pruner_steps, {curve_column}"
            f" FROM trials WHERE {where}", parameters):
        records.append(TrialRecord(
            number=row[0], config=json.loads(row[1]), config_key=row[2], status=Status(row[3]),
            value=row[4], test_value=row[5], fidelity=row[6], fidelity_spent=row[7],
            curve=tuple(legacy_curves.get(row[0], ())) if legacy else _curve(row[18]),
            eval_seconds=row[8], cpu_seconds=row[9], optimizer_seconds=row[10], charge=row[11],
            error=row[12], traceback=row[13], cached=bool(row[14]), started_at=row[15],
            extra=json.loads(row[16]) if row[16] else {},
            pruner_steps=tuple(int(step) for step in row[17].split(",")) if row[17] else (),
            config_json=row[1],
        ))
    return records


# ---------------------------------------------------------------------- reading (public API)

_STUDY_COLUMNS = (
    "id AS study_id", "task", "task_name", "task_options", "runner", "runner_name",
    "runner_options", "repetition", "eval_seed", "runner_seed", "budget_json", "settings_json",
    "direction", "optimum", "optimum_is_exact", "task_version", "task_code", "runner_version",
    "device", "threads", "precision", "env_id", "status", "error", "started_at", "finished_at",
    *(name for name, _ in STUDY_FACT_COLUMNS),
)

#: What makes two study rows one study run twice (a store that holds a suite appended again with
#: more repetitions, as schema 3 did): the same suite name, task, runner, repetition, seeds,
#: options, budget and settings. Readers keep one of them (:func:`_count_each_study_once`).
_STUDY_IDENTITY = ["suite", "task", "task_name", "task_options", "runner", "runner_name",
                   "runner_options", "repetition", "eval_seed", "runner_seed", "budget_json",
                   "settings_json"]


def _study_columns(conn: sqlite3.Connection) -> str:
    """The study columns to select; those an older schema lacks read as NULL."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(studies)")}
    out = []
    for column in _STUDY_COLUMNS:
        name = column.split(" AS ")[-1] if " AS " in column else column
        source = column.split(" AS ")[0]
        out.append(f"s.{source} AS {name}" if source in present else f"NULL AS {name}")
    return ", ".join(out)


def load_studies(db_path: str | Path) -> pd.DataFrame:
    """One row per study: identity, seeds, budget (and whether it was met), settings, status, and
    the facts it ran with. Each study is counted once, however many times the store holds it.

    Beyond identity and status: ``precision_resolved`` (what the trials ran in, "auto" resolved;
    None for tasks without a precision), ``device_model``, ``device_memory`` (bytes),
    ``device_uuid``, ``host``, ``runner_resolved_options`` (dict), ``runner_deterministic``,
    ``python_hash_seed`` (None: randomised), ``search_exhausted`` and ``budget_left`` (what a runner
    that ran out of proposals left unspent), ``smoke`` (keep out of statistics),
    ``trial_sequence`` and ``identical_to`` (the first repetition whose trial sequence this one
    repeats; NA when none), ``seeds_evaluation`` / ``seeds_runner`` (the suite's seed policy),
    ``warm_up_seconds`` (the task's one warm-up in the study's process, never charged; 0 when an
    earlier study of the process warmed it up), ``objectives`` (a multi-objective study's:
    ``{"objectives": [{name, direction, reference, machine_dependent}], "optimal_hypervolume"}``;
    None for one objective).
    Facts a store predating them did not record are None.
    """
    with reading(Path(db_path)) as conn:
        frame = pd.read_sql_query(
            f"SELECT su.name AS suite, {_study_columns(conn)}, COALESCE(t.n_trials, 0) AS n_trials,"
            " COALESCE(t.budget_spent, 0.0) AS budget_spent, COALESCE(t.n_failed, 0) AS n_failed,"
            " su.spec_json AS suite_spec"
            " FROM studies s JOIN suites su ON su.id = s.suite_id LEFT JOIN"
            " (SELECT study_id, COUNT(*) AS n_trials, SUM(charge) AS budget_spent,"
            "  SUM(status = 'failed') AS n_failed FROM trials GROUP BY study_id) t"
            " ON t.study_id = s.id ORDER BY s.id",
            conn,
        )
        hosts = _hosts(conn)
    frame = _count_each_study_once(frame)
    policies = frame.pop("suite_spec").map(lambda text: json.loads(text).get("seeds") or {})
    frame["seeds_evaluation"] = policies.map(lambda p: p.get("evaluation", "per-repetition"))
    frame["seeds_runner"] = policies.map(lambda p: p.get("runner", "per-repetition"))
    budgets = frame.pop("budget_json").map(json.loads)
    frame["budget_kind"] = budgets.map(lambda b: b["kind"]).astype(str)
    frame["budget_amount"] = budgets.map(lambda b: float(b["amount"])).astype(float)
    frame["budget_met"] = frame["budget_spent"] >= frame["budget_amount"] - 1e-9
    frame["budget_left"] = (frame["budget_amount"] - frame["budget_spent"]).clip(lower=0.0)
    frame["task_options"] = frame["task_options"].map(json.loads)
    frame["runner_options"] = frame["runner_options"].map(json.loads)
    frame["runner_resolved_options"] = frame["runner_resolved_options"].map(
        lambda text: json.loads(text) if isinstance(text, str) else None)
    frame["settings"] = frame.pop("settings_json").map(json.loads)
    frame["optimum_is_exact"] = frame["optimum_is_exact"].astype(bool)
    frame["optimum"] = frame["optimum"].astype(float)
    frame["objectives"] = frame.pop("objectives_json").map(
        lambda text: json.loads(text) if isinstance(text, str) else None)
    frame["host"] = frame["env_id"].map(lambda i: hosts.get(int(i)) if pd.notna(i) else None)
    for column in ("search_exhausted", "smoke"):
        frame[column] = frame[column].fillna(0).astype(bool)
    frame["runner_deterministic"] = frame["runner_deterministic"].astype("boolean")
    for column in ("identical_to", "device_memory"):
        frame[column] = frame[column].astype("Int64")
    for column in ("precision_resolved", "device_model", "device_uuid", "python_hash_seed",
                   "trial_sequence"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.reset_index(drop=True)


def _hosts(conn: sqlite3.Connection) -> dict[int, str | None]:
    """Environment id → the host it was captured on (none for a store without environments)."""
    try:
        rows = conn.execute("SELECT id, env_json FROM environments").fetchall()
    except sqlite3.OperationalError:  # a store of another schema may lack the table
        return {}
    return {int(i): json.loads(text).get("hostname") for i, text in rows}


def _count_each_study_once(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the repeats of a study stored twice, keeping the most complete one (done before
    unfinished, then the most trials, then the first stored)."""
    if not frame.duplicated(_STUDY_IDENTITY).any():
        return frame
    ranked = frame.assign(_done=frame["status"] != "done", _trials=-frame["n_trials"])
    ranked = ranked.sort_values(["_done", "_trials", "study_id"], kind="stable")
    kept = ranked.drop_duplicates(_STUDY_IDENTITY).drop(columns=["_done", "_trials"])
    return kept.sort_values("study_id", kind="stable")


def load_trials(db_path: str | Path) -> pd.DataFrame:
    """One row per trial with its study's identity and running aggregates.

    Columns: suite, study_id, task, task_name, runner, runner_name, repetition, trial, status,
    value, test_value, best_value (best so far over ok trials), best_test_value (the incumbent's
    test value), direction, optimum, optimum_is_exact, fidelity (the total to reach),
    fidelity_spent (trained in this trial), start_fidelity and continued_from (a promotion: the
    steps it continued from, 0 when it restarted, and the earlier trial's number), budget_kind,
    budget_amount, charge, budget_spent (cumulative), eval_seconds, optimizer_seconds,
    cpu_seconds, config (dict), config_key, error, cached, device, extra (dict: what the task
    reported beside its value, e.g. a torch task's precision and epochs; empty when nothing),
    and, for tasks with several objectives, ``objective_<name>`` and ``test_objective_<name>``
    for each (NaN where a trial has none). Trials of a study stored twice are read once (see
    :func:`load_studies`).
    """
    studies = load_studies(db_path)
    with reading(Path(db_path)) as conn:
        trials = pd.read_sql_query(
            "SELECT study_id, number AS trial, status, value, test_value, fidelity, "
            "fidelity_spent, charge, eval_seconds, optimizer_seconds, cpu_seconds, config_json, "
            "config_key, error, cached, extra_json FROM trials ORDER BY study_id, number", conn,
        )
    keep = ["study_id", "suite", "task", "task_name", "runner", "runner_name", "repetition",
            "direction", "optimum", "optimum_is_exact", "budget_kind", "budget_amount", "device"]
    frame = trials.merge(studies[keep], on="study_id", how="inner", validate="many_to_one")
    frame["config"] = frame.pop("config_json").map(json.loads)
    # NULL reads as NaN (a float) beside text: only text holds JSON
    frame["extra"] = frame.pop("extra_json").map(
        lambda text: json.loads(text) if isinstance(text, str) and text else {})
    frame["cached"] = frame["cached"].astype(bool)
    frame["start_fidelity"] = [int(e.get("start_fidelity", 0)) for e in frame["extra"]]
    frame["continued_from"] = pd.array([e.get("continued_from") for e in frame["extra"]],
                                       dtype="Int64")
    for column in ("value", "test_value", "fidelity_spent", "charge", "eval_seconds",
                   "optimizer_seconds", "cpu_seconds"):
        frame[column] = frame[column].astype(float)
    frame["trial"] = frame["trial"].astype(int)
    frame["fidelity"] = frame["fidelity"].astype(int)
    frame["budget_spent"] = frame.groupby("study_id", sort=False)["charge"].cumsum()
    _add_incumbent(frame)
    order = ["suite", "study_id", "task", "task_name", "runner", "runner_name", "repetition",
             "trial", "status", "value", "test_value", "best_value", "best_test_value",
             "direction", "optimum", "optimum_is_exact", "fidelity", "fidelity_spent",
             "start_fidelity", "continued_from",
             "budget_kind", "budget_amount", "charge", "budget_spent", "eval_seconds",
             "optimizer_seconds", "cpu_seconds", "config", "config_key", "error", "cached",
             "device", "extra"]
    return frame[order + _add_objectives(frame)].reset_index(drop=True)


def _add_objectives(frame: pd.DataFrame) -> list[str]:
    """One column per objective a task reported (validation, then test): their names."""
    added = []
    for key, prefix in (("objectives", "objective_"), ("test_objectives", "test_objective_")):
        reported = [e.get(key) or {} for e in frame["extra"]]
        names = list(dict.fromkeys(name for values in reported for name in values))
        for name in names:
            frame[prefix + name] = [float(values.get(name, math.nan)) for values in reported]
            added.append(prefix + name)
    return added


def _add_incumbent(frame: pd.DataFrame) -> None:
    """best_value / best_test_value: the best ok trial so far in each study (vectorised)."""
    sign = frame["direction"].map({"minimize": 1.0, "maximize": -1.0}).astype(float)
    loss = (frame["value"] * sign).where(frame["status"] == "ok")
    study = frame["study_id"]
    # cummin leaves NaN at failed rows: carry the running best forward over them.
    best_loss = loss.groupby(study, sort=False).cummin().groupby(study, sort=False).ffill()
    frame["best_value"] = best_loss * sign
    # The incumbent's row: the last row that strictly improved the running best (ties keep the
    # earlier trial, as optuna's best_trial does).
    previous = best_loss.groupby(frame["study_id"], sort=False).shift(1)
    improved = loss.notna() & (previous.isna() | (loss < previous))
    row_index = pd.Series(frame.index.where(improved), index=frame.index, dtype=float)
    incumbent_row = row_index.groupby(frame["study_id"], sort=False).ffill()
    test_values = frame["test_value"].to_numpy()
    frame["best_test_value"] = [
        test_values[int(i)] if not math.isnan(i) else math.nan for i in incumbent_row
    ]


def load_curves(db_path: str | Path) -> pd.DataFrame:
    """Every reported learning curve, one row per (trial, step): suite, study_id, task, runner,
    repetition, trial, status, step, value (NaN where a step's value was not finite). A trial
    that continued an earlier one holds the steps it trained, numbered from where it continued.

    Long form, so ``seaborn.lineplot(data=..., x="step", y="value", hue="runner")`` plots it.
    """
    studies = load_studies(db_path)
    with reading(Path(db_path)) as conn:
        if schema_version(conn) == 1:
            query = ("SELECT c.study_id, c.trial, t.status, c.step, c.value FROM curves c JOIN "
                     "trials t ON t.study_id = c.study_id AND t.number = c.trial")
        else:
            # A promotion that continued an earlier trial reports its steps from start_fidelity on.
            query = ("SELECT t.study_id, t.number AS trial, t.status, CAST(j.key AS INTEGER) + 1"
                     " + COALESCE(json_extract(t.extra_json, '$.start_fidelity'), 0)"
                     " AS step, j.value FROM trials t, json_each(t.curve_json) j"
                     " WHERE t.curve_json IS NOT NULL")
        curves = pd.read_sql_query(query + " ORDER BY 1, 2, 4", conn)
    keep = ["study_id", "suite", "task", "runner", "repetition"]
    frame = curves.merge(studies[keep], on="study_id", how="inner", validate="many_to_one")
    frame["value"] = frame["value"].astype(float)
    return frame[["suite", "study_id", "task", "runner", "repetition", "trial", "status", "step",
                  "value"]].reset_index(drop=True)


def load_environments(db_path: str | Path) -> dict[int, dict[str, Any]]:
    with reading(Path(db_path)) as conn:
        return {int(i): json.loads(text)
                for i, text in conn.execute("SELECT id, env_json FROM environments")}


def load_suite_specs(db_path: str | Path) -> list[dict[str, Any]]:
    with reading(Path(db_path)) as conn:
        return [
            {"id": int(i), "name": name, "fingerprint": fingerprint,
             "spec": json.loads(spec), "source_text": source}
            for i, name, fingerprint, spec, source in conn.execute(
                "SELECT id, name, fingerprint, spec_json, source_text FROM suites ORDER BY id")
        ]
