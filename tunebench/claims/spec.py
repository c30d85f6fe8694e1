"""Claim manifests as data: the dataclasses and the parser (every error names the file, key and fix).

The manifest format is documented in :mod:`tunebench.claims.claim`.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPLICATED = "replicated"
NOT_REPLICATED = "not replicated"
INCONCLUSIVE = "inconclusive"
ERROR = "error"
VERDICTS = (REPLICATED, NOT_REPLICATED, INCONCLUSIVE)
SOURCE_KINDS = ("paper", "textbook", "documentation", "repository", "website", "derivation")
MEASURES = ("evaluate", "optimum", "trials", "runs")
STATISTICS = ("min", "max", "count", "best")
#: ``runs`` criteria: how a published summary is stated (see :mod:`tunebench.claims.verdicts`).
SUMMARIES = {"mean": {"mean", "sd", "n"}, "median": {"median", "iqr", "n"}}

_CLAIM_KEYS = {"id", "title", "known_verdict", "notes", "budget_note"}
_SOURCE_KEYS = {"kind", "citation", "url", "where", "year", "quote", "numbers_from"}
_CRITERIA = {"published", "tolerance", "at_least", "at_most", "equals", "threshold", "beats"}
_RUNS_KEYS = {"runner", "task", "at_trial", "column", "where", "scale", "offset", "repetition",
              "margin", "alpha"}
_MEASURE_KEYS = {
    "evaluate": {"task", "options", "config", "fidelity", "seed", "field"},
    "optimum": {"task", "options"},
    "trials": {"statistic", "column", "where", "task", "runner"},
    "runs": _RUNS_KEYS,
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
    numbers_from: str | None = None  # where the expected numbers come from, if not ``where``


@dataclass(frozen=True)
class Expectation:
    what: str
    measure: str
    spec: Mapping[str, Any]  # the measure's own keys
    published: Any = None  # a number, or for ``runs`` a summary table (mean/sd/n, median/iqr/n)
    tolerance: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    equals: Any = None
    threshold: Mapping[str, float] | None = None  # {below, fraction}
    beats: str | None = None  # the runner that ``spec["runner"]`` is claimed to beat

    @property
    def statistical(self) -> bool:
        return (self.measure == "runs" and self.spec.get("repetition") is None
                and (isinstance(self.published, Mapping) or self.threshold is not None
                     or self.beats is not None))

    def describe(self) -> str:
        """The published side, as shown beside the measured value."""
        if self.equals is not None:
            return f"= {self.equals}"
        if isinstance(self.published, Mapping):
            p = self.published
            return (f"{p['mean']:.4g} ± {p['sd']:.4g} (sd, n = {p['n']})" if "mean" in p else
                    f"median {p['median']:.4g} [IQR {p['iqr']:.4g}] (n = {p['n']})")
        if self.threshold is not None:
            return f"≥ {self.threshold['fraction']:g} of runs below {self.threshold['below']:g}"
        if self.beats is not None:
            return f"{self.spec['runner']} beats {self.beats}"
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
    budget_note: str = ""  # a reduced budget (e.g. fewer repetitions than the source): said so


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


def _summary(value: Any, where: str, source: str) -> dict[str, float]:
    kind = next((k for k in SUMMARIES if isinstance(value, Mapping) and k in value), None)
    if kind is None or set(value) != SUMMARIES[kind]:
        raise ClaimError(f"{source}: {where}: a published summary is {{ mean, sd, n }} or "
                         f"{{ median, iqr, n }}, got {value!r}")
    out = {k: _number(v, f"{where}.{k}", source) for k, v in value.items()}
    if out["n"] < 2 or out["n"] != int(out["n"]) or out.get("sd", 0) < 0 or out.get("iqr", 0) < 0:
        raise ClaimError(f"{source}: {where}: n must be an integer ≥ 2 and the spread ≥ 0")
    out["n"] = int(out["n"])
    return out  # type: ignore[return-value]


def _parse_runs(entry: Mapping[str, Any], where: str, source: str) -> dict[str, Any]:
    """Check a ``runs`` expectation's keys; return its published value as parsed."""
    if not isinstance(entry.get("runner"), str):
        raise ClaimError(f"{source}: {where}.runner must name the setting's runner whose runs count")
    for key in ("at_trial", "repetition"):
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ClaimError(f"{source}: {where}.{key} must be a non-negative integer, got {value!r}")
    published = entry.get("published")
    statistical = isinstance(published, Mapping) or "threshold" in entry or "beats" in entry
    if statistical and entry.get("repetition") is not None:
        raise ClaimError(f"{source}: {where}: repetition picks one seeded run (an exact "
                         "expectation: published = number); drop it for a statistical one")
    if isinstance(published, Mapping):
        if entry.get("margin") is None:
            raise ClaimError(f"{source}: {where}.margin is required with a published summary: the "
                             "difference you would still call the same result (equivalence margin)")
        return {"published": _summary(published, f"{where}.published", source)}
    if "threshold" in entry:
        t = entry["threshold"]
        if not isinstance(t, Mapping) or set(t) != {"below", "fraction"}:
            raise ClaimError(f"{source}: {where}.threshold must be {{ below = v, fraction = p }}")
        got = {k: _number(v, f"{where}.threshold.{k}", source) for k, v in t.items()}
        if not 0 < got["fraction"] <= 1:
            raise ClaimError(f"{source}: {where}.threshold.fraction must be in (0, 1]")
        return {"threshold": got}
    if "beats" in entry:
        if not isinstance(entry["beats"], str):
            raise ClaimError(f"{source}: {where}.beats must name the other runner")
        return {"beats": entry["beats"]}
    if entry.get("repetition") is None and published is not None:
        raise ClaimError(f"{source}: {where}: a single number needs repetition = K (the seeded run "
                         "it is exact for), or give published = {{ mean, sd, n }}")
    return {}


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
        raise ClaimError(f"{source}: claim.known_verdict must be one of {', '.join(VERDICTS)} (the "
                         f"verdict tunebench reached when the claim was added), got {known!r}")
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
    expectations = [_parse_expectation(entry, f"expect[{i}]", source, setting)
                    for i, entry in enumerate(raw)]
    year = src.get("year")
    return Claim(
        id=head["id"], title=head["title"], known_verdict=known, notes=head.get("notes", ""),
        source=Source(src["kind"], src["citation"], src.get("url"), src.get("where"),
                      int(year) if year is not None else None, src.get("quote"),
                      src.get("numbers_from")),
        expectations=tuple(expectations), setting=setting, path=path,
        budget_note=head.get("budget_note", ""),
    )


def _parse_expectation(entry: Any, where: str, source: str,
                       setting: Mapping[str, Any] | None) -> Expectation:
    if not isinstance(entry, Mapping):
        raise ClaimError(f"{source}: {where} must be a table")
    measure = entry.get("measure")
    if measure not in MEASURES:
        raise ClaimError(f"{source}: {where}.measure must be one of {', '.join(MEASURES)}")
    _check_keys(entry, {"what", "measure"} | _CRITERIA | _MEASURE_KEYS[measure], where, source)
    if not isinstance(entry.get("what"), str):
        raise ClaimError(f"{source}: {where}.what must describe the number in words")
    if measure in ("trials", "runs"):
        if setting is None:
            raise ClaimError(f"{source}: {where} measures {measure}, but the claim has no [setting]")
        if measure == "trials" and entry.get("statistic") not in STATISTICS:
            raise ClaimError(f"{source}: {where}.statistic must be one of {', '.join(STATISTICS)}")
    elif not isinstance(entry.get("task"), str):
        raise ClaimError(f"{source}: {where}.task must name a task")
    if measure != "runs" and {"threshold", "beats"} & set(entry):
        raise ClaimError(f"{source}: {where}: threshold and beats need measure = \"runs\"")
    if not _CRITERIA & set(entry) - {"tolerance"}:
        raise ClaimError(f"{source}: {where} needs a criterion: published (± tolerance, or a "
                         "summary for runs), at_least, at_most, equals, threshold or beats")
    parsed = _parse_runs(entry, where, source) if measure == "runs" else {}
    published = parsed.get("published", entry.get("published"))
    if not isinstance(published, Mapping):
        published = _number(published, f"{where}.published", source)
    for key in ("margin", "alpha", "scale", "offset"):
        _number(entry.get(key), f"{where}.{key}", source)
    spec = {k: v for k, v in entry.items() if k in _MEASURE_KEYS[measure]}
    return Expectation(
        what=entry["what"], measure=measure, spec=spec, published=published,
        tolerance=_number(entry.get("tolerance"), f"{where}.tolerance", source),
        at_least=_number(entry.get("at_least"), f"{where}.at_least", source),
        at_most=_number(entry.get("at_most"), f"{where}.at_most", source),
        equals=entry.get("equals"), threshold=parsed.get("threshold"), beats=parsed.get("beats"),
    )


def load_claim(path: str | Path) -> Claim:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ClaimError(f"{path}: cannot read the manifest: {exc}") from None
    return parse_claim(data, str(path), path)
