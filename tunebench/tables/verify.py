"""`tunebench verify-table`: re-run a random sample of a table's evaluations, compare bit for bit.

tunebench's tasks are deterministic (same task code, configuration, fidelity, seed and numerics →
the same numbers), so a table built from one can be audited: each sampled (configuration, seed)
is evaluated afresh at the task's maximum fidelity (and at every lower one, for a table built
with every fidelity) — never from the cache — with the settings the table records, and every
step's value, test value, returned value and any failure message must be identical to the
table's, bit for bit. Costs are measurements and are not
compared. The sample is drawn without replacement from ``default_rng(seed)``, so a verification
can be repeated exactly; ``sample`` at least the table's size verifies every evaluation.

Numbers can legitimately differ when the task's code or the numerics differ from the table's
(another numpy, BLAS or CPU kernel set): :func:`verify_table` says which differ, so a mismatch
can be told from tampering.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tunebench.tables.format import Evaluation, TableError, TableFile, read_table, same_bits


@dataclass(frozen=True)
class Mismatch:
    """One number of the table that the re-run did not reproduce."""

    config: str  # canonical JSON
    seed: int
    step: int | None  # None: the evaluation as a whole (its test value, failure, length)
    what: str  # "value", "test_value", "result_value", "failure", "steps"
    table: object
    rerun: object

    def describe(self) -> str:
        where = f"step {self.step}" if self.step is not None else "the evaluation"
        return (f"config {self.config} seed {self.seed} {where}: {self.what} is {self.table!r} "
                f"in the table, {self.rerun!r} re-run")


@dataclass
class VerifyReport:
    """What a verification found."""

    task: str
    total: int
    checked: int
    steps: int
    mismatches: list[Mismatch] = field(default_factory=list)
    #: What differs between the table's provenance and this process (code, numerics).
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        """One line of at most 80 columns."""
        if self.ok:
            line = (f"ok: {self.checked}/{self.total} evaluations of {self.task} re-run, "
                    f"{self.steps} steps identical bit for bit")
        else:
            bad = len({(m.config, m.seed) for m in self.mismatches})
            line = (f"DIFFERENT: {bad} of {self.checked} re-run evaluations of {self.task}, "
                    f"{len(self.mismatches)} numbers")
        return line if len(line) <= 80 else line[:79] + "…"


def compare(table: Evaluation, rerun: Evaluation) -> list[Mismatch]:
    """Every number of ``table`` that ``rerun`` does not reproduce bit for bit."""
    out: list[Mismatch] = []

    def differ(step: int | None, what: str, a: object, b: object) -> None:
        out.append(Mismatch(table.config_json, table.seed, step, what, a, b))

    for step, (a, b) in enumerate(zip(table.values, rerun.values, strict=False), start=1):
        if not same_bits(a, b):
            differ(step, "value", a, b)
    for what, ours, theirs in (("test_value", table.tests, rerun.tests),
                               ("result_value", table.results, rerun.results)):
        for step, (a, b) in enumerate(zip(ours, theirs, strict=False), start=1):
            if not same_bits(a, b):
                differ(step, what, a, b)
    if len(table.values) != len(rerun.values):
        differ(None, "steps", len(table.values), len(rerun.values))
    if table.error != rerun.error:
        differ(table.failed_at or rerun.failed_at, "failure", table.error, rerun.error)
    return out


def provenance_differences(meta: dict, task: object) -> list[str]:
    """What differs between the table's recorded task code and numerics and this process's."""
    from tunebench.suite.cache import numerics_settings, task_code_hash

    recorded = meta.get("task", {})
    out = []
    if recorded.get("version") != str(getattr(task, "version", None)):
        out.append(f"task version {recorded.get('version')} in the table, {task.version} here")
    if recorded.get("code_hash") != task_code_hash(type(task)):
        out.append("the task's code changed since the table was built (code hash differs)")
    settings = meta.get("settings", {})
    here = numerics_settings(task.uses_torch, settings.get("device", "cpu"),
                             settings.get("threads", 1), settings.get("precision", "auto"))
    there = meta.get("numerics", {})
    for key in sorted(set(here) | set(there)):
        if json.dumps(here.get(key), sort_keys=True) != json.dumps(there.get(key), sort_keys=True):
            out.append(f"numerics {key}: {there.get(key)!r} in the table, {here.get(key)!r} here")
    return out


def sample_evaluations(table: TableFile, sample: int, seed: int) -> list[Evaluation]:
    """``sample`` of the table's evaluations, drawn without replacement (all when it is larger)."""
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ValueError(f"--sample must be a positive integer, got {sample!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {seed!r}")
    count = len(table.evaluations)
    if sample >= count:
        return list(table.evaluations)
    chosen = np.random.default_rng(seed).choice(count, size=sample, replace=False)
    return [table.evaluations[i] for i in sorted(chosen)]


def verify_table(path: str | os.PathLike[str], sample: int = 16, seed: int = 0,
                 progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Re-run ``sample`` of the table's evaluations and compare them (see the module doc)."""
    from tunebench.devices import resolve_device
    from tunebench.registry import make_task
    from tunebench.space import Space
    from tunebench.suite.limits import warm_up_once
    from tunebench.suite.study_setup import study_threads
    from tunebench.tables.evaluate import EvalSettings, fresh_evaluator, tabulated

    table = read_table(path)
    recorded = table.meta["task"]
    task = make_task(recorded["name"], recorded.get("given_options", {}))
    if Space.from_dict(recorded["space"]) != task.space:
        raise TableError(f"table {table.path}: the task {recorded['name']!r} has another search "
                         "space now than when the table was built; nothing can be compared")
    chosen = sample_evaluations(table, sample, seed)
    settings = table.meta.get("settings", {})
    device = resolve_device(settings.get("device", "cpu"), task.uses_torch)
    run_settings = EvalSettings(device, int(settings.get("threads", 1)),
                                settings.get("precision", "auto"))
    report = VerifyReport(recorded["name"], len(table.evaluations), len(chosen), 0,
                          differences=provenance_differences(table.meta, task))
    evaluate = fresh_evaluator(task, run_settings)
    every = bool(table.meta.get("evaluation", {}).get("every_fidelity"))
    with study_threads(run_settings.threads, task.uses_torch):
        warm_up_once(task, device, run_settings, time.perf_counter)
        for done, entry in enumerate(chosen, start=1):
            config = task.space.validate(json.loads(entry.config_json))
            if task.space.key(config) != entry.config_key:  # the configuration itself was edited
                report.mismatches.append(Mismatch(entry.config_json, entry.seed, None, "config_key",
                                                  entry.config_key, task.space.key(config)))
            rerun = tabulated(evaluate, config, entry.seed, entry.config_id,
                              int(task.max_fidelity), every)
            report.mismatches.extend(compare(entry, rerun))
            report.steps += len(entry.values)
            if progress is not None:
                progress(done, len(chosen))
    return report
