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

import pandas as pd
from matplotlib.figure import Figure

from tunebench.reports import (
    metrics,
    plots,
    presentation,
    significance,
    stats,
)
from tunebench.reports.frames import BUDGET_UNITS, Frames, StoreData, build_frames, read_store
from tunebench.reports.headline import Headline, build_headline, design_limits, names
from tunebench.reports.multi_objective import is_multi_objective
from tunebench.reports.provenance import Provenance
from tunebench.reports.render import (
    DASH,
    Page,
    Table,
    latex_document,
    render_html,
    render_markdown,
)
from tunebench.reports.report_benchmarks import BenchmarkSections
from tunebench.reports.report_costs import CostSections
from tunebench.reports.report_curves import CurveSections
from tunebench.reports.report_multi_objective import MultiObjectiveSections
from tunebench.reports.report_tests import SignificanceSections

#: Called with a short description before each step of building or writing a report.
Progress = Callable[[str], None]

#: The steps :func:`build_report` announces, in order (for sizing a progress bar).
BUILD_STEPS = (
    "reading the store", "shaping frames", "sample efficiency", "final accuracy",
    "normalised scores", "ranks", "significance", "anytime performance", "multi-objective",
    "costs", "provenance",
)

#: The sections that read a study's one value: multi-objective studies are left out of them.
SINGLE_OBJECTIVE_SECTIONS = ("sample-efficiency", "final-accuracy", "best-configurations",
                             "normalised-score", "ranks", "significance", "anytime")


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
    data: Frames  # the frames the sections were computed from (see multi_objective_data)
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
    #: The multi-objective studies' frames (None without any). ``data`` then holds the
    #: single-objective studies only (every study where there is none of those).
    multi_objective_data: Frames | None = None


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
    everything = build_frames(data, suites=suites)
    # Multi-objective studies get their own section and stay out of every other that reads a
    # study's one value (theirs is only their first objective); costs and provenance keep all.
    multi = is_multi_objective(everything.studies)
    parts = [set(everything.studies.loc[chosen, "study_id"]) for chosen in (~multi, multi)]
    single, several = (build_frames(data, suites=suites, study_ids=ids)
                       if everything.trials["study_id"].isin(ids).any() else None for ids in parts)
    frames = everything if not multi.any() else single
    builder = _Builder(data, frames, center=center, n_boot=n_boot, alpha=alpha,
                       n_targets=n_targets, seed=seed, everything=everything,
                       multi_objective=several)
    builder.procedure = procedure
    one_value = (builder.sample_efficiency, builder.final_accuracy, builder.normalised,
                 builder.ranks, builder.significance, builder.anytime)
    for description, method in zip(BUILD_STEPS[2:], (
        *one_value, builder.multi_objective, builder.costs, builder.provenance,
    ), strict=True):
        step(description)
        if frames is not None or method not in one_value:
            method()
    return builder.report(source)


class _Builder(CurveSections, SignificanceSections, MultiObjectiveSections, CostSections,
               BenchmarkSections):
    """``f``: the frames of the single-objective studies (None without any), which every section
    that reads a study's one value uses; ``f_all``: every study's (costs, provenance, summary);
    ``f_mo``: the multi-objective studies' (None without any)."""

    def __init__(self, data: StoreData, frames: Frames | None, *, center: str, n_boot: int,
                 alpha: float, n_targets: int, seed: int, everything: Frames | None = None,
                 multi_objective: Frames | None = None) -> None:
        self.data, self.f = data, frames
        self.f_all = everything if everything is not None else frames
        self.f_mo = multi_objective
        self.mo_headline: list[tuple[str, str]] = []
        self.center, self.n_boot, self.alpha = center, n_boot, alpha
        self.n_targets, self.seed = n_targets, seed
        self.procedure = significance.PROCEDURES[0]
        self.style = plots.RunnerStyle(self.f_all.runners, metrics.find_baseline(self.f_all))
        self.results: dict[str, pd.DataFrame] = {}
        self.tables: dict[str, Table] = {}
        self.figures: dict[str, Figure] = {}
        self.captions: dict[str, str] = {}
        self.sections: list[Section] = []
        self.statistics: dict[str, Any] = {}
        self.prov: Provenance | None = None
        own = frames if frames is not None else self.f_all
        reps = own.studies.groupby(["task", "runner"]).size()
        self.max_reps = int(reps.max()) if len(reps) else 0
        common = own.common_budget
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


    # -- the result ----------------------------------------------------------------------

    def best_configurations(self) -> None:
        config = presentation.finalise(self.f, self.results, self.tables, self.sections,
                                       self.statistics)
        self.results["best_configurations"] = config.data
        best = Section("best-configurations", "Best configurations")
        if self.f_mo is not None:
            best.add("note", self.multi_objective_note() + ".")
        best.add("p", "The configuration with the best validation value each runner found on "
                      "each task, over all its repetitions, with that trial's test value.")
        best.add("table", config.name)
        after = next((i + 1 for i, s in enumerate(self.sections) if s.id == "final-accuracy"),
                     len(self.sections))
        self.sections.insert(after, best)

    def summary(self, source: object) -> list[tuple[str, str]]:
        f = self.f_all
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
        if self.f_mo is not None:
            rows.append(("Multi-objective", self.multi_objective_note()))
        if not isinstance(source, StoreData):
            rows.append(("Store", str(source)))
        rows.append(("Generated", _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")))
        return rows

    def multi_objective_note(self) -> str:
        """What the single-objective parts leave out, in one sentence."""
        studies = self.f_mo.studies
        tasks = list(dict.fromkeys(studies["task"].astype(str)))
        return (f"{len(studies)} studies on {names(tasks)} optimise several objectives: they are "
                "reported in the Multi-objective section and left out of every section and "
                "statement about single values (their value is only their first objective)")

    def report(self, source: object) -> Report:
        suites = sorted(self.f_all.studies["suite"].astype(str).unique())
        warnings = list(self.prov.warnings) if self.prov else []
        head = (build_headline(self.f, self.results, self.statistics, self.alpha)
                if self.f is not None else Headline())
        if self.f_mo is not None:
            head.items += [*self.mo_headline, ("note", self.multi_objective_note() + ".")]
            if self.f is None:  # nothing said the design's limits yet
                head.items += design_limits(self.f_mo)
            for section in self.sections:
                if section.id in SINGLE_OBJECTIVE_SECTIONS:
                    section.items.insert(0, ("note", self.multi_objective_note() + "."))
        self.statistics["headline"] = head
        if self.f is not None:
            self.best_configurations()
        return Report(
            title="tunebench report — " + ", ".join(suites), data=self.f if self.f is not None
            else self.f_all, frames=self.results,
            tables=self.tables, figures=self.figures, captions=self.captions,
            sections=self.sections, warnings=warnings, summary=self.summary(source),
            statistics=self.statistics, provenance=self.prov, headline=head.items,
            multi_objective_data=self.f_mo,
        )


# -- writing -------------------------------------------------------------------------------


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


