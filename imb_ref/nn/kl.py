"""The compression term of Eq. (10): KL( Bern(p) || Bern(q) ) from logits.

With p = sigmoid(a) and q = sigmoid(rho), log p - log(1-p) = a and
log(1-p) = -softplus(a), so

    KL = p log(p/q) + (1-p) log((1-p)/(1-q)) = p (a - rho) + softplus(rho) - softplus(a)

which needs no epsilon anywhere. Its derivatives:

    dKL/da = p(1-p)(a - rho),    dKL/drho = q - p.
"""

from typing import Any, NamedTuple

from .functions import reduce_sum, sigmoid, softplus


class KLCache(NamedTuple):
    """What bernoulli_kl_backward needs from bernoulli_kl_forward."""
    a: Any     # (B, P, n) the parents' pre-activations
    rho: Any   # (n,) the prior's logits
    p: Any     # (B, P, n) sigmoid(a)


def bernoulli_kl_forward(a, rho):
    """a (B, P, n) parent pre-activations, rho (n,) prior logits.

    Returns kl (B,): for each example, the mean over its P parent particles of the sum
    over units of KL(Bern(sigmoid(a)) || Bern(sigmoid(rho))); and a KLCache.
    """
    p = sigmoid(a)
    per_unit = p * (a - rho) + softplus(rho) - softplus(a)   # (B, P, n)
    kl = reduce_sum(per_unit, axis=2).mean(axis=1)            # (B,)
    return kl, KLCache(a, rho, p)


def bernoulli_kl_backward(dkl, cache):
    """dkl (B,) upstream per example -> da (B, P, n), drho (n,)."""
    a, rho, p = cache.a, cache.rho, cache.p
    P = a.shape[1]
    w = (dkl / P)[:, None, None]                              # the mean over P
    da = w * p * (1.0 - p) * (a - rho)
    drho = (w * (sigmoid(rho) - p)).sum(axis=(0, 1))
    return da, drho
