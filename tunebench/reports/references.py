"""The value each study's regret is measured from: one reference per (task, repetition).

A repetition of a task is its own problem: tasks such as ``linreg``, ``mnist_cnn`` or ``text_clf``
split their data by the evaluation seed, so each repetition has its own optimum. Regret, the
normalised score and ``show`` therefore measure a study against the reference of its own
(task, repetition), never against a value pooled over repetitions:

1. the optimum the store recorded for that study's seed (``optimum``), when it is exact;
2. a reference optimum that is not proven (``optimum_is_exact`` False), unless a run of that
   (task, repetition) beat it, in which case the best value seen there;
3. where the task does not know its optimum, the best value any runner reached in that
   (task, repetition).

So regret is never negative, and it is 0 for the best study of a (task, repetition) whose reference
is the best value seen. Everything here works on the store's own frames (``load_trials`` and
``load_studies``), so ``tunebench show`` can call it as the report does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: How a repetition's reference was obtained (the ``reference_source`` column).
KNOWN = "known optimum"
DECLARED = "reference optimum (not proven)"
BEATEN = "best value seen (a run beat the reference optimum)"
SEEN = "best value seen in this repetition"

#: Relative tolerance below which a run is not counted as beating a reference optimum.
BEAT_TOLERANCE = 1e-9

KEY = ["task", "repetition"]


def _sign(direction: pd.Series) -> np.ndarray:
    return np.where(direction.astype(str).to_numpy() == "maximize", -1.0, 1.0)


def repetition_references(trials: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, repetition): the reference value and where it comes from.

    ``trials`` needs task, repetition, status, value (and optionally optimum_is_exact); ``studies``
    needs task, repetition, direction and optimum (and optionally optimum_is_exact). Columns:
    task, repetition, direction, sign, optimum (the declared optimum, NaN if none), optimum_exact,
    best_seen_loss, reference_loss, reference_value (in the task's direction), reference_source,
    declared_loss (the declared optimum as a loss, NaN if none: runner-independent).
    """
    sign_s = _sign(studies["direction"])
    optimum_loss = pd.to_numeric(studies["optimum"], errors="coerce").to_numpy(dtype=float) * sign_s
    exact = _exact_flags(trials, studies)
    per_study = pd.DataFrame({
        "task": studies["task"].astype(str).to_numpy(),
        "repetition": studies["repetition"].to_numpy(),
        "direction": studies["direction"].astype(str).to_numpy(),
        "sign": sign_s, "optimum_loss": optimum_loss, "exact": exact,
    })
    # Studies of one (task, repetition) share the evaluation seed, hence the optimum; where a store
    # disagrees, the lowest declared loss keeps every regret non-negative.
    groups = per_study.groupby(KEY, sort=False)
    refs = groups.agg(direction=("direction", "first"), sign=("sign", "first"),
                      declared_loss=("optimum_loss", "min"), optimum_exact=("exact", "all"))
    ok = trials["status"].astype(str).to_numpy() == "ok"
    loss = pd.to_numeric(trials["value"], errors="coerce").to_numpy(dtype=float) * _sign(
        trials["direction"])
    seen = (pd.DataFrame({"task": trials["task"].astype(str).to_numpy(),
                          "repetition": trials["repetition"].to_numpy(),
                          "loss": np.where(ok, loss, np.nan)})
            .groupby(KEY, sort=False)["loss"].min())
    refs["best_seen_loss"] = seen.reindex(refs.index).to_numpy(dtype=float)

    declared = refs["declared_loss"].to_numpy(dtype=float)
    best = refs["best_seen_loss"].to_numpy(dtype=float)
    has_declared = np.isfinite(declared)
    margin = BEAT_TOLERANCE * np.maximum(1.0, np.abs(np.nan_to_num(declared)))
    beaten = has_declared & ~refs["optimum_exact"].to_numpy() & (best < declared - margin)
    reference = np.where(has_declared & ~beaten, declared, best)
    source = np.select([has_declared & refs["optimum_exact"].to_numpy(), beaten, has_declared],
                       [KNOWN, BEATEN, DECLARED], SEEN)
    refs["reference_loss"] = reference
    refs["reference_value"] = refs["sign"].to_numpy() * reference
    refs["reference_source"] = source
    refs["optimum"] = refs["sign"].to_numpy() * declared
    refs = refs.reset_index()
    return refs[["task", "repetition", "direction", "sign", "optimum", "optimum_exact",
                 "declared_loss", "best_seen_loss", "reference_loss", "reference_value",
                 "reference_source"]]


def _exact_flags(trials: pd.DataFrame, studies: pd.DataFrame) -> np.ndarray:
    """``optimum_is_exact`` per study: from the studies frame, else from its trials, else True."""
    if "optimum_is_exact" in studies.columns:
        return studies["optimum_is_exact"].fillna(True).astype(bool).to_numpy()
    if "optimum_is_exact" in trials.columns and "study_id" in studies.columns:
        flags = trials.groupby("study_id")["optimum_is_exact"].first()
        return studies["study_id"].map(flags).fillna(True).astype(bool).to_numpy()
    return np.ones(len(studies), dtype=bool)


def reference_of(frame: pd.DataFrame, refs: pd.DataFrame, column: str = "reference_loss") -> np.ndarray:
    """``refs[column]`` for each row of ``frame`` (matched on task and repetition; NaN where
    ``refs`` has no such row)."""
    index = pd.MultiIndex.from_frame(refs[KEY]) if len(refs) else None
    if index is None:
        return np.full(len(frame), np.nan)
    rows = pd.MultiIndex.from_arrays([frame["task"].astype(str), frame["repetition"]])
    found = index.get_indexer(rows)
    values = refs[column].to_numpy()
    out = values[np.maximum(found, 0)]
    if out.dtype.kind == "f":
        return np.where(found >= 0, out, np.nan)
    return np.where(found >= 0, out, None)


def regret(loss: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Distance to the reference in the minimising direction; never negative (NaN stays NaN)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(loss), np.nan, np.maximum(loss - reference, 0.0))


def task_reference_summary(refs: pd.DataFrame) -> pd.DataFrame:
    """Per task: where its references come from and their range over repetitions.

    Columns: task, reference_source (one source, or the sources with their counts), n_repetitions,
    reference_min, reference_max (in the task's direction), varies (references differ by seed).
    """
    rows = []
    for task, group in refs.groupby("task", sort=False):
        counts = group["reference_source"].value_counts()
        source = counts.index[0] if len(counts) == 1 else "; ".join(
            f"{name} ({n} of {len(group)})" for name, n in counts.items())
        values = group["reference_value"].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        rows.append({
            "task": task, "reference_source": source, "n_repetitions": len(group),
            "reference_min": float(finite.min()) if len(finite) else np.nan,
            "reference_max": float(finite.max()) if len(finite) else np.nan,
            "varies": bool(len(np.unique(finite)) > 1),
        })
    return pd.DataFrame(rows, columns=["task", "reference_source", "n_repetitions",
                                       "reference_min", "reference_max", "varies"])


def final_regrets(trials: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """One row per study: its final best value and regret against its own (task, repetition).

    For ``tunebench show`` and notebooks: takes the store's ``load_trials`` / ``load_studies``
    frames as they are (tasks of different suites are named ``suite / task``). Columns: study_id,
    task, runner, repetition, final_value, reference_value, reference_source, regret (NaN for a
    study without a successful trial).
    """
    if "suite" in studies.columns and studies["suite"].nunique() > 1:  # keep suites apart
        trials = trials.assign(task=trials["suite"].astype(str) + " / " + trials["task"].astype(str))
        studies = studies.assign(
            task=studies["suite"].astype(str) + " / " + studies["task"].astype(str))
    refs = repetition_references(trials, studies)
    sign = _sign(trials["direction"])
    ok = trials["status"].astype(str).to_numpy() == "ok"
    loss = pd.Series(np.where(ok, pd.to_numeric(trials["value"], errors="coerce") * sign, np.nan))
    best = loss.groupby(trials["study_id"].to_numpy()).min()
    out = studies[["study_id", "task", "runner", "repetition"]].copy()
    out["task"] = out["task"].astype(str)
    final_loss = out["study_id"].map(best).to_numpy(dtype=float)
    out["final_value"] = final_loss * _sign(studies["direction"])
    out["reference_value"] = reference_of(out, refs, "reference_value")
    out["reference_source"] = reference_of(out, refs, "reference_source")
    out["regret"] = regret(final_loss, reference_of(out, refs))
    return out.reset_index(drop=True)
