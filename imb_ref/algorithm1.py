"""Algorithm 1 of the paper (JointIMB), one training step on a page.

Information Multi-Bottlenecks (arXiv 1712.01272), Section 3.4, Algorithm 1:

     4: while not converged do
     5:   for l = 1 to L do                          -- sample the tree, layer by layer
     6:     S_l = {}
     7:     for z_{l-1} in S_{l-1} do
     8:       S_l <- S_l + {z_l^(k), k = 1..M  ~  p(z_l | z_{l-1})}
     9:     end for
    10:   end for
    11:   L~_joint(theta) <- Eqs. (6, 7, 10) and {S_l}   -- VCR_l and KL_l on the tree
    12:   g <- d L~_joint / d theta                       -- the gradient (Raiko's estimator)
    13:   theta <- theta - nu g                           -- the update
    14: end while

`jointimb_step` below is lines 5-13 once, written out with the forward/backward pairs
of imb_ref/nn so that each line is one click away. It computes exactly what the
training loop computes (imb_ref.models.sbn.imb_objective, then an SGD update;
tests/test_algorithm1.py holds the two to 1e-12 in float64), but in the order the paper
writes it, for one reader to follow. The loop that calls it many times, with
minibatches, other optimisers, GreedyIMB's stages, checkpoints and early stopping, is
imb_ref/training/loop.py; theory/walkthrough.md follows one step on a tiny network, shapes and
numbers included.

Conventions (imb_ref/models/sbn.py): parameters W_0..W_L, b_0..b_L (a_l = z_{l-1}
W_{l-1} + b_{l-1}) and rho_1..rho_L, the logits of the prior r(z_l) of Eq. (10); the
uniforms of layer l have shape (B, M**(l-1), M, n_l), so layer l holds M**l particles
per example, the M children of one parent side by side.
"""

from .backend import array_module
from .nn.bernoulli import bernoulli_backward, bernoulli_forward, sum_children
from .nn.kl import bernoulli_kl_backward, bernoulli_kl_forward
from .nn.linear import flat_matmul, linear_backward, linear_forward
from .nn.softmax import log_softmax_at_backward, log_softmax_at_forward
from .nn.vcr import vcr_backward, vcr_forward


def jointimb_step(params, x, y, uniforms, M, gammas, betas, lr):
    """One step of Algorithm 1 on the batch (x, y) with the given noise.

    params: dict of arrays, updated in place (line 13). x (B, n_0), y (B,) labels.
    uniforms: L arrays, layer l's of shape (B, M**(l-1), M, n_l) (the noise of line 8;
        imb_ref.models.sbn.sample_uniforms draws them).
    gammas (L+1,), betas (L,): the weights of VCR_0..VCR_L and KL_1..KL_L in
        L~_joint = sum_l gamma_l VCR_l + sum_l beta_l KL_l   (Eq. 11's Monte Carlo form).
    lr: nu, the step size of line 13.
    Returns (loss, vcr (L+1,), kl (L,), grads): the objective before the update.
    """
    xp = array_module(x)
    L = len(uniforms)
    B = x.shape[0]

    # Lines 5-10: the tree. S_0 is the batch itself, one particle per example; each
    # particle of S_{l-1} gets M children z_l ~ p(z_l | z_{l-1}) = Bern(sigmoid(a_l)).
    z = x[:, None, :]                                              # S_0: (B, 1, n_0)
    tree = []
    for l in range(1, L + 1):
        a, lin_cache = linear_forward(z, params[f"W_{l-1}"], params[f"b_{l-1}"])
        z, bern_cache = bernoulli_forward(a, uniforms[l - 1])      # S_l: (B, M**l, n_l)
        tree.append((a, lin_cache, bern_cache))

    # Line 11, Eqs. (6)-(7): each leaf's log-likelihood ell = log p(y | z_L), then
    # VCR_l, the negative log of the leaves' mean likelihood under each layer-l
    # particle, averaged over particles (imb_ref/nn/vcr.py).
    logits, out_cache = linear_forward(z, params[f"W_{L}"], params[f"b_{L}"])  # (B, M**L, C)
    ell, softmax_cache = log_softmax_at_forward(logits, y)                      # (B, M**L)
    vcr, vcr_cache = vcr_forward(ell, M, L)                                     # (B, L+1)
    # Line 11, Eq. (10): KL_l between the encoder's Bernoulli and the prior, at each
    # parent particle of layer l (imb_ref/nn/kl.py).
    kl, kl_caches = [], []
    for l in range(1, L + 1):
        a_l = tree[l - 1][0]                                        # (B, M**(l-1), n_l)
        kl_l, cache = bernoulli_kl_forward(a_l, params[f"rho_{l}"])             # (B,)
        kl.append(kl_l)
        kl_caches.append(cache)
    kl = xp.stack(kl, axis=1)                                                   # (B, L)
    gammas = xp.asarray(gammas, dtype=x.dtype)
    betas = xp.asarray(betas, dtype=x.dtype)
    loss = (vcr @ gammas + kl @ betas).mean()

    # Line 12: the gradient, backward through line 11 then down the tree. Each term is
    # a batch mean, so example b's upstream weight is gamma_l / B (resp. beta_l / B).
    grads = {}
    dell = vcr_backward(xp.broadcast_to(gammas / B, (B, L + 1)), vcr_cache)
    dlogits = log_softmax_at_backward(dell, softmax_cache)
    _, grads[f"W_{L}"], grads[f"b_{L}"] = linear_backward(dlogits, out_cache, need_dx=False)
    # The chain rule, plainly: every leaf z_L gets dL/dz_L = dlogits W_L^T, and a
    # parent's pre-activation a_L gets the sum over its M children of dL/dz_L * dz/da_L,
    # where Raiko's estimator treats z as sigmoid(a) on the way back: dz/da = p(1 - p).
    # The saving: dz/da depends on the parent alone, so the children's dlogits are
    # summed first and W_L^T applied once to the sum, M times fewer rows (the same
    # numbers up to rounding).
    dz = flat_matmul(sum_children(dlogits, M), params[f"W_{L}"].T)
    for l in range(L, 0, -1):
        a, lin_cache, bern_cache = tree[l - 1]
        da = bernoulli_backward(dz, bern_cache, "raiko")                 # through VCR
        da_kl, grads[f"rho_{l}"] = bernoulli_kl_backward(
            xp.full(B, 1.0 / B, dtype=x.dtype) * betas[l - 1], kl_caches[l - 1])
        dz_below, grads[f"W_{l-1}"], grads[f"b_{l-1}"] = linear_backward(
            da + da_kl, lin_cache, need_dx=l > 1)
        if l > 1:
            dz = sum_children(dz_below, M)

    # Line 13: theta <- theta - nu g.
    for name, g in grads.items():
        params[name] -= lr * g
    return loss, vcr.mean(axis=0), kl.mean(axis=0), grads

