"""The real data on hand: the MNIST test set and Fashion-MNIST (skipped when absent)."""

import os

import numpy as np
import pytest

from imb_ref.data import load_dataset
from imb_ref.data.download import md5sum
from imb_ref.data.idx import load_idx_pair
from imb_ref.data.mnist import MNIST_MD5, SYSTEM_FASHION_DIR, TEST_IMAGES, TEST_LABELS

# The MNIST test set's two files: $IMB_TEST_MNIST_T10K, else the folder beside the
# repository on the machines this project is built on.
MNIST_T10K = os.environ.get("IMB_TEST_MNIST_T10K") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "mnist-t10k")
MNIST_MISSING = (f"the MNIST test set is not in {MNIST_T10K}: set IMB_TEST_MNIST_T10K to a "
                 f"folder holding {TEST_IMAGES} and {TEST_LABELS}")


@pytest.mark.skipif(not os.path.isdir(MNIST_T10K), reason=MNIST_MISSING)
def test_real_mnist_test_set():
    images = os.path.join(MNIST_T10K, TEST_IMAGES)
    labels = os.path.join(MNIST_T10K, TEST_LABELS)
    assert md5sum(images) == MNIST_MD5[TEST_IMAGES] == "9fb629c4189551a2d022fa330f9573f3"
    assert md5sum(labels) == MNIST_MD5[TEST_LABELS]
    x, y = load_idx_pair(images, labels)
    assert x.shape == (10000, 784) and y.shape == (10000,)
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(not os.path.isdir(SYSTEM_FASHION_DIR),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
@pytest.mark.slow
def test_real_fashion_mnist_from_the_debian_package(tmp_path):
    d = load_dataset("fashion-mnist", str(tmp_path), val_size=0)
    assert d.train.x.shape == (60000, 784) and d.test.x.shape == (10000, 784)
    assert np.bincount(d.train.y).tolist() == [6000] * 10
    assert 0.0 <= d.train.x.min() and d.train.x.max() == 1.0
    assert not os.listdir(tmp_path)                # nothing downloaded or cached


# The real CIFAR-10 (binary version): $IMB_TEST_CIFAR10 (a folder holding cifar10/), else
# the shared data folder beside the repository on the machines this project is built on.
CIFAR_ROOT = os.environ.get("IMB_TEST_CIFAR10") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data")
CIFAR_MISSING = (f"the real CIFAR-10 is not in {CIFAR_ROOT}/cifar10: set IMB_TEST_CIFAR10 to a "
                 f"folder holding cifar10/cifar-10-batches-bin/ (or -py/)")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(os.path.join(CIFAR_ROOT, "cifar10")),
                    reason=CIFAR_MISSING)
def test_real_cifar10_matches_what_is_published(tmp_path):
    """50,000 + 10,000 images, 5,000 / 1,000 per class, and the training set's
    per-channel pixel mean and standard deviation as published (the values every
    CIFAR-10 normalisation uses), to 1e-4: float64 sums of 5e7 values of [0, 1] are exact
    far beyond that, so a difference means other pixels or another channel order."""
    d = load_dataset("cifar10", CIFAR_ROOT, val_size=0)
    assert d.train.x.shape == (50000, 3072) and d.test.x.shape == (10000, 3072)
    assert np.bincount(d.train.y).tolist() == [5000] * 10
    assert np.bincount(d.test.y).tolist() == [1000] * 10
    planes = d.train.x.reshape(-1, 3, 1024)              # R, G, B planes of 32x32
    np.testing.assert_allclose(planes.mean(axis=(0, 2)), [0.4914, 0.4822, 0.4465], atol=1e-4)
    np.testing.assert_allclose(planes.std(axis=(0, 2)), [0.2470, 0.2435, 0.2616], atol=1e-4)
