"""The fused path of the tree objective: leaves drawn inside kernels, never stored.

The reference path (imb_ref/models/sbn.py: imb_objective) writes every leaf of the tree
out: at the paper's MNIST shape (batch 100, M = 32, 784-512-512-10) the last hidden
layer has 100 * 32**2 * 512 = 52 million units, a 210 MB tensor of samples plus as many
uniforms, written and read several times per step. Only two products touch them:

    logits = z_L W_L + b_L           (forward)
    dW_L   = z_L^T dlogits           (backward)

Everything else needs only the parents' probabilities p_L = sigmoid(a_L), because the
children of a parent share dz/da and are summed before W_L^T (imb_ref/nn/bernoulli.py).
So the fused path draws z_L inside the two kernels of imb_ref/gpu/kernels/tree.cu from a
counter-based generator (Philox4x32-10), once in the forward and again, from the same
counters, in the backward: 2 kernels over the leaves instead of 6 or more array passes,
and no leaf in memory. Hidden layers below L (small: M**(L-1) particles per example)
are drawn by a third kernel and stored.

The rest is small arrays, where the cost on a GPU is the number of launches (each array
operation of the reference is one, about 10 us of host time in CuPy), so it is fused too:
VCR's log-mean-exp of Eqs. (6)-(7) and the log-softmax backward (L + 1 kernels), and per
hidden layer sigmoid with the KL of Eq. (10) (one kernel) and the surrogate backward with
KL's gradient (one kernel). The matrix products stay with cuBLAS, and the layout of the
computation (children summed before W^T, linear_forward/backward) is the reference's.

Noise: imb_ref/gpu/philox.py. `draw_key` takes two 32-bit words from the run's generator
for each step; `philox_uniforms` writes the numbers the kernels draw out in the
reference's layout, so `fused_imb_objective(key)` and `imb_objective(philox_uniforms(key))`
compute the same function of the same noise (tests/test_fused.py).

Backends: CuPy compiles the kernels with NVRTC (imb_ref/gpu/launch.py). NumPy has no fused
path (the kernels are single loops; run on a CPU they would be slower than BLAS); the
tests run the same source on the CPU through the host C++ compiler (tests/cuda_emu.py).
"""

import math
from typing import Any, NamedTuple

import numpy as np

from ..backend import array_module, to_numpy
from . import launch
from ..models.sbn import n_hidden, objective_result
from .philox import draw_key
from ..nn.bernoulli import sum_children
from ..nn.linear import LinearCache, flat_matmul, linear_backward, linear_forward

ESTIMATORS = ("raiko", "st")          # pathwise: REINFORCE needs the leaves themselves

# Work items the dW_L kernel aims for: enough threads to fill a GPU (an H100 runs
# 132 SMs x 2048 threads); fewer items means longer chunks and a smaller partial sum.
WEIGHT_GRAD_ITEMS = 1 << 17


def supports(tree, estimator, xp):
    """Whether a fused step exists for a model (`tree`: trained on the sampled tree),
    this estimator and this backend."""
    return tree and estimator in ESTIMATORS and launch.default_kernels(xp) is not None


class FusedPath:
    """The fused kernels as a Model's accelerator (imb_ref/models/registry.py): the
    model never imports this module; imb_ref.training.run.build_model hands it in."""

    def available(self, model, xp):
        return supports(model.kind.tree, model.estimator, xp)

    def objective(self, model, params, x, y, rng, gammas, betas):
        xp = array_module(x)
        return fused_imb_objective(params, x, y, draw_key(rng, xp), model.M, gammas, betas,
                                   launch.default_kernels(xp), model.estimator)

    def predict_proba(self, model, params, x, rng):
        xp = array_module(x)
        return fused_predict_proba(params, x, draw_key(rng, xp), model.test_samples,
                                   launch.default_kernels(xp))


# ---- the fused objective --------------------------------------------------------------
_CONSTANTS = {}


def constant(xp, values, dtype):
    """A small array of host numbers on xp's device, copied once and reused: the weights
    are the same every step, and a host-to-device copy per step is a wait for CuPy."""
    key = (xp.__name__, tuple(float(v) for v in values), np.dtype(dtype).name)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = xp.asarray(np.asarray(key[1], dtype=dtype))
    return _CONSTANTS[key]


def sample_layer(kernels, p, key, M, layer, nclass=1):
    """z (B, P*M, n) in {0, 1} for parents' probabilities p (B, P, n), from the kernel.
    (nclass only picks the compiled module: the objective's, to compile tree.cu once.)"""
    xp = array_module(p)
    B, P, n = p.shape
    z = xp.empty((B, P * M, n), dtype=p.dtype)
    kernels("tree_sample", p.dtype, nclass, B * P * M * ((n + 3) // 4),
            p, z, key, B * P, M, n, layer)
    return z


def leaf_forward(kernels, p, W, b, y, key, M, layer):
    """Leaf logits (B, N, C), their logsumexp (B, N) and ell = log softmax[y] (B, N);
    y: (B,) int32 labels."""
    xp = array_module(p)
    B, P, n = p.shape
    C = W.shape[1]
    N = P * M
    logits = xp.empty((B, N, C), dtype=p.dtype)
    lse = xp.empty((B, N), dtype=p.dtype)
    ell = xp.empty((B, N), dtype=p.dtype)
    kernels("tree_leaf_forward", p.dtype, C, B * N, p, xp.ascontiguousarray(W),
            xp.ascontiguousarray(b), y, key, logits, lse, ell, B * P, M, n, N, layer)
    return logits, lse, ell


def leaf_weight_grad(kernels, p, dlogits, key, M, layer):
    """dW_L (n, C) = sum over the leaves of z^T dlogits, the leaves drawn again."""
    xp = array_module(p)
    B, P, n = p.shape
    C = dlogits.shape[-1]
    nparent, nq = B * P, (n + 3) // 4
    chunk = max(1, -(-nparent * nq // WEIGHT_GRAD_ITEMS))
    nchunk = -(-nparent // chunk)
    partial = xp.empty((nchunk, n, C), dtype=p.dtype)
    kernels("tree_leaf_weight_grad", p.dtype, C, nchunk * nq, p,
            xp.ascontiguousarray(dlogits), key, partial, nparent, M, n, chunk, layer)
    return partial.sum(axis=0)


def group_lse(kernels, ell, M, L, nclass):
    """VCR's group logsumexps, bottom-up: one buffer holding levels 0..L in order, level
    l of shape (B, M**l) (level L is ell), and the list of those level views."""
    xp = array_module(ell)
    B = ell.shape[0]
    sizes = [B * M ** l for l in range(L + 1)]
    buf = xp.empty(sum(sizes), dtype=ell.dtype)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    levels = [buf[starts[l]:starts[l + 1]].reshape(B, M ** l) for l in range(L + 1)]
    levels[L][...] = ell
    for l in range(L - 1, -1, -1):
        kernels("tree_group_lse", ell.dtype, nclass, sizes[l], levels[l + 1], levels[l],
                sizes[l], M)
    return buf, levels


def vcr_from_levels(levels, M):
    """VCR_l (B, L+1) = - mean over level-l groups of (logsumexp - log M**(L-l))."""
    xp = array_module(levels[0])
    L = len(levels) - 1
    return xp.stack([math.log(M) * (L - l) - lv.mean(axis=1) for l, lv in enumerate(levels)],
                    axis=1)


def leaf_backward(kernels, logits, lse, ell, y, glse, gammas, M, L):
    """dloss/dlogits (B, N, C) of sum_l gamma_l VCR_l (batch mean), in one kernel;
    y: (B,) int32 labels."""
    xp = array_module(logits)
    B, N, C = logits.shape
    coef = constant(xp, [float(g) / (B * M ** l) for l, g in enumerate(gammas)], logits.dtype)
    dlogits = xp.empty_like(logits)
    kernels("tree_leaf_backward", logits.dtype, C, B * N, logits, lse, ell, y, glse, coef,
            dlogits, B * N, M, L, N)
    return dlogits


def unit_forward(kernels, a, rho, nclass):
    """p = sigmoid(a) and the per-example KL_l of Eq. (10) (mean over the P parents)."""
    xp = array_module(a)
    B, P, n = a.shape
    p, kl = xp.empty_like(a), xp.empty_like(a)
    kernels("tree_unit_forward", a.dtype, nclass, a.size, a, xp.ascontiguousarray(rho), p, kl,
            B * P, n)
    return p, kl.reshape(B, P * n).sum(axis=1) / P


def unit_backward(kernels, a, p, rho, dz_sum, beta, estimator, nclass):
    """da (B, P, n) through the surrogate and the KL term, and drho (n,)."""
    xp = array_module(a)
    B, P, n = a.shape
    coef = float(beta) / (B * P)                   # d(beta * mean_b KL_l) / d(per-unit KL)
    da, qp = xp.empty_like(a), xp.empty_like(a)
    kernels("tree_unit_backward", a.dtype, nclass, a.size, a, p, xp.ascontiguousarray(rho),
            xp.ascontiguousarray(dz_sum), da, qp, coef, int(estimator == "raiko"), B * P, n)
    return da, qp.reshape(B * P, n).sum(axis=0) * coef


class FusedLayer(NamedTuple):
    """One hidden layer l as the fused backward needs it (its samples are not kept:
    the next layer's linear cache holds them, and layer L's are never stored)."""
    a: Any                  # (B, M**(l-1), n_l) the parents' pre-activations
    linear: LinearCache     # z_{l-1} and W_{l-1}
    p: Any                  # (B, M**(l-1), n_l) sigmoid(a)


def hidden_forward(kernels, params, x, key, M):
    """Hidden layers 1..L: per layer a FusedLayer and the per-example KL_l (B,).
    Layers below L are sampled and stored; layer L's children are the leaves, which the
    leaf kernels draw themselves."""
    L = n_hidden(params)
    C = params[f"W_{L}"].shape[1]
    z = x[:, None, :]                                           # (B, 1, n_0)
    layers, kl_cols = [], []
    for l in range(1, L + 1):
        a, lin_cache = linear_forward(z, params[f"W_{l-1}"], params[f"b_{l-1}"])
        p, kl = unit_forward(kernels, a, params[f"rho_{l}"], C)   # (B, M**(l-1), n_l), (B,)
        if l < L:
            z = sample_layer(kernels, p, key, M, l, C)          # (B, M**l, n_l), stored
        layers.append(FusedLayer(a, lin_cache, p))
        kl_cols.append(kl)
    return layers, kl_cols


def fused_imb_objective(params, x, y, key, M, gammas, betas, kernels, estimator="raiko"):
    """`imb_objective` with the noise given by a Philox key (2,) uint32 instead of
    uniforms; same arguments otherwise, same returned dict (no 'dx').

    Equal to imb_objective(params, x, y, philox_uniforms(key, ...), ...) up to the order
    of floating-point sums. Per hidden layer: one matrix product, one kernel for p and
    KL, one to draw the children (the leaf kernels for layer L); per step three leaf
    kernels and L group kernels; backward one kernel and two products per layer.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"the fused path has no {estimator!r} estimator; use --no-fused")
    xp = array_module(x)
    L = n_hidden(params)
    C = params[f"W_{L}"].shape[1]
    gammas = np.ravel(to_numpy(gammas)).astype(float)
    betas = np.ravel(to_numpy(betas)).astype(float)

    y = xp.ascontiguousarray(y.astype(xp.int32))                # as the kernels take it

    # ---- forward -----------------------------------------------------------------------
    layers, kl_cols = hidden_forward(kernels, params, x, key, M)
    p = layers[-1].p                                            # the leaves' parents
    logits, lse, ell = leaf_forward(kernels, p, params[f"W_{L}"], params[f"b_{L}"], y,
                                    key, M, L)                  # leaves drawn, not stored
    glse, levels = group_lse(kernels, ell, M, L, C)
    vcr_b = vcr_from_levels(levels, M)                          # (B, L+1)
    kl_b = xp.stack(kl_cols, axis=1)                            # (B, L)
    per_example = vcr_b @ constant(xp, gammas, x.dtype) + kl_b @ constant(xp, betas, x.dtype)

    # ---- backward ----------------------------------------------------------------------
    grads = {}
    dlogits = leaf_backward(kernels, logits, lse, ell, y, glse, gammas, M, L)  # (B, N, C)
    grads[f"W_{L}"] = leaf_weight_grad(kernels, p, dlogits, key, M, L)
    grads[f"b_{L}"] = dlogits.reshape(-1, C).sum(axis=0)
    # the children of a parent share dz/da: sum them before W_L^T (nn/bernoulli.py)
    dz_sum = flat_matmul(sum_children(dlogits, M), params[f"W_{L}"].T)
    for l in range(L, 0, -1):
        layer = layers[l - 1]
        da, grads[f"rho_{l}"] = unit_backward(kernels, layer.a, layer.p, params[f"rho_{l}"],
                                              dz_sum, betas[l - 1], estimator, C)
        dz_prev, grads[f"W_{l-1}"], grads[f"b_{l-1}"] = linear_backward(da, layer.linear,
                                                                        need_dx=l > 1)
        if l > 1:
            dz_sum = sum_children(dz_prev, M)
    return objective_result({"per_example": per_example, "vcr": vcr_b, "kl": kl_b}, grads)


def fused_predict_proba(params, x, key, M, kernels):
    """p(y_hat | x) averaged over the tree's M**L leaves, (B, C): sbn.predict_proba with
    the leaves drawn in-kernel (equal to it on philox_uniforms(key, ...))."""
    xp = array_module(x)
    L = n_hidden(params)
    p = hidden_forward(kernels, params, x, key, M)[0][-1].p    # (KL computed, unused)
    labels = xp.zeros(x.shape[0], dtype=xp.int32)          # ell is not needed here
    logits, lse, _ = leaf_forward(kernels, p, params[f"W_{L}"], params[f"b_{L}"], labels,
                                  key, M, L)
    return xp.exp(logits - lse[..., None]).mean(axis=1)
