"""`tunebench new task|runner NAME` and `tunebench check-plugin TARGET`: writing and linting plugins."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tunebench.cli.common import console, fail, parse_options, user_errors
from tunebench.output_paths import check_output_dir, writing

new_app = typer.Typer(
    help="Write a ready-to-edit plugin package (pyproject with the entry point, module, test) "
         "or claim manifest.",
    no_args_is_help=True,
)

_MARKS = {"passed": "[green]✓ pass[/]", "failed": "[bold red]✗ FAIL[/]", "skipped": "[dim]– skip[/]"}


def _new(kind: str, name: str, directory: Path | None, force: bool) -> None:
    from tunebench.plugins.scaffold import new_plugin, plugin_names

    with user_errors():
        if directory is not None:
            check_output_dir(directory, "--dir")
        with writing(directory or Path.cwd(), "--dir"):
            root, files = new_plugin(kind, name, directory, force=force)
        names = plugin_names(kind, name)
    console.print(f"wrote the {kind} [bold]{name}[/] ({names.module}.{names.cls}) in {root}:",
                  highlight=False)
    for path in files:
        console.print(f"  {path.relative_to(root)}", highlight=False)
    console.print(
        f"next: cd {root} && pip install -e . && pytest\n"
        f"      tunebench check-plugin {names.dist}   # the same checks, as a table",
        highlight=False, soft_wrap=True,
    )


@new_app.command("task")
def new_task(
    name: str = typer.Argument(..., help="The task's name, as suites will use it (e.g. my_task)."),
    directory: Path = typer.Option(None, "--dir", "-d", help="Where to write the package "
                                   "(default: ./tunebench-NAME)."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty directory."),
) -> None:
    """Write a package with one task class, its entry point and a conformance test."""
    _new("task", name, directory, force)


@new_app.command("runner")
def new_runner(
    name: str = typer.Argument(..., help="The runner's name, as suites will use it "
                               "(e.g. mylib.tpe)."),
    directory: Path = typer.Option(None, "--dir", "-d", help="Where to write the package "
                                   "(default: ./tunebench-NAME)."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty directory."),
) -> None:
    """Write a package with one runner class, its entry point and a conformance test."""
    _new("runner", name, directory, force)


def check_plugin(
    target: str = typer.Argument(..., help="A plugin file (my_tasks.py), module:Class, a "
                                 "registered name, an installed distribution or a module."),
    fidelity: int = typer.Option(None, "--fidelity", "-f", min=1, help="Cap on the fidelity of "
                                 "task evaluations (default: the task's maximum)."),
    trials: int = typer.Option(30, "--trials", min=10, help="Trials per runner check."),
    option: list[str] = typer.Option([], "--option", "-o", help="Option KEY=VALUE (JSON value) "
                                     "for the plugins' constructors, repeatable, e.g. "
                                     "-o resolution=2."),
) -> None:
    """Run tunebench's conformance checks on every task and runner in TARGET.

    Tasks: space, default configuration, well-formed finite results with a test value,
    determinism, learning curve, fidelity bounds, pruning. Runners: seeding, valid suggestions,
    failure handling, resume, direction. Exit code 1 if any check fails.
    """
    from tunebench.plugins import check_plugin as run_checks

    options = parse_options(option)
    with user_errors():
        report = run_checks(target, options, fidelity=fidelity, trials=trials)
    failed_plugins = 0
    for kind, name, source in report.plugins():
        rows = [r for r in report.rows if (r.kind, r.plugin, r.source) == (kind, name, source)]
        failed = any(r.failed for r in rows)
        failed_plugins += failed
        table = Table("check", "result", "details")
        for row in rows:
            table.add_row(row.check, _MARKS.get(row.status, row.status), row.message)
        console.print(f"\n{kind} [bold]{name}[/]  [dim]{source}[/]", highlight=False,
                      soft_wrap=True)
        console.print(table)
    total = len(report.plugins())
    if failed_plugins:
        fail(f"{failed_plugins} of {total} plugin(s) in {target} failed a check", code=1)
    console.print(f"[green]all {total} plugin(s) in {target} passed[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(new_app, name="new")
    app.command("check-plugin")(check_plugin)
