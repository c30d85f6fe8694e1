"""What machine and software produced a result, captured once per run.

Numbers depend on more than code: torch's thread count and CPU kernel set (AVX-512 vs AVX2) change
training results bit for bit, so they are recorded with every run for `reproduce` to compare.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from tunebench.threadpools import pool_info
from tunebench.versions import package_version

#: This process's PYTHONHASHSEED as it started (a later change to os.environ, such as the process
#: executor's while it starts workers, does not change the hash seed of a running interpreter).
_HASH_SEED_AT_START = os.environ.get("PYTHONHASHSEED")
#: The hash seed studies run with when the user fixed none: any fixed value makes set and dict
#: orders, hence libraries that iterate them (SMAC3), the same in every process.
DEFAULT_HASH_SEED = "0"

#: Packages whose versions can change results.
TRACKED_PACKAGES = (
    "tunebench", "numpy", "scipy", "pandas", "scikit-learn", "torch", "optuna", "hyperopt",
    "nevergrad", "ray", "threadpoolctl",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    return {name: package_version(name) for name in names}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=4)
def git_revision(path: Path | None = None) -> str | None:
    """The git revision of the tunebench source tree (None for an installed wheel)."""
    where = path or Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=False)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def torch_info() -> dict[str, Any] | None:
    """torch facts that change numbers; only if torch is already imported (never imported here)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    info: dict[str, Any] = {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def blas_info() -> list[dict[str, Any]]:
    try:
        return [{k: v for k, v in pool.items() if k in ("internal_api", "version",
                                                          "num_threads", "architecture")}
                for pool in pool_info()]
    except Exception:  # threadpoolctl inspects native libraries; never fail a run over it
        return []


def capture_environment() -> dict[str, Any]:
    """A JSON-ready description of this process's machine and software."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
        "packages": dict(package_versions()),
        "torch": torch_info(),
        "blas": blas_info(),
        "git_revision": git_revision(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                           "OMP_WAIT_POLICY", "CUDA_VISIBLE_DEVICES")
                if k in os.environ},
        "python_hash_seed": python_hash_seed(),
    }


def python_hash_seed() -> str | None:
    """This interpreter's fixed hash seed (PYTHONHASHSEED at start), or None when str hashes are
    randomised per process. Checked against ``sys.flags``: 0 disables randomisation and is the
    only value the flags can confirm, so a 0 set after start is not taken for a fixed seed."""
    value = _HASH_SEED_AT_START
    if value is None or not value.isdigit() or int(value) > 4294967295:
        return None
    if (int(value) == 0) != (sys.flags.hash_randomization == 0):
        return None
    return str(int(value))


def hash_seed_for_workers() -> str:
    """The PYTHONHASHSEED study processes start with: the driver's own when fixed, else the default."""
    return python_hash_seed() or DEFAULT_HASH_SEED


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def device_facts(device: str) -> dict[str, Any]:
    """What hardware ``device`` is: model name, memory in bytes, and for a CUDA device its UUID.

    Comparisons go by model, not index: ``cuda:0`` and ``cuda:1`` of one model are the same
    device, while ``cuda`` on two machines may be two. The UUID tells which physical GPU a study
    had (worker indices are remapped by CUDA_VISIBLE_DEVICES). The CPU's memory is the machine's.
    """
    from tunebench.devices import device_name

    if not device.startswith("cuda"):
        return {"device_model": device_name(device), "device_memory": _memory_bytes(),
                "device_uuid": None}
    facts: dict[str, Any] = {"device_model": None, "device_memory": None, "device_uuid": None}
    torch = sys.modules.get("torch")  # a task that does not use torch never sees a GPU
    if torch is not None and torch.cuda.is_available():
        try:
            properties = torch.cuda.get_device_properties(device)
        except (RuntimeError, ValueError, AssertionError):  # facts never fail a study
            return facts
        uuid = getattr(properties, "uuid", None)
        facts.update(device_model=str(properties.name), device_memory=int(properties.total_memory),
                     device_uuid=str(uuid) if uuid is not None else None)
    return facts


def study_facts(device: str, runner: Any) -> dict[str, Any]:
    """Facts a study records when it starts, from the process that runs it: the hardware, the hash
    seed, and whether its runner is deterministic by design (identical repetitions expected)."""
    return {**device_facts(device), "python_hash_seed": python_hash_seed(),
            "runner_deterministic": bool(getattr(runner.capabilities, "deterministic", False))}
