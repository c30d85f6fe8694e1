"""Tables built from tunebench's own tasks: `tabulate`, `verify-table` and the `table` task.

On linreg (10 epochs, milliseconds per evaluation): the table holds what linreg itself computes,
bit for bit; verify-table reproduces every entry and names a tampered one by configuration and
step; the replay task answers exactly the table's numbers, nearest neighbours by the documented
distance, and carries studies (a pruner, a device-seconds budget). About 10 s.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import qmc
from typer.testing import CliRunner

import tunebench
from tunebench.cli import app
from tunebench.registry import make_task
from tunebench.space import Categorical
from tunebench.suite.cache import EvaluationCacheStore
from tunebench.suite.loading import load_trials
from tunebench.tables.format import METADATA_KEY, read_table
from tunebench.tables.replay import TableTask
from tunebench.tables.tabulate import tabulate
from tunebench.tasks.base import Diverged, EvalContext, TrialPruned

EPOCHS, N, SEEDS = 10, 24, (0, 7)


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def bits(x: float | None) -> bytes | None:
    return None if x is None else struct.pack("<d", x)


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """A linreg table built through the CLI (no cache: every number computed here)."""
    path = tmp_path_factory.mktemp("tables") / "linreg.parquet"
    result = invoke("tabulate", "linreg", "-o", f"max_epochs={EPOCHS}", "--n", N, "--seeds",
                    ",".join(map(str, SEEDS)), "--out", path, "--no-cache", "-q")
    assert result.exit_code == 0, result.output
    assert f"{N * len(SEEDS)} evaluations" in result.output
    return path


@pytest.fixture
def linreg():
    return make_task("linreg", {"max_epochs": EPOCHS})


@pytest.mark.filterwarnings("ignore:The balance properties")
def test_design_is_scrambled_sobol_mapped_into_the_space(table, linreg):
    """The configurations are scipy's scrambled Sobol points (seed 0), in the space's order, each
    coordinate through the parameter's own unit map (log scales, integers, inactive ones dropped)."""
    space = linreg.space
    points = qmc.Sobol(d=len(space), scramble=True, seed=0).random(N)
    expected = [space.from_unit(dict(zip(space, map(float, p), strict=True))) for p in points]
    seen = {}
    for entry in read_table(table).evaluations:
        seen.setdefault(entry.config_id, json.loads(entry.config_json))
    assert [seen[i] for i in range(len(seen))] == expected  # no duplicates in this design
    assert any("decay" not in c for c in expected) and any("decay" in c for c in expected)


def test_table_holds_what_linreg_computes_bit_for_bit(table, linreg):
    """Values per step, the returned and test values are linreg's own; a prefix of the curve is
    what an evaluation at that fidelity computes (so one run at max fidelity serves every step)."""
    evaluations = read_table(table).evaluations
    assert {e.seed for e in evaluations} == set(SEEDS)
    failed = [e for e in evaluations if e.error]
    assert failed and all(e.error.startswith("Diverged: linreg: training diverged") for e in failed)
    for entry in evaluations[::5] + failed[:2]:
        config = json.loads(entry.config_json)
        context = EvalContext()
        try:
            result = linreg.evaluate(config, EPOCHS, entry.seed, context)
        except Diverged as exc:
            assert entry.error == f"Diverged: {exc}" and entry.values == context.curve
            continue
        assert list(map(bits, result.curve)) == list(map(bits, entry.values))
        assert bits(result.test_value) == bits(entry.test_value)
        assert bits(result.value) == bits(entry.result_value)
        assert all(b >= a for a, b in zip(entry.costs, entry.costs[1:], strict=False))
        short = linreg.evaluate(config, 4, entry.seed, EvalContext())
        assert list(map(bits, short.curve)) == list(map(bits, entry.values[:4]))


def test_verify_table_reproduces_every_entry(table):
    result = invoke("verify-table", table, "--sample", 1000, "-q")
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"ok: {N * len(SEEDS)}/{N * len(SEEDS)} evaluations of linreg")
    assert len(line) <= 80


def _tamper(source: Path, target: Path, config_id: int, seed: int, step: int, column: str) -> float:
    """Rewrite the table with one number moved by one ulp; the number it held."""
    data = pq.read_table(source)
    frame = data.to_pandas()
    row = frame.index[(frame.config_id == config_id) & (frame.seed == seed) & (frame.step == step)]
    assert len(row) == 1
    old = float(frame.loc[row[0], column])
    frame.loc[row[0], column] = np.nextafter(old, math.inf)
    rewritten = pa.Table.from_pandas(frame, schema=data.schema, preserve_index=False)
    pq.write_table(rewritten, target)
    return old


@pytest.mark.parametrize("column,step", [("value", 4), ("test_value", EPOCHS)])
def test_verify_table_names_a_tampered_entry(table, tmp_path, column, step):
    entry = next(e for e in read_table(table).evaluations if e.error is None and e.seed == 7)
    tampered = tmp_path / "tampered.parquet"
    old = _tamper(table, tampered, entry.config_id, entry.seed, step, column)
    assert read_table(tampered).meta == read_table(table).meta  # the provenance survived
    result = invoke("verify-table", tampered, "--sample", 1000, "-q")
    assert result.exit_code == 1, result.output
    differs = [line for line in result.output.splitlines() if line.startswith("differs")]
    assert len(differs) == 1, result.output
    assert entry.config_json in differs[0] and f"seed 7 step {step}: {column}" in differs[0]
    assert repr(old) in differs[0]
    assert result.output.strip().splitlines()[-1].startswith("DIFFERENT: 1 of 48")


def test_a_sample_is_drawn_from_the_seed(table):
    first = invoke("verify-table", table, "--sample", 5, "--seed", 3, "-q")
    assert first.exit_code == 0 and "ok: 5/48" in first.output


def test_replay_answers_exactly_the_tabulated_values(table):
    task = TableTask(str(table))
    assert (task.max_fidelity, task.metric, task.direction) == (EPOCHS, "val_mse", "minimize")
    for entry in read_table(table).evaluations:
        config = json.loads(entry.config_json)
        for fidelity in (3, EPOCHS):
            context = EvalContext()
            if entry.error is not None and fidelity >= entry.failed_at:
                with pytest.raises(Diverged) as caught:
                    task.evaluate(config, fidelity, entry.seed, context)
                assert f"Diverged: {caught.value}" == entry.error
                assert context.curve == entry.values  # reported up to the step it diverged in
                continue
            result = task.evaluate(config, fidelity, entry.seed, context)
            assert context.curve == list(result.curve) == entry.values[:fidelity]
            assert result.fidelity_spent == fidelity and result.extra["table_distance"] == 0.0
            assert bits(result.cost_seconds) == bits(entry.costs[fidelity - 1])
            if fidelity == EPOCHS:
                assert bits(result.value) == bits(entry.result_value)
                assert bits(result.test_value) == bits(entry.test_value)
            else:  # linreg's value is its last epoch's: the table says so
                assert result.value == entry.values[fidelity - 1] and result.test_value is None
    assert read_table(table).meta["evaluation"]["value_rule"] == "last"


def test_replay_nearest_neighbour_and_seed_mapping(table, linreg):
    """An unseen configuration is answered by the nearest tabulated one: unit coordinates per
    numeric parameter, 0/1 per categorical, 1 for a parameter active on one side only."""
    task = TableTask(str(table))
    space = linreg.space
    tabulated = {e.config_id: json.loads(e.config_json) for e in read_table(table).evaluations}

    def distance(a: dict, b: dict) -> float:
        total = 0.0
        for name in space:
            if (name in a) != (name in b):
                total += 1.0
            elif name in a and isinstance(space[name], Categorical):
                total += a[name] != b[name]
            elif name in a:
                total += (space[name].to_unit(a[name]) - space[name].to_unit(b[name])) ** 2
        return math.sqrt(total)

    rng = np.random.default_rng(5)
    for _ in range(20):
        query = space.sample(rng)
        want = min(tabulated, key=lambda i: (distance(query, tabulated[i]), i))
        got, how_far = task.nearest(space.validate(query))
        assert got == want and how_far == pytest.approx(distance(query, tabulated[want]))
        assert how_far > 0
    assert [task.table_seed(s) for s in (0, 7, 1, 2, 3)] == [0, 7, 7, 0, 7]
    best = min(v for e in read_table(table).evaluations for v in e.values)
    assert task.optimum == best and task.optimum_is_exact


def test_replay_prunes_through_context_report(table):
    task = TableTask(str(table))
    entry = next(e for e in read_table(table).evaluations if e.error is None)
    context = EvalContext(pruner=lambda step, value: step == 2)
    with pytest.raises(TrialPruned):
        task.evaluate(json.loads(entry.config_json), EPOCHS, entry.seed, context)
    assert context.curve == entry.values[:2]


SUITE = """
[suite]
name = "replay"
seed = 3
repetitions = 2
[budget]
{budget}
[[tasks]]
name = "table"
options = {{ path = "{path}" }}
[[runners]]
name = "random"
[[runners]]
name = "optuna.asha"
"""


def test_studies_run_on_the_replay_task(table, tmp_path):
    """Random search and a pruning runner (ASHA) on the table: every answer is the table's, and
    a device-seconds budget charges the recorded costs, not the microseconds of a lookup."""
    values = {bits(v) for e in read_table(table).evaluations for v in (*e.values, e.result_value)}
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE.format(budget="trials = 25", path=table))
    summary = tunebench.run_suite(suite, tmp_path / "r.db", progress=False)
    assert summary.studies_run == 4 and not summary.failed_studies
    trials = load_trials(tmp_path / "r.db")
    assert len(trials) == 100 and (trials.status == "pruned").any()
    ok = trials[trials.status != "failed"]
    assert all(bits(v) in values for v in ok.value)
    recorded = sum(e.costs[-1] for e in read_table(table).evaluations)
    amount = recorded / len(SEEDS) / 4  # a quarter of one seed's whole table
    suite.write_text(SUITE.format(budget=f"device_seconds = {amount!r}", path=table)
                     .replace("optuna.asha", "optuna.tpe"))
    tunebench.run_suite(suite, tmp_path / "d.db", progress=False)
    charged = load_trials(tmp_path / "d.db")
    done = charged[charged.status == "ok"]  # a recorded failure is charged its measured time
    assert (done.charge == done.extra.map(lambda x: x["cost_seconds"])).all()
    spent = charged.groupby("study_id").charge.sum()
    assert len(spent) == 4 and np.allclose(spent, amount, rtol=1e-9)  # used up, to the end


def test_tabulate_goes_through_the_cache(table, tmp_path):
    """A second tabulation is served from the cache, with the same numbers."""
    cache = EvaluationCacheStore(tmp_path / "cache.db")
    first = tabulate("linreg", {"max_epochs": EPOCHS}, n=8, seeds=[7], out=tmp_path / "a.parquet",
                     cache=cache)
    again = tabulate("linreg", {"max_epochs": EPOCHS}, n=8, seeds=[7], out=tmp_path / "b.parquet",
                     cache=cache)
    assert (first.cache_hits, again.cache_hits) == (0, 8)
    a, b = (read_table(tmp_path / f"{x}.parquet").evaluations for x in "ab")
    assert [(e.values, e.test_value, e.error) for e in a] == [(e.values, e.test_value, e.error)
                                                              for e in b]
    assert all(e.cost_per_step for e in a) and not any(e.cost_per_step for e in b)
    ours = {e.config_key: e.values for e in read_table(table).evaluations if e.seed == 7}
    assert all(ours[e.config_key] == e.values for e in a)  # the design's first 8 of 24


def test_table_metadata_records_provenance(table, linreg):
    meta = json.loads(pq.read_schema(table).metadata[METADATA_KEY])
    from tunebench.suite.cache import task_code_hash

    assert meta["task"]["name"] == "linreg" and meta["task"]["options"]["max_epochs"] == EPOCHS
    assert meta["task"]["code_hash"] == task_code_hash(type(linreg))
    assert meta["seeds"] == list(SEEDS)
    assert meta["design"] == {"kind": "sobol", "n": N, "design_seed": 0, "scramble": True,
                              "distinct": N, "power_of_two": False}
    assert meta["tunebench_version"] and meta["environment"]["packages"]["numpy"]
    assert "hostname" not in meta["environment"]


@pytest.mark.parametrize("args,message", [
    (["tabulate", "nosuch", "--n", 4, "--seeds", 0, "--out", "{tmp}/x.parquet"], "unknown task"),
    (["tabulate", "linreg", "--n", 0, "--seeds", 0, "--out", "{tmp}/x.parquet"], "--n must be"),
    (["tabulate", "linreg", "--n", 4, "--seeds", "a", "--out", "{tmp}/x.parquet"], "--seeds takes"),
    (["tabulate", "linreg", "--n", 4, "--seeds", "1,1", "--out", "{tmp}/x.parquet"], "distinct"),
    (["tabulate", "linreg", "--n", 4, "--seeds", 0, "--out", "{tmp}/x.csv"], "ending in .parquet"),
    (["tabulate", "linreg", "--n", 4, "--seeds", 0, "--design", "lhs", "--out", "{tmp}/x.parquet"],
     "unknown design"),
    (["tabulate", "linreg", "-o", "max_epochs=0", "--n", 4, "--seeds", 0, "--out",
      "{tmp}/x.parquet"], "max_epochs"),
    (["tabulate", "linreg", "--n", 4, "--seeds", 0, "--out", "{tmp}/exists.parquet"],
     "already exists"),
    (["verify-table", "{tmp}/none.parquet"], "no such file"),
    (["verify-table", "{tmp}/plain.parquet"], "not a tunebench table"),
    (["verify-table", "{tmp}/exists.parquet"], "cannot be read as Parquet"),
    (["verify-table", "{table}", "--sample", 0], "--sample must be"),
])
def test_cli_errors_exit_2_with_a_message(table, tmp_path, args, message):
    (tmp_path / "exists.parquet").write_text("not parquet")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "plain.parquet")
    args = [str(a).format(tmp=tmp_path, table=table) for a in args]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.parquet").exists()


def test_table_task_errors_are_clear(tmp_path):
    with pytest.raises(LookupError, match="give the table with option path"):
        make_task("table", {"path": ""})
    with pytest.raises(LookupError, match="neither a shipped table"):
        make_task("table", {"path": "nosuch"})


def test_an_interrupted_tabulation_resumes_from_the_cache(tmp_path):
    cache = EvaluationCacheStore(tmp_path / "cache.db")
    options = {"max_epochs": EPOCHS}

    def interrupt(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tabulate("linreg", options, n=8, seeds=[0], out=tmp_path / "t.parquet", cache=cache,
                 progress=interrupt)
    assert not (tmp_path / "t.parquet").exists()
    resumed = tabulate("linreg", options, n=8, seeds=[0], out=tmp_path / "t.parquet", cache=cache)
    assert resumed.cache_hits == 5 and resumed.evaluations == 8


def test_verify_table_names_what_differs_in_the_provenance(table, tmp_path):
    """Numbers may legitimately differ under other numerics: the note says which differ."""
    data = pq.read_table(table)
    meta = json.loads(data.schema.metadata[METADATA_KEY])
    meta["numerics"]["numpy"] = "1.0.0"
    edited = data.replace_schema_metadata({METADATA_KEY: json.dumps(meta)})
    pq.write_table(edited, tmp_path / "other.parquet")
    result = CliRunner().invoke(app, ["verify-table", str(tmp_path / "other.parquet"), "-q",
                                      "--sample", "3"])
    assert result.exit_code == 0, result.output
    assert "numerics numpy: '1.0.0' in the table" in result.output


def test_the_shipped_linreg_table_verifies_and_replays():
    """The table `make tables` ships: a sample re-runs bit for bit, and `table/linreg` answers."""
    from tunebench.tables.replay import shipped_tables
    from tunebench.tables.verify import verify_table

    path = shipped_tables().get("linreg")
    if path is None:
        pytest.skip("no shipped linreg table (build it with `make tables`)")
    report = verify_table(path, sample=6, seed=1)
    assert report.checked == 6
    if report.differences:  # other code or numerics than it was built with: numbers may differ
        pytest.skip(f"the shipped table is stale ({report.differences[0]}): `make tables`")
    assert report.ok, [m.describe() for m in report.mismatches]
    task = make_task("table/linreg")
    entry = next(e for e in read_table(path).evaluations if e.error is None)
    for fidelity in (7, 50):  # built with every fidelity: a test value at each
        result = task.evaluate(json.loads(entry.config_json), fidelity, entry.seed, EvalContext())
        assert bits(result.value) == bits(entry.results[fidelity - 1])
        assert result.test_value is not None
        assert bits(result.test_value) == bits(entry.tests[fidelity - 1])
    assert task.options()["sha256"]  # the shipped file's digest keys cached evaluations


def test_a_suite_study_is_served_what_tabulate_cached(tmp_path, write_suite):
    """Tabulate keys its evaluations as a suite's study does: the study's own lookup (its spec,
    its context) finds them, with the table's numbers."""
    from tunebench.suite.spec_parse import load_suite

    study = load_suite(write_suite(f"""
        [suite]
        name = "s"
        [budget]
        trials = 3
        [[tasks]]
        name = "linreg"
        options = {{ max_epochs = {EPOCHS} }}
        [[runners]]
        name = "random"
    """)).studies()[0]
    cache = EvaluationCacheStore(tmp_path / "cache.db")
    tabulate("linreg", {"max_epochs": EPOCHS}, n=4, seeds=[study.eval_seed],
             out=tmp_path / "t.parquet", cache=cache)
    task = make_task("linreg", {"max_epochs": EPOCHS})
    for entry in read_table(tmp_path / "t.parquet").evaluations:
        context = EvalContext(device="cpu", threads=study.settings.threads,
                              precision=study.settings.precision)
        record = cache.lookup(task, study, entry.config_key, EPOCHS, context)
        assert record is not None and list(record.curve) == entry.values
        assert record.value == entry.result_value and record.error == entry.error


@pytest.fixture(scope="module")
def every_table(tmp_path_factory) -> Path:
    """A small linreg table with every fidelity evaluated (test values at every step)."""
    path = tmp_path_factory.mktemp("every") / "every.parquet"
    tabulate("linreg", {"max_epochs": EPOCHS}, n=6, seeds=[3], out=path, every_fidelity=True)
    return path


def test_every_fidelity_holds_each_fidelitys_own_evaluation(every_table, linreg):
    """Each step's test and returned values are linreg's at that fidelity, and the replay
    returns them at that fidelity."""
    task = TableTask(str(every_table))
    entries = read_table(every_table).evaluations
    assert read_table(every_table).meta["evaluation"]["every_fidelity"] is True
    for entry in entries:
        config = json.loads(entry.config_json)
        for fidelity in range(1, len(entry.values) + 1):
            real = linreg.evaluate(config, fidelity, 3, EvalContext())
            assert bits(real.value) == bits(entry.results[fidelity - 1])
            assert bits(real.test_value) == bits(entry.tests[fidelity - 1])
            replayed = task.evaluate(config, fidelity, 3, EvalContext())
            assert (bits(replayed.value), bits(replayed.test_value)) == (bits(real.value),
                                                                         bits(real.test_value))


def test_verify_table_checks_every_fidelity(every_table, tmp_path):
    assert invoke("verify-table", every_table, "-q").exit_code == 0
    entry = next(e for e in read_table(every_table).evaluations if e.error is None)
    tampered = tmp_path / "tampered.parquet"
    _tamper(every_table, tampered, entry.config_id, 3, 2, "test_value")
    result = invoke("verify-table", tampered, "-q")
    assert result.exit_code == 1 and "seed 3 step 2: test_value" in result.output, result.output


def test_the_table_task_passes_the_plugin_checks():
    """The checks every task must pass (a test value at every fidelity, pruning, determinism)."""
    from tunebench.plugins import check_plugin

    report = check_plugin("table", {}, trials=12)
    assert report.ok, [row.describe() for row in report.failures]


def test_a_family_member_tabulates_and_verifies(tmp_path):
    """bbob/f7 (a family member named with its function) is rebuilt by verify-table as given."""
    pytest.importorskip("ioh")
    path = tmp_path / "f7.parquet"
    built = invoke("tabulate", "bbob/f7", "-o", "dim=3", "--n", 8, "--seeds", 0, "--out", path,
                   "--no-cache", "-q")
    assert built.exit_code == 0 and "× 1 seed)" in built.output, built.output
    checked = invoke("verify-table", path, "-q")
    assert checked.exit_code == 0 and "ok: 8/8 evaluations of bbob/f7" in checked.output


def test_a_table_with_mangled_metadata_is_a_clear_error(table, tmp_path):
    data = pq.read_table(table)
    meta = json.loads(data.schema.metadata[METADATA_KEY])
    del meta["task"]["space"]
    pq.write_table(data.replace_schema_metadata({METADATA_KEY: json.dumps(meta)}),
                   tmp_path / "bad.parquet")
    result = invoke("verify-table", tmp_path / "bad.parquet")
    assert result.exit_code == 2 and "its metadata lacks task.space" in result.output
    with pytest.raises(LookupError, match=r"lacks task\.space"):
        make_task("table", {"path": str(tmp_path / "bad.parquet")})


def test_a_study_on_recorded_time_schedules_by_the_tables_costs(table, tmp_path):
    """Two evaluations in flight on simulated time taken from the table's recorded seconds: a
    complete trial lasts its recorded cost, a pruned one the recorded seconds of the step it was
    pruned at (each report carries them); the same schedule in two runs."""
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE.format(budget="trials = 16", path=table).replace(
        "[[tasks]]", '[settings]\nin_flight = 2\nsimulated_time = "recorded"\n[[tasks]]'))
    frames = []
    for db in ("a.db", "b.db"):
        tunebench.run_suite(suite, tmp_path / db, progress=False)
        frames.append(load_trials(tmp_path / db))
    trials = frames[0]
    task = TableTask(str(table))
    entries = {(e.config_id, e.seed): e for e in read_table(table).evaluations}
    ok = trials[trials.status == "ok"]
    seeds = dict(zip(ok.study_id, ok.extra.map(lambda x: x["table_seed"]), strict=False))
    assert (trials.status == "pruned").any() and len(ok) > 16
    for row in trials[trials.status != "failed"].itertuples():
        entry = entries[(task.nearest(row.config)[0], seeds[row.study_id])]
        lasted = row.extra["schedule"]["end"] - row.extra["schedule"]["begin"]
        steps = int(row.fidelity_spent)
        assert lasted == pytest.approx(entry.costs[steps - 1], rel=1e-12), row
    assert [e["schedule"] for e in frames[0].extra] == [e["schedule"] for e in frames[1].extra]
