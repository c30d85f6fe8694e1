"""Claim manifests (TOML): a published result in; replicated / not replicated / inconclusive out.

A manifest states one published result and how tunebench measures it::

    [claim]
    id = "branin-optimum"                 # unique, used on the command line
    title = "…"                           # the result in one line
    known_verdict = "replicated"          # the verdict tunebench reached when the claim was added:
                                          # a regression check (CI notices a change), not evidence
    notes = "…"                           # optional: anything a reader must know
    budget_note = "…"                     # optional: how the budget differs from the source's

    [source]                              # where the result is published — precisely
    kind = "paper"                        # paper | textbook | documentation | repository |
                                          # website | derivation (not a published result)
    citation = "…"                        # authors, title, venue / project and version
    url = "…"
    where = "…"                           # section, table, page or the quoted line
    numbers_from = "…"                    # optional: where each expected number was read
    year = 2013                           # optional
    quote = "…"                           # optional: the printed number(s), verbatim

    [setting]                             # optional: a tunebench suite (suite-file tables), run
    suite = { name = "…", seed = 0, repetitions = 100 }   # through the harness
    budget = { trials = 200 }
    tasks = [{ name = "branin" }]
    runners = [{ name = "random" }]

    [[expect]]                            # one or more: each measures one number
    what = "…"
    measure = "evaluate"                  # evaluate | optimum | trials | runs
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
- ``runs`` — one number per repetition of ``runner`` (and ``task``, if the setting has several):
  ``column`` (value or test_value) of its best trial, over all trials (the final incumbent) or the
  first ``at_trial`` (anytime, at that budget), among trials matching ``where`` (a pandas query,
  e.g. ``fidelity == 27``); shown as ``offset + scale·column`` (e.g. accuracy
  in % from 1 − accuracy: scale = -100, offset = 100). Criteria (tests in
  :mod:`tunebench.claims.verdicts`; ``alpha`` default 0.05):

  - ``published = { mean = m, sd = s, n = k }`` or ``{ median = m, iqr = q, n = k }`` with
    ``margin`` (required: the difference still called the same result) — TOST equivalence;
  - ``threshold = { below = v, fraction = p }`` (``margin`` default 0.05) — binomial;
  - ``beats = "other runner"`` — one-sided Wilcoxon signed-rank, paired by repetition;
  - ``repetition = K`` with ``published``/``tolerance``/``at_most``… — exact, for a seeded single
    run (the verdict names the runner's library and version and the repetition's seed).

A claim is **replicated** when every expectation is, **not replicated** when any is not,
**inconclusive** otherwise (a statistical test could not tell; the verdict says how many
repetitions would); a claim that cannot be measured (a broken manifest, a task that fails to
load) is an **error**. ``tunebench claims`` exits non-zero when a verdict differs from
``known_verdict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from tunebench.claims.spec import Claim, ClaimError, load_claim


def claims_folder() -> Path:
    return Path(str(resources.files("tunebench.claims")))


def shipped_claims(ids: Sequence[str] | None = None) -> list[Claim]:
    """The claims shipped with tunebench (``tunebench/claims/*.toml``), by file name; or the named ones."""
    claims = _unique([load_claim(p) for p in sorted(claims_folder().glob("*.toml"))])
    seen = {c.id for c in claims}
    if not ids:
        return claims
    unknown = sorted(set(ids) - set(seen))
    if unknown:
        import difflib

        hints = [f"{u!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, seen, 1))
                             else "") for u in unknown]
        raise ClaimError(f"unknown claim(s) {', '.join(hints)}; `tunebench claims --list` shows the "
                         "shipped ones; a manifest of your own is given by its path")
    return [c for c in claims if c.id in set(ids)]


def claims_from_paths(paths: Sequence[str | Path]) -> list[Claim]:
    """Claims from manifest files and folders (every ``*.toml`` in a folder, not recursive)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise ClaimError(f"{path}: no claim manifest (*.toml) in this folder; "
                                 "`tunebench new claim NAME` writes one")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ClaimError(f"{path}: no such file or folder (give claim ids, manifest files "
                             "or folders of them)")
    return _unique([load_claim(p) for p in files])


def _unique(claims: list[Claim]) -> list[Claim]:
    seen: dict[str, Path | None] = {}
    for claim in claims:
        if claim.id in seen:
            raise ClaimError(f"claim id {claim.id!r} appears in {seen[claim.id]} and {claim.path}; "
                             "rename one (claim.id)")
        seen[claim.id] = claim.path
    return claims


def select_claims(items: Sequence[str]) -> list[Claim]:
    """``tunebench claims`` arguments: shipped claim ids, or paths (anything that exists, or
    ends in .toml / contains a path separator), in the order given; none: every shipped claim."""
    if not items:
        return shipped_claims()
    as_paths = [i for i in items if Path(i).exists() or i.endswith(".toml") or "/" in i]
    ids = [i for i in items if i not in as_paths]
    return _unique((shipped_claims(ids) if ids else []) + claims_from_paths(as_paths))
