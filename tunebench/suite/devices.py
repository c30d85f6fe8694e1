"""Device selection, thread pinning and clock synchronisation, chosen once per study.

Only tasks that declare ``uses_torch`` pay for importing torch; everything else runs on "cpu".
"""

from __future__ import annotations

import sys


def resolve_device(requested: str = "auto", uses_torch: bool = False) -> str:
    """The device a study runs on: CUDA if present, then MPS, else CPU, unless ``requested`` names one."""
    if requested != "auto":
        return requested
    if not uses_torch:
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def synchronize(device: str) -> None:
    """Wait for queued device work so a clock read measures it (a no-op on the CPU)."""
    if device.startswith("cuda") and "torch" in sys.modules:
        import torch

        torch.cuda.synchronize(device)
    elif device == "mps" and "torch" in sys.modules:
        import torch

        torch.mps.synchronize()
