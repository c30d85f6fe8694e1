"""Opening a results store: every way a path can be wrong becomes one clear :class:`StoreError`.

A file is identified read-only before anything is written to it (an optuna database or any
other file keeps its bytes and journal mode when refused), and checked with SQLite's
``quick_check`` before it is used, so a damaged store is named as damaged instead of failing
somewhere later.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

#: The tables every tunebench store has, whatever its schema.
STORE_TABLES = frozenset({"meta", "suites", "trials"})
_SQLITE_HEADER = b"SQLite format 3\x00"


class StoreError(ValueError):
    """The store cannot be used as asked (another suite in it, a newer schema, not a store)."""


class DamagedStoreError(StoreError):
    """SQLite found the store's file damaged."""


def damaged(path: Path, detail: str) -> DamagedStoreError:
    return DamagedStoreError(
        f"{path} is damaged ({detail}). Run `tunebench check --db {path}` to see what is damaged; "
        "restore the store from a copy or an export (`sqlite3 DAMAGED.db .recover` may save what "
        "is left), and never write to it as it is.")


def explain(path: Path, exc: sqlite3.Error, writing: bool = True) -> StoreError:
    """One clear error for what SQLite said about the store at ``path`` (``writing``: to a
    writer, else to a reader)."""
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if "disk is full" in lowered or "disk i/o error" in lowered:
        return StoreError(
            f"{path}: the disk holding the store is full or failing ({text}). Every trial committed "
            "before is kept in it; free space and run the same command again to resume.")
    if ("readonly" in lowered or "read-only" in lowered) and not writing:
        return StoreError(
            f"{path} cannot be read here ({text}): SQLite needs to create {path.name}-shm beside "
            "a store in WAL mode. Make its folder writable, or copy it with "
            f"`sqlite3 {path} \".backup COPY.db\"` and read the copy.")
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(_read_only_message(path, "SQLite refused to write to it"))
    if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        return damaged(path, text)
    if "locked" in lowered or "busy" in lowered:
        return StoreError(f"{path} is locked by another program ({text}); close it and run again")
    return StoreError(f"{path} cannot be used as a tunebench results store ({text})")


def _read_only_message(path: Path, why: str) -> str:
    return (f"{path} is read-only ({why}): running into it needs to write it, and to create "
            f"{path.name}-wal and {path.name}-shm beside it. Make the file and its folder writable, "
            "or copy the store to a writable folder and run into the copy; `show`, `report`, "
            "`export` and `check` read it as it is.")


def refuse_non_file(path: Path) -> None:
    """Refuse a path that exists but is not a regular file (a directory, a device, a FIFO)."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory; give a file name for the results store, "
                         f"e.g. --db {path / 'results.db'}")
    if path.exists() and not path.is_file():
        raise StoreError(f"{path} is not a regular file; give a file name for the results store")


def check_writable(path: Path) -> None:
    """Refuse, before SQLite tries, a store or folder this process may not write."""
    folder = path.parent
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(_read_only_message(path, "no write permission on the file"))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(_read_only_message(path, f"its folder {folder} is not writable"))


def _read_only_uri(path: Path) -> str:
    """A read-only URI. In a folder this process cannot write, SQLite cannot create the ``-shm``
    file a WAL store's readers need; with no ``-shm`` there (a writer keeps one) and nothing in a
    ``-wal`` file, nothing is writing the store and the ``.db`` holds it all: it is read as
    immutable."""
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    wal, shm = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
    if not os.access(path.parent, os.W_OK) and not shm.exists() and (
            not wal.exists() or wal.stat().st_size == 0):
        uri += "&immutable=1"
    return uri


def identify(path: Path) -> set[str]:
    """The tables of the SQLite file at ``path``, read without changing a byte of it; refuses a
    file that is not SQLite or an SQLite database that is not a tunebench store."""
    refuse_non_file(path)
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"{path} cannot be read ({exc.strerror})") from None
    if not header:
        return set()
    if header != _SQLITE_HEADER:
        raise StoreError(f"{path} is not an SQLite file, so it cannot be used as a tunebench results "
                         "store; it was left as it was. Choose another --db")
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True)
        try:
            tables = {row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise explain(path, exc, writing=False) from None
    if tables and not tables >= STORE_TABLES:
        raise StoreError(f"{path} is an SQLite database but not a tunebench results store "
                         f"(its tables: {', '.join(sorted(tables))}); it was left as it was. "
                         "Choose another --db")
    return tables


def quick_check(conn: sqlite3.Connection, limit: int = 20) -> list[str]:
    """What SQLite's ``PRAGMA quick_check`` finds damaged (empty when the file is sound)."""
    rows = [str(row[0]) for row in conn.execute(f"PRAGMA quick_check({int(limit)})")]
    return [] if rows == ["ok"] else rows


#: Files already checked by this process, by identity and state: readers open a store several
#: times per command, and checking it once is enough while it has not changed.
_checked: set[tuple[int, ...]] = set()


def _file_state(path: Path) -> tuple[int, ...]:
    state: list[int] = []
    for part in (path, path.with_name(path.name + "-wal")):
        try:
            info = part.stat()
        except OSError:
            state += [0, 0, 0, 0]
            continue
        state += [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns]
    return tuple(state)


def ensure_sound(path: Path, conn: sqlite3.Connection) -> None:
    """Refuse a store SQLite finds damaged (checked once per process while the file is unchanged)."""
    state = _file_state(path)
    if state in _checked:
        return
    try:
        problems = quick_check(conn, limit=3)
    except sqlite3.DatabaseError as exc:
        raise explain(path, exc, writing=False) from None
    if problems:
        raise damaged(path, "; ".join(problems))
    _checked.add(state)


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open a store, turning every way a path can be wrong into one clear :class:`StoreError`.

    Nothing is written before the file is identified as a tunebench store (or as new) and found
    sound; the writer's caller holds the store's lock (:func:`tunebench.suite.store.ResultStore`).
    """
    refuse_non_file(path)
    if readonly and not path.exists():
        raise FileNotFoundError(f"no results store at {path}; run a suite with --db {path}")
    tables = identify(path) if path.exists() else set()
    if readonly and not tables:
        raise StoreError(f"{path} is empty: no suite has been run into it yet")
    if not readonly:
        check_writable(path)
    try:
        if readonly:
            conn = sqlite3.connect(_read_only_uri(path), uri=True)
        else:
            conn = sqlite3.connect(path, isolation_level=None)  # explicit transactions only
    except sqlite3.Error as exc:
        raise explain(path, exc, writing=not readonly) from None
    try:
        if tables:
            ensure_sound(path, conn)
        if not readonly:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        else:  # one snapshot for everything read through it, even while a writer upgrades it
            conn.execute("BEGIN")
    except sqlite3.Error as exc:
        conn.close()
        raise explain(path, exc, writing=not readonly) from None
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection for one reader; damage SQLite meets while reading (beyond what the
    quick check sees) becomes a :class:`StoreError` naming the store, not a traceback."""
    conn = connect(path, readonly=True)
    try:
        yield conn
    except sqlite3.DatabaseError as exc:
        raise explain(path, exc, writing=False) from None
    except OSError as exc:  # pandas wraps SQLite's error in its own DatabaseError(OSError)
        if isinstance(exc.__cause__, sqlite3.DatabaseError):
            raise explain(path, exc.__cause__, writing=False) from None
        raise
    finally:
        conn.close()


def check_store(path: Path) -> list[str]:
    """Everything SQLite's ``quick_check`` and the schema check find wrong in the store at
    ``path`` (empty: sound); a path that is no store at all raises :class:`StoreError`."""
    from tunebench.suite.schema import schema_problems

    refuse_non_file(path)
    if not path.exists():
        raise FileNotFoundError(f"no results store at {path}")
    if not identify(path):
        raise StoreError(f"{path} is empty: no suite has been run into it yet")
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise explain(path, exc, writing=False) from None
    try:
        problems = quick_check(conn)
        return problems or schema_problems(conn)
    except sqlite3.DatabaseError as exc:
        return [" ".join(str(exc).split())]
    finally:
        conn.close()
