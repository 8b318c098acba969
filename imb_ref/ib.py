"""The discrete IB and IMB Lagrangians, for Theorem 3.1's numerical illustration.

For a joint table p(x, y), an encoder p(z1 | x) and a fixed channel p(z2 | z1):

    L1[p(z1|x)] = I(Z1;X) - beta1 I(Z1;Y)              Eq. (1), l = 1
    L2[p(z1|x)] = I(Z2;X) - beta2 I(Z2;Y),   p(z2|x) = sum_z1 p(z2|z1) p(z1|x)

`minimize` searches encoders (rows of a softmax) with BFGS from several random starts
and keeps the best. Theorem 3.1 says the two minimisations conflict unless Z2 is a
sufficient statistic of Z1 or independent of it (theory/theorem_3_1.md).
"""

import numpy as np
from scipy.optimize import minimize as scipy_minimize

from .info import mutual_information


def encoder(theta, n_x, n_z):
    """Row-stochastic p(z | x) from unconstrained logits theta (n_x * n_z,)."""
    t = np.asarray(theta, float).reshape(n_x, n_z)
    e = np.exp(t - t.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def lagrangian(p_z_given_x, pxy, beta, channel=None):
    """I(Z;X) - beta I(Z;Y) in bits, for Z = Z1 (channel None) or Z2 = channel(Z1)."""
    pz = p_z_given_x if channel is None else p_z_given_x @ channel
    px = pxy.sum(axis=1)
    return mutual_information(px[:, None] * pz) - beta * mutual_information(pxy.T @ pz)


def minimize(pxy, n_z, beta, channel=None, starts=20, seed=0):
    """(best encoder p(z1|x), its Lagrangian value)."""
    rng = np.random.default_rng(seed)
    n_x = pxy.shape[0]
    f = lambda th: lagrangian(encoder(th, n_x, n_z), pxy, beta, channel)
    best = min((scipy_minimize(f, rng.normal(0, 3, n_x * n_z), method="BFGS")
                for _ in range(starts)), key=lambda r: r.fun)
    return encoder(best.x, n_x, n_z), float(best.fun)
