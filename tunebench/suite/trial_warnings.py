"""Warnings raised while a trial is evaluated, kept with the trial instead of printed.

A numpy overflow or a library's deprecation notice printed mid-run tears through the progress
display (a worker process writes straight to the terminal) and is lost when the run ends. Inside
:func:`trial_warnings` the warnings of this thread's evaluation are collected instead — under the
interpreter's own filters, so ``-W error`` or an ``ignore`` filter still rule — and the study loop
stores them in the trial's ``extra["warnings"]``: ``Category: message (file:line)``, each distinct
warning once, at most :data:`KEPT` of them.

Python shows a warning once per place in the code and process. Entering the block makes each
trial see its warnings again (a filter that changes nothing is re-added, which resets the
once-per-place registries), so every trial that overflows says so, not only the first.

The optimiser's warnings (scipy's COBYLA inside nevergrad, a GP fit at its bounds) are raised in
the runner's ``ask`` and ``tell``: the study loop keeps those of a trial's ask and tell in its
``extra["runner_warnings"]``, apart from the evaluation's, and silences them when a resume
replays stored trials (they were kept with those trials). Warnings raised anywhere else (a
runner's construction) are shown as before.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

#: How many distinct warnings one trial keeps (a loop warning on every step says so once).
KEPT = 20
#: Longest message kept, in characters.
LONGEST = 300

_local = threading.local()
_shown_before: Any = None  # what showed warnings before the hook was put in place
#: Whether a warning was shown since the once-per-place memory was last reset: only then does a
#: trial need it reset (a trial without warnings costs a flag test, not a filter rebuild).
_dirty = True


def _show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
          file: Any = None, line: str | None = None) -> None:
    global _dirty
    _dirty = True
    caught: list[str] | None = getattr(_local, "caught", None)
    if caught is None:
        _shown_before(message, category, filename, lineno, file, line)
        return
    text = str(message).strip().replace("\n", " ")
    if len(text) > LONGEST:
        text = text[:LONGEST - 1] + "…"
    entry = f"{category.__name__}: {text} ({os.path.basename(filename)}:{lineno})"
    if entry not in caught and len(caught) < KEPT:
        caught.append(entry)


def _install() -> None:
    """Route shown warnings through :func:`_show` (again, if something replaced it since: pytest
    and ``warnings.catch_warnings`` put their own in place and restore the one they found)."""
    global _shown_before, _dirty
    if warnings.showwarning is not _show:
        _shown_before = warnings.showwarning
        warnings.showwarning = _show
        _dirty = True


class trial_warnings:
    """Collect the warnings this thread shows inside the block into the list ``as`` gives.

    A class rather than a generator: it runs on every trial."""

    __slots__ = ("caught", "outer")

    def __enter__(self) -> list[str]:
        global _dirty
        if warnings.showwarning is not _show:
            _install()
        if _dirty:  # no new rule; resets the once-per-place memory
            warnings.filterwarnings("default", append=True)
            _dirty = False
        self.outer = getattr(_local, "caught", None)
        self.caught: list[str] = []
        _local.caught = self.caught
        return self.caught

    def __exit__(self, *exc: Any) -> None:
        _local.caught = self.outer


def keep_warnings(extra: dict[str, Any], caught: list[str], key: str = "warnings") -> None:
    """Add a trial's warnings (if any) to its ``extra[key]``, after those already there, each
    distinct one once."""
    if caught:
        kept = list(extra.get(key, ()))
        extra[key] = [*kept, *(w for w in dict.fromkeys(caught) if w not in kept)][:KEPT]
