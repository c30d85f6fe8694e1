"""Figures: seaborn style and a colour-blind-safe palette, one colour per runner in every figure
(the style and layout are :mod:`tunebench.reports.plot_layout`'s).

Figures are plain :class:`matplotlib.figure.Figure` objects, never pyplot's: nothing global is
opened, so nothing needs closing, the backend in use (a notebook's, or none) is left alone, and
saving goes through Agg (PNG) and matplotlib's SVG writer.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullLocator

from tunebench.reports.plot_layout import (
    LABEL_LIMIT,
    MAX_LINES,
    RunnerStyle,
    facets,
    figure,
    grouped_axes,
    label,
    legend,
    legend_columns,
    runner_groups,
    theme,
)

#: Re-exported: the report builder and the tests know them as ``plots.<name>``.
__all__ = ["LABEL_LIMIT", "MAX_LINES", "RunnerStyle", "label", "legend_columns", "runner_groups",
           "theme"]

def _log_scale(ax, axis: str = "y") -> None:
    """A log axis with few ticks: a handful of labelled decades, no minor ticks over wide ranges
    (hundreds of tick labels are most of the cost of drawing a figure)."""
    getattr(ax, f"set_{axis}scale")("log")
    lo, hi = getattr(ax, f"get_{axis}lim")()
    target = getattr(ax, f"{axis}axis")
    target.set_major_locator(LogLocator(numticks=6))
    if lo > 0 and math.log10(hi) - math.log10(lo) > 3:  # a ratio could overflow
        target.set_minor_locator(NullLocator())


def _positive_floor(values: np.ndarray) -> float:
    positive = values[np.isfinite(values) & (values > 0)]
    return float(positive.min()) / 10 if len(positive) else 1e-12


def sample_efficiency(summary: pd.DataFrame, style: RunnerStyle, *, use_budget: bool,
                      xlabels: dict[str, str], center: str) -> Figure:
    """Best-so-far (or regret, log axis) against budget, band = bootstrap interval over repetitions.

    One panel per task; beyond :data:`MAX_LINES` runners, one row per task and one panel per group
    of runners, random search drawn in every panel."""
    tasks = list(dict.fromkeys(summary["task"]))
    runners = style.present(summary["runner"])
    groups = runner_groups(style, runners)
    panels = [(task, group) for task in tasks for group in groups]
    fig, axes = facets(len(panels), ncols=3 if len(groups) == 1 else len(groups),
                        legend=runners, style=style)
    for ax, (task, group) in zip(axes, panels, strict=True):
        part = summary[summary["task"] == task]
        regret = part["quantity"].iloc[0] == "regret"
        floor = _positive_floor(part[["center", "lo", "hi"]].to_numpy()) if regret else None
        for runner, line in part[part["runner"].isin(group)].groupby("runner", sort=False):
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
        ax.set_title(_panel_title(task, group, groups))
        ax.set_xlabel(xlabels.get(task, "trials"))
        ax.set_ylabel(f"{center} regret" if regret else f"{center} best value")
    legend(fig, style, runners)
    return fig


def _panel_title(task: str | None, group: list[str], groups: list[list[str]]) -> str:
    """A panel's title: its task and, in small multiples, which group of runners it shows."""
    parts = [label(task)] if task is not None else []
    if len(groups) > 1:
        parts.append(f"runners {groups.index(group) + 1}/{len(groups)}")
    return " · ".join(parts)


def _grouped_lines(frame: pd.DataFrame, style: RunnerStyle, y: str, *, xscale: float,
                   steps: bool) -> tuple[Figure, list]:
    """Lines of ``y`` against ``x`` per runner, one panel per group of runners, legend below."""
    runners = style.present(frame["runner"])
    fig, axes, groups = grouped_axes(style, runners)
    for ax, group in zip(axes, groups, strict=True):
        for runner, line in frame[frame["runner"].isin(group)].groupby("runner", sort=False):
            x = line["x"].to_numpy(dtype=float) * xscale
            ax.plot(x, line[y].to_numpy(dtype=float), color=style.colours[runner],
                    linestyle=style.dashes[runner], linewidth=1.6,
                    drawstyle="steps-post" if steps else "default")
            if {"lo", "hi"} <= set(line.columns) and line["lo"].notna().any():
                ax.fill_between(x, line["lo"], line["hi"], color=style.colours[runner],
                                alpha=0.18, linewidth=0, step="post" if steps else None)
        ax.set_title(_panel_title(None, group, groups))
    legend(fig, style, runners)
    return fig, axes


def normalised_score(summary: pd.DataFrame, style: RunnerStyle, *, xlabel: str,
                     xscale: float) -> Figure:
    """Mean normalised score over tasks against budget (0 = optimum, 1 = random search)."""
    fig, axes = _grouped_lines(summary, style, "center", xscale=xscale, steps=False)
    for ax in axes:
        ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle="--")
        ax.axhline(0.0, color="0.4", linewidth=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("normalised score (lower is better)")
    return fig


def final_values(final: pd.DataFrame, style: RunnerStyle, *, column: str,
                 ylabel: str) -> Figure:
    """Box plot with every repetition as a dot, one panel per task."""
    tasks = list(dict.fromkeys(final["task"]))
    runners = [r for r in style.runners if r in set(final["runner"])]
    slanted = len(runners) > 3 or any(len(label(r)) > 10 for r in runners)
    longest = max((len(label(r)) for r in runners), default=0)
    width = max(3.0, 0.55 * len(runners) + 1.2)
    fig, axes = facets(len(tasks), ncols=max(1, min(3, int(14 // width))), width=width,
                        rotated=0.2 + 0.055 * longest if slanted else 0.0)
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
        ax.set_xticks(range(len(runners)), [label(r) for r in runners])
        ax.set_xlim(-0.6, len(runners) - 0.4)
        ax.set_title(label(task))
        ax.set_ylabel(ylabel)
        ax.grid(axis="x", visible=False)
        if slanted:
            ax.tick_params(axis="x", labelrotation=45)
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("right")
    return fig


def ranks(ranks_frame: pd.DataFrame, style: RunnerStyle, *, xlabel: str,
          xscale: float) -> Figure:
    """Average rank against budget (1 = best at the top)."""
    fig, axes = _grouped_lines(ranks_frame, style, "rank", xscale=xscale, steps=True)
    for ax in axes:
        ax.set_ylim(len(style.runners) + 0.3, 0.7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("average rank (1 = best)")
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
    fig = figure(7.0, 1.3 + 0.28 * rows + 0.12 * len(cliques))
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
    annotate = n <= 10  # beyond, numbers in cells would be too small to read: colour alone
    cell = 0.75 if annotate else 0.42
    fig = figure(1.8 + cell * n + 0.07 * longest, 1.2 + 0.8 * cell * n + 0.05 * longest)
    ax = fig.subplots()
    shown = matrix.copy()
    shown.index = [label(r) for r in matrix.index]
    shown.columns = [label(r) for r in matrix.columns]
    with warnings.catch_warnings():  # seaborn 0.13 calls a colormap method matplotlib retires
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sns.heatmap(shown, ax=ax, vmin=0, vmax=1, center=0.5, cmap="vlag_r", annot=annotate,
                    fmt=".2f", square=True, cbar_kws={"label": "win rate of row over column"},
                    linewidths=0.5, annot_kws={"fontsize": 8})
    ax.grid(False)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="x", labelrotation=30 if annotate else 90)
    ax.tick_params(axis="y", labelrotation=0)
    return fig


def ecdf(ecdf_frame: pd.DataFrame, style: RunnerStyle, *, xlabel: str, xscale: float) -> Figure:
    """COCO-style runtime ECDF: share of (task, target) pairs reached against budget (log axis)."""
    fig, axes = _grouped_lines(ecdf_frame, style, "fraction", xscale=xscale, steps=True)
    for ax in axes:
        _log_scale(ax, "x")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share of (task, target) pairs reached")
    return fig


def optimizer_overhead(overhead: pd.DataFrame, style: RunnerStyle) -> Figure:
    """Optimiser seconds per trial (median and interquartile band) against trial number."""
    floor = _positive_floor(overhead[["q25", "median", "q75"]].to_numpy(dtype=float))
    shown = pd.DataFrame({"runner": overhead["runner"],
                          "x": overhead["trial_number"].to_numpy(dtype=float),
                          "median": np.maximum(overhead["median"].to_numpy(dtype=float), floor),
                          "lo": np.maximum(overhead["q25"].to_numpy(dtype=float), floor),
                          "hi": np.maximum(overhead["q75"].to_numpy(dtype=float), floor)})
    fig, axes = _grouped_lines(shown, style, "median", xscale=1.0, steps=False)
    for ax in axes:
        _log_scale(ax)
        ax.set_xlabel("trial number")
        ax.set_ylabel("optimiser seconds per trial")
    return fig


def eval_seconds(trials: pd.DataFrame, style: RunnerStyle) -> Figure:
    """Evaluation seconds per trial, one panel per task, one box per runner named on the axis (log
    axis): box = quartiles, whiskers = 5th and 95th percentiles (computed with pandas, so 100,000
    trials draw as fast as 100). Runners are named beside their boxes, so no legend is needed."""
    data = trials[trials["eval_seconds"] > 0]
    tasks = list(dict.fromkeys(trials["task"]))
    runners = style.present(trials["runner"])
    fig, axes = facets(max(1, len(tasks)), ncols=1, width=5.5, height=0.5 + 0.2 * len(runners))
    names = [label(r) for r in runners]
    fig.subplots_adjust(left=(0.4 + 0.07 * max(map(len, names), default=4)) / fig.get_figwidth())
    if data.empty:
        axes[0].text(0.5, 0.5, "no evaluation times recorded", ha="center", va="center",
                     transform=axes[0].transAxes)
        return fig
    q = (data.groupby(["task", "runner"])["eval_seconds"]
         .quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack())
    for ax, task in zip(axes, tasks, strict=True):
        for j, runner in enumerate(runners):
            if (task, runner) not in q.index:
                continue
            p05, p25, p50, p75, p95 = q.loc[(task, runner)].to_numpy(dtype=float)
            box = ax.bxp([{"med": p50, "q1": p25, "q3": p75, "whislo": p05, "whishi": p95,
                           "fliers": []}], positions=[j], widths=0.7,
                         orientation="horizontal", patch_artist=True, showfliers=False,
                         medianprops={"color": "0.15"})
            box["boxes"][0].set_facecolor(style.colours[runner])
            box["boxes"][0].set_edgecolor("0.3")
        ax.set_yticks(range(len(runners)), names)
        ax.set_ylim(len(runners) - 0.5, -0.5)
        ax.set_title(label(task))
        _log_scale(ax, "x")
        ax.set_xlabel("evaluation seconds per trial")
    return fig
