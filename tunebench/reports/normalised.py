"""Bayesmark's normalised (mean) score, as its scoring documentation defines it.

For one problem (here: a task's repetition, or the whole task where every repetition has the same
known optimum, so random search's evaluations can be pooled), with ``opt`` its reference and
``clip`` the median of all of random search's evaluations on it (random search's median after one
evaluation; the lower median, as Bayesmark's order-statistic quantile):

- a study's score after a budget is ``(min(best so far, clip) - opt) / (clip - opt)``, clipped to
  [-1, 1]: 0 at the optimum, 1 no better than random search's first evaluation (a failed or
  diverged evaluation counts as ``clip``, so it cannot wreck the scale);
- random search's expected score after ``m`` evaluations uses the pooled estimator: the unbiased
  expected minimum of ``m`` draws from all of random search's (clipped) evaluations on the problem;
- scores are averaged over repetitions per task, then over tasks (a mean of means); Bayesmark's
  leaderboard figure is ``100 × (1 − mean)``, and ``relative_to_random`` divides the mean by random
  search's expected mean so random search reads 1.

Deviation: where the task knows its optimum, ``opt`` is that optimum (Bayesmark estimates it by the
best value any method found; tunebench uses that only where the optimum is unknown).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import gammaln

from tunebench.reports.budget_grid import carry_forward, common_fractions
from tunebench.reports.frames import Frames
from tunebench.reports.metrics import find_baseline
from tunebench.reports.references import KNOWN, reference_of
from tunebench.reports.stats import _quiet_nan_warnings, mean_ci

#: The row of the score table that averages over tasks.
ALL_TASKS = "all tasks (mean)"


def expected_min(values: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Unbiased estimate of E[min of ``m`` draws] from the sample ``values`` (without replacement).

    The i-th smallest of n values is the minimum of a random m-subset with probability
    C(n - i, m - 1) / C(n, m). NaN where m > n (no unbiased estimate) or m < 1.
    """
    x = np.sort(np.asarray(values, dtype=float))
    m = np.atleast_1d(np.asarray(m, dtype=float))
    n = len(x)
    out = np.full(m.shape, np.nan)
    valid = (m >= 1) & (m <= n)
    if n == 0 or not valid.any():
        return out
    i = np.arange(1, n + 1, dtype=float)
    mv = m[valid][:, None]
    rest = n - i[None, :]
    possible = rest >= mv - 1
    with np.errstate(invalid="ignore"):
        log_w = (gammaln(rest + 1) - gammaln(mv) - gammaln(np.maximum(rest - mv + 2, 1))
                 - (gammaln(n + 1) - gammaln(mv + 1) - gammaln(n - mv + 1)))
    weights = np.where(possible, np.exp(np.where(possible, log_w, 0.0)), 0.0)
    finite = np.isfinite(x)
    # An infinite value only ever enters with weight 0 once it has been clipped; guard anyway.
    out[valid] = np.where(weights[:, ~finite].sum(axis=1) > 0, np.inf,
                          weights[:, finite] @ x[finite])
    return out


def bayesmark_score(loss: np.ndarray, reference: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """``(min(loss, clip) - reference) / (clip - reference)`` clipped to [-1, 1]; a missing loss
    (no successful trial yet) counts as ``clip``; NaN where ``clip <= reference``."""
    loss = np.where(np.isnan(loss), clip, np.fmin(loss, clip))
    span = clip - reference
    with np.errstate(all="ignore"):
        score = np.clip((loss - reference) / np.where(span > 0, span, np.nan), -1.0, 1.0)
    return np.where(np.isfinite(span) & (span > 0), score, np.nan)


@dataclass
class NormalisedScores:
    """Bayesmark's normalised score per study, per task and over tasks."""

    baseline: str | None
    #: per (task, repetition): pooled (random search pooled over repetitions), reference_loss,
    #: clip_loss, n_random (evaluations in the pool), defined
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: task, runner, repetition, x, budget, score (on each task's own budget grid)
    over_budget: pd.DataFrame = field(default_factory=pd.DataFrame)
    final: pd.DataFrame = field(default_factory=pd.DataFrame)  # task, runner, repetition, score
    #: random search's expected score (pooled estimator): task, repetition, x, m, score
    random_expected: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: task × runner mean final score, and the mean over tasks (row :data:`ALL_TASKS`)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: per runner over the cross-task tasks: n_tasks, mean_score, bayesmark_score, relative_to_random
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    undefined_tasks: list[str] = field(default_factory=list)  # clip <= reference somewhere
    left_out_tasks: list[str] = field(default_factory=list)  # smoke tasks: not in the mean


def normalised_scores(frames: Frames) -> NormalisedScores:
    """Bayesmark's normalised score of every study, over its task's budget grid and at the end."""
    baseline = find_baseline(frames)
    if baseline is None:
        return NormalisedScores(None)
    problems = _problems(frames, baseline)
    curves = frames.curves[frames.curves["axis"] == "budget"]
    clip = reference_of(curves, problems, "clip_loss")
    ref = reference_of(curves, problems, "reference_loss")
    over_budget = curves[["task", "runner", "repetition", "x", "budget"]].assign(
        score=bayesmark_score(curves["loss"].to_numpy(dtype=float), ref, clip))
    final = frames.final
    final_scores = final[["task", "runner", "repetition"]].assign(score=bayesmark_score(
        final["final_loss"].to_numpy(dtype=float), reference_of(final, problems, "reference_loss"),
        reference_of(final, problems, "clip_loss")))
    random_expected = _random_expected(frames, baseline, problems)
    undefined = sorted(problems.loc[~problems["defined"], "task"].unique())
    cross = [t for t in frames.cross_task_tasks if t not in undefined]
    with _quiet_nan_warnings():
        table = final_scores.pivot_table(index="task", columns="runner", values="score",
                                         aggfunc="mean", sort=False).reindex(columns=frames.runners)
        table.loc[ALL_TASKS] = table.loc[[t for t in cross if t in table.index]].mean(axis=0)
    summary = _summary(table, random_expected, cross)
    return NormalisedScores(baseline, problems, over_budget, final_scores, random_expected, table,
                            summary, undefined, frames.smoke_tasks)


def _problems(frames: Frames, baseline: str) -> pd.DataFrame:
    """Per (task, repetition): its reference, random search's pool and the clip level."""
    refs = frames.repetition_references[["task", "repetition", "reference_loss",
                                         "reference_source", "declared_loss"]].copy()
    same_known = refs.groupby("task")[["reference_source", "declared_loss"]].agg(
        lambda s: s.nunique(dropna=False) == 1).all(axis=1)
    known = refs.groupby("task")["reference_source"].agg(lambda s: bool((s == KNOWN).all()))
    refs["pooled"] = refs["task"].map(same_known & known).fillna(False).astype(bool)
    t = frames.trials[(frames.trials["runner"] == baseline) & ~frames.trials["clipped"]]
    evals = pd.DataFrame({"task": t["task"], "repetition": t["repetition"],
                          "loss": t["loss"].fillna(np.inf)})  # a failed evaluation: +inf
    clip, count = [], []
    by_task = dict(tuple(evals.groupby("task", sort=False)))
    by_rep = dict(tuple(evals.groupby(["task", "repetition"], sort=False)))
    for row in refs.itertuples(index=False):
        pool = by_task.get(row.task) if row.pooled else by_rep.get((row.task, row.repetition))
        values = pool["loss"].to_numpy(dtype=float) if pool is not None else np.array([])
        count.append(len(values))
        clip.append(float(np.quantile(values, 0.5, method="inverted_cdf")) if len(values)
                    else np.nan)
    refs["clip_loss"] = clip
    refs["n_random"] = count
    refs["defined"] = np.isfinite(refs["clip_loss"]) & (refs["clip_loss"] > refs["reference_loss"])
    return refs


def _random_expected(frames: Frames, baseline: str, problems: pd.DataFrame) -> pd.DataFrame:
    """Random search's expected score at each budget point of its task (pooled estimator).

    After ``m`` evaluations, where ``m`` is the median over the pool's random-search studies of the
    trials they had finished at that point of the budget (exactly the trial count for trial budgets).
    """
    trials = frames.trials[frames.trials["runner"] == baseline]
    evaluated = trials[~trials["clipped"]]  # a clipped trial is no evaluation of its configuration
    studies = frames.studies[frames.studies["runner"] == baseline]
    curves = frames.curves[(frames.curves["axis"] == "budget")
                           & (frames.curves["runner"] == baseline)]
    grids = curves.groupby("task", sort=False)["x"].unique()
    spent = dict(tuple(evaluated.groupby("study_id", sort=False)["budget_spent"]))
    losses = dict(tuple(evaluated.assign(loss=evaluated["loss"].fillna(np.inf))
                        .groupby("task", sort=False)["loss"]))
    per_rep = dict(tuple(evaluated.assign(loss=evaluated["loss"].fillna(np.inf))
                         .groupby(["task", "repetition"], sort=False)["loss"]))
    rows = []
    for p in problems.itertuples(index=False):
        if p.task not in grids.index:
            continue
        x = np.sort(grids[p.task].astype(float))
        pool_studies = studies[(studies["task"] == p.task)
                               & (p.pooled | (studies["repetition"] == p.repetition))]
        amount = float(pool_studies["budget_amount"].max()) if len(pool_studies) else np.nan
        points = x * amount
        points[-1] = np.inf  # the end of the study, as the curves read it
        done = [np.searchsorted(np.maximum.accumulate(spent[s].to_numpy(dtype=float)), points,
                                side="right") for s in pool_studies["study_id"] if s in spent]
        m = np.median(np.vstack(done), axis=0) if done else np.full(len(x), np.nan)
        m = np.floor(m)
        pool = losses.get(p.task) if p.pooled else per_rep.get((p.task, p.repetition))
        values = np.fmin(pool.to_numpy(dtype=float), p.clip_loss) if pool is not None else []
        best = np.where(m >= 1, expected_min(values, m), np.nan)
        score = bayesmark_score(best, np.full(len(x), p.reference_loss), np.full(len(x), p.clip_loss))
        rows.append(pd.DataFrame({"task": p.task, "repetition": p.repetition, "x": x, "m": m,
                                  "score": np.where(m >= 1, score, np.where(p.defined, 1.0, np.nan))}))
    columns = ["task", "repetition", "x", "m", "score"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)


def _summary(table: pd.DataFrame, random_expected: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Per runner: the mean over tasks of the final score, Bayesmark's 100 × (1 − mean), and the
    mean relative to random search's expected mean (random search = 1)."""
    rows = table.loc[[t for t in tasks if t in table.index]]
    end = (random_expected[random_expected["task"].isin(tasks)]
           .sort_values("x").groupby(["task", "repetition"]).tail(1))
    with _quiet_nan_warnings():
        random_mean = float(end.groupby("task")["score"].mean().mean()) if len(end) else np.nan
        mean = rows.mean(axis=0)
    return pd.DataFrame({
        "runner": list(table.columns), "n_tasks": rows.notna().sum(axis=0).to_numpy(),
        "mean_score": mean.to_numpy(dtype=float),
        "bayesmark_score": 100.0 * (1.0 - mean.to_numpy(dtype=float)),
        "relative_to_random": mean.to_numpy(dtype=float) / random_mean if random_mean > 0
        else np.nan,
        "random_expected": random_mean,
    })


def normalised_score_curve(frames: Frames, scores: NormalisedScores,
                           level: float = 0.95) -> pd.DataFrame:
    """Mean normalised score over tasks per runner on the common budget grid.

    Each task's score is first averaged over its repetitions, then over the cross-task tasks
    (smoke tasks and tasks with an undefined score left out), so every point averages the same
    tasks. The band is the Student-t interval over tasks, Bayesmark's error bar for its grand mean
    (NaN with one task), clipped to the score's range [0, 1] (references are never beaten, so no
    score is below 0). Columns: runner, x, center, lo, hi, n_tasks; ``random_expected`` rows
    (runner ``None``) carry random search's expected score.
    """
    tasks = [t for t in frames.cross_task_tasks if t not in scores.undefined_tasks]
    columns = ["runner", "x", "center", "lo", "hi", "n_tasks", "random_expected"]
    over = scores.over_budget
    if over.empty or not tasks:
        return pd.DataFrame(columns=columns)
    over = over[over["task"].isin(tasks)]
    grid = common_fractions(over)
    study = carry_forward(over, grid, ["task", "runner", "repetition"], ["score"])
    random = carry_forward(scores.random_expected[scores.random_expected["task"].isin(tasks)],
                           grid, ["task", "repetition"], ["score"])
    with _quiet_nan_warnings():
        per_task = study.groupby(["runner", "x", "task"])["score"].mean()
        random_curve = random.groupby(["x", "task"])["score"].mean().groupby(level="x").mean()
    out = []
    for (runner, x), values in per_task.groupby(level=["runner", "x"], sort=False):
        mean, lo, hi = mean_ci(values.to_numpy(dtype=float), level)
        out.append((runner, x, mean, max(lo, 0.0), min(hi, 1.0), int(values.notna().sum())))
    curve = pd.DataFrame(out, columns=columns[:-1])
    curve["random_expected"] = curve["x"].map(random_curve)
    return curve.sort_values(["runner", "x"], kind="stable").reset_index(drop=True)
