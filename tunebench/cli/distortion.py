"""`tunebench distortion`: do the runners rank the same on a table's replay and on the real task?"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tunebench.cli.common import console, fail, user_errors


def distortion(
    replay: Path = typer.Option(..., "--replay", help="The store of the suite run on the replay "
                                "(a table task, e.g. table/linreg)."),
    real: Path = typer.Option(..., "--real", help="The store of the same runners on the real task "
                              "(a small budget is enough)."),
    pair: list[str] = typer.Option([], "--pair", help="REPLAY_TASK=REAL_TASK, when their labels "
                                   "differ and the table does not name its task; repeatable."),
    alpha: float = typer.Option(0.05, help="Significance level of the pairwise tests."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Rank the runners on a replay and on the real task, side by side: Kendall's tau between
    the rankings, and which pairwise conclusions flip (with both sides' Mann-Whitney p-values).

    Example: tunebench distortion --replay replay.db --real real.db
    """
    from tunebench.reports.distortion import as_dict, describe
    from tunebench.reports.distortion import distortion as compare

    pairs = {}
    for item in pair:
        replay_task, sep, real_task = item.partition("=")
        if not sep or not replay_task or not real_task:
            fail(f"--pair {item!r}: write REPLAY_TASK=REAL_TASK, e.g. table/linreg=linreg")
        pairs[replay_task] = real_task
    for option, path in (("--replay", replay), ("--real", real)):
        if not path.is_file():
            fail(f"{option} {path}: no such results store")
    with user_errors():
        results = compare(replay, real, pairs)
    if not results:
        fail("no task of the replay store matches one of the real store: name them with --pair "
             "REPLAY_TASK=REAL_TASK")
    if as_json:
        print(json.dumps(as_dict(results, alpha), indent=2))
        return
    for line in describe(results, alpha):
        console.print(line, highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("distortion")(distortion)
