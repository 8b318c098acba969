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


def cifar_batch_bytes(n, seed, extra=None):
    rng = np.random.default_rng(seed)
    batch = {b"batch_label": b"fixture", b"labels": [int(v) for v in rng.integers(0, 10, n)],
             b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
             b"filenames": [b"f%d.png" % i for i in range(n)]}
    if extra:
        batch.update(extra)
    return pickle.dumps(batch, protocol=2)


def cifar_batch_md5s(n=4, tamper=None):
    """The md5 of each batch write_cifar_tarball(n, tamper) writes (for BATCH_MD5)."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {name: hashlib.md5(tamper if (name == "data_batch_1" and tamper is not None)
                              else cifar_batch_bytes(n, i)).hexdigest()
            for i, name in enumerate(names)}


def write_cifar_tarball(path, n=4, tamper=None):
    """cifar-10-python.tar.gz with 5 train batches and a test batch of n images each.

    tamper: bytes replacing data_batch_1 (e.g. a pickle that would run code)."""
    with tarfile.open(path, "w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
        for i, name in enumerate(names):
            data = cifar_batch_bytes(n, i)
            if name == "data_batch_1" and tamper is not None:
                data = tamper
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
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
