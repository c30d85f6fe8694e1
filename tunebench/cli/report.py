"""``tunebench report``: the comparative report of a results store, as HTML, Markdown and LaTeX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunebench.cli.common import console, err_console, user_errors
from tunebench.output_paths import check_output_dir, writing

#: Bound of --bootstrap. Today's bands (order statistics for the median, Student-t for the mean)
#: ignore the count, but when they resampled, 100,000,000 was an out-of-memory kill: an absurd
#: value stays a clear error rather than a silent no-op or, should resampling return, a crash.
MAX_BOOTSTRAP = 100_000


def default_out_dir(db: Path) -> Path:
    """``results/quick.db`` → ``results/quick-report``: beside the store, never the working dir."""
    return db.with_name(f"{db.stem}-report")


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        db: Annotated[Path, typer.Option("--db", help="Results store (SQLite) to report on.")],
        out: Annotated[Path | None, typer.Option(
            "-o", "--out", help="Output directory (default: NAME-report/ beside the store).",
        )] = None,
        suite: Annotated[list[str] | None, typer.Option(
            "--suite", help="Only this suite; repeat for several (default: every suite).",
        )] = None,
        center: Annotated[str, typer.Option(
            help="Curve statistic over repetitions: median or mean.")] = "median",
        bootstrap: Annotated[int, typer.Option(
            min=100, max=MAX_BOOTSTRAP, hidden=True,
            help="Ignored (kept so older scripts run): bands are exact order-statistic "
                 "intervals for medians, Student-t for means, not bootstraps.")] = 1000,
        alpha: Annotated[float, typer.Option(
            min=0.0001, max=0.5, help="Significance level of the tests.")] = 0.05,
    ) -> None:
        """Write the comparative report of a results store.

        Sample efficiency, final test values, normalised scores, ranks,
        significance, anytime ECDF, costs and provenance, written as:

        DIR/index.html: one self-contained page (open it from disk);
        DIR/report.md: the same in Markdown;
        DIR/figures/: every figure as PNG and SVG;
        DIR/tables/: every table as CSV; DIR/tables.tex: as LaTeX.
        """
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        target = out if out is not None else default_out_dir(db)
        with user_errors():
            check_output_dir(target, "--out")  # before minutes of building, not after
            from tunebench.reports import BUILD_STEPS, build_report, write_report

            with Progress(TextColumn("{task.description:<32}"), BarColumn(),
                          TimeElapsedColumn(), console=err_console, transient=True) as bar:
                job = bar.add_task("report", total=len(BUILD_STEPS))
                done = {"steps": 0}

                def step(description: str) -> None:
                    bar.update(job, description=description, completed=done["steps"])
                    done["steps"] += 1

                built = build_report(db, suites=suite or None, center=center, n_boot=bootstrap,
                                     alpha=alpha, progress=step)
                bar.update(job, total=len(BUILD_STEPS) + len(built.figures) + 2)
                with writing(target, "--out"):
                    written = write_report(built, target, progress=step)
                bar.update(job, completed=done["steps"])
        for warning in built.warnings:
            err_console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False,
                              soft_wrap=True)
        console.print(f"Report written to [bold]{escape(str(written.index))}[/]", highlight=False)
        console.print(f"  also {written.markdown.name}, {written.latex.name}, "
                      f"{len(written.figures)} figure files in figures/, "
                      f"{len(written.tables)} CSV tables in tables/", highlight=False)
