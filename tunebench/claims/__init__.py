"""Published results shipped as checked claims: ``tunebench claims`` reports each as replicated or not.

Each claim is a TOML manifest in this folder (the format is documented in
:mod:`tunebench.claims.claim`): its source, the setting it is measured in, and the expected numbers
with a tolerance or an ordering. :mod:`tunebench.claims.tasks` holds the small tasks the claims'
settings load as a plugin file.
"""

from __future__ import annotations

from tunebench.claims.claim import (
    ERROR,
    NOT_REPLICATED,
    REPLICATED,
    Claim,
    ClaimError,
    ClaimResult,
    Expectation,
    ExpectationResult,
    Source,
    check_claim,
    check_claims,
    claims_folder,
    load_claim,
    parse_claim,
    shipped_claims,
)

__all__ = [
    "ERROR", "NOT_REPLICATED", "REPLICATED", "Claim", "ClaimError", "ClaimResult", "Expectation",
    "ExpectationResult", "Source", "check_claim", "check_claims", "claims_folder", "load_claim",
    "parse_claim", "shipped_claims",
]
