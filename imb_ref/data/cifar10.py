"""CIFAR-10 in either official version, every file checked against its official md5.

Krizhevsky publishes the same 60,000 images twice:
- the **binary version**, `cifar-10-binary.tar.gz` -> `cifar-10-batches-bin/`: six files
  `data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`, each 10,000 records of
  1 label byte and 3,072 pixel bytes (the R, G and B planes of 32x32, row-major). Reading
  it is a reshape: no unpickling at all. This is the version we download.
- the **python version**, `cifar-10-python.tar.gz` -> `cifar-10-batches-py/`: the same
  arrays as pickled dictionaries. The pickles are read with a restricted unpickler that
  resolves only the globals a NumPy array needs, so a tampered file raises an error
  instead of running code (a plain `pickle.load` would call whatever the file names).

Both give the pixel rows in the same order (R plane, G plane, B plane), so the two load
to identical arrays (tests/test_data_formats.py writes one set of arrays both ways).

Where the data is looked for, in `<root>/cifar10/`: an extracted folder of either version
(binary first), else an archive of either version (extracted through a temporary sibling
and renamed), else the binary archive is downloaded. `train_batches` < 5 reads only the
first training batches (and never needs the others): for a machine that can hold only
part of the set (the GPU check, .ci/gpu); every file read is still checked.
"""

import os
import pickle
import shutil
import tarfile
import tempfile
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from .cache import check_file, ensure_file, mirrors_from_env

PIXELS = 3 * 32 * 32
RECORD = 1 + PIXELS          # the binary version: a label byte, then the pixels
RECORDS_PER_BATCH = 10000
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)


TRAIN_FILES = 5     # data_batch_1 .. data_batch_5; --cifar-train-batches reads the first N


@dataclass(frozen=True)
class Version:
    """One official version of CIFAR-10: its archive, its folder and its six files."""
    name: str
    archive: str
    archive_md5: str
    folder: str
    batches: tuple          # the TRAIN_FILES training batches, then the test batch
    batch_md5: dict         # file name -> official md5 (as torchvision checks them)

    @property
    def train_batches(self):
        return self.batches[:TRAIN_FILES]

    @property
    def test_batch(self):
        return self.batches[TRAIN_FILES]


BINARY = Version(
    "binary", "cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530",
    "cifar-10-batches-bin",
    tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",),
    {"data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
     "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
     "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
     "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
     "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
     "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d"})
PYTHON = Version(
    "python", "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
    "cifar-10-batches-py",
    tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",),
    {"data_batch_1": "c99cafc152244af753f735de768cd75f",
     "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
     "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
     "data_batch_4": "634d18415352ddfa80567beed471001a",
     "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
     "test_batch": "40351d587109b95175f43aff81a1287e"})
# In the order they are looked for; the first is the one downloaded.
VERSIONS = {"binary": BINARY, "python": PYTHON}


# ----------------------------------------------------------------------------------------
# Reading one batch

def load_binary_batch(path):
    """(images uint8 (N, 3072), labels int64 (N,)) from one `.bin` batch."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if raw.size == 0 or raw.size % RECORD:
        raise UserError(f"{path}: {raw.size} bytes is not a whole number of {RECORD}-byte "
                        f"records (1 label byte + {PIXELS} pixels): the file is truncated "
                        f"or not a CIFAR-10 binary batch; delete it and fetch it again")
    records = raw.reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        first = int(np.argmax(labels > 9))
        raise UserError(f"{path}: record {first} has label byte {labels[first]} (CIFAR-10 "
                        f"labels are 0..9): not a CIFAR-10 binary batch; delete it and "
                        f"fetch it again")
    return np.ascontiguousarray(records[:, 1:]), labels


class RestrictedUnpickler(pickle.Unpickler):
    # (module, name) pairs a pickled ndarray may reference; numpy.core is numpy<2's name.
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
        ("_codecs", "encode"): ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        target = self.ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return super().find_class(*target)


def load_batch(path):
    """(images uint8 (N, 3072), labels int64 (N,)) from one pickled batch."""
    from ..files import path_problem
    problem = path_problem(path)
    if problem:
        raise UserError(f"{path}: {problem}; a CIFAR-10 batch file is expected there")
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


READERS = {"binary": load_binary_batch, "python": load_batch}


# ----------------------------------------------------------------------------------------
# Finding, checking and extracting a version

def _extract(version, archive, folder):
    """Extract the version's folder from `archive` via a temporary sibling, then rename."""
    parent = os.path.dirname(folder)
    tmp = tempfile.mkdtemp(prefix=".extract-", dir=parent)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers()
                       if m.isfile() and m.name.startswith(version.folder + "/")]
            tar.extractall(tmp, members=members, filter="data")
        if not os.path.isdir(os.path.join(tmp, version.folder)):
            raise OSError(f"it holds no {version.folder}/")
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.replace(os.path.join(tmp, version.folder), folder)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"{archive}: cannot extract ({exc}); delete it to download it "
                        f"again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_batches(folder, version, names):
    """Refuse an extracted folder unless each of `names` has its official checksum,
    naming every file that does not."""
    bad = [f"{name} ({why})" for name in names
           if (why := check_file(os.path.join(folder, name), version.batch_md5[name]))]
    if bad:
        raise UserError(f"{folder}: checksum mismatch in {', '.join(bad)}; delete the "
                        f"folder to extract the archive again")


def needed_files(version, train_batches=TRAIN_FILES):
    if not 1 <= train_batches <= 5:
        raise UserError(f"--cifar-train-batches {train_batches}: must be 1..5 (CIFAR-10 has "
                        f"five training batches)")
    return version.train_batches[:train_batches] + (version.test_batch,)


def _has_all(folder, names):
    """Whether `folder` holds every file of `names`; a folder or a broken link where one
    of them belongs is refused, naming it (never taken for a missing file)."""
    from ..files import path_problem
    for n in names:
        path = os.path.join(folder, n)
        problem = os.path.lexists(path) and path_problem(path)
        if problem:
            raise UserError(f"{path}: {problem}; the CIFAR-10 file of that name is "
                            f"expected there")
    return all(os.path.isfile(os.path.join(folder, n)) for n in names)


def _offline_hint(base):
    both = "; or ".join(f"the {v.name} version, {v.archive} (md5 {v.archive_md5}) or its "
                        f"extracted {v.folder}/" for v in VERSIONS.values())
    return f"put {both} in {base}, or use --data-dir to point at a folder holding cifar10/"


def locate(root, train_batches=TRAIN_FILES, quiet=False):
    """(version, folder) of an extracted, complete copy under <root>/cifar10/, extracting
    or downloading one if needed."""
    base = os.path.join(root, "cifar10")
    for version in VERSIONS.values():
        folder = os.path.join(base, version.folder)
        if _has_all(folder, needed_files(version, train_batches)):
            return version, folder
    for version in VERSIONS.values():
        if os.path.isfile(os.path.join(base, version.archive)):
            break
    else:
        version = BINARY          # needs no unpickler
    mirrors = mirrors_from_env("IMB_CIFAR10_MIRRORS", MIRRORS)
    try:
        archive = ensure_file(base, version.archive, version.archive_md5, mirrors, quiet)
    except UserError as exc:
        if "download of" in str(exc):
            raise UserError(f"CIFAR-10 is not in {base} and could not be downloaded: "
                            f"{_offline_hint(base)}") from None
        raise
    folder = os.path.join(base, version.folder)
    _extract(version, archive, folder)
    return version, folder


def load_cifar10(root, quiet=False, train_batches=TRAIN_FILES):
    """(x_train, y_train, x_test, y_test): uint8 (N, 3072) pixels and int64 labels.

    train_batches: read only the first N training batches (1..5)."""
    version, folder = locate(root, train_batches, quiet)
    names = needed_files(version, train_batches)
    check_batches(folder, version, names)
    read = READERS[version.name]
    train = [read(os.path.join(folder, b)) for b in names[:-1]]
    x_test, y_test = read(os.path.join(folder, names[-1]))
    x_train = np.concatenate([d for d, _ in train])
    y_train = np.concatenate([l for _, l in train])
    return x_train, y_train, x_test, y_test
