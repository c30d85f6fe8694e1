"""Listing, building and checking tasks never imports torch (2–3 s); evaluating a torch task does.

Each check runs in a fresh interpreter, since this test process may have imported torch already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tunebench.suite.cache import task_code_hash
from tunebench.tasks.mnist_cnn import MnistCNNTask
from tunebench.tasks.text_clf import TextClassifierTask

TORCH_TASKS = {"mnist_cnn": MnistCNNTask, "text_clf": TextClassifierTask}

BUILD_AND_LIST = """
import json, sys
from typer.testing import CliRunner
from tunebench import registry
from tunebench.cli import app

built_in = [n for n in registry.task_names() if registry.task_source(n).endswith("(tunebench)")]
for name in built_in:
    task = registry.make_task(name)
    assert task.description, name
    task.space.validate(task.default_config())
try:
    registry.make_task("mnist_cnn", {"train_size": 5})
    rejected = False
except registry.RegistryError:
    rejected = True
listing = CliRunner().invoke(app, ["list", "tasks"])
print(json.dumps({"built_in": built_in, "rejected": rejected, "exit_code": listing.exit_code,
                  "output": listing.output,
                  "torch": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}))
"""

FRESH_CODE_HASHES = """
import json, sys
from tunebench.suite.cache import task_code_hash
from tunebench.tasks.mnist_cnn import MnistCNNTask
from tunebench.tasks.text_clf import TextClassifierTask

assert "torch" not in sys.modules
print(json.dumps({"mnist_cnn": task_code_hash(MnistCNNTask),
                  "text_clf": task_code_hash(TextClassifierTask)}))
"""

LIST_ONLY = """
import json, sys
from typer.testing import CliRunner
from tunebench.cli import app

listing = CliRunner().invoke(app, ["list", "tasks"])
print(json.dumps({"exit_code": listing.exit_code, "output": listing.output,
                  "heavy": sorted({m.split(".")[0] for m in sys.modules} & {"torch", "sklearn"})}))
"""


def _run(code: str) -> dict:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_building_every_built_in_task_and_listing_them_does_not_import_torch() -> None:
    found = _run(BUILD_AND_LIST)
    assert set(TORCH_TASKS) <= set(found["built_in"])
    assert found["rejected"]  # options are still validated without torch
    assert found["exit_code"] == 0, found["output"]
    assert all(name in found["output"] for name in found["built_in"])
    assert found["torch"] == []


def test_the_code_hash_is_the_same_before_and_after_a_trial_imported_torch() -> None:
    """A driver that never evaluated a task and a worker that did must agree on its code hash
    (resume compares them), though the worker has imported the task's torch modules."""
    fresh = _run(FRESH_CODE_HASHES)
    from tunebench.tasks import mnist_net, text_net, training  # noqa: F401  what a trial imports

    task_code_hash.cache_clear()
    assert fresh == {name: task_code_hash(cls) for name, cls in TORCH_TASKS.items()}


def test_listing_every_installed_task_imports_neither_torch_nor_scikit_learn() -> None:
    """Plugins included (the example package, installed by `make install`, uses scikit-learn
    inside its functions): each of these imports takes seconds."""
    found = _run(LIST_ONLY)
    assert found["exit_code"] == 0, found["output"]
    assert found["heavy"] == []
