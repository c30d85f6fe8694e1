"""DEHB runner: driven by hand as the harness will drive a runner that chooses fidelities (ask ->
Proposal -> evaluate at its fidelity -> tell an Outcome with the proposal's tag), proposal by
proposal against dehb's own ask/tell loop; DEHB's brackets for eta = 3 over 1..27; the refusal of a
single-fidelity task; options; nothing written."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import ConfigSpace as CS
import pytest
from dehb import DEHB
from loguru import logger
from scipy.stats import mannwhitneyu

from tunebench import registry
from tunebench.registry import RegistryError, make_task
from tunebench.runners import dehb_runner as dr
from tunebench.runners.base import BudgetInfo, Outcome, Proposal, RunnerError, Status
from tunebench.runners.conformance import mixed_space, objective
from tunebench.runners.dehb_space import configuration_space, to_config
from tunebench.runners.translation import translate
from tunebench.space import Categorical, Config, Direction, Float, Int, Space
from tunebench.tasks.base import EvalContext

SEED = 7
FLAT = Space({"x": Float(-5.0, 10.0), "y": Float(1e-3, 10.0, log=True), "k": Int(1, 8),
              "c": Categorical(("a", "b", "c"))})
BUDGET = BudgetInfo("epochs", 2000, 1, 27)

#: DEHB's Hyperband iteration for eta = 3 over fidelities 1..27, bracket by bracket, as
#: (configurations, fidelity) per rung. dehb sizes a bracket as floor(4 / (s + 1)) * 3**s, so its
#: s = 2 bracket starts 9 configurations where Li et al.'s ceil gives 12.
BRACKETS = [
    [(27, 1), (9, 3), (3, 9), (1, 27)],
    [(9, 3), (3, 9), (1, 27)],
    [(6, 9), (2, 27)],
    [(4, 27)],
]
ITERATION = [fidelity for bracket in BRACKETS for n, fidelity in bracket for _ in range(n)]


def value(space: Space, config: Config, fidelity: int, max_fidelity: int = 27) -> float:
    """A cheap multi-fidelity objective: the loss plus a bias that vanishes at full fidelity."""
    return objective(space, config) + 0.5 * (1.0 - fidelity / max_fidelity) * math.cos(
        7.0 * objective(space, config))


def fails(config: Config) -> bool:
    return isinstance(config.get("x"), float) and config["x"] > 8.5


def drive(runner: dr.DEHBRunner, space: Space, n: int, sign: float = 1.0,
          fail: bool = False) -> list[tuple[Config, int]]:
    """The harness's protocol for a runner that chooses fidelities, written out by hand."""
    proposed = []
    for trial in range(n):
        proposal = runner.ask()
        assert isinstance(proposal, Proposal) and proposal.continues is False
        config, fidelity = proposal.config, proposal.fidelity
        proposed.append((config, fidelity))
        if fail and fails(config):
            outcome = Outcome(Status.FAILED, None, 0, trial=trial, tag=proposal.tag)
        else:
            outcome = Outcome(Status.OK, sign * value(space, config, fidelity), fidelity,
                              trial=trial, tag=proposal.tag)
        runner.tell(config, outcome)
    return proposed


def flat_configspace() -> CS.ConfigurationSpace:
    """FLAT as a DEHB user writes it."""
    cs = CS.ConfigurationSpace()
    cs.add([CS.UniformFloatHyperparameter("x", -5.0, 10.0),
            CS.UniformFloatHyperparameter("y", 1e-3, 10.0, log=True),
            CS.UniformIntegerHyperparameter("k", 1, 8),
            CS.CategoricalHyperparameter("c", ["a", "b", "c"])])
    return cs


def plain_loop(space: Space, cs: CS.ConfigurationSpace, n: int, folder: str,
               fail: bool = False) -> list[tuple[Config, int]]:
    """dehb's own ask/tell loop (dehb's README), failures told the largest finite float."""
    proposed = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dehb 0.1.2 calls ConfigSpace's deprecated names
        dehb = DEHB(cs=cs, f=None, min_fidelity=1, max_fidelity=27, n_workers=1, seed=SEED,
                    output_path=folder, save_freq="end")
        for _ in range(n):
            job = dehb.ask()
            config = to_config(space, job["config"])
            fidelity = round(job["fidelity"])
            proposed.append((config, fidelity))
            failed = fail and fails(config)
            fitness = dr.FAILURE_FITNESS if failed else value(space, config, fidelity)
            dehb.tell(job, {"fitness": fitness, "cost": 0.0 if failed else float(fidelity)})
    logger.remove()
    return proposed


def build(space: Space = FLAT, budget: BudgetInfo = BUDGET, seed: int = SEED,
          direction: Direction = Direction.MINIMIZE, **options: object) -> dr.DEHBRunner:
    runner = registry.make_runner("dehb", space, direction, seed, budget, dict(options))
    assert isinstance(runner, dr.DEHBRunner)
    return runner


def test_fidelities_follow_dehbs_brackets_for_eta_3_between_1_and_27() -> None:
    runner = build()
    assert runner.resolved_options()["rungs"] == [1, 3, 9, 27]
    proposed = drive(runner, FLAT, len(ITERATION) + 27)
    assert [f for _, f in proposed] == ITERATION + [1] * 27  # then the next iteration begins
    for s, bracket in zip((3, 2, 1, 0), BRACKETS, strict=True):  # dehb's own sizing, as listed
        ns, fidelities = runner._dehb._get_next_iteration(3 - s)
        assert [(int(n), round(f)) for n, f in zip(ns, fidelities, strict=True)] == bracket
    # Successive Halving: each rung of the first bracket re-runs the best of the rung below
    first = proposed[:27]
    ranked = sorted(first, key=lambda p: value(FLAT, p[0], 1))
    assert sorted(str(c) for c, _ in proposed[27:36]) == sorted(str(c) for c, _ in ranked[:9])


@pytest.mark.parametrize("fail", [False, True], ids=["ok", "with-failures"])
def test_runner_proposes_what_dehbs_own_loop_proposes(tmp_path, fail: bool) -> None:
    n = len(ITERATION) + 30
    ours = drive(build(), FLAT, n, fail=fail)
    theirs = plain_loop(FLAT, flat_configspace(), n, str(tmp_path), fail=fail)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"trial {i}: tunebench proposed {a}, dehb's loop {b}"
    if fail:
        assert any(fails(c) for c, _ in ours)


def test_conditional_spaces_are_native_configspace_conditions(tmp_path) -> None:
    space = mixed_space()
    cs = configuration_space(space)
    assert {c.child.name for c in cs.conditions} == {"momentum", "nesterov", "dampening", "warmup"}
    ours = drive(build(space), space, 80)
    theirs = plain_loop(space, configuration_space(space), 80, str(tmp_path))
    assert ours == theirs
    assert any("dampening" in c for c, _ in ours) and any("warmup" not in c for c, _ in ours)


def test_maximising_proposes_what_minimising_the_negation_does() -> None:
    assert drive(build(direction=Direction.MAXIMIZE), FLAT, 50, sign=-1.0) == drive(build(), FLAT, 50)


def test_a_single_fidelity_task_is_refused_clearly() -> None:
    with pytest.raises(RunnerError, match="needs a task with a fidelity range"):
        dr.DEHBRunner(FLAT, Direction.MINIMIZE, SEED, BudgetInfo("trials", 100, 1, 1))
    with pytest.raises(RegistryError, match=r"single-fidelity runner"):
        registry.make_runner("dehb", FLAT, Direction.MINIMIZE, SEED, BudgetInfo("trials", 100), {})


def test_rungs_off_a_power_of_eta_are_rounded_and_recorded() -> None:
    runner = build(budget=BudgetInfo("epochs", 500, 1, 10))
    resolved = runner.resolved_options()
    assert resolved["rungs"] == [1, 3, 10]
    assert [round(f, 3) for f in resolved["dehb_fidelities"]] == [1.111, 3.333, 10.0]
    assert {f for _, f in drive(runner, FLAT, 30)} <= {1, 3, 10}


def test_options_are_dehbs_and_validated() -> None:
    resolved = build().resolved_options()
    assert resolved["eta"] == 3 and resolved["mutation_factor"] == 0.5
    assert resolved["strategy"] == "rand1_bin" and resolved["save_freq"] == "end"
    # dehb's rungs are 27 / 2**k down to the last one >= 1 (1.6875), rounded to whole steps
    assert build(eta=2).resolved_options()["rungs"] == [2, 3, 7, 14, 27]
    with pytest.raises(RegistryError, match="did you mean 'eta'"):
        build(etaa=2)
    with pytest.raises(RunnerError, match="set by tunebench"):
        dr.DEHBRunner(FLAT, Direction.MINIMIZE, SEED, BUDGET, n_workers=2)
    with pytest.raises(RunnerError, match=">= 2"):
        dr.DEHBRunner(FLAT, Direction.MINIMIZE, SEED, BUDGET, eta=1)


def test_nothing_is_written_or_printed(tmp_path, monkeypatch, capfd) -> None:
    monkeypatch.chdir(tmp_path)
    drive(build(), FLAT, 45, fail=True)
    assert list(tmp_path.iterdir()) == []
    assert capfd.readouterr() == ("", "")


# ---------------------------------------------------------------------- against random search
MF_EPOCHS = 27 * 20  # twenty full-fidelity trials' worth
MF_REPS = 20


def _hartmann6_mf() -> tuple[Space, Callable[[Config, int], tuple[float, float]]]:
    """hartmann6 with informative low fidelities: a smooth bias that shrinks to 0 at 27 steps.
    Returns (space, f) with f(config, fidelity) -> (value at that fidelity, full value)."""
    task = make_task("hartmann6")

    def f(config: Config, fidelity: int) -> tuple[float, float]:
        full = task.evaluate(config, 1, 0, EvalContext()).value
        bias = 0.5 * math.cos(5.0 * sum(config.values()))
        return full + (1.0 - fidelity / 27) * bias, full

    return task.space, f


def _best_full_value(name: str, seed: int) -> float:
    """The best full-fidelity value a runner finds in MF_EPOCHS epochs (a trial that would
    overrun the budget is not run)."""
    space, f = _hartmann6_mf()
    runner = registry.make_runner(name, space, Direction.MINIMIZE, seed,
                                  BudgetInfo("epochs", MF_EPOCHS, 1, 27), {})
    spent, best, trial = 0, math.inf, 0
    while True:
        answer = runner.ask()
        config, fidelity = (answer.config, answer.fidelity) if isinstance(answer, Proposal) else (
            answer, 27)
        if spent + fidelity > MF_EPOCHS:
            return best
        value_now, full = f(config, fidelity)
        spent += fidelity
        best = min(best, full) if fidelity == 27 else best
        runner.tell(config, Outcome(Status.OK, value_now, fidelity, trial=trial,
                                    tag=getattr(answer, "tag", None)))
        trial += 1


@pytest.mark.slow
def test_dehb_beats_random_search_at_equal_epochs_with_informative_low_fidelities() -> None:
    """One-sided Mann-Whitney U over 20 seeded repetitions each (about 10 s on one core)."""
    ours = [_best_full_value("dehb", seed) for seed in range(MF_REPS)]
    theirs = [_best_full_value("random", seed) for seed in range(MF_REPS)]
    p = mannwhitneyu(ours, theirs, alternative="less").pvalue
    assert p < 0.01, f"dehb {sorted(ours)} vs random {sorted(theirs)}: p = {p:.2g}"


def test_translation_is_native_and_declares_dehbs_own_encoding() -> None:
    rows = {r.name: r for r in translate(dr.DEHBRunner, mixed_space())}
    assert rows["width"].library == "UniformIntegerHyperparameter(4, 512, log=True)"
    assert "native condition" in rows["dampening"].library and not rows["dampening"].lossy
    assert rows["depth"].lossy and "half-width" in rows["depth"].reason
    assert rows["optimizer"].lossy and "ordinal" in rows["optimizer"].reason
