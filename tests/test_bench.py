"""The benchmark runs and writes its records in the documented format."""

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_writes_records(tmp_path):
    impls = "numpy"
    try:
        import torch  # noqa: F401
        impls += ",torch-eager"
    except ImportError:
        pass
    out = tmp_path / "bench.json"
    table = tmp_path / "bench.md"
    res = subprocess.run([sys.executable, "-m", "imb_ref.experiments.bench", "--shapes", "mnist",
                          "--steps", "1", "--impl", impls, "--json", str(out),
                          "--markdown", str(table)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    records = json.load(open(out))
    assert [r["impl"] for r in records] == impls.split(",")
    for r in records:
        assert set(r) == {"shape", "impl", "device", "ms_per_step", "examples_per_s",
                          "peak_mem_mb", "ratio_vs_torch"}
        assert r["shape"] == "mnist" and r["ms_per_step"] > 0
        # both are rounded in the record: 0.1 example/s and 1 microsecond
        assert r["examples_per_s"] == pytest.approx(100 / (r["ms_per_step"] / 1000), rel=1e-2)
    rows = table.read_text().splitlines()
    assert len(rows) == 2 + len(records) and rows[0].startswith("| shape | implementation")
    assert rows[2].startswith(f"| mnist | numpy | cpu | {records[0]['ms_per_step']:.3f} |")
    if "torch-eager" in impls:
        assert records[1]["ratio_vs_torch"] == 1.0
        if records[1]["device"] == "cpu":
            assert records[0]["ratio_vs_torch"] == pytest.approx(
                records[1]["ms_per_step"] / records[0]["ms_per_step"], rel=1e-2)
        else:              # torch ran on a GPU: NumPy has no baseline on its device
            assert records[0]["ratio_vs_torch"] is None


@pytest.mark.slow
def test_bench_refuses_an_implementation_it_cannot_run():
    """cupy-fused without a GPU: one argparse line, exit 2, not a traceback."""
    from conftest import CUPY
    if CUPY is not None:
        pytest.skip("a GPU is present: cupy-fused can run")
    res = subprocess.run([sys.executable, "-m", "imb_ref.experiments.bench", "--impl", "cupy-fused"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "'cupy-fused' is not available here" in res.stderr
    assert "Traceback" not in res.stderr


def test_fused_step_peak_memory_is_a_fraction_of_the_reference():
    """GPU only. The reference path stores the MNIST shape's 100 * 32**2 * 512 leaves
    (210 MB in float32) and as many uniforms; the fused path draws them in-kernel and keeps
    only per-leaf logits (100 * 1024 * 10 floats, 4 MB). Measured in one process and
    reference first, so a peak that counted the pool's leftover blocks would fail."""
    from conftest import CUPY
    if CUPY is None:
        pytest.skip("needs CuPy and a GPU")
    from imb_ref.experiments.bench import SHAPES, time_numpy
    _, reference = time_numpy(SHAPES["mnist"], 1, CUPY, fused=False)
    _, fused = time_numpy(SHAPES["mnist"], 1, CUPY, fused=True)
    assert reference > 210                      # the leaves alone are 210 MB
    assert fused < reference / 4


@pytest.mark.parametrize("args, needle", [
    (["--steps", "0"], "--steps 0: must be at least 1"),
    (["--steps", "1", "--json", "/nonexistent/bench.json"], "folder /nonexistent does not exist"),
    (["--steps", "1", "--markdown", "/nonexistent/bench.md"], "folder /nonexistent does not exist"),
    (["--steps", "1", "--impl", "torch-eager", "--twin", "no.such.twin"],
     "the torch-* implementations need PyTorch and the twin module 'no.such.twin' (--twin)"),
])
def test_bad_bench_flags_end_in_one_line_before_any_timing(args, needle):
    res = subprocess.run([sys.executable, "-m", "imb_ref.experiments.bench"] + args, capture_output=True,
                         text=True, timeout=60, cwd=os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__))))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and needle in res.stderr
    assert res.stdout == ""                     # refused before anything was timed


def test_a_module_that_is_not_a_twin_is_no_twin():
    """--twin abc imports the standard library's abc, which times nothing: it is refused
    like a missing module, not called (the fuzz test found it)."""
    from imb_ref.experiments.bench import available_impls, load_twin
    assert load_twin("abc") is None and load_twin("") is None and load_twin(".x") is None
    assert not [i for i in available_impls(load_twin("abc")) if i.startswith("torch")]
