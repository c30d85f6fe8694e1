"""Which comparisons in a store are not like for like, from the facts each study recorded.

Reports call :func:`comparability_issues` on :func:`tunebench.suite.store.load_studies` for their
warnings, and :func:`effective_repetitions` for how many independent repetitions a (task, runner)
pair really has. Facts, not requests: a suite asking for ``precision = "auto"`` everywhere can still
mix bf16 and fp32 across machines; ``cuda:0`` and ``cuda:1`` of one GPU model are the same device,
``cuda`` on two machines may be two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

PRECISION = "precision"
DEVICE_MODEL = "device_model"
SHARED_GPU = "shared_gpu"


@dataclass(frozen=True)
class ComparabilityIssue:
    """One reason the studies of a task are not compared like for like."""

    task: str
    kind: str  # PRECISION, DEVICE_MODEL or SHARED_GPU
    values: tuple[str, ...]  # the precisions or devices involved
    study_ids: tuple[int, ...]
    message: str


def _device(row: pd.Series) -> str | None:
    """A study's hardware by model (GPU memory included: one model name can come in two sizes)."""
    model = row.get("device_model")
    if not isinstance(model, str):
        return None
    memory = row.get("device_memory")
    if str(row.get("device", "")).startswith("cuda") and memory is not None and not pd.isna(memory):
        return f"{model} ({int(memory) / 2**30:.0f} GiB)"
    return model


def _differing(studies: pd.DataFrame, values: pd.Series, kind: str, what: str,
               consequence: str) -> list[ComparabilityIssue]:
    issues = []
    for task, group in studies.assign(_value=values).groupby("task", sort=False):
        known = group[group["_value"].notna()]
        distinct = tuple(sorted({str(v) for v in known["_value"]}))
        if len(distinct) > 1:
            counts = known["_value"].astype(str).value_counts()
            listed = ", ".join(f"{value} ({counts[value]} studies)" for value in distinct)
            issues.append(ComparabilityIssue(
                str(task), kind, distinct, tuple(int(i) for i in known["study_id"]),
                f"Task {task!r} mixes {what}: {listed}. {consequence}"))
    return issues


def _overlapping(group: pd.DataFrame) -> set[int]:
    """Study ids in ``group`` (one physical device) that ran at the same time as another."""
    spans = sorted((float(r.started_at), float(r.finished_at) if not pd.isna(r.finished_at)
                    else math.inf, int(r.study_id)) for r in group.itertuples()
                   if not pd.isna(r.started_at))
    shared: set[int] = set()
    for i, (_, end, study) in enumerate(spans):
        for other_start, _, other in spans[i + 1:]:
            if other_start >= end:
                break
            shared.update((study, other))
    return shared


def _shared_gpus(studies: pd.DataFrame) -> list[ComparabilityIssue]:
    """Studies under a time budget that shared their GPU with another study while they ran."""
    gpu = studies[studies["device"].astype(str).str.startswith("cuda")]
    if gpu.empty:
        return []
    physical = gpu["host"].astype(str) + "/" + gpu["device_uuid"].where(
        gpu["device_uuid"].notna(), gpu["device"]).astype(str)
    shared: set[int] = set()
    for _, group in gpu.groupby(physical, sort=False):
        shared |= _overlapping(group)
    timed = gpu[gpu["study_id"].isin(shared) & (gpu["budget_kind"] == "device_seconds")]
    issues = []
    for task, group in timed.groupby("task", sort=False):
        devices = tuple(sorted(set(group["device"].astype(str))))
        issues.append(ComparabilityIssue(
            str(task), SHARED_GPU, devices, tuple(int(i) for i in group["study_id"]),
            f"{len(group)} studies of task {task!r} shared a GPU with another study while they ran "
            "under a device-seconds budget: each was charged time the other took, so their "
            "budgets bought less than a dedicated device's."))
    return issues


#: Fact columns a frame from an older store (or a hand-made one) may lack: read as unknown.
_FACTS = ("precision_resolved", "device_model", "device_memory", "device_uuid", "host",
          "started_at", "finished_at", "identical_to", "runner_deterministic")


def _with_facts(studies: pd.DataFrame) -> pd.DataFrame:
    missing = [column for column in _FACTS if column not in studies.columns]
    return studies.assign(**dict.fromkeys(missing)) if missing else studies


def comparability_issues(studies: pd.DataFrame) -> list[ComparabilityIssue]:
    """Every comparison in ``studies`` (a :func:`load_studies` frame) that mixes resolved
    precisions or device models, or whose studies shared a GPU under a time budget. Facts a
    frame does not have are unknown, and unknown is never a difference."""
    if studies.empty:
        return []
    studies = _with_facts(studies)
    return [
        *_differing(studies, studies["precision_resolved"], PRECISION, "numeric precisions",
                    "Values and times differ with precision; compare within one precision."),
        *_differing(studies, studies.apply(_device, axis=1), DEVICE_MODEL, "device models",
                    "Times, and with them time budgets, are not comparable across models."),
        *_shared_gpus(studies),
    ]


def effective_repetitions(studies: pd.DataFrame) -> pd.DataFrame:
    """Per (task, runner): finished repetitions, how many of them repeat an earlier one's trial
    sequence exactly, and the effective n (distinct sequences) a statistic may count."""
    studies = _with_facts(studies)
    done = studies[studies["status"] == "done"]
    rows = []
    for (task, runner), group in done.groupby(["task", "runner"], sort=False):
        identical = int(group["identical_to"].notna().sum())
        rows.append({"task": task, "runner": runner, "repetitions": len(group),
                     "identical": identical, "effective_n": len(group) - identical,
                     "deterministic": bool(group["runner_deterministic"].fillna(False).any())})
    return pd.DataFrame(rows, columns=["task", "runner", "repetitions", "identical", "effective_n",
                                       "deterministic"])
