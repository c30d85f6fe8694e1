"""Syne Tune's ASHA and BOHB as runners: proposal by proposal Syne Tune's own one-worker loop,
the same in two processes, promotions continued and charged their new steps in a real study,
resume after SIGKILL exact, and better than random search at equal epochs on mf_hartmann6."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_and_kill
from scipy.stats import mannwhitneyu
from syne_tune.backend.trial_status import Trial
from syne_tune.config_space import choice, loguniform, randint, uniform
from syne_tune.optimizer.baselines import ASHA, ASHABORE, ASHACQR, BOHB, BORE, CQR, REA, TPE
from syne_tune.optimizer.scheduler import SchedulerDecision
from typer.testing import CliRunner

import tunebench
from tunebench import registry
from tunebench.cli import app
from tunebench.runners.base import BudgetInfo, Outcome, Proposal, RunnerError, RunnerUnavailable, Status
from tunebench.runners.conformance import mixed_space
from tunebench.runners.translation import translate
from tunebench.space import Categorical, Config, Direction, Float, Int, Space
from tunebench.suite.store import load_trials
from tunebench.tasks.mf_synthetic import MultiFidelityHartmann6

SEED = 11
MAX_T = 27
FLAT = Space({"x": Float(-5.0, 10.0), "y": Float(1e-3, 10.0, log=True), "k": Int(1, 8),
              "c": Categorical(("a", "b", "c"))})
#: FLAT as a Syne Tune user writes it (by hand, not through tunebench's translation).
FLAT_SYNE = {"x": uniform(-5.0, 10.0), "y": loguniform(1e-3, 10.0), "k": randint(1, 8),
             "c": choice(["a", "b", "c"])}
HARTMANN = MultiFidelityHartmann6()
HARTMANN_SYNE = {f"x{i}": uniform(0.0, 1.0) for i in range(1, 7)}
SCHEDULERS = {"synetune.asha": ASHA, "synetune.bohb": BOHB}
#: The model-based ones on each rung (xgboost for BORE's classifier and CQR's imports): checked
#: against Syne Tune's own loop; their other behaviour is the shared driver's, tested on the two.
MODEL_SCHEDULERS = {"synetune.asha_bore": ASHABORE, "synetune.asha_cqr": ASHACQR}
FULL_FIDELITY = {"synetune.tpe": TPE, "synetune.rea": REA, "synetune.bore": BORE,
                 "synetune.cqr": CQR}


def needs_xgboost(name: str) -> list:
    unavailable = getattr(registry.get_runner_class(name), "unavailable", None)
    return [pytest.mark.skipif(bool(unavailable), reason=f"{name}: {unavailable}")]


def flat_curve(config: Config, step: int) -> float:
    """A loss that falls with the steps and ranks configurations by their distance to a point."""
    distance = ((config["x"] - 2.0) / 15) ** 2 + (np.log10(config["y"]) - 0.0) ** 2 / 16 \
        + ((config["k"] - 3) / 7) ** 2 + {"a": 0.0, "b": 0.1, "c": 0.3}[config["c"]]
    return float(distance + (1 + 3 * distance) / step)


def flat_fails(config: Config) -> bool:
    return config["x"] > 8.5  # about one configuration in ten fails before its first step


def hartmann_curve(config: Config, step: int) -> float:
    return HARTMANN.at_step(HARTMANN.to_array(config), step)


CASES = {"flat": (FLAT, FLAT_SYNE, flat_curve, flat_fails),
         "hartmann": (HARTMANN.space, HARTMANN_SYNE, hartmann_curve, lambda config: False)}


def syne_tune_loop(name: str, case: str, n: int) -> list[tuple[Config, int]]:
    """Syne Tune's Tuner with one worker, written out: suggest, add, report every step and obey
    the decision, remove a stopped trial, an error for a failed one. numpy's global generator
    is seeded too (ASHA's bracket draw, its random searcher and BOHB's random fraction read it)."""
    _, syne_space, curve, fails = CASES[case]
    np.random.seed(SEED)
    scheduler = {**SCHEDULERS, **MODEL_SCHEDULERS}[name](
        syne_space, metric="loss", time_attr="t", max_t=MAX_T, grace_period=1, do_minimize=True,
        random_seed=SEED)
    ran = []
    for trial_id in range(n):
        config = scheduler.suggest().config
        trial = Trial(trial_id=trial_id, config=config, creation_time=datetime.datetime.now())
        scheduler.on_trial_add(trial)
        if fails(config):
            scheduler.on_trial_error(trial)
            ran.append((config, 0))
            continue
        for step in range(1, MAX_T + 1):
            decision = scheduler.on_trial_result(trial, {"loss": curve(config, step), "t": step})
            if decision != SchedulerDecision.CONTINUE:
                scheduler.on_trial_remove(trial)
                break
        ran.append((config, step))
    return ran


def drive(runner, case: str, trials: int) -> list[tuple[Proposal, Outcome]]:
    """The harness's protocol (ask, evaluate from where the trial continues, tell)."""
    _, _, curve, fails = CASES[case]
    reached: dict[int, int] = {}
    history = []
    for number in range(trials):
        proposal = runner.ask()
        syne_id, start = proposal.tag
        if fails(proposal.config):
            outcome = Outcome(Status.FAILED, None, 0, trial=number, tag=proposal.tag)
        else:
            assert start == reached.get(syne_id, 0)
            values = tuple(curve(proposal.config, s) for s in range(start + 1, proposal.fidelity + 1))
            outcome = Outcome(Status.OK, values[-1], proposal.fidelity, values, trial=number,
                              tag=proposal.tag, start=start)
            reached[syne_id] = proposal.fidelity
        runner.tell(proposal.config, outcome)
        history.append((proposal, outcome))
    return history


def build(name: str, space: Space, seed: int = SEED, **options):
    return registry.make_runner(name, space, Direction.MINIMIZE, seed,
                                BudgetInfo("epochs", 500, 1, MAX_T), options)


#: (scheduler, case, trials): a model fit per suggestion makes BORE's and CQR's runs cost seconds
LOOPS = [*((name, case, 150) for name in SCHEDULERS for case in CASES),
         *(pytest.param(name, "flat", 80, marks=needs_xgboost(name)) for name in MODEL_SCHEDULERS)]


@pytest.mark.parametrize(("name", "case", "trials"), LOOPS)
def test_proposals_are_syne_tunes_own_one_worker_loop(name, case, trials):
    """Each Syne Tune trial is the same configuration, run to the same step (0: failed), and
    runs as stretches up to the rung levels 1, 3, 9, 27: a new trial, then promotions."""
    history = drive(build(name, CASES[case][0]), case, trials)
    per_trial: dict[int, list[tuple[Proposal, Outcome]]] = {}
    for proposal, outcome in history:
        per_trial.setdefault(proposal.tag[0], []).append((proposal, outcome))
    ran = [(stretches[0][0].config, int(stretches[-1][1].fidelity))
           for stretches in per_trial.values()][:-1]  # the last trial may still be running
    assert ran == syne_tune_loop(name, case, len(ran))
    for stretches in per_trial.values():
        proposals = [proposal for proposal, _ in stretches]
        assert [p.fidelity for p in proposals] == [1, 3, 9, 27][:len(proposals)]
        assert [p.continues for p in proposals] == [False] + [True] * (len(proposals) - 1)
    assert {len(s) for s in per_trial.values()} >= {1, 4}  # some stop at once, some reach 27


def proposals_json(name: str) -> list:
    history = drive(build(name, HARTMANN.space), "hartmann", 80)
    return [[p.config, p.fidelity, p.continues] for p, _ in history]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_the_same_seed_gives_the_same_proposals_in_two_processes(name):
    script = ("import json, sys; sys.path.insert(0, sys.argv[2]); "
              "from test_runners_synetune import proposals_json; "
              "print(json.dumps(proposals_json(sys.argv[1])))")
    here = os.path.dirname(__file__)
    runs = [subprocess.run([sys.executable, "-c", script, name, here], capture_output=True,
                           text=True, check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
            for hash_seed in ("1", "2")]
    first, second = (json.loads(run.stdout) for run in runs)
    assert first == second == json.loads(json.dumps(proposals_json(name)))
    other = drive(build(name, HARTMANN.space, seed=SEED + 1), "hartmann", 10)
    assert [p.config for p, _ in other] != [p[0] for p in first[:10]]


@pytest.mark.parametrize("name", [pytest.param(name, marks=needs_xgboost(name))
                                  for name in FULL_FIDELITY])
def test_full_fidelity_searchers_are_syne_tunes_own_loop(name):
    """The single-fidelity path: each trial reports every step, then completes."""
    np.random.seed(SEED)
    scheduler = FULL_FIDELITY[name](FLAT_SYNE, metric="loss", do_minimize=True, random_seed=SEED)
    n = 20 if name in ("synetune.bore", "synetune.cqr") else 40  # a model fit per suggestion
    expected = []
    for trial_id in range(n):
        config = scheduler.suggest().config
        trial = Trial(trial_id=trial_id, config=config, creation_time=datetime.datetime.now())
        scheduler.on_trial_add(trial)
        expected.append(config)
        if flat_fails(config):
            scheduler.on_trial_error(trial)
            continue
        for step in range(1, MAX_T + 1):
            result = {"loss": flat_curve(config, step), "t": step}
            assert scheduler.on_trial_result(trial, result) == SchedulerDecision.CONTINUE
        scheduler.on_trial_complete(trial, result)
    runner = build(name, FLAT)
    proposed = []
    for number in range(n):
        proposal = runner.ask()
        assert proposal.fidelity is None and not proposal.continues
        config = proposal.config
        if flat_fails(config):
            outcome = Outcome(Status.FAILED, None, 0, trial=number, tag=proposal.tag)
        else:
            curve = tuple(flat_curve(config, step) for step in range(1, MAX_T + 1))
            outcome = Outcome(Status.OK, curve[-1], MAX_T, curve, trial=number, tag=proposal.tag)
        runner.tell(config, outcome)
        proposed.append(config)
    assert proposed == expected
    assert any(flat_fails(c) for c in proposed)


def test_numpys_global_generator_is_neither_read_nor_changed():
    """ASHA's bracket draw (here with two brackets), its random searcher and BOHB's random
    fraction read numpy's global generator; the runner gives them its own, so whatever state it
    is in the proposals are the same, and it is left as it was."""
    def proposals(global_seed: int) -> list:
        np.random.seed(global_seed)
        before = np.random.get_state()[1].copy()
        made = []
        for name in SCHEDULERS:
            runner = build(name, HARTMANN.space, brackets=2)
            made += [[p.config, p.fidelity] for p, _ in drive(runner, "hartmann", 60)]
        assert (np.random.get_state()[1] == before).all()
        return made

    first = proposals(0)
    assert proposals(12345) == first
    assert {fidelity for _, fidelity in first} >= {1, 3}


def test_defaults_are_syne_tunes_with_the_fidelity_range_and_one_worker():
    asha = build("synetune.asha", FLAT).resolved_options()
    assert asha == {"grace_period": 1, "reduction_factor": 3, "brackets": 1, "max_t": MAX_T,
                    "workers": 1}
    bohb = build("synetune.bohb", FLAT).resolved_options()
    assert {k: bohb[k] for k in ("top_n_percent", "min_bandwidth", "num_candidates",
                                 "bandwidth_factor", "random_fraction", "num_min_data_points")} \
        == {"top_n_percent": 15, "min_bandwidth": 1e-3, "num_candidates": 64,
            "bandwidth_factor": 3, "random_fraction": 0.33, "num_min_data_points": None}
    shifted = registry.make_runner("synetune.asha", FLAT, Direction.MINIMIZE, 0,
                                   BudgetInfo("epochs", 100, 2, 18), {})
    assert shifted.resolved_options()["grace_period"] == 2  # the task's smallest fidelity
    assert [shifted.ask().fidelity] == [2]  # rung levels 2, 6 and the largest fidelity, 18
    eta2 = build("synetune.asha", HARTMANN.space, reduction_factor=2.5)
    history = drive(eta2, "hartmann", 40)
    assert {p.fidelity for p, _ in history} <= {1, 3, 7, 16, 27}  # levels 1, 2.5, 6.25, 15.6


def test_bad_options_are_clear_and_exit_2_from_the_cli(write_suite, tmp_path):
    asha, bohb = (registry.get_runner_class(n) for n in SCHEDULERS)
    info = BudgetInfo("epochs", 100, 1, MAX_T)
    with pytest.raises(RunnerError, match="reduction_factor must be above 1"):
        asha(FLAT, "minimize", 0, info, reduction_factor=1)
    with pytest.raises(RunnerError, match="grace_period must be a whole number from 1 to 27"):
        asha(FLAT, "minimize", 0, info, grace_period=28)
    with pytest.raises(RunnerError, match=r"'max_t' \(set by tunebench: the task's largest"):
        bohb(FLAT, "minimize", 0, info, max_t=9)
    with pytest.raises(RunnerError, match="did you mean 'top_n_percent'"):
        bohb(FLAT, "minimize", 0, info, top_n_precent=10)
    suite = write_suite("""
        [suite]
        name = "bad"
        [budget]
        epochs = 30
        [[tasks]]
        name = "mf_hartmann6"
        [[runners]]
        name = "synetune.asha"
        options = { reduction_factor = 0.5 }
        """)
    result = CliRunner().invoke(app, ["run", str(suite), "--db", str(tmp_path / "r.db"), "-q"])
    assert result.exit_code == 2 and "reduction_factor must be above 1" in result.output
    assert "Traceback" not in result.output


def test_a_searcher_whose_imports_are_missing_is_unavailable_and_says_what_to_install():
    from tunebench.runners.synetune_runner import _missing

    message = _missing("CQR", {"xgboost": "xgboost-cpu==3.2.0", "no_such_module": "no-such==1"})
    assert message == ("Syne Tune's CQR imports no_such_module, which this environment lacks; "
                       "`pip install no-such==1` (as `make install` does) makes it available")
    assert _missing("BORE", {"numpy": "numpy"}) is None
    for name in ("synetune.bore", "synetune.asha_bore", "synetune.cqr", "synetune.asha_cqr"):
        unavailable = registry.get_runner_class(name).unavailable
        if unavailable:  # an environment without them: refused with the reason
            with pytest.raises(RunnerUnavailable, match="which this environment lacks"):
                registry.get_runner_class(name)(FLAT, "minimize", 0)
        else:  # `make install` brings them
            registry.get_runner_class(name)(FLAT, "minimize", 0)


def test_the_space_translation_declares_labels_and_conditions():
    rows = {row.name: row for row in translate(registry.get_runner_class("synetune.bohb"),
                                               mixed_space())}
    assert rows["lr"].library == "loguniform(1e-05, 1)" and not rows["lr"].lossy
    assert rows["width"].library == "lograndint(4, 512)"
    assert rows["schedule"].library == "choice(['constant', 'cosine', 'None']) of the choices' labels"
    assert rows["optimizer"].library == "choice(['sgd', 'adam', 'rmsprop'])"
    assert rows["momentum"].lossy and "no native conditions" in rows["momentum"].reason
    runner = build("synetune.bohb", mixed_space())
    configs = [p.config for p, _ in drive_mixed(runner, 20)]
    assert {c["schedule"] for c in configs} == {"constant", "cosine", None}
    assert all(("momentum" in c) == (c["optimizer"] in ("sgd", "rmsprop")) for c in configs)


def drive_mixed(runner, n: int) -> list[tuple[Proposal, Outcome]]:
    history = []
    for number in range(n):
        proposal = runner.ask()
        outcome = Outcome(Status.OK, float(number % 5), proposal.fidelity, trial=number,
                          tag=proposal.tag, start=proposal.tag[1])
        runner.tell(proposal.config, outcome)
        history.append((proposal, outcome))
    return history


SUITE = """
[suite]
name = "synetune"
seed = 5
[budget]
{budget}
[[tasks]]
name = "{task}"
{task_options}
[[runners]]
name = "{runner}"
"""


@pytest.mark.parametrize("name", SCHEDULERS)
def test_a_study_continues_promotions_and_charges_only_the_new_steps(write_suite, tmp_path, name):
    path = write_suite(SUITE.format(budget="epochs = 150", task="mf_hartmann6", task_options="",
                                    runner=name))
    tunebench.run_suite(path, tmp_path / "s.db", progress=False)
    trials = load_trials(tmp_path / "s.db")
    assert trials["charge"].sum() == 150 == trials["fidelity_spent"].sum()
    promoted = trials[trials["continued_from"].notna()]
    assert len(promoted) >= 5 and (promoted["start_fidelity"] > 0).all()
    for _, trial in promoted.iterrows():
        parent = trials.loc[trials["trial"] == trial["continued_from"]].iloc[0]
        assert parent["trial"] == trial["trial"] - 1  # one worker: a promotion continues at once
        assert parent["config_key"] == trial["config_key"]
        assert trial["start_fidelity"] == parent["fidelity"]
        assert trial["fidelity_spent"] == trial["fidelity"] - parent["fidelity"]
        assert trial["charge"] == trial["fidelity_spent"]
    assert set(trials["fidelity"].iloc[:-1]) <= {1, 3, 9, 27}
    assert (trials["fidelity"] == 27).any()


def test_on_a_task_that_restarts_promotions_are_charged_in_full(write_suite, tmp_path):
    """mf_restart is mf_hartmann6 without checkpoints: each promotion reruns from step 1, is
    charged its whole fidelity, and still continues the Syne Tune trial one rung up."""
    path = write_suite(SUITE.format(budget="epochs = 150", task="mf_restart", task_options="",
                                    runner="synetune.asha").replace(
        "seed = 5", 'seed = 5\nplugins = ["@PLUGIN@"]'))
    tunebench.run_suite(path, tmp_path / "r.db", progress=False)
    trials = load_trials(tmp_path / "r.db")
    promoted = trials[trials["continued_from"].notna()]
    assert len(promoted) >= 5 and (promoted["start_fidelity"] == 0).all()
    assert (trials["charge"] == trials["fidelity"]).all() and trials["charge"].sum() == 150
    assert (promoted["continued_from"] == promoted["trial"] - 1).all()
    up = {1: 3, 3: 9, 9: 27}  # the last trial may be cut short by the epochs left
    parents = trials.set_index("trial").loc[promoted["continued_from"], "fidelity"].map(up)
    assert list(parents)[:-1] == list(promoted["fidelity"])[:-1]


def test_a_study_killed_mid_rung_resumes_to_the_uninterrupted_result(write_suite, tmp_path):
    path = write_suite(SUITE.format(
        budget="trials = 60", task="mf_slow", runner="synetune.bohb",
        task_options="options = { delay = 0.004 }").replace(
        'seed = 5', 'seed = 5\nplugins = ["@PLUGIN@"]'))
    tunebench.run_suite(path, tmp_path / "reference.db", progress=False)
    expected = load_trials(tmp_path / "reference.db")
    stored = run_and_kill(path, tmp_path / "killed.db", at_least=25)
    assert 25 <= stored < 60
    tunebench.run_suite(path, tmp_path / "killed.db", progress=False)
    resumed = load_trials(tmp_path / "killed.db")
    columns = ["trial", "config_key", "status", "value", "fidelity", "fidelity_spent", "charge"]
    assert resumed[columns].equals(expected[columns])
    without = [{k: v for k, v in e.items() if k != "checkpoint_rebuild_seconds"}
               for e in resumed["extra"]]
    assert without == list(expected["extra"])
    assert any(e.get("start_fidelity", 0) > 0 for e in resumed["extra"])


#: Repetitions per runner at 729 epochs (27 full trials for random search): BOHB's KDE fits cost
#: about 4 s a study on one core, ASHA's bookkeeping under 1 s.
BEATS_RANDOM = {"synetune.asha": 20, "synetune.bohb": 10, "synetune.asha_bore": 10,
                "synetune.asha_cqr": 10}
#: Run only with TUNEBENCH_COSTLY=1 (`make test-costly`): a classifier or a gradient-boosting
#: fit per suggestion. Both passed (p < 0.01 at 10 repetitions) when measured.
COSTLY = {"synetune.asha_bore": "about 9 s a study (91 s for the test on a loaded machine)",
          "synetune.asha_cqr": "about 33 s a study (329 s for the test on a loaded machine)"}


@pytest.mark.slow
@pytest.mark.parametrize("name", BEATS_RANDOM)
def test_beats_random_search_at_equal_epochs(write_suite, tmp_path, name):
    """mf_hartmann6's low fidelities are informative: at 729 epochs Syne Tune's ASHA and BOHB
    reach a lower final regret than random search, one-sided Mann-Whitney over the repetitions
    (p = 0.0005 and 0.004 when measured). About 17 s (ASHA) and 41 s (BOHB) on one core. At 243
    epochs neither is significant (p = 0.06, 0.10 at 12 repetitions): stopping-type ASHA with one
    worker promotes every trial that ranks in the top third of the few recorded at a rung when it
    arrives, so the first trials run long."""
    if name in COSTLY and not os.environ.get("TUNEBENCH_COSTLY"):
        pytest.skip(f"{name}: {COSTLY[name]}; TUNEBENCH_COSTLY=1 runs it")
    suite = SUITE.format(budget="epochs = 729", task="mf_hartmann6", task_options="",
                         runner=name).replace("seed = 5", f"seed = 5\nrepetitions = {BEATS_RANDOM[name]}")
    suite += '[[runners]]\nname = "random"\n'
    tunebench.run_suite(write_suite(suite), tmp_path / "s.db", progress=False)
    trials = load_trials(tmp_path / "s.db")
    full = trials[(trials["status"] == "ok") & (trials["fidelity"] == 27)]
    best = full.groupby(["runner", "repetition"])["test_value"].min()
    p = mannwhitneyu(best[name], best["random"], alternative="less").pvalue
    assert p < 0.01, (p, best[name].tolist(), best["random"].tolist())
