"""The report's curve sections: sample efficiency, normalised score, ranks over budget and the
anytime ECDF (each a method of the report builder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from tunebench.reports import (
    ecdf,
    intervals,
    metrics,
    normalised,
    plots,
    stats,
)
from tunebench.reports.frames import BUDGET_UNITS
from tunebench.reports.references import task_reference_summary
from tunebench.reports.render import (
    fmt,
    fmt_int,
    long_table,
    wide_table,
)

if TYPE_CHECKING:  # the builder these sections are mixed into
    from tunebench.reports.build import Section

class CurveSections:
    """Mixed into the report builder: uses its frames (``self.f``), results, tables and figures."""

    def sample_efficiency(self) -> None:
        s = self.section("sample-efficiency", "Sample efficiency")
        refs = self.f.references
        summary = metrics.curve_summary(self.f, "trials", center=self.center,
                                        n_boot=self.n_boot, seed=self.seed)
        self.results["curves_trials"] = summary
        # The level at each pair's repetition count (a point before a study's first success
        # has fewer values, and a narrower level, only there).
        band = (intervals.describe_counts(summary.groupby(["task", "runner"])["n"].max(),
                                          self.center) if "n" in summary and len(summary) else "")
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
        self.simulated_clock(s)

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
        self.bbob_runtime(s)


def _log_x(fig: Figure) -> Figure:
    """Put every axis of ``fig`` on a log x scale (budget axes of runtime distributions)."""
    for ax in fig.axes:
        if ax.has_data():
            ax.set_xscale("log")
    return fig
