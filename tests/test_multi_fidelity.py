"""Runner-chosen fidelity: Hyperband's brackets as published, promotions charged by the harness's
rule (new steps on a task that continues, the full fidelity on one that restarts), continuation
equal to training in one go, resume and the evaluation cache exact with promotions in flight."""

from __future__ import annotations

import pytest
from conftest import run_and_kill
from scipy.stats import mannwhitneyu

import tunebench
from tunebench.runners.base import BudgetInfo, Outcome, Proposal, RunnerError, Status
from tunebench.runners.hyperband import Hyperband, SuccessiveHalving, hyperband_brackets
from tunebench.space import InvalidConfigError
from tunebench.suite.store import load_trials
from tunebench.tasks.base import EvalContext
from tunebench.tasks.mf_synthetic import MultiFidelityHartmann6

#: Li et al. (JMLR 2018), Table 1: R = 81, η = 3, (n_i, r_i) per rung of brackets s = 4 … 0.
LI_TABLE_1 = (
    ((81, 1), (27, 3), (9, 9), (3, 27), (1, 81)),
    ((34, 3), (11, 9), (3, 27), (1, 81)),
    ((15, 9), (5, 27), (1, 81)),
    ((8, 27), (2, 81)),
    ((5, 81),),
)
#: The same rule at R = 27 (the issue's case), worked by hand: B = 4R = 108.
R27 = (
    ((27, 1), (9, 3), (3, 9), (1, 27)),
    ((12, 3), (4, 9), (1, 27)),
    ((6, 9), (2, 27)),
    ((4, 27),),
)


def _pairs(brackets):
    return tuple(tuple((r.configurations, r.fidelity) for r in b) for b in brackets)


def test_brackets_are_li_et_al_table_1():
    assert _pairs(hyperband_brackets(1, 81, 3)) == LI_TABLE_1
    assert _pairs(hyperband_brackets(1, 27, 3)) == R27
    assert _pairs(hyperband_brackets(1, 27, 3, count=2)) == R27[:2]
    assert _pairs(hyperband_brackets(5, 5, 3)) == (((1, 5),),)  # one fidelity: random search


SUITE = """
[suite]
name = "mf"
seed = 3
plugins = ["@PLUGIN@"]
[budget]
{budget}
[[tasks]]
name = "{task}"
[[runners]]
name = "{runner}"
"""


def _run(write_suite, tmp_path, task="mf_hartmann6", runner="hyperband", budget="trials = 69",
         db="a.db"):
    path = write_suite(SUITE.format(task=task, runner=runner, budget=budget), name=f"{db}.toml")
    tunebench.run_suite(path, tmp_path / db, progress=False)
    return load_trials(tmp_path / db)


def _rungs(trials):
    """(count, fidelity) of consecutive trials at one fidelity, new or promoted alike: the rungs
    as they ran."""
    rungs: list[list] = []
    for fidelity, extra in zip(trials["fidelity"], trials["extra"], strict=True):
        promoted = extra.get("continued_from") is not None
        if rungs and rungs[-1][1:] == [fidelity, promoted]:
            rungs[-1][0] += 1
        else:
            rungs.append([1, fidelity, promoted])
    return [(n, fidelity) for n, fidelity, _ in rungs]


def test_a_hyperband_study_runs_exactly_the_brackets_and_charges_only_new_steps(write_suite, tmp_path):
    trials = _run(write_suite, tmp_path)  # 69 trials: one pass over the four brackets
    assert _rungs(trials) == [rung for bracket in R27 for rung in bracket]
    extra = trials["extra"]
    promoted = trials[[e.get("continued_from") is not None for e in extra]]
    fresh = trials[[e.get("continued_from") is None for e in extra]]
    assert len(promoted) == 9 + 3 + 1 + 4 + 1 + 2  # every rung after a bracket's first
    assert set(fresh["fidelity"]) == {1, 3, 9, 27} and len(fresh) == 27 + 12 + 6 + 4
    for _, trial in promoted.iterrows():
        parent = trials.loc[trials["trial"] == trial["extra"]["continued_from"]].iloc[0]
        assert parent["config_key"] == trial["config_key"] and parent["trial"] < trial["trial"]
        assert trial["extra"]["start_fidelity"] == parent["fidelity"]  # continued, not restarted
        assert trial["fidelity_spent"] == trial["fidelity"] - parent["fidelity"]
    # The promoted ones are the best of their rung (minimisation), in rung order.
    first_rung, second_rung = trials.iloc[:27], trials.iloc[27:36]
    assert set(second_rung["config_key"]) == set(first_rung.nsmallest(9, "value")["config_key"])


def test_under_an_epochs_budget_a_continued_promotion_costs_its_new_steps(write_suite, tmp_path):
    trials = _run(write_suite, tmp_path, budget="epochs = 81")  # bracket s=3 continued: 27+18+18+18
    assert _rungs(trials) == list(R27[0])
    assert trials["charge"].sum() == 81 == trials["fidelity_spent"].sum()
    assert list(trials["charge"].iloc[27:36]) == [2.0] * 9


def test_on_a_task_that_restarts_a_promotion_is_charged_its_full_fidelity(write_suite, tmp_path):
    trials = _run(write_suite, tmp_path, task="mf_restart", budget="epochs = 108")
    assert _rungs(trials) == list(R27[0])  # bracket s=3 from scratch: 27 + 27 + 27 + 27
    assert trials["charge"].sum() == 108
    promoted = trials.iloc[27:]
    assert all(e["start_fidelity"] == 0 and e["continued_from"] is not None
               for e in promoted["extra"])
    assert list(promoted["charge"]) == list(promoted["fidelity"].astype(float))


def test_continuing_from_a_checkpoint_equals_training_in_one_go():
    task = MultiFidelityHartmann6()
    config = {f"x{i}": 0.1 * i for i in range(1, 7)}
    whole = EvalContext()
    task.evaluate(config, 27, 11, whole)
    first = EvalContext()
    task.evaluate(config, 9, 11, first)
    rest = EvalContext(start=9, checkpoint=first.saved_checkpoint)
    result = task.evaluate(config, 27, 11, rest)
    assert first.curve + rest.curve == whole.curve
    assert result.value == whole.curve[-1] and result.test_value == task(config)
    assert task.at_step(task.to_array(config), 27) == task(config)  # the last step is Hartmann-6


def test_a_hyperband_study_killed_mid_bracket_resumes_to_the_uninterrupted_result(
        write_suite, tmp_path):
    path = write_suite(SUITE.format(task="mf_slow", runner="hyperband", budget="trials = 69")
                       .replace('name = "mf_slow"', 'name = "mf_slow"\noptions = { delay = 0.002 }'))
    tunebench.run_suite(path, tmp_path / "reference.db", progress=False)
    expected = load_trials(tmp_path / "reference.db")
    stored = run_and_kill(path, tmp_path / "killed.db", at_least=30)  # inside the second rung
    assert 30 <= stored < 69
    tunebench.run_suite(path, tmp_path / "killed.db", progress=False)
    resumed = load_trials(tmp_path / "killed.db")
    columns = ["trial", "config_key", "status", "value", "fidelity", "fidelity_spent", "charge"]
    assert resumed[columns].equals(expected[columns])
    rebuilt = [e for e in resumed["extra"] if "checkpoint_rebuild_seconds" in e]
    assert rebuilt  # the first promotion after the resume rebuilt its parent's checkpoint
    without = [{k: v for k, v in e.items() if k != "checkpoint_rebuild_seconds"}
               for e in resumed["extra"]]
    assert without == list(expected["extra"])


def test_promotions_continue_cached_evaluations_exactly(write_suite, tmp_path):
    from tunebench.suite.cache import EvaluationCacheStore

    path = write_suite(SUITE.format(task="mf_hartmann6", runner="hyperband", budget="trials = 69"))
    cache = EvaluationCacheStore(tmp_path / "cache.sqlite")
    tunebench.run_suite(path, tmp_path / "first.db", progress=False, cache=cache)
    tunebench.run_suite(path, tmp_path / "second.db", progress=False, cache=cache)
    first, second = load_trials(tmp_path / "first.db"), load_trials(tmp_path / "second.db")
    continued = [e.get("start_fidelity", 0) > 0 for e in second["extra"]]
    assert not second.loc[continued, "cached"].any()  # a continuation is never a cached evaluation
    assert second.loc[[not c for c in continued], "cached"].all()  # everything else is
    # A parent from the cache carries no checkpoint: its promotion rebuilt it, to the same numbers.
    cached = dict(zip(second["trial"], second["cached"], strict=True))
    rebuilt = {e["continued_from"]: "checkpoint_rebuild_seconds" in e
               for e, c in zip(second["extra"], continued, strict=True) if c}
    assert rebuilt and rebuilt == {parent: cached[parent] for parent in rebuilt}
    columns = ["trial", "config_key", "status", "value", "test_value", "fidelity", "charge"]
    assert second[columns].equals(first[columns])


def test_successive_halving_repeats_its_bracket():
    runner = SuccessiveHalving(MultiFidelityHartmann6().space, "minimize", 0,
                               BudgetInfo("trials", 100, 1, 27))
    fidelities = []
    for n in range(80):
        proposal = runner.ask()
        fidelities.append(proposal.fidelity)
        runner.tell(proposal.config, Outcome(Status.OK, float(n % 7), proposal.fidelity,
                                             trial=n, tag=proposal.tag))
    once = [1] * 27 + [3] * 9 + [9] * 3 + [27]
    assert fidelities == once + once
    assert runner.resolved_options()["bracket"] == 3


def test_failed_trials_are_never_promoted():
    runner = Hyperband(MultiFidelityHartmann6().space, "minimize", 0, BudgetInfo("trials", 100, 1, 27))
    asked = [runner.ask() for _ in range(27)]
    for n, proposal in enumerate(asked):
        status = Status.FAILED if n >= 5 else Status.OK
        runner.tell(proposal.config, Outcome(status, None if n >= 5 else float(n), 1, trial=n,
                                             tag=proposal.tag))
    promoted = [runner.ask() for _ in range(5)]  # only 5 of the 9 the rung holds could be
    assert [p.config for p in promoted] == [p.config for p in asked[:5]]
    assert all(p.continues and p.fidelity == 3 for p in promoted)
    for n, proposal in enumerate(promoted):
        runner.tell(proposal.config, Outcome(Status.OK, float(-n), 3, trial=27 + n, tag=proposal.tag))
    last = [runner.ask() for _ in range(3)]
    assert [p.config for p in last] == [p.config for p in promoted[2:]]  # the best 3, in order
    assert all(p.fidelity == 9 for p in last)


def test_bad_options_and_a_fidelity_out_of_range_are_clear(write_suite, tmp_path):
    space, info = MultiFidelityHartmann6().space, BudgetInfo("trials", 10, 1, 27)
    with pytest.raises(RunnerError, match="eta must be a number above 1"):
        Hyperband(space, "minimize", 0, info, eta=1)
    with pytest.raises(RunnerError, match="brackets must be a whole number from 1 to 4"):
        Hyperband(space, "minimize", 0, info, brackets=5)
    from tunebench.suite.promotions import Promotions

    promotions = Promotions(MultiFidelityHartmann6(), "x", validated=False, continues=False)
    with pytest.raises(InvalidConfigError, match=r"proposed fidelity 28 .* from 1 to 27"):
        promotions.plan(Proposal({f"x{i}": 0.5 for i in range(1, 7)}, fidelity=28))


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["hyperband", "successive_halving", "smac.hyperband", "smac.mf",
                                    "dehb"])
def test_multi_fidelity_runners_beat_random_search_at_equal_epochs(write_suite, tmp_path, runner):
    """Low fidelities of mf_hartmann6 are informative: the final regret at 243 epochs (three
    passes of Hyperband's brackets, continued) is lower than random search's (9 full trials),
    one-sided Mann-Whitney over 12 repetitions."""
    suite = SUITE.format(task="mf_hartmann6", runner=runner, budget="epochs = 243").replace(
        "seed = 3", "seed = 3\nrepetitions = 12") + '[[runners]]\nname = "random"\n'
    tunebench.run_suite(write_suite(suite), tmp_path / "s.db", progress=False)
    trials = load_trials(tmp_path / "s.db")
    full = trials[(trials["status"] == "ok") & (trials["fidelity"] == 27)]
    best = full.groupby(["runner", "repetition"])["test_value"].min()
    p = mannwhitneyu(best[runner], best["random"], alternative="less").pvalue
    assert p < 0.01, (best[runner].tolist(), best["random"].tolist())


@pytest.mark.parametrize("task_name", ["mnist_cnn", "text_clf"])
def test_a_training_task_continued_from_its_checkpoint_equals_training_in_one_go(task_name):
    """Weights, optimiser moments, the shuffling and dropout generators and the best epoch so far
    all come back: epochs 3..4 after a checkpoint at 2 are bit for bit those of a run to 4."""
    from tunebench.registry import make_task

    options = {"train_size": 300, "max_epochs": 4}
    task = make_task(task_name, options)
    config = {**task.space.default(), "optimizer": "adam"} if "optimizer" in task.space \
        else task.space.default()
    config = task.space.validate(config)
    whole = EvalContext(device="cpu", threads=1, precision="fp32")
    one_go = task.evaluate(dict(config), 4, 5, whole)
    first = EvalContext(device="cpu", threads=1, precision="fp32", wants_checkpoint=True)
    task.evaluate(dict(config), 2, 5, first)
    assert first.saved_checkpoint is not None
    saved = {k: v.clone() for k, v in first.saved_checkpoint["model"].items()}
    rest = EvalContext(device="cpu", threads=1, precision="fp32", start=2,
                       checkpoint=first.saved_checkpoint)
    continued = task.evaluate(dict(config), 4, 5, rest)
    assert first.curve + rest.curve == whole.curve
    assert (continued.value, continued.test_value) == (one_go.value, one_go.test_value)
    assert continued.fidelity_spent == 4 and continued.extra["train_loss"] == one_go.extra["train_loss"]
    # The checkpoint continued from is unchanged: another promotion could still continue it.
    assert all((saved[k] == v).all() for k, v in first.saved_checkpoint["model"].items())
    assert EvalContext().wants_checkpoint is False  # and a run that is not asked saves none


def test_the_shipped_multi_fidelity_suite_names_real_tasks_and_runners_at_equal_epochs():
    from tunebench.suite.spec_parse import check_names, load_suite

    spec = load_suite("multi-fidelity")
    check_names(spec)  # every task and runner builds with its options
    assert {t.name for t in spec.tasks} == {"mf_hartmann6", "mnist_cnn", "text_clf"}
    assert {"random", "hyperband", "successive_halving"} <= {r.name for r in spec.runners}
    from tunebench.registry import make_task

    for task in spec.tasks:  # every task continues, and Hyperband's brackets end at its maximum
        built = make_task(task.name, task.options)
        assert built.can_continue and built.max_fidelity in (9, 27)


def test_curves_of_continued_trials_are_numbered_from_where_they_continued(write_suite, tmp_path):
    trials = _run(write_suite, tmp_path)
    curves = tunebench.load_curves(tmp_path / "a.db")
    for _, trial in trials.iloc[27:36].iterrows():  # the second rung: steps 2 and 3
        steps = curves.loc[curves["trial"] == trial["trial"], "step"].tolist()
        assert steps == [2, 3]
    whole = curves.groupby("trial")["step"].max()
    assert (whole.reindex(trials["trial"]).to_numpy() == trials["fidelity"].to_numpy()).all()


def test_the_last_promotion_under_an_epochs_budget_gets_what_remains(write_suite, tmp_path):
    """30 epochs: the 27 first-rung trials (27), then promotions from step 1 to 3 cost 2 each:
    the first gets them, the second only the 1 epoch left (fidelity 2, continued from 1)."""
    trials = _run(write_suite, tmp_path, budget="epochs = 30")
    assert len(trials) == 29 and trials["charge"].sum() == 30
    last = trials.iloc[-2:]
    assert list(last["fidelity"]) == [3, 2] and list(last["fidelity_spent"]) == [2.0, 1.0]
    assert list(last["start_fidelity"]) == [1, 1]


def test_a_hyperband_study_reproduces_identically(write_suite, tmp_path):
    from tunebench.suite.reproduce import IDENTICAL, reproduce

    _run(write_suite, tmp_path, budget="epochs = 120")
    report = reproduce(tmp_path / "a.db")
    assert report.ok and [s.verdict for s in report.studies] == [IDENTICAL]
