"""`tunebench show`: what a results store found, per task and runner, readable at 80 columns.

Each study is measured against its own reference — the known optimum of its (task, repetition),
or the best value any runner reached in that repetition — because tasks such as linreg draw a
different split, and so a different optimum, per repetition. The spread shown is of paired
differences against random search within each repetition (which measures the optimisers), never a
standard deviation over repetitions (which would mostly measure the splits).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich import box
from rich.table import Table

from tunebench.cli.common import console, user_errors

#: The runner the paired differences are taken against.
BASELINE = "random"


def repetition_references(trials: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Per (suite, task, repetition): the loss regrets are measured from, and where it comes from.

    The study's optimum where the task knows it for that repetition's seed (a reference optimum
    that is not proven exact gives way to a better value seen in that repetition); else the best
    value any runner reached in that repetition. Losses are values in the minimising direction.
    """
    keys = ["suite", "task", "repetition"]
    ok = trials[trials["status"].astype(str) == "ok"]
    seen = ok.assign(loss=_loss(ok, "value")).groupby(keys)["loss"].min()
    exact = trials.groupby("study_id")["optimum_is_exact"].first()
    rows = []
    for key, group in studies.groupby(keys, sort=False):
        sign = -1.0 if str(group["direction"].iloc[0]) == "maximize" else 1.0
        optimum = pd.to_numeric(group["optimum"], errors="coerce").dropna()
        best = float(seen.get(key, np.nan))
        if len(optimum) and math.isfinite(float(optimum.iloc[0])):
            ref, source = sign * float(optimum.iloc[0]), "optimum"
            proven = bool(exact.get(group["study_id"].iloc[0], True))
            if not proven and math.isfinite(best) and best < ref:
                ref, source = best, "best seen"
        else:
            ref, source = best, "best seen"
        rows.append({**dict(zip(keys, key, strict=True)), "reference_loss": ref, "source": source})
    return pd.DataFrame(rows, columns=[*keys, "reference_loss", "source"])


def _loss(frame: pd.DataFrame, column: str) -> np.ndarray:
    sign = np.where(frame["direction"].astype(str).to_numpy() == "maximize", -1.0, 1.0)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float) * sign


def study_regrets(trials: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """One row per study: its final best value, test value and regret against its own reference.

    A (suite, task, runner, repetition) recorded twice counts once: its latest study."""
    studies = studies.sort_values("study_id").drop_duplicates(
        ["suite", "task", "runner", "repetition"], keep="last")
    last = trials.groupby("study_id").tail(1).set_index("study_id")
    frame = studies.join(last[["best_value", "best_test_value"]], on="study_id")
    refs = repetition_references(trials, studies)
    frame = frame.merge(refs, on=["suite", "task", "repetition"], how="left")
    loss = _loss(frame, "best_value")
    frame["regret"] = np.maximum(loss - frame["reference_loss"].to_numpy(dtype=float), 0.0)
    return frame


def paired_difference(regrets: pd.DataFrame, runner: str, baseline: str) -> tuple[float, float, int]:
    """Mean of (runner's regret − baseline's regret) over the repetitions both have, and the
    half-width of its 95% Student-t interval (NaN below two pairs); and the number of pairs."""
    from scipy import stats

    wide = regrets.pivot_table(index="repetition", columns="runner", values="regret",
                               aggfunc="first")
    if runner not in wide or baseline not in wide:
        return math.nan, math.nan, 0
    diff = (wide[runner] - wide[baseline]).dropna().to_numpy(dtype=float)
    if len(diff) == 0:
        return math.nan, math.nan, 0
    if len(diff) < 2:
        return float(diff.mean()), math.nan, 1
    half = float(stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff)))
    return float(diff.mean()), half, len(diff)


def summary_frame(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (suite, task, runner): mean regret against each repetition's own reference, the paired
    difference against random search, counts; and the best configuration of each."""
    from tunebench.reports.best_config import best_configurations
    from tunebench.suite.store import load_studies, load_trials

    trials, studies = load_trials(db), load_studies(db)
    regrets = study_regrets(trials, studies)
    rows = []
    for (suite, task, runner), group in regrets.groupby(["suite", "task", "runner"], sort=False):
        same_task = regrets[(regrets["suite"] == suite) & (regrets["task"] == task)]
        mean, half, pairs = paired_difference(same_task, runner, BASELINE)
        rows.append({
            "suite": suite, "task": task, "runner": runner,
            "direction": group["direction"].iloc[0], "reps": group["repetition"].nunique(),
            "done": int((group["status"] == "done").sum()), "studies": len(group),
            "regret": float(group["regret"].mean()),
            "delta": mean, "delta_half": half, "pairs": pairs,
            "test": float(pd.to_numeric(group["best_test_value"], errors="coerce").mean()),
            "trials": int(group["n_trials"].sum()), "failed": int(group["n_failed"].sum()),
            "budget": group["budget_amount"].iloc[0], "budget_kind": group["budget_kind"].iloc[0],
            "source": ", ".join(sorted(set(group["source"].dropna()))),
        })
    best = best_configurations(trials, keys=("suite", "task", "runner"))
    return pd.DataFrame(rows), best


def _number(value: float, digits: int = 4) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}g}"


def _delta(row) -> str:
    if row.runner == BASELINE:
        return "baseline"
    if not math.isfinite(row.delta):
        return "—"
    if not math.isfinite(row.delta_half):
        return f"{row.delta:+.3g}".replace("-", "−")
    text = f"{row.delta:+.3g} ± {row.delta_half:.2g}".replace("-", "−")
    return f"[bold]{text}[/]" if abs(row.delta) > row.delta_half else text


def show(db: Path = typer.Option(Path("results.db"), "--db", help="Results store.")) -> None:
    """Summarise a results store: per task and runner, the mean regret against each repetition's
    own reference, the paired difference against random search, and the best configuration.

    "Δ vs random" is the mean over repetitions of (runner's regret − random search's regret in the
    same repetition) ± the half-width of its 95% t interval: bold where the interval excludes 0.
    """
    from tunebench.reports.best_config import format_config

    with user_errors():
        frame, best = summary_frame(db)
    if frame.empty:
        console.print(f"{db} holds no studies yet.")
        return
    has_baseline = BASELINE in set(frame["runner"])
    for (suite, task), rows in frame.groupby(["suite", "task"], sort=False):
        first = rows.iloc[0]
        sources = {s for text in rows["source"] for s in text.split(", ") if s}
        reference = {frozenset({"optimum"}): "the optimum of each repetition",
                     frozenset({"best seen"}): "the best value seen in each repetition"}.get(
            frozenset(sources), "each repetition's reference optimum, or the best value seen "
                                "where a run beat it")
        table = Table(title=f"{suite} · {task}: {first['direction']}, budget {first['budget']:g} "
                            f"{first['budget_kind']}; regret from {reference}",
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        headers = ["runner", "mean regret"] + (["Δ vs random"] if has_baseline else []) + \
            ["mean test", "studies", "failed"]
        longest = min(14, max(len(str(r)) for r in rows["runner"]))
        for column in headers:
            table.add_column(column, justify="left" if column == "runner" else "right",
                             overflow="fold", min_width=longest if column == "runner" else None)
        for row in rows.itertuples():
            cells = [row.runner, _number(row.regret)] + ([_delta(row)] if has_baseline else [])
            table.add_row(*cells, _number(row.test), f"{row.done}/{row.studies}",
                          f"{row.failed}/{row.trials}" if row.failed else "")
        console.print(table)
        if not has_baseline:
            console.print("No random-search runner: regrets are means over repetitions, no "
                          "spread is shown (a spread over repetitions would measure the splits).")
        configs = Table(title="best configuration (best validation value over all repetitions)",
                        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("runner", "value", "rep", "configuration"):
            configs.add_column(column, justify="left" if column in ("runner", "configuration")
                               else "right", overflow="fold")
        part = best[(best["suite"] == suite) & (best["task"] == task)].set_index("runner")
        part = part.reindex([r for r in rows["runner"] if r in part.index]).reset_index()
        for row in part.itertuples():
            configs.add_row(row.runner, _number(float(row.value), 5), str(row.repetition),
                            format_config(row.config))
        console.print(configs)


def register(app: typer.Typer) -> None:
    app.command("show")(show)
