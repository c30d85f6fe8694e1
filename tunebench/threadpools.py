"""The process's native thread pools (BLAS, OpenMP), found once and reused.

threadpoolctl finds pools by walking every loaded shared library, about 2 ms a time; each study
limited its pools and then described them, so a suite of short studies paid that walk several
times per study. The walk is redone only when modules were imported since the last one: an import
is how a new native library (torch's OpenMP, scipy's BLAS) arrives in a Python process.
"""

from __future__ import annotations

import sys
import threading
from contextlib import AbstractContextManager
from typing import Any

_lock = threading.Lock()
_controller: Any = None
_modules_seen = -1


def controller() -> Any:
    """threadpoolctl's ThreadpoolController for the libraries loaded now."""
    global _controller, _modules_seen
    with _lock:
        if _controller is None or len(sys.modules) != _modules_seen:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
            _modules_seen = len(sys.modules)
        return _controller


def limit_threads(threads: int) -> AbstractContextManager[Any]:
    """Limit every pool to ``threads`` inside the ``with`` block, restoring each one after it."""
    return controller().limit(limits=threads)


def pool_info() -> list[dict[str, Any]]:
    """threadpoolctl's description of each pool, with its current thread count."""
    return controller().info()
