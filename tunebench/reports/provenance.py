"""Provenance: which suite, seeds, environments and budgets produced the numbers, and loud warnings
where a comparison was not fair (unequal budgets, different devices, budgets not met)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tunebench.reports.frames import Frames, StoreData
from tunebench.suite.comparability import comparability_issues

#: Packages worth showing first in the environment table (others follow alphabetically).
KEY_PACKAGES = ("tunebench", "torch", "numpy", "scipy", "scikit-learn", "optuna", "hyperopt",
                "nevergrad", "pandas", "ray")


@dataclass
class Provenance:
    suites: pd.DataFrame
    suite_sources: dict[str, str]
    environments: pd.DataFrame
    studies: pd.DataFrame
    warnings: list[str] = field(default_factory=list)  # unfair or incomplete comparisons: loud
    notes: list[str] = field(default_factory=list)  # worth knowing, not a problem


def _get(mapping: Any, *keys: str) -> Any:
    """The first present key of ``mapping`` (environment records vary a little in naming)."""
    if not isinstance(mapping, dict):
        return None
    for key in keys:
        if mapping.get(key) not in (None, ""):
            return mapping[key]
    return None


def _git(env: dict[str, Any]) -> str | None:
    value = _get(env, "git_revision", "git_rev", "git", "revision", "git_commit")
    if isinstance(value, dict):
        revision = _get(value, "revision", "commit", "rev", "sha")
        if revision is None:
            return None
        return f"{revision} (modified)" if value.get("dirty") else str(revision)
    return None if value is None else str(value)


def canonical(value: Any) -> Any:
    """``value`` with every list sorted (by its items' JSON): two records that list the same native
    libraries in another order (threadpoolctl's order follows load order) compare equal."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        items = [canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return value


def _same_environment_key(env: dict[str, Any]) -> str:
    """What two records of one environment share: everything but the torch facts (recorded only
    once a process has imported torch), lists in any order, and the native thread pools as a set
    (importing torch loads a second OpenMP runtime, listed as one more pool of the same kind)."""
    rest = {k: v for k, v in env.items() if k != "torch"}
    if isinstance(rest.get("blas"), list):
        pools = {json.dumps(canonical(pool), sort_keys=True, default=str) for pool in rest["blas"]}
        rest["blas"] = sorted(pools)
    return json.dumps(canonical(rest), sort_keys=True, default=str)


def merge_environments(environments: dict[int, dict[str, Any]]
                       ) -> list[tuple[list[int], dict[str, Any]]]:
    """Environment records grouped when they are one environment (see
    :func:`_same_environment_key`); a record without torch facts joins the one record, if exactly
    one, that has them. Returns (ids, record) in id order."""
    by_key: dict[str, list[int]] = {}
    for env_id, env in sorted(environments.items()):
        env = env if isinstance(env, dict) else {}
        rest = _same_environment_key(env)
        by_key.setdefault(rest, []).append(env_id)
    groups: list[tuple[list[int], dict[str, Any]]] = []
    for ids in by_key.values():
        torches: dict[str, list[int]] = {}
        for env_id in ids:
            torch = environments[env_id].get("torch") if isinstance(environments[env_id], dict) \
                else None
            key = json.dumps(canonical(torch), sort_keys=True, default=str) if torch else ""
            torches.setdefault(key, []).append(env_id)
        loaded = [k for k in torches if k]
        if len(loaded) <= 1:
            groups.append((ids, environments[torches[loaded[0]][0] if loaded else ids[0]]))
        else:
            unloaded = torches.get("", [])
            for key in loaded:
                groups.append((sorted(torches[key] + unloaded), environments[torches[key][0]]))
                unloaded = []
    return sorted(groups, key=lambda group: group[0][0])


def environment_table(environments: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per distinct environment (see :func:`merge_environments`); ``env_id`` lists the
    store's ids it stands for ("1, 4, 5")."""
    rows = []
    for ids, env in merge_environments(environments):
        env = env if isinstance(env, dict) else {}
        torch = env.get("torch") if isinstance(env.get("torch"), dict) else {}
        packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
        ordered = [p for p in KEY_PACKAGES if p in packages]
        ordered += sorted(p for p in packages if p not in KEY_PACKAGES)
        threads = _get(torch, "threads")
        rows.append({
            "env_id": ", ".join(map(str, ids)),
            "hostname": _get(env, "hostname", "host"),
            "python": _get(env, "python", "python_version"),
            "platform": _get(env, "platform", "os"),
            "cpu": _get(env, "cpu", "processor"),
            "torch": _get(torch, "version") or ("not imported" if "torch" in env else None),
            "torch_threads": int(threads) if isinstance(threads, (int, float)) else None,
            "cpu_capability": _get(torch, "cpu_capability"),
            "cuda": _get(torch, "cuda"),
            "git_revision": _git(env),
            "packages": ", ".join(f"{p} {packages[p]}" for p in ordered),
        })
    columns = ["env_id", "hostname", "python", "platform", "cpu", "torch", "torch_threads",
               "cpu_capability", "cuda", "git_revision", "packages"]
    return pd.DataFrame(rows, columns=columns, dtype=object)  # None stays None, never NaN


def environments_for_reading(table: pd.DataFrame) -> pd.DataFrame:
    """The environment table turned on its side (one column per environment, one row per fact),
    so it fits a page whatever the length of the package list; empty facts left out."""
    shown = table.set_index("env_id").T
    shown.columns = [f"environment {c}" for c in shown.columns]
    shown = shown[shown.map(lambda v: v not in (None, "") and v == v).any(axis=1)]
    shown.index = [str(i).replace("_", " ") for i in shown.index]
    return shown.map(lambda v: "—" if v is None or v != v else str(v)).rename_axis("fact")


def suite_table(specs: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, str]]:
    rows, sources = [], {}
    for item in specs:
        spec = item.get("spec") or {}
        budget = spec.get("budget")
        if isinstance(budget, dict) and {"kind", "amount"} <= set(budget):
            extra = " + optimiser time" if budget.get("charge_optimizer") else ""
            budget = f"{float(budget['amount']):g} {str(budget['kind']).replace('_', ' ')}{extra}"
        elif isinstance(budget, dict):
            budget = ", ".join(f"{k}={v}" for k, v in budget.items())
        tasks, runners = spec.get("tasks") or [], spec.get("runners") or []
        name = str(item.get("name"))
        rows.append({
            "suite": name, "fingerprint": item.get("fingerprint"), "seed": spec.get("seed"),
            "repetitions": spec.get("repetitions"), "budget": budget,
            "tasks": len(tasks), "runners": len(runners),
            "settings": ", ".join(f"{k}={v}" for k, v in (spec.get("settings") or {}).items()),
        })
        if item.get("source_text"):
            sources[name] = str(item["source_text"])
    columns = ["suite", "fingerprint", "seed", "repetitions", "budget", "tasks", "runners",
               "settings"]
    return pd.DataFrame(rows, columns=columns), sources


def _differs(studies: pd.DataFrame, column: str) -> dict[str, list[str]]:
    """Tasks whose studies disagree on ``column``, with the distinct values."""
    out = {}
    for task, group in studies.groupby("task", sort=False):
        values = sorted({str(v) for v in group[column]})
        if len(values) > 1:
            out[str(task)] = values
    return out


def collect(data: StoreData, frames: Frames) -> Provenance:
    studies = frames.studies
    warnings: list[str] = []
    notes: list[str] = []

    budgets = studies.assign(budget=studies["budget_kind"].astype(str) + " "
                             + studies["budget_amount"].map(lambda v: f"{float(v):g}"))
    for task, values in _differs(budgets, "budget").items():
        warnings.append(f"Unequal budgets on task {task!r}: {' vs '.join(values)}. Runners on this "
                        "task did not get the same budget; its comparison is not fair.")
    # Facts, not requests: the precision "auto" resolved to and the device model each study ran
    # on (cuda:0 and cuda:1 of one model are one device); the requested device where no fact is.
    warnings.extend(issue.message for issue in comparability_issues(studies))
    models_known = "device_model" in studies and bool(studies["device_model"].notna().all())
    for column, what in (("device", "devices"), ("threads", "thread counts")):
        if column == "device" and models_known:
            continue  # compared by model above
        for task, values in _differs(studies, column).items():
            warnings.append(f"Different {what} on task {task!r}: {', '.join(values)}. Times and "
                            "possibly results are not comparable across these studies.")
    done = studies["status"].astype(str) == "done"
    exhausted = (studies["search_exhausted"].astype(bool) if "search_exhausted" in studies
                 else pd.Series(False, index=studies.index))
    unmet = studies[~done | (~studies["budget_met"].astype(bool) & ~exhausted)]
    if len(unmet):
        running = int((unmet["status"].astype(str) != "done").sum())
        warnings.append(
            f"{len(unmet)} of {len(studies)} studies did not spend their whole budget"
            + (f" ({running} still running or interrupted)" if running else "")
            + ": their final values are not comparable with finished studies "
            "(see the study table below).")
    spent_all = studies[done & exhausted & ~studies["budget_met"].astype(bool)]
    for (task, runner), group in spent_all.groupby(["task", "runner"], sort=False):
        notes.append(f"{runner} on {task!r} proposed every point of its search space before the "
                     f"budget ran out ({len(group)} studies): it ends there rather than repeat a "
                     "point, and its final value is that of its whole space.")
    reps = studies.groupby(["task", "runner"]).size().unstack(fill_value=0)
    # (a runner with no study of a task, a pair left out by declaration, is not "fewer")
    uneven = [str(t) for t, row in reps.iterrows() if row[row > 0].nunique() > 1]
    if uneven:
        warnings.append("Runners have different numbers of repetitions on "
                        + ", ".join(repr(t) for t in uneven)
                        + ": paired statistics use only the repetitions every runner has.")
    envs = studies["env_id"].dropna().unique()
    if len(envs) > 1:
        table = environment_table({int(e): data.environments.get(int(e), {}) for e in envs})
        varying = [c for c in ("hostname", "python", "torch", "packages", "git_revision", "cpu")
                   if table[c].astype(str).nunique() > 1]
        if varying and len(table) > 1:
            notes.append(f"Studies ran in {len(table)} environments that differ in "
                         + ", ".join(varying) + ".")

    for item in data.suite_specs:
        pairs = (item.get("spec") or {}).get("exclude") or []
        if pairs:
            notes.append(f"Suite {item.get('name')!r} leaves out by declaration "
                         + ", ".join(f"{p['task']} × {p['runner']}" for p in pairs)
                         + ": those pairs have no studies and are in no statistic.")
    suites, sources = suite_table(data.suite_specs)
    columns = ["study_id", "suite", "task", "runner", "repetition", "eval_seed", "runner_seed",
               "budget_kind", "budget_amount", "budget_spent", "budget_met", "status", "n_trials",
               "n_failed", "device", "threads", "precision", "runner_version", "env_id"]
    return Provenance(
        suites=suites, suite_sources=sources,
        environments=environment_table(data.environments),
        studies=studies[[c for c in columns if c in studies.columns]].reset_index(drop=True),
        warnings=warnings, notes=notes,
    )
