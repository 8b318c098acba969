"""Tiny datasets written in the exact real on-disk formats, and a real HTTP server."""

import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading

import numpy as np

from imb_ref.data.idx import write_idx_gz
from imb_ref.data.mnist import FILES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def write_mnist_like(folder, n_train=30, n_test=12, seed=0):
    """Four IDX .gz files of random 28x28 images; returns {name: md5}."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28)),
              TRAIN_LABELS: np.arange(n_train) % 10,
              TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28)),
              TEST_LABELS: np.arange(n_test) % 10}
    for name, arr in arrays.items():
        write_idx_gz(os.path.join(folder, name), arr)
    return {name: md5(os.path.join(folder, name)) for name in FILES}


def cifar_arrays(n, seed):
    """(pixels uint8 (n, 3072), labels int (n,)) of one tiny CIFAR-10 batch."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072)).astype(np.uint8), rng.integers(0, 10, n)


def cifar_batch_bytes(n, seed, extra=None):
    """One batch of the python version: a pickled dictionary."""
    data, labels = cifar_arrays(n, seed)
    batch = {b"batch_label": b"fixture", b"labels": [int(v) for v in labels],
             b"data": data, b"filenames": [b"f%d.png" % i for i in range(n)]}
    if extra:
        batch.update(extra)
    return pickle.dumps(batch, protocol=2)


def cifar_bin_bytes(n, seed):
    """The same batch in the binary version: per record a label byte, then the pixels."""
    data, labels = cifar_arrays(n, seed)
    return np.concatenate([labels.astype(np.uint8)[:, None], data], axis=1).tobytes()


def cifar_files(version, n=4, tamper=None):
    """{file name: bytes} of a tiny copy of `version` (cifar10.BINARY or PYTHON): five
    training batches and the test batch of n images each, the same arrays in either
    version. tamper: bytes replacing the first training batch."""
    write = cifar_bin_bytes if version.name == "binary" else cifar_batch_bytes
    files = {name: write(n, i) for i, name in enumerate(version.batches)}
    if tamper is not None:
        files[version.batches[0]] = tamper
    return files


def cifar_batch_md5s(n=4, tamper=None, version=None):
    """The md5 of each batch cifar_files writes (for Version.batch_md5)."""
    from imb_ref.data.cifar10 import PYTHON
    return {name: hashlib.md5(data).hexdigest()
            for name, data in cifar_files(version or PYTHON, n, tamper).items()}


def write_cifar_folder(base, version, n=4, names=None):
    """The extracted folder <base>/<version.folder>/ (only `names`, if given)."""
    folder = os.path.join(base, version.folder)
    os.makedirs(folder, exist_ok=True)
    for name, data in cifar_files(version, n).items():
        if names is None or name in names:
            with open(os.path.join(folder, name), "wb") as fh:
                fh.write(data)
    return folder


def write_cifar_tarball(path, n=4, tamper=None, version=None):
    """The version's archive (default the python version's) with 5 train batches and a
    test batch of n images each; returns its md5.

    tamper: bytes replacing data_batch_1 (e.g. a pickle that would run code)."""
    from imb_ref.data.cifar10 import PYTHON
    version = version or PYTHON
    with tarfile.open(path, "w:gz") as tar:
        files = cifar_files(version, n, tamper)
        files["batches.meta" + (".txt" if version.name == "binary" else "")] = b"meta"
        for name, data in files.items():
            info = tarfile.TarInfo(f"{version.folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return md5(path)


class Evil:
    """Unpickling this would call os.system: the restricted unpickler must refuse."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/imb_ref_pwned",))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class FileServer:
    """A real HTTP server on 127.0.0.1 serving `folder`, in a thread."""

    def __init__(self, folder):
        handler = lambda *a, **kw: QuietHandler(*a, directory=folder, **kw)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def unused_port_url():
    """A loopback URL where nothing listens (connection refused at once)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def off_the_symmetric_start(params, rng, scale=0.7, dtype=None):
    """`params` (from sbn.init_params or vib.init_params) each moved by scale * N(0, 1)
    noise, drawn in the dictionary's order. init_params starts the biases and priors at
    zero and every unit alike; a gradient check from there would not see every term (a
    zero bias's derivative can hide a wrong sign). dtype: cast the result (the float32
    cases of the fused kernels)."""
    moved = {}
    for k, v in params.items():
        w = v + scale * rng.standard_normal(v.shape)
        moved[k] = w if dtype is None else w.astype(dtype)
    return moved
