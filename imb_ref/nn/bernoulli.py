"""The binary stochastic layer of Section 4 and its gradient estimators.

Forward (Algorithm 1, lines 5-9): each of the P parent particles of an example has
pre-activation a (computed once per parent) and probability p = sigmoid(a); it gets M
children z = 1[u < p], one row of uniforms u per child. Children of one parent are
contiguous, so layer l holds M**l particles per example.

Backward: every child of a parent shares the same a, and the surrogate derivative
dz/da depends on a alone, so the children's upstream gradients are summed first and
multiplied once:
  raiko (Raiko et al. 2014; the paper's choice): z treated as sigmoid(a), dz/da = p(1-p)
  st    (straight-through, Bengio et al. 2013):  dz/da = 1
REINFORCE does not pass gradients through z at all; see `bernoulli_score`.
"""

from typing import Any, NamedTuple

from ..backend import array_module
from .functions import reduce_sum, sigmoid

# The pathwise estimators: each replaces dz/da, which is zero almost everywhere, by a
# surrogate derivative that depends on the parent alone (so the children can be summed
# first). An entry maps (dz_sum, p) to da = dz_sum * dz/da. Adding one is an entry here.
SURROGATES = {
    "raiko": lambda dz_sum, p: dz_sum * p * (1.0 - p),   # z treated as sigmoid(a)
    "st": lambda dz_sum, p: dz_sum,                       # straight-through: dz/da = 1
}
def estimators():
    """The sampled estimators, read when asked (a parser built after an entry was added
    to SURROGATES offers it)."""
    return tuple(SURROGATES) + ("reinforce",)


class BernoulliCache(NamedTuple):
    """What the backward passes need from bernoulli_forward (or the mean-field layer)."""
    p: Any     # (B, P, n) the parents' probabilities sigmoid(a)
    z: Any     # (B, P, M, n) the children's samples; None for the mean-field layer
    M: int     # children per parent (1 for the mean-field layer)


def bernoulli_forward(a, u):
    """Sample M children per parent.

    a: (B, P, n) pre-activations of the P parent particles of each example.
    u: (B, P, M, n) uniforms in [0, 1).
    Returns z (B, P*M, n) in {0, 1} (dtype of a), BernoulliCache.
    """
    p = sigmoid(a)                                   # (B, P, n)
    B, P, M, n = u.shape
    z = (u < p[:, :, None, :]).astype(a.dtype)       # (B, P, M, n)
    return z.reshape(B, P * M, n), BernoulliCache(p, z, M)


def bernoulli_mean_forward(a):
    """Mean-field (deterministic) layer: z = p = sigmoid(a), one child per parent."""
    p = sigmoid(a)
    return p, BernoulliCache(p, None, 1)


def sum_children(dz, M):
    """(B, P*M, n) -> (B, P, n): sum each parent's M children."""
    B, PM, n = dz.shape
    return reduce_sum(dz.reshape(B, PM // M, M, n), axis=2)


def bernoulli_backward(dz_sum, cache, estimator="raiko"):
    """da (B, P, n) from the children's upstream gradient already summed per parent.

    dz_sum: (B, P, n) = sum over the M children of dL/dz (see `sum_children`).
    """
    if estimator not in SURROGATES:
        raise ValueError(f"estimator {estimator!r} has no pathwise backward")
    return SURROGATES[estimator](dz_sum, cache.p)


def bernoulli_score(weight, cache):
    """The REINFORCE (score-function) term for a: sum over children of w (z - p).

    d log Bern(z; sigmoid(a)) / da = z - p, so for a per-example weight w (B,) (the
    example's loss minus a baseline, over the batch size) the contribution to da is
    w * sum_children (z - p), shape (B, P, n).
    """
    return weight[:, None, None] * reduce_sum(cache.z - cache.p[:, :, None, :], axis=2)


def reinforce_weights(f):
    """REINFORCE's weight of each example's score, from its loss f (B,): the loss minus
    a leave-one-out baseline (the mean loss of the other examples of the batch), over B
    for the batch mean. The baseline does not depend on the example's own samples, so
    the estimator stays unbiased; it removes the loss's common level."""
    xp = array_module(f)
    B = f.shape[0]
    baseline = (f.sum() - f) / (B - 1) if B > 1 else xp.zeros_like(f)
    return (f - baseline) / B
