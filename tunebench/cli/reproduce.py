"""`tunebench reproduce` and `tunebench export`: reproducibility from the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from tunebench.cli.common import console, err_console, fail, user_errors
from tunebench.output_paths import check_output_file, store_files, write_text_output

_VERDICT_STYLE = {"identical": "green", "within tolerance": "yellow", "different": "bold red",
                  "error": "bold red", "not run": "dim"}


def _fmt(value: Any, exact: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else (repr(value) if exact else f"{value:.10g}")
    text = str(value)
    return text if len(text) <= 18 else text[:16] + "…"


def _styled(verdict: str) -> str:
    return f"[{_VERDICT_STYLE.get(verdict, 'white')}]{verdict}[/]"


# ----------------------------------------------------------------------------- reproduce

def render_reproduction(report: Any) -> None:
    """Print a reproduction report: one table per suite, the environment differences, a summary."""
    from tunebench.suite.reproduce import NOT_RUN

    tolerance = ("bit for bit" if report.tolerance == 0 and report.abs_tolerance == 0 else
                 f"relative {report.tolerance:g}, absolute {report.abs_tolerance:g}")
    suites: dict[tuple[str, str], list[Any]] = {}
    for study in report.studies:
        suites.setdefault((study.suite, study.fingerprint), []).append(study)
    for (name, fingerprint), studies in suites.items():
        table = Table(title=f"reproduction of {report.source}: suite {name!r} ({fingerprint}), "
                            f"compared {tolerance}", title_justify="left")
        for column in ("study", "trials here/recorded", "verdict", "first difference", "recorded",
                       "here", "max rel. diff"):
            table.add_column(column, justify="left" if column in ("study", "verdict",
                                                                  "first difference") else "right")
        for s in studies:
            diff = s.first_difference
            where = ("" if diff is None else
                     ("trial count" if diff.trial < 0 else f"trial {diff.trial}: {diff.field}"))
            if s.error:
                where = s.error
            table.add_row(
                s.label, f"{s.trials_ours}/{s.trials_theirs}", _styled(s.verdict), where,
                _fmt(diff.theirs, exact=True) if diff else "",
                _fmt(diff.ours, exact=True) if diff else "",
                f"{s.max_relative_difference:.2g}" if s.max_relative_difference else "0",
            )
        console.print(table)
        ran = [s for s in studies if s.verdict != NOT_RUN]
        theirs, ours = (sum(s.eval_seconds_theirs for s in ran), sum(s.eval_seconds_ours for s in ran))
        if theirs > 0:
            console.print(f"evaluation time: {ours:.2f} s here, {theirs:.2f} s recorded "
                          f"({ours / theirs:.2f}×; first-use imports and data loads count where "
                          "they happen); time budgets were replayed from the recorded charges")
    for i, env in enumerate(report.environments):
        if not env.differences:
            continue
        label = (f"{len(env.studies)} studies" if len(env.studies) > 1 else env.studies[0])
        table = Table(title=f"environment: recorded vs this machine ({label})"
                            + (f" [group {i + 1}]" if len(report.environments) > 1 else ""),
                      title_justify="left")
        for column in ("setting", "recorded", "this machine", "can change numbers"):
            table.add_column(column)
        for d in env.differences:
            table.add_row(d.key, str(d.theirs), str(d.ours),
                          f"[yellow]yes[/]: {d.why}" if d.matters else "[dim]no[/]")
        console.print(table)
    if all(not env.differences for env in report.environments):
        console.print("environment: no difference between the recorded environment and this one")
    for note in report.notes:
        console.print(f"[dim]note:[/] {note}")
    counts = report.counts()
    parts = [f"{n} {verdict}" for verdict, n in counts.items() if n]
    sampled = (f" (a sample of {len(report.studies)} of {report.total_studies} studies)"
               if report.sampled else "")
    status = "[bold green]reproduced[/]" if report.ok else "[bold red]NOT reproduced[/]"
    console.print(f"{status}: {', '.join(parts)}{sampled} in {report.seconds:.1f} s")


def reproduce(
    source: Path = typer.Argument(None, help="A bundle (.tar.gz from `tunebench export`) or a "
                                             "results store."),
    db: Path = typer.Option(None, "--db", help="The results store to reproduce (instead of SOURCE)."),
    sample: int = typer.Option(None, "--sample", min=1, help="Re-run only N studies, drawn at random "
                                                            "with --seed."),
    seed: int = typer.Option(0, "--seed", help="Seed of --sample's draw."),
    tolerance: float = typer.Option(0.0, "--tolerance", min=0.0, help="Relative tolerance: values "
                                    "within it count as reproduced (default 0: bit for bit)."),
    abs_tolerance: float = typer.Option(0.0, "--abs-tolerance", min=0.0, help="Absolute tolerance, "
                                        "for values near zero."),
    keep: Path = typer.Option(None, "--keep", help="Keep the reproduction's results store here "
                                                   "(a new file); default: a temporary one."),
    executor: str = typer.Option("serial", help="serial, process or ray."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Parallel studies (process/ray)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report as JSON here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Re-run a stored suite here with its stored seeds and compare, trial by trial.

    Every study is reported identical, within tolerance or different (with the first differing
    trial and both values), beside the environment differences that could explain it. The
    evaluation cache is never used: a reproduction recomputes. Exit code 0 only when every study
    reproduced, 1 otherwise.

    Example: tunebench reproduce --db theirs.db --sample 5
    """
    from tunebench.cli.run import reexec_with_fixed_hash_seed
    from tunebench.suite.reproduce import reproduce as run_reproduction

    if (source is None) == (db is None):
        fail("give either a bundle / results store as SOURCE or --db PATH (not both)")
    with user_errors():  # before any study runs: a refused path never costs a reproduction
        stored = store_files(source or db)
        if keep is not None:
            check_output_file(keep, "--keep", protected=stored)
        if json_out is not None:
            check_output_file(json_out, "--json", force=True, devices=True, protected=stored)
    if executor == "serial":  # the studies run in this process: it needs a fixed hash seed
        reexec_with_fixed_hash_seed("reproduce")
    with user_errors():
        report = run_reproduction(source or db, sample=sample, seed=seed, tolerance=tolerance,
                                  abs_tolerance=abs_tolerance, executor=executor, workers=workers,
                                  keep=keep, progress=not quiet, console=err_console)
    render_reproduction(report)
    if json_out is not None:
        with user_errors():
            write_text_output(json_out, json.dumps(report.to_dict(), indent=2, default=str), "--json")
    if not report.ok:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- export

def export(
    db: Path = typer.Option(Path("results.db"), "--db", help="The results store to export."),
    out: Path | None = typer.Option(None, "--out", "-o", help="The bundle to write (.tar.gz, a "
                                    "new file), or with --format parquet the folder to write."),
    fmt: str = typer.Option("bundle", "--format", help="bundle (a reproducible .tar.gz) or "
                            "parquet (studies, trials and curves as Parquet files)."),
    optuna_storage: str | None = typer.Option(None, "--optuna-storage", help="Also write every "
                                              "study into this optuna storage URL (e.g. "
                                              "sqlite:///optuna.db), for optuna-dashboard."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it is an existing regular file."),
) -> None:
    """Pack a results store into a shareable bundle (the store, the resolved suites, the
    environment, a lock of package versions and the plugin files the suites load), or export it
    as Parquet files or into an optuna storage.

    Examples: tunebench export --db results.db -o results.tar.gz (elsewhere: tunebench reproduce
    results.tar.gz); tunebench export --db results.db --format parquet -o results/;
    tunebench export --db results.db --optuna-storage sqlite:///optuna.db
    """
    if fmt not in ("bundle", "parquet"):
        fail(f"--format {fmt!r}: choose bundle or parquet")
    if out is None and optuna_storage is None:
        fail("nothing to write: give --out (a bundle, or a folder with --format parquet) or "
             "--optuna-storage URL")
    if not db.is_file():
        fail(f"--db {db}: no such results store")
    if out is not None and fmt == "parquet":
        from tunebench.suite.export_formats import export_parquet

        with user_errors():
            written = export_parquet(db, out)
        console.print(f"[bold green]exported[/] {db} → {out}/: "
                      + ", ".join(f"{name}.parquet ({rows} rows)" for name, rows in written.items()))
    elif out is not None:
        _export_bundle(db, out, force)
    if optuna_storage is not None:
        from tunebench.suite.export_formats import export_optuna

        with user_errors():
            names = export_optuna(db, optuna_storage)
        console.print(f"[bold green]exported[/] {len(names)} studies → {optuna_storage}; open "
                      f"with: optuna-dashboard {optuna_storage}")


def _export_bundle(db: Path, out: Path, force: bool) -> None:
    from tunebench.suite.bundle import export_bundle

    with user_errors():
        manifest = export_bundle(db, out, force=force)
    suites = ", ".join(f"{s['name']} ({s['studies']} studies, {s['trials']} trials)"
                       for s in manifest["suites"])
    console.print(f"[bold green]exported[/] {db} → {out}: {suites}; {len(manifest['files'])} files")
    for missing in manifest["missing_plugins"]:
        err_console.print(f"[yellow]warning[/]: plugin file {missing} no longer exists; the bundle "
                          "cannot re-run the studies that need it", highlight=False)
    console.print(f"Reproduce it anywhere: [bold]tunebench reproduce {out}[/]")


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
    app.command("export")(export)
