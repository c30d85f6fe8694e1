"""Where a local Ray started by tunebench keeps its session, and how nothing of it outlives a run.

Ray writes a session folder (logs, sockets, spilled objects) under ``/tmp/ray`` by default and
never removes it; after a driver is SIGKILLed, Ray's per-node agents (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``) outlive it, orphaned, for minutes. A local Ray started by tunebench keeps
its session in a folder of its own, ``<temp>/tb-ray-<driver pid>-<random>``, removed when the run
ends; and every start first cleans up after runs whose driver died: it stops the processes still
holding files in their folders (found through ``/proc`` on Linux) and removes the folders. The
folder's name is short because Ray puts Unix sockets inside it (107 bytes at most).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

PREFIX = "tb-ray-"


def new_session_dir() -> Path:
    """A fresh folder for one run's Ray session, named after this driver's pid."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))


def _owner(folder: Path) -> int | None:
    try:
        return int(folder.name[len(PREFIX):].split("-", 1)[0])
    except ValueError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holders(folder: Path) -> list[int]:
    """Processes with a file open inside ``folder`` (Linux; elsewhere none are found)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    prefix = str(folder.resolve()) + os.sep
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd).startswith(prefix):
                        found.append(int(entry.name))
                        break
    return found


def remove_session(folder: Path, grace: float = 2.0) -> None:
    """Stop what still runs from ``folder`` (SIGTERM, then SIGKILL after ``grace`` s), remove it."""
    pids = holders(folder)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def clean_stale_sessions(temp: str | Path | None = None) -> list[Path]:
    """Remove the session folders (and stop the processes) of tunebench runs whose driver died."""
    root = Path(temp or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{PREFIX}*"):
        owner = _owner(folder)
        if folder.is_dir() and owner is not None and owner != os.getpid() and not _alive(owner):
            remove_session(folder)
            removed.append(folder)
    return removed
