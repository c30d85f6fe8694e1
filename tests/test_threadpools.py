"""Thread pools are found once per set of imported modules, and limits are set and restored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types

import numpy  # noqa: F401 - loads numpy's BLAS, the pool these tests limit
import pytest

from tunebench import threadpools


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpools.pool_info() if pool["user_api"] == "blas"]


def test_a_limit_holds_inside_the_block_and_is_undone_after_it():
    before = _blas_threads()
    assert before, "numpy's BLAS should be visible to threadpoolctl"
    with threadpools.limit_threads(1):
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before


def test_the_library_walk_is_reused_until_a_module_is_imported(monkeypatch):
    first = threadpools.controller()
    assert threadpools.controller() is first  # nothing imported in between: no new walk
    monkeypatch.setitem(sys.modules, "tunebench_test_new_native_module", types.ModuleType("x"))
    after_import = threadpools.controller()
    assert after_import is not first  # an import may have brought a native library
    assert threadpools.controller() is after_import


_LOAD_A_LIBRARY_WITHOUT_AN_IMPORT = """
import ctypes, glob, sys, sysconfig
import numpy
from tunebench import threadpools
first = threadpools.controller()
if "openmp" in [p["internal_api"] for p in threadpools.pool_info()]:
    sys.exit(3)  # OpenMP already loaded here: nothing to show
libraries = glob.glob(sysconfig.get_paths()["purelib"] + "/*/libgomp*.so*")
if not libraries:
    sys.exit(3)
ctypes.CDLL(libraries[0])  # no module imported: only the shared-object count moves
after = threadpools.controller()
assert after is not first, "the cache missed a library loaded through ctypes"
assert "openmp" in [p["internal_api"] for p in threadpools.pool_info()]
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="shared objects are counted on Linux")
def test_a_library_loaded_through_ctypes_is_seen_without_any_import():
    done = subprocess.run([sys.executable, "-c", _LOAD_A_LIBRARY_WITHOUT_AN_IMPORT],
                          capture_output=True, text=True, timeout=120)
    if done.returncode == 3:
        pytest.skip("no separate libgomp to load in this environment")
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_the_cache_is_locked_can_still_use_it():
    with threadpools._lock:  # as if another thread were walking the libraries at the fork
        pid = os.fork()
        if pid == 0:  # the child: would wait forever on the inherited, held lock
            try:
                threadpools.controller()
            finally:
                os._exit(0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child deadlocked on the thread-pool cache's lock")
