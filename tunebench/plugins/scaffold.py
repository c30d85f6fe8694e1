"""``tunebench new task|runner NAME``: write a ready-to-edit plugin package.

The package has a ``pyproject.toml`` declaring the entry point, the module with one class, a README
and a test that runs the class through tunebench's conformance checks. It passes those checks as
written, so every later failure comes from an edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from tunebench.plugins import templates

KINDS = {"task": "tunebench.tasks", "runner": "tunebench.runners"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[._-][A-Za-z0-9]+)*")


class ScaffoldError(ValueError):
    """The name or the target directory cannot be used; the message says why."""


@dataclass(frozen=True)
class PluginNames:
    """Every name a plugin package needs, derived from the one the user gives."""

    kind: str
    name: str
    dist: str
    module: str
    cls: str

    @property
    def group(self) -> str:
        return KINDS[self.kind]


def plugin_names(kind: str, name: str) -> PluginNames:
    if kind not in KINDS:
        raise ScaffoldError(f"cannot scaffold a {kind!r}: choose task or runner")
    if not _NAME.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} cannot name a {kind}: use letters and digits, starting with a letter, "
            "optionally joined by '_', '-' or '.' (e.g. my_task, mylib.tpe)")
    parts = re.split(r"[._-]", name)
    camel = "".join(part[:1].upper() + part[1:] for part in parts)
    suffix = kind.capitalize()
    cls = camel if camel.endswith(suffix) else camel + suffix
    slug = "_".join(parts).lower()
    return PluginNames(kind, name, "tunebench-" + slug.replace("_", "-"), "tunebench_" + slug, cls)


def plugin_files(names: PluginNames) -> dict[str, str]:
    """Relative path → text of every file of the package."""
    values = {"name": names.name, "kind": names.kind, "group": names.group, "dist": names.dist,
              "module": names.module, "cls": names.cls}
    module = templates.TASK if names.kind == "task" else templates.RUNNER
    return {
        "pyproject.toml": Template(templates.PYPROJECT).substitute(values),
        "README.md": Template(templates.README).substitute(values),
        f"src/{names.module}/__init__.py": Template(module).substitute(values),
        f"tests/test_{names.module}.py": Template(templates.TEST).substitute(values),
    }


def new_plugin(kind: str, name: str, directory: str | Path | None = None,
               force: bool = False) -> tuple[Path, list[Path]]:
    """Write the package for a new ``kind`` called ``name``; return its directory and files.

    ``directory`` defaults to ``./<distribution name>``. An existing non-empty directory is
    refused unless ``force`` (which overwrites only the files the package consists of).
    """
    names = plugin_names(kind, name)
    root = Path(directory) if directory is not None else Path.cwd() / names.dist
    root = root.expanduser()
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise ScaffoldError(f"{root} already exists and is not empty; choose another --dir or "
                            "pass --force to overwrite the package's files")
    written = []
    for relative, text in plugin_files(names).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return root, written
