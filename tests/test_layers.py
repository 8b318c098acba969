"""Each layer's backward against centred differences of its forward (float64)."""

import numpy as np

from gradcheck import elementwise_check
from imb_ref.nn.functions import logsumexp, sigmoid, softplus
from imb_ref.nn.kl import bernoulli_kl_backward, bernoulli_kl_forward
from imb_ref.nn.linear import linear_backward, linear_forward
from imb_ref.nn.softmax import log_softmax_at_backward, log_softmax_at_forward
from imb_ref.nn.vcr import vcr_backward, vcr_forward

# Full centred differences with h = 1e-6 in float64: truncation ~1e-12, rounding
# ~1e-10 relative; 1e-7 leaves room and still catches any wrong term.
TOL = 1e-7


def test_sigmoid_and_softplus_tails():
    a = np.array([-800.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0])
    assert np.all(np.isfinite(sigmoid(a))) and np.all(np.isfinite(softplus(a)))
    np.testing.assert_allclose(sigmoid(np.array([-40.0])), np.exp(-40.0) / (1 + np.exp(-40.0)),
                               rtol=1e-15)
    np.testing.assert_allclose(softplus(np.array([-40.0, 40.0])),
                               [np.log1p(np.exp(-40.0)), 40.0 + np.log1p(np.exp(-40.0))], rtol=1e-15)
    np.testing.assert_allclose(logsumexp(np.array([[1000.0, 1000.0]]), axis=1), [1000 + np.log(2)])


def test_linear_backward():
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    dy = rng.normal(size=(2, 3, 5))
    dx, dW, db = linear_backward(dy, linear_forward(x, W, b)[1])
    f = lambda **kw: float((linear_forward(kw.get("x", x), kw.get("W", W), kw.get("b", b))[0] * dy).sum())
    assert elementwise_check(lambda v: f(x=v), x, dx) < TOL
    assert elementwise_check(lambda v: f(W=v), W, dW) < TOL
    assert elementwise_check(lambda v: f(b=v), b, db) < TOL


def test_kl_matches_definition_and_gradient():
    rng = np.random.default_rng(1)
    a, rho = rng.normal(0, 3, size=(2, 3, 4)), rng.normal(size=4)
    kl, cache = bernoulli_kl_forward(a, rho)
    p, q = sigmoid(a), sigmoid(rho)
    direct = (p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))).sum(2).mean(1)
    np.testing.assert_allclose(kl, direct, rtol=1e-12)
    dkl = rng.normal(size=2)
    da, drho = bernoulli_kl_backward(dkl, cache)
    f = lambda aa, rr: float((bernoulli_kl_forward(aa, rr)[0] * dkl).sum())
    assert elementwise_check(lambda v: f(v, rho), a, da) < TOL
    assert elementwise_check(lambda v: f(a, v), rho, drho) < TOL


def test_kl_is_zero_at_the_prior_and_finite_when_saturated():
    rho = np.array([0.3, -2.0])
    assert np.allclose(bernoulli_kl_forward(np.broadcast_to(rho, (1, 1, 2)).copy(), rho)[0], 0.0)
    kl, _ = bernoulli_kl_forward(np.array([[[60.0, -60.0]]]), np.zeros(2))
    np.testing.assert_allclose(kl, [2 * np.log(2)], rtol=1e-12)   # KL(point mass || 1/2)


def test_vcr_backward_and_values():
    rng = np.random.default_rng(2)
    M, L, B = 2, 3, 2
    ell = -rng.random((B, M ** L)) * 3
    vcr, cache = vcr_forward(ell, M, L)
    np.testing.assert_allclose(vcr[:, 0], -np.log(np.exp(ell).mean(1)), rtol=1e-13)
    np.testing.assert_allclose(vcr[:, L], -ell.mean(1), rtol=1e-13)
    dv = rng.normal(size=(B, L + 1))
    dell = vcr_backward(dv, cache)
    f = lambda e: float((vcr_forward(e, M, L)[0] * dv).sum())
    assert elementwise_check(f, ell, dell) < TOL


def test_log_softmax_at_backward():
    rng = np.random.default_rng(3)
    logits, y = rng.normal(size=(2, 3, 4)), np.array([1, 3])
    ell, cache = log_softmax_at_forward(logits, y)
    de = rng.normal(size=(2, 3))
    dlogits = log_softmax_at_backward(de, cache)
    f = lambda z: float((log_softmax_at_forward(z, y)[0] * de).sum())
    assert elementwise_check(f, logits, dlogits) < TOL


def test_short_axis_reductions_match_numpy():
    """reduce_sum/reduce_max combine slices on short axes: same values as NumPy's
    reductions (max exactly; sums to float64 rounding, since the order differs)."""
    from imb_ref.nn.functions import reduce_max, reduce_sum
    rng = np.random.default_rng(9)
    for shape in [(7,), (3, 2), (4, 5, 2), (2, 3, 40)]:
        x = rng.normal(size=shape)
        for axis in range(len(shape)):
            for keep in (False, True):
                np.testing.assert_array_equal(reduce_max(x, axis, keep), x.max(axis, keepdims=keep))
                np.testing.assert_allclose(reduce_sum(x, axis, keep), x.sum(axis, keepdims=keep),
                                           rtol=1e-13, atol=1e-13)
