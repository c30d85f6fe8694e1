"""Claims: every shipped manifest is valid, names its source and measures to its recorded verdict."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from tunebench.claims import (
    NOT_REPLICATED,
    REPLICATED,
    ClaimError,
    check_claim,
    parse_claim,
    shipped_claims,
)
from tunebench.claims.tasks import DiabetesRidgeLOO, GradientDescentLine
from tunebench.cli import app
from tunebench.tasks.base import EvalContext


@pytest.fixture(scope="module")
def results():
    started = time.perf_counter()
    checked = {c.id: check_claim(c) for c in shipped_claims()}
    return checked, time.perf_counter() - started


def test_every_shipped_claim_measures_to_its_recorded_verdict(results):
    checked, seconds = results
    assert len(checked) >= 16
    for claim_id, result in checked.items():
        assert result.error is None, (claim_id, result.error)
        assert all(e.error is None for e in result.expectations), claim_id
        assert result.as_known, (claim_id, result.verdict, [(e.expectation.what, e.measured)
                                                            for e in result.expectations])
    assert seconds < 120, "claims must stay cheap enough for CI (about 45 s here)"


def test_the_required_claims_are_shipped_and_a_failing_one_says_so(results):
    checked, _ = results
    assert checked["gd-critical-learning-rate"].verdict == REPLICATED
    assert checked["sklearn-ridgecv-diabetes"].verdict == REPLICATED
    assert checked["branin-optimum"].verdict == REPLICATED
    wrong = checked["styblinski-tang-39.16599"]
    assert wrong.verdict == NOT_REPLICATED
    measured = wrong.expectations[0].measured
    assert measured == pytest.approx(-78.3323314, abs=1e-6)  # the published −78.33198 is off


PUBLISHED_COMPARISONS = {
    "bergstra-bengio-2012-random-beats-grid": REPLICATED,
    "li-2018-hyperband-beats-random": REPLICATED,
    "nb201-random-search-cifar10": REPLICATED,
    "nb201-random-search-cifar100": REPLICATED,
    "nb201-random-search-imagenet": NOT_REPLICATED,
    "nb201-rea-beats-random-cifar10": REPLICATED,
}


def test_published_optimiser_comparisons_ship_with_their_verdicts(results):
    checked, _ = results
    for claim_id, verdict in PUBLISHED_COMPARISONS.items():
        result = checked[claim_id]
        claim = result.claim
        assert claim.source.kind == "paper" and claim.source.numbers_from, claim_id
        assert claim.setting and any(e.statistical for e in claim.expectations), claim_id
        assert result.verdict == verdict, (claim_id, [e.measured for e in result.expectations])
        for e in result.expectations:  # both numbers, the test and p in every verdict
            assert e.verdict.published and e.verdict.measured and e.verdict.test, claim_id
            assert 0 <= e.verdict.pvalue <= 1
        if verdict != REPLICATED:
            assert "not replicated" in claim.notes.lower(), claim_id  # explained


def test_the_gradient_descent_claim_cites_a_published_threshold():
    (claim,) = shipped_claims(["gd-critical-learning-rate"])
    assert claim.source.kind == "paper" and "2/λ_max" in claim.source.where
    assert "tunebench" not in claim.source.citation.lower()


def test_every_claim_names_its_source_precisely():
    for claim in shipped_claims():
        source = claim.source
        assert source.citation.strip()
        if source.kind != "derivation":
            assert source.url.startswith("http") and source.where, claim.id


def test_the_critical_learning_rate_in_the_manifest_is_the_derived_one():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    hessian = 2 / len(x) * np.array([[x @ x, x.sum()], [x.sum(), len(x)]])
    critical = 2 / np.linalg.eigvalsh(hessian).max()
    assert critical == pytest.approx((17 - math.sqrt(269)) / 5, rel=1e-14)
    (claim,) = shipped_claims(["gd-critical-learning-rate"])
    bounds = [e.at_most or e.at_least for e in claim.expectations if e.measure == "trials"
              and (e.at_most or e.at_least)]
    assert bounds and all(b == pytest.approx(critical, rel=1e-14) for b in bounds)
    task = GradientDescentLine()
    just_below = task.evaluate({"learning_rate": 0.999 * critical}, 1, 0, EvalContext())
    assert just_below.value < task.loss(0.0, 0.0)  # still contracting, if slowly
    with pytest.raises(FloatingPointError, match="diverged"):
        task.evaluate({"learning_rate": 1.001 * critical}, 1, 0, EvalContext())


def test_the_ridge_task_scores_exactly_as_ridgecv():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge, RidgeCV

    x, y = load_diabetes(return_X_y=True)
    alphas = [1e-3, 1e-2, 1e-1, 1.0]
    reference = RidgeCV(alphas=alphas, store_cv_results=True).fit(x, y)
    task = DiabetesRidgeLOO(alphas)
    for i, alpha in enumerate(alphas):
        result = task.evaluate({"alpha": alpha}, 1, 0, EvalContext())
        assert result.value == pytest.approx(reference.cv_results_[:, i].mean(), rel=1e-10)
        assert result.extra["r2"] == pytest.approx(Ridge(alpha=alpha).fit(x, y).score(x, y), rel=1e-12)
    best = min(alphas, key=lambda a: task.evaluate({"alpha": a}, 1, 0, EvalContext()).value)
    assert best == reference.alpha_ == 0.01


def test_manifest_errors_name_the_file_and_key():
    good = {
        "claim": {"id": "c", "title": "t", "known_verdict": "replicated"},
        "source": {"kind": "paper", "citation": "A. B. (2020)", "url": "https://x", "where": "Table 1"},
        "expect": [{"what": "w", "measure": "optimum", "task": "branin", "published": 0.397887,
                    "tolerance": 1e-6}],
    }
    assert parse_claim(good, "m.toml").id == "c"
    for broken, message in [
        ({**good, "source": {"kind": "paper", "citation": "A"}}, "source.url"),
        ({**good, "claim": {**good["claim"], "known_verdict": "maybe"}}, "known_verdict"),
        ({**good, "expect": [{"what": "w", "measure": "trials", "statistic": "min", "at_least": 0}]},
         "no \\[setting\\]"),
        ({**good, "expect": [{"what": "w", "measure": "optimum", "task": "branin"}]}, "criterion"),
        ({**good, "expect": [{"what": "w", "measure": "optimum", "task": "b", "equals": 1, "x": 2}]},
         "unknown key"),
    ]:
        with pytest.raises(ClaimError, match=message):
            parse_claim(broken, "m.toml")
    with pytest.raises(ClaimError, match="did you mean"):
        shipped_claims(["branin-optimun"])


def test_the_cli_lists_checks_and_sets_the_exit_code():
    runner = CliRunner()
    listed = runner.invoke(app, ["claims", "--list"])
    assert listed.exit_code == 0 and "gd-critical-learning-rate" in listed.output
    one = runner.invoke(app, ["claims", "branin-optimum"])
    assert one.exit_code == 0 and "replicated" in one.output
    # A claim that does not replicate, as recorded: exit 0 normally, 1 under --strict.
    wrong = runner.invoke(app, ["claims", "styblinski-tang-39.16599"])
    assert wrong.exit_code == 0 and "not replicated" in wrong.output
    assert runner.invoke(app, ["claims", "styblinski-tang-39.16599", "--strict"]).exit_code == 1
    assert runner.invoke(app, ["claims", "nope"]).exit_code == 2


def test_the_cli_prints_verdicts_for_machines_and_pipes():
    runner = CliRunner()
    listed = runner.invoke(app, ["claims", "--list", "--format", "json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert {r["id"] for r in rows} >= {"branin-optimum", "gd-critical-learning-rate"}
    assert all(set(r) == {"id", "title", "source", "recorded_verdict"} for r in rows)

    checked = runner.invoke(app, ["claims", "branin-optimum", "--format", "json"])
    assert checked.exit_code == 0
    (result,) = json.loads(checked.stdout)
    assert result["id"] == "branin-optimum" and result["verdict"] == "replicated"
    table = runner.invoke(app, ["claims", "branin-optimum", "--format", "csv"])
    lines = table.stdout.splitlines()
    assert lines[0].startswith("claim,claim_verdict,as_recorded,expectation,published,measured")
    assert len(lines) == 1 + len(result["expectations"])
    assert all(line.startswith("branin-optimum,replicated,True,") for line in lines[1:])
    plain = runner.invoke(app, ["claims", "branin-optimum"])  # not a terminal: plain lines
    assert [line.split()[:2] for line in plain.stdout.splitlines()] == \
        [["branin-optimum", "replicated"]] * len(result["expectations"])
