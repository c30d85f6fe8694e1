"""Runner conformance: the checks every runner passes, built-in or plugin.

    from tunebench.runners.conformance import Conformance
    report = Conformance(MyRunner).run_all()        # list of CheckResult
    Conformance(MyRunner).assert_all()               # raises ConformanceError listing failures

The checks drive the runner the way the harness does (ask, evaluate step by step while consulting
``should_prune``, tell), on a mixed space with log floats, log integers, integers, categoricals (one
with ``None`` and ``bool`` choices) and conditional parameters (on a categorical, on an integer, and
nested two deep). The "task" is a deterministic function of the configuration with a learning curve
of :data:`FIDELITY` steps, and every fifth trial fails.

- ``declarations``: name, description and capabilities are declared; the translation audit has one
  row per parameter, in space order;
- ``same_seed`` / ``different_seed``: the same seed gives the same suggestions, another seed others;
- ``valid``: every suggestion validates in the space, with exact Python types (``int`` for integers,
  no numpy scalars) and conditional parameters present exactly when active;
- ``failures``: failed trials (even a long run of them at the start) do not stop the runner;
- ``resume``: replaying a stored history into a fresh runner, as the harness does on resume, then
  continuing, gives the suggestions of the uninterrupted run, or, where ``exact_replay=False`` is
  declared, the declaration is true (the continuation differs);
- ``direction``: maximising ``-f`` proposes exactly what minimising ``f`` does;
- ``pruning``: a runner that does not declare pruning never prunes; one that does is consulted
  without crashing and, when ``expect_pruning`` is set, prunes something;
- ``foreign_tell``: telling a configuration other than the one asked (what a resumed study whose
  runner cannot replay exactly does) is accepted and the runner goes on;
- ``multi_objective``: a runner declaring ``multi_objective`` is told two objectives (one
  maximised) and each trial's vector, fails nothing, proposes valid configurations, the same ones
  from the same seed, and the same again when the history is replayed into a fresh runner;
- ``fidelities``: a runner answering with :class:`~tunebench.runners.base.Proposal` s proposes
  whole fidelities within the budget's range, and declares ``chooses_fidelity`` / ``continues``
  exactly when it uses them (proposals are evaluated from scratch at their fidelity here, as on a
  task that cannot continue; the outcome carries the trial number and the proposal's tag).

Runners that declare themselves unavailable (:class:`~tunebench.runners.base.RunnerUnavailable`
at construction) are reported as skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from tunebench.runners.base import (
    BudgetInfo,
    Capabilities,
    Outcome,
    Proposal,
    Runner,
    RunnerUnavailable,
    Status,
    WaitForResults,
)
from tunebench.space import (
    Categorical,
    Config,
    Direction,
    Float,
    Int,
    Objective,
    Space,
    config_key,
)

#: Fidelity steps of the conformance task (enough for successive halving to have a rung).
FIDELITY = 4


class ConformanceError(AssertionError):
    """A runner broke one of the conformance rules; the message says which and how."""


class ConformanceSkip(Exception):
    """The check does not apply (the runner declares itself unavailable)."""


@dataclass(frozen=True)
class Trial:
    config: Config
    outcome: Outcome
    proposal: Proposal | None = None  # the runner's answer, when it was more than a configuration

    @property
    def fidelity(self) -> int | None:
        """The fidelity its proposal asked for (None: a plain configuration, or the full one)."""
        return self.proposal.fidelity if self.proposal is not None else None


def answer(runner: Runner) -> tuple[Config, Proposal | None]:
    """The configuration a runner asked for, and its proposal when it answered with one."""
    asked = runner.ask()
    return (asked.config, asked) if isinstance(asked, Proposal) else (asked, None)


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "passed" | "failed" | "skipped"
    message: str = ""


def mixed_space() -> Space:
    """Every kind of parameter and condition the neutral space has."""
    return Space({
        "lr": Float(1e-5, 1.0, log=True),
        "width": Int(4, 512, log=True),
        "depth": Int(1, 6),
        "dropout": Float(0.0, 0.5),
        "optimizer": Categorical(("sgd", "adam", "rmsprop")),
        "momentum": Float(0.0, 0.99, active_if={"optimizer": ["sgd", "rmsprop"]}),
        "nesterov": Categorical((True, False), active_if={"optimizer": "sgd"}),
        "dampening": Float(0.01, 0.5, log=True, active_if={"nesterov": False}),
        "schedule": Categorical(("constant", "cosine", None)),
        "warmup": Int(0, 10, active_if={"depth": [4, 5, 6]}),
    })


def objective(space: Space, config: Config) -> float:
    """A smooth deterministic loss over the unit-interval image of the configuration."""
    return float(sum((space[name].to_unit(value) - 0.37) ** 2 for name, value in config.items()))


def fails(index: int) -> bool:
    return index % 5 == 1


def evaluate(runner: Runner, space: Space, config: Config, index: int, sign: float = 1.0,
             fail: Callable[[int], bool] = fails, proposal: Proposal | None = None) -> Outcome:
    """One trial as the harness runs it: step by step, the pruner consulted after each step."""
    tag = proposal.tag if proposal is not None else None
    if fail(index):
        return Outcome(Status.FAILED, None, 0, trial=index, tag=tag)
    fidelity = proposal.fidelity if proposal is not None and proposal.fidelity else FIDELITY
    loss = objective(space, config)
    curve: list[float] = []
    for step in range(1, fidelity + 1):
        value = sign * loss * (1.0 + 1.0 / step)
        curve.append(value)
        if step < fidelity and runner.should_prune(config, step, value):
            return Outcome(Status.PRUNED, value, step, tuple(curve), trial=index, tag=tag)
    return Outcome(Status.OK, curve[-1], fidelity, tuple(curve), trial=index, tag=tag)


def drive(runner: Runner, space: Space, n: int, sign: float = 1.0, start: int = 0,
          fail: Callable[[int], bool] = fails,
          values: Callable[[Space, Config, Outcome], tuple[float, ...]] | None = None
          ) -> list[Trial]:
    """``n`` trials one after the other; ``values`` gives a multi-objective trial its vector."""
    trials = []
    for index in range(start, start + n):
        config, proposal = answer(runner)
        outcome = evaluate(runner, space, config, index, sign, fail, proposal)
        if values is not None and outcome.status is Status.OK:
            outcome = replace(outcome, values=values(space, config, outcome))
        runner.tell(config, outcome)
        trials.append(Trial(config, outcome, proposal))
    return trials


def _vector(space: Space, config: Config, outcome: Outcome) -> tuple[float, ...]:
    """The conformance task's two objectives: its loss, and a "size" that grows with it."""
    return float(outcome.value), float(sum(space[n].to_unit(v) for n, v in config.items()))


def drive_batch(runner: Runner, space: Space, n: int, k: int = 3,
                fail: Callable[[int], bool] = fails) -> list[Trial]:
    """``n`` trials with up to ``k`` in flight, each told out of order (the second-oldest first),
    as a study with ``settings.in_flight = k`` may tell them; a runner may say it must wait."""
    pending: list[tuple[int, Config, Proposal | None]] = []
    trials = []
    index = 0
    while index < n or pending:
        while index < n and len(pending) < k:
            try:
                config, proposal = answer(runner)
            except WaitForResults:
                if not pending:
                    raise ConformanceError("the runner raised WaitForResults with no trial in "
                                           "flight: it would never be told anything") from None
                break
            pending.append((index, config, proposal))
            index += 1
        i, config, proposal = pending.pop(1 if len(pending) > 1 else 0)
        outcome = evaluate(runner, space, config, i, fail=fail, proposal=proposal)
        runner.tell(config, outcome)
        trials.append(Trial(config, outcome, proposal))
    return trials


def replay(runner: Runner, history: list[Trial]) -> list[Config]:
    """Feed a stored history into a fresh runner as the harness does on resume; return the asks."""
    asked = []
    for trial in history:
        config, proposal = answer(runner)
        asked.append(config)
        for step, value in enumerate(trial.outcome.curve[: int(trial.outcome.fidelity)], start=1):
            if runner.should_prune(trial.config, step, value):
                break
        # Told with the tag of the proposal just made, as the harness does (tags are not stored).
        runner.tell(trial.config, replace(trial.outcome, tag=proposal.tag if proposal else None))
    return asked


def _configs(trials: list[Trial]) -> list[str]:
    return [config_key(t.config) for t in trials]


def _first_difference(a: list[Config], b: list[Config]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if config_key(x) != config_key(y):
            return f"suggestion {i}: {x} vs {y}"
    return f"lengths {len(a)} vs {len(b)}"


class Conformance:
    """The conformance checks of one runner class with given options (runs are shared)."""

    CHECKS = ("declarations", "same_seed", "different_seed", "valid", "failures", "resume",
              "direction", "pruning", "foreign_tell", "fidelities", "batch", "multi_objective")

    def __init__(self, runner_cls: type[Runner], options: Mapping[str, Any] | None = None, *,
                 space: Space | None = None, trials: int = 30, budget_info: BudgetInfo | None = None,
                 seed: int = 7, expect_pruning: bool = False) -> None:
        self.cls = runner_cls
        self.options = dict(options or {})
        self.space = space if space is not None else mixed_space()
        self.trials = trials
        self.budget_info = budget_info if budget_info is not None else BudgetInfo(
            "trials", trials, 1, FIDELITY)
        self.seed = seed
        self.expect_pruning = expect_pruning

    def build(self, seed: int | None = None, direction: Direction = Direction.MINIMIZE,
              in_flight: int = 1) -> Runner:
        """The runner under test, told (as a study tells it) how many evaluations run at once."""
        info = replace(self.budget_info, in_flight=in_flight) if in_flight != 1 else self.budget_info
        try:
            return self.cls(self.space, direction, self.seed if seed is None else seed,
                            info, **self.options)
        except RunnerUnavailable as exc:
            raise ConformanceSkip(str(exc)) from exc

    @cached_property
    def reference(self) -> list[Trial]:
        return drive(self.build(), self.space, self.trials)

    # ------------------------------------------------------------------ checks
    def check_declarations(self) -> None:
        from tunebench.runners.translation import translate

        cls = self.cls
        for attribute in ("name", "description"):
            if not isinstance(getattr(cls, attribute, None), str) or not getattr(cls, attribute):
                raise ConformanceError(f"{cls.__name__} must declare a non-empty `{attribute}`")
        if not isinstance(getattr(cls, "capabilities", None), Capabilities):
            raise ConformanceError(f"{cls.__name__}.capabilities must be a Capabilities")
        rows = translate(cls, self.space, self.options)
        if [row.name for row in rows] != list(self.space):
            raise ConformanceError(
                f"the translation audit must have one row per parameter in space order, "
                f"got {[row.name for row in rows]}")
        self.build()  # unavailable runners are skipped here, after their declarations passed

    def check_same_seed(self) -> None:
        again = drive(self.build(), self.space, self.trials)
        if _configs(again) != _configs(self.reference):
            raise ConformanceError(
                "the same seed gave different suggestions: "
                + _first_difference([t.config for t in self.reference], [t.config for t in again]))

    def check_different_seed(self) -> None:
        n = min(self.trials, 10)
        other = drive(self.build(self.seed + 1), self.space, n)
        if _configs(other) == _configs(self.reference[:n]):
            raise ConformanceError(f"seeds {self.seed} and {self.seed + 1} gave the same "
                                   f"first {n} suggestions: the seed is ignored")

    def check_valid(self) -> None:
        for i, trial in enumerate(self.reference):
            problem = self._invalid(trial.config)
            if problem:
                raise ConformanceError(f"suggestion {i} {trial.config}: {problem}")

    def _invalid(self, config: Config) -> str:
        try:
            normalised = self.space.validate(config)
        except ValueError as exc:
            return str(exc)
        if list(config) != list(normalised):
            return f"parameters must come in space order {list(normalised)}"
        for name, value in config.items():
            param = self.space[name]
            expected: tuple[type, ...] = (
                (int,) if isinstance(param, Int) else (float,) if isinstance(param, Float)
                else (str, int, float, bool, type(None)))
            if type(value) not in expected or isinstance(value, np.generic):
                return f"{name}={value!r} has type {type(value).__name__}, expected {expected}"
        return ""

    def check_failures(self) -> None:
        runner = self.build()
        n = max(self.trials // 2, 12)
        trials = drive(runner, self.space, n, fail=lambda i: i < n - 2)
        trials += drive(runner, self.space, 2, start=n)
        for i, trial in enumerate(trials):
            problem = self._invalid(trial.config)
            if problem:
                raise ConformanceError(f"after failures, suggestion {i} {trial.config}: {problem}")

    def check_resume(self) -> None:
        cut = self.trials // 2
        runner = self.build()
        asked = replay(runner, self.reference[:cut])
        continued = drive(runner, self.space, self.trials - cut, start=cut)
        same_asks = [config_key(c) for c in asked] == _configs(self.reference[:cut])
        same_rest = _configs(continued) == _configs(self.reference[cut:])
        exact = self.cls.capabilities.exact_replay
        if exact and not same_asks:
            raise ConformanceError(
                "exact_replay=True, but on replay the runner asked other configurations: "
                + _first_difference(asked, [t.config for t in self.reference[:cut]]))
        if exact and not same_rest:
            raise ConformanceError(
                "exact_replay=True, but after replay the continuation differs from the "
                "uninterrupted run: "
                + _first_difference([t.config for t in continued],
                                    [t.config for t in self.reference[cut:]]))
        if not exact and same_asks and same_rest:
            raise ConformanceError("exact_replay=False is declared, but replay reproduced the "
                                   "uninterrupted run exactly: declare exact_replay=True")

    def check_direction(self) -> None:
        flipped = drive(self.build(direction=Direction.MAXIMIZE), self.space, self.trials,
                        sign=-1.0)
        if _configs(flipped) != _configs(self.reference):
            raise ConformanceError(
                "maximising -f proposed other configurations than minimising f (values must "
                "be read in the task's direction): "
                + _first_difference([t.config for t in self.reference],
                                    [t.config for t in flipped]))

    def check_pruning(self) -> None:
        pruned = sum(t.outcome.status is Status.PRUNED for t in self.reference)
        declared = self.cls.capabilities.pruning
        if pruned and not declared:
            raise ConformanceError(f"the runner pruned {pruned} trials but declares pruning=False")
        if self.expect_pruning and not pruned:
            raise ConformanceError(f"no trial was pruned in {self.trials} trials with "
                                   f"options {self.options}")

    def check_foreign_tell(self) -> None:
        runner = self.build()
        rng = np.random.default_rng(self.seed)
        for index in range(max(6, min(8, self.trials))):
            config, proposal = answer(runner)
            if index in (2, 5):
                config, proposal = self.space.sample(rng), None  # told in place of the asked one
            runner.tell(config, evaluate(runner, self.space, config, index, proposal=proposal))
        problem = self._invalid(answer(runner)[0])
        if problem:
            raise ConformanceError(f"after foreign tells: {problem}")

    def check_fidelities(self) -> None:
        proposals = [t.proposal for t in self.reference if t.proposal is not None]
        low, high = self.budget_info.min_fidelity, self.budget_info.max_fidelity
        for i, proposal in enumerate(proposals):
            f = proposal.fidelity
            if f is not None and (isinstance(f, bool) or not isinstance(f, int) or not low <= f <= high):
                raise ConformanceError(f"proposal {i} asks for fidelity {f!r}: whole numbers from "
                                       f"{low} to {high} only (the budget's range)")
        caps = self.cls.capabilities
        chooses = any(p.fidelity is not None for p in proposals)
        continues = any(p.continues for p in proposals)
        if chooses != caps.chooses_fidelity:
            raise ConformanceError(f"the runner {'chose' if chooses else 'never chose'} fidelities "
                                   f"in {self.trials} trials but declares "
                                   f"chooses_fidelity={caps.chooses_fidelity}")
        if continues and not caps.continues:
            raise ConformanceError("the runner asked to continue trials but declares continues=False")

    def check_batch(self) -> None:
        """A runner declaring ``batch``, told three evaluations run at once, proposes valid
        configurations with three in flight told out of order, and the same ones again from the
        same seed."""
        if not self.cls.capabilities.batch:
            raise ConformanceSkip("the runner does not declare batch: studies keep one in flight")
        first = drive_batch(self.build(in_flight=3), self.space, self.trials)
        for i, trial in enumerate(first):
            problem = self._invalid(trial.config)
            if problem:
                raise ConformanceError(f"with trials in flight, suggestion {i}: {problem}")
        again = drive_batch(self.build(in_flight=3), self.space, self.trials)
        if _configs(first) != _configs(again):
            raise ConformanceError("with trials in flight, the same seed proposed differently: "
                                   + _first_difference([t.config for t in first],
                                                       [t.config for t in again]))

    def check_multi_objective(self) -> None:
        """A runner declaring ``multi_objective`` optimises a loss against a maximised size."""
        if not self.cls.capabilities.multi_objective:
            raise ConformanceSkip("the runner does not declare multi_objective: refused for "
                                  "studies of several objectives")
        objectives = (Objective("loss"), Objective("size", Direction.MAXIMIZE))
        info = replace(self.budget_info, objectives=objectives)
        n = min(self.trials, 12)

        def run(history: list[Trial] | None = None) -> list[Trial]:
            runner = self.cls(self.space, Direction.MINIMIZE, self.seed, info, **self.options)
            if runner.objectives != objectives:
                raise ConformanceError("the runner does not keep the objectives it is told")
            if history:
                replay(runner, history)
            return drive(runner, self.space, n, start=len(history or ()), values=_vector)

        first, again = run(), run()
        for i, trial in enumerate(first):
            problem = self._invalid(trial.config)
            if problem:
                raise ConformanceError(f"with two objectives, suggestion {i}: {problem}")
        if _configs(first) != _configs(again):
            raise ConformanceError("with two objectives, the same seed proposed differently: "
                                   + _first_difference([t.config for t in first],
                                                       [t.config for t in again]))
        if self.cls.capabilities.exact_replay:
            half = n // 2
            resumed = run(first[:half])
            if _configs(resumed)[:n - half] != _configs(first[half:]):
                raise ConformanceError("with two objectives, a replayed history does not "
                                       "continue as the uninterrupted run")

    # ------------------------------------------------------------------ running
    def run(self, check: str) -> None:
        """Run one check by name; raises ConformanceError or ConformanceSkip."""
        if check not in self.CHECKS:
            raise ValueError(f"unknown check {check!r}; choose from {self.CHECKS}")
        getattr(self, f"check_{check}")()

    def run_all(self) -> list[CheckResult]:
        results = []
        for check in self.CHECKS:
            try:
                self.run(check)
            except ConformanceSkip as exc:
                results.append(CheckResult(check, "skipped", str(exc)))
            except ConformanceError as exc:
                results.append(CheckResult(check, "failed", str(exc)))
            except Exception as exc:  # a crash is a failure of the runner, reported as such
                results.append(CheckResult(check, "failed", f"{type(exc).__name__}: {exc}"))
            else:
                results.append(CheckResult(check, "passed"))
        return results

    def assert_all(self) -> None:
        failed = [r for r in self.run_all() if r.status == "failed"]
        if failed:
            raise ConformanceError("; ".join(f"{r.name}: {r.message}" for r in failed))


__all__ = ["FIDELITY", "CheckResult", "Conformance", "ConformanceError", "ConformanceSkip",
           "Trial", "answer", "drive", "evaluate", "fails", "mixed_space", "objective", "replay"]
