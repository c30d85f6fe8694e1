"""The report's test sections: final test values against random search, and the significance
tests (each a method of the report builder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tunebench.reports import (
    bayesian,
    intervals,
    metrics,
    plots,
    significance,
    stats,
)
from tunebench.reports.render import (
    DASH,
    fmt,
    fmt_ci,
    fmt_int,
    fmt_p,
    long_table,
    p_clause,
    wide_table,
)

if TYPE_CHECKING:  # the builder these sections are mixed into
    from tunebench.reports.build import Section

#: With fewer blocks than this, no two-sided signed-rank test can reach p < 0.05.
MIN_BLOCKS_FOR_SIGNIFICANCE = 6


class SignificanceSections:
    """Mixed into the report builder: uses its frames (``self.f``), results, tables and figures."""

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
        texts = pd.DataFrame([[fmt_ci(m, lo, hi) for m, lo, hi in zip(*rows, strict=True)]
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
        shown = diffs.assign(interval=[fmt_ci(m, lo, hi) for m, lo, hi in
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

