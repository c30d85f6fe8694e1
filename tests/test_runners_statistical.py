"""Model-based runners beat random search on branin and hartmann6 at a budget of 100 trials.

For each (runner, task) the final best values of several seeded studies are compared with those of
``random`` by a one-sided Mann–Whitney U test (scipy). Every study is seeded and every runner is
deterministic given its seed, so the p-values below are the same on every run of the same library
versions. A runner listed in :data:`NOT_BETTER` is expected not to be significantly better (the
entry says why); no runner may be significantly *worse* than random unless :data:`WORSE` says why.

Cost (1 core): about 3 minutes, dominated by the two GP-BO runners, which run fewer studies
(:data:`REPS`): two studies that both beat all twenty random ones already give p = 1/231 = 0.0043.
synetune.bohb and synetune.tpe add about 40 s each, synetune.bore about 55 s, pycma under a
second. The runners whose studies cost minutes — SMAC's GP and HPO facades, scikit-optimize's
three models, Syne Tune's CQR (a gradient-boosting fit per suggestion), Ax and HEBO (a GP fit and
an acquisition optimisation per trial): about 45 minutes together on a loaded 2-core machine — run
only with ``TUNEBENCH_COSTLY=1`` (``make test-costly``), outside ``make test``'s time budget;
:data:`COSTLY` quotes what they measured.
"""

from __future__ import annotations

import functools
import math
import os

import pytest
from scipy.stats import mannwhitneyu

from tunebench.registry import get_runner_class, make_runner, make_task
from tunebench.runners.base import BudgetInfo, Outcome, Proposal, Status
from tunebench.tasks.base import EvalContext

pytestmark = pytest.mark.slow

BUDGET = 100
ALPHA = 0.01
RANDOM_REPS = 20
TASKS = ("branin", "hartmann6")
#: Studies per runner (or per runner and task); the GP-BO runners cost 10–40 s per 100-trial
#: study, the rest 0.1–4 s.
#: Two cheap runners whose advantage on branin is real but small get more studies.
REPS = {"optuna.gp": 2, "nevergrad.bo": 2, "optuna.tpe": 8, "hyperopt.anneal": 8,
        "smac.bb": 2, "skopt.gp": 2, "skopt.rf": 3, "skopt.et": 3, "ax.botorch": 2, "hebo": 2,
        "synetune.bore": 3, "synetune.cqr": 3, ("skopt.rf", "hartmann6"): 5}
DEFAULT_REPS = 5

MODEL_BASED = (
    "optuna.tpe", "optuna.cmaes", "optuna.gp", "optuna.nsga2",
    "hyperopt.tpe", "hyperopt.anneal",
    "nevergrad.ngopt", "nevergrad.cma", "nevergrad.de", "nevergrad.pso",
    "nevergrad.oneplusone", "nevergrad.portfolio", "nevergrad.bo",
    "synetune.bohb", "synetune.tpe", "synetune.bore", "synetune.rea", "synetune.cqr",
    "smac.hpo", "smac.bb",
    "skopt.gp", "skopt.rf", "skopt.et", "cma.cmaes", "dehb",
    "ax.botorch", "hebo",
)
# Not here: optuna.hyperband / optuna.asha are optuna.tpe plus a pruner, and these tasks have a
# single fidelity step, so they propose exactly what optuna.tpe does; optuna.qmc, optuna.random,
# hyperopt.rand and the grid are not model-based. synetune.asha is Syne Tune's random searcher
# under ASHA: at one fidelity step every trial stops at its first report (max_t = 1), so it is
# random search; synetune.bohb at one step is its KDE searcher alone, and is here.
# smac.hyperband / smac.mf choose fidelities and refuse these single-fidelity tasks
# (tests/test_runners_smac.py drives them on 1..27 epochs, tests/test_multi_fidelity.py at equal
# epochs on mf_hartmann6).

_POPULATION = ("the first {n} trials are its initial population (sampled at random), so 100 "
               "trials leave it {g} generations: too few to pull ahead of random search")

_SYNE_TUNE_KDE = ("Syne Tune's KDE searcher (BOHB's, and TPE's) draws a third of its proposals "
                  "at random (random_fraction = 0.33) and the rest around the best 15% with three "
                  "times their kernel bandwidth; on branin's three basins {measured} against "
                  "random search's 0.79 (on hartmann6 it is significantly better)")

#: (runner, task) -> why it is not expected to be significantly better than random here.
NOT_BETTER: dict[tuple[str, str], str] = {
    **{("optuna.nsga2", task): _POPULATION.format(n=50, g="one") for task in TASKS},
    **{("nevergrad.de", task): _POPULATION.format(n=30, g="about two") for task in TASKS},
    **{("nevergrad.pso", task): _POPULATION.format(n=40, g="one and a half") for task in TASKS},
    **{("synetune.rea", task): _POPULATION.format(n=100, g="no") + " (Syne Tune's REA: "
       "population_size = 100; measured p = 0.54 on branin, 0.15 on hartmann6)" for task in TASKS},
    ("nevergrad.portfolio", "branin"): (
        "a passive portfolio: CMA, TwoPointsDE and a scrambled Hammersley sampler take turns, "
        "so each gets a third of the budget; on 2-D branin none of them converges in ~33 trials "
        "(on hartmann6 the portfolio is significantly better)"),
    ("optuna.cmaes", "branin"): (
        "optuna's CMA-ES starts at the centre of the domain, between branin's three basins, with "
        "a population of 6 (16 generations in 100 trials); in some seeds it is still drifting "
        "down the curved valley at the end (seed 1 ends at 1.91), in others it reaches 0.40"),
    ("smac.hpo", "branin"): (
        "SMAC's HPO facade spends a quarter of the budget on its Sobol design and then proposes a "
        "random configuration with probability 0.2; its random forest (10 trees, random splits) "
        "fits branin's curved valleys coarsely, so in 100 trials some seeds stay in a shallow "
        "basin (5 seeds: 0.398, 0.410, 0.477, 0.624, 0.858; random median 0.79, p = 0.042; on "
        "hartmann6 it is significantly better)"),
    ("hyperopt.tpe", "branin"): (
        "hyperopt's TPE models each coordinate independently and spends 20 trials at random "
        "first; branin's minima need a different x2 for each x1 (x2 = 12.3 at x1 = -pi, 2.3-2.5 "
        "at x1 = pi and 3 pi), so per-coordinate proposals often pair the x1 of one basin with "
        "the x2 of another, and its best values overlap random search's"),
    **{(runner, "branin"): _SYNE_TUNE_KDE.format(measured=measured) for runner, measured in (
        ("synetune.bohb", "12 seeded studies measured median 0.54, p = 0.71"),
        ("synetune.tpe", "5 seeded studies measured median 0.82, p = 0.49"))},
    ("synetune.bore", "branin"): (
        "BORE's xgboost classifier of the best quarter against the rest is maximised over 500 "
        "random candidates per proposal: on branin's three basins some studies settle in one "
        "and stay (5 seeded studies: 0.422, 0.438, 0.466, 2.99, 5.52; random median 0.79, "
        "p = 0.51 either way; on hartmann6 it is significantly better, p = 0.0023 at 3)"),
    **{(runner, "branin"): (
        "scikit-optimize's tree surrogates predict piecewise-constant values and its acquisition "
        "is maximised over 10000 random candidates: on branin they find a basin but do not refine "
        "it (measured: skopt.rf 0.405, 0.497, 0.738; skopt.et 0.444, 0.509, 2.47 against random's "
        "median 0.79), while on hartmann6 they are significantly better")
       for runner in ("skopt.rf", "skopt.et")},
}

#: (runner, task) -> why it is not run (cost), with what a single study measured instead.
NOT_RUN: dict[tuple[str, str], str] = {
    ("nevergrad.bo", "branin"): (
        "about 40 s per 100-trial study on one core; two studies reached 0.3980 and 0.3981 "
        "(random median 0.79, p = 0.0043) when measured; hartmann6 is run instead"),
    ("skopt.gp", "hartmann6"): (
        "about 170 s per 100-trial study on one core (gp_hedge optimises three acquisition "
        "functions with L-BFGS from 5 starts after every tell); seed 0 reached -3.3218 (the "
        "optimum is -3.3224) when measured; branin is run instead"),
    **{("dehb", task): (
        "DEHB chooses fidelities and refuses a single-fidelity task (branin and hartmann6 have "
        "one step); tests/test_runners_dehb.py compares it with random search at equal epochs "
        "on a multi-fidelity objective") for task in TASKS},
    ("smac.bb", "branin"): (
        "SMAC's GP facade costs about 300 s per 100-trial study on this machine; seed 0 reached "
        "0.3979 when measured (branin's minimum 0.3979); hartmann6 is run instead"),
    ("hebo", "branin"): (
        "about 1-2 s per model-based trial (a GP fit and 100 NSGA-II generations over the MACE "
        "acquisition): 2-4 min per 100-trial study, 11-19 min on a loaded machine; two studies "
        "reached 0.39799 and 0.39790 (the minimum is 0.39789; random median 0.79, p = 0.0043) "
        "when measured; hartmann6 is run instead"),
}

#: (runner, task) -> what it costs and measured: run only with TUNEBENCH_COSTLY=1, outside
#: `make test`'s time budget.
COSTLY: dict[tuple[str, str], str] = {
    ("smac.bb", "hartmann6"): (
        "SMAC's GP facade: two 100-trial studies take 13 min on a loaded 2-core machine; "
        "measured better than random, p = 0.0043 (both beat all twenty random studies)"),
    ("smac.hpo", "hartmann6"): "five studies, about 40 s each; measured better, p = 0.0037",
    ("smac.hpo", "branin"): "five studies, about 40 s each; measured not better (p = 0.042), "
                            "not worse (p(worse) = 0.96)",
    ("skopt.gp", "branin"): "two studies, about 85 s each; measured better, p = 0.0043",
    ("skopt.rf", "hartmann6"): "five studies, about 22 s each; measured better, p = 0.0021 "
                               "(three gave p = 0.03 with scikit-learn 1.9.1: -3.12, -2.50, "
                               "-2.14)",
    ("skopt.rf", "branin"): "three studies, 20-35 s each; measured not better, p = 0.083",
    ("skopt.et", "hartmann6"): "three studies, 20-35 s each; measured better, p = 0.0023",
    ("skopt.et", "branin"): "three studies, 20-35 s each; measured not better, p = 0.45",
    ("ax.botorch", "branin"): "two studies, about 1 min each; measured better, p = 0.0087 "
                              "(0.3981 and 0.3983; one random study reached 0.39817)",
    ("ax.botorch", "hartmann6"): "two studies, about 1 min each; measured better, p = 0.0043",
    ("synetune.cqr", "branin"): "three studies, about 33 s each; measured better, p = 0.004 "
                                "(0.403, 0.409, 0.411)",
    ("synetune.cqr", "hartmann6"): "three studies, about 33 s each; measured better, p = 0.0023",
    ("hebo", "hartmann6"): "two studies, 2-4 min each; measured better, p = 0.0043 "
                           "(-3.319 and -3.201 against random's median -1.85)",
}

#: (runner, task) -> why it is expected to be significantly worse than random here.
WORSE: dict[tuple[str, str], str] = {}


@functools.cache
def best_value(task_name: str, runner_name: str, seed: int) -> float:
    task = make_task(task_name)
    runner = make_runner(runner_name, task.space, task.direction, seed, BudgetInfo("trials", BUDGET))
    best = math.inf
    for trial in range(BUDGET):
        asked = runner.ask()
        config = asked.config if isinstance(asked, Proposal) else asked
        value = task.evaluate(config, 1, 0, EvalContext()).value
        runner.tell(config, Outcome(Status.OK, value, 1, trial=trial, tag=getattr(asked, "tag", None)))
        best = min(best, value)
    return best


def _values(task: str, runner: str, reps: int) -> list[float]:
    return [best_value(task, runner, seed) for seed in range(reps)]


def repetitions(runner: str, task: str) -> int:
    return REPS.get((runner, task), REPS.get(runner, DEFAULT_REPS))


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("runner", MODEL_BASED)
def test_model_based_runner_against_random(runner: str, task: str) -> None:
    if (runner, task) in NOT_RUN:
        pytest.skip(NOT_RUN[runner, task])
    if (runner, task) in COSTLY and not os.environ.get("TUNEBENCH_COSTLY"):
        pytest.skip(f"{COSTLY[runner, task]}; TUNEBENCH_COSTLY=1 runs it")
    unavailable = getattr(get_runner_class(runner), "unavailable", None)
    if unavailable:
        pytest.skip(f"{runner} is unavailable here: {unavailable}")
    baseline = _values(task, "random", RANDOM_REPS)
    values = _values(task, runner, repetitions(runner, task))
    better = mannwhitneyu(values, baseline, alternative="less").pvalue
    worse = mannwhitneyu(values, baseline, alternative="greater").pvalue
    summary = (f"{runner} on {task}: best values {sorted(round(v, 4) for v in values)}, random "
               f"median {sorted(baseline)[RANDOM_REPS // 2]:.4f}; p(better)={better:.2g}, "
               f"p(worse)={worse:.2g}")
    print(summary)
    if (runner, task) in WORSE:
        assert worse < ALPHA, f"expected significantly worse ({WORSE[runner, task]}): {summary}"
        return
    assert worse >= ALPHA, f"significantly worse than random without an explanation: {summary}"
    if (runner, task) in NOT_BETTER:
        assert better >= ALPHA, f"now significantly better; drop the NOT_BETTER entry: {summary}"
    else:
        assert better < ALPHA, f"not significantly better than random: {summary}"
