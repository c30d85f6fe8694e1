"""From the results store to tidy analysis frames.

Reports read the store through four public functions of :mod:`tunebench.suite.store` and nothing
else. This module checks what they return, then derives the frames every later step works on:

- ``trials``: the store's trials plus ``loss`` (the best-so-far value turned into "lower is better")
  and ``regret`` (its distance to its own (task, repetition) reference, see
  :mod:`tunebench.reports.references`);
- ``repetition_references``: one row per (task, repetition): the reference regrets are measured from;
- ``references``: one row per task: direction, budget, and where its references come from;
- ``final``: one row per study: the incumbent at the end of the budget;
- ``curves``: every study's best-so-far sampled on common budget grids, so studies can be averaged.

A "comparison" is one task label of one suite: the studies of every runner and repetition on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunebench.reports.references import (
    reference_of,
    regret,
    repetition_references,
    task_reference_summary,
)

#: Columns the store's ``load_trials`` promises (the report's input contract).
TRIAL_COLUMNS = (
    "suite", "study_id", "task", "task_name", "runner", "runner_name", "repetition", "trial",
    "status", "value", "test_value", "best_value", "best_test_value", "direction", "optimum",
    "optimum_is_exact", "fidelity", "fidelity_spent", "budget_kind", "budget_amount", "charge",
    "budget_spent", "eval_seconds", "optimizer_seconds", "cpu_seconds", "config", "config_key",
    "error", "cached", "device",
)

#: Columns the store's ``load_studies`` promises.
STUDY_COLUMNS = (
    "study_id", "suite", "task", "task_name", "task_options", "runner", "runner_name",
    "runner_options", "repetition", "eval_seed", "runner_seed", "budget_kind", "budget_amount",
    "budget_spent", "budget_met", "status", "n_trials", "n_failed", "device", "threads",
    "precision", "direction", "optimum", "runner_version", "started_at", "finished_at", "env_id",
)

#: Units of each budget kind, for axis labels.
BUDGET_UNITS = {"trials": "trials", "epochs": "epochs", "device_seconds": "device seconds"}

#: Number of points of the budget-fraction grid (fewer for small trial budgets: one per trial).
FRACTION_POINTS = 100


@dataclass
class StoreData:
    """Everything the store holds, as the store's public functions return it."""

    trials: pd.DataFrame
    studies: pd.DataFrame
    environments: dict[int, dict[str, Any]] = field(default_factory=dict)
    suite_specs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _require_columns(self.trials, TRIAL_COLUMNS, "load_trials")
        _require_columns(self.studies, STUDY_COLUMNS, "load_studies")


def read_store(db_path: str | PathLike[str]) -> StoreData:
    """Read a results store through :mod:`tunebench.suite.store`'s public functions."""
    path = Path(db_path)
    if not path.is_file():
        raise FileNotFoundError(f"no results store at {path}")
    from tunebench.suite import store

    return StoreData(
        trials=store.load_trials(path),
        studies=store.load_studies(path),
        environments=store.load_environments(path),
        suite_specs=store.load_suite_specs(path),
    )


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], origin: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{origin}() returned a frame without columns {', '.join(missing)}")


def direction_sign(direction: pd.Series) -> np.ndarray:
    """+1 where lower is better, -1 where higher is better (multiply a value to get a loss)."""
    return np.where(direction.to_numpy() == "maximize", -1.0, 1.0)


@dataclass
class Frames:
    """The tidy frames every metric, test and figure of a report is computed from."""

    trials: pd.DataFrame
    studies: pd.DataFrame
    references: pd.DataFrame
    final: pd.DataFrame
    curves: pd.DataFrame
    runners: list[str]
    tasks: list[str]
    #: One row per (task, repetition): the reference that repetition's regrets are measured from.
    repetition_references: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def smoke_tasks(self) -> list[str]:
        """Tasks whose studies are flagged ``smoke``: kept out of cross-task statistics."""
        refs = self.references
        if "smoke" not in refs.columns:
            return []
        return [t for t in self.tasks if bool(refs.loc[t, "smoke"])]

    @property
    def tested_final(self) -> pd.DataFrame:
        """``final`` as the tests see it: repeats of an earlier repetition's run left out (each
        run counts once), so a pinned seed cannot pass one run off as n independent ones."""
        return self.final[~self.final["repeat"]] if "repeat" in self.final else self.final

    @property
    def cross_task_tasks(self) -> list[str]:
        """The tasks cross-task curves and statistics average over (every task but smoke tasks)."""
        smoke = set(self.smoke_tasks)
        return [t for t in self.tasks if t not in smoke]

    @property
    def common_budget(self) -> tuple[str, float] | None:
        """(kind, amount) when every study has the same budget, else None."""
        kinds = self.studies[["budget_kind", "budget_amount"]].drop_duplicates()
        if len(kinds) != 1:
            return None
        return str(kinds.iloc[0, 0]), float(kinds.iloc[0, 1])


def qualify_tasks(trials: pd.DataFrame, studies: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Name tasks ``suite / task`` when the store holds more than one suite, so comparisons stay apart."""
    suites = pd.concat([trials["suite"], studies["suite"]]).unique()
    if len(suites) <= 1:
        return trials, studies
    trials = trials.assign(task=trials["suite"].astype(str) + " / " + trials["task"].astype(str))
    studies = studies.assign(task=studies["suite"].astype(str) + " / " + studies["task"].astype(str))
    return trials, studies


def build_frames(data: StoreData, *, suites: list[str] | None = None,
                 study_ids: Iterable[int] | None = None) -> Frames:
    """Derive the analysis frames from what the store returned.

    ``study_ids`` keeps only those studies, chosen after the suites and the tasks' names (so a
    task is named as it is in a report of every study of those suites).
    """
    trials, studies = data.trials, data.studies
    if suites:
        unknown = sorted(set(suites) - set(studies["suite"].astype(str)))
        if unknown:
            raise LookupError(f"no suite named {', '.join(unknown)} in this store")
        trials = trials[trials["suite"].isin(suites)]
        studies = studies[studies["suite"].isin(suites)]
    if studies.empty:
        raise ValueError("the store holds no studies: run a suite first")
    if trials.empty:
        raise ValueError("no trial has finished yet in this store: run (or resume) the suite "
                         "first")
    trials, studies = qualify_tasks(trials, studies)
    if study_ids is not None:
        keep = set(study_ids)
        trials, studies = (trials[trials["study_id"].isin(keep)],
                           studies[studies["study_id"].isin(keep)])
        if studies.empty:
            raise ValueError("none of the chosen studies is in this store")
    trials = trials.sort_values(["study_id", "trial"], kind="stable").reset_index(drop=True)
    studies = studies.sort_values("study_id", kind="stable").reset_index(drop=True)

    sign = direction_sign(trials["direction"])
    trials = trials.assign(
        value=pd.to_numeric(trials["value"], errors="coerce").astype(float),
        best_value=pd.to_numeric(trials["best_value"], errors="coerce").astype(float),
        best_test_value=pd.to_numeric(trials["best_test_value"], errors="coerce").astype(float),
    )
    trials["loss"] = np.where(trials["status"] == "ok", trials["value"].to_numpy() * sign, np.nan)
    # The trial a device-seconds budget ran out in: stopped by the harness, not by a pruner, and
    # no evaluation of its configuration (kept out of random search's pools and of pruned counts).
    trials["clipped"] = trials["error"].astype(str).str.startswith("Clipped").to_numpy()
    trials["best_loss"] = trials["best_value"].to_numpy() * sign

    rep_refs = repetition_references(trials, studies)
    references = _references(studies, rep_refs)
    trials["regret"] = regret(trials["best_loss"].to_numpy(), reference_of(trials, rep_refs))

    final = _final(trials, studies, rep_refs)
    curves = _curves(trials, studies, references)
    runners = sorted(studies["runner"].astype(str).unique())
    tasks = list(dict.fromkeys(studies["task"].astype(str)))
    return Frames(trials, studies, references, final, curves, runners, tasks, rep_refs)


def _references(studies: pd.DataFrame, rep_refs: pd.DataFrame) -> pd.DataFrame:
    """One row per task: direction, budget, and a summary of its per-repetition references."""
    summary = task_reference_summary(rep_refs).set_index("task")
    smoke = smoke_flags(studies)
    rows = []
    for task, group in studies.groupby("task", sort=False):
        own = rep_refs[rep_refs["task"] == task]
        sign = float(own["sign"].iloc[0])
        declared = own["declared_loss"].to_numpy(dtype=float)
        reference = own["reference_loss"].to_numpy(dtype=float)
        single = len(np.unique(reference[np.isfinite(reference)])) == 1 and np.isfinite(
            reference).all()
        kinds = group[["budget_kind", "budget_amount"]].drop_duplicates()
        rows.append({
            "task": task,
            "task_name": str(group["task_name"].iloc[0]),
            "direction": str(own["direction"].iloc[0]),
            "sign": sign,
            "optimum": sign * declared[0] if len(np.unique(declared)) == 1 else np.nan,
            "optimum_known": bool(np.isfinite(declared).all()),
            "optimum_exact": bool(own["optimum_exact"].all()),
            # One value where every repetition shares it; NaN where references differ by seed
            # (then only the per-repetition references apply).
            "reference_loss": float(reference[0]) if single else np.nan,
            "reference_value": sign * float(reference[0]) if single else np.nan,
            "reference_source": str(summary.loc[task, "reference_source"]),
            "reference_varies": bool(summary.loc[task, "varies"]),
            "budget_kind": str(kinds["budget_kind"].iloc[0]),
            "budget_amount": float(kinds["budget_amount"].max()),
            "equal_budgets": len(kinds) == 1,
            "n_runners": group["runner"].nunique(),
            "n_repetitions": group["repetition"].nunique(),
            "smoke": bool(smoke[group.index].any()),
        })
    return pd.DataFrame(rows).set_index("task", drop=False)


def smoke_flags(studies: pd.DataFrame) -> pd.Series:
    """The studies' ``smoke`` flag (a smoke-test task), False where the store has no such column."""
    if "smoke" not in studies.columns:
        return pd.Series(False, index=studies.index)
    return studies["smoke"].fillna(False).astype(bool)


def _repeats(studies: pd.DataFrame) -> np.ndarray:
    """Studies that repeat an earlier repetition's trial sequence exactly although their runner is
    not deterministic by design (a pinned seed, a runner that ignores it): the same run again, so
    no new evidence for a test. A deterministic runner's repetitions stay: its one result is the
    algorithm's result, and comparing it with other runners' seeds is sound."""
    if "identical_to" not in studies:
        return np.zeros(len(studies), dtype=bool)
    identical = studies["identical_to"].notna().to_numpy()
    deterministic = (studies["runner_deterministic"].fillna(False).astype(bool).to_numpy()
                     if "runner_deterministic" in studies else np.zeros(len(studies), dtype=bool))
    return identical & ~deterministic


def _final(trials: pd.DataFrame, studies: pd.DataFrame, rep_refs: pd.DataFrame) -> pd.DataFrame:
    """One row per study: the incumbent at the end of the study, failures counted as results."""
    status = trials["status"].astype(str)
    counts = pd.DataFrame({
        "study_id": trials["study_id"],
        "ok": status == "ok",
        "failed": status == "failed",
        "pruned": (status == "pruned") & ~trials["clipped"],
        "clipped": trials["clipped"],
    }).groupby("study_id").sum()
    last = trials.groupby("study_id", sort=False).tail(1).set_index("study_id")
    keep = ["study_id", "suite", "task", "runner", "runner_name", "repetition", "direction",
            "budget_kind", "budget_amount", "budget_spent", "budget_met", "status", "device"]
    final = studies[keep].copy()
    sid = final["study_id"]
    final["n_trials"] = sid.map(counts.sum(axis=1)).fillna(0).astype(int)
    final["n_ok"] = sid.map(counts["ok"]).fillna(0).astype(int)
    final["n_failed"] = sid.map(counts["failed"]).fillna(0).astype(int)
    final["n_pruned"] = sid.map(counts["pruned"]).fillna(0).astype(int)
    final["n_clipped"] = sid.map(counts["clipped"]).fillna(0).astype(int)
    final["repeat"] = _repeats(studies)
    final["final_value"] = sid.map(last["best_value"]).astype(float)
    final["final_test"] = sid.map(last["best_test_value"]).astype(float)
    final["final_loss"] = sid.map(last["best_loss"]).astype(float)
    final["final_regret"] = sid.map(last["regret"]).astype(float)
    final["no_success"] = final["final_loss"].isna()
    # Failures are results: a study without one successful trial counts as the worst final value
    # seen on its task (and as worst of all where no study of the task succeeded).
    worst = final.groupby("task")["final_loss"].transform("max")
    final["filled_loss"] = final["final_loss"].fillna(worst).fillna(0.0)
    # Scaled from the regrets, so each repetition is measured from its own reference (a seed with
    # a harder data split does not look like a worse optimiser), then to [0, 1] within the task.
    regret_col = final["final_regret"]
    worst_r = final.groupby("task")["final_regret"].transform("max")
    best_r = final.groupby("task")["final_regret"].transform("min")
    span = (worst_r - best_r).to_numpy()
    scaled = np.where(span > 0, (regret_col.fillna(worst_r) - best_r).to_numpy()
                      / np.where(span > 0, span, 1.0), 0.0)
    final["scaled_loss"] = np.where(final["no_success"], 1.0, scaled)
    final["reference_loss"] = reference_of(final, rep_refs).astype(float)
    final["reference_source"] = reference_of(final, rep_refs, "reference_source")
    return final.reset_index(drop=True)


def _step(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A step function through (x, y), x ascending, read at ``grid``: the last y with x <= point."""
    idx = np.searchsorted(x, grid, side="right") - 1
    out = y[np.clip(idx, 0, max(len(y) - 1, 0))] if len(y) else np.full(len(grid), np.nan)
    return np.where(idx >= 0, out, np.nan)


def fraction_grid(kind: str, amount: float) -> np.ndarray:
    """Budget fractions the aggregated curves are read at: one per trial for small trial budgets."""
    n = int(amount) if kind == "trials" and 0 < amount <= FRACTION_POINTS else FRACTION_POINTS
    return np.arange(1, n + 1) / n


def _curves(trials: pd.DataFrame, studies: pd.DataFrame, refs: pd.DataFrame) -> pd.DataFrame:
    """Every study's best-so-far on two grids.

    - axis ``trials``: after 1, 2, … trials (up to the most trials any study of the task ran;
      a study that stopped earlier keeps its final value);
    - axis ``budget``: at fractions of the budget; the last point is the end of the study, so a
      study whose last trial overshot the budget still ends on its final incumbent.
    """
    study_ids = trials["study_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, study_ids[1:] != study_ids[:-1]]) if len(trials) else []
    bounds = dict(zip(study_ids[starts], zip(starts, [*starts[1:], len(trials)], strict=True),
                      strict=True)) if len(trials) else {}
    loss = trials["best_loss"].to_numpy(dtype=float)
    regret = trials["regret"].to_numpy(dtype=float)
    test = trials["best_test_value"].to_numpy(dtype=float)
    spent = pd.to_numeric(trials["budget_spent"], errors="coerce").to_numpy(dtype=float)
    max_trials = trials.groupby("task")["trial"].max().add(1)

    pieces: dict[str, list[np.ndarray]] = {k: [] for k in (
        "study_id", "axis", "x", "budget", "loss", "regret", "test")}
    for row in studies.itertuples(index=False):
        lo, hi = bounds.get(row.study_id, (0, 0))
        n = hi - lo
        task_trials = int(max_trials.get(row.task, 0))
        frac = fraction_grid(str(row.budget_kind), float(row.budget_amount))
        budget_points = frac * float(row.budget_amount)
        lookup = budget_points.copy()
        if len(lookup):
            lookup[-1] = np.inf
        count = np.arange(1, n + 1, dtype=float)
        trial_grid = np.arange(1, task_trials + 1, dtype=float)
        xs_spent = np.maximum.accumulate(spent[lo:hi]) if n else spent[lo:hi]
        for axis, xs, grid, where, budget in (
            ("trials", count, trial_grid, trial_grid, trial_grid),
            ("budget", xs_spent, frac, lookup, budget_points),
        ):
            m = len(grid)
            pieces["study_id"].append(np.full(m, row.study_id))
            pieces["axis"].append(np.full(m, axis, dtype=object))
            pieces["x"].append(grid)
            pieces["budget"].append(budget)
            pieces["loss"].append(_step(xs, loss[lo:hi], where))
            pieces["regret"].append(_step(xs, regret[lo:hi], where))
            pieces["test"].append(_step(xs, test[lo:hi], where))
    curves = pd.DataFrame({k: np.concatenate(v) if v else np.array([]) for k, v in pieces.items()})
    info = studies.set_index("study_id")[["task", "runner", "repetition"]]
    for col in ("task", "runner", "repetition"):
        curves[col] = curves["study_id"].map(info[col])
    sign = curves["task"].map(refs["sign"]).to_numpy(dtype=float)
    curves["value"] = curves["loss"].to_numpy() * sign
    curves["axis"] = curves["axis"].astype(str)
    return curves[["task", "runner", "repetition", "study_id", "axis", "x", "budget",
                   "loss", "value", "regret", "test"]]
