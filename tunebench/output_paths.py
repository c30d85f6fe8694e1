"""Is this a safe place to write? One answer for every command that writes a file or a directory.

Each check runs before any work (so a long report or reproduction never ends in a refused path), and
:func:`writing` turns an ``OSError`` met while writing (a full disk, a permission denied) into the
same kind of one-line error. A refused path is never touched. Shared by every layer: it imports only
the standard library and :mod:`tunebench.errors`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from tunebench.errors import UserError


class OutputPathError(UserError, ValueError):
    """An output path cannot be written: the message says what, where and how to fix it."""


#: What SQLite and the store's lock keep beside a results store ``x.db``.
STORE_SIDECARS = ("-wal", "-shm", "-journal", ".lock", "-lock")


def store_files(db: str | os.PathLike[str]) -> list[Path]:
    """A results store and the files beside it that are part of it: never an output."""
    db = Path(db)
    return [db, *(db.with_name(db.name + suffix) for suffix in STORE_SIDECARS)]


def _existing_ancestor(path: Path, option: str) -> Path:
    """The nearest ancestor of ``path`` (itself excluded) that exists; refuse one that is a file."""
    parent = path.absolute().parent
    while not parent.exists():
        if parent.is_symlink():
            raise OutputPathError(f"{option} {path}: {parent} is a dangling symbolic link; "
                                  "point it at a folder or choose another path")
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(f"{option} {path} is below {parent}, which is a file, not a folder; "
                              "choose a path inside a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {option} {path}: the folder {parent} is not writable; "
                              "choose a writable folder")
    return parent


def _same_file(path: Path, protected: Iterable[Path]) -> Path | None:
    resolved = path.resolve()
    for other in protected:
        if other.resolve() == resolved:
            return other
        with contextlib.suppress(OSError):
            if path.exists() and other.exists() and os.path.samefile(path, other):
                return other
    return None


def check_output_file(path: str | os.PathLike[str], option: str, *, force: bool | None = None,
                      devices: bool = False, protected: Iterable[Path] = ()) -> Path:
    """Refuse ``path`` unless a file can be written there, before anything is written.

    Refused: a folder, a path below a file, an unwritable folder, one of ``protected`` (compared by
    resolved path and by inode, so a symlink or a hard link to it is caught), something that is not
    a regular file (a device, a pipe; allowed with ``devices``, e.g. ``--json /dev/stdout``), and an
    existing regular file unless ``force`` (``None``: the command has no ``--force``).
    """
    path = Path(path)
    same = _same_file(path, protected)
    if same is not None:
        raise OutputPathError(f"{option} {path} would overwrite {same}, part of the results store "
                              "being read; choose another file")
    if path.is_dir():
        raise OutputPathError(f"{option} {path} is a folder; give a file path (e.g. {path}/out)")
    if path.exists() or path.is_symlink():
        mode = path.stat().st_mode if path.exists() else 0
        if not stat.S_ISREG(mode):
            if devices and path.exists():
                return path
            raise OutputPathError(f"{option} {path} exists and is not a regular file; "
                                  "choose a new file path")
        if not force:
            hint = "" if force is None else " or pass --force to replace it"
            raise OutputPathError(f"{option} {path} already exists; choose a new file{hint}")
    _existing_ancestor(path, option)
    return path


def check_output_dir(path: str | os.PathLike[str], option: str) -> Path:
    """Refuse ``path`` unless it is, or can be made, a writable folder."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputPathError(f"{option} {path} is a file, not a folder; "
                                  "give a folder path (it is created if missing)")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"{option} {path} is not writable; choose a writable folder")
        return path
    _existing_ancestor(path, option)
    return path


_FULL = "free some space or choose another disk"
_ELSEWHERE = "choose another path"
#: errno → (what happened, how to fix it)
_WHY = {errno.ENOSPC: ("the disk is full", _FULL), errno.EDQUOT: ("the disk quota is exceeded", _FULL),
        errno.EACCES: ("permission denied", _ELSEWHERE), errno.EPERM: ("permission denied", _ELSEWHERE),
        errno.EROFS: ("the file system is read-only", _ELSEWHERE),
        errno.ENOTDIR: ("a part of the path is a file", _ELSEWHERE),
        errno.EISDIR: ("it is a folder", _ELSEWHERE),
        errno.EEXIST: ("a file of that name is in the way", _ELSEWHERE)}


@contextlib.contextmanager
def writing(path: str | os.PathLike[str], option: str) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into one clear :class:`OutputPathError`."""
    try:
        yield
    except OutputPathError:
        raise
    except OSError as exc:
        why, fix = _WHY.get(exc.errno or 0, (exc.strerror or str(exc), _ELSEWHERE))
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise OutputPathError(f"cannot write {option} {path}{where}: {why}; {fix}") from None


def write_text_output(path: str | os.PathLike[str], text: str, option: str) -> None:
    """Write ``text`` to ``path``: a regular file through ``PATH.partial`` and a rename, so a full
    disk never leaves half a file in place of the old one; a device (``/dev/stdout``) directly."""
    path = Path(path)
    with writing(path, option):
        if path.exists() and not path.is_file():
            with path.open("w", encoding="utf-8") as handle:
                handle.write(text)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        try:
            partial.unlink(missing_ok=True)  # a stale one, or a link: never written through
            with partial.open("x", encoding="utf-8") as handle:
                handle.write(text)
            partial.replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise


__all__ = ["OutputPathError", "check_output_dir", "check_output_file", "store_files",
           "write_text_output", "writing"]
