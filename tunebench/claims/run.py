"""Measuring a claim: run its setting through the harness, then each expectation → a verdict.

A setting's store is temporary unless a folder is given (``store``): then it is kept as
``<folder>/<claim id>.db`` and a later check with more ``repetitions`` runs only the new ones (the
suite grown, as ``tunebench run --repetitions N`` grows it), so an inconclusive verdict can be
moved without paying again for the runs already made.
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunebench.claims import verdicts
from tunebench.claims.spec import (
    ERROR,
    INCONCLUSIVE,
    NOT_REPLICATED,
    REPLICATED,
    Claim,
    Expectation,
)


@dataclass
class ExpectationResult:
    expectation: Expectation
    measured: Any = None
    holds: bool = False
    error: str | None = None
    verdict: verdicts.Verdict | None = None  # statistical expectations only
    note: str = ""  # e.g. which seeded run an exact expectation read

    @property
    def outcome(self) -> str:
        if self.error:
            return ERROR
        if self.verdict is not None:
            return self.verdict.outcome
        return REPLICATED if self.holds else NOT_REPLICATED


@dataclass
class ClaimResult:
    claim: Claim
    expectations: list[ExpectationResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    repetitions: int | None = None  # the setting's repetitions as run
    studies_run: int = 0  # studies this check ran (the rest were in the kept store already)

    @property
    def verdict(self) -> str:
        outcomes = {e.outcome for e in self.expectations}
        if self.error is not None or ERROR in outcomes:
            return ERROR
        for verdict in (NOT_REPLICATED, INCONCLUSIVE):
            if verdict in outcomes:
                return verdict
        return REPLICATED

    @property
    def as_known(self) -> bool:
        return self.verdict == self.claim.known_verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.claim.id, "title": self.claim.title, "verdict": self.verdict,
            "known_verdict": self.claim.known_verdict, "seconds": self.seconds, "error": self.error,
            "source": dataclasses.asdict(self.claim.source), "versions": self.versions,
            "repetitions": self.repetitions, "budget_note": self.claim.budget_note,
            "path": str(self.claim.path) if self.claim.path else None,
            "expectations": [{"what": e.expectation.what, "published": e.expectation.describe(),
                              "measured": e.measured, "outcome": e.outcome, "error": e.error, "note": e.note,
                              "verdict": dataclasses.asdict(e.verdict) if e.verdict else None}
                             for e in self.expectations],
        }


def _base(claim: Claim) -> Path:
    from tunebench.claims.claim import claims_folder

    return claim.path.parent if claim.path is not None else claims_folder()


def _run_setting(claim: Claim, folder: Path, repetitions: int | None,
                 result: ClaimResult) -> Any:  # -> pd.DataFrame
    import pandas as pd

    from tunebench.suite.run import run_suite
    from tunebench.suite.spec_parse import parse_suite
    from tunebench.suite.store import read_history

    assert claim.setting is not None
    spec = parse_suite(claim.setting, source=f"{claim.path or claim.id} [setting]",
                       base_dir=_base(claim))
    db = folder / f"{claim.id}.db"
    summary = run_suite(spec, db, progress=False, repetitions=repetitions)
    if not summary.ok:
        raise RuntimeError(f"the setting's run failed: {summary.failed_studies}")
    result.studies_run = summary.studies_run
    result.repetitions = repetitions or spec.repetitions
    rows = []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        studies = conn.execute("SELECT id, task, runner, repetition, direction, runner_name, "
                               "runner_version, runner_seed, eval_seed FROM studies "
                               "WHERE repetition < ?", (result.repetitions,)).fetchall()
        for study_id, task, runner, repetition, direction, name, version, seed, eval_seed in studies:
            result.versions[f"runner {name}"] = str(version)
            for r in read_history(conn, study_id):
                row = {"task": task, "runner": runner, "repetition": repetition, "trial": r.number,
                       "direction": direction, "status": str(r.status), "runner_seed": seed,
                       "eval_seed": eval_seed, "runner_version": f"{name} {version}",
                       "value": math.nan if r.value is None else r.value,
                       "test_value": math.nan if r.test_value is None else r.test_value,
                       "fidelity": r.fidelity, "fidelity_spent": r.fidelity_spent}
                row.update({f"config.{k}": v for k, v in r.config.items()})
                row.update({f"extra.{k}": v for k, v in r.extra.items()})
                rows.append(row)
    return pd.DataFrame(rows)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return value


def _measure_trials(spec: Mapping[str, Any], frame: Any) -> Any:
    rows = frame
    for key in ("task", "runner"):
        if spec.get(key) is not None:
            rows = rows[rows[key] == spec[key]]
    if spec.get("where"):
        rows = rows.query(spec["where"])
    statistic = spec["statistic"]
    if statistic == "count":
        return len(rows)
    column = spec.get("column", "value")
    if column not in frame.columns:
        raise ValueError(f"no column {column!r} in the setting's trials (have: {', '.join(frame.columns)})")
    if rows.empty:
        raise ValueError("no trial matches the expectation's filters")
    if statistic == "best":
        ok = rows[rows["status"] == "ok"]
        if ok.empty:
            raise ValueError("no ok trial to take the best of")
        sign = ok["direction"].map({"minimize": 1.0, "maximize": -1.0})
        return _plain(ok.loc[(ok["value"] * sign).idxmin(), column])
    values = rows[column].dropna()
    if values.empty:
        raise ValueError(f"{column} has no value among the matching trials")
    return _plain(values.min() if statistic == "min" else values.max())


def per_repetition(frame: Any, runner: str, task: str | None = None, at_trial: int | None = None,
                   column: str = "value", where: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """One number per repetition: ``column`` of the best ok trial among the first ``at_trial``
    trials (all, by default) — the final or anytime incumbent — that match ``where`` (a pandas
    query, e.g. ``fidelity == 27`` for full-fidelity incumbents). Returns (repetitions, values,
    sign) with sign +1 when lower is better."""
    rows = frame[frame["runner"] == runner]
    if task is not None:
        rows = rows[rows["task"] == task]
    if rows.empty:
        raise ValueError(f"the setting has no trials of runner {runner!r}"
                         + (f" on task {task!r}" if task else "") + " (names as in [setting])")
    if rows["task"].nunique() > 1:
        raise ValueError(f"runner {runner!r} ran on several tasks: add task = NAME")
    if column not in rows.columns:
        raise ValueError(f"no column {column!r} (use value or test_value)")
    sign = 1.0 if rows["direction"].iloc[0] == "minimize" else -1.0
    reps, values = [], []
    for rep, group in rows.sort_values("trial").groupby("repetition", sort=True):
        head = group.head(at_trial) if at_trial else group
        if where:
            head = head.query(where)
        ok = head[(head["status"] == "ok") & head["value"].notna()]
        if ok.empty:
            raise ValueError(f"repetition {rep} of {runner} has no ok trial"
                             + (f" among its first {at_trial}" if at_trial else ""))
        reps.append(int(rep))
        values.append(float(ok.loc[(ok["value"] * sign).idxmin(), column]))
    return np.asarray(reps), np.asarray(values), sign


def _measure_runs(e: Expectation, frame: Any, outcome: ExpectationResult) -> None:
    s = e.spec
    kwargs = {"task": s.get("task"), "at_trial": s.get("at_trial"),
              "column": s.get("column", "value"), "where": s.get("where")}
    reps, raw, sign = per_repetition(frame, s["runner"], **kwargs)
    scale, offset = float(s.get("scale", 1.0)), float(s.get("offset", 0.0))
    values = offset + scale * raw
    alpha = float(s.get("alpha", verdicts.ALPHA))
    if s.get("repetition") is not None:  # exact: one seeded run
        where = np.flatnonzero(reps == s["repetition"])
        if not where.size:
            raise ValueError(f"no repetition {s['repetition']} in the setting")
        outcome.measured = float(values[where[0]])
        outcome.holds = e.holds(outcome.measured)
        run = frame[(frame["runner"] == s["runner"]) & (frame["repetition"] == s["repetition"])]
        outcome.note = (f"repetition {s['repetition']} of {s['runner']} "
                        f"({run['runner_version'].iloc[0]}): runner seed {run['runner_seed'].iloc[0]}, "
                        f"evaluation seed {run['eval_seed'].iloc[0]}")
        return
    if e.beats is not None:
        other_reps, other, _ = per_repetition(frame, e.beats, **kwargs)
        common = np.intersect1d(reps, other_reps)
        a = raw[np.isin(reps, common)]
        b = other[np.isin(other_reps, common)]
        outcome.verdict = verdicts.ordering_verdict(a, b, (s["runner"], e.beats), sign, alpha)
    elif e.threshold is not None:
        outcome.verdict = verdicts.threshold_verdict(
            values, e.threshold["below"], e.threshold["fraction"],
            float(s.get("margin", 0.05)), alpha)
    else:
        p = e.published
        margin = float(s["margin"])
        if "mean" in p:
            outcome.verdict = verdicts.mean_sd_verdict(values, p["mean"], p["sd"], p["n"], margin, alpha)
        else:
            outcome.verdict = verdicts.median_iqr_verdict(values, p["median"], p["iqr"], p["n"],
                                                          margin, alpha)
    outcome.measured = outcome.verdict.measured
    outcome.holds = outcome.verdict.outcome == REPLICATED


def _measure_evaluate(spec: Mapping[str, Any]) -> Any:
    from tunebench.registry import make_task
    from tunebench.tasks.base import EvalContext

    task = make_task(spec["task"], spec.get("options", {}))
    config = task.space.validate(dict(spec.get("config", {})))
    fidelity = int(spec.get("fidelity", task.max_fidelity))
    field_name = spec.get("field", "value")
    try:
        result = task.evaluate(config, fidelity, int(spec.get("seed", 0)), EvalContext())
    except Exception as exc:  # a failing evaluation is a result, as in the harness
        return "failed" if field_name == "status" else f"failed: {type(exc).__name__}: {exc}"
    status = "ok" if math.isfinite(result.value) else "failed"
    if field_name == "status":
        return status
    if field_name == "value":
        return result.value
    if field_name == "test_value":
        return result.test_value
    if field_name.startswith("extra."):
        return _plain(result.extra[field_name.split(".", 1)[1]])
    raise ValueError(f"unknown field {field_name!r}: use value, test_value, status or extra.NAME")


def _load_plugins(claim: Claim) -> None:
    """Register the plugin files the setting names, so evaluate/optimum measures find its tasks."""
    from tunebench.registry import load_plugin_file

    suite = (claim.setting or {}).get("suite", {})
    for plugin in suite.get("plugins", []) if isinstance(suite, Mapping) else []:
        load_plugin_file(_base(claim) / plugin)


def _versions() -> dict[str, str]:
    from tunebench.versions import package_version

    return {name: package_version(name) or "not installed" for name in ("tunebench", "numpy", "scipy")}


def check_claim(claim: Claim, folder: Path | None = None,
                repetitions: int | None = None) -> ClaimResult:
    """Measure every expectation of ``claim`` and return the verdicts (never raises for a claim's
    own failure: that is reported as the claim's error). ``folder`` keeps the setting's store
    there; ``repetitions`` overrides (grows) the setting's repetitions."""
    from tunebench.registry import make_task

    result = ClaimResult(claim, versions=_versions())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tunebench-claim-") as tmp:
        frame = None
        try:
            _load_plugins(claim)
            if claim.setting is not None:
                frame = _run_setting(claim, Path(folder or tmp), repetitions, result)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.seconds = time.perf_counter() - started
            return result
        for expectation in claim.expectations:
            outcome = ExpectationResult(expectation)
            try:
                if expectation.measure == "trials":
                    outcome.measured = _measure_trials(expectation.spec, frame)
                    outcome.holds = expectation.holds(outcome.measured)
                elif expectation.measure == "runs":
                    _measure_runs(expectation, frame, outcome)
                elif expectation.measure == "evaluate":
                    outcome.measured = _measure_evaluate(expectation.spec)
                    outcome.holds = expectation.holds(outcome.measured)
                else:
                    outcome.measured = make_task(expectation.spec["task"],
                                                 expectation.spec.get("options", {})).optimum
                    outcome.holds = expectation.holds(outcome.measured)
            except Exception as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
            result.expectations.append(outcome)
    result.seconds = time.perf_counter() - started
    return result


def check_claims(claims: Sequence[Claim], folder: Path | None = None,
                 repetitions: int | None = None) -> list[ClaimResult]:
    return [check_claim(c, folder, repetitions) for c in claims]
