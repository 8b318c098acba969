"""The binary stochastic network (Section 4) and the IMB objectives (Sections 3.3-3.4).

Network, for hidden layers l = 1..L (z_0 = x):
    a_l = z_{l-1} W_{l-1} + b_{l-1},  p_l = sigmoid(a_l),  z_l ~ Bernoulli(p_l)
    logits = z_L W_L + b_L
Parameters live in a dict with the names of the cross-check format:
W_0..W_L (n_l, n_{l+1}), b_0..b_L, and rho_1..rho_L, the logits of the factorised
prior r(z_l) = prod_i Bern(sigmoid(rho_{l,i})) of Eq. (10).

Noise layout (part of the interface): the uniforms of hidden layer l have shape
(B, M**(l-1), M, n_l); layer l's particles are (B, M**l, n_l), children of one parent
contiguous. `uniforms=None` runs the network mean-field (z_l = p_l, one particle per
layer): the DET model, and the deterministic evaluation of the stochastic ones.
"""

from typing import Any, NamedTuple

import numpy as np

from ..backend import array_module, to_numpy
from ..nn.bernoulli import (BernoulliCache, bernoulli_backward, bernoulli_forward,
                            bernoulli_mean_forward, bernoulli_score, reinforce_weights,
                            sum_children)
from ..nn.functions import softmax
from ..nn.kl import bernoulli_kl_backward, bernoulli_kl_forward
from ..nn.linear import (LinearCache, flat_matmul, glorot_uniform, linear_backward,
                         linear_forward)
from ..nn.softmax import log_softmax_at_backward, log_softmax_at_forward
from ..nn.vcr import vcr_backward, vcr_forward


def n_hidden(params):
    return sum(1 for k in params if k.startswith("W_")) - 1


def init_params(sizes, rng, dtype=np.float64, with_prior=True):
    """Glorot-uniform weights, zero biases, zero prior logits (r = Bern(1/2)).

    sizes: (n_0, n_1, ..., n_L, C). rng: a NumPy Generator (initial weights are drawn
    on the host so that both backends start from the same numbers).
    """
    params = {}
    for l in range(len(sizes) - 1):
        n_in, n_out = sizes[l], sizes[l + 1]
        params[f"W_{l}"] = glorot_uniform(rng, n_in, n_out, dtype)
        params[f"b_{l}"] = np.zeros(n_out, dtype=dtype)
    if with_prior:
        for l in range(1, len(sizes) - 1):
            params[f"rho_{l}"] = np.zeros(sizes[l], dtype=dtype)
    return params


def sample_uniforms(rng, batch, M, hidden, dtype):
    """Uniforms in [0, 1) in the layout above, from the run's generator `rng`."""
    return [rng.random((batch, M ** l, M, n), dtype=dtype) for l, n in enumerate(hidden)]


class HiddenLayer(NamedTuple):
    """One hidden layer l of the tree, as the backward passes need it."""
    a: Any                      # (B, M**(l-1), n_l) the parents' pre-activations
    linear: LinearCache         # z_{l-1} (B, M**(l-1), n_{l-1}) and W_{l-1}
    bernoulli: BernoulliCache   # p_l (B, M**(l-1), n_l), the samples, M


def _forward(params, x, uniforms):
    """Run the tree. Returns (logits (B, N, C), [HiddenLayer] of layers 1..L, the output
    layer's LinearCache)."""
    L = n_hidden(params)
    z = x[:, None, :]                                    # (B, 1, n_0): one particle
    layers = []
    for l in range(1, L + 1):
        a, lin_cache = linear_forward(z, params[f"W_{l-1}"], params[f"b_{l-1}"])  # (B, M**(l-1), n_l)
        if uniforms is None:
            z, bern_cache = bernoulli_mean_forward(a)
        else:
            z, bern_cache = bernoulli_forward(a, uniforms[l - 1])    # (B, M**l, n_l)
        layers.append(HiddenLayer(a, lin_cache, bern_cache))
    logits, out_cache = linear_forward(z, params[f"W_{L}"], params[f"b_{L}"])  # (B, N, C)
    return logits, layers, out_cache


def imb_objective(params, x, y, uniforms, M, gammas, betas, estimator="raiko",
                  input_grad=False):
    """The JointIMB objective and its hand-written gradient: the cross-check interface.

        loss = sum_{l=0..L} gammas[l] VCR_l + sum_{l=1..L} betas[l-1] KL_l   (nats)

    Every term is a mean over the batch. No randomness is drawn here: the noise is the
    argument `uniforms`.

    params: dict W_0..W_L, b_0..b_L, rho_1..rho_L (see the module docstring).
    x: (B, n_0) inputs. y: (B,) integer labels.
    uniforms: list of L arrays, layer l of shape (B, M**(l-1), M, n_l); or None for
        the mean-field network (then M must be 1).
    gammas: (L+1,) weights of VCR_0..VCR_L; betas: (L,) weights of KL_1..KL_L.
        SFNN is gammas = (1, 0, ..., 0), betas = 0; GreedyIMB stage l is gammas = e_l,
        betas = beta_l e_l.
    estimator: 'raiko' (dz/da = p(1-p)), 'st' (dz/da = 1) or 'reinforce' (score
        function with a leave-one-out batch-mean baseline).
    input_grad: also return dloss/dx under key 'dx' (pathwise estimators only).

    Returns a dict: 'loss' (0-d), 'vcr' (L+1,), 'kl' (L,), 'per_example' (B,) losses,
    and 'grads', a dict with the keys of `params`.
    """
    xp = array_module(x)
    L = n_hidden(params)
    B = x.shape[0]
    if uniforms is None and M != 1:
        raise ValueError("the mean-field network has one particle per layer: M must be 1")
    if estimator == "reinforce" and input_grad:
        raise ValueError("REINFORCE passes no gradient through the samples to the input")

    # ---- forward: the tree (Algorithm 1, lines 5-10), then the terms (line 11) -------
    logits, layers, out_cache = _forward(params, x, uniforms)
    ell, sm_cache = log_softmax_at_forward(logits, y)          # (B, N)
    vcr_b, kl_b, vcr_cache, kl_caches = objective_terms(params, layers, ell, M)
    active = [l for l, g in enumerate(np.ravel(to_numpy(gammas))) if g != 0]  # host: no wait
    gammas = xp.asarray(gammas, dtype=x.dtype).reshape(L + 1)
    betas = xp.asarray(betas, dtype=x.dtype).reshape(L)
    per_example = vcr_b @ gammas + kl_b @ betas                 # (B,)

    # ---- backward (line 12): every term is a batch mean, weight gamma_l / B ---------
    dell = vcr_backward(xp.broadcast_to(gammas / B, (B, L + 1)), vcr_cache, active)
    dlogits = log_softmax_at_backward(dell, sm_cache)           # (B, N, C)
    _, dW_L, db_L = linear_backward(dlogits, out_cache, need_dx=False)
    if estimator != "reinforce":
        # The chain rule gives dL/dz_L = dlogits W_L^T for every leaf, and dL/da_L =
        # sum over a parent's children of dL/dz_L * dz/da. Every child of a parent
        # shares dz/da, so the children are summed first and W_L^T applied once to the
        # sum: M times fewer rows in the product (Algorithm 1's line 12, unchanged).
        dz_sum = flat_matmul(sum_children(dlogits, M), params[f"W_{L}"].T)  # (B, M**(L-1), n_L)
        grads, dx = hidden_backward(params, layers, kl_caches, betas, M, estimator,
                                    dz_sum=dz_sum, input_grad=input_grad)
    else:
        grads, dx = hidden_backward(params, layers, kl_caches, betas, M, estimator,
                                    weight=reinforce_weights(per_example))
    grads.update({f"W_{L}": dW_L, f"b_{L}": db_L})
    out = objective_result({"per_example": per_example, "vcr": vcr_b, "kl": kl_b}, grads)
    if input_grad:
        out["dx"] = dx
    return out


def objective_terms(params, layers, ell, M):
    """Algorithm 1, line 11: the terms of the objective for each example, from the
    leaves' log-likelihoods ell (B, M**L) (Eqs. 6-7) and the hidden layers'
    pre-activations (Eq. 10).

    Returns vcr (B, L+1), kl (B, L) (zero columns where there is no prior: DET), and the
    caches of their backward passes (nn.vcr.vcr_backward, nn.kl.bernoulli_kl_backward).
    (imb_ref/gpu/fused.py computes the same terms in kernels; tests/test_fused.py holds the
    two to 1e-12.)
    """
    xp = array_module(ell)
    L = n_hidden(params)
    B, dtype = ell.shape[0], ell.dtype
    vcr_b, vcr_cache = vcr_forward(ell, M, L)                   # (B, L+1)
    kl_cols, kl_caches = [], []
    for l in range(1, L + 1):
        rho = params.get(f"rho_{l}")
        if rho is None:                                         # DET has no prior
            kl_cols.append(xp.zeros(B, dtype=dtype))
            kl_caches.append(None)
            continue
        kl_l, kl_cache = bernoulli_kl_forward(layers[l - 1].a, rho)
        kl_cols.append(kl_l)
        kl_caches.append(kl_cache)
    kl_b = xp.stack(kl_cols, axis=1)                            # (B, L)
    return vcr_b, kl_b, vcr_cache, kl_caches


def hidden_backward(params, layers, kl_caches, betas, M, estimator, dz_sum=None,
                    input_grad=False, weight=None):
    """Backward through hidden layers L..1: returns (grads, dx), grads holding W_0..W_{L-1},
    b_0..b_{L-1} and rho_1..rho_L, dx = dloss/dx (B, n_0) when input_grad, else None.

    Each layer's pre-activation gets the gradient through its samples (the estimator)
    and that of its KL term, beta_l / B per example (kl_caches from objective_terms).
    Pathwise: dz_sum (B, M**(L-1), n_L) is dloss/dz_L summed over each parent's children.
    REINFORCE: dz_sum is None and weight (B,) is nn.bernoulli.reinforce_weights.
    """
    xp = array_module(layers[0].a)
    L = n_hidden(params)
    B = layers[0].a.shape[0]
    grads = {}
    for l in range(L, 0, -1):
        layer = layers[l - 1]
        if weight is None:
            da = bernoulli_backward(dz_sum, layer.bernoulli, estimator)
        else:
            da = bernoulli_score(weight, layer.bernoulli)
        kl_cache = kl_caches[l - 1]
        if kl_cache is not None:
            da_kl, grads[f"rho_{l}"] = bernoulli_kl_backward(
                xp.ones(B, dtype=layer.a.dtype) * (betas[l - 1] / B), kl_cache)
            da = da + da_kl
        need_dx = weight is None and (l > 1 or input_grad)
        dz_prev, grads[f"W_{l-1}"], grads[f"b_{l-1}"] = linear_backward(
            da, layer.linear, need_dx=need_dx)
        if need_dx and l > 1:
            dz_sum = sum_children(dz_prev, M)
    return grads, (dz_prev[:, 0, :] if input_grad else None)


def objective_result(terms, grads):
    """The dict `imb_objective` returns (see its docstring)."""
    per_example = terms["per_example"]
    return {"loss": per_example.mean(), "vcr": terms["vcr"].mean(axis=0),
            "kl": terms["kl"].mean(axis=0), "per_example": per_example, "grads": grads}


def logits_forward(params, x, uniforms=None):
    """Leaf logits (B, N, C) and the cache `logits_input_backward` needs.

    The number of children may differ per layer (it is read off each u_l's shape): the
    attack uses u_1 of shape (B, 1, S, n_1) and u_l of shape (B, S, 1, n_l) below, i.e.
    S independent draws of the whole network per example.
    """
    logits, layers, _ = _forward(params, x, uniforms)
    return logits, layers


def logits_input_backward(params, layers, dlogits, estimator="raiko"):
    """d(sum dlogits * logits)/dx through the surrogate of `estimator`, (B, n_0).

    The same backward as `imb_objective`'s with the parameter gradients skipped:
    the children's gradients are summed before each W^T.
    """
    L = n_hidden(params)
    dz_sum = flat_matmul(sum_children(dlogits, layers[L - 1].bernoulli.M),
                         params[f"W_{L}"].T)
    for l in range(L, 0, -1):
        da = bernoulli_backward(dz_sum, layers[l - 1].bernoulli, estimator)
        dz_prev = flat_matmul(da, params[f"W_{l-1}"].T)             # (B, M**(l-1), n_{l-1})
        if l > 1:
            dz_sum = sum_children(dz_prev, layers[l - 2].bernoulli.M)
    return dz_prev[:, 0, :]


def predict_proba(params, x, uniforms=None):
    """p(y_hat | x): the softmax averaged over the tree's leaves, (B, C).

    uniforms=None gives the mean-field prediction (z_l = p_l).
    """
    logits, _, _ = _forward(params, x, uniforms)
    return softmax(logits, axis=2).mean(axis=1)


def bytes_per_example(sizes, M, itemsize, training=True):
    """A conservative estimate of the working memory one example's tree needs.

    Per hidden layer l: uniforms, samples, the pre-activations and probabilities of the
    M**(l-1) parents, and the children's gradients (training); at the output: logits,
    their softmax and gradient. Used to split a batch into chunks under --max-memory.
    """
    hidden, C = sizes[1:-1], sizes[-1]
    total = 0
    for l, n in enumerate(hidden, start=1):
        children = M ** l * n
        total += (3 if training else 2) * children + 4 * M ** (l - 1) * n
    total += (4 if training else 2) * M ** len(hidden) * C
    return total * itemsize
