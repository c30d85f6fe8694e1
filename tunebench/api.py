"""Small conveniences of the public API that belong to no single layer."""

from __future__ import annotations

from typing import Any

from tunebench.registry import make_task
from tunebench.tasks.base import Task


def get_task(name: str, **options: Any) -> Task:
    """A task by name, built with its options (``get_task("rosenbrock", dim=4)``)."""
    return make_task(name, options)
