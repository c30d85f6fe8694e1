"""Opening a results store: every way a path can be wrong becomes one clear :class:`StoreError`."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class StoreError(ValueError):
    """The store cannot be used as asked (another suite in it, a newer schema, not a store)."""


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open a store, turning every way a path can be wrong into one clear :class:`StoreError`."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory; give a file name for the results store, "
                         f"e.g. --db {path / 'results.db'}")
    if readonly and not path.is_file():
        raise FileNotFoundError(f"no results store at {path}; run a suite with --db {path}")
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None)  # explicit transactions only
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"{path} cannot be used as a tunebench results store ({exc})") from None
    if tables and not {"meta", "suites", "trials"} <= tables:
        conn.close()
        raise StoreError(f"{path} is an SQLite database but not a tunebench results store "
                         f"(its tables: {', '.join(sorted(tables))}); choose another --db")
    if readonly and not tables:
        conn.close()
        raise StoreError(f"{path} is empty: no suite has been run into it yet")
    if readonly:  # one snapshot for everything read through it, even while a writer upgrades it
        conn.execute("BEGIN")
    return conn
