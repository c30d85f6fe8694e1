"""Optimiser overhead: ask+tell time per trial of every runner on hartmann6 (mf_hartmann6 for the
runners that choose fidelities), at 10, 100 and 500 trials.

Only the runner's calls are timed (``ask`` and ``tell``), not the task. Each case reports the mean
per-trial overhead over the study and the mean over its last tenth of trials (what one more trial
costs at that history size, where model-based runners grow), and the ratio of the mean to a bare
optuna ``RandomSampler`` ask/tell loop on the same space, measured in the same process.

The GP-based runners are capped, because their cost per trial grows with the history (a GP fit is
cubic in the number of trials): ``optuna.gp`` at 250 trials and ``nevergrad.bo`` at 100 (about 40 s
already), SMAC's GP facade ``smac.bb`` at 100 (about 2.7 s per trial, 270 s) and, since it
retrains its random forest and runs a local search every trial, ``smac.hpo`` at 250;
``ax.botorch`` and ``hebo`` at 100 (minutes already); so are scikit-optimize's models
(``skopt.gp`` about 170 s per 100 trials, its forests refit 100 trees and score 10000 candidates
per trial), at 100; the larger cases are reported as skipped with the cap.

Run as a pytest-benchmark case (``pytest benchmarks/bench_runner_overhead.py --benchmark-only``)
or as a script (``python benchmarks/bench_runner_overhead.py [--uncapped] [RUNNER ...]``) for a
Markdown table; ``--uncapped`` measures the capped runners at every size too (tens of minutes).
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass

import pytest

from tunebench.registry import (
    RegistryError,
    get_runner_class,
    make_runner,
    make_task,
    runner_names,
)
from tunebench.runners.base import BudgetInfo, Outcome, Proposal, RunnerError, Status
from tunebench.tasks.base import Direction, EvalContext

SIZES = (10, 100, 500)
TASK = "hartmann6"
MF_TASK = "mf_hartmann6"  # runners that choose fidelities: its 27 steps (the task is not timed)
#: Largest study measured per runner (cost grows with the history).
CAPS = {"optuna.gp": 250, "nevergrad.bo": 100, "smac.bb": 100, "smac.hpo": 250,
        "skopt.gp": 100, "skopt.rf": 100, "skopt.et": 100, "ax.botorch": 100, "hebo": 100}


@dataclass(frozen=True)
class Overhead:
    runner: str
    trials: int
    mean_ms: float
    last_tenth_ms: float


def available_runners() -> list[str]:
    names = []
    for name in runner_names():
        cls = get_runner_class(name)
        if getattr(cls, "unavailable", None):
            continue
        names.append(name)
    return names


def measure(name: str, trials: int, seed: int = 0) -> Overhead:
    chooses = get_runner_class(name).capabilities.chooses_fidelity
    task = make_task(MF_TASK if chooses else TASK)  # a multi-fidelity runner gets fidelities
    info = BudgetInfo("trials", trials, task.min_fidelity, task.max_fidelity)
    runner = make_runner(name, task.space, task.direction, seed, info)
    seconds = []
    for number in range(trials):
        t0 = time.perf_counter()
        asked = runner.ask()
        t1 = time.perf_counter()
        proposal = asked if isinstance(asked, Proposal) else Proposal(asked)
        fidelity = proposal.fidelity or task.max_fidelity
        value = task.evaluate(proposal.config, fidelity, 0, EvalContext()).value
        t2 = time.perf_counter()
        runner.tell(proposal.config, Outcome(Status.OK, value, fidelity, trial=number,
                                             tag=proposal.tag))
        seconds.append(t1 - t0 + time.perf_counter() - t2)
    tail = seconds[-max(1, trials // 10):]
    return Overhead(name, trials, 1e3 * sum(seconds) / trials, 1e3 * sum(tail) / len(tail))


@functools.cache
def reference_ms(trials: int = 500) -> float:
    """A bare optuna RandomSampler ask/tell loop on the task's space: ms per trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    task = make_task(TASK)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0),
                                direction=Direction(task.direction).value)
    bounds = {name: (task.space[name].low, task.space[name].high) for name in task.space}
    start = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        config = {name: trial.suggest_float(name, low, high) for name, (low, high) in bounds.items()}
        study.tell(trial, task.evaluate(config, 1, 0, EvalContext()).value)
    return 1e3 * (time.perf_counter() - start) / trials


@pytest.mark.parametrize("trials", SIZES)
@pytest.mark.parametrize("name", available_runners())
def test_runner_overhead(benchmark, name: str, trials: int) -> None:
    if trials > CAPS.get(name, trials):
        pytest.skip(f"{name} capped at {CAPS[name]} trials: its cost per trial grows with history")
    try:
        result = benchmark.pedantic(measure, args=(name, trials), rounds=1, iterations=1)
    except (RunnerError, RegistryError) as exc:  # e.g. nevergrad.ngopt refusing a MetaModel it would crash in
        pytest.skip(str(exc))
    ratio = result.mean_ms / reference_ms()
    benchmark.extra_info.update({"mean_ms_per_trial": result.mean_ms,
                                 "last_tenth_ms_per_trial": result.last_tenth_ms,
                                 "reference_ms_per_trial": reference_ms(), "ratio": ratio})
    print(f"\n{name} @ {trials}: {result.mean_ms:.3f} ms/trial (last tenth "
          f"{result.last_tenth_ms:.3f} ms) = {ratio:.1f}× bare optuna random")


def main(args: list[str]) -> None:
    uncapped = "--uncapped" in args
    names = [a for a in args if a != "--uncapped"] or available_runners()
    caps = {} if uncapped else CAPS
    ref = reference_ms()
    print(f"ask+tell ms per trial on {TASK} (mean over the study / mean over its last tenth); "
          f"bare optuna RandomSampler loop: {ref:.3f} ms\n")
    print("| runner | " + " | ".join(f"{n} trials" for n in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    for name in names:
        cells = []
        for trials in SIZES:
            if trials > caps.get(name, trials):
                cells.append(f"capped at {caps[name]}")
                continue
            try:
                result = measure(name, trials)
            except (RunnerError, RegistryError) as exc:
                cells.append("refused: " + str(exc).split(": ", 1)[-1][:70] + "…")
                continue
            cells.append(f"{result.mean_ms:.2f} / {result.last_tenth_ms:.2f}")
        if name in caps and caps[name] not in SIZES:
            result = measure(name, caps[name])
            cells[-1] = f"({caps[name]}: {result.mean_ms:.0f} / {result.last_tenth_ms:.0f})"
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
