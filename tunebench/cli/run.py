"""`tunebench run`: run or resume a suite into a results store."""

from __future__ import annotations

from pathlib import Path

import typer

from tunebench.cli.common import console, err_console, fail, user_errors


def run(
    suite: str = typer.Argument(..., help="A suite file (suites/quick.toml) or a shipped suite's "
                                           "name (quick)."),
    db: Path = typer.Option(Path("results.db"), "--db", help="Results store (SQLite). Re-running "
                            "the same suite into it resumes where it stopped."),
    executor: str = typer.Option("serial", help="serial, process or ray."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Parallel studies (process/ray)."),
    address: str = typer.Option(None, help="Ray cluster address (auto or HOST:PORT); default "
                                           "starts a local Ray bound to loopback."),
    append: bool = typer.Option(False, help="Allow a different suite in a store that has one."),
    repetitions: int = typer.Option(None, "--repetitions", min=1, help="Run this many repetitions "
                                    "instead of the suite's: the same suite grown, so a store "
                                    "holding fewer runs only the missing ones."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not reuse cached evaluations."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    seed: int = typer.Option(None, "--seed", help="Run the suite with this seed instead of its "
                             "own (every study's seeds follow from it; stored with it)."),
    only: list[str] = typer.Option([], "--only", help="Run only the studies of task=LABEL, "
                                   "runner=LABEL or both (task=a,runner=b); repeatable. The "
                                   "others stay in the store, to be run later."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would run — studies per "
                                 "task and runner, those already finished, budgets, and an "
                                 "estimate from the store's finished studies — and run nothing."),
) -> None:
    """Run a suite of (task × runner × repetition) studies under one budget.

    Every finished trial is committed as it ends: interrupt at any time and run the same command
    again to resume. Results are identical to an uninterrupted run.

    Example: tunebench run quick --db results.db
    """
    from tunebench.suite.finished import finished_count, study_filter

    try:
        keep = study_filter(only)
    except ValueError as exc:
        fail(str(exc))
    if dry_run:
        _dry_run(suite, db, repetitions, keep, seed)
        return
    done = finished_count(suite, db, repetitions, seed) if keep is None else None
    if done is not None:  # nothing to run: no library imported, no interpreter re-executed
        console.print(f"[bold green]done[/]: all {done} studies of this suite are already "
                      f"finished in {db}; nothing to run")
        console.print(f"Next: [bold]tunebench show --db {db}[/] or [bold]tunebench report --db "
                      f"{db}[/]")
        return
    from tunebench.suite.run import run_suite

    if executor == "serial":
        reexec_with_fixed_hash_seed("run")
    options = {"address": address} if address else {}
    with user_errors():
        from tunebench.suite.cache import EvaluationCacheStore

        cache = None if no_cache else EvaluationCacheStore.beside(db)
        try:
            summary = run_suite(suite, db, executor=executor, workers=workers, append=append,
                                cache=cache, progress=not quiet, console=err_console,
                                repetitions=repetitions, only=keep, seed=seed, **options)
        except KeyboardInterrupt:
            err_console.print(f"[yellow]interrupted[/]: finished trials are in {db}; run the same "
                              "command again to resume.")
            raise typer.Exit(130) from None
    console.print(
        f"[bold green]done[/]: suite {summary.suite!r}: {summary.studies_run} studies run, "
        f"{summary.studies_skipped} already finished, {summary.trials_run} trials in "
        f"{summary.seconds:.1f} s → {db}"
        + (f"; {summary.studies_left_out} left for later (--only)" if summary.studies_left_out
           else "")
    )
    for warning in summary.warnings():
        err_console.print(f"[yellow]warning[/] {warning}", highlight=False)
    if summary.failed_studies:
        for label, error in summary.failed_studies.items():
            err_console.print(f"[red]study failed[/] {label}: {error}", highlight=False)
        fail(f"{len(summary.failed_studies)} studies failed (their finished trials are stored; "
             "fix the cause and re-run to resume)", code=1)
    console.print(f"Next: [bold]tunebench show --db {db}[/] or [bold]tunebench report --db {db}[/]")


def _dry_run(suite: str, db: Path, repetitions: int | None, keep: object,
             seed: int | None) -> None:
    from rich.table import Table

    from tunebench.suite.finished import plan_rows
    from tunebench.suite.spec import with_repetitions, with_seed
    from tunebench.suite.spec_parse import load_suite

    with user_errors():
        spec = with_seed(with_repetitions(load_suite(suite), repetitions), seed)
        rows = plan_rows(spec, db, keep)
    table = Table("task", "runner", "studies", "finished", "budget each", "estimate",
                  title=f"{spec.name}: what `tunebench run` would do (nothing ran)")
    for row in rows:
        estimate = row["estimate_seconds"]
        table.add_row(row["task"], row["runner"], str(row["studies"]), str(row["finished"]),
                      row["budget"], "?" if estimate is None else f"{estimate / 60:.1f} min")
    console.print(table)
    left = sum(r["studies"] - r["finished"] for r in rows)
    known = [r["estimate_seconds"] for r in rows if r["estimate_seconds"] is not None]
    console.print(f"{left} of {sum(r['studies'] for r in rows)} studies to run"
                  + (f"; about {sum(known) / 60:.1f} min serial where the store has finished "
                     "studies of the task" if known else "") + ".", highlight=False)
    for task, runner in spec.exclude:
        console.print(f"left out by declaration: {task} × {runner}", highlight=False)


#: Set in the re-executed process, so it never re-executes twice.
_REEXEC_MARK = "TUNEBENCH_HASH_SEED_REEXEC"


def reexec_with_fixed_hash_seed(command: str) -> None:
    """Re-execute this very ``tunebench COMMAND`` with PYTHONHASHSEED fixed when it is not, before
    anything ran (for every command that runs studies in its own process).

    Studies of the serial executor run in this process, and an interpreter reads its hash seed
    only at start: without a fixed one, libraries that iterate sets of strings (SMAC3) propose
    differently in another process, and a published run could not be replayed. Re-executing costs
    one interpreter start; the alternative, running on with the seed recorded as unfixed, leaves
    every study unreplayable. Only a process started as `tunebench run ...` re-executes (not a
    caller that invoked the command in-process); that caller gets a warning instead."""
    import os
    import sys

    from tunebench.suite.environment import DEFAULT_HASH_SEED, python_hash_seed

    if python_hash_seed() is not None or os.environ.get(_REEXEC_MARK):
        return
    started_as_cli = (Path(sys.argv[0]).name in ("tunebench", "__main__.py")
                      and sys.argv[1:2] == [command])
    if not started_as_cli:
        return
    environment = {**os.environ, "PYTHONHASHSEED": DEFAULT_HASH_SEED, _REEXEC_MARK: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "tunebench", *sys.argv[1:]], environment)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
