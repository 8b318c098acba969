"""Loaders on tiny fixtures in the real formats, and every kind of bad file."""

import dataclasses
import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from fixtures import (Evil, cifar_arrays, cifar_batch_bytes, cifar_batch_md5s, cifar_bin_bytes,
                      md5, write_cifar_folder, write_cifar_tarball, write_mnist_like)
from imb_ref.data import cifar10, load_dataset, mnist
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
    with pytest.raises(UserError, match="checksum mismatch in train-images.* t10k-labels.*"
                       "the cached files are corrupt: delete them"):
        load_dataset("mnist", str(tmp_path))


def test_every_corrupt_file_is_named_before_any_download(tmp_path, monkeypatch):
    """A truncated test file behind a missing training file is reported (it used to be
    hidden behind the failed download of the first missing file)."""
    md5s = write_mnist_like(tmp_path / "mnist")
    monkeypatch.setattr(mnist, "MNIST_MD5", md5s)
    os.remove(tmp_path / "mnist" / mnist.TRAIN_IMAGES)
    labels = tmp_path / "mnist" / mnist.TEST_LABELS
    labels.write_bytes(labels.read_bytes()[:10])
    with pytest.raises(UserError, match=r"checksum mismatch in t10k-labels-idx1-ubyte.gz "
                       r"\(md5 .*delete it to download it again; also missing: "
                       r"train-images-idx3-ubyte.gz"):
        load_dataset("mnist", str(tmp_path))


def test_a_recompressed_copy_of_fashion_mnist_in_the_cache_is_accepted(tmp_path, monkeypatch):
    """Debian's files copied into the cache: other archive checksums, same content."""
    src, cache = tmp_path / "src", tmp_path / "cache" / "fashion-mnist"
    md5s = write_mnist_like(src)
    cache.mkdir(parents=True)
    raw = {}
    for name in mnist.FILES:
        content = gzip.decompress((src / name).read_bytes())
        raw[name] = __import__("hashlib").md5(content).hexdigest()
        (cache / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=7))
        assert md5(cache / name) != md5s[name]
    monkeypatch.setattr(mnist, "FASHION_MD5", md5s)
    monkeypatch.setattr(mnist, "FASHION_RAW_MD5", raw)
    monkeypatch.setenv("IMB_FASHION_SYSTEM_DIR", str(tmp_path / "none"))
    d = load_dataset("fashion-mnist", str(tmp_path / "cache"), val_size=5)
    assert len(d.train) == 25
    # Content that differs is still refused.
    images = cache / mnist.TEST_IMAGES
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-1] + b"\x01"))
    with pytest.raises(UserError, match="t10k-images-idx3-ubyte.gz .*or the same content "
                       "recompressed"):
        load_dataset("fashion-mnist", str(tmp_path / "cache"), val_size=5)


@pytest.mark.slow
def test_debians_fashion_mnist_copied_into_the_cache(tmp_path, monkeypatch):
    """The real package's files (where installed) pass the cache's check as they are."""
    system = mnist.system_fashion_dir()
    if system is None:
        pytest.skip("the Debian package dataset-fashion-mnist is not installed here")
    cache = tmp_path / "fashion-mnist"
    cache.mkdir()
    for name in mnist.FILES:
        os.symlink(os.path.join(system, name), cache / name)
    monkeypatch.setenv("IMB_FASHION_SYSTEM_DIR", str(tmp_path / "none"))
    d = load_dataset("fashion-mnist", str(tmp_path), limit_test=10)
    assert len(d.train) + len(d.val) == 60000 and len(d.test) == 10


def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        load_dataset("mnist", str(f))


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


def _official(monkeypatch, version, archive_md5=None, n=4):
    """Make the tiny fixture of `version` pass as official: its checksums in place of
    the real ones (the loader's logic is the same; tests/test_real_data.py checks the
    real files against the real checksums)."""
    for name, value in cifar_batch_md5s(n=n, version=version).items():
        monkeypatch.setitem(version.batch_md5, name, value)
    if archive_md5:
        monkeypatch.setitem(cifar10.VERSIONS, version.name,
                            dataclasses.replace(version, archive_md5=archive_md5))


@pytest.mark.parametrize("version", [cifar10.BINARY, cifar10.PYTHON], ids=["binary", "python"])
def test_cifar_from_tarball(tmp_path, monkeypatch, version):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    _official(monkeypatch, version, write_cifar_tarball(folder / version.archive, n=4,
                                                        version=version))
    d = load_dataset("cifar10", str(tmp_path), val_size=5)
    assert (len(d.train), len(d.val), len(d.test)) == (15, 5, 4)
    assert d.n_features == 3072 and d.train.x.max() <= 1.0
    assert (folder / version.folder / version.test_batch).exists()
    assert not [p for p in os.listdir(folder) if p.startswith(".extract")]
    # An extracted folder is checked file by file, as torchvision does: a changed
    # batch is refused, with every bad batch named.
    for name in (version.batches[2], version.test_batch):
        path = folder / version.folder / name
        path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(UserError, match=rf"checksum mismatch in {version.batches[2]} \(md5 "
                       rf"[0-9a-f]{{32}}, expected [0-9a-f]{{32}}\), {version.test_batch} "
                       rf".*delete the folder"):
        load_dataset("cifar10", str(tmp_path), val_size=5)


def test_cifar_both_versions_load_to_identical_arrays(tmp_path, monkeypatch):
    """One set of arrays written as the binary version and as the python version loads
    to the same arrays: the binary record's pixels are the pickle's `data` row (R, G, B
    planes of 32x32, row-major), its first byte the label."""
    loaded = []
    for version in (cifar10.BINARY, cifar10.PYTHON):
        _official(monkeypatch, version, n=6)
        write_cifar_folder(tmp_path / version.name / "cifar10", version, n=6)
        loaded.append(cifar10.load_cifar10(str(tmp_path / version.name)))
    for a, b in zip(*loaded):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    x_train, y_train, _, _ = loaded[0]
    data, labels = cifar_arrays(6, 0)          # data_batch_1's arrays, as written
    np.testing.assert_array_equal(x_train[:6], data)
    np.testing.assert_array_equal(y_train[:6], labels)


def test_cifar_binary_folder_is_used_before_the_python_one(tmp_path, monkeypatch):
    for version in (cifar10.BINARY, cifar10.PYTHON):
        _official(monkeypatch, version)
        write_cifar_folder(tmp_path / "cifar10", version)
    version, folder = cifar10.locate(str(tmp_path))
    assert version.name == "binary" and folder.endswith("cifar-10-batches-bin")


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-100], r"is not a whole number of 3073-byte records"),
    (lambda raw: b"", r"0 bytes is not a whole number"),
    (lambda raw: raw[:3073] + bytes([10]) + raw[3074:], r"record 1 has label byte 10"),
])
def test_cifar_damaged_binary_batch_is_refused_naming_the_file(tmp_path, damage, message):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(damage(cifar_bin_bytes(3, 0)))
    with pytest.raises(UserError, match=r"data_batch_1\.bin: .*" + message):
        cifar10.load_binary_batch(str(path))


def test_cifar_damaged_binary_file_in_a_folder_is_refused_by_its_md5(tmp_path, monkeypatch):
    """In a folder a damaged file fails its md5 before it is read: one line names it,
    and nothing is loaded."""
    version = cifar10.BINARY
    _official(monkeypatch, version)
    folder = write_cifar_folder(tmp_path / "cifar10", version)
    path = os.path.join(folder, "data_batch_4.bin")
    raw = open(path, "rb").read()
    open(path, "wb").write(bytes([10]) + raw[1:])       # a label byte above 9
    with pytest.raises(UserError, match=r"checksum mismatch in data_batch_4\.bin \(md5"):
        load_dataset("cifar10", str(tmp_path))


def test_cifar_subset_of_training_batches_only_when_asked(tmp_path, monkeypatch):
    """A folder with data_batch_1.bin and test_batch.bin alone (what fits on the GPU
    machine) loads with cifar_train_batches=1; without it the full set is needed and the
    offline error names both official versions, their checksums and the folder."""
    version = cifar10.BINARY
    _official(monkeypatch, version)
    write_cifar_folder(tmp_path / "cifar10", version,
                       names=("data_batch_1.bin", "test_batch.bin"))
    d = load_dataset("cifar10", str(tmp_path), val_size=0, cifar_train_batches=1)
    assert (len(d.train), len(d.test)) == (4, 4)
    monkeypatch.setenv("IMB_CIFAR10_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(UserError) as err:
        load_dataset("cifar10", str(tmp_path))
    text = str(err.value)
    for part in ("cifar-10-binary.tar.gz (md5 c32a1d4ab5d03f1284b67883e8d87530)",
                 "cifar-10-python.tar.gz (md5 c58f30108f718f92721af3b95e74349a)",
                 "cifar-10-batches-bin/", "cifar-10-batches-py/", str(tmp_path / "cifar10")):
        assert part in text
    assert not (tmp_path / "cifar10" / "cifar-10-binary.tar.gz.part").exists()
    with pytest.raises(UserError, match="--cifar-train-batches 6: must be 1..5"):
        load_dataset("cifar10", str(tmp_path), cifar_train_batches=6)
    with pytest.raises(UserError, match="--cifar-train-batches is for --dataset cifar10"):
        load_dataset("synthetic12", cifar_train_batches=1)


def test_cifar_batch_checksums_are_the_official_ones():
    """The published md5s of both versions' six files (an extracted folder of the real
    archive matches them; the binary ones are also ../shared/data/cifar10/MD5SUMS)."""
    assert cifar10.PYTHON.batch_md5["data_batch_1"] == "c99cafc152244af753f735de768cd75f"
    assert cifar10.PYTHON.batch_md5["test_batch"] == "40351d587109b95175f43aff81a1287e"
    assert cifar10.BINARY.batch_md5["data_batch_1.bin"] == "5dd7e06a14cb22eb9f671a540d1b7c25"
    assert cifar10.BINARY.batch_md5["test_batch.bin"] == "803d5f7f4d78ea53de84dbe85f74fb6d"
    assert cifar10.BINARY.archive_md5 == "c32a1d4ab5d03f1284b67883e8d87530"
    for version in (cifar10.BINARY, cifar10.PYTHON):
        assert sorted(version.batch_md5) == sorted(version.batches)


def test_cifar_tampered_pickle_cannot_run_code(tmp_path, monkeypatch):
    if os.path.exists("/tmp/imb_ref_pwned"):
        os.remove("/tmp/imb_ref_pwned")
    folder = tmp_path / "cifar10"
    folder.mkdir()
    evil = pickle.dumps(Evil(), protocol=2)
    version = cifar10.PYTHON
    archive_md5 = write_cifar_tarball(folder / version.archive, tamper=evil)
    _official(monkeypatch, version, archive_md5)
    # Even a batch whose checksum were accepted cannot run code.
    for name, value in cifar_batch_md5s(tamper=evil).items():
        monkeypatch.setitem(version.batch_md5, name, value)
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
    write_cifar_tarball(folder / cifar10.PYTHON.archive)
    with pytest.raises(UserError, match="checksum mismatch in cifar-10-python.tar.gz .*delete it"):
        load_dataset("cifar10", str(tmp_path))


def test_train_on_cifar10_reports_accuracy_as_the_paper_does(tmp_path, monkeypatch, capsys):
    """`python run.py --dataset cifar10 ...` (the card's command, train) on a tiny copy
    of the binary version: the result is the test accuracy, the error beside it."""
    from imb_ref import cli as run_module
    _official(monkeypatch, cifar10.BINARY)
    write_cifar_folder(tmp_path / "cifar10", cifar10.BINARY, names=(
        "data_batch_1.bin", "test_batch.bin"))
    assert run_module.main(["--dataset", "cifar10", "--data-dir", str(tmp_path),
                            "--cifar-train-batches", "1", "--val-size", "0", "--hidden", "3",
                            "--samples", "2", "--epochs", "1", "--test-runs", "1", "--quiet",
                            "--output-dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "cifar10: 4 train / 0 val / 4 test, 3072 features" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("test accuracy ") and "(error " in last and "mean-field accuracy" in last
