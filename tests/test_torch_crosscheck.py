"""PyTorch autograd as an oracle: the same parameters and uniforms in a float64 twin
(imb_ref/twin.py) give the same loss, VCRs, KLs and gradients to 1e-10.
Skipped when torch is absent; CI installs the CPU build."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from imb_ref.models import sbn
from test_objective import random_case
from imb_ref.twin import twin_objective


@pytest.mark.parametrize("estimator", ["raiko", "st"])
@pytest.mark.parametrize("L,M", [(1, 3), (2, 2), (3, 2)])
def test_matches_autograd(L, M, estimator):
    rng = np.random.default_rng(L * 10 + M)
    params, x, y, u = random_case(rng, L, M, B=4)
    gammas, betas = rng.random(L + 1), rng.random(L)
    ours = sbn.imb_objective(params, x, y, u, M, gammas, betas, estimator)
    loss, vcr, kl, grads = twin_objective(params, x, y, u, M, gammas, betas, estimator)
    # Both sides are float64 evaluations of the same formulas in different orders:
    # differences are a few ulps of O(1) numbers, far below 1e-10.
    assert abs(float(ours["loss"]) - float(loss)) < 1e-10
    np.testing.assert_allclose(ours["vcr"], vcr, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours["kl"], kl, rtol=0, atol=1e-10)
    for k in params:
        np.testing.assert_allclose(ours["grads"][k], grads[k], rtol=0, atol=1e-10, err_msg=k)
