"""Figures of multi-objective studies: hypervolume against budget, attainment surfaces (two
objectives) and parallel coordinates of the non-dominated sets (three or more); the runners'
colours are the report's (:class:`~tunebench.reports.plot_layout.RunnerStyle`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tunebench.reports import plots
from tunebench.reports.hypervolume import as_losses
from tunebench.reports.multi_objective import TaskObjectives
from tunebench.reports.plot_layout import RunnerStyle, facets, label, legend, runner_groups


def hypervolume_curves(summary: pd.DataFrame, style: RunnerStyle, *, xlabels: dict[str, str],
                       center: str) -> Figure:
    """The mean hypervolume (or its regret, log axis, where the optimum is known) against the
    budget spent, one panel per task, drawn as the single-objective curves are."""
    fig = plots.sample_efficiency(summary, style, use_budget=True, xlabels=xlabels, center=center)
    tasks = list(dict.fromkeys(summary["task"]))
    quantity = summary.groupby("task", sort=False)["quantity"].first()
    groups = len(runner_groups(style, style.present(summary["runner"])))
    for i, ax in enumerate(ax for ax in fig.axes if ax.get_visible()):
        regret = quantity[tasks[i // groups]] == "regret"
        ax.set_ylabel(f"{center} hypervolume regret" if regret else f"{center} hypervolume")
    return fig


def _staircase(corners: np.ndarray, far: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The attainment surface through ``corners`` (minimisation form, sorted by the first
    objective) read at ``xs``: the best second objective attained at or left of each x; ``far``
    left of the first corner (nothing attained there)."""
    if not len(corners):
        return np.full(len(xs), far[1])
    idx = np.searchsorted(corners[:, 0], xs, side="right") - 1
    return np.where(idx >= 0, corners[np.maximum(idx, 0), 1], far[1])


def _by_first(points: np.ndarray) -> np.ndarray:
    return points[np.argsort(points[:, 0], kind="stable")]


def attainment(surfaces: dict[str, dict[float, np.ndarray]], spec: TaskObjectives,
               style: RunnerStyle) -> Figure:
    """Each runner's median attainment surface (line) and the region between its 25% and 75%
    surfaces (band) on a 2-objective task, drawn over the surfaces' corners up to the reference
    point (dashed where in view). In the objectives' own units: an axis of a maximised objective
    runs the other way round, so better is always towards the lower left."""
    runners = style.present(list(surfaces))
    groups = runner_groups(style, runners)
    fig, axes = facets(len(groups), ncols=min(3, len(groups)), width=4.4, height=3.6,
                       legend=runners, style=style)
    signs = np.where(np.array(spec.directions) == "maximize", -1.0, 1.0)
    corners = [s for r in runners for s in surfaces[r].values() if len(s)]
    losses = np.vstack([as_losses(c, spec.directions) for c in corners]) if corners else \
        np.zeros((1, 2))
    # The view: the surfaces' corners, cut at the reference point (nothing beyond it counts).
    low, high = losses.min(axis=0), losses.max(axis=0)
    if spec.reference is not None:
        high = np.minimum(high, as_losses([spec.reference], spec.directions)[0])
    high = np.where(high > low, high, low + 1.0)
    pad = 0.05 * (high - low)
    lo_view, hi_view = low - pad, high + pad
    far = hi_view + (hi_view - lo_view)  # beyond the view: the surface's open end
    for ax, group in zip(axes, groups, strict=True):
        for runner in group:
            levels = {k: _by_first(as_losses(v, spec.directions))
                      for k, v in surfaces[runner].items()}
            xs = np.unique(np.concatenate([[lo_view[0]], *(v[:, 0] for v in levels.values()),
                                           [far[0]]]))
            ys = {k: _staircase(v, far, xs) for k, v in levels.items()}
            colour = style.colours[runner]
            ax.fill_between(signs[0] * xs, signs[1] * ys[25.0], signs[1] * ys[75.0],
                            step="post", color=colour, alpha=0.18, linewidth=0)
            ax.plot(signs[0] * xs, signs[1] * ys[50.0], drawstyle="steps-post", color=colour,
                    linestyle=style.dashes[runner], linewidth=1.6)
        if spec.reference is not None:
            for axis, value in zip((ax.axvline, ax.axhline), spec.reference, strict=True):
                axis(value, color="0.35", linewidth=0.9, linestyle="--")
        for j, setter in enumerate((ax.set_xlim, ax.set_ylim)):
            ends = sorted(signs[j] * np.array([lo_view[j], hi_view[j]]))
            setter(*ends) if signs[j] > 0 else setter(ends[1], ends[0])
        ax.set_xlabel(label(spec.labels[0]))
        ax.set_ylabel(label(spec.labels[1]))
        title = label(spec.task) + (f" · runners {groups.index(group) + 1}/{len(groups)}"
                                    if len(groups) > 1 else "")
        ax.set_title(title)
    legend(fig, style, runners)
    return fig


def parallel_fronts(fronts: pd.DataFrame, spec: TaskObjectives, style: RunnerStyle) -> Figure:
    """Parallel coordinates of each runner's non-dominated set (one panel per runner, one line
    per trial): every objective scaled from the best value shown (0, bottom) to the worst
    shown or the reference point, whichever is worse (1), so lower is better on every axis;
    each axis is labelled with its objective, its direction and the values at 0 and 1."""
    runners = style.present(fronts["runner"])
    fig, axes = facets(max(1, len(runners)), ncols=3, width=max(3.4, 0.9 * len(spec.names)),
                       height=2.8, rotated=0.25)
    columns = spec.columns()
    losses = as_losses(fronts[columns].to_numpy(dtype=float), spec.directions)
    best = losses.min(axis=0) if len(losses) else np.zeros(len(columns))
    worst = losses.max(axis=0) if len(losses) else np.ones(len(columns))
    if spec.reference is not None:
        worst = np.maximum(worst, as_losses([spec.reference], spec.directions)[0])
    span = np.where(worst > best, worst - best, 1.0)
    positions = np.arange(len(columns))
    signs = np.where(np.array(spec.directions) == "maximize", -1.0, 1.0)
    ticks = [f"{label(n, 14)} ({'min' if s > 0 else 'max'})\n{_short(s * b)} … {_short(s * w)}"
             for n, s, b, w in zip(spec.names, signs, best, worst, strict=True)]
    for ax, runner in zip(axes, runners, strict=True):
        mine = (fronts["runner"] == runner).to_numpy()
        scaled = (losses[mine] - best) / span
        alpha = float(np.clip(8.0 / max(1, len(scaled)), 0.15, 0.8))
        for row in scaled:
            ax.plot(positions, row, color=style.colours[runner], alpha=alpha, linewidth=1.0)
        for p in positions:
            ax.axvline(p, color="0.3", linewidth=0.8)
        ax.set_xticks(positions, ticks, fontsize=7)
        ax.set_xlim(-0.2, len(columns) - 0.8)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("0 = best shown, 1 = worst")
        ax.set_title(f"{label(runner)} ({len(scaled)} points)")
        ax.grid(axis="x", visible=False)
    if not runners:
        axes[0].text(0.5, 0.5, "no successful trial", ha="center", va="center",
                     transform=axes[0].transAxes)
    return fig


def _short(value: float) -> str:
    return f"{value:.3g}"

