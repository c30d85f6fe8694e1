"""hyperopt runners: TPE, annealing and random search, driven without ``fmin``.

hyperopt has no public ask/tell, so the runner does what ``fmin`` does inside, one trial at a time
and in the harness's hands: new trial ids from ``Trials``, the algorithm's
``suggest(new_ids, domain, trials, seed)`` with a seed drawn from the runner's seeded generator
(as ``fmin`` draws one per iteration), the returned document inserted as a pending trial; on tell
the document gets its result (``status: ok`` with the loss, or ``status: fail``) and state DONE.
No thread and no objective call: ``Domain`` is built around a placeholder function.

A runner is its algorithm at hyperopt's defaults: every keyword of ``tpe.suggest`` /
``anneal.suggest`` (hyperopt 0.3's names: ``n_startup_jobs``, ``n_EI_candidates``, ``gamma``,
``prior_weight``, ``avg_best_idx``, ``shrink_coef``, …) is an option, validated against the
function's signature; an unset one is left to hyperopt, and the values in effect are recorded.

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
from hyperopt.anneal import AnnealingAlgo

from tunebench.runners.adapter import LibraryRunner
from tunebench.runners.base import BudgetInfo, Capabilities, Outcome, RunnerError
from tunebench.runners.hyperopt_space import HyperoptSpace
from tunebench.runners.library_options import LibraryOptions, at_least, inside
from tunebench.runners.translation import ParamTranslation
from tunebench.space import Config, Direction, Space

logging.getLogger("hyperopt").setLevel(logging.WARNING)

Suggest = Callable[..., list[dict[str, Any]]]


#: What tunebench passes every ``suggest`` itself, as ``fmin`` does.
_RESERVED = {
    "new_ids": "the new trial's id", "domain": "the search space", "trials": "the study's history",
    "seed": "drawn for each trial from the study's generator, as fmin draws it",
}
TPE_OPTIONS = LibraryOptions(tpe.suggest, "hyperopt.tpe.suggest", reserved=_RESERVED, checks={
    "gamma": inside(0, 1), "n_startup_jobs": at_least(0), "n_EI_candidates": at_least(1),
    "prior_weight": at_least(0)})
ANNEAL_OPTIONS = LibraryOptions(anneal.suggest, "hyperopt.anneal.suggest", reserved=_RESERVED,
                                signature_of=AnnealingAlgo.__init__,
                                checks={"avg_best_idx": at_least(0), "shrink_coef": at_least(0)})
RAND_OPTIONS = LibraryOptions(rand.suggest, "hyperopt.rand.suggest", reserved=_RESERVED)


def _never_called(config: Any) -> float:  # pragma: no cover - the harness evaluates, not hyperopt
    raise RuntimeError("tunebench drives hyperopt by ask/tell; the objective is never called here")


class HyperoptRunner(LibraryRunner):
    """Shared hyperopt adapter: ``algorithm`` declares the ``suggest`` function whose keywords are
    the runner's options."""

    algorithm: ClassVar[LibraryOptions | None] = None

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        if self.algorithm is None:
            raise RunnerError(f"runner {self.name!r} declares no hyperopt algorithm (`algorithm`)")
        self._given = self.algorithm.check(options)
        kwargs = self.algorithm.kwargs(self._given)
        target = self.algorithm.target
        self._open(functools.partial(target, **kwargs) if kwargs else target)

    @classmethod
    def accepted_options(cls) -> list[str]:
        return [*super().accepted_options(), *(cls.algorithm.names() if cls.algorithm else [])]

    def resolved_options(self) -> dict[str, Any]:
        return self.algorithm.resolved(self._given) if self.algorithm else {}

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
    algorithm = TPE_OPTIONS


class HyperoptAnneal(HyperoptRunner):
    name = "hyperopt.anneal"
    description = "hyperopt simulated annealing around the best trials so far"
    capabilities = _caps("annealing")
    algorithm = ANNEAL_OPTIONS


class HyperoptRandom(HyperoptRunner):
    name = "hyperopt.rand"
    description = "hyperopt random search over the tree-structured space"
    capabilities = _caps("random")
    algorithm = RAND_OPTIONS


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
