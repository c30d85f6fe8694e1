"""The report's cost and provenance sections (each a method of the report builder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tunebench.reports import (
    metrics,
    plots,
)
from tunebench.reports.provenance import collect, environments_for_reading
from tunebench.reports.render import (
    fmt,
    fmt_int,
    fmt_seconds,
    long_table,
    wide_table,
)

if TYPE_CHECKING:  # the builder these sections are mixed into
    pass

class CostSections:
    """Mixed into the report builder: uses every study's frames (``self.f_all``, multi-objective
    studies too), results, tables and figures."""

    def costs(self) -> None:
        s = self.section("costs", "Costs and failures")
        overhead = metrics.optimizer_overhead(self.f_all)
        self.results["optimizer_overhead"] = overhead
        if not overhead.empty:
            self.figure(s, "optimizer_overhead", "Optimiser time per trial (ask + tell) against "
                        "trial number: median and interquartile band over studies.",
                        lambda: plots.optimizer_overhead(overhead, self.style))
        if len(self.f_all.trials):
            self.figure(s, "eval_seconds", "Evaluation time per trial.",
                        lambda: plots.eval_seconds(self.f_all.trials, self.style))
        costs = metrics.eval_costs(self.f_all)
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
        counts = metrics.failure_counts(self.f_all)
        self.results["failure_counts"] = counts
        self.table(s, long_table("failure_counts", "Failed and pruned trials per runner", counts,
                                 {c: fmt_int for c in counts.columns if c != "runner"},
                                 headers={"studies_without_success": "studies without success",
                                          "clipped": "clipped by the budget"}))
        failed = metrics.failures(self.f_all)
        self.results["failures"] = failed
        if failed.empty:
            s.add("p", "No trial failed.")
        else:
            self.table(s, long_table("failures", "Failed trials by error message (first line)",
                                     failed, {"count": fmt_int, "studies": fmt_int},
                                     collapsed=len(failed) > 15))

    def provenance(self) -> None:
        s = self.section("provenance", "Provenance")
        prov = collect(self.data, self.f_all)
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
        self.benchmark_provenance(s)
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


def _plain(value: Any) -> str:
    """A value for prose: floats without trailing zeros, booleans as yes / no."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return f"{float(value):.6g}" if isinstance(value, (float, np.floating)) else str(value)
