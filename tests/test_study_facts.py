"""What a study records is what happened, not what was asked: resolved precision, the device's
model and memory, the runner's resolved options, an exhausted search, identical repetitions,
smoke tasks; and which comparisons mix them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import tunebench
from tunebench.cli import app
from tunebench.suite.comparability import (
    DEVICE_MODEL,
    PRECISION,
    SHARED_GPU,
    comparability_issues,
    effective_repetitions,
)
from tunebench.suite.records import StudyResult
from tunebench.suite.run import RunSummary
from tunebench.suite.store import ResultStore, load_studies, load_trials

PLUGINS = Path(__file__).parent / "provenance_plugins.py"

SUITE = """
[suite]
name = "facts"
seed = 2
repetitions = 2
plugins = ["@PLUGINS@"]
[budget]
trials = 5
@SETTINGS@
[[tasks]]
name = "precision_probe"
[[tasks]]
name = "words"
@SMOKE@
[[runners]]
name = "random"
[[runners]]
name = "short_list"
"""


def _suite(write_suite, settings: str = "", smoke: str = "", name: str = "suite.toml") -> Path:
    text = SUITE.replace("@PLUGINS@", str(PLUGINS)).replace("@SETTINGS@", settings)
    return write_suite(text.replace("@SMOKE@", smoke), name)


@pytest.fixture(scope="module")
def facts_store(tmp_path_factory) -> tuple[Path, RunSummary]:
    folder = tmp_path_factory.mktemp("facts")
    path = folder / "suite.toml"
    path.write_text(SUITE.replace("@PLUGINS@", str(PLUGINS)).replace("@SETTINGS@", "")
                    .replace("@SMOKE@", "smoke = true"))
    summary = tunebench.run_suite(path, folder / "r.db", progress=False)
    return folder / "r.db", summary


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    pytest.skip("no /proc/cpuinfo model name here")


def _memory_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no /proc/meminfo here")


def _repetitions(column: pd.Series) -> list[int | None]:
    return [None if pd.isna(value) else int(value) for value in column]


def test_a_study_records_the_device_it_ran_on(facts_store):
    studies = load_studies(facts_store[0])
    assert (studies["device"] == "cpu").all()
    assert (studies["device_model"] == _cpu_model()).all()
    # sysconf's physical pages and the kernel's MemTotal agree within a few percent
    assert studies["device_memory"].map(lambda m: abs(m / _memory_bytes() - 1) < 0.05).all()
    assert studies["device_uuid"].isna().all()  # a CPU has none


def test_the_precision_auto_resolved_to_is_stored(facts_store):
    import torch

    capabilities = torch.cpu.get_capabilities()
    expected = "bf16" if capabilities.get("amx_bf16") or capabilities.get("avx512_bf16") else "fp32"
    studies = load_studies(facts_store[0])
    assert (studies["precision"] == "auto").all()  # the request ...
    probe = studies[studies["task"] == "precision_probe"]
    assert probe["precision_resolved"].tolist() == [expected] * len(probe)  # ... and the fact
    assert studies[studies["task"] == "words"]["precision_resolved"].isna().all()  # none to resolve


def test_task_extra_values_are_in_load_trials(facts_store):
    trials = load_trials(facts_store[0])
    assert trials["extra"].map(lambda e: isinstance(e, dict)).all()
    words = trials["config"].map(lambda c: int(c["word"][1:]))
    assert (trials["extra"].map(lambda e: e["word_index"]) == words).all()
    probe = trials[trials["task"] == "precision_probe"]
    assert probe["extra"].map(lambda e: e["precision"] in ("bf16", "fp32")).all()


def test_resolved_runner_options_and_an_exhausted_search_are_stored(facts_store):
    db, summary = facts_store
    studies = load_studies(db)
    short = studies[studies["runner"] == "short_list"]
    assert short["runner_resolved_options"].tolist() == [{"points": 3, "order": "declared"}] * 4
    assert studies[studies["runner"] == "random"]["runner_resolved_options"].tolist() == [{}] * 4
    # Three points for a budget of five trials: it ends early, says so, and leaves two unspent.
    assert short["search_exhausted"].all() and (short["n_trials"] == 3).all()
    assert (short["budget_left"] == 2).all() and not short["budget_met"].any()
    assert (short["status"] == "done").all()
    random = studies[studies["runner"] == "random"]
    assert not random["search_exhausted"].any() and (random["budget_left"] == 0).all()
    assert set(summary.search_exhausted) == {f"{t} × short_list #{r}" for t in ("precision_probe", "words")
                                             for r in (0, 1)}
    assert all(left == 2 for left in summary.search_exhausted.values())
    assert "words × short_list: the runner had nothing left to propose in repetition(s) #0, #1; 2 of " \
        "the budget was left unspent in each" in "\n".join(summary.warnings())


def test_identical_repetitions_of_a_deterministic_runner_are_flagged_as_by_design(facts_store):
    db, summary = facts_store
    studies = load_studies(db).sort_values(["task", "runner", "repetition"])
    short = studies[studies["runner"] == "short_list"]
    assert short["runner_deterministic"].all()
    assert _repetitions(short["identical_to"]) == [None, 0, None, 0]
    assert studies[studies["runner"] == "random"]["identical_to"].isna().all()
    assert "deterministic by design" in summary.identical_repetitions["words × short_list"]
    assert not any(pair.endswith("× random") for pair in summary.identical_repetitions)
    effective = effective_repetitions(studies).set_index(["task", "runner"])
    assert effective.loc[("words", "short_list"), "effective_n"] == 1
    assert effective.loc[("words", "random"), "effective_n"] == 2


def test_smoke_tasks_are_marked_per_study_and_the_mark_is_not_another_suite(write_suite, tmp_path):
    db = tmp_path / "s.db"
    tunebench.run_suite(_suite(write_suite, smoke="smoke = true"), db, progress=False)
    studies = load_studies(db)
    assert studies.groupby("task")["smoke"].all().to_dict() == {"precision_probe": False, "words": True}
    again = tunebench.run_suite(_suite(write_suite, name="unmarked.toml"), db, progress=False)
    assert again.studies_run == 0  # the same suite: nothing ran again
    assert not load_studies(db)["smoke"].any()


SEED_BLIND = """
[suite]
name = "blind"
seed = 3
repetitions = 3
plugins = ["@PLUGINS@"]
@SEEDS@
[budget]
trials = 4
[[tasks]]
name = "words"
[[runners]]
name = "seed_blind"
[[runners]]
name = "random"
"""


def _identical(db: Path) -> dict[str, list]:
    studies = load_studies(db).sort_values(["runner", "repetition"])
    return {runner: _repetitions(group["identical_to"]) for runner, group in studies.groupby("runner")}


def test_a_runner_that_ignores_its_seed_is_caught_and_shown(write_suite, tmp_path):
    db = tmp_path / "b.db"
    path = write_suite(SEED_BLIND.replace("@PLUGINS@", str(PLUGINS)).replace("@SEEDS@", ""))
    summary = tunebench.run_suite(path, db, progress=False)
    assert _identical(db) == {"random": [None, None, None], "seed_blind": [None, 0, 0]}
    assert "whatever its seed" in summary.identical_repetitions["words × seed_blind"]
    assert "#1 = #0, #2 = #0" in summary.identical_repetitions["words × seed_blind"]
    shown = CliRunner().invoke(app, ["show", "--db", str(db), "--format", "table"],
                             env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    row = next(line for line in lines if "seed_blind" in line and "*" not in line.split()[0])
    assert row.rstrip().endswith("3/3 *")
    assert "* seed_blind: 2 of 3 repetitions repeat an earlier one's run." in lines
    assert not any(line.startswith("* random") for line in lines)


def test_the_flag_does_not_depend_on_the_order_studies_finish_in(write_suite, tmp_path):
    db = tmp_path / "b.db"
    tunebench.run_suite(write_suite(SEED_BLIND.replace("@PLUGINS@", str(PLUGINS))
                                    .replace("@SEEDS@", "")), db, progress=False)
    expected = _identical(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE studies SET trial_sequence=NULL, identical_to=NULL")
        order = [row[0] for row in conn.execute("SELECT id FROM studies ORDER BY repetition DESC")]
    with ResultStore(db) as store:  # as a parallel run might: the last repetition finishes first
        for study_id in order:
            store.finish_study(study_id, StudyResult(("words", "x", 0), 4, 0, 4.0))
    assert _identical(db) == expected


def test_both_seeds_held_fixed_make_identical_repetitions_by_design(write_suite, tmp_path):
    db = tmp_path / "f.db"
    seeds = 'seeds = { evaluation = "fixed", runner = "fixed" }'
    path = write_suite(SEED_BLIND.replace("@PLUGINS@", str(PLUGINS)).replace("@SEEDS@", seeds))
    summary = tunebench.run_suite(path, db, progress=False)
    assert _identical(db)["random"] == [None, 0, 0]
    assert "holds both the runner and the evaluation seed fixed" in \
        summary.identical_repetitions["words × random"]


# ------------------------------------------------------------------------ comparability


def test_a_comparison_mixing_resolved_precisions_is_flagged(write_suite, tmp_path):
    db = tmp_path / "p.db"
    tunebench.run_suite(_suite(write_suite, settings='[settings]\nprecision = "fp32"'), db,
                        progress=False)
    tunebench.run_suite(_suite(write_suite, settings='[settings]\nprecision = "bf16"', name="b.toml"),
                        db, progress=False, append=True)
    issues = comparability_issues(load_studies(db))
    assert [(i.task, i.kind, i.values) for i in issues] == [("precision_probe", PRECISION,
                                                             ("bf16", "fp32"))]
    assert len(issues[0].study_ids) == 8 and "bf16 (4 studies), fp32 (4 studies)" in issues[0].message


BUDGETED = """
[suite]
name = "gpu"
seed = 1
repetitions = 2
[budget]
@BUDGET@
[[tasks]]
name = "branin"
[[runners]]
name = "random"
"""


def _as_if_on_gpus(db: Path, rows: dict[int, tuple[str, str, str, float, float]]) -> None:
    """Give studies (by repetition) the facts a GPU machine records: device, model, UUID, span."""
    with sqlite3.connect(db) as conn:
        for repetition, (device, model, uuid, start, end) in rows.items():
            conn.execute("UPDATE studies SET device=?, device_model=?, device_memory=?, device_uuid=?,"
                         " started_at=?, finished_at=? WHERE repetition=?",
                         (device, model, 80 * 2**30, uuid, start, end, repetition))


@pytest.fixture
def timed_store(write_suite, tmp_path) -> Path:
    db = tmp_path / "t.db"
    tunebench.run_suite(write_suite(BUDGETED.replace("@BUDGET@", "device_seconds = 0.01")), db,
                        progress=False)
    return db


A100, H100 = "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"


def test_devices_are_compared_by_model_not_by_index(timed_store):
    _as_if_on_gpus(timed_store, {0: ("cuda:0", A100, "GPU-a", 0, 10), 1: ("cuda:1", A100, "GPU-b", 0, 10)})
    assert comparability_issues(load_studies(timed_store)) == []  # two of one model: one device
    _as_if_on_gpus(timed_store, {1: ("cuda:0", H100, "GPU-c", 0, 10)})  # `cuda` on another machine
    issues = comparability_issues(load_studies(timed_store))
    assert [(i.kind, i.values) for i in issues] == [
        (DEVICE_MODEL, (f"{A100} (80 GiB)", f"{H100} (80 GiB)"))]


def test_studies_sharing_a_gpu_under_a_time_budget_are_flagged(timed_store):
    _as_if_on_gpus(timed_store, {0: ("cuda:0", A100, "GPU-a", 0, 10), 1: ("cuda:0", A100, "GPU-a", 5, 15)})
    issues = comparability_issues(load_studies(timed_store))
    assert [(i.kind, len(i.study_ids)) for i in issues] == [(SHARED_GPU, 2)]
    # One after the other on that GPU, or at the same time on two GPUs: nothing shared.
    _as_if_on_gpus(timed_store, {1: ("cuda:0", A100, "GPU-a", 10, 15)})
    assert comparability_issues(load_studies(timed_store)) == []
    _as_if_on_gpus(timed_store, {1: ("cuda:0", A100, "GPU-b", 5, 15)})  # another worker's cuda:0
    assert comparability_issues(load_studies(timed_store)) == []


def test_sharing_a_gpu_under_a_trials_budget_is_no_issue(write_suite, tmp_path):
    db = tmp_path / "n.db"
    tunebench.run_suite(write_suite(BUDGETED.replace("@BUDGET@", "trials = 3")), db, progress=False)
    _as_if_on_gpus(db, {0: ("cuda:0", A100, "GPU-a", 0, 10), 1: ("cuda:0", A100, "GPU-a", 5, 15)})
    assert comparability_issues(load_studies(db)) == []


def test_resolved_options_json_cannot_hold_are_recorded_as_text(tmp_path):
    """A library default that is a function (optuna TPE's gamma) or NaN never fails a study."""
    from tunebench.suite.spec_parse import load_suite

    spec = load_suite({"suite": {"name": "odd"}, "budget": {"trials": 1},
                       "tasks": [{"name": "branin"}], "runners": [{"name": "random"}]})
    study = spec.studies()[0]
    with ResultStore(tmp_path / "o.db") as store:
        suite_id = store.register_suite(spec)
        study_id = store.ensure_study(suite_id, study, "minimize", None, False)
        store.start_study(study_id, {"runner_resolved_options": {
            "gamma": _repetitions, "prior": float("nan"), "n": 3, "nested": {"w": (1, 2)}}}, None)
    resolved = load_studies(tmp_path / "o.db")["runner_resolved_options"].item()
    assert resolved["n"] == 3 and resolved["nested"] == {"w": [1, 2]} and resolved["prior"] == "nan"
    assert resolved["gamma"].startswith("<function _repetitions")


def test_a_runner_deterministic_only_under_one_option_records_it_per_study(write_suite, tmp_path):
    db = tmp_path / "o.db"
    path = write_suite(SEED_BLIND.replace("@PLUGINS@", str(PLUGINS)).replace("@SEEDS@", "")
                       .replace('name = "seed_blind"', 'name = "short_list"\noptions = { order = "seeded" }'))
    tunebench.run_suite(path, db, progress=False)
    studies = load_studies(db)
    short = studies[studies["runner"] == "short_list"]
    assert not short["runner_deterministic"].any()
    assert short["trial_sequence"].nunique() > 1  # three points, shuffled by three seeds


def test_a_frame_without_the_fact_columns_has_no_issues_and_full_effective_n(facts_store):
    facts = ["precision_resolved", "device_model", "device_memory", "device_uuid", "host",
             "identical_to", "runner_deterministic"]
    bare = load_studies(facts_store[0]).drop(columns=facts)
    assert comparability_issues(bare) == []
    effective = effective_repetitions(bare)
    assert (effective["effective_n"] == effective["repetitions"]).all()
