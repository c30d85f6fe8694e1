"""Claim manifests (TOML) and their checking: published result in, replicated / not replicated out.

A manifest states one published result and how tunebench measures it::

    [claim]
    id = "branin-optimum"                 # unique, used on the command line
    title = "…"                           # the result in one line
    known_verdict = "replicated"          # what tunebench measured when the claim was added
    notes = "…"                           # optional: anything a reader must know

    [source]                              # where the result is published — precisely
    kind = "documentation"                # paper | documentation | repository | website | derivation
    citation = "…"                        # authors, title, venue / project and version
    url = "…"
    where = "…"                           # section, table, page or the quoted line
    year = 2013                           # optional
    quote = "…"                           # optional: the printed number(s), verbatim

    [setting]                             # optional: a tunebench suite (suite-file tables), run
    suite = { name = "…", seed = 0 }      # through the harness into a temporary store
    budget = { trials = 300 }
    tasks = [{ name = "branin" }]
    runners = [{ name = "random" }]

    [[expect]]                            # one or more: each measures one number
    what = "…"
    measure = "evaluate"                  # evaluate | optimum | trials
    …measure keys…
    published = 0.397887                  # and one criterion: published ± tolerance (absolute),
    tolerance = 5e-7                      # at_least / at_most (inclusive), or equals
    at_least = …
    at_most = …
    equals = "failed"

Measures:

- ``evaluate`` — ``task``, ``options``, ``config``, ``fidelity`` (default the maximum), ``seed``
  (default 0), ``field``: ``value`` (default), ``test_value``, ``status`` (ok / failed) or
  ``extra.NAME``. Calls the task directly, the way the harness does (an exception or a non-finite
  value is a failed evaluation).
- ``optimum`` — ``task``, ``options``: the optimum the task declares.
- ``trials`` — over the trials of the ``[setting]`` run: ``statistic`` (min | max | count | best),
  ``column`` (value, test_value, fidelity_spent, ``config.NAME`` or ``extra.NAME``), optional
  ``where`` (a pandas query over those columns plus status, task, runner, repetition, trial; quote
  dotted names in backticks) and ``task`` / ``runner`` label filters. ``best`` takes ``column`` of
  the trial with the best value in the task's direction.

A claim is **replicated** when every expectation holds, **not replicated** otherwise; a claim that
cannot be measured (a broken manifest, a task that fails to load) is an **error**. ``known_verdict``
records the outcome when the claim was added, so a change either way is visible (``tunebench
claims`` exits non-zero when a verdict differs from it).
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import tempfile
import time
import tomllib
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

REPLICATED = "replicated"
NOT_REPLICATED = "not replicated"
ERROR = "error"
VERDICTS = (REPLICATED, NOT_REPLICATED)
SOURCE_KINDS = ("paper", "documentation", "repository", "website", "derivation")
MEASURES = ("evaluate", "optimum", "trials")
STATISTICS = ("min", "max", "count", "best")

_CLAIM_KEYS = {"id", "title", "known_verdict", "notes"}
_SOURCE_KEYS = {"kind", "citation", "url", "where", "year", "quote"}
_CRITERIA = {"published", "tolerance", "at_least", "at_most", "equals"}
_MEASURE_KEYS = {
    "evaluate": {"task", "options", "config", "fidelity", "seed", "field"},
    "optimum": {"task", "options"},
    "trials": {"statistic", "column", "where", "task", "runner"},
}


class ClaimError(ValueError):
    """A manifest is invalid; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Source:
    kind: str
    citation: str
    url: str | None = None
    where: str | None = None
    year: int | None = None
    quote: str | None = None


@dataclass(frozen=True)
class Expectation:
    what: str
    measure: str
    spec: Mapping[str, Any]  # the measure's own keys
    published: float | None = None
    tolerance: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    equals: Any = None

    def describe(self) -> str:
        """The published side, as shown beside the measured value."""
        if self.equals is not None:
            return f"= {self.equals}"
        parts = []
        if self.published is not None:
            parts.append(f"{self.published:.10g}" + (f" ± {self.tolerance:g}" if self.tolerance else ""))
        if self.at_least is not None and self.at_most is not None:
            parts.append(f"in [{self.at_least:.10g}, {self.at_most:.10g}]")
        elif self.at_least is not None:
            parts.append(f"≥ {self.at_least:.10g}")
        elif self.at_most is not None:
            parts.append(f"≤ {self.at_most:.10g}")
        return ", ".join(parts)

    def holds(self, measured: Any) -> bool:
        if self.equals is not None:
            return measured == self.equals
        if not isinstance(measured, (int, float)) or isinstance(measured, bool) or math.isnan(measured):
            return False
        ok = True
        if self.published is not None:
            ok &= abs(measured - self.published) <= (self.tolerance or 0.0)
        if self.at_least is not None:
            ok &= measured >= self.at_least
        if self.at_most is not None:
            ok &= measured <= self.at_most
        return bool(ok)


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    source: Source
    expectations: tuple[Expectation, ...]
    known_verdict: str
    setting: Mapping[str, Any] | None = None
    notes: str = ""
    path: Path | None = None


@dataclass
class ExpectationResult:
    expectation: Expectation
    measured: Any = None
    holds: bool = False
    error: str | None = None


@dataclass
class ClaimResult:
    claim: Claim
    expectations: list[ExpectationResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error is not None or any(e.error for e in self.expectations):
            return ERROR
        return REPLICATED if all(e.holds for e in self.expectations) else NOT_REPLICATED

    @property
    def as_known(self) -> bool:
        return self.verdict == self.claim.known_verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.claim.id, "title": self.claim.title, "verdict": self.verdict,
            "known_verdict": self.claim.known_verdict, "seconds": self.seconds, "error": self.error,
            "source": dataclasses.asdict(self.claim.source),
            "expectations": [{"what": e.expectation.what, "published": e.expectation.describe(),
                              "measured": e.measured, "holds": e.holds, "error": e.error}
                             for e in self.expectations],
        }


# ----------------------------------------------------------------------------- parsing

def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str, source: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ClaimError(f"{source}: {where}: unknown key(s) {', '.join(unknown)} "
                         f"(allowed: {', '.join(sorted(allowed))})")


def _number(value: Any, where: str, source: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ClaimError(f"{source}: {where}: must be a finite number, got {value!r}")
    return float(value)


def parse_claim(data: Mapping[str, Any], source: str = "<claim>", path: Path | None = None) -> Claim:
    _check_keys(data, {"claim", "source", "setting", "expect"}, "top level", source)
    head = data.get("claim")
    if not isinstance(head, Mapping):
        raise ClaimError(f"{source}: missing [claim] table with id, title and known_verdict")
    _check_keys(head, _CLAIM_KEYS, "claim", source)
    for key in ("id", "title"):
        if not isinstance(head.get(key), str) or not head[key].strip():
            raise ClaimError(f"{source}: claim.{key} must be a non-empty string")
    known = head.get("known_verdict")
    if known not in VERDICTS:
        raise ClaimError(f"{source}: claim.known_verdict must be one of {', '.join(VERDICTS)}, got {known!r}")
    src = data.get("source")
    if not isinstance(src, Mapping):
        raise ClaimError(f"{source}: missing [source] table: every claim names its source")
    _check_keys(src, _SOURCE_KEYS, "source", source)
    if src.get("kind") not in SOURCE_KINDS:
        raise ClaimError(f"{source}: source.kind must be one of {', '.join(SOURCE_KINDS)}")
    if not isinstance(src.get("citation"), str) or not src["citation"].strip():
        raise ClaimError(f"{source}: source.citation is required")
    if src["kind"] != "derivation" and not (src.get("url") and src.get("where")):
        raise ClaimError(f"{source}: a published source needs source.url and source.where "
                         "(section, table, page or quoted line)")
    setting = data.get("setting")
    if setting is not None and not isinstance(setting, Mapping):
        raise ClaimError(f"{source}: [setting] must be a table in suite-file form")
    raw = data.get("expect")
    if not isinstance(raw, list) or not raw:
        raise ClaimError(f"{source}: add at least one [[expect]] table")
    expectations = []
    for i, entry in enumerate(raw):
        where = f"expect[{i}]"
        if not isinstance(entry, Mapping):
            raise ClaimError(f"{source}: {where} must be a table")
        measure = entry.get("measure")
        if measure not in MEASURES:
            raise ClaimError(f"{source}: {where}.measure must be one of {', '.join(MEASURES)}")
        _check_keys(entry, {"what", "measure"} | _CRITERIA | _MEASURE_KEYS[measure], where, source)
        if not isinstance(entry.get("what"), str):
            raise ClaimError(f"{source}: {where}.what must describe the number in words")
        if measure == "trials":
            if setting is None:
                raise ClaimError(f"{source}: {where} measures trials, but the claim has no [setting]")
            if entry.get("statistic") not in STATISTICS:
                raise ClaimError(f"{source}: {where}.statistic must be one of {', '.join(STATISTICS)}")
        elif not isinstance(entry.get("task"), str):
            raise ClaimError(f"{source}: {where}.task must name a task")
        if not _CRITERIA & set(entry) - {"tolerance"}:
            raise ClaimError(f"{source}: {where} needs a criterion: published (± tolerance), "
                             "at_least, at_most or equals")
        spec = {k: v for k, v in entry.items() if k in _MEASURE_KEYS[measure]}
        expectations.append(Expectation(
            what=entry["what"], measure=measure, spec=spec,
            published=_number(entry.get("published"), f"{where}.published", source),
            tolerance=_number(entry.get("tolerance"), f"{where}.tolerance", source),
            at_least=_number(entry.get("at_least"), f"{where}.at_least", source),
            at_most=_number(entry.get("at_most"), f"{where}.at_most", source),
            equals=entry.get("equals"),
        ))
    year = src.get("year")
    return Claim(
        id=head["id"], title=head["title"], known_verdict=known, notes=head.get("notes", ""),
        source=Source(src["kind"], src["citation"], src.get("url"), src.get("where"),
                      int(year) if year is not None else None, src.get("quote")),
        expectations=tuple(expectations), setting=setting, path=path,
    )


def load_claim(path: str | Path) -> Claim:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ClaimError(f"{path}: cannot read the manifest: {exc}") from None
    return parse_claim(data, str(path), path)


def claims_folder() -> Path:
    return Path(str(resources.files("tunebench.claims")))


def shipped_claims(ids: Sequence[str] | None = None) -> list[Claim]:
    """The claims shipped with tunebench (``tunebench/claims/*.toml``), by file name; or the named ones."""
    claims = [load_claim(p) for p in sorted(claims_folder().glob("*.toml"))]
    seen: dict[str, Path | None] = {}
    for claim in claims:
        if claim.id in seen:
            raise ClaimError(f"claim id {claim.id!r} appears in {seen[claim.id]} and {claim.path}")
        seen[claim.id] = claim.path
    if not ids:
        return claims
    unknown = sorted(set(ids) - set(seen))
    if unknown:
        import difflib

        hints = [f"{u!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, seen, 1))
                             else "") for u in unknown]
        raise ClaimError(f"unknown claim(s) {', '.join(hints)}; `tunebench claims --list` shows all")
    return [c for c in claims if c.id in set(ids)]


# ----------------------------------------------------------------------------- measuring

def _run_setting(claim: Claim, folder: Path) -> Any:  # -> pd.DataFrame
    import pandas as pd

    from tunebench.suite.run import run_suite
    from tunebench.suite.spec_parse import parse_suite
    from tunebench.suite.store import read_history

    assert claim.setting is not None
    base = claim.path.parent if claim.path is not None else claims_folder()
    spec = parse_suite(claim.setting, source=f"{claim.path or claim.id} [setting]", base_dir=base)
    db = folder / f"{claim.id}.db"
    summary = run_suite(spec, db, progress=False)
    if not summary.ok:
        raise RuntimeError(f"the setting's run failed: {summary.failed_studies}")
    rows = []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        studies = conn.execute("SELECT id, task, runner, repetition, direction FROM studies").fetchall()
        for study_id, task, runner, repetition, direction in studies:
            for r in read_history(conn, study_id):
                row = {"task": task, "runner": runner, "repetition": repetition, "trial": r.number,
                       "direction": direction, "status": str(r.status),
                       "value": math.nan if r.value is None else r.value,
                       "test_value": math.nan if r.test_value is None else r.test_value,
                       "fidelity_spent": r.fidelity_spent}
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

    base = claim.path.parent if claim.path is not None else claims_folder()
    suite = (claim.setting or {}).get("suite", {})
    for plugin in suite.get("plugins", []) if isinstance(suite, Mapping) else []:
        load_plugin_file(base / plugin)


def check_claim(claim: Claim, folder: Path | None = None) -> ClaimResult:
    """Measure every expectation of ``claim`` and return the verdicts (never raises for a claim's
    own failure: that is reported as the claim's error)."""
    from tunebench.registry import make_task

    result = ClaimResult(claim)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tunebench-claim-") as tmp:
        frame = None
        try:
            _load_plugins(claim)
            if claim.setting is not None:
                frame = _run_setting(claim, Path(folder or tmp))
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.seconds = time.perf_counter() - started
            return result
        for expectation in claim.expectations:
            outcome = ExpectationResult(expectation)
            try:
                if expectation.measure == "trials":
                    outcome.measured = _measure_trials(expectation.spec, frame)
                elif expectation.measure == "evaluate":
                    outcome.measured = _measure_evaluate(expectation.spec)
                else:
                    outcome.measured = make_task(expectation.spec["task"],
                                                 expectation.spec.get("options", {})).optimum
                outcome.holds = expectation.holds(outcome.measured)
            except Exception as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
            result.expectations.append(outcome)
    result.seconds = time.perf_counter() - started
    return result


def check_claims(claims: Sequence[Claim]) -> list[ClaimResult]:
    return [check_claim(c) for c in claims]


__all__ = [
    "ERROR", "NOT_REPLICATED", "REPLICATED", "Claim", "ClaimError", "ClaimResult", "Expectation",
    "ExpectationResult", "Source", "check_claim", "check_claims", "claims_folder", "load_claim",
    "parse_claim", "shipped_claims",
]
