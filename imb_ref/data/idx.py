"""The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

A file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data. MNIST stores images
as unsigned bytes (type 0x08) with 3 dimensions (magic 2051) and labels with 1
(magic 2049). The files are distributed gzip-compressed.
"""

import gzip
import struct
import zlib

import numpy as np

from ..errors import UserError

IMAGES_MAGIC = 0x00000803  # ubyte, 3 dimensions (count, rows, cols)
LABELS_MAGIC = 0x00000801  # ubyte, 1 dimension (count)


def read_idx_gz(path, expected_magic):
    """Read one gzip-compressed IDX file of unsigned bytes; returns a uint8 array.

    Any defect (a truncated or corrupt gzip stream, a wrong magic number, a payload
    whose length differs from the header's shape) raises a UserError naming the file.
    """
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path}: corrupt or truncated gzip file ({exc}); delete it and "
                        f"download it again") from None
    if len(raw) < 4:
        raise UserError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != expected_magic:
        raise UserError(f"{path}: wrong IDX magic number 0x{magic:08x}, expected "
                        f"0x{expected_magic:08x}; is this the right file?")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: IDX header truncated")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise UserError(f"{path}: IDX payload has {len(raw) - header} bytes, header "
                        f"shape {shape} needs {expected}; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx_gz(path, array):
    """Write a uint8 array as a gzip-compressed IDX file (used by the test fixtures)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x00000800 | array.ndim
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())


def load_idx_pair(images_path, labels_path):
    """Images (N, rows*cols) as uint8 and labels (N,) as int64, counts checked."""
    images = read_idx_gz(images_path, IMAGES_MAGIC)
    labels = read_idx_gz(labels_path, LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise UserError(f"{images_path}: {images.shape[0]} images but {labels_path} has "
                        f"{labels.shape[0]} labels; the pair does not match")
    return images.reshape(images.shape[0], -1), labels.astype(np.int64)
