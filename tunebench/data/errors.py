"""Errors of the data layer: each says what is wrong and which command or file fixes it.

They are :class:`~tunebench.errors.UserError` subclasses (a missing or corrupt data set is a user
error, not a failed trial) — the same base as the task layer's ``TaskError``, which lives above the
data layer and so cannot be its base — and also standard exceptions (``FileNotFoundError`` /
``ValueError``), so every command's ``user_errors()`` reports them as one line.
"""

from __future__ import annotations

from tunebench.errors import UserError


class DataError(UserError):
    """Something is wrong with a data set."""


class DataMissingError(DataError, FileNotFoundError):
    """A data set is not on this machine; the message names the command that fetches it."""


class ChecksumError(DataError, ValueError):
    """A file's sha256 is not the pinned or expected one (corrupt, truncated or a different file)."""


class DataFormatError(DataError, ValueError):
    """A file is not in the format its loader reads (bad IDX header, missing CSV column, …)."""


class FetchError(DataError, RuntimeError):
    """``tunebench data fetch`` could not download a pinned data package."""
