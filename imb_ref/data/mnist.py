"""MNIST and Fashion-MNIST: four gzip-compressed IDX files each."""

import os

import numpy as np

from .cache import SYSTEM_FASHION_DIR, ensure_files, mirrors_from_env
from .idx import load_idx_pair

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

# The mirror torchvision tries first, then the original host.
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "http://yann.lecun.com/exdb/mnist/")
MNIST_MD5 = {
    TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
    TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
    TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
}

FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
FASHION_MD5 = {
    TRAIN_IMAGES: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    TRAIN_LABELS: "25c81989df183df01b3e8a0aad5dffbe",
    TEST_IMAGES: "bef4ecab320f06d8554ea6380940ec79",
    TEST_LABELS: "bb300cfdad3c16e7a12a480ee83cd310",
}
# The decompressed files' md5 (as torchvision lists them): Debian's package
# `dataset-fashion-mnist` recompressed the archives, so a copy of its files in the cache
# has other archive checksums but this content.
FASHION_RAW_MD5 = {
    TRAIN_IMAGES: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    TRAIN_LABELS: "9018921c3c673c538a1fc5bad174d6f9",
    TEST_IMAGES: "8181f5470baa50b63fa0f6fddb340f0a",
    TEST_LABELS: "15d484375f8d13e6eb1aabb0c3f46965",
}


def _load_folder(paths):
    x_train, y_train = load_idx_pair(paths[TRAIN_IMAGES], paths[TRAIN_LABELS])
    x_test, y_test = load_idx_pair(paths[TEST_IMAGES], paths[TEST_LABELS])
    return x_train, y_train, x_test, y_test


def load_idx_dataset(folder, md5s, mirrors, quiet=False, raw_md5s=None):
    """Verify (or fetch) the four files in `folder` and read them."""
    return _load_folder(ensure_files(folder, {f: md5s[f] for f in FILES}, mirrors, quiet,
                                     raw_md5s))


def load_mnist(root, quiet=False):
    mirrors = mirrors_from_env("IMB_MNIST_MIRRORS", MNIST_MIRRORS)
    return load_idx_dataset(os.path.join(root, "mnist"), MNIST_MD5, mirrors, quiet)


def system_fashion_dir():
    """The Debian package `dataset-fashion-mnist`'s folder, if it holds all four files.

    Debian recompressed the archives, so their md5 differs from upstream's; the IDX
    reader still checks magic numbers, sizes and counts.
    """
    folder = os.environ.get("IMB_FASHION_SYSTEM_DIR", SYSTEM_FASHION_DIR)
    if all(os.path.isfile(os.path.join(folder, f)) for f in FILES):
        return folder
    return None


def load_fashion_mnist(root, quiet=False):
    folder = os.path.join(root, "fashion-mnist")
    cached = all(os.path.exists(os.path.join(folder, f)) for f in FILES)
    system = system_fashion_dir()
    if system and not cached:
        return _load_folder({f: os.path.join(system, f) for f in FILES})
    mirrors = mirrors_from_env("IMB_FASHION_MIRRORS", FASHION_MIRRORS)
    return load_idx_dataset(folder, FASHION_MD5, mirrors, quiet, FASHION_RAW_MD5)


def to_unit_interval(images, dtype=np.float64):
    """uint8 pixels to floats in [0, 1]."""
    return images.astype(dtype) / np.asarray(255.0, dtype=dtype)
