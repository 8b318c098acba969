"""The reference case: written by the command line, replayed by this code."""

import os
import subprocess
import sys

import numpy as np
import pytest

from imb_ref import golden


def test_cli_writes_a_case_that_replays(tmp_path, run_py):
    path = tmp_path / "case.npz"
    res = subprocess.run([sys.executable, run_py, "golden", str(path),
                          "--hidden", "6,5", "--samples", "3", "--batch-size", "4",
                          "--betas", "0.01", "--gammas", "1,0.5,2", "--seed", "1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    case = golden.read_case(str(path))
    assert int(case["format_version"]) == 1
    assert case["x"].shape == (4, 12) and case["x"].dtype == np.float64
    assert case["u_1"].shape == (4, 1, 3, 6) and case["u_2"].shape == (4, 3, 3, 5)
    assert case["W_2"].shape == (5, 2) and case["vcr"].shape == (3,) and case["kl"].shape == (2,)
    np.testing.assert_array_equal(case["gammas"], [1.0, 0.5, 2.0])
    diffs = golden.replay(case)
    # Same code, same float64 inputs: the replay is bit-for-bit.
    assert max(diffs.values()) == 0.0, diffs
    assert set(k for k in case if k.startswith("grad_")) == {
        "grad_W_0", "grad_W_1", "grad_W_2", "grad_b_0", "grad_b_1", "grad_b_2",
        "grad_rho_1", "grad_rho_2"}


def test_replay_detects_a_tampered_case(tmp_path, run_py):
    path = tmp_path / "case.npz"
    subprocess.run([sys.executable, run_py, "golden", str(path), "--hidden", "4",
                    "--samples", "2", "--batch-size", "3"], check=True, capture_output=True,
                   timeout=120)
    case = golden.read_case(str(path))
    case["grad_W_0"] = case["grad_W_0"] + 1e-6
    assert golden.replay(case)["grad_W_0"] > 5e-7


@pytest.mark.parametrize("where, needle", [
    ("folder", "is a folder; give a file name"),
    ("missing/case.npz", "does not exist"),
])
def test_export_to_a_bad_path_is_one_line_and_leaves_nothing(tmp_path, run_py, where, needle):
    target = tmp_path / where
    if where == "folder":
        target.mkdir()
    res = subprocess.run([sys.executable, run_py, "golden", str(target), "--hidden",
                          "4", "--samples", "2", "--batch-size", "3"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and needle in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == (["folder"] if where == "folder" else [])


TWIN_CASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "twin_case.npz")


def test_the_committed_twin_case_replays():
    """tests/data/twin_case.npz was written by the PyTorch twin (autograd, not imb_ref):
    imb_ref recomputes its loss, terms and every gradient on every machine, PyTorch or
    not. float64 through a few dozen operations in another order: 1e-12."""
    case = golden.read_case(TWIN_CASE)
    assert case["u_2"].shape == (4, 3, 3, 4)             # 6-5-4-3, M = 3, B = 4
    diffs = golden.replay(case)
    assert len(diffs) == 3 + 8 and max(diffs.values()) < 1e-12, diffs
    assert all(np.abs(case[k]).max() > 1e-3 for k in case if k.startswith("grad_"))


def test_the_committed_twin_case_is_the_twins_output():
    """Where PyTorch is installed, the twin rewrites the same case: the committed file is
    its output, not imb_ref's."""
    pytest.importorskip("torch")
    from tests import torch_twin
    fresh = torch_twin.reference_case(**torch_twin.TWIN_CASE)
    case = golden.read_case(TWIN_CASE)
    assert sorted(fresh) == sorted(case)
    for k in case:
        np.testing.assert_allclose(case[k], fresh[k], rtol=1e-14, atol=1e-15, err_msg=k)
