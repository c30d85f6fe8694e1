"""`tunebench show`: what a results store found, per task and runner, readable at 80 columns.

Each study is measured against its own reference — the known optimum of its (task, repetition),
or the best value any runner reached in that repetition (:mod:`tunebench.reports.references`,
as in the report) — because tasks such as linreg draw a different split, and so a different
optimum, per repetition. The spread shown is of paired
differences against random search within each repetition (which measures the optimisers), never a
standard deviation over repetitions (which would mostly measure the splits).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from tunebench.cli.common import console, user_errors
from tunebench.cli.formats import chosen_format, emit, format_option, print_plain

if TYPE_CHECKING:  # pandas is imported by the commands that read a store, not by every command
    import pandas as pd

#: The runner the paired differences are taken against.
BASELINE = "random"


def study_regrets(trials: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """One row per study: its test value and its regret against its own (task, repetition)
    reference (:func:`tunebench.reports.references.final_regrets`, as the report measures it).

    A (suite, task, runner, repetition) recorded twice counts once: its latest study."""
    from tunebench.reports.references import final_regrets

    studies = studies.sort_values("study_id").drop_duplicates(
        ["suite", "task", "runner", "repetition"], keep="last")
    trials = trials[trials["study_id"].isin(studies["study_id"])]
    regrets = final_regrets(trials, studies).set_index("study_id")
    last = trials.groupby("study_id").tail(1).set_index("study_id")
    frame = studies.join(last[["best_test_value"]], on="study_id")
    frame["regret"] = frame["study_id"].map(regrets["regret"]).astype(float)
    frame["source"] = frame["study_id"].map(regrets["reference_source"])
    return frame


def paired_difference(regrets: pd.DataFrame, runner: str, baseline: str) -> tuple[float, float, int]:
    """Mean of (runner's regret − baseline's regret) over the repetitions both have, and the
    half-width of its 95% Student-t interval (NaN below two pairs); and the number of pairs."""
    from scipy import stats

    wide = regrets.pivot_table(index="repetition", columns="runner", values="regret",
                               aggfunc="first")
    if runner not in wide or baseline not in wide:
        return math.nan, math.nan, 0
    diff = (wide[runner] - wide[baseline]).dropna().to_numpy(dtype=float)
    if len(diff) == 0:
        return math.nan, math.nan, 0
    if len(diff) < 2:
        return float(diff.mean()), math.nan, 1
    half = float(stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff)))
    return float(diff.mean()), half, len(diff)


def summary_frame(db: Path) -> pd.DataFrame:
    """Per (suite, task, runner): mean regret against each repetition's own reference, the paired
    difference against random search (``delta`` ± ``delta_half``), and counts."""
    return _summary(*_load(db))


def best_frame(db: Path) -> pd.DataFrame:
    """Per (suite, task, runner): the best configuration found over all repetitions."""
    return _best(_load(db)[0])


def _load(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from tunebench.suite.store import load_studies, load_trials

    return load_trials(db), load_studies(db)


def _best(trials: pd.DataFrame) -> pd.DataFrame:
    from tunebench.reports.best_config import best_configurations

    return best_configurations(trials, keys=("suite", "task", "runner"))


def _summary(trials: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """The single-objective studies' summary (multi-objective ones: :mod:`show_moo`)."""
    from tunebench.cli.show_moo import is_multi_objective

    studies = studies[~is_multi_objective(studies)]
    trials = trials[trials["study_id"].isin(studies["study_id"])]
    if studies.empty:
        return _pandas().DataFrame()
    regrets = study_regrets(trials, studies)
    rows = []
    for (suite, task, runner), group in regrets.groupby(["suite", "task", "runner"], sort=False):
        same_task = regrets[(regrets["suite"] == suite) & (regrets["task"] == task)]
        mean, half, pairs = paired_difference(same_task, runner, BASELINE)
        rows.append({
            "suite": suite, "task": task, "runner": runner,
            "direction": group["direction"].iloc[0], "reps": group["repetition"].nunique(),
            "done": int((group["status"] == "done").sum()), "studies": len(group),
            "identical": int(group["identical_to"].notna().sum())
            if "identical_to" in group else 0,
            "exhausted": int(group["search_exhausted"].astype(bool).sum())
            if "search_exhausted" in group else 0,
            "smoke": bool(group["smoke"].astype(bool).any()) if "smoke" in group else False,
            "regret": float(group["regret"].mean()),
            "delta": mean, "delta_half": half, "pairs": pairs,
            "test": float(_pandas().to_numeric(group["best_test_value"], errors="coerce").mean()),
            "trials": int(group["n_trials"].sum()), "failed": int(group["n_failed"].sum()),
            "budget": group["budget_amount"].iloc[0], "budget_kind": group["budget_kind"].iloc[0],
            "source": "; ".join(sorted(set(group["source"].dropna().astype(str)))),
        })
    return _pandas().DataFrame(rows)


def _reference_text(sources: set[str]) -> str:
    """Where a task's regrets are measured from, in words (the sources of its repetitions)."""
    from tunebench.reports import references as r

    if sources == {r.KNOWN}:
        return "the optimum of each repetition"
    if sources == {r.SEEN}:
        return "the best value seen in each repetition"
    if sources <= {r.DECLARED, r.BEATEN}:
        return ("each repetition's reference optimum (not proven), or the best value seen where "
                "a run beat it")
    return "each repetition's own reference (" + "; ".join(sorted(sources)) + ")"


def _number(value: float, digits: int = 4) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}g}"


def _delta(row) -> str:
    if row.runner == BASELINE:
        return "baseline"
    if not math.isfinite(row.delta):
        return "—"
    if not math.isfinite(row.delta_half):
        return f"{row.delta:+.3g}".replace("-", "−")
    text = f"{row.delta:+.3g} ± {row.delta_half:.2g}".replace("-", "−")
    return f"[bold]{text}[/]" if abs(row.delta) > row.delta_half else text


def show(db: Path = typer.Option(Path("results.db"), "--db", help="Results store."),
         fmt: str | None = format_option()) -> None:
    """Summarise a results store: per task and runner, the mean regret against each repetition's
    own reference, the paired difference against random search, and the best configuration.

    "Δ vs random" is the mean over repetitions of (runner's regret − random search's regret in the
    same repetition) ± the half-width of its 95% t interval: bold where the interval excludes 0.

    A multi-objective study (a suite entry with `objectives = [...]`) is judged by the
    hypervolume its trials dominate up to the task's fixed reference point: its table shows the
    mean final hypervolume, Δ vs random on it, the test hypervolume of the non-dominated set and,
    where the task knows its true front, the hypervolume regret.

    In a pipe (or --format plain) one line per (suite, task, runner): suite, task, runner, mean
    regret (or hypervolume), Δ vs random and its half-width, mean test value (or test
    hypervolume), done/studies, best validation value. Machine formats carry `compared_on`.
    """
    from tunebench.cli import show_moo
    from tunebench.reports.best_config import format_config

    chosen = chosen_format(fmt)
    with user_errors():
        trials, studies = _load(db)
        frame, best = _summary(trials, studies), _best(trials)
        multi = studies[show_moo.is_multi_objective(studies)]
        fronts = show_moo.summary(trials, multi, BASELINE) if len(multi) else None
    if frame.empty and fronts is None:
        if not emit([], chosen):
            console.print(f"{db} holds no studies yet.")
        return
    if chosen != "table":
        _rows_out(frame, best, chosen, fronts)
        return
    if fronts is not None:
        show_moo.print_tables(fronts, multi, BASELINE)
    if frame.empty:
        return
    has_baseline = BASELINE in set(frame["runner"])
    for (suite, task), rows in frame.groupby(["suite", "task"], sort=False):
        first = rows.iloc[0]
        sources = {s for text in rows["source"] for s in text.split("; ") if s}
        reference = _reference_text(sources)
        smoke = " (smoke test: not compared)" if first["smoke"] else ""
        table = Table(title=f"{suite} · {task}{smoke}: {first['direction']}, budget "
                            f"{first['budget']:g} {first['budget_kind']}; regret from {reference}",
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        headers = ["runner", "mean regret"] + (["Δ vs random"] if has_baseline else []) + \
            ["mean test", "studies", "failed"]
        longest = min(14, max(len(str(r)) for r in rows["runner"]))
        for column in headers:
            table.add_column(column, justify="left" if column == "runner" else "right",
                             overflow="fold", min_width=longest if column == "runner" else None)
        notes: list[str] = []
        for row in rows.itertuples():
            cells = [row.runner, _number(row.regret)] + ([_delta(row)] if has_baseline else [])
            marks = [f"{row.identical} of {row.studies} repetitions repeat an earlier one's run"
                     ] if row.identical else []
            marks += [f"{row.exhausted} proposed every point of the space before the budget "
                      "ran out"] if row.exhausted else []
            if marks:
                notes.append(f"* {row.runner}: " + "; ".join(marks) + ".")
            studies = f"{row.done}/{row.studies}" + (" *" if marks else "")
            table.add_row(*cells, _number(row.test), studies,
                          f"{row.failed}/{row.trials}" if row.failed else "")
        console.print(table)
        for note in notes:
            console.print(note, highlight=False)
        if not has_baseline:
            console.print("No random-search runner: regrets are means over repetitions, no "
                          "spread is shown (a spread over repetitions would measure the splits).")
        configs = Table(title="best configuration (best validation value over all repetitions)",
                        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("runner", "value", "rep", "configuration"):
            configs.add_column(column, justify="left" if column in ("runner", "configuration")
                               else "right", overflow="fold")
        part = best[(best["suite"] == suite) & (best["task"] == task)].set_index("runner")
        part = part.reindex([r for r in rows["runner"] if r in part.index]).reset_index()
        for row in part.itertuples():
            configs.add_row(row.runner, _number(float(row.value), 5), str(row.repetition),
                            format_config(row.config))
        console.print(configs)


def summary_records(frame: pd.DataFrame, best: pd.DataFrame) -> list[dict]:
    """The summary as plain records (one per suite, task and runner), with the best
    configuration found over all repetitions: what ``--format json|tsv|csv|plain`` print."""
    found = {(r.suite, r.task, r.runner): r for r in best.itertuples()}
    records = []
    for row in frame.itertuples():
        top = found.get((row.suite, row.task, row.runner))
        records.append({"compared_on": "regret", **{
            "suite": row.suite, "task": row.task, "runner": row.runner,
            "direction": str(row.direction), "budget": float(row.budget),
            "budget_kind": str(row.budget_kind), "repetitions": int(row.reps),
            "studies": int(row.studies), "done": int(row.done), "trials": int(row.trials),
            "failed": int(row.failed), "mean_regret": float(row.regret),
            "delta_vs_random": None if row.runner == BASELINE else float(row.delta),
            "delta_half_width": None if row.runner == BASELINE else float(row.delta_half),
            "pairs": int(row.pairs), "mean_test": float(row.test),
            "reference": _reference_text({s for s in str(row.source).split("; ") if s}),
            "smoke": bool(row.smoke),
            "best_value": None if top is None else float(top.value),
            "best_repetition": None if top is None else int(top.repetition),
            "best_config": None if top is None else dict(top.config)},
            **dict.fromkeys(MULTI_OBJECTIVE_FIELDS)})
    return records


#: What a multi-objective row adds (None on single-objective rows): the columns stay the same.
MULTI_OBJECTIVE_FIELDS = ("objectives", "mean_hypervolume", "mean_test_hypervolume",
                          "mean_hv_regret")


def _rows_out(frame: pd.DataFrame, best: pd.DataFrame, chosen: str,
              fronts: pd.DataFrame | None = None) -> None:
    from tunebench.cli.show_moo import records as front_records

    records = summary_records(frame, best) if not frame.empty else []
    if fronts is not None:
        records += front_records(fronts, records[0].keys() if records else None)
    if emit(records, chosen):
        return

    def delta(r: dict) -> list[str]:
        if r["delta_vs_random"] is None:
            return ["baseline", "—"]
        return [_number(r["delta_vs_random"], 3), _number(r["delta_half_width"], 2)]

    def judged(r: dict) -> str:  # regret, or the hypervolume of a multi-objective row
        return _number(r["mean_regret"] if r["compared_on"] == "regret"
                       else r["mean_hypervolume"])

    def test(r: dict) -> str:
        return _number(r["mean_test"] if r["compared_on"] == "regret"
                       else r["mean_test_hypervolume"])

    print_plain(([r["suite"], r["task"], r["runner"], judged(r), *delta(r), test(r),
                  f"{r['done']}/{r['studies']}",
                  "—" if r["best_value"] is None else _number(r["best_value"], 5)]
                 for r in records), aligned=3)


def register(app: typer.Typer) -> None:
    app.command("show")(show)


def _pandas():
    import pandas

    return pandas
