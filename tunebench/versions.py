"""Installed package versions, looked up once per process.

``importlib.metadata.version`` parses a package's METADATA file on every call (milliseconds);
results, cache keys and resume checks ask for the same few versions on every study.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version


@lru_cache(maxsize=64)
def package_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
