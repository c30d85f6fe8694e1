"""Writing and checking plugins: scaffolds for new tasks and runners, and a linter for plugins.

    from tunebench.plugins import assert_conforms, check_plugin
    assert_conforms(MyTask)                          # in a plugin's own tests: raises on failure
    report = check_plugin("my_tasks.py")             # or a module, a distribution, a registered name
    report.ok, report.rows                           # one CheckRow per (plugin, check)

Task checks are in :mod:`tunebench.plugins.checks`; runner checks are tunebench's own runner
conformance checks (:mod:`tunebench.runners.conformance`), run unchanged. ``tunebench new task|runner``
writes a package from :mod:`tunebench.plugins.scaffold`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunebench.plugins.checks import (
    FAILED,
    PASSED,
    SKIPPED,
    CheckRow,
    PluginCheckError,
    PluginReport,
    TaskConformance,
    assert_conforms,
    check_class,
)
from tunebench.plugins.discovery import Found, PluginNotFound, find_plugins


def check_plugin(target: str, options: Mapping[str, Any] | None = None, *,
                 fidelity: int | None = None, samples: int = 3, trials: int = 30) -> PluginReport:
    """Check every task and runner behind ``target`` (a file, module, distribution or name).

    A plugin that does not load is one failed ``load`` row; the others are still checked.
    Raises :class:`PluginNotFound` when ``target`` names nothing at all.
    """
    report = PluginReport(target)
    for found in find_plugins(target):
        if found.cls is None:
            report.rows.append(CheckRow(found.kind, found.name, found.source, "load", FAILED,
                                        found.problem or "could not be loaded"))
            continue
        report.rows.extend(check_class(found.cls, options, source=found.source,
                                       fidelity=fidelity, samples=samples, trials=trials))
    return report


__all__ = ["FAILED", "PASSED", "SKIPPED", "CheckRow", "Found", "PluginCheckError",
           "PluginNotFound", "PluginReport", "TaskConformance", "assert_conforms", "check_class",
           "check_plugin", "find_plugins"]
