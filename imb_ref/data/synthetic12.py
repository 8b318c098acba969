"""The 12-bit task of the information-plane experiment (paper Section 5.3).

X is uniform over the 2**12 = 4096 binary patterns; Y is a deterministic function of X.
Following Shwartz-Ziv and Tishby (2017), the 12 bits sit on the vertices of a regular
icosahedron and Y thresholds a function that is invariant under the icosahedron's
rotations. Their data file is not redistributable, so we define our own (derivation
and invariance argument in theory/synthetic12.md):

    s_i = 2 x_i - 1 in {-1, +1}
    f(x) = sum_{i<j} w(d_ij) s_i s_j + c sum_i s_i
    w(edge) = -1, w(second neighbour) = +1/2, w(antipode) = 0, c = 1/4
    Y = 1  iff  f(x) >= 0

The weights depend only on the distance between two vertices and the last term only
on the number of bits set, so f is unchanged by every symmetry of the icosahedron.
All weights are binary fractions, so f is computed exactly and the threshold has no
rounding ties: 2,054 of the 4,096 patterns have Y = 1 (the original had 2,118).
"""

import numpy as np

from ..errors import UserError

N_BITS = 12
EDGE_WEIGHT, SECOND_WEIGHT, ANTIPODE_WEIGHT, COUNT_WEIGHT = -1.0, 0.5, 0.0, 0.25
SPLIT_SEED = 0  # the 80/20 split is part of the task, not of a run's --seed
TRAIN_FRACTION = 0.8


def icosahedron_vertices():
    """The 12 vertices (0, +-1, +-phi) and their cyclic permutations, shape (12, 3)."""
    phi = (1.0 + 5.0 ** 0.5) / 2.0
    verts = []
    for a in (-1.0, 1.0):
        for b in (-1.0, 1.0):
            verts += [(0.0, a, b * phi), (a, b * phi, 0.0), (b * phi, 0.0, a)]
    return np.array(verts)


def pair_weights(vertices=None):
    """The symmetric (12, 12) matrix w(d_ij), zero on the diagonal."""
    v = icosahedron_vertices() if vertices is None else vertices
    d = np.linalg.norm(v[:, None] - v[None], axis=-1)
    edge = d.min(where=d > 0, initial=np.inf)
    w = np.zeros_like(d)
    w[np.isclose(d, edge)] = EDGE_WEIGHT                        # 5 neighbours each
    w[np.isclose(d, edge * (1 + 5 ** 0.5) / 2)] = SECOND_WEIGHT  # 5 at distance phi*edge
    w[np.isclose(d, d.max())] = ANTIPODE_WEIGHT                 # 1 antipode
    return w


def all_patterns():
    """The 4096 patterns as rows of 12 bits, shape (4096, 12), float64 in {0, 1}."""
    codes = np.arange(2 ** N_BITS)
    return ((codes[:, None] >> np.arange(N_BITS)) & 1).astype(np.float64)


def score(x, weights=None):
    """f(x) for rows x in {0,1}^12 (see the module docstring)."""
    w = pair_weights() if weights is None else weights
    s = 2.0 * np.asarray(x, dtype=np.float64) - 1.0
    return 0.5 * np.einsum("ni,ij,nj->n", s, w, s) + COUNT_WEIGHT * s.sum(axis=1)


def labels(x):
    return (score(x) >= 0.0).astype(np.int64)


def make_task():
    """(X, y): all 4096 patterns and their labels."""
    x = all_patterns()
    return x, labels(x)


def load_mat(path):
    """The original task file `var_u.mat` (arrays F, 4096 x 12, and y, 1 x 4096)."""
    try:
        from scipy.io import loadmat
        mat = loadmat(path)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except Exception as exc:
        raise UserError(f"{path}: not a readable .mat file ({exc})") from None
    if "F" not in mat or "y" not in mat:
        raise UserError(f"{path}: expected arrays 'F' (4096 x 12) and 'y' (1 x 4096)")
    x = np.asarray(mat["F"], dtype=np.float64)
    y = np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise UserError(f"{path}: F has shape {x.shape} but y has {y.shape[0]} entries")
    return x, y


def train_test_split(n):
    """A fixed permutation: the first 80% train, the rest test."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_train = int(round(TRAIN_FRACTION * n))
    return perm[:n_train], perm[n_train:]
