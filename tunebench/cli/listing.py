"""`tunebench list tasks|runners`: what exists, with a one-line description each."""

from __future__ import annotations

import typer
from rich.table import Table

from tunebench.cli.common import console, fail


def list_things(
    what: str = typer.Argument(..., help="tasks or runners"),
) -> None:
    """List the tasks or runners tunebench can find (built-ins, installed plugins)."""
    from tunebench import registry

    if what in ("task", "tasks"):
        classes, broken = registry.all_tasks()
        table = Table("task", "metric", "direction", "fidelity", "optimum", "description",
                      title="Tasks")
        for name, cls in classes.items():
            table.add_row(name, cls.metric, str(cls.direction), str(cls.max_fidelity), _optimum(name),
                          cls.description)
    elif what in ("runner", "runners"):
        classes, broken = registry.all_runners()
        table = Table("runner", "library", "version", "family", "conditional", "int", "log",
                      "pruning", "batch", "exact resume", "description", title="Runners")
        mark = {True: "✓", False: "·"}
        for name, cls in classes.items():
            caps = cls.capabilities
            table.add_row(name, caps.library, cls.version(), caps.family, mark[caps.conditional],
                          mark[caps.integer], mark[caps.log], mark[caps.pruning],
                          mark[caps.batch], mark[caps.exact_replay],
                          cls.description + (f" [dim]({caps.notes})[/]" if caps.notes else ""))
    else:
        fail(f"cannot list {what!r}: choose `tasks` or `runners`")
        return
    console.print(table)
    for name, message in broken.items():
        console.print(f"[red]unavailable[/] {name}: {message}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("list")(list_things)


def _optimum(name: str) -> str:
    """The default instance's exact optimum; a reference (a fit on each seed's own split, e.g.
    linreg's lasso path) is named, not computed: a listing must stay instant."""
    from tunebench.registry import make_task

    try:
        task = make_task(name)
        if not task.optimum_is_exact:
            return "reference, per seed"
        optimum = task.optimum
    except Exception:  # listing must not fail because one task cannot be built with defaults
        return "?"
    return "—" if optimum is None else f"{optimum:.6g}"
