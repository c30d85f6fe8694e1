"""The report's parts that only some suites have: best-so-far against simulated wall-clock
(suites run on the in-flight schedule), COCO's runtime ECDF (BBOB tasks) and the benchmarks'
citations and licences (each a method of the report builder, called from a section)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, FuncFormatter, MaxNLocator, NullFormatter

from tunebench.reports import bbob_ecdf, plots
from tunebench.reports.benchmark_sources import benchmark_sources
from tunebench.reports.ecdf import DELTA_F_TARGETS
from tunebench.reports.render import fmt, fmt_int, long_table
from tunebench.reports.simulated_clock import simulated_curves

if TYPE_CHECKING:  # the builder these sections are mixed into
    from tunebench.reports.build import Section


class BenchmarkSections:
    """Mixed into the report builder: uses its frames (``self.f``), store data, results, tables
    and figures."""

    def simulated_clock(self, s: Section) -> None:
        """Best-so-far against simulated wall-clock, where the trials carry a schedule."""
        summary = simulated_curves(self.f, self.data, center=self.center)
        if summary.empty:
            return
        self.results["curves_simulated_clock"] = summary
        clocks = summary.drop_duplicates("task").set_index("task")
        labels = {t: f"{row.unit}, k = {row.in_flight}" for t, row in clocks.iterrows()}
        ks = sorted({int(k) for k in clocks["in_flight"]})
        s.add("p", "The same best-so-far against simulated wall-clock: with k evaluations in "
                   "flight (k workers) trials end out of their order, and a trial counts once it "
                   "has ended (at its schedule's end), so what a runner proposes while others "
                   "still run is charged in time, not only in trials. Time is the study's "
                   "simulated clock: steps trained, or the seconds the benchmark recorded for "
                   "each evaluation. A line starts once every repetition has a successful trial "
                   "ended (a median over fewer studies would jump as the others join).")
        self.figure(s, "sample_efficiency_simulated_clock",
                    "Best-so-far against simulated wall-clock (k = "
                    + ", ".join(map(str, ks)) + " evaluations in flight).",
                    lambda: _compact_x(plots.sample_efficiency(
                        summary, self.style, use_budget=False, xlabels=labels,
                        center=self.center)))
        left = [t for t in self.f.tasks if t not in set(summary["task"])]
        if left:
            s.add("note", "No simulated schedule, so not drawn against wall-clock: "
                          + ", ".join(left) + ".")

    def bbob_runtime(self, s: Section) -> None:
        """COCO's runtime ECDF of the BBOB tasks, one figure per dimension."""
        curve, times, tasks = bbob_ecdf.bbob_ecdf(self.f)
        if tasks.empty:
            return
        self.results["bbob_ecdf"] = curve
        self.results["bbob_runtimes"] = times
        s.add("p", "BBOB functions, as COCO draws them: the fraction of (function, repetition, "
                   f"target) triples reached against evaluations divided by the dimension (log "
                   f"axis), with COCO's {len(DELTA_F_TARGETS)} fixed targets Δf = f − f_opt ≤ "
                   "10^2, 10^1.8, …, 10^-8; a triple is reached once the best Δf so far is at or "
                   "below its target. Each dimension is drawn apart, as COCO does.")
        inexact = list(tasks.loc[~tasks["exact"], "task"])
        if inexact:
            s.add("note", "No exact f_opt recorded, so left out of COCO's ECDF: "
                          + ", ".join(inexact) + ".")
        for dim, part in curve.groupby("dim", sort=True):
            functions = sorted(tasks.loc[tasks["exact"] & (tasks["dim"] == dim), "function"],
                               key=lambda f: int(f[1:]))
            name = f"bbob_ecdf_{int(dim)}d"
            self.figure(s, name, f"COCO runtime ECDF in dimension {int(dim)} over "
                        f"{len(functions)} functions ({', '.join(functions)}), "
                        f"{int(part['n_triples'].iloc[0])} triples per runner.",
                        lambda part=part, dim=dim: _relabel(plots.ecdf(
                            part, self.style, xlabel=f"evaluations / dimension ({int(dim)})",
                            xscale=1.0)))
        reached = times.assign(reached=times["runtime"] < float("inf"))
        table = (reached.groupby(["task", "runner"], sort=False)
                 .agg(triples=("reached", "size"), reached=("reached", "mean")).reset_index())
        self.table(s, long_table("bbob_targets_reached", "BBOB: share of (repetition, target) "
                                 "pairs reached at the end of the budget", table,
                                 {"triples": fmt_int, "reached": lambda v: fmt(v, 3)},
                                 headers={"triples": "pairs"}))

    def benchmark_provenance(self, s: Section) -> None:
        """Per task whose class declares them: the benchmark's citation and licence."""
        sources = benchmark_sources(self.f_all)
        self.results["benchmark_sources"] = sources
        if sources.empty:
            return
        s.add("p", "Benchmarks used: cite them when you publish these numbers, and mind their "
                   "data's licences (as declared by each task's class).")
        self.table(s, long_table("benchmark_sources", "Benchmarks: citation and licence",
                                 sources))


#: A tick label in at most two significant digits (0.3, 0.06, 1e-05).
_SHORT = FuncFormatter(lambda value, _position: f"{value:.2g}")


def _minor(marks: tuple[float, ...]) -> FuncFormatter:
    """Minor log ticks labelled only at ``marks`` times a power of ten (room between them)."""
    def short(value: float, _position: int) -> str:
        if value <= 0:
            return ""
        mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
        return f"{value:.2g}" if mantissa in marks else ""
    return FuncFormatter(short)


def _compact_x(fig: Figure) -> Figure:
    """Few x ticks, large values with SI prefixes (350k): recorded seconds reach 10^5 and more,
    whose tick labels would run into each other in a small panel (and an offset text "1e5"
    would sit on the axis label); log y ticks as short numbers (0.3, 0.06)."""
    for ax in fig.axes:
        if ax.has_data():
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            if ax.get_yscale() == "log":  # "3 × 10^-1" minor labels push the y label off the edge
                low, high = ax.get_ylim()
                ax.yaxis.set_major_formatter(_SHORT)
                marks = (2.0, 3.0, 5.0) if high < 10 * low else (2.0, 5.0) if high < 100 * low \
                    else ()
                ax.yaxis.set_minor_formatter(_minor(marks) if marks else NullFormatter())
    return fig


def _relabel(fig: Figure) -> Figure:
    """COCO's y label: what the fraction counts."""
    for ax in fig.axes:
        if ax.has_data():
            ax.set_ylabel("fraction of (function, run, target)")
    return fig
