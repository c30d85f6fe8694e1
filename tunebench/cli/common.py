"""What every command shares: one console, and turning user errors into one clear line + exit 2."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

#: Exceptions that mean "the user asked for something wrong": shown as one line, exit code 2.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, LookupError, FileNotFoundError)


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Report known user errors as one line and exit code 2, never a traceback."""
    try:
        yield
    except USER_ERRORS as exc:
        fail(str(exc))
