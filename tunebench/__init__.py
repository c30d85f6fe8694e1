"""tunebench: fair, reproducible benchmarks of hyperparameter optimisation libraries.

The public Python API (what the CLI and notebooks use) is imported lazily so that
``import tunebench`` stays cheap and never pulls in torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {
    "run_suite": "tunebench.suite.run",
    "load_suite": "tunebench.suite.spec_parse",
    "load_trials": "tunebench.suite.store",
    "load_studies": "tunebench.suite.store",
    "load_curves": "tunebench.suite.store",
    "load_environments": "tunebench.suite.store",
    "reproduce": "tunebench.suite.reproduce",
    "export_bundle": "tunebench.suite.bundle",
    "EvaluationCacheStore": "tunebench.suite.cache",
    "build_report": "tunebench.reports",
    "write_report": "tunebench.reports",
    "get_task": "tunebench.api",
    "get_runner_class": "tunebench.registry",
    "Space": "tunebench.space",
    "Float": "tunebench.space",
    "Int": "tunebench.space",
    "Categorical": "tunebench.space",
    "Task": "tunebench.tasks.base",
    "Result": "tunebench.tasks.base",
    "EvalContext": "tunebench.tasks.base",
    "Direction": "tunebench.tasks.base",
    "Runner": "tunebench.runners.base",
    "Outcome": "tunebench.runners.base",
    "Proposal": "tunebench.runners.base",
    "Capabilities": "tunebench.runners.base",
    "BudgetInfo": "tunebench.runners.base",
    "SearchExhausted": "tunebench.runners.base",
    "WaitForResults": "tunebench.runners.base",
    "export_parquet": "tunebench.suite.export_formats",
    "read_parquet_export": "tunebench.suite.export_formats",
    "export_optuna": "tunebench.suite.export_formats",
    "palette": "tunebench.reports",
}

__all__ = [*_API, "__version__"]


def __dir__() -> list[str]:
    """The public API (what ``from tunebench import …`` offers), as ``dir(tunebench)`` shows it."""
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'tunebench' has no attribute {name!r}")
