"""The fused path (imb_ref/gpu/fused.py, imb_ref/gpu/kernels/tree.cu) against the reference.

Kernels run three ways: on the CPU through the host C++ compiler (tests/cuda_emu.py,
the same source; always, in CI), compiled by nvcc for Hopper (where nvcc exists: CI's
machine has it), and on a GPU through CuPy (where one is present).
"""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from conftest import CUPY
from cuda_emu import EmuKernels, compiler
from imb_ref.gpu import fused, launch, philox
from imb_ref.backend import to_numpy
from imb_ref.models import sbn
from fixtures import off_the_symmetric_start

pytestmark = pytest.mark.skipif(compiler() is None, reason="no host C++ compiler")

EMU = EmuKernels()


@pytest.fixture(params=["emulated", "cupy"])
def backend(request, monkeypatch):
    """(xp, kernels): the kernels on NumPy arrays, and through CuPy's RawModule: on a GPU
    where one is present, else under the strict stand-in (tests/cupy_standin.py), whose
    RawModule runs the same g++ build on device arrays that refuse implicit transfers."""
    if request.param == "emulated":
        return np, EMU
    if CUPY is None:
        import cupy_standin
        cupy_standin.install(monkeypatch)
        return cupy_standin, launch.CupyKernels()
    return CUPY, launch.CupyKernels()


def case(rng, sizes, B, dtype=np.float64, scale=0.7):
    params = off_the_symmetric_start(sbn.init_params(sizes, rng, dtype), rng, scale, dtype)
    x = rng.random((B, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=B)
    return params, x, y


def on(xp, params, x, y):
    return {k: xp.asarray(v) for k, v in params.items()}, xp.asarray(x), xp.asarray(y)


# ---- the generator ---------------------------------------------------------------------
# Random123's tests/kat_vectors, philox4x32 10: counter, key, output (hex words).
KAT = [("00000000 00000000 00000000 00000000", "00000000 00000000",
        "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
       ("ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff",
        "408f276d 41c83b0e a20bc7c6 6d5451fd"),
       ("243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0",
        "d16cfe09 94fdcceb 5001e420 24126ea1")]


def words(text):
    return np.array([int(h, 16) for h in text.split()], dtype=np.uint32)


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_host_philox_known_answers(counter, key, expected):
    np.testing.assert_array_equal(philox.philox4x32_10(words(counter), words(key)),
                                  words(expected))


def test_uniform_rules_are_exact_and_in_range():
    bits = np.array([0, 1, 255, 256, 2 ** 31, 2 ** 32 - 1], dtype=np.uint32)
    u32 = philox.to_uniform(bits, np.float32)
    u64 = philox.to_uniform(bits, np.float64)
    np.testing.assert_array_equal(u32, (bits >> 8) / 2.0 ** 24)   # 24 bits: exact in float32
    np.testing.assert_array_equal(u64, bits / 2.0 ** 32)          # 32 bits: exact in float64
    assert u32.max() < 1 and u64.max() < 1


def test_kernel_stream_is_the_host_stream(backend):
    """tree_sample's z equals 1[u < p] for the host's Philox uniforms, bit for bit,
    across the word groups of a unit count that is not a multiple of 4."""
    xp, kernels = backend
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        p = rng.random((3, 5, 7)).astype(dtype)                # layer 2: M parents
        key = np.array([0xDEADBEEF, 7], dtype=np.uint32)
        z = to_numpy(fused.sample_layer(kernels, xp.asarray(p), xp.asarray(key), 5, 2))
        u = philox.philox_uniforms(key, 3, 5, (7, 7), dtype)[1]
        np.testing.assert_array_equal(z, (u < p[:, :, None, :]).reshape(3, 25, 7))


def test_layers_and_keys_draw_different_streams():
    key = np.array([1, 2], dtype=np.uint32)
    u1, u2 = philox.philox_uniforms(key, 2, 2, (8, 8), np.float64)
    v1 = philox.philox_uniforms(key + np.uint32(1), 2, 2, (8,), np.float64)[0]
    assert not np.isin(u1, u2[:, :1]).any() and not np.isin(u1, v1).any()


# ---- same noise: the fused step is the reference step ----------------------------------
@given(L=st.integers(1, 3), M=st.integers(1, 3), B=st.integers(1, 4),
       units=st.lists(st.integers(1, 9), min_size=3, max_size=3), C=st.integers(2, 4),
       estimator=st.sampled_from(fused.ESTIMATORS), seed=st.integers(0, 2 ** 16))
def test_fused_equals_reference_on_the_same_noise(L, M, B, units, C, estimator, seed):
    """float64: the two paths add the same terms in different orders (BLAS against the
    kernels' loops), so they agree to a few ulps of the largest partial sum; 1e-12
    relative leaves room for a thousand such roundings."""
    rng = np.random.default_rng(seed)
    sizes = (4,) + tuple(units[:L]) + (C,)
    params, x, y = case(rng, sizes, B)
    gammas = rng.random(L + 1) * (rng.random(L + 1) < 0.7)  # zeros: SFNN's, GreedyIMB's
    betas = rng.random(L)
    key = rng.integers(0, 2 ** 32, size=2, dtype=np.uint32)
    u = philox.philox_uniforms(key, B, M, sizes[1:-1], np.float64)
    ref = sbn.imb_objective(params, x, y, u, M, gammas, betas, estimator)
    out = fused.fused_imb_objective(params, x, y, key, M, gammas, betas, EMU, estimator)
    np.testing.assert_allclose(out["loss"], ref["loss"], rtol=1e-12)
    np.testing.assert_allclose(out["vcr"], ref["vcr"], rtol=1e-12)
    np.testing.assert_allclose(out["kl"], ref["kl"], rtol=1e-12, atol=1e-15)
    assert set(out["grads"]) == set(ref["grads"])
    for k, g in ref["grads"].items():
        np.testing.assert_allclose(out["grads"][k], g, rtol=1e-12,
                                   atol=1e-12 * max(1.0, np.abs(g).max()), err_msg=k)


def test_fused_equals_reference_on_the_information_plane_network():
    """The 12-bit task's network, 12-10-8-6-4-2 with M = 2 (Section 5.3): four hidden
    layers, three of them stored, widths 10 and 6 not multiples of four; GreedyIMB's
    stage-3 weights (one VCR and one KL term)."""
    rng = np.random.default_rng(12)
    sizes, B, M = (12, 10, 8, 6, 4, 2), 5, 2
    params, x, y = case(rng, sizes, B)
    key = np.array([77, 78], dtype=np.uint32)
    g, b = (0, 0, 0, 1, 0), (0, 0, 1e-3, 0)
    u = philox.philox_uniforms(key, B, M, sizes[1:-1], np.float64)
    ref = sbn.imb_objective(params, x, y, u, M, g, b)
    out = fused.fused_imb_objective(params, x, y, key, M, g, b, EMU)
    np.testing.assert_allclose(out["loss"], ref["loss"], rtol=1e-12)
    for k, grad in ref["grads"].items():
        np.testing.assert_allclose(out["grads"][k], grad, rtol=1e-12,
                                   atol=1e-12 * max(1.0, np.abs(grad).max()), err_msg=k)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_fused_equals_reference_at_a_wide_shape(backend, dtype, rtol):
    """Two hidden layers of 37 units, M = 4, on each backend. float32: sums of up to
    37 * 16 terms in another order; eps 6e-8 times a few hundred, about 2e-5."""
    xp, kernels = backend
    rng = np.random.default_rng(3)
    sizes, B, M = (11, 37, 37, 5), 6, 4
    params, x, y = case(rng, sizes, B, dtype, scale=0.3)
    key = np.array([2024, 11], dtype=np.uint32)
    u = philox.philox_uniforms(key, B, M, sizes[1:-1], dtype)
    ref = sbn.imb_objective(params, x, y, u, M, (1, 1, 1), (1e-3, 1e-3))
    dev_params, dev_x, dev_y = on(xp, params, x, y)
    out = fused.fused_imb_objective(dev_params, dev_x, dev_y, xp.asarray(key), M, (1, 1, 1),
                                    (1e-3, 1e-3), kernels)
    np.testing.assert_allclose(float(out["loss"]), float(ref["loss"]), rtol=rtol)
    for k, g in ref["grads"].items():
        np.testing.assert_allclose(to_numpy(out["grads"][k]), g, rtol=rtol,
                                   atol=rtol * np.abs(g).max(), err_msg=k)


def test_group_logsumexp_handles_minus_infinity():
    """A leaf whose likelihood underflowed (ell = -inf) drops out of its groups, as in
    the reference logsumexp; a group of such leaves has log-mean-exp -inf, not NaN."""
    from imb_ref.nn.functions import logsumexp
    ell = np.array([[-np.inf, -1.0, -np.inf, -np.inf], [0.5, -2.0, 3.0, -np.inf]])
    _, levels = fused.group_lse(EMU, ell, 2, 2, 3)
    np.testing.assert_array_equal(levels[2], ell)
    with np.errstate(divide="ignore"):                 # the reference's log(0) = -inf
        np.testing.assert_allclose(levels[1], logsumexp(ell.reshape(2, 2, 2), axis=2),
                                   rtol=1e-15)
        np.testing.assert_allclose(levels[0][:, 0], logsumexp(ell, axis=1), rtol=1e-15)
    assert levels[1][0, 1] == -np.inf


def test_unit_kernels_in_the_tails():
    """sigmoid, KL and their gradients at |a| up to 700 (exp(-|a|) underflows in float64
    near 745): equal to the reference's stable forms, finite everywhere."""
    from imb_ref.nn.functions import sigmoid
    from imb_ref.nn.kl import bernoulli_kl_backward, bernoulli_kl_forward
    a = np.array([-700.0, -40.0, -1e-3, 0.0, 2.5, 40.0, 700.0]).reshape(1, 7, 1) * np.ones(3)
    rho = np.array([-30.0, 0.0, 12.0])
    p, kl = fused.unit_forward(EMU, a, rho, 2)
    kl_ref, cache = bernoulli_kl_forward(a, rho)
    np.testing.assert_array_equal(p, sigmoid(a))
    np.testing.assert_allclose(kl, kl_ref, rtol=1e-13)
    dz = np.linspace(-1, 1, a.size).reshape(a.shape)
    da, drho = fused.unit_backward(EMU, a, p, rho, dz, 0.3, "raiko", 2)
    da_kl, drho_ref = bernoulli_kl_backward(np.full(1, 0.3), cache)
    np.testing.assert_allclose(da, dz * p * (1 - p) + da_kl, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(drho, drho_ref, rtol=1e-13)
    assert np.isfinite(kl).all() and np.isfinite(da).all()


@pytest.mark.slow
def test_fused_equals_reference_at_the_paper_shape(monkeypatch):
    """At the benchmark's shape (batch 100, M = 32, 784-512-512-10: 52 million leaf
    units), float64, on the GPU or under the stand-in: dW_L adds 102,400 leaves in another
    order (cuBLAS against the kernel's chunks), about 1e5 roundings of 1.1e-16, so 1e-10
    of the largest entry."""
    if CUPY is None:
        import cupy_standin
        xp = cupy_standin.install(monkeypatch)
    else:
        xp = CUPY
    rng = np.random.default_rng(5)
    sizes = (784, 512, 512, 10)
    params, x, y = case(rng, sizes, 100, scale=0.05)
    params, x, y = on(xp, params, x, y)
    key = xp.asarray(np.array([3, 4], np.uint32))
    u = philox.philox_uniforms(key, 100, 32, sizes[1:-1], np.float64)
    ref = sbn.imb_objective(params, x, y, u, 32, (1, 1, 1), (1e-4, 1e-4))
    del u
    out = fused.fused_imb_objective(params, x, y, key, 32, (1, 1, 1), (1e-4, 1e-4),
                                    launch.CupyKernels())
    np.testing.assert_allclose(float(out["loss"]), float(ref["loss"]), rtol=1e-12)
    for k, g in ref["grads"].items():
        g = to_numpy(g)
        np.testing.assert_allclose(to_numpy(out["grads"][k]), g, rtol=1e-10,
                                   atol=1e-10 * np.abs(g).max(), err_msg=k)


def test_weight_grad_chunks_cover_every_parent(monkeypatch):
    """dW_L is the same whatever the chunking, the last chunk short included."""
    rng = np.random.default_rng(4)
    p = rng.random((5, 3, 9))                   # 15 parents, 3 groups of four units
    dlogits = rng.standard_normal((5, 9, 3))
    key = np.array([5, 6], dtype=np.uint32)
    whole = fused.leaf_weight_grad(EMU, p, dlogits, key, 3, 2)
    z = (philox.philox_uniforms(key, 5, 3, (9, 9), np.float64)[1] < p[:, :, None, :])
    np.testing.assert_allclose(whole, z.reshape(-1, 9).T @ dlogits.reshape(-1, 3), rtol=1e-13)
    for items in (1, 7, 10 ** 9):      # one chunk of 15 parents; 7 + 7 + 1; fifteen of 1
        monkeypatch.setattr(fused, "WEIGHT_GRAD_ITEMS", items)
        np.testing.assert_allclose(fused.leaf_weight_grad(EMU, p, dlogits, key, 3, 2), whole,
                                   rtol=1e-13)


def test_cupy_launcher_glue_with_a_stand_in_raw_module(monkeypatch):
    """CupyKernels' own logic, on the CPU: a stand-in `cupy` whose RawModule builds the
    code it is given with the options it is given (through the emulator) records each
    launch. One module per (file, dtype, classes), the -D options CuPy would pass, a
    grid within CUDA's limits, scalars as NumPy scalars of the kernel's C types; and the
    fused step through it equals the emulator's."""
    import sys
    import types
    launches, modules = [], []

    class RawModule:
        def __init__(self, code, options):
            opts = dict(o[2:].split("=") for o in options)
            self.dtype = {"float": np.float32, "double": np.float64}[opts["REAL"]]
            self.nclass = int(opts["NCLASS"])
            assert code == launch.kernel_source(launch.source_of(code_names(code)[0]))
            modules.append((code_names(code)[0].split("_")[0], opts["REAL"], self.nclass))

        def get_function(self, name):
            def launch(grid, block, args):
                assert 1 <= grid[0] <= 65535 and block == (256,)
                assert all(isinstance(a, np.ndarray) or type(a) in (np.int32, np.int64,
                                                                     self.dtype) for a in args)
                launches.append(name)
                EMU(name, self.dtype, self.nclass, 0, *args)
            return launch

    def code_names(code):
        return re.findall(r'extern "C" __global__ void (\w+)\(', code)

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(RawModule=RawModule))
    kernels = launch.CupyKernels()
    rng = np.random.default_rng(14)
    params, x, y = case(rng, (6, 7, 5, 3), 4)
    key = np.array([9, 10], np.uint32)
    a = fused.fused_imb_objective(params, x, y, key, 3, (1, 1, 1), (1e-3, 1e-3), kernels)
    b = fused.fused_imb_objective(params, x, y, key, 3, (1, 1, 1), (1e-3, 1e-3), EMU)
    assert modules == [("tree", "double", 3)]             # compiled once, reused
    assert len(launches) == 10 and a["loss"] == b["loss"]   # as counted in the launch test
    for k in params:
        np.testing.assert_array_equal(a["grads"][k], b["grads"][k])


def test_launch_rejects_wrong_arguments():
    p = np.zeros((1, 1, 4), dtype=np.float32)
    key = np.zeros(2, np.uint32)
    with pytest.raises(TypeError, match="float32 array"):       # z of another dtype
        EMU("tree_sample", np.float32, 1, 4, p, p.astype(np.float64), key, 1, 1, 4, 1)
    with pytest.raises(TypeError, match="uint32 array"):        # a key of int64
        fused.sample_layer(EMU, p, key.astype(np.int64), 1, 1)
    with pytest.raises(TypeError, match="takes 7 arguments"):
        EMU("tree_sample", np.float32, 1, 1, p)


def test_reinforce_is_refused():
    rng = np.random.default_rng(0)
    params, x, y = case(rng, (3, 2, 2), 2)
    with pytest.raises(ValueError, match="no-fused"):
        fused.fused_imb_objective(params, x, y, np.zeros(2, np.uint32), 2, (1, 0), (0,), EMU,
                                  "reinforce")


def test_model_steps_through_the_fused_path(monkeypatch):
    """Model.loss_and_grads takes the fused path where its accelerator has kernels (here:
    the emulated ones standing in for CuPy's), drawing one key per step from the run's
    generator; without an accelerator (--no-fused) it keeps the reference path, and
    build_model hands one in unless --no-fused."""
    from imb_ref.training.settings import RunSettings
    from imb_ref.training.run import build_model
    from imb_ref.models.registry import Model
    monkeypatch.setattr(launch, "default_kernels", lambda xp: EMU)
    fast = fused.FusedPath()
    model = Model("jointimb", (4, 6, 5, 3), M=2, test_samples=2, gammas=(1, 1, 1),
                  betas=(1e-3, 1e-3), accelerator=fast)
    assert model.uses_fused(np)
    assert not Model("jointimb", (4, 6, 3)).uses_fused(np)
    assert not Model("jointimb", (4, 6, 3), estimator="reinforce",
                     accelerator=fast).uses_fused(np)
    assert not Model("det", (4, 6, 3), accelerator=fast).uses_fused(np)
    assert not Model("vib", (4, 6, 3), accelerator=fast).uses_fused(np)
    assert build_model(RunSettings.from_flags({"estimator": "raiko"}), 4, 3).uses_fused(np)
    assert not build_model(RunSettings.from_flags({"estimator": "raiko", "fused": False}), 4, 3).uses_fused(np)
    rng = np.random.default_rng(8)
    params, x, y = case(rng, model.sizes, 5)
    step_rng = np.random.default_rng(9)
    key = philox.draw_key(np.random.default_rng(9), np)
    out = model.loss_and_grads(params, x, y, step_rng)
    ref = sbn.imb_objective(params, x, y, philox.philox_uniforms(key, 5, 2, (6, 5), np.float64),
                            2, (1, 1, 1), (1e-3, 1e-3))
    np.testing.assert_allclose(out["loss"], ref["loss"], rtol=1e-12)
    for k, g in ref["grads"].items():
        np.testing.assert_allclose(out["grads"][k], g, rtol=1e-12, atol=1e-14)
    # prediction too, with test_samples children per particle
    key = philox.draw_key(np.random.default_rng(10), np)
    proba = model.predict_proba(params, x, np.random.default_rng(10))
    ref = sbn.predict_proba(params, x, philox.philox_uniforms(key, 5, 2, (6, 5), np.float64))
    np.testing.assert_allclose(proba, ref, rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


class Counted(np.ndarray):
    """An ndarray that counts the array operations done on it: on a GPU each one is a
    kernel launch, about 10 us of host time in CuPy, which at the paper's shape is the
    fused step's main cost after the leaf kernels."""
    ops = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        Counted.ops += 1
        inputs = [i.view(np.ndarray) if isinstance(i, Counted) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Counted) else o
                                  for o in kwargs["out"])
        out = getattr(ufunc, method)(*inputs, **kwargs)
        return out.view(Counted) if isinstance(out, np.ndarray) else out

    def __array_function__(self, func, types, args, kwargs):
        Counted.ops += 1
        return super().__array_function__(func, types, args, kwargs)


def test_fused_step_is_a_few_dozen_launches():
    """L = 2: at most 45 array operations and kernels together (the reference makes over
    250): a guard on the launch count that the GPU target depends on."""
    rng = np.random.default_rng(0)
    sizes = (20, 16, 16, 10)
    params = {k: v.view(Counted) for k, v in sbn.init_params(sizes, rng, np.float32).items()}
    x = rng.random((4, 20)).astype(np.float32).view(Counted)
    y = rng.integers(0, 10, 4)
    kernels = []

    def counting(name, dtype, nclass, items, *args):
        kernels.append(name)
        EMU(name, dtype, nclass, items, *[a.view(np.ndarray) if isinstance(a, Counted) else a
                                          for a in args])

    key = np.array([1, 2], np.uint32)
    Counted.ops = 0
    fused.fused_imb_objective(params, x, y, key, 4, (1, 1, 1), (1e-3, 1e-3), counting)
    fused_total = Counted.ops + len(kernels)
    assert len(kernels) == 10                   # 2 unit fwd, 1 sample, 1 leaf fwd, 2 group
    assert fused_total <= 45, fused_total       # lse, 1 leaf bwd, 1 dW_L, 2 unit bwd
    u = [v.view(Counted) for v in philox.philox_uniforms(key, 4, 4, (16, 16), np.float32)]
    Counted.ops = 0
    sbn.imb_objective(params, x, y, u, 4, (1, 1, 1), (1e-3, 1e-3))
    assert Counted.ops > 5 * fused_total


# ---- fresh noise: same distribution ------------------------------------------------------
def test_in_kernel_samples_have_the_right_frequencies():
    """Chi-square of each unit's count of ones over 40,000 children against Binomial(p),
    for p from 1e-3 to 0.999, in float32 and float64 (fixed key: deterministic)."""
    p = np.array([1e-3, 0.05, 0.3, 0.5, 0.77, 0.999])
    M = 40000
    for dtype in (np.float32, np.float64):
        z = fused.sample_layer(EMU, p.astype(dtype).reshape(1, 1, 6),
                               np.array([99, 1], np.uint32), M, 1)
        ones = z[0].sum(axis=0, dtype=np.float64)
        observed = np.stack([ones, M - ones])
        expected = np.stack([M * p, M * (1 - p)])
        chi2 = ((observed - expected) ** 2 / expected).sum()
        assert stats.chi2.sf(chi2, df=6) > 1e-3, (dtype, ones / M)
        # pairs of units and of children are independent: the 2x2 table of neighbours
        for a, b in ((z[0, :, 2], z[0, :, 3]), (z[0, :-1, 3], z[0, 1:, 3])):
            table = np.histogram2d(a, b, bins=2)[0]
            assert stats.chi2_contingency(table)[1] > 1e-3


def test_loss_and_gradient_means_agree_with_the_reference():
    """Over 300 fresh draws each, the fused step's mean loss and mean gradient equal the
    reference's (NumPy's generator) within 4.5 standard errors of the difference, for
    every parameter entry (a Bonferroni bound over the ~100 entries at 1e-3)."""
    rng = np.random.default_rng(7)
    sizes, B, M = (4, 5, 3, 3), 3, 3
    params, x, y = case(rng, sizes, B)
    g, b = (1.0, 0.5, 0.5), (0.01, 0.01)

    def flat(out):
        return np.concatenate([[out["loss"]]] + [out["grads"][k].ravel() for k in sorted(params)])

    draws = 300
    ref = np.stack([flat(sbn.imb_objective(params, x, y, sbn.sample_uniforms(
        rng, B, M, sizes[1:-1], np.float64), M, g, b)) for _ in range(draws)])
    fus = np.stack([flat(fused.fused_imb_objective(params, x, y, philox.draw_key(rng, np), M,
                                                   g, b, EMU)) for _ in range(draws)])
    se = np.sqrt(ref.var(axis=0, ddof=1) / draws + fus.var(axis=0, ddof=1) / draws)
    varying = se > 1e-12                         # entries the noise does not touch are equal
    np.testing.assert_allclose(fus.mean(0)[~varying], ref.mean(0)[~varying], atol=1e-12)
    z = np.abs(fus.mean(0) - ref.mean(0))[varying] / se[varying]
    assert z.max() < 4.5, z.max()


# ---- the optimisers ---------------------------------------------------------------------
@pytest.mark.parametrize("name,hyper", [("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.0}),
                                        ("adam", {}), ("adamax", {}), ("adadelta", {}),
                                        ("adagrad", {}), ("rmsprop", {})])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_optimizers_equal_the_reference_bit_for_bit(name, hyper, dtype):
    """optim.cu does optim.py's operations in optim.py's order with the scalars cast as
    NumPy casts them, so on the CPU (no fused multiply-add: -ffp-contract=off) parameters
    and state agree to the last bit after four steps, a frozen parameter untouched."""
    from imb_ref.optim import make_optimizer
    rng = np.random.default_rng(21)
    params = {"W_0": rng.standard_normal((5, 3)).astype(dtype),
              "b_0": rng.standard_normal(3).astype(dtype),
              "rho_1": rng.standard_normal(3).astype(dtype)}
    ref_params = {k: v.copy() for k, v in params.items()}
    ref = make_optimizer(name, 0.05, **hyper)
    fus = make_optimizer(name, 0.05, kernels=EMU, **hyper)
    for _ in range(4):
        grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
        ref.step(ref_params, grads, frozen={"rho_1"})
        fus.step(params, {k: g.copy() for k, g in grads.items()}, frozen={"rho_1"})
    for k in params:
        np.testing.assert_array_equal(params[k], ref_params[k], err_msg=k)
    assert set(fus.state) == set(ref.state)
    for k in ref.state:
        np.testing.assert_array_equal(fus.state[k], ref.state[k], err_msg=k)


# ---- the CUDA toolchain -------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed here")
@pytest.mark.parametrize("real", ["float", "double"])
@pytest.mark.parametrize("source", launch.SOURCES)
@pytest.mark.slow
def test_kernels_compile_for_hopper_without_local_memory(source, real, tmp_path):
    """nvcc builds each .cu for sm_90 (the H100) with no warning, and every kernel keeps
    its per-leaf accumulators in registers: no stack frame, no spills."""
    src = tmp_path / f"{source}.cu"
    src.write_text(launch.kernel_source(source))
    done = subprocess.run(["nvcc", "-arch=sm_90", "-cubin", f"-DREAL={real}", "-DNCLASS=10",
                           "-Xptxas", "-v", "-Werror", "all-warnings", str(src), "-o",
                           str(tmp_path / f"{source}.cubin")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    frames = re.findall(r"(\d+) bytes stack frame, (\d+) bytes spill stores", done.stderr)
    assert len(frames) == sum(launch.source_of(k) == source for k in launch.SIGNATURES)
    assert all(f == ("0", "0") for f in frames), done.stderr


def nvrtc_library():
    """libnvrtc from the nvidia-cuda-nvrtc wheel (.ci/run installs it) or the system."""
    import ctypes.util
    import glob
    import importlib.util
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations if spec else []):
        found = sorted(glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so*")))
        if found:
            return found[0]
    return ctypes.util.find_library("nvrtc")


@pytest.mark.skipif(nvrtc_library() is None, reason="libnvrtc is not installed here")
@pytest.mark.parametrize("real", ["float", "double"])
@pytest.mark.parametrize("source", launch.SOURCES)
def test_kernels_compile_with_nvrtc(source, real):
    """NVRTC, the compiler CuPy's RawModule uses, accepts each .cu as CuPy will give it
    (no headers, -D options) for compute_90; it needs no GPU to do so."""
    import ctypes
    lib = ctypes.CDLL(nvrtc_library())
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), launch.kernel_source(source).encode(),
                                  f"{source}.cu".encode(), 0, None, None) == 0
    opts = [b"--gpu-architecture=compute_90", f"-DREAL={real}".encode(), b"-DNCLASS=10"]
    status = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    assert status == 0, log.value.decode()
    assert "warning" not in log.value.decode().lower(), log.value.decode()


@pytest.mark.parametrize("source", launch.SOURCES)
def test_source_needs_no_headers(source):
    """NVRTC (CuPy's compiler) has no standard headers: no .cu may include one; and every
    kernel the Python side calls is defined in the file its name points to."""
    code = launch.kernel_source(source)
    assert not re.search(r"^\s*#\s*include", code, re.M)
    defined = set(re.findall(r'extern "C" __global__ void (\w+)\(', code))
    assert defined == {k for k in launch.SIGNATURES if launch.source_of(k) == source}
