"""Comparative reports: the results store → tidy frames → metrics and statistics → figures → pages.

For notebooks::

    from tunebench.reports import build_report, write_report
    report = build_report("results/quick.db")
    report.frames["final_test"]          # every result as a tidy pandas frame
    report.figures["sample_efficiency_trials"]   # matplotlib figures
    write_report(report, "results/quick-report")   # index.html, report.md, figures, CSV, LaTeX

Reports read only the store (:mod:`tunebench.suite.store`); they never call tasks or runners.
"""

from __future__ import annotations

from tunebench.reports.build import (
    BUILD_STEPS,
    Report,
    Section,
    WrittenReport,
    build_report,
    write_report,
)
from tunebench.reports.frames import Frames, StoreData, build_frames, read_store


def palette(runners: list[str], baseline: str | None = "random") -> dict[str, str]:
    """The report's colour of each runner (hex), for a notebook's own plots to match its figures:
    a colour-blind-safe palette, grey for the random-search baseline."""
    from matplotlib.colors import to_hex

    from tunebench.reports.plot_layout import RunnerStyle

    return {runner: to_hex(colour) for runner, colour in RunnerStyle(runners, baseline).colours.items()}

__all__ = [
    "BUILD_STEPS",
    "Frames",
    "Report",
    "Section",
    "StoreData",
    "WrittenReport",
    "build_frames",
    "build_report",
    "palette",
    "read_store",
    "write_report",
]
