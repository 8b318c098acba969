"""Variational conditional relevance, Eqs. (6)-(7), on a tree of samples.

For one example, leaf k (k = 0..M**L - 1) of the tree carries ell_k = log p(y | z_L^k),
the log-softmax of its logits at the true label. A layer-l particle (M**l of them) has
the M**(L-l) leaves below it, and its variational decoder p(y_hat | z_l) (Eq. 7) is
estimated by the mean of their likelihoods. So

    VCR_l = - mean over layer-l particles of  log( mean over its leaves of exp(ell) )
          = - mean_g [ logsumexp_s ell_{g,s} - log M**(L-l) ],

computed in log space. VCR_0 is the Monte Carlo negative log-likelihood (Theorem 3.2,
Eq. 8); VCR_L is the mean of -ell over leaves. By Jensen, VCR_0 <= ... <= VCR_L.
Derivative: d VCR_l / d ell_{g,s} = -(1/G) softmax_s(ell_{g,:}), G = M**l.
"""

import math
from typing import Any, NamedTuple

from ..backend import array_module
from .functions import logsumexp, softmax


class VCRCache(NamedTuple):
    """What vcr_backward needs from vcr_forward."""
    ell: Any   # (B, M**L) the leaves' log-likelihoods of the true label
    M: int     # children per particle
    L: int     # hidden layers


def vcr_forward(ell, M, L):
    """ell (B, M**L) leaf log-likelihoods -> vcr (B, L+1) per example, VCRCache."""
    xp = array_module(ell)
    B, N = ell.shape
    per_layer = []
    for l in range(L + 1):
        G = M ** l
        groups = ell.reshape(B, G, N // G)                              # (B, G, S)
        lme = logsumexp(groups, axis=2) - math.log(N // G)              # (B, G)
        per_layer.append(-lme.mean(axis=1))
    return xp.stack(per_layer, axis=1), VCRCache(ell, M, L)


def vcr_backward(dvcr, cache, active=None):
    """dvcr (B, L+1) upstream per example and layer -> dell (B, M**L).

    A layer whose upstream weight is zero everywhere is skipped (SFNN uses VCR_0 only).
    active: the layers with a non-zero weight, when the caller knows them on the host;
    otherwise they are read off dvcr (on a GPU, a wait for the device).
    """
    xp = array_module(dvcr)
    ell, M, L = cache.ell, cache.M, cache.L
    B, N = ell.shape
    dell = xp.zeros_like(ell)
    if active is None:
        active = [l for l in range(L + 1) if bool((dvcr[:, l] != 0).any())]
    for l in active:
        w = dvcr[:, l]
        G = M ** l
        soft = softmax(ell.reshape(B, G, N // G), axis=2)                # (B, G, S)
        dell -= (w[:, None, None] / G * soft).reshape(B, N)
    return dell
