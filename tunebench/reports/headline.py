"""The report's opening: what the statistics found, in words, and what they cannot say.

Sentences are read from the report's own decisions — overall from the significance section's
pairwise table, per task from the bold rule of the final table
(:func:`tunebench.reports.significance.significantly_best`) and the paired differences against
random search — so the headline never disagrees with the tables below it. Checks of the design
add what cannot be concluded: too few repetitions for any test to reach significance, budgets that
end inside a model-based runner's random start-up phase, and identical repetitions.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tunebench.reports import decisions, intervals, significance, stats
from tunebench.reports.frames import BUDGET_UNITS, Frames
from tunebench.reports.metrics import find_baseline

#: Runner options that set how many initial trials a model-based runner draws before its model.
STARTUP_OPTIONS = ("n_startup_trials", "n_startup_jobs", "n_initial_points", "n_init",
                   "n_initial_design")

#: Class attributes where a runner declares the library callable it configures (its options and
#: the library's defaults): optuna's sampler, hyperopt's algorithm.
LIBRARY_OPTION_SETS = ("sampler", "algorithm")

#: Study columns (from the suite layer) flagging a repetition that repeats another: the store's
#: ``identical_to`` (the study it repeats, NA when none), or a boolean flag.
DEGENERATE_COLUMNS = ("identical_to", "degenerate", "degenerate_repetition")

@dataclass
class Headline:
    """The opening sentences, and the per-task decisions the tables' bold marks follow."""

    items: list[tuple[str, str]] = field(default_factory=list)  # (kind, text): p, note, warn
    best_by_task: dict[str, str | None] = field(default_factory=dict)
    metric_by_task: dict[str, str] = field(default_factory=dict)  # "test" or "validation"
    overall_best: str | None = None


def names(items: list[str], limit: int = 12) -> str:
    """``a, b and c`` (and ``… and N more`` past ``limit``)."""
    items = [str(i) for i in items]
    if len(items) > limit:
        items = [*items[:limit], f"{len(items) - limit} more"]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def build_headline(frames: Frames, results: dict[str, pd.DataFrame],
                   statistics: dict, alpha: float = stats.ALPHA) -> Headline:
    """Sentences stating the report's conclusions, overall and per task, and its limits."""
    head = Headline()
    runners, baseline = frames.runners, find_baseline(frames)
    head.items += _overall(results.get("wilcoxon"), statistics, runners, baseline, alpha, head,
                           _budget(frames))
    head.items += _per_task(frames, results, statistics, baseline, alpha, head)
    head.items += design_limits(frames)
    return head


def _versus(decided: pd.DataFrame, baseline: str | None, runners: list[str]) -> str:
    """Which runners are significantly better or worse than the baseline, in one sentence."""
    if baseline is None or baseline not in runners:
        return ""
    worse, better = decisions.better_than(decided, baseline)
    rest = [r for r in runners if r not in (*better, *worse, baseline)]
    parts = []
    if better:
        parts.append(f"significantly better than {baseline}: {names(better)}")
    if worse:
        parts.append(f"significantly worse than {baseline}: {names(worse)}")
    if rest:
        parts.append(f"not distinguishable from {baseline}: "
                     + (names(rest) if len(rest) <= 6 else f"the {len(rest)} others"))
    return "; ".join(parts)


def _clearest(decided: pd.DataFrame, limit: int = 5) -> str:
    """The significant pairs with the smallest adjusted p-values: ``a over b (p = …)``."""
    shown = decided[decided["significant"].astype(bool)].sort_values("pvalue_holm", kind="stable")
    parts = []
    for row in shown.head(limit).itertuples(index=False):
        winner, loser = (row.runner_a, row.runner_b) if row.a_better else (row.runner_b, row.runner_a)
        parts.append(f"{winner} over {loser} ({p_text(row.pvalue_holm)})")
    more = len(shown) - len(parts)
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def p_text(p: float) -> str:
    """An adjusted p-value for prose."""
    return "Holm p < 0.001" if p < 0.001 else f"Holm p = {p:.3f}"


def _budget(frames: Frames) -> str:
    """``At 50 trials`` when every study had that budget, else ``At the end of each budget``."""
    common = frames.common_budget
    if common is None:
        return "At the end of each task's budget"
    return f"At {common[1]:g} {BUDGET_UNITS.get(common[0], common[0])}"


def _overall(pairs: pd.DataFrame | None, statistics: dict, runners: list[str],
             baseline: str | None, alpha: float, head: Headline,
             budget: str = "Overall") -> list[tuple[str, str]]:
    if len(runners) < 2:
        return [("warn", "Only one runner: there is nothing to compare.")]
    if pairs is None or pairs.empty:
        return [("warn", "Too few complete blocks for any significance test: no runner can be "
                         "called better than another. Run more repetitions.")]
    decided = decisions.with_direction(pairs)
    n_blocks = statistics.get("n_blocks", int(pairs["n"].max()))
    by_task = statistics.get("design", "task") == "task"
    short = "tasks" if by_task else "(task, repetition) blocks"
    unit = short if by_task else short + ", pseudo-replicated"
    significant = int(decided["significant"].sum())
    best = decisions.significantly_best(decided, runners)
    head.overall_best = best
    how = (f"two-sided Wilcoxon signed-rank tests, Holm-corrected over {len(decided)} pairs, "
           f"α = {alpha:g}, over {n_blocks} {unit}")
    friedman = statistics.get("friedman")
    lead = (f"{budget}, over all tasks, {best} is significantly better than every other runner"
            if best else f"{budget}, over all tasks, no runner is significantly better than every "
                         "other")
    text = f"{lead} ({how}); {significant} of {len(decided)} pairs differ significantly"
    text += f": {_clearest(decided)}." if significant else "."
    if friedman is not None:
        verdict = "differ" if friedman.pvalue < alpha else "show no evidence of differing"
        text += (f" Friedman's test: the runners {verdict} "
                 f"({'p < 0.001' if friedman.pvalue < 0.001 else f'p = {friedman.pvalue:.3f}'}).")
    items = [("p", text)]
    versus = _versus(decided, baseline, runners)
    if versus:
        items.append(("p", versus[0].upper() + versus[1:] + " (overall)."))
    needed = decisions.min_blocks(len(decided), alpha)
    if n_blocks < needed:
        items.append(("warn", f"{n_blocks} {short} are too few for any pair to reach "
                              f"significance after Holm's correction over {len(decided)} pairs "
                              f"(that needs at least {needed}): the absence of differences above "
                              "says nothing."))
    return items


def _per_task(frames: Frames, results: dict[str, pd.DataFrame], statistics: dict,
              baseline: str | None, alpha: float, head: Headline) -> list[tuple[str, str]]:
    """Per task: the significantly best runner (the final table's bold) and who beats random
    search (its paired differences), on the metric the significance section compares."""
    items: list[tuple[str, str]] = []
    final = frames.tested_final  # each run once, as the tests counted it
    value = statistics.get("value") or ("test" if final["final_test"].notna().any()
                                        else "validation")
    column = significance.VALUE_COLUMNS[value]
    versus = results.get(f"vs_random_{value}")
    k = len(frames.runners)
    needed = decisions.min_blocks(k - 1, alpha)
    too_few: dict[int, list[str]] = {}
    smoke = set(frames.smoke_tasks)
    if smoke:
        items.append(("note", f"Smoke-test task{'s' if len(smoke) > 1 else ''} "
                              f"{names(sorted(smoke))}: run to check the pipeline, not compared "
                              "(left out of every statistic)."))
    for task in frames.tasks:
        if task in smoke:
            continue
        rows = final[final["task"] == task]
        wide = rows.pivot_table(index="repetition", columns="runner", values=column,
                                aggfunc="first").dropna(how="any")
        head.metric_by_task[task] = value
        maximize = frames.references.loc[task, "direction"] == "maximize"
        best = decisions.best_of(wide, maximize, alpha) if wide.shape[1] >= 2 else None
        head.best_by_task[task] = best
        n = len(wide)
        if wide.shape[1] < 2:
            continue
        if n < needed:
            too_few.setdefault(n, []).append(task)
            continue
        lead = (f"{best} is significantly best" if best else
                "no runner is significantly better than every other")
        clauses = [lead, *_against_random(versus, task, baseline)]
        items.append(("p", f"On {task} ({n} repetitions, final {value} value): "
                           + "; ".join(clauses) + "."))
    for n, tasks in too_few.items():
        items.append(("note", f"On {names(tasks)}, {n} repetition{'s' if n != 1 else ''} cannot "
                              "make any runner significantly better than another (Holm's "
                              f"correction over a runner's {k - 1} comparisons needs at least "
                              f"{needed} repetitions per task): per-task values are estimates, "
                              "not rankings."))
    return items


def _against_random(versus: pd.DataFrame | None, task: str, baseline: str | None) -> list[str]:
    """Clauses from the paired differences against random search on one task."""
    if versus is None or versus.empty or baseline is None:
        return []
    rows = versus[versus["task"] == task]
    better = rows[rows["better"] == rows["runner"]].sort_values("p_holm", kind="stable")
    worse = rows[rows["better"] == rows["baseline"]].sort_values("p_holm", kind="stable")
    out = []
    for frame, how in ((better, "better"), (worse, "worse")):
        if len(frame):
            out.append(f"significantly {how} than {baseline}: " + names(
                [f"{r.runner} ({p_text(r.p_holm)})" for r in frame.itertuples()], limit=6))
    if not out:
        out.append(f"no runner differs significantly from {baseline}")
    return out


def design_limits(frames: Frames) -> list[tuple[str, str]]:
    """What the design of these studies keeps any statement from concluding (too few
    repetitions, budgets inside a start-up phase, identical repetitions)."""
    items: list[tuple[str, str]] = []
    reps = frames.studies.groupby("task")["repetition"].nunique()
    few = reps[reps < intervals.SMALL_N]
    if len(few):
        counts = names([f"{task} ({n})" for task, n in few.items()], limit=12)
        where = "every task" if len(few) == len(reps) else counts
        items.append(("warn", f"Fewer than {intervals.SMALL_N} repetitions on {where}"
                              + (f": {counts}" if where == "every task" else "")
                              + ": there, confidence bands and intervals do not reach their "
                                "stated level; read them as rough spreads."))
    startup = startup_phase(frames)
    if startup:
        items.append(("warn", "Budget inside the random start-up phase: " + "; ".join(startup)
                              + ". These runners were compared as the random search they "
                                "start with, not as the model-based methods they are."))
    identical = identical_repetitions(frames)
    if identical:
        items.append(("note", "Repetitions that repeat an earlier one's run exactly: "
                              + names(identical, limit=20) + ". A runner deterministic by design "
                              "(a grid in declared order, a seed-free method) is compared as its "
                              "one result; for any other runner (a pinned seed, a seed it ignores) "
                              "each run is counted once in the tests."))
    return items


def _startup_length(runner_name: str, options: object) -> tuple[int, str] | None:
    """The runner's start-up trials: its option if set in the suite, else its library default."""
    if isinstance(options, dict):
        for key in STARTUP_OPTIONS:
            if isinstance(options.get(key), (int, float)) and not isinstance(options[key], bool):
                return int(options[key]), key
    try:
        from tunebench.registry import get_runner_class

        cls = get_runner_class(runner_name)
    except Exception:  # an unknown or unimportable runner: nothing is known about its start-up
        return None
    defaults: dict = {}
    for attribute in LIBRARY_OPTION_SETS:  # the library callable's own keyword defaults
        declared = getattr(cls, attribute, None)
        if callable(getattr(declared, "defaults", None)):
            defaults.update(declared.defaults())
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        defaults.setdefault(name, parameter.default)
    for key in STARTUP_OPTIONS:
        default = defaults.get(key)
        if isinstance(default, int) and not isinstance(default, bool):
            return default, key
    return None


def startup_phase(frames: Frames) -> list[str]:
    """``runner on tasks (N trials, option = M)`` where studies ended inside the start-up phase."""
    studies = frames.studies
    if studies.empty:
        return []
    first = studies.drop_duplicates(["task", "runner"])
    trials_run = studies.groupby(["task", "runner"])["n_trials"].median()
    inside: dict[tuple[str, str, int, float], list[str]] = {}
    for row in first.itertuples(index=False):
        found = _startup_length(str(row.runner_name), row.runner_options)
        if found is None:
            continue
        length, option = found
        n = float(trials_run.get((row.task, row.runner), np.nan))
        if np.isfinite(n) and n <= length:
            inside.setdefault((str(row.runner), option, length, n), []).append(str(row.task))
    return [f"{runner} on {names(tasks)} ({n:g} trials, {option} = {length})"
            for (runner, option, length, n), tasks in inside.items()]


def _flagged(column: pd.Series) -> pd.Series:
    """True where a flag column marks a study: a true boolean, or any id (not NA; an id of 0,
    "repeats repetition 0", is a mark too)."""
    values = column.astype(object)
    if column.name == "identical_to" or pd.api.types.is_integer_dtype(column.dtype):
        return values.notna()
    return values.notna() & values.map(lambda v: v is not False and v is not np.False_)


def identical_repetitions(frames: Frames) -> list[str]:
    """``runner on task`` where every repetition is the same study (or a store flag says so)."""
    out = []
    flags = [c for c in DEGENERATE_COLUMNS if c in frames.studies.columns]
    values = frames.trials.groupby("study_id", sort=False)["value"]
    digest = values.apply(lambda v: np.round(v.to_numpy(dtype=float), 12).tobytes())
    for (task, runner), group in frames.studies.groupby(["task", "runner"], sort=False):
        if flags:  # the store compared trial sequences (config keys): trust it
            flagged = any(_flagged(group[column]).any() for column in flags)
        else:  # an older store: equal values in every repetition, at least one of them real
            kept = digest.reindex(group["study_id"]).dropna()
            flagged = (group["repetition"].nunique() > 1 and len(set(kept)) == 1
                       and frames.trials.loc[frames.trials["study_id"].isin(group["study_id"]),
                                             "value"].notna().any())
        if flagged:
            n = group["repetition"].nunique()
            repeats = int(sum(_flagged(group[c]).sum() for c in flags[:1])) if flags else n - 1
            out.append(f"{runner} on {task} ({n - repeats} distinct of {n})")
    return out
