"""Figures: seaborn style and a colour-blind-safe palette, one colour per runner in every figure.

Figures are plain :class:`matplotlib.figure.Figure` objects, never pyplot's: nothing global is
opened, so nothing needs closing, the backend in use (a notebook's, or none) is left alone, and
saving goes through Agg (PNG) and matplotlib's SVG writer.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullLocator

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
        self.colours, self.dashes = {}, {}
        others = [r for r in self.runners if r != baseline]
        for i, runner in enumerate(others):
            self.colours[runner] = palette[order[i % len(order)]]
            self.dashes[runner] = _DASHES[(i // len(order)) % len(_DASHES)]
        if baseline in self.runners:
            self.colours[baseline] = palette[7]
            self.dashes[baseline] = "-"

    @property
    def legend_width(self) -> float:
        """Inches a legend of every runner needs beside a plot."""
        longest = max((len(label(r)) for r in self.runners), default=6)
        return 0.75 + 0.075 * max(longest, 6)

    def palette(self) -> dict[str, tuple[float, float, float]]:
        """Colours keyed by drawn label (for seaborn's ``palette=``)."""
        return {label(r): c for r, c in self.colours.items()}

    def handles(self, runners: Sequence[str] | None = None) -> list[Line2D]:
        return [Line2D([], [], color=self.colours[r], linestyle=self.dashes[r], linewidth=2,
                       label=label(r)) for r in (runners or self.runners)]


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _facets(n: int, *, ncols: int = 3, width: float = 3.4, height: float = 2.6,
            legend: float = 0.0, rotated: bool = False) -> tuple[Figure, list]:
    """A grid of panels with fixed margins (in inches) instead of a layout engine: laying out
    dozens of panels is most of the cost of drawing them, and fixed margins cost nothing."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    extra = 0.9 if rotated else 0.0
    left, right, top, bottom = 0.8, legend + 0.1 if legend else 0.25, 0.35, 0.55 + extra
    wgap, hgap = 0.85, 0.75 + extra
    fig_w = left + ncols * width + (ncols - 1) * wgap + right
    fig_h = top + nrows * height + (nrows - 1) * hgap + bottom
    fig = Figure(figsize=(fig_w, fig_h))
    fig.subplots_adjust(left=left / fig_w, right=1 - right / fig_w, bottom=bottom / fig_h,
                        top=1 - top / fig_h, wspace=wgap / width, hspace=hgap / height)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def _legend(fig: Figure, style: RunnerStyle, runners: Sequence[str] | None = None) -> None:
    if fig.get_layout_engine() is None:  # fixed margins: the legend sits in the right margin
        right = fig.subplotpars.right
        fig.legend(handles=style.handles(runners), loc="upper left", title="runner",
                   bbox_to_anchor=(right + 0.1 / fig.get_figwidth(), fig.subplotpars.top))
    else:
        fig.legend(handles=style.handles(runners), loc="outside right upper", title="runner")


def _log_scale(ax, axis: str = "y") -> None:
    """A log axis with few ticks: a handful of labelled decades, no minor ticks over wide ranges
    (hundreds of tick labels are most of the cost of drawing a figure)."""
    getattr(ax, f"set_{axis}scale")("log")
    lo, hi = getattr(ax, f"get_{axis}lim")()
    target = getattr(ax, f"{axis}axis")
    target.set_major_locator(LogLocator(numticks=6))
    if lo > 0 and hi / lo > 1e3:
        target.set_minor_locator(NullLocator())


def _positive_floor(values: np.ndarray) -> float:
    positive = values[np.isfinite(values) & (values > 0)]
    return float(positive.min()) / 10 if len(positive) else 1e-12


def sample_efficiency(summary: pd.DataFrame, style: RunnerStyle, *, use_budget: bool,
                      xlabels: dict[str, str], center: str) -> Figure:
    """Best-so-far (or regret, log axis) against budget: one panel per task, band = bootstrap 95%."""
    tasks = list(dict.fromkeys(summary["task"]))
    fig, axes = _facets(len(tasks), legend=style.legend_width)
    for ax, task in zip(axes, tasks, strict=True):
        part = summary[summary["task"] == task]
        regret = part["quantity"].iloc[0] == "regret"
        floor = _positive_floor(part[["center", "lo", "hi"]].to_numpy()) if regret else None
        for runner, line in part.groupby("runner", sort=False):
            x = line["budget" if use_budget else "x"].to_numpy(dtype=float)
            ys = [line[c].to_numpy(dtype=float) for c in ("center", "lo", "hi")]
            if regret:
                ys = [np.maximum(y, floor) for y in ys]
            ax.plot(x, ys[0], color=style.colours[runner], linestyle=style.dashes[runner],
                    drawstyle="steps-post", linewidth=1.6)
            if np.isfinite(ys[1]).any():
                ax.fill_between(x, ys[1], ys[2], color=style.colours[runner], alpha=0.18,
                                step="post", linewidth=0)
        if regret:
            _log_scale(ax)
        ax.set_title(label(task))
        ax.set_xlabel(xlabels.get(task, "trials"))
        ax.set_ylabel(f"{center} regret" if regret else f"{center} best value")
    _legend(fig, style, [r for r in style.runners if r in set(summary["runner"])])
    return fig


def normalised_score(summary: pd.DataFrame, style: RunnerStyle, *, xlabel: str,
                     xscale: float) -> Figure:
    """Mean normalised score over tasks against budget (0 = optimum, 1 = random search)."""
    fig = _figure(6.4, 3.6)
    ax = fig.subplots()
    for runner, line in summary.groupby("runner", sort=False):
        x = line["x"].to_numpy(dtype=float) * xscale
        ax.plot(x, line["center"], color=style.colours[runner], linestyle=style.dashes[runner],
                linewidth=1.6)
        if line["lo"].notna().any():
            ax.fill_between(x, line["lo"], line["hi"], color=style.colours[runner], alpha=0.18,
                            linewidth=0)
    ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle="--")
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("normalised score (lower is better)")
    _legend(fig, style, [r for r in style.runners if r in set(summary["runner"])])
    return fig


def final_values(final: pd.DataFrame, style: RunnerStyle, *, column: str,
                 ylabel: str) -> Figure:
    """Box plot with every repetition as a dot, one panel per task."""
    tasks = list(dict.fromkeys(final["task"]))
    runners = [r for r in style.runners if r in set(final["runner"])]
    rotated = len(runners) > 3 or any(len(label(r, 16)) > 10 for r in runners)
    fig, axes = _facets(len(tasks), width=max(3.0, 0.55 * len(runners) + 1.2), rotated=rotated)
    jitter = np.random.default_rng(0)
    for ax, task in zip(axes, tasks, strict=True):
        part = final[(final["task"] == task) & final[column].notna()]
        groups = {r: g[column].to_numpy(dtype=float) for r, g in part.groupby("runner")}
        present = [(i, r) for i, r in enumerate(runners) if len(groups.get(r, ()))]
        if present:
            boxes = ax.boxplot([groups[r] for _, r in present], positions=[i for i, _ in present],
                               widths=0.55, patch_artist=True, showfliers=False,
                               medianprops={"color": "0.15"})
            for patch, (_, runner) in zip(boxes["boxes"], present, strict=True):
                patch.set_facecolor((*style.colours[runner], 0.45))
                patch.set_edgecolor("0.3")
            for i, runner in present:
                values = groups[runner]
                ax.scatter(i + jitter.uniform(-0.15, 0.15, len(values)), values, s=9,
                           color="0.15", zorder=3, linewidths=0)
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks(range(len(runners)), [label(r, 16) for r in runners])
        ax.set_xlim(-0.6, len(runners) - 0.4)
        ax.set_title(label(task))
        ax.set_ylabel(ylabel)
        ax.grid(axis="x", visible=False)
        if rotated:
            ax.tick_params(axis="x", labelrotation=30)
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("right")
    return fig


def ranks(ranks_frame: pd.DataFrame, style: RunnerStyle, *, xlabel: str,
          xscale: float) -> Figure:
    """Average rank against budget (1 = best at the top)."""
    fig = _figure(6.4, 3.6)
    ax = fig.subplots()
    for runner, line in ranks_frame.groupby("runner", sort=False):
        ax.plot(line["x"].to_numpy(dtype=float) * xscale, line["rank"],
                color=style.colours[runner], linestyle=style.dashes[runner],
                drawstyle="steps-post", linewidth=1.6)
    ax.set_ylim(len(style.runners) + 0.3, 0.7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("average rank (1 = best)")
    _legend(fig, style, [r for r in style.runners if r in set(ranks_frame["runner"])])
    return fig


def cd_diagram(avg_ranks: pd.Series, cd: float | None, cliques: list[list[str]],
               style: RunnerStyle) -> Figure:
    """Critical-difference diagram (Demšar): runners joined by a bar are not significantly
    different (by the procedure that made ``cliques``); the CD bar is drawn only when the
    groups come from Nemenyi's test (``cd`` given)."""
    ordered = avg_ranks.sort_values(kind="stable")
    k = len(ordered)
    half = math.ceil(k / 2)
    rows = max(half, k - half)
    fig = _figure(7.0, 1.3 + 0.28 * rows + 0.12 * len(cliques))
    ax = fig.subplots()
    ax.set_axis_off()
    lo, hi = 1, max(k, 2)
    ax.hlines(0, lo, hi, color="0.1", linewidth=1)
    for tick in range(lo, hi + 1):
        ax.vlines(tick, 0, 0.08, color="0.1", linewidth=1)
        ax.text(tick, 0.13, str(tick), ha="center", va="bottom", fontsize=8)
    if cd is not None:  # the critical difference itself, as a bar above the axis
        ax.hlines(0.55, lo, lo + cd, color="0.1", linewidth=1.5)
        ax.vlines([lo, lo + cd], 0.5, 0.6, color="0.1", linewidth=1.5)
        ax.text(lo + cd / 2, 0.65, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8)
    for j, group in enumerate(cliques):
        y = -0.12 - 0.1 * j
        ax.hlines(y, ordered[group[0]] - 0.03, ordered[group[-1]] + 0.03, color="0.1",
                  linewidth=3)
    top = -0.25 - 0.1 * len(cliques)
    for i, (runner, rank) in enumerate(ordered.items()):
        left = i < half
        y = top - 0.28 * (i if left else k - 1 - i)
        end = lo - 0.4 if left else hi + 0.4
        ax.plot([rank, rank, end], [0, y, y], color=style.colours[runner], linewidth=1.2)
        ax.text(end + (-0.05 if left else 0.05), y, f"{label(runner)} ({rank:.2f})",
                ha="right" if left else "left", va="center", fontsize=8)
    ax.set_xlim(lo - 0.5, hi + 0.5)
    ax.set_ylim(top - 0.28 * rows, 0.9)
    return fig


def win_rates(matrix: pd.DataFrame) -> Figure:
    """How often the row runner's final value beats the column runner's (ties count half)."""
    n = len(matrix)
    longest = max((len(label(r)) for r in matrix.index), default=0)
    fig = _figure(1.8 + 0.75 * n + 0.07 * longest, 1.2 + 0.6 * n + 0.05 * longest)
    ax = fig.subplots()
    shown = matrix.copy()
    shown.index = [label(r) for r in matrix.index]
    shown.columns = [label(r) for r in matrix.columns]
    with warnings.catch_warnings():  # seaborn 0.13 calls a colormap method matplotlib retires
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sns.heatmap(shown, ax=ax, vmin=0, vmax=1, center=0.5, cmap="vlag_r", annot=True,
                    fmt=".2f", square=True, cbar_kws={"label": "win rate of row over column"},
                    linewidths=0.5, annot_kws={"fontsize": 8})
    ax.grid(False)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="x", labelrotation=30)
    ax.tick_params(axis="y", labelrotation=0)
    return fig


def ecdf(ecdf_frame: pd.DataFrame, style: RunnerStyle, *, xlabel: str, xscale: float) -> Figure:
    """COCO-style runtime ECDF: share of (task, target) pairs reached against budget (log axis)."""
    fig = _figure(6.4, 3.6)
    ax = fig.subplots()
    for runner, line in ecdf_frame.groupby("runner", sort=False):
        ax.plot(line["x"].to_numpy(dtype=float) * xscale, line["fraction"],
                color=style.colours[runner], linestyle=style.dashes[runner],
                drawstyle="steps-post", linewidth=1.6)
    _log_scale(ax, "x")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of (task, target) pairs reached")
    _legend(fig, style, [r for r in style.runners if r in set(ecdf_frame["runner"])])
    return fig


def optimizer_overhead(overhead: pd.DataFrame, style: RunnerStyle) -> Figure:
    """Optimiser seconds per trial (median and interquartile band) against trial number."""
    fig = _figure(6.4, 3.6)
    ax = fig.subplots()
    floor = _positive_floor(overhead[["q25", "median", "q75"]].to_numpy(dtype=float))
    for runner, line in overhead.groupby("runner", sort=False):
        x = line["trial_number"].to_numpy(dtype=float)
        ax.plot(x, np.maximum(line["median"], floor), color=style.colours[runner],
                linestyle=style.dashes[runner], linewidth=1.4)
        ax.fill_between(x, np.maximum(line["q25"], floor), np.maximum(line["q75"], floor),
                        color=style.colours[runner], alpha=0.15, linewidth=0)
    _log_scale(ax)
    ax.set_xlabel("trial number")
    ax.set_ylabel("optimiser seconds per trial")
    _legend(fig, style, [r for r in style.runners if r in set(overhead["runner"])])
    return fig


def eval_seconds(trials: pd.DataFrame, style: RunnerStyle) -> Figure:
    """Evaluation seconds per trial by task and runner (log axis): box = quartiles, whiskers =
    5th and 95th percentiles (computed with pandas, so 100,000 trials draw as fast as 100)."""
    data = trials[trials["eval_seconds"] > 0]
    tasks = list(dict.fromkeys(trials["task"]))
    runners = [r for r in style.runners if r in set(trials["runner"])]
    fig = _figure(6.8, 1.0 + 0.22 * max(1, len(tasks)) * max(2, len(runners)) ** 0.8)
    ax = fig.subplots()
    if data.empty:
        ax.text(0.5, 0.5, "no evaluation times recorded", ha="center", va="center",
                transform=ax.transAxes)
        return fig
    q = (data.groupby(["task", "runner"])["eval_seconds"]
         .quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack())
    height = 0.8 / max(1, len(runners))
    for t, task in enumerate(tasks):
        for j, runner in enumerate(runners):
            if (task, runner) not in q.index:
                continue
            p05, p25, p50, p75, p95 = q.loc[(task, runner)].to_numpy(dtype=float)
            position = t + (j - (len(runners) - 1) / 2) * height
            box = ax.bxp([{"med": p50, "q1": p25, "q3": p75, "whislo": p05, "whishi": p95,
                           "fliers": []}], positions=[position], widths=height * 0.85,
                         orientation="horizontal", patch_artist=True, showfliers=False,
                         medianprops={"color": "0.15"})
            box["boxes"][0].set_facecolor(style.colours[runner])
            box["boxes"][0].set_edgecolor("0.3")
    ax.set_yticks(range(len(tasks)), [label(t) for t in tasks])
    ax.set_ylim(len(tasks) - 0.5, -0.5)
    _log_scale(ax, "x")
    ax.set_xlabel("evaluation seconds per trial")
    _legend(fig, style, runners)
    return fig
