"""Finding the plugin classes behind what a user names on the command line.

``tunebench check-plugin TARGET`` accepts, tried in this order:

1. a plugin file (``my_tasks.py``): every Task / Runner subclass defined in it;
2. ``module:Class``: that one class;
3. a registered task or runner name (``branin``, ``optuna.tpe``): the class the registry finds;
4. an installed distribution (``tunebench-sklearn-gbm``): every entry point it declares in the
   ``tunebench.tasks`` / ``tunebench.runners`` groups, each loaded as the registry would load it;
5. an importable module or package: every Task / Runner subclass defined in it or its submodules.

A plugin that cannot be loaded (an import error, an entry point naming something that is not a Task
or Runner, a name that disagrees with its entry point) becomes a :class:`Found` with a ``problem``,
so it is reported next to the others instead of hiding them.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from types import ModuleType

from tunebench.registry import RegistryError, import_plugin_module
from tunebench.runners.base import Runner
from tunebench.tasks.base import Task


class PluginNotFound(LookupError):
    """The target is no file, module, distribution or registered name tunebench can find."""


@dataclass(frozen=True)
class Found:
    """One plugin behind a target: its class, or the reason it cannot be loaded."""

    kind: str  # "task" | "runner" | "plugin" (unknown: it did not load)
    name: str
    source: str
    cls: type | None = None
    problem: str | None = None


def _kind(cls: type) -> str | None:
    if issubclass(cls, Task):
        return "task"
    if issubclass(cls, Runner):
        return "runner"
    return None


def _plugin_classes(module: ModuleType, include_submodules: bool) -> list[type]:
    out: dict[int, type] = {}
    prefix = module.__name__ + "."
    for value in vars(module).values():
        if not inspect.isclass(value) or value in (Task, Runner) or _kind(value) is None:
            continue
        home = value.__module__
        here = home == module.__name__ or (include_submodules and home.startswith(prefix))
        # an abstract class that names itself is a plugin missing a method, not a base class
        if here and (not inspect.isabstract(value) or "name" in vars(value)):
            out[id(value)] = value
    return list(out.values())


def _from_class(cls: type, source: str) -> Found:
    kind = _kind(cls) or "plugin"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        return Found(kind, cls.__name__, source, None,
                     f"{cls.__name__} has no `name`: the registry cannot register it (a plugin "
                     "file with such a class is refused as a whole)")
    return Found(kind, name, source, cls)


def _from_file(path: Path) -> list[Found]:
    path = path.expanduser().resolve()
    source = f"plugin file {path}"
    if not path.is_file():
        raise PluginNotFound(f"plugin file {path} does not exist")
    try:
        module = import_plugin_module(path)
    except RegistryError as exc:
        return [Found("plugin", path.name, source, None,
                      str(exc).replace(f"plugin file {path} ", ""))]
    found = [_from_class(cls, source) for cls in _plugin_classes(module, False)]
    if not found:
        return [Found("plugin", path.name, source, None,
                      "defines no Task or Runner subclass (a plugin file must define at least one)")]
    return found


def _from_attribute(target: str) -> list[Found]:
    module_name, _, attribute = target.partition(":")
    source = f"{target}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise PluginNotFound(f"no module named {module_name!r}") from None
        return [Found("plugin", target, source, None,
                      f"failed to import: {type(exc).__name__}: {exc}")]
    except Exception as exc:
        return [Found("plugin", target, source, None,
                      f"failed to import: {type(exc).__name__}: {exc}")]
    value: object = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise PluginNotFound(f"module {module_name!r} has no attribute {attribute!r}")
        value = getattr(value, part)
    if not inspect.isclass(value) or _kind(value) is None:
        return [Found("plugin", target, source, None,
                      f"{target} is {value!r}, not a tunebench Task or Runner subclass")]
    return [_from_class(value, f"class {target}")]


def _from_registry(target: str) -> list[Found]:
    from tunebench import registry

    found = []
    kinds = (("task", registry.task_names, registry.get_task_class, registry.task_source),
             ("runner", registry.runner_names, registry.get_runner_class, registry.runner_source))
    for kind, names, get, source_of in kinds:
        if target not in names():
            continue
        try:
            cls = get(target)
        except registry.RegistryError as exc:
            found.append(Found(kind, target, f"registered {kind}", None, str(exc)))
        else:
            found.append(Found(kind, target, source_of(target), cls))
    return found


def _from_distribution(target: str) -> list[Found]:
    from tunebench.registry import RUNNER_GROUP, TASK_GROUP

    try:
        dist = distribution(target)
    except (PackageNotFoundError, ValueError):
        return []
    found = []
    groups = {TASK_GROUP: ("task", Task), RUNNER_GROUP: ("runner", Runner)}
    for ep in dist.entry_points:
        if ep.group not in groups:
            continue
        kind, base = groups[ep.group]
        source = f"entry point {ep.name} = {ep.value} ({dist.metadata['Name']})"
        try:
            loaded = ep.load()
        except Exception as exc:
            found.append(Found(kind, ep.name, source, None,
                               f"failed to import: {type(exc).__name__}: {exc}"))
            continue
        if not (inspect.isclass(loaded) and issubclass(loaded, base)):
            found.append(Found(kind, ep.name, source, None,
                               f"is {loaded!r}, not a subclass of tunebench {base.__name__}"))
        elif getattr(loaded, "name", None) != ep.name:
            found.append(Found(kind, ep.name, source, None,
                               f"declares name={getattr(loaded, 'name', None)!r}; the entry point "
                               "name and the class's `name` must agree"))
        else:
            found.append(Found(kind, ep.name, source, loaded))
    return found


def _from_module(target: str) -> list[Found] | None:
    source = f"module {target}"
    try:
        spec = importlib.util.find_spec(target)
    except (ModuleNotFoundError, ValueError):
        spec = None
    except Exception as exc:  # a parent package that fails to import
        return [Found("plugin", target, source, None,
                      f"failed to import: {type(exc).__name__}: {exc}")]
    if spec is None:
        return None
    try:
        module = importlib.import_module(target)
    except Exception as exc:
        return [Found("plugin", target, source, None,
                      f"failed to import: {type(exc).__name__}: {exc}")]
    # In a module (unlike a plugin file) a class without a name is a base class: entry points
    # name the classes to register, so only named ones are plugins.
    classes = [cls for cls in _plugin_classes(module, include_submodules=True)
               if isinstance(getattr(cls, "name", None), str) and cls.name]
    if not classes:
        return [Found("plugin", target, source, None,
                      "defines no Task or Runner subclass with a `name`")]
    return [_from_class(cls, source) for cls in classes]


def find_plugins(target: str) -> list[Found]:
    """Every plugin behind ``target`` (see the module docstring for what a target can be)."""
    path = Path(target)
    if target.endswith(".py") or (path.exists() and path.is_file()):
        return _from_file(path)
    if ":" in target:
        return _from_attribute(target)
    found = _from_registry(target)
    if found:
        return found
    found = _from_distribution(target)
    if found:
        return found
    module = _from_module(target)
    if module is not None:
        return module
    raise PluginNotFound(
        f"{target!r} is no plugin file, module:Class, registered task or runner, installed "
        "distribution with tunebench entry points, or importable module. Give a path "
        "(my_tasks.py), a module (my_package.tasks) or a name from `tunebench list tasks`."
    )
