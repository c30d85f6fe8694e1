"""The base of errors the user fixes, shared by every layer without making one import another.

A :class:`UserError` means "what was asked for is wrong or missing" (a bad task option, a data set
not fetched, a corrupt file), and the message says what to change. Each layer derives its own
errors from it — the task layer's ``TaskError``, the data layer's ``DataError`` — so
``except UserError`` catches both while the data layer never imports the task layer above it.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user asked for is wrong or missing; the message names the fix."""
