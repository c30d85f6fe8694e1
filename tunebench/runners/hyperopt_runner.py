"""hyperopt runners: TPE, annealing and random search, driven without ``fmin``.

hyperopt has no public ask/tell, so the runner does what ``fmin`` does inside, one trial at a time
and in the harness's hands: new trial ids from ``Trials``, the algorithm's
``suggest(new_ids, domain, trials, seed)`` with a seed drawn from the runner's seeded generator
(as ``fmin`` draws one per iteration), the returned document inserted as a pending trial; on tell
the document gets its result (``status: ok`` with the loss, or ``status: fail``) and state DONE.
No thread and no objective call: ``Domain`` is built around a placeholder function.

Conditional spaces use hyperopt's native nesting (see :mod:`tunebench.runners.hyperopt_space`):
a categorical parent becomes an ``hp.choice`` of one dictionary per choice, holding the parameters
that can be active in that branch.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from hyperopt import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    STATUS_FAIL,
    STATUS_OK,
    Domain,
    Trials,
    anneal,
    rand,
    tpe,
)

from tunebench.runners.adapter import LibraryRunner, check_int, check_number
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, RunnerError
from tunebench.runners.hyperopt_space import HyperoptSpace
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space

logging.getLogger("hyperopt").setLevel(logging.WARNING)

Suggest = Callable[..., list[dict[str, Any]]]


def _never_called(config: Any) -> float:  # pragma: no cover - the harness evaluates, not hyperopt
    raise RuntimeError("tunebench drives hyperopt by ask/tell; the objective is never called here")


class HyperoptRunner(LibraryRunner):
    """Shared hyperopt adapter; a subclass passes its ``suggest`` function to :meth:`_open`."""

    def _open(self, suggest: Suggest) -> None:
        self._encoding = HyperoptSpace(self.space)
        self._domain = Domain(_never_called, self._encoding.expression)
        self._trials = Trials()
        self._suggest = suggest
        self._rstate = np.random.default_rng(self.seed)

    def _ask(self) -> tuple[Config, int]:
        tid = self._trials.new_trial_ids(1)
        self._trials.refresh()
        seed = int(self._rstate.integers(2**31 - 1))
        docs = self._suggest(tid, self._domain, self._trials, seed)
        self._trials.insert_trial_docs(docs)
        self._trials.refresh()
        return self._encoding.decode(self._doc(tid[0])["misc"]["vals"]), tid[0]

    def _doc(self, tid: int) -> dict[str, Any]:
        for doc in reversed(self._trials._dynamic_trials):
            if doc["tid"] == tid:
                return doc
        raise KeyError(tid)  # pragma: no cover - every handle is a tid this runner inserted

    def _tell(self, handle: int, config: Config, outcome: Outcome) -> None:
        doc = self._doc(handle)
        doc["state"] = JOB_STATE_DONE
        doc["result"] = self._result(outcome)
        self._trials.refresh()

    def _result(self, outcome: Outcome) -> dict[str, Any]:
        loss = self.loss(outcome)
        return {"status": STATUS_FAIL} if loss is None else {"status": STATUS_OK, "loss": loss}

    def _discard(self, handle: int) -> None:
        self._doc(handle)["state"] = JOB_STATE_ERROR  # hidden from every algorithm
        self._trials.refresh()

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        tid = self._trials.new_trial_ids(1)[0]
        idxs, vals = self._encoding.encode(config, tid)
        misc = {"tid": tid, "cmd": self._domain.cmd, "workdir": self._domain.workdir,
                "idxs": idxs, "vals": vals}
        docs = self._trials.new_trial_docs([tid], [None], [self._result(outcome)], [misc])
        docs[0]["state"] = JOB_STATE_DONE
        self._trials.insert_trial_docs(docs)
        self._trials.refresh()

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        return HyperoptSpace(space).translation()


def _caps(family: str, notes: str = "") -> Capabilities:
    return Capabilities(library="hyperopt", family=family, batch=True, notes=notes)


class HyperoptTPE(HyperoptRunner):
    name = "hyperopt.tpe"
    description = "hyperopt TPE (Tree-structured Parzen Estimator, tree-structured spaces)"
    capabilities = _caps("TPE", "the first n_startup_jobs trials are random")

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, n_startup_jobs: int = 20,
                 n_ei_candidates: int = 24, gamma: float = 0.25) -> None:
        super().__init__(space, direction, seed, budget_info)
        if not 0 < check_number("gamma", gamma) < 1:
            raise RunnerError(f"option gamma must lie in (0, 1), got {gamma!r}")
        self._open(functools.partial(
            tpe.suggest, n_startup_jobs=check_int("n_startup_jobs", n_startup_jobs, 0),
            n_EI_candidates=check_int("n_ei_candidates", n_ei_candidates, 1),
            gamma=float(gamma), verbose=False,
        ))


class HyperoptAnneal(HyperoptRunner):
    name = "hyperopt.anneal"
    description = "hyperopt simulated annealing around the best trials so far"
    capabilities = _caps("annealing")

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, avg_best_idx: float = 2.0,
                 shrink_coef: float = 0.1) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._open(functools.partial(
            anneal.suggest, avg_best_idx=check_number("avg_best_idx", avg_best_idx, 0),
            shrink_coef=check_number("shrink_coef", shrink_coef, 0),
        ))


class HyperoptRandom(HyperoptRunner):
    name = "hyperopt.rand"
    description = "hyperopt random search over the tree-structured space"
    capabilities = _caps("random")

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None) -> None:
        super().__init__(space, direction, seed, budget_info)
        self._open(rand.suggest)


_ATPE_WHY = ("hyperopt 0.3.0's ATPE needs lightgbm (not a tunebench dependency) and ignores the "
             "seed it is given, drawing from Python's and numpy's global generators, so it "
             "cannot be seeded per study or replayed")


class HyperoptATPE(HyperoptRunner):
    name = "hyperopt.atpe"
    description = "hyperopt Adaptive TPE (unavailable here: see the notes)"
    capabilities = Capabilities(library="hyperopt", family="TPE", exact_replay=False,
                                notes="unavailable: " + _ATPE_WHY)
    unavailable: ClassVar[str | None] = _ATPE_WHY


__all__ = ["HyperoptATPE", "HyperoptAnneal", "HyperoptRandom", "HyperoptRunner", "HyperoptTPE"]
