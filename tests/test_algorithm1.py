"""imb_ref/algorithm1.py, the one-page JointIMB step, is the step the training loop takes:
the objective and gradient of sbn.imb_objective and an SGD update, on the same noise."""

import numpy as np
import pytest

from imb_ref.algorithm1 import jointimb_step
from imb_ref.models import sbn
from imb_ref.optim import make_optimizer


@pytest.mark.parametrize("sizes, M", [((5, 4, 3), 3), ((6, 5, 4, 3, 2), 2)])
def test_the_page_is_the_step_the_loop_takes(sizes, M):
    rng = np.random.default_rng(len(sizes) * 10 + M)
    params = sbn.init_params(sizes, rng, np.float64)
    for k in params:                       # non-zero biases and priors: every term counts
        if k.startswith(("b_", "rho_")):
            params[k] = rng.normal(0.0, 0.5, size=params[k].shape)
    B, L = 7, len(sizes) - 2
    x, y = rng.random((B, sizes[0])), rng.integers(0, sizes[-1], B)
    u = sbn.sample_uniforms(rng, B, M, sizes[1:-1], np.float64)
    gammas, betas = rng.random(L + 1), rng.random(L)
    ref = sbn.imb_objective(params, x, y, u, M, gammas, betas)
    expected = {k: v.copy() for k, v in params.items()}
    make_optimizer("sgd", 0.1, momentum=0.0).step(expected, ref["grads"])

    page = {k: v.copy() for k, v in params.items()}
    loss, vcr, kl, grads = jointimb_step(page, x, y, u, M, gammas, betas, lr=0.1)
    # Same float64 operations in a slightly different order: agreement to rounding.
    assert abs(loss - float(ref["loss"])) < 1e-12
    np.testing.assert_allclose(vcr, ref["vcr"], rtol=1e-12)
    np.testing.assert_allclose(kl, ref["kl"], rtol=1e-12)
    for k in params:
        np.testing.assert_allclose(grads[k], ref["grads"][k], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(page[k], expected[k], rtol=1e-12, atol=1e-14)
