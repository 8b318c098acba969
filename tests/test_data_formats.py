"""Loaders on tiny fixtures in the real formats, and every kind of bad file."""

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from fixtures import Evil, cifar_batch_bytes, write_cifar_tarball, write_mnist_like
from imb_ref.data import cifar10, load_dataset
from imb_ref.data.idx import IMAGES_MAGIC, load_idx_pair, read_idx_gz, write_idx_gz
from imb_ref.errors import UserError


def test_idx_round_trip(tmp_path):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx_gz(tmp_path / "i.gz", arr)
    np.testing.assert_array_equal(read_idx_gz(tmp_path / "i.gz", IMAGES_MAGIC), arr)


def test_truncated_gzip(tmp_path):
    write_idx_gz(tmp_path / "i.gz", np.zeros((5, 28, 28)))
    raw = (tmp_path / "i.gz").read_bytes()
    (tmp_path / "t.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UserError, match=r"t\.gz: corrupt or truncated gzip"):
        read_idx_gz(tmp_path / "t.gz", IMAGES_MAGIC)


def test_corrupt_gzip(tmp_path):
    (tmp_path / "c.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(UserError, match=r"c\.gz: corrupt or truncated gzip"):
        read_idx_gz(tmp_path / "c.gz", IMAGES_MAGIC)


def test_wrong_magic(tmp_path):
    write_idx_gz(tmp_path / "labels.gz", np.zeros(5))
    with pytest.raises(UserError, match=r"labels\.gz: wrong IDX magic number 0x00000801"):
        read_idx_gz(tmp_path / "labels.gz", IMAGES_MAGIC)


def test_payload_shorter_than_header(tmp_path):
    with gzip.open(tmp_path / "s.gz", "wb") as fh:
        fh.write(struct.pack(">IIII", IMAGES_MAGIC, 10, 28, 28) + b"\0" * 100)
    with pytest.raises(UserError, match="payload has 100 bytes"):
        read_idx_gz(tmp_path / "s.gz", IMAGES_MAGIC)


def test_image_and_label_counts_differ(tmp_path):
    write_idx_gz(tmp_path / "im.gz", np.zeros((5, 28, 28)))
    write_idx_gz(tmp_path / "lb.gz", np.zeros(4))
    with pytest.raises(UserError, match="5 images but .*lb.gz has 4 labels"):
        load_idx_pair(tmp_path / "im.gz", tmp_path / "lb.gz")


def test_mnist_from_cache_split_and_scale(tmp_path):
    md5s = write_mnist_like(tmp_path / "mnist", n_train=30, n_test=12)
    from imb_ref.data import mnist
    old = dict(mnist.MNIST_MD5)
    mnist.MNIST_MD5.update(md5s)
    try:
        d = load_dataset("mnist", str(tmp_path), val_size=10, limit_test=5)
    finally:
        mnist.MNIST_MD5.update(old)
    assert (len(d.train), len(d.val), len(d.test)) == (20, 10, 5)
    assert d.train.x.shape == (20, 784) and d.train.x.min() >= 0 and d.train.x.max() <= 1
    # The validation split is the last examples of the training file (Appendix D).
    np.testing.assert_array_equal(d.val.y, np.arange(20, 30) % 10)


def test_corrupt_cached_file_is_never_used(tmp_path):
    write_mnist_like(tmp_path / "mnist")          # md5s differ from the real files
    with pytest.raises(UserError, match="checksum mismatch.*delete it"):
        load_dataset("mnist", str(tmp_path))


def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        load_dataset("mnist", str(f))


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


def test_cifar_from_tarball(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    md5 = write_cifar_tarball(folder / cifar10.ARCHIVE, n=4)
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5)
    d = load_dataset("cifar10", str(tmp_path), val_size=5)
    assert (len(d.train), len(d.val), len(d.test)) == (15, 5, 4)
    assert d.n_features == 3072 and d.train.x.max() <= 1.0
    assert (folder / "cifar-10-batches-py" / "test_batch").exists()
    assert not [p for p in os.listdir(folder) if p.startswith(".extract")]


def test_cifar_tampered_pickle_cannot_run_code(tmp_path, monkeypatch):
    if os.path.exists("/tmp/imb_ref_pwned"):
        os.remove("/tmp/imb_ref_pwned")
    folder = tmp_path / "cifar10"
    folder.mkdir()
    md5 = write_cifar_tarball(folder / cifar10.ARCHIVE, tamper=pickle.dumps(Evil(), protocol=2))
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5)
    with pytest.raises(UserError, match=r"data_batch_1: not a valid CIFAR-10 batch .*posix.system is not allowed"):
        load_dataset("cifar10", str(tmp_path))
    assert not os.path.exists("/tmp/imb_ref_pwned")


def test_cifar_batch_with_wrong_shape(tmp_path):
    (tmp_path / "b").write_bytes(cifar_batch_bytes(3, 0, {b"data": np.zeros((3, 10), np.uint8)}))
    with pytest.raises(UserError, match="expected uint8 data of shape"):
        cifar10.load_batch(str(tmp_path / "b"))


def test_cifar_archive_checksum_mismatch(tmp_path):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    write_cifar_tarball(folder / cifar10.ARCHIVE)
    with pytest.raises(UserError, match="cifar-10-python.tar.gz: checksum mismatch"):
        load_dataset("cifar10", str(tmp_path))
