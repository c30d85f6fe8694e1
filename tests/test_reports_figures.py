"""Figures that scale with the number of runners: legends that fit, the baseline in every panel,
small multiples beyond a handful of lines, a style per runner that no other runner shares.

Drawn with matplotlib's Agg renderer (what the PNG files are); tests/test_reports_browser.py checks
the SVG files in Chromium."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb

from tunebench.reports import build_report, plots
from tunebench.testing.synthetic_store import SynthRunner, SynthTask, synthetic_store

LINE_FIGURES = ("sample_efficiency_trials", "normalised_score", "ranks_over_budget", "ecdf",
                "optimizer_overhead")


def _report(n_runners: int, name_length: int = 0):
    names = ["random"] + [f"runner{i:02d}".ljust(name_length, "x") for i in range(n_runners - 1)]
    runners = [SynthRunner(n, power=1.0 + (i % 4)) for i, n in enumerate(names)]
    tasks = [SynthTask("sphere", budget_amount=10),
             SynthTask("acc", direction="maximize", optimum=None, scale=0.5, best=0.95,
                       budget_amount=10)]
    return build_report(synthetic_store(tasks, runners, repetitions=2), n_boot=20), names


@pytest.mark.parametrize("n", [1, 2, 8, 9, 15, 21, 40])
@pytest.mark.parametrize("baseline", [True, False])
def test_runner_groups_hold_every_runner_once_and_the_baseline_everywhere(n, baseline):
    names = [f"r{i}" for i in range(n)]
    style = plots.RunnerStyle(names, "r0" if baseline else None)
    groups = plots.runner_groups(style, names)
    assert all(len(g) <= plots.MAX_LINES for g in groups)
    others = [r for g in groups for r in g if not (baseline and r == "r0")]
    assert sorted(others) == sorted(n for n in names if not (baseline and n == "r0"))
    if baseline:
        assert all("r0" in g for g in groups)
    assert len(groups) == 1 or n > plots.MAX_LINES
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1  # near-equal panels


def test_every_runner_has_its_own_colour_and_line_style():
    names = [f"r{i}" for i in range(21)]
    style = plots.RunnerStyle(names, "r5")
    pairs = {(style.colours[r], style.dashes[r]) for r in names}
    assert len(pairs) == len(names)


@pytest.mark.parametrize(("n_runners", "name_length"), [(3, 0), (21, 0), (21, plots.LABEL_LIMIT)])
def test_legends_name_every_runner_inside_the_figure(n_runners, name_length):
    report, names = _report(n_runners, name_length)
    for name in LINE_FIGURES:
        fig = report.figures[name]
        FigureCanvasAgg(fig).draw()
        renderer = fig.canvas.get_renderer()
        (legend,) = fig.legends
        assert sorted(t.get_text() for t in legend.get_texts()) == sorted(
            plots.label(n) for n in names), name
        box, frame = legend.get_window_extent(renderer), fig.bbox
        assert frame.x0 - 0.5 <= box.x0 and box.x1 <= frame.x1 + 0.5, (name, box, frame)
        assert frame.y0 - 0.5 <= box.y0 and box.y1 <= frame.y1 + 0.5, (name, box, frame)
        for ax in fig.axes:  # the legend sits below the panels, never over one
            if ax.get_visible():
                assert box.y1 <= ax.get_window_extent(renderer).y0, name


def test_beyond_eight_runners_lines_become_small_multiples_with_random_in_each():
    report, names = _report(21)
    grey = to_rgb(plots.RunnerStyle(report.data.runners, "random").colours["random"])
    for name in ("sample_efficiency_trials", "ranks_over_budget", "ecdf", "normalised_score"):
        axes = [ax for ax in report.figures[name].axes if ax.get_visible()]
        for ax in axes:
            assert grey in {to_rgb(line.get_color()) for line in ax.get_lines()}, name
        drawn = [line for ax in axes for line in ax.get_lines() if len(line.get_xdata()) > 2]
        assert len(axes) >= 3, name
        assert max(len([line for line in ax.get_lines() if len(line.get_xdata()) > 2])
                   for ax in axes) <= plots.MAX_LINES
        assert len(drawn) >= len(names), name


def test_box_plots_and_timings_name_every_runner_in_full():
    report, names = _report(21, name_length=plots.LABEL_LIMIT)
    for name in ("final_test", "eval_seconds"):
        fig = report.figures[name]
        FigureCanvasAgg(fig).draw()
        for ax in (a for a in fig.axes if a.get_visible()):
            ticks = ax.get_xticklabels() if name == "final_test" else ax.get_yticklabels()
            assert sorted(t.get_text() for t in ticks) == sorted(plots.label(n) for n in names)
            for tick in ticks:  # inside the figure
                box = tick.get_window_extent(fig.canvas.get_renderer())
                assert box.x0 >= -0.5 and box.y0 >= -0.5, (name, tick.get_text())
