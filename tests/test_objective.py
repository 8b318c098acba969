"""The IMB objective: gradients against centred differences of the estimator's
surrogate, Theorem 3.2's ordering on the estimates, the sampler's frequencies, and the
NumPy/CuPy agreement."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from gradcheck import directional_check
from imb_ref.backend import to_numpy
from imb_ref.models import sbn, vib
from imb_ref.nn.functions import sigmoid
from fixtures import off_the_symmetric_start


def random_case(rng, L, M, B=3, d=5, C=3, scale=0.7):
    sizes = (d,) + tuple(int(n) for n in rng.integers(2, 5, size=L)) + (C,)
    params = off_the_symmetric_start(sbn.init_params(sizes, rng), rng, scale)
    x = rng.random((B, d))
    y = rng.integers(0, C, size=B)
    u = sbn.sample_uniforms(rng, B, M, sizes[1:-1], np.float64)
    return params, x, y, u


def surrogate_loss(params, x, y, samples, M, gammas, betas, estimator, anchors):
    """The estimator's surrogate written independently of imb_ref: the sample z_l is
    replaced by s(a_l) + (z_l - s(a_l)) with the bracket held at its value at the
    evaluation point (`anchors`), s = sigmoid (Raiko) or identity (straight-through)."""
    L = len(samples)
    B = x.shape[0]
    z = x[:, None, :]
    kl_total = 0.0
    for l in range(1, L + 1):
        a = z @ params[f"W_{l-1}"] + params[f"b_{l-1}"]
        p = 1.0 / (1.0 + np.exp(-a))
        s = p if estimator == "raiko" else a
        zz = s[:, :, None, :] + anchors[l - 1]
        z = zz.reshape(B, -1, zz.shape[-1])
        rho = params[f"rho_{l}"]
        q = 1.0 / (1.0 + np.exp(-rho))
        kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
        kl_total += betas[l - 1] * kl.sum(-1).mean()
    logits = z @ params[f"W_{L}"] + params[f"b_{L}"]
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ell = logp[np.arange(B), :, y]                                 # (B, N)
    N = ell.shape[1]
    total = kl_total
    for l in range(L + 1):
        G = M ** l
        g = ell.reshape(B, G, N // G)
        total += -gammas[l] * np.log(np.exp(g).mean(-1)).mean()
    return total


def anchors_at(params, x, u, M, estimator):
    """z_l - s(a_l) at the evaluation point, for every layer (children axis kept)."""
    anchors = []
    B = x.shape[0]
    z = x[:, None, :]
    for l in range(1, len(u) + 1):
        a = z @ params[f"W_{l-1}"] + params[f"b_{l-1}"]
        p = 1.0 / (1.0 + np.exp(-a))
        sample = (u[l - 1] < p[:, :, None, :]).astype(np.float64)
        s = p if estimator == "raiko" else a
        anchors.append(sample - s[:, :, None, :])
        z = sample.reshape(B, -1, sample.shape[-1])
    return anchors


@pytest.mark.parametrize("estimator", ["raiko", "st"])
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("M", [1, 2, 3])
def test_gradient_matches_surrogate_differences(L, M, estimator):
    rng = np.random.default_rng(100 * L + 10 * M + (estimator == "st"))
    params, x, y, u = random_case(rng, L, M)
    gammas, betas = rng.random(L + 1), rng.random(L)
    out = sbn.imb_objective(params, x, y, u, M, gammas, betas, estimator)
    anchors = anchors_at(params, x, u, M, estimator)
    f = lambda p: surrogate_loss(p, x, y, u, M, gammas, betas, estimator, anchors)
    # The surrogate equals the objective at the evaluation point ...
    assert abs(f(params) - float(out["loss"])) < 1e-12
    # ... and its derivative is the estimator. float64, h = 1e-5: ~1e-10 relative.
    assert directional_check(f, params, out["grads"], rng) < 1e-7


def test_input_gradient_matches_differences():
    rng = np.random.default_rng(7)
    params, x, y, u = random_case(rng, 2, 2)
    gammas, betas = rng.random(3), rng.random(2)
    out = sbn.imb_objective(params, x, y, u, 2, gammas, betas, input_grad=True)
    anchors = anchors_at(params, x, u, 2, "raiko")
    f = lambda p: surrogate_loss(params, p["x"], y, u, 2, gammas, betas, "raiko", anchors)
    assert directional_check(f, {"x": x}, {"x": out["dx"]}, rng) < 1e-7


def test_det_gradient_is_exact():
    """DET (uniforms=None): z_l = p_l, so the Raiko derivative is the true one."""
    rng = np.random.default_rng(3)
    sizes = (5, 4, 3, 3)
    params = sbn.init_params(sizes, rng, with_prior=False)
    x, y = rng.random((4, 5)), rng.integers(0, 3, 4)
    g = (1.0, 0.0, 0.0)
    out = sbn.imb_objective(params, x, y, None, 1, g, (0.0, 0.0))
    f = lambda p: float(sbn.imb_objective(p, x, y, None, 1, g, (0.0, 0.0))["loss"])
    assert directional_check(f, params, out["grads"], rng) < 1e-7
    # The DET loss is the cross-entropy of the mean-field network's softmax.
    probs = sbn.predict_proba(params, x, None)
    assert abs(float(out["loss"]) + np.log(probs[np.arange(4), y]).mean()) < 1e-12


def test_vib_gradient_with_fixed_noise():
    rng = np.random.default_rng(4)
    sizes = (6, 5, 4, 3)
    params = off_the_symmetric_start(vib.init_params(sizes, rng, K=3), rng, 0.3)
    x, y = rng.random((4, 6)), rng.integers(0, 3, 4)
    eps = rng.standard_normal((4, 2, 3))
    out = vib.vib_objective(params, x, y, eps, 0.3)
    f = lambda p: float(vib.vib_objective(p, x, y, eps, 0.3)["loss"])
    assert directional_check(f, params, out["grads"], rng) < 1e-7


def test_reinforce_is_unbiased_on_a_tiny_network():
    """The mean REINFORCE gradient over many noise draws matches the exact gradient of
    the expected loss (computed by enumerating all 2**n states), within 4 standard errors."""
    rng = np.random.default_rng(5)
    sizes = (2, 2, 2)                      # one hidden layer of two units, two classes
    params = off_the_symmetric_start(sbn.init_params(sizes, rng), rng, 0.5)
    x, y = rng.random((2, 2)), np.array([0, 1])
    gammas, betas = (0.0, 1.0), (0.3,)     # VCR_1 (a mean of per-sample terms) + KL_1

    def expected_loss(p):                  # M = 1: E_z[-log p(y|z)] + beta KL, exactly
        a = x @ p["W_0"] + p["b_0"]
        prob = sigmoid(a)
        total = 0.0
        for bits in range(4):
            z = np.array([(bits >> i) & 1 for i in range(2)], dtype=np.float64)
            pz = np.prod(np.where(z == 1, prob, 1 - prob), axis=1)          # (B,)
            logits = z @ p["W_1"] + p["b_1"]
            logp = logits - np.log(np.exp(logits).sum())
            total += (pz * -logp[y]).mean()
        q = sigmoid(p["rho_1"])
        kl = (prob * np.log(prob / q) + (1 - prob) * np.log((1 - prob) / (1 - q))).sum(1)
        return total + betas[0] * kl.mean()

    exact = {}
    for k in params:                       # exact gradient by centred differences
        g = np.zeros_like(params[k])
        for i in np.ndindex(params[k].shape):
            e = np.zeros_like(params[k]); e[i] = 1e-6
            g[i] = (expected_loss({**params, k: params[k] + e}) -
                    expected_loss({**params, k: params[k] - e})) / 2e-6
        exact[k] = g
    draws = 20000
    xs, ys = np.tile(x, (draws, 1)), np.tile(y, draws)   # each draw: both examples
    u = sbn.sample_uniforms(rng, xs.shape[0], 1, (2,), np.float64)
    # Per-draw gradients: run each draw's batch of 2 separately is slow; instead use the
    # batch estimator, whose mean over the big batch is the mean of per-example terms.
    out = sbn.imb_objective(params, xs, ys, u, 1, gammas, betas, "reinforce")
    for k in ("W_0", "b_0"):
        # standard error from 40 sub-batches
        parts = []
        for j in range(40):
            sl = slice(j * xs.shape[0] // 40, (j + 1) * xs.shape[0] // 40)
            uj = [u[0][sl]]
            parts.append(sbn.imb_objective(params, xs[sl], ys[sl], uj, 1, gammas, betas,
                                           "reinforce")["grads"][k])
        parts = np.array(parts)
        se = parts.std(axis=0) / math.sqrt(len(parts))
        assert np.all(np.abs(out["grads"][k] - exact[k]) < 4 * se + 1e-6), k
    # Layers above the samples get pathwise (exact-given-samples) gradients.
    assert np.allclose(out["grads"]["W_1"], exact["W_1"], atol=0.02)


@given(seed=st.integers(0, 2 ** 31 - 1), L=st.integers(1, 3), M=st.integers(1, 3))
def test_theorem_3_2_ordering_of_estimates(seed, L, M):
    """VCR_0 <= VCR_1 <= ... <= VCR_L for any parameters and noise (Jensen on nested
    log-means; Theorem 3.2, Eq. 9). Tolerance: float64 rounding of a logsumexp."""
    rng = np.random.default_rng(seed)
    params, x, y, u = random_case(rng, L, M, scale=2.0)
    vcr = sbn.imb_objective(params, x, y, u, M, np.ones(L + 1), np.zeros(L))["vcr"]
    assert np.all(np.diff(vcr) >= -1e-12), vcr


def test_sampled_frequencies_match_sigmoid():
    """Chi-square: each unit's count of ones over many children against Binomial(p).
    Three repetitions with fresh noise, all must pass at level 1e-3."""
    rng = np.random.default_rng(11)
    a = rng.normal(0, 2, size=(1, 1, 6))
    p = sigmoid(a)[0, 0]
    M = 20000
    for _ in range(3):
        u = rng.random((1, 1, M, 6))
        from imb_ref.nn.bernoulli import bernoulli_forward
        z, _ = bernoulli_forward(a, u)
        ones = z[0].sum(axis=0)
        observed = np.stack([ones, M - ones])
        expected = np.stack([M * p, M * (1 - p)])
        chi2 = ((observed - expected) ** 2 / expected).sum()
        assert stats.chi2.sf(chi2, df=6) > 1e-3


def test_numpy_and_cupy_agree(xp):
    """Same parameters, same uniforms (drawn on the host): equal to 1e-12 relative."""
    rng = np.random.default_rng(12)
    params, x, y, u = random_case(rng, 2, 3, B=4)
    gammas, betas = rng.random(3), rng.random(2)
    ref = sbn.imb_objective(params, x, y, u, 3, gammas, betas)
    dev = sbn.imb_objective({k: xp.asarray(v) for k, v in params.items()}, xp.asarray(x),
                            xp.asarray(y), [xp.asarray(v) for v in u], 3, gammas, betas)
    assert abs(float(to_numpy(dev["loss"])) - float(ref["loss"])) <= 1e-12 * abs(float(ref["loss"]))
    for k in params:
        np.testing.assert_allclose(to_numpy(dev["grads"][k]), ref["grads"][k], rtol=1e-12,
                                   atol=1e-14)


def test_chunks_sum_to_the_batch_gradient():
    """Every term is a batch mean, so share-weighted chunk gradients equal the batch's."""
    rng = np.random.default_rng(13)
    params, x, y, u = random_case(rng, 2, 2, B=6)
    g, b = rng.random(3), rng.random(2)
    full = sbn.imb_objective(params, x, y, u, 2, g, b)
    parts = [sbn.imb_objective(params, x[s], y[s], [v[s] for v in u], 2, g, b)
             for s in (slice(0, 4), slice(4, 6))]
    for k in params:
        chunked = parts[0]["grads"][k] * 4 / 6 + parts[1]["grads"][k] * 2 / 6
        np.testing.assert_allclose(chunked, full["grads"][k], rtol=1e-12, atol=1e-15)


def test_the_backward_caches_have_names_and_hidden_backward_returns_its_gradients():
    """Caches are small named tuples that say what they hold (CS231n's layers.py keeps
    them positional); hidden_backward returns the hidden layers' gradients instead of
    filling a dictionary it is handed."""
    rng = np.random.default_rng(8)
    params, x, y, u = random_case(rng, L=2, M=3)
    logits, layers, out_cache = sbn._forward(params, x, u)
    assert layers[0]._fields == ("a", "linear", "bernoulli")
    assert layers[1].bernoulli.M == 3 and layers[1].bernoulli.z.shape[2] == 3
    assert layers[0].linear.W is params["W_0"] and out_cache._fields == ("x", "W")
    ell, _ = sbn.log_softmax_at_forward(logits, y)
    _, _, vcr_cache, kl_caches = sbn.objective_terms(params, layers, ell, 3)
    assert vcr_cache._fields == ("ell", "M", "L") and kl_caches[0]._fields == ("a", "rho", "p")
    dz_sum = rng.standard_normal(layers[1].a.shape)
    grads, dx = sbn.hidden_backward(params, layers, kl_caches, np.array([0.1, 0.2]), 3,
                                    "raiko", dz_sum=dz_sum)
    assert dx is None and set(grads) == {"W_0", "b_0", "W_1", "b_1", "rho_1", "rho_2"}
