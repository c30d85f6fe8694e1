"""`tunebench claims` and `tunebench new claim`: published results checked, shipped or a user's own."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from tunebench.cli.common import console, err_console, user_errors
from tunebench.cli.formats import chosen_format, emit, format_option, print_json, print_plain
from tunebench.output_paths import check_output_dir, check_output_file, write_text_output

_STYLE = {"replicated": "green", "not replicated": "bold red", "inconclusive": "yellow",
          "error": "bold red"}


def _styled(verdict: str) -> str:
    return f"[{_STYLE.get(verdict, 'white')}]{verdict}[/]"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.10g}"
    return str(value)


def _citation(claim: Any) -> str:
    source = claim.source
    parts = [source.citation.replace("\n", " ")]
    if source.year and str(source.year) not in parts[0]:
        parts.append(str(source.year))
    for extra in (source.where, source.numbers_from, source.url):
        if extra:
            parts.append(extra)
    return f"source ({source.kind}): " + "; ".join(parts)


def render_claims(results: list[Any]) -> None:
    """One table per claim: each expectation's published and measured numbers, test, p, verdict."""
    for result in results:
        claim = result.claim
        table = Table(title=f"{claim.id}: {claim.title}", title_justify="left",
                      caption=_citation(claim), caption_justify="left")
        for column in ("expectation", "published", "measured", "test", "p", "verdict"):
            table.add_column(column, justify="right" if column == "p" else "left")
        details = []
        for e in result.expectations:
            v = e.verdict
            table.add_row(e.expectation.what, e.expectation.describe(), e.error or _fmt(e.measured),
                          v.test if v else "exact (± tolerance)" if e.expectation.tolerance
                          else "exact", f"{v.pvalue:.3g}" if v else "—", _styled(e.outcome))
            if e.note:
                details.append(f"{e.expectation.what}: {e.note}")
            if v is not None:
                need = ("" if v.outcome != "inconclusive" else
                        f"; repetitions that would tell: {v.repetitions_needed}"
                        if v.repetitions_needed else "; no number of repetitions here would tell, "
                        "if the observed difference is the true one (the published side alone is "
                        "too uncertain for this margin)")
                details.append(f"{e.expectation.what}: {v.detail}{need}")
        console.print(table)
        for line in details:
            console.print(f"  [dim]{line}[/]", highlight=False)
        versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
        reps = f"; {result.repetitions} repetitions" if result.repetitions else ""
        ran = (f" ({result.studies_run} studies run now)" if result.repetitions else "")
        console.print(f"  [dim]versions: {versions}{reps}{ran}[/]", highlight=False)
        if claim.budget_note:
            console.print(f"  [yellow]reduced budget[/]: {claim.budget_note}", highlight=False)
        known = "" if result.as_known else f" [bold red](recorded as {claim.known_verdict})[/]"
        console.print(f"  → {_styled(result.verdict)}{known}"
                      + (f": {result.error}" if result.error else "")
                      + f" [dim]({result.seconds:.1f} s)[/]")
        if claim.notes and result.verdict != "replicated":
            console.print(f"  [dim]{claim.notes}[/]")


def claims(
    items: list[str] = typer.Argument(None, help="Shipped claim ids, or claim manifests (.toml) and "
                                      "folders of them (default: every shipped claim)."),
    list_only: bool = typer.Option(False, "--list", help="List the claims and exit."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 unless every claim replicates."),
    store: Path = typer.Option(None, "--store", help="Keep each claim's runs in this folder "
                               "(<id>.db); a later check runs only what is missing."),
    repetitions: int = typer.Option(None, "--repetitions", min=2, help="Run this many repetitions "
                                    "instead of each setting's (with --store: only the new ones "
                                    "run), to move an inconclusive verdict."),
    json_out: Path = typer.Option(None, "--json", help="Also write the results as JSON here."),
    fmt: str | None = format_option(),
) -> None:
    """Check published results: replicated, not replicated or inconclusive, with both numbers,
    the test and its p-value.

    A claim that does not replicate is a finding, not a failure: the exit code is 1 only when a
    verdict differs from the one recorded in its manifest (known_verdict, a regression check) or
    a claim cannot be measured. --strict exits 1 unless every claim replicates. Bad input (an
    unknown id, a broken manifest) exits 2.

    In a pipe (or --format plain) one line per expectation: claim id, verdict, expectation,
    published, measured, p-value; --format json prints the whole results.

    Example: tunebench claims my-claims/ --store runs/ --repetitions 200
    """
    from tunebench.claims import REPLICATED, check_claims, select_claims
    from tunebench.cli.run import reexec_with_fixed_hash_seed

    chosen = chosen_format(fmt)
    if not list_only:
        reexec_with_fixed_hash_seed("claims")
    with user_errors():
        selected = select_claims(items or [])
        if json_out is not None and not list_only:  # before the claims run, not after
            check_output_file(json_out, "--json", force=True, devices=True)
        if store is not None:
            check_output_dir(store, "--store")
            store.mkdir(parents=True, exist_ok=True)
    if list_only and chosen != "table":
        rows = [{"id": c.id, "title": c.title, "source": c.source.url or c.source.kind,
                 "recorded_verdict": c.known_verdict} for c in selected]
        if not emit(rows, chosen):
            print_plain([r["id"], r["recorded_verdict"], r["title"]] for r in rows)
        return
    if list_only:
        table = Table(title="claims", title_justify="left")
        for column in ("id", "title", "source", "recorded verdict"):
            table.add_column(column, no_wrap=column == "id")
        for claim in selected:
            table.add_row(claim.id, claim.title, claim.source.url or claim.source.kind,
                          _styled(claim.known_verdict))
        console.print(table)
        return
    results = check_claims(selected, store, repetitions)
    replicated = sum(r.verdict == REPLICATED for r in results)
    changed = [r.claim.id for r in results if not r.as_known]
    if chosen == "table":
        render_claims(results)
    else:
        _results_out(results, chosen)
    # The tally is for the reader: in a machine format it goes beside the data, to stderr.
    (console if chosen == "table" else err_console).print(
        f"[bold]{replicated} of {len(results)} claims replicated[/]"
        f" in {sum(r.seconds for r in results):.1f} s"
        + (f"; [bold red]verdict changed[/] for {', '.join(changed)}" if changed else
           "; every verdict as recorded"))
    if json_out is not None:
        with user_errors():
            write_text_output(json_out, json.dumps([r.to_dict() for r in results], indent=2,
                                                   default=str), "--json")
    if changed or (strict and replicated < len(results)):
        raise typer.Exit(1)


def _results_out(results: list[Any], chosen: str) -> None:
    """The results one expectation per row (plain, tsv, csv) or whole (json)."""
    if chosen == "json":
        print_json([r.to_dict() for r in results])
        return
    rows = [{"claim": r.claim.id, "claim_verdict": r.verdict, "as_recorded": r.as_known,
             "expectation": e.expectation.what, "published": e.expectation.describe(),
             "measured": e.error or _fmt(e.measured),
             "test": e.verdict.test if e.verdict else "exact",
             "p": None if e.verdict is None else e.verdict.pvalue, "verdict": e.outcome}
            for r in results for e in r.expectations]
    if not emit(rows, chosen):
        print_plain(([r["claim"], r["verdict"], r["expectation"], r["published"], r["measured"],
                      "—" if r["p"] is None else f"{r['p']:.3g}"] for r in rows), aligned=3)


def new_claim(
    name: str = typer.Argument(..., help="The claim's id and file name (NAME.toml)."),
    directory: Path = typer.Option(None, "--dir", "-d", help="Where to write it (default: here)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing NAME.toml."),
) -> None:
    """Write a claim manifest that runs as written; edit it into the result you reproduce."""
    from tunebench.claims.scaffold import new_claim as write

    with user_errors():
        if directory is not None:
            check_output_dir(directory, "--dir")
        path = write(name, directory, force=force)
    console.print(f"wrote the claim [bold]{name}[/] in {path}\nnext: tunebench claims {path}",
                  highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    from tunebench.cli.plugins import new_app

    app.command("claims")(claims)
    new_app.command("claim")(new_claim)
