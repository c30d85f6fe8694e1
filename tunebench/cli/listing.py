"""`tunebench list tasks|runners`: what exists, with a one-line description each."""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.table import Table

from tunebench.cli.common import console, fail


def list_things(
    what: str = typer.Argument(..., help="tasks or runners"),
) -> None:
    """List the tasks or runners tunebench can find (built-ins, installed plugins)."""
    from tunebench import registry

    wide = console.width >= 120  # descriptions get a column; narrower, a line of their own
    if what in ("task", "tasks"):
        classes, broken = registry.all_tasks()
        table = _table("Tasks", "task", "metric", "direction", "fidelity", "optimum", wide=wide)
        for name, cls in classes.items():
            fidelity = f"{cls.max_fidelity}" + (" ↻" if cls.can_continue else "")
            members = getattr(cls, "family_members", ())
            shown = f"{name}/{members[0]}…{members[-1]}" if members else name  # a family
            if len(shown) > 24:  # fcnet/naval_propulsion…slice_localization would squeeze the rest
                shown = f"{name}/<{getattr(cls, 'family_option', 'member')}>"
            _add(table, wide, cls.description, shown, cls.metric, str(cls.direction), fidelity,
                 "exact, per member" if members else _optimum(name))
        legend = "fidelity: the default maximum; ↻ a trial can continue from its checkpoint"
    elif what in ("runner", "runners"):
        classes, broken = registry.all_runners()
        table = _table("Runners", "runner", "library", "family", "fidelity", "notes", wide=wide)
        for column, width in zip(table.columns[1:3], (15, 12), strict=True):
            column.min_width, column.overflow = width, "fold"  # "scikit-optimize", "evolutionary"
        for name, cls in classes.items():
            caps = cls.capabilities
            description = cls.description + (f" [dim]({caps.notes})[/]" if caps.notes else "")
            _add(table, wide, description, name, f"{caps.library} {cls.version()}", caps.family,
                 _fidelity_support(caps), _notes(caps))
        legend = ("fidelity: prune stops trials early, choose proposes each trial's fidelity, "
                  "continue promotes earlier trials; batch: proposes several at once")
    else:
        fail(f"cannot list {what!r}: choose `tasks` or `runners`")
        return
    console.print(table)
    console.print(legend, style="dim", highlight=False)
    _print_descriptions()
    for name, message in broken.items():
        console.print(f"[red]unavailable[/] {name}: {message}", highlight=False)


def _table(title: str, *columns: str, wide: bool) -> Table:
    table = Table(*columns, *(["description"] if wide else []), title=title, box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.columns[0].no_wrap = True  # names are what a user copies: never broken
    table.columns[3].min_width = 8  # "continue", "27 ↻"
    return table


_DESCRIPTIONS: list[tuple[str, str]] = []


def _add(table: Table, wide: bool, description: str, *cells: str) -> None:
    if wide:
        table.add_row(*cells, description)
    else:  # narrower: the descriptions follow the table, each on lines of its own
        table.add_row(*cells)
        _DESCRIPTIONS.append((cells[0], description))


def _print_descriptions() -> None:
    if _DESCRIPTIONS:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(no_wrap=True, style="bold")
        table.add_column()
        for name, description in _DESCRIPTIONS:
            table.add_row(name, description)
        console.print(table)
        _DESCRIPTIONS.clear()


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
                                        ("batch", caps.batch)) if present]
    return ", ".join(notes) or "·"


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
