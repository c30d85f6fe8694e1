"""What every command shares: one console, and turning user errors into one clear line + exit 2."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)

#: Exceptions that mean "the user asked for something wrong": shown as one line, exit code 2.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, LookupError, FileNotFoundError)


def fail(message: str, code: int = 2) -> None:
    # The message is text, not markup: "Callable[[int], int]" or "got [1]" must print as written.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Report known user errors as one line and exit code 2, never a traceback."""
    try:
        yield
    except USER_ERRORS as exc:
        fail(str(exc))
    except RecursionError:  # an input nested deeper than any parser of it can follow
        fail("the input is nested too deeply to read (tables, arrays or JSON inside each other); "
             "flatten it")
    except MemoryError:  # an input asking for more than this machine holds
        fail("out of memory reading or building what the input asks for; check its sizes "
             "(dimensions, counts, lengths) for a typo")


def parse_json(text: str, what: str) -> object:
    """``text`` as JSON; nesting too deep for Python's parser is a clear error, not a traceback.

    Raises :class:`json.JSONDecodeError` for text that is not JSON, so a caller may fall back.
    """
    try:
        return json.loads(text)
    except RecursionError:
        fail(f"{what} is nested too deeply ({sys.getrecursionlimit()} levels at most); "
             "give a flat JSON value")
        raise  # unreachable: fail() exits


def parse_options(items: list[str]) -> dict[str, object]:
    """``-o KEY=VALUE`` options: each value read as JSON when it parses (4, true, [1, 2]), else text."""
    options: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"--option needs KEY=VALUE, got {item!r}")
        try:
            options[key] = parse_json(raw, f"option {key}")
        except json.JSONDecodeError:
            options[key] = raw
    return options
