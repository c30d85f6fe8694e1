"""pycma runner: ``cma.CMAEvolutionStrategy`` through ask/tell, one generation at a time.

Encoding. CMA-ES works on the unit cube ``[0, 1]^d``, one coordinate per parameter in space order,
bounded by pycma's own ``bounds = [0, 1]`` option (its default ``BoundTransform``, so every
solution it returns is inside the box). A coordinate becomes a value through tunebench's own
``Param.from_unit``: linear or log-scale floats, integers rounded to equal-width (or log-width)
cells, a categorical's choices as equal cells along its coordinate (an ordinal relaxation, lossy
and declared). Conditional parameters are always coordinates and dropped when inactive.

CMA has no default start, so the runner declares one (both options, recorded): ``x0`` is the
centre of the box and ``sigma0 = 0.25``, pycma's own advice ("about 1/4th of the search domain
width", ``cma.fmin``'s documentation). Everything else is pycma's default, popsize included
(``4 + 3 ln d``): every key of ``cma.CMAOptions`` is an option, unknown ones refused with a
did-you-mean. tunebench sets ``verbose = -9`` and ``verb_log = 0`` (no console output, no
``outcmaes/`` files: output only, no effect on the search).

Seed. pycma seeds numpy's global generator from its ``seed`` option and draws from it. The runner
passes its own seed, except 0, which pycma reads as "seed from the clock": seed 0 becomes
``2**32 - 1`` (recorded as ``cma_seed``). The global generator's state is swapped in and out around
every pycma call, so runners in one process, and any other user of ``numpy.random``, cannot
disturb one another: a runner proposes what a lone ``cma`` loop with that seed proposes.

Generations. ``ask`` hands out one solution of the current population at a time; results are
buffered and told to pycma together, in population order, once the whole population is told
(pycma's own ``tell`` protocol). So a generation is a batch: with several evaluations in flight the
runner hands out the rest of the population before hearing back, then waits for the generation
to be told (``WaitForResults``), and proposes exactly what it proposes one at a time, in any
order of completion. A failed trial is told as ``nan``, which pycma's ``tell`` replaces
with the population's median (its documented handling). A configuration told in place of a pending
solution (a resumed study that could not replay) takes that solution's slot. When pycma's
termination criteria fire, the runner restarts as ``cma.fmin`` does (``restarts``, default 0 as in
``cma.fmin``; ``incpopsize``, default 2: IPOP; ``bipop``, default false: BIPOP, see
:mod:`tunebench.runners.cma_restarts`), else the study ends as search-exhausted (so does an
``ftarget`` or ``maxfevals`` stop, as in ``cma.fmin``). A restarted run starts from the previous
run's processed options, as ``fmin``'s do. One deviation, declared: ``fmin`` evaluates each run's
final mean once more (``eval_final_mean``); a study's trials are the search's proposals only, as
``fmin`` with a ``parallel_objective`` has them.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import cma
import numpy as np

from tunebench.runners.adapter import LibraryRunner, check_int, check_number
from tunebench.runners.base import (
    BudgetInfo,
    Capabilities,
    Outcome,
    RunnerError,
    SearchExhausted,
    WaitForResults,
)
from tunebench.runners.cma_restarts import RestartPlan
from tunebench.runners.library_options import plain
from tunebench.runners.translation import ParamTranslation, rows
from tunebench.space import Categorical, Config, Direction, Float, Param, Space

SIGMA0 = 0.25  # pycma: "sigma0 should be about 1/4th of the search domain width"
#: Keys tunebench sets itself (not options).
RESERVED = {"bounds": "the unit cube [0, 1] of tunebench's encoding", "seed": "the runner's seed",
            "integer_variables": "integers are cells of the unit cube (pycma's integer handling "
            "assumes unit steps)"}
#: Output settings that differ from pycma's defaults (no effect on the search).
QUIET = {"verbose": -9, "verb_log": 0}
_CMA_KEYS = tuple(cma.CMAOptions())


@contextlib.contextmanager
def _own_generator(runner: CMAESRunner) -> Iterator[None]:
    """numpy's global generator holds this runner's state for the duration of a pycma call."""
    outside = np.random.get_state()
    if runner._state is not None:
        np.random.set_state(runner._state)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycma warns on nan values it replaces, as documented
            yield
    finally:
        runner._state = np.random.get_state()
        np.random.set_state(outside)


def check_cma_options(options: dict[str, Any]) -> dict[str, Any]:
    """pycma's own keys only (its values are checked by pycma at construction)."""
    for name in options:
        if name in RESERVED:
            raise RunnerError(f"option {name!r} of cma.CMAEvolutionStrategy is set by tunebench: "
                              f"{RESERVED[name]}")
        if name not in _CMA_KEYS:
            close = difflib.get_close_matches(name, _CMA_KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RunnerError(f"cma.CMAOptions has no option {name!r}{hint}; see cma.CMAOptions() "
                              "for the list, or sigma0 / restarts / incpopsize / bipop (cma.fmin's)")
    return dict(options)


def cma_seed(seed: int) -> int:
    return seed if seed else 2**32 - 1


class CMAESRunner(LibraryRunner):
    """pycma's CMA-ES (see the module docstring)."""

    name: ClassVar[str] = "cma.cmaes"
    description: ClassVar[str] = ("pycma CMA-ES (the reference implementation), on the unit cube "
                                  "with pycma's bounds, optional IPOP or BIPOP restarts")
    capabilities: ClassVar[Capabilities] = Capabilities(
        library="cma", family="evolutionary", batch=True,
        notes=("x0 = centre of the unit cube, sigma0 = 0.25 (declared: CMA has no default); "
               "verbose=-9, verb_log=0 (no output); integers and categoricals are cells of a "
               "continuous coordinate (categoricals: an ordinal relaxation); conditional "
               "parameters flattened; a failed trial is told as nan (pycma: the median); told "
               "once per generation; restarts as cma.fmin's, without evaluating each run's final "
               "mean"))

    def __init__(self, space: Space, direction: Direction, seed: int,
                 budget_info: BudgetInfo | None = None, sigma0: float = SIGMA0,
                 restarts: int = 0, incpopsize: int = 2, bipop: bool | float = False,
                 **options: Any) -> None:
        super().__init__(space, direction, seed, budget_info)
        self.sigma0 = check_number("sigma0", sigma0)
        if not 0 < self.sigma0 <= 1:
            raise RunnerError(f"option sigma0 must lie in (0, 1] (the unit cube), got {sigma0!r}")
        self.restarts = check_int("restarts", restarts, 0)
        self.incpopsize = check_int("incpopsize", incpopsize, 1)
        self.bipop = float(bipop) if isinstance(bipop, bool) else check_number("bipop", bipop, 0)
        self._given = check_cma_options(options)
        self._state: Any = None
        self._plan = RestartPlan(self.restarts, self.incpopsize, self.bipop)
        self._vacant: tuple[int, int] | None = None  # the slot of a solution told something else
        self._es = self._start(cma_seed(self.seed), 1.0, {**QUIET, **self._given})

    @classmethod
    def accepted_options(cls) -> list[str]:
        return ["sigma0", "restarts", "incpopsize", "bipop",
                *(k for k in _CMA_KEYS if k not in RESERVED)]

    def _start(self, seed: int, sigma_factor: float, opts: dict[str, Any]) -> cma.CMAEvolutionStrategy:
        opts = {**opts, "bounds": [0.0, 1.0], "seed": seed}
        self._seed_used = seed
        with _own_generator(self):
            try:
                es = cma.CMAEvolutionStrategy([0.5] * len(self.space), sigma_factor * self.sigma0,
                                              opts)
            except (ValueError, TypeError, AssertionError) as exc:
                raise RunnerError(f"cma.CMAEvolutionStrategy rejected the options "
                                  f"{self._given}: {exc}") from exc
        self._population: list[np.ndarray] = []
        self._values: list[float | None] = []
        self._handed = 0
        return es

    def resolved_options(self) -> dict[str, Any]:
        return {
            **plain(self._given), "sigma0": self.sigma0, "x0": "centre of the unit cube",
            "popsize": int(self._es.sp.popsize), "bounds": [0.0, 1.0],
            "cma_seed": cma_seed(self.seed), "restarts": self.restarts,
            "incpopsize": self.incpopsize, "bipop": self.bipop, **QUIET,
        }

    # ------------------------------------------------------------------ the hooks
    def _ask(self) -> tuple[Config, tuple[int, int]]:
        if self._handed == len(self._population):
            if self._population:  # the whole generation is out: pycma learns from it at once
                raise WaitForResults
            self._new_generation()
        index = self._handed
        self._handed += 1
        return self._decode(self._population[index]), (self._plan.runs, index)

    def _new_generation(self) -> None:
        stop = self._es.stop()
        if stop:
            self._restart(dict(stop))
        with _own_generator(self):
            self._population = [np.asarray(x) for x in self._es.ask()]
        self._values = [None] * len(self._population)

    def _restart(self, stop: dict[str, Any]) -> None:
        """A new run, as ``cma.fmin`` starts one after ``stop`` (or the end of the study)."""
        es, plan = self._es, self._plan
        # fmin reads the population size as an option: 4 + 3 ln(d) unrounded (8.16, not 8)
        plan.finished(int(es.countevals), float(es.opts["popsize"]), float(es.opts["maxiter"]))
        if plan.exhausted or "ftarget" in stop or "maxfevals" in stop:
            raise SearchExhausted(f"pycma's termination criteria are met ({stop}) and "
                                  f"{self.restarts} restart(s) are done (option restarts)")
        with _own_generator(self):
            sigma_factor, extra = plan.next_run()
        # fmin: the previous run's processed options, the evaluations counted on, seed + 1
        opts = {**es.opts, **extra, "verb_append": int(es.countevals)}
        self._es = self._start(self._seed_used + 1, sigma_factor, opts)

    def _decode(self, x: np.ndarray) -> Config:
        config: Config = {}
        for name, u in zip(self.space, x, strict=True):
            if self.space.is_active(name, config):
                config[name] = self.space[name].from_unit(float(u))
        return config

    def _tell(self, handle: tuple[int, int], config: Config, outcome: Outcome) -> None:
        run, index = handle
        if run != self._plan.runs:
            return  # a solution of a run that has been restarted since
        loss = self.loss(outcome)
        self._values[index] = math.nan if loss is None else loss
        self._flush()

    def _flush(self) -> None:
        if not self._population or any(v is None for v in self._values):
            return
        with _own_generator(self):
            self._es.tell(self._population, list(self._values))
        self._population, self._values, self._handed = [], [], 0

    def _discard(self, handle: tuple[int, int]) -> None:
        self._vacant = handle

    def _tell_foreign(self, config: Config, outcome: Outcome) -> None:
        vacant, self._vacant = self._vacant, None
        if vacant is None or vacant[0] != self._plan.runs:
            return  # no slot to put it in: CMA-ES learns from whole populations only
        x = np.array([self._encode(name, config) for name in self.space])
        self._population[vacant[1]] = x
        self._tell(vacant, config, outcome)

    def _encode(self, name: str, config: Config) -> float:
        param = self.space[name]
        return param.to_unit(config[name] if name in config else param.default_value())

    @classmethod
    def translate(cls, space: Space, **options: Any) -> list[ParamTranslation]:
        def render(name: str, param: Param) -> tuple[str, bool, str]:
            reasons = []
            if isinstance(param, Categorical):
                reasons.append("an ordinal relaxation: the choices are equal cells of [0, 1]")
            elif not isinstance(param, Float):
                reasons.append("continuous internally, rounded to equal-width integer cells")
            if param.active_if:
                reasons.append("no native conditions: always optimised, dropped when inactive")
            scale = "log-scaled " if getattr(param, "log", False) else ""
            text = f"one {scale}coordinate in [0, 1] (pycma bounds), Param.from_unit"
            return text, bool(reasons), "; ".join(reasons)

        return rows(space, render)


__all__ = ["SIGMA0", "CMAESRunner", "check_cma_options", "cma_seed"]
