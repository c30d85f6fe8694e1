"""Tasks that take their process down on purpose, loaded by suites as a plugin file.

Every one is deterministic in its configuration, so an interrupted and resumed run can be compared
trial by trial with an uninterrupted one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

from tunebench.space import Categorical, Config, Float, Space
from tunebench.tasks.base import EvalContext, Result, Task

#: What Crasher does for each ``how``; "fine" returns a value after two reported steps.
HOW = ("fine", "os_exit", "sigkill", "segfault", "sys_exit0", "sys_exit3", "prints")


def _segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV


class Crasher(Task):
    """Ends its own process in the ways a real trial can (a segfault, a kill, an exit)."""

    name = "crasher"
    max_fidelity = 3

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    @property
    def space(self) -> Space:
        return Space({"how": Categorical(HOW), "x": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        how, x = config["how"], float(config["x"])
        context.report(1, x)
        if how not in ("fine", "prints"):
            time.sleep(self.delay)  # a crashing trial in progress, for a kill to land in
        if how == "os_exit":
            os._exit(7)
        if how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "segfault":
            _segfault()
        if how == "sys_exit0":
            sys.exit(0)
        if how == "sys_exit3":
            sys.exit(3)
        if how == "prints":
            print(f"hello from x={x:.4f}")
            print("and from stderr", file=sys.stderr)
        for step in range(2, fidelity + 1):
            context.report(step, x / step)
        return Result(value=x / fidelity, test_value=x, fidelity_spent=fidelity)


class Hangs(Task):
    """Blocks in C code (a ``time.sleep`` the interpreter never interrupts) for ``seconds``, with
    SIGALRM ignored: only a kill from outside ends it early."""

    name = "hangs"

    def __init__(self, seconds: float = 30.0) -> None:
        self.seconds = seconds

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        libc = ctypes.CDLL(None)
        libc.sleep(int(self.seconds))  # C-level: no Python bytecode runs until it returns
        return Result(value=float(config["x"]))


class Hungry(Task):
    """Allocates ``mb`` MiB for x > 0.5 (past any small memory limit), nothing otherwise."""

    name = "hungry"

    def __init__(self, mb: int = 4096) -> None:
        self.mb = mb

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        x = float(config["x"])
        if x > 0.5:
            block = bytearray(self.mb * 1024 * 1024)
            return Result(value=float(len(block)))
        return Result(value=x)


class Stepped(Task):
    """Steps of ``step_seconds`` of sleep, with an uncharged span before them: pruning and
    device-seconds clipping act on it the same way in-process and isolated."""

    name = "stepped"
    max_fidelity = 4

    def __init__(self, step_seconds: float = 0.0, uncharged_seconds: float = 0.0) -> None:
        self.step_seconds, self.uncharged_seconds = step_seconds, uncharged_seconds

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        x = float(config["x"])
        with context.uncharged():
            time.sleep(self.uncharged_seconds)
        value = x
        for step in range(1, fidelity + 1):
            time.sleep(self.step_seconds)
            value = x + 1.0 / step
            context.report(step, value)
        context.save_checkpoint({"x": x, "steps": fidelity})
        return Result(value=value, test_value=value, fidelity_spent=fidelity)


class Warns(Task):
    """Overflows numpy when ``x > 0.5`` and warns about every configuration, as a real task might:
    the warnings go to the store with their trial, never through the progress display."""

    name = "warns"
    max_fidelity = 2

    @property
    def space(self) -> Space:
        return Space({"x": Float(0.0, 1.0)})

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        import warnings

        import numpy as np

        x = float(config["x"])
        for step in range(1, fidelity + 1):
            context.report(step, x)
        if x > 0.5:
            np.exp(np.array([1000.0 + x]))
        warnings.warn(f"configuration x={x:.3f} is only a test", UserWarning, stacklevel=1)
        return Result(value=x, test_value=x, fidelity_spent=fidelity)
