"""HEBO 0.3.6 (Huawei's winner of the NeurIPS 2020 black-box optimisation challenge), by suggest/observe.

The runner is HEBO's own loop: ``HEBO(space, scramble_seed=seed)``, then ``suggest(n_suggestions=1)``
and ``observe(row, [[loss]])`` for each trial; HEBO minimises, so a maximised value is negated; a
failed trial is observed as ``inf``, which HEBO's ``observe`` drops (it keeps finite values only).
Every keyword of ``HEBO.__init__`` other than the space and the seed is an option (``model_name``,
``rand_sample``: the first ``1 + number of parameters`` trials are Sobol points by default, ``es``,
``model_config``), an unset one left to HEBO; the values in effect are recorded.

Seeding, and the process's state. HEBO draws from numpy's and torch's global generators (its
model fit, its choice among the acquisition optimiser's results), and the way its documentation
seeds a run is to seed those. The runner keeps its own copy of both (and of Python's), seeded with
the runner's seed as ``np.random.seed(seed)`` / ``torch.manual_seed(seed)`` would, and swaps them in
around every HEBO call and out again, so a study neither depends on nor disturbs the generators of
the process. HEBO also sets torch to one thread when it is imported; the runner restores the
process's thread count after the import and runs HEBO's calls at HEBO's one thread.

One deviation, needed for a seed to mean anything: HEBO's acquisition optimiser calls pymoo's
``minimize`` without a seed. HEBO 0.3.6 pins pymoo 0.6.0; with pymoo 0.6.2 (installed here, see
the README) an algorithm without a seed draws one from the operating system
(``np.random.default_rng(None)``), so the same seed gave different suggestions from the first
model-based trial on (measured). The runner passes pymoo a seed drawn from HEBO's own numpy
generator on each call (:func:`seeded_pymoo`), which makes the run reproducible; declared in the
notes and in the resolved options.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from tunebench.runners.adapter import LibraryRunner, check_int
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, RunnerError
from tunebench.runners.hebo_library import HEBO, HEBO_THREADS, evolution_optimizer, model_names
from tunebench.runners.hebo_space import decode, design_space, encode, translation
from tunebench.runners.library_options import LibraryOptions, read_back
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space

FAILURE_LOSS = float("inf")
PYMOO_SEED = "a seed drawn from HEBO's numpy generator per acquisition optimisation"


def _model_name(name: str, value: Any) -> None:
    if value not in model_names:
        raise RunnerError(f"option {name} must be one of {', '.join(map(repr, model_names))}, "
                          f"got {value!r}")


def _rand_sample(name: str, value: Any) -> None:
    check_int(name, value, minimum=1)  # HEBO has no annotation; it takes max(2, value)


OPTIONS = LibraryOptions(HEBO, "hebo.optimizers.hebo.HEBO", signature_of=HEBO.__init__,
                         reserved={"space": "the task's space", "scramble_seed": "the runner's seed"},
                         checks={"model_name": _model_name, "rand_sample": _rand_sample})


@contextlib.contextmanager
def seeded_pymoo() -> Iterator[None]:
    """HEBO's acquisition optimiser with pymoo seeded from numpy's global generator (see the
    module docstring); restored afterwards."""
    original = evolution_optimizer.minimize

    def minimize(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("seed", int(np.random.randint(2**31 - 1)))
        return original(*args, **kwargs)

    evolution_optimizer.minimize = minimize
    try:
        yield
    finally:
        evolution_optimizer.minimize = original


class _Generators:
    """Private numpy, torch and Python generator states, swapped in around HEBO's calls."""

    def __init__(self, seed: int) -> None:
        self.numpy = np.random.RandomState(seed).get_state()
        self.torch = torch.Generator().manual_seed(seed).get_state()
        self.python = random.Random(seed).getstate()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        saved = (np.random.get_state(), torch.random.get_rng_state(), random.getstate(),
                 torch.get_num_threads())
        np.random.set_state(self.numpy)
        torch.random.set_rng_state(self.torch)
        random.setstate(self.python)
        torch.set_num_threads(HEBO_THREADS)
        try:
            with seeded_pymoo():
                yield
        finally:
            self.numpy = np.random.get_state()
            self.torch = torch.random.get_rng_state()
            self.python = random.getstate()
            np.random.set_state(saved[0])
            torch.random.set_rng_state(saved[1])
            random.setstate(saved[2])
            torch.set_num_threads(saved[3])


_NOTES = ("HEBO's defaults; the first 1 + number-of-parameters trials are Sobol points; "
          f"tunebench passes pymoo {PYMOO_SEED} (with pymoo 0.6.2 HEBO's run is otherwise seeded "
          "from the OS); numpy/torch/Python generators are the runner's own, swapped in around "
          "each call; conditional parameters flattened (always optimised, dropped when inactive); "
          "failed trials are not learned from (HEBO drops infinite values); asked one at a time "
          "(HEBO's batches come from one suggest call); about 1 s per model-based trial")


class HEBORunner(LibraryRunner):
    """HEBO at its defaults (GP surrogate, MACE acquisition, NSGA-II acquisition optimiser)."""

    name = "hebo"
    description = "HEBO (heteroscedastic evolutionary BO: GP, MACE acquisition ensemble, NSGA-II)"
    capabilities = Capabilities(library="hebo", family="GP-BO", notes=_NOTES)

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._given = OPTIONS.check(options)
        self._generators = _Generators(self.seed)
        with self._generators.active():
            self._hebo = OPTIONS.build(self._given, space=design_space(space),
                                       scramble_seed=self.seed)

    @classmethod
    def accepted_options(cls) -> list[str]:
        return OPTIONS.names()

    def resolved_options(self) -> dict[str, Any]:
        return {**OPTIONS.resolved(self._given, read_back(self._hebo, ["rand_sample"])),
                "scramble_seed": self.seed, "pymoo_seed": PYMOO_SEED,
                "torch_threads": HEBO_THREADS}

    def _ask(self) -> tuple[Config, pd.DataFrame]:
        with self._generators.active():
            rec = self._hebo.suggest(n_suggestions=1)
        row = rec.iloc[[0]].reset_index(drop=True)
        return decode(self.space, row.iloc[0]), row

    def _observe(self, row: pd.DataFrame, outcome: Outcome) -> None:
        loss = self.loss(outcome)
        with self._generators.active():
            self._hebo.observe(row, np.array([[FAILURE_LOSS if loss is None else loss]]))

    def _tell(self, handle: pd.DataFrame, config: Config, outcome: Outcome) -> None:
        self._observe(handle, outcome)

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        self._observe(encode(self.space, config), outcome)

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        return translation(space)


__all__ = ["HEBORunner", "seeded_pymoo"]
