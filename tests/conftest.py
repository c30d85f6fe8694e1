"""Shared fixtures: suite files written on the fly, a test plugin with misbehaving tasks."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

TESTS = Path(__file__).parent
PLUGIN_TASKS = TESTS / "plugin_tasks.py"


@pytest.fixture
def write_suite(tmp_path: Path) -> Callable[..., Path]:
    """Write a suite TOML (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "suite.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).replace("@PLUGIN@", str(PLUGIN_TASKS)))
        return path

    return write
