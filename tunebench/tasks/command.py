"""Any training script as a task: the configuration goes in, metrics come out as JSON lines.

A user with a working script (PyTorch, Keras, anything that runs) need not port it to a
:class:`~tunebench.tasks.base.Task` class. The ``command`` task runs it once per trial::

    [[tasks]]
    name = "command"
    options = { command = ["python", "train.py", "--lr", "{lr}"], script = "train.py",
                max_epochs = 10, metric = "val_loss",
                space = { lr = { type = "float", low = 1e-4, high = 1.0, log = true } } }

**In**: the configuration as a JSON object on stdin (``{"config": …, "fidelity": …, "seed": …,
"start": 0}``), in the environment (``TUNEBENCH_CONFIG`` as JSON, ``TUNEBENCH_FIDELITY``,
``TUNEBENCH_SEED``) and in the arguments (``{name}`` of any parameter, ``{fidelity}``, ``{seed}``,
``{config_json}``; ``{python}`` is the interpreter running tunebench). **Out**: one JSON line per
epoch on stdout, ``{"step": 3, "value": 0.42}``, so pruners and runner-chosen fidelities work,
and a last ``{"value": …, "test_value": …}`` (a script that prints only per-epoch lines ends on
its last one). Other output is ignored. A script that exits with an error, or prints no value,
fails its trial with the last lines it wrote to stderr; a pruner's stop, a trial timeout or an
interrupt kills it.

The space comes from ``space`` (tunebench's own form, :meth:`~tunebench.space.Space.from_dict`)
or from ``space_file``, a TOML file beside the script holding the same table. Name the script in
``script`` (a file or its folder): the evaluation cache then hashes it, so an edited script is
never served the old one's results. A script is deterministic only if it seeds itself from the
seed it is given; tunebench cannot check that for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from tunebench.space import Config, Direction, Space, SpaceError
from tunebench.tasks.base import EvalContext, Result, Task, TaskError, TrialTimeout

#: What a failed trial keeps of the script's stderr.
STDERR_TAIL = 4096


class CommandTask(Task):
    name = "command"
    description = "Any training script as a task: configuration in (stdin/env/argv), JSON lines out"
    isolation = "none"  # the script is a process of its own: its crash fails its trial only
    data_files: ClassVar[dict[str, str | None]] = {"script": None}

    def __init__(self, command: Sequence[str] = (), space: Mapping[str, Any] | None = None,
                 space_file: str | None = None, script: str | None = None, max_epochs: int = 1,
                 metric: str = "loss", direction: str = "minimize", cwd: str | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        if isinstance(command, str) or not command or not all(isinstance(a, str) for a in command):
            raise TaskError("command: give the command as a list of strings, e.g. command = "
                            "[\"python\", \"train.py\"]")
        self.command = list(command)
        self.cwd = cwd
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self._space = self._read_space(space, space_file)
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise TaskError(f"command: max_epochs must be a whole number from 1, got {max_epochs!r}")
        self.max_fidelity = max_epochs
        self.metric = str(metric)
        try:
            self.direction = Direction(direction)
        except ValueError:
            raise TaskError(f"command: direction must be minimize or maximize, got "
                            f"{direction!r}") from None
        self.script = script

    def _read_space(self, space: Mapping[str, Any] | None, space_file: str | None) -> Space:
        if (space is None) == (space_file is None):
            raise TaskError("command: give the search space as `space = { … }` or as "
                            "`space_file = \"space.toml\"`, one of the two")
        if space_file is not None:
            path = Path(space_file) if self.cwd is None else Path(self.cwd) / space_file
            try:
                space = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise TaskError(f"command: cannot read space_file {path}: {exc}") from None
        try:
            return Space.from_dict(space)
        except SpaceError as exc:
            raise TaskError(f"command: space: {exc}") from None

    @property
    def space(self) -> Space:
        return self._space

    # ------------------------------------------------------------------ one evaluation
    def argv(self, config: Config, fidelity: int, seed: int) -> list[str]:
        fields = {**{k: _text(v) for k, v in config.items()}, "fidelity": str(fidelity),
                  "seed": str(seed), "config_json": json.dumps(config, sort_keys=True),
                  "python": sys.executable}
        try:
            return [arg.format_map(_Inactive(fields)) for arg in self.command]
        except (ValueError, IndexError) as exc:
            raise TaskError(f"command: an argument is not a valid template: {exc}") from None

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        message = json.dumps({"config": config, "fidelity": fidelity, "seed": seed,
                              "start": context.start}, sort_keys=True)
        env = {**os.environ, **self.env, "TUNEBENCH_CONFIG": json.dumps(config, sort_keys=True),
               "TUNEBENCH_FIDELITY": str(fidelity), "TUNEBENCH_SEED": str(seed)}
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(self.argv(config, fidelity, seed), cwd=self.cwd, env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                    text=True, bufsize=1)
            timer = _deadline_timer(proc, context.deadline)
            try:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write(message + "\n")
                    proc.stdin.close()
                final = self._read(proc, context)
                code = proc.wait()
            except BaseException:  # a pruner's stop, an interrupt: the script goes with it
                proc.kill()
                proc.wait()
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            if timer is not None and timer.fired:
                raise TrialTimeout(f"the script ran past its time limit and was killed "
                                   f"(exit code {code})")  # in the middle of a step
            if code != 0 or final is None:
                why = f"exited with code {code}" if code != 0 else "printed no value"
                raise RuntimeError(f"the script {why}; its stderr ends: {_tail(stderr)}")
        value, test_value = final
        return Result(value=value, test_value=test_value,
                      fidelity_spent=len(context.curve) + context.start or None)

    def _read(self, proc: subprocess.Popen[str], context: EvalContext
              ) -> tuple[float, float | None] | None:
        """Report every epoch line; the final value (the last epoch's when none is printed)."""
        final: tuple[float, float | None] | None = None
        for line in proc.stdout:
            record = _record(line)
            if record is None or "value" not in record:
                continue
            if "step" in record:
                context.report(int(record["step"]), float(record["value"]))
                final = (float(record["value"]), None)
            else:
                test = record.get("test_value")
                final = (float(record["value"]), None if test is None else float(test))
        return final


class _Inactive(dict):
    """Template fields: a parameter inactive in this configuration reads as an empty string."""

    def __missing__(self, key: str) -> str:
        return ""


class _Timer(threading.Timer):
    fired = False

    def run(self) -> None:
        self.finished.wait(self.interval)
        if not self.finished.is_set():
            self.fired = True
            self.function(*self.args, **self.kwargs)


def _deadline_timer(proc: subprocess.Popen[str], deadline: float | None) -> _Timer | None:
    if deadline is None:
        return None
    timer = _Timer(max(0.0, deadline - time.monotonic()), proc.kill)
    timer.daemon = True
    timer.start()
    return timer


def _record(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (bool, type(None))) else str(value)


def _tail(stream: Any) -> str:
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(max(0, size - STDERR_TAIL))
    text = stream.read().decode("utf-8", errors="replace").strip()
    return (text or "(nothing)")[-STDERR_TAIL:]
