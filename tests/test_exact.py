"""Exact enumeration: against brute force over joint configurations, the exact
gradient against differences, and the paper's statements as exact identities:
Theorem 3.2 (Eqs. 8-9), the VCR bound (Eq. 6), the compression bound (Eq. 10),
Appendix F, and the Monte Carlo estimates converging to the exact values."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck import directional_check
from imb_ref import exact
from imb_ref.info import entropy, mutual_information
from imb_ref.models import sbn
from imb_ref.nn.functions import sigmoid, softmax
from fixtures import off_the_symmetric_start

LN2 = math.log(2)


def tiny_network(seed, sizes=(3, 3, 2, 2, 3), n_inputs=5, scale=1.0):
    rng = np.random.default_rng(seed)
    params = off_the_symmetric_start(sbn.init_params(sizes, rng), rng, scale)
    x = rng.random((n_inputs, sizes[0]))
    y = rng.integers(0, sizes[-1], n_inputs)
    w = rng.dirichlet(np.ones(n_inputs))
    return params, x, y, w


def brute_force_joint(params, x):
    """p(z_1, ..., z_L | x) for every full configuration, unit by unit: a dict from the
    tuple of layer states to an (N,) array of probabilities."""
    L = sum(1 for k in params if k.startswith("W_")) - 1
    widths = [params[f"W_{l}"].shape[1] for l in range(L)]
    joint = {}
    for config in itertools.product(*[list(itertools.product((0, 1), repeat=n)) for n in widths]):
        prob = np.ones(len(x))
        z = x
        for l, state in enumerate(config):
            p = sigmoid(z @ params[f"W_{l}"] + params[f"b_{l}"])
            s = np.array(state, dtype=float)
            prob = prob * np.prod(np.where(s == 1, p, 1 - p), axis=-1)
            z = np.broadcast_to(s, (len(x), len(s)))
        joint[config] = prob
    return joint, L


def test_layer_marginals_and_information_match_brute_force():
    params, x, y, w = tiny_network(0)
    joint, L = brute_force_joint(params, x)
    f = exact.forward(params, x)
    plane = exact.information_plane(params, x, y, w, n_classes=3)
    for l in range(1, L + 1):
        states = exact.binary_states(params[f"W_{l-1}"].shape[1])
        P = np.zeros((len(x), len(states)))
        for config, prob in joint.items():
            k = int(np.flatnonzero((states == np.array(config[l - 1])).all(1))[0])
            P[:, k] += prob
        np.testing.assert_allclose(f["P"][l], P, rtol=1e-12, atol=1e-15)
        pxz = w[:, None] * P
        pyz = np.array([pxz[y == c].sum(0) for c in range(3)])
        assert plane[l - 1][0] == pytest.approx(mutual_information(pxz), abs=1e-12)
        assert plane[l - 1][1] == pytest.approx(mutual_information(pyz), abs=1e-12)
        assert plane[l - 1][0] >= plane[l - 1][1] - 1e-12          # I(Z;X) >= I(Z;Y)


def test_exact_gradient_matches_differences():
    params, x, y, w = tiny_network(1)
    rng = np.random.default_rng(2)
    g, b = rng.random(4), rng.random(3)
    out = exact.exact_objective(params, x, y, w, g, b)
    f = lambda p: exact.exact_objective(p, x, y, w, g, b, grads=False)["loss"]
    assert directional_check(f, params, out["grads"], rng) < 1e-7


@given(seed=st.integers(0, 2 ** 32 - 1), scale=st.sampled_from([0.5, 2.0]))
@pytest.mark.slow
def test_theorem_3_2_exactly(seed, scale):
    """VCR_0 = NLL (Eq. 8); VCR_L = VCR of the composite Z = (Z_1..Z_L) >= NLL (Eq. 9);
    VCR_l non-decreasing in l; VCR_l >= H(Y|Z_l) (Eq. 6)."""
    params, x, y, w = tiny_network(seed, scale=scale)
    L = 3
    out = exact.exact_objective(params, x, y, w, np.ones(L + 1), np.zeros(L), grads=False)
    vcr = out["vcr"]
    joint, _ = brute_force_joint(params, x)
    out_probs = lambda zL: softmax(np.array(zL, float) @ params[f"W_{L}"] + params[f"b_{L}"])
    p_y_x = sum(prob[:, None] * out_probs(c[-1])[None] for c, prob in joint.items())
    nll = -np.sum(w * np.log(p_y_x[np.arange(len(y)), y]))
    composite = -sum(np.sum(w * prob * np.log(out_probs(c[-1])[y])) for c, prob in joint.items())
    tol = 1e-12                                   # float64 sums of a few hundred terms
    assert vcr[0] == pytest.approx(nll, abs=tol)
    assert vcr[L] == pytest.approx(composite, abs=tol)
    assert vcr[L] >= nll - tol
    assert np.all(np.diff(vcr) >= -tol)
    tables, f = exact.layer_joint_tables(params, x, y, w, n_classes=3)
    for l, (_, pyz) in enumerate(tables, start=1):
        h_y_given_z = (entropy(pyz) - entropy(pyz.sum(0))) * LN2        # nats
        assert vcr[l] >= h_y_given_z - tol
        # The gap is E_z KL(p(.|z) || p_hat(.|z)) from the relevance decoder of Eq. (3)
        # to the network's decoder V_l of Eq. (7) (theory/vcr_bound.md).
        decoder, pz = exact.relevance_decoder(pyz), pyz.sum(0)
        seen = pz > 0
        kl = np.sum(pyz[:, seen] * (np.log(decoder[:, seen], where=pyz[:, seen] > 0,
                                           out=np.zeros_like(decoder[:, seen]))
                                    - np.log(f["V"][l].T[:, seen])))
        assert vcr[l] - h_y_given_z == pytest.approx(kl, abs=tol)


@given(seed=st.integers(0, 2 ** 32 - 1))
def test_compression_bound(seed):
    """Eq. (10): I(Z_l;X) <= I(Z_l;Z_{l-1}) <= KL_l(r) for any factorised r; with r the
    exact unit marginals, KL_l = I(Z_l;Z_{l-1}) + the total correlation of Z_l."""
    params, x, y, w = tiny_network(seed)
    rng = np.random.default_rng(seed)
    L = 3
    f = exact.forward(params, x)
    plane = exact.information_plane(params, x, y, w, n_classes=3)
    for l in range(1, L + 1):
        i_lx = plane[l - 1][0] * LN2
        i_ll = exact.layer_to_layer_information(params, x, w, l) * LN2
        params_r = dict(params, **{f"rho_{l}": rng.normal(size=params[f"rho_{l}"].shape)})
        kl_any = exact.exact_objective(params_r, x, y, w, np.zeros(L + 1), np.eye(L)[l - 1],
                                       grads=False)["kl"][l - 1]
        assert i_lx <= i_ll + 1e-12 <= kl_any + 2e-12
        q = w if l == 1 else w @ f["P"][l - 1]
        pz = q @ f["T"][l]                                         # marginal of z_l
        states = exact.binary_states(len(params[f"rho_{l}"]))
        unit = pz @ states                                          # P(z_{l,i} = 1)
        params_m = dict(params, **{f"rho_{l}": np.log(unit) - np.log1p(-unit)})
        kl_m = exact.exact_objective(params_m, x, y, w, np.zeros(L + 1), np.eye(L)[l - 1],
                                     grads=False)["kl"][l - 1]
        product = np.prod(np.where(states == 1, unit, 1 - unit), axis=1)
        tc = np.sum(pz * (np.log(pz) - np.log(product)))
        assert kl_m == pytest.approx(i_ll + tc, abs=1e-12)


def test_compression_bound_is_tight_when_the_marginal_factorises():
    """X uniform over {0,1}^3 and a diagonal W: each unit of Z_1 reads its own bit, so
    p(z_1) factorises and KL_1 with r = the marginals equals I(Z_1;X) exactly."""
    x = exact.binary_states(3)
    w = np.full(8, 1 / 8)
    rng = np.random.default_rng(3)
    params = {"W_0": np.diag(rng.normal(0, 3, 3)), "b_0": rng.normal(size=3),
              "W_1": rng.normal(size=(3, 2)), "b_1": np.zeros(2), "rho_1": np.zeros(3)}
    f = exact.forward(params, x)
    unit = (w @ f["T"][1]) @ exact.binary_states(3)
    params["rho_1"] = np.log(unit) - np.log1p(-unit)
    kl = exact.exact_objective(params, x, np.zeros(8, int), w, np.zeros(2), [1.0],
                               grads=False)["kl"][0]
    i = exact.layer_to_layer_information(params, x, w, 1) * LN2
    assert kl == pytest.approx(i, abs=1e-13) and i > 0.1


def test_appendix_f_split_holds_at_the_top_layer_only():
    """Y = (Y1, Y2) with output units independent given Z_L. At l = L the VCR of Y is the
    sum of the components' VCRs (Appendix F). Below L the decoder E_{Z_L|z_l}[p1 p2] is
    not p_v(y1|z_l) p_v(y2|z_l), and the split fails: the appendix's derivation needs the
    outputs independent given Z_l itself."""
    rng = np.random.default_rng(4)
    params = {"W_0": rng.normal(0, 2, (2, 3)), "b_0": rng.normal(size=3),
              "W_1": rng.normal(0, 2, (3, 2)), "b_1": rng.normal(size=2),
              "rho_1": np.zeros(3), "rho_2": np.zeros(2)}
    heads = [(rng.normal(0, 2, (2, 2)), rng.normal(size=2)) for _ in range(2)]
    x = rng.random((4, 2))
    y = rng.integers(0, 2, (4, 2))                    # two binary targets per input
    w = np.full(4, 0.25)
    f = exact.forward(dict(params, W_2=heads[0][0], b_2=heads[0][1]), x)
    zL = f["states"][2]
    p = [softmax(zL @ W + b, axis=1) for W, b in heads]                # (S_L, 2) each
    joint = p[0][:, :, None] * p[1][:, None, :]                         # (S_L, 2, 2)
    T2, P1, P2 = f["T"][2], f["P"][1], f["P"][2]

    def vcr(P, decoder):                             # decoder(z)[x] = p_v(y_x | z)
        return -np.sum(w[:, None] * P * np.log(decoder).T)

    pick = lambda table: np.stack([table[:, y[i, 0], y[i, 1]] for i in range(4)], 1)
    pick1 = lambda table, c: np.stack([table[:, y[i, c]] for i in range(4)], 1)
    top = vcr(P2, pick(joint))
    assert top == pytest.approx(vcr(P2, pick1(p[0], 0)) + vcr(P2, pick1(p[1], 1)), abs=1e-12)
    joint1 = np.einsum("st,tab->sab", T2, joint)                        # E_{Z_2|z_1}[p1 p2]
    lower = vcr(P1, pick(joint1))
    split = vcr(P1, pick1(T2 @ p[0], 0)) + vcr(P1, pick1(T2 @ p[1], 1))
    assert abs(lower - split) > 1e-3


def test_monte_carlo_estimates_converge_to_the_exact_values():
    """VCR_L and KL_l are plain means, unbiased at any M: within 4 standard errors.
    VCR_0 is a log of a mean, biased upwards by Jensen; the bias shrinks as M grows."""
    params, x, y, _ = tiny_network(5, sizes=(3, 3, 2, 3), n_inputs=4)
    w = np.full(4, 0.25)
    L = 2
    ex = exact.exact_objective(params, x, y, w, np.ones(L + 1), np.ones(L), grads=False)
    rng = np.random.default_rng(6)
    bias0 = {}
    for M in (1, 2, 8, 32):
        reps = 400
        xs, ys = np.tile(x, (reps, 1)), np.tile(y, reps)
        per = []
        for part in np.array_split(np.arange(len(ys)), 20):
            u = sbn.sample_uniforms(rng, len(part), M, (3, 2), np.float64)
            out = sbn.imb_objective(params, xs[part], ys[part], u, M, np.ones(3), np.ones(2))
            per.append(np.concatenate([out["vcr"], out["kl"]]))
        per = np.array(per)
        mean, se = per.mean(0), per.std(0, ddof=1) / np.sqrt(len(per))
        assert abs(mean[L] - ex["vcr"][L]) < 4 * se[L] + 1e-12
        assert np.all(np.abs(mean[L + 1:] - ex["kl"]) < 4 * se[L + 1:] + 1e-12)
        bias0[M] = mean[0] - ex["vcr"][0]
        assert bias0[M] > -4 * se[0]
    assert bias0[32] < bias0[2] and abs(bias0[32]) < 0.02


def test_estimator_bias_is_measured():
    """On the enumerable network of imb_ref.estimator_bias: REINFORCE is unbiased within
    its standard error; Raiko's and straight-through's bias is many standard errors away
    from zero (the numbers are quoted in theory/estimators.md)."""
    from imb_ref.estimator_bias import measure
    rf, raiko, st_ = measure("reinforce"), measure("raiko"), measure("st")
    assert rf["max_z"] < 4.5
    assert raiko["max_z"] > 10 and raiko["relative_bias"] > 5 * raiko["relative_se"]
    assert st_["relative_bias"] > 0.5
