"""`tunebench show`: a summary table of a results store (task × runner → best value ± std)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tunebench.cli.common import console, user_errors


def summary_frame(db: Path):  # -> pd.DataFrame
    """Per (task, runner): mean and std over repetitions of the final best value, and counts."""
    from tunebench.suite.store import load_studies, load_trials

    trials = load_trials(db)
    studies = load_studies(db)
    final = trials.groupby("study_id").agg(best=("best_value", "last"),
                                           test=("best_test_value", "last"))
    frame = studies.join(final, on="study_id")
    grouped = frame.groupby(["suite", "task", "runner"], sort=False)
    return grouped.agg(
        direction=("direction", "first"), reps=("repetition", "count"),
        done=("status", lambda s: int((s == "done").sum())),
        best_mean=("best", "mean"), best_std=("best", "std"),
        test_mean=("test", "mean"), trials=("n_trials", "sum"), failed=("n_failed", "sum"),
        budget=("budget_amount", "first"), budget_kind=("budget_kind", "first"),
        optimum=("optimum", "first"), exact=("optimum_is_exact", "first"),
        identical=("identical_to", lambda s: int(s.notna().sum())),
    ).reset_index()


def show(db: Path = typer.Option(Path("results.db"), "--db", help="Results store.")) -> None:
    """Summarise a results store: mean best value ± std over repetitions, per task and runner.

    The best value in each task is bold (lowest for minimised metrics, highest for maximised).
    """
    with user_errors():
        frame = summary_frame(db)
    if frame.empty:
        console.print(f"{db} holds no studies yet.")
        return
    for (suite, task), rows in frame.groupby(["suite", "task"], sort=False):
        direction = rows["direction"].iloc[0]
        best = rows["best_mean"].min() if direction == "minimize" else rows["best_mean"].max()
        first = rows.iloc[0]
        optimum = ""
        if first["optimum"] == first["optimum"]:  # not NaN
            optimum = (", optimum " if first["exact"] else ", reference ") + f"{first['optimum']:.6g}"
        table = Table(title=f"{suite} · {task} ({direction}, budget {first['budget']:g} "
                            f"{first['budget_kind']}{optimum})", title_justify="left")
        for column in ("runner", "best (validation)", "± std", "incumbent test", "studies",
                       "trials", "failed"):
            table.add_column(column, justify="left" if column == "runner" else "right")
        for row in rows.itertuples():
            value = f"{row.best_mean:.5g}"
            if row.best_mean == best:
                value = f"[bold]{value}[/]"
            table.add_row(row.runner, value, f"{row.best_std:.2g}" if row.reps > 1 else "—",
                          f"{row.test_mean:.5g}", f"{row.done}/{row.reps}"
                          + (f" [yellow]({row.identical} identical)[/]" if row.identical else ""),
                          str(row.trials),
                          str(row.failed) if row.failed else "")
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("show")(show)
