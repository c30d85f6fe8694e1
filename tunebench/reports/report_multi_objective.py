"""The report's multi-objective section (a method of the report builder): hypervolume against
budget, the final hypervolume compared as the single-objective report compares final values,
attainment surfaces or parallel coordinates of the fronts, and the non-dominated trials."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tunebench.reports import decisions, intervals, significance
from tunebench.reports import multi_objective as mo
from tunebench.reports import plots_multi_objective as mo_plots
from tunebench.reports.best_config import format_config
from tunebench.reports.frames import BUDGET_UNITS
from tunebench.reports.headline import names
from tunebench.reports.plot_layout import MAX_LINES
from tunebench.reports.presentation import transpose
from tunebench.reports.render import fmt, fmt_ci, fmt_int, fmt_p, long_table, p_clause, wide_table

if TYPE_CHECKING:  # the builder these sections are mixed into
    from tunebench.reports.build import Section

#: Curves and final values are means over repetitions with a Student-t interval (the indicator
#: literature's summary of hypervolumes), whatever the single-objective sections' centre.
CENTER = "mean"


class MultiObjectiveSections:
    """Mixed into the report builder: reads the frames of its multi-objective studies
    (``self.f_mo``, None without any) and every study's (``self.f_all``, for the report's task and
    runner order); leaves its conclusions for the headline in ``self.mo_headline``."""

    def multi_objective(self) -> None:
        self.mo_headline: list[tuple[str, str]] = []
        if self.f_mo is None:
            return
        frames = self.f_mo
        studies = frames.studies
        specs, problems = mo.task_objectives(studies)
        s = self.section("multi-objective", "Multi-objective")
        listed = "; ".join(f"{t} ({', '.join(spec.labels)})" for t, spec in specs.items())
        s.add("p", f"{len(studies)} studies optimise several objectives together: {listed}. "
                   "They are reported here only: the single-objective sections leave them out, "
                   "since a multi-objective study's single value is merely its task's first "
                   "objective, which it did not optimise alone. Values are validation values "
                   "(what the optimisers saw) unless called test values.")
        for message in problems:
            s.add("warn", message)
        self.machine_dependent(s, specs, studies)
        no_reference = [t for t, spec in specs.items() if spec.reference is None]
        if no_reference:
            s.add("note", "No fixed reference point, so no hypervolume (only the fronts) for "
                          f"{names(no_reference)}.")
        with_hv = {t: spec for t, spec in specs.items() if spec.reference is not None}
        if with_hv:
            self.hypervolume_curves(s, frames, with_hv)
            self.final_hypervolume(s, frames, with_hv)
        self.fronts(s, frames, specs)

    def machine_dependent(self, s: Section, specs: dict[str, mo.TaskObjectives],
                          studies: pd.DataFrame) -> None:
        for task, spec in specs.items():
            if not spec.machine_dependent:
                continue
            ran_on = mo.devices(studies[studies["task"] == task])
            s.add("warn", f"On {task}, {names(list(spec.machine_dependent))} depend"
                          f"{'s' if len(spec.machine_dependent) == 1 else ''} on the machine "
                          f"(measured times or memory): these values, and hypervolumes and fronts "
                          f"over them, hold for {names(ran_on)} and compare only with studies "
                          "run on the same device"
                          + (", which these are not." if len(ran_on) > 1 else "."))

    def hypervolume_curves(self, s: Section, frames, specs: dict[str, mo.TaskObjectives]) -> None:
        trace = mo.hypervolume_trace(frames, specs)
        grid = mo.on_budget_grid(trace, frames, specs)
        summary = mo.curve_summary(grid, specs, CENTER)
        self.results.update(hypervolume_trace=trace, hypervolume_curves=summary)
        band = intervals.describe_counts(summary.groupby(["task", "runner"])["n"].max(), CENTER)
        s.add("p", "Hypervolume: the volume of objective space a study's successful trials "
                   "dominate, up to its task's fixed reference point (the same for every runner; "
                   "a trial not strictly better than it in every objective adds nothing); higher "
                   "is better. Against the budget spent (each trial's cumulative charge), on "
                   f"each task's budget grid with steps carried forward: the {CENTER} over "
                   f"repetitions with its band, a {band}, cut to the range a hypervolume can take. "
                   "Where the task knows its optimal "
                   "hypervolume, the regret to it is drawn (log axis).")
        kinds = frames.studies.groupby("task", sort=False)["budget_kind"].first()
        self.figure(s, "hypervolume_curves", "Hypervolume against budget (higher is better), "
                    "or its regret where the optimum is known (lower is better).",
                    lambda: mo_plots.hypervolume_curves(
                        summary, self.style, center=CENTER,
                        xlabels={t: BUDGET_UNITS.get(k, k) for t, k in kinds.items()}))

    def final_hypervolume(self, s: Section, frames, specs: dict[str, mo.TaskObjectives]) -> None:
        final = mo.final_hypervolumes(frames, specs)
        tested = final[~final["repeat"]]  # each run once, as the single-objective tests count
        summary = mo.final_summary(final, specs, CENTER)
        self.results.update(final_hypervolume=final, final_hypervolume_summary=summary)
        tasks = [t for t in self.f_all.tasks if t in specs]
        runners = [r for r in self.f_all.runners if r in set(final["runner"])]
        wide = summary.pivot(index="task", columns="runner", values="hypervolume").reindex(
            index=tasks, columns=runners)
        texts = pd.DataFrame(
            [[_cell(summary, t, r) for r in runners] for t in tasks], index=tasks, columns=runners)
        bold = significance.significantly_best_mask(tested, "final_value", tasks, runners,
                                                    self.alpha, maximize=True)
        self.results["final_hypervolume_best"] = pd.DataFrame(
            bold, index=tasks, columns=runners).rename_axis("task").reset_index()
        s.add("p", f"Final hypervolume: the {CENTER} over repetitions with its "
                   f"{intervals.describe_counts(summary['n'], CENTER)}, cut to the range a "
                   "hypervolume can take. Bold marks a runner "
                   "significantly best on its task by the rule of the single-objective final "
                   "table (Wilcoxon signed-rank against every other runner, repetitions paired, "
                   f"Holm-corrected, α = {self.alpha:g}), with higher hypervolume better.")
        table = wide_table("final_hypervolume", f"Final hypervolume ({CENTER} [interval])", wide,
                           index_name="task", texts=texts, bold=bold, data=summary)
        # Many runners fit down a page, not across (as the single-objective wide tables).
        self.table(s, transpose(table) if len(runners) > MAX_LINES else table)
        detail = summary.assign(interval_level=summary["level"])
        shown = ["task", "runner", "n", "hypervolume", "hypervolume_low", "hypervolume_high",
                 "interval_level", "front_size"]
        if summary["regret"].notna().any():
            shown += ["regret", "regret_low", "regret_high"]
        if summary["test_hypervolume"].notna().any():
            shown += ["test_hypervolume"]
        self.table(s, long_table(
            "final_hypervolume_detail", "Final hypervolume per task and runner", detail[shown],
            {"n": fmt_int, "front_size": lambda v: fmt(v, 3),
             "interval_level": lambda v: f"{100 * float(v):.1f}%" if np.isfinite(v) else "—"},
            headers={"hypervolume_low": "interval low", "hypervolume_high": "interval high",
                     "front_size": "non-dominated per study", "regret": "regret (mean)",
                     "regret_low": "regret low", "regret_high": "regret high",
                     "test_hypervolume": "test hypervolume (mean)"},
            data=summary, collapsed=len(summary) > 12))
        if summary["test_hypervolume"].notna().any():
            s.add("note", "Test hypervolume: the hypervolume of the held-out values of each "
                          "study's validation front (its non-dominated trials), which the "
                          "optimiser never saw.")
        for task in tasks:
            self.mo_headline.append(("p", self.verdict(tested, task, runners, summary)))
            s.add("p", self.mo_headline[-1][1])
        self.compare_runners(s, tested, runners)

    def verdict(self, tested: pd.DataFrame, task: str, runners: list[str],
                summary: pd.DataFrame) -> str:
        """One task's conclusion: the highest mean, and whether any runner is significantly
        best (the bold of the final table)."""
        wide = tested[tested["task"] == task].pivot_table(
            index="repetition", columns="runner", values="final_value", aggfunc="first")
        mine = summary[summary["task"] == task].set_index("runner")
        top = str(mine["hypervolume"].idxmax())
        n, k = len(wide.dropna()), wide.shape[1]
        regret = mine.loc[top, "regret"]
        text = (f"On {task} (final hypervolume, {n} repetitions): {top} has the highest {CENTER} "
                f"({fmt(mine.loc[top, 'hypervolume'])}"
                + (f", a regret of {fmt(regret)} to the optimal front's)" if np.isfinite(regret)
                   else ")"))
        if k < 2:
            return text + "; no other runner to compare."
        best = decisions.best_of(wide, True, self.alpha)
        if best is not None:
            return text + f"; {best} is significantly best."
        needed = decisions.min_blocks(k - 1, self.alpha)
        if n < needed:
            tests = "one signed-rank test" if k == 2 else f"Holm's correction over {k - 1} tests"
            return text + (f"; with {n} repetitions no runner can be significantly best "
                           f"({tests} needs at least {needed}), so this is an estimate, not a "
                           "ranking.")
        return text + "; no runner is significantly better than every other."

    def compare_runners(self, s: Section, tested: pd.DataFrame, runners: list[str]) -> None:
        """The single-objective report's comparison (its blocks, procedure and fallback) on
        the final hypervolume."""
        if len(runners) < 2:
            return
        main = significance.compare(tested, value="validation", design="task",
                                    procedure=self.procedure, alpha=self.alpha)
        if main.n_blocks < significance.MIN_BLOCKS:
            main = significance.compare(tested, value="validation", design="repetition",
                                        procedure=self.procedure, alpha=self.alpha)
        self.statistics["multi_objective_comparison"] = main
        s.add("p", "Runners compared on the final hypervolume as the Significance section "
                   "compares final values (the same blocks, procedure and fallback): "
                   f"hypervolumes as losses scaled to [0, 1] within each task; "
                   f"{main.design_label}; α = {self.alpha:g}.")
        if main.design == "repetition":
            s.add("warn", "Fewer than three multi-objective tasks with every runner: the blocks "
                          "are (task, repetition) pairs, so read the results as a description "
                          "of these tasks, not as evidence that carries over to others.")
        for message in main.messages:
            s.add("note", message)
        needed = decisions.min_blocks(decisions.n_pairs(main.n_runners), self.alpha)
        if self.procedure == "wilcoxon-holm" and 2 <= main.n_blocks < needed:
            s.add("note", f"Only {main.n_blocks} blocks: Holm's correction over "
                          f"{decisions.n_pairs(main.n_runners)} pairs needs at least {needed} "
                          "for any pair to differ significantly.")
        if main.friedman is not None:
            verdict = ("the runners differ" if main.friedman.pvalue < self.alpha
                       else "no evidence that the runners differ")
            s.add("p", f"Friedman test over {main.n_blocks} blocks: χ² = "
                       f"{main.friedman.statistic:.3f}, {p_clause(main.friedman.pvalue)} — "
                       f"{verdict}.")
        if not main.pairs.empty:
            pairs = main.pairs
            self.results["multi_objective_pairwise"] = pairs
            p_column = "pvalue_holm" if "pvalue_holm" in pairs else "pvalue"
            s.add("p", _pairs_sentence(pairs))
            self.table(s, long_table(
                "multi_objective_pairwise", "Pairwise tests on the final hypervolume", pairs,
                {"statistic": fmt, "pvalue": fmt_p, "pvalue_holm": fmt_p,
                 "median_difference": lambda v: fmt(v, 3), "rank_difference": lambda v: fmt(v, 3)},
                headers={"runner_a": "A", "runner_b": "B", "a_better": "A better",
                         "b_better": "B better", "pvalue": "p", "pvalue_holm": "p (Holm)",
                         "n_nonzero": "non-tied", "median_difference": "median A − B (scaled "
                         "loss)", "rank_difference": "rank A − B"},
                bold={p_column: pairs["significant"].to_numpy(dtype=bool)},
                collapsed=len(pairs) > 15))
        baseline = self.style.baseline
        if baseline in runners:
            diffs = significance.paired_differences(tested, baseline, "final_value",
                                                    alpha=self.alpha)
            self.results["multi_objective_vs_random"] = diffs
            shown = diffs.assign(interval=[fmt_ci(m, lo, hi) for m, lo, hi in zip(
                diffs["median_diff"], diffs["ci_low"], diffs["ci_high"], strict=True)])
            self.table(s, long_table(
                "multi_objective_vs_random", f"Final hypervolume minus {baseline}'s, paired by "
                "repetition (positive: more hypervolume)",
                shown[["task", "runner", "n", "interval", "mean_diff", "p", "p_holm", "better"]],
                {"n": fmt_int, "mean_diff": lambda v: fmt(v, 3), "p": fmt_p, "p_holm": fmt_p},
                headers={"interval": "median difference [interval]",
                         "mean_diff": "mean difference", "p_holm": "p (Holm)"},
                bold={"p_holm": (diffs["p_holm"] < self.alpha).to_numpy()}, data=diffs))

    def fronts(self, s: Section, frames, specs: dict[str, mo.TaskObjectives]) -> None:
        pareto = mo.pareto_sets(frames, specs)
        self.results["pareto_sets"] = pareto
        two = [t for t, spec in specs.items() if len(spec.names) == 2]
        if two:
            s.add("p", "Attainment surfaces (two objectives): for each runner, the median "
                       "surface (line; the region at least half its repetitions attained) and "
                       "between its 25% and 75% surfaces (band), drawn up to the reference "
                       "point (dashed where in view); better is towards the lower left on every "
                       "panel.")
        for task in two:
            spec = specs[task]
            surfaces = mo.attainment(frames, spec)
            self.figure(s, _unique("attainment_" + _slug(task), self.figures),
                        f"Attainment surfaces on {task}: median (line) and 25–75% (band) over "
                        "repetitions.", lambda spec=spec, surfaces=surfaces:
                        mo_plots.attainment(surfaces, spec, self.style))
        more = [t for t, spec in specs.items() if len(spec.names) > 2]
        for task in more:
            spec, part = specs[task], pareto[pareto["task"] == task]
            self.figure(s, _unique("pareto_parallel_" + _slug(task), self.figures),
                        f"Non-dominated trials on {task} ({len(spec.names)} objectives, pooled "
                        "over repetitions), one line each: every objective scaled from the best "
                        "value shown (0) to the worst shown or the reference (1).",
                        lambda spec=spec, part=part: mo_plots.parallel_fronts(
                            part, spec, self.style))
        s.add("p", "The non-dominated trials of each runner on each task: those no other "
                   "successful trial of that runner there Pareto-dominates, pooled over its "
                   "repetitions (as the best configurations are): the trade-offs the runner "
                   "found, each configuration ready to use, with the repetition and trial it "
                   "comes from. Pooled rather than per repetition, so a point another "
                   "repetition beat is not offered.")
        for (task, runner), part in pareto.groupby(["task", "runner"], sort=False):
            spec = specs[str(task)]
            shown = pd.DataFrame({"repetition": part["repetition"], "trial": part["trial"],
                                  **{lab: part[c] for lab, c in zip(spec.labels, spec.columns(),
                                                                    strict=True)}})
            if spec.reference is not None:
                shown["counts towards hypervolume"] = part["in_box"].astype(bool)
            shown["configuration"] = part["config"].map(format_config)
            self.table(s, long_table(
                _unique(f"pareto_{_slug(task)}_{_slug(runner)}", self.tables),
                f"Non-dominated trials of {runner} on {task} "
                f"({part['repetition'].nunique()} repetitions pooled)",
                shown.reset_index(drop=True), {"repetition": str, "trial": str},
                data=part.reset_index(drop=True), collapsed=len(shown) > 15, in_latex=False))


def _pairs_sentence(pairs: pd.DataFrame) -> str:
    """``1 of 1 pairs differ significantly: a over b.`` (who is better: the median paired
    difference of scaled losses, or Nemenyi's rank difference)."""
    if "rank_difference" in pairs:
        lean = pairs["rank_difference"].to_numpy(dtype=float) < 0
    else:
        lean = decisions.with_direction(pairs)["a_better"].to_numpy(dtype=bool)
    significant = pairs["significant"].to_numpy(dtype=bool)
    said = [f"{a if better else b} over {b if better else a}" for a, b, better, sig in zip(
        pairs["runner_a"], pairs["runner_b"], lean, significant, strict=True) if sig]
    return (f"{int(significant.sum())} of {len(pairs)} pairs differ significantly"
            + (": " + ", ".join(said) + "." if said else "."))


def _cell(summary: pd.DataFrame, task: str, runner: str) -> str:
    row = summary[(summary["task"] == task) & (summary["runner"] == runner)]
    if row.empty:
        return "—"
    r = row.iloc[0]
    return fmt_ci(r["hypervolume"], r["hypervolume_low"], r["hypervolume_high"])


def _slug(text: object) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", str(text)).strip("_").lower() or "x"


def _unique(name: str, taken: dict) -> str:
    out, i = name, 2
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    return out
