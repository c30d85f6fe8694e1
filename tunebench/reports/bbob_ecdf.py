"""The runtime ECDF of BBOB tasks as COCO draws it: against evaluations, with fixed Δf targets.

For ``bbob/f<k>`` tasks the regret is COCO's precision Δf = f − f_opt (the task's optimum is the
instance's exact f_opt). COCO's runtime of a run for a target Δf_t is the number of evaluations
until the best Δf so far is at or below Δf_t (infinite if never); its ECDF at a budget b is the
fraction of all (function, instance, target) triples — here (task, repetition, target): a
repetition is a run on the task's instance — whose runtime is at most b, pooled over functions
of one dimension, with COCO's 51 standard targets Δf = 10^2, 10^1.8, …, 10^-8
(:data:`tunebench.reports.ecdf.DELTA_F_TARGETS`). The x axis is evaluations divided by the
dimension, on a log scale, one figure per dimension (COCO never pools dimensions).

Unlike the report's cross-task ECDF (:mod:`tunebench.reports.ecdf`), which reads every task on
fractions of its budget, this one counts evaluations, so it can be compared with COCO's
published ECDFs of the same functions at the same budgets.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from tunebench.reports.ecdf import DELTA_F_TARGETS
from tunebench.reports.frames import Frames
from tunebench.reports.references import reference_of

#: Task names of COCO's BBOB functions (``bbob/f1`` … ``bbob/f24``).
PREFIX = "bbob/f"


def _default_dim() -> int:
    from tunebench.tasks.bbob import BBOBFunction

    return int(inspect.signature(BBOBFunction.__init__).parameters["dim"].default)


def bbob_tasks(frames: Frames) -> pd.DataFrame:
    """The BBOB tasks of the report: task (label), function (``f8``), dim, and whether every
    repetition's optimum is declared exact (else the task is left out: Δf is not COCO's)."""
    rows = []
    studies = frames.studies
    for task in frames.tasks:
        own = studies[studies["task"] == task]
        name = str(own["task_name"].iloc[0])
        if not name.startswith(PREFIX):
            continue
        options = own["task_options"].iloc[0]
        dim = options.get("dim") if isinstance(options, dict) else None
        refs = frames.repetition_references
        exact = refs[refs["task"] == task]
        rows.append({"task": task, "function": name[len("bbob/"):],
                     "dim": int(dim) if dim is not None else _default_dim(),
                     "exact": bool(len(exact) and exact["optimum_exact"].all()
                                   and np.isfinite(exact["declared_loss"]).all())})
    return pd.DataFrame(rows, columns=["task", "function", "dim", "exact"])


def runtimes(frames: Frames, tasks: list[str],
             targets: np.ndarray = DELTA_F_TARGETS) -> pd.DataFrame:
    """Per (task, runner, repetition, target): the evaluations until Δf ≤ target (inf if never).

    Every stored trial is an evaluation (a failed one too); Δf is the best-so-far value minus the
    repetition's declared f_opt. Columns: task, runner, repetition, study_id, target, runtime.
    """
    trials = frames.trials[frames.trials["task"].isin(tasks)]
    declared = reference_of(trials, frames.repetition_references, "declared_loss")
    trials = trials.assign(delta_f=trials["best_loss"].to_numpy(dtype=float) - declared)
    pieces = []
    for (task, runner, repetition, study_id), study in trials.groupby(
            ["task", "runner", "repetition", "study_id"], sort=False):
        delta = study.sort_values("trial", kind="stable")["delta_f"].to_numpy(dtype=float)
        delta = np.where(np.isnan(delta), np.inf, delta)  # no success yet: no target reached
        # delta is non-increasing: the first evaluation at or below each target, by bisection.
        hit = len(delta) - np.searchsorted(delta[::-1], targets, side="right")
        runtime = np.where(hit < len(delta), hit + 1.0, np.inf)
        pieces.append(pd.DataFrame({"task": task, "runner": runner, "repetition": repetition,
                                    "study_id": study_id, "target": targets,
                                    "runtime": runtime}))
    columns = ["task", "runner", "repetition", "study_id", "target", "runtime"]
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=columns)


def runtime_ecdf(times: pd.DataFrame, dims: dict[str, int]) -> pd.DataFrame:
    """Per dimension and runner, the fraction of (task, repetition, target) triples whose runtime
    is at most b, at every b = 1 … the most evaluations seen; x = b / dim.

    Columns: dim, runner, evaluations, x, fraction, n_triples, n_functions.
    """
    out = []
    times = times.assign(dim=times["task"].map(dims))
    for (dim, runner), group in times.groupby(["dim", "runner"], sort=True):
        runtime = np.sort(group["runtime"].to_numpy(dtype=float))
        most = _evaluations(times, dim)
        budgets = np.arange(1, most + 1, dtype=float)
        fraction = np.searchsorted(runtime, budgets, side="right") / len(runtime)
        out.append(pd.DataFrame({"dim": int(dim), "runner": runner, "evaluations": budgets,
                                 "x": budgets / float(dim), "fraction": fraction,
                                 "n_triples": len(runtime),
                                 "n_functions": group["task"].nunique()}))
    columns = ["dim", "runner", "evaluations", "x", "fraction", "n_triples", "n_functions"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def _evaluations(times: pd.DataFrame, dim: int) -> int:
    """The most evaluations any study of this dimension ran (stored as ``n_evaluations``)."""
    return int(times.loc[times["dim"] == dim, "n_evaluations"].max())


def bbob_ecdf(frames: Frames) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the ECDF, the runtimes, the BBOB tasks) of the report's BBOB tasks with exact optima."""
    tasks = bbob_tasks(frames)
    usable = tasks[tasks["exact"].astype(bool)]
    times = runtimes(frames, list(usable["task"]))
    if times.empty:
        return runtime_ecdf(times.assign(n_evaluations=pd.Series(dtype=int)), {}), times, tasks
    counts = frames.trials.groupby("study_id").size()
    times = times.assign(n_evaluations=times["study_id"].map(counts).astype(int))
    dims = dict(zip(usable["task"], usable["dim"], strict=True))
    return runtime_ecdf(times, dims), times.drop(columns="n_evaluations"), tasks
