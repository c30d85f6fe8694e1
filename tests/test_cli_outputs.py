"""Every output path of the CLI fails cleanly (exit 2, one line, nothing replaced), exports never
clobber the store, and absurd inputs are refused with their range instead of a traceback or an OOM."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile

import pandas as pd
import pytest
from typer.testing import CliRunner

import tunebench
from tunebench.cli import app
from tunebench.suite.bundle import is_bundle
from tunebench.suite.store import load_trials

SUITE = """
[suite]
name = "tiny"
seed = 1
repetitions = 1
[budget]
trials = 4
[[tasks]]
name = "branin"
[[runners]]
name = "random"
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished run of a 4-trial study; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("outputs")
    (folder / "suite.toml").write_text(SUITE)
    tunebench.run_suite(folder / "suite.toml", folder / "store.db", progress=False)
    return folder / "store.db"


@pytest.fixture
def store(finished, tmp_path):
    target = tmp_path / "x.db"
    shutil.copyfile(finished, target)
    return target


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "afile"
    path.write_text("keep me")
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def refused(result, *words: str) -> str:
    """Exit 2 with one error naming the problem at the end, no traceback; return that error."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.count("error:") == 1, result.output
    line = text[text.index("error:"):]
    for word in words:
        assert word in line, line
    return line


# ----------------------------------------------------------------------------- export and the store

@pytest.mark.parametrize("target", ["same", "dotted", "wal", "lock", "symlink", "hardlink"])
@pytest.mark.parametrize("force", [False, True])
def test_export_never_writes_over_the_store(store, tmp_path, target, force):
    before = store.read_bytes()
    trials = load_trials(store)
    (tmp_path / "sub").mkdir()
    out = {"same": store, "dotted": tmp_path / "sub" / ".." / store.name,
           "wal": store.with_name(store.name + "-wal"), "lock": store.with_name(store.name + ".lock"),
           "symlink": tmp_path / "link.db", "hardlink": tmp_path / "hard.db"}[target]
    if target == "symlink":
        out.symlink_to(store)
    if target == "hardlink":
        os.link(store, out)
    result = invoke("export", "--db", store, "-o", out, *(["--force"] if force else []))
    refused(result, "part of the results store")
    assert store.read_bytes() == before
    pd.testing.assert_frame_equal(load_trials(store), trials)
    assert len(trials) == 4
    assert not list(tmp_path.glob("*.partial"))


def test_export_refuses_an_existing_file_unless_forced(store, a_file):
    refused(invoke("export", "--db", store, "-o", a_file), "already exists", "--force")
    assert a_file.read_text() == "keep me"
    assert invoke("export", "--db", store, "-o", a_file, "--force").exit_code == 0
    assert is_bundle(a_file)


def test_export_refuses_what_is_not_a_regular_file_path(store, tmp_path, a_file):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(invoke("export", "--db", store, "-o", fifo, "--force"), "not a regular file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    refused(invoke("export", "--db", store, "-o", tmp_path), "is a folder")
    refused(invoke("export", "--db", store, "-o", a_file / "b.tar.gz"), "below", "which is a file")
    assert a_file.read_text() == "keep me"
    # /dev/full exists on Linux; the fifo above is the portable case.
    if os.path.exists("/dev/full"):
        refused(invoke("export", "--db", store, "-o", "/dev/full", "--force"), "not a regular file")
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "the disk is full"),
                                         (errno.EACCES, "permission denied")])
def test_export_failing_midway_leaves_no_partial_and_no_bundle(store, tmp_path, monkeypatch,
                                                               code, words):
    def failing(*_args, **_kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tarfile.TarFile, "addfile", failing)
    out = tmp_path / "b.tar.gz"
    refused(invoke("export", "--db", store, "-o", out), words)
    assert not out.exists() and not (tmp_path / "b.tar.gz.partial").exists()


def test_export_writes_over_a_stale_partial_without_following_it(store, tmp_path, a_file):
    out = tmp_path / "b.tar.gz"
    (tmp_path / "b.tar.gz.partial").symlink_to(a_file)  # a stale partial that is a link
    assert invoke("export", "--db", store, "-o", out).exit_code == 0
    assert is_bundle(out) and a_file.read_text() == "keep me"
    assert not (tmp_path / "b.tar.gz.partial").exists()


# ----------------------------------------------------------------------------- other outputs

def test_report_out_that_is_a_file_or_below_one(store, a_file):
    refused(invoke("report", "--db", store, "-o", a_file), "--out", "is a file, not a folder")
    refused(invoke("report", "--db", store, "-o", a_file / "sub"), "below", "which is a file")
    assert a_file.read_text() == "keep me"


def test_reproduce_outputs_are_checked_before_anything_runs(store, tmp_path, a_file):
    refused(invoke("reproduce", "--db", store, "--json", tmp_path), "--json", "is a folder")
    refused(invoke("reproduce", "--db", store, "--json", a_file / "r.json"), "below")
    refused(invoke("reproduce", "--db", store, "--json", store), "part of the results store")
    refused(invoke("reproduce", "--db", store, "--keep", tmp_path), "--keep", "is a folder")
    refused(invoke("reproduce", "--db", store, "--keep", a_file / "k.db"), "below")
    refused(invoke("reproduce", "--db", store, "--keep", a_file), "already exists")
    assert a_file.read_text() == "keep me"


def test_reproduce_json_on_a_full_disk(store):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    result = invoke("reproduce", "--db", store, "-q", "--json", "/dev/full")
    refused(result, "--json /dev/full", "the disk is full")


def test_json_outputs_replace_a_file_whole(store, tmp_path):
    out = tmp_path / "r.json"
    out.write_text("old")
    assert invoke("reproduce", "--db", store, "-q", "--json", out).exit_code == 0
    assert out.read_text().startswith("{") and not (tmp_path / "r.json.partial").exists()


def test_claims_json_is_checked_before_the_claims_run(tmp_path, a_file):
    refused(invoke("claims", "branin-optimum", "--json", tmp_path), "--json", "is a folder")
    refused(invoke("claims", "branin-optimum", "--json", a_file / "c.json"), "below")


def test_data_fetch_and_new_plugin_directories(a_file):
    refused(invoke("data", "fetch", "--dir", a_file), "--dir", "is a file, not a folder")
    refused(invoke("data", "fetch", "--dir", a_file / "sub"), "below")
    refused(invoke("new", "task", "my_task", "--dir", a_file / "sub"), "below")
    assert a_file.read_text() == "keep me"


def test_unwritable_folder(store, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: deny this one folder as the OS would
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
            False if os.path.abspath(path) == str(locked) and mode & os.W_OK
            else real_access(path, mode, **kw)))
    locked.chmod(0o500)
    try:
        refused(invoke("export", "--db", store, "-o", locked / "b.tar.gz"), "not writable")
        refused(invoke("report", "--db", store, "-o", locked / "report"), "not writable")
        refused(invoke("report", "--db", store, "-o", locked), "not writable")
        refused(invoke("reproduce", "--db", store, "--json", locked / "r.json"), "not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_report_on_a_full_disk(store, tmp_path, monkeypatch):
    import matplotlib.figure

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    refused(invoke("report", "--db", store, "-o", tmp_path / "report"), "--out", "the disk is full")


# ----------------------------------------------------------------------------- absurd inputs

def test_bootstrap_count_is_bounded(store):
    result = invoke("report", "--db", store, "--bootstrap", "100000000")
    assert result.exit_code == 2 and "100000" in " ".join(result.output.split())


def test_a_huge_dimension_is_refused_before_the_space_is_built():
    refused(invoke("space", "rosenbrock", "-t", "dim=1000000000"), "dim", "<= 10000")
    refused(invoke("eval", "ackley", "-o", "dim=1000000000"), "<= 10000")


def test_deeply_nested_json_is_a_clear_error():
    deep = "[" * 20000 + "]" * 20000
    refused(invoke("eval", "branin", "-c", deep), "--config", "nested too deeply")
    refused(invoke("eval", "branin", "-o", f"noise={deep}"), "nested too deeply")
    refused(invoke("space", "branin", "-t", f"noise={deep}"), "nested too deeply")


@pytest.mark.parametrize("config", ["[1, 2]", "3", "null", '"x1"'])
def test_a_config_that_is_not_an_object(config):
    refused(invoke("eval", "branin", "-c", config), "--config must be a JSON object")
