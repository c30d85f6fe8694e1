"""Does a table tell the truth? Runners ranked on a replay and on the real task, side by side.

A tabular or surrogate benchmark is only as good as the conclusions it preserves. For each task
run both ways — a replay (``table/linreg``) in one store, the real task (``linreg``, usually at a
small budget) in another — this compares what a user would conclude:

- each runner's **mean final best value** over its repetitions, and the **ranking** it gives on
  each side; **Kendall's τ** between the two rankings (scipy's τ-b, ties handled) with its p-value;
- every **pair of runners**: which is better on each side, with a two-sided Mann–Whitney U test
  of their final best values per side (the report's own test of a pairwise difference), and
  whether the conclusion **flips** — the better runner differs — and whether it flips with both
  sides significant at ``alpha`` (a contradiction, not noise).

Pairs are matched by runner label; tasks by their label, or a replay's table names the real task
it was built from (``TableTask.source_task``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from tunebench.suite.loading import load_trials


@dataclass
class PairVerdict:
    a: str
    b: str
    better_replay: str
    better_real: str
    p_replay: float
    p_real: float

    @property
    def flips(self) -> bool:
        return self.better_replay != self.better_real

    def contradicts(self, alpha: float) -> bool:
        return self.flips and self.p_replay < alpha and self.p_real < alpha


@dataclass
class TaskDistortion:
    replay_task: str
    real_task: str
    means: pd.DataFrame  # runner × (replay, real): mean final best value
    direction: str
    tau: float
    p_tau: float
    pairs: list[PairVerdict] = field(default_factory=list)


def final_best(trials: pd.DataFrame) -> pd.DataFrame:
    """Each study's final best value: (task, runner, repetition, best, direction)."""
    last = trials.sort_values("trial").groupby("study_id").tail(1)
    return last[["task", "task_name", "runner", "repetition", "best_value", "direction"]]


def _better(a: str, b: str, means: pd.Series, direction: str) -> str:
    if means[a] == means[b]:
        return "tie"
    lower = means[a] < means[b]
    return a if lower == (direction == "minimize") else b


def _p(x: pd.Series, y: pd.Series) -> float:
    if len(x) < 2 or len(y) < 2 or (x.nunique() == 1 and y.nunique() == 1 and x.iloc[0] == y.iloc[0]):
        return 1.0
    return float(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)


def compare_task(replay: pd.DataFrame, real: pd.DataFrame) -> tuple[pd.DataFrame, float, float,
                                                                    list[PairVerdict]]:
    """The comparison for one task: ``replay`` and ``real`` are :func:`final_best` rows."""
    direction = str(real["direction"].iloc[0])
    runners = sorted(set(replay["runner"]) & set(real["runner"]))
    sides = {"replay": replay, "real": real}
    means = pd.DataFrame({side: frame[frame.runner.isin(runners)].groupby("runner")["best_value"]
                          .mean() for side, frame in sides.items()}).loc[runners]
    if len(runners) >= 2:
        tau, p_tau = stats.kendalltau(means["replay"], means["real"])
    else:
        tau, p_tau = float("nan"), float("nan")
    pairs = []
    for a, b in combinations(runners, 2):
        values = {side: (frame[frame.runner == a]["best_value"], frame[frame.runner == b]["best_value"])
                  for side, frame in sides.items()}
        pairs.append(PairVerdict(a, b, _better(a, b, means["replay"], direction),
                                 _better(a, b, means["real"], direction),
                                 _p(*values["replay"]), _p(*values["real"])))
    return means, float(tau), float(p_tau), pairs


def _source_task(task_name: str) -> str | None:
    from tunebench.registry import make_task

    try:
        return getattr(make_task(task_name), "source_task", None)
    except Exception:  # a task that cannot be built by default names no source
        return None


def distortion(replay_db: str | Path, real_db: str | Path,
               pairs: dict[str, str] | None = None) -> list[TaskDistortion]:
    """Compare every task of the replay store with its real counterpart (see module doc)."""
    replay, real = final_best(load_trials(replay_db)), final_best(load_trials(real_db))
    matched = dict(pairs or {})
    real_by_name = dict(zip(real["task_name"], real["task"], strict=False))
    for label, name in dict(zip(replay["task"], replay["task_name"], strict=False)).items():
        if label in matched:
            continue
        if label in set(real["task"]):
            matched[label] = label
        elif (source := _source_task(name)) in real_by_name:
            matched[label] = real_by_name[source]
    out = []
    for replay_task, real_task in matched.items():
        means, tau, p_tau, verdicts = compare_task(replay[replay.task == replay_task],
                                                   real[real.task == real_task])
        direction = str(real[real.task == real_task]["direction"].iloc[0])
        out.append(TaskDistortion(replay_task, real_task, means, direction, tau, p_tau, verdicts))
    return out


def describe(results: list[TaskDistortion], alpha: float = 0.05) -> list[str]:
    """The comparison as lines of text (at most 80 columns)."""
    lines: list[str] = []
    for r in results:
        flips = [p for p in r.pairs if p.flips]
        contradictions = [p for p in flips if p.contradicts(alpha)]
        lines.append(f"{r.replay_task} (replay) vs {r.real_task} (real): Kendall's tau = "
                     f"{r.tau:.2f} (p = {r.p_tau:.2g}); {len(flips)} of {len(r.pairs)} pairwise "
                     f"conclusions flip, {len(contradictions)} with both sides significant")
        ascending = r.direction == "minimize"
        ranks = r.means.rank(ascending=ascending)
        for runner, row in r.means.iterrows():
            lines.append(f"  {runner:24} replay {row['replay']:<11.5g} (#{ranks.at[runner, 'replay']:.0f})"
                         f"  real {row['real']:<11.5g} (#{ranks.at[runner, 'real']:.0f})")
        for p in flips:
            lines.append(f"  flips: {p.a} vs {p.b}: replay says {p.better_replay} (p = "
                         f"{p.p_replay:.2g}), real says {p.better_real} (p = {p.p_real:.2g})")
    return lines


def as_dict(results: list[TaskDistortion], alpha: float = 0.05) -> list[dict[str, Any]]:
    return [{"replay_task": r.replay_task, "real_task": r.real_task, "kendall_tau": r.tau,
             "kendall_p": r.p_tau, "means": r.means.to_dict(orient="index"),
             "pairs": [{"a": p.a, "b": p.b, "better_replay": p.better_replay,
                        "better_real": p.better_real, "p_replay": p.p_replay, "p_real": p.p_real,
                        "flips": p.flips, "contradicts": p.contradicts(alpha)} for p in r.pairs]}
            for r in results]
