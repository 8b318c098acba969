"""Philox4x32-10, the counter-based generator of the fused path, on the host or a GPU.

A counter-based generator gives any random word from its index alone (Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011): Philox4x32-10 maps a 128-bit
counter and a 64-bit key to four 32-bit words. The fused kernels (imb_ref/gpu/kernels/tree.cu)
draw unit j of particle i of hidden layer l (i = (b * P + g) * M + c: example b, parent g,
child c) as word j mod 4 of

    Philox(counter = (i mod 2^32, j // 4, l, i // 2^32), key),

so the same uniform can be drawn twice, in the forward and in the backward, without being
stored. This module computes the same words with array operations (NumPy or CuPy):
`philox_uniforms` writes out, in the reference's layout, the noise a fused step used, so
that imb_objective can be run on it (tests/test_fused.py; theory/fused.md).
"""

import numpy as np

from ..backend import array_module

PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)


def philox4x32_10(counter, key):
    """Random123's philox4x32_R(10): counter (..., 4) and key (..., 2) uint32 arrays
    (broadcast against each other) -> (..., 4) uint32 words. NumPy or CuPy."""
    xp = array_module(counter)
    counter, key = xp.asarray(counter, dtype=xp.uint64), xp.asarray(key, dtype=xp.uint64)
    words = _philox_rounds([counter[..., i] for i in range(4)], [key[..., 0], key[..., 1]])
    return xp.stack(words, axis=-1).astype(xp.uint32)


def _philox_rounds(c, k):
    """Ten rounds on uint64 arrays holding 32-bit words (products fit in 64 bits)."""
    mask = np.uint64(0xFFFFFFFF)
    for r in range(10):
        if r > 0:
            k = [(k[0] + np.uint64(PHILOX_W[0])) & mask, (k[1] + np.uint64(PHILOX_W[1])) & mask]
        prod0 = np.uint64(PHILOX_M[0]) * c[0]
        prod1 = np.uint64(PHILOX_M[1]) * c[2]
        c = [(prod1 >> np.uint64(32)) ^ c[1] ^ k[0], prod1 & mask,
             (prod0 >> np.uint64(32)) ^ c[3] ^ k[1], prod0 & mask]
    return c


def to_uniform(bits, dtype):
    """32-bit words -> uniforms in [0, 1) exactly as tree.cu's to_uniform: the top 24
    bits for float32 (NumPy's own float32 rule), all 32 for float64."""
    xp = array_module(bits)
    bits = xp.asarray(bits, dtype=xp.uint32)
    if np.dtype(dtype) == np.float32:
        return (bits >> np.uint32(8)).astype(xp.float32) * np.float32(2.0 ** -24)
    return bits.astype(xp.float64) * 2.0 ** -32


def philox_uniforms(key, B, M, hidden, dtype):
    """The uniforms a fused step with this key uses, in sbn's layout: layer l (1-based)
    of shape (B, M**(l-1), M, n_l), on the key's device (NumPy or CuPy). For tests and
    replays: the fused path itself never writes them out."""
    xp = array_module(key)
    key = xp.asarray(key, dtype=xp.uint64).reshape(2)
    out = []
    for l, n in enumerate(hidden, start=1):
        count = B * M ** l                                     # particles of layer l
        nq = (n + 3) // 4
        i = xp.arange(count, dtype=xp.uint64)[:, None]
        q = xp.arange(nq, dtype=xp.uint64)[None, :]
        zero = xp.zeros((count, nq), dtype=xp.uint64)
        counter = [(i & np.uint64(0xFFFFFFFF)) + zero, q + zero, np.uint64(l) + zero,
                   (i >> np.uint64(32)) + zero]
        words = xp.stack(_philox_rounds(counter, [key[0], key[1]]), axis=-1)
        words = words.astype(xp.uint32).reshape(count, 4 * nq)[:, :n]
        out.append(to_uniform(words, dtype).reshape(B, M ** (l - 1), M, n))
    return out


def draw_key(rng, xp):
    """Two 32-bit key words from the run's generator, left on the device (no sync)."""
    return (rng.random(2) * 2.0 ** 32).astype(xp.uint32)
