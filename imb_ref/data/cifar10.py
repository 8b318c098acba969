"""CIFAR-10, python version: `cifar-10-python.tar.gz` holding pickled batches.

The pickles are read with a restricted unpickler that resolves only the handful of
globals a NumPy array needs, so a tampered file raises an error instead of running
code (a plain `pickle.load` would call whatever the file names).
"""

import os
import pickle
import shutil
import tarfile
import tempfile

import numpy as np

from ..errors import UserError
from .cache import check_file, ensure_file, mirrors_from_env

ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
# The official checksums of the extracted batches (as torchvision checks them): an
# extracted folder is used only if every batch matches.
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    TEST_BATCH: "40351d587109b95175f43aff81a1287e",
}
PIXELS = 3 * 32 * 32

# (module, name) pairs a pickled ndarray may reference; numpy.core is numpy<2's name.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        target = _ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return super().find_class(*target)


def load_batch(path):
    """(images uint8 (N, 3072), labels int64 (N,)) from one pickled batch."""
    try:
        with open(path, "rb") as fh:
            batch = RestrictedUnpickler(fh, encoding="bytes").load()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found; delete {os.path.dirname(path)} to "
                        f"extract the archive again") from None
    except Exception as exc:
        raise UserError(f"{path}: not a valid CIFAR-10 batch ({exc}); refusing to load "
                        f"it") from None
    if not isinstance(batch, dict):
        raise UserError(f"{path}: not a valid CIFAR-10 batch (no dictionary inside)")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != PIXELS or labels is None:
        raise UserError(f"{path}: not a valid CIFAR-10 batch (expected uint8 data of "
                        f"shape (N, {PIXELS}) and labels)")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (data.shape[0],):
        raise UserError(f"{path}: {data.shape[0]} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"{path}: labels outside 0..9")
    return data, labels


def _extract(archive, folder):
    """Extract the batches into `folder` via a temporary sibling, then rename."""
    parent = os.path.dirname(folder)
    tmp = tempfile.mkdtemp(prefix=".extract-", dir=parent)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers()
                       if m.isfile() and m.name.startswith(FOLDER + "/")]
            tar.extractall(tmp, members=members, filter="data")
        os.replace(os.path.join(tmp, FOLDER), folder)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"{archive}: cannot extract ({exc}); delete it to download it "
                        f"again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_batches(folder):
    """Refuse an extracted folder unless every batch has its official checksum,
    naming every batch that does not."""
    md5s = BATCH_MD5
    bad = [f"{name} ({why})" for name in md5s
           if (why := check_file(os.path.join(folder, name), md5s[name]))]
    if bad:
        raise UserError(f"{folder}: checksum mismatch in {', '.join(bad)}; delete the "
                        f"folder to extract the archive again")


def load_cifar10(root, quiet=False):
    base = os.path.join(root, "cifar10")
    folder = os.path.join(base, FOLDER)
    needed = TRAIN_BATCHES + (TEST_BATCH,)
    if not all(os.path.isfile(os.path.join(folder, b)) for b in needed):
        mirrors = mirrors_from_env("IMB_CIFAR10_MIRRORS", MIRRORS)
        archive = ensure_file(base, ARCHIVE, ARCHIVE_MD5, mirrors, quiet)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        _extract(archive, folder)
    check_batches(folder)
    train = [load_batch(os.path.join(folder, b)) for b in TRAIN_BATCHES]
    x_test, y_test = load_batch(os.path.join(folder, TEST_BATCH))
    x_train = np.concatenate([d for d, _ in train])
    y_train = np.concatenate([l for _, l in train])
    return x_train, y_train, x_test, y_test
