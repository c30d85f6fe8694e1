"""Bayesian signed-rank test with a region of practical equivalence (Benavoli et al. 2017).

Where a p-value only says whether two runners can be told apart, this says how probable it is that
one is practically better, that they are practically equivalent (their difference inside the
ROPE), or that the other is better. The posterior over the distribution of per-block differences
is a Dirichlet process with a pseudo-observation at 0 (strength ``prior``); each posterior draw
weighs the Walsh averages ``(z_i + z_j) / 2`` of the differences, and the three probabilities are
the shares of draws in which each region holds the largest mass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The ROPE on the report's scaled losses (0 = best study of the task, 1 = worst): differences
#: under 1% of a task's spread of final values count as practically equivalent.
ROPE = 0.01

#: A probability above this is reported as a decision.
DECISION = 0.95


@dataclass(frozen=True)
class BayesianResult:
    p_a_better: float
    p_equivalent: float
    p_b_better: float

    def decision(self, threshold: float = DECISION) -> str:
        """``a``, ``b``, ``equivalent`` or ``undecided``."""
        probabilities = {"a": self.p_a_better, "equivalent": self.p_equivalent,
                         "b": self.p_b_better}
        name, value = max(probabilities.items(), key=lambda item: item[1])
        return name if value > threshold else "undecided"


def signed_rank(loss_a: np.ndarray, loss_b: np.ndarray, rope: float = ROPE, *,
                prior: float = 0.5, n_samples: int = 20_000, seed: int = 0) -> BayesianResult:
    """Posterior probabilities that ``a`` is better (lower loss), equivalent, or ``b`` better."""
    a, b = np.asarray(loss_a, dtype=float), np.asarray(loss_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("the Bayesian signed-rank test needs two paired 1-D samples")
    if rope < 0:
        raise ValueError(f"the ROPE must be non-negative, not {rope}")
    z = np.r_[0.0, b - a]  # the prior's pseudo-observation first; positive: a has lower loss
    sums = z[:, None] + z[None, :]
    above = _step(sums - 2 * rope)
    below = _step(-sums - 2 * rope)
    rng = np.random.default_rng(seed)
    alpha = np.r_[prior, np.ones(len(a))]
    weights = rng.gamma(alpha, size=(n_samples, len(alpha)))
    weights /= weights.sum(axis=1, keepdims=True)
    mass_a = np.einsum("si,ij,sj->s", weights, above, weights)
    mass_b = np.einsum("si,ij,sj->s", weights, below, weights)
    masses = np.stack([mass_a, 1.0 - mass_a - mass_b, mass_b], axis=1)
    if rope == 0:
        masses[:, 1] = -np.inf  # no equivalence region: only the two sides compete
    shares = np.bincount(masses.argmax(axis=1), minlength=3) / n_samples
    return BayesianResult(float(shares[0]), float(shares[1]), float(shares[2]))


def _step(x: np.ndarray) -> np.ndarray:
    """Heaviside step with 1/2 at 0 (ties split)."""
    return (x > 0).astype(float) + 0.5 * (x == 0)


def pairwise(matrix: pd.DataFrame, rope: float = ROPE, *, seed: int = 0,
             n_samples: int = 20_000) -> pd.DataFrame:
    """The test for every pair of runners (columns) over the blocks (rows) of a loss matrix."""
    runners = list(matrix.columns)
    rows = []
    for i, a in enumerate(runners):
        for b in runners[i + 1:]:
            result = signed_rank(matrix[a].to_numpy(), matrix[b].to_numpy(), rope, seed=seed,
                                 n_samples=n_samples)
            decision = result.decision()
            rows.append({"runner_a": a, "runner_b": b, "p_a_better": result.p_a_better,
                         "p_equivalent": result.p_equivalent, "p_b_better": result.p_b_better,
                         "decision": {"a": a, "b": b}.get(decision, decision)})
    return pd.DataFrame(rows, columns=["runner_a", "runner_b", "p_a_better", "p_equivalent",
                                       "p_b_better", "decision"])
