"""The 12-bit task: invariant under the icosahedron's rotations, about half positive,
and as hard as the original (theory/synthetic12.md)."""

import itertools

import numpy as np
import pytest

from imb_ref.data import load_dataset
from imb_ref.data import synthetic12 as s12
from imb_ref.data import synthetic12_stats as stats
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
    assert x.shape == (4096, 12) and int(y.sum()) == 2087
    d = load_dataset("synthetic12")
    assert (len(d.train), len(d.val), len(d.test)) == (3277, 0, 819)
    assert d.n_classes == 2
    both = np.concatenate([d.train.x, d.test.x])
    assert len(np.unique(both, axis=0)) == 4096          # a partition of all patterns
    again = load_dataset("synthetic12")
    np.testing.assert_array_equal(again.train.x, d.train.x)   # the split is fixed


def test_invariants_count_the_icosahedron():
    """30 edges, 6 antipodal pairs and 20 faces; each vertex has 5 neighbours."""
    E, A = s12.neighbour_matrices()
    assert (E.sum(), A.sum(), len(s12.faces())) == (60, 12, 20)
    assert set(E.sum(axis=1)) == {5.0} and set(A.sum(axis=1)) == {1.0}
    full = np.ones((1, 12))
    assert [float(v[0]) for v in s12.invariants(full)] == [12, 30, 6, 20]
    one_face = np.zeros((1, 12))
    one_face[0, s12.faces()[0]] = 1
    assert [float(v[0]) for v in s12.invariants(one_face)] == [3, 3, 0, 1]


@pytest.mark.slow
def test_statistics_near_the_original():
    """The statistics that issue 13 asks of a faithful task: 2000-2200 positives,
    logistic regression 10-18% test error, I(popcount;Y) >= 0.45 bit, a deterministic
    net under 5%. All are deterministic functions of the rule (fixed split, fixed seeds),
    so the bounds are not statistical; one net seed keeps the test at a few seconds."""
    x, y = s12.make_task()
    got = stats.task_statistics(x, y, det_net_seeds=(0,))
    assert 2000 <= got["positives"] <= 2200
    assert 0.10 <= got["logreg_error"] <= 0.18
    assert got["I_count_Y"] >= 0.45
    assert got["count_accuracy"] > 0.8
    assert got["det_net_error"] < 0.05


def test_the_old_rule_was_unlike_the_original():
    """The statistics tell the tasks apart: a rule with almost no low-order structure
    (the second-neighbour rule used before) fails the popcount and linear criteria."""
    x = s12.all_patterns()
    E, _ = s12.neighbour_matrices()
    spins = 2 * x - 1
    second = np.isclose(np.linalg.norm(s12.icosahedron_vertices()[:, None]
                                       - s12.icosahedron_vertices()[None], axis=-1),
                        2 * (1 + 5 ** 0.5) / 2)        # edge length 2, second distance 2 phi
    w = -E + 0.5 * second
    y = (0.5 * np.einsum("ni,ij,nj->n", spins, w, spins) + 0.25 * spins.sum(1) >= 0).astype(int)
    assert int(y.sum()) == 2054                        # the old task's balance
    got = stats.task_statistics(x, y, det_net_seeds=())
    assert got["I_count_Y"] < 0.1 and got["logreg_error"] > 0.4


@pytest.mark.slow
def test_choose_rule_returns_the_built_in_rule():
    """The documented search (grid, filters, distance to the original, net criterion)
    picks exactly RULE, and every rule ranked above it fails only the net criterion."""
    rule, got, rejected = stats.choose_rule()
    assert rule == s12.RULE
    assert got["det_net_error"] < stats.MAX_DET_NET_ERROR
    assert all(err >= stats.MAX_DET_NET_ERROR for _, err in rejected)


@pytest.mark.slow
def test_ranking_puts_near_rules_first():
    ranked = stats.ranked_rules()
    dists = [d for d, _, _ in ranked]
    assert dists == sorted(dists) and len(ranked) > 50
    assert any(r == s12.RULE for _, r, _ in ranked[:5])
    for _, rule, st in ranked:
        assert 2000 <= st["positives"] <= 2200 and st["I_count_Y"] >= 0.45


@pytest.mark.slow
def test_stats_command(capsys, tmp_path):
    from scipy.io import savemat
    x, y = s12.make_task()
    savemat(tmp_path / "var_u.mat", {"F": x, "y": 1 - y[None, :]})
    assert stats.main(["--data-file", str(tmp_path / "var_u.mat")]) == 0
    assert f"{4096 - int(y.sum())} / 4096" in capsys.readouterr().out
    assert stats.main(["--data-file", str(tmp_path / "missing.mat")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_original_mat_file(tmp_path):
    from scipy.io import savemat
    x, y = s12.make_task()
    savemat(tmp_path / "var_u.mat", {"F": x, "y": y[None, :]})
    d = load_dataset("synthetic12", data_file=str(tmp_path / "var_u.mat"))
    assert len(d.train) + len(d.test) == 4096
    savemat(tmp_path / "bad.mat", {"G": x})
    with pytest.raises(UserError, match="expected arrays 'F'"):
        load_dataset("synthetic12", data_file=str(tmp_path / "bad.mat"))
    savemat(tmp_path / "wide.mat", {"F": np.c_[x, x[:, :1]], "y": y[None, :]})
    with pytest.raises(UserError, match=r"expected F \(N, 12\)"):
        load_dataset("synthetic12", data_file=str(tmp_path / "wide.mat"))
