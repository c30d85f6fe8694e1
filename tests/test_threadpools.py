"""Thread pools are found once per set of imported modules, and limits are set and restored."""

from __future__ import annotations

import sys
import types

import numpy  # noqa: F401 - loads numpy's BLAS, the pool these tests limit

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
