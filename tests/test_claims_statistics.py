"""Statistical claims: verdicts checked against independent computations and simulated error rates.

Budget: the whole file runs in about 25 s here (the Branin claim runs 100 × 200 trials, 4–5 s;
the simulations a few seconds each), so nothing is marked slow.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttost_ind
from typer.testing import CliRunner

from tunebench.claims import (
    INCONCLUSIVE,
    NOT_REPLICATED,
    REPLICATED,
    ClaimError,
    check_claim,
    load_claim,
    parse_claim,
)
from tunebench.claims import verdicts as v
from tunebench.cli import app

BRANIN = """
[claim]
id = "{id}"
title = "random search on Branin, 200 evaluations, mean best {mean} ± {sd} (sd, n = {n})"
known_verdict = "{known}"
[source]
kind = "paper"
citation = "a user's reproducibility report"
url = "https://example.org/report"
where = "Table 1"
[setting]
suite = {{ name = "claim-{id}", seed = 0, repetitions = {reps} }}
budget = {{ trials = 200 }}
tasks = [{{ name = "branin" }}]
runners = [{{ name = "random" }}]
[[expect]]
what = "mean best value after 200 evaluations"
measure = "runs"
runner = "random"
published = {{ mean = {mean}, sd = {sd}, n = {n} }}
margin = 0.1
"""


def _write(folder, name, **fields):
    path = folder / f"{name}.toml"
    path.write_text(BRANIN.format(id=name, **fields), encoding="utf-8")
    return path


def _sample(mean: float, sd: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n values with exactly this mean and sample sd."""
    z = rng.normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def test_the_branin_claim_is_replicated_and_the_wrong_one_is_not(tmp_path):
    good = check_claim(load_claim(_write(tmp_path, "good", mean=0.657, sd=0.257, n=100,
                                         known="replicated", reps=100)))
    bad = check_claim(load_claim(_write(tmp_path, "bad", mean=0.911, sd=0.294, n=10,
                                        known="not replicated", reps=100)))
    assert good.verdict == REPLICATED and bad.verdict == NOT_REPLICATED
    measured = good.expectations[0]
    assert measured.verdict.measured.startswith("0.6569 ± 0.263 (n = 100)")
    assert measured.verdict.pvalue < 0.05 and "TOST" in measured.verdict.test
    assert bad.expectations[0].verdict.pvalue < 0.05
    assert good.repetitions == 100 and good.versions["scipy"] == stats.__dict__.get(
        "__version__", good.versions["scipy"])
    assert good.seconds < 30, "100 × 200 Branin trials must stay cheap (4–5 s here)"


def test_tost_from_summaries_equals_statsmodels_on_raw_samples():
    rng = np.random.default_rng(1)
    for m1, s1, n1, m2, s2, n2, margin in [(0.657, 0.263, 100, 0.657, 0.257, 100, 0.1),
                                          (0.657, 0.263, 100, 0.911, 0.294, 10, 0.1),
                                          (91.03, 0.29, 500, 90.93, 0.36, 500, 0.18),
                                          (1.0, 2.0, 7, 1.5, 0.5, 40, 1.0)]:
        x1, x2 = _sample(m1, s1, n1, rng), _sample(m2, s2, n2, rng)
        theirs = ttost_ind(x1, x2, -margin, margin, usevar="unequal")[0]
        assert v.tost_summary(m1, s1, n1, m2, s2, n2, margin) == pytest.approx(theirs, rel=1e-9)


def test_the_summary_verdicts_error_rates_hold_their_level():
    """Simulated: replicated at most α of the time when the true difference is the margin, not
    replicated at most α of the time when there is no difference."""
    rng = np.random.default_rng(7)
    sims, n, margin, sd = 2000, 100, 0.5, 1.0
    at_margin = [v.mean_sd_verdict(rng.normal(margin, sd, n), 0.0, sd, n, margin).outcome
                 for _ in range(sims)]
    no_difference = [v.mean_sd_verdict(rng.normal(0.0, sd, n), 0.0, sd, n, margin).outcome
                     for _ in range(sims)]
    slack = 3 * math.sqrt(0.05 * 0.95 / sims)  # three Monte-Carlo standard errors
    assert at_margin.count(REPLICATED) / sims <= 0.05 + slack
    assert no_difference.count(NOT_REPLICATED) / sims <= 0.05 + slack
    assert no_difference.count(REPLICATED) / sims > 0.85  # and it says replicated (power ≈ 0.94)


def test_the_repetitions_that_would_tell_reach_the_stated_power():
    rng = np.random.default_rng(3)
    need = v.repetitions_needed(0.0, 1.0, 1.0, 400, 0.3)
    assert need is not None and 20 < need < 400
    published = (0.0, 1.0, 400)
    rates = []
    for n in (need, need // 3):
        outcomes = [v.mean_sd_verdict(rng.normal(0.0, 1.0, n), *published, 0.3).outcome
                    for _ in range(1000)]
        rates.append(outcomes.count(REPLICATED) / 1000)
    assert rates[0] >= 0.75 and rates[1] < 0.6  # 80 % power, normal approximation: ±MC error
    assert v.repetitions_needed(0.0, 1.0, 1.0, 5, 0.3) is None  # 5 published runs: never


def test_an_inconclusive_verdict_says_how_many_repetitions_would_tell():
    rng = np.random.default_rng(5)
    verdict = v.mean_sd_verdict(rng.normal(0.0, 1.0, 8), 0.0, 1.0, 400, 0.5)
    assert verdict.outcome == INCONCLUSIVE and verdict.repetitions_needed > 8


def test_threshold_verdict_matches_the_binomial_tail_by_hand():
    values = np.array([0.1] * 46 + [2.0] * 4)  # 46 of 50 below 1
    verdict = v.threshold_verdict(values, below=1.0, fraction=0.8)
    tail = sum(math.comb(50, k) * 0.75 ** k * 0.25 ** (50 - k) for k in range(46, 51))
    assert verdict.outcome == REPLICATED and verdict.pvalue == pytest.approx(tail, rel=1e-9)
    low = v.threshold_verdict(np.array([0.1] * 20 + [2.0] * 30), below=1.0, fraction=0.8)
    assert low.outcome == NOT_REPLICATED


def test_ordering_verdict_matches_an_exact_sign_flip_enumeration():
    rng = np.random.default_rng(11)
    a, b = rng.normal(0.0, 1.0, 10), rng.normal(0.8, 1.0, 10)
    verdict = v.ordering_verdict(a, b, ("A", "B"))
    diff = a - b
    ranks = stats.rankdata(np.abs(diff))
    observed = ranks[diff > 0].sum()  # W+: small when A (lower) is better
    flips = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in
             product((0, 1), repeat=10)]
    exact = np.mean(np.array(flips) <= observed)
    assert verdict.outcome == REPLICATED and verdict.pvalue == pytest.approx(exact, rel=1e-9)
    flipped = v.ordering_verdict(b, a, ("B", "A"))
    assert flipped.outcome == NOT_REPLICATED


def test_a_users_claim_folder_runs_from_the_command_line(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    _write(folder, "branin-mean", mean=0.657, sd=0.257, n=100, known="replicated", reps=100)
    result = CliRunner().invoke(app, ["claims", str(folder), "--json", str(tmp_path / "r.json"),
                                      "--format", "table"])  # a pipe would get plain lines
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "TOST" in out and "replicated" in out and "p = 0.00359" in out  # the table wraps
    assert "d = -0.0001064" in out and "scipy" in out
    import json

    (record,) = json.loads((tmp_path / "r.json").read_text())
    verdict = record["expectations"][0]["verdict"]
    assert record["verdict"] == REPLICATED and 0 <= verdict["pvalue"] < 0.05
    assert verdict["published"] == "0.657 ± 0.257 (sd, n = 100)"
    assert verdict["measured"] == "0.6569 ± 0.263 (n = 100)"
    assert record["versions"]["tunebench"] and record["repetitions"] == 100


def test_growing_repetitions_runs_only_the_new_ones(tmp_path):
    claim = load_claim(_write(tmp_path, "grow", mean=0.657, sd=0.257, n=100, known="replicated",
                              reps=4))
    store = tmp_path / "store"
    store.mkdir()
    first = check_claim(claim, store)
    grown = check_claim(claim, store, repetitions=10)
    again = check_claim(claim, store, repetitions=10)
    assert (first.studies_run, grown.studies_run, again.studies_run) == (4, 6, 0)
    assert first.expectations[0].measured.endswith("(n = 4)")
    assert grown.expectations[0].measured.endswith("(n = 10)")
    assert grown.expectations[0].measured == again.expectations[0].measured
    fresh = check_claim(claim, repetitions=10)  # the same ten from nothing: identical numbers
    assert fresh.expectations[0].measured == grown.expectations[0].measured


def test_new_claim_writes_a_manifest_that_runs_as_written(tmp_path):
    runner = CliRunner()
    made = runner.invoke(app, ["new", "claim", "my-claim", "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    path = tmp_path / "my-claim.toml"
    result = check_claim(load_claim(path), repetitions=30)
    assert result.error is None and result.expectations[0].verdict is not None
    again = runner.invoke(app, ["new", "claim", "my-claim", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "--force" in again.output
    assert runner.invoke(app, ["new", "claim", "bad name!", "--dir", str(tmp_path)]).exit_code == 2


def test_statistical_manifest_errors_name_the_file_the_key_and_the_fix(tmp_path):
    base = {
        "claim": {"id": "c", "title": "t", "known_verdict": "replicated"},
        "source": {"kind": "paper", "citation": "A", "url": "https://x", "where": "Table 1"},
        "setting": {"suite": {"name": "s"}, "budget": {"trials": 5}, "tasks": [{"name": "branin"}],
                    "runners": [{"name": "random"}]},
    }
    runs = {"what": "w", "measure": "runs", "runner": "random"}
    for entry, message in [
        ({**runs, "published": {"mean": 1, "sd": 1, "n": 10}}, "margin is required"),
        ({**runs, "published": {"mean": 1, "n": 10}, "margin": 1}, "mean, sd, n"),
        ({**runs, "published": {"mean": 1, "sd": 1, "n": 1}, "margin": 1}, "n must be"),
        ({**runs, "published": 1.0}, "repetition = K"),
        ({**runs, "beats": "grid", "repetition": 0}, "drop it"),
        ({**runs, "threshold": {"below": 1}}, "threshold must be"),
        ({"what": "w", "measure": "optimum", "task": "branin", "beats": "x"}, "measure = \"runs\""),
    ]:
        with pytest.raises(ClaimError, match=message) as caught:
            parse_claim({**base, "expect": [entry]}, "mine.toml")
        assert str(caught.value).startswith("mine.toml: expect[0]")
    broken = tmp_path / "broken.toml"
    broken.write_text('[claim]\nid = "x"\ntitle = "t"\nknown_verdict = "maybe"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["claims", str(broken)])
    assert result.exit_code == 2 and "broken.toml" in result.output
    assert "known_verdict" in result.output and "Traceback" not in result.output
    # A runner the setting does not have is the claim's error, not a crash.
    wrong = parse_claim({**base, "expect": [{**runs, "runner": "optuna.tpe", "beats": "random"}]})
    assert "no trials of runner 'optuna.tpe'" in check_claim(wrong).expectations[0].error


def test_an_exact_expectation_names_one_seeded_run(tmp_path):
    text = BRANIN.format(id="exact", mean=0.657, sd=0.257, n=100, known="replicated", reps=3)
    head, _, _ = text.partition("[[expect]]")
    first = check_claim(parse_claim({**__import__("tomllib").loads(head), "expect": [
        {"what": "rep 0", "measure": "runs", "runner": "random", "repetition": 0,
         "at_most": 10.0}]}))
    value = first.expectations[0].measured
    assert first.verdict == REPLICATED and isinstance(value, float)
    again = check_claim(first.claim)
    assert again.expectations[0].measured == value  # seeded: the same run, bit for bit
    assert again.versions["runner random"]
    note = again.expectations[0].note
    assert note.startswith("repetition 0 of random (random ") and "runner seed " in note


def test_median_iqr_verdict_tells_a_shifted_distribution_from_the_same_one():
    rng = np.random.default_rng(13)
    reference = rng.normal(5.0, 1.0, 4000)
    q1, median, q3 = np.percentile(reference, [25, 50, 75])
    same = v.median_iqr_verdict(rng.normal(5.0, 1.0, 400), median, q3 - q1, 400, margin=0.3)
    shifted = v.median_iqr_verdict(rng.normal(6.0, 1.0, 400), median, q3 - q1, 400, margin=0.3)
    assert same.outcome == REPLICATED and shifted.outcome == NOT_REPLICATED
    assert "IQR" in same.test and same.published.startswith("median")


def test_an_inconclusive_threshold_says_how_many_runs_would_tell():
    values = np.array([0.1] * 9 + [2.0])  # 9 of 10 below 1; claim: at least 80 %
    verdict = v.threshold_verdict(values, below=1.0, fraction=0.8)
    assert verdict.outcome == INCONCLUSIVE
    need = verdict.repetitions_needed
    critical = stats.binom.isf(0.05, need, 0.75)
    assert stats.binom.sf(critical, need, 0.9) >= 0.8  # at that n the test has its power …
    critical = stats.binom.isf(0.05, need // 2, 0.75)
    assert stats.binom.sf(critical, need // 2, 0.9) < 0.8  # … and at half of it, not


def test_the_cli_grows_a_kept_store(tmp_path):
    path = _write(tmp_path, "grow-cli", mean=0.657, sd=0.257, n=100, known="replicated", reps=100)
    store = tmp_path / "runs"
    runner = CliRunner()
    small = runner.invoke(app, ["claims", str(path), "--store", str(store), "--repetitions", "5",
                                "--format", "table"])
    assert small.exit_code == 1 and "inconclusive" in small.output  # as recorded: replicated
    assert "repetitions that would tell" in " ".join(small.output.split()) or \
        "no number of repetitions" in " ".join(small.output.split())
    grown = runner.invoke(app, ["claims", str(path), "--store", str(store), "--format", "table"])
    assert grown.exit_code == 0, grown.output
    assert "(95 studies run now)" in " ".join(grown.output.split())
    assert (store / "grow-cli.db").is_file()


def test_per_repetition_takes_the_anytime_incumbent_in_trial_order():
    import pandas as pd

    from tunebench.claims import per_repetition

    rows = []
    for rep, values in enumerate([[5.0, 3.0, 4.0, 1.0], [2.0, 6.0, 0.5, 7.0]]):
        for trial, value in reversed(list(enumerate(values))):  # stored out of order
            rows.append({"task": "t", "runner": "r", "repetition": rep, "trial": trial,
                         "direction": "minimize", "status": "ok", "value": value,
                         "test_value": -value, "fidelity": 1 + trial % 2})
    frame = pd.DataFrame(rows)
    assert per_repetition(frame, "r")[1].tolist() == [1.0, 0.5]  # final incumbent
    assert per_repetition(frame, "r", at_trial=2)[1].tolist() == [3.0, 2.0]  # after 2 trials
    assert per_repetition(frame, "r", column="test_value")[1].tolist() == [-1.0, -0.5]
    assert per_repetition(frame, "r", where="fidelity == 1")[1].tolist() == [4.0, 0.5]
    maximising = frame.assign(direction="maximize")
    reps, best, sign = per_repetition(maximising, "r", at_trial=3)
    assert best.tolist() == [5.0, 6.0] and sign == -1.0 and reps.tolist() == [0, 1]
