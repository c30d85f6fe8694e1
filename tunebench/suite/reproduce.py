"""Reproduce: re-run the suites stored in a results store on this machine and compare, number by number.

:func:`reproduce` rebuilds every stored suite from its resolved form, gives each study the stored
seeds and settings (threads, precision, device), runs it **without the evaluation cache** (a
reproduction must recompute) into a fresh store, and compares the two trial by trial: configuration
key, status, validation value, test value and fidelity spent. Each study is

- **identical** — every compared number equal bit for bit, the same number of trials;
- **within tolerance** — the same configurations, statuses and fidelities, values that differ by at
  most ``tolerance`` relative (``|a − b| ≤ tolerance·max(|a|, |b|)``) or ``abs_tolerance`` absolute;
- **different** — anything else, with the first differing trial, the field and both values.

Beside the verdicts it lists the differences between the recorded environment and this one that can
change numbers (torch build, thread count, CPU capability, device, BLAS, package versions, the task
code's git revision, the determinism settings each study recorded).

**Time budgets are replayed, not re-measured** (DESIGN.md, reproducibility rule 5): each study runs
under a :class:`ReplayBudget` — the stored budget (same kind and amount, so runners get the same
budget hint and epochs budgets ask the same fidelities) that charges the *recorded* charge of trial
*k* to the reproduction's trial *k* and is spent after as many trials as the original ran. A
``device_seconds`` study therefore stops exactly where the original did on a faster or slower
machine, and a study that was interrupted in the original is reproduced up to where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.suite.budget import Budget
from tunebench.suite.records import TrialRecord
from tunebench.suite.spec import SuiteError, SuiteSpec, study_label
from tunebench.suite.spec_parse import suite_from_dict
from tunebench.suite.store import ResultStore, load_suite_specs, read_history

IDENTICAL = "identical"
WITHIN_TOLERANCE = "within tolerance"
DIFFERENT = "different"
ERROR = "error"
NOT_RUN = "not run"  # the original has no trials for this study: nothing to compare

#: Fields compared per trial, in the order a difference is reported.
COMPARED = ("config_key", "status", "fidelity_spent", "value", "test_value")


class ReproduceError(ValueError):
    """The source cannot be reproduced as asked (not a store, a plugin missing, …)."""


# ----------------------------------------------------------------------------- replayed budgets

@dataclass(frozen=True)
class ReplayBudget(Budget):
    """The original budget, charged the original's recorded charges, spent after as many trials.

    Picklable; one instance belongs to one study run (it counts the trials it has charged).
    """

    charges: tuple[float, ...] = ()
    #: Per original trial: the steps it reported before the budget clipped it (None: not clipped).
    clipped: tuple[int | None, ...] = ()
    _count: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)

    @property
    def clips_live(self) -> bool:
        return False  # the original's clock decided; the replay clips where it did

    def clip_steps(self, number: int) -> int | None:
        return self.clipped[number] if 0 <= number < len(self.clipped) else None

    def charge(self, *, fidelity_spent: float, eval_seconds: float,
               optimizer_seconds: float) -> float:
        index = self._count[0]
        self._count[0] += 1
        if index < len(self.charges):
            return self.charges[index]
        return super().charge(fidelity_spent=fidelity_spent, eval_seconds=eval_seconds,
                              optimizer_seconds=optimizer_seconds)

    def exhausted(self, spent: float) -> bool:
        return self._count[0] >= len(self.charges)

    @classmethod
    def of(cls, budget: Budget, history: Sequence[TrialRecord]) -> ReplayBudget:
        return cls(budget.kind, budget.amount, budget.charge_optimizer,
                   charges=tuple(float(r.charge) for r in history),
                   clipped=tuple(len(r.curve) if (getattr(r, "extra", None) or {}).get("clipped")
                                 else None for r in history))


# ----------------------------------------------------------------------------- results

@dataclass(frozen=True)
class TrialDifference:
    """The first difference found in a study: trial number (or -1 for the trial count), field, values."""

    trial: int
    field: str
    theirs: Any
    ours: Any


@dataclass
class StudyComparison:
    suite: str
    fingerprint: str
    task: str
    runner: str
    repetition: int
    verdict: str
    trials_theirs: int
    trials_ours: int = 0
    first_difference: TrialDifference | None = None
    differing_trials: int = 0
    max_relative_difference: float = 0.0
    error: str | None = None
    eval_seconds_theirs: float = 0.0
    eval_seconds_ours: float = 0.0
    environment_group: int = 0  # index into ReproductionReport.environments

    @property
    def label(self) -> str:
        return study_label((self.task, self.runner, self.repetition))

    @property
    def reproduced(self) -> bool:
        return self.verdict in (IDENTICAL, WITHIN_TOLERANCE, NOT_RUN)


@dataclass(frozen=True)
class EnvironmentDifference:
    key: str
    theirs: Any
    ours: Any
    matters: bool  # whether it can change numbers
    why: str


@dataclass
class EnvironmentComparison:
    """One recorded environment against the one the reproduction ran in."""

    studies: list[str]
    differences: list[EnvironmentDifference]


@dataclass
class ReproductionReport:
    source: str
    tolerance: float
    abs_tolerance: float
    studies: list[StudyComparison]
    environments: list[EnvironmentComparison]
    seconds: float = 0.0
    sampled: int | None = None
    total_studies: int = 0
    reproduction_db: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every compared study reproduced (identical or within tolerance)."""
        return all(s.reproduced for s in self.studies)

    def counts(self) -> dict[str, int]:
        out = {v: 0 for v in (IDENTICAL, WITHIN_TOLERANCE, DIFFERENT, ERROR, NOT_RUN)}
        for s in self.studies:
            out[s.verdict] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "ok": self.ok, "tolerance": self.tolerance,
            "abs_tolerance": self.abs_tolerance, "seconds": self.seconds, "sampled": self.sampled,
            "total_studies": self.total_studies, "counts": self.counts(), "notes": self.notes,
            "studies": [dataclasses.asdict(s) for s in self.studies],
            "environments": [dataclasses.asdict(e) for e in self.environments],
        }


# ----------------------------------------------------------------------------- reading a store

def _objectives_of(study: Any) -> str | None:
    """A reproduced study's objectives, recorded as the original run recorded them."""
    if study.task.objectives is None:
        return None
    from tunebench.registry import make_task
    from tunebench.suite.objectives import objectives_record

    return objectives_record(make_task(study.task.name, study.task.options), study.task.objectives,
                             study.task.references)


@dataclass
class _StoredStudy:
    study_id: int
    suite_id: int
    task: str
    runner: str
    repetition: int
    eval_seed: int
    runner_seed: int
    direction: str
    optimum: float | None
    optimum_is_exact: bool
    env_id: int | None
    device: str | None
    threads: int | None
    precision: str | None
    history: list[TrialRecord]
    #: A multi-objective study's objectives whose values are compared trial by trial (a
    #: machine-dependent one, measured training seconds, is not a number to reproduce).
    objectives: tuple[str, ...] = ()


def _compared_objectives(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(o["name"] for o in json.loads(text)["objectives"] if not o["machine_dependent"])


def _read_store(db: Path) -> tuple[list[dict[str, Any]], list[_StoredStudy], dict[int, dict[str, Any]]]:
    if not db.is_file():
        raise ReproduceError(f"no results store at {db}")
    try:
        suites = load_suite_specs(db)
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(studies)")}
            objectives = "objectives_json" if "objectives_json" in columns else "NULL"
            rows = conn.execute(
                "SELECT id, suite_id, task, runner, repetition, eval_seed, runner_seed, direction,"
                " optimum, optimum_is_exact, env_id, device, threads, precision,"
                f" {objectives} FROM studies ORDER BY id").fetchall()
            studies = [_StoredStudy(*row[:9], bool(row[9]), *row[10:14],
                                    history=read_history(conn, row[0]),
                                    objectives=_compared_objectives(row[14]))
                       for row in rows]
            environments = {int(i): json.loads(text) for i, text in
                            conn.execute("SELECT id, env_json FROM environments")}
    except sqlite3.DatabaseError as exc:
        raise ReproduceError(f"{db} is not a tunebench results store (SQLite says: {exc})") from None
    return suites, studies, environments


def _rebuild_suite(stored: Mapping[str, Any], plugins: Mapping[str, str]) -> SuiteSpec:
    spec = dict(stored["spec"])
    mapped = []
    for plugin in spec.get("plugins", []):
        local = plugins.get(plugin, plugin)
        if not Path(local).is_file():
            raise ReproduceError(
                f"suite {stored['name']!r} loads the plugin file {plugin}, which is not on this "
                "machine; reproduce from a bundle made with `tunebench export` (it carries the "
                "plugin files), or put the file at that path"
            )
        mapped.append(local)
    spec["plugins"] = mapped
    try:
        return suite_from_dict(spec)
    except SuiteError as exc:
        raise ReproduceError(f"the stored suite {stored['name']!r} cannot be rebuilt here: {exc}") from None


# ----------------------------------------------------------------------------- the run

def reproduce(source: str | Path, *, sample: int | None = None, seed: int = 0,
              tolerance: float = 0.0, abs_tolerance: float = 0.0, executor: str = "serial",
              workers: int = 1, keep: str | Path | None = None, progress: bool = False,
              console: Any = None) -> ReproductionReport:
    """Re-run the suite(s) stored in ``source`` (a results store or a bundle) and compare.

    ``sample`` re-runs only that many studies, drawn with ``seed``; ``keep`` names a file for the
    reproduction's own results store (default: a temporary file, deleted afterwards).
    """
    if tolerance < 0 or abs_tolerance < 0 or not (math.isfinite(tolerance) and math.isfinite(abs_tolerance)):
        raise ReproduceError("tolerances must be finite numbers >= 0")
    if sample is not None and sample < 1:
        raise ReproduceError(f"--sample must be at least 1, got {sample}")
    started = time.perf_counter()
    with _opened(Path(source)) as (db, plugins, notes):
        suites, stored, environments = _read_store(db)
        if not suites:
            raise ReproduceError(f"{source} holds no suite to reproduce")
        chosen = list(stored)
        if sample is not None and sample < len(chosen):
            picked = sorted(random.Random(seed).sample(range(len(chosen)), sample))
            chosen = [chosen[i] for i in picked]
        with _reproduction_path(keep) as target:
            ours, our_envs = _run(suites, chosen, plugins, target, executor, workers, progress,
                                  console)
            report = _compare(str(source), suites, chosen, ours, environments, our_envs, tolerance,
                              abs_tolerance)
            report.reproduction_db = Path(keep) if keep is not None else None
    report.notes.extend(notes)
    report.sampled = sample if sample is not None and sample < len(stored) else None
    report.total_studies = len(stored)
    report.seconds = time.perf_counter() - started
    return report


@contextlib.contextmanager
def _opened(source: Path) -> Iterator[tuple[Path, dict[str, str], list[str]]]:
    from tunebench.suite.bundle import is_bundle, open_bundle

    if not source.exists():
        raise ReproduceError(f"no results store or bundle at {source}")
    if is_bundle(source):
        with open_bundle(source) as bundle:
            yield bundle.db, bundle.plugins, bundle.notes
    else:
        yield source, {}, []


@contextlib.contextmanager
def _reproduction_path(keep: str | Path | None) -> Iterator[Path]:
    if keep is not None:
        path = Path(keep)
        if path.exists():
            raise ReproduceError(f"{path} exists; --keep needs a new file for the reproduction")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tunebench-reproduce-") as folder:
        yield Path(folder) / "reproduction.db"


@dataclass
class _Reproduced:
    history: list[TrialRecord]
    env_id: int | None = None
    device: str | None = None
    error: str | None = None


def _run(suites: list[dict[str, Any]], chosen: list[_StoredStudy], plugins: Mapping[str, str],
         target: Path, executor: str, workers: int, progress: bool, console: Any
         ) -> tuple[dict[tuple[int, str, str, int], _Reproduced], dict[int, dict[str, Any]]]:
    from tunebench.suite.executors import StudyJob, make_executor
    from tunebench.suite.progress import RunProgress
    from tunebench.suite.sink import StoreSink

    runner = make_executor(executor, workers)
    out: dict[tuple[int, str, str, int], _Reproduced] = {}
    study_ids: dict[tuple[int, str, str, int], int] = {}
    to_run = [s for s in chosen if s.history]
    with ResultStore(target) as store, RunProgress(
            len(to_run), enabled=progress, console=console, pending=[s.task for s in to_run],
            workers=workers) as bar:
        for stored_suite in suites:
            mine = [s for s in to_run if s.suite_id == stored_suite["id"]]
            if not mine:
                continue
            spec = _rebuild_suite(stored_suite, plugins)
            by_key = {study.key: study for study in spec.studies()}
            suite_id = store.register_suite(spec, allow_other_suites=True)
            ids: dict[tuple[str, str, int], int] = {}
            jobs = []
            for s in mine:
                key = (s.task, s.runner, s.repetition)
                if key not in by_key:
                    out[(s.suite_id, *key)] = _Reproduced(
                        [], error="the stored suite does not define this study")
                    continue
                study = dataclasses.replace(
                    by_key[key], eval_seed=s.eval_seed, runner_seed=s.runner_seed,
                    budget=ReplayBudget.of(by_key[key].budget, s.history))
                ids[key] = store.ensure_study(suite_id, study, s.direction, s.optimum,
                                              s.optimum_is_exact, _objectives_of(study))
                jobs.append(StudyJob(study))
            sink = StoreSink(store, ids, bar, label_prefix="reproducing ")
            runner.run(jobs, sink, cache=None)  # a reproduction recomputes: never the cache
            for key, study_id in ids.items():
                full = (stored_suite["id"], *key)
                study_ids[full] = study_id
                out[full] = _Reproduced(store.history(study_id), error=sink.failed.get(key))
    with closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True)) as conn:
        our_envs = {int(i): json.loads(t) for i, t in conn.execute("SELECT id, env_json FROM environments")}
        rows = {int(i): (env_id, device) for i, env_id, device in
                conn.execute("SELECT id, env_id, device FROM studies")}
    for full, study_id in study_ids.items():
        out[full].env_id, out[full].device = rows.get(study_id, (None, None))
    return out, our_envs


# ----------------------------------------------------------------------------- comparing

def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b or (math.isnan(a) and math.isnan(b))


def relative_difference(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return 0.0 if a == b else (abs(a - b) / scale if scale > 0 else math.inf)


def compare_histories(theirs: Sequence[TrialRecord], ours: Sequence[TrialRecord], tolerance: float,
                      abs_tolerance: float, objectives: tuple[str, ...] = ()
                      ) -> tuple[str, TrialDifference | None, int, float]:
    """Verdict, first difference beyond tolerance, number of differing trials, largest relative
    difference of a value, a test value or one of ``objectives`` (a multi-objective study's)."""
    first: TrialDifference | None = None
    differing, tolerated, worst = 0, 0, 0.0
    for a, b in zip(theirs, ours, strict=False):
        difference: TrialDifference | None = None
        within = False
        for name, va, vb, numeric in _compared(a, b, objectives):
            if numeric and va is not None and vb is not None and not _same(va, vb):
                rel = relative_difference(va, vb)
                worst = max(worst, rel)
                if rel <= tolerance or abs(va - vb) <= abs_tolerance:
                    within = True
                    continue
            elif va == vb or (numeric and _same(va, vb)):
                continue
            difference = TrialDifference(a.number, name, _plain(va), _plain(vb))
            break
        if difference is not None:
            differing += 1
            first = first or difference
        elif within:
            tolerated += 1
    if len(theirs) != len(ours):
        differing += 1
        first = first or TrialDifference(-1, "trials", len(theirs), len(ours))
    if differing:
        return DIFFERENT, first, differing, worst
    return (WITHIN_TOLERANCE if tolerated else IDENTICAL), None, 0, worst


def _compared(a: TrialRecord, b: TrialRecord, objectives: tuple[str, ...]
              ) -> Iterator[tuple[str, Any, Any, bool]]:
    """(field, theirs, ours, numeric) for every compared field of two trials: the record's own,
    then each of a multi-objective study's ``objectives`` (``objectives.f2``, ...)."""
    for name in COMPARED:
        yield name, getattr(a, name), getattr(b, name), name in ("value", "test_value")
    for key in ("objectives", "test_objectives"):
        theirs, ours = a.extra.get(key) or {}, b.extra.get(key) or {}
        for objective in objectives:
            yield (f"{key}.{objective}", _number(theirs.get(objective)),
                   _number(ours.get(objective)), True)


def _number(value: Any) -> float | None:
    """A stored objective value (a non-finite one is stored as its text) as a float."""
    return None if value is None else float(value)


def _plain(value: Any) -> Any:
    return str(value) if not isinstance(value, (int, float, type(None))) else value


def _compare(source: str, suites: list[dict[str, Any]], chosen: list[_StoredStudy],
             ours: Mapping[tuple[int, str, str, int], _Reproduced],
             their_envs: Mapping[int, dict[str, Any]], our_envs: Mapping[int, dict[str, Any]],
             tolerance: float, abs_tolerance: float) -> ReproductionReport:
    names = {s["id"]: (s["name"], s["fingerprint"]) for s in suites}
    comparisons: list[StudyComparison] = []
    groups: dict[tuple[Any, ...], int] = {}
    environments: list[EnvironmentComparison] = []
    report = ReproductionReport(source, tolerance, abs_tolerance, comparisons, environments)
    for s in chosen:
        key = (s.suite_id, s.task, s.runner, s.repetition)
        name, fingerprint = names[s.suite_id]
        result = StudyComparison(name, fingerprint, s.task, s.runner, s.repetition, NOT_RUN,
                                 trials_theirs=len(s.history),
                                 eval_seconds_theirs=sum(r.eval_seconds for r in s.history))
        comparisons.append(result)
        if not s.history:
            continue
        mine = ours.get(key) or _Reproduced([], error="not run")
        result.trials_ours = len(mine.history)
        result.eval_seconds_ours = sum(r.eval_seconds for r in mine.history)
        if mine.error is not None:
            result.verdict, result.error = ERROR, mine.error
        else:
            (result.verdict, result.first_difference, result.differing_trials,
             result.max_relative_difference) = compare_histories(s.history, mine.history, tolerance,
                                                                  abs_tolerance, s.objectives)
        theirs_env = their_envs.get(s.env_id or -1, {})
        if theirs_env and "determinism" not in theirs_env:
            note = ("the original store predates per-study determinism records: only its "
                    "environment and study settings are compared")
            if note not in report.notes:
                report.notes.append(note)
        differences = environment_differences(
            _study_environment(theirs_env, s.device, s.threads, s.precision),
            _study_environment(our_envs.get(mine.env_id or -1, {}), mine.device, s.threads,
                               s.precision))
        group_key = tuple((d.key, repr(d.theirs), repr(d.ours)) for d in differences)
        if group_key not in groups:
            groups[group_key] = len(environments)
            environments.append(EnvironmentComparison([], differences))
        result.environment_group = groups[group_key]
        environments[result.environment_group].studies.append(result.label)
    return report


def _study_environment(env: Mapping[str, Any], device: str | None, threads: int | None,
                       precision: str | None) -> dict[str, Any]:
    env = dict(env)
    if "determinism" in env:
        # The process-wide list of loaded BLAS libraries depends on import order (scipy, torch
        # bring their own); the study's determinism record names the one numpy computes with.
        env.pop("blas", None)
    elif isinstance(env.get("blas"), list):
        env["blas"] = [{k: v for k, v in pool.items() if k != "num_threads"}
                       for pool in env["blas"] if pool.get("internal_api") != "openmp"]
    flat = flatten(env)
    flat["study.device"] = device
    flat["study.threads"] = threads
    flat["study.precision"] = precision
    return flat


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys; lists of dicts (BLAS pools) as one readable string each."""
    out: dict[str, Any] = {}
    if isinstance(value, Mapping):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        out[prefix[:-1]] = "; ".join(sorted(" ".join(str(x) for x in v.values() if x is not None)
                                            for v in value))
        return out
    out[prefix[:-1]] = value
    return out


#: Environment keys that can change numbers, by prefix, with the reason shown to the user.
MATTERS: tuple[tuple[str, str], ...] = (
    ("study.device", "a different device runs different kernels"),
    ("study.threads", "the thread count changes the order of floating-point reductions"),
    ("study.precision", "numeric precision"),
    ("python_hash_seed", "set and dict iteration order in libraries that depend on it (plain "
                         "SMAC3; tunebench's smac runners fix their order)"),
    ("study.python_hash_seed", "set and dict iteration order in libraries that depend on it"),
    ("determinism.torch", "torch build / CPU capability select different kernels"),
    ("determinism.determinism", "torch determinism settings"),
    ("determinism.blas", "BLAS library and kernel architecture"),
    ("determinism.numpy", "numpy version"),
    ("determinism", "determinism settings"),
    ("torch.version", "torch version"),
    ("torch.threads", "torch thread count"),
    ("torch.cpu_capability", "CPU instruction set (AVX2 vs AVX-512) selects different kernels"),
    ("torch.cuda", "CUDA build"),
    ("torch.deterministic", "torch deterministic algorithms"),
    ("torch.cudnn_benchmark", "cuDNN autotuning"),
    ("torch.gpus", "GPU model"),
    ("blas", "BLAS library, version, threads and kernel architecture"),
    ("packages.", "library version (task numerics or a runner's proposals)"),
    ("git_revision", "tunebench source revision (task and runner code)"),
    ("env.OMP_NUM_THREADS", "OpenMP threads"),
    ("env.MKL_NUM_THREADS", "MKL threads"),
    ("env.CUDA_VISIBLE_DEVICES", "visible GPUs"),
    ("cpu", "CPU model (instruction set)"),
    ("machine", "CPU architecture"),
    ("python", "Python version (float formatting and hashing are stable; libraries may differ)"),
)


#: Top-level environment keys that are absent when not recorded, rather than when they differ.
_RECORDED_ONLY_SOMETIMES = ("torch", "determinism")


def _why(key: str) -> tuple[bool, str]:
    for prefix, why in MATTERS:
        if key == prefix or key.startswith(prefix if prefix.endswith(".") else prefix + "."):
            return True, why
    return False, "does not change numbers"


def environment_differences(theirs: Mapping[str, Any], ours: Mapping[str, Any]
                            ) -> list[EnvironmentDifference]:
    """Keys whose values differ, those that can change numbers first."""
    out = []
    for key in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(key), ours.get(key)
        if a == b or key in ("hostname",):
            continue
        if (a is None or b is None) and key.split(".")[0] in _RECORDED_ONLY_SOMETIMES:
            continue  # recorded on one side only (torch not yet imported, an older store)
        matters, why = _why(key)
        out.append(EnvironmentDifference(key, a, b, matters, why))
    out.sort(key=lambda d: (not d.matters, d.key))
    return out


__all__ = [
    "DIFFERENT", "ERROR", "IDENTICAL", "NOT_RUN", "WITHIN_TOLERANCE", "EnvironmentComparison",
    "EnvironmentDifference", "ReplayBudget", "ReproduceError", "ReproductionReport",
    "StudyComparison", "TrialDifference", "compare_histories", "environment_differences",
    "reproduce",
]
