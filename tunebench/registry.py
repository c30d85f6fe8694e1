"""Finds tasks and runners by name: entry points and plugin files, built-ins included.

tunebench's own tasks and runners are declared as entry points in its ``pyproject.toml``
(groups ``tunebench.tasks`` and ``tunebench.runners``), exactly as a third-party package declares
its plugins, so there is one discovery path and no special case. A suite may also name plugin
files (``plugins = ["my_tasks.py"]``); every :class:`Task` / :class:`Runner` subclass with a ``name``
defined in such a file is registered. Entry points are loaded lazily: asking for ``branin`` does not
import torch.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from tunebench.errors import UserError
from tunebench.runners.base import BudgetInfo, Runner, RunnerError, RunnerUnavailable
from tunebench.space import Space
from tunebench.tasks.base import Direction, Task, option_names

TASK_GROUP = "tunebench.tasks"
RUNNER_GROUP = "tunebench.runners"

T = TypeVar("T", Task, Runner)


class RegistryError(LookupError):
    """A name is unknown, or a plugin cannot be loaded; the message says which and what to do."""


@dataclass
class _Entry(Generic[T]):
    name: str
    source: str  # "entry point <module:attr> (<distribution>)" or "plugin file <path>"
    entry_point: EntryPoint | None = None
    cls: type[T] | None = None


class _Kind(Generic[T]):
    def __init__(self, group: str, base: type[T], noun: str) -> None:
        self.group, self.base, self.noun = group, base, noun
        self._entries: dict[str, _Entry[T]] | None = None
        self._plugin_entries: dict[str, _Entry[T]] = {}

    def _discover(self) -> dict[str, _Entry[T]]:
        if self._entries is None:
            entries: dict[str, _Entry[T]] = {}
            for ep in entry_points(group=self.group):
                dist = ep.dist.name if ep.dist is not None else "?"
                entries.setdefault(ep.name, _Entry(ep.name, f"entry point {ep.value} ({dist})", ep))
            self._entries = entries
        return {**self._entries, **self._plugin_entries}

    def names(self) -> list[str]:
        return sorted(self._discover())

    def get(self, name: str) -> type[T]:
        entries = self._discover()
        if name not in entries and "/" in name and name.split("/", 1)[0] in entries:
            return self._member(*name.split("/", 1))
        if name not in entries:
            close = difflib.get_close_matches(name, list(entries), n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise RegistryError(
                f"unknown {self.noun} {name!r}.{hint} Run `tunebench list {self.noun}s` to see "
                f"all {len(entries)} {self.noun}s."
            )
        entry = entries[name]
        if entry.cls is None:
            assert entry.entry_point is not None
            try:
                loaded = entry.entry_point.load()
            except (Exception, SystemExit) as exc:  # sys.exit() at import: a broken plugin
                raise RegistryError(
                    f"{self.noun} {name!r} ({entry.source}) failed to import: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            self._check_class(name, loaded, entry.source)
            entry.cls = loaded
        return entry.cls

    def _member(self, family: str, member: str) -> type[T]:
        """The class of a family's member (``bbob/f7``: the family ``bbob``, member ``f7``)."""
        cls = self.get(family)
        members = getattr(cls, "family_members", ())
        if member not in members:
            shown = ", ".join(members[:6]) + (" …" if len(members) > 6 else "")
            raise RegistryError(f"unknown {self.noun} {family}/{member}: {family!r} "
                                + (f"has the members {shown}" if members else "is not a family"))
        return cls

    def source(self, name: str) -> str:
        self.get(name)
        entries = self._discover()
        return entries[name if name in entries else name.split("/", 1)[0]].source

    def _check_class(self, name: str, cls: Any, source: str) -> None:
        if not (inspect.isclass(cls) and issubclass(cls, self.base)):
            raise RegistryError(
                f"{self.noun} {name!r} ({source}) is {cls!r}, not a subclass of "
                f"tunebench {self.base.__name__}"
            )
        if getattr(cls, "name", None) != name:
            raise RegistryError(
                f"{self.noun} {name!r} ({source}) declares name={getattr(cls, 'name', None)!r}; "
                "the registered name and the class's name attribute must agree"
            )

    def add(self, cls: type[T], source: str) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.noun} class {cls.__name__} ({source}) has no `name`")
        self._check_class(name, cls, source)
        self._plugin_entries[name] = _Entry(name, source, None, cls)

    def load_all(self) -> tuple[dict[str, type[T]], dict[str, str]]:
        """Every loadable class, and an error message for each one that is broken."""
        loaded: dict[str, type[T]] = {}
        broken: dict[str, str] = {}
        for name in self.names():
            try:
                loaded[name] = self.get(name)
            except RegistryError as exc:
                broken[name] = str(exc)
        return loaded, broken


_TASKS: _Kind[Task] = _Kind(TASK_GROUP, Task, "task")
_RUNNERS: _Kind[Runner] = _Kind(RUNNER_GROUP, Runner, "runner")


def task_names() -> list[str]:
    return _TASKS.names()


def runner_names() -> list[str]:
    return _RUNNERS.names()


def get_task_class(name: str) -> type[Task]:
    return _TASKS.get(name)


def get_runner_class(name: str) -> type[Runner]:
    return _RUNNERS.get(name)


def task_source(name: str) -> str:
    return _TASKS.source(name)


def runner_source(name: str) -> str:
    return _RUNNERS.source(name)


def all_tasks() -> tuple[dict[str, type[Task]], dict[str, str]]:
    return _TASKS.load_all()


def all_runners() -> tuple[dict[str, type[Runner]], dict[str, str]]:
    return _RUNNERS.load_all()


def refresh() -> None:
    """Forget the entry points found so far, so packages installed since are seen on next lookup.

    Plugin files and hand-registered classes stay registered.
    """
    _TASKS._entries = None
    _RUNNERS._entries = None


def register_task(cls: type[Task]) -> type[Task]:
    """Register a task class by hand (a notebook, a test); usable as a decorator."""
    _TASKS.add(cls, f"registered from {cls.__module__}")
    return cls


def register_runner(cls: type[Runner]) -> type[Runner]:
    """Register a runner class by hand (a notebook, a test); usable as a decorator."""
    _RUNNERS.add(cls, f"registered from {cls.__module__}")
    return cls


def import_plugin_module(path: str | Path) -> ModuleType:
    """Import a plugin file once per process, keyed by its resolved path.

    Raises :class:`RegistryError` naming the file when it is missing or fails to import.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise RegistryError(f"plugin file {path} does not exist")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    module_name = f"tunebench_plugin_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"plugin file {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # sys.exit() at import is a broken plugin, not an exit
        del sys.modules[module_name]
        raise RegistryError(
            f"plugin file {path} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def load_plugin_file(path: str | Path) -> list[str]:
    """Import a plugin file and register every Task and Runner subclass it defines.

    Returns the registered names. Raises :class:`RegistryError` naming the file when it is missing,
    fails to import, or defines nothing usable.
    """
    path = Path(path).expanduser().resolve()
    module = import_plugin_module(path)
    registered = []
    for value in vars(module).values():
        if not inspect.isclass(value) or value.__module__ != module.__name__:
            continue
        if inspect.isabstract(value):
            continue
        if issubclass(value, Task) and value is not Task:
            _TASKS.add(value, f"plugin file {path}")
            registered.append(value.name)
        elif issubclass(value, Runner) and value is not Runner:
            _RUNNERS.add(value, f"plugin file {path}")
            registered.append(value.name)
    if not registered:
        raise RegistryError(
            f"plugin file {path} defines no Task or Runner subclass with a `name`"
        )
    return registered


def _check_options(cls: type, options: Mapping[str, Any], skip: int, what: str) -> None:
    _check_names(options, option_names(cls)[skip:], what)


def _check_names(options: Mapping[str, Any], accepted: list[str], what: str) -> None:
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        known = ", ".join(accepted) if accepted else "none"
        raise RegistryError(f"{what} does not accept option(s) {', '.join(hints)}; accepted: {known}")


def make_task(name: str, options: Mapping[str, Any] | None = None) -> Task:
    """Build a task by name with its options, turning bad options into a clear error."""
    cls = get_task_class(name)
    options = dict(options or {})
    if "/" in name and getattr(cls, "family_option", None):  # bbob/f7: function = "f7"
        option = cls.family_option
        if option in options:
            raise RegistryError(f"task {name!r} names its {option} already; drop the {option!r} "
                                f"option (or name the task {name.split('/', 1)[0]!r})")
        options = {option: name.split("/", 1)[1], **options}
    _check_options(cls, options, 0, f"task {name!r}")
    try:
        task = cls(**options)
    except (UserError, ValueError, TypeError) as exc:
        raise RegistryError(f"task {name!r} rejected its options {options}: {exc}") from exc
    except (Exception, SystemExit) as exc:  # a plugin's __init__ failing: name it, no traceback
        raise RegistryError(f"task {name!r} ({_TASKS.source(name)}) failed to build with options "
                            f"{options}: {type(exc).__name__}: {exc}") from exc
    _check_space(task, f"task {name!r} ({_TASKS.source(name)})")
    task._options = options  # type: ignore[attr-defined]
    return task


def _check_space(task: Task, what: str) -> None:
    """Build the task's space now, so an invalid one is reported naming the plugin, before any trial."""
    try:
        space = task.space
    except (Exception, SystemExit) as exc:
        raise RegistryError(
            f"{what} declares an invalid search space: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(space, Space):
        raise RegistryError(
            f"{what}: `space` must be a tunebench Space, got {type(space).__name__} {space!r}"
        )


#: Runner seeds fit in 32 bits: numpy's legacy RandomState, hyperopt and nevergrad all take them.
MAX_SEED = (1 << 32) - 1


def check_seed(value: Any) -> int:
    """A user-given seed as an int, or ValueError saying what is wrong (bools are not seeds)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a seed must be a non-negative integer, got {value!r}")
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"a seed must be between 0 and {MAX_SEED}, got {value}")
    return value


def make_runner(name: str, space: Space, direction: Direction | str, seed: int,
                budget_info: BudgetInfo | None = None,
                options: Mapping[str, Any] | None = None) -> Runner:
    """Build a runner by name, seeded, told its budget, with its options validated by name.

    ``seed`` is an option of every runner, the harness's rather than the library's: taken out of
    the options here, it replaces ``seed`` (the suite records it as the study's runner seed)."""
    cls = get_runner_class(name)
    options = dict(options or {})
    if "seed" in options:
        try:
            seed = check_seed(options.pop("seed"))
        except ValueError as exc:
            raise RegistryError(f"runner {name!r}: option seed: {exc}") from None
    _check_names(options, [*cls.accepted_options(), "seed"], f"runner {name!r}")
    try:
        return cls(space, Direction(direction), seed, budget_info, **options)
    except RunnerUnavailable as exc:
        raise RegistryError(f"{exc}; choose another runner (`tunebench list runners`)") from exc
    except (RunnerError, ValueError, TypeError) as exc:
        raise RegistryError(f"runner {name!r} rejected its options {options}: {exc}") from exc
    except (Exception, SystemExit) as exc:  # a plugin's constructor crashing: its bug, said so
        raise RegistryError(f"runner {name!r} ({_RUNNERS.source(name)}) failed to build with "
                            f"options {options}: {type(exc).__name__}: {exc}") from exc
