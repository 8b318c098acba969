"""The 12-bit task of the information-plane experiment (paper Section 5.3).

X is uniform over the 2**12 = 4096 binary patterns; Y is a deterministic function of X.
Following Shwartz-Ziv and Tishby (2017), whose task the paper borrows, the 12 bits sit
on the vertices of a regular icosahedron and Y thresholds a real function of the
pattern that is invariant under the icosahedron's rotations. Their data file is not
redistributable, so we build the rule the way they describe theirs, from the low-order
invariants of the set of occupied vertices (theory/synthetic12.md):

    n(x) = number of bits set                  (order 1)
    e(x) = occupied edges, both ends set        (order 2, 30 edges)
    a(x) = occupied antipodal pairs             (order 2, 6 pairs)
    t(x) = occupied faces, all three corners    (order 3, 20 triangles)
    f(x) = n + c_e e + c_a a + c_t t,   Y = 1  iff  f(x) >= theta

Each invariant counts vertex sets of one shape, and a rotation maps such sets onto sets
of the same shape, so f is unchanged by the icosahedron's 60 rotations (and by its
reflections). The coefficients come from a fixed grid of binary fractions, chosen so
that the task's statistics (balance, linear separability, how much the count alone
says about Y, learnability by a small deterministic net) land near those of the
original file: `imb_ref.data.synthetic12_stats.choose_rule` makes the choice and
tests/test_synthetic12.py checks it. With binary fractions f is exact in floating
point, so no pattern sits on the threshold by rounding: 2,087 of the 4,096 patterns
have Y = 1 (the original had 2,118).
"""

import itertools
from dataclasses import dataclass

import numpy as np

from ..errors import UserError

N_BITS = 12
SPLIT_SEED = 0  # the 80/20 split is part of the task, not of a run's --seed
TRAIN_FRACTION = 0.8


@dataclass(frozen=True)
class Rule:
    """Y = 1 iff n + edge * e + antipode * a + face * t >= threshold."""
    edge: float
    antipode: float
    face: float
    threshold: float


RULE = Rule(edge=-0.125, antipode=-0.375, face=-0.125, threshold=4.375)


def icosahedron_vertices():
    """The 12 vertices (0, +-1, +-phi) and their cyclic permutations, shape (12, 3)."""
    phi = (1.0 + 5.0 ** 0.5) / 2.0
    verts = []
    for a in (-1.0, 1.0):
        for b in (-1.0, 1.0):
            verts += [(0.0, a, b * phi), (a, b * phi, 0.0), (b * phi, 0.0, a)]
    return np.array(verts)


def neighbour_matrices(vertices=None):
    """(edges, antipodes): symmetric 0/1 (12, 12) matrices of the vertex pairs at the
    shortest distance (5 neighbours each) and at the diameter (1 antipode each)."""
    v = icosahedron_vertices() if vertices is None else vertices
    d = np.linalg.norm(v[:, None] - v[None], axis=-1)
    edge = d.min(where=d > 0, initial=np.inf)
    return np.isclose(d, edge).astype(float), np.isclose(d, d.max()).astype(float)


def faces(edges=None):
    """The 20 triangular faces: triples of mutually adjacent vertices, (20, 3)."""
    E = neighbour_matrices()[0] if edges is None else edges
    return np.array([t for t in itertools.combinations(range(N_BITS), 3)
                     if E[t[0], t[1]] and E[t[1], t[2]] and E[t[0], t[2]]])


def all_patterns():
    """The 4096 patterns as rows of 12 bits, shape (4096, 12), float64 in {0, 1};
    row k holds the binary digits of k."""
    codes = np.arange(2 ** N_BITS)
    return ((codes[:, None] >> np.arange(N_BITS)) & 1).astype(np.float64)


def invariants(x):
    """(n, e, a, t) of the module docstring for rows x in {0,1}^12, each (N,)."""
    x = np.asarray(x, dtype=np.float64)
    E, A = neighbour_matrices()
    n = x.sum(axis=1)
    e = 0.5 * np.einsum("ni,ij,nj->n", x, E, x)        # each pair counted twice
    a = 0.5 * np.einsum("ni,ij,nj->n", x, A, x)
    t = x[:, faces(E)].prod(axis=2).sum(axis=1)
    return n, e, a, t


def score(x, rule=RULE):
    """f(x) of the module docstring, (N,)."""
    n, e, a, t = invariants(x)
    return n + rule.edge * e + rule.antipode * a + rule.face * t


def labels(x, rule=RULE):
    return (score(x, rule) >= rule.threshold).astype(np.int64)


def make_task(rule=RULE):
    """(X, y): all 4096 patterns and their labels."""
    x = all_patterns()
    return x, labels(x, rule)


def load_mat(path):
    """The original task file `var_u.mat` (arrays F, 4096 x 12, and y, 1 x 4096)."""
    from ..files import check_readable_file
    check_readable_file(path, "--data-file, a .mat file,")
    try:
        from scipy.io import loadmat
        mat = loadmat(path)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except Exception as exc:
        raise UserError(f"{path}: not a readable .mat file ({exc})") from None
    if "F" not in mat or "y" not in mat:
        raise UserError(f"{path}: expected arrays 'F' (4096 x 12) and 'y' (1 x 4096)")
    try:
        x = np.asarray(mat["F"], dtype=np.float64)
        y = np.asarray(mat["y"], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: F and y must be numeric arrays ({exc})") from None
    if x.ndim != 2 or x.shape[1] != N_BITS or x.shape[0] != y.shape[0] or not len(y):
        raise UserError(f"{path}: F has shape {x.shape} and y {y.shape[0]} entries; "
                        f"expected F (N, {N_BITS}) and N labels, N >= 1")
    # The task is binary in and out: the exact information plane enumerates bit
    # patterns, and a label of 2 (or 0.5, which a cast would floor to 0) is no class.
    for name, values in (("F", x), ("y", y)):
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            where = np.unravel_index(np.argmax(bad), values.shape)
            raise UserError(f"{path}: {name} holds {values[where]:g} at index "
                            f"{tuple(int(i) for i in where) if values.ndim > 1 else int(where[0])}"
                            f" ({int(bad.sum())} entries other than 0 and 1); the 12-bit "
                            f"task's {'inputs' if name == 'F' else 'labels'} are 0 or 1")
    return x, y.astype(np.int64)


def load_task(data_file=None):
    """(X, y) of the whole task: the original file if given, else the built-in rule."""
    return load_mat(data_file) if data_file else make_task()


def train_test_split(n):
    """A fixed permutation: the first 80% train, the rest test."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_train = int(round(TRAIN_FRACTION * n))
    return perm[:n_train], perm[n_train:]
