"""Device, threads, numeric precision, determinism and synchronised clocks, chosen once per study.

Only tasks that declare ``uses_torch`` pay for importing torch; everything else runs on "cpu".
Every function here imports torch lazily, so the harness can import this module for any suite.

- :func:`resolve_device` — ``auto`` picks CUDA, then MPS, else CPU; an explicit device is checked.
- :func:`apply_threads` / :func:`pinned_threads` / :func:`thread_env` — the thread count changes the
  numbers a CPU computes (a different reduction order), so it is a study setting, fixed and recorded.
- :func:`resolve_precision` / :func:`autocast` — fp32, bf16 (CPU autocast; fast where the CPU has
  AMX-BF16 or AVX512-BF16) or fp16 (GPU); ``auto`` picks the fastest the device does well.
- :func:`deterministic` / :func:`determinism_settings` — torch's deterministic algorithms, and the
  settings that make a run repeatable bit for bit, captured for the record.
- :func:`synchronize` / :class:`DeviceTimer` — device seconds measured with the queue drained at
  both ends, so a GPU's asynchronous work is charged to the trial that queued it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any


class DeviceError(ValueError):
    """A device or precision was asked for that this machine cannot provide."""


_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_PRECISION_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
#: What OpenMP threads do while waiting: spinning burns a core another process needs (FACTS.md).
OMP_WAIT_POLICY = "PASSIVE"


def _import_torch() -> Any:
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)  # only matters before torch loads
    import torch

    return torch


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(requested: str = "auto", uses_torch: bool = False) -> str:
    """The device a study runs on: CUDA if present, then MPS, else CPU, unless ``requested`` names one.

    ``requested`` is ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``. For a torch task an explicit
    GPU is checked against what torch sees, and a missing one is a :class:`DeviceError` (never a
    silent fall-back to the CPU, which would change what is being compared).
    """
    requested = (requested or "auto").strip().lower()
    if requested != "auto" and not _DEVICE_RE.match(requested):
        raise DeviceError(
            f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps"
        )
    if not uses_torch:
        return "cpu" if requested == "auto" else requested
    torch = _import_torch()
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available(torch):
            return "mps"
        return "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            build = torch.version.cuda or "none: this is a CPU-only build"
            raise DeviceError(
                f"device {requested!r} was asked for but torch sees no CUDA device "
                f"(torch {torch.__version__}, CUDA {build}); use device = \"auto\" or \"cpu\""
            )
        index = int(requested.split(":")[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {requested!r} was asked for but torch sees "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    elif requested == "mps" and not _mps_available(torch):
        raise DeviceError("device 'mps' was asked for but torch sees no MPS device")
    return requested


def synchronize(device: str) -> None:
    """Wait for queued device work so a clock read measures it (a no-op on the CPU)."""
    if device == "cpu":
        return
    if device.startswith("cuda") and "torch" in sys.modules:
        import torch

        torch.cuda.synchronize(device)
    elif device == "mps" and "torch" in sys.modules:
        import torch

        torch.mps.synchronize()


class DeviceTimer:
    """Seconds of work on ``device``, with the device synchronised when the clock starts and stops.

    ``seconds`` is wall-clock time (what a GPU's work costs); ``cpu_seconds`` is this process's CPU
    time over the same span (all its threads). Usable as a context manager or with start/stop.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self._start: tuple[float, float] | None = None

    def start(self) -> DeviceTimer:
        synchronize(self.device)
        self._start = (time.perf_counter(), time.process_time())
        return self

    def stop(self) -> float:
        """Stop the clock; add the span to the totals and return it (seconds)."""
        if self._start is None:
            raise RuntimeError("DeviceTimer.stop() called before start()")
        synchronize(self.device)
        wall = time.perf_counter() - self._start[0]
        self.cpu_seconds += time.process_time() - self._start[1]
        self.seconds += wall
        self._start = None
        return wall

    def __enter__(self) -> DeviceTimer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._start is not None:
            self.stop()


# --- threads ---------------------------------------------------------------------------------

def thread_env(threads: int | None) -> dict[str, str]:
    """Environment for a worker process that must compute with ``threads`` threads.

    Set it before the process imports torch: OpenMP reads these once, when it starts.
    """
    env = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", OMP_WAIT_POLICY)}
    if threads is not None:
        _check_threads(threads)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    return env


def _check_threads(threads: int) -> None:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise DeviceError(f"threads must be a positive integer, got {threads!r}")


def apply_threads(threads: int | None) -> int:
    """Make torch compute with ``threads`` intra-op threads (``None``: leave as is); return the old count."""
    torch = _import_torch()
    previous = int(torch.get_num_threads())
    if threads is not None:
        _check_threads(threads)
        if threads != previous:
            torch.set_num_threads(threads)
    return previous


@contextlib.contextmanager
def pinned_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` torch threads, restoring the previous count afterwards."""
    previous = apply_threads(threads)
    try:
        yield threads if threads is not None else previous
    finally:
        if threads is not None and threads != previous:
            apply_threads(previous)


# --- precision -------------------------------------------------------------------------------

def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AMX-BF16 or AVX512-BF16), as torch reports it."""
    torch = _import_torch()
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):
        return False
    return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))


def normalise_precision(precision: str) -> str:
    value = _PRECISION_ALIASES.get(str(precision).strip().lower(), str(precision).strip().lower())
    if value not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return value


def resolve_precision(requested: str, device: str, *, low_precision_pays: bool = True) -> str:
    """The concrete precision (``fp32``, ``bf16`` or ``fp16``) a torch evaluation runs in.

    ``auto`` picks bf16 on a CPU with hardware bf16, bf16 on a GPU that supports it, else fp16 on
    a GPU, else fp32 — unless the task says low precision does not pay for its model
    (``low_precision_pays=False``), when it picks fp32. Tasks check that their ``auto`` keeps
    accuracy; explicit requests are honoured where the device can run them.
    """
    precision = normalise_precision(requested)
    kind = device.split(":")[0]
    torch = _import_torch()
    if precision == "auto":
        if not low_precision_pays or kind == "mps":
            return "fp32"
        if kind == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if precision == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"precision bf16 was asked for but {device} does not support it")
    return precision


_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def autocast(device: str, precision: str) -> contextlib.AbstractContextManager[Any]:
    """A context in which the forward pass runs in ``precision`` (fp32: no autocast at all)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    torch = _import_torch()
    dtype = getattr(torch, _DTYPES[precision])
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)


# --- determinism -----------------------------------------------------------------------------

def _set_deterministic_algorithms(torch: Any, mode: bool, *, warn_only: bool) -> None:
    """``torch.use_deterministic_algorithms`` without its import of ``torch._inductor.config``.

    That import takes 1.5-3.5 s here, paid by the first evaluation of every process, for a flag
    that only matters to ``torch.compile``; it is set too when inductor is already loaded.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # a torch without the private setter: take the public, slower path
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
        return
    setter(mode, warn_only=warn_only)
    inductor_config = sys.modules.get("torch._inductor.config")
    if inductor_config is not None:
        inductor_config.deterministic = mode


@contextlib.contextmanager
def deterministic(device: str = "cpu") -> Iterator[None]:
    """Run the block with torch's deterministic algorithms (cuDNN autotuning off); restore afterwards.

    On CUDA, cuBLAS also needs ``CUBLAS_WORKSPACE_CONFIG`` set before its first call; it is set
    here if absent. On a GPU an operation without a deterministic implementation warns rather
    than failing the trial (``warn_only``); on the CPU every operation tunebench uses has one.
    """
    torch = _import_torch()
    cuda = device.startswith("cuda")
    if cuda:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    _set_deterministic_algorithms(torch, True, warn_only=cuda)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        _set_deterministic_algorithms(torch, previous[0], warn_only=previous[1])
        torch.backends.cudnn.deterministic = previous[2]
        torch.backends.cudnn.benchmark = previous[3]


def device_name(device: str) -> str:
    """A human-readable name of the hardware behind ``device``."""
    if device.startswith("cuda") and "torch" in sys.modules:
        import torch

        return str(torch.cuda.get_device_name(device))
    if device == "mps":
        return f"Apple GPU ({platform.machine()})"
    name = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return name or platform.processor() or platform.machine()


def determinism_settings(device: str = "cpu") -> dict[str, Any]:
    """Everything that decides whether two runs give the same bits, for the record (JSON-ready)."""
    torch = _import_torch()
    settings: dict[str, Any] = {
        "device": device,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "threads": int(torch.get_num_threads()),
        "interop_threads": int(torch.get_num_interop_threads()),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    if device.startswith("cuda"):
        settings["cudnn"] = torch.backends.cudnn.version()
        settings["cublas_workspace_config"] = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    return settings
