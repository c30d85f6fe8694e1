"""Shareable results: a results store packed with everything needed to reproduce it elsewhere.

A bundle is a ``.tar.gz`` holding

- ``results.db`` — a consistent snapshot of the results store (SQLite's backup API, so a store that
  is being written, or has a WAL file beside it, is copied as one committed state);
- ``suites/<name>-<fingerprint>.json`` (the resolved suite, as ``reproduce`` rebuilds it) and
  ``.toml`` (the suite file's own text, where it was recorded);
- ``environment.json`` — every recorded environment (machine, packages, torch, BLAS, determinism);
- ``requirements.lock`` — ``name==version`` of every package version recorded with the results;
- ``plugins/<digest>/<file>`` — the plugin files the suites load, so another machine can run them;
- ``manifest.json`` — format, tunebench version, suites, the original → bundled plugin paths, and
  the sha256 of every file, checked when the bundle is opened.

:func:`open_bundle` extracts a bundle safely (no absolute paths, no ``..``, no links), verifies the
checksums and hands :func:`tunebench.suite.reproduce.reproduce` the store and the plugin mapping.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.output_paths import check_output_file, store_files, writing

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
DB_NAME = "results.db"


class BundleError(ValueError):
    """A bundle cannot be written or read (not a store, a damaged or tampered archive)."""


@dataclass
class OpenedBundle:
    db: Path
    plugins: dict[str, str]  # plugin path recorded in the suite → extracted file
    manifest: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _snapshot(db: Path, target: Path) -> None:
    if not db.is_file():
        raise BundleError(f"no results store at {db}")
    from tunebench.suite.connection import connect

    connect(db, readonly=True).close()  # refuses a damaged store, or a file that is not a store
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as source, \
                closing(sqlite3.connect(target)) as copy:
            source.execute("SELECT 1 FROM suites LIMIT 1")
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    except sqlite3.DatabaseError as exc:
        raise BundleError(f"{db} is not a tunebench results store (SQLite says: {exc})") from None


def _lock(environments: dict[int, dict[str, Any]]) -> str:
    versions: dict[str, set[str]] = {}
    pythons = set()
    for env in environments.values():
        pythons.add(str(env.get("python")))
        for name, version in (env.get("packages") or {}).items():
            if version:
                versions.setdefault(name, set()).add(version)
    lines = ["# Package versions recorded with these results (tunebench export).",
             f"# Python: {', '.join(sorted(pythons)) or 'unknown'}"]
    for name in sorted(versions):
        found = sorted(versions[name])
        if len(found) > 1:
            lines.append(f"# {name}: several versions were recorded: {', '.join(found)}")
        lines.append(f"{name}=={found[-1]}")
    return "\n".join(lines) + "\n"


def _check_target(out: Path, db: Path, force: bool) -> Path:
    """Refuse ``out`` (and its ``.partial``) unless it is a new regular-file path, or an existing
    regular file with ``force``, and not the store or a file beside it; return the partial path."""
    protected = store_files(db)
    check_output_file(out, "--out", force=force, protected=protected)
    partial = out.with_name(out.name + ".partial")
    check_output_file(partial, "--out (its partial file)", force=True, protected=protected)
    return partial


def _write_archive(root: Path, members: list[Path], out: Path, db: Path, force: bool) -> None:
    """Write the archive as ``OUT.partial`` and rename it to ``out`` only once it is complete."""
    with writing(out, "--out"):
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = _check_target(out, db, force)
        partial.unlink(missing_ok=True)  # a stale partial (or a link): never written through
        try:
            with partial.open("xb") as handle, tarfile.open(fileobj=handle, mode="w:gz") as archive:
                for path in members:
                    archive.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
            _check_target(out, db, force)  # nothing appeared at ``out`` while writing
            partial.replace(out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


def export_bundle(db: str | Path, out: str | Path, *, force: bool = False) -> dict[str, Any]:
    """Pack the results store ``db`` into the bundle ``out`` (``.tar.gz``); return its manifest.

    ``out`` must be a new file path (or, with ``force``, an existing regular file); the store, the
    files beside it, a folder or a device are refused before anything is written.
    """
    from tunebench import __version__
    from tunebench.suite.store import load_environments, load_suite_specs

    db, out = Path(db), Path(out)
    _check_target(out, db, force)
    with tempfile.TemporaryDirectory(prefix="tunebench-export-") as folder:
        root = Path(folder)
        _snapshot(db, root / DB_NAME)
        suites = load_suite_specs(root / DB_NAME)
        if not suites:
            raise BundleError(f"{db} holds no suite: nothing to export")
        environments = load_environments(root / DB_NAME)
        (root / "suites").mkdir()
        plugins: dict[str, str] = {}
        missing: list[str] = []
        listed = []
        with closing(sqlite3.connect(root / DB_NAME)) as conn:
            counts = {int(i): (int(n), int(t)) for i, n, t in conn.execute(
                "SELECT s.id, (SELECT COUNT(*) FROM studies WHERE suite_id = s.id),"
                " (SELECT COUNT(*) FROM trials t JOIN studies st ON st.id = t.study_id"
                "  WHERE st.suite_id = s.id) FROM suites s")}
        for suite in suites:
            stem = f"{suite['name']}-{suite['fingerprint']}"
            (root / "suites" / f"{stem}.json").write_text(json.dumps(suite["spec"], indent=2, sort_keys=True))
            if suite["source_text"]:
                (root / "suites" / f"{stem}.toml").write_text(suite["source_text"])
            for plugin in suite["spec"].get("plugins", []):
                source = Path(plugin)
                if plugin in plugins:
                    continue
                if not source.is_file():
                    missing.append(plugin)
                    continue
                digest = hashlib.sha256(plugin.encode()).hexdigest()[:12]
                relative = f"plugins/{digest}/{source.name}"
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, root / relative)
                plugins[plugin] = relative
            studies, trials = counts.get(suite["id"], (0, 0))
            listed.append({"name": suite["name"], "fingerprint": suite["fingerprint"],
                           "studies": studies, "trials": trials})
        (root / "environment.json").write_text(
            json.dumps({str(k): v for k, v in environments.items()}, indent=2, sort_keys=True))
        (root / "requirements.lock").write_text(_lock(environments))
        files = sorted(p for p in root.rglob("*") if p.is_file())
        manifest = {
            "format": BUNDLE_FORMAT, "tunebench": __version__,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": str(db), "db": DB_NAME, "suites": listed, "plugins": plugins,
            "missing_plugins": missing,
            "files": {p.relative_to(root).as_posix(): _sha256(p) for p in files},
        }
        (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        _write_archive(root, [root / MANIFEST, *files], out, db, force)
    return manifest


def is_bundle(path: str | Path) -> bool:
    path = Path(path)
    return path.is_file() and tarfile.is_tarfile(path)


def _safe_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for member in archive.getmembers():
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise BundleError(f"refusing to extract {member.name!r}: not a plain file inside the bundle")
        members.append(member)
    return members


@contextlib.contextmanager
def open_bundle(path: str | Path) -> Iterator[OpenedBundle]:
    """Extract a bundle into a temporary folder (removed afterwards) and check it."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="tunebench-bundle-") as folder:
        root = Path(folder)
        try:
            with tarfile.open(path, "r:*") as archive:
                members = _safe_members(archive)
                if hasattr(tarfile, "data_filter"):
                    archive.extractall(root, members=members, filter="data")
                else:  # pragma: no cover - Python < 3.11.4; members were checked above
                    archive.extractall(root, members=members)
        except (tarfile.TarError, OSError) as exc:
            raise BundleError(f"{path} is not a readable tunebench bundle: {exc}") from None
        try:
            manifest = json.loads((root / MANIFEST).read_text())
        except (OSError, ValueError):
            raise BundleError(f"{path} has no valid {MANIFEST}: not a tunebench bundle") from None
        if int(manifest.get("format", 0)) > BUNDLE_FORMAT:
            raise BundleError(f"{path} was written by a newer tunebench (bundle format "
                              f"{manifest['format']}); upgrade tunebench to read it")
        for name, digest in manifest.get("files", {}).items():
            file = root / name
            if not file.is_file() or _sha256(file) != digest:
                raise BundleError(f"{path}: {name} is missing or does not match its checksum")
        plugins = {original: str(root / relative)
                   for original, relative in manifest.get("plugins", {}).items()}
        notes = [f"plugin file {p} was missing when the bundle was made"
                 for p in manifest.get("missing_plugins", [])]
        yield OpenedBundle(root / manifest.get("db", DB_NAME), plugins, manifest, notes)


__all__ = ["BundleError", "OpenedBundle", "export_bundle", "is_bundle", "open_bundle"]
