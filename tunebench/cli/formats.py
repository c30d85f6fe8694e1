"""The output formats every listing command shares (`list`, `show`, `space`, `claims`).

A terminal gets ``table`` (rich, fitted to its width); a pipe gets ``plain`` unless asked
otherwise: one line per item, full names, aligned columns, no box drawing, so ``grep``, ``cut``
and ``awk`` work. ``tsv`` and ``csv`` carry a header row; ``json`` carries every field and is
the stable, machine-readable form.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import typer

from tunebench.cli.common import console, fail

FORMATS = ("table", "plain", "tsv", "csv", "json")
HELP = ("table (a terminal's default), plain (a pipe's: one line each), tsv, csv or json.")


def format_option() -> Any:
    """The ``--format`` option, spelled and explained the same in every command."""
    return typer.Option(None, "--format", help=HELP)


def chosen_format(fmt: str | None) -> str:
    """``fmt`` checked, or the default for where the output goes (a terminal or a pipe)."""
    chosen = fmt or ("table" if console.is_terminal else "plain")
    if chosen not in FORMATS:
        fail(f"--format {chosen!r}: choose one of {', '.join(FORMATS)}")
    return chosen


def print_plain(lines: Iterable[Sequence[str]], aligned: int = 2) -> None:
    """One line per item: the first ``aligned`` columns padded (what the eye scans), the rest
    as they come, so a line stays short."""
    lines = [list(line) for line in lines]
    widths = [max((len(line[i]) for line in lines if len(line) > i), default=0)
              for i in range(aligned)]
    for line in lines:
        head = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*head, *line[aligned:]]).rstrip())


def print_delimited(rows: Sequence[dict[str, Any]], delimiter: str,
                    leave_out: Iterable[str] = ()) -> None:
    """``rows`` as TSV or CSV with a header row; nested fields (``leave_out``) are JSON's only."""
    if not rows:
        return
    skip = set(leave_out)
    keys = [key for key in rows[0] if key not in skip]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow(["" if row.get(key) is None else _cell(row.get(key)) for key in keys])
    print(out.getvalue(), end="")


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (NaN as null: other programs read it)."""
    print(json.dumps(_finite(value), indent=2, default=str))


def emit(rows: Sequence[dict[str, Any]], chosen: str, leave_out: Iterable[str] = ()) -> bool:
    """Print ``rows`` in a machine format (tsv, csv, json) and say so; False for table/plain,
    which each command draws its own way."""
    if chosen == "json":
        print_json(list(rows))
    elif chosen in ("tsv", "csv"):
        print_delimited(rows, "\t" if chosen == "tsv" else ",", leave_out)
    else:
        return False
    return True


def _cell(value: Any) -> Any:
    return json.dumps(value, default=str) if isinstance(value, dict | list | tuple) else value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
