"""The CuPy path run on the CPU under the strict stand-in (tests/cupy_standin.py):
training through run.py on both paths, the golden replay, the benchmark's code, and the
device-to-host transfers a training step makes. Where a GPU is present these run on it
through the real CuPy instead (tests/test_fused.py and the xp fixture); the stand-in is
for every machine without one."""

import json

import numpy as np
import pytest

import cupy_standin
from cupy_standin import IMPLICIT, TRANSFERS
from cuda_emu import compiler

pytestmark = pytest.mark.skipif(compiler() is None, reason="no host C++ compiler for "
                                "the stand-in's RawModule")


@pytest.fixture
def cp(monkeypatch):
    return cupy_standin.install(monkeypatch)


def test_the_stand_in_refuses_what_cupy_refuses(cp):
    a = cp.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Unsupported type"):
        a + np.ones(3)                       # a host array inside a device operation
    with pytest.raises(AttributeError):
        cp.random.default_rng(0).permutation(3)   # CuPy's Generator has no permutation
    assert type(a.sum()) is type(a) and a.sum().shape == ()   # reductions stay on device
    TRANSFERS.clear()
    assert float(a.sum()) == 15.0 and a.get().shape == (2, 3) and bool(a.any())
    assert TRANSFERS == {"float": 1, "get": 1, "bool": 1}
    assert IMPLICIT.startswith("Implicit conversion")


@pytest.mark.parametrize("model", ["det", "vib", "sfnn", "greedyimb", "jointimb"])
@pytest.mark.parametrize("fused", [True, False])
def test_run_py_trains_each_model_on_cupy(cp, tmp_path, capsys, model, fused):
    """python run.py train --backend cupy, in-process: every model, on the fused path
    (the default on CuPy: the tree's kernels and the optimiser's) and with --no-fused."""
    from imb_ref import cli as run_module
    out = tmp_path / "run"
    argv = ["train", "--backend", "cupy", "--model", model, "--hidden", "6,4", "--samples",
            "2", "--estimator", "raiko", "--epochs", "2", "--test-runs", "2", "--vib-k",
            "4", "--quiet", "--output-dir", str(out), "--fused" if fused else "--no-fused"]
    assert run_module.main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "backend: cupy (CuPy stand-in (CPU))" in printed
    assert ("fused kernels" in printed) == (fused and model in ("sfnn", "greedyimb",
                                                                 "jointimb"))
    summary = json.load(open(out / "summary.json"))
    assert 0 <= summary["test_error_mean"] <= 1 and summary["epochs_trained"] == 2


def test_golden_replay_on_cupy(cp):
    import os

    from imb_ref import golden
    case = golden.read_case(os.path.join(os.path.dirname(__file__), "data",
                                         "twin_case.npz"))
    diffs = golden.replay(case, xp=cp)
    assert max(diffs.values()) < 1e-12, diffs


def test_the_benchmarks_cupy_code_runs(monkeypatch, tmp_path, capsys):
    """Every line of the benchmark's CuPy path (timing with events, the memory hook,
    the per-kernel breakdown) on a small shape; its numbers mean nothing here."""
    from imb_ref.experiments import bench
    try:                                 # PyTorch looks for CuPy when first imported:
        import imb_ref.twin  # noqa: F401  (let it find none before the stand-in)
    except ImportError:
        pass
    cupy_standin.install(monkeypatch)
    monkeypatch.setattr(bench, "SHAPES", {"mnist": (20, 8, 8, 10)})
    monkeypatch.setattr(bench, "BATCH", 6)
    monkeypatch.setattr(bench, "M", 2)
    assert bench.main(["--shapes", "mnist", "--impl", "numpy,cupy,cupy-fused", "--steps", "1",
                       "--breakdown",
                       "--json", str(tmp_path / "b.json")]) == 0
    records = json.load(open(tmp_path / "b.json"))
    assert [r["impl"] for r in records] == ["numpy", "cupy", "cupy-fused"]
    assert records[1]["device"] == "CuPy stand-in (CPU)"
    assert "of which in tree.cu's kernels" in capsys.readouterr().out


def test_a_training_step_makes_only_the_documented_transfers(cp):
    """train_epoch brings the step losses to the host every 50 steps and at the end of
    the epoch (the NaN check, whose host copy also feeds the progress bar), and nothing
    else: 120 steps on the fused path with Adam's update kernels are 2 + 1 transfers.
    Evaluation is one transfer per split."""
    from imb_ref.training.evaluate import error_rate
    from imb_ref.gpu.fused import FusedPath
    from imb_ref.gpu.launch import optimizer_kernels
    from imb_ref.models.registry import Model
    from imb_ref.optim import make_optimizer
    from imb_ref.training.loop import train_epoch
    model = Model("jointimb", (5, 4, 3, 2), M=2, test_samples=2, gammas=(1, 1, 1),
                  betas=(1e-3, 1e-3), accelerator=FusedPath())
    assert model.uses_fused(cp)
    rng = np.random.default_rng(0)
    params = {k: cp.asarray(v) for k, v in model.init(rng, np.float32).items()}
    x = cp.asarray(rng.random((240, 5), dtype=np.float32))
    y = cp.asarray(rng.integers(0, 2, 240))
    opt = make_optimizer("adam", 1e-2, kernels=optimizer_kernels(cp, None))
    TRANSFERS.clear()
    from imb_ref.training.settings import RunSettings
    cfg = RunSettings.of(batch_size=2, seed=0, clip=0.0)
    losses = train_epoch(model, params, opt, (x, y), cfg, 1, 1, 2, cp, desc="epoch 1")
    assert len(losses) == 120 and np.isfinite(losses).all()
    assert TRANSFERS == {"get": 120 // 50 + 1}, TRANSFERS
    TRANSFERS.clear()
    noise = cp.random.default_rng(3)
    error = error_rate(lambda xb: model.predict_proba(params, xb, noise), x, y, chunk=50)
    assert 0 <= error <= 1 and TRANSFERS == {"get": 1}, TRANSFERS
