"""Numerically stable elementwise functions and reductions shared by the layers."""

import numpy as np

from ..backend import array_module

# NumPy reduces a short axis one outer element at a time, ~20x slower than adding whole
# slices (measured: max over the 2 classes of a (256, 256, 2) array takes 3.2 ms as a
# reduction, 0.1 ms as np.maximum of two slices). For axes up to this length on NumPy we
# combine slices; CuPy's reduction kernels need no such help.
SHORT_AXIS = 32


def _slices(x, axis):
    axis = axis % x.ndim
    index = [slice(None)] * x.ndim
    for i in range(x.shape[axis]):
        index[axis] = i
        yield x[tuple(index)]


def _reduce(x, axis, keepdims, ufunc, native):
    if array_module(x) is not np or x.shape[axis] > SHORT_AXIS:
        return native(axis=axis, keepdims=keepdims)
    parts = _slices(x, axis)
    out = np.array(next(parts))                     # a copy, 0-d for a 1-D input
    for part in parts:
        ufunc(out, part, out=out)
    return np.expand_dims(out, axis) if keepdims else out


def reduce_sum(x, axis, keepdims=False):
    """x.sum(axis), fast on NumPy for short axes (same value up to summation order)."""
    return _reduce(x, axis, keepdims, np.add, x.sum)


def reduce_max(x, axis, keepdims=False):
    """x.max(axis), fast on NumPy for short axes (exact: max has no rounding)."""
    return _reduce(x, axis, keepdims, np.maximum, x.max)


def sigmoid(a):
    """1 / (1 + exp(-a)) without overflow, accurate in both tails.

    exp is only ever taken of -|a| <= 0; for a < 0 the form e / (1 + e) keeps the
    relative precision of tiny probabilities that 1 - 1/(1+e) would lose.
    """
    xp = array_module(a)
    e = xp.exp(-xp.abs(a))
    r = 1.0 / (1.0 + e)
    return xp.where(a >= 0, r, e * r).astype(a.dtype, copy=False)


def softplus(a):
    """log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|)), exact in both tails.

    (np.logaddexp(0, a) gives the same values and is three times slower.)"""
    xp = array_module(a)
    return (xp.maximum(a, 0.0) + xp.log1p(xp.exp(-xp.abs(a)))).astype(a.dtype, copy=False)


def logsumexp(x, axis):
    """log sum exp over `axis`, shifted by the maximum; keeps no dimension."""
    xp = array_module(x)
    m = reduce_max(x, axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    return (xp.log(reduce_sum(xp.exp(x - m), axis, keepdims=True)) + m).squeeze(axis)


def softmax(x, axis=-1):
    xp = array_module(x)
    e = xp.exp(x - reduce_max(x, axis, keepdims=True))
    return e / reduce_sum(e, axis, keepdims=True)
