"""What nevergrad does behind one optimizer: the algorithms it delegates to, whether the seed
drives them, and two library quirks handled at the edge (warnings and a shared flag; numpy 2.4).

NGOpt and CMA choose an algorithm from the budget and the space, Portfolio runs several and
MetaModel wraps one: :func:`sub_optimizers` walks them all, so a runner can record what ran.
"""

from __future__ import annotations

import builtins
import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import nevergrad as ng
import numpy as np

#: scipy methods nevergrad runs from the parametrization's centre and restarts from their best
#: point: nothing in them is drawn from the seed until their budget is spent.
_SEED_FREE_METHODS = frozenset({"COBYLA", "Nelder-Mead", "SLSQP", "Powell", "BFGS", "L-BFGS-B"})
#: Methods whose runs the seed does not reproduce (``cma.fmin`` without a seed uses the clock).
_CLOCK_SEEDED_METHODS = frozenset({"CmaFmin2"})


@contextmanager
def quiet() -> Iterator[None]:
    """Silence nevergrad's warnings and undo its one known global side effect.

    nevergrad's CMA switches the *shared* configuration object of its variant to fcmaes when it
    meets a one-dimensional problem, which would change every later CMA study in the process.
    """
    flags = [(config, config.fcmaes) for config in _cma_configs()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for config, fcmaes in flags:
            config.fcmaes = fcmaes


@functools.cache
def _cma_configs() -> tuple[Any, ...]:
    from nevergrad.optimization import optimizerlib

    return tuple(value for value in vars(optimizerlib).values()
                 if isinstance(value, optimizerlib.ParametrizedCMA))


def members(optimizer: Any) -> list[Any]:
    """The optimizers ``optimizer`` delegates to: NGOpt's or CMA's choice (made here if not yet),
    a MetaModel's inner optimizer, a portfolio's members."""
    chosen = getattr(optimizer, "optim", None) or getattr(optimizer, "_optim", None)
    return [child for child in [chosen, *getattr(optimizer, "optims", [])]
            if isinstance(child, ng.optimizers.base.Optimizer)]


def sub_optimizers(optimizer: Any) -> Iterator[Any]:
    """An optimizer and every optimizer it delegates to, recursively."""
    yield optimizer
    for child in members(optimizer):
        yield from sub_optimizers(child)


def clock_seeded(optimizer: Any) -> bool:
    """Whether some part of ``optimizer`` draws from a generator the seed does not control
    (nevergrad's CmaFmin2 runs ``cma.fmin``, which seeds itself from the clock)."""
    from nevergrad.optimization.recastlib import _NonObjectMinimizeBase

    return any(isinstance(o, _NonObjectMinimizeBase) and o.method in _CLOCK_SEEDED_METHODS
               for o in sub_optimizers(optimizer))


def seed_free(optimizer: Any) -> bool:
    """Whether ``optimizer`` proposes the same points whatever its seed (within its budget)."""
    from nevergrad.optimization.recastlib import _NonObjectMinimizeBase

    if isinstance(optimizer, _NonObjectMinimizeBase):
        return optimizer.method in _SEED_FREE_METHODS and not optimizer.random_restart
    children = members(optimizer)
    return bool(children) and all(seed_free(m) for m in children)


def _scalar(value: Any) -> float:
    """``float()`` as numpy < 2.4 gave it: a one-element array converts to its element."""
    return builtins.float(np.asarray(value).item() if np.size(value) == 1 else value)


@functools.cache
def metamodel_on_numpy2() -> bool:
    """nevergrad 1.0.12's MetaModel calls ``float()`` on its surrogate's one-element prediction,
    which numpy >= 2.4 refuses (TypeError, part-way through a study). Where numpy refuses, that
    one module's ``float`` is given the conversion numpy < 2.4 made: the same numbers, no crash.
    Returns whether the shim was needed (recorded)."""
    try:
        builtins.float(np.zeros(1))  # type: ignore[arg-type]
        return False
    except TypeError:
        from nevergrad.optimization import metamodel

        metamodel.float = _scalar  # type: ignore[attr-defined]
        return True


def uses_metamodel(optimizer: Any) -> bool:
    from nevergrad.optimization.optimizerlib import _MetaModel

    return any(isinstance(o, _MetaModel) for o in sub_optimizers(optimizer))


__all__ = ["clock_seeded", "members", "metamodel_on_numpy2", "quiet", "seed_free",
           "sub_optimizers", "uses_metamodel"]
