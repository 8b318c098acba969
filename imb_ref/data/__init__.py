"""Datasets in their real on-disk formats, split as in the paper (Appendix D).

`load_dataset` returns a `Dataset` of host (NumPy) arrays: pixels scaled to [0, 1]
(float64 unless asked otherwise), labels int64. The last `val_size` training examples form the validation
split. The caller moves the arrays to the device once (`xp.asarray`).
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import UserError
from . import synthetic12
from .cache import data_root
from .cifar10 import TRAIN_FILES, load_cifar10
from .mnist import load_fashion_mnist, load_mnist, to_unit_interval


@dataclass(frozen=True)
class Source:
    """One dataset, as `load_dataset` needs it. `load(root, options)` returns
    (x_train, y_train, x_test, y_test): uint8 pixels (scaled to [0, 1] here) or floats,
    and int labels; root is the data folder (None for a dataset made in code), options
    the LoadOptions of the command."""
    load: Callable
    n_classes: int
    val_size: int             # the default held-out tail of the training set
    on_disk: bool = True      # read from the data folder (--data-dir)
    reported: str = "error"   # the paper's figure: "error" (%), or "accuracy" (CIFAR10)
    table1: bool = False      # a dataset of Table 1 (Section 5.1)

    def percent(self, error):
        """A test error as the paper reports this dataset: error or accuracy, in %."""
        return 100 * (1 - error) if self.reported == "accuracy" else 100 * error


@dataclass(frozen=True)
class LoadOptions:
    quiet: bool = False
    data_file: str = None             # synthetic12: the original var_u.mat
    cifar_train_batches: int = TRAIN_FILES    # cifar10: the first N training files


def _synthetic12(root, options):
    x, y = (synthetic12.load_mat(options.data_file) if options.data_file
            else synthetic12.make_task())
    train, test = synthetic12.train_test_split(len(y))
    return x[train], y[train], x[test], y[test]


# The one list of datasets, in --help's order: adding one is an entry here and its
# loader. As in the paper (Appendix D), the image sets hold out their last 10,000
# training images for validation.
SOURCES = {
    "mnist": Source(lambda root, o: load_mnist(root, o.quiet), 10, 10000, table1=True),
    "fashion-mnist": Source(lambda root, o: load_fashion_mnist(root, o.quiet), 10, 10000,
                            table1=True),
    "cifar10": Source(lambda root, o: load_cifar10(root, o.quiet, o.cifar_train_batches),
                      10, 10000, reported="accuracy", table1=True),
    "synthetic12": Source(_synthetic12, 2, 0, on_disk=False),
}
DATASETS = tuple(SOURCES)


@dataclass
class Split:
    x: np.ndarray  # (N, d) floating, in [0, 1]
    y: np.ndarray  # (N,) int64

    def __len__(self):
        return int(self.y.shape[0])


@dataclass
class Dataset:
    name: str
    n_classes: int
    train: Split
    val: Split   # may be empty
    test: Split

    @property
    def n_features(self):
        return int(self.train.x.shape[1])

    def summary(self):
        return (f"{self.name}: {len(self.train)} train / {len(self.val)} val / "
                f"{len(self.test)} test, {self.n_features} features, "
                f"{self.n_classes} classes")


def load_dataset(name, data_dir=None, val_size=None, limit_train=None, limit_val=None,
                 limit_test=None, data_file=None, quiet=False, dtype=np.float64,
                 cifar_train_batches=TRAIN_FILES):
    """Load `name` and split it.

    val_size: the last `val_size` training examples become the validation split
        (None: the dataset's default, 10,000 for the image sets as in the paper's
        Appendix D, 0 for synthetic12).
    limit_train, limit_val, limit_test: keep only the first N of each split.
    data_file: synthetic12 only, the original `var_u.mat`.
    dtype: floating dtype of the returned inputs (float32 halves host memory).
    cifar_train_batches: cifar10 only, read the first N of the five training batches
        (for a machine that holds only part of the set; all of them by default).
    """
    if name not in SOURCES:
        raise UserError(f"unknown dataset {name!r}: choose one of {', '.join(SOURCES)}")
    source = SOURCES[name]
    if cifar_train_batches != TRAIN_FILES and name != "cifar10":
        raise UserError("--cifar-train-batches is for --dataset cifar10 only")
    if data_file and name != "synthetic12":
        raise UserError("--data-file is for --dataset synthetic12 only")
    root = data_root(data_dir) if source.on_disk else None
    x_train, y_train, x_test, y_test = source.load(
        root, LoadOptions(quiet, data_file, cifar_train_batches))
    if x_train.dtype == np.uint8:
        x_train, x_test = to_unit_interval(x_train, dtype), to_unit_interval(x_test, dtype)
    else:
        x_train, x_test = x_train.astype(dtype), x_test.astype(dtype)
    val_size = source.val_size if val_size is None else int(val_size)
    if not 0 <= val_size < len(y_train):
        raise UserError(f"--val-size {val_size}: must be between 0 and "
                        f"{len(y_train) - 1} for {name} ({len(y_train)} training examples)")
    cut = len(y_train) - val_size
    train = Split(x_train[:cut], y_train[:cut])
    val = Split(x_train[cut:], y_train[cut:])
    test = Split(x_test, y_test)
    for split, limit, flag in ((train, limit_train, "--limit-train"),
                               (val, limit_val, "--limit-val"),
                               (test, limit_test, "--limit-test")):
        if limit is not None:
            if limit < 1:
                raise UserError(f"{flag} {limit}: must be at least 1")
            split.x, split.y = split.x[:limit], split.y[:limit]
    return Dataset(name, source.n_classes, train, val, test)
