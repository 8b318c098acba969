"""Information measures on tables, and Lemma 1 on random Markov chains (hypothesis)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imb_ref.info import (conditional_mutual_information, entropy, kl_divergence,
                          mutual_information)

# Sums of at most a few hundred float64 terms of size <= 1: rounding ~1e-14; the
# identities below are asserted to 1e-10, as the issue asks.
IDENTITY_TOL = 1e-10


def test_known_values():
    assert entropy([0.5, 0.5]) == pytest.approx(1.0, abs=1e-15)
    assert entropy([1.0, 0.0]) == 0.0                                # 0 log 0 = 0
    assert entropy([0.25] * 4, base=math.e) == pytest.approx(math.log(4), abs=1e-15)
    assert mutual_information(np.eye(2) / 2) == pytest.approx(1.0, abs=1e-15)
    assert mutual_information(np.full((2, 3), 1 / 6)) == pytest.approx(0.0, abs=1e-15)
    assert kl_divergence([0.5, 0.5], [0.25, 0.75]) == pytest.approx(
        0.5 * math.log2(2) + 0.5 * math.log2(0.5 / 0.75), abs=1e-15)
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(1.0)
    # X = Y = Z: I(X;Y|Z) = 0; X = Y independent of Z: I(X;Y|Z) = H(X)
    p = np.zeros((2, 2, 2))
    p[0, 0, 0] = p[1, 1, 1] = 0.5
    assert conditional_mutual_information(p) == pytest.approx(0.0, abs=1e-15)
    q = np.zeros((2, 2, 2))
    q[0, 0, :] = q[1, 1, :] = 0.25
    assert conditional_mutual_information(q) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("bad,match", [
    ([0.5, 0.6], "sums to 1.1"),
    ([1.2, -0.2], "negative entry"),
    ([np.nan, 1.0], "non-finite"),
])
def test_bad_tables_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        entropy(bad)


def test_wrong_dimensions_raise():
    with pytest.raises(ValueError, match="2-D"):
        mutual_information(np.full(4, 0.25))
    with pytest.raises(ValueError, match="3-D"):
        conditional_mutual_information(np.full((2, 2), 0.25))
    with pytest.raises(ValueError, match="shape"):
        kl_divergence([0.5, 0.5], [1 / 3] * 3)


def random_table(rng, shape, sparsity):
    """A random probability table, with some entries exactly zero."""
    t = rng.dirichlet(np.ones(int(np.prod(shape)))).reshape(shape)
    t[rng.random(shape) < sparsity] = 0.0
    if t.sum() == 0:
        t.flat[0] = 1.0
    return t / t.sum()


def random_conditional(rng, n_in, n_out, sparsity):
    rows = [random_table(rng, (n_out,), sparsity) for _ in range(n_in)]
    return np.array(rows)                               # (n_in, n_out), rows sum to 1


def markov_chain(seed, sizes, sparsity):
    """p[y, x, z1, z2] = p(y) p(x|y) p(z1|x) p(z2|z1): Y -> X -> Z1 -> Z2."""
    rng = np.random.default_rng(seed)
    ny, nx, n1, n2 = sizes
    py = random_table(rng, (ny,), 0.0)
    pxy = random_conditional(rng, ny, nx, sparsity)
    p1 = random_conditional(rng, nx, n1, sparsity)
    p2 = random_conditional(rng, n1, n2, sparsity)
    return np.einsum("y,yx,xa,ab->yxab", py, pxy, p1, p2)


chains = st.tuples(st.integers(0, 2 ** 32 - 1),
                   st.tuples(*[st.integers(2, 5)] * 4),
                   st.sampled_from([0.0, 0.3]))


@given(chains)
def test_lemma_1_identities(chain):
    """Eqs. (11)-(12): I(Z2;X) = I(Z1;X) - I(Z1;X|Z2), I(Z2;Y) = I(Z1;Y) - I(Z1;Y|Z2)."""
    p = markov_chain(*chain)
    i_z2x = mutual_information(p.sum(axis=(0, 2)))               # [x, z2]
    i_z1x = mutual_information(p.sum(axis=(0, 3)))               # [x, z1]
    i_z1x_z2 = conditional_mutual_information(p.sum(axis=0).transpose(1, 0, 2))  # [z1, x, z2]
    assert abs(i_z2x - (i_z1x - i_z1x_z2)) < IDENTITY_TOL
    i_z2y = mutual_information(p.sum(axis=(1, 2)))               # [y, z2]
    i_z1y = mutual_information(p.sum(axis=(1, 3)))               # [y, z1]
    i_z1y_z2 = conditional_mutual_information(p.sum(axis=1).transpose(1, 0, 2))  # [z1, y, z2]
    assert abs(i_z2y - (i_z1y - i_z1y_z2)) < IDENTITY_TOL
    # The Markov property the proof needs (the paper's text has the symbol reversed):
    assert conditional_mutual_information(p.sum(axis=0).transpose(0, 2, 1)) < IDENTITY_TOL  # I(X;Z2|Z1)


@given(chains)
def test_data_processing_inequalities(chain):
    p = markov_chain(*chain)
    hx = entropy(p.sum(axis=(0, 2, 3)))
    i_xy = mutual_information(p.sum(axis=(2, 3)))
    i_z1x, i_z2x = mutual_information(p.sum(axis=(0, 3))), mutual_information(p.sum(axis=(0, 2)))
    i_z1y, i_z2y = mutual_information(p.sum(axis=(1, 3))), mutual_information(p.sum(axis=(1, 2)))
    eps = 1e-12
    assert i_z2x <= i_z1x + eps and i_z1x <= hx + eps
    assert i_z2y <= i_z1y + eps and i_z1y <= i_xy + eps
    assert i_z1y <= i_z1x + eps                     # Y -> X -> Z1


def test_lemma_1_fails_without_the_markov_chain():
    """Z1 an independent coin, Z2 = X: I(Z2;X) = H(X) = 1 bit, but
    I(Z1;X) - I(Z1;X|Z2) = 0 - 0. Z2 reads X directly, not through Z1."""
    p = np.zeros((2, 2, 2))                          # [x, z1, z2]
    for x in range(2):
        for z1 in range(2):
            p[x, z1, x] = 0.25
    i_z2x = mutual_information(p.sum(axis=1))
    rhs = mutual_information(p.sum(axis=2)) - conditional_mutual_information(p.transpose(1, 0, 2))
    assert i_z2x == pytest.approx(1.0) and rhs == pytest.approx(0.0, abs=1e-15)
