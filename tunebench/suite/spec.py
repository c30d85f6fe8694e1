"""What a suite is, once read: a validated :class:`SuiteSpec` (reading files: :mod:`spec_parse`).

Every error names the file, the key and how to fix it; unknown keys and names get a did-you-mean.
A suite expands into :class:`StudySpec` objects (task × runner × repetition), each carrying
everything a worker needs to run it anywhere: names, options, seeds, budget and settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tunebench.space import canonical_json
from tunebench.suite.budget import Budget
from tunebench.suite.seeding import SeedPolicy

DEVICES_HELP = "auto, cpu, cuda, cuda:N or mps"

#: Repetitions of a task (the suite's, a task's own, ``--repetitions``): far beyond any
#: statistic's need, small enough that planning the studies stays in memory.
MAX_REPETITIONS = 100_000
#: Studies in one suite (tasks × runners × repetitions): each is planned and stored up front.
MAX_STUDIES = 1_000_000
#: Threads per study: more than the largest machines' cores is a typo.
MAX_THREADS = 512
#: A trial's timeout, in seconds (366 days): longer is a typo, and timers take no infinity.
MAX_TRIAL_TIMEOUT = 366 * 24 * 3600.0
#: How an evaluation runs: in a child process (a crash fails the trial only) or in the study's own.
ISOLATION_MODES = ("process", "none")
#: A worker's address-space limit (``memory_limit_mb``), in MiB: below the lower bound Python and
#: numpy cannot start; above the upper one it is a typo.
MEMORY_LIMIT_MB = (256, 1 << 24)
#: Evaluations a study keeps in flight (``in_flight``): more than this is a typo on any machine.
MAX_IN_FLIGHT = 256
#: What the simulated clock of evaluations in flight counts (``simulated_time``).
SIMULATED_TIMES = ("steps", "recorded")
#: How deep tables and arrays may nest in a suite (a real suite needs 5 or 6 levels); checked
#: without recursion before anything reads the values.
MAX_NESTING = 32
#: The largest suite file read (a real one is a few kilobytes).
MAX_SUITE_BYTES = 16 * 1024 * 1024


class SuiteError(ValueError):
    """A suite file is invalid. The message names the file, the key and the fix."""

    def __init__(self, message: str, source: str | None = None, key: str | None = None) -> None:
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Settings:
    """Study settings that must be equal for every runner in a comparison."""

    device: str = "auto"
    threads: int = 1
    #: "auto": the fastest precision that keeps accuracy on the device (bf16 on CPUs with AMX-BF16)
    precision: str = "auto"
    trial_timeout: float | None = None  # seconds; a slower trial is stopped and stored as failed
    #: GPUs a study asks Ray for (a fraction shares a GPU); None: one for torch tasks if any exist.
    gpus_per_study: float | None = None
    #: "process" or "none" (see tunebench.suite.isolation); None: the task's own default.
    isolation: str | None = None
    #: The address-space limit of an isolated evaluation's worker, in MiB (None: no limit).
    memory_limit_mb: int | None = None
    #: Evaluations a study keeps in flight: the runner proposes the next configuration while up
    #: to this many run (see tunebench.suite.in_flight). It changes what the runner knows when it
    #: proposes, so it is part of the comparison, the same for every runner.
    in_flight: int = 1
    #: What the simulated clock of trials in flight counts: "steps" (each step trained one unit)
    #: or "recorded" (the seconds a table task's evaluations took when recorded: a zero-wait
    #: simulation of k workers on a tabular benchmark).
    simulated_time: str = "steps"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "device": self.device, "threads": self.threads, "precision": self.precision,
            "trial_timeout": self.trial_timeout, "gpus_per_study": self.gpus_per_study}
        if self.in_flight != 1:  # only when set: suites stored before it existed keep their form
            out["in_flight"] = self.in_flight
        if self.simulated_time != "steps":
            out["simulated_time"] = self.simulated_time
        # Only when set: suites stored before these settings existed keep their form.
        for key in _PROCESS_SETTINGS:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @property
    def scheduled(self) -> bool:
        """Whether trials run on the simulated clock of :mod:`tunebench.suite.in_flight`."""
        return self.in_flight > 1 or self.simulated_time != "steps"


#: Settings that say where an evaluation runs, not what it computes: outside the fingerprint, so
#: a study started in-process can be resumed isolated and the other way round.
_PROCESS_SETTINGS = ("isolation", "memory_limit_mb")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    label: str
    options: Mapping[str, Any] = field(default_factory=dict)
    budget: Budget | None = None  # overrides the suite budget for this task
    #: A smoke test (does the pipeline run?), kept out of every statistic; stored per study.
    smoke: bool = False
    #: This task's own number of repetitions (None: the suite's). Cheap tasks can have many
    #: repetitions, expensive ones fewer, in one suite; every runner of the task gets the same.
    repetitions: int | None = None
    #: The objectives a multi-objective study optimises together (``["f1", "f2"]`` or
    #: ``("all",)``); None: a single-objective study (see tunebench.suite.objectives).
    objectives: tuple[str, ...] | None = None
    #: Reference coordinates the suite fixes for a multi-objective study (``{"train_seconds":
    #: 300}``), where the task leaves one open or the suite's comparison needs another.
    references: Mapping[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "label": self.label, "options": dict(self.options),
               "budget": self.budget.to_dict() if self.budget else None, "smoke": self.smoke}
        if self.repetitions is not None:  # absent otherwise: stored suites keep their form
            out["repetitions"] = self.repetitions
        if self.objectives is not None:
            out["objectives"] = list(self.objectives)
        if self.references is not None:
            out["references"] = dict(self.references)
        return out


@dataclass(frozen=True)
class RunnerSpec:
    name: str
    label: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pinned_seed(self) -> int | None:
        """The runner seed the suite pins with ``options = { seed = N }`` (None: derived)."""
        seed = self.options.get("seed")
        return None if seed is None else int(seed)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "options": dict(self.options)}


def study_label(key: tuple[str, str, int]) -> str:
    """How a study is named to people: ``task × runner #repetition``."""
    return f"{key[0]} × {key[1]} #{key[2]}"


@dataclass(frozen=True)
class StudySpec:
    """One (task, runner, repetition) study: everything a worker needs, picklable."""

    suite: str
    task: TaskSpec
    runner: RunnerSpec
    repetition: int
    eval_seed: int
    runner_seed: int
    budget: Budget
    settings: Settings
    plugins: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task.label, self.runner.label, self.repetition)

    def describe(self) -> str:
        return study_label(self.key)


def with_repetitions(spec: SuiteSpec, repetitions: int | None) -> SuiteSpec:
    """The suite grown (or cut) to ``repetitions`` for every task (None: as it is). The same suite
    either way: its fingerprint leaves the counts out, so a store holding fewer runs only the new
    ones."""
    if repetitions is None or (repetitions == spec.repetitions
                               and all(t.repetitions is None for t in spec.tasks)):
        return spec
    if (isinstance(repetitions, bool) or not isinstance(repetitions, int)
            or not 1 <= repetitions <= MAX_REPETITIONS):
        raise SuiteError(f"repetitions must be an integer from 1 to {MAX_REPETITIONS}, got "
                         f"{repetitions!r}", spec.source, "--repetitions")
    # Every task, a task's own count included: "run N repetitions" means N for each task.
    tasks = tuple(replace(t, repetitions=None) for t in spec.tasks)
    grown = replace(spec, repetitions=repetitions, tasks=tasks)
    check_study_count(grown, "--repetitions")
    return grown


def with_seed(spec: SuiteSpec, seed: int | None) -> SuiteSpec:
    """The suite with its seed replaced (None: as it is): every study's seeds follow from it, so
    it is another suite, stored with the seed it ran with."""
    if seed is None or seed == spec.seed:
        return spec
    from tunebench.suite.seeding import MAX_SUITE_SEED

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SUITE_SEED:
        raise SuiteError(f"--seed must be a whole number from 0 to {MAX_SUITE_SEED}, got {seed!r}")
    return replace(spec, seed=seed)


def check_study_count(spec: SuiteSpec, key: str) -> None:
    """Refuse a suite of more than :data:`MAX_STUDIES` studies before any is planned."""
    count = sum(task.repetitions or spec.repetitions for task in spec.tasks) * len(spec.runners)
    if count > MAX_STUDIES:
        raise SuiteError(f"the suite would run {count} studies (tasks × runners × repetitions); "
                         f"allowed: at most {MAX_STUDIES}. Use fewer repetitions", spec.source, key)


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    seed: int
    repetitions: int
    budget: Budget
    tasks: tuple[TaskSpec, ...]
    runners: tuple[RunnerSpec, ...]
    settings: Settings = Settings()
    plugins: tuple[str, ...] = ()  # absolute paths
    description: str = ""
    source: str | None = None  # where it was read from
    source_text: str | None = None
    seeds: SeedPolicy = field(default_factory=SeedPolicy)
    #: (task label, runner label) pairs left out by declaration (a pair that cannot work): no
    #: study of them is planned, and the report says so.
    exclude: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The resolved suite: what is stored, hashed and re-run by ``reproduce``."""
        out = {
            "name": self.name, "description": self.description, "seed": self.seed,
            "repetitions": self.repetitions, "seeds": self.seeds.to_dict(),
            "budget": self.budget.to_dict(), "settings": self.settings.to_dict(),
            "tasks": [t.to_dict() for t in self.tasks],
            "runners": [r.to_dict() for r in self.runners],
            "plugins": list(self.plugins),
        }
        if self.exclude:  # only when set: suites stored before it existed keep their form
            out["exclude"] = [{"task": t, "runner": r} for t, r in self.exclude]
        return out

    def excluded(self, task: str, runner: str) -> bool:
        return (task, runner) in self.exclude

    @property
    def fingerprint(self) -> str:
        """Hash of everything that changes results (see :func:`suite_fingerprint`)."""
        return suite_fingerprint(self.to_dict())

    def studies(self) -> list[StudySpec]:
        """Every study, task-major, repetition-minor, runners interleaved within a repetition."""
        out = []
        for task in self.tasks:
            for rep in range(task.repetitions or self.repetitions):
                for runner in self.runners:
                    if (task.label, runner.label) in self.exclude:
                        continue
                    eval_seed, seed = self.seeds.study_seeds(self.seed, task.label, runner.label,
                                                             rep, runner.pinned_seed)
                    out.append(StudySpec(
                        suite=self.name, task=task, runner=runner, repetition=rep,
                        eval_seed=eval_seed, runner_seed=seed,
                        budget=task.budget or self.budget, settings=self.settings,
                        plugins=self.plugins,
                    ))
        return out


def suite_fingerprint(data: Mapping[str, Any]) -> str:
    """The identity of a resolved suite (:meth:`SuiteSpec.to_dict`, as stored): a hash of what
    changes a study's results.

    Left out: the description and where the file was read; the number of repetitions (growing a
    suite from 10 to 100 repetitions adds studies to the same suite, it is not another one); the
    ``smoke`` marks of tasks (they say how a report treats a task, not what it computes); a task's
    own repetition count, for the same reason as the suite's; where evaluations run (``isolation``,
    ``memory_limit_mb``), which changes no number. The seed
    policy enters only when it is not the default, so suites stored before it existed keep their
    identity.
    """
    seeds = SeedPolicy(**data.get("seeds") or {})
    data = {key: value for key, value in data.items()
            if key not in ("description", "repetitions", "seeds")}
    if not seeds.is_default:
        data["seeds"] = seeds.to_dict()
    data["tasks"] = [{key: value for key, value in task.items()
                      if key not in ("smoke", "repetitions")} for task in data["tasks"]]
    data["plugins"] = sorted(Path(p).name for p in data.get("plugins", []))
    if "settings" in data:
        data["settings"] = {key: value for key, value in data["settings"].items()
                            if key not in _PROCESS_SETTINGS}
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:16]


__all__ = [
    "DEVICES_HELP",
    "ISOLATION_MODES",
    "MAX_NESTING",
    "MAX_REPETITIONS",
    "MAX_STUDIES",
    "MAX_SUITE_BYTES",
    "MAX_THREADS",
    "MAX_TRIAL_TIMEOUT",
    "MEMORY_LIMIT_MB",
    "RunnerSpec",
    "Settings",
    "StudySpec",
    "SuiteError",
    "SuiteSpec",
    "TaskSpec",
    "check_study_count",
    "study_label",
    "suite_fingerprint",
    "with_repetitions",
]
