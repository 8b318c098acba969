"""The output layer's log-likelihood of the true label, log softmax(logits)[y]."""

from typing import Any, NamedTuple

from ..backend import array_module
from .functions import logsumexp


class SoftmaxCache(NamedTuple):
    """What log_softmax_at_backward needs from log_softmax_at_forward."""
    logits: Any   # (B, N, C) the leaves' logits
    lse: Any      # (B, N) their log-sum-exp
    y: Any        # (B,) the true labels


def log_softmax_at_forward(logits, y):
    """logits (B, N, C), y (B,) int -> ell (B, N) = log softmax(logits)[y], SoftmaxCache."""
    xp = array_module(logits)
    lse = logsumexp(logits, axis=2)                                  # (B, N)
    B, N, C = logits.shape
    index = xp.broadcast_to(y[:, None, None], (B, N, 1))   # explicit: CuPy wants full shape
    picked = xp.take_along_axis(logits, index, axis=2)[..., 0]
    return picked - lse, SoftmaxCache(logits, lse, y)


def log_softmax_at_backward(dell, cache):
    """dell (B, N) -> dlogits (B, N, C) = dell * (onehot(y) - softmax(logits))."""
    xp = array_module(dell)
    logits, lse, y = cache.logits, cache.lse, cache.y
    soft = xp.exp(logits - lse[..., None])
    dlogits = -dell[..., None] * soft
    B, N, C = logits.shape
    onehot = (xp.arange(C)[None, :] == y[:, None]).astype(logits.dtype)   # (B, C)
    return dlogits + dell[..., None] * onehot[:, None, :]
