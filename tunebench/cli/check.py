"""``tunebench check``: is a results store sound? SQLite's quick check and the schema check."""

from __future__ import annotations

from pathlib import Path

import typer

from tunebench.cli.common import console, fail, user_errors


def check(db: Path = typer.Option(Path("results.db"), "--db", help="Results store to check.")) -> None:
    """Check a results store: SQLite's PRAGMA quick_check and the store's tables.

    Prints "ok" (exit 0) or what is damaged (exit 1); a path that is no store exits 2.
    It only reads the file.

    Example: tunebench check --db results.db
    """
    from tunebench.suite.connection import check_store

    with user_errors():
        problems = check_store(db)
    wal = db.with_name(db.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        console.print(f"note: {wal.name} holds trials not yet copied into {db.name} (a run is writing "
                      "it, or one was stopped): copy the store with `tunebench export` or "
                      f"`sqlite3 {db} \".backup COPY.db\"`, never the .db file alone", highlight=False,
                      soft_wrap=True)
    if not problems:
        console.print(f"{db}: ok", highlight=False)
        return
    for problem in problems:
        console.print(f"{db}: {problem}", highlight=False, soft_wrap=True)
    fail(f"{db} is damaged ({len(problems)} problem{'s' * (len(problems) > 1)} above); restore it "
         "from a copy or an export, or try `sqlite3 DAMAGED.db .recover`", code=1)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
