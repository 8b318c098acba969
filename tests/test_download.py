"""Downloads against a real HTTP server on 127.0.0.1: mirrors in order, checksum, the
temporary name, and the offline error."""

import os
import subprocess
import sys

import pytest

from fixtures import FileServer, md5, unused_port_url, write_mnist_like
from imb_ref.data import load_dataset, mnist
from imb_ref.data.download import fetch
from imb_ref.errors import UserError


@pytest.fixture
def served(tmp_path):
    src = tmp_path / "server"
    md5s = write_mnist_like(src)
    with FileServer(str(src)) as server:
        yield server, md5s


def test_fetch_verifies_and_renames(tmp_path, served):
    server, md5s = served
    dest = tmp_path / "cache" / mnist.TEST_LABELS
    fetch([server.url + mnist.TEST_LABELS], str(dest), md5s[mnist.TEST_LABELS], quiet=True)
    assert md5(dest) == md5s[mnist.TEST_LABELS]
    assert os.listdir(dest.parent) == [mnist.TEST_LABELS]        # no .part left behind


def test_checksum_mismatch_leaves_nothing(tmp_path, served):
    server, _ = served
    dest = tmp_path / "cache" / mnist.TEST_LABELS
    with pytest.raises(OSError, match="checksum mismatch"):
        fetch([server.url + mnist.TEST_LABELS], str(dest), "0" * 32, quiet=True)
    assert os.listdir(dest.parent) == []


def test_mirrors_are_tried_in_order(tmp_path, served, monkeypatch):
    server, md5s = served
    monkeypatch.setattr(mnist, "MNIST_MD5", md5s)
    monkeypatch.setenv("IMB_MNIST_MIRRORS", f"{unused_port_url()},{server.url}missing/,{server.url}")
    d = load_dataset("mnist", str(tmp_path / "cache"), val_size=5, quiet=True)
    assert len(d.train) == 25 and len(d.test) == 12
    assert sorted(os.listdir(tmp_path / "cache" / "mnist")) == sorted(mnist.FILES)


def test_offline_error_names_files_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("IMB_MNIST_MIRRORS", unused_port_url())
    with pytest.raises(UserError) as exc:
        load_dataset("mnist", str(tmp_path))
    msg = str(exc.value)
    assert "download of train-images-idx3-ubyte.gz failed" in msg
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg and str(tmp_path / "mnist") in msg
    # Every file still needed is named with its checksum, not only the first.
    for name, md5sum in mnist.MNIST_MD5.items():
        assert f"{name} (md5 {md5sum})" in msg
    assert not os.path.exists(tmp_path / "mnist")          # the folder made for it is gone


def test_offline_cli_exits_2_with_one_line(tmp_path, run_py):
    env = dict(os.environ, IMB_MNIST_MIRRORS=unused_port_url())
    res = subprocess.run([sys.executable, run_py, "train", "--dataset", "mnist", "--data-dir",
                          str(tmp_path), "--epochs", "0"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: download of")
    assert "Traceback" not in res.stderr
