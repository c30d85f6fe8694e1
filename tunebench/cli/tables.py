"""`tunebench tabulate` and `tunebench verify-table`: tables built from tunebench's own tasks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

from tunebench.cli.common import console, err_console, fail, parse_options, user_errors


@contextlib.contextmanager
def _progress(what: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A live count with ETA on stderr (as `tunebench run` shows studies); a no-op when disabled."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("evaluations"), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=err_console, disable=not enabled)
    bar = progress.add_task(what, total=None)

    def update(done: int, total: int) -> None:
        progress.update(bar, completed=done, total=total)

    with progress:
        yield update


def _seeds(items: list[str]) -> list[int]:
    """``--seeds 0,1,2`` or ``--seeds 0 --seeds 1``: integers, in the order given."""
    seeds: list[int] = []
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            try:
                seeds.append(int(part))
            except ValueError:
                fail(f"--seeds takes integers (e.g. --seeds 0,1,2), got {part!r}")
    return seeds


def tabulate(
    task: str = typer.Argument(..., help="Task name, e.g. linreg."),
    option: list[str] = typer.Option([], "--option", "-o", help="Task option KEY=VALUE (JSON "
                                     "value), repeatable, e.g. -o max_epochs=20."),
    design: str = typer.Option("sobol", help="Space-filling design: sobol (scrambled, seeded)."),
    n: int = typer.Option(..., "--n", help="Design points (a power of two keeps Sobol balanced)."),
    seeds: list[str] = typer.Option(..., "--seeds", help="Evaluation seeds, e.g. 0,1,2 "
                                    "(repeatable)."),
    out: Path = typer.Option(..., "--out", help="The table to write (.parquet)."),
    design_seed: int = typer.Option(0, "--design-seed", help="Seed of the Sobol scrambling."),
    every_fidelity: bool = typer.Option(False, "--every-fidelity", help="Also evaluate every "
                                        "lower fidelity, for test values at every step (about "
                                        "max_fidelity/2 times the work)."),
    threads: int = typer.Option(1, "--threads", min=1, help="Threads per evaluation (as a "
                                "suite's settings.threads; part of the numbers)."),
    cache: Path = typer.Option(None, "--cache", help="Evaluation cache file (default: "
                               "tunebench-cache.db beside --out)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Evaluate everything afresh."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Evaluate a space-filling design of TASK on every seed at every fidelity step, into a table.

    Each (configuration, seed) is one evaluation at the task's maximum fidelity; the curve it
    reports gives every step (with --every-fidelity, one evaluation per fidelity also gives each
    step its test value). Evaluations go through the evaluation cache, so an interrupted
    tabulation re-run trains nothing twice. Check the table with `tunebench verify-table`.

    Example: tunebench tabulate linreg --n 64 --seeds 0,1 --out linreg.parquet
    """
    from tunebench.output_paths import check_output_file, writing
    from tunebench.suite.cache import CACHE_FILENAME, EvaluationCacheStore
    from tunebench.tables.evaluate import EvalSettings
    from tunebench.tables.tabulate import tabulate as run_tabulate

    with user_errors():
        if out.suffix != ".parquet":
            fail(f"--out {out}: a table is a Parquet file; give a path ending in .parquet")
        check_output_file(out, "--out", force=force)
        store = None if no_cache else EvaluationCacheStore(
            cache or Path(out).expanduser().resolve().parent / CACHE_FILENAME)
        try:
            with writing(out, "--out"), _progress(f"tabulate {task}", not quiet) as progress:
                summary = run_tabulate(task, parse_options(option), n=n, seeds=_seeds(seeds),
                                       out=out, design=design, design_seed=design_seed,
                                       settings=EvalSettings(threads=threads), cache=store,
                                       every_fidelity=every_fidelity, progress=progress)
        except KeyboardInterrupt:
            kept = (f"the evaluations so far are in the cache {store.path}; run the same command "
                    "again to resume" if store is not None else "nothing was kept (--no-cache)")
            err_console.print(f"[yellow]interrupted[/]: no table written; {kept}.")
            raise typer.Exit(130) from None
    hits = f", {summary.cache_hits} runs from the cache" if store is not None else ""
    failed = f", {summary.failed} failed (kept as failures)" if summary.failed else ""
    console.print(f"[bold green]done[/]: {summary.evaluations} evaluations ({summary.configs} "
                  f"configurations × {summary.seeds} seed{'s' * (summary.seeds != 1)}{hits}{failed}) in "
                  f"{summary.seconds:.1f} s → {out} ({summary.bytes / 1024:.0f} KiB)",
                  highlight=False)


def verify_table(
    table: Path = typer.Argument(..., help="A table written by `tunebench tabulate`."),
    sample: int = typer.Option(16, "--sample", help="Evaluations to re-run (all, if the table "
                               "holds fewer)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random sample."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Re-run a random sample of TABLE's evaluations and check them bit for bit.

    Values at every step, test values, returned values and failures must be identical; costs
    are measurements and are not compared. Exit code 1 when anything differs, each difference
    named by configuration, seed and step.

    Example: tunebench verify-table linreg.parquet --sample 32
    """
    from tunebench.tables.verify import verify_table as run_verify

    with user_errors(), _progress(f"verify {table.name}", not quiet) as progress:
        report = run_verify(table, sample=sample, seed=seed, progress=progress)
    for difference in report.differences:
        err_console.print(f"[yellow]note[/] {difference}", highlight=False, soft_wrap=True)
    for mismatch in report.mismatches:
        console.print(f"[red]differs[/] {mismatch.describe()}", highlight=False, soft_wrap=True)
    console.print(report.summary(), highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("tabulate")(tabulate)
    app.command("verify-table")(verify_table)
