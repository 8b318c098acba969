"""Numerically stable elementwise functions shared by the layers."""

from ..backend import array_module


def sigmoid(a):
    """1 / (1 + exp(-a)) without overflow, accurate in both tails.

    exp is only ever taken of -|a| <= 0; for a < 0 the form e / (1 + e) keeps the
    relative precision of tiny probabilities that 1 - 1/(1+e) would lose.
    """
    xp = array_module(a)
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)


def softplus(a):
    """log(1 + exp(a)) = -log sigmoid(-a), exact in both tails (logaddexp)."""
    xp = array_module(a)
    return xp.logaddexp(0.0, a).astype(a.dtype, copy=False)


def logsumexp(x, axis):
    """log sum exp over `axis`, shifted by the maximum; keeps no dimension."""
    xp = array_module(x)
    m = x.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    return (xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis)


def softmax(x, axis=-1):
    xp = array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
