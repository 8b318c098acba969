"""Exact information measures on probability tables (one axis per variable).

    entropy(p)                          H of the whole table (joint entropy)
    mutual_information(pxy)             I(X;Y) of a 2-D table, rows X, columns Y
    conditional_mutual_information(p)   I(X;Y|Z) of a 3-D table p[x, y, z]
    kl_divergence(p, q)                 KL(p || q) of two tables of one shape

Bits by default (`base=2`); `base=math.e` for nats. Zeros are handled exactly
(0 log 0 = 0, and terms with p = 0 contribute nothing); a table with a negative entry or
a sum other than 1 (within `tol`) raises ValueError. Theory: theory/information.md.
"""

import math

import numpy as np

TOL = 1e-9


def check_table(p, tol=TOL, name="table"):
    """Return p as float64 after checking it is a probability table."""
    p = np.asarray(p, dtype=np.float64)
    if p.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} has non-finite entries")
    if p.min() < 0:
        raise ValueError(f"{name} has a negative entry ({p.min():.3g}); probabilities are >= 0")
    total = p.sum()
    if abs(total - 1.0) > tol:
        raise ValueError(f"{name} sums to {total:.12g}, not 1 (tolerance {tol:g})")
    return p


def _xlogy_ratio(p, q):
    """sum of p log(p / q) over entries with p > 0 (natural log)."""
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(q[mask]))))


def entropy(p, base=2, tol=TOL):
    p = check_table(p, tol)
    mask = p > 0
    return float(-np.sum(p[mask] * np.log(p[mask]))) / math.log(base)


def mutual_information(pxy, base=2, tol=TOL):
    pxy = check_table(pxy, tol, "joint table")
    if pxy.ndim != 2:
        raise ValueError(f"mutual_information needs a 2-D table, got {pxy.ndim}-D")
    px = pxy.sum(axis=1, keepdims=True)
    py = pxy.sum(axis=0, keepdims=True)
    return max(0.0, _xlogy_ratio(pxy, px * py)) / math.log(base)


def conditional_mutual_information(pxyz, base=2, tol=TOL):
    """I(X;Y|Z) = sum p(x,y,z) log[ p(x,y,z) p(z) / (p(x,z) p(y,z)) ]."""
    p = check_table(pxyz, tol, "joint table")
    if p.ndim != 3:
        raise ValueError(f"conditional_mutual_information needs a 3-D table, got {p.ndim}-D")
    pz = p.sum(axis=(0, 1), keepdims=True)
    pxz = p.sum(axis=1, keepdims=True)
    pyz = p.sum(axis=0, keepdims=True)
    mask = p > 0
    num = np.log(p[mask]) + np.log(np.broadcast_to(pz, p.shape)[mask])
    den = np.log(np.broadcast_to(pxz, p.shape)[mask]) + np.log(np.broadcast_to(pyz, p.shape)[mask])
    return max(0.0, float(np.sum(p[mask] * (num - den)))) / math.log(base)


def kl_divergence(p, q, base=2, tol=TOL):
    """KL(p || q); infinite where q = 0 < p."""
    p, q = check_table(p, tol, "p"), check_table(q, tol, "q")
    if p.shape != q.shape:
        raise ValueError(f"p has shape {p.shape} but q has {q.shape}")
    if np.any((q == 0) & (p > 0)):
        return math.inf
    return _xlogy_ratio(p, q) / math.log(base)
