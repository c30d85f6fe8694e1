"""Bayesmark's published random-search baseline (the BBO challenge 2020's), shipped as data.

The data is the BBO-challenge starter kit's ``input/baseline-16-8.json`` (commit and hashes in the
shipped file, ``tunebench/data/bayesmark_baseline_16x8.json``): random search at 16 iterations of
batches of 8 on every problem, as ``bayesmark-baseline`` summarised it. Per problem and objective
(the visible cross-validation loss, and the held-out ``generalization`` loss) it holds the expected
best loss after each batch (``mean``, every evaluation first clipped at ``clip``), the median best
loss (``median``), ``clip`` (the median loss of one random evaluation) and ``best`` (the best any
optimiser reached). The file states no spread.

Studies are scored against it by :mod:`tunebench.reports.bayesmark_published` (Bayesmark's
normalised mean score, its ``docs/scoring.rst``). Cite: Turner et al. 2021, PMLR 133 (see
:mod:`tunebench.tasks.bayesmark`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["BATCH_SIZE", "ITERATIONS", "Baseline", "baseline", "baseline_source"]

BATCH_SIZE = 8
ITERATIONS = 16
OBJECTIVES = ("visible", "generalization")


@dataclass(frozen=True)
class Baseline:
    """One problem's published random-search numbers for one objective (see the module doc)."""

    mean: tuple[float, ...]
    median: tuple[float, ...]
    clip: float
    best: float
    signature: tuple[float, ...]

    def evaluations(self, iteration: int) -> int:
        """How many evaluations batch ``iteration`` (0-based) closes: 8·(iteration+1)."""
        return BATCH_SIZE * (iteration + 1)


@functools.cache
def _document() -> dict[str, Any]:
    path = resources.files("tunebench.data").joinpath("bayesmark_baseline_16x8.json")
    return json.loads(path.read_text(encoding="utf-8"))


def baseline_source() -> dict[str, str]:
    """Where the numbers come from: repository, path, commit, hashes, citation, licence."""
    return dict(_document()["source"])


def baseline(problem: str, objective: str = "visible") -> Baseline:
    """The published baseline of ``problem`` (``"SVM-wine-nll"``) for ``objective``."""
    from tunebench.tasks.bayesmark import parse_problem

    model, dataset, metric = parse_problem(problem)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    entry = _document()["problems"][f"{model}-{dataset}-{metric}"]
    numbers = entry[objective]
    return Baseline(tuple(numbers["mean"]), tuple(numbers["median"]), float(numbers["clip"]),
                    float(numbers["best"]), tuple(entry["signature"]))
