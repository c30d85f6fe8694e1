"""`tunebench list tasks|runners`: what exists, one row each, in the form the reader needs.

A terminal gets a table that fits its width (descriptions below it when narrow); a pipe gets
``plain``: one line per item, full names, aligned columns, no box drawing, so ``grep`` and
``awk`` work; ``--format tsv|csv|json`` are for programs (JSON carries every capability and
stays stable). Values are the instance's (a task's fidelity as built with its defaults), runners
that cannot work here are listed apart with the reason and not counted, and each row says where
it comes from (built-in, a plugin package, a plugin file).
"""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.table import Table

from tunebench.cli.common import console, err_console, fail
from tunebench.cli.formats import chosen_format, format_option, print_delimited, print_json, print_plain


def list_things(
    what: str = typer.Argument(..., help="tasks or runners"),
    fmt: str | None = format_option(),
    plugin: list[str] = typer.Option([], "--plugin", help="Load this plugin file first (its "
                                     "tasks and runners are listed too); repeatable."),
) -> None:
    """List the tasks or runners tunebench can find (built-ins, installed plugins, --plugin files).

    Examples: tunebench list runners | grep optuna; tunebench list tasks --format json
    """
    from tunebench import registry

    chosen = chosen_format(fmt)
    for path in plugin:
        try:
            registry.load_plugin_file(path)
        except registry.RegistryError as exc:
            fail(f"--plugin {path}: {exc}")
    if what in ("task", "tasks"):
        rows, unavailable = task_rows(registry)
    elif what in ("runner", "runners"):
        rows, unavailable = runner_rows(registry)
    else:
        fail(f"cannot list {what!r}: choose `tasks` or `runners`")
        return
    kind = "tasks" if what.startswith("task") else "runners"
    if chosen == "json":
        print_json({kind: rows, "unavailable": unavailable})
    elif chosen in ("tsv", "csv"):
        print_delimited(rows, "\t" if chosen == "tsv" else ",", ("capabilities", "members"))
    elif chosen == "plain":
        print_plain(_cells(row, kind) for row in rows)
    else:
        _table(rows, kind)
    if chosen in ("table", "plain"):  # apart, and not counted; in a pipe, beside the data
        show = console if chosen == "table" else err_console
        for item in unavailable:
            show.print(f"unavailable {item['name']}: {item['reason']}", highlight=False,
                       markup=False)


# ----------------------------------------------------------------------------- the rows
def origin(source: str) -> str:
    """Where a registered class comes from, from the registry's record of it."""
    if source.startswith("plugin file "):
        return "plugin file"
    if source.startswith("entry point ") and source.endswith("(tunebench)"):
        return "built-in"
    if source.startswith("entry point "):
        return f"plugin package {source.rsplit('(', 1)[-1].rstrip(')')}"
    return "registered"


def task_rows(registry: Any) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    classes, broken = registry.all_tasks()
    rows = []
    for name, cls in classes.items():
        members = list(getattr(cls, "family_members", ()))
        objectives = [o.name for o in getattr(cls, "objectives", ())]
        try:
            instance = registry.make_task(name)
            fidelity, optimum = instance.max_fidelity, _optimum(instance, bool(members))
            objectives = [o.name for o in getattr(instance, "objectives", ())]
        except Exception:  # a listing never fails because one task cannot be built by default
            fidelity, optimum = cls.max_fidelity, "?"
        rows.append({"name": name, "members": members, "metric": cls.metric,
                     "objectives": objectives,
                     "direction": str(cls.direction), "max_fidelity": int(fidelity),
                     "fidelity_unit": cls.fidelity_unit, "continues": bool(cls.can_continue),
                     "optimum": optimum, "origin": origin(registry.task_source(name)),
                     "description": cls.description,
                     "citation": getattr(cls, "citation", None),
                     "licence": getattr(cls, "licence", None)})
    return rows, [{"name": n, "reason": m} for n, m in broken.items()]


def runner_rows(registry: Any) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    classes, broken = registry.all_runners()
    rows, unavailable = [], [{"name": n, "reason": m} for n, m in broken.items()]
    for name, cls in classes.items():
        reason = getattr(cls, "unavailable", None)
        if reason:
            unavailable.append({"name": name, "reason": reason})
            continue
        caps = cls.capabilities
        rows.append({"name": name, "library": caps.library, "version": cls.version(),
                     "family": caps.family, "fidelity": _fidelity_support(caps),
                     "notes": _notes(caps), "origin": origin(registry.runner_source(name)),
                     "description": cls.description, "capabilities": caps.as_dict()})
    return rows, unavailable


def _optimum(task: Any, family: bool) -> str:
    """The default instance's exact optimum; a reference (a fit on each seed's own split) is
    named, not computed: a listing must stay instant."""
    if family:  # BBOB's f_opt per member, or a reference (Bayesmark's best published loss)
        return "exact, per member" if task.optimum_is_exact else "reference, per member"
    if not task.optimum_is_exact:
        return "reference, per seed"
    front = getattr(task, "optimal_hypervolume", None) if getattr(task, "objectives", ()) else None
    if task.optimum is None and isinstance(front, float):  # a test problem's true front
        return f"HV {front:.6g}"
    return "—" if task.optimum is None else f"{task.optimum:.6g}"


def _fidelity_support(caps: Any) -> str:
    """What a runner does with fidelities: prunes trials, chooses their fidelity, continues them."""
    uses = [word for word, used in (("prune", caps.pruning), ("choose", caps.chooses_fidelity),
                                    ("continue", caps.continues)) if used]
    return " ".join(uses) or "·"


def _notes(caps: Any) -> str:
    """What a runner lacks or adds beyond the usual: the exceptions, not a row of ticks."""
    notes = [text for text, present in (("no conditionals", not caps.conditional),
                                        ("no integers", not caps.integer),
                                        ("no log scale", not caps.log),
                                        ("inexact resume", not caps.exact_replay),
                                        ("batch", caps.batch),
                                        ("MO", caps.multi_objective)) if present]
    return ", ".join(notes) or "·"


def _metric(row: dict[str, Any]) -> str:
    """The metric, or a multi-objective task's objectives (its first is the metric)."""
    names = row.get("objectives") or []
    if not names:
        return row["metric"]
    shown = ", ".join(names)
    return shown if len(shown) <= 14 else f"{names[0]} (+{len(names) - 1})"


def _shown_name(row: dict[str, Any]) -> str:
    members = row.get("members") or []
    if not members:
        return row["name"]
    shown = f"{row['name']}/{members[0]}…{members[-1]}"
    return shown if len(shown) <= 24 else f"{row['name']}/<member>"  # fcnet's names are long


def _cells(row: dict[str, Any], kind: str) -> list[str]:
    if kind == "tasks":
        fidelity = f"{row['max_fidelity']}" + (" ↻" if row["continues"] else "")
        return [_shown_name(row), _metric(row), row["direction"], fidelity, row["optimum"]]
    return [row["name"], f"{row['library']} {row['version']}", row["family"], row["fidelity"],
            row["notes"]]


_HEADERS = {"tasks": ("task", "metric", "direction", "fidelity", "optimum"),
            "runners": ("runner", "library", "family", "fidelity", "notes")}
_LEGENDS = {"tasks": "fidelity: the default maximum; ↻ a trial can continue from its checkpoint",
            "runners": "fidelity: prune stops trials early, choose proposes each trial's fidelity, "
                       "continue promotes earlier trials; batch: proposes before it hears back; "
                       "MO: optimises several objectives (a suite's objectives = [...])"}


# ----------------------------------------------------------------------------- the table
def _table(rows: list[dict[str, Any]], kind: str) -> None:
    wide = console.width >= 120  # descriptions get a column; narrower, a line of their own
    table = Table(*_HEADERS[kind], *(["description"] if wide else []),
                  title=f"{kind.capitalize()} ({len(rows)})", box=box.SIMPLE_HEAD, pad_edge=False)
    table.columns[0].no_wrap = True  # names are what a user copies: never broken
    table.columns[3].min_width = 8  # "continue", "27 ↻"
    if kind == "runners":
        for column, width in zip(table.columns[1:3], (15, 12), strict=True):
            column.min_width, column.overflow = width, "fold"  # "scikit-optimize", "evolutionary"
    below = []
    for row in rows:
        description = row["description"]
        notes = row.get("capabilities", {}).get("notes")
        if notes:
            description += f" [dim]({notes})[/]"
        if wide:
            table.add_row(*_cells(row, kind), description)
        else:
            table.add_row(*_cells(row, kind))
            below.append((_shown_name(row), description))
    console.print(table)
    console.print(_LEGENDS[kind], style="dim", highlight=False)
    if below:
        descriptions = Table(box=None, show_header=False, pad_edge=False)
        descriptions.add_column(no_wrap=True, style="bold")
        descriptions.add_column()
        for name, description in below:
            descriptions.add_row(name, description)
        console.print(descriptions)


def register(app: typer.Typer) -> None:
    app.command("list")(list_things)
