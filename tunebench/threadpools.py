"""The process's native thread pools (BLAS, OpenMP), found once and reused.

threadpoolctl finds pools by walking every loaded shared library, about 2 ms a time; each study
limited its pools and then described them, so a suite of short studies paid that walk several
times per study. The walk is redone when the process may have gained a library since the last
one: more modules imported, or (on Linux, where counting them is cheap) more shared objects loaded,
which also catches a library loaded through ctypes or a lazy dlopen.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
from contextlib import AbstractContextManager
from typing import Any

_lock = threading.Lock()
_controller: Any = None
_seen: tuple[int, int | None] = (-1, None)

_PHDR_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


@functools.cache
def _process_symbols() -> Any:
    """The process's own symbol table (where ``dl_iterate_phdr`` lives), opened once."""
    return ctypes.CDLL(None)


def _count_shared_objects() -> int | None:
    """How many shared objects the process has loaded (Linux; None where it is not counted)."""
    if not sys.platform.startswith("linux"):
        return None
    count = 0

    def one_more(info: Any, size: int, data: Any) -> int:
        nonlocal count
        count += 1
        return 0

    try:
        _process_symbols().dl_iterate_phdr(_PHDR_CALLBACK(one_more), None)
    except (AttributeError, OSError):
        return None
    return count


def _reset_after_fork() -> None:
    """A forked child starts with a free lock (the parent's may have been held mid-walk)."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def controller() -> Any:
    """threadpoolctl's ThreadpoolController for the libraries loaded now."""
    global _controller, _seen
    with _lock:
        now = (len(sys.modules), _count_shared_objects())
        if _controller is None or now != _seen:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
            _seen = (len(sys.modules), _count_shared_objects())  # threadpoolctl may import
        return _controller


def limit_threads(threads: int) -> AbstractContextManager[Any]:
    """Limit every pool to ``threads`` inside the ``with`` block, restoring each one after it."""
    return controller().limit(limits=threads)


def pool_info() -> list[dict[str, Any]]:
    """threadpoolctl's description of each pool, with its current thread count."""
    return controller().info()
