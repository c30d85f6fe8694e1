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
    }
