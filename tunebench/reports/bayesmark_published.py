"""Studies on Bayesmark's problems scored against Bayesmark's own published random-search baseline.

:mod:`tunebench.reports.normalised` scores a suite against the random search *in the same store*;
this module uses the numbers the BBO challenge 2020 published instead (``baseline-16-8.json``, see
:mod:`tunebench.tasks.bayesmark_baseline`), so a tunebench study on ``bayesmark/<problem>`` reads on
the challenge's scale. A study's trials, in order, are cut into batches of 8 (the challenge's 16
iterations × 8): after batch t the incumbent is the best visible loss so far (for the
``generalization`` objective, the test loss of that incumbent), a failed trial counts as +inf, and
the score is Bayesmark's ``(min(incumbent, clip) − best) / (clip − best)`` clipped to [−1, 1] with the
published ``clip`` and ``best``. :func:`published_summary` averages over repetitions, then problems,
and gives the leaderboard's ``100 · (1 − mean)``.

:func:`random_search_agreement` puts tunebench's random search beside the published random-search
means: per problem and iteration, the mean over repetitions of the clipped incumbent, its standard
error, and the pooled estimate Bayesmark itself used (:func:`~tunebench.reports.normalised.expected_min`
over every evaluation of the problem).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tunebench.reports.normalised import bayesmark_score, expected_min
from tunebench.tasks.bayesmark import parse_problem
from tunebench.tasks.bayesmark_baseline import BATCH_SIZE, baseline

__all__ = ["incumbents", "published_scores", "published_summary", "random_search_agreement"]

FAMILY = "bayesmark/"


def _losses(values: pd.Series, status: pd.Series) -> np.ndarray:
    """A study's losses in trial order, a failed or non-finite one as +inf."""
    losses = values.to_numpy(dtype=float, na_value=np.nan)
    return np.where((status.to_numpy() == "ok") & np.isfinite(losses), losses, np.inf)


def incumbents(losses: np.ndarray, tests: np.ndarray | None = None,
               batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The incumbent after each complete batch: the best loss so far, or (with ``tests``) the test
    loss of the first trial that reached it. A trailing partial batch is left out."""
    batches = len(losses) // batch_size
    keys = np.asarray(losses[:batches * batch_size], dtype=float)
    if tests is None:
        return np.minimum.accumulate(keys.reshape(batches, batch_size).min(axis=1)) if batches else keys
    out, best, held = np.empty(batches), math.inf, math.inf
    for i, key in enumerate(keys):
        if key < best:
            best, held = key, float(tests[i])
        if (i + 1) % batch_size == 0:
            out[i // batch_size] = held
    return out


def _problem(task_name: str) -> str | None:
    if not task_name.startswith(FAMILY):
        return None
    model, dataset, metric = parse_problem(task_name[len(FAMILY):])
    return f"{model}-{dataset}-{metric}"


def published_scores(trials: pd.DataFrame, batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """Per study on a ``bayesmark/<problem>`` task and per batch: the visible and generalization
    scores against the published baseline. ``trials`` is :func:`tunebench.suite.loading.load_trials`'s
    frame. Columns: task, problem, runner, repetition, iteration, evaluations, visible_score,
    generalization_score."""
    rows = []
    for (task, name, runner, rep), study in trials.sort_values("trial").groupby(
            ["task", "task_name", "runner", "repetition"], sort=False):
        problem = _problem(str(name))
        if problem is None:
            continue
        losses = _losses(study["value"], study["status"])
        tests = np.where(np.isfinite(losses), study["test_value"].to_numpy(dtype=float, na_value=np.nan),
                         np.inf)
        visible, general = baseline(problem), baseline(problem, "generalization")
        seen = incumbents(losses, batch_size=batch_size)
        held = incumbents(losses, tests, batch_size)
        for t in range(len(seen)):
            rows.append((task, problem, runner, rep, t, batch_size * (t + 1),
                         float(bayesmark_score(np.array(seen[t]), np.array(visible.best),
                                               np.array(visible.clip))),
                         float(bayesmark_score(np.array(held[t]), np.array(general.best),
                                               np.array(general.clip)))))
    return pd.DataFrame(rows, columns=["task", "problem", "runner", "repetition", "iteration",
                                       "evaluations", "visible_score", "generalization_score"])


def published_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per runner and iteration: the mean score over repetitions, then problems (both objectives),
    the number of problems, and the leaderboard figure ``100 · (1 − visible mean)``."""
    per_task = scores.groupby(["runner", "iteration", "task"], sort=False)[
        ["visible_score", "generalization_score"]].mean()
    summary = per_task.groupby(level=["runner", "iteration"], sort=False).agg(["mean", "count"])
    out = pd.DataFrame({
        "visible": summary[("visible_score", "mean")],
        "generalization": summary[("generalization_score", "mean")],
        "problems": summary[("visible_score", "count")],
    }).reset_index()
    out["leaderboard"] = 100.0 * (1.0 - out["visible"])
    return out


def random_search_agreement(trials: pd.DataFrame, runner: str = "random",
                            batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """tunebench's random search beside the published random-search mean, per problem and batch.

    Columns: task, problem, iteration, evaluations, repetitions, mean (of ``min(clip, incumbent)``
    over repetitions: what Bayesmark's analysis reports for a method), se (its standard error),
    pooled (Bayesmark's own estimator, the expected minimum of that many clipped draws from all of
    the runner's evaluations on the problem), pooled_se (its jackknife standard error, leaving out
    one repetition at a time), published, z = (mean − published) / se."""
    rows = []
    mine = trials[trials["runner"] == runner].sort_values("trial")
    for (task, name), group in mine.groupby(["task", "task_name"], sort=False):
        problem = _problem(str(name))
        if problem is None:
            continue
        reference = baseline(problem)
        studies = [_losses(s["value"], s["status"]) for _, s in group.groupby("repetition", sort=True)]
        curves = np.vstack([np.fmin(incumbents(s, batch_size=batch_size), reference.clip)
                            for s in studies])
        clipped = [np.fmin(s, reference.clip) for s in studies]
        pool = np.concatenate(clipped)
        n = len(studies)
        sizes = batch_size * np.arange(1, min(curves.shape[1], len(reference.mean)) + 1)
        pooled = expected_min(pool, sizes)
        leave_out = np.array([expected_min(np.concatenate(clipped[:i] + clipped[i + 1:]), sizes)
                              for i in range(n)]) if n > 1 else np.full((1, len(sizes)), np.nan)
        pooled_se = np.sqrt((n - 1) / n * ((leave_out - leave_out.mean(axis=0)) ** 2).sum(axis=0))
        for t in range(len(sizes)):
            column = curves[:, t]
            mean = float(column.mean())
            se = float(column.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
            published = reference.mean[t]
            z = (mean - published) / se if se > 0 else (0.0 if mean == published else math.inf)
            rows.append((task, problem, t, int(sizes[t]), n, mean, se, float(pooled[t]),
                         float(pooled_se[t]), published, z))
    return pd.DataFrame(rows, columns=["task", "problem", "iteration", "evaluations", "repetitions",
                                       "mean", "se", "pooled", "pooled_se", "published", "z"])
