"""The 12-bit task: invariant under the icosahedron's rotations, about half positive."""

import itertools

import numpy as np
import pytest

from imb_ref.data import load_dataset
from imb_ref.data import synthetic12 as s12
from imb_ref.errors import UserError


def rotation_permutations():
    """All vertex permutations induced by rotations mapping the icosahedron to itself.

    A rotation is fixed by where it sends vertex 0 and one of its neighbours: map the
    frame (v0, v1, v0 x v1) onto (a, b, a x b) for every adjacent pair (a, b)."""
    v = s12.icosahedron_vertices()
    d = np.linalg.norm(v[:, None] - v[None], axis=-1)
    edge = d[d > 0].min()
    nb = np.flatnonzero(np.isclose(d[0], edge))[0]
    src = np.stack([v[0], v[nb], np.cross(v[0], v[nb])])
    perms = []
    for a, b in itertools.permutations(range(12), 2):
        if not np.isclose(d[a, b], edge):
            continue
        dst = np.stack([v[a], v[b], np.cross(v[a], v[b])])
        R = np.linalg.solve(src, dst).T                 # R @ src_i = dst_i
        image = v @ R.T
        match = np.argmin(np.linalg.norm(image[:, None] - v[None], axis=-1), axis=1)
        assert np.allclose(image, v[match]) and np.isclose(np.linalg.det(R), 1.0)
        perms.append(match)
    return np.unique(np.array(perms), axis=0)


def test_the_rotation_group_has_60_elements():
    assert len(rotation_permutations()) == 60


def test_labels_invariant_under_every_rotation():
    x, y = s12.make_task()
    f = s12.score(x)
    for perm in rotation_permutations():
        permuted = np.empty_like(x)
        permuted[:, perm] = x                          # bit i moves to vertex perm[i]
        np.testing.assert_array_equal(s12.score(permuted), f)
        np.testing.assert_array_equal(s12.labels(permuted), y)


def test_balance_and_split():
    x, y = s12.make_task()
    assert x.shape == (4096, 12) and int(y.sum()) == 2054
    d = load_dataset("synthetic12")
    assert (len(d.train), len(d.val), len(d.test)) == (3277, 0, 819)
    assert d.n_classes == 2
    both = np.concatenate([d.train.x, d.test.x])
    assert len(np.unique(both, axis=0)) == 4096          # a partition of all patterns
    again = load_dataset("synthetic12")
    np.testing.assert_array_equal(again.train.x, d.train.x)   # the split is fixed


def test_score_is_not_trivially_constant():
    x, _ = s12.make_task()
    assert len(np.unique(s12.score(x))) > 20


def test_original_mat_file(tmp_path):
    from scipy.io import savemat
    x, y = s12.make_task()
    savemat(tmp_path / "var_u.mat", {"F": x, "y": y[None, :]})
    d = load_dataset("synthetic12", data_file=str(tmp_path / "var_u.mat"))
    assert len(d.train) + len(d.test) == 4096
    savemat(tmp_path / "bad.mat", {"G": x})
    with pytest.raises(UserError, match="expected arrays 'F'"):
        load_dataset("synthetic12", data_file=str(tmp_path / "bad.mat"))
