"""Assemble a report: frames → metrics and statistics → tables and figures → sections; then write it.

``build_report(db)`` returns a :class:`Report` (every result frame, table and figure, for notebooks);
``write_report(db, out_dir)`` also writes ``index.html`` (self-contained), ``report.md``, the figures
(PNG and SVG), the tables (CSV) and ``tables.tex``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tunebench.reports import (
    bayesian,
    ecdf,
    intervals,
    metrics,
    normalised,
    plots,
    presentation,
    significance,
    stats,
)
from tunebench.reports.frames import BUDGET_UNITS, Frames, StoreData, build_frames, read_store
from tunebench.reports.headline import build_headline
from tunebench.reports.provenance import Provenance, collect, environments_for_reading
from tunebench.reports.references import task_reference_summary
from tunebench.reports.render import (
    DASH,
    Page,
    Table,
    fmt,
    fmt_int,
    fmt_p,
    fmt_seconds,
    latex_document,
    long_table,
    p_clause,
    render_html,
    render_markdown,
    wide_table,
)

#: Called with a short description before each step of building or writing a report.
Progress = Callable[[str], None]

#: The steps :func:`build_report` announces, in order (for sizing a progress bar).
BUILD_STEPS = (
    "reading the store", "shaping frames", "sample efficiency", "final accuracy",
    "normalised scores", "ranks", "significance", "anytime performance", "costs", "provenance",
)

#: With fewer blocks than this, no two-sided signed-rank test can reach p < 0.05.
MIN_BLOCKS_FOR_SIGNIFICANCE = 6


@dataclass
class Section:
    """One part of the report: an ordered list of items, each ``(kind, payload)``.

    kinds: ``p`` (a paragraph), ``note`` (a caveat), ``warn`` (something the reader must know),
    ``figure`` and ``table`` (keys into the report's figures and tables), ``pre`` ((title, text)).
    """

    id: str
    title: str
    items: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, kind: str, payload: Any) -> None:
        self.items.append((kind, payload))


@dataclass
class Report:
    """Everything a report shows, as Python objects."""

    title: str
    data: Frames  # the analysis frames everything was computed from
    frames: dict[str, pd.DataFrame]  # every result, tidy (the CSV files hold the shown tables)
    tables: dict[str, Table]
    figures: dict[str, Figure]
    captions: dict[str, str]
    sections: list[Section]
    warnings: list[str]
    summary: list[tuple[str, str]]
    statistics: dict[str, Any]
    provenance: Provenance
    #: The report's opening: what it found and what it cannot say, as (kind, text) items.
    headline: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class WrittenReport:
    directory: Path
    index: Path
    markdown: Path
    latex: Path
    figures: list[Path]
    tables: list[Path]


def build_report(source: str | PathLike[str] | StoreData, *, suites: list[str] | None = None,
                 center: str = "median", n_boot: int = 1000, alpha: float = stats.ALPHA,
                 n_targets: int = 20, seed: int = 0, progress: Progress | None = None,
                 procedure: str = significance.PROCEDURES[0]) -> Report:
    """Build a report from a results store (a path, or :class:`StoreData` already read).

    ``center`` is the curve statistic over repetitions (``median`` or ``mean``; its band is an
    exact order-statistic or a Student-t interval, see :mod:`tunebench.reports.intervals`),
    ``n_boot`` is kept for callers but no longer used, ``alpha`` the significance level,
    ``n_targets`` the number of random-search targets per task without a known optimum in the
    anytime ECDF (tasks with one use COCO's 51 Δf targets), ``procedure`` the pairwise test
    behind the significance table and the CD diagram (``wilcoxon-holm`` or ``nemenyi``).
    """
    if center not in ("median", "mean"):
        raise ValueError(f"center must be 'median' or 'mean', not {center!r}")
    if procedure not in significance.PROCEDURES:
        raise ValueError(f"procedure must be one of {significance.PROCEDURES}, not {procedure!r}")
    step = progress or (lambda _description: None)
    step(BUILD_STEPS[0])
    data = source if isinstance(source, StoreData) else read_store(source)
    step(BUILD_STEPS[1])
    frames = build_frames(data, suites=suites)
    builder = _Builder(data, frames, center=center, n_boot=n_boot, alpha=alpha,
                       n_targets=n_targets, seed=seed)
    builder.procedure = procedure
    for description, method in zip(BUILD_STEPS[2:], (
        builder.sample_efficiency, builder.final_accuracy, builder.normalised,
        builder.ranks, builder.significance, builder.anytime, builder.costs, builder.provenance,
    ), strict=True):
        step(description)
        method()
    return builder.report(source)


class _Builder:
    def __init__(self, data: StoreData, frames: Frames, *, center: str, n_boot: int,
                 alpha: float, n_targets: int, seed: int) -> None:
        self.data, self.f = data, frames
        self.center, self.n_boot, self.alpha = center, n_boot, alpha
        self.n_targets, self.seed = n_targets, seed
        self.procedure = significance.PROCEDURES[0]
        self.style = plots.RunnerStyle(frames.runners, metrics.find_baseline(frames))
        self.results: dict[str, pd.DataFrame] = {}
        self.tables: dict[str, Table] = {}
        self.figures: dict[str, Figure] = {}
        self.captions: dict[str, str] = {}
        self.sections: list[Section] = []
        self.statistics: dict[str, Any] = {}
        self.prov: Provenance | None = None
        reps = frames.studies.groupby(["task", "runner"]).size()
        self.max_reps = int(reps.max()) if len(reps) else 0
        common = frames.common_budget
        if common is None:
            self.agg_label, self.agg_scale = "fraction of each task's budget", 1.0
        else:
            self.agg_label, self.agg_scale = BUDGET_UNITS.get(common[0], common[0]), common[1]

    # -- helpers -------------------------------------------------------------------------

    def section(self, id_: str, title: str) -> Section:
        section = Section(id_, title)
        self.sections.append(section)
        return section

    def figure(self, section: Section, name: str, caption: str,
               factory: Callable[[], Figure]) -> None:
        with plots.theme():
            self.figures[name] = factory()
        self.captions[name] = caption
        section.add("figure", name)

    def table(self, section: Section, table: Table) -> None:
        self.tables[table.name] = table
        section.add("table", table.name)

    def task_rows(self, wide: pd.DataFrame) -> pd.DataFrame:
        """Rows in the suite's task order, columns in runner order."""
        rows = [t for t in self.f.tasks if t in wide.index]
        return wide.reindex(index=rows, columns=[r for r in self.f.runners if r in wide.columns])

    # -- sections ------------------------------------------------------------------------

    def sample_efficiency(self) -> None:
        s = self.section("sample-efficiency", "Sample efficiency")
        refs = self.f.references
        summary = metrics.curve_summary(self.f, "trials", center=self.center,
                                        n_boot=self.n_boot, seed=self.seed)
        self.results["curves_trials"] = summary
        band = intervals.describe_counts(summary["n"], self.center) if "n" in summary else ""
        s.add("p", f"Best validation value found so far against the budget spent, per task: the "
                   f"{self.center} over repetitions, with its band: {band}. Where the task knows "
                   "its optimum the y axis is the regret (distance to that repetition's "
                   "optimum) on a log scale.")
        self.figure(s, "sample_efficiency_trials", "Best-so-far against trials.",
                    lambda: plots.sample_efficiency(summary, self.style, use_budget=False,
                                                    xlabels={}, center=self.center))
        other = refs[refs["budget_kind"] != "trials"]
        if len(other):
            budget = metrics.curve_summary(self.f, "budget", center=self.center,
                                           n_boot=self.n_boot, seed=self.seed,
                                           tasks=list(other.index))
            self.results["curves_budget"] = budget
            labels = {t: BUDGET_UNITS.get(k, k) for t, k in other["budget_kind"].items()}
            self.figure(s, "sample_efficiency_budget",
                        "Best-so-far against the budget's own currency (epochs or device seconds).",
                        lambda: plots.sample_efficiency(budget, self.style, use_budget=True,
                                                        xlabels=labels, center=self.center))
        if self.max_reps < 2:
            s.add("note", "Only one repetition per runner and task: no confidence bands.")
        unknown = [t for t in self.f.tasks if not refs.loc[t, "optimum_known"]]
        if unknown:
            s.add("note", "No known optimum, so the best value itself is drawn (linear axis) for: "
                          + ", ".join(unknown) + ".")
        self.regret_references(s)
        if len(self.f.tasks) != len(unknown):
            s.add("note", "A regret of exactly 0 (optimum reached) is drawn at the bottom of the "
                          "log axis.")
        s.add("note", "A study that stopped after fewer trials than others keeps its final value "
                      "to the right of its last trial.")

    def regret_references(self, s: Section) -> None:
        """Each study's final regret against its own (task, repetition) reference, and a table
        of where each task's references come from."""
        final = self.f.final
        self.results["final_regret"] = final[["task", "runner", "repetition", "final_regret",
                                              "reference_loss", "reference_source"]].rename(
            columns={"final_regret": "regret"})
        self.results["references"] = self.f.repetition_references
        summary = task_reference_summary(self.f.repetition_references)
        s.add("p", "Regret is measured per repetition: each study against its own (task, "
                   "repetition) reference, since a task's optimum can depend on the seed that "
                   "splits its data. The reference is the optimum recorded for that seed where the "
                   "task knows it, else the best value any runner reached in that repetition "
                   "(also where a run beat a reference optimum that is not proven); so regret is "
                   "never negative, and 0 for the best study of a repetition measured from the "
                   "best value seen.")
        self.table(s, long_table(
            "references", "Regret references per task", summary,
            {"n_repetitions": fmt_int, "varies": lambda v: "yes" if v else "no"},
            headers={"reference_source": "reference", "n_repetitions": "repetitions",
                     "reference_min": "lowest", "reference_max": "highest",
                     "varies": "differs by repetition"}))
        varies = summary.loc[summary["varies"], "task"].tolist()
        if varies:
            s.add("note", "The reference differs between repetitions on " + ", ".join(varies)
                          + ": a spread of raw values over repetitions there partly measures the "
                            "seeds (data splits, noise), not the optimisers; regrets and normalised "
                            "scores, measured per repetition, remove it.")

    def final_accuracy(self) -> None:
        s = self.section("final-accuracy", "Final test performance")
        summary = metrics.final_test_summary(self.f)
        self.results["final_test"] = summary
        counts = summary["n"].to_numpy() if not summary.empty else np.zeros(0)
        reps = counts[counts > 0]
        n_min, n_max = (int(reps.min()), int(reps.max())) if len(reps) else (0, 0)
        s.add("p", "The test value of each study's incumbent (its best validation value) at the "
                   "end of the budget; the optimiser never saw test values. Cells show the median "
                   f"over repetitions and its {intervals.describe_counts(counts)}, which stays within "
                   "the values seen and so within the metric's range. Bold marks a runner that is "
                   "significantly best on its task (Wilcoxon signed-rank against every other "
                   f"runner, repetitions paired, Holm-corrected, α = {self.alpha:g}); without "
                   "bold, no runner is.")
        if summary.empty or summary["n"].sum() == 0:
            s.add("warn", "No study has a test value: the tasks record none, or no trial succeeded.")
            return
        if 2 <= n_min < intervals.SMALL_N:
            s.add("warn", f"Only {n_min} repetitions: the intervals of this report cover less than "
                          f"95% — {intervals.describe_counts([n_min])}. Run at least "
                          f"{intervals.SMALL_N} repetitions for intervals within 3 points of 95%.")
        if 2 <= n_max < MIN_BLOCKS_FOR_SIGNIFICANCE:
            s.add("note", f"With fewer than {MIN_BLOCKS_FOR_SIGNIFICANCE} repetitions no paired "
                          "signed-rank test can reach p < 0.05, so no runner can be bold.")
        cells = {c: self.task_rows(summary.pivot(index="task", columns="runner", values=c))
                 for c in ("median", "median_ci_low", "median_ci_high")}
        texts = pd.DataFrame([[_fmt_ci(m, lo, hi) for m, lo, hi in zip(*rows, strict=True)]
                              for rows in zip(*(cells[c].to_numpy() for c in cells), strict=True)],
                             index=cells["median"].index, columns=cells["median"].columns)
        tasks, runners = list(texts.index), list(texts.columns)
        bold = significance.significantly_best_mask(self.f.tested_final, "final_test", tasks,
                                                    runners, self.alpha)
        self.results["final_test_best"] = pd.DataFrame(bold, index=tasks, columns=runners) \
            .rename_axis("task").reset_index()
        self.table(s, wide_table("final_test", "Final test value (median [interval])",
                                 cells["median"], index_name="task", texts=texts, bold=bold,
                                 data=summary))
        validation = (self.f.final.groupby(["task", "runner"], sort=False)["final_value"]
                      .median().rename("validation_median"))
        detail = summary.join(validation, on=["task", "runner"])[
            ["task", "runner", "direction", "n", "n_missing", "median", "median_ci_low",
             "median_ci_high", "median_ci_level", "mean", "best", "worst", "validation_median"]]
        self.table(s, long_table(
            "final_test_detail", "Final test value per task and runner", detail,
            {"n": fmt_int, "n_missing": fmt_int,
             "median_ci_level": lambda v: f"{100 * float(v):.1f}%" if np.isfinite(v) else DASH},
            headers={"n_missing": "missing", "median_ci_low": "interval low",
                     "median_ci_high": "interval high", "median_ci_level": "interval level",
                     "validation_median": "validation (median)"},
            collapsed=len(detail) > 12))
        self.figure(s, "final_test", "Final test value: one dot per repetition.",
                    lambda: plots.final_values(self.f.final, self.style, column="final_test",
                                               ylabel="test value"))
        self.versus_random(s)
        repeats = self.f.final[self.f.final["repeat"]] if "repeat" in self.f.final else None
        if repeats is not None and len(repeats):
            pairs = repeats.groupby(["runner", "task"], sort=False).size()
            s.add("note", "Runs that repeat an earlier repetition's run exactly (a pinned seed, or a "
                          "runner that ignores its seed) are counted once in the bold and the "
                          "paired tests: " + ", ".join(f"{r} on {t} ({n} left out)"
                                                       for (r, t), n in pairs.items()) + ".")
        if self.max_reps < 2:
            s.add("note", "Only one repetition: no confidence intervals.")
        missing = int(summary["n_missing"].sum())
        if missing:
            s.add("note", f"{missing} studies have no test value (no successful trial, or the "
                          "task gives none) and are left out of this table.")

    def versus_random(self, s: Section) -> None:
        """Paired test-value differences against random search, within each repetition."""
        baseline = metrics.find_baseline(self.f)
        if baseline is None or len(self.f.runners) < 2:
            return
        for value, column in significance.VALUE_COLUMNS.items():
            self.results[f"vs_random_{value}"] = significance.paired_differences(
                self.f.tested_final, baseline, column, alpha=self.alpha)
        diffs = self.results["vs_random_test"]
        if diffs.empty or not diffs["n"].gt(0).any():
            return
        s.add("p", f"Against random search ({baseline!r}): each runner's test value minus random "
                   "search's in the same repetition (same evaluation seed), per task. The interval "
                   "is the exact order-statistic interval of the median difference, at the level "
                   "shown; p is a two-sided Wilcoxon signed-rank test, Holm-corrected over the "
                   "runners of a task. Positive differences mean a higher test value.")
        shown = diffs.assign(interval=[_fmt_ci(m, lo, hi) for m, lo, hi in
                                       zip(diffs["median_diff"], diffs["ci_low"], diffs["ci_high"],
                                           strict=True)])
        shown = shown[["task", "runner", "n", "interval", "level", "mean_diff", "p", "p_holm",
                       "better"]]
        self.table(s, long_table(
            "vs_random_test", f"Test value minus {baseline}'s, paired by repetition", shown,
            {"n": fmt_int, "mean_diff": lambda v: fmt(v, 3), "p": fmt_p, "p_holm": fmt_p,
             "level": lambda v: f"{100 * float(v):.1f}%" if np.isfinite(v) else DASH},
            headers={"interval": "median difference [interval]", "mean_diff": "mean difference",
                     "p_holm": "p (Holm)"},
            bold={"p_holm": (diffs["p_holm"] < self.alpha).to_numpy()},
            data=diffs, collapsed=len(shown) > 15))

    def normalised(self) -> None:
        s = self.section("normalised-score", "Normalised score")
        scores = normalised.normalised_scores(self.f)
        s.add("p", "Bayesmark's normalised score puts tasks of different scales on one scale. "
                   "Per repetition (pooled over repetitions where every repetition has the same "
                   "known optimum), the clip level is random search's median single evaluation; "
                   "a study's score is (min(best value, clip) − reference) / (clip − reference) in "
                   "the minimising direction, clipped to [−1, 1]: 0 is the reference, 1 no better "
                   "than one random evaluation, so diverged or failed values cannot stretch the "
                   "scale. Random search's expected score uses the pooled expected minimum over "
                   "all its evaluations. Scores are averaged over repetitions, then over tasks; "
                   "Bayesmark's leaderboard figure is 100 × (1 − mean).")
        if scores.baseline is None:
            s.add("warn", "No runner named 'random' in this comparison, so there is no random "
                          "search to set the clip level and baseline: no normalised scores. "
                          "Add the 'random' runner to the suite to get them.")
            return
        if scores.baseline != metrics.BASELINE:
            s.add("note", f"Random search is the runner labelled {scores.baseline!r}.")
        self.results["normalised_scores"] = scores.final
        self.results["normalised_over_budget"] = scores.over_budget
        self.results["normalised_problems"] = scores.problems
        self.results["normalised_random_expected"] = scores.random_expected
        self.results["normalised_summary"] = scores.summary
        table = scores.table.reindex(columns=self.f.runners)
        self.table(s, wide_table(
            "normalised_score", "Normalised score at the end of the budget (0 = reference, "
            "1 = one random evaluation; mean over repetitions, then tasks)", table,
            index_name="task", formatter=lambda v: fmt(v, 3),
            data=table.rename_axis("task").reset_index()))
        self.table(s, long_table(
            "normalised_summary", "Over tasks: Bayesmark's score and the ratio to random search",
            scores.summary, {"n_tasks": fmt_int, "mean_score": lambda v: fmt(v, 3),
                             "bayesmark_score": lambda v: fmt(v, 3),
                             "relative_to_random": lambda v: fmt(v, 3),
                             "random_expected": lambda v: fmt(v, 3)},
            headers={"n_tasks": "tasks", "mean_score": "mean score",
                     "bayesmark_score": "100 × (1 − mean)",
                     "relative_to_random": "mean / random's expected",
                     "random_expected": "random's expected mean"}))
        summary = normalised.normalised_score_curve(self.f, scores)
        self.results["normalised_score_curve"] = summary
        if not summary.empty:
            self.figure(s, "normalised_score", "Mean normalised score over tasks against budget, "
                        "on one budget grid for all tasks (band: Student-t 95% interval over "
                        "tasks, as Bayesmark's error bars).",
                        lambda: plots.normalised_score(summary, self.style, xlabel=self.agg_label,
                                                       xscale=self.agg_scale))
        seen = [t for t in self.f.tasks if not self.f.references.loc[t, "optimum_known"]]
        if seen:
            s.add("note", "Unknown optimum, so the best value any runner reached in the "
                          "repetition is the reference: " + ", ".join(seen) + ".")
        if scores.undefined_tasks:
            s.add("note", "Random search's median evaluation is already at the reference on "
                          + ", ".join(scores.undefined_tasks)
                          + ", so the score is undefined there (left out of the mean).")
        self.smoke_note(s)

    def smoke_note(self, s: Section) -> None:
        if self.f.smoke_tasks:
            s.add("note", "Smoke-test tasks are left out of every average over tasks: "
                          + ", ".join(self.f.smoke_tasks) + ".")

    def ranks(self) -> None:
        s = self.section("ranks", "Ranks over budget")
        ranks = metrics.ranks_over_budget(self.f)
        self.results["ranks_over_budget"] = ranks
        s.add("p", "The average rank of each runner at each point of the budget (1 = best; tied "
                   "values share their average rank; a runner without a successful trial yet "
                   "ranks last): ranked within each task and repetition, averaged over a task's "
                   "repetitions, then over tasks. Every task's curve is read on one budget grid "
                   "(steps carried forward), so every point averages the same blocks.")
        if len(self.f.runners) < 2:
            s.add("warn", "Only one runner: nothing to rank.")
            return
        if not ranks.empty:
            blocks, n_tasks = int(ranks["n_blocks"].iloc[0]), int(ranks["n_tasks"].iloc[0])
            self.figure(s, "ranks_over_budget", f"Average rank against budget ({n_tasks} tasks, "
                        f"{blocks} task × repetition blocks at every point).",
                        lambda: plots.ranks(ranks, self.style, xlabel=self.agg_label,
                                            xscale=self.agg_scale))
        self.smoke_note(s)
        matrix = stats.block_matrix(self.f.final).values
        if matrix.empty:
            return
        ranked = pd.DataFrame(stats.rank_rows(matrix.to_numpy(dtype=float)), index=matrix.index,
                              columns=matrix.columns)
        per_task = ranked.groupby(level="task", sort=False).mean()
        per_task = self.task_rows(per_task)
        # Each task weighs the same (its repetitions averaged first); smoke tasks stay out.
        cross = [t for t in self.f.cross_task_tasks if t in per_task.index]
        per_task.loc["all tasks (mean over tasks)"] = per_task.loc[cross].mean(axis=0)
        self.results["final_ranks"] = per_task.rename_axis("task").reset_index()
        self.table(s, wide_table("final_ranks", "Average rank at the end of the budget (no "
                                 "bold: see Significance for which differences hold)", per_task,
                                 index_name="task", formatter=lambda v: fmt(v, 3)))

    def significance(self) -> None:
        s = self.section("significance", "Significance")
        # Each run once (repeats of a pinned seed left out), smoke tasks out of every statistic.
        final = self.f.tested_final
        final = final[final["task"].isin(self.f.cross_task_tasks)]
        self.smoke_note(s)
        value = "test" if final["final_test"].notna().any() else "validation"
        procedure = self.procedure
        main = significance.compare(final, value=value, design="task", procedure=procedure,
                                    alpha=self.alpha)
        if len(self.f.runners) < 2:
            s.add("warn", "Only one runner: nothing to test.")
            return
        fallback = main.n_blocks < significance.MIN_BLOCKS
        if fallback:
            main = significance.compare(final, value=value, design="repetition",
                                        procedure=procedure, alpha=self.alpha)
        named = {"wilcoxon-holm": "pairwise Wilcoxon signed-rank tests (Holm-corrected)",
                 "nemenyi": "Nemenyi's test on average ranks"}[procedure]
        s.add("p", f"Values are the final {value} values (the headline table's metric"
                   f"{'' if value == 'test' else ': no task records test values'}), as losses "
                   "scaled to [0, 1] within each task so tasks weigh alike (a study without a "
                   f"successful trial counts as the worst); {main.design_label}. Friedman's test "
                   f"asks whether the runners' ranks differ at all; {named} decide which pairs "
                   "differ, and the critical-difference diagram's bars come from those same "
                   f"decisions; α = {self.alpha:g}. The same comparison on validation values "
                   "stands beside it in the table.")
        if fallback:
            s.add("warn", "Fewer than three tasks with every runner: too few to compare runners "
                          "across tasks (Demšar's design, one block per task). Shown instead: "
                          "(task, repetition) blocks — pseudo-replication, so read the results as "
                          "a description of these tasks, not as evidence that carries over to "
                          "others.")
        beside = (significance.compare(final, value="validation", design=main.design,
                                       procedure=procedure, alpha=self.alpha)
                  if value == "test" else None)
        self.statistics.update(design=main.design, procedure=procedure, value=value,
                               comparison=main, comparison_validation=beside,
                               n_blocks=main.n_blocks, n_runners=main.n_runners)
        if main.blocks.dropped_blocks:
            s.add("note", f"{main.blocks.dropped_blocks} blocks where some runner has no study "
                          f"or no {value} value are left out.")
        for message in main.messages:
            s.add("warn" if "too few" in message or "Only one" in message else "note", message)
        if main.pairs.empty:
            return
        k, n = main.n_runners, main.n_blocks
        avg = main.average_ranks
        if procedure == "wilcoxon-holm" and n < MIN_BLOCKS_FOR_SIGNIFICANCE:
            s.add("note", f"Only {n} blocks: with fewer than {MIN_BLOCKS_FOR_SIGNIFICANCE} no "
                          "pairwise signed-rank test can reach significance at 0.05.")
        self.statistics.update(average_ranks=avg, critical_difference=main.critical_difference,
                               q_alpha=stats.nemenyi_q(k, self.alpha), cliques=main.cliques)
        if main.friedman is not None:
            result = main.friedman
            self.statistics["friedman"] = result
            verdict = "the runners differ" if result.pvalue < self.alpha else \
                "no evidence that the runners differ"
            s.add("p", f"Friedman test over {n} blocks and {k} runners: χ² = "
                       f"{result.statistic:.3f}, {p_clause(result.pvalue)} — {verdict}.")
            if result.pvalue >= self.alpha:
                s.add("note", "As Friedman's test finds no difference, read the pairwise tests "
                              "below with caution.")
        pairs = main.pairs
        if beside is not None and not beside.pairs.empty:
            other = beside.pairs.set_index(["runner_a", "runner_b"])
            key = pd.MultiIndex.from_frame(pairs[["runner_a", "runner_b"]])
            p_column = "pvalue_holm" if "pvalue_holm" in other else "pvalue"
            pairs = pairs.assign(
                pvalue_validation=other[p_column].reindex(key).to_numpy(),
                significant_validation=other["significant"].reindex(key).to_numpy())
        self.results["pairwise"] = pairs
        if procedure == "wilcoxon-holm":
            self.results["wilcoxon"] = pairs
            self.statistics["wilcoxon"] = pairs
        title = {"wilcoxon-holm": "Pairwise Wilcoxon signed-rank tests (Holm-corrected)",
                 "nemenyi": "Pairwise Nemenyi tests"}[procedure]
        self.table(s, long_table(
            "wilcoxon" if procedure == "wilcoxon-holm" else "nemenyi", title, pairs,
            {"statistic": fmt, "pvalue": fmt_p, "pvalue_holm": fmt_p, "pvalue_validation": fmt_p,
             "median_difference": lambda v: fmt(v, 3), "rank_difference": lambda v: fmt(v, 3)},
            headers={"runner_a": "A", "runner_b": "B", "a_better": "A better",
                     "b_better": "B better", "pvalue": "p", "pvalue_holm": "p (Holm)",
                     "n_nonzero": "non-tied", "median_difference": "median A − B",
                     "rank_difference": "rank A − B", "pvalue_validation": "p (validation)",
                     "significant_validation": "significant (validation)"},
            bold={"pvalue_holm" if "pvalue_holm" in pairs else "pvalue":
                  pairs["significant"].to_numpy(dtype=bool)},
            collapsed=len(pairs) > 15))
        if main.can_rank:
            cd = main.critical_difference if procedure == "nemenyi" else None
            how = (f"Nemenyi's CD = {main.critical_difference:.2f}" if cd is not None
                   else "the Holm-corrected Wilcoxon tests of the table")
            self.figure(s, "critical_difference",
                        f"Critical-difference diagram: average ranks over {n} "
                        f"{'tasks' if main.design == 'task' else '(task, repetition) blocks'} "
                        f"(1 = best); runners joined by a bar are not significantly different by "
                        f"{how}.",
                        lambda: plots.cd_diagram(avg, cd, main.cliques, self.style))
        self.bayesian(s, main)
        rates = stats.win_rates(main.blocks.values)
        self.results["win_rates"] = rates.rename_axis("runner").reset_index()
        self.figure(s, "win_rates", "Win rate: share of blocks where the row runner's final "
                    "value beats the column runner's (ties count half).",
                    lambda: plots.win_rates(rates))
        self.table(s, wide_table("win_rates", "Pairwise win rate (row beats column)", rates,
                                 index_name="runner",
                                 formatter=lambda v: f"{v:.2f}" if np.isfinite(v) else DASH))

    def bayesian(self, s: Section, main: significance.Comparison) -> None:
        """Bayesian signed-rank tests with a ROPE on the same blocks as the frequentist table."""
        table = bayesian.pairwise(main.blocks.values, seed=self.seed, n_samples=10_000)
        self.results["bayesian_signed_rank"] = table
        s.add("p", "Bayesian signed-rank tests (Benavoli et al. 2017) on the same blocks: the "
                   "posterior probability that A is better, that the two are practically "
                   f"equivalent (scaled losses within ±{bayesian.ROPE:g}, i.e. 1% of a task's spread "
                   "of final values), or that B is better; a probability above "
                   f"{bayesian.DECISION:g} is shown as the decision.")
        self.table(s, long_table(
            "bayesian_signed_rank", "Bayesian signed-rank tests (ROPE)", table,
            {c: lambda v: f"{float(v):.3f}" for c in ("p_a_better", "p_equivalent", "p_b_better")},
            headers={"runner_a": "A", "runner_b": "B", "p_a_better": "P(A better)",
                     "p_equivalent": "P(equivalent)", "p_b_better": "P(B better)"},
            collapsed=True))

    def anytime(self) -> None:
        s = self.section("anytime", "Anytime performance")
        targets = ecdf.ecdf_targets(self.f, self.n_targets)
        curve = ecdf.anytime_ecdf(self.f, targets)
        self.results["ecdf_targets"] = targets
        self.results["ecdf"] = curve
        self.results["ecdf_per_task"] = ecdf.anytime_ecdf(self.f, targets, aggregate=False)
        s.add("p", "COCO-style runtime distribution: the share of fixed targets a runner has "
                   "reached against budget (log axis). Targets are fixed per task and repetition "
                   "before runners are compared, so adding a runner moves no other curve: where "
                   "the task knows its optimum, COCO's Δf = 10^2 … 10^-8 above that seed's "
                   "optimum; where it does not, quantiles of random search's evaluations on the "
                   "task (all repetitions pooled), from their median (about 2 random evaluations) "
                   "to their best. Shares average over targets and repetitions, then tasks (each weighs "
                   "the same), on one budget grid.")
        if not curve.empty:
            n_tasks = int(curve["n_tasks"].iloc[0])
            self.figure(s, "ecdf", f"Share of targets reached against budget ({n_tasks} tasks).",
                        lambda: _log_x(plots.ecdf(curve, self.style, xlabel=self.agg_label,
                                                  xscale=self.agg_scale)))
        laddered = sorted(set(targets.loc[targets["kind"] == ecdf.RANDOM_LADDER, "task"])) \
            if len(targets) else []
        if laddered:
            s.add("note", "Random search's targets on " + ", ".join(laddered) + " come from its "
                          "own evaluations, so it reaches them a little more easily than a "
                          "fresh random search would (pooling over repetitions keeps this small).")
        left_out = ecdf.untargeted_tasks(self.f, targets)
        if left_out:
            s.add("note", "No known optimum and no random search to set targets, so left out: "
                          + ", ".join(left_out) + ".")
        self.smoke_note(s)
        self.table(s, long_table("ecdf_targets", "Targets per task (easiest and hardest: Δf "
                                 "levels, or random-search values)",
                                 ecdf.target_table(self.f, targets), {"targets": fmt_int},
                                 headers={"targets_from": "targets from",
                                          "targets": "per repetition"}))

    def costs(self) -> None:
        s = self.section("costs", "Costs and failures")
        overhead = metrics.optimizer_overhead(self.f)
        self.results["optimizer_overhead"] = overhead
        if not overhead.empty:
            self.figure(s, "optimizer_overhead", "Optimiser time per trial (ask + tell) against "
                        "trial number: median and interquartile band over studies.",
                        lambda: plots.optimizer_overhead(overhead, self.style))
        if len(self.f.trials):
            self.figure(s, "eval_seconds", "Evaluation time per trial.",
                        lambda: plots.eval_seconds(self.f.trials, self.style))
        costs = metrics.eval_costs(self.f)
        self.results["costs"] = costs
        self.table(s, long_table(
            "costs", "Time per task and runner", costs,
            {"trials": fmt_int, "eval_median": fmt_seconds, "optimizer_median": fmt_seconds,
             "eval_per_study": fmt_seconds, "optimizer_per_study": fmt_seconds,
             "cpu_per_study": fmt_seconds, "cached_share": lambda v: f"{100 * float(v):.0f}%"},
            headers={"eval_median": "eval / trial (median)",
                     "optimizer_median": "optimiser / trial (median)",
                     "eval_per_study": "eval / study", "optimizer_per_study": "optimiser / study",
                     "cpu_per_study": "CPU / study", "cached_share": "cached"},
            collapsed=len(costs) > 15))
        counts = metrics.failure_counts(self.f)
        self.results["failure_counts"] = counts
        self.table(s, long_table("failure_counts", "Failed and pruned trials per runner", counts,
                                 {c: fmt_int for c in counts.columns if c != "runner"},
                                 headers={"studies_without_success": "studies without success",
                                          "clipped": "clipped by the budget"}))
        failed = metrics.failures(self.f)
        self.results["failures"] = failed
        if failed.empty:
            s.add("p", "No trial failed.")
        else:
            self.table(s, long_table("failures", "Failed trials by error message (first line)",
                                     failed, {"count": fmt_int, "studies": fmt_int},
                                     collapsed=len(failed) > 15))

    def provenance(self) -> None:
        s = self.section("provenance", "Provenance")
        prov = collect(self.data, self.f)
        self.prov = prov
        self.results["studies"] = prov.studies
        self.results["environments"] = prov.environments
        s.add("p", "What produced these numbers: the suite (as resolved and as written), the "
                   "seeds, every environment the studies ran in, and the budget of each study.")
        for warning in prov.warnings:
            s.add("warn", warning)
        for note in prov.notes:
            s.add("note", note)
        if len(prov.suites):
            self.table(s, long_table("suites", "Suites", prov.suites,
                                     {"seed": str, "repetitions": str, "tasks": fmt_int,
                                      "runners": fmt_int}, in_latex=False))
        for name, text in prov.suite_sources.items():
            s.add("pre", (f"Suite file {name}", text))
        if len(prov.environments):
            shown = environments_for_reading(prov.environments)
            self.table(s, wide_table("environments", "Environments", shown, index_name="fact",
                                     formatter=str, data=prov.environments))
            self.tables["environments"].align = ["l"] * (shown.shape[1] + 1)
            self.tables["environments"].in_latex = False
        else:
            s.add("warn", "The store holds no environment record.")
        studies = prov.studies
        same = [c for c in studies.columns if len(studies) > 1 and c != "study_id"
                and studies[c].astype(str).nunique() == 1]
        if same:
            s.add("note", "Every study has the same " + "; ".join(
                f"{c.replace('_', ' ')}: {_plain(studies[c].iloc[0])}" for c in same) + ".")
        varying = studies.drop(columns=same)
        formats = {"study_id": str, "repetition": str, "eval_seed": str, "runner_seed": str,
                   "budget_amount": fmt, "budget_spent": fmt, "n_trials": fmt_int,
                   "n_failed": fmt_int, "threads": str, "env_id": str}
        self.table(s, long_table(
            "studies", "Studies: seeds and budgets", varying,
            {c: f for c, f in formats.items() if c in varying.columns},
            data=studies, in_latex=False, collapsed=True))

    # -- the result ----------------------------------------------------------------------

    def summary(self, source: object) -> list[tuple[str, str]]:
        f = self.f
        status = f.trials["status"].astype(str).value_counts()
        clipped = int(f.trials["clipped"].sum()) if "clipped" in f.trials else 0
        reps = f.studies.groupby(["task", "runner"]).size()
        budgets = f.references.apply(
            lambda r: f"{r['budget_amount']:g} {BUDGET_UNITS.get(r['budget_kind'], '')}", axis=1)
        rows = [
            ("Suite", ", ".join(sorted(f.studies["suite"].astype(str).unique()))),
            ("Tasks", ", ".join(f.tasks)),
            ("Runners", ", ".join(f.runners)),
            ("Repetitions", str(reps.min()) if reps.min() == reps.max()
             else f"{reps.min()}–{reps.max()}"),
            ("Budget", ", ".join(sorted(set(budgets))) if len(budgets) else DASH),
            ("Studies", str(len(f.studies))),
            ("Trials", f"{len(f.trials)} ({status.get('ok', 0)} ok, {status.get('failed', 0)} "
                       f"failed, {status.get('pruned', 0) - clipped} pruned"
                       + (f", {clipped} clipped by a time budget)" if clipped else ")")),
        ]
        if not isinstance(source, StoreData):
            rows.append(("Store", str(source)))
        rows.append(("Generated", _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")))
        return rows

    def report(self, source: object) -> Report:
        suites = sorted(self.f.studies["suite"].astype(str).unique())
        warnings = list(self.prov.warnings) if self.prov else []
        head = build_headline(self.f, self.results, self.statistics, self.alpha)
        self.statistics["headline"] = head
        config = presentation.finalise(self.f, self.results, self.tables, self.sections,
                                       self.statistics)
        self.results["best_configurations"] = config.data
        best = Section("best-configurations", "Best configurations")
        best.add("p", "The configuration with the best validation value each runner found on "
                      "each task, over all its repetitions, with that trial's test value.")
        best.add("table", config.name)
        after = next((i + 1 for i, s in enumerate(self.sections) if s.id == "final-accuracy"),
                     len(self.sections))
        self.sections.insert(after, best)
        return Report(
            title="tunebench report — " + ", ".join(suites), data=self.f, frames=self.results,
            tables=self.tables, figures=self.figures, captions=self.captions,
            sections=self.sections, warnings=warnings, summary=self.summary(source),
            statistics=self.statistics, provenance=self.prov, headline=head.items,
        )


# -- writing -------------------------------------------------------------------------------

def _log_x(fig: Figure) -> Figure:
    """Put every axis of ``fig`` on a log x scale (budget axes of runtime distributions)."""
    for ax in fig.axes:
        if ax.has_data():
            ax.set_xscale("log")
    return fig


def _plain(value: Any) -> str:
    """A value for prose: floats without trailing zeros, booleans as yes / no."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return f"{float(value):.6g}" if isinstance(value, (float, np.floating)) else str(value)


def _csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Dicts and lists as JSON, so the CSV stays one value per cell."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, (dict, list))).any():
            out[col] = out[col].map(lambda v: json.dumps(v, sort_keys=True, default=str)
                                    if isinstance(v, (dict, list)) else v)
    return out


def write_report(source: str | PathLike[str] | StoreData | Report, out_dir: str | PathLike[str],
                 *, progress: Progress | None = None, **options: Any) -> WrittenReport:
    """Build (unless given a :class:`Report`) and write a report into ``out_dir``.

    Writes ``index.html`` (self-contained: figures embedded, no network), ``report.md``,
    ``figures/NAME.png`` and ``.svg``, ``tables/NAME.csv`` and ``tables.tex``. ``options`` go to
    :func:`build_report`.
    """
    step = progress or (lambda _description: None)
    report = source if isinstance(source, Report) else build_report(source, progress=progress,
                                                                    **options)
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)

    figure_paths: list[Path] = []
    embedded: dict[str, dict[str, str]] = {}
    for name, fig in report.figures.items():
        step(f"drawing {name}")
        png, svg = out / "figures" / f"{name}.png", out / "figures" / f"{name}.svg"
        with plots.theme():
            fig.savefig(png, format="png")
            fig.savefig(svg, format="svg")
        figure_paths += [png, svg]
        embedded[name] = {
            "caption": report.captions.get(name, ""),
            "data_uri": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode(),
            "png": f"figures/{name}.png", "svg": f"figures/{name}.svg",
        }

    step("writing tables")
    table_paths = []
    for name, table in report.tables.items():
        path = out / "tables" / f"{name}.csv"
        _csv_safe(table.data).to_csv(path, index=False)
        table_paths.append(path)
    latex = out / "tables.tex"
    latex.write_text(latex_document(list(report.tables.values()), report.title), encoding="utf-8")

    step("writing pages")
    page = Page(title=report.title,
                generated=_dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                summary=report.summary, warnings=report.warnings, sections=report.sections,
                tables=report.tables, figures=embedded, headline=report.headline)
    index, markdown = out / "index.html", out / "report.md"
    index.write_text(render_html(page), encoding="utf-8")
    markdown.write_text(render_markdown(page), encoding="utf-8")
    return WrittenReport(out, index, markdown, latex, figure_paths, table_paths)


def _fmt_ci(center: Any, lo: Any, hi: Any) -> str:
    """``center [lo, hi]``, or just the centre where there is no interval."""
    if not np.isfinite(float(center)):
        return DASH
    if not (np.isfinite(float(lo)) and np.isfinite(float(hi))):
        return fmt(center)
    return f"{fmt(center)} [{fmt(lo)}, {fmt(hi)}]"
