"""Statistical verdicts: a published summary against tunebench's runs → replicated / not / inconclusive.

Every test here reads what a paper prints (mean ± sd over n runs, median [IQR], a fraction, an
ordering) and the per-repetition numbers tunebench measured. Each returns a :class:`Verdict` with
both sides, the test's name, its p-value and, when inconclusive, the repetitions that would tell.

What "replicated" means (failing to reject a difference is not evidence of equality):

- **summary (mean ± sd, n)** — Welch's t from the two summaries, on d = measured − published.
  *Replicated*: the two one-sided tests (TOST) both reject |d| ≥ margin at level α, i.e. the
  (1 − 2α) Welch interval of d lies inside (−margin, margin). *Not replicated*: not equivalent,
  and Welch's two-sided test rejects d = 0 at α. *Inconclusive*: neither. So P(replicated) ≤ α
  when the true |d| ≥ margin, and P(not replicated) ≤ α when d = 0. The margin is the claim's
  own (the difference it would call the same result), never chosen after the fact.
- **median [IQR]** — the same test on medians, with each median's standard error from normal
  asymptotics, 1.2533·σ/√n and σ ≈ IQR/1.349 (exact for normal runs only; said in the verdict).
- **threshold (a fraction ≥ p of runs below v)** — exact binomial tests on k of n runs:
  replicated if the fraction is significantly above p − margin, not replicated if significantly
  below p; repetitions that would tell: exact binomial power at the observed fraction.
- **ordering (A beats B)** — one-sided Wilcoxon signed-rank on per-repetition differences (the
  report's paired test, made one-sided): replicated if A is significantly better, not replicated
  if B is, inconclusive otherwise.

Repetitions that would tell (inconclusive only): the smallest number of tunebench repetitions
for which the test reaches 80 % power, with the published side fixed, assuming the observed
difference and spread are the true ones — for TOST when |d| < margin (to show equivalence),
else for the two-sided difference. Power uses the normal approximation with Welch's degrees of
freedom for the critical value; for the ordering, the t approximation scaled by Wilcoxon's
efficiency 3/π. ``None`` means no count up to 1,000,000 would (the published n alone is too few).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

REPLICATED, NOT_REPLICATED, INCONCLUSIVE = "replicated", "not replicated", "inconclusive"
ALPHA = 0.05
POWER = 0.8
MAX_REPETITIONS = 1_000_000
#: σ ≈ IQR / 1.349 and SE(median) ≈ 1.2533·σ/√n, both for normal samples.
IQR_PER_SD, MEDIAN_SE_FACTOR = 2 * stats.norm.ppf(0.75), math.sqrt(math.pi / 2)


@dataclass(frozen=True)
class Verdict:
    outcome: str
    test: str
    pvalue: float
    published: str
    measured: str
    detail: str = ""
    repetitions_needed: int | None = None


def _welch(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int) -> tuple[float, float]:
    """Standard error and Welch–Satterthwaite degrees of freedom of m1 − m2."""
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    spread = v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1)  # callers ensure n1, n2 ≥ 2
    if spread == 0:
        return 0.0, float(n1 + n2 - 2)
    return math.sqrt(v1 + v2), (v1 + v2) ** 2 / spread


def tost_summary(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int,
                 margin: float) -> float:
    """TOST p-value for |μ1 − μ2| < margin from summaries: the larger of the two one-sided
    Welch p-values, each from :func:`scipy.stats.ttest_ind_from_stats` with a shifted mean."""
    lower = stats.ttest_ind_from_stats(m1, s1, n1, m2 - margin, s2, n2, equal_var=False,
                                       alternative="greater").pvalue
    upper = stats.ttest_ind_from_stats(m1, s1, n1, m2 + margin, s2, n2, equal_var=False,
                                       alternative="less").pvalue
    return float(max(lower, upper))


def _power_tost(d: float, se: float, df: float, margin: float, alpha: float) -> float:
    t = stats.t.ppf(1 - alpha, df)
    return max(0.0, stats.norm.cdf((margin - d) / se - t) + stats.norm.cdf((margin + d) / se - t) - 1)


def _power_difference(d: float, se: float, df: float, alpha: float) -> float:
    return float(stats.norm.cdf(abs(d) / se - stats.t.ppf(1 - alpha / 2, df)))


def repetitions_needed(d: float, sd_ours: float, sd_theirs: float, n_theirs: int, margin: float,
                       alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Smallest n (tunebench's repetitions) giving ``power`` for the test that could decide: TOST
    when |d| < margin, the two-sided difference test otherwise (see the module docstring)."""
    def reaches(n: int) -> bool:
        se, df = _welch(0, sd_ours, n, 0, sd_theirs, n_theirs)
        if se == 0:  # no spread on either side: any count decides
            return True
        got = (_power_tost(d, se, df, margin, alpha) if abs(d) < margin
               else _power_difference(d, se, df, alpha))
        return got >= power

    if not reaches(MAX_REPETITIONS):
        return None
    low, high = 2, MAX_REPETITIONS
    while low < high:  # power grows with n: bisect for the first n that reaches it
        mid = (low + high) // 2
        low, high = (low, mid) if reaches(mid) else (mid + 1, high)
    return low


def _summary_verdict(m: float, s: float, n: int, pm: float, ps: float, pn: int, margin: float,
                     alpha: float, label: str, published: str) -> Verdict:
    if n < 2 or pn < 2:
        raise ValueError(f"a summary test needs at least 2 runs on each side (have {n} and {pn})")
    tost = tost_summary(m, s, n, pm, ps, pn, margin)
    diff_p = float(stats.ttest_ind_from_stats(m, s, n, pm, ps, pn, equal_var=False).pvalue)
    if math.isnan(diff_p):  # both spreads zero: the difference is exact
        diff_p = 1.0 if m == pm else 0.0
        tost = 0.0 if abs(m - pm) < margin else 1.0
    se, df = _welch(m, s, n, pm, ps, pn)
    half = stats.t.ppf(1 - alpha, df) * se
    detail = (f"d = {m - pm:+.4g}, {100 * (1 - 2 * alpha):.0f}% CI [{m - pm - half:.4g}, "
              f"{m - pm + half:.4g}], margin ±{margin:g}; TOST p = {tost:.3g}, "
              f"Welch two-sided p = {diff_p:.3g} (df {df:.1f})")
    test = f"TOST (Welch) on {label}, margin ±{margin:g}, α = {alpha:g}"
    if tost < alpha:
        return Verdict(REPLICATED, test, tost, published, f"{m:.4g} ± {s:.4g} (n = {n})", detail)
    if diff_p < alpha:
        return Verdict(NOT_REPLICATED, test + "; Welch two-sided", diff_p, published,
                       f"{m:.4g} ± {s:.4g} (n = {n})", detail)
    need = repetitions_needed(m - pm, s, ps, pn, margin, alpha)
    return Verdict(INCONCLUSIVE, test, tost, published, f"{m:.4g} ± {s:.4g} (n = {n})", detail, need)


def mean_sd_verdict(values: np.ndarray, mean: float, sd: float, n: int, margin: float,
                    alpha: float = ALPHA) -> Verdict:
    """Published mean ± sd over n runs against tunebench's per-repetition values."""
    v = np.asarray(values, dtype=float)
    return _summary_verdict(float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v),
                            mean, sd, n, margin, alpha, "means",
                            f"{mean:.4g} ± {sd:.4g} (sd, n = {n})")


def median_iqr_verdict(values: np.ndarray, median: float, iqr: float, n: int, margin: float,
                       alpha: float = ALPHA) -> Verdict:
    """Published median [IQR] over n runs: medians compared with normal-asymptotic errors."""
    v = np.asarray(values, dtype=float)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    verdict = _summary_verdict(
        float(med), MEDIAN_SE_FACTOR * float(q3 - q1) / IQR_PER_SD, len(v),
        median, MEDIAN_SE_FACTOR * iqr / IQR_PER_SD, n, margin, alpha, "medians",
        f"median {median:.4g} [IQR {iqr:.4g}] (n = {n})")
    return Verdict(verdict.outcome, verdict.test + " (SE of a median from its IQR, normal runs)",
                   verdict.pvalue, verdict.published,
                   f"median {med:.4g} [IQR {q3 - q1:.4g}] (n = {len(v)})", verdict.detail,
                   verdict.repetitions_needed)


def threshold_verdict(values: np.ndarray, below: float, fraction: float, margin: float = 0.05,
                      alpha: float = ALPHA) -> Verdict:
    """Published 'a fraction ≥ p of runs end below v': exact binomial tests on k of n runs."""
    v = np.asarray(values, dtype=float)
    k, n = int((v < below).sum()), len(v)
    low = max(fraction - margin, 0.0)
    above = float(stats.binomtest(k, n, low, alternative="greater").pvalue) if low > 0 else 0.0
    under = float(stats.binomtest(k, n, fraction, alternative="less").pvalue)
    published = f"≥ {fraction:g} of runs below {below:g}"
    measured = f"{k} of {n} below {below:g} ({k / n:.3g})"
    detail = f"P(fraction ≤ {low:g}) p = {above:.3g}; P(fraction ≥ {fraction:g}) p = {under:.3g}"
    test = f"exact binomial, one-sided, margin {margin:g}, α = {alpha:g}"
    if above < alpha:
        return Verdict(REPLICATED, test, above, published, measured, detail)
    if under < alpha:
        return Verdict(NOT_REPLICATED, test, under, published, measured, detail)
    return Verdict(INCONCLUSIVE, test, min(above, under), published, measured, detail,
                   _runs_for_binomial(k / n, low, alpha) if k / n > low else None)


def _runs_for_binomial(observed: float, low: float, alpha: float) -> int | None:
    """Smallest n at which, if ``observed`` is the true fraction, the one-sided test against
    ``low`` rejects with probability ≥ 80 % (exact binomial power, bisected)."""
    def reaches(m: int) -> bool:
        critical = stats.binom.isf(alpha, m, low)  # reject when k > critical
        return float(stats.binom.sf(critical, m, observed)) >= POWER

    if not reaches(MAX_REPETITIONS):
        return None
    lo, hi = 1, MAX_REPETITIONS
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid + 1, hi)
    return lo


def ordering_verdict(a: np.ndarray, b: np.ndarray, names: tuple[str, str], sign: float = 1.0,
                     alpha: float = ALPHA) -> Verdict:
    """Published 'A beats B': paired by repetition, one-sided Wilcoxon signed-rank each way.
    ``sign`` is +1 when lower is better, −1 when higher is."""
    diff = sign * (np.asarray(a, dtype=float) - np.asarray(b, dtype=float))  # < 0: A better
    n = len(diff)
    a_wins, b_wins = int((diff < 0).sum()), int((diff > 0).sum())
    if a_wins + b_wins == 0:
        p_a = p_b = 1.0
    else:
        p_a = float(stats.wilcoxon(diff, alternative="less").pvalue)
        p_b = float(stats.wilcoxon(diff, alternative="greater").pvalue)
    published = f"{names[0]} beats {names[1]}"
    measured = (f"median difference {np.median(diff) * sign:+.4g}; {names[0]} better in {a_wins}, "
                f"{names[1]} in {b_wins} of {n}")
    test = f"Wilcoxon signed-rank, paired by repetition, one-sided, α = {alpha:g}"
    detail = f"p({names[0]} better) = {p_a:.3g}; p({names[1]} better) = {p_b:.3g}"
    if p_a < alpha:
        return Verdict(REPLICATED, test, p_a, published, measured, detail)
    if p_b < alpha:
        return Verdict(NOT_REPLICATED, test, p_b, published, measured, detail)
    sd = float(diff.std(ddof=1)) if n > 1 else 0.0
    mean = float(diff.mean())
    need = None
    if sd > 0 and mean != 0:  # n with (|mean|/(sd/√n))·√(3/π) − z_α ≥ z_power
        z = (stats.norm.ppf(1 - alpha) + stats.norm.ppf(POWER)) / math.sqrt(3 / math.pi)
        need = max(n, math.ceil((z * sd / abs(mean)) ** 2))
    return Verdict(INCONCLUSIVE, test, min(p_a, p_b), published, measured, detail, need)


__all__ = [
    "ALPHA", "INCONCLUSIVE", "NOT_REPLICATED", "REPLICATED", "Verdict", "mean_sd_verdict",
    "median_iqr_verdict", "ordering_verdict", "repetitions_needed", "threshold_verdict",
    "tost_summary",
]
