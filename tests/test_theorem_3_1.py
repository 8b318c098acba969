"""Theorem 3.1 on a small discrete example: the minimisers of L1 and L2 differ for a
noisy channel Z1 -> Z2, and coincide when Z2 is a sufficient statistic of Z1."""

import numpy as np
import pytest

from imb_ref.ib import lagrangian, minimize

PXY = np.array([[0.20, 0.05], [0.15, 0.10], [0.05, 0.20], [0.10, 0.15]])   # H(Y|X) > 0
NOISY = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])       # p(z2 | z1)
BETA = 20.0


@pytest.fixture(scope="module")
def l1_minimum():
    return minimize(PXY, 3, BETA, starts=12)


@pytest.mark.slow
def test_minimisers_conflict_for_a_noisy_channel(l1_minimum):
    enc1, best1 = l1_minimum
    enc2, best2 = minimize(PXY, 3, BETA, NOISY, starts=12)
    # Each minimiser is clearly suboptimal for the other objective (gaps of 0.04 and
    # 0.6 bits, against a search whose restarts agree to ~1e-6).
    assert lagrangian(enc2, PXY, BETA) - best1 > 0.01
    assert lagrangian(enc1, PXY, BETA, NOISY) - best2 > 0.1


@pytest.mark.slow
def test_minimisers_coincide_when_z2_is_sufficient(l1_minimum):
    """A permutation channel: Z2 determines Z1, so L2 = L1 for every encoder and one
    encoder minimises both (the theorem's condition (a))."""
    perm = np.eye(3)[[2, 0, 1]]
    enc1, best1 = l1_minimum
    enc2, best2 = minimize(PXY, 3, BETA, perm, starts=12)
    assert abs(best1 - best2) < 1e-6
    assert abs(lagrangian(enc2, PXY, BETA) - best1) < 1e-6
    assert abs(lagrangian(enc1, PXY, BETA, perm) - best2) < 1e-6


def test_minimisers_coincide_when_z2_is_independent(l1_minimum):
    """A channel whose rows are equal makes Z2 independent of Z1: L2 = 0 for every
    encoder, so L1's minimiser also minimises L2 (condition (b))."""
    flat = np.tile([0.2, 0.5, 0.3], (3, 1))
    enc1, _ = l1_minimum
    assert abs(lagrangian(enc1, PXY, BETA, flat)) < 1e-12
