"""Figure layout: one style per runner, legends that fit every runner, and small multiples.

A figure of many runners stays readable: at most :data:`MAX_LINES` lines share a panel (beyond, one
panel per group of runners, random search in each); the legend goes below the panels in as many
columns as the figure's width holds, so no runner's name is ever cut.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

#: Line styles used once the colour-blind palette's ten colours are used up.
_DASHES = ("-", "--", ":", "-.")


#: Longest name drawn in a figure (tables show names in full).
LABEL_LIMIT = 32


def label(text: object, limit: int = LABEL_LIMIT) -> str:
    """A name as matplotlib should draw it: literally (``$`` would start mathtext), and cut to
    ``limit`` characters so a long name cannot squeeze the plot away."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


@contextlib.contextmanager
def theme() -> Iterator[None]:
    """seaborn's whitegrid look for figures made and saved inside this block; deterministic SVG."""
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.8),
          "svg.hashsalt": "tunebench", "svg.fonttype": "none", "figure.dpi": 100,
          "savefig.dpi": 110, "axes.titlesize": "medium", "legend.frameon": False}
    with mpl.rc_context(rc):
        yield


class RunnerStyle:
    """Colour and line style of each runner, fixed once for a whole report."""

    def __init__(self, runners: Sequence[str], baseline: str | None = None) -> None:
        palette = sns.color_palette("colorblind", 10)
        # Neighbours in this order differ most (orange and vermillion kept apart); grey is kept
        # for the random-search baseline, the reference every other line is read against.
        order = [0, 1, 2, 4, 3, 9, 5, 6, 8]
        self.runners = list(runners)
        self.baseline = baseline if baseline in self.runners else None
        self.colours, self.dashes = {}, {}
        others = [r for r in self.runners if r != baseline]
        for i, runner in enumerate(others):
            self.colours[runner] = palette[order[i % len(order)]]
            self.dashes[runner] = _DASHES[(i // len(order)) % len(_DASHES)]
        if baseline in self.runners:
            self.colours[baseline] = palette[7]
            self.dashes[baseline] = "-"

    def palette(self) -> dict[str, tuple[float, float, float]]:
        """Colours keyed by drawn label (for seaborn's ``palette=``)."""
        return {label(r): c for r, c in self.colours.items()}

    def handles(self, runners: Sequence[str] | None = None) -> list[Line2D]:
        return [Line2D([], [], color=self.colours[r], linestyle=self.dashes[r], linewidth=2,
                       label=label(r)) for r in (runners or self.runners)]

    def present(self, runners: object) -> list[str]:
        """The report's runners that occur in ``runners`` (a column), in the report's order."""
        seen = set(pd.Series(runners).astype(str))
        return [r for r in self.runners if r in seen]


def figure(width: float, height: float) -> Figure:
    """One panel of fixed size, laid out by matplotlib (for figures without a runner legend)."""
    return Figure(figsize=(width, height), layout="constrained")


#: Most runner lines drawn in one panel; beyond this a figure becomes small multiples, each panel
#: holding a share of the runners and the baseline (a panel of 21 lines and bands is unreadable).
MAX_LINES = 8

#: Height (inches) of one row of a legend, and of its title.
_LEGEND_ROW, _LEGEND_TITLE = 0.21, 0.3


def runner_groups(style: RunnerStyle, runners: Sequence[str]) -> list[list[str]]:
    """Runners split into panels of at most :data:`MAX_LINES` lines, the baseline in every one.

    Up to ``MAX_LINES`` runners stay together; beyond, the non-baseline runners are cut into
    near-equal consecutive groups (consecutive runners never share a colour and line style)."""
    runners = list(runners)
    if len(runners) <= MAX_LINES:
        return [runners]
    base = [style.baseline] if style.baseline in runners else []
    others = [r for r in runners if r not in base]
    size = MAX_LINES - len(base)
    n = math.ceil(len(others) / size)
    cuts = np.linspace(0, len(others), n + 1).round().astype(int)
    return [base + others[lo:hi] for lo, hi in itertools.pairwise(cuts)]


def legend_columns(style: RunnerStyle, runners: Sequence[str], width: float) -> tuple[int, float]:
    """Columns and height (inches) of a legend of ``runners`` that fits across ``width`` inches.

    Each entry is as wide as the longest label (the legend never runs off the figure, whatever the
    number or length of the names)."""
    item = 0.75 + 0.072 * max((len(label(r)) for r in runners), default=6)
    ncol = max(1, min(len(runners), int((width - 0.3) // item)))
    rows = math.ceil(len(runners) / ncol) if runners else 0
    return ncol, _LEGEND_TITLE + _LEGEND_ROW * rows + 0.1


def facets(n: int, *, ncols: int = 3, width: float = 3.4, height: float = 2.6,
            legend: Sequence[str] | None = None, style: RunnerStyle | None = None,
            rotated: float = 0.0) -> tuple[Figure, list]:
    """A grid of panels with fixed margins (in inches) instead of a layout engine: laying out
    dozens of panels is most of the cost of drawing them, and fixed margins cost nothing.

    With ``legend`` (runners) and ``style``, room for a legend of every runner is kept below the
    panels (see :func:`legend_columns`); :func:`legend` draws it there. ``rotated``: inches of
    room below each panel for slanted tick labels."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    extra = rotated
    left, right, top, bottom = 0.8, 0.25, 0.35, 0.55 + extra
    wgap, hgap = 0.85, 0.75 + extra
    fig_w = left + ncols * width + (ncols - 1) * wgap + right
    legend_h = legend_columns(style, legend, fig_w)[1] if legend and style else 0.0
    bottom += legend_h
    fig_h = top + nrows * height + (nrows - 1) * hgap + bottom
    fig = Figure(figsize=(fig_w, fig_h))
    fig.subplots_adjust(left=left / fig_w, right=1 - right / fig_w, bottom=bottom / fig_h,
                        top=1 - top / fig_h, wspace=wgap / width, hspace=hgap / height)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def legend(fig: Figure, style: RunnerStyle, runners: Sequence[str]) -> None:
    """Every runner's entry below the panels, in as many columns as the figure's width holds."""
    ncol, _ = legend_columns(style, runners, fig.get_figwidth())
    fig.legend(handles=style.handles(runners), loc="lower center", ncol=ncol, title="runner",
               bbox_to_anchor=(0.5, 0.04 / fig.get_figheight()), columnspacing=1.2,
               handlelength=2.2, borderaxespad=0.0)


def grouped_axes(style: RunnerStyle, runners: Sequence[str], *, width: float = 5.6,
                  height: float = 3.2) -> tuple[Figure, list, list[list[str]]]:
    """One panel per group of runners (:func:`runner_groups`), the legend of all below."""
    groups = runner_groups(style, runners)
    if len(groups) > 1:
        width, height = 4.2, 2.8
    fig, axes = facets(len(groups), ncols=3, width=width, height=height, legend=runners,
                        style=style)
    return fig, axes, groups
