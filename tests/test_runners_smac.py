"""SMAC3 runners against SMAC's own ask/tell loop, proposal by proposal, and across processes.

The plain loop is SMAC's documented ask/tell loop (``Scenario(configspace, deterministic=True,
n_trials, seed)``, the facade with ``overwrite=True``, ``ask`` -> ``tell(info, TrialValue(cost))``,
saving after every tell as SMAC does by default), given the one declared deviation that changes
proposals: :func:`stabilise`, the fixed order of the local search's start points. Without it the
plain loop proposes what the runner proposes only until the first model-based proposal, and its
later proposals depend on the process's ``PYTHONHASHSEED``: both are asserted, the second in two
subprocesses. Cost: about 2 minutes on one core (the GP facade and the subprocesses dominate).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import smac
from smac.runhistory.dataclasses import TrialValue
from smac.runhistory.enumerations import StatusType

import tunebench
from tunebench import registry
from tunebench.runners.base import BudgetInfo, Outcome, Proposal, RunnerError, Status
from tunebench.runners.conformance import mixed_space
from tunebench.runners.smac_session import SMAC_DEFAULT_TRIALS, stabilise
from tunebench.runners.smac_space import configspace, to_config, to_configuration, translation
from tunebench.space import Categorical, Config, Direction, Float, Int, Space

SEED = 3
FLAT = Space({"x": Float(-5.0, 10.0), "y": Float(1e-3, 10.0, log=True), "k": Int(1, 8),
              "c": Categorical(("a", "b", None))})
FACADES = {"smac.bb": smac.BlackBoxFacade, "smac.hpo": smac.HyperparameterOptimizationFacade,
           "smac.hyperband": smac.HyperbandFacade, "smac.mf": smac.MultiFidelityFacade}


def loss(space: Space, config: Config, fidelity: int = 1) -> float:
    """Smooth in every parameter; a low fidelity adds a bias that shrinks as it grows."""
    return sum((space[n].to_unit(v) - 0.2 - 0.07 * i) ** 2
               for i, (n, v) in enumerate(config.items())) + 1.0 / fidelity


# ---------------------------------------------------------------------- the two loops
def runner_loop(name: str, space: Space, n: int, high: int = 1, **options: Any) -> list[tuple]:
    """The harness's protocol by hand: ask, evaluate at the proposal's fidelity, tell its tag."""
    runner = registry.make_runner(name, space, Direction.MINIMIZE, SEED,
                                  BudgetInfo("trials", n, 1, high), options)
    proposed = []
    for trial in range(n):
        asked = runner.ask()
        config, fidelity, tag = ((asked.config, asked.fidelity, asked.tag)
                                 if isinstance(asked, Proposal) else (asked, high, None))
        proposed.append((fidelity, config))
        outcome = Outcome(Status.OK, loss(space, config, fidelity), fidelity, trial=trial, tag=tag)
        runner.tell(config, outcome)
    return proposed


def smac_loop(name: str, space: Space, n: int, folder: Path, high: int = 1,
              stable: bool = True, eta: int | None = None,
              origins: list[str] | None = None) -> list[tuple]:
    """SMAC's own ask/tell loop on the same ConfigurationSpace (see the module docstring); the
    origin SMAC gives each proposal (initial design, local search, ...) goes to ``origins``."""
    budgets = {"min_budget": 1, "max_budget": high} if high > 1 else {}
    scenario = smac.Scenario(configspace(space, SEED), deterministic=True, n_trials=n, seed=SEED,
                             output_directory=folder, **budgets)
    cls = FACADES[name]
    extra = {"intensifier": cls.get_intensifier(scenario, eta=eta)} if eta else {}
    facade = cls(scenario, None, overwrite=True, logging_level=False, **extra)
    if stable:
        stabilise(facade)
    proposed = []
    for _ in range(n):
        info = facade.ask()
        config = to_config(space, info.config)
        fidelity = round(info.budget) if info.budget is not None else high
        proposed.append((fidelity, config))
        if origins is not None:
            origins.append(str(info.config.origin))
        facade.tell(info, TrialValue(cost=loss(space, config, fidelity)))
    return proposed


def _first_difference(ours: list, theirs: list) -> int | None:
    return next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b), None)


# ---------------------------------------------------------------------- the translation
def test_the_configspace_keeps_kinds_scales_and_conditions() -> None:
    space = Space({"opt": Categorical(("sgd", None, True)), "depth": Int(1, 6),
                   "lr": Float(1e-5, 1.0, log=True), "width": Int(4, 512, log=True),
                   "mom": Float(0.0, 0.9, active_if={"opt": "sgd", "depth": [4, 5]})})
    cs = configspace(space, 0)
    assert cs["lr"].log and not cs["depth"].log and cs["width"].log
    assert (cs["width"].lower, cs["width"].upper) == (4, 512)
    assert list(cs["opt"].choices) == [0, 1, 2]  # indices: None and True stay Python values
    (condition,) = cs.conditions
    assert type(condition).__name__ == "AndConjunction"
    for config in (dict(opt="sgd", depth=4, lr=0.01, width=8, mom=0.5),
                   dict(opt=True, depth=4, lr=0.01, width=8), dict(opt="sgd", depth=2, lr=1e-5, width=4)):
        assert to_config(space, to_configuration(space, cs, config)) == config
    rows = translation(space)
    assert [r.name for r in rows] == list(space) and not any(r.lossy for r in rows)
    assert "AndConjunction" in rows[-1].library and "log=True" in rows[2].library


def test_decoded_proposals_are_python_values_and_inactive_parameters_absent() -> None:
    space = mixed_space()
    cs = configspace(space, 1)
    for configuration in cs.sample_configuration(50):
        config = to_config(space, configuration)
        assert space.validate(config) == config and list(config) == [n for n in space if n in config]
        assert all(type(v) in (int, float, str, bool, type(None)) for v in config.values())


# ---------------------------------------------------------------------- against SMAC's own loop
@pytest.mark.parametrize(("name", "space", "n"), [
    ("smac.hpo", FLAT, 25), ("smac.hpo", mixed_space(), 20),
    pytest.param("smac.bb", FLAT, 10, marks=pytest.mark.slow)])  # the GP: ~25 s per loop
def test_runner_proposes_what_smacs_own_loop_proposes(name, space, n, tmp_path) -> None:
    ours = runner_loop(name, space, n)
    theirs = smac_loop(name, space, n, tmp_path / "stable")
    assert _first_difference(ours, theirs) is None
    assert len({json.dumps(c, sort_keys=True, default=str) for _, c in ours}) > n // 2
    # SMAC unchanged agrees at least through its initial design (the deviation is in the local
    # search of the model-based proposals), and the comparison reaches beyond it.
    origins: list[str] = []
    plain = smac_loop(name, space, n, tmp_path / "plain", stable=False, origins=origins)
    initial = sum(origin.startswith("Initial Design") for origin in origins)
    assert 0 < initial < n - 5
    first = _first_difference(ours, plain)
    assert first is None or first >= initial, f"SMAC unchanged differs at proposal {first}"


@pytest.mark.parametrize("name", ["smac.hyperband", pytest.param("smac.mf", marks=pytest.mark.slow)])
def test_multi_fidelity_runner_proposes_smacs_budgets_and_configs(name, tmp_path) -> None:
    n = 69  # one full Hyperband iteration for eta=3 between 1 and 27
    ours = runner_loop(name, FLAT, n, high=27)
    theirs = smac_loop(name, FLAT, n, tmp_path, high=27)
    assert _first_difference(ours, theirs) is None
    if name == "smac.hyperband":  # random configurations: Li et al.'s brackets exactly
        rungs = [(f, len(list(g))) for f, g in itertools.groupby(f for f, _ in ours)]
        # s=3: 27@1 9@3 3@9 1@27; s=2: 12@3 4@9 1@27; s=1: 6@9 2@27; s=0: 4@27 (joins 2@27)
        assert rungs == [(1, 27), (3, 9), (9, 3), (27, 1), (3, 12), (9, 4), (27, 1), (9, 6), (27, 6)]


def test_eta_is_passed_to_smacs_hyperband_and_recorded(tmp_path) -> None:
    ours = runner_loop("smac.hyperband", FLAT, 20, high=8, eta=2)
    assert ours == smac_loop("smac.hyperband", FLAT, 20, tmp_path, high=8, eta=2)
    assert [f for f, _ in ours[:12]] == [1] * 8 + [2] * 4  # s=3 for eta=2: 8@1 then 4@2
    runner = registry.make_runner("smac.hyperband", FLAT, Direction.MINIMIZE, 0,
                                  BudgetInfo("trials", 20, 1, 8), {"eta": 2})
    assert runner.resolved_options()["eta"] == 2
    with pytest.raises(registry.RegistryError, match="eta must be >= 2"):
        registry.make_runner("smac.hyperband", FLAT, Direction.MINIMIZE, 0,
                             BudgetInfo("trials", 20, 1, 8), {"eta": 1})


# ---------------------------------------------------------------------- budgets and refusals
@pytest.mark.parametrize("name", ["smac.hyperband", "smac.mf"])
def test_a_single_fidelity_task_is_refused_clearly(name) -> None:
    with pytest.raises(RunnerError, match="single fidelity step"):
        registry.get_runner_class(name)(FLAT, Direction.MINIMIZE, 0, BudgetInfo("trials", 10, 5, 5))


@pytest.mark.parametrize(("budget", "name", "n_trials", "source"), [
    (BudgetInfo("trials", 40), "smac.hpo", 40, "full_trials"),
    (BudgetInfo("epochs", 100, 1, 10), "smac.hpo", 10, "full_trials"),
    (BudgetInfo("epochs", 100, 1, 10), "smac.mf", 100, "max_trials"),
    (BudgetInfo("device_seconds", 60.0, 1, 10), "smac.mf", SMAC_DEFAULT_TRIALS, "SMAC's default"),
])
def test_n_trials_follows_the_budget_and_is_recorded(budget, name, n_trials, source) -> None:
    runner = registry.make_runner(name, FLAT, Direction.MINIMIZE, 0, budget)
    resolved = runner.resolved_options()
    assert runner._session.scenario.n_trials == resolved["n_trials"] == n_trials
    assert resolved["n_trials_source"].startswith(source)
    assert resolved["deterministic"] is True and resolved["seed"] == 0
    assert set(resolved["tunebench"]) == {"start_points", "failed_trials", "save_each_tell",
                                          "output_directory"}
    json.dumps(resolved)  # recordable as it is


def test_no_file_is_left_behind(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    runner_loop("smac.hpo", FLAT, 8)
    runner_loop("smac.mf", FLAT, 8, high=9)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["tmp"]


def test_failures_are_crashes_at_the_worst_cost_so_far() -> None:
    runner = registry.make_runner("smac.hpo", FLAT, Direction.MAXIMIZE, 0, BudgetInfo("trials", 9))
    values = [None, None, 2.0, None, 5.0, -1.0, None]  # maximised: the costs are -value
    for trial, value in enumerate(values):
        config = runner.ask()
        status = Status.FAILED if value is None else Status.OK
        runner.tell(config, Outcome(status, value, 1 if value is not None else 0, trial=trial))
    history = runner._session.facade.runhistory
    told = [(v.status, v.cost) for v in history._data.values()]
    # the first two wait for a finite cost (-2.0), then each failure takes the worst so far
    assert told == [(StatusType.CRASHED, -2.0), (StatusType.CRASHED, -2.0), (StatusType.SUCCESS, -2.0),
                    (StatusType.CRASHED, -2.0), (StatusType.SUCCESS, -5.0), (StatusType.SUCCESS, 1.0),
                    (StatusType.CRASHED, 1.0)]  # in the order asked


# ---------------------------------------------------------------------- across processes
SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from test_runners_smac import FLAT, runner_loop, smac_loop
import tempfile, pathlib
name, how = sys.argv[2], sys.argv[3]
# smac.mf: its first model-based proposals come in the second Hyperband bracket
high, n = (27, 45) if name == "smac.mf" else (1, 16)
if how == "runner":
    out = runner_loop(name, FLAT, n, high=high)
else:
    with tempfile.TemporaryDirectory() as folder:
        out = smac_loop(name, FLAT, n, pathlib.Path(folder), high=high, stable=False)
print(json.dumps(out))
"""


def _in_process(name: str, how: str, hash_seed: str) -> list:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(tunebench.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(Path(__file__).parent), name, how],
                         env=env, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smac.hpo", "smac.mf"])
def test_same_seed_same_proposals_in_processes_with_other_hash_seeds(name) -> None:
    runs = [_in_process(name, "runner", seed) for seed in ("1", "2")]
    assert runs[0] == runs[1]
    # SMAC unchanged proposes differently under another PYTHONHASHSEED: the cause is real.
    plain = [_in_process(name, "plain", seed) for seed in ("1", "2")]
    assert plain[0] != plain[1]


STUDY = """
[suite]
name = "smac-hash"
seed = 4
[budget]
trials = 16
[[tasks]]
name = "hartmann3"
[[runners]]
name = "smac.hpo"
"""


@pytest.mark.slow
def test_a_smac_study_is_identical_in_processes_with_other_hash_seeds(write_suite, tmp_path) -> None:
    """Through the harness (serial executor, in the process it starts): the stored trials of two
    runs whose interpreters hash strings differently are the same."""
    from tunebench.suite.store import load_trials

    path = write_suite(STUDY)
    script = "import sys, tunebench; tunebench.run_suite(sys.argv[1], sys.argv[2], progress=False)"
    configs = []
    for seed in ("1", "2"):
        db = tmp_path / f"h{seed}.db"
        env = {**os.environ, "PYTHONHASHSEED": seed, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(Path(tunebench.__file__).parents[1])}
        subprocess.run([sys.executable, "-c", script, str(path), str(db)], env=env, check=True,
                       timeout=300, capture_output=True)
        configs.append([json.dumps(c, sort_keys=True) for c in load_trials(db)["config"]])
    assert len(configs[0]) == 16 and configs[0] == configs[1]


def test_a_trial_cut_short_is_told_at_the_fidelity_it_reached() -> None:
    """Under an epochs budget the harness may run the last trial at less than asked: SMAC hears the
    value at the fidelity reached, and the trial it asked for stays pending."""
    runner = registry.make_runner("smac.hyperband", FLAT, Direction.MINIMIZE, 0,
                                  BudgetInfo("epochs", 30, 1, 27))
    proposal = runner.ask()
    assert isinstance(proposal, Proposal) and proposal.fidelity == 1 and not proposal.continues
    for trial in range(27):  # the first rung: 27 configurations at one step
        runner.tell(proposal.config, Outcome(Status.OK, float(trial), 1, trial=trial, tag=proposal.tag))
        proposal = runner.ask()
    assert proposal.fidelity == 3
    runner.tell(proposal.config, Outcome(Status.OK, 0.5, 2, trial=27, tag=proposal.tag))
    history = runner._session.facade.runhistory
    told = [(k.budget, v.status, v.cost) for k, v in history._data.items()][-2:]
    assert told[0][:2] == (3.0, StatusType.RUNNING) and told[1] == (2.0, StatusType.SUCCESS, 0.5)
    assert [t.budget for t in history.get_running_trials()] == [3.0]


def test_every_smac_runner_is_compared_with_smacs_own_loop_here() -> None:
    assert {n for n in registry.runner_names() if n.startswith("smac.")} == set(FACADES)
    for name, facade in FACADES.items():
        assert registry.get_runner_class(name).facade == facade.__name__
