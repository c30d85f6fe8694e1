"""Published results as checked claims: ``tunebench claims`` reports each as replicated, not
replicated or inconclusive, with both numbers, the test and its p-value.

Each claim is a TOML manifest (the format is documented in :mod:`tunebench.claims.claim`): its
source, the setting it is measured in, and the expected numbers with a tolerance, an ordering or
a published summary tested statistically (:mod:`tunebench.claims.verdicts`). The shipped ones live
in this folder; a user's own are given by path. :mod:`tunebench.claims.tasks` holds the small tasks
the shipped claims' settings load as a plugin file.
"""

from __future__ import annotations

from tunebench.claims.claim import claims_folder, claims_from_paths, select_claims, shipped_claims
from tunebench.claims.run import ClaimResult, ExpectationResult, check_claim, check_claims, per_repetition
from tunebench.claims.spec import (
    ERROR,
    INCONCLUSIVE,
    NOT_REPLICATED,
    REPLICATED,
    Claim,
    ClaimError,
    Expectation,
    Source,
    load_claim,
    parse_claim,
)

__all__ = [
    "ERROR", "INCONCLUSIVE", "NOT_REPLICATED", "REPLICATED", "Claim", "ClaimError", "ClaimResult",
    "Expectation", "ExpectationResult", "Source", "check_claim", "check_claims", "claims_folder",
    "claims_from_paths", "load_claim", "parse_claim", "per_repetition", "select_claims",
    "shipped_claims",
]
