"""Synthetic stores with known answers, for tests, benchmarks and trying a report without a run.

Every trial's validation value is an independent draw ``optimum + scale * U ** power`` (in loss
terms), so each runner is a random search whose ``power`` sets how good its draws are: ``power = 1``
for the baseline ``random``, larger for runners that sample near the optimum more often. The frames
follow the contract of :mod:`tunebench.suite.store` column for column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from tunebench.reports.frames import StoreData

ERRORS = (
    "RuntimeError: CUDA out of memory (simulated)",
    "ValueError: loss is NaN",
    "TrialTimeout: trial ran past its time limit after step 3",
)


@dataclass(frozen=True)
class SynthTask:
    label: str
    direction: str = "minimize"
    optimum: float | None = 0.0
    scale: float = 10.0
    budget_kind: str = "trials"
    budget_amount: float = 50
    max_fidelity: int = 1
    task_name: str | None = None
    #: Best value reachable where ``optimum`` is None (the task does not know it).
    best: float = 0.0
    #: Added to the optimum (or ``best``) per repetition, times the repetition: a task whose
    #: optimum depends on the evaluation seed, as linreg's does through its data split.
    shift: float = 0.0
    #: Recorded as ``optimum_is_exact`` (False: a reference optimum, not a proven one).
    exact: bool = True
    #: Recorded as the studies' ``smoke`` flag when True (a smoke-test task).
    smoke: bool = False


@dataclass(frozen=True)
class SynthRunner:
    label: str
    power: float = 1.0
    fail_rate: float = 0.0
    device: str = "cpu"
    runner_name: str | None = None


def synthetic_store(
    tasks: list[SynthTask] | None = None,
    runners: list[SynthRunner] | None = None,
    repetitions: int = 5,
    *,
    seed: int = 0,
    suite: str = "synthetic",
) -> StoreData:
    """A :class:`~tunebench.reports.frames.StoreData` of independent draws (see module docstring)."""
    from tunebench.reports.frames import StoreData

    tasks = tasks or [SynthTask("sphere"), SynthTask("acc", direction="maximize", optimum=None,
                                                     scale=0.5, best=0.95)]
    runners = runners or [SynthRunner("random"), SynthRunner("tpe", power=3.0),
                          SynthRunner("cma", power=2.0, fail_rate=0.05)]
    rng = np.random.default_rng(seed)
    columns: dict[str, list[np.ndarray]] = {}
    study_rows = []
    study_id = 0

    def add(name: str, values) -> None:
        columns.setdefault(name, []).append(np.asarray(values))

    for task in tasks:
        sign = -1.0 if task.direction == "maximize" else 1.0
        for runner in runners:
            for rep in range(repetitions):
                study_id += 1
                opt = (task.best if task.optimum is None else float(task.optimum)) + task.shift * rep
                recorded = np.nan if task.optimum is None else opt
                if task.budget_kind == "trials":
                    n = int(task.budget_amount)
                    fidelity = np.full(n, task.max_fidelity, dtype=float)
                    charge = np.ones(n)
                else:
                    # Enough trials to exhaust the budget, then cut where it ran out.
                    guess = int(task.budget_amount) + 1
                    if task.budget_kind == "epochs":
                        fidelity = rng.integers(1, task.max_fidelity + 1, guess).astype(float)
                        charge = fidelity.copy()
                    else:
                        fidelity = np.full(guess, task.max_fidelity, dtype=float)
                        charge = rng.gamma(4.0, 0.25, guess)
                    n = int(np.searchsorted(np.cumsum(charge), task.budget_amount - 1e-9) + 1)
                    n = min(n, guess)
                    fidelity, charge = fidelity[:n], charge[:n]
                eval_seconds = charge if task.budget_kind == "device_seconds" else \
                    rng.gamma(4.0, 0.01, n)
                loss = opt * sign + task.scale * rng.random(n) ** runner.power
                test_loss = loss + rng.normal(0.0, 0.01 * task.scale, n)
                failed = rng.random(n) < runner.fail_rate
                loss[failed] = np.nan
                test_loss[failed] = np.nan
                best_loss = np.fmin.accumulate(loss)
                previous = np.r_[np.nan, best_loss[:-1]]
                improved = ~np.isnan(best_loss) & ~(best_loss >= previous)
                incumbent = pd.Series(np.where(improved, np.arange(n), np.nan)).ffill()
                best_test = test_loss[incumbent.fillna(0).to_numpy(dtype=int)]
                best_test = np.where(incumbent.isna(), np.nan, best_test)
                spent = np.cumsum(charge)
                add("suite", np.full(n, suite, dtype=object))
                add("study_id", np.full(n, study_id))
                add("task", np.full(n, task.label, dtype=object))
                add("task_name", np.full(n, task.task_name or task.label, dtype=object))
                add("runner", np.full(n, runner.label, dtype=object))
                add("runner_name", np.full(n, runner.runner_name or runner.label, dtype=object))
                add("repetition", np.full(n, rep))
                add("trial", np.arange(n))
                add("status", np.where(failed, "failed", "ok").astype(object))
                add("value", sign * loss)
                add("test_value", sign * test_loss)
                add("best_value", sign * best_loss)
                add("best_test_value", sign * best_test)
                add("direction", np.full(n, task.direction, dtype=object))
                add("optimum", np.full(n, recorded))
                add("optimum_is_exact", np.full(n, task.exact))
                add("fidelity", fidelity)
                add("fidelity_spent", fidelity)
                add("budget_kind", np.full(n, task.budget_kind, dtype=object))
                add("budget_amount", np.full(n, float(task.budget_amount)))
                add("charge", charge)
                add("budget_spent", spent)
                add("eval_seconds", eval_seconds)
                add("optimizer_seconds", 0.001 * runner.power * (1 + np.arange(n) / 50)
                    * rng.gamma(4.0, 0.25, n))
                add("cpu_seconds", eval_seconds * 1.5)
                add("config", np.array([{"x": float(v)} for v in rng.random(n)], dtype=object))
                add("config_key", np.array([f"{study_id}-{i}" for i in range(n)], dtype=object))
                errors = np.array([ERRORS[i % len(ERRORS)] if f else None
                                   for i, f in enumerate(failed)], dtype=object)
                add("error", errors)
                add("cached", np.full(n, False))
                add("device", np.full(n, runner.device, dtype=object))
                study_rows.append({
                    "study_id": study_id, "suite": suite, "task": task.label,
                    "task_name": task.task_name or task.label, "task_options": {},
                    "runner": runner.label, "runner_name": runner.runner_name or runner.label,
                    "runner_options": {}, "repetition": rep, "eval_seed": 1000 + rep,
                    "runner_seed": 7 * study_id, "budget_kind": task.budget_kind,
                    "budget_amount": float(task.budget_amount), "budget_spent": float(spent[-1]),
                    "budget_met": bool(spent[-1] >= task.budget_amount - 1e-9),
                    "status": "done", "n_trials": n, "n_failed": int(failed.sum()),
                    "device": runner.device, "threads": 1, "precision": "fp32",
                    "direction": task.direction, "optimum": recorded,
                    "optimum_is_exact": task.exact, **({"smoke": True} if task.smoke else {}),
                    "runner_version": "0.0", "started_at": "2026-01-01T00:00:00",
                    "finished_at": "2026-01-01T00:01:00", "env_id": 1,
                })
    trials = pd.DataFrame({k: np.concatenate(v) for k, v in columns.items()})
    for col in ("suite", "task", "task_name", "runner", "runner_name", "status", "direction",
                "budget_kind", "device"):
        trials[col] = trials[col].astype(str)
    trials["error"] = trials["error"].astype(object)
    studies = pd.DataFrame(study_rows)
    if "smoke" in studies.columns:
        studies["smoke"] = studies["smoke"].fillna(False).astype(bool)
    environments = {1: {
        "python": "3.12.0", "platform": "Linux-x86_64", "cpu": "Synthetic CPU",
        "packages": {"numpy": np.__version__, "pandas": pd.__version__},
        "torch": {"version": "2.13.0", "threads": 1, "cpu_capability": "AVX2", "cuda": None},
        "git": "0123456789abcdef", "hostname": "synthetic-host",
    }}
    specs = [{
        "name": suite, "fingerprint": "f" * 16,
        "spec": {"seed": seed, "repetitions": repetitions,
                 "budget": {"kind": tasks[0].budget_kind, "amount": tasks[0].budget_amount},
                 "tasks": [t.label for t in tasks], "runners": [r.label for r in runners],
                 "settings": {"device": "cpu"}},
        "source_text": f'name = "{suite}"\nseed = {seed}\n',
    }]
    return StoreData(trials, studies, environments, specs)


@dataclass(frozen=True)
class ExplicitStudy:
    """One study given value by value (NaN: a failed trial), for hand-computed examples."""

    task: str
    runner: str
    repetition: int
    values: tuple[float, ...]
    direction: str = "minimize"
    optimum: float | None = 0.0
    exact: bool = True
    budget_kind: str = "trials"
    #: Budget charged per trial (default 1 each); the budget defaults to their sum.
    charges: tuple[float, ...] | None = None
    budget_amount: float | None = None


def explicit_store(studies: list[ExplicitStudy], *, suite: str = "explicit") -> StoreData:
    """A :class:`~tunebench.reports.frames.StoreData` holding exactly the given studies.

    Test values are the validation values + 0.5; the running best and the incumbent's test value
    follow the store's rules (ties keep the earlier trial).
    """
    from tunebench.reports.frames import StoreData

    trial_frames, study_rows = [], []
    for study_id, st in enumerate(studies, start=1):
        values = np.asarray(st.values, dtype=float)
        n = len(values)
        sign = -1.0 if st.direction == "maximize" else 1.0
        charge = np.ones(n) if st.charges is None else np.asarray(st.charges, dtype=float)
        best_loss = np.fmin.accumulate(sign * values)
        previous = np.r_[np.nan, best_loss[:-1]]
        improved = ~np.isnan(sign * values) & ~(sign * values >= previous)
        incumbent = pd.Series(np.where(improved, np.arange(n), np.nan)).ffill()
        tests = values + 0.5
        best_test = np.where(incumbent.isna(), np.nan,
                             tests[incumbent.fillna(0).to_numpy(dtype=int)])
        amount = float(st.budget_amount if st.budget_amount is not None else charge.sum())
        optimum = np.nan if st.optimum is None else float(st.optimum)
        failed = np.isnan(values)
        common = {"suite": suite, "study_id": study_id, "task": st.task, "task_name": st.task,
                  "runner": st.runner, "runner_name": st.runner, "repetition": st.repetition,
                  "direction": st.direction, "optimum": optimum, "budget_kind": st.budget_kind,
                  "budget_amount": amount, "device": "cpu"}
        trial_frames.append(pd.DataFrame({
            **common, "trial": np.arange(n), "status": np.where(failed, "failed", "ok"),
            "value": values, "test_value": np.where(failed, np.nan, tests),
            "best_value": sign * best_loss, "best_test_value": best_test,
            "optimum_is_exact": st.exact, "fidelity": 1, "fidelity_spent": charge,
            "charge": charge, "budget_spent": np.cumsum(charge), "eval_seconds": 0.01,
            "optimizer_seconds": 0.001, "cpu_seconds": 0.01, "config": [{"i": i} for i in range(n)],
            "config_key": [f"{study_id}-{i}" for i in range(n)],
            "error": [ERRORS[1] if f else None for f in failed], "cached": False,
        }))
        study_rows.append({
            **common, "task_options": {}, "runner_options": {}, "eval_seed": 1000 + st.repetition,
            "runner_seed": study_id, "budget_spent": float(charge.sum()),
            "budget_met": bool(charge.sum() >= amount - 1e-9), "status": "done", "n_trials": n,
            "n_failed": int(failed.sum()), "threads": 1, "precision": "fp32",
            "optimum_is_exact": st.exact, "runner_version": "0.0",
            "started_at": "2026-01-01T00:00:00", "finished_at": "2026-01-01T00:01:00", "env_id": 1,
        })
    return StoreData(pd.concat(trial_frames, ignore_index=True), pd.DataFrame(study_rows))


def write_store(data: StoreData, db_path: str | Path) -> None:
    """Write a synthetic :class:`StoreData` into a real results store, through the store's writer.

    The suite is rebuilt from the frames (one task and runner entry per label, each task's budget
    its own), so what :func:`tunebench.suite.store.load_trials` reads back is ``data``'s trials.
    """
    from tunebench.runners.base import Status
    from tunebench.suite.budget import Budget
    from tunebench.suite.records import StudyResult, TrialRecord
    from tunebench.suite.spec import RunnerSpec, Settings, StudySpec, SuiteSpec, TaskSpec
    from tunebench.suite.store import ResultStore

    studies = data.studies
    first = studies.iloc[0]
    tasks = {}
    for row in studies.drop_duplicates("task").itertuples(index=False):
        tasks[row.task] = TaskSpec(row.task_name, row.task, {},
                                   Budget(row.budget_kind, row.budget_amount))
    runners = {row.runner: RunnerSpec(row.runner_name, row.runner, {})
               for row in studies.drop_duplicates("runner").itertuples(index=False)}
    settings = Settings(device="cpu")
    suite = SuiteSpec(
        name=str(first.suite), seed=0, repetitions=int(studies["repetition"].max()) + 1,
        budget=Budget(first.budget_kind, first.budget_amount), tasks=tuple(tasks.values()),
        runners=tuple(runners.values()), settings=settings,
        source_text=(data.suite_specs[0].get("source_text") if data.suite_specs else None),
    )
    by_study = dict(tuple(data.trials.groupby("study_id", sort=False)))
    with ResultStore(db_path) as store:
        suite_id = store.register_suite(suite)
        env = next(iter(data.environments.values()), {"python": "synthetic"})
        env_id = store.record_environment(env)
        for row in studies.itertuples(index=False):
            spec = StudySpec(suite.name, tasks[row.task], runners[row.runner], int(row.repetition),
                             int(row.eval_seed), int(row.runner_seed),
                             tasks[row.task].budget, settings)
            optimum = None if pd.isna(row.optimum) else float(row.optimum)
            sid = store.ensure_study(suite_id, spec, row.direction, optimum,
                                     bool(getattr(row, "optimum_is_exact", True)))
            store.start_study(sid, {"device": row.device, "threads": 1, "precision": "fp32",
                                    "runner_version": "0.0", "task_version": "1"}, env_id)
            trials = by_study.get(row.study_id)
            n_failed = 0
            for t in (trials.itertuples(index=False) if trials is not None else ()):
                failed = t.status == "failed"
                n_failed += failed
                store.add_trial(sid, TrialRecord(
                    number=int(t.trial), config=t.config, config_key=str(t.config_key),
                    status=Status(t.status), value=None if failed else float(t.value),
                    test_value=None if failed else float(t.test_value),
                    fidelity=int(t.fidelity), fidelity_spent=float(t.fidelity_spent), curve=(),
                    eval_seconds=float(t.eval_seconds), cpu_seconds=float(t.cpu_seconds),
                    optimizer_seconds=float(t.optimizer_seconds), charge=float(t.charge),
                    error=t.error if isinstance(t.error, str) else None,
                ))
            store.finish_study(sid, StudyResult(
                key=spec.key, n_trials=int(row.n_trials), n_failed=n_failed,
                budget_spent=float(row.budget_spent)))
