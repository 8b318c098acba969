"""The Variational Information Bottleneck baseline (Alemi et al. 2017).

The deterministic sigmoid encoder of the base network (W_0..W_{L-1}), then a Gaussian
bottleneck of K units:
    h = encoder(x)                           (B, n_L)
    mu = h W_mu + b_mu,  sigma = softplus(h W_sigma + b_sigma - 5)   (B, K)
    z = mu + sigma * eps,  eps ~ N(0, I)     (B, S, K), reparameterised
    logits = z W_dec + b_dec                 (B, S, C)
    loss = mean over (B, S) of -log softmax(logits)[y] + beta mean_B KL(N(mu, sigma^2) || N(0, I))
    KL = 1/2 sum_k (mu^2 + sigma^2 - 1 - 2 log sigma)
The -5 shift of sigma's pre-activation is Alemi et al.'s (it starts the bottleneck with
small noise). At test time the softmax is averaged over 12 draws of eps.
"""

import numpy as np

from ..backend import array_module
from ..nn.functions import sigmoid, softmax, softplus
from ..nn.linear import glorot_uniform, linear_backward, linear_forward
from ..nn.softmax import log_softmax_at_backward, log_softmax_at_forward

SIGMA_SHIFT = 5.0


def init_params(sizes, rng, K=256, dtype=np.float64):
    """sizes: (n_0, n_1, ..., n_L, C); the encoder is n_0..n_L, the decoder K -> C."""
    params = {}
    hidden = sizes[:-1]
    for l in range(len(hidden) - 1):
        params[f"W_{l}"] = glorot_uniform(rng, hidden[l], hidden[l + 1], dtype)
        params[f"b_{l}"] = np.zeros(hidden[l + 1], dtype=dtype)
    n_L = hidden[-1]
    params["W_mu"] = glorot_uniform(rng, n_L, K, dtype)
    params["b_mu"] = np.zeros(K, dtype=dtype)
    params["W_sigma"] = glorot_uniform(rng, n_L, K, dtype)
    params["b_sigma"] = np.zeros(K, dtype=dtype)
    params["W_dec"] = glorot_uniform(rng, K, sizes[-1], dtype)
    params["b_dec"] = np.zeros(sizes[-1], dtype=dtype)
    return params


def _encode(params, x):
    L = sum(1 for k in params if k.startswith("W_") and k[2:].isdigit())
    h = x
    caches = []
    for l in range(L):
        a, lin_cache = linear_forward(h, params[f"W_{l}"], params[f"b_{l}"])
        h = sigmoid(a)
        caches.append((lin_cache, h))
    mu, mu_cache = linear_forward(h, params["W_mu"], params["b_mu"])
    s, s_cache = linear_forward(h, params["W_sigma"], params["b_sigma"])
    sigma = softplus(s - SIGMA_SHIFT)
    return mu, sigma, (caches, mu_cache, s_cache, s)


def vib_objective(params, x, y, eps, beta):
    """Loss and hand-written gradients given the noise eps (B, S, K).

    Returns a dict: 'loss', 'ce' (cross-entropy), 'kl', 'grads'.
    """
    xp = array_module(x)
    B, S, K = eps.shape
    mu, sigma, (enc_caches, mu_cache, s_cache, s) = _encode(params, x)
    z = mu[:, None, :] + sigma[:, None, :] * eps                       # (B, S, K)
    logits, dec_cache = linear_forward(z, params["W_dec"], params["b_dec"])
    ell, sm_cache = log_softmax_at_forward(logits, y)                  # (B, S)
    ce = -ell.mean()
    kl_b = 0.5 * (mu * mu + sigma * sigma - 1.0 - 2.0 * xp.log(sigma)).sum(axis=1)
    kl = kl_b.mean()

    grads = {}
    dlogits = log_softmax_at_backward(xp.full_like(ell, -1.0 / (B * S)), sm_cache)
    dz, grads["W_dec"], grads["b_dec"] = linear_backward(dlogits, dec_cache)
    dmu = dz.sum(axis=1) + (beta / B) * mu
    dsigma = (dz * eps).sum(axis=1) + (beta / B) * (sigma - 1.0 / sigma)
    ds = dsigma * sigmoid(s - SIGMA_SHIFT)              # softplus' = sigmoid
    dh, grads["W_mu"], grads["b_mu"] = linear_backward(dmu, mu_cache)
    dh_s, grads["W_sigma"], grads["b_sigma"] = linear_backward(ds, s_cache)
    dh = dh + dh_s
    for l in range(len(enc_caches) - 1, -1, -1):
        lin_cache, h = enc_caches[l]
        da = dh * h * (1.0 - h)
        dh, grads[f"W_{l}"], grads[f"b_{l}"] = linear_backward(da, lin_cache, need_dx=l > 0)
    return {"loss": ce + beta * kl, "ce": ce, "kl": kl, "grads": grads}


def logits_forward(params, x, eps=None):
    """Decoder logits (B, S, C) for the draws eps (B, S, K); eps=None uses z = mu."""
    mu, sigma, enc = _encode(params, x)
    if eps is None:
        eps = mu[:, None, :] * 0
    z = mu[:, None, :] + sigma[:, None, :] * eps
    return z @ params["W_dec"] + params["b_dec"], (enc, eps)


def logits_input_backward(params, cache, dlogits):
    """d(sum dlogits * logits)/dx through the reparameterised bottleneck, (B, n_0)."""
    (enc_caches, mu_cache, s_cache, s), eps = cache
    dz = dlogits @ params["W_dec"].T                                    # (B, S, K)
    dmu = dz.sum(axis=1)
    ds = (dz * eps).sum(axis=1) * sigmoid(s - SIGMA_SHIFT)
    dh = dmu @ params["W_mu"].T + ds @ params["W_sigma"].T
    for l in range(len(enc_caches) - 1, -1, -1):
        lin_cache, h = enc_caches[l]
        dh = (dh * h * (1.0 - h)) @ params[f"W_{l}"].T
    return dh


def predict_proba(params, x, eps=None):
    """Mean softmax over the S draws in eps (B, S, K); eps=None uses z = mu."""
    mu, sigma, _ = _encode(params, x)
    if eps is None:
        z = mu[:, None, :]
    else:
        z = mu[:, None, :] + sigma[:, None, :] * eps
    logits = z @ params["W_dec"] + params["b_dec"]
    return softmax(logits, axis=2).mean(axis=1)
