"""`tunebench space TASK --runner NAME`: how a task's search space reaches a runner's library."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from tunebench.cli.common import console, err_console, fail, parse_options, user_errors
from tunebench.cli.formats import chosen_format, emit, format_option, print_plain


def show_space(
    task: str = typer.Argument(..., help="Task name, e.g. branin or mnist_cnn."),
    runner: str = typer.Option(None, "--runner", "-r", help="Runner name, e.g. optuna.cmaes; "
                               "default: the space as tunebench defines it."),
    option: list[str] = typer.Option([], "--option", "-o", help="Runner option KEY=VALUE (JSON "
                                     "value), repeatable, e.g. -o resolution=3."),
    task_option: list[str] = typer.Option([], "--task-option", "-t", help="Task option "
                                          "KEY=VALUE, repeatable, e.g. -t dim=4."),
    plugin: list[str] = typer.Option([], "--plugin", help="Load this plugin file first (for a "
                                     "task or runner it defines); repeatable."),
    fmt: str | None = format_option(),
) -> None:
    """Print every parameter of TASK as tunebench defines it and as RUNNER's library receives it.

    Lossy translations (an integer optimised as a rounded float, a categorical relaxed to
    weights, a condition the library cannot express) are flagged with the reason.
    """
    from tunebench.registry import get_runner_class, load_plugin_file, make_task
    from tunebench.runners.translation import describe, translate

    chosen = chosen_format(fmt)
    with user_errors():
        for path in plugin:
            load_plugin_file(path)
        the_task = make_task(task, parse_options(task_option))
        space = the_task.space
        if runner is None:
            defaults = the_task.default_config()
            rows = [{"parameter": name, "definition": describe(space[name]),
                     "default": defaults.get(name, space[name].default_value())}
                    for name in space]
            if emit(rows, chosen):
                return
            if chosen == "plain":
                print_plain(([r["parameter"], r["definition"], json.dumps(r["default"])]
                             for r in rows), aligned=1)
                return
            table = Table("parameter", "definition", "default", title=f"{task}: search space")
            for row in rows:
                table.add_row(row["parameter"], row["definition"], json.dumps(row["default"]))
            console.print(table)
            console.print("Evaluate any configuration, whole or in part: tunebench eval "
                          f"{task} -c '{json.dumps(dict(list(defaults.items())[:1]))}'",
                          highlight=False, markup=False)
            return
        cls = get_runner_class(runner)
        options = parse_options(option)
        accepted = cls.accepted_options()
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            fail(f"runner {runner!r} does not accept option(s) {', '.join(unknown)}; "
                 f"accepted: {', '.join(accepted) or 'none'}")
        rows = translate(cls, space, options)
    caps = cls.capabilities
    records = [{"parameter": row.name, "tunebench": row.definition, "library": row.library,
                "lossy": row.lossy, "why": row.reason} for row in rows]
    if emit(records, chosen):
        return
    if chosen == "plain":
        print_plain(([r["parameter"], r["tunebench"], "→", r["library"]]
                     + (["lossy:", r["why"]] if r["lossy"] else []) for r in records), aligned=1)
        err_console.print(f"{sum(r['lossy'] for r in records)} of {len(records)} parameters "
                          "translated with a loss.", highlight=False)
        return
    table = Table("parameter", "tunebench", f"{caps.library} ({cls.version()})", "lossy",
                  "why", title=f"{task} → {runner}", show_lines=True)
    for row in rows:
        table.add_row(row.name, row.definition, row.library,
                      "[bold yellow]yes[/]" if row.lossy else "no", row.reason)
    console.print(table)
    lossy = sum(row.lossy for row in rows)
    console.print(f"{lossy} of {len(rows)} parameters translated with a loss."
                  + (f" Note: {caps.notes}" if caps.notes else ""), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("space")(show_space)
