"""The trial boundary: nothing a task returns or does in a trial fails its study or ends the run.

Malformed results fail their trial naming the field; extras JSON cannot hold are stored safely;
``sys.exit`` in a trial is a failed trial; options that name missing data fail at validation.
"""

from __future__ import annotations

import gzip
import re
import struct
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import PLUGIN_TASKS, run_cli

import tunebench
from tunebench.registry import RegistryError, load_plugin_file, make_task
from tunebench.suite.store import load_studies, load_trials

PLUGIN = '''
import math
import sys

import numpy as np

from tunebench.space import Categorical, Float, Space
from tunebench.tasks.base import Result, Task


def forced(**fields):
    """A Result whose fields skipped Result's own conversion (as a subclass or a hack could)."""
    result = Result(value=0.5)
    for name, value in fields.items():
        object.__setattr__(result, name, value)
    return result


CASES = {
    "extra": lambda: Result(value=0.5, extra={
        "loss": math.nan, "peak": math.inf, "low": -math.inf, "np": np.float32("nan"),
        "array": np.array([1.0, np.nan]), "object": object(), (1, 2): "tuple key",
        "nested": {"deep": [math.nan, {"x": np.int64(3)}]}, "ok": 1.5}),
    "value": lambda: forced(value="abc"),
    "built_value": lambda: Result(value="0.5"),
    "spent": lambda: forced(fidelity_spent="three"),
    "curve": lambda: forced(curve=("a", "b")),
    "extra_list": lambda: forced(extra=[1, 2]),
    "fine": lambda: Result(value=0.25, extra={"loss": 0.1}),
}


class Malformed(Task):
    name = "malformed"

    @property
    def space(self):
        return Space({"case": Categorical(tuple(CASES)), "x": Float(0.0, 1.0)})

    def evaluate(self, config, fidelity, seed, context):
        return CASES[config["case"]]()


class Quitter(Task):
    """Ends the process from inside a trial, three ways."""

    name = "quitter"

    @property
    def space(self):
        return Space({"how": Categorical(("exit0", "exit3", "raise", "fine"))})

    def evaluate(self, config, fidelity, seed, context):
        how = config["how"]
        if how == "exit0":
            sys.exit(0)
        if how == "exit3":
            sys.exit(3)
        if how == "raise":
            raise SystemExit
        return Result(value=1.0)


class QuitsInWarmUp(Task):
    name = "quits_in_warm_up"

    @property
    def space(self):
        return Space({"x": Float(0.0, 1.0)})

    def warm_up(self, context):
        sys.exit(5)

    def evaluate(self, config, fidelity, seed, context):
        return Result(value=config["x"])


class Interrupted(Task):
    name = "interrupted"

    @property
    def space(self):
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config, fidelity, seed, context):
        raise KeyboardInterrupt
'''


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    path = tmp_path / "boundary_tasks.py"
    path.write_text(PLUGIN)
    return path


def _suite(tmp_path: Path, plugin: Path, task: str, trials: int, runner: str = "random",
           extra_plugins: tuple[Path, ...] = (), task_options: str = "") -> Path:
    plugins = ", ".join(f'"{p}"' for p in (plugin, *extra_plugins))
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(f"""
        [suite]
        name = "boundary"
        seed = 3
        repetitions = 1
        plugins = [{plugins}]
        [budget]
        trials = {trials}
        [[tasks]]
        name = "{task}"
        {task_options}
        [[runners]]
        name = "{runner}"
    """))
    return path


_cli = run_cli


def test_malformed_results_fail_their_trial_naming_the_field_and_odd_extras_are_stored(
        tmp_path: Path, plugin: Path) -> None:
    db = tmp_path / "r.db"
    summary = tunebench.run_suite(_suite(tmp_path, plugin, "malformed", 60), db, progress=False)
    assert summary.ok and summary.trials_run == 60
    trials = load_trials(db)  # every row reads back, NaN extras included
    assert len(trials) == 60 and list(trials["trial"]) == list(range(60))
    case = trials["config"].map(lambda c: c["case"])
    assert set(case) == {"extra", "value", "built_value", "spent", "curve", "extra_list", "fine"}
    expected_error = {"value": "value='abc'", "built_value": "value='0.5'",
                      "spent": "fidelity_spent='three'", "curve": "curve[0]='a'",
                      "extra_list": "extra=[1, 2]"}
    for name, fragment in expected_error.items():
        rows = trials[case == name]
        assert (rows["status"] == "failed").all(), name
        assert rows["error"].map(lambda e, f=fragment: "InvalidResult" in e and f in e).all(), \
            (name, rows["error"].tolist())
    for name in ("extra", "fine"):
        assert (trials.loc[case == name, "status"] == "ok").all(), name
    extra = trials.loc[case == "extra", "extra"].iloc[0]
    assert extra["loss"] == "nan" and extra["peak"] == "inf" and extra["low"] == "-inf"
    assert extra["np"] == "nan" and extra["array"] == [1.0, "nan"] and extra["ok"] == 1.5
    assert extra["object"].startswith("<object object at")
    assert extra["(1, 2)"] == "tuple key"
    assert extra["nested"] == {"deep": ["nan", {"x": 3}]}
    assert trials.loc[case == "fine", "extra"].iloc[0] == {"loss": 0.1}
    studies = load_studies(db)
    assert bool(studies.loc[0, "budget_met"])
    assert studies.loc[0, "n_failed"] == int(case.isin(list(expected_error)).sum())


def test_sys_exit_in_a_trial_is_a_failed_trial_told_to_the_runner_and_charged(
        tmp_path: Path, plugin: Path) -> None:
    from tunebench.suite.spec_parse import load_suite
    from tunebench.suite.study import StudyLoop

    class Sink:
        def __init__(self) -> None:
            self.records = []

        def study_started(self, key, info) -> None:
            pass

        def trial_finished(self, key, record) -> None:
            self.records.append(record)

    spec = load_suite({
        "suite": {"name": "x", "plugins": [str(plugin), str(PLUGIN_TASKS)]},
        "budget": {"trials": 30}, "tasks": [{"name": "quitter"}], "runners": [{"name": "recorder"}],
    })
    study = spec.studies()[0]
    sink = Sink()
    loop = StudyLoop(study, sink)
    result = loop.run()
    assert result.n_trials == 30 and result.budget_spent == 30
    errors = {r.config["how"]: r.error for r in sink.records}
    assert errors == {"exit0": "SystemExit: 0", "exit3": "SystemExit: 3", "raise": "SystemExit: None",
                      "fine": None}
    told = sys.modules[type(loop.runner).__module__].TOLD[study.runner_seed]
    assert [o.status for o in told] == [r.status for r in sink.records]
    assert all(o.status == "failed" and o.value is None
               for o, r in zip(told, sink.records, strict=True) if r.error)


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_the_cli_runs_every_trial_of_a_task_that_calls_sys_exit_and_exits_0(
        tmp_path: Path, plugin: Path, executor: str) -> None:
    db = tmp_path / "r.db"
    done = _cli("run", str(_suite(tmp_path, plugin, "quitter", 12)), "--db", str(db), "-q",
                "--executor", executor)
    assert done.returncode == 0, done.stderr
    assert "12 trials" in done.stdout
    trials = load_trials(db)
    assert len(trials) == 12
    how = trials["config"].map(lambda c: c["how"])
    quits = trials[how != "fine"]
    assert len(quits) > 0 and (quits["status"] == "failed").all()
    assert quits["error"].str.startswith("SystemExit: ").all()
    assert bool(load_studies(db).loc[0, "budget_met"])


def test_sys_exit_in_a_warm_up_does_not_end_the_run(tmp_path: Path, plugin: Path) -> None:
    db = tmp_path / "r.db"
    summary = tunebench.run_suite(_suite(tmp_path, plugin, "quits_in_warm_up", 4), db, progress=False)
    assert summary.ok and summary.trials_run == 4
    assert (load_trials(db)["status"] == "ok").all()


def test_keyboard_interrupt_in_a_trial_still_interrupts_the_run(tmp_path: Path, plugin: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        tunebench.run_suite(_suite(tmp_path, plugin, "interrupted", 5), tmp_path / "r.db",
                            progress=False)


def test_sys_exit_at_a_plugins_import_is_a_registry_error_and_exit_2(tmp_path: Path, plugin: Path
                                                                      ) -> None:
    quitting = tmp_path / "quits_on_import.py"
    quitting.write_text("import sys\nsys.exit(0)\n")
    with pytest.raises(RegistryError, match="failed to import: SystemExit: 0"):
        load_plugin_file(quitting)
    done = _cli("run", str(_suite(tmp_path, quitting, "branin", 3)), "--db", str(tmp_path / "r.db"),
                "-q")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "failed to import" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r.db").exists() or load_trials(tmp_path / "r.db").empty


def test_a_plugin_init_that_raises_or_exits_is_a_registry_error(tmp_path: Path) -> None:
    path = tmp_path / "bad_init.py"
    path.write_text(textwrap.dedent("""
        import sys
        from tunebench.space import Float, Space
        from tunebench.tasks.base import Result, Task

        class BadInit(Task):
            name = "bad_init"
            def __init__(self, how: str = "raise"):
                if how == "raise":
                    raise RuntimeError("cannot build")
                sys.exit(4)
            @property
            def space(self):
                return Space({"x": Float(0.0, 1.0)})
            def evaluate(self, config, fidelity, seed, context):
                return Result(value=0.0)
    """))
    load_plugin_file(path)
    with pytest.raises(RegistryError, match=r"failed to build .*RuntimeError: cannot build"):
        make_task("bad_init")
    with pytest.raises(RegistryError, match=r"failed to build .*SystemExit: 4"):
        make_task("bad_init", {"how": "exit"})


# ------------------------------------------------------------------ options checked when built

def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_mnist_options_naming_missing_data_or_too_many_images_fail_when_built(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=re.escape(f"idx_dir: {tmp_path / 'nowhere'} is not a directory")):
        make_task("mnist_cnn", {"idx_dir": str(tmp_path / "nowhere")})
    with pytest.raises(RegistryError, match=r"idx_dir: .* lacks the IDX file"):
        make_task("mnist_cnn", {"idx_dir": str(tmp_path)})
    with pytest.raises(RegistryError, match="train_size 1000000000000 exceeds the 60000 training images"):
        make_task("mnist_cnn", {"train_size": 10**12})
    for prefix, n in (("train", 300), ("t10k", 100)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", np.zeros((n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    with pytest.raises(RegistryError, match="train_size 500 exceeds the 300 training images"):
        make_task("mnist_cnn", {"idx_dir": str(tmp_path), "train_size": 500})
    assert make_task("mnist_cnn", {"idx_dir": str(tmp_path), "train_size": 300}).train_size == 300


def test_text_options_naming_missing_files_or_too_many_documents_fail_when_built(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"csv_path: .*missing.csv is not a file"):
        make_task("text_clf", {"csv_path": str(tmp_path / "missing.csv")})
    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label\ngood,pos\nbad,neg\n")
    with pytest.raises(RegistryError, match=r"test_csv_path: .* is not a file"):
        make_task("text_clf", {"csv_path": str(csv), "test_csv_path": str(tmp_path / "t.csv")})
    # 12,752 snippets, of which round(0.2 * 12,752) = 2,550 are the fixed test split.
    with pytest.raises(RegistryError, match="train_size 1000000000000 exceeds the 10202 documents"):
        make_task("text_clf", {"train_size": 10**12})
    with pytest.raises(RegistryError, match="train_size 10203 exceeds the 10202 documents"):
        make_task("text_clf", {"train_size": 10_203})
    assert make_task("text_clf", {"train_size": 10_202}).train_size == 10_202
    with pytest.raises(RegistryError, match="exceeds the 11293 documents of '20newsgroups'"):
        make_task("text_clf", {"dataset": "20newsgroups", "train_size": 11_294})


def test_the_known_text_sizes_are_the_data_sets_own() -> None:
    from tunebench.data import is_fetched, load_texts
    from tunebench.tasks.text_clf import TextClassifierTask

    if not is_fetched("rotten-tomatoes"):
        pytest.skip("run `tunebench data fetch rotten-tomatoes`")
    data = load_texts("rotten-tomatoes")
    parts = TextClassifierTask().indices(data, 0)
    assert len(parts["train"]) + len(parts["val"]) == 10_202
    assert len(data.texts) == 12_752


def test_a_suite_naming_a_missing_idx_dir_fails_validation_with_exit_2(tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(textwrap.dedent(f"""
        [suite]
        name = "missing"
        [budget]
        trials = 2
        [[tasks]]
        name = "mnist_cnn"
        options = {{idx_dir = "{tmp_path / 'nowhere'}"}}
        [[runners]]
        name = "random"
    """))
    done = _cli("run", str(suite), "--db", str(tmp_path / "r.db"), "-q")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "idx_dir" in done.stderr and "Traceback" not in done.stderr
